"""The ``deltaprop`` command."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .numerics import gradient_check
from .numerics.prior import block_of, column_of
from .demo import demo_pictures, figure_5_3_fits
from .examples import seed_example
from .files import save_figure, writable, write_text
from .optimize import METHODS
from .tables import LIMITS
from .tables import plural as _s
from .training import dask_client, on_scheduler

app = typer.Typer(
    help="Feed-forward neural networks trained by error backpropagation (Bishop, PRML chapter 5).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    epilog="Example: deltaprop demo, then deltaprop fit data.csv --target y; deltaprop COMMAND --help for each.",
)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"deltaprop {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print deltaprop's version and exit.")) -> None:
    """Feed-forward neural networks trained by error backpropagation (Bishop, PRML chapter 5)."""


def _classifies(est) -> bool:
    """Whether a loaded model is a classifier (scikit-learn's own test, by the estimator's tags)."""
    from sklearn.base import is_classifier

    return is_classifier(est)


def _console() -> Console:
    """A console that wraps nothing and, off a terminal, is wide enough for the tables."""
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=True, width=120)
    return console


class _Failure(Exception):
    """A data or model error: printed as one line, exit status 1."""


def _fail_on_bad_input(fn):
    """Turn data and model errors into a one-line message and exit status 1 (usage errors stay 2), and
    warnings (a diverged run, say) into one line each."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import warnings

        with warnings.catch_warnings(record=True) as caught:  # each warning as one line, not Python's two
            warnings.simplefilter("default")
            try:
                return fn(*args, **kwargs)
            except (_Failure, ValueError, TypeError, OSError) as exc:  # DataError, ModelFileError: ValueErrors
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:  # before training began, or while a result was being written
                typer.echo("interrupted: nothing was saved", err=True)
                raise typer.Exit(130) from None
            finally:
                for w in caught:
                    typer.echo(f"warning: {_cli_spelling(str(w.message))}", err=True)

    return wrapper


#: The library's Python spellings in its messages, and the command line's for the same thing.
_SPELLINGS = (
    (r"\bmax_iter\b", "--epochs"),
    (r" \(tol\)", ""),  # the tolerance is no option of the command
    (r"\blearning_rate=(\S+?)(?=[,;:)]|\s|$)", r"--learning-rate \1"),
    (r"\bmethod='(\w+)'", r"--method \1"),
    (r"(--method \w+) or '(\w+)'", r"\1 or \2"),
    (r"\bhidden='evidence'", "--hidden evidence"),
    (r"\bprior='(\w+)'", r"--prior \1"),
    (r"(must be one of '\w+'.*?) or None(; got)", r"\1\2"),  # an option left out is None
    (r"\bweight_decay='evidence' \(or None\)", "--weight-decay evidence (the default)"),
    (r"\bweight_decay='evidence'", "--weight-decay evidence"),
    (r"\bweight_decay\b", "--weight-decay"),
    (r"; raise cycles or tol$", ""),  # the cycles are no option of the command
    (r"\bvalidation_fraction\b", "--validation"),
)


#: The estimators' parameters and the options of ``deltaprop fit`` that set them.
_OPTIONS = {"hidden": "--hidden", "activation": "--activation", "method": "--method", "max_iter": "--epochs",
            "learning_rate": "--learning-rate", "batch_size": "--batch-size", "weight_decay": "--weight-decay",
            "restarts": "--restarts", "early_stopping": "--early-stopping", "validation_fraction": "--validation",
            "random_state": "--seed", "n_jobs": "--n-jobs", "snapshots": "--snapshots", "hessian": "--hessian",
            "components": "--components", "prior": "--prior"}


def _bad_setting(exc: ValueError) -> typer.BadParameter:
    """An estimator's refusal of its settings (``_check_settings``) as a usage error naming the option: scikit-learn's
    "The 'p' parameter of E must be X. Got Y instead." as "must be X; got Y", ours (which begin with the parameter's
    name) in the command line's words."""
    import re

    message = str(exc)
    sklearn = re.fullmatch(r"The '(\w+)' parameter of \w+ must be (.*)\. Got (.*) instead\.", message, re.S)
    if sklearn:
        parameter, message = sklearn[1], f"must be {sklearn[2]}; got {sklearn[3]}"
        message = re.sub(r"a str among \{([^}]*)\}", lambda m: "one of " + ", ".join(sorted(m[1].split(", "))), message)
    else:
        parameter = re.match(r"\w*", message)[0]
    return typer.BadParameter(_cli_spelling(message), param_hint=_OPTIONS.get(parameter))


def _cli_spelling(message: str) -> str:
    """A library message in the command line's words: --epochs for max_iter, --method scg for method='scg'."""
    import re

    for pattern, replacement in _SPELLINGS:
        message = re.sub(pattern, replacement, message)
    return message


