"""The figures hold what they claim: data, fits, hidden units, bands, curves, minima, paths."""

import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import plots
from deltaprop.examples import FIGURE_5_3, seed_example


def lines(ax, gid):
    return [l for l in ax.get_lines() if l.get_gid() == gid]


def band_half_width(ax):
    band = next(c for c in ax.collections if c.get_gid() == "band")
    vertices = band.get_paths()[0].vertices
    n = (len(vertices) - 1) // 2  # fill_between: upper edge forth, lower edge back
    xs, ys = vertices[:, 0], vertices[:, 1]
    grid = np.unique(xs)
    upper = np.array([ys[xs == x].max() for x in grid])
    lower = np.array([ys[xs == x].min() for x in grid])
    assert n > 100
    return (upper - lower) / 2


@pytest.fixture(scope="module")
def figure_5_3():
    return plots.plot_figure_5_3(seed=0, restarts=3)


def test_figure_5_3_has_four_panels_each_with_data_fit_and_three_hidden_units(figure_5_3):
    panels = [ax for ax in figure_5_3.axes if lines(ax, "fit")]
    assert len(panels) == 4
    for ax, name in zip(panels, FIGURE_5_3):
        _, X, T = seed_example(0, target=name)
        (data,) = lines(ax, "data")
        np.testing.assert_array_equal(data.get_xdata(), X[:, 0])
        np.testing.assert_array_equal(data.get_ydata(), T[:, 0])
        assert len(lines(ax, "fit")) == 1 and len(lines(ax, "hidden")) == 3
        for z in lines(ax, "hidden"):
            assert np.all(np.abs(z.get_ydata()) <= 1)  # tanh outputs
        assert not any(c.get_gid() == "band" for c in ax.collections)  # as the book: no band narrower than the line
    legend = [t.get_text() for t in figure_5_3.legends[0].get_texts()]
    assert legend == ["data", "$y(x, \\mathbf{w})$", "hidden units $z_j$, one colour each"]  # what the panels draw


def test_fit_is_the_network_function_and_the_band_has_width_4_over_sqrt_beta():
    net, X, T = seed_example(1)
    result = dp.train(net, X, T, restarts=2, seed=1)
    fig = plots.plot_fit(net, result.w, X, T, beta=result.beta)
    ax = fig.axes[0]
    (fit,) = lines(ax, "fit")
    np.testing.assert_allclose(fit.get_ydata(), net.forward(result.w, fit.get_xdata()[:, None])[:, 0], rtol=1e-12)
    np.testing.assert_allclose(2 * band_half_width(ax), 4 / np.sqrt(result.beta), rtol=1e-9)
    hidden = lines(ax, "hidden")
    np.testing.assert_allclose(np.column_stack([h.get_ydata() for h in hidden]),
                               plots.hidden_outputs(net, result.w, fit.get_xdata()[:, None]), rtol=1e-12)


def test_fit_in_original_units_of_a_standardised_estimator():
    rng = np.random.default_rng(2)
    X = rng.uniform(10, 20, (60, 1))
    y = 500 + 100 * np.sin(X[:, 0] / 2) + 10 * rng.standard_normal(60)
    est = dp.NetworkRegressor(hidden=(6,), weight_decay=0.1, random_state=0).fit(X, y)
    fig = plots.plot_fit(est.network_, est.w_, X, y, beta=est.beta_, x_scaler=(est.x_mean_, est.x_scale_),
                         t_scaler=(est.y_mean_, est.y_scale_))
    ax = fig.axes[0]
    (fit,) = lines(ax, "fit")
    np.testing.assert_allclose(fit.get_ydata(), est.predict(fit.get_xdata()[:, None]), rtol=1e-12)
    np.testing.assert_allclose(2 * band_half_width(ax), 4 / np.sqrt(est.beta_), rtol=1e-9)
    assert len(lines(fig.axes[1], "hidden")) == 6  # hidden units on their own axis, in [-1, 1]


def test_plot_fit_refuses_networks_it_cannot_draw():
    with pytest.raises(ValueError, match="one input and one linear output"):
        plots.plot_fit(dp.mlp([2, 3, 1]), np.zeros(13), np.zeros((3, 2)), np.zeros((3, 1)))


