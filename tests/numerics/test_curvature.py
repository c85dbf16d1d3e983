"""The curvature structures (``deltaprop.numerics.curvature``) against dense constructions from PyTorch's
Jacobian and Hessian on random networks (skip connections, masks, every activation and output kind), and
the cases where a structure must equal another exactly."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import deltaprop as dp
from deltaprop.numerics.curvature import STRUCTURES, choose
from deltaprop.numerics.curvature.passes import layouts
from deltaprop.numerics.laplace import build
from deltaprop.numerics.prior import Prior
from networks import problems, reference, targets, torch_ops

FEW = settings(max_examples=20, deadline=None)


def output_jacobian(kind, y):
    """M_n = dy/da (N, K, K) straight from the definitions."""
    N, K = y.shape
    if kind == "linear":
        return np.broadcast_to(np.eye(K), (N, K, K))
    if kind == "logistic":
        return np.eye(K) * (y * (1 - y))[:, :, None]
    return np.einsum("nk,kl->nkl", y, np.eye(K)) - y[:, :, None] * y[:, None, :]


def torch_pieces(net, w, X, T):
    """da_out/dw (N, K, W), M_n, the exact Hessian and each layer's inputs phi with the bias, from PyTorch."""
    w_t = torch.tensor(w, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: reference(torch_ops(), net, v, X, T)[2][net.output], w_t,
                                           vectorize=True).numpy()
    H = torch.autograd.functional.hessian(lambda v: reference(torch_ops(), net, v, X, T)[1], w_t,
                                          vectorize=True).numpy()
    y, _, pre = reference(torch_ops(), net, w_t, X, T)
    z = {net.input: X}
    for name, layer in list(net.layers.items())[1:]:
        z[name] = torch.as_tensor(y).numpy() if name == net.output else \
            layer.activation.h(np, pre[name].detach().numpy())
    M = output_jacobian(net.layers[net.output].activation.name, y.detach().numpy())
    phi = {j: np.hstack([z[c.src] for c in inc] + [np.ones((X.shape[0], 1))]) for j, inc in net.incoming.items()}
    return J, M, H, phi


def expected_precisions(net, w, X, T, d, s):
    """Each structure's A, built densely from PyTorch's derivatives, and the entries it covers."""
    J, M, H, phi = torch_pieces(net, w, X, T)
    W, N = net.n_params, X.shape[0]
    ggn = np.einsum("nkw,nkl,nlv->wv", J, M, J)
    out = {"exact": (np.diag(d) + s * H, np.arange(W)), "ggn": (np.diag(d) + s * ggn, np.arange(W)),
           "diag": (np.diag(d + s * np.diag(ggn)), np.arange(W))}
    kron = np.zeros((W, W))
    for lay in layouts(net):
        where = lay.where.ravel()
        if lay.masked:
            kron[where, where] = np.diag(ggn)[where]
            continue
        bias = net.block(f"b[{lay.name}]")
        Jb = J[:, :, bias.offset:bias.offset + bias.size]  # da_out/db_j = da_out/da_j
        Q = np.einsum("nkp,nkl,nlq->pq", Jb, M, Jb)
        Z = phi[lay.name].T @ phi[lay.name]
        kron[np.ix_(where, where)] = np.kron(Q, Z) / N
    out["kron"] = (np.diag(d) + s * kron, np.arange(W))
    last = layouts(net)[-1].where.ravel()
    out["last_layer"] = (np.diag(d)[np.ix_(last, last)] + s * ggn[np.ix_(last, last)], last)
    return out


