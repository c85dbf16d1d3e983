"""Levenberg-Marquardt (PRML 5.4.2): its steps, its reach on the seed's examples, and what it refuses."""

import contextlib
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import deltaprop as dp
from deltaprop.examples import FIGURE_5_3, seed_example
from deltaprop.optimize.lm import LevenbergMarquardt

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_a_step_solves_the_damped_gauss_newton_system_and_lambda_follows_marquardts_rule():
    rng = np.random.default_rng(0)
    J = rng.standard_normal((30, 4))
    t = rng.standard_normal(30)

    def fun(w, batch):
        r = J @ w - t
        return 0.5 * r @ r, J.T @ r

    lm = LevenbergMarquardt(30, lambda w: (J.T @ J, fun(w, None)[1]))
    w0 = np.zeros(4)
    state = lm.start(fun, w0)
    w1, state1 = lm.epoch(fun, w0, state)
    expected = w0 - np.linalg.solve(J.T @ J + 1e-2 * np.eye(4), J.T @ (J @ w0 - t))
    np.testing.assert_allclose(w1, expected, rtol=1e-12)
    assert state1["lambda"] == pytest.approx(1e-3) and state["lambda"] == 1e-2  # shrunk; the old state untouched
    assert state1["E"] == pytest.approx(fun(w1, None)[0], rel=1e-14)


def test_a_step_that_raises_E_is_solved_again_with_ten_times_the_damping():
    calls = []

    def fun(w, batch):  # E(w) = w^4 - w^2 with the curvature of a Gauss-Newton model 2: the full step overshoots
        calls.append(float(w[0]))
        return float(w[0] ** 4 - w[0] ** 2), np.array([4 * w[0] ** 3 - 2 * w[0]])

    lm = LevenbergMarquardt(1, lambda w: (np.array([[0.01]]), fun(w, None)[1]))
    w0 = np.array([2.0])
    state = lm.start(fun, w0)
    w1, s = lm.epoch(fun, w0, state)
    assert fun(w1, None)[0] < state["E"]
    g = 4 * 8 - 4.0
    tried = [2.0 - g / (0.01 + lam) for lam in (1e-2, 1e-1, 1.0, 10.0, 100.0)]
    trials = [c for c in calls[2:] if c != 2.0][: len(tried)]
    n = next(i for i, x in enumerate(tried) if x**4 - x**2 < 12.0) + 1  # the first damping that lowers E
    np.testing.assert_allclose(trials[:n], tried[:n], rtol=1e-12)
    assert s["lambda"] == pytest.approx(10.0 ** (-2 + n - 1) / 10)


def test_lm_stops_as_converged_where_no_damping_lowers_E():
    def fun(w, batch):
        return float(w @ w), 2 * w

    lm = LevenbergMarquardt(1, lambda w: (np.eye(2), 2 * w))
    w, s = lm.epoch(fun, np.zeros(2), lm.start(fun, np.zeros(2)))
    assert s["converged"] and not np.any(w)


@pytest.mark.parametrize("name", list(FIGURE_5_3))
def test_lm_reaches_the_rmse_of_lbfgs_on_figure_5_3_in_fewer_iterations(name):
    net, X, T = seed_example(0, target=name)
    # the same 10 starts for both, as in test_the_seed_example_reaches_small_rmse_with_lbfgs_and_scg
    lbfgs = dp.train(net, X, T, method="lbfgs", restarts=10, seed=0)
    with pytest.warns(ConvergenceWarning) if name in ("x^2", "H(x)") else contextlib.nullcontext():
        lm = dp.train(net, X, T, method="lm", restarts=10, seed=0, epochs=200)
    rmse = lambda E: np.sqrt(2 * E / len(X))  # noqa: E731
    E_lm = np.asarray(lm.history["error"])
    reached = np.flatnonzero(E_lm <= lbfgs.error)
    print(f"{name}: lbfgs RMSE {rmse(lbfgs.error):.2e} after {lbfgs.history['epoch'][-1]} iterations; "
          f"lm RMSE {rmse(lm.error):.2e}, below lbfgs's after {reached[0] if reached.size else None}")
    assert reached.size and reached[0] < lbfgs.history["epoch"][-1]
    counts = re.search(r"after ([\d, and]+) iterations for x\^2, sin\(pi x\), \|x\| and\s+H\(x\), where `lbfgs` took "
                       r"([\d, and]+) \(", README, flags=re.S)
    quoted = [[int(v) for v in re.findall(r"\d+", group)] for group in counts.groups()]
    at = list(FIGURE_5_3).index(name)
    assert (quoted[0][at], quoted[1][at]) == (reached[0], lbfgs.history["epoch"][-1]), "README.md quotes others"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_masked_weights_stay_absent_under_lm():
    mask = np.array([[1, 0], [1, 1], [0, 1], [1, 1]], dtype=bool)
    net = dp.Network({"x": 2, "h": (4, "tanh"), "y": (1, "linear")}, [("x", "h", mask), ("h", "y"), ("x", "y")])
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (40, 2))
    T = np.sin(X[:, :1] * 2) + X[:, 1:] ** 2
    result = dp.train(net, X, T, method="lm", epochs=50, seed=0)
    W = net.unpack(result.w)["W[h<-x]"]
    assert W[0, 1] == 0 and W[2, 0] == 0 and result.error < 0.5 * result.history["error"][0]


@pytest.mark.parametrize("output", ["logistic", "softmax"])
def test_lm_refuses_cross_entropy_outputs(output):
    net = dp.mlp([2, 3, 2], output=output)
    X, T = np.zeros((4, 2)), np.tile([[1.0, 0.0]], (4, 1))
    with pytest.raises(ValueError, match=f"sum-of-squares error, which needs linear outputs; this network's outputs are {output}"):
        dp.train(net, X, T, method="lm")


def test_lm_refuses_a_network_too_large_for_its_dense_system_and_learning_rates():
    X, T = np.zeros((4, 1)), np.zeros((4, 1))
    with pytest.raises(ValueError, match="has 7501 parameters, more than 5000: use method='lbfgs' or 'scg'"):
        dp.train(dp.mlp([1, 2500, 1]), X, T, method="lm")
    with pytest.raises(ValueError, match="learning_rate does not apply to method 'lm'"):
        dp.train(dp.mlp([1, 2, 1]), X, T, method="lm", learning_rate=0.1)