def test_training_curve_marks_the_least_validation_error():
    history = {"epoch": np.arange(6), "error": np.array([5.0, 3, 2, 1.5, 1.2, 1.0]),
               "validation_error": np.array([6.0, 4, 2.5, 2.8, 3.0, 3.5])}
    ax = plots.plot_training(history).axes[0]
    np.testing.assert_array_equal(lines(ax, "training")[0].get_ydata(), history["error"])
    np.testing.assert_array_equal(lines(ax, "validation")[0].get_ydata(), history["validation_error"])
    star = [l for l in lines(ax, "early stopping") if l.get_marker() == "*"][0]
    assert star.get_xdata()[0] == 2 and star.get_ydata()[0] == 2.5
    assert ax.get_yscale() == "linear"  # 1.0 to 6.0: under a decade
    per = plots.plot_training(history, n_train=10, n_validation=5).axes[0]
    np.testing.assert_allclose(lines(per, "validation")[0].get_ydata(), history["validation_error"] / 5)
    plain = plots.plot_training({"epoch": [0, 1], "error": [2.0, 1.0]}).axes[0]
    assert not lines(plain, "validation") and not lines(plain, "early stopping")


def test_minima_are_sorted_with_the_best_marked():
    errors = [3.0, 0.5, 2.0, 0.5001, 7.0]
    ax = plots.plot_minima(errors).axes[0]
    np.testing.assert_array_equal(lines(ax, "minima")[0].get_ydata(), sorted(errors))
    (best,) = lines(ax, "best")
    assert best.get_ydata()[0] == 0.5 and "restart 1" in best.get_label()
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())  # restarts are counted: no tick at 1.25


def test_the_training_curve_is_on_a_log_axis_only_over_a_decade_or_more():
    epochs = np.arange(6)
    flat = plots.plot_training({"epoch": epochs, "error": 293.5 + 0.1 * np.exp(-epochs)}).axes[0]
    assert flat.get_yscale() == "linear"  # 0.03% of change: no ticks like 2.935x10^2
    falling = plots.plot_training({"epoch": epochs, "error": 10.0 ** -epochs}).axes[0]
    assert falling.get_yscale() == "log"


def test_a_fit_of_its_own_has_a_legend_that_names_every_curve():
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, seed=0, restarts=1)
    ax = plots.plot_fit(net, result.w, X, T, beta=result.beta).axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["$y \\pm 2/\\sqrt{\\beta}$", "data", "$y(x, \\mathbf{w})$", "hidden units $z_j$, one colour each"]


def test_error_surface_holds_w_at_the_origin_and_the_path_projected():
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, seed=0, snapshots=10)
    path = result.snapshots["w"]
    fig = plots.plot_error_surface(net, result.w, X, T, path=path, resolution=21)
    ax = fig.axes[0]
    (star,) = lines(ax, "w")
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (0, 0)
    assert star.get_label() == "$\\mathbf{w}_{ML}$, the minimum"  # not a bare w
    route = [l for l in lines(ax, "path") if len(l.get_xdata()) == len(path)][0]
    # the path's last snapshot is w itself, at the origin; its first lies along direction 1
    assert abs(route.get_xdata()[-1]) < 1e-9 and abs(route.get_ydata()[-1]) < 1e-9
    assert abs(route.get_ydata()[0]) < 1e-9 and abs(route.get_xdata()[0]) == pytest.approx(np.linalg.norm(path[0] - result.w))
    random = plots.plot_error_surface(net, result.w, X, T, resolution=11)
    assert lines(random.axes[0], "w") and not lines(random.axes[0], "path")


def test_demo_writes_the_pictures(tmp_path):
    from deltaprop.demo import demo_pictures

    written = demo_pictures(tmp_path, restarts=2)
    names = sorted(p.name for p, _ in written)
    assert names == ["error_bars.png", "error_surface.png", "evidence.png", "figure_5_3.png", "fit.png",
                     "hessian_spectrum.png", "minima.png", "mixture_density.png", "training.png"]
    for path, _ in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_minima_mark_the_restart_that_training_kept_not_merely_the_least_error():
    """With weight decay the kept restart (least E plus penalty) need not have the least E (issue 17, item 12)."""
    errors = [3.0, 0.5, 2.0]
    ax = plots.plot_minima(errors, best=2).axes[0]
    (kept,) = lines(ax, "best")
    assert kept.get_xdata()[0] == 2 and kept.get_ydata()[0] == 2.0 and "kept (restart 2)" in kept.get_label()


