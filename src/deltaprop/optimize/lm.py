"""Levenberg-Marquardt (PRML 5.4.2; Levenberg 1944, Marquardt 1963) on a flat weight vector: damped
Gauss-Newton steps for a sum-of-squares error, a batch method with no line search."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

#: ``curvature(w) -> (A, g)``: the outer-product (Gauss-Newton) approximation A = sum_n b_n b_n^T of the
#: Hessian of the objective at w (PRML 5.84, plus the Hessian of any quadratic penalty) and its gradient g.
Curvature = Callable[[np.ndarray], tuple]


class LevenbergMarquardt:
    """Levenberg-Marquardt for E(w) = 1/2 sum_n ||y_n - t_n||^2 (plus a quadratic penalty).

    Each iteration solves (A + lambda I) dw = -g, with A = sum_n b_n b_n^T the outer-product
    approximation of the Hessian (PRML 5.84): the minimum of the quadratic model of E plus
    lambda/2 ||dw||^2 (Bishop 1995, 7.11). Small lambda gives the Gauss-Newton step; large lambda a
    short step along -g. lambda adapts as Marquardt (1963) describes: it starts at 10^-2, shrinks ten
    times after a step that lowers E, and grows ten times, the step solved again, until one does; so
    each iteration ends lower or not at all. One iteration per epoch: one A, an E per trial step.
    (Marquardt's scaling of the damping by diag(A) was less robust on the Figure 5.3 examples: from
    the same 40 starts it reached L-BFGS's error 31 times, against 37 with lambda I.)

    Parameters
    ----------
    N : int
        The number of patterns (for the interface of the step rules).
    curvature : callable
        ``curvature(w) -> (A, g)`` as above.
    """

    name = "lm"
    batch_method = True
    lambda0, nu, lambda_min, lambda_max = 1e-2, 10.0, 1e-12, 1e16  # Marquardt's lambda_0 = 10^-2, nu = 10

    def __init__(self, N: int, curvature: Curvature):
        self.N, self.curvature = N, curvature

    def start(self, fun, w):
        E, _ = fun(w, None)
        return {"E": float(E), "lambda": self.lambda0, "converged": False}

    def step(self, A: np.ndarray, g: np.ndarray, lam: float) -> np.ndarray | None:
        """The damped Gauss-Newton step -(A + lambda I)^-1 g, or None where the system is not positive definite."""
        import scipy.linalg

        damped = A.copy()
        damped[np.diag_indices_from(damped)] += lam
        try:  # Cholesky, without solve's warning on an ill-conditioned system: its step is judged by E, as any other
            return -scipy.linalg.cho_solve(scipy.linalg.cho_factor(damped, check_finite=False), g, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None

    def epoch(self, fun, w, state, rng=None):
        s = dict(state)
        if s["converged"]:
            return w, s
        A, g = self.curvature(w)
        A, g = np.asarray(A, dtype=np.float64), np.asarray(g, dtype=np.float64)
        if not np.any(g):
            s["converged"] = True
            return w, s
        lam = s["lambda"]
        while lam <= self.lambda_max:
            dw = self.step(A, g, lam)
            if dw is not None and np.all(np.isfinite(dw)):
                w_new = w + dw.astype(w.dtype)
                E_new, _ = fun(w_new, None)
                if math.isfinite(E_new) and E_new < s["E"]:
                    s.update(E=float(E_new), **{"lambda": max(lam / self.nu, self.lambda_min)})
                    return w_new, s
            lam *= self.nu
        s["converged"] = True  # no damping lowers E: w is a minimum to the precision of the arithmetic
        return w, s
