"""Step rules on a flat weight vector (PRML 5.2.4), and the table of every method.

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
``lm``          Levenberg-Marquardt (PRML 5.4.2), sum-of-squares errors only
``lbfgs``,      quasi-Newton and conjugate-gradient methods of
``bfgs``,       ``scipy.optimize.minimize`` (PRML 5.2.4)
``cg``
==============  ===========================================================
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

Fun = Callable[[np.ndarray, Optional[np.ndarray]], tuple]


def gd_step(w, g, lr, scale):
    """w <- w - eta g / n (PRML 5.41; 5.43 for one pattern), in NumPy."""
    w -= lr * (g * scale)


def momentum_step(w, g, v, lr, scale, mu, nesterov):
    """v <- mu v - eta g / n;  w <- w + v, or w <- w + mu v - eta g / n (Nesterov), in NumPy."""
    step = lr * (g * scale)
    v *= mu
    v -= step
    w += mu * v - step if nesterov else v


def adam_step(w, g, m, v, lr, scale, beta1, beta2, eps, t):
    """Adam's step number t (Kingma and Ba 2015), in NumPy: eta m_hat / (sqrt(v_hat) + eps)."""
    gs = g * scale
    m *= beta1
    m += (1.0 - beta1) * gs
    v *= beta2
    v += (1.0 - beta2) * gs * gs
    step, r = lr / (1.0 - beta1**t), 1.0 / math.sqrt(1.0 - beta2**t)
    w -= step * m / (np.sqrt(v) * r + eps)


#: The rules in NumPy: what the rules run where Numba is absent, and what their kernels must equal.
numpy_steps = {"gd": gd_step, "momentum": momentum_step, "adam": adam_step}


def steps() -> dict:
    """The compiled step kernels (``deltaprop.optimize.kernels``), or the NumPy rules without Numba."""
    global _steps
    if _steps is None:
        try:
            from . import kernels
        except ImportError:
            _steps = numpy_steps
        else:
            _steps = {"gd": kernels.gd_step, "momentum": kernels.momentum_step, "adam": kernels.adam_step}
    return _steps


_steps = None


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
    compiled pass (``deltaprop.optimize.kernels``): ``epoch`` hands them
    copies made once per epoch, so that a step on a large network allocates
    nothing.
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
        steps()["gd"](w, g, self.learning_rate, scale)


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
        steps()["momentum"](w, g, state["v"], self.learning_rate, scale, self.momentum, self.nesterov)


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
        steps()["adam"](w, g, state["m"], state["v"], self.learning_rate, scale, self.beta1, self.beta2, self.eps,
                        state["t"])


SCIPY_METHODS = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "cg": "CG"}
STOCHASTIC_METHODS = ("sgd", "momentum", "adam")
METHODS = ("gd",) + STOCHASTIC_METHODS + ("scg", "lm") + tuple(SCIPY_METHODS)


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
        from .scg import ScaledConjugateGradients

        return ScaledConjugateGradients(N)
    if method == "lm":
        from .lm import LevenbergMarquardt

        return LevenbergMarquardt(N, options["curvature"])
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
