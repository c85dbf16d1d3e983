"""Training: minimise E(w) by iterative steps, from several random starts (PRML 5.2).

There is no analytical solution of grad E(w) = 0 and there are many minima,
so ``train`` runs an optimiser from ``optimize`` from R random initial weight
vectors and keeps the best. Restarts run through joblib, so a Dask cluster
runs them with no other change.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import backprop
from . import compiled as fastpath
from .buffered import CHUNK, Buffers
from .files import atomic_write
from .loops import compiled_loop, scipy_loop, step_loop
from .network import Network
from .optimize import METHODS, SCIPY_METHODS, STOCHASTIC_METHODS
from .validation import check_data

CHECKPOINT_FORMAT = "deltaprop-checkpoint"
CHECKPOINT_VERSION = 1

DEFAULT_EPOCHS = {"gd": 1000, "sgd": 200, "momentum": 200, "adam": 200, "scg": 1000, "lbfgs": 1000, "bfgs": 1000, "cg": 1000}
DEFAULT_LEARNING_RATE = {"gd": 0.1, "sgd": 0.01, "momentum": 0.01, "adam": 0.001}
DEFAULT_BATCH_SIZE = 32
DEFAULT_TOL = 1e-10  # batch methods only: the mini-batch methods' E is too noisy for it
HISTORY_MODES = ("exact", "running")


class TrainingWarning(UserWarning):
    """Training stopped for a reason the caller should hear about (divergence)."""


@dataclass
class TrainState:
    """What a callback sees after each epoch. A callback returning True stops training."""

    restart: int
    epoch: int
    w: np.ndarray
    error: float
    validation_error: Optional[float]
    grad_norm: float
    seconds: float


@dataclass
class Restart:
    """The outcome of one restart: its seed, final errors and why it stopped."""

    index: int
    seed: int
    error: float
    validation_error: Optional[float]
    epochs: int
    stop_reason: str


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes
    ----------
    w : ndarray
        The best weights: least training objective (E plus weight decay)
        over all epochs and restarts, or least validation error when
        validation data are given.
    error : float
        E(w) on the training data, without the weight-decay term.
    penalty : float
        The weight-decay term lambda/2 sum w^2 at w (PRML 5.112).
    beta : float or None
        beta_ML at w on the training data (PRML 5.17); None unless the
        outputs are linear.
    validation_error : float or None
        E(w) on the validation data.
    history : dict of arrays
        Per epoch (or iteration) of the best restart, epoch 0 being the
        initial weights: ``epoch``, ``error``, ``validation_error`` (NaN
        when there is no validation data), ``grad_norm`` (of the objective)
        and ``seconds``.
    stop_reason : str
        Why the best restart stopped: "max epochs", "converged",
        "early stopping", "callback", "interrupted", "diverged", or
        "scipy: " and the message of a SciPy method that stopped short.
    restarts : list of Restart
        One summary per restart, in order: the spread of minima.
    best_restart : int
        The index of the restart that gave w.
    snapshots : dict
        With ``train(..., snapshots=K)``: ``epoch`` (k,) and ``w`` (k,
        n_params), weight vectors spread over the best restart's run.
    engine : str
        "compiled" if whole epochs ran compiled (``deltaprop.compiled``),
        "compiled evaluation" if the whole-data error and gradient did,
        "buffered" if every evaluation ran as matrix products into buffers
        allocated once (``deltaprop.buffered``), else "python".
    """

    w: np.ndarray
    error: float
    penalty: float
    beta: Optional[float]
    validation_error: Optional[float]
    history: dict
    stop_reason: str
    restarts: list
    best_restart: int
    method: str
    network: Network = field(repr=False)
    snapshots: dict = field(default_factory=dict, repr=False)
    engine: str = "python"

    @property
    def restart_errors(self) -> np.ndarray:
        """The final training error E of every restart."""
        return np.array([r.error for r in self.restarts])


# -- the objective the optimisers see ---------------------------------------


