"""The fused loop of lbfgs: whole chunks of L-BFGS iterations in one compiled call (``run_lbfgs``), each a
direction by the two-loop recursion and a line search (``deltaprop.optimize.lbfgs``) between evaluations of
``deltaprop.fast.kernels``, with the rules of ``deltaprop.training.rules`` as ``fused.run_epochs`` applies them.
This module imports Numba; ``deltaprop.training.loops`` imports it when lbfgs is first fused.
"""

from __future__ import annotations

from collections import namedtuple

import numba as nb
import numpy as np

from ..fast.kernels import COLUMNS_FROM, JIT, _evaluate_columns, _gather_columns, check_codes, evaluate, work
from ..fixed_order import dot
from ..optimize.lbfgs import (CONVERGENCE, EPS, ERROR, FG, MAX_EVALUATIONS, START, STATE_SIZE, STEP_MAX,
                              TOLERANCE_AFTER, WARNING, line_search, two_loop)
from .fused import _decay, converged, diverged, fell_little, improved


#: L-BFGS's state between fused calls (``run_lbfgs``): its pairs (rows of S and Y, rho = 1 / s^T y), ``counts``
#: (the newest pair's row, the pairs held, the iterations so far; -1 before the first evaluation), ``values``
#: (theta, the objective and E at w) and the objective's gradient g at w.
Memory = namedtuple("Memory", "S Y rho counts values g")


#: The scratch and the place of one chunk of ``advance``'s steps between its returns (``steps``): x0, g0 and d (the
#: iterate, the gradient and the direction of the line search), the search's state, and its numbers in ``ints``
#: (at ``PHASE`` .. ``ITERATED``) and ``reals`` (at ``AT_F`` .. ``AT_THETA``).
Steps = namedtuple("Steps", "x0 g0 d search ints reals")
PHASE, EPOCH, EVALUATIONS, TASK, BEST_E, CODE, DONE, NEWEST, COUNT, ITERATED = range(10)
AT_F, AT_E, AT_F0, AT_E0, AT_GD0, AT_GD, AT_STP, AT_BEST, AT_PREV, AT_START, AT_THETA = range(11)
#: Where ``advance`` takes up its work: a new chunk, E at w0, an iteration, a direction, the line search, E at
#: the search's trial step, done.
NEW, INITIAL, ITERATION, DIRECTION, SEARCH, EVALUATED, FINISHED = range(7)


@nb.njit(**JIT)
def steps(P):
    """A ``Steps`` for a chunk of ``advance``'s iterations on P weights."""
    ints = np.zeros(10, dtype=np.int64)
    ints[PHASE] = NEW
    return Steps(np.empty(P), np.empty(P), np.empty(P), np.empty(STATE_SIZE), ints, np.zeros(11))


@nb.njit(**JIT)
def run_lbfgs(w, X, T, spec, lam, decay, iterations, memory, stops, best_w, histories, last):
    """Up to ``iterations`` iterations of L-BFGS from w (updated in place) by ``advance``, each evaluation made in the
    same compiled call by the compiled kernels. Returns (iterations done, previous objective, best objective, the
    iteration of this call that gave it (-1: none), stop code, start) (``outcome``)."""
    sizes, acts, out = spec
    check_codes(acts, out)
    N = X.shape[0]
    A, Z, Dl, a, z, d, R, Xc, acc, terms = work(sizes, N, w)
    everyone = np.arange(N)
    columns = N >= COLUMNS_FROM
    if columns:  # every evaluation takes all the rows: their inputs laid out once per call
        _gather_columns(X, everyone, Xc)
    at = steps(w.size)
    advance(w, lam, decay, iterations, memory, stops, best_w, histories, last, at, 0.0,
            (X, T, everyone, sizes, acts, out, A, Z, Dl, a, z, d, R, Xc, acc, terms, columns), True)
    return outcome(at)


