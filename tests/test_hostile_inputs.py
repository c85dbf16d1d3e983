"""Hostile and degenerate input to the library's newer calls (issue 28, items 10-12): each is refused with a
message that names it, or gives the right limit, never NaN, None or NumPy's own words."""

import warnings

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.fast.second as fast_second

X = np.linspace(-1, 1, 20)[:, None]
T = np.sin(np.pi * X)


def test_targets_too_large_for_float64_are_told_not_returned_as_none():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no divergence warning that promises the best weights seen
        with pytest.raises(ValueError, match="E\\(w\\) is not finite at the initial weights of any restart: .*"
                                             "the largest \\|value\\| in X and T is 1e\\+200\\); standardise X and T"):
            dp.train(dp.mlp([1, 3, 1]), X, 1e200 * np.ones_like(T), seed=0)


def test_hessian_check_checks_the_hessian_the_laplace_approximation_uses(monkeypatch):
    net = dp.mlp([1, 3, 2])
    w, T2 = net.init(seed=0), np.c_[T, T**2]
    assert dp.hessian_check(net, w, X, T2).max_relative_difference < 1e-6
    exact = fast_second.hessian

    def planted(*args):
        H = exact(*args).copy()
        H[3, 5] += 1e-3
        H[5, 3] += 1e-3
        return H

    monkeypatch.setattr(fast_second, "hessian", planted)
    check = dp.hessian_check(net, w, X, T2)
    assert check.max_relative_difference > 1e-4 and set(check.index) == {3, 5}


@pytest.mark.parametrize("alpha, error, message", [
    (np.inf, ValueError, "alpha .* must lie in \\(0.0, inf\\]; got inf"),
    (-1.0, ValueError, "got -1.0"),
    (True, TypeError, "must be a number; got True"),
    ("1", TypeError, "must be a number; got '1'"),
    (1e-300, ValueError, "alpha = 1e-300 is too small: the sequential update from I / alpha overflows float64"),
])
def test_inverse_outer_product_hessian_refuses_what_is_no_precision(alpha, error, message):
    net = dp.mlp([1, 3, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error, match=message):
            dp.inverse_outer_product_hessian(net, net.init(seed=0), X, alpha)


def test_inverse_outer_product_hessian_takes_numpy_scalars():
    net = dp.mlp([1, 3, 1])
    w = net.init(seed=0)
    M = dp.inverse_outer_product_hessian(net, w, X, np.float32(2.0))
    B = dp.weight_jacobian(net, w, X)[:, 0, :]
    np.testing.assert_allclose(M, np.linalg.inv(2.0 * np.eye(net.n_params) + B.T @ B), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("check", [dp.gradient_check, dp.hessian_check])
@pytest.mark.parametrize("eps", [np.inf, np.nan, 0.0, -1e-6, 2.0, True])
def test_checks_refuse_a_step_that_is_no_step(check, eps):
    net = dp.mlp([1, 2, 1])
    with pytest.raises((ValueError, TypeError), match="eps must"):
        check(net, net.init(seed=0), X, T, eps=eps)


@pytest.fixture(scope="module")
def mdn():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 200)
    return dp.MixtureDensityRegressor(hidden=(5,), components=2, restarts=1, max_iter=200, random_state=0).fit(
        x[:, None], x + 0.1 * rng.standard_normal(200))


def test_a_density_far_from_every_component_is_zero_not_nan(mdn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mdn.predict_density(np.zeros((2, 1)), [1e300, -1e300]).tolist() == [0.0, 0.0]
        assert mdn.negative_log_likelihood(np.zeros((1, 1)), [1e300]) == np.inf


@pytest.mark.parametrize("size, error", [(-1, ValueError), (0, ValueError), (1.5, ValueError), ("3", TypeError)])
def test_sample_refuses_a_size_that_is_no_count(mdn, size, error):
    with pytest.raises(error, match="size must"):
        mdn.sample(np.zeros((2, 1)), size)
    assert mdn.sample(np.zeros((2, 1)), np.int64(3), random_state=0).shape == (2, 3)


def test_components_must_be_a_count_in_mlp_and_in_the_estimator():
    with pytest.raises(ValueError, match="components must be a positive integer, the number M of Gaussians; got True"
                       .replace("M of Gaussians", "M of Gaussians in the mixture")):
        dp.mlp([1, 3, 1], output="mdn", components=True)
    assert dp.mlp([1, 3, 1], output="mdn", components=np.int64(2)).layers["y"].size == 6
    with pytest.raises(ValueError, match="'components' parameter of MixtureDensityRegressor must be an int .* got True"):
        dp.MixtureDensityRegressor(components=True).fit(X, T[:, 0])


def test_the_evidence_refuses_a_mixture_density_network_before_training(monkeypatch):
    import deltaprop.training.evidence as evidence

    monkeypatch.setattr(evidence, "train", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(ValueError, match="the evidence \\(its Laplace approximation\\) needs an output with its "
                                         "canonical error .* the mixture density 'mdn:2'"):
        dp.train_evidence(dp.mlp([1, 3, 1], output="mdn", components=2), X, T)


def test_refusals_name_a_mixture_densitys_error_for_what_it_is():
    net = dp.mlp([1, 3, 1], output="mdn", components=2)
    with pytest.raises(ValueError, match="outputs are mdn:2 \\(a mixture density, whose error is -ln p\\(t \\| x\\)\\)"):
        dp.train(net, X, T, method="lm")
    with pytest.raises(ValueError, match="needs an output with its canonical error") as refused:
        dp.laplace(net, net.init(seed=0), X, T, alpha=1.0, beta=1.0)
    assert "cross-entropy" not in str(refused.value)


def test_a_huge_alpha_prunes_every_weight_and_leaves_the_flat_biases():
    net = dp.mlp([1, 3, 1])
    w = dp.train(net, X, T, weight_decay=1e-3, seed=0).w
    post = dp.laplace(net, w, X, T, alpha=1e300, beta=1.0)
    assert post.gamma == pytest.approx(4.0, abs=1e-9)  # the 3 + 1 biases, whose prior is flat
    assert all(0.0 <= g <= 1e-9 for g in post.gamma_groups.values())


def test_a_collapsed_mixture_component_is_told():
    rng = np.random.default_rng(0)
    x = np.r_[np.zeros((10, 1)), rng.uniform(-1, 1, (30, 1))]
    t = np.r_[np.zeros((10, 1)), rng.standard_normal((30, 1))]  # ten copies of (0, 0): a point to shrink onto
    told = "mixture component \\d collapsed: sigma_\\d = .* under 1e-06 of the targets' spread"
    with pytest.warns(dp.TrainingWarning, match=told):  # a run that stops as converged is told too
        result = dp.train(dp.mlp([1, 3, 1], output="mdn", components=2), x, t, seed=0, max_iter=3000, compiled=False)
    assert result.stop_reason == "converged"
    with pytest.warns(dp.TrainingWarning, match=told):  # the buffered backend's run (E falls without end: its
        result = dp.train(dp.mlp([1, 3, 1], output="mdn", components=2), x, t, seed=0, max_iter=3000)  # own path)
    assert result.engine == "buffered"


def test_more_components_than_patterns_is_told_before_training():
    with pytest.warns(dp.TrainingWarning, match="the mixture has 30 components for 20 training patterns"):
        dp.train(dp.mlp([1, 3, 1], output="mdn", components=30), X, T, seed=0, max_iter=2)
