"""One restart: its bookkeeping (history, best weights, the stopping rules of ``rules``,
checkpoints, progress) and ``train_one``, which runs one loop of ``loops`` from one seed."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from . import rules
from .checkpoints import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, load_checkpoint, save_checkpoint
from ..engine.network import Network
from .config import Config
from .loops import LOOPS, choose_loop
from .objective import Objective
from .result import Pairs, TrainState


class Progress:
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


class Run:
    """The bookkeeping of one restart: history, best weights, stopping rules, checkpoints."""

    def __init__(self, problem: Objective, config: Config, index: int, seed: int,
                 callbacks: Sequence[Callable], checkpoint: Optional[Path], progress: Progress,
                 stop_file: Optional[str] = None):
        self.problem, self.config, self.index, self.seed = problem, config, index, seed
        self.stop_file = stop_file
        self.callbacks, self.checkpoint, self.progress = callbacks, checkpoint, progress
        self.history = {k: [] for k in ("epoch", "error", "validation_error", "grad_norm", "seconds")}
        self.epoch = 0
        self.best_w: Optional[np.ndarray] = None
        self.best_values: Optional[tuple] = None  # (E, objective) at best_w where a fused loop's history has them
        self.best_score = math.inf
        self.best_epoch = 0
        self.prev_objective: Optional[float] = None
        self.tolerance_from = 0  # the epoch after which ``converged`` is tested (lbfgs: ``scipy_loop`` sets it)
        self.t0 = time.perf_counter()
        self.last_save = time.perf_counter()
        self.stop_reason: Optional[str] = None
        self.chunks: list[tuple] = []  # the fused loop's epochs: (E, grad_norm, (start, seconds, epochs))
        self.chunk_start = 0  # the first chunk's first epoch
        self.start_objective = math.nan  # the first objective recorded: what divergence is measured against
        self.snapshots: tuple = ()  # (epoch, w) every `stride` epochs, thinned to at most 2K as the run goes on
        self.stride = 1
        self.pairs_in: Optional[Pairs] = None  # lbfgs's curvature pairs to start from (``train(init=result)``)
        self.pairs: Optional[Pairs] = None  # and those at the end, where the fused loop ran it

    def record(self, w: np.ndarray, moved: bool = True, values: Optional[tuple] = None) -> bool:
        """Log epoch ``self.epoch`` at w; return True when training should stop.

        With history="running", each epoch logs the sums of its batches' errors
        (Objective.take_running) instead of making one more pass over the data; epoch 0,
        before any batch, logs NaN, and the gradient norm is NaN throughout. ``values``:
        (E, objective, gradient norm) at w where the caller has them (a fused loop's first
        evaluation), instead of one more pass.
        """
        self.check_stop()
        started = self.config.history != "running" or self.epoch > 0
        if values is not None:
            E, objective, grad_norm = values
        elif self.config.history == "running":
            E, objective = self.problem.take_running() if started else (math.nan, math.nan)
            grad_norm = math.nan
        else:
            E, objective, g = self.problem.full(w)
            grad_norm = float(np.sqrt(g @ g))
        Ev = self.problem.validation_error(w)
        seconds = time.perf_counter() - self.t0
        for k, v in (("epoch", self.epoch), ("error", E), ("validation_error", math.nan if Ev is None else Ev),
                     ("grad_norm", grad_norm), ("seconds", seconds)):
            self.history[k].append(v)
        self.progress.update(self.epoch, E, Ev)

        if started and math.isnan(self.start_objective):
            self.start_objective = objective
        if (started and rules.diverged(objective, self.start_objective)) or (Ev is not None and not math.isfinite(Ev)):
            self.stop_reason = "diverged"
            return True
        if self.config.snapshots and self.epoch % self.stride == 0:
            self.snapshots += ((self.epoch, w),)
            if len(self.snapshots) > 2 * self.config.snapshots:
                self.snapshots, self.stride = self.snapshots[::2], 2 * self.stride
        score = objective if Ev is None else Ev
        if self.best_w is None or rules.improved(score, self.best_score):
            self.best_score, self.best_w, self.best_epoch = (score if started else math.inf), w, self.epoch
            self.best_values = None
        if self.epoch > self.tolerance_from and moved and self.prev_objective is not None and \
                rules.converged(self.prev_objective, objective, self.config.tol):
            self.stop_reason = "converged"
        if moved and started:
            self.prev_objective = objective
        if rules.patience_exhausted(self.epoch, self.best_epoch, self.config.early_stopping or 0):
            self.stop_reason = "early stopping"
        state = TrainState(self.index, self.epoch, w, E, Ev, grad_norm, seconds)
        for callback in self.callbacks:
            if callback(state) is True and self.stop_reason is None:
                self.stop_reason = "callback"
        return self.stop_reason is not None

    def check_stop(self) -> None:
        """Raise KeyboardInterrupt, as Ctrl-C would, once the caller has asked the restarts to stop
        (after epoch 0 is logged: a restart that began has a history and weights to return)."""
        if self.stop_file is not None and (self.history["epoch"] or self.chunks) and os.path.exists(self.stop_file):
            raise KeyboardInterrupt

    def record_chunk(self, done: int, E: np.ndarray, grad_norm: np.ndarray, seconds: tuple,
                     best: float, best_in_chunk: int, best_w: np.ndarray, code: int, start: float) -> None:
        """Log ``done`` epochs that the fused loop ran, which applied the rules itself (``fused.run_epochs``):
        E and the gradient norm of each (kept as the views they are: the loop gives each chunk its own part of
        one array), ``seconds`` (the chunk's start and its time: each epoch's share of it), the best objective
        and where in the chunk it was (-1: not in this chunk), and its stop code. ``history_arrays`` joins the
        chunks once, at the end: no list of floats, no array per chunk beyond these."""
        if not self.chunks:
            self.chunk_start = self.epoch + 1
        self.chunks.append((E[:done], grad_norm[:done], seconds))
        if best_in_chunk >= 0:
            self.best_score, self.best_epoch, self.best_w = best, self.epoch + best_in_chunk + 1, best_w
            self.best_values = None  # the caller sets them where its history is exact
        self.epoch += done
        self.start_objective = start
        self.stop_reason = {1: "converged", 2: "diverged"}.get(code)
        self.progress.update(self.epoch, float(E[done - 1]), None)

    def last_seconds(self) -> float:
        """The time of the last epoch logged."""
        if self.chunks:
            began, elapsed, done = self.chunks[-1][2]
            return began + elapsed * done / done  # the last epoch's seconds in ``history_arrays``
        return self.history["seconds"][-1]

    def history_arrays(self) -> dict:
        """The history as arrays, one per key: the epochs logged one by one, then the fused loop's chunks (their
        epochs follow one another from ``chunk_start``), each key's array made once and filled in place."""
        h, n = self.history, len(self.history["epoch"])
        if not self.chunks:
            return {k: np.asarray(v, dtype=int if k == "epoch" else float) for k, v in h.items()}
        total = n + sum(c[0].size for c in self.chunks)
        error, grad_norm, seconds = np.empty(total), np.empty(total), np.empty(total)
        error[:n], grad_norm[:n], seconds[:n] = h["error"], h["grad_norm"], h["seconds"]
        at = n
        for E, gn, (began, elapsed, done) in self.chunks:
            error[at:at + done], grad_norm[at:at + done] = E, gn
            seconds[at:at + done] = began + elapsed * np.arange(1, done + 1) / done
            at += done
        first = self.chunk_start
        if h["epoch"] == list(range(first - n, first)):  # as the fused loops log them: 0 to first - 1 one by one
            epoch = np.arange(first - n, first - n + total)
        else:
            epoch = np.concatenate([np.asarray(h["epoch"], dtype=int), np.arange(first, first + total - n)])
        validation = np.full(total, math.nan)
        validation[:n] = h["validation_error"]
        return {"epoch": epoch, "error": error, "validation_error": validation, "grad_norm": grad_norm,
                "seconds": seconds}

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
                "prev_objective": self.prev_objective, "start_objective": self.start_objective,
                "snapshot_epochs": [e for e, _ in self.snapshots],
                "stride": self.stride}

    def restore(self, arrays: dict, meta: dict) -> None:
        self.epoch, self.history = meta["epoch"], {k: list(v) for k, v in meta["history"].items()}
        self.best_score, self.best_epoch = meta["best_score"], meta["best_epoch"]
        self.prev_objective = meta["prev_objective"]
        self.start_objective = meta.get("start_objective", math.nan)
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
            save_checkpoint(self.checkpoint, {"best_w": self.best_w, **arrays}, {**self.meta(), **extra_meta})
            self.last_save = time.perf_counter()