def test_predictions_against_targets_and_residuals_for_any_number_of_inputs():
    rng = np.random.default_rng(0)
    T = rng.standard_normal((40, 2))
    Y = T + 0.1 * rng.standard_normal((40, 2))
    fig = plots.plot_predictions(Y, T, std=[0.1, 0.2], names=["u", "v"])
    assert len(fig.axes) == 4
    left, right = fig.axes[0], fig.axes[1]
    (points,) = lines(left, "predictions")
    np.testing.assert_array_equal(points.get_xdata(), T[:, 0])
    np.testing.assert_array_equal(points.get_ydata(), Y[:, 0])
    (residuals,) = lines(right, "residuals")
    np.testing.assert_allclose(residuals.get_ydata(), T[:, 0] - Y[:, 0])
    assert "(u)" in right.get_ylabel() and "target v" in fig.axes[2].get_xlabel()


def test_predictions_take_one_laplace_error_bar_per_pattern():
    """A std per pattern (PRML 5.173) is drawn as y +- 2 std on each point; a wrong shape is refused."""
    rng = np.random.default_rng(1)
    T = rng.standard_normal((30, 2))
    Y = T + 0.1 * rng.standard_normal((30, 2))
    std = rng.uniform(0.05, 0.5, (30, 2))
    fig = plots.plot_predictions(Y, T, std=std)
    for k in range(2):
        (bars,) = [c for c in fig.axes[2 * k].collections if c.get_gid() == "error bars"]
        ends = np.array(bars.get_segments())  # (N, 2 ends, (x, y))
        np.testing.assert_allclose(ends[:, 0, 0], T[:, k])
        np.testing.assert_allclose(ends[:, 0, 1], Y[:, k] - 2 * std[:, k])
        np.testing.assert_allclose(ends[:, 1, 1], Y[:, k] + 2 * std[:, k])
        assert not [c for c in fig.axes[2 * k].collections if c.get_gid() == "band"]
    with pytest.raises(ValueError, match=r"std must have shape \(2,\) .* or \(30, 2\)"):
        plots.plot_predictions(Y, T, std=std[:20])


def test_figure_5_3_keeps_its_legend_off_the_data_and_the_fits_colour_for_the_fit(figure_5_3):
    from matplotlib.colors import to_rgba

    assert len(figure_5_3.legends) == 1 and all(ax.get_legend() is None for ax in figure_5_3.axes)  # below the panels
    fit_colour = {to_rgba(line.get_color()) for ax in figure_5_3.axes for line in lines(ax, "fit")}
    hidden_colours = {to_rgba(line.get_color()) for ax in figure_5_3.axes for line in lines(ax, "hidden")}
    assert len(fit_colour) == 1 and not fit_colour & hidden_colours


def test_the_error_surfaces_colour_bar_is_labelled_by_decades():
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, seed=0)
    fig = plots.plot_error_surface(net, result.w, X, T, resolution=15)
    bar = fig.axes[-1]
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert 2 <= len(labels) <= 8 and all(re.fullmatch(r"1e-?\d+", label) for label in labels), labels


def test_the_hessian_spectrum_shows_the_exact_outer_product_and_diagonal_values():
    net, X, T = seed_example(0)
    fit = dp.train(net, X, T, restarts=3, seed=0)
    # at the fit, L-BFGS stops in a nearly flat valley whose smallest exact eigenvalue is +-1e-6 by the last bits of
    # the kernels: whether it is crossed is not asserted there, only that the crosses are the negative values
    for w, has_negative in ((fit.w, None), (net.init(seed=1), True)):
        ax = plots.plot_hessian_spectrum(net, w, X, T).axes[0]
        expected = {"exact": np.linalg.eigvalsh(net.hessian(w, X, T)),
                    "outer product": np.linalg.eigvalsh(net.outer_product_hessian(w, X, T)),
                    "diagonal": net.diagonal_hessian(w, X, T)}
        for gid, values in expected.items():
            (line,) = lines(ax, gid)
            np.testing.assert_allclose(line.get_ydata(), np.abs(np.sort(values)[::-1]), rtol=1e-12)
        negative = np.sort(np.concatenate([l.get_ydata() for l in lines(ax, "negative")])) if lines(ax, "negative") \
            else np.zeros(0)
        wanted = np.sort(np.concatenate([np.abs(v[v < 0]) for v in expected.values()]))
        np.testing.assert_allclose(negative, wanted, rtol=1e-12)
        assert has_negative is None or bool(negative.size) == has_negative
        assert ax.get_yscale() == "log"