class Objective:
    """E(w) + lambda/2 sum w^2 over the weights (not the biases), summed over a batch (PRML 5.112).

    ``fun(w, batch)`` gives the batch's error plus its share n/N of the
    weight-decay term, so that the shares of one epoch add up to the whole.
    """

    def __init__(self, net: Network, X: np.ndarray, T: np.ndarray, weight_decay: float, compiled: bool = False):
        self.net, self.X, self.T, self.N = net, X, T, X.shape[0]
        self.weight_decay = weight_decay
        self.decay_mask = np.zeros(net.n_params, dtype=X.dtype)
        for c in net.connections:
            b = net._block(c.name)
            self.decay_mask[b.offset : b.offset + b.size] = 1.0
        self._last: Optional[tuple] = None
        self.running = [0.0, 0.0]  # sums of the batch errors and objectives since the last reset
        # the fast paths of a layered network: whole-data evaluations through the compiled kernel where
        # its layers are small (float64), every other evaluation through matrix products into buffers
        self._kernel = fastpath.evaluator(net, X, T, weight_decay, self.decay_mask) if compiled else None
        self._buffers = Buffers(net, min(self.N, CHUNK), X.dtype) if compiled and fastpath.layered(net) else None
        self._g = np.empty(net.n_params, X.dtype) if self._buffers is not None else None  # the batch gradient, overwritten per batch

    def _error_and_gradient(self, w: np.ndarray, X: np.ndarray, T: np.ndarray, g: Optional[np.ndarray] = None):
        """(E, gradient) on (X, T): through the buffers (into g, or a new array) where there are any."""
        if self._buffers is None:
            E, g = backprop.error_and_gradient(self.net, w, X, T)
            return float(E), g
        g = np.empty_like(self._g) if g is None else g
        return self._buffers.error_and_gradient(w, X, T, g), g

    def _decay(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """lambda/2 sum w^2 over the weights (PRML 5.112), and those weights with the biases zeroed."""
        v = w * self.decay_mask
        return 0.5 * self.weight_decay * float(v @ v), v

    def penalty(self, w: np.ndarray) -> float:
        return self._decay(w)[0]

    def fun(self, w: np.ndarray, batch: Optional[np.ndarray]) -> tuple[float, np.ndarray]:
        if batch is None:
            return self.full(w)[1:]
        E, g = self._error_and_gradient(w, self.X[batch], self.T[batch], self._g)
        objective = E
        if self.weight_decay:
            share = len(batch) / self.N
            penalty, v = self._decay(w)
            objective = E + share * penalty
            g += (share * self.weight_decay) * v
        self.running[0] += E
        self.running[1] += objective
        return objective, g

    def take_running(self) -> tuple[float, float]:
        """The sums of the batch errors and objectives since the last call (each at the weights its step started from)."""
        E, objective = self.running
        self.running = [0.0, 0.0]
        return E, objective

    def _remembered(self, w: np.ndarray) -> Optional[tuple]:
        """What the last ``full`` gave, if it was at w."""
        if self._last is not None and (self._last[0] is w or np.array_equal(self._last[0], w)):
            return self._last[1]
        return None

    def value(self, w: np.ndarray) -> tuple[float, float]:
        """(E, E + penalty) on all the data: a forward pass, or nothing if the last ``full`` was at w."""
        if (known := self._remembered(w)) is not None:
            return known[:2]
        E = self.error_on(w, self.X, self.T)
        return E, (E + self.penalty(w) if self.weight_decay else E)

    def error_on(self, w: np.ndarray, X: np.ndarray, T: np.ndarray) -> float:
        """E(w) on (X, T), these data or others (validation): forward passes only, through the buffers if any."""
        if self._buffers is not None:
            return self._buffers.error(w, X, T)
        return float(backprop.error(self.net, w, X, T))

    def full(self, w: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(E, E + penalty, gradient of E + penalty) on all the data; the last call is remembered."""
        if (known := self._remembered(w)) is not None:
            return known
        if self._kernel is not None:
            out = self._kernel(w)
        else:
            E, g = self._error_and_gradient(w, self.X, self.T)
            if self.weight_decay:
                penalty, v = self._decay(w)
                out = (E, E + penalty, g + self.weight_decay * v)
            else:
                out = (E, E, g)
        self._last = (w.copy(), out)
        return out


# -- checking the arguments ------------------------------------------------


@dataclass
class Config:
    method: str
    epochs: int
    learning_rate: Optional[float]
    batch_size: Optional[int]
    momentum: float
    nesterov: bool
    tol: float
    weight_decay: float
    early_stopping: Optional[int]
    checkpoint_every: float
    snapshots: int = 0
    history: str = "exact"

    def fingerprint(self) -> dict:
        return {k: getattr(self, k) for k in ("method", "learning_rate", "batch_size", "momentum", "nesterov", "weight_decay")}


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float = math.inf, low_open: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    ok = (value > low if low_open else value >= low) and value <= high and math.isfinite(value)
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must lie in {bracket}{low}, {high}]; got {value}")
    return value


def _config(method, N, epochs, max_iter, learning_rate, batch_size, momentum, nesterov, tol, weight_decay,
            early_stopping, has_validation, checkpoint_every, snapshots=0, history="exact") -> Config:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if epochs is not None and max_iter is not None:
        raise ValueError("give epochs or max_iter, not both: they are the same limit")
    limit = epochs if epochs is not None else max_iter
    limit = DEFAULT_EPOCHS[method] if limit is None else _positive_int("epochs" if epochs is not None else "max_iter", limit)

    first_order = method in DEFAULT_LEARNING_RATE
    if not first_order:
        for name, value in (("learning_rate", learning_rate), ("batch_size", batch_size), ("momentum", momentum)):
            if value is not None:
                raise ValueError(f"{name} does not apply to method {method!r}, which chooses its own steps over the whole batch")
    if learning_rate is None and first_order:
        learning_rate = DEFAULT_LEARNING_RATE[method]
    if learning_rate is not None:
        learning_rate = _number("learning_rate", learning_rate, 0.0, low_open=True)
    if method in STOCHASTIC_METHODS:
        batch_size = min(DEFAULT_BATCH_SIZE, N) if batch_size is None else _positive_int("batch_size", batch_size)
        if batch_size > N:
            raise ValueError(f"batch_size {batch_size} is larger than the number of training patterns N = {N}")
    elif batch_size is not None:
        raise ValueError(f"batch_size does not apply to method {method!r}, which uses all N patterns each step")
    if momentum is not None and method != "momentum":
        raise ValueError(f"momentum applies to method 'momentum' only; got method {method!r}")
    momentum = 0.9 if momentum is None else _number("momentum", momentum, 0.0, 1.0)
    if momentum >= 1.0:
        raise ValueError(f"momentum must be below 1; got {momentum}")
    if tol is None:
        tol = 0.0 if method in STOCHASTIC_METHODS else DEFAULT_TOL
    tol = _number("tol", tol, 0.0)
    weight_decay = _number("weight_decay", weight_decay, 0.0)
    if early_stopping is not None:
        early_stopping = _positive_int("early_stopping", early_stopping)
        if not has_validation:
            raise ValueError("early_stopping needs validation data: pass validation=(X_val, T_val) or a fraction such as 0.1")
    checkpoint_every = _number("checkpoint_every", checkpoint_every, 0.0)
    snapshots = _positive_int("snapshots", snapshots, minimum=0)
    if history not in HISTORY_MODES:
        raise ValueError(f"unknown history {history!r}; expected one of {', '.join(map(repr, HISTORY_MODES))}")
    if method not in STOCHASTIC_METHODS or batch_size >= N:
        history = "exact"  # each epoch is one step on all the data: its exact E comes with the next gradient
    return Config(method, limit, learning_rate, batch_size, momentum, bool(nesterov), tol, weight_decay,
                  early_stopping, checkpoint_every, snapshots, history)


def _split(net, X, T, validation_data, seed_seq):
    """Training and validation data: validation=(Xv, Tv), a fraction held out at random, or None."""
    if validation_data is None:
        return X, T, None, None
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        w0 = np.zeros(net.n_params)
        _, Xv, Tv = check_data(net, w0, validation_data[0], validation_data[1], names=("X_val", "T_val"))
        return X, T, Xv, Tv
    fraction = _number("validation", validation_data, 0.0, 1.0, low_open=True)
    N = X.shape[0]
    n_val = int(round(fraction * N))
    if not 1 <= n_val < N:
        raise ValueError(f"validation={fraction} of N = {N} patterns holds out {n_val}; at least 1 and at most N - 1 are needed")
    order = np.random.default_rng(seed_seq).permutation(N)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return X[train], T[train], X[val], T[val]


# -- checkpoints -------------------------------------------------------------


def _restart_path(path: Optional[Path], index: int, restarts: int) -> Optional[Path]:
    if path is None or restarts == 1:
        return path
    return path.with_name(f"{path.stem}.restart{index}{path.suffix}")


def _save_checkpoint(path: Path, arrays: dict, meta: dict) -> None:
    """Write arrays and JSON metadata to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)

    atomic_write(path, write)


def _load_checkpoint(path: Path, net: Network, config: Config) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{path} is not a deltaprop checkpoint (it could not be read: {exc})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a deltaprop checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is a checkpoint of format version {meta.get('version')}; this deltaprop reads version {CHECKPOINT_VERSION}")
    if meta.get("n_params") != net.n_params or arrays.get("w", np.zeros(0)).shape != (net.n_params,):
        raise ValueError(f"{path} holds weights for {meta.get('n_params')} parameters; this network has {net.n_params}")
    if meta.get("config") != config.fingerprint():
        raise ValueError(
            f"{path} was written by training with {meta.get('config')}; resuming with {config.fingerprint()} "
            f"would not continue the same run"
        )
    return arrays, meta


# -- one restart -------------------------------------------------------------


class _Progress:
    """A rich progress bar over epochs, or nothing."""

    def __init__(self, enabled: bool, total: int, description: str):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("E {task.fields[E]}"), TextColumn("{task.fields[Ev]}"),
                                TimeRemainingColumn(), transient=True, console=Console(stderr=True))
            self.task = self.bar.add_task(description, total=total, E="", Ev="")
            self.bar.start()

    def update(self, epoch: int, E: float, Ev: Optional[float]) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=epoch, E=f"{E:.5g}", Ev="" if Ev is None else f"val E {Ev:.5g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class _Run:
    """The bookkeeping of one restart: history, best weights, stopping rules, checkpoints."""

    def __init__(self, problem: Objective, val: Optional[tuple], config: Config, index: int, seed: int,
                 callbacks: Sequence[Callable], checkpoint: Optional[Path], progress: _Progress):
        self.problem, self.val, self.config, self.index, self.seed = problem, val, config, index, seed
        self.callbacks, self.checkpoint, self.progress = callbacks, checkpoint, progress
        self.history = {k: [] for k in ("epoch", "error", "validation_error", "grad_norm", "seconds")}
        self.epoch = 0
        self.best_w: Optional[np.ndarray] = None
        self.best_score = math.inf
        self.best_epoch = 0
        self.prev_objective: Optional[float] = None
        self.t0 = time.perf_counter()
        self.last_save = time.perf_counter()
        self.stop_reason: Optional[str] = None
        self.snapshots: tuple = ()  # (epoch, w) every `stride` epochs, thinned to at most 2K as the run goes on
        self.stride = 1

    def validation_error(self, w) -> Optional[float]:
        if self.val is None:
            return None
        return self.problem.error_on(w, *self.val)

    def record(self, w: np.ndarray, moved: bool = True) -> bool:
        """Log epoch ``self.epoch`` at w; return True when training should stop.

        With history="running", each epoch logs the sums of its batches' errors
        (Objective.take_running) instead of making one more pass over the data; epoch 0,
        before any batch, logs NaN, and the gradient norm is NaN throughout.
        """
        started = self.config.history != "running" or self.epoch > 0
        if self.config.history == "running":
            E, objective = self.problem.take_running() if started else (math.nan, math.nan)
            grad_norm = math.nan
        else:
            E, objective, g = self.problem.full(w)
            grad_norm = float(np.sqrt(g @ g))
        Ev = self.validation_error(w)
        seconds = time.perf_counter() - self.t0
        for k, v in (("epoch", self.epoch), ("error", E), ("validation_error", math.nan if Ev is None else Ev),
                     ("grad_norm", grad_norm), ("seconds", seconds)):
            self.history[k].append(v)
        self.progress.update(self.epoch, E, Ev)

        if not ((math.isfinite(objective) or not started) and (Ev is None or math.isfinite(Ev))):
            self.stop_reason = "diverged"
            return True
        if self.config.snapshots and self.epoch % self.stride == 0:
            self.snapshots += ((self.epoch, w),)
            if len(self.snapshots) > 2 * self.config.snapshots:
                self.snapshots, self.stride = self.snapshots[::2], 2 * self.stride
        score = objective if Ev is None else Ev
        if score < self.best_score or self.best_w is None:
            self.best_score, self.best_w, self.best_epoch = (score if started else math.inf), w, self.epoch
        if self.epoch and moved and self.config.tol and self.prev_objective is not None:
            change = abs(self.prev_objective - objective) / max(abs(self.prev_objective), np.finfo(float).tiny)
            if change < self.config.tol:
                self.stop_reason = "converged"
        if moved and started:
            self.prev_objective = objective
        if self.config.early_stopping and self.epoch - self.best_epoch >= self.config.early_stopping:
            self.stop_reason = "early stopping"
        state = TrainState(self.index, self.epoch, w, E, Ev, grad_norm, seconds)
        for callback in self.callbacks:
            if callback(state) is True and self.stop_reason is None:
                self.stop_reason = "callback"
        return self.stop_reason is not None

    def mark(self) -> tuple:
        """The bookkeeping at the end of a whole epoch, to go back to if Ctrl-C comes mid-way."""
        return (self.epoch, len(self.history["epoch"]), self.best_score, self.best_w, self.best_epoch,
                self.prev_objective, self.stop_reason, self.snapshots, self.stride)

    def rewind(self, mark: tuple) -> None:
        (self.epoch, n, self.best_score, self.best_w, self.best_epoch, self.prev_objective, self.stop_reason,
         self.snapshots, self.stride) = mark
        for v in self.history.values():
            del v[n:]

    def meta(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "n_params": self.problem.net.n_params,
                "config": self.config.fingerprint(), "epoch": self.epoch, "seed": self.seed,
                "history": self.history, "best_score": self.best_score, "best_epoch": self.best_epoch,
                "prev_objective": self.prev_objective, "snapshot_epochs": [e for e, _ in self.snapshots],
                "stride": self.stride}

    def restore(self, arrays: dict, meta: dict) -> None:
        self.epoch, self.history = meta["epoch"], {k: list(v) for k, v in meta["history"].items()}
        self.best_score, self.best_epoch = meta["best_score"], meta["best_epoch"]
        self.prev_objective = meta["prev_objective"]
        self.best_w = arrays["best_w"]
        self.stride = meta["stride"]
        if meta["snapshot_epochs"]:
            self.snapshots = tuple(zip(meta["snapshot_epochs"], arrays["snapshots"]))
        self.t0 -= self.history["seconds"][-1] if self.history["seconds"] else 0.0

    def spread_snapshots(self, final_w: np.ndarray) -> dict:
        """At most K snapshots spread evenly over the run, ending with the final weights."""
        K, kept = self.config.snapshots, self.snapshots
        if not K or not kept:
            return {"epoch": np.zeros(0, dtype=int), "w": np.zeros((0, self.problem.net.n_params))}
        final_epoch = self.epoch - 1 if self.stop_reason == "diverged" else self.epoch
        if kept[-1][0] != final_epoch:
            kept = kept + ((final_epoch, final_w),)
        pick = np.unique(np.round(np.linspace(0, len(kept) - 1, min(K, len(kept)))).astype(int))
        return {"epoch": np.array([kept[i][0] for i in pick]), "w": np.array([kept[i][1] for i in pick])}

    def due(self) -> bool:
        return self.checkpoint is not None and time.perf_counter() - self.last_save >= self.config.checkpoint_every

    def save(self, arrays: dict, extra_meta: dict) -> None:
        if self.checkpoint is not None:
            if self.snapshots:
                arrays = {**arrays, "snapshots": np.array([w for _, w in self.snapshots])}
            _save_checkpoint(self.checkpoint, {"best_w": self.best_w, **arrays}, {**self.meta(), **extra_meta})
            self.last_save = time.perf_counter()


