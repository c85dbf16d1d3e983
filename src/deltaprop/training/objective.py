"""The objective the optimisers see: E(w) + lambda/2 sum w^2 over ONE evaluator (PRML 5.112).

Every value a run reports (the history, the best-weights choice, the final E, the
validation error) comes from the one backend of ``deltaprop.fast`` chosen for the run,
so no two of them disagree by the rounding of two engines.
"""

from __future__ import annotations

from functools import cached_property
from typing import Optional

import numpy as np

from ..engine.network import Network
from ..fast import backend_for, evaluator, outer_product_hessian
from ..numerics.prior import Prior


class Objective:
    """E(w) + sum_g lambda_g/2 ||w_g||^2 over the groups of the prior, summed over a batch (PRML 5.112).

    ``fun(w, batch)`` gives the batch's error plus its share n/N of the
    weight-decay term, so that the shares of one epoch add up to the whole.

    Parameters
    ----------
    net : Network
    X, T : ndarray
        The training data, of one float dtype.
    prior : Prior
        The weight decay: lambda_g for each group of w (``deltaprop.numerics.prior``); groups it does
        not name have none.
    backend : str or None
        The ``deltaprop.fast`` backend; None chooses the fastest that takes the problem.
    validation : (X_val, T_val) or None
        Data for ``validation_error``, evaluated by the same backend.
    """

    def __init__(self, net: Network, X: np.ndarray, T: np.ndarray, prior: Prior,
                 backend: Optional[str] = None, validation: Optional[tuple] = None):
        self.net, self.X, self.T, self.N = net, X, T, X.shape[0]
        self.prior = prior
        self.decay = prior.diagonal(X.dtype)  # lambda_i for each entry of w
        self.weight_decay = 1.0 if prior else 0.0  # the fused loop's switch: no penalty at all costs nothing
        self.engine = backend_for(net, X, T, backend)
        self.validation = None if validation is None else evaluator(net, *validation, self.engine)
        self._last: Optional[tuple] = None
        self._g = np.empty(net.n_params, X.dtype)  # the batch gradient, overwritten per batch
        self.running = [0.0, 0.0]  # sums of the batch errors and objectives since the last reset

    @cached_property
    def evaluator(self):
        """The one evaluator of E and its gradient, made when first needed (a fused loop evaluates on its own)."""
        return evaluator(self.net, self.X, self.T, self.engine)

    def _decay(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """sum_i lambda_i/2 w_i^2 (PRML 5.112, lambda_i its group's lambda_g) and its gradient lambda w."""
        v = w * self.decay
        return 0.5 * float(w @ v), v

    def penalty(self, w: np.ndarray) -> float:
        return self._decay(w)[0]

    def fun(self, w: np.ndarray, batch: Optional[np.ndarray]) -> tuple[float, np.ndarray]:
        """(objective, its gradient) on the patterns of ``batch`` (None: all), the batch's share of the penalty."""
        if batch is None:
            return self.full(w)[1:]
        E, g = self.evaluator.error_and_gradient(w, batch, self._g)
        objective = E
        if self.weight_decay:
            share = len(batch) / self.N
            penalty, v = self._decay(w)
            objective = E + share * penalty
            g += share * v
        self.running[0] += E
        self.running[1] += objective
        return objective, g

    def take_running(self) -> tuple[float, float]:
        """The sums of the batch errors and objectives since the last call (each at the weights its step started from)."""
        E, objective = self.running
        self.running = [0.0, 0.0]
        return E, objective

    def _remembered(self, w: np.ndarray) -> Optional[tuple]:
        """What the last ``full`` gave, if it was at w."""
        if self._last is not None and (self._last[0] is w or np.array_equal(self._last[0], w)):
            return self._last[1]
        return None

    def value(self, w: np.ndarray) -> tuple[float, float]:
        """(E, E + penalty) on all the data: a forward pass, or nothing if the last ``full`` was at w."""
        if (known := self._remembered(w)) is not None:
            return known[:2]
        E = self.evaluator.error(w)
        return E, (E + self.penalty(w) if self.weight_decay else E)

    def validation_error(self, w: np.ndarray) -> Optional[float]:
        """E(w) on the validation data, or None without any."""
        return None if self.validation is None else self.validation.error(w)

    def full(self, w: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(E, E + penalty, gradient of E + penalty) on all the data; the last call is remembered."""
        if (known := self._remembered(w)) is not None:
            return known
        E, g = self.evaluator.error_and_gradient(w)
        if self.weight_decay:
            penalty, v = self._decay(w)
            out = (E, E + penalty, g + v)
        else:
            out = (E, E, g)
        self._last = (w.copy(), out)
        return out

    def gauss_newton(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A, g) for Levenberg-Marquardt: A = sum_n b_n b_n^T + diag(lambda), the outer-product
        approximation of the objective's Hessian (PRML 5.84, 5.112), and the objective's gradient g."""
        A = outer_product_hessian(self.net, w, self.X, self.T)
        A[np.diag_indices_from(A)] += self.decay
        return A, self.full(w)[2]
