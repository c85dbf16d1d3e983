"""The ``compiled`` backend: E and dE/dw by the Numba kernels of ``deltaprop.fast.kernels``, for
layered networks with small layers (``deltaprop.fast.small``), where NumPy's per-call overheads
would cost more than the arithmetic."""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import kernels


class CompiledEvaluator:
    """E and dE/dw of ``net`` on rows of (X, T) by the compiled kernels; see ``deltaprop.fast.evaluator``."""

    backend = "compiled"

    def __init__(self, net, X: np.ndarray, T: np.ndarray):
        self.sizes, self.acts, self.out = kernels.kernel_spec(net)
        kernels.check_codes(self.acts, self.out)
        self.net, self.dtype, self.n_params = net, X.dtype, net.n_params
        self.X, self.T = np.ascontiguousarray(X), np.ascontiguousarray(T)
        self.everyone = np.arange(X.shape[0])
        self.work = kernels.work(self.sizes, X.shape[0], np.empty(0, self.dtype))
        self.scratch = np.empty(net.n_params, self.dtype)  # the gradient that error() computes and drops

    def error_and_gradient(self, w, rows=None, g: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
        g = np.empty(self.n_params, self.dtype) if g is None else g
        E = kernels.evaluate(np.ascontiguousarray(w, dtype=self.dtype), self.X, self.T,
                             self.everyone if rows is None else rows, self.sizes, self.acts, self.out, g, *self.work)
        return float(E), g

    def error(self, w, rows=None) -> float:
        """E on the rows, by the same kernel as ``error_and_gradient``: the same bits."""
        return self.error_and_gradient(w, rows, self.scratch)[0]

    def hessian_vector_product(self, w, v) -> np.ndarray:
        """H v on all the data by the R-operator (PRML 5.4.6), in NumPy (``deltaprop.fast.second``)."""
        from .second import hessian_vector_product

        return hessian_vector_product(self.net, w, self.X, self.T, v)
