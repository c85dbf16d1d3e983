"""The objective the optimisers see: E(w) + lambda/2 sum w^2 over ONE evaluator (PRML 5.112).

Every value a run reports (the history, the best-weights choice, the final E, the
validation error) comes from the one backend of ``deltaprop.fast`` chosen for the run,
so no two of them disagree by the rounding of two engines.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..engine.network import Network
from ..fast import evaluator, outer_product_hessian


class Objective:
    """E(w) + lambda/2 sum w^2 over the weights (not the biases), summed over a batch (PRML 5.112).

    ``fun(w, batch)`` gives the batch's error plus its share n/N of the
    weight-decay term, so that the shares of one epoch add up to the whole.

    Parameters
    ----------
    net : Network
    X, T : ndarray
        The training data, of one float dtype.
    weight_decay : float
        lambda.
    groups : dict or None
        lambda_g for each named group of w (then ``weight_decay`` is 1 and the others have none);
        None: ``weight_decay`` on every connection's weights, none on the biases.
    backend : str or None
        The ``deltaprop.fast`` backend; None chooses the fastest that takes the problem.
    validation : (X_val, T_val) or None
        Data for ``validation_error``, evaluated by the same backend.
    batch_size : int or None
        The rows of each evaluation (None: all N), which the choice of backend weighs.
    """

    def __init__(self, net: Network, X: np.ndarray, T: np.ndarray, weight_decay: float,
                 backend: Optional[str] = None, validation: Optional[tuple] = None,
                 groups: Optional[dict] = None, batch_size: Optional[int] = None):
        self.net, self.X, self.T, self.N = net, X, T, X.shape[0]
        self.weight_decay = weight_decay
        self.decay_mask = np.zeros(net.n_params, dtype=X.dtype)  # lambda_i / lambda for each entry of w
        for name, value in ({c.name: 1.0 for c in net.connections} if groups is None else groups).items():
            b = net.block(name)
            self.decay_mask[b.offset : b.offset + b.size] = value
        self.evaluator = evaluator(net, X, T, backend, rows=X.shape[0] if batch_size is None else batch_size)
        self.engine = self.evaluator.backend
        self.validation = None if validation is None else evaluator(net, *validation, self.engine)
        self._last: Optional[tuple] = None
        self._g = np.empty(net.n_params, X.dtype)  # the batch gradient, overwritten per batch
        self.running = [0.0, 0.0]  # sums of the batch errors and objectives since the last reset

    def _decay(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """lambda/2 sum_i m_i w_i^2 (PRML 5.112; m_i the decay mask: 1 for weights, 0 for biases, or each
        group's lambda_g), and the vector m w whose multiple is its gradient."""
        v = w * self.decay_mask
        return 0.5 * self.weight_decay * float(w @ v), v

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
            g += (share * self.weight_decay) * v
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
            out = (E, E + penalty, g + self.weight_decay * v)
        else:
            out = (E, E, g)
        self._last = (w.copy(), out)
        return out

    def gauss_newton(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A, g) for Levenberg-Marquardt: A = sum_n b_n b_n^T + lambda diag(decay mask), the outer-product
        approximation of the objective's Hessian (PRML 5.84, 5.112), and the objective's gradient g."""
        A = outer_product_hessian(self.net, w, self.X, self.T)
        if self.weight_decay:
            A[np.diag_indices_from(A)] += self.weight_decay * self.decay_mask
        return A, self.full(w)[2]
