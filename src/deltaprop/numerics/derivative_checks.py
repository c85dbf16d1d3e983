"""Checks of the derivatives that backpropagation computes.

Central differences (PRML 5.69) cost O(W) error evaluations per weight, O(W^2)
in all, against O(W) for backpropagation: too slow for training, exactly
right for checking an implementation of backpropagation (PRML 5.3.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from array_api_compat import array_namespace

from ..engine import backprop, checks

if TYPE_CHECKING:
    from ..engine.network import Network

Array = Any


class GradientCheck(NamedTuple):
    """The result of :func:`gradient_check`.

    Attributes
    ----------
    max_relative_difference : float
        max_i |g_i - d_i| / max(|g_i|, |d_i|, 1): relative for derivatives
        larger than 1, absolute for smaller ones, where the rounding error
        of the differences is absolute.
    index : int
        The parameter i where it is reached.
    name : str
        Its name, e.g. ``"W[h1<-x][2, 0]"``.
    backprop : array
        The gradient g by backpropagation.
    numerical : array
        The gradient d by central differences.
    """

    max_relative_difference: float
    index: int
    name: str
    backprop: Array
    numerical: Array


def central_differences(net: "Network", w: Array, X: Array, T: Array, eps: float = 1e-6) -> Array:
    """dE/dw_i = (E(w + eps e_i) - E(w - eps e_i)) / (2 eps) + O(eps^2) for every i (PRML 5.69)."""
    xp = array_namespace(w)
    w, X, T = checks.check_data(net, w, X, T)
    index = xp.arange(net.n_params)
    d = []
    for i in range(net.n_params):
        step = eps * xp.astype(index == i, w.dtype)
        d.append(backprop.error(net, w + step, X, T) - backprop.error(net, w - step, X, T))
    return xp.stack(d) / (2.0 * eps)


def gradient_check(net: "Network", w: Any, X: Any, T: Any, eps: float = 1e-6) -> GradientCheck:
    """Compare the backpropagation gradient with central differences (PRML 5.69).

    The check runs in float64 whatever the dtype of the inputs, since
    central differences in float32 are dominated by rounding.
    """
    eps = checks.number("eps", eps, 0.0, high=1.0, low_open=True)
    w, X, T = checks.check_data(net, w, X, T)
    xp = array_namespace(w)
    w, X, T = (xp.astype(v, xp.float64) for v in (w, X, T))
    _, g = backprop.error_and_gradient(net, w, X, T)
    d = central_differences(net, w, X, T, eps)
    scale = xp.maximum(xp.maximum(xp.abs(g), xp.abs(d)), xp.ones_like(g))
    rel = xp.abs(g - d) / scale
    i = int(xp.argmax(rel))
    return GradientCheck(float(rel[i]), i, net.param_name(i), g, d)


class HessianCheck(NamedTuple):
    """The result of :func:`hessian_check`: as :class:`GradientCheck`, for the entries H_ij."""

    max_relative_difference: float
    index: tuple
    name: str
    hessian: Array
    numerical: Array


def hessian_check(net: "Network", w: Any, X: Any, T: Any, eps: float = 1e-6) -> HessianCheck:
    """Compare the exact Hessian with central differences of the backpropagated gradient,
    H_ij ~ (g_i(w + eps e_j) - g_i(w - eps e_j)) / (2 eps) (PRML 5.90), in float64.

    The Hessian checked is ``dp.hessian``'s, the one the Laplace approximation and the evidence use: the
    layer-wise passes of ``fast.second`` for a layered network with NumPy data, else the engine's R-operator
    (PRML 5.4.6)."""
    from ..fast import hessian

    eps = checks.number("eps", eps, 0.0, high=1.0, low_open=True)
    w, X, T = checks.check_data(net, w, X, T)
    xp = array_namespace(w)
    w, X, T = (xp.astype(v, xp.float64) for v in (w, X, T))
    H = hessian(net, w, X, T)
    index = xp.arange(net.n_params)
    columns = []
    for j in range(net.n_params):
        step = eps * xp.astype(index == j, w.dtype)
        columns.append(backprop.error_and_gradient(net, w + step, X, T)[1] -
                       backprop.error_and_gradient(net, w - step, X, T)[1])
    D = xp.stack(columns, axis=1) / (2.0 * eps)
    rel = xp.abs(H - D) / xp.maximum(xp.maximum(xp.abs(H), xp.abs(D)), xp.ones_like(H))
    flat = int(xp.argmax(xp.reshape(rel, (-1,))))
    i, j = divmod(flat, net.n_params)
    return HessianCheck(float(rel[i, j]), (i, j), f"{net.param_name(i)} x {net.param_name(j)}", H, D)
