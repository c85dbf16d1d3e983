"""The column kernel takes the patterns CHUNK at a time: the same bits as taking them all at once, whatever the
output, the activations, the dtype and the rows, and work arrays whose size does not grow with N beyond the data."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.engine import backprop
from deltaprop.fast import kernels
from deltaprop.fast.kernels import CHUNK, PART, Work, _evaluate_columns, kernel_spec, work


def one_chunk(sizes, N, dtype):
    """Work arrays wide enough for all N patterns at once: the kernel then runs them as one chunk."""
    n = (N + 7) // 8 * 8
    units = int(np.sum(sizes))
    made = work(sizes, N, np.empty(0, dtype))
    wide = np.empty((units, n + 8), dtype)
    return made._replace(A=wide, Z=wide.copy(), Dl=wide.copy(), R=np.empty(n + 8, dtype), acc=np.empty(0, dtype),
                         terms=np.empty((0, n), dtype))


def columns(made):
    """The column kernel's arrays of a ``Work``, in its argument order."""
    return made.A, made.Z, made.Dl, made.R, made.Xc, made.acc, made.terms


CASES = [([3, 7, 1], "tanh", "linear"), ([3, 5, 4, 3], "tanh", "linear"), ([2, 6, 3], "logistic", "logistic"),
         ([4, 6, 5, 3], "relu", "softmax"), ([1, 3, 1], "softplus", "linear")]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes, hidden, output", CASES)
def test_chunks_give_the_bits_of_one_pass_over_all_the_patterns(sizes, hidden, output, dtype):
    net = dp.mlp(sizes, hidden=hidden, output=output)
    spec = kernel_spec(net)
    rng = np.random.default_rng(len(sizes) * 10 + sizes[-1])
    for N in (CHUNK + 9, 2 * CHUNK, 2 * CHUNK + 37, 5 * CHUNK - PART - 3):
        X = rng.standard_normal((N, net.D)).astype(dtype)
        T = {"linear": lambda: rng.standard_normal((N, net.K)), "logistic": lambda: rng.random((N, net.K)),
             "softmax": lambda: np.eye(net.K)[rng.integers(0, net.K, N)]}[output]().astype(dtype)
        w = (net.init(seed=rng) + 0.2 * rng.standard_normal(net.n_params)).astype(dtype)
        some = np.sort(rng.choice(N, CHUNK + 9 + (N - CHUNK - 9) // 2, replace=False))
        for rows in (np.arange(N), some, rng.permutation(some)):  # all, some, and some out of order
            chunked, g = work(spec[0], N, w), np.empty(net.n_params, dtype)
            assert chunked.A.shape[1] < (rows.size + 7) // 8 * 8  # more than one chunk
            whole, g1 = one_chunk(spec[0], N, dtype), np.empty(net.n_params, dtype)
            E = _evaluate_columns(w, X, T, rows, *spec, g, *columns(chunked), False)
            E1 = _evaluate_columns(w, X, T, rows, *spec, g1, *columns(whole), False)
            assert np.array_equal(np.array([E], dtype).view(np.uint8), np.array([E1], dtype).view(np.uint8))
            assert np.array_equal(g.view(np.uint8), g1.view(np.uint8))
            if dtype == np.float64:  # and the reference engine's numbers, to rounding
                E_ref, g_ref = backprop.error_and_gradient(net, w, X[rows], T[rows])
                assert E == pytest.approx(float(E_ref), rel=1e-12)
                np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-10 * np.abs(g_ref).max())


def test_a_fused_training_on_many_patterns_is_the_same_as_the_evaluator_and_the_reference_says():
    rng = np.random.default_rng(3)
    net = dp.mlp([4, 6, 2])
    X = rng.standard_normal((3 * CHUNK + 11, 4))
    T = np.stack([np.sin(X.sum(1)), np.cos(X[:, 0])], axis=1)
    with pytest.warns(Warning, match="limit of 30 iterations"):
        result = dp.train(net, X, T, method="lbfgs", max_iter=30, seed=0, progress=False)
    assert result.error == pytest.approx(net.error(result.w, X, T), rel=1e-12)
    E, g = dp.fast.evaluator(net, X, T, "compiled").error_and_gradient(result.w)
    np.testing.assert_allclose(g, net.error_and_gradient(result.w, X, T)[1], rtol=1e-9, atol=1e-12)
    assert E == pytest.approx(result.error, rel=1e-12)


def test_the_work_arrays_hold_a_chunk_of_patterns_not_all_of_them():
    net = dp.mlp([8, 20, 20, 3])
    sizes = kernel_spec(net)[0]
    N = 100_000
    made = work(sizes, N, np.empty(0))
    assert isinstance(made, Work)
    units = int(np.sum(sizes))
    for M in (made.A, made.Z, made.Dl):
        assert M.shape == (units, CHUNK + 8)  # a row of a multiple of 64 entries is padded by 8
    assert made.Xc.shape[0] == 8 and made.Xc.shape[1] >= N  # the inputs, once
    assert made.acc.size == net.n_params * PART and made.terms.shape[0] == 3 and made.terms.shape[1] >= N  # K x N
    small = work(sizes, 100, np.empty(0))
    assert small.A.shape == (units, 104) and small.acc.size == 0 and small.terms.shape[0] == 0


def test_chunk_is_a_multiple_of_the_parts_of_a_sum():
    assert CHUNK % PART == 0 and CHUNK % kernels.LANES == 0