def _diverged_warning(config: Config, run: _Run) -> None:
    if config.learning_rate is not None:
        advice = (f"learning_rate={config.learning_rate:g} is too large for this problem: try "
                  f"learning_rate={config.learning_rate / 10:g}, or a batch method such as method='scg'")
    else:
        advice = "try standardising the inputs and targets, or weight_decay > 0"
    warnings.warn(
        f"training diverged (restart {run.index}, epoch {run.epoch}, method={config.method!r}): E(w) became "
        f"non-finite; returning the best weights seen, from epoch {run.best_epoch}. {advice}",
        TrainingWarning, stacklevel=4,
    )


def _train_one(net, X, T, val, config: Config, index: int, seed_seq: np.random.SeedSequence,
               callbacks, checkpoint: Optional[Path], resume: Optional[Path], show_progress: bool,
               fast: bool = False, use_compiled: bool = False) -> dict:
    """One restart from the initial weights that ``seed_seq`` draws. Returns a plain dict (it may cross processes)."""
    problem = Objective(net, X, T, config.weight_decay, compiled=use_compiled)
    rng = np.random.default_rng(seed_seq)
    seed = int(seed_seq.generate_state(1)[0])
    w = net.init(seed=rng).astype(X.dtype)
    progress = _Progress(show_progress, config.epochs, f"restart {index}" if index else "training")
    run = _Run(problem, val, config, index, seed, callbacks, checkpoint, progress)
    arrays = meta = None
    if resume is not None and resume.exists():
        arrays, meta = _load_checkpoint(resume, net, config)
        w = arrays["w"]
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if config.method in SCIPY_METHODS:
                loop = scipy_loop
            elif fast:
                loop = compiled_loop
            else:
                loop = step_loop
            final_w = loop(problem, config, run, w, rng, arrays, meta)
    finally:
        progress.close()
    if run.stop_reason == "diverged":
        _diverged_warning(config, run)
    best_w = run.best_w
    E, objective = problem.value(best_w)
    beta = None
    if net.layers[net.output].activation.name == "linear":
        beta = problem.N * net.K / (2.0 * E) if E > 0 else math.inf  # 1/beta_ML = 2E/(NK) (PRML 5.17)
    return {"index": index, "seed": seed, "w": best_w, "error": E, "objective": objective, "beta": beta,
            "validation_error": run.validation_error(best_w), "epochs": run.epoch, "stop_reason": run.stop_reason,
            "history": {k: np.asarray(v, dtype=float if k != "epoch" else int) for k, v in run.history.items()},
            "snapshots": run.spread_snapshots(final_w), "engine": ("compiled" if loop is compiled_loop
                                                           else "compiled evaluation" if problem._kernel
                                                           else "buffered" if problem._buffers else "python")}


