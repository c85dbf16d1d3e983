"""Scaled conjugate gradients (Moller 1993) on a flat weight vector: a batch method with no line search."""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

Fun = Callable[[np.ndarray, Optional[np.ndarray]], tuple]  # fun(w, batch) -> (E, g), as in deltaprop.optimize.rules


class ScaledConjugateGradients:
    """Scaled conjugate gradients (Moller 1993), Netlab's default batch optimiser.

    Conjugate directions as in Polak-Ribiere, with the step length along each
    found from a finite-difference estimate of the curvature d^T H d,
    regularised by a scale lambda that a trust-region test adapts; no line
    search. One iteration per epoch; an iteration whose trial step raises E
    is rejected (w is returned unchanged) and lambda grows.
    """

    name = "scg"
    batch_method = True
    sigma0, lambda_min, lambda_max = 1e-4, 1e-15, 1e100

    def __init__(self, N: int):
        self.N = N

    def start(self, fun, w):
        E, g = fun(w, None)
        return {"E": E, "g": g, "g_old": g, "d": -g, "lambda": 1.0, "success": True, "n_success": 0,
                "mu": 0.0, "kappa": 0.0, "gamma": 0.0, "converged": False}

    def epoch(self, fun: Fun, w, state, rng=None):
        s = dict(state)
        if s["converged"]:
            return w, s
        d, g = s["d"], s["g"]
        if s["success"]:
            mu = float(d @ g)
            if mu >= 0:  # not a descent direction: restart along -g
                d = -g
                mu = float(d @ g)
            kappa = float(d @ d)
            if kappa < np.finfo(float).eps:
                s["converged"] = True
                return w, s
            sigma = self.sigma0 / math.sqrt(kappa)
            _, g_plus = fun(w + sigma * d, None)
            s.update(mu=mu, kappa=kappa, gamma=float(d @ (g_plus - g)) / sigma, d=d)
        mu, kappa, gamma, lam = s["mu"], s["kappa"], s["gamma"], s["lambda"]

        delta = gamma + lam * kappa  # the curvature along d, made positive
        if delta <= 0:
            delta = lam * kappa
            lam = lam - gamma / kappa
        alpha = -mu / delta
        w_new = w + alpha * d
        E_new, g_new = fun(w_new, None)
        comparison = 2.0 * (E_new - s["E"]) / (alpha * mu)
        success = bool(comparison >= 0 and np.isfinite(E_new))
        if success:
            w, s["n_success"] = w_new, s["n_success"] + 1
            s.update(E=E_new, g_old=g, g=g_new)
            if not np.any(g_new):
                s["converged"] = True
        if comparison < 0.25 or not np.isfinite(comparison):
            lam = min(4.0 * lam, self.lambda_max)
        elif comparison > 0.75:
            lam = max(0.5 * lam, self.lambda_min)
        s.update(success=success, **{"lambda": lam})

        if s["n_success"] >= w.size:  # restart along -g after n_params successful steps
            s.update(d=-s["g"], n_success=0)
        elif success:
            beta = float((s["g_old"] - s["g"]) @ s["g"]) / mu
            s["d"] = beta * d - s["g"]
        return w, s
