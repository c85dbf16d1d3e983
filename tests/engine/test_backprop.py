"""Backpropagation against its oracles: central differences and autograd, on random architectures."""

import numpy as np
from autograd import grad
from hypothesis import assume, given
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop.engine import activations, outputs as errors
from networks import autograd_ops, near_relu_kink, problems, reference


@given(problems())
def test_gradient_agrees_with_central_differences(problem):
    net, w, X, T = problem
    assume(not near_relu_kink(net, w, X))
    check = dp.gradient_check(net, w, X, T)
    assert check.max_relative_difference < 1e-6, (net, check.name)


@given(problems())
def test_error_and_gradient_agree_with_autograd(problem):
    net, w, X, T = problem
    ops = autograd_ops()
    y_ref, E_ref, _ = reference(ops, net, w, X, T)
    g_ref = grad(lambda v: reference(ops, net, v, X, T)[1])(w)

    E, g = net.error_and_gradient(w, X, T)
    np.testing.assert_allclose(net.forward(w, X), y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(E, E_ref, rtol=1e-10)
    np.testing.assert_allclose(net.error(w, X, T), E, rtol=1e-14)
    np.testing.assert_allclose(g, g_ref, rtol=1e-9, atol=1e-10 * max(1.0, np.abs(g_ref).max()))


@given(problems())
def test_pattern_gradients_are_the_gradients_of_each_E_n(problem):
    net, w, X, T = problem
    G = net.pattern_gradients(w, X, T)
    _, g = net.error_and_gradient(w, X, T)
    assert G.shape == (X.shape[0], net.n_params)
    np.testing.assert_allclose(G.sum(axis=0), g, rtol=1e-10, atol=1e-12)
    n = X.shape[0] // 2
    _, g_n = net.error_and_gradient(w, X[n : n + 1], T[n : n + 1])
    np.testing.assert_allclose(G[n], g_n, rtol=1e-12, atol=1e-14)


@given(problems())
def test_absent_weights_have_no_effect_and_zero_gradient(problem):
    net, w, X, T = problem
    masked = [c for c in net.connections if c.mask is not None and not c.mask.all()]
    assume(masked)
    E, g = net.error_and_gradient(w, X, T)
    w2 = w.copy()
    views, grads = net.unpack(w2), net.unpack(g)
    for c in masked:
        assert np.all(grads[c.name][~c.mask] == 0.0)
        views[c.name][~c.mask] += 5.0
    E2, g2 = net.error_and_gradient(w2, X, T)
    assert E2 == E
    np.testing.assert_array_equal(g2, g)


def test_linear_model_without_hidden_layer_is_y_equals_Wx_plus_b():
    # PRML 5.45 - 5.47: y_k = sum_i w_ki x_i, dE_n/dw_ki = (y_k - t_k) x_i
    rng = np.random.default_rng(1)
    net = dp.mlp([3, 2])
    w = rng.standard_normal(net.n_params)
    X, T = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    W, b = net.unpack(w)["W[y<-x]"], net.unpack(w)["b[y]"]
    Y = X @ W.T + b
    np.testing.assert_allclose(net.forward(w, X), Y, rtol=1e-14)
    E, g = net.error_and_gradient(w, X, T)
    np.testing.assert_allclose(E, 0.5 * np.sum((Y - T) ** 2), rtol=1e-14)
    np.testing.assert_allclose(net.unpack(g)["W[y<-x]"], (Y - T).T @ X, rtol=1e-13)
    np.testing.assert_allclose(net.unpack(g)["b[y]"], (Y - T).sum(axis=0), rtol=1e-13)


def test_deltas_at_the_outputs_are_y_minus_t_for_every_output_kind():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(2)
    for output, t in (("linear", [0.3, -1.2, 2.0]), ("logistic", [1.0, 0.0, 0.4]), ("softmax", [0.0, 1.0, 0.0])):
        net = dp.mlp([2, 4, 3], output=output)
        w = net.init(seed=3)
        tr = net.trace(w, x, t)
        np.testing.assert_allclose(tr.delta["y"], tr.z["y"] - np.asarray(t), rtol=1e-15)


def test_errors_are_stable_at_huge_pre_activations():
    a = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    t01 = np.array([[1.0, 0.0], [1.0, 0.0]])
    bce = errors.binary_cross_entropy(np, a, t01)
    # row 0 is predicted right with certainty (error 0); row 1 is wrong by a = 1000 in each output
    np.testing.assert_allclose(bce, [0.0, 2000.0])
    ce = errors.cross_entropy(np, a, t01)
    np.testing.assert_allclose(ce, [0.0, 2000.0])
    np.testing.assert_allclose(activations.logistic(np, np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(activations.softmax(np, a), [[1.0, 0.0], [0.0, 1.0]])


@given(st.sampled_from(["logistic", "softmax"]), st.floats(200.0, 1000.0))
def test_network_error_and_gradient_stay_finite_when_outputs_saturate(output, scale):
    net = dp.mlp([1, 2], output=output)
    w = np.array([scale, -scale, 0.0, 0.0])  # a = (scale x, -scale x)
    X = np.array([[1.0], [-1.0]])
    T = np.array([[0.0, 1.0], [0.0, 1.0]])
    E, g = net.error_and_gradient(w, X, T)
    assert np.isfinite(E) and np.all(np.isfinite(g))
    # pattern 0 is wrong by 2*scale (softmax) or by scale in each of two outputs (logistic)
    np.testing.assert_allclose(E, 2.0 * scale, rtol=1e-12)


def test_float32_in_float32_out():
    net = dp.mlp([2, 5, 1])
    w = net.init(seed=0).astype(np.float32)
    X = np.ones((4, 2), np.float32)
    T = np.zeros((4, 1), np.float32)
    E, g = net.error_and_gradient(w, X, T)
    assert net.forward(w, X).dtype == np.float32 and E.dtype == np.float32 and g.dtype == np.float32
    E64, g64 = net.error_and_gradient(w.astype(np.float64), X, T)
    assert g64.dtype == np.float64
    np.testing.assert_allclose(g, g64, rtol=1e-5, atol=1e-6)


def test_integer_data_is_taken_as_float():
    net = dp.mlp([2, 3, 1])
    w = net.init(seed=0)
    X, T = np.array([[1, 2], [3, 4]]), np.array([[1], [0]])
    np.testing.assert_allclose(net.error(w, X, T), net.error(w, X.astype(float), T.astype(float)))


def test_each_activations_second_derivative_is_the_derivative_of_its_first():
    a = np.linspace(-3, 3, 61) + 0.013  # off relu's kink
    eps = 1e-6
    for act in activations.ACTIVATIONS.values():
        if act.output_only:
            assert act.second_derivative is None
            continue
        dh = lambda x: act.derivative(np, x, act.h(np, x))  # noqa: E731
        numerical = (dh(a + eps) - dh(a - eps)) / (2 * eps)
        np.testing.assert_allclose(act.second_derivative(np, a, act.h(np, a)), numerical, atol=1e-8, err_msg=act.name)


def test_the_tables_give_every_activation_and_output_kind_its_own_code():
    codes = [a.code for a in activations.ACTIVATIONS.values()]
    assert len(set(codes)) == len(codes)
    assert [k.code for k in errors.OUTPUT_KINDS.values()] == [0, 1, 2]
    assert errors.OUTPUT_ACTIVATIONS == ("linear", "logistic", "softmax")
