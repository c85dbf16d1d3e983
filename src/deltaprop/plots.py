"""Figures with matplotlib: the fitted function, training curves, the spread of
minima, PRML Figure 5.3, a slice of the error surface, the Hessian's spectrum and the
comparison of models by the evidence.

Each function returns a ``matplotlib.figure.Figure`` (drawn on new axes, or
on ``ax`` when given). Artists carry a gid naming what they show ("data",
"fit", "hidden", "band", "training", "validation", "early stopping",
"minima", "best", "path", "w", "exact", "outer product", "diagonal",
"negative", "evidence", "test error"), so that tests and callers can find them.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .engine.backprop import forward_pass, weights
from .engine.network import Network


def _axes(ax, figsize=(6.0, 4.0)):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


#: The hidden units' colours: none is the data's blue or the fit's red.
HIDDEN_COLOURS = ("tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def _identity(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(size), np.ones(size)


def hidden_outputs(net: Network, w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """z_j(x) of the first hidden layer (the layer fed by the input), shape (N, M)."""
    _, z = forward_pass(net, weights(net, w), X)
    first = next(c.dst for c in net.connections if c.src == net.input and c.dst != net.output)
    return z[first]


def plot_fit(net: Network, w: np.ndarray, X: Any, T: Any, beta: Optional[float] = None, *,
             x_scaler: Optional[tuple] = None, t_scaler: Optional[tuple] = None, hidden: bool = True,
             title: Optional[str] = None, ax=None, posterior: Any = None, grid: Any = None):
    """One-input regression: the data, y(x, w), the hidden units' outputs (dashed) and a band of +- 2
    predictive standard deviations.

    As PRML Figure 5.3. ``x_scaler`` and ``t_scaler`` are (mean, scale)
    pairs when the network works on standardised data; X, T and ``beta``
    are in the original units. The band is y +- 2/sqrt(beta) (PRML 5.16), or,
    given the Laplace ``posterior`` (``deltaprop.laplace``, in the network's
    units), y +- 2 sqrt(1/beta + g^T A^-1 g) (PRML 5.173), which widens away
    from the data. ``grid``: the x values to draw at (default: the data's range).
    """
    if net.D != 1 or net.K != 1 or net.layers[net.output].activation.name != "linear":
        raise ValueError(f"plot_fit draws networks with one input and one linear output; this one has D={net.D}, K={net.K}")
    X, T = np.asarray(X, dtype=float).reshape(-1, 1), np.asarray(T, dtype=float).reshape(-1, 1)
    (xm, xs), (tm, ts) = x_scaler or _identity(1), t_scaler or _identity(1)
    fig, ax = _axes(ax)
    grid = np.linspace(X.min(), X.max(), 400)[:, None] if grid is None else np.asarray(grid, float).reshape(-1, 1)
    Xs = (grid - xm) / xs
    y = net.forward(w, Xs)[:, 0] * ts[0] + tm[0]
    if posterior is not None:
        half = 2.0 * np.sqrt(posterior.predictive(Xs)[1][:, 0]) * ts[0]
        ax.fill_between(grid[:, 0], y - half, y + half, color="tab:red", alpha=0.15, lw=0,
                        label=r"$y \pm 2\sigma(x)$, Laplace", gid="band")
    elif beta is not None:
        half = 2.0 / np.sqrt(beta)
        ax.fill_between(grid[:, 0], y - half, y + half, color="tab:red", alpha=0.15, lw=0,
                        label=r"$y \pm 2/\sqrt{\beta}$", gid="band")
    ax.plot(X[:, 0], T[:, 0], "o", ms=4, mfc="none", color="tab:blue", label="data", gid="data")
    ax.plot(grid[:, 0], y, "-", color="tab:red", lw=2, label=r"$y(x, \mathbf{w})$", gid="fit")
    if hidden:
        zax = ax if x_scaler is None and t_scaler is None else ax.twinx()
        Z = hidden_outputs(net, w, Xs)
        for j in range(Z.shape[1]):
            zax.plot(grid[:, 0], Z[:, j], "--", lw=1, color=HIDDEN_COLOURS[j % len(HIDDEN_COLOURS)], gid="hidden")
        if zax is not ax:
            zax.set_ylabel("$z_j$")
    ax.set_xlabel("$x$")
    ax.set_ylabel("$t$")
    if title:
        ax.set_title(title)
    if ax.figure is fig and len(fig.axes) <= 2:  # a figure of its own; a panel's legend is its caller's
        ax.legend(*fit_legend(ax, hidden), fontsize=8, loc="best")
    return fig


def fit_legend(ax, hidden: bool) -> tuple[list, list]:
    """The handles and labels of ``plot_fit``'s legend: what the axes drew, and one dashed grey line for all the
    hidden units (each has its own colour, which no single swatch shows)."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    if hidden:
        handles.append(Line2D([], [], ls="--", lw=1, color="grey"))
        labels.append("hidden units $z_j$, one colour each")
    return handles, labels


def plot_predictions(Y: Any, T: Any, *, std: Any = None, names: Optional[Sequence[str]] = None,
                     title: Optional[str] = None):
    """Regression with any number of inputs: for each output, the prediction against the target, and
    the residuals t - y against the prediction.

    ``std`` is the predictive standard deviation: one per output (K,), drawn as the band y = t +- 2 std
    about the diagonal (1/sqrt(beta_ML), PRML 5.16), or one per pattern and output (N, K), drawn as an
    error bar +- 2 std on each prediction (the Laplace approximation's sigma(x), PRML 5.173).
    """
    from matplotlib.figure import Figure

    Y, T = np.asarray(Y, dtype=float).reshape(len(Y), -1), np.asarray(T, dtype=float).reshape(len(T), -1)
    N, K = Y.shape
    names = list(names or [f"t{k + 1}" for k in range(K)])
    per_point = std is not None and np.ndim(std) == 2
    if std is not None:
        std = np.asarray(std, dtype=float)
        if std.shape != (N, K) if per_point else std.size not in (1, K):
            raise ValueError(f"std must have shape ({K},) (one per output) or ({N}, {K}) (one per pattern and "
                             f"output); got {std.shape}")
        std = std if per_point else np.broadcast_to(std.reshape(-1), (K,))
    fig = Figure(figsize=(9.0, 3.6 * K), layout="constrained")
    axes = fig.subplots(K, 2, squeeze=False)
    for k, (left, right) in enumerate(axes):
        lo, hi = min(Y[:, k].min(), T[:, k].min()), max(Y[:, k].max(), T[:, k].max())
        line = np.array([lo, hi])
        if per_point:
            left.errorbar(T[:, k], Y[:, k], yerr=2 * std[:, k], fmt="none", ecolor="tab:red", alpha=0.35, lw=1,
                          label=r"$y \pm 2\sigma(x)$, Laplace", gid="error bars")
        elif std is not None:
            left.fill_between(line, line - 2 * std[k], line + 2 * std[k], color="tab:red", alpha=0.12, lw=0,
                              label=r"$t = y \pm 2/\sqrt{\beta_{ML}}$", gid="band")
        left.plot(line, line, "-", color="tab:red", lw=1, label="$y = t$", gid="diagonal")
        left.plot(T[:, k], Y[:, k], "o", ms=3, mfc="none", color="tab:blue", label="patterns", gid="predictions")
        left.set_xlabel(f"target {names[k]}")
        left.set_ylabel("prediction $y$")
        left.legend(fontsize=8)
        right.axhline(0.0, color="tab:red", lw=1)
        right.plot(Y[:, k], T[:, k] - Y[:, k], "o", ms=3, mfc="none", color="tab:blue", gid="residuals")
        right.set_xlabel("prediction $y$")
        right.set_ylabel(f"residual $t - y$ ({names[k]})")
    if title:
        fig.suptitle(title)
    return fig


def plot_training(history: dict, *, n_train: Optional[int] = None, n_validation: Optional[int] = None, ax=None,
                  title: str = "Training"):
    """Training and validation error per epoch (log scale), the early-stopping point marked (PRML 5.5.2).

    E is a sum over patterns; given the numbers of training and validation
    patterns, both curves are drawn per pattern, so that they compare.
    """
    fig, ax = _axes(ax)
    epoch = np.asarray(history["epoch"])
    per = n_train is not None and n_validation is not None
    E = np.asarray(history["error"], dtype=float) / (n_train if per else 1)
    ax.plot(epoch, E, color="tab:blue", label="training error" + (" per pattern" if per else " $E$"), gid="training")
    Ev = np.asarray(history.get("validation_error", np.full_like(E, np.nan)), dtype=float) / (n_validation if per else 1)
    if np.any(np.isfinite(Ev)):
        ax.plot(epoch, Ev, color="tab:orange", label="validation error" + (" per pattern" if per else ""),
                gid="validation")
        best = int(np.nanargmin(Ev))
        ax.axvline(epoch[best], color="k", ls=":", lw=1, gid="early stopping")
        ax.plot(epoch[best], Ev[best], "k*", ms=12, label=f"least validation error (epoch {epoch[best]})",
                gid="early stopping")
    finite = np.concatenate([E[np.isfinite(E)], Ev[np.isfinite(Ev)]])
    if finite.size and np.all(finite > 0) and finite.max() > 10 * finite.min():  # a log axis over a decade or more
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error per pattern" if per else "error")
    ax.set_title(title)
    ax.legend()
    return fig


def plot_minima(restart_errors: Sequence[float], *, best: Optional[int] = None, ax=None,
                title: str = "Minima found from random starts"):
    """The final error of every restart, sorted, the kept one marked: the many minima of E(w).

    ``best`` is the place in ``restart_errors`` of the restart that training kept, which it chose
    by E plus the weight-decay term, or by the validation error; without it, the least E is marked.
    """
    fig, ax = _axes(ax)
    errors = np.asarray(restart_errors, dtype=float)
    order = np.argsort(errors, kind="stable")
    best = int(order[0]) if best is None else int(best)
    ax.plot(np.arange(1, len(errors) + 1), errors[order], "o", color="tab:blue", label="restarts", gid="minima")
    ax.plot([1 + int(np.flatnonzero(order == best)[0])], errors[best], "*", ms=16, color="tab:red",
            label=f"kept (restart {best}): E = {errors[best]:.3g}", gid="best")
    if np.all(errors > 0) and errors.max() > 10 * errors.min():
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # restarts are counted
    ax.set_xlabel("restart, sorted by final error")
    ax.set_ylabel("final $E(\\mathbf{w})$")
    ax.set_title(title)
    ax.legend()
    return fig


def plot_hessian_spectrum(net: Network, w: np.ndarray, X: Any, T: Any, *, ax=None,
                          title: str = "The Hessian's eigenvalues and its approximations"):
    """The eigenvalues of the exact Hessian of E at w, beside those of the outer-product approximation
    (PRML 5.84-5.85) and the diagonal approximation's entries (PRML 5.79-5.81), each sorted, on a log axis.

    The axis shows |lambda|; a negative eigenvalue (w not at a minimum, or a saddle) is crossed
    (gid "negative"). Near a minimum with small residuals the outer product follows the exact
    spectrum; the diagonal approximation keeps the diagonal entries, not the eigenvalues, and so misses
    the spread that correlated weights give. Needs a network small enough for a dense Hessian.
    """
    w, X, T = np.asarray(w, dtype=float), np.asarray(X, dtype=float), np.asarray(T, dtype=float)
    spectra = {"exact": np.linalg.eigvalsh(net.hessian(w, X, T)),
               "outer product": np.linalg.eigvalsh(net.outer_product_hessian(w, X, T)),
               "diagonal": net.diagonal_hessian(w, X, T)}
    fig, ax = _axes(ax)
    index = np.arange(1, net.n_params + 1)
    tiny = np.finfo(float).tiny
    styles = {"exact": ("tab:blue", "o", 10, "none"), "outer product": ("tab:red", "s", 4, None),
              "diagonal": ("tab:green", "^", 5, None)}  # exact as rings around the outer product's squares
    for name, values in spectra.items():
        colour, marker, size, fill = styles[name]
        values = np.sort(values)[::-1]
        magnitude = np.maximum(np.abs(values), tiny)
        label = f"{name}" + (" (entries)" if name == "diagonal" else "")
        ax.plot(index, magnitude, marker + "-", color=colour, ms=size, mfc=fill, lw=1, label=label, gid=name)
        negative = values < 0
        if negative.any():
            ax.plot(index[negative], magnitude[negative], "x", color=colour, ms=size + 4, mew=2,
                    label=f"{name}: negative", gid="negative")
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue, largest first")
    ax.set_ylabel("$|\\lambda|$")
    ax.set_title(title)
    ax.legend()
    return fig


def plot_error_bars(net: Network, X: Any, T: Any, posterior: Any, *, grid: Any = None,
                    title: str = "Error bars: constant noise, and the Laplace approximation"):
    """Two panels over ``grid`` (default: twice the data's range): y +- 2/sqrt(beta), the same width everywhere
    (PRML 5.16), beside y +- 2 sqrt(1/beta + g^T A^-1 g) of the Laplace ``posterior`` (PRML 5.173), which
    widens where there are no data."""
    from matplotlib.figure import Figure

    X = np.asarray(X, dtype=float).reshape(-1, 1)
    if grid is None:
        centre, half = (X.max() + X.min()) / 2, X.max() - X.min()
        grid = np.linspace(centre - half, centre + half, 400)
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    plot_fit(net, posterior.w, X, T, beta=posterior.beta, ax=left, grid=grid, hidden=False,
             title=r"$y \pm 2/\sqrt{\beta}$")
    plot_fit(net, posterior.w, X, T, posterior=posterior, ax=right, grid=grid, hidden=False,
             title=r"$y \pm 2\sqrt{1/\beta + \mathbf{g}^T \mathbf{A}^{-1} \mathbf{g}}$ (PRML 5.173)")
    for ax in (left, right):
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle(title)
    return fig


def plot_model_comparison(hidden: Sequence[int], log_evidence: Any, test_rmse: Any, *,
                          ax=None, title: str = "Model comparison by the evidence",
                          quantity: str = r"$\ln p(\mathcal{D} | \alpha, \beta)$"):
    """The log evidence (PRML 5.175) and the test error against the number of hidden units M: the
    network analogue of PRML Figure 3.14 (gids "evidence", "test error", "best"). Given mappings from
    curvature structures to curves (``{"exact": [...], "kron": [...]}``), one pair of curves per structure,
    side by side (gids "evidence:NAME", "test error:NAME", "best:NAME")."""
    single = not isinstance(log_evidence, Mapping)
    fig, ax = _axes(ax, figsize=(6.0, 4.0) if single else (6.4, 5.0))
    M = np.asarray(hidden)
    evidence = {"": log_evidence} if single else dict(log_evidence)
    errors = {"": test_rmse} if single else dict(test_rmse)
    right = ax.twinx()
    styles = ("o-", "^:", "v-.", "D--")
    for k, name in enumerate(evidence):
        ev, err = np.asarray(evidence[name], dtype=float), np.asarray(errors[name], dtype=float)
        tag, label = ("", "") if single else (f":{name}", f" ({name})")
        ax.plot(M, ev, styles[k % 4], color="tab:blue", label=quantity + label, gid="evidence" + tag)
        best = int(np.argmax(ev))
        ax.plot([M[best]], [ev[best]], "*", ms=16, color="tab:blue", gid="best" + tag,
                label=f"most evidence{label}: M = {M[best]}")
        right.plot(M, err, ("s--", "x:", "+-.", "d-")[k % 4], color="tab:red", label="test RMSE" + label,
                   gid="test error" + tag)
    ax.set_xlabel("hidden units $M$")
    ax.set_ylabel("log evidence", color="tab:blue")
    right.set_ylabel("test RMSE", color="tab:red")
    lines = ax.get_lines() + right.get_lines()
    if single:
        right.legend(lines, [line.get_label() for line in lines], loc="upper right")  # on the axes drawn last: on top
    else:  # below the axes, clear of the curves
        right.legend(lines, [line.get_label() for line in lines], loc="upper center", bbox_to_anchor=(0.5, -0.14),
                     ncol=2, fontsize="small")
    ax.set_title(title)
    return fig


def plot_mixture(net: Network, w: np.ndarray, X: Any, T: Any, *, x_scaler=None, t_scaler=None,
                 sum_of_squares: Any = None, resolution: int = 200, title: Optional[str] = None):
    """PRML Figure 5.21 for a mixture density network of one input and one target: (a) the mixing
    coefficients pi_k(x), (b) the means mu_k(x), (c) the contours of p(t | x) over the data, and (d) the
    conditional mode (the mean of the most probable component) beside the conditional mean (5.158) and,
    given ``sum_of_squares`` (a callable from x to y in the data's units), a sum-of-squares network's fit,
    which like the mean runs between the branches (Figure 5.19, right). x and t are drawn in the data's
    units: the scalers (mean, scale) take them to the network's."""
    from matplotlib.figure import Figure

    from .numerics import mixture

    if net.D != 1 or net.target_size != 1 or not net.layers[net.output].activation.components:
        raise ValueError("plot_mixture draws a mixture density network of one input and one target")
    X, T = np.asarray(X, dtype=float).reshape(-1, 1), np.asarray(T, dtype=float).reshape(-1, 1)
    (xm, xs), (tm, ts) = x_scaler or _identity(1), t_scaler or _identity(1)
    x = np.linspace(X.min(), X.max(), resolution)
    inputs = ((x - xm[0]) / xs[0])[:, None]
    m = mixture.mixture(net, w, inputs)
    M = m.pi.shape[1]
    fig = Figure(figsize=(10.0, 7.6), layout="constrained")
    (ax_pi, ax_mu), (ax_p, ax_mode) = fig.subplots(2, 2)
    colours = HIDDEN_COLOURS
    for k in range(M):
        ax_pi.plot(x, m.pi[:, k], color=colours[k % len(colours)], label=f"$\\pi_{k + 1}(x)$", gid="pi")
        ax_mu.plot(x, m.mu[:, k, 0] * ts[0] + tm[0], color=colours[k % len(colours)], label=f"$\\mu_{k + 1}(x)$",
                   gid="mu")
    ax_pi.set_title("(a) mixing coefficients (PRML 5.150)", fontsize=10)
    ax_mu.set_title("(b) component means (PRML 5.152)", fontsize=10)
    ax_pi.set_ylim(-0.02, 1.02)
    t = np.linspace(T.min() - 0.1 * np.ptp(T), T.max() + 0.1 * np.ptp(T), resolution)
    grid_x, grid_t = np.meshgrid(x, t)
    p = mixture.density(net, w, ((grid_x.ravel() - xm[0]) / xs[0])[:, None],
                        ((grid_t.ravel() - tm[0]) / ts[0])[:, None]).reshape(grid_x.shape) / ts[0]
    # levels among the densities that are not ~0 (a level in the flat tails draws a ragged line across the
    # panel), spread by quantile so that each branch is drawn, not the peaks only
    visible = p[p > 1e-3 * p.max()]
    levels = np.unique(np.round(np.quantile(visible, [0.1, 0.3, 0.5, 0.65, 0.8, 0.9, 0.96, 0.99]), 12))
    cs = ax_p.contour(grid_x, grid_t, p, levels=levels, cmap="viridis", linewidths=0.8)
    fig.colorbar(cs, ax=ax_p, label="$p(t \\mid x)$", format="%.2g")
    ax_p.plot(X[:, 0], T[:, 0], ".", ms=2, color="tab:blue", alpha=0.5, gid="data")
    ax_p.set_title("(c) contours of $p(t \\mid x)$ (PRML 5.148)", fontsize=10)
    ax_mode.plot(X[:, 0], T[:, 0], ".", ms=2, color="tab:blue", alpha=0.3, label="data", gid="data")
    mode = mixture.mode(net, w, inputs)[:, 0] * ts[0] + tm[0]
    ax_mode.plot(x, mode, ".", ms=3, color="tab:red", label="conditional mode", gid="mode")
    ax_mode.plot(x, mixture.mean(net, w, inputs)[:, 0] * ts[0] + tm[0], "-", color="tab:orange", lw=1.2,
                 label="conditional mean (5.158)", gid="mean")
    if sum_of_squares is not None:
        ax_mode.plot(x, np.asarray(sum_of_squares(x[:, None]), dtype=float).ravel(), "--", color="black", lw=1.2,
                     label="sum-of-squares network", gid="sum_of_squares")
    ax_mode.set_title("(d) the conditional mode", fontsize=10)
    ax_mode.legend(fontsize=8, loc="upper left")
    for ax in (ax_pi, ax_mu, ax_p, ax_mode):
        ax.set_xlabel("$x$")
    ax_mu.legend(fontsize=8)
    ax_pi.legend(fontsize=8)
    for ax in (ax_mu, ax_p, ax_mode):
        ax.set_ylabel("$t$")
    if title:
        fig.suptitle(title)
    return fig


def plot_figure_5_3(seed: int = 0, restarts: int = 10, method: str = "lbfgs", N: int = 50):
    """PRML Figure 5.3: a 1-3-1 tanh network fitted to N = 50 points of x^2, sin(pi x), |x| and the Heaviside step.

    Each panel holds the data, the network function and the three hidden units' outputs (dashed), as the
    book's figure; no noise band, which for these noise-free targets would be narrower than the line.
    """
    from matplotlib.figure import Figure

    from .examples import FIGURE_5_3, seed_example
    from .training import train

    fig = Figure(figsize=(10, 7.5), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for ax, name in zip(axes, FIGURE_5_3):
        net, X, T = seed_example(seed, N=N, target=name)
        result = train(net, X, T, method=method, restarts=restarts, seed=seed, progress=False)
        plot_fit(net, result.w, X, T, ax=ax,
                 title=f"$t = {name.replace('pi', chr(92) + 'pi ')}$, RMSE {np.sqrt(2 * result.error / N):.2g}")
    handles, labels = fit_legend(axes[0], hidden=True)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)  # over no data
    fig.suptitle("PRML Figure 5.3: a two-layer network with 3 tanh hidden units, N = 50")
    return fig


def plot_error_surface(net: Network, w: np.ndarray, X: Any, T: Any, *, path: Optional[np.ndarray] = None,
                       directions: Optional[tuple] = None, span: float = 1.5, resolution: int = 61,
                       seed: Any = 0, ax=None, title: Optional[str] = None,
                       w_label: str = "$\\mathbf{w}_{ML}$, the minimum"):
    """E(w) on the plane through w spanned by two directions, with an optimiser's path projected on it.

    Directions: ``directions`` if given (made orthonormal); else, with a
    ``path`` (weight vectors, e.g. training snapshots), the direction from the
    path's start to w and the main direction of the path's remaining spread;
    else two random directions. The plane is drawn over +- ``span`` times the
    larger of |w| and the path's extent. ``w_label`` names w in the legend (by default the minimum that
    training reached, w_ML).
    """
    X, T = np.asarray(X, dtype=float), np.asarray(T, dtype=float)
    w = np.asarray(w, dtype=float)
    rng = np.random.default_rng(seed)
    if directions is not None:
        D = np.array(directions, dtype=float).T
    elif path is not None and len(path) > 1:
        steps = np.asarray(path, dtype=float) - w
        d1 = steps[0] if np.any(steps[0]) else rng.standard_normal(w.size)
        rest = steps - np.outer(steps @ d1, d1) / (d1 @ d1)
        _, _, vt = np.linalg.svd(rest, full_matrices=False)
        D = np.column_stack([d1, vt[0] if np.any(rest) else rng.standard_normal(w.size)])
    else:
        D = rng.standard_normal((w.size, 2))
    D, _ = np.linalg.qr(D)
    extent = span * max(np.linalg.norm(w), 1e-3)
    if path is not None:
        coords = (np.asarray(path, dtype=float) - w) @ D
        extent = max(extent, 1.2 * np.abs(coords).max())
    a = extent * np.sinh(np.linspace(-3.0, 3.0, resolution)) / np.sinh(3.0)  # finest near w, where minima are narrow
    A, B = np.meshgrid(a, a)
    E = np.array([[float(net.error(w + ai * D[:, 0] + bi * D[:, 1], X, T)) for ai, bi in zip(ra, rb)]
                  for ra, rb in zip(A, B)])

    fig, ax = _axes(ax, figsize=(6.0, 5.0))
    from matplotlib.colors import LogNorm

    levels = np.geomspace(max(E.min(), 1e-12 * E.max(), 1e-300), E.max(), 25)
    cs = ax.contourf(A, B, E, levels=levels, norm=LogNorm(), cmap="viridis")
    bar = fig.colorbar(cs, ax=ax, label="$E(\\mathbf{w})$")
    decades = 10.0 ** np.arange(np.ceil(np.log10(levels[0])), np.floor(np.log10(levels[-1])) + 1)
    decades = decades[:: max(1, int(np.ceil(len(decades) / 8)))]  # at most 8 labelled ticks, one per decade or fewer
    bar.set_ticks(decades if len(decades) >= 2 else levels[[0, -1]])
    bar.set_ticklabels([f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
                        for v in (decades if len(decades) >= 2 else levels[[0, -1]])])
    bar.minorticks_off()
    ax.contour(A, B, E, levels=levels, norm=LogNorm(), colors="k", linewidths=0.3)
    if path is not None:
        ax.plot(coords[:, 0], coords[:, 1], "-o", color="w", ms=3, lw=1.2, label="optimiser's path", gid="path")
        ax.plot(coords[0, 0], coords[0, 1], "s", color="w", ms=7, gid="path")
    ax.plot(0, 0, "*", color="tab:red", ms=15, label=w_label, gid="w")
    ax.set_xlabel("direction 1")
    ax.set_ylabel("direction 2")
    ax.set_title(title or "Error surface on a plane through $\\mathbf{w}$")
    ax.legend(loc="upper right", fontsize=8)
    return fig
