"""The loops of one restart: step rules epoch by epoch in Python (``step_loop``), whole chunks of
epochs compiled (``fused_loop``), and SciPy's minimize (``scipy_loop``); each records every epoch in
the restart's bookkeeping (``restart.Run``) and stops on its rules, on Ctrl-C (KeyboardInterrupt),
or at the epoch limit. ``choose_loop`` decides which runs, in one place.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..fast.blas import one_thread
from ..optimize import SCIPY_METHODS, Adam, make_optimizer
from . import rules
from .result import Pairs

#: The step rules the fused loop knows, by their codes in ``fused.run_epochs``.
FUSED_METHODS = {"gd": 0, "sgd": 0, "momentum": 1, "adam": 2}


def choose_loop(config, problem, has_validation: bool, callbacks, checkpoint, resume) -> str:
    """"fused" where the fused loop gives what the step loop or SciPy gives (the compiled backend, a step
    rule or lbfgs on float64 data, and nothing that needs Python between epochs: validation, callbacks,
    checkpoints, snapshots, early stopping); "scipy" for SciPy's methods otherwise; else "steps"."""
    python_between_epochs = (has_validation or callbacks or checkpoint or resume or config.snapshots
                             or config.early_stopping)
    fusable = problem.engine == "compiled" and not python_between_epochs
    if config.method == "lbfgs" and fusable and problem.X.dtype == np.float64:
        return "fused"
    if config.method in SCIPY_METHODS:
        return "scipy"
    if fusable and config.method in FUSED_METHODS:
        return "fused"
    return "steps"


