"""Bad input to the public entry points gets an error naming what is wrong."""

import warnings

import numpy as np
import pytest
import torch

import deltaprop as dp
from deltaprop.engine.checks import check_data

NET = dp.mlp([2, 3, 1])
W = NET.init(seed=0)
X = np.zeros((4, 2))
T = np.zeros((4, 1))
ENTRY_POINTS = [
    lambda w, X, T: NET.forward(w, X),
    NET.error,
    NET.error_and_gradient,
    NET.pattern_gradients,
    dp.gradient_check,
]
ENTRY_POINTS[-1] = lambda w, X, T: dp.gradient_check(NET, w, X, T)


def with_nan(a, row, col, value=np.nan):
    a = a.copy()
    a[row, col] = value
    return a


@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize(
    "w, X, T, error, message",
    [
        (W, np.zeros(4), T, ValueError, "X must be a 2-D array of shape \\(N, D=2\\); got shape \\(4,\\)"),
        (W, np.zeros((4, 3)), T, ValueError, "X must be a 2-D array of shape \\(N, D=2\\); got shape \\(4, 3\\)"),
        (W, np.zeros((0, 2)), np.zeros((0, 1)), ValueError, "X holds no patterns"),
        (W, np.array([["a", "b"]] * 4), T, TypeError, "X must hold real numbers; got dtype <U1"),
        (W, X.astype(complex), T, TypeError, "X must hold real numbers; got dtype complex128"),
        (W, np.array([[1, "a"]] * 4, dtype=object), T, TypeError, "X must hold numbers"),
        (W, with_nan(X, 2, 1), T, ValueError, "X holds a non-finite value \\(nan\\) at row 2, column 1"),
        (W, with_nan(X, 3, 0, np.inf), T, ValueError, "X holds a non-finite value \\(inf\\) at row 3, column 0"),
        (W[:-1], X, T, ValueError, "w must be a 1-D array of length n_params = 13 for this network; got shape \\(12,\\)"),
        (W[None, :], X, T, ValueError, "w must be a 1-D array of length n_params = 13"),
        (np.arange(13), X, T, TypeError, "w must be a floating-point array"),
        (with_nan(W[None, :], 0, 4)[0], X, T, ValueError, "w holds a non-finite value \\(nan\\) at index 4"),
        (torch.as_tensor(W), X, T, TypeError, "must come from the same array library"),
    ],
)
def test_bad_weights_and_inputs(call, w, X, T, error, message):
    with pytest.raises(error, match=message):
        call(w, X, T)


@pytest.mark.parametrize("call", ENTRY_POINTS[1:])
@pytest.mark.parametrize(
    "T, message",
    [
        (np.zeros(4), "T must be a 2-D array of shape \\(N, K=1\\); got shape \\(4,\\). A single target column is T.reshape\\(-1, 1\\)"),
        (np.zeros((4, 2)), "T must be a 2-D array of shape \\(N, K=1\\); got shape \\(4, 2\\)"),
        (np.zeros((5, 1)), "T has 5 rows but X has 4"),
        (with_nan(T, 1, 0), "T holds a non-finite value \\(nan\\) at row 1, column 0"),
        (with_nan(T, 0, 0, -np.inf), "T holds a non-finite value \\(-inf\\) at row 0, column 0"),
        (np.array([["x"]] * 4), "T must hold real numbers"),
    ],
)
def test_bad_targets(call, T, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(W, X, T)


def test_targets_must_suit_the_output_kind():
    logistic = dp.mlp([2, 2], output="logistic")
    w = logistic.init(seed=0)
    with pytest.raises(ValueError, match="T row 1 holds a value outside \\[0, 1\\]"):
        logistic.error(w, X, np.array([[0, 1], [2, 0], [0, 0], [1, 1]]))
    softmax = dp.mlp([2, 2], output="softmax")
    with pytest.raises(ValueError, match="T row 2 sums to 2.0; targets of softmax outputs are 1-of-K"):
        softmax.error(w, X, np.array([[0, 1], [1, 0], [1, 1], [1, 0]]))
    # soft targets are allowed
    assert np.isfinite(softmax.error(w, X, np.full((4, 2), 0.5)))


def test_trace_checks_its_pattern():
    with pytest.raises(ValueError, match="x must be one pattern of shape \\(D=2,\\); got shape \\(3,\\)"):
        NET.trace(W, [1.0, 2.0, 3.0], [0.0])
    with pytest.raises(ValueError, match="t must be one pattern of shape \\(K=1,\\); got shape \\(2,\\)"):
        NET.trace(W, [1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="x holds a non-finite value \\(nan\\) at row 0, column 1"):
        NET.trace(W, [1.0, np.nan], [0.0])
    assert NET.trace(W, [[1.0, 2.0]], [0.5]).error >= 0.0


def test_unpack_checks_the_length_of_w():
    with pytest.raises(ValueError, match="w must be a 1-D array of length n_params = 13"):
        NET.unpack(np.zeros(14))


def test_lists_are_accepted_as_arrays():
    np.testing.assert_allclose(NET.forward(list(W), [[0.0, 0.0]]), NET.forward(W, np.zeros((1, 2))))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_values_whose_sum_overflows_pass_and_an_inf_beside_its_opposite_is_found(dtype):
    """The finiteness check sums the array first (a finite sum holds no NaN or inf); a sum that overflows, or is
    NaN from +inf and -inf, sends it to the element-wise search, which passes the one and names the other, with no
    NumPy warning either way."""
    net = dp.mlp([2, 3, 1])
    big = np.finfo(dtype).max
    X = np.array([[big, big], [big, -1.0], [1.0, 2.0]], dtype=dtype)
    T = np.zeros((3, 1), dtype=dtype)
    w = np.zeros(net.n_params, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_data(net, w, X, T)  # finite, though its sum is inf
        X[2] = [np.inf, -np.inf]
        with pytest.raises(ValueError, match="X holds a non-finite value \\(inf\\) at row 2, column 0"):
            check_data(net, w, X, T)
