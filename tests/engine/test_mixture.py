"""Mixture density networks (PRML 5.6): the output kind "mdn:M", its error (5.153) and deltas (5.155-5.157)
against automatic differentiation and central differences, and what the mixture says of t given x."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import deltaprop as dp
from networks import HIDDEN


@st.composite
def mixture_problems(draw):
    """(net, w, X, T): 0 to 2 hidden layers of any activation, a skip connection or not, M = 1..5, L = 1..3."""
    M, L = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    D = draw(st.integers(1, 3))
    hidden = [(draw(st.integers(1, 6)), draw(st.sampled_from(HIDDEN))) for _ in range(draw(st.integers(0, 2)))]
    names = ["x"] + [f"h{i + 1}" for i in range(len(hidden))] + ["y"]
    layers = {"x": D, **{n: spec for n, spec in zip(names[1:-1], hidden)}, "y": ((L + 2) * M, f"mdn:{M}")}
    connections = list(zip(names[:-1], names[1:]))
    if len(names) > 2 and draw(st.booleans()):
        connections.append(("x", "y"))
    net = dp.Network(layers, connections)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N = draw(st.integers(1, 30))
    w = net.init(seed=rng) + 0.3 * rng.standard_normal(net.n_params)
    return net, w, rng.standard_normal((N, D)), rng.standard_normal((N, L))


def textbook_error(lib, net, w, X, T):
    """E = -sum_n ln sum_k pi_k N(t_n | mu_k, sigma_k^2 I), straight from PRML 5.148-5.153 (no log-sum-exp),
    in torch or autograd.numpy: the forward pass written here, not taken from deltaprop."""
    h = {"linear": lambda a: a, "tanh": lib.tanh, "logistic": lambda a: 1 / (1 + lib.exp(-a)),
         "relu": lambda a: lib.maximum(a, 0 * a), "softplus": lambda a: lib.log(1 + lib.exp(a))}
    position = net.unpack(np.arange(net.n_params))
    z = {"x": X}
    for name, layer in list(net.layers.items())[1:]:
        a = w[position[f"b[{name}]"].ravel()]
        for c in net.connections:
            if c.dst == name:
                W = w[position[c.name].ravel()].reshape(position[c.name].shape)
                a = a + z[c.src] @ W.T
        z[name] = a if name == "y" else h[layer.activation.name](a)
    a, M, L = z["y"], net.layers["y"].activation.components, T.shape[1]
    pi = lib.exp(a[:, :M]) / lib.sum(lib.exp(a[:, :M]), 1, keepdims=True)
    sigma = lib.exp(a[:, M : 2 * M])
    p = 0
    for k in range(M):
        mu = a[:, 2 * M + k * L : 2 * M + (k + 1) * L]
        r2 = lib.sum((T - mu) ** 2, 1)
        p = p + pi[:, k] * lib.exp(-r2 / (2 * sigma[:, k] ** 2)) / (2 * np.pi * sigma[:, k] ** 2) ** (L / 2)
    return -lib.sum(lib.log(p))


@settings(max_examples=60, deadline=None)
@given(mixture_problems())
def test_mixture_gradient_agrees_with_torch_and_autograd(problem):
    import autograd
    import autograd.numpy as anp

    net, w, X, T = problem
    E, g = net.error_and_gradient(w, X, T)
    w_t = torch.tensor(w, requires_grad=True)
    E_t = textbook_error(torch, net, w_t, torch.tensor(X), torch.tensor(T))
    assume(np.isfinite(E_t.item()))  # the textbook form underflows where every p(t_n | x_n) < 1e-308
    E_t.backward()
    np.testing.assert_allclose(E, E_t.item(), rtol=1e-10, atol=1e-12)
    scale = max(1.0, np.abs(w_t.grad.numpy()).max())
    np.testing.assert_allclose(g, w_t.grad.numpy(), rtol=1e-10, atol=1e-10 * scale)
    g_a = autograd.grad(lambda v: textbook_error(anp, net, v, X, T))(w)
    np.testing.assert_allclose(g, g_a, rtol=1e-10, atol=1e-10 * scale)


@settings(max_examples=30, deadline=None)
@given(mixture_problems())
def test_mixture_gradient_agrees_with_central_differences_and_pattern_gradients(problem):
    net, w, X, T = problem
    assume(not any(layer.activation is not None and layer.activation.name == "relu"
                   for layer in net.layers.values()))  # relu's kink: differences may straddle it (covered above)
    check = dp.gradient_check(net, w, X, T)
    # a narrow component (sigma ~ 1e-3) makes E''' large, and the differences' O(eps^2) error with it
    # (3.6e-6 was seen with gradients ~1e5); a wrong formula is off by O(1)
    assert check.max_relative_difference < 1e-5, check
    _, g = net.error_and_gradient(w, X, T)
    np.testing.assert_allclose(net.pattern_gradients(w, X, T).sum(axis=0), g, rtol=1e-10, atol=1e-12)


def test_the_deltas_are_those_of_prml_5_155_to_5_157():
    net = dp.mlp([2, 3, 2], output="mdn", components=3)
    rng = np.random.default_rng(0)
    w, X, T = net.init(1) + 0.5 * rng.standard_normal(net.n_params), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    tr = net.trace(w, X[0], T[0])
    m = dp.mixture.mixture(net, w, X[:1])
    pi, sigma, mu = m.pi[0], m.sigma[0], m.mu[0]
    N = np.exp(-np.sum((T[0] - mu) ** 2, 1) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    gamma = pi * N / np.sum(pi * N)  # 5.154
    L = 2
    expected = np.concatenate([pi - gamma, gamma * (L - np.sum((T[0] - mu) ** 2, 1) / sigma**2),
                               (gamma[:, None] * (mu - T[0]) / sigma[:, None] ** 2).ravel()])
    np.testing.assert_allclose(tr.delta["y"], expected, rtol=1e-12, atol=1e-14)
    assert "PRML 5.155-5.157" in str(tr) and "t = (" in str(tr)


def test_the_density_integrates_to_one_over_t():
    rng = np.random.default_rng(2)
    net = dp.mlp([1, 4, 1], output="mdn", components=3)
    w = net.init(0) + 0.3 * rng.standard_normal(net.n_params)
    t = np.linspace(-25, 25, 50001)
    for x in (-1.0, 0.3, 2.0):
        p = dp.mixture.density(net, w, np.full((len(t), 1), x), t[:, None])
        assert abs(np.trapezoid(p, t) - 1) < 1e-8
    net = dp.mlp([1, 4, 2], output="mdn", components=2)
    w = net.init(0) + 0.3 * rng.standard_normal(net.n_params)
    g = np.linspace(-12, 12, 801)
    U, V = np.meshgrid(g, g)
    T2 = np.column_stack([U.ravel(), V.ravel()])
    p = dp.mixture.density(net, w, np.full((len(T2), 1), 0.5), T2).reshape(U.shape)
    assert abs(np.trapezoid(np.trapezoid(p, g, axis=1), g) - 1) < 1e-6


def test_one_component_is_the_gaussian_with_a_learned_input_dependent_variance():
    """M = 1: E_n = ln sigma(x) L + ||t - mu(x)||^2 / (2 sigma(x)^2) + L/2 ln 2 pi, and pi = 1."""
    rng = np.random.default_rng(3)
    net = dp.mlp([2, 5, 2], output="mdn", components=1)
    w, X, T = net.init(0) + 0.3 * rng.standard_normal(net.n_params), rng.standard_normal((20, 2)), rng.standard_normal((20, 2))
    m = dp.mixture.mixture(net, w, X)
    np.testing.assert_array_equal(m.pi, 1.0)
    s, mu = m.sigma[:, 0], m.mu[:, 0]
    nll = 2 * np.log(s) + np.sum((T - mu) ** 2, 1) / (2 * s**2) + np.log(2 * np.pi)
    np.testing.assert_allclose(-dp.mixture.log_density(net, w, X, T), nll, rtol=1e-12)
    np.testing.assert_allclose(float(net.error(w, X, T)), nll.sum(), rtol=1e-12)
    np.testing.assert_allclose(dp.mixture.mean(net, w, X), mu, rtol=1e-12)
    np.testing.assert_allclose(dp.mixture.mode(net, w, X), mu, rtol=1e-12)
    np.testing.assert_allclose(dp.mixture.variance(net, w, X), s**2, rtol=1e-12)


def test_mean_variance_mode_and_samples_of_the_mixture():
    rng = np.random.default_rng(4)
    net = dp.mlp([1, 3, 1], output="mdn", components=3)
    w, X = net.init(0) + 0.5 * rng.standard_normal(net.n_params), np.array([[-0.5], [0.8]])
    m = dp.mixture.mixture(net, w, X)
    mean = np.sum(m.pi * m.mu[:, :, 0], 1)  # 5.158
    np.testing.assert_allclose(dp.mixture.mean(net, w, X)[:, 0], mean)
    np.testing.assert_allclose(dp.mixture.variance(net, w, X),
                               np.sum(m.pi * (m.sigma**2 + (m.mu[:, :, 0] - mean[:, None]) ** 2), 1))  # 5.160
    np.testing.assert_allclose(dp.mixture.mode(net, w, X)[:, 0], m.mu[np.arange(2), np.argmax(m.pi, 1), 0])
    draws = dp.mixture.sample(net, w, X, size=200_000, seed=0)[:, :, 0]
    assert draws.shape == (2, 200_000)
    np.testing.assert_allclose(draws.mean(1), mean, atol=0.02)
    np.testing.assert_allclose(draws.var(1), dp.mixture.variance(net, w, X), rtol=0.02)
    np.testing.assert_array_equal(draws, dp.mixture.sample(net, w, X, size=200_000, seed=0)[:, :, 0])


def test_large_pre_activations_neither_overflow_nor_warn():
    net = dp.Network({"x": 1, "y": (9, "mdn:3")}, [("x", "y")])
    w = np.zeros(net.n_params)
    b = net.unpack(w)["b[y]"]
    b[:] = [1000.0, -1000.0, 0.0, 300.0, -300.0, 0.0, 1000.0, -1000.0, 0.5]  # pi logits, ln sigma, means
    X, T = np.zeros((2, 1)), np.array([[0.5], [2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E, g = net.error_and_gradient(w, X, T)
    assert np.isfinite(E) and np.all(np.isfinite(g))
    # pi = (1, e^-2000, e^-1000): the mass on the component of ln sigma = 300 (mean 1000), so E_n = 300 + ln(2 pi)/2
    np.testing.assert_allclose(E, 2 * (300 + 0.5 * np.log(2 * np.pi)), rtol=1e-12)


def test_the_engine_runs_a_mixture_on_torch_tensors():
    net = dp.mlp([2, 4, 2], output="mdn", components=2)
    rng = np.random.default_rng(5)
    w, X, T = net.init(0), rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    E, g = net.error_and_gradient(*(torch.as_tensor(v) for v in (w, X, T)))
    E_np, g_np = net.error_and_gradient(w, X, T)
    np.testing.assert_allclose(E.item(), E_np, rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), g_np, rtol=1e-10, atol=1e-13)
    J = net.jacobian(torch.as_tensor(w), torch.as_tensor(X))
    np.testing.assert_allclose(J.numpy(), net.jacobian(w, X), rtol=1e-12)


def test_the_input_jacobian_of_the_mixture_parameters_agrees_with_central_differences():
    net = dp.mlp([2, 5, 1], output="mdn", components=2)
    rng = np.random.default_rng(6)
    w, X = net.init(0) + 0.3 * rng.standard_normal(net.n_params), rng.standard_normal((3, 2))
    eps, J = 1e-6, dp.jacobian(net, w, X)
    for i in range(2):
        e = np.zeros(2)
        e[i] = eps
        np.testing.assert_allclose(J[:, :, i], (net.forward(w, X + e) - net.forward(w, X - e)) / (2 * eps), atol=1e-8)


def test_a_mixture_network_trains_on_the_buffered_backend_as_on_the_engine():
    """The compiled loops stand aside (their kernels know canonical outputs only); the buffered backend's matrix
    products with its mixture kernel train it, along the engine's path."""
    from deltaprop.fast import choose

    rng = np.random.default_rng(7)
    t = rng.uniform(0, 1, 200)
    x = t + 0.3 * np.sin(2 * np.pi * t) + rng.uniform(-0.1, 0.1, 200)
    net = dp.mlp([1, 5, 1], output="mdn", components=3)
    assert choose(net, x[:, None], t[:, None]) == "buffered"
    result = dp.train(net, x[:, None], t[:, None], seed=0, epochs=300, restarts=2)
    start = float(net.error(net.init(0), x[:, None], t[:, None]))
    assert result.engine == "buffered"
    assert result.error < start - 100 and result.error / 200 < -0.3  # the inverse problem is learned: E/N < -0.3
    engine = dp.train(net, x[:, None], t[:, None], seed=0, epochs=20, compiled=False)
    fast = dp.train(net, x[:, None], t[:, None], seed=0, epochs=20)
    assert engine.engine == "reference"
    np.testing.assert_allclose(fast.history["error"], engine.history["error"], rtol=1e-9)


