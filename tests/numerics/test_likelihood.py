"""beta_ML, the negative log likelihood and the predictive distribution (PRML 5.2)."""

import math

import numpy as np
import pytest

import deltaprop as dp


@pytest.fixture
def regression():
    rng = np.random.default_rng(3)
    net = dp.mlp([2, 4, 3])
    w = net.init(seed=3)
    X = rng.standard_normal((20, 2))
    T = rng.standard_normal((20, 3))
    return net, w, X, T


def test_beta_ML_is_one_over_the_mean_squared_residual(regression):
    net, w, X, T = regression
    Y = net.forward(w, X)
    expected = 1.0 / (np.sum((Y - T) ** 2) / (20 * 3))  # PRML 5.17, N = 20, K = 3
    assert dp.noise_precision(net, w, X, T) == pytest.approx(expected, rel=1e-14)


def test_nll_matches_its_formula(regression):
    net, w, X, T = regression
    Y, beta, NK = net.forward(w, X), 0.7, 60
    expected = beta / 2 * np.sum((Y - T) ** 2) - NK / 2 * math.log(beta) + NK / 2 * math.log(2 * math.pi)
    assert dp.negative_log_likelihood(net, w, X, T, beta) == pytest.approx(expected, rel=1e-14)
    # and it is the sum of -ln N(t_nk | y_nk, 1/beta)
    gauss = 0.5 * math.log(2 * math.pi / beta) + beta / 2 * (Y - T) ** 2
    assert dp.negative_log_likelihood(net, w, X, T, beta) == pytest.approx(gauss.sum(), rel=1e-12)


def test_nll_is_least_at_beta_ML(regression):
    net, w, X, T = regression
    beta_ml = dp.noise_precision(net, w, X, T)
    grid = beta_ml * np.exp(np.linspace(-3, 3, 6001))  # steps of 0.1 % around beta_ML
    nll = [dp.negative_log_likelihood(net, w, X, T, b) for b in grid]
    assert grid[int(np.argmin(nll))] == pytest.approx(beta_ml, rel=1.5e-3)
    at_ml = dp.negative_log_likelihood(net, w, X, T, beta_ml)
    assert dp.negative_log_likelihood(net, w, X, T) == at_ml  # beta=None uses beta_ML
    assert at_ml < dp.negative_log_likelihood(net, w, X, T, beta_ml * 1.001)
    assert at_ml < dp.negative_log_likelihood(net, w, X, T, beta_ml / 1.001)


def test_nll_of_classifiers_is_their_cross_entropy():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((10, 2))
    for output, T in (("logistic", rng.integers(0, 2, (10, 2))), ("softmax", np.eye(2)[rng.integers(0, 2, 10)])):
        net = dp.mlp([2, 3, 2], output=output)
        w = net.init(seed=0)
        assert dp.negative_log_likelihood(net, w, X, T) == pytest.approx(float(net.error(w, X, T)), rel=1e-15)
        with pytest.raises(ValueError, match="leave it None"):
            dp.negative_log_likelihood(net, w, X, T, beta=1.0)
        with pytest.raises(ValueError, match="Gaussian noise model of linear"):
            dp.noise_precision(net, w, X, T)
        with pytest.raises(ValueError, match="Gaussian noise model of linear"):
            dp.predictive(net, w, X, 1.0)


def test_predictive_mean_and_variance(regression):
    net, w, X, T = regression
    mean, var = dp.predictive(net, w, X, beta=4.0)
    np.testing.assert_array_equal(mean, net.forward(w, X))
    assert var.shape == (20, 3) and np.all(var == 0.25)


@pytest.mark.parametrize("beta, error", [(0.0, ValueError), (-1.0, ValueError), (np.inf, ValueError), (np.nan, ValueError), ("a", TypeError)])
def test_bad_beta(regression, beta, error):
    net, w, X, T = regression
    with pytest.raises(error, match="beta must be a positive"):
        dp.negative_log_likelihood(net, w, X, T, beta)
    with pytest.raises(error, match="beta must be a positive"):
        dp.predictive(net, w, X, beta)


def test_exact_fit_has_no_finite_beta_ML():
    net = dp.mlp([1, 1])
    w = np.array([2.0, 1.0])
    X = np.array([[0.0], [1.0]])
    with pytest.raises(ValueError, match="beta_ML is infinite"):
        dp.noise_precision(net, w, X, 2 * X + 1)


def test_gaussian_nll_per_pattern_sums_to_the_networks_negative_log_likelihood():
    rng = np.random.default_rng(3)
    net = dp.mlp([2, 4, 3])
    w, X = net.init(seed=1), rng.standard_normal((9, 2))
    T = rng.standard_normal((9, 3))
    per_pattern = dp.numerics.gaussian_nll(net.forward(w, X), T, 2.5)
    assert per_pattern.shape == (9,)
    assert per_pattern.sum() == pytest.approx(dp.negative_log_likelihood(net, w, X, T, beta=2.5), rel=1e-12)
    beta = np.array([0.5, 2.0, 8.0])  # one precision per output: each column its own Gaussian
    by_hand = [sum(0.5 * b * (y - t) ** 2 - 0.5 * np.log(b) + 0.5 * np.log(2 * np.pi)
                   for y, t, b in zip(yn, tn, beta)) for yn, tn in zip(net.forward(w, X), T)]
    np.testing.assert_allclose(dp.numerics.gaussian_nll(net.forward(w, X), T, beta), by_hand, rtol=1e-12)