@pytest.mark.parametrize("columns", [False, True], ids=["a prior per group", "a prior per column"])
@FEW
@given(problems(max_N=12))
def test_every_structure_against_its_dense_construction_from_pytorch(columns, problem):
    """Each structure's A, ln |A|, diag(A^-1) and g^T A^-1 g against PyTorch's derivatives, with one alpha per group,
    or per column of every connection (the weights one unit sends to a layer: kron's D differs column by column)."""
    net, w, X, T = problem
    rng = np.random.default_rng(0)
    alphas = {b.name: float(rng.uniform(0.5, 3.0)) for b in net.blocks}
    if columns:
        for c in net.connections:
            del alphas[c.name]
            alphas.update({f"{c.name}[:, {i}]": float(rng.uniform(0.5, 3.0)) for i in range(net.layers[c.src].size)})
    prior = Prior.of(net, alphas)
    s = float(rng.uniform(0.5, 2.0))
    Xs = rng.standard_normal((4, net.D))
    Js = torch.autograd.functional.jacobian(
        lambda v: reference(torch_ops(), net, v, Xs, targets(net, rng, 4))[2][net.output],
        torch.tensor(w, dtype=torch.float64), vectorize=True).numpy()
    for name, (A, where) in expected_precisions(net, w, X, T, prior.diagonal(), s).items():
        if np.linalg.eigvalsh(A).min() <= 1e-8 * np.abs(A).max():
            continue  # the exact A at a random w need not be positive definite
        c = build(name, net, w, X, T, prior, s)
        tol = dict(rtol=1e-8, atol=1e-10 * max(1.0, np.abs(A).max()))
        dense = c.precision()
        np.testing.assert_allclose(dense[np.ix_(where, where)], A, **tol, err_msg=name)
        assert c.log_det() == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-8, abs=1e-8), name
        inverse = np.linalg.inv(A)
        for_gamma = inverse
        if name == "exact":  # negative curvature counts as 0 in gamma (Netlab), not in ln |A| or the variance
            lam, U = np.linalg.eigh(A - np.diag(prior.diagonal()))
            for_gamma = np.linalg.inv((U * np.maximum(lam, 0)) @ U.T + np.diag(prior.diagonal()))
        np.testing.assert_allclose(c.inverse_diagonal()[where], np.diag(for_gamma), **tol, err_msg=name)
        assert np.all(c.inverse_diagonal()[~c.covered] == 0)
        g = Js[:, :, where]
        np.testing.assert_allclose(c.variance(Xs), np.einsum("nkw,wv,nkv->nk", g, inverse, g), rtol=1e-7,
                                   atol=1e-12, err_msg=name)


def test_draws_of_w_have_the_posterior_covariance():
    rng = np.random.default_rng(1)
    net = dp.mlp([2, 3, 2])
    X, T = rng.standard_normal((15, 2)), rng.standard_normal((15, 2))
    w = net.init(seed=0)
    prior = Prior.initial(net)
    w = dp.train(net, X, T, weight_decay=prior.scaled(1 / 3.0), seed=0).w  # a minimum: the exact A is positive definite
    for name in STRUCTURES:
        c = build(name, net, w, X, T, prior, 3.0)
        where = np.flatnonzero(c.covered)
        draws = c.deviations(np.random.default_rng(2), 40000)
        assert np.all(draws[:, ~c.covered] == 0)
        covariance = np.cov(draws[:, where].T)
        expected = np.linalg.inv(c.precision()[np.ix_(where, where)])
        np.testing.assert_allclose(covariance, expected, atol=0.03 * np.abs(expected).max(), err_msg=name)


def test_with_no_hidden_layer_the_gauss_newton_matrix_is_the_hessian():
    rng = np.random.default_rng(3)
    for output in ("linear", "logistic", "softmax"):
        net = dp.mlp([3, 3], output=output)
        X = rng.standard_normal((20, 3))
        T = targets(net, rng, 20)
        w = net.init(seed=1)
        prior = Prior.initial(net)
        exact, ggn = (build(n, net, w, X, T, prior, 1.0).precision() for n in ("exact", "ggn"))
        np.testing.assert_allclose(exact, ggn, rtol=1e-10, atol=1e-12)