@app.command(short_help="A 1-3-1 network traced, then fitted to Figure 5.3's functions.", epilog="Example: deltaprop demo --out pictures")
@_fail_on_bad_input
def demo(
    seed: int = typer.Option(0, help="Seed of the data, the initial weights and the restarts."),
    restarts: int = typer.Option(10, min=1, help="Random restarts per function."),
    method: str = typer.Option("lbfgs", help=f"Optimiser: one of {', '.join(METHODS)}."),
    pattern: int = typer.Option(0, help="Which of the 50 patterns to trace, 0 to 49."),
    out_dir: Path = typer.Option(None, "--out", help="Also write the pictures (PNG) into this folder."),
) -> None:
    """Run the lecture's example (PRML 5.3.2): a 1-3-1 tanh network, its backpropagation traced, then trained on PRML Figure 5.3's functions."""
    if not 0 <= pattern < 50:
        raise typer.BadParameter(f"pattern must be 0 to 49; got {pattern}", param_hint="--pattern")
    if method not in METHODS:
        raise typer.BadParameter(f"unknown method {method!r}; expected one of {', '.join(METHODS)}", param_hint="--method")
    if out_dir is not None:
        writable(out_dir / "figure_5_3.png", new_folder=True)  # before minutes of training
    out = _console()
    net, X, T = seed_example(seed)
    w = net.init(seed=seed)
    E, g = net.error_and_gradient(w, X, T)
    check = gradient_check(net, w, X, T)

    out.print("[bold]The simple example[/bold] (PRML 5.3.2): D = 1 input, M = 3 tanh hidden units, K = 1 linear output")
    out.print(f"data: N = {X.shape[0]} inputs x uniform in (-1, 1); seed {seed}")
    out.print(f"network: {net!r}", markup=False)
    out.print()
    out.print("[bold]Backpropagation[/bold] at the initial weights (N(0, 1/fan-in), biases 0), targets t = sin(pi x):")
    out.print(f"E(w) = 1/2 sum_n (y(x_n, w) - t_n)^2 = {float(E):.6g}")
    out.print(
        f"backpropagation vs central differences (PRML 5.69): largest relative difference "
        f"{check.max_relative_difference:.2e} at {check.name}",
        markup=False,
    )
    out.print(f"Trace of pattern n = {pattern}: x = {X[pattern, 0]:.6g}, t = {T[pattern, 0]:.6g}")
    out.print(str(net.trace(w, X[pattern], T[pattern])), markup=False)
    out.print()

    out.print(f"[bold]Training[/bold] ({method}, best of {restarts} restart{_s(restarts)}) on the functions of PRML "
              f"Figure 5.3:")
    table = Table("f(x)", "E(w)", "RMSE", "beta_ML", "median E", "max E", "stop",  # 80 columns
                  title=f"E(w) of the best of {restarts} restart{_s(restarts)}; median and max of their minima")
    for name, result, rmse in figure_5_3_fits(seed, restarts, method):
        minima = result.restart_errors
        table.add_row(name, f"{result.error:.3g}", f"{rmse:.3g}", f"{result.beta:.3g}", f"{np.median(minima):.3g}",
                      f"{minima.max():.3g}", result.stop_reason)
    out.print(table)
    out.print("RMSE = sqrt(2 E / N); beta_ML = N / (2 E) (PRML 5.15). The spread of the restarts' minima shows "
              "the many minima of E(w); H(x) is the Heaviside step.")
    if out_dir is not None:
        out.print()
        for path, what in demo_pictures(out_dir, seed=seed, restarts=restarts, method=method):
            out.print(f"wrote {escape(str(path))}: {what}")


def _beta_name(est) -> str:
    return "beta" if est.weight_decay_ == "evidence" else "beta_ML"


def _decay(est) -> str:
    return "by the evidence" if est.weight_decay_ == "evidence" else f"{est.weight_decay_:g}"


def _evidence(est, features: list) -> str:
    """alpha per group (an input's column with its feature's name), beta, gamma and the log evidence (PRML 5.7),
    standardised units."""
    e = est.evidence_

    def group(g: str) -> str:  # W[h1<-x][:, 5] (froude)
        i = column_of(g)
        return f"{g} ({features[i]})" if i is not None and block_of(g).endswith("<-x]") else g
    alphas = ", ".join(f"{group(g)} {a:.3g}" for g, a in e["alpha"].items())
    beta = "" if e["beta"] is None else f"; beta {e['beta']:.4g}"
    return escape(f"alpha: {alphas}{beta}; gamma {e['gamma']:.3g} of {est.network_.n_params} parameters; "
                  f"ln evidence {e['log_evidence']:.6g} ({e['cycles']} cycles"
                  f"{'' if e['converged'] else ', not settled'}; standardised units); Hessian {e['hessian']}"
                  + "".join(f"; {n}" for n in e.get("notes", []))
                  + (f"; predicts as a {est.committee} committee of {len(e['members']) + 1} starts (most evidence "
                     f"first: {', '.join(f'{m:.6g}' for m in [e['log_evidence']] + [m['log_evidence'] for m in e['members']])})"
                     if e.get("members") else ""))


def _sizes(est) -> str:
    """Every hidden size hidden="evidence" compared: its log evidence and ln 2^M M! over the units in use."""
    return escape("; ".join(
        f"{','.join(map(str, r['hidden']))}: ln evidence {r['log_evidence']:.5g} + ln 2^M M! {r['log_symmetry']:.3g} "
        f"(M = {', '.join(f'{m:.2g}' for m in r['active'])} in use)" for r in est.evidence_["candidates"])
        + " (PRML 5.7.2; the largest sum kept)")


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _numbers(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"expected numbers separated by commas; got {text!r}", param_hint=option) from None


