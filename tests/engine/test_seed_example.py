"""The seed's simple example, its equations written out by hand (PRML 5.62 - 5.67)."""

import numpy as np

import deltaprop as dp


def by_hand(W1, b1, W2, b2, X, T):
    """D=1, M=3 tanh, K=1 linear, for each pattern in turn, then summed (PRML 5.57)."""
    E, dW1, db1, dW2, db2 = 0.0, np.zeros((3, 1)), np.zeros(3), np.zeros((1, 3)), np.zeros(1)
    for x, t in zip(X, T):
        a = [W1[j, 0] * x[0] + b1[j] for j in range(3)]                      # a_j = sum_i w_ji x_i   (5.62)
        z = [np.tanh(a[j]) for j in range(3)]                                # z_j = tanh(a_j)         (5.63)
        y = sum(W2[0, j] * z[j] for j in range(3)) + b2[0]                   # y_k = sum_j w_kj z_j    (5.64)
        delta_k = y - t[0]                                                    # delta_k = y_k - t_k     (5.65)
        delta = [(1 - z[j] ** 2) * W2[0, j] * delta_k for j in range(3)]     # (1 - z_j^2) w_kj delta_k (5.66)
        for j in range(3):                                                    # the derivatives         (5.67)
            dW1[j, 0] += delta[j] * x[0]
            db1[j] += delta[j]
            dW2[0, j] += delta_k * z[j]
        db2[0] += delta_k
        E += 0.5 * delta_k**2                                                 # E_n = 1/2 (y - t)^2     (5.61)
    return E, dW1, db1, dW2, db2


def test_seed_example_matches_the_equations_by_hand():
    rng = np.random.default_rng(5)
    net = dp.mlp([1, 3, 1], hidden="tanh", output="linear")
    assert net.n_params == 3 + 3 + 3 + 1
    w = rng.standard_normal(net.n_params)
    X = rng.uniform(-1, 1, (50, 1))
    T = np.sin(np.pi * X)
    v = net.unpack(w)
    E_hand, dW1, db1, dW2, db2 = by_hand(v["W[h1<-x]"], v["b[h1]"], v["W[y<-h1]"], v["b[y]"], X, T)

    E, g = net.error_and_gradient(w, X, T)
    grads = net.unpack(g)
    np.testing.assert_allclose(E, E_hand, rtol=1e-13)
    np.testing.assert_allclose(grads["W[h1<-x]"], dW1, rtol=1e-12)
    np.testing.assert_allclose(grads["b[h1]"], db1, rtol=1e-12)
    np.testing.assert_allclose(grads["W[y<-h1]"], dW2, rtol=1e-12)
    np.testing.assert_allclose(grads["b[y]"], db2, rtol=1e-12)


def test_trace_holds_the_messages_of_the_seed_example():
    rng = np.random.default_rng(6)
    net = dp.mlp([1, 3, 1])
    w = rng.standard_normal(net.n_params)
    x, t = np.array([0.3]), np.array([0.5])
    v = net.unpack(w)
    a = v["W[h1<-x]"][:, 0] * x[0] + v["b[h1]"]
    z = np.tanh(a)
    y = v["W[y<-h1]"][0] @ z + v["b[y]"][0]
    delta_k = y - t[0]
    delta_j = (1 - z**2) * v["W[y<-h1]"][0] * delta_k

    tr = net.trace(w, x, t)
    np.testing.assert_allclose(tr.a["h1"], a, rtol=1e-14)
    np.testing.assert_allclose(tr.z["h1"], z, rtol=1e-14)
    np.testing.assert_allclose(tr.z["y"], [y], rtol=1e-14)
    np.testing.assert_allclose(tr.delta["y"], [delta_k], rtol=1e-14)
    np.testing.assert_allclose(tr.delta["h1"], delta_j, rtol=1e-13)
    np.testing.assert_allclose(tr.derivatives["W[h1<-x]"][:, 0], delta_j * x[0], rtol=1e-13)
    np.testing.assert_allclose(tr.derivatives["W[y<-h1]"][0], delta_k * z, rtol=1e-13)
    np.testing.assert_allclose(tr.error, 0.5 * delta_k**2, rtol=1e-14)

    table = str(tr)
    assert "delta_j = h'(a_j) sum_k w_kj delta_k" in table
    assert f"{delta_k: .6g}" in table and f"{delta_j[1] * x[0]: .6g}" in table
    assert "w(h1_2 <- x_1)" in table and "w(y_1 <- 1)" in table
