"""The gradient check itself: it must find a wrong gradient, and say where."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.engine import activations


def test_gradient_check_passes_a_correct_gradient_and_returns_both_gradients():
    rng = np.random.default_rng(0)
    net = dp.mlp([2, 4, 3, 2], hidden="tanh")
    w, X, T = net.init(seed=0), rng.standard_normal((9, 2)), rng.standard_normal((9, 2))
    check = dp.gradient_check(net, w, X, T)
    assert check.max_relative_difference < 1e-7
    np.testing.assert_array_equal(check.backprop, net.error_and_gradient(w, X, T)[1])
    np.testing.assert_allclose(check.numerical, dp.central_differences(net, w, X, T), rtol=0, atol=0)


def test_gradient_check_finds_a_wrong_derivative_and_names_the_worst_weight():
    rng = np.random.default_rng(1)
    net = dp.Network({"x": 2, "h": (3, "logistic"), "y": (1, "linear")}, [("x", "h"), ("h", "y")])
    w, X, T = net.init(seed=1) + 0.5, rng.standard_normal((6, 2)), rng.standard_normal((6, 1))
    wrong = activations.Activation("logistic", 2, activations.logistic, lambda xp, a, z: z, None)  # sigma' = z: wrong
    object.__setattr__(net.layers["h"], "activation", wrong)
    check = dp.gradient_check(net, w, X, T)
    assert check.max_relative_difference > 1e-2
    assert check.name.startswith(("W[h<-x]", "b[h]"))  # only the first layer's derivatives are wrong
    assert net.param_name(check.index) == check.name


def test_gradient_check_runs_in_float64_for_float32_input():
    rng = np.random.default_rng(2)
    net = dp.mlp([2, 3, 1])
    w, X, T = (v.astype(np.float32) for v in (net.init(seed=2), rng.standard_normal((5, 2)), rng.standard_normal((5, 1))))
    check = dp.gradient_check(net, w, X, T)
    assert check.backprop.dtype == np.float64 and check.max_relative_difference < 1e-6


def test_gradient_check_refuses_a_bad_step():
    net = dp.mlp([1, 1])
    with pytest.raises(ValueError, match="eps must lie in \\(0.0, 1.0\\]"):
        dp.gradient_check(net, np.zeros(2), np.zeros((1, 1)), np.zeros((1, 1)), eps=0.0)