def _split_state(state: dict) -> tuple[dict, dict]:
    arrays = {f"state.{k}": v for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    return arrays, scalars


def _join_state(arrays: dict, scalars: dict) -> dict:
    state = dict(scalars)
    state.update({k[len("state."):]: v for k, v in arrays.items() if k.startswith("state.")})
    return state


#: Seconds a fused chunk aims at: long enough that the calls' own costs (the permutations, the call, the
#: record) vanish, short enough for the progress line and Ctrl-C (which waits for the chunk to end).
CHUNK_SECONDS = 0.2


def next_chunk(chunk: int, seconds_per_epoch: float) -> int:
    """Epochs for the next fused call: those that fill ``CHUNK_SECONDS`` at the last call's pace, at most 16
    times the last chunk (the first call also loads or compiles the kernels, and one epoch's time can mislead)."""
    return max(1, min(16 * chunk, int(CHUNK_SECONDS / max(seconds_per_epoch, 1e-9))))


def fused_loop(problem, config, run, w, rng, arrays, meta) -> np.ndarray:
    """gd, sgd, momentum and adam with whole chunks of epochs in one compiled call (``fused.run_epochs``);
    lbfgs with whole chunks of iterations (``fused_lbfgs``)."""
    if config.method == "lbfgs":
        return fused_lbfgs(problem, config, run, w)
    from ..fast.kernels import kernel_spec
    from .fused import Histories, Rule, Stops, run_epochs

    N = problem.N
    spec = kernel_spec(problem.net)
    batch = N if config.method == "gd" else config.batch_size
    adam = Adam(config.learning_rate, batch, N)  # for its constants: the kernel's Adam is this one
    rule = Rule(FUSED_METHODS[config.method], config.learning_rate, config.momentum, config.nesterov, adam.beta1,
                adam.beta2, adam.eps, problem.weight_decay, batch)
    w0, w = w, w.copy()  # the kernel steps w in place; the record keeps epoch 0's weights
    v, m, t = np.zeros_like(w), np.zeros_like(w), 0
    best_w = w.copy()
    exact, none, at_best = config.history == "exact", np.empty(0), None
    # E at w0 and at the best weights by the loop itself, on one thread, where the evaluator would use one too;
    # where it shares parts of the rows among cores, it is quicker (1e6 rows of 8-20-1: 0.24 against 0.19 s)
    inline = not rows_on_threads(N)

    def chunk(k: int, E_h, obj_h, gn_h, at_start=none) -> tuple:
        nonlocal t, prev, at_best
        # k rows each shuffled in turn: the same draws, in the same order, as k calls of rng.permutation(N)
        perms = rng.permuted(np.tile(np.arange(N), (k, 1)), axis=1) if batch < N else np.zeros((k, 1), dtype=np.int64)
        ends = np.empty(2) if inline and not exact and k and run.epoch + k >= config.epochs else none
        done, t, prev, best, best_in_chunk, code, first = run_epochs(
            w, problem.X, problem.T, spec, rule, problem.decay, perms, v, m, t,
            Stops(config.tol, prev, run.best_score, run.start_objective), best_w, Histories(E_h, obj_h, gn_h, exact),
            at_start, ends)
        at_best = ends if ends.size else None
        return done, best, best_in_chunk, code, first

    prev = math.nan
    if exact and inline:  # epoch 0 from the kernel's evaluation at w0, without an evaluator made for it in Python
        start = np.empty(2 + w.size)
        chunk(0, *(none,) * 3, at_start=start)
        g = start[2:].astype(w.dtype)
        run.record(w0, values=(float(start[0]), float(start[1]), float(np.sqrt(g @ g))))
    else:
        run.record(w0)
    prev = math.nan if run.prev_objective is None else run.prev_objective
    _run_chunks(run, config, best_w, chunk, exact)
    if at_best is not None and run.best_w is best_w and run.stop_reason != "interrupted":
        run.best_values = (float(at_best[0]), float(at_best[1]))
    return w


def rows_on_threads(N: int) -> bool:
    """Whether the compiled evaluator shares N rows among the cores (in parts of ``kernels.PART_ROWS``), and so
    evaluates all of them quicker than a fused loop's own evaluation on one thread."""
    from ..fast.compiled import cores
    from ..fast.kernels import PART_ROWS

    return N > PART_ROWS and cores() > 1


#: Epochs of history one tape holds: the chunks' E, objective and gradient norm are written into parts of one
#: array each (TAPE numbers, 0.5 MB) rather than a new array each (fresh memory costs ~1 us a page to touch here).
TAPE = 2**16


def _run_chunks(run, config, best_w: np.ndarray, chunk, exact: bool) -> None:
    """Call ``chunk(k, E, objective, grad_norm)`` for chunks of k epochs, each a compiled call that fills the three
    history arrays and returns (epochs done, best objective, where in the chunk it was, stop code, the run's first
    objective), k sized by ``next_chunk``, until a rule stops the run or its epochs run out; each chunk is recorded
    in ``run``. Ctrl-C (or the restarts' stop) between chunks ends the run as "interrupted". Where the history is
    ``exact`` (E and the objective at each epoch's weights, by the run's one evaluator), the run keeps those of its
    best weights, so that no pass over the data is made again for them at the end; but not after Ctrl-C, which
    Python raises once the compiled call returns: a chunk that moved best_w in place may not have been recorded, and
    E is then evaluated again at the weights returned."""
    size, at, tape = 1, 0, (np.empty(0),) * 3
    try:
        while run.stop_reason is None and run.epoch < config.epochs:
            run.check_stop()
            k = min(size, config.epochs - run.epoch)
            if at + k > tape[0].size:  # each chunk fills the next part of one tape, a new one where it is full
                at, tape = 0, tuple(np.empty(max(k, min(config.epochs - run.epoch, TAPE))) for _ in range(3))
            E_h, obj_h, gn_h = (a[at:at + k] for a in tape)
            start, seconds0 = time.perf_counter(), run.last_seconds()
            done, best, best_in_chunk, code, first = chunk(k, E_h, obj_h, gn_h)
            elapsed = time.perf_counter() - start
            if done:
                run.record_chunk(done, E_h, gn_h, (seconds0, elapsed, done), best, best_in_chunk, best_w, code, first)
                if exact and best_in_chunk >= 0:
                    run.best_values = (float(E_h[best_in_chunk]), float(obj_h[best_in_chunk]))
            at += done
            if code == 3:
                run.stop_reason = "line search failed"
            size = next_chunk(size, elapsed / max(done, 1))
        if run.stop_reason is None:
            run.stop_reason = "max epochs"
    except KeyboardInterrupt:
        run.stop_reason = "interrupted"
        run.best_values = None


def fused_lbfgs(problem, config, run, w) -> np.ndarray:
    """lbfgs with whole chunks of iterations in one compiled call (``fused_lbfgs.run_lbfgs``): the steps of SciPy's
    L-BFGS-B (``deltaprop.optimize.lbfgs``) without a return to Python between evaluations. Where the rows come in
    several parts (``deltaprop.fast.kernels.PART_ROWS``) and the process has several cores, the same steps
    (``fused_lbfgs.advance``) take each evaluation from the compiled evaluator, which shares the parts among
    threads (``threaded_lbfgs``): the same iterates, to the bit, in less time. It starts from the curvature pairs
    of ``train(init=result)`` where there are some (``memory_from``), and leaves its own in ``run.pairs``."""
    from ..fast.kernels import kernel_spec
    from ..optimize.lbfgs import MEMORY
    from .fused import Histories, Stops
    from .fused_lbfgs import run_lbfgs

    spec = kernel_spec(problem.net)
    w0, w = w, w.copy()
    decay = problem.weight_decay * problem.decay
    memory = memory_from(run.pairs_in, decay, MEMORY)
    best_w = w.copy()
    steps = threaded_lbfgs(problem.evaluator, w) if rows_on_threads(problem.N) else \
        (lambda *args: run_lbfgs(w, problem.X, problem.T, spec, *args))

    def chunk(k: int, E_h, obj_h, gn_h) -> tuple:
        nonlocal prev
        done, prev, best, best_in_chunk, code, first = steps(
            problem.weight_decay, problem.decay, k, memory, Stops(config.tol, prev, run.best_score,
                                                                  run.start_objective), best_w,
            Histories(E_h, obj_h, gn_h, True), run.epoch + k >= config.epochs)
        return done, best, best_in_chunk, code, first

    prev = math.nan
    chunk(0, *(np.empty(0),) * 3)  # no iteration: E, the objective and g at w0, which epoch 0 logs
    run.record(w0, values=(float(memory.values[2]), float(memory.values[1]), math.sqrt(memory.g @ memory.g)))
    prev = math.nan if run.prev_objective is None else run.prev_objective

    _run_chunks(run, config, best_w, chunk, True)
    if run.stop_reason not in ("interrupted", "diverged"):
        newest, count = int(memory.counts[0]), int(memory.counts[1])
        rows = [(newest - j) % MEMORY for j in range(count - 1, -1, -1)]
        run.pairs = Pairs(memory.S[rows].copy(), memory.Y[rows].copy(), decay.copy())
    return w


def memory_from(pairs, decay: np.ndarray, size: int):
    """L-BFGS's memory (``fused_lbfgs.Memory``) at the start of a run on E + sum_i decay_i/2 w_i^2: empty, or holding
    ``pairs`` (a ``Pairs``, from ``train(init=result)``), each y that of this objective, y + (decay - pairs.decay) s
    (exact: the penalty is quadratic); a pair whose curvature s^T y is then not positive is dropped, as L-BFGS-B
    drops one when it is made (its cosine with s within rounding of 0 or below)."""
    from .fused_lbfgs import Memory

    P = decay.size
    memory = Memory(np.zeros((size, P)), np.zeros((size, P)), np.zeros(size),
                    np.array([size - 1, 0, -1], dtype=np.int64), np.array([1.0, math.nan, math.nan]), np.empty(P))
    if pairs is None or pairs.s.shape[1] != P:
        return memory
    count = 0
    for s, y in zip(pairs.s[-size:], pairs.y[-size:]):
        y = y + (decay - pairs.decay) * s
        sy = float(s @ y)
        if sy > np.finfo(np.float64).eps * math.sqrt(float(s @ s) * float(y @ y)):
            memory.S[count], memory.Y[count], memory.rho[count] = s, y, 1.0 / sy
            memory.values[0] = float(y @ y) / sy  # theta = y^T y / s^T y of the newest pair
            count += 1
    memory.counts[0], memory.counts[1] = count - 1 if count else size - 1, count
    return memory


def threaded_lbfgs(evaluator, w):
    """``run_lbfgs``'s work on w, each evaluation by ``evaluator`` (a ``CompiledEvaluator``, its parts on threads):
    a Python loop over ``fused_lbfgs.advance``, one return to Python per evaluation (a few us against the hundreds
    an evaluation of more than a part's rows takes)."""
    from ..fast.kernels import kernel_spec, work
    from .fused_lbfgs import advance, outcome, steps

    sizes, acts, out = kernel_spec(evaluator.net)
    none = np.zeros(0, dtype=np.int64)  # advance's compiled evaluation is not used: arrays of its types
    A, Z, Dl, a, z, d, R, Xc, acc, terms = work(sizes, 0, w)
    kernel = (evaluator.X[:0], evaluator.T[:0], none, sizes, acts, out, A, Z, Dl, a, z, d, R, Xc, acc, terms, True)

    def chunk(lam, decay, iterations, memory, stops, best_w, histories, last):
        at, E = steps(w.size), 0.0
        while advance(w, lam, decay, iterations, memory, stops, best_w, histories, last, at, E, kernel, False):
            E = evaluator.error_and_gradient(w, g=memory.g)[0]
        return outcome(at)
    return chunk


def step_loop(problem, config, run, w, rng, arrays, meta) -> np.ndarray:
    """Any optimiser of deltaprop.optimize, one epoch per call, with checkpoints: Ctrl-C goes back to
    the last whole epoch, so that a checkpoint written then resumes exactly where an uninterrupted
    run would be."""
    optimizer = make_optimizer(config.method, problem.N, config.learning_rate, config.batch_size,
                               momentum=config.momentum, nesterov=config.nesterov, curvature=problem.gauss_newton)
    if meta is not None:
        state = _join_state(arrays, meta["state"])
        rng.bit_generator.state = meta["rng"]
        run.restore(arrays, meta)
    else:
        state = optimizer.start(problem.fun, w)
        run.record(w)

    def save():
        state_arrays, scalars = _split_state(state)
        run.save({"w": w, **state_arrays}, {"state": scalars, "rng": rng.bit_generator.state})

    committed = (w, state, rng.bit_generator.state, run.mark())
    try:
        save()
        while run.stop_reason is None and run.epoch < config.epochs:
            w_new, state_new = optimizer.epoch(problem.fun, w, state, rng)
            run.epoch += 1
            run.record(w_new, moved=w_new is not w)
            if run.stop_reason == "diverged":
                break
            w, state = w_new, state_new
            if state.get("converged"):
                run.stop_reason = "converged"
            committed = (w, state, rng.bit_generator.state, run.mark())
            if run.stop_reason is not None or run.due():
                save()
        if run.stop_reason is None:
            run.stop_reason = "max epochs"
        save()
    except KeyboardInterrupt:
        w, state, rng.bit_generator.state, mark = committed
        run.rewind(mark)
        problem.take_running()
        run.stop_reason = "interrupted"
        save()
    return w


def scipy_loop(problem, config, run, w, rng, arrays, meta) -> np.ndarray:
    """scipy.optimize.minimize on the whole-data objective, one iteration per epoch (PRML 5.2.4)."""
    from scipy.optimize import minimize

    from ..optimize.lbfgs import TOLERANCE_AFTER

    lbfgs = config.method == "lbfgs"
    if meta is not None:
        run.restore(arrays, meta)
    else:
        run.record(w)
    remaining = config.epochs - run.epoch
    if remaining <= 0:
        run.stop_reason = "max epochs"
        return w
    if lbfgs:  # its tolerances from its TOLERANCE_AFTER + 1-th iteration, as the fused loop's: SciPy's ftol is 0
        run.tolerance_from = run.epoch + TOLERANCE_AFTER
    f_old = math.nan

    def callback(intermediate_result):
        nonlocal w, f_old
        w = np.array(intermediate_result.x)
        run.epoch += 1
        f = float(intermediate_result.fun)
        run.record(w)
        if lbfgs and run.stop_reason is None and run.tolerance_from < run.epoch < config.epochs and \
                rules.fell_little(f_old, f, config.tol):
            run.stop_reason = "converged"  # L-BFGS-B's own test, as SciPy makes it with ftol = tol
        f_old = f
        if run.stop_reason is not None or run.due():
            run.save({"w": w}, {"state": {}})
        if run.stop_reason is not None:
            raise StopIteration

    options = {"maxiter": remaining}
    if lbfgs:
        options.update(ftol=0.0, gtol=0.0, maxfun=10 * remaining + 100)
    else:
        options.update(gtol=0.0)
    try:
        with one_thread(scipy_only=True):  # beside NumPy's pool (fast.blas says why)
            result = minimize(lambda v: problem.full(v)[1:], w, jac=True, method=SCIPY_METHODS[config.method],
                              callback=callback, options=options)
        if run.stop_reason is None:
            if run.epoch >= config.epochs:
                run.stop_reason = "max epochs"
            else:
                run.stop_reason = "converged" if result.success else f"scipy: {result.message}"
    except KeyboardInterrupt:
        run.stop_reason = "interrupted"
    run.save({"w": w}, {"state": {}})
    return w


LOOPS = {"fused": fused_loop, "steps": step_loop, "scipy": scipy_loop}