# -- the public entry point --------------------------------------------------


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
        (scaled conjugate gradients), ``"gd"`` (batch gradient descent),
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
        mini-batch methods, whose error is noisy.
    weight_decay : float
        lambda in E + lambda/2 w^T w over the weights, not the biases
        (PRML 5.112). The optimiser minimises the sum; ``error`` and
        ``penalty`` report the two parts apart.
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
        Restarts run in parallel through joblib; inside
        ``joblib.parallel_config(backend="dask")`` they run on a Dask cluster.
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
        Continue from a checkpoint: for gd, sgd, momentum, adam and scg the
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
    compiled : bool
        Use the fast paths for a layered network (each layer fed by the one
        before, no masks). Small layers (at most 800 weights between two):
        trained by gd, sgd, momentum or adam with no validation, callbacks,
        checkpoints or snapshots, whole epochs run compiled
        (:mod:`deltaprop.compiled`), in the data's dtype; otherwise the
        whole-data error and gradient are compiled (float64). Wider layers,
        and whatever the compiled path leaves: every evaluation is matrix
        products into buffers allocated once (:mod:`deltaprop.buffered`).
        Same result as the Python engine, to rounding; False runs the Python
        engine alone.

    Returns
    -------
    TrainResult
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a deltaprop Network; got {type(net).__name__}")
    float32 = getattr(X, "dtype", None) == np.float32 and getattr(T, "dtype", None) == np.float32
    dtype = np.float32 if float32 else np.float64  # float32 data trains in float32; anything else in float64
    _, X, T = check_data(net, np.zeros(net.n_params, dtype=dtype), X, T)
    X, T = np.asarray(X, dtype=dtype), np.asarray(T, dtype=dtype)
    restarts = _positive_int("restarts", restarts)
    seed_seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    split_seq, *restart_seqs = seed_seq.spawn(restarts + 1)
    X, T, Xv, Tv = _split(net, X, T, validation, split_seq)
    config = _config(method, X.shape[0], epochs, max_iter, learning_rate, batch_size, momentum, nesterov, tol,
                     weight_decay, early_stopping, Xv is not None, checkpoint_every, snapshots, history)
    callbacks = list(callbacks) if callbacks else []
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables taking a TrainState; got {cb!r}")
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    resume = Path(resume) if resume is not None else None
    if resume is not None:
        paths = [_restart_path(resume, r, restarts) for r in range(restarts)]
        if not any(p.exists() for p in paths):
            raise FileNotFoundError(f"no checkpoint to resume from at {paths[0] if restarts == 1 else resume}")
        if checkpoint is None:
            checkpoint = resume
    if progress is None:
        progress = sys.stderr.isatty()
    fast = compiled and fastpath.applies(net, config, Xv is not None, callbacks, checkpoint, resume)
    val = None if Xv is None else (Xv, Tv)

    jobs = [
        (net, X, T, val, config, r, restart_seqs[r], callbacks, _restart_path(checkpoint, r, restarts),
         _restart_path(resume, r, restarts), bool(progress) and restarts == 1, fast, bool(compiled))
        for r in range(restarts)
    ]
    outcomes = _run_restarts(jobs, n_jobs, scheduler, bool(progress) and restarts > 1)
    return _result(net, config, outcomes, Xv is not None)