def _load(model: Path):
    from .estimators import from_model_file, model_file

    f = model_file(model)
    return f, from_model_file(f)


def _model_columns(f, est) -> tuple[list[str], list[str]]:
    """The feature and target columns that ``deltaprop fit`` kept in the file, checked against the model."""
    features = f.user.get("features") or [str(i) for i in range(est.n_features_in_)]
    targets = f.user.get("targets") or ["y"]
    n_targets = 1 if _classifies(est) else est.network_.target_size
    for what, names, n in (("features", features, est.n_features_in_), ("targets", targets, n_targets)):
        if not (isinstance(names, list) and len(names) == n and all(isinstance(c, str) for c in names)):
            f.fail(f"user.{what} must name the model's {n} {what[:-1] if n == 1 else what}; got {names!r}")
    return features, targets


def _in_file(path: Path, column: str, fn, values):
    """fn(values), its ValueError told as one about the file's column."""
    from .tables import DataError

    try:
        return fn(values)
    except ValueError as exc:
        raise DataError(f"{path}: column {column!r} {exc}") from None


def _targets(est, df, targets: list[str], path: Path) -> np.ndarray:
    """The targets of a data file as the network sees them (``est.network_targets``)."""
    from .tables import labels, numeric

    y = labels(df, targets[0], path) if _classifies(est) else numeric(df, targets, path, "target")
    return _in_file(path, targets[0], est.network_targets, y)


