"""Training: minimise E(w) by iterative steps, from several random starts (PRML 5.2).

There is no analytical solution of grad E(w) = 0 and there are many minima,
so ``train`` runs an optimiser from ``deltaprop.optimize`` from R random initial
weight vectors and keeps the best. Restarts run through joblib, so a Dask
cluster runs them with no other change.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..engine.checks import check_data, check_vector
from ..engine.network import MAX_HESSIAN_PARAMS, Network
from .checkpoints import restart_path
from .config import Config, make_config, number, positive_int
from .restart import Job, Outcome
from .restarts import run_restarts
from .result import Restart, TrainingWarning, TrainResult, TrainState
from .rules import GROWTH


def _split(net, X, T, validation_data, seed_seq):
    """Training and validation data: validation=(Xv, Tv), a fraction held out at random, or None."""
    if validation_data is None:
        return X, T, None, None
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        w0 = np.zeros(net.n_params)
        _, Xv, Tv = check_data(net, w0, validation_data[0], validation_data[1], names=("X_val", "T_val"))
        return X, T, np.asarray(Xv, dtype=X.dtype), np.asarray(Tv, dtype=X.dtype)
    fraction = number("validation", validation_data, 0.0, 1.0, low_open=True)
    N = X.shape[0]
    n_val = int(round(fraction * N))
    if not 1 <= n_val < N:
        raise ValueError(f"validation={fraction} of N = {N} patterns holds out {n_val}; at least 1 and at most N - 1 are needed")
    order = np.random.default_rng(seed_seq).permutation(N)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return X[train], T[train], X[val], T[val]


def train(
    net: Network,
    X: Any,
    T: Any,
    method: str = "lbfgs",
    *,
    epochs: Optional[int] = None,
    max_iter: Optional[int] = None,
    learning_rate: Optional[float] = None,
    batch_size: Optional[int] = None,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    tol: Optional[float] = None,
    weight_decay: float = 0.0,
    validation: Any = None,
    early_stopping: Optional[int] = None,
    restarts: int = 1,
    seed: Any = None,
    n_jobs: Optional[int] = None,
    scheduler: Optional[str] = None,
    callbacks: Sequence[Callable[[TrainState], Optional[bool]]] = (),
    progress: Optional[bool] = None,
    checkpoint: Any = None,
    checkpoint_every: float = 30.0,
    resume: Any = None,
    snapshots: int = 0,
    history: str = "exact",
    compiled: bool = True,
    init: Any = None,
) -> TrainResult:
    """Train ``net`` on (X, T): minimise E(w) from ``restarts`` random starts; return the best.

    Parameters
    ----------
    net : Network
    X, T : arrays of shape (N, D) and (N, K)
        NumPy arrays (or anything NumPy can convert). Training runs in float32
        when X and T are both float32, else in float64.
    method : str
        ``"lbfgs"`` (default), ``"bfgs"``, ``"cg"`` (SciPy), ``"scg"``
        (scaled conjugate gradients), ``"lm"`` (Levenberg-Marquardt, PRML
        5.4.2: linear outputs, at most 5000 parameters), ``"gd"`` (batch
        gradient descent),
        ``"sgd"``, ``"momentum"``, ``"adam"`` (mini-batch methods).
    epochs, max_iter : int
        The limit on epochs (passes over the data) or iterations (batch
        methods); the same limit under two names. Defaults: 200 for the
        mini-batch methods, 1000 for the others.
    learning_rate : float
        gd, sgd, momentum, adam: the step applied to the batch *mean*
        gradient, so it means the same at any batch size. Defaults: gd 0.1,
        sgd and momentum 0.01, adam 0.001.
    batch_size : int
        sgd, momentum, adam: patterns per step (default 32, or N if
        smaller); 1 is the on-line method (PRML 5.43).
    momentum : float
        method="momentum": the momentum coefficient mu (default 0.9);
        ``nesterov=True`` for Nesterov's form.
    tol : float
        Stop when the relative change of the objective in one epoch falls
        below tol. Default 1e-10 for the batch methods, off (0) for the
        mini-batch methods, whose error is noisy. lbfgs tests it from its
        11th iteration on, once it holds its 10 curvature pairs (its first
        steps, of a guessed length, can fall little where much remains).
    weight_decay : float or mapping
        lambda in E + lambda/2 w^T w over the weights, not the biases
        (PRML 5.112). The optimiser minimises the sum; ``error`` and
        ``penalty`` report the two parts apart. A mapping from groups of w,
        named as ``net.unpack`` names them (``"W[h1<-x]"``, ``"b[h1]"``), to
        their lambdas gives each group its own (PRML 5.5.1); groups left out
        have none.
    validation : (X_val, T_val) or float
        Validation data, or the fraction of (X, T) to hold out for it at
        random. With validation data the best weights are those of least
        validation error (PRML 5.5.2).
    early_stopping : int
        Stop when the validation error has not improved for this many
        epochs; needs ``validation``.
    restarts : int
        Independent random initialisations; their seeds derive from
        ``seed``. Each restart's final error is kept in ``result.restarts``.
    seed : None, int or numpy.random.SeedSequence
        The same seed gives the same result, bit for bit, at any n_jobs.
    n_jobs : int
        Restarts run in parallel through joblib, on threads (the compiled
        loops release the GIL); inside ``joblib.parallel_config(backend=...)``
        on that backend: "loky" processes, "dask" a Dask cluster.
    scheduler : str
        The address of a running Dask scheduler (``"tcp://host:8786"``):
        restarts run on its workers.
    callbacks : sequence of callables
        Called after each epoch with a :class:`TrainState`; returning True
        stops training. In parallel restarts they run in the workers.
    progress : bool
        A progress bar; by default on when standard error is a terminal.
    checkpoint : path
        Save the training state there (atomically) every
        ``checkpoint_every`` seconds, on Ctrl-C and at the end; with
        restarts, one file per restart (``name.restart3.npz``).
    resume : path
        Continue from a checkpoint: for gd, sgd, momentum, adam, scg and lm the
        result is identical to an uninterrupted run of the same seed; the
        SciPy methods restart their search from the saved weights.
    snapshots : int
        Keep up to this many weight vectors spread over the run (epoch 0
        and the final weights among them) in ``result.snapshots``, for
        pictures of training.
    history : {"exact", "running"}
        What ``result.history`` records for each epoch of a mini-batch
        method. "exact" (default): E(w), the objective and its gradient norm
        on all the training data at the end of the epoch, which costs one
        more pass over the data per epoch. "running": the sum of the epoch's
        batch errors, each at the weights its step started from, as Keras
        and scikit-learn report; no extra pass, ``grad_norm`` is NaN (and
        ``error`` at epoch 0, before any batch), and the best weights and
        ``tol`` go by that sum. Full-batch methods record exact values
        either way, at no extra cost.
    init : array (n_params,) or TrainResult, optional
        Start from these weights instead of random ones (``restarts`` must be
        1): to continue from a trained w, as the evidence cycles do. A
        ``TrainResult`` of lbfgs gives its w and, to lbfgs, its curvature
        pairs (``result.pairs``), so that the run goes on as one would have:
        its first direction scaled by the curvature already seen, not a
        steepest-descent step of a guessed length. Under another
        ``weight_decay`` each pair is corrected to the new objective exactly
        (the penalty is quadratic: y + (lambda' - lambda) s).
    compiled : bool
        Use the fast backends of :mod:`deltaprop.fast` where they take the
        network (layered: each layer fed by the one before, no masks): small
        layers (at most 800 weights between two) run the ``compiled``
        kernels, and with gd, sgd, momentum or adam and no validation,
        callbacks, checkpoints or snapshots, whole chunks of epochs run as one
        compiled call (:mod:`deltaprop.training.fused`); wider layers run the
        ``buffered`` matrix products. Every evaluation of a run comes from one
        backend (``result.engine``), in the data's dtype. Same result as the
        reference engine, to rounding; False runs the reference alone.

    Returns
    -------
    TrainResult
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a deltaprop Network; got {type(net).__name__}")
    float32 = getattr(X, "dtype", None) == np.float32 and getattr(T, "dtype", None) == np.float32
    dtype = np.float32 if float32 else np.float64  # float32 data trains in float32; anything else in float64
    _, X, T = check_data(net, np.zeros(net.n_params, dtype=dtype), X, T)
    X, T = np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(T, dtype=dtype)  # one layout: one result
    restarts = positive_int("restarts", restarts)
    seed_seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    split_seq, *restart_seqs = seed_seq.spawn(restarts + 1)
    X, T, Xv, Tv = _split(net, X, T, validation, split_seq)
    config = make_config(net, X.shape[0], method=method, epochs=epochs, max_iter=max_iter, learning_rate=learning_rate,
                         batch_size=batch_size, momentum=momentum, nesterov=nesterov, tol=tol, weight_decay=weight_decay,
                         early_stopping=early_stopping, has_validation=Xv is not None,
                         checkpoint_every=checkpoint_every, snapshots=snapshots, history=history)
    if config.method == "lm":
        _check_lm(net)
    pairs = None
    if init is not None:
        if restarts != 1:
            raise ValueError(f"init gives one starting point; it needs restarts=1, not {restarts}")
        if isinstance(init, TrainResult):
            pairs = init.pairs if config.method == "lbfgs" else None
            init = init.w
        init = np.array(check_vector(net, init, np.zeros(net.n_params, dtype=dtype), "init"))
    callbacks = list(callbacks) if callbacks else []
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables taking a TrainState; got {cb!r}")
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    resume = Path(resume) if resume is not None else None
    if resume is not None:
        paths = [restart_path(resume, r, restarts) for r in range(restarts)]
        if not any(p.exists() for p in paths):
            raise FileNotFoundError(f"no checkpoint to resume from at {paths[0] if restarts == 1 else resume}")
        if checkpoint is None:
            checkpoint = resume
    if progress is None:
        progress = sys.stderr.isatty()
    val = None if Xv is None else (Xv, Tv)

    jobs = [Job(net, X, T, val, config, r, restart_seqs[r], callbacks, restart_path(checkpoint, r, restarts),
                restart_path(resume, r, restarts), bool(progress) and restarts == 1, None if compiled else "reference",
                init, pairs) for r in range(restarts)]
    mixture = net.layers[net.output].activation.name.startswith("mdn")
    if mixture:
        _warn_components_beyond_patterns(net, X)
    outcomes = run_restarts(jobs, n_jobs, scheduler, bool(progress) and restarts > 1)
    if all(o.w is None for o in outcomes):  # not one epoch, the first included, had a finite objective
        with np.errstate(all="ignore"):
            big = max(float(np.max(np.abs(np.asarray(A, dtype=np.float64)), initial=0.0)) for A in (X, T))
        raise ValueError(f"E(w) is not finite at the initial weights of any restart: the data are too large for "
                         f"float64 sums of squares (the largest |value| in X and T is {big:.3g}); standardise X and "
                         f"T (or divide them by a power of ten)")
    _warn_diverged(config, [o for o in outcomes if o.stop_reason == "diverged"])  # here, wherever they ran
    result = _result(net, config, outcomes, Xv is not None)
    if mixture and result.w is not None:
        _warn_collapsed_components(net, result.w, X, T)
    if config.tol > 0 and result.stop_reason == "max epochs":
        _warn_not_converged(config, result)
    return result


def check_lm_output(kind: str) -> None:
    """Levenberg-Marquardt needs a sum-of-squares error: linear outputs (``kind``, the output activation's name)."""
    if kind != "linear":
        raise ValueError(f"method 'lm' (Levenberg-Marquardt) minimises a sum-of-squares error, which needs linear "
                         f"outputs; this network's outputs are {kind} "
                         f"({'a mixture density, whose error is -ln p(t | x)' if kind.startswith('mdn') else 'a cross-entropy error'})"
                         f": use method='lbfgs' or 'scg'")


def _check_lm(net: Network) -> None:
    """Levenberg-Marquardt needs a sum-of-squares error (linear outputs) and a dense W x W matrix."""
    check_lm_output(net.layers[net.output].activation.name)
    if net.n_params > MAX_HESSIAN_PARAMS:
        raise ValueError(f"method 'lm' (Levenberg-Marquardt) solves a dense system of n_params x n_params; this network "
                         f"has {net.n_params} parameters, more than {MAX_HESSIAN_PARAMS}: use method='lbfgs' or 'scg'")


def _warn_not_converged(config: Config, result: TrainResult) -> None:
    """The limit ended a run that had a tolerance to meet: scikit-learn's ConvergenceWarning, as its own
    estimators say it, so that the same filters apply."""
    from sklearn.exceptions import ConvergenceWarning

    unit = "epoch" if config.method in ("gd", "sgd", "momentum", "adam") else "iteration"
    warnings.warn(
        f"{config.method} stopped at its limit of {config.epochs} {unit}{'' if config.epochs == 1 else 's'}, the "
        f"objective still changing by more than {config.tol:g} of itself (tol) per {unit}; raise max_iter",
        ConvergenceWarning, stacklevel=3,
    )


COLLAPSED = 1e-6  # a mixture component narrower than this share of the targets' spread has collapsed onto points


def _warn_components_beyond_patterns(net: Network, X) -> None:
    """More Gaussians than training patterns: at least one has no pattern of its own to explain."""
    M, N = net.layers[net.output].activation.components, X.shape[0]
    if M > N:
        warnings.warn(f"the mixture has {M} components for {N} training patterns: the spare ones can only collapse "
                      f"onto single points, where the likelihood has no bound (PRML 5.6); use fewer components",
                      TrainingWarning, stacklevel=3)


def _warn_collapsed_components(net: Network, w, X, T) -> None:
    """A component that shrank onto a few targets (sigma_k -> 0): E has no minimum there (PRML 5.6, 9.2.1)."""
    from ..numerics.mixture import mixture

    m = mixture(net, w, X)
    spread = float(np.max(np.std(np.asarray(T, dtype=np.float64), axis=0)))
    used = m.pi > 0.01
    narrow = used & (m.sigma < COLLAPSED * max(spread, np.finfo(float).tiny))
    if narrow.any():
        n, k = map(int, np.argwhere(narrow)[0])
        warnings.warn(f"mixture component {k} collapsed: sigma_{k} = {m.sigma[n, k]:.3g} at pattern {n}, under "
                      f"{COLLAPSED:g} of the targets' spread, where pi_{k} = {m.pi[n, k]:.2f}; the likelihood grows "
                      f"without bound as a component shrinks onto a point (PRML 5.6): use fewer components, or "
                      f"weight_decay > 0", TrainingWarning, stacklevel=3)


def _warn_diverged(config: Config, outcomes: list) -> None:
    """One warning for every restart that diverged."""
    if not outcomes:
        return
    if config.learning_rate is not None:
        advice = (f"learning_rate={config.learning_rate:g} is too large for this problem: try "
                  f"learning_rate={config.learning_rate / 10:g}, or a batch method such as method='scg'")
    else:
        advice = "try standardising the inputs and targets, or weight_decay > 0"
    where = "; ".join(f"restart {o.index} at epoch {o.epochs}, best weights from epoch {o.best_epoch}" for o in outcomes[:3])
    more = f"; and {len(outcomes) - 3} more" if len(outcomes) > 3 else ""
    warnings.warn(
        f"training diverged ({where}{more}; method={config.method!r}): E(w) became non-finite or grew over "
        f"{GROWTH:g} times its first value; the best weights seen are returned. {advice}", TrainingWarning, stacklevel=3,
    )


def _result(net: Network, config: Config, outcomes: list[Outcome], has_validation: bool) -> TrainResult:
    best = min(outcomes, key=(lambda o: o.validation_error) if has_validation else (lambda o: o.objective))
    summaries = [Restart(o.index, o.seed, o.error, o.validation_error, o.epochs, o.stop_reason) for o in outcomes]
    return TrainResult(w=best.w, error=best.error, penalty=best.objective - best.error, beta=best.beta,
                       validation_error=best.validation_error, history=best.history,
                       stop_reason="interrupted" if any(o.stop_reason == "interrupted" for o in outcomes)
                       else best.stop_reason, restarts=summaries, best_restart=best.index,
                       method=config.method, network=net, snapshots=best.snapshots, engine=best.engine,
                       loop=best.loop, pairs=best.pairs)