def _run_restarts(jobs: list, n_jobs: Optional[int], scheduler: Optional[str], show_progress: bool) -> list[dict]:
    if len(jobs) == 1 and scheduler is None:
        return [_train_one(*jobs[0])]
    import joblib

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            from distributed import Client

            stack.enter_context(Client(scheduler))
            stack.enter_context(joblib.parallel_config(backend="dask"))
        progress = _Progress(show_progress, len(jobs), "restarts")
        stack.callback(progress.close)
        outcomes: list[dict] = []
        results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            joblib.delayed(_train_one)(*job) for job in jobs
        )
        try:
            for outcome in results:
                outcomes.append(outcome)
                progress.update(len(outcomes), min(o["error"] for o in outcomes), None)
                if outcome["stop_reason"] == "interrupted":
                    break
        except KeyboardInterrupt:
            if not outcomes:
                raise
            for o in outcomes:
                o["stop_reason"] = o["stop_reason"] or "interrupted"
        finally:
            with contextlib.suppress(Exception):
                results.close()
    return sorted(outcomes, key=lambda o: o["index"])


def _result(net: Network, config: Config, outcomes: list[dict], has_validation: bool) -> TrainResult:
    key = (lambda o: o["validation_error"]) if has_validation else (lambda o: o["objective"])
    best = min(outcomes, key=key)
    summaries = [Restart(o["index"], o["seed"], o["error"], o["validation_error"], o["epochs"], o["stop_reason"])
                 for o in outcomes]
    return TrainResult(w=best["w"], error=best["error"], penalty=best["objective"] - best["error"], beta=best["beta"],
                       validation_error=best["validation_error"], history=best["history"],
                       stop_reason=best["stop_reason"], restarts=summaries, best_restart=best["index"],
                       method=config.method, network=net, snapshots=best["snapshots"], engine=best["engine"])