def test_kron_of_one_pattern_is_the_gauss_newton_block_of_each_layer():
    rng = np.random.default_rng(4)
    net = dp.mlp([3, 4, 3, 2], output="softmax")
    X, T = rng.standard_normal((1, 3)), np.array([[0.0, 1.0]])
    w = net.init(seed=2)
    prior = Prior.initial(net)
    kron, ggn = (build(n, net, w, X, T, prior, 1.0).precision() for n in ("kron", "ggn"))
    for lay in layouts(net):
        where = lay.where.ravel()
        np.testing.assert_allclose(kron[np.ix_(where, where)], ggn[np.ix_(where, where)], rtol=1e-10, atol=1e-12)


def test_the_diagonal_structure_is_the_diagonal_of_the_gauss_newton_matrix():
    rng = np.random.default_rng(5)
    net = dp.mlp([2, 5, 5, 3], hidden="logistic", output="logistic")
    X, T = rng.standard_normal((30, 2)), rng.random((30, 3))
    w = net.init(seed=3)
    prior = Prior.initial(net)
    diag, ggn = (build(n, net, w, X, T, prior, 2.0).precision() for n in ("diag", "ggn"))
    np.testing.assert_allclose(diag, np.diag(np.diag(ggn)), rtol=1e-10, atol=1e-12)


def test_the_last_layer_is_bayesian_linear_regression_on_the_features():
    """PRML 3.53-3.54 and 3.86 on phi = [z of the hidden layer, 1], the hidden weights held fixed."""
    rng = np.random.default_rng(6)
    net = dp.mlp([2, 6, 1])
    X = rng.uniform(-1, 1, (40, 2))
    T = np.sin(2 * X[:, :1]) + 0.1 * rng.standard_normal((40, 1))
    w = net.init(seed=4)
    v = net.unpack(w)
    Phi = np.hstack([np.tanh(X @ v["W[h1<-x]"].T + v["b[h1]"]), np.ones((40, 1))])
    alpha, beta = 0.7, 50.0
    A = alpha * np.eye(7) + beta * Phi.T @ Phi
    m = beta * np.linalg.solve(A, Phi.T @ T[:, 0])
    v["W[y<-h1]"][:] = m[:6]
    v["b[y]"][:] = m[6]
    E = beta / 2 * np.sum((T[:, 0] - Phi @ m) ** 2) + alpha / 2 * m @ m
    evidence = 7 / 2 * np.log(alpha) + 40 / 2 * np.log(beta) - E - 0.5 * np.linalg.slogdet(A)[1] - 20 * np.log(2 * np.pi)
    alphas = {g: alpha for g in ("W[y<-h1]", "b[y]")} | {"W[h1<-x]": 5.0, "b[h1]": 5.0}
    post = dp.laplace(net, w, X, T, alphas, beta, hessian="last_layer")
    last = layouts(net)[-1].where.ravel()
    np.testing.assert_allclose(post.A[np.ix_(last, last)], A, rtol=1e-10)
    assert post.log_evidence == pytest.approx(evidence, rel=1e-10)
    assert set(post.gamma_groups) == {"W[y<-h1]", "b[y]"}  # the hidden layer is held at w_MAP
    lam = np.linalg.eigvalsh(beta * Phi.T @ Phi)
    assert post.gamma == pytest.approx(np.sum(lam / (alpha + lam)), rel=1e-10)  # PRML 3.91


def test_auto_takes_exact_while_the_dense_work_is_small_ggn_then_kron_or_less_above():
    assert choose(dp.mlp([1, 20, 1]), 50)[0] == "exact"
    assert choose(dp.mlp([13, 20, 1]), 455) == ("ggn", "the dense Hessian's N W^2 + W^3 = 6.8e+07 is over 1e+07, the "
                                                       "Gauss-Newton matrix's N K W^2 + W^3 = 6.8e+07 within 1e+08")
    assert choose(dp.mlp([13, 20, 1]), 5000) == ("kron", "the dense Gauss-Newton matrix's N K W^2 + W^3 = 4.8e+08 "
                                                        "is over 1e+08")
    assert choose(dp.mlp([784, 100, 10], output="softmax"), 10000)[0] == "kron"
    assert choose(dp.mlp([5000, 10, 1]), 100)[0] == "last_layer"
    assert choose(dp.mlp([5000, 600, 10]), 100)[0] == "diag"