@dataclass(frozen=True)
class Job:
    """What one restart needs: the network, the data, the options, its place among the restarts and its seed;
    where it checkpoints and resumes; whether it shows progress; the backend (None: the fastest); a start."""

    net: Network
    X: np.ndarray
    T: np.ndarray
    validation: Optional[tuple]
    config: Config
    index: int
    seed_seq: np.random.SeedSequence
    callbacks: Sequence[Callable] = ()
    checkpoint: Optional[Path] = None
    resume: Optional[Path] = None
    progress: bool = False
    backend: Optional[str] = None
    init: Optional[np.ndarray] = None
    pairs: Optional[Pairs] = None


@dataclass
class Outcome:
    """What one restart gives back (it may cross processes): its best weights and their E, objective, beta_ML and
    validation error; the epochs it ran, why it stopped and when its best was; its history, snapshots, and the
    backend and loop that ran it."""

    index: int
    seed: int
    w: np.ndarray
    error: float
    objective: float
    beta: Optional[float]
    validation_error: Optional[float]
    epochs: int
    stop_reason: Optional[str]
    best_epoch: int
    history: dict
    snapshots: dict
    engine: str
    loop: str
    pairs: Optional[Pairs] = None


def train_one(job: Job, stop_file: Optional[str] = None) -> Optional[Outcome]:
    """One restart from the initial weights that ``job.seed_seq`` draws, or None if ``stop_file`` exists before it
    begins (``restarts.StopFlag``)."""
    if stop_file is not None and os.path.exists(stop_file):
        return None
    net, X, T, config = job.net, job.X, job.T, job.config
    problem = Objective(net, X, T, config.prior, job.backend, job.validation)
    rng = np.random.default_rng(job.seed_seq)
    seed = int(job.seed_seq.generate_state(1)[0])
    w = net.init(seed=rng).astype(X.dtype, copy=False)  # drawn even with ``init``, so that the data order is the same
    if job.init is not None:
        w = job.init.astype(X.dtype)
    progress = Progress(job.progress, config.epochs, f"restart {job.index}" if job.index else "training")
    run = Run(problem, config, job.index, seed, job.callbacks, job.checkpoint, progress, stop_file)
    run.pairs_in = job.pairs
    arrays = meta = None
    if job.resume is not None and job.resume.exists():
        arrays, meta = load_checkpoint(job.resume, net, config)
        w = arrays["w"]
    loop = choose_loop(config, problem, job.validation is not None, job.callbacks, job.checkpoint, job.resume)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            final_w = LOOPS[loop](problem, config, run, w, rng, arrays, meta)
    finally:
        progress.close()
    if run.stop_reason == "interrupted" and stop_file is not None and os.path.isdir(os.path.dirname(stop_file)):
        # Ctrl-C reached this worker (a terminal signals the whole process group): say so to the restarts
        # that would begin next, before the caller, perhaps slower, makes the same file
        open(stop_file, "a").close()
    best_w = run.best_w
    E, objective = run.best_values if run.best_values is not None and run.best_w is best_w else problem.value(best_w)
    beta = None
    if net.layers[net.output].activation.name == "linear":
        beta = problem.N * net.K / (2.0 * E) if E > 0 else math.inf  # 1/beta_ML = 2E/(NK) (PRML 5.17)
    return Outcome(job.index, seed, best_w, E, objective, beta, problem.validation_error(best_w), run.epoch,
                   run.stop_reason, run.best_epoch, run.history_arrays(), run.spread_snapshots(final_w),
                   problem.engine, loop,
                   run.pairs if run.pairs is not None and (best_w is final_w or np.array_equal(best_w, final_w)) else None)
