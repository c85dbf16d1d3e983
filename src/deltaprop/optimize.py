"""Step rules on a flat weight vector (PRML 5.2.4).

An optimiser sees only a function ``fun(w, batch) -> (E, g)``, the error
and its gradient summed over the patterns of ``batch`` (an index array, or
None for all N patterns), never a network. Every step rule applies its
learning rate to the batch **mean** gradient g / n, so a learning rate means
the same at any batch size.

An optimiser's whole state is a dict of arrays and numbers (``start(fun, w)``),
and ``epoch`` returns new weights and a new dict without changing the old
ones, so the state at the end of any epoch can be saved and training resumed
from it exactly.

==============  ===========================================================
``gd``          batch gradient descent, w <- w - eta g / N (PRML 5.41)
``sgd``         stochastic gradient descent over shuffled mini-batches;
                ``batch_size=1`` is the sequential, on-line method (5.43)
``momentum``    gradient descent with momentum, classical or Nesterov
``adam``        Adam (Kingma and Ba 2015)
``scg``         scaled conjugate gradients (Moller 1993), as in Netlab
``lbfgs``,      quasi-Newton and conjugate-gradient methods of
``bfgs``,       ``scipy.optimize.minimize`` (PRML 5.2.4)
``cg``
==============  ===========================================================
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from .compiled import adam_step, gd_step, momentum_step

Fun = Callable[[np.ndarray, Optional[np.ndarray]], tuple]


def _batches(rng: np.random.Generator, N: int, batch_size: int):
    """Index arrays of one shuffled pass over N patterns; None (all patterns) when one batch holds them all."""
    if batch_size >= N:
        return [None]
    order = rng.permutation(N)
    return [order[i : i + batch_size] for i in range(0, N, batch_size)]


class StepRule:
    """A first-order rule: one pass over the data per epoch, one step per mini-batch.

    Subclasses define ``step(w, g, state, scale)``, which moves w and the
    state's arrays in place by the mean gradient ``scale * g`` of one batch
    (g summed over its n patterns, scale = 1/n; g is only read), in one
    compiled pass (``deltaprop.compiled``): ``epoch`` hands them copies made
    once per epoch, so that a step on a large network allocates nothing.
    """

    name = "step rule"
    batch_method = False

    def __init__(self, learning_rate: float, batch_size: int, N: int):
        self.learning_rate, self.batch_size, self.N = learning_rate, batch_size, N

    def start(self, fun: Fun, w: np.ndarray) -> dict:
        return {}

    def epoch(self, fun: Fun, w: np.ndarray, state: dict, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        w = w.copy()
        state = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}
        for batch in _batches(rng, self.N, self.batch_size):
            _, g = fun(w, batch)
            self.step(w, g, state, 1.0 / (self.N if batch is None else len(batch)))
        return w, state


class GradientDescent(StepRule):
    """w <- w - eta g (PRML 5.41 with the mean gradient; 5.43 for one pattern)."""

    name = "sgd"

    def step(self, w, g, state, scale):
        gd_step(w, g, self.learning_rate, scale)


class Momentum(StepRule):
    """v <- mu v - eta g;  w <- w + v (classical), or w <- w + mu v - eta g (Nesterov).

    The Nesterov form keeps w at the look-ahead point, so the gradient is
    taken there without a second evaluation (Sutskever et al. 2013).
    """

    name = "momentum"

    def __init__(self, learning_rate, batch_size, N, momentum=0.9, nesterov=False):
        super().__init__(learning_rate, batch_size, N)
        self.momentum, self.nesterov = momentum, nesterov

    def start(self, fun, w):
        return {"v": np.zeros_like(w)}

    def step(self, w, g, state, scale):
        momentum_step(w, g, state["v"], self.learning_rate, scale, self.momentum, self.nesterov)


class Adam(StepRule):
    """Adam: w <- w - eta m_hat / (sqrt(v_hat) + eps), with bias-corrected moment estimates."""

    name = "adam"

    def __init__(self, learning_rate, batch_size, N, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(learning_rate, batch_size, N)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def start(self, fun, w):
        return {"m": np.zeros_like(w), "v": np.zeros_like(w), "t": 0}

    def step(self, w, g, state, scale):
        state["t"] += 1
        adam_step(w, g, state["m"], state["v"], self.learning_rate, scale, self.beta1, self.beta2, self.eps, state["t"])


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


SCIPY_METHODS = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "cg": "CG"}
STOCHASTIC_METHODS = ("sgd", "momentum", "adam")
METHODS = ("gd",) + STOCHASTIC_METHODS + ("scg",) + tuple(SCIPY_METHODS)


def make_optimizer(method: str, N: int, learning_rate: float, batch_size: Optional[int], **options: Any):
    """The optimiser called ``method`` for N patterns (scipy methods excepted: the trainer runs those)."""
    if method == "gd":
        return GradientDescent(learning_rate, N, N)
    if method == "sgd":
        return GradientDescent(learning_rate, batch_size, N)
    if method == "momentum":
        return Momentum(learning_rate, batch_size, N, options["momentum"], options["nesterov"])
    if method == "adam":
        return Adam(learning_rate, batch_size, N)
    if method == "scg":
        return ScaledConjugateGradients(N)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