def test_kron_refuses_a_flat_prior_and_says_how_to_give_one():
    rng = np.random.default_rng(7)
    net = dp.mlp([2, 3, 1])
    X, T = rng.standard_normal((10, 2)), rng.standard_normal((10, 1))
    with pytest.raises(ValueError, match="hessian='kron' needs a prior precision on every group of weights it "
                                         "covers; b\\[h1\\], b\\[y\\] have a flat prior"):
        dp.laplace(net, net.init(seed=0), X, T, 1.0, 1.0, hessian="kron")


def test_a_masked_layer_takes_the_diagonal_block_and_says_so():
    rng = np.random.default_rng(8)
    mask = rng.random((4, 3)) < 0.6
    net = dp.Network({"x": 3, "h": (4, "tanh"), "y": (1, "linear")}, [("x", "h", mask), ("h", "y"), ("x", "y")])
    X, T = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    post = dp.laplace(net, net.init(seed=0), X, T, Prior.initial(net), 2.0, hessian="kron")
    assert any("layer h has a masked connection" in n for n in post.notes)



def test_second_order_passes_hold_no_array_over_all_patterns(monkeypatch):
    """Issue 25, item 5, measured by tracemalloc (NumPy reports its buffers to it): the exact Hessian of a
    10-30-30-1 network on 2,000 patterns once built an (N, 30, 30, 30) array (432 MB); in chunks it holds H a
    few times (12.7 MB each) and one chunk's temporaries. The Kronecker-factored posterior of a 50-200-10
    softmax network on 20,000 patterns, with the variance at all of them, stays under N x K x 200 (305 MB)."""
    import tracemalloc

    rng = np.random.default_rng(10)
    net = dp.mlp([10, 30, 30, 1])
    X, T = rng.standard_normal((2000, 10)), rng.standard_normal((2000, 1))
    dp.hessian(net, net.init(seed=0), X[:5], T[:5])  # imports and first calls outside the measurement
    tracemalloc.start()
    dp.hessian(net, net.init(seed=0), X, T)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 150 * 2**20
    net = dp.mlp([50, 200, 10], output="softmax")
    X = rng.standard_normal((20000, 50))
    T = targets(net, rng, 20000)
    tracemalloc.start()
    post = dp.laplace(net, net.init(seed=0), X, T, Prior.initial(net), hessian="kron")
    post.weight_variance(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 150 * 2**20


def test_symmetric_takes_a_matrix_symmetric_to_rounding_and_refuses_others():
    from deltaprop.numerics.curvature.base import NotPositiveDefinite, symmetric

    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    M = M @ M.T
    assert symmetric(M, "M") is not None  # exactly symmetric
    rounded = M.copy()
    rounded[0, 1] *= 1 + 1e-14  # symmetric to rounding only
    assert np.array_equal(symmetric(rounded, "M"), rounded)
    for bad in (M + np.triu(np.ones((6, 6)), 1), np.where(np.eye(6, dtype=bool), np.nan, M), M[:, :5]):
        with pytest.raises(NotPositiveDefinite, match="M is not a symmetric matrix"):
            symmetric(bad, "M")


def test_a_networks_layer_layouts_are_worked_out_once_and_cannot_be_changed():
    net = dp.mlp([3, 4, 2])
    first, again = layouts(net), layouts(net)
    assert [lay.name for lay in first] == ["h1", "y"] and first[0] is again[0]
    first.pop()  # the caller's list, not the cache
    assert len(layouts(net)) == 2
    with pytest.raises(ValueError, match="read-only"):
        again[0].where[0, 0] = 0
    assert layouts(dp.mlp([3, 4, 2]))[0] is not again[0]  # another network, its own