@app.command(short_help="Train a network on a data file; save a model file.", epilog="Example: deltaprop fit diabetes.csv --target target --hidden 20 --restarts 3 -o diabetes.safetensors")
@_fail_on_bad_input
def fit(
    data: Path = typer.Argument(..., help=f"Training data: .csv (with a header row), .parquet, .npy or .npz; {LIMITS}."),
    target: str = typer.Option(..., "--target", "-t", help="Target column; several, comma-separated, for multi-output regression."),
    features: str = typer.Option(None, help="Input columns, comma-separated. Default: every column but the targets."),
    hidden: str = typer.Option("20", help="Hidden layer sizes, comma-separated, e.g. 10,10; or 'evidence': one layer "
                                          "of 1 to 32 units, the size of most evidence."),
    activation: str = typer.Option("tanh", help="Hidden activation: tanh, logistic, relu, softplus or linear."),
    classify: bool = typer.Option(False, "--classify", help="Classification: the target holds class labels."),
    components: int = typer.Option(None, min=1, help="A mixture density network (PRML 5.6): p(t | x) as a mixture of "
                                                     "this many Gaussians, for targets with several answers per x."),
    method: str = typer.Option("lbfgs", help=f"Optimiser: one of {', '.join(METHODS)}."),
    epochs: int = typer.Option(None, min=1, help="Epochs or iterations. Default: 1000 (batch methods), 200 (mini-batch)."),
    learning_rate: float = typer.Option(None, help="Step size of gd, sgd, momentum and adam."),
    batch_size: int = typer.Option(None, min=1, help="Mini-batch size of sgd, momentum and adam. Default: 32."),
    restarts: int = typer.Option(3, min=1, help="Random initialisations; the best is kept."),
    weight_decay: str = typer.Option(None, help="lambda in E + lambda/2 w^T w, or 'evidence': alpha and beta from the "
                                                "training data (PRML 5.7). Default: evidence."),
    hessian: str = typer.Option("auto", help="The evidence's Hessian: auto (exact while small, then ggn, then kron), "
                                             "exact, ggn, kron, diag or last_layer."),
    prior: str = typer.Option(None, help="The evidence's groups of weights, one alpha each: relevance (one per input "
                                         "in the first layer; the regressor's default), groups (one per layer's "
                                         "weights and biases) or shared (one for all; the classifier's default)."),
    validation: float = typer.Option(None, help="Fraction of the data held out to choose the weights, e.g. 0.1."),
    early_stopping: int = typer.Option(None, min=1, help="Stop after this many epochs without a better validation error."),
    snapshots: int = typer.Option(0, min=0, help="Keep this many weight vectors from training, for deltaprop explain."),
    seed: int = typer.Option(0, help="Seed of the initial weights, restarts and data order."),
    n_jobs: int = typer.Option(None, help="Restarts in parallel (joblib), or the evidence's starts on this many "
                                          "threads (-1: all cores); the same model at any count."),
    scheduler: str = typer.Option(None, help="Address of a running Dask scheduler (tcp://host:8786) to run the restarts on."),
    output: Path = typer.Option(Path("model.safetensors"), "--output", "-o", help="Where to write the model file."),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar. Default: on in a terminal."),
) -> None:
    """Train a network on a data file and save it as a model file."""
    writable(output)  # before reading the data and training
    if scheduler:
        try:
            dask_client(scheduler)
        except ImportError as exc:
            raise _Failure(f"--scheduler: {exc}") from None
    import contextlib
    import sys
    import time

    from .estimators import MixtureDensityRegressor, NetworkClassifier, NetworkRegressor
    from .tables import labels, numeric, read_table

    if weight_decay is not None and weight_decay != "evidence":
        try:
            weight_decay = float(weight_decay)
        except ValueError:
            pass  # the estimator names it
    if components is not None and classify:
        raise typer.BadParameter("a mixture density network models real-valued targets; it takes no --classify",
                                 param_hint="--components")
    if components is not None and prior is not None:
        raise typer.BadParameter("a mixture density network is not trained by the evidence; it takes no --prior",
                                 param_hint="--prior")
    if components is not None and hidden == "evidence":
        raise typer.BadParameter("'evidence' compares sizes by the evidence, which a mixture density network has not: "
                                 "give its sizes", param_hint="--hidden")
    try:
        sizes = "evidence" if hidden == "evidence" else tuple(int(m) for m in hidden.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected layer sizes separated by commas, e.g. 10,10, or 'evidence'; got "
                                 f"{hidden!r}", param_hint="--hidden") from None
    Estimator = partial(NetworkClassifier, hessian=hessian, prior=prior) if classify else \
        partial(NetworkRegressor, hessian=hessian, prior=prior) if components is None else \
        partial(MixtureDensityRegressor, components=components)
    est = Estimator(hidden=sizes, activation=activation, method=method, max_iter=epochs, learning_rate=learning_rate,
                    batch_size=batch_size, weight_decay=weight_decay, restarts=restarts, validation_fraction=validation,
                    early_stopping=early_stopping, random_state=seed, n_jobs=n_jobs, snapshots=snapshots,
                    progress=sys.stderr.isatty() if progress is None else progress)
    try:  # the estimator's own rules, before the data are read
        est._check_settings()
    except ValueError as exc:
        raise _bad_setting(exc) from None
    targets = _columns(target)
    if classify and len(targets) != 1:
        raise typer.BadParameter("classification takes one target column of labels", param_hint="--target")
    df = read_table(data)
    inputs = _columns(features) or [c for c in df.columns if c not in targets]
    overlap = [c for c in inputs if c in targets]
    if overlap:
        raise typer.BadParameter(f"column {overlap[0]!r} is both a feature and a target", param_hint="--features")
    if not inputs:
        raise _Failure(f"{data} has no columns left for the inputs besides the target {', '.join(targets)}")
    X = numeric(df, inputs, data, "feature")
    if classify:
        y = labels(df, targets[0], data)
    else:
        y = numeric(df, targets, data, "target")
        y = y[:, 0] if len(targets) == 1 else y
    start = time.perf_counter()
    with on_scheduler(scheduler) if scheduler else contextlib.nullcontext():
        est.fit(X, y)
    seconds = time.perf_counter() - start
    interrupted = est.training_["stop_reason"] == "interrupted"
    if interrupted and output.exists():  # an existing model is not replaced by an unfinished one
        output = output.with_name(output.name.removesuffix(".safetensors") + ".interrupted.safetensors")
    est.save(output, metadata={"features": inputs, "targets": targets, "data": str(data)})

    out = _console()
    table = Table("", "", title=escape(f"deltaprop fit {data}"), show_header=False)
    table.add_row("data", escape(f"N = {X.shape[0]} row{_s(X.shape[0])}; {len(inputs)} feature{_s(len(inputs))}: "
                                 f"{', '.join(inputs)}"))
    table.add_row("target", escape(", ".join(targets)) + (f" ({len(est.classes_)} classes)" if classify else ""))
    table.add_row("network", escape(repr(est.network_)))
    ran = est.training_["restarts"]
    table.add_row("method", f"{method}, best of {ran} restart{_s(ran)}"
                  + (f" ({restarts} asked)" if ran != restarts else "") + f", weight decay {_decay(est)}")
    if est.evidence_ is not None:
        table.add_row("evidence", _evidence(est, inputs))
        if est.evidence_.get("candidates"):
            table.add_row("sizes", _sizes(est))
    table.add_row("E(w)", f"{est.training_['error']:.6g} (standardised data), stopped: {est.training_['stop_reason']}")
    if classify:
        table.add_row("accuracy", f"{est.score(X, y):.4f} on the training data")
    elif components is not None:
        table.add_row("mixture", f"{components} Gaussian component{_s(components)} (PRML 5.6)")
        table.add_row("-ln p(t|x)", f"{est.negative_log_likelihood(X, y):.6g} per row on the training data (target units)")
    else:
        from sklearn.metrics import root_mean_squared_error

        rmse = root_mean_squared_error(y, est.predict(X), multioutput="raw_values")
        table.add_row("RMSE", ", ".join(f"{v:.6g}" for v in rmse) + " on the training data")
        table.add_row(_beta_name(est), ", ".join(f"{b:.6g}" for b in np.atleast_1d(est.beta_))
                      + " (noise precision, target units)")
    table.add_row("time", f"{seconds:.2f} s")
    table.add_row("saved", escape(str(output)))
    out.print(table)
    if interrupted:
        typer.echo(f"interrupted: the weights reached when Ctrl-C came (E(w) {est.training_['error']:.6g}) are saved "
                   f"to {output}; exit status 130", err=True)
        raise typer.Exit(130)