@nb.njit(**JIT)
def outcome(at):
    """What a finished chunk of ``advance``'s steps returns: (iterations done, previous objective, best objective,
    the iteration of this chunk that gave it (-1: none), stop code, start): stop code 0 ran them all, 1 converged,
    2 diverged, 3 the line search failed from steepest descent (the iterate is the last one accepted)."""
    ints, reals = at.ints, at.reals
    return ints[DONE], reals[AT_PREV], reals[AT_BEST], ints[BEST_E], ints[CODE], reals[AT_START]


@nb.njit(**JIT)
def advance(w, lam, decay, iterations, memory, stops, best_w, histories, last, at, E_at_w, kernel, compiled):
    """Up to ``iterations`` iterations of L-BFGS from w (updated in place), each a direction by the two-loop
    recursion and a line search (``deltaprop.optimize.lbfgs``: SciPy's L-BFGS-B without bounds, compiled), on
    E + sum_i lam/2 decay_i w_i^2 (PRML 5.112). Where E and its gradient are needed at w, ``compiled``: by the
    compiled kernels on ``kernel`` (the data and work arrays, as ``run_lbfgs`` lays them out), and on; else by
    reverse communication: return True, and the caller puts the gradient in ``memory.g`` and calls again with E as
    ``E_at_w`` (``kernel`` unused). False: the chunk is done (``outcome``). ``at`` (``steps``) keeps the place
    between calls, so that ``run_lbfgs`` and ``deltaprop.training.loops``, whose evaluator shares the rows among
    threads, take the same steps, to the bit, from the same evaluations.

    ``memory`` (a ``Memory``) carries the pairs, theta, the objective and its gradient between chunks; ``stops``
    and ``best_w`` as ``run_epochs``, whose rules apply after every iteration, and then L-BFGS-B's own: the
    objective fell by at most tol max(|f_old|, |f|, 1) (not after the last iteration of the run, ``last``, where
    the iteration limit is what stopped it, as in SciPy), or g = 0. Neither tolerance is tested in a run's first
    ``TOLERANCE_AFTER`` iterations (unlike SciPy: ``deltaprop.optimize.lbfgs`` says why), where only an iteration
    that did not lower the objective at all ends the run. Row e of the histories is iteration e + 1.
    """
    S, Y, rho, counts, values, g = memory
    x0, g0, d, search, ints, reals = at
    E_hist, obj_hist, gn_hist, _ = histories
    X, T, rows, sizes, acts, out, A, Z, Dl, a1, z1, d1, R, Xc, acc, terms, columns = kernel
    tol = stops[0]
    P = w.size
    m = S.shape[0]
    phase = ints[PHASE]
    given = phase != NEW  # E_at_w is E at w
    if phase == NEW:
        e, evaluations, task, best_e, code, done = 0, 0, ERROR, -1, 0, 0
        newest, count, iterated = counts[0], counts[1], counts[2]
        theta, f, E = values[0], values[1], values[2]
        f0, E0, gd0, gd, stp = 0.0, 0.0, 0.0, 0.0, 0.0
        prev, best, start = stops[1], stops[2], stops[3]
        phase = INITIAL if iterated < 0 else ITERATION
    else:
        e, evaluations, task, best_e = ints[EPOCH], ints[EVALUATIONS], ints[TASK], ints[BEST_E]
        code, done, newest, count, iterated = ints[CODE], ints[DONE], ints[NEWEST], ints[COUNT], ints[ITERATED]
        f, E, f0, E0 = reals[AT_F], reals[AT_E], reals[AT_F0], reals[AT_E0]
        gd0, gd, stp = reals[AT_GD0], reals[AT_GD], reals[AT_STP]
        best, prev, start, theta = reals[AT_BEST], reals[AT_PREV], reals[AT_START], reals[AT_THETA]
    ask = False
    while True:
        if phase == INITIAL or phase == EVALUATED:  # E and its gradient at w, then on
            if not given:
                if not compiled:
                    ask = True
                    break
                E_at_w = _evaluate_columns(w, X, T, rows, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms, True) \
                    if columns else evaluate(w, X, T, rows, sizes, acts, out, g, A, Z, Dl, a1, z1, d1, R, Xc, acc,
                                             terms)
            given = False
            E = E_at_w
            f = _decay(w, lam, decay, 1.0, g, E)
            if phase == INITIAL:
                iterated = 0
                phase = ITERATION
            else:
                evaluations += 1
                gd = dot(g, d, P)
                stp, task = line_search(f, gd, stp, task, search, STEP_MAX)
                phase = SEARCH
        if phase == ITERATION:
            if e >= iterations:
                break
            f0, E0 = f, E
            x0[:] = w
            g0[:] = g
            phase = DIRECTION
        if phase == DIRECTION:
            if count == 0:
                for i in range(P):
                    d[i] = -g[i]
            else:
                two_loop(g, S, Y, rho, newest, count, theta, d)
            gd0 = dot(g, d, P)
            stp = min(1.0 / np.sqrt(dot(d, d, P)), STEP_MAX) if iterated == 0 and count == 0 else 1.0
            gd = gd0
            task = ERROR
            if gd0 < 0.0:
                stp, task = line_search(f, gd0, stp, START, search, STEP_MAX)
                evaluations = 0
            phase = SEARCH
        # SEARCH
        if task == FG and evaluations < MAX_EVALUATIONS:
            for i in range(P):
                w[i] = x0[i] + stp * d[i]
            phase = EVALUATED
            continue
        if not (task == CONVERGENCE or task == WARNING):  # a failed line search: again from steepest descent, once
            w[:] = x0
            g[:] = g0
            f, E = f0, E0
            if count == 0:
                code = 3
                break
            count, theta = 0, 1.0
            phase = DIRECTION
            continue
        iterated += 1
        done = e + 1
        gn = np.sqrt(dot(g, g, P))
        E_hist[e], obj_hist[e], gn_hist[e] = E, f, gn
        if start != start:
            start = f
        if diverged(f, start):
            code = 2
            break
        if improved(f, best):
            best, best_e = f, e
            best_w[:] = w
        limit = last and e == iterations - 1  # where the iteration limit, not L-BFGS-B's test, ends the run
        if gn == 0.0 or (not limit and fell_little(f0, f, 0.0)) or (iterated > TOLERANCE_AFTER and (
                converged(prev, f, tol) or (not limit and fell_little(f0, f, tol)))):
            code = 1
            break
        prev = f
        dr, ddum = (gd - gd0) * stp, -gd0 * stp
        if dr > EPS * ddum:  # L-BFGS-B skips a pair whose curvature s^T y is not positive
            newest = (newest + 1) % m
            rr = 0.0
            for i in range(P):
                y = g[i] - g0[i]
                S[newest, i] = stp * d[i]
                Y[newest, i] = y
                rr += y * y
            rho[newest] = 1.0 / dr
            theta = rr / dr
            count = min(count + 1, m)
        e += 1
        phase = ITERATION
    if not ask:
        phase = FINISHED
        counts[0], counts[1], counts[2] = newest, count, iterated
        values[0], values[1], values[2] = theta, f, E
    ints[PHASE], ints[EPOCH], ints[EVALUATIONS], ints[TASK], ints[BEST_E] = phase, e, evaluations, task, best_e
    ints[CODE], ints[DONE], ints[NEWEST], ints[COUNT], ints[ITERATED] = code, done, newest, count, iterated
    reals[AT_F], reals[AT_E], reals[AT_F0], reals[AT_E0] = f, E, f0, E0
    reals[AT_GD0], reals[AT_GD], reals[AT_STP] = gd0, gd, stp
    reals[AT_BEST], reals[AT_PREV], reals[AT_START], reals[AT_THETA] = best, prev, start, theta
    return ask
