"""The rules of one restart, in ONE place: when training has diverged, when a score is the best
so far, when it has converged, when early stopping's patience has run out.

Plain functions of scalars, so that the Python loops (``restart.Run.record``) call them as they
are and the fused loop (``fused.run_epochs``) compiles these same functions with Numba.
"""

from __future__ import annotations

import math

TINY = 2.2250738585072014e-308  # the smallest normal float64: guards the relative change at E = 0
GROWTH = 1e4  # an objective this many times its first value: the steps have run away (Adam's stay finite)


def diverged(objective: float, start: float) -> bool:
    """The steps have left every sensible w: the objective is NaN or infinite, or more than ``GROWTH``
    times ``start``, its value where the run began (a descent method never climbs that far)."""
    return not math.isfinite(objective) or (start > 0.0 and objective > GROWTH * start)


def improved(score: float, best: float) -> bool:
    """``score`` (objective, or validation error) is strictly below the best so far: keep these weights."""
    return score < best


def converged(previous: float, objective: float, tol: float) -> bool:
    """The objective changed by less than ``tol``, relatively, in one epoch (``tol`` 0: never)."""
    return tol > 0.0 and abs(previous - objective) / max(abs(previous), TINY) < tol


def fell_little(previous: float, objective: float, tol: float) -> bool:
    """L-BFGS-B's own test (SciPy's ftol): the objective fell by at most tol max(|previous|, |objective|, 1) in
    one iteration, 0 included (``tol`` 0: only where it did not fall)."""
    return previous - objective <= tol * max(abs(previous), abs(objective), 1.0)


def patience_exhausted(epoch: int, best_epoch: int, patience: int) -> bool:
    """Early stopping (PRML 5.5.2): no better validation error for ``patience`` epochs (0: never)."""
    return patience > 0 and epoch - best_epoch >= patience