@app.command(short_help="Predict for every row of a data file; write CSV.", epilog="Example: deltaprop predict diabetes.safetensors new.csv --std -o predictions.csv")
@_fail_on_bad_input
def predict(
    model: Path = typer.Argument(..., help="A model file written by deltaprop fit."),
    data: Path = typer.Argument(..., help=f"Data with the model's feature columns (.csv, .parquet, .npy, .npz; {LIMITS})."),
    std: bool = typer.Option(False, "--std", help="Regression: add the predictive standard deviation (Laplace, PRML "
                                                  "5.173, for a model trained by the evidence; else sqrt(1/beta_ML))."),
    proba: bool = typer.Option(False, "--proba", help="Classification: add the probability of each class."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the CSV here instead of to standard output."),
) -> None:
    """Predict for every row of a data file; write CSV."""
    if output is not None:
        writable(output)
    import pandas as pd

    from .tables import numeric, read_table

    from .estimators import MixtureDensityRegressor

    f, est = _load(model)
    features, targets = _model_columns(f, est)
    df = read_table(data)
    X = numeric(df, features, data, "feature")
    columns = {}
    if _classifies(est):
        if std:
            raise typer.BadParameter("--std is for regression models; this model classifies", param_hint="--std")
        columns[targets[0]] = est.predict(X)
        if proba:
            for c, p in zip(est.classes_, est.predict_proba(X).T):
                columns[f"p({c})"] = p
    elif isinstance(est, MixtureDensityRegressor):
        if proba or std:
            raise typer.BadParameter("this model is a mixture density network: p(t | x) is a mixture of Gaussians, with "
                                     "no single standard deviation (deltaprop plot draws it)",
                                     param_hint="--proba" if proba else "--std")
        for k, name in enumerate(targets):
            columns[name] = est.predict(X).reshape(len(X), -1)[:, k]  # the conditional mode
    else:
        if proba:
            raise typer.BadParameter("--proba is for classification models; this model is a regressor", param_hint="--proba")
        mean, sd = est.predict(X, return_std=True)
        mean, sd = mean.reshape(len(X), -1), sd.reshape(len(X), -1)
        for k, name in enumerate(targets):
            columns[name] = mean[:, k]
            if std:
                columns[f"{name}_std"] = sd[:, k]
    table = pd.DataFrame(columns)
    if output is None:
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        write_text(output, table.to_csv(index=False))
        _console().print(f"wrote {escape(str(output))}: {len(table)} row{_s(len(table))}, "
                         f"column{_s(table.shape[1])} {escape(', '.join(table.columns))}")


@app.command(short_help="Score a model on data: RMSE, NLL, R^2 or accuracy.", epilog="Example: deltaprop evaluate diabetes.safetensors test.csv")
@_fail_on_bad_input
def evaluate(
    model: Path = typer.Argument(..., help="A model file written by deltaprop fit."),
    data: Path = typer.Argument(..., help="Data with the model's feature and target columns."),
    target: str = typer.Option(None, "--target", "-t", help="Target column(s). Default: those the model was trained on."),
) -> None:
    """Score a model on data: RMSE, mean NLL and R^2, or accuracy and log-loss."""
    from sklearn.metrics import log_loss, r2_score, root_mean_squared_error

    from .tables import labels, numeric, read_table

    f, est = _load(model)
    features, targets = _model_columns(f, est)
    targets = _columns(target) or targets
    df = read_table(data)
    X = numeric(df, features, data, "feature")
    out = _console()
    table = Table("measure", "value", title=escape(f"{model} on {data} (N = {len(X)})"))
    if _classifies(est):
        y = est.classes_[_in_file(data, targets[0], est.encode_labels, labels(df, targets[0], data))]
        table.add_row("accuracy", f"{est.score(X, y):.6g}")
        table.add_row("log-loss (mean NLL per pattern)", f"{log_loss(y, est.predict_proba(X), labels=est.classes_):.6g}")
    else:
        T = numeric(df, targets, data, "target")
        if T.shape[1] != est.network_.target_size:
            raise _Failure(f"the model has {est.network_.target_size} outputs but --target names {T.shape[1]} columns")
        Y = est.predict(X).reshape(T.shape)
        table.add_row("RMSE", ", ".join(f"{v:.6g}" for v in root_mean_squared_error(T, Y, multioutput="raw_values")))
        table.add_row("mean NLL per pattern", f"{est.negative_log_likelihood(X, T):.6g}")
        table.add_row("R^2", f"{r2_score(T, Y):.6g}")
    out.print(table)


@app.command(short_help="Print backpropagation's every number for one pattern.", epilog="Example: deltaprop trace diabetes.safetensors --input 0.04,0.05,0.06,0.02,-0.04,-0.03,-0.04,0.0,0.02,-0.02 --target 151")
@_fail_on_bad_input
def trace(
    model: Path = typer.Argument(..., help="A model file written by deltaprop fit."),
    input: str = typer.Option(..., "--input", "-x", help="One pattern's inputs, comma-separated, in the model's feature order."),
    target: str = typer.Option(None, "--target", "-t", help="Its target (a number, or a class label). Default: y itself, so every delta is 0."),
) -> None:
    """Print every message of backpropagation for one pattern: a_j, z_j, delta_j and dE_n/dw_ji, in PRML's notation (5.48-5.57)."""
    import pandas as pd

    from .numerics import mixture

    f, est = _load(model)
    features, targets = _model_columns(f, est)
    x = np.array(_numbers(input, "--input"))
    if len(x) != est.n_features_in_:
        raise typer.BadParameter(f"the model takes {est.n_features_in_} inputs ({', '.join(features)}); got {len(x)}", param_hint="--input")
    net, w = est.network_, est.w_
    xs = est.network_inputs(x[None, :])[0]
    M = net.layers[net.output].activation.components
    if target is None:
        t = net.forward(w, xs[None, :])[0] if not M else mixture.mode(net, w, xs[None, :])[0]
    elif _classifies(est):
        t = _targets(est, pd.DataFrame({targets[0]: [target]}), targets, Path("--target"))[0]
    else:
        values = _numbers(target, "--target")
        if len(values) != net.target_size:
            raise typer.BadParameter(f"the model has {net.target_size} targets; got {len(values)}", param_hint="--target")
        t = est.network_targets(np.array([values]))[0]
    out = _console()
    if est.standardize:
        out.print(f"inputs standardised with the training statistics: x = ({', '.join(f'{v:g}' for v in x)}) -> "
                  f"({', '.join(f'{v:.6g}' for v in xs)})" + ("" if _classifies(est) else "; targets likewise"))
    if target is None:
        out.print("no --target given: t = y, so every delta and derivative is 0" if not M else
                  "no --target given: t = the conditional mode (the mean of the most probable component)")
    out.print(str(net.trace(w, xs, t)), markup=False)
    out.print(_jacobian_table(est, x, features, targets))


def _jacobian_table(est, x: np.ndarray, features: list[str], targets: list[str]) -> Table:
    """dy_k/dx_i at one pattern in the data's units (PRML 5.73): a row per output, a column per feature."""
    J = est.output_jacobian(x[None, :])[0]
    M = est.network_.layers[est.network_.output].activation.components
    if _classifies(est):
        classes = est.classes_[1:] if est.network_.K == 1 else est.classes_
        rows = [f"p({c})" for c in classes]
    elif M:  # the mixture's parameters, in standardised units
        rows = [f"pi_{k + 1}" for k in range(M)] + [f"sigma_{k + 1}" for k in range(M)] + \
            [f"mu_{k + 1}({name})" for k in range(M) for name in targets]
    else:
        rows = targets
    table = Table("", *map(escape, features), title="the Jacobian dy_k/dx_i at this pattern, in the data's units "
                  "(PRML 5.73)", title_justify="left")
    for name, row in zip(rows, J):
        table.add_row(escape(str(name)), *(f"{v:.6g}" for v in row))
    return table


@app.command(short_help="Check backpropagation against central differences.", epilog="Example: deltaprop gradcheck diabetes.safetensors diabetes.csv --rows 50")
@_fail_on_bad_input
def gradcheck(
    model: Path = typer.Argument(..., help="A model file written by deltaprop fit."),
    data: Path = typer.Argument(..., help="Data with the model's feature and target columns."),
    rows: int = typer.Option(100, min=1, help="Use the first ROWS rows (central differences cost 2 passes per weight)."),
    tol: float = typer.Option(1e-6, help="Largest relative difference that passes."),
) -> None:
    """Check backpropagation against central differences (PRML 5.69) at the model's weights; exit 1 if it fails."""
    from .tables import numeric, read_table

    f, est = _load(model)
    features, targets = _model_columns(f, est)
    df = read_table(data).iloc[:rows]
    X = est.network_inputs(numeric(df, features, data, "feature"))
    T = _targets(est, df, targets, data)
    check = gradient_check(est.network_, est.w_, X, T)
    verdict = "PASS" if check.max_relative_difference <= tol else "FAIL"
    _console().print(f"{verdict}: backpropagation vs central differences on {len(X)} rows, {est.network_.n_params} "
                     f"weights: largest relative difference {check.max_relative_difference:.3g} at {check.name} "
                     f"(tolerance {tol:g})", markup=False)
    if verdict == "FAIL":
        raise typer.Exit(1)


@app.command(short_help="Show a model file's architecture and training summary.", epilog="Example: deltaprop info diabetes.safetensors")
@_fail_on_bad_input
def info(model: Path = typer.Argument(..., help="A model file written by deltaprop fit or dp.save_network.")) -> None:
    """Show a model file's architecture, parameters and training summary."""
    from .estimators import from_model_file, model_file
    from .io import NETWORK

    f = model_file(model)
    net = f.network
    out = _console()
    out.print(f"[bold]{escape(str(model))}[/bold]: {f.kind}, model format version {f.metadata['format_version']}")
    layers = Table("layer", "units", "h", "inputs from", title=f"network: {net.n_params} parameters")
    for name, layer in net.layers.items():
        sources = ", ".join(c.src + (" (masked)" if c.mask is not None else "") for c in net.incoming.get(name, ()))
        layers.add_row(escape(name), str(layer.size), layer.activation.name if layer.activation else "input", escape(sources))
    out.print(layers)
    if f.kind == NETWORK:
        if f.user:
            out.print(f"metadata: {f.user}", markup=False)
        return
    est = from_model_file(f)
    features, targets = _model_columns(f, est)
    summary = Table("", "", show_header=False, title="training")
    summary.add_row("features", escape(", ".join(features)))
    summary.add_row("targets", escape(", ".join(targets)))
    if _classifies(est):
        summary.add_row("classes", escape(", ".join(str(c) for c in est.classes_)))
    else:
        summary.add_row(_beta_name(est), ", ".join(f"{b:.6g}" for b in np.atleast_1d(est.beta_)) + " (target units)")
    t = est.training_
    summary.add_row("method", f"{t['method']}; {t['restarts']} restart{_s(t['restarts'])}, best {t['best_restart']}; "
                              f"weight decay {_decay(est)}")
    if est.evidence_ is not None:
        summary.add_row("evidence", _evidence(est, features))
        if est.evidence_.get("candidates"):
            summary.add_row("sizes", _sizes(est))
    summary.add_row("E(w)", f"{t['error']:.6g} (+ weight decay {t['penalty']:.6g}), standardised data")
    if est.evidence_ is not None and t["stop_reason"] not in ("interrupted", "diverged"):
        e = est.evidence_
        summary.add_row("stopped", f"{'settled' if e['converged'] else 'not settled'} after {e['cycles']} cycles, "
                                   f"{est.n_iter_} iterations in all")
    else:
        summary.add_row("stopped", f"{t['stop_reason']} after {est.n_iter_} epochs/iterations")
    errors = est.restart_errors_
    summary.add_row("starts' final E" if est.evidence_ is not None else "restarts' minima",
                    f"min {errors.min():.6g}, median {np.median(errors):.6g}, max {errors.max():.6g}"
                    + (" (each start's last cycle, at its own alpha and beta)" if est.evidence_ is not None else ""))
    params = est.get_params()
    summary.add_row("parameters", escape(", ".join(f"{k}={v}" for k, v in params.items())))
    if f.user.get("data"):
        summary.add_row("trained on", escape(str(f.user["data"])))
    out.print(summary)


def _picture_title(name: str, est, kind: str) -> str:
    """What a training curve or a minima plot of a saved model shows: for a model of the evidence, the last
    cycle's training at its final alpha and beta (E the data term), and each start's own last cycle."""
    evidence = est.evidence_ is not None
    if kind == "training":
        return f"{name}: " + ("the last cycle's training,\nat the evidence's final alpha and beta; E is the data term E_D"
                              if evidence else "training")
    return f"{name}: final E of each " + ("start's last cycle\n(the evidence runs its cycles per start)"
                                          if evidence else "restart")


@app.command(short_help="Draw a saved model's fit, training curve or minima.", epilog="Example: deltaprop plot sin.safetensors sin.csv --kind fit -o fit.png")
@_fail_on_bad_input
def plot(
    model: Path = typer.Argument(..., help="A model file written by deltaprop fit."),
    data: Path = typer.Argument(None, help="Data with the model's columns; needed for --kind fit."),
    kind: str = typer.Option("fit", help="fit (regression: one input draws data, y(x), hidden units and band; several "
                                         "draw predicted against actual and the residuals), training or minima."),
    output: Path = typer.Option(Path("plot.png"), "--output", "-o", help="The image file to write (.png, .svg, .pdf)."),
) -> None:
    """Draw a picture of a saved model: its fit to data, its training curve, or its restarts' minima."""
    writable(output)
    from . import plots
    from .tables import numeric, read_table

    kinds = ("fit", "training", "minima")
    if kind not in kinds:
        raise typer.BadParameter(f"unknown kind {kind!r}; expected one of {', '.join(kinds)}", param_hint="--kind")
    f, est = _load(model)
    if kind == "training":
        fig = plots.plot_training(est.history_, title=_picture_title(model.name, est, kind))
    elif kind == "minima":
        fig = plots.plot_minima(est.restart_errors_, best=est.training_["best_restart"],
                                title=_picture_title(model.name, est, kind))
    else:
        if data is None:
            raise typer.BadParameter("--kind fit draws the model over data: give DATA", param_hint="DATA")
        if _classifies(est):
            raise _Failure(f"--kind fit draws regression models; {model} classifies (try --kind training or minima)")
        features, targets = _model_columns(f, est)
        df = read_table(data)
        X, T = numeric(df, features, data, "feature"), numeric(df, targets, data, "target")
        mixture = est.network_.layers[est.network_.output].activation.components
        if mixture and est.n_features_in_ == 1 and T.shape[1] == 1:  # PRML Figure 5.21
            fig = plots.plot_mixture(est.network_, est.w_, X, T, x_scaler=(est.x_mean_, est.x_scale_),
                                     t_scaler=(est.y_mean_, est.y_scale_), title=f"{model.name} on {data.name}")
        elif mixture:
            fig = plots.plot_predictions(est.predict(X).reshape(T.shape), T, names=targets,
                                         title=f"{model.name} on {data.name}: the conditional mode")
        elif est.n_features_in_ == 1 and est.network_.K == 1:
            fig = plots.plot_fit(est.network_, est.w_, X, T, beta=est.beta_, x_scaler=(est.x_mean_, est.x_scale_),
                                 t_scaler=(est.y_mean_, est.y_scale_), title=f"{model.name} on {data.name}",
                                 posterior=est.posterior_)  # the Laplace band, where trained by the evidence
            fig.axes[0].set_xlabel(features[0])
            fig.axes[0].set_ylabel(targets[0])
        else:
            Y, std = est.predict(X, return_std=True)  # per pattern: the Laplace sigma(x) where trained by the evidence
            fig = plots.plot_predictions(Y.reshape(T.shape), T, names=targets, title=f"{model.name} on {data.name}",
                                         std=std.reshape(T.shape) if est.posterior_ is not None else
                                         np.sqrt(1 / np.atleast_1d(est.beta_)))
    save_figure(fig, output, dpi=110)
    _console().print(f"wrote {escape(str(output))}")


@app.command(short_help="Write an HTML page of backpropagation in action.", epilog="Example: deltaprop explain sin.safetensors sin.csv -o backprop.html")
@_fail_on_bad_input
def explain(
    model: Path = typer.Argument(..., help="A model file written by deltaprop fit (or dp.save_network)."),
    data: Path = typer.Argument(None, help="Data whose patterns the page offers (the model's columns); optional."),
    output: Path = typer.Option(Path("backprop.html"), "--output", "-o", help="The HTML file to write."),
) -> None:
    """Write one self-contained HTML page of backpropagation in action for this model."""
    writable(output)
    from .estimators import from_model_file, model_file
    from .io import NETWORK
    from .tables import labels, numeric, read_table
    from .viz import explain_html

    f = model_file(model)
    if f.kind == NETWORK:
        net, w = f.network, f.w
        X = T = None
        if data is not None:
            df = read_table(data)
            if df.shape[1] != net.D + net.K:
                raise _Failure(f"{data} has {df.shape[1]} columns; a bare network's data needs {net.D} inputs then {net.K} targets")
            values = numeric(df, list(df.columns), data)
            X, T = values[:, : net.D], values[:, net.D :]
        html = explain_html(net, w, X=X, T=T, title=f"Backpropagation in action: {model.name}")
    else:
        est = from_model_file(f)
        features, targets = _model_columns(f, est)
        X = T = None
        if data is not None:
            df = read_table(data)
            X = numeric(df, features, data, "feature")
            T = labels(df, targets[0], data) if _classifies(est) else numeric(df, targets, data, "target")
        classify = _classifies(est)
        html = explain_html(
            est.network_, est.w_, X=X, T=T, x_scaler=(est.x_mean_, est.x_scale_),
            t_scaler=None if classify else (est.y_mean_, est.y_scale_), classes=est.classes_ if classify else None,
            history=est.history_, snapshots=est.snapshots_, feature_names=features, target_names=targets,
            title=f"Backpropagation in action: {model.name}",
            subtitle=f"{repr(est.network_)}; inputs standardised with the training statistics"
                     + ("" if classify else ", targets too"),
            posterior=None if classify else est.posterior_,
        )
    write_text(output, html)
    _console().print(f"wrote {escape(str(output))}: open it in a browser (file://{escape(str(output.resolve()))})")


@app.command(short_help="Write a page that trains a network live in the browser.",
             epilog="Example: deltaprop playground --preset mazur --open")
@_fail_on_bad_input
def playground(
    data: Path = typer.Argument(None, help="Data of your own to train on in the page (its first 2,000 rows); optional."),
    target: str = typer.Option(None, "--target", "-t", help="The target column of DATA (one); every other column is an input."),
    classify: bool = typer.Option(False, "--classify", help="The target holds class labels (at most 10 classes)."),
    preset: str = typer.Option("seed", help="The preset the page opens with: mazur, seed, figure-5.3, xor or digits."),
    output: Path = typer.Option(Path("playground.html"), "--output", "-o", help="The HTML file to write."),
    open_page: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
) -> None:
    """Write one self-contained page that trains a network in the browser, every number of every pass in view:
    gradient descent, SGD, momentum and Adam on the lecture's data, PRML Figure 5.3's, TensorFlow Playground's
    2-D sets, the digits, Matt Mazur's worked example or your own CSV."""
    from .viz import PRESETS, playground_html

    if preset not in PRESETS:
        raise typer.BadParameter(f"{preset!r} is not one of {', '.join(PRESETS)}", param_hint="--preset")
    if data is None and (target is not None or classify):
        raise typer.BadParameter("needs DATA: a table to train on", param_hint="--target" if target is not None else "--classify")
    if data is not None and target is None:
        raise typer.BadParameter("DATA needs its target column (-t NAME)", param_hint="--target")
    writable(output)
    if data is None:
        html = playground_html(preset=preset)
    else:
        from .tables import labels, numeric, read_table

        df = read_table(data)
        if target not in df.columns:
            raise _Failure(f"{data}: no column {target!r}; the columns are {', '.join(map(str, df.columns))}")
        features = [c for c in df.columns if c != target]
        if not features:
            raise _Failure(f"{data}: no input columns beside the target {target!r}")
        X = numeric(df, features, data, "feature")
        if classify:
            T = labels(df, target, data)
            classes = sorted(set(T.tolist()), key=str)
            if not 2 <= len(classes) <= 10:
                raise _Failure(f"{data}: column {target!r} has {len(classes)} class{'' if len(classes) == 1 else 'es'}; the page takes 2 to 10")
            html = playground_html(X, T, classes=classes, feature_names=[str(c) for c in features], name=data.name)
        else:
            T = numeric(df, [target], data, "target")
            html = playground_html(X, T, feature_names=[str(c) for c in features], name=data.name)
    write_text(output, html)
    url = output.resolve().as_uri()
    _console().print(f"wrote {escape(str(output))}: open it in a browser ({escape(url)})")
    if open_page:
        import webbrowser

        webbrowser.open(url)
