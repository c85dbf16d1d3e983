"""The ``reference`` backend: the engine's own passes (``deltaprop.engine.backprop``), for any network
and any array library."""

from __future__ import annotations

from typing import Any, Optional

from ..engine import backprop


class ReferenceEvaluator:
    """E and dE/dw of ``net`` on rows of (X, T) by the reference engine; see ``deltaprop.fast.evaluator``."""

    backend = "reference"

    def __init__(self, net, X: Any, T: Any):
        self.net, self.X, self.T = net, X, T

    def _rows(self, rows) -> tuple:
        return (self.X, self.T) if rows is None else (self.X[rows], self.T[rows])

    def error(self, w, rows=None) -> float:
        return float(backprop.error(self.net, w, *self._rows(rows)))

    def error_and_gradient(self, w, rows=None, g: Optional[Any] = None) -> tuple[float, Any]:
        E, grad = backprop.error_and_gradient(self.net, w, *self._rows(rows))
        return float(E), grad

    def hessian_vector_product(self, w, v):
        """H v on all the data by the engine's R-operator (PRML 5.4.6)."""
        from ..engine.second import hessian_vector_product

        return hessian_vector_product(self.net, w, self.X, self.T, v)

    def pattern_gradients(self, w, rows=None):
        """Row n: dE_n/dw (PRML 5.53), (N, n_params)."""
        return backprop.pattern_gradients(self.net, w, *self._rows(rows))