def test_bad_mixture_specifications_and_second_derivatives_are_refused():
    with pytest.raises(ValueError, match="components must be a positive integer, the number M of Gaussians"):
        dp.mlp([1, 3, 1], output="mdn", components=0)
    with pytest.raises(ValueError, match="components .* goes with output='mdn'"):
        dp.mlp([1, 3, 1], output="mdn")
    with pytest.raises(ValueError, match="components .* goes with output='mdn'"):
        dp.mlp([1, 3, 1], components=2)
    with pytest.raises(ValueError, match=r"has \(L \+ 2\) \* 3 units .* got 7"):
        dp.Network({"x": 1, "y": (7, "mdn:3")}, [("x", "y")])
    with pytest.raises(ValueError, match="'mdn:M', M its number of components"):
        dp.Network({"x": 1, "y": (6, "mdn:two")}, [("x", "y")])
    with pytest.raises(ValueError, match="allowed only on the output layer"):
        dp.Network({"x": 1, "h": (6, "mdn:2"), "y": (1, "linear")}, [("x", "h"), ("h", "y")])
    net = dp.mlp([1, 3, 2], output="mdn", components=2)
    w, X = net.init(0), np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"T must be a 2-D array of shape \(N, K=2\); got shape \(4, 8\)"):
        net.error(w, X, np.zeros((4, 8)))
    for call in (lambda: dp.hessian(net, w, X, np.zeros((4, 2))), lambda: net.hessian(w, X, np.zeros((4, 2))),
                 lambda: dp.hessian_vector_product(net, w, X, np.zeros((4, 2)), w),
                 lambda: dp.outer_product_hessian(net, w, X, np.zeros((4, 2)))):
        with pytest.raises(ValueError, match="needs an output with its canonical error .* mixture density 'mdn:2'"):
            call()
    with pytest.raises(ValueError, match="not a mixture density"):
        dp.mixture.mean(dp.mlp([1, 2, 1]), dp.mlp([1, 2, 1]).init(0), X)


def test_a_mixture_network_round_trips_through_a_model_file(tmp_path):
    net = dp.mlp([1, 4, 2], output="mdn", components=3)
    w = net.init(0)
    dp.save_network(tmp_path / "mdn.safetensors", net, w)
    loaded, w2 = dp.load_network(tmp_path / "mdn.safetensors")
    assert loaded.layers["y"].activation.name == "mdn:3" and loaded.target_size == 2 and loaded.K == 12
    np.testing.assert_array_equal(loaded.forward(w2, np.ones((2, 1))), net.forward(w, np.ones((2, 1))))
