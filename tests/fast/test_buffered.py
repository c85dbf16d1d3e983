"""Matrix products into buffers (deltaprop.buffered) give the Python engine's E and gradient, chunk by chunk."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.engine import backprop
from deltaprop.fast import kernels
from deltaprop.fast.buffered import Buffers

HIDDEN = ["linear", "tanh", "logistic", "relu", "softplus"]
OUTPUTS = [("linear", 2), ("logistic", 3), ("softmax", 4), ("linear", 1), ("logistic", 1)]  # one unit: an outer product back


def data(K, N, D=5, seed=0):
    rng = np.random.default_rng(seed)
    T = rng.random((N, K))
    return rng.standard_normal((N, D)), T / T.sum(axis=1, keepdims=True)  # probabilities: fit for every output


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, K", OUTPUTS)
@pytest.mark.parametrize("N, rows", [(37, 64), (37, 16), (1, 8)])
def test_buffers_give_the_engines_error_and_gradient(hidden, output, K, N, rows):
    net = dp.mlp([5, 7, 6, K], hidden=hidden, output=output)
    X, T = data(K, N)
    w = net.init(seed=1) + 0.05  # nonzero biases, and relu units on both sides of the kink
    E, g = backprop.error_and_gradient(net, w, X, T)
    buffers = Buffers(net, rows, np.float64)
    g_buffered = np.full_like(w, np.nan)
    for _ in range(2):  # a second call reuses the buffers and must not see the first
        assert buffers.error_and_gradient(w, X, T, g_buffered) == pytest.approx(float(E), rel=1e-13)
        np.testing.assert_allclose(g_buffered, g, rtol=1e-12, atol=1e-14 * np.abs(g).max())
    assert buffers.error(w, X, T) == pytest.approx(float(backprop.error(net, w, X, T)), rel=1e-13)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_outer_product_pass_equals_the_product_then_h_prime_bit_for_bit(hidden, dtype):
    rng = np.random.default_rng(3)
    code = dp.mlp([2, 3, 1], hidden=hidden).layers["h1"].activation.code
    A = rng.standard_normal((37, 9)).astype(dtype)
    Z = {"linear": A, "tanh": np.tanh(A), "logistic": 1 / (1 + np.exp(-A)), "relu": np.maximum(A, 0),
         "softplus": np.logaddexp(A, 0)}[hidden].astype(dtype)
    d, v = rng.standard_normal((37, 1)).astype(dtype), rng.standard_normal(9).astype(dtype)
    D, gb = np.full_like(A, np.nan), np.full(9, np.nan, dtype)
    kernels.outer_times_h_prime_and_sum(code, d, v, A, Z, D, gb)
    D_then, gb_then = d @ v[None], np.empty(9, dtype)
    kernels.times_h_prime_and_sum(code, A, Z, D_then, gb_then)
    assert np.array_equal(D, D_then) and np.array_equal(gb, gb_then)


def test_buffers_keep_float32_in_float32():
    net = dp.mlp([5, 40, 3], output="softmax")
    X, T = (a.astype(np.float32) for a in data(3, 50))
    w = net.init(seed=0).astype(np.float32)
    g = np.empty_like(w)
    E = Buffers(net, 32, np.float32).error_and_gradient(w, X, T, g)
    E64, g64 = backprop.error_and_gradient(net, w.astype(np.float64), X.astype(np.float64), T.astype(np.float64))
    assert g.dtype == np.float32
    assert E == pytest.approx(float(E64), rel=1e-5)
    np.testing.assert_allclose(g, g64, rtol=1e-3, atol=1e-5 * np.abs(g64).max())


def test_training_on_float32_data_through_the_buffers_follows_the_python_engine():
    net = dp.mlp([5, 40, 40, 3], output="softmax")
    X, T = (a.astype(np.float32) for a in data(3, 60))
    kwargs = dict(method="adam", batch_size=16, epochs=5, seed=0, weight_decay=0.01)
    fast, slow = dp.train(net, X, T, **kwargs), dp.train(net, X, T, compiled=False, **kwargs)
    assert (fast.engine, slow.engine) == ("buffered", "reference") and fast.w.dtype == np.float32
    np.testing.assert_allclose(fast.w, slow.w, rtol=1e-4, atol=1e-5)
    assert fast.error == pytest.approx(slow.error, rel=1e-5)


def test_validation_error_and_exact_history_through_the_buffers_equal_the_python_engines():
    net = dp.mlp([5, 40, 30, 2])
    X, T = data(2, 2100)  # more rows than one chunk of the buffers
    kwargs = dict(method="sgd", batch_size=64, epochs=3, seed=0, validation=0.2, history="exact")
    fast, slow = dp.train(net, X, T, **kwargs), dp.train(net, X, T, compiled=False, **kwargs)
    assert (fast.engine, slow.engine) == ("buffered", "reference")
    for key in ("error", "validation_error", "grad_norm"):
        np.testing.assert_allclose(fast.history[key], slow.history[key], rtol=1e-10)
    assert fast.validation_error == pytest.approx(slow.validation_error, rel=1e-10)
