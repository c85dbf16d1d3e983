"""The fast second derivatives (``deltaprop.fast.second``, behind dp.hessian, dp.hessian_vector_product,
dp.outer_product_hessian, dp.jacobian and dp.weight_jacobian) on random chains of layers, against PyTorch's
automatic differentiation and the engine; and the dispatch to the engine for every other network."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop import fast
from networks import HIDDEN, OUTPUTS, problems, reference, targets, torch_ops

FEW = settings(max_examples=30, deadline=None)


@st.composite
def chains(draw, max_N=12):
    """(net, w, X, T): a layered network (1 to 3 hidden layers, any activations and output kind) and data."""
    output = draw(st.sampled_from(OUTPUTS))
    sizes = [draw(st.integers(1, 4))] + [draw(st.integers(1, 6)) for _ in range(draw(st.integers(0, 3)))]
    sizes.append(draw(st.integers(2 if output == "softmax" else 1, 3)))
    hidden = draw(st.sampled_from(HIDDEN))
    net = dp.mlp(sizes, hidden=hidden, output=output)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N = draw(st.integers(1, max_N))
    w = net.init(seed=rng) + 0.3 * rng.standard_normal(net.n_params)
    X = rng.standard_normal((N, net.D))
    return net, w, X, targets(net, rng, N)


def _close(actual, expected, rtol=1e-10):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(1.0, np.abs(expected).max()))


@FEW
@given(chains())
def test_the_fast_hessian_and_hessian_vector_product_agree_with_torch_and_the_engine(problem):
    net, w, X, T = problem
    assert fast.layered(net)
    w_t = torch.tensor(w, dtype=torch.float64)
    loss = lambda v: reference(torch_ops(), net, v, X, T)[1]  # noqa: E731
    H = dp.hessian(net, w, X, T)
    _close(H, torch.autograd.functional.hessian(loss, w_t, vectorize=True).numpy())
    _close(H, net.hessian(w, X, T), rtol=1e-12)
    np.testing.assert_array_equal(H, H.T)
    v = np.random.default_rng(1).standard_normal(net.n_params)
    _, Hv = torch.autograd.functional.hvp(loss, w_t, torch.as_tensor(v))
    _close(dp.hessian_vector_product(net, w, X, T, v), Hv.numpy())
    _close(dp.outer_product_hessian(net, w, X, T), net.outer_product_hessian(w, X, T), rtol=1e-12)


@FEW
@given(chains())
def test_the_fast_jacobians_agree_with_torch(problem):
    net, w, X, T = problem
    w_t, X_t = torch.tensor(w, dtype=torch.float64), torch.tensor(X, dtype=torch.float64)
    N = X.shape[0]
    J = torch.autograd.functional.jacobian(lambda x: reference(torch_ops(), net, w_t, x, T)[0], X_t,
                                           vectorize=True).numpy()
    _close(dp.jacobian(net, w, X), J[np.arange(N), :, np.arange(N), :])
    G = torch.autograd.functional.jacobian(lambda v: reference(torch_ops(), net, v, X, T)[0], w_t, vectorize=True)
    _close(dp.weight_jacobian(net, w, X), G.numpy())
    B = torch.autograd.functional.jacobian(lambda v: reference(torch_ops(), net, v, X, T)[2][net.output], w_t,
                                           vectorize=True)
    _close(dp.weight_jacobian(net, w, X, activations=True), B.numpy())


def test_float32_runs_in_float32_and_agrees_with_float64():
    net = dp.mlp([3, 6, 5, 2], output="softmax")
    rng = np.random.default_rng(0)
    w, X = net.init(seed=0), rng.standard_normal((20, 3))
    T = np.eye(2)[rng.integers(0, 2, 20)]
    v = rng.standard_normal(net.n_params)
    for f, args in ((dp.hessian, ()), (dp.hessian_vector_product, (v,)), (dp.outer_product_hessian, ())):
        single = f(net, w.astype(np.float32), X.astype(np.float32), T.astype(np.float32), *(a.astype(np.float32) for a in args))
        double = f(net, w, X, T, *args)
        assert single.dtype == np.float32
        _close(single, double, rtol=1e-4)
    assert dp.jacobian(net, w.astype(np.float32), X.astype(np.float32)).dtype == np.float32


@settings(max_examples=15, deadline=None)
@given(problems(max_N=8))
def test_networks_the_fast_path_does_not_take_get_the_engines_values(problem):
    net, w, X, T = problem
    v = np.random.default_rng(2).standard_normal(net.n_params)
    if not fast.layered(net):
        np.testing.assert_array_equal(dp.hessian(net, w, X, T), net.hessian(w, X, T))
        np.testing.assert_array_equal(dp.hessian_vector_product(net, w, X, T, v), net.hessian_vector_product(w, X, T, v))
        np.testing.assert_array_equal(dp.weight_jacobian(net, w, X), net.weight_jacobian(w, X))
        np.testing.assert_array_equal(dp.jacobian(net, w, X), net.jacobian(w, X))
    else:
        _close(dp.hessian(net, w, X, T), net.hessian(w, X, T), rtol=1e-12)


def test_torch_tensors_go_to_the_engine():
    net = dp.mlp([2, 3, 1])
    w, X, T = net.init(seed=0), np.ones((4, 2)), np.ones((4, 1))
    H = dp.hessian(net, torch.tensor(w), torch.tensor(X), torch.tensor(T))
    assert isinstance(H, torch.Tensor)
    _close(H.numpy(), dp.hessian(net, w, X, T), rtol=1e-12)


def test_bad_input_is_named():
    net = dp.mlp([2, 3, 1])
    w, X, T = net.init(seed=0), np.ones((4, 2)), np.ones((4, 1))
    with pytest.raises(ValueError, match="v must be a 1-D array of length n_params = 13"):
        dp.hessian_vector_product(net, w, X, T, np.ones(12))
    with pytest.raises(ValueError, match="X must be a 2-D array of shape \\(N, D=2\\); got shape \\(4, 3\\)"):
        dp.jacobian(net, w, np.ones((4, 3)))
    with pytest.raises(ValueError, match="T has 3 rows but X has 4"):
        dp.hessian(net, w, X, np.ones((3, 1)))
    big = dp.mlp([10, 500, 1])
    with pytest.raises(ValueError, match="this network has 6001 parameters.*Use hessian_vector_product"):
        dp.hessian(big, big.init(seed=0), np.ones((2, 10)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="this network has 6001 parameters"):
        dp.outer_product_hessian(big, big.init(seed=0), np.ones((2, 10)), np.ones((2, 1)))


def test_h_v_in_chunks_of_patterns_equals_the_engines():
    from deltaprop.fast import second

    net = dp.mlp([2, 8, 3], output="softmax")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 2))
    T = np.eye(3)[rng.integers(0, 3, 3000)]
    w, v = net.init(seed=1), rng.standard_normal(net.n_params)
    assert second.CACHED_BYTES // (8 * 8) < 3000  # three chunks, the last one short
    _close(dp.hessian_vector_product(net, w, X, T, v), net.hessian_vector_product(w, X, T, v), rtol=1e-12)


def test_the_exact_hessian_in_chunks_of_patterns_is_the_whole_one(monkeypatch):
    """dp.hessian takes the patterns in chunks so that no temporary outgrows CHUNK (the 10-50-50-1 network at
    N = 5000 needed an (N, 50, 50, 50) array, 5.7 GB): the sum of the chunks' Hessians is the whole one."""
    from deltaprop.fast import second

    rng = np.random.default_rng(3)
    for net in (dp.mlp([3, 5, 4, 1]), dp.mlp([2, 4, 3], output="softmax")):
        X, T = rng.standard_normal((37, net.D)), targets(net, rng, 37)
        w = net.init(seed=1)
        whole = dp.hessian(net, w, X, T)
        monkeypatch.setattr(second, "CHUNK", 500)  # a few patterns per chunk
        _close(dp.hessian(net, w, X, T), whole, rtol=1e-12)
        monkeypatch.undo()
