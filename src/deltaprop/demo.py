"""What ``deltaprop demo`` computes and draws: the four fits of PRML Figure 5.3 and the pictures of the README
(``deltaprop demo --out docs/img``), each from the library's own calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .engine.network import mlp
from .examples import FIGURE_5_3, seed_example
from .files import save_figure
from .tables import plural as _s
from .training import train, train_evidence


def figure_5_3_fits(seed: int = 0, restarts: int = 10, method: str = "lbfgs"):
    """For each function of PRML Figure 5.3: its name, ``dp.train``'s result on the lecture's 1-3-1 network (the
    best of ``restarts``) and the RMSE sqrt(2 E / N) (PRML 5.15)."""
    for name in FIGURE_5_3:
        net, X, T = seed_example(seed, target=name)
        result = train(net, X, T, method=method, restarts=restarts, seed=seed, progress=False)
        yield name, result, float(np.sqrt(2.0 * result.error / X.shape[0]))


def demo_pictures(folder: Path, seed: int = 0, restarts: int = 10, method: str = "lbfgs") -> list[tuple[Path, str]]:
    """Draw the demo's pictures into ``folder`` as PNG files; return (path, description) pairs."""
    from . import plots

    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name, what):
        save_figure(fig, folder / name, dpi=110)
        written.append((folder / name, what))

    save(plots.plot_figure_5_3(seed=seed, restarts=restarts, method=method), "figure_5_3.png",
         "PRML Figure 5.3, the four functions fitted by a 1-3-1 tanh network, hidden units dashed")
    net, X, T = seed_example(seed, target="sin(pi x)")
    noisy_T = T + 0.15 * np.random.default_rng(seed).standard_normal(T.shape)
    noisy_fit = train(net, X, noisy_T, method=method, restarts=restarts, seed=seed, weight_decay=0.1, progress=False)
    save(plots.plot_fit(net, noisy_fit.w, X, noisy_T, beta=noisy_fit.beta,
                        title="sin(pi x) + noise, weight decay 0.1: y +- 2/sqrt(beta_ML)"),
         "fit.png", "a fit to noisy sin(pi x), its hidden units dashed and its predictive band y +- 2/sqrt(beta_ML)")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bayes = train_evidence(net, X, noisy_T, method=method, restarts=restarts, seed=seed, progress=False)
    save(plots.plot_error_bars(net, X, noisy_T, bayes.posterior,
                               title="sin(pi x) + noise, alpha and beta by the evidence: error bars"),
         "error_bars.png", "the constant band y +- 2/sqrt(beta) beside the Laplace band, which widens away from the data")
    fit = train(net, X, T, method=method, restarts=restarts, seed=seed, snapshots=40, progress=False)
    save(plots.plot_minima(fit.restart_errors, best=[r.index for r in fit.restarts].index(fit.best_restart),
                           title=f"sin(pi x): final E of {restarts} restart{_s(restarts)}"),
         "minima.png", "the final error of every restart, best marked")
    save(plots.plot_error_surface(net, fit.w, X, T, path=fit.snapshots["w"],
                                  title=f"E(w) on a plane through w_ML; the {method} path"),
         "error_surface.png", "E(w) on a plane through the minimum, with the optimiser's path")
    save(plots.plot_hessian_spectrum(net, fit.w, X, T, title="sin(pi x): the Hessian's eigenvalues at w_ML"),
         "hessian_spectrum.png", "the Hessian's eigenvalues at w_ML: exact, outer-product and diagonal approximations")
    save(*_evidence_pictures(seed, restarts, method, plots))
    save(*_mixture_picture(seed, restarts, plots))
    rng = np.random.default_rng(seed)
    Xn = rng.uniform(-1, 1, (40, 1))
    Tn = np.sin(np.pi * Xn) + 0.3 * rng.standard_normal((40, 1))
    noisy = train(mlp([1, 20, 1]), Xn, Tn, method="lbfgs", epochs=2000, validation=0.3, early_stopping=500,
                  seed=seed, progress=False)
    save(plots.plot_training(noisy.history, n_train=28, n_validation=12,
                             title="1-20-1 on 40 noisy points of sin(pi x): over-fitting"),
         "training.png", "training and validation error per epoch, early stopping marked")
    return written


def _mixture_picture(seed: int, restarts: int, plots):
    """PRML Figure 5.21: a 1-5-(3 components) mixture density network on the inverse problem of PRML 5.6, with a
    sum-of-squares network's fit beside its conditional mode (Figure 5.19); returns save's arguments."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from .estimators import MixtureDensityRegressor, NetworkRegressor
    from .examples import inverse_problem

    X, T = inverse_problem(seed, 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mdn = MixtureDensityRegressor(hidden=(5,), components=3, restarts=restarts, random_state=seed).fit(X, T[:, 0])
        sos = NetworkRegressor(hidden=(5,), restarts=restarts, random_state=seed).fit(X, T[:, 0])
    fig = plots.plot_mixture(mdn.network_, mdn.w_, X, T, x_scaler=(mdn.x_mean_, mdn.x_scale_),
                             t_scaler=(mdn.y_mean_, mdn.y_scale_), sum_of_squares=sos.predict,
                             title=f"The inverse problem of PRML 5.6: a mixture density network of 3 components, best "
                                   f"of {restarts} restart{_s(restarts)}")
    return fig, "mixture_density.png", ("PRML Figure 5.21: mixing coefficients, means, contours of p(t|x) and the "
                                        "conditional mode, beside a sum-of-squares fit")


def _evidence_pictures(seed: int, restarts: int, method: str, plots):
    """The evidence against M on 30 noisy points of sin(pi x), with the test error, by the exact Hessian and by its
    Kronecker factors side by side: each curve from one NetworkRegressor(hidden=[(1,), ..., (8,)]) call, whose
    candidates are the points; returns save's arguments."""
    from .estimators import NetworkRegressor

    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (30, 1))
    T = np.sin(np.pi * X) + 0.2 * rng.standard_normal((30, 1))
    Xt = rng.uniform(-1, 1, (2000, 1))
    Tt = np.sin(np.pi * Xt) + 0.2 * rng.standard_normal((2000, 1))
    hidden = list(range(1, 9))
    evidence: dict = {}
    errors: dict = {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a model that does not settle is still a point on the curve
        for hessian in ("exact", "kron"):
            est = NetworkRegressor(hidden=[(M,) for M in hidden], method=method, restarts=restarts, random_state=seed,
                                   hessian=hessian).fit(X, T[:, 0])
            evidence[hessian] = [r["score"] for r in est.evidence_["candidates"]]
            errors[hessian] = [float(np.sqrt(np.mean((fit.predict(Xt) - Tt[:, 0]) ** 2))) for fit in est.candidates_]
    fig = plots.plot_model_comparison(hidden, evidence, errors,
                                      title="30 points of sin(pi x) + noise: evidence by exact and kron Hessians",
                                      quantity=r"$\ln p(\mathcal{D} | \alpha, \beta) + \ln 2^M M!$")
    return fig, "evidence.png", ("the log evidence (with ln 2^M M! over the units in use) and the test error against "
                                 "the number of hidden units, by the exact Hessian and by its Kronecker factors")


# -- working with data and model files -----------------------------------------
