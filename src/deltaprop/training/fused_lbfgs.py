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
from ..optimize.lbfgs import (CONVERGENCE, EPS, ERROR, FG, MAX_EVALUATIONS, START, STATE_SIZE, STEP_MAX, WARNING,
                              line_search, two_loop)
from .fused import _decay, converged, diverged, improved


#: L-BFGS's state between fused calls (``run_lbfgs``): its pairs (rows of S and Y, rho = 1 / s^T y), ``counts``
#: (the newest pair's row, the pairs held, the iterations so far; -1 before the first evaluation), ``values``
#: (theta, the objective and E at w) and the objective's gradient g at w.
Memory = namedtuple("Memory", "S Y rho counts values g")


@nb.njit(**JIT)
def run_lbfgs(w, X, T, spec, lam, decay, iterations, memory, stops, best_w, histories, last):
    """Up to ``iterations`` iterations of L-BFGS from w (updated in place), each a direction by the two-loop
    recursion and a line search (``deltaprop.optimize.lbfgs``: SciPy's L-BFGS-B without bounds, compiled),
    on E + sum_i lam/2 decay_i w_i^2 (PRML 5.112), E and its gradient by the compiled kernels: the steps of
    ``iterate``, each evaluation it asks for made here. Returns what ``iterate`` leaves in ``result``: (iterations
    done, previous objective, best objective, the iteration of this call that gave it (-1: none), stop code, start).
    """
    sizes, acts, out = spec
    check_codes(acts, out)
    N = X.shape[0]
    A, Z, Dl, a, z, d, R, Xc, acc, terms = work(sizes, N, w)
    everyone = np.arange(N)
    columns = N >= COLUMNS_FROM
    if columns:  # every evaluation takes all the rows: their inputs laid out once per call
        _gather_columns(X, everyone, Xc)
    g = memory.g
    E, result = np.empty(1), np.empty(6)
    for _ in iterate(w, lam, decay, iterations, memory, stops, best_w, histories, last, E, result):
        E[0] = _evaluate_columns(w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms, True) \
            if columns else evaluate(w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, a, z, d, R, Xc, acc, terms)
    return int(result[0]), result[1], result[2], int(result[3]), int(result[4]), result[5]


@nb.njit(**JIT)
def iterate(w, lam, decay, iterations, memory, stops, best_w, histories, last, E_at_w, result):
    """Up to ``iterations`` iterations of L-BFGS from w (updated in place), each a direction by the two-loop
    recursion and a line search (``deltaprop.optimize.lbfgs``: SciPy's L-BFGS-B without bounds, compiled),
    on E + sum_i lam/2 decay_i w_i^2 (PRML 5.112). Row e of the histories is iteration e + 1.

    A generator: where it needs E and its gradient at w, it yields, and its caller puts E in ``E_at_w[0]`` and
    the gradient in ``memory.g`` before asking for the next step; ``run_lbfgs`` evaluates by the compiled
    kernels in the same compiled call, ``deltaprop.training.loops`` by an evaluator that shares the rows among
    threads: the same iterates, to the bit, from the same evaluations.

    ``memory`` (a ``Memory``) carries the pairs, theta, the objective and its gradient between calls;
    ``stops`` and ``best_w`` as ``run_epochs``, whose rules apply after every iteration, and then
    L-BFGS-B's own: the objective fell by at most tol max(|f_old|, |f|, 1) (not after the last iteration
    of the run, ``last``, where the iteration limit is what stopped it, as in SciPy), or g = 0.
    ``result`` receives (iterations done, previous objective, best objective, the iteration of this call that
    gave it (-1: none), stop code, start): stop code 0 ran them all, 1 converged, 2 diverged, 3 the line search
    failed from steepest descent (the iterate is the last one accepted).
    """
    S, Y, rho, counts, values, g = memory
    tol, prev, best, start = stops
    E_hist, obj_hist, gn_hist, _ = histories
    P = w.size
    m = S.shape[0]
    newest, count, iterated = counts[0], counts[1], counts[2]
    theta, f, E = values[0], values[1], values[2]
    if iterated < 0:
        yield 0
        E = E_at_w[0]
        f = _decay(w, lam, decay, 1.0, g, E)
        iterated = 0
    d, x0, g0, search = np.empty(P), np.empty(P), np.empty(P), np.empty(STATE_SIZE)
    best_e, code, done = -1, 0, 0
    for e in range(iterations):
        f0, E0 = f, E
        x0[:] = w
        g0[:] = g
        while True:  # a failed line search starts again from steepest descent, once
            if count == 0:
                for i in range(P):
                    d[i] = -g[i]
            else:
                two_loop(g, S, Y, rho, newest, count, theta, d)
            gd0 = dot(g, d, P)
            stp = min(1.0 / np.sqrt(dot(d, d, P)), STEP_MAX) if iterated == 0 else 1.0
            gd = gd0
            task = ERROR
            if gd0 < 0.0:
                stp, task = line_search(f, gd0, stp, START, search, STEP_MAX)
                evaluations = 0
                while task == FG and evaluations < MAX_EVALUATIONS:
                    for i in range(P):
                        w[i] = x0[i] + stp * d[i]
                    yield 0
                    E = E_at_w[0]
                    f = _decay(w, lam, decay, 1.0, g, E)
                    evaluations += 1
                    gd = dot(g, d, P)
                    stp, task = line_search(f, gd, stp, task, search, STEP_MAX)
            if task == CONVERGENCE or task == WARNING:
                break
            w[:] = x0
            g[:] = g0
            f, E = f0, E0
            if count == 0:
                code = 3
                break
            count, theta = 0, 1.0
        if code == 3:
            break
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
        if converged(prev, f, tol) or gn == 0.0 or \
                (not (last and e == iterations - 1) and f0 - f <= tol * max(abs(f0), abs(f), 1.0)):
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
    counts[0], counts[1], counts[2] = newest, count, iterated
    values[0], values[1], values[2] = theta, f, E
    result[0], result[1], result[2], result[3], result[4], result[5] = done, prev, best, best_e, code, start
