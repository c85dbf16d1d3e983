"""MixtureDensityRegressor (PRML 5.6): the inverse problem of Figures 5.19-5.21, the density in target
units, model files, and what it refuses."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator

import deltaprop as dp
from deltaprop.examples import inverse_problem


@pytest.fixture(scope="module")
def inverse():
    """The book's inverse problem, a 1-5-(3 components) MDN as in PRML Figure 5.21, and held-out data."""
    X, T = inverse_problem(0, 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = dp.MixtureDensityRegressor(hidden=(5,), components=3, restarts=5, random_state=0).fit(X, T[:, 0])
    return est, X, T, *inverse_problem(1, 2000)


def test_check_estimator_passes_for_the_mixture_density_regressor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(dp.MixtureDensityRegressor(hidden=(4,), restarts=1, max_iter=100, random_state=0))


def test_the_mdn_explains_the_inverse_problem_far_better_than_sum_of_squares(inverse):
    """Issue 16: on held-out data the MDN's -ln p(t | x) per point is far below that of the best sum-of-squares
    network under its Gaussian predictive distribution."""
    est, X, T, Xt, Tt = inverse
    ours = est.negative_log_likelihood(Xt, Tt[:, 0])
    sos = []
    for hidden in (5, 10, 20):
        reg = dp.NetworkRegressor(hidden=(hidden,), random_state=0).fit(X, T[:, 0])
        sos.append(reg.negative_log_likelihood(Xt, Tt[:, 0]))
    print(f"inverse problem, held-out -ln p(t|x) per point: MDN {ours:.3f}, sum-of-squares (5, 10, 20 hidden) "
          f"{', '.join(f'{v:.3f}' for v in sos)}; restart errors {np.round(est.restart_errors_, 1)}")
    assert ours < min(sos) - 0.6


def test_mode_mean_density_and_samples_in_target_units(inverse):
    est, X, T, Xt, Tt = inverse
    m = est.mixture(Xt[:5])
    assert m.pi.shape == (5, 3) and m.sigma.shape == (5, 3, 1) and m.mu.shape == (5, 3, 1)
    np.testing.assert_allclose(m.pi.sum(axis=1), 1.0)
    np.testing.assert_allclose(est.predict(Xt[:5]), m.mu[np.arange(5), np.argmax(m.pi, 1), 0])
    mean = est.set_params(prediction="mean").predict(Xt[:5])
    est.set_params(prediction="mode")
    np.testing.assert_allclose(mean, np.sum(m.pi * m.mu[:, :, 0], axis=1))
    t = np.linspace(-3, 4, 70001)
    for x in (0.2, 0.5, 0.8):  # x = 0.5 has three answers
        p = est.predict_density(np.full((len(t), 1), x), t)
        assert abs(np.trapezoid(p, t) - 1) < 1e-6
    np.testing.assert_allclose(-np.log(est.predict_density(Xt, Tt[:, 0])).mean(),
                               est.negative_log_likelihood(Xt, Tt[:, 0]))
    draws = est.sample(Xt[:3], size=50_000, random_state=0)
    assert draws.shape == (3, 50_000)
    np.testing.assert_allclose(draws.mean(axis=1), est.set_params(prediction="mean").predict(Xt[:3]), atol=0.01)
    est.set_params(prediction="mode")


def test_several_targets_and_the_standardisation_undone():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 1))
    T = np.column_stack([np.sin(3 * X[:, 0]), 100 + 50 * X[:, 0] ** 2]) + 0.05 * rng.standard_normal((300, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = dp.MixtureDensityRegressor(hidden=(6,), components=2, restarts=1, max_iter=300, random_state=0).fit(X, T)
    assert est.predict(X).shape == (300, 2) and est.sample(X[:4], size=7).shape == (4, 7, 2)
    raw = est.network_inputs(X[:4])
    std = dp.mixture.log_density(est.network_, est.w_, raw, est.network_targets(T[:4]))
    np.testing.assert_allclose(np.log(est.predict_density(X[:4], T[:4])), std - np.log(est.y_scale_).sum())
    assert np.sqrt(np.mean((est.predict(X) - T) ** 2, axis=0))[1] < 5  # the second target, of spread 50, in its units


def test_model_files_keep_the_mixture_and_refuse_a_wrong_one(inverse, tmp_path):
    import json

    from safetensors.numpy import save_file

    est, _, _, Xt, Tt = inverse
    path = tmp_path / "mdn.safetensors"
    est.save(path)
    loaded = dp.load(path)
    assert type(loaded) is dp.MixtureDensityRegressor and loaded.components == 3
    np.testing.assert_array_equal(loaded.predict(Xt), est.predict(Xt))
    np.testing.assert_array_equal(loaded.predict_density(Xt, Tt[:, 0]), est.predict_density(Xt, Tt[:, 0]))
    from safetensors import safe_open

    from deltaprop import io

    with safe_open(str(path), "numpy") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    params = json.loads(metadata["params"])
    params["components"] = 2
    metadata["params"] = json.dumps(params)
    metadata["sha256"] = io._digest(tensors, metadata)  # a crafted file: valid digest, wrong components
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=metadata)
    with pytest.raises(dp.ModelFileError, match="params.components = 2 has the output 'mdn:2'; this network's is mdn:3"):
        dp.load(tmp_path / "bad.safetensors")


def test_bad_input_to_the_mixture_density_regressor(inverse):
    est, X, T, _, _ = inverse
    with pytest.raises(ValueError, match="not one: there is no single standard deviation"):
        est.predict(X, return_std=True)
    with pytest.raises(ValueError, match="components"):
        dp.MixtureDensityRegressor(components=0).fit(X, T[:, 0])
    with pytest.raises(ValueError, match="weight_decay"):
        dp.MixtureDensityRegressor(weight_decay="evidence").fit(X, T[:, 0])
    with pytest.raises(ValueError, match="holds 2 target columns; the model has 1 target dimension"):
        est.predict_density(X[:3], np.zeros((3, 2)))