def test_the_model_comparison_marks_the_most_evidence():
    ax = plots.plot_model_comparison([1, 2, 3], [-5.0, -2.0, -4.0], [0.4, 0.2, 0.25]).axes[0]
    (ev,) = lines(ax, "evidence")
    np.testing.assert_array_equal(ev.get_ydata(), [-5.0, -2.0, -4.0])
    (best,) = lines(ax, "best")
    assert list(best.get_xdata()) == [2] and list(best.get_ydata()) == [-2.0]
    right = ax.figure.axes[1]
    np.testing.assert_array_equal(lines(right, "test error")[0].get_ydata(), [0.4, 0.2, 0.25])


def test_the_error_bars_are_the_constant_band_beside_the_laplace_band():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 1))
    T = np.sin(np.pi * X) + 0.2 * rng.standard_normal((30, 1))
    net = dp.mlp([1, 3, 1])
    found = dp.train_evidence(net, X, T, restarts=2, seed=0)
    fig = plots.plot_error_bars(net, X, T, found.posterior, grid=np.linspace(-2, 2, 401))
    left, right = fig.axes[:2]
    constant, laplace = band_half_width(left), band_half_width(right)
    np.testing.assert_allclose(constant, 2 / np.sqrt(found.beta), rtol=1e-9)
    grid = np.linspace(-2, 2, 401)[:, None]
    np.testing.assert_allclose(laplace, 2 * np.sqrt(found.posterior.predictive(grid)[1][:, 0]), rtol=1e-9)
    assert laplace[0] > 2 * laplace[200] and laplace[-1] > 2 * laplace[200]  # x = -2 and 2 against x = 0


def test_the_mixture_figure_draws_prml_figure_5_21():
    """Four panels: pi_k(x) summing to 1, mu_k(x) in the data's units, the density's contours over the data,
    and the conditional mode beside the mean and a sum-of-squares fit."""
    from deltaprop.examples import inverse_problem

    X, T = inverse_problem(0, 300)
    net = dp.mlp([1, 4, 1], output="mdn", components=3)
    w = net.init(0) + 0.3 * np.random.default_rng(0).standard_normal(net.n_params)
    fig = plots.plot_mixture(net, w, X, T, x_scaler=(np.array([0.5]), np.array([2.0])),
                             t_scaler=(np.array([1.0]), np.array([3.0])), sum_of_squares=lambda x: 0 * x[:, 0])
    pi_ax, mu_ax, p_ax, mode_ax = fig.axes[:4]
    pis = lines(pi_ax, "pi")
    assert len(pis) == 3
    np.testing.assert_allclose(sum(line.get_ydata() for line in pis), 1.0)
    x = pis[0].get_xdata()
    m = dp.mixture.mixture(net, w, ((x - 0.5) / 2.0)[:, None])
    np.testing.assert_allclose(lines(mu_ax, "mu")[1].get_ydata(), m.mu[:, 1, 0] * 3.0 + 1.0)
    assert p_ax.collections and lines(p_ax, "data")
    (bar,) = [ax for ax in fig.axes[4:] if ax.get_ylabel() == "$p(t \\mid x)$"]  # the contours' colour bar
    levels = p_ax.collections[0].levels
    assert len(levels) >= 4 and levels.min() > 0 and np.all(np.diff(levels) > 0)  # no level in the flat tails
    np.testing.assert_allclose(lines(mode_ax, "mode")[0].get_ydata(),
                               dp.mixture.mode(net, w, ((x - 0.5) / 2.0)[:, None])[:, 0] * 3.0 + 1.0)
    assert lines(mode_ax, "mean") and lines(mode_ax, "sum_of_squares")
    with pytest.raises(ValueError, match="one input and one target"):
        plots.plot_mixture(dp.mlp([1, 2, 1]), dp.mlp([1, 2, 1]).init(0), X, T)


def test_the_model_comparison_draws_each_structure_side_by_side():
    evidence = {"exact": [-5.0, -2.0, -4.0], "kron": [-6.0, -3.0, -2.5]}
    errors = {"exact": [0.4, 0.2, 0.25], "kron": [0.5, 0.3, 0.2]}
    ax = plots.plot_model_comparison([1, 2, 3], evidence, errors).axes[0]
    for name, values in evidence.items():
        np.testing.assert_array_equal(lines(ax, f"evidence:{name}")[0].get_ydata(), values)
        np.testing.assert_array_equal(lines(ax.figure.axes[1], f"test error:{name}")[0].get_ydata(), errors[name])
    assert lines(ax, "best:exact")[0].get_xdata()[0] == 2 and lines(ax, "best:kron")[0].get_xdata()[0] == 3
