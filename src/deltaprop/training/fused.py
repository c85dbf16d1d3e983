"""The fused loop: whole epochs of gd, sgd, momentum and adam in one compiled call (lbfgs: ``fused_lbfgs``).

For a network the ``compiled`` backend takes (``deltaprop.fast``), Python's per-step
overheads cost more than the arithmetic; here the evaluation (``deltaprop.fast.kernels``),
the weight-decay term, the step rule (``deltaprop.optimize.kernels``) and the epoch's
bookkeeping run as one compiled loop. The stopping, best-weights and divergence rules are
those of ``deltaprop.training.rules``, compiled from the same source that the Python loops
run. This module imports Numba; ``deltaprop.training.loops`` imports it when the fused loop
is first chosen.

Numba's cache keys a kernel on its own file: after editing a kernel of another module that
``run_epochs`` inlines, clear the cache (the ``*.nbi`` and ``*.nbc`` files in ``__pycache__``).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba as nb
import numpy as np

from ..fast.kernels import COLUMNS_FROM, JIT, _evaluate_columns, _evaluate_rows, check_codes, evaluate, work
from ..optimize.kernels import adam_step, gd_step, momentum_step
from . import rules

METHOD_CODES = {"gd": 0, "sgd": 0, "momentum": 1, "adam": 2}
#: The step rule of a fused call: its code (``METHOD_CODES``), learning rate, momentum mu and Nesterov's form, Adam's
#: constants, the weight decay's switch (0: no penalty at all) and the batch size.
Rule = namedtuple("Rule", "method lr mu nesterov beta1 beta2 eps lam batch")
#: The stopping rules' numbers: tol, the previous epoch's objective, the best objective, the run's first objective.
Stops = namedtuple("Stops", "tol prev best start")
#: Where each epoch's E, objective and gradient norm go, and whether they are exact (see ``run_epochs``).
Histories = namedtuple("Histories", "E objective grad_norm exact")
converged = nb.njit(inline="always", **JIT)(rules.converged)
diverged = nb.njit(inline="always", **JIT)(rules.diverged)
improved = nb.njit(inline="always", **JIT)(rules.improved)
fell_little = nb.njit(inline="always", **JIT)(rules.fell_little)


@nb.njit(inline="always", **JIT)
def _decay(w, lam, decay, share, g, E):
    """Add share * lam/2 sum_i decay_i w_i^2 to E and its gradient to g (PRML 5.112)."""
    if lam == 0.0:
        return E
    reg = 0.0
    for i in range(w.size):
        v = w[i] * decay[i]
        reg += w[i] * v
        g[i] += share * lam * v
    return E + share * 0.5 * lam * reg


@nb.njit(**JIT)
def run_epochs(w, X, T, spec, rule, decay, perms, v, m, t, stops, best_w, histories, at_start, at_best):
    """Run up to len(perms) epochs from w (updated in place). Row e of the histories is epoch e + 1.

    ``spec`` is the network's (sizes, activation codes, output code) (``kernels.kernel_spec``); ``rule`` a
    ``Rule``; ``decay`` lambda_i per entry of w; ``perms`` each epoch's order of the patterns; v, m, t the step
    rule's state (momentum or Adam's moments, Adam's step count); ``stops`` a ``Stops``; ``best_w`` the best
    weights so far, overwritten where better ones come; ``histories`` a ``Histories``.

    ``at_start`` (empty, or 2 + len(w) numbers) receives E, the objective and the objective's gradient on all
    the data at the w the call starts from (what epoch 0 logs; a full batch evaluates there anyway), and
    ``at_best`` (empty, or 2) E and the objective at ``best_w`` when the call returns (where the history holds
    only the running sums): no evaluator is made in Python for either.

    ``exact``: record E(w), its objective and gradient norm on all the data at the end of
    each epoch (one more pass where the batches are smaller than N); otherwise the sums
    of the epoch's batch errors, each at the weights its step started from, and NaN for
    the gradient norm. Full-batch epochs are exact either way, at no extra cost.

    ``start`` is the run's first objective (NaN: this call's first becomes it), against which
    divergence is measured. Returns (epochs done, adam step count, previous objective, best
    objective, the epoch of this call that gave it (-1: none), stop code, start): stop code 0 ran
    them all, 1 converged (tol), 2 diverged.
    The rules are those of ``deltaprop.training.rules``.
    """
    sizes, acts, out = spec
    method, lr, mu, nesterov, beta1, beta2, eps, lam, batch = rule
    tol, prev, best, start = stops
    E_hist, obj_hist, gn_hist, exact = histories
    check_codes(acts, out)
    N = X.shape[0]
    P = w.size
    g = np.empty(P, dtype=w.dtype)
    A, Z, Dl, a, z, d, R, Xc, acc, terms = work(sizes, N, w)
    everyone = np.arange(N)
    full = batch >= N
    # batches of fewer rows than COLUMNS_FROM always take evaluate's one-pattern-at-a-time branch: called
    # directly, the call through evaluate (its 15 arguments, 9 of them arrays) is not made on every step; on
    # W3 (on-line SGD, 1-10-1) that call was 0.23 of 0.64 us per update (measured)
    by_rows = not full and batch < COLUMNS_FROM
    columns = N >= COLUMNS_FROM  # and all of the data by the column kernel, called directly too (W1: 0.9 of its time)
    best_e = -1
    if full or at_start.size:  # the gradient for the first step; later ones are the previous epoch's final evaluation
        E = _evaluate_columns(w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms, False) if columns else \
            evaluate(w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, a, z, d, R, Xc, acc, terms)
        objective = _decay(w, lam, decay, 1.0, g, E)
        if at_start.size:
            at_start[0], at_start[1] = E, objective
            at_start[2:] = g
    done, code = perms.shape[0], 0
    for e in range(perms.shape[0]):
        E_run, obj_run = 0.0, 0.0
        for k in range(1 if full else (N + batch - 1) // batch):
            n = N
            if not full:
                idx = perms[e, k * batch : min(N, (k + 1) * batch)]
                n = idx.size
                if by_rows:
                    E_b = _evaluate_rows(w, X, T, idx, sizes, acts, out, g, a, z, d)
                else:
                    E_b = evaluate(w, X, T, idx, sizes, acts, out, g, A, Z, Dl, a, z, d, R, Xc, acc, terms)
                obj_b = E_b if lam == 0.0 else _decay(w, lam, decay, n / N, g, E_b)
                E_run += E_b
                obj_run += obj_b
            scale = 1.0 / n  # steps use the batch mean gradient
            if method == 0:
                gd_step(w, g, lr, scale)
            elif method == 1:
                momentum_step(w, g, v, lr, scale, mu, nesterov)
            else:
                t += 1
                adam_step(w, g, m, v, lr, scale, beta1, beta2, eps, t)
        if full or exact:  # full batches leave X's columns as the first evaluation laid them; mini-batches do not
            E = _evaluate_columns(w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms, full) if columns else \
                evaluate(w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, a, z, d, R, Xc, acc, terms)
            objective = _decay(w, lam, decay, 1.0, g, E)
            gn = 0.0
            for i in range(P):
                gn += g[i] * g[i]
            E_hist[e], obj_hist[e], gn_hist[e] = E, objective, math.sqrt(gn)
        else:
            objective = obj_run
            E_hist[e], obj_hist[e], gn_hist[e] = E_run, obj_run, np.nan
        if start != start:
            start = objective
        if diverged(objective, start):
            done, code = e + 1, 2
            break
        if improved(objective, best):
            best, best_e = objective, e
            best_w[:] = w
        prev, was = objective, prev
        if converged(was, objective, tol):
            done, code = e + 1, 1
            break
    if at_best.size:
        E = _evaluate_columns(best_w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms, False) \
            if columns else evaluate(best_w, X, T, everyone, sizes, acts, out, g, A, Z, Dl, a, z, d, R, Xc, acc, terms)
        at_best[0], at_best[1] = E, _decay(best_w, lam, decay, 1.0, g, E)
    return done, t, prev, best, best_e, code, start

