"""The step rules of deltaprop.optimize, compiled and in NumPy, against their equations written out."""

import numpy as np
import pytest

from deltaprop.optimize import ScaledConjugateGradients, make_optimizer, rules


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


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request, monkeypatch):
    """The step rules' compiled kernels, or their NumPy form (what runs where Numba is absent)."""
    if request.param == "numpy":
        monkeypatch.setattr(rules, "_steps", rules.numpy_steps)
    else:
        monkeypatch.setattr(rules, "_steps", None)
        assert rules.steps() is not rules.numpy_steps
    return request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "adam"])
def test_the_step_rules_follow_their_equations_over_steps(rule, dtype, kernels):
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


def test_a_step_rule_moves_w_by_the_batches_of_one_epoch_and_keeps_the_old_state():
    w0 = np.array([1.0, -2.0, 3.0])
    calls = []

    def fun(w, batch):  # E = 1/2 |w|^2 per pattern: g = n w
        calls.append(None if batch is None else len(batch))
        n = 4 if batch is None else len(batch)
        return 0.5 * n * float(w @ w), n * w

    opt = make_optimizer("momentum", 4, 0.1, 2, momentum=0.5, nesterov=False)
    state = opt.start(fun, w0)
    w1, state1 = opt.epoch(fun, w0, state, np.random.default_rng(0))
    assert calls == [2, 2] and np.array_equal(w0, [1.0, -2.0, 3.0]) and not np.any(state["v"])
    v = -0.1 * w0  # first batch: v = -eta g/n = -eta w
    w = w0 + v
    v = 0.5 * v - 0.1 * w
    np.testing.assert_allclose(w1, w + v, rtol=1e-15)
    np.testing.assert_allclose(state1["v"], v, rtol=1e-15)


def test_scaled_conjugate_gradients_finds_the_minimum_of_a_quadratic():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    fun = lambda w, batch: (0.5 * w @ A @ w - b @ w, A @ w - b)  # noqa: E731
    opt = ScaledConjugateGradients(1)
    w, state = np.zeros(2), opt.start(fun, np.zeros(2))
    for _ in range(20):
        w, state = opt.epoch(fun, w, state)
    np.testing.assert_allclose(w, np.linalg.solve(A, b), rtol=1e-8)


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown method 'newton'"):
        make_optimizer("newton", 10, 0.1, 2)
