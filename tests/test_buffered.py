"""Matrix products into buffers (deltaprop.buffered) give the Python engine's E and gradient, chunk by chunk."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backprop
from deltaprop.buffered import Buffers

HIDDEN = ["linear", "tanh", "logistic", "relu", "softplus"]
OUTPUTS = [("linear", 2), ("logistic", 3), ("softmax", 4)]


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
    assert (fast.engine, slow.engine) == ("buffered", "python") and fast.w.dtype == np.float32
    np.testing.assert_allclose(fast.w, slow.w, rtol=1e-4, atol=1e-5)
    assert fast.error == pytest.approx(slow.error, rel=1e-5)


def test_validation_error_and_exact_history_through_the_buffers_equal_the_python_engines():
    net = dp.mlp([5, 40, 30, 2])
    X, T = data(2, 2100)  # more rows than one chunk of the buffers
    kwargs = dict(method="sgd", batch_size=64, epochs=3, seed=0, validation=0.2, history="exact")
    fast, slow = dp.train(net, X, T, **kwargs), dp.train(net, X, T, compiled=False, **kwargs)
    assert (fast.engine, slow.engine) == ("buffered", "python")
    for key in ("error", "validation_error", "grad_norm"):
        np.testing.assert_allclose(fast.history[key], slow.history[key], rtol=1e-10)
    assert fast.validation_error == pytest.approx(slow.validation_error, rel=1e-10)


def _reference_steps(rule, w, g, state, lr, scale):
    """The step rules written out in NumPy, one operation at a time, as the oracle for the compiled ones."""
    g = g * scale
    if rule == "sgd":
        return w - lr * g, state
    if rule in ("momentum", "nesterov"):
        v = 0.9 * state["v"] - lr * g
        return (w + 0.9 * v - lr * g if rule == "nesterov" else w + v), {"v": v}
    t = state["t"] + 1
    m, v = 0.9 * state["m"] + 0.1 * g, 0.999 * state["v"] + 0.001 * g * g
    m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + 1e-8), {"m": m, "v": v, "t": t}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "adam"])
def test_the_compiled_step_rules_follow_their_equations_over_steps(rule, dtype):
    from deltaprop.optimize import make_optimizer

    opt = make_optimizer("momentum" if rule == "nesterov" else rule, 100, 0.3, 8,
                         **({"momentum": 0.9, "nesterov": rule == "nesterov"} if rule in ("momentum", "nesterov") else {}))
    rng = np.random.default_rng(0)
    w = rng.standard_normal(1001).astype(dtype)
    state = opt.start(None, w)
    expected, expected_state = w.astype(np.float64), {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v)
                                                      for k, v in state.items()}
    for _ in range(3):
        g = rng.standard_normal(1001).astype(dtype)
        g_before = g.copy()
        opt.step(w, g, state, 0.125)  # w and the state change where they lie
        expected, expected_state = _reference_steps(rule, expected, g.astype(np.float64), expected_state, 0.3, 0.125)
        np.testing.assert_array_equal(g, g_before)  # the gradient is only read
    assert w.dtype == dtype
    tol = 1e-13 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(w, expected, rtol=0, atol=tol * np.abs(expected).max())
