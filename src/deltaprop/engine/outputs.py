"""Output kinds: the ONE table of output activations, each with its error function E_n.

Each output activation has a canonical error function, chosen so that the
output deltas are always delta_k = dE_n/da_k = y_k - t_k (PRML 5.18, 5.54):

==========  ===========================================  =============
output      E_n                                          PRML
==========  ===========================================  =============
linear      1/2 sum_k (y_k - t_k)^2                      5.11, 5.46
logistic    -sum_k {t_k ln y_k + (1 - t_k) ln(1 - y_k)}  5.21, 5.22
softmax     -sum_k t_k ln y_k                            5.24
==========  ===========================================  =============

The cross-entropies are computed from the output pre-activations a_k, never
from y_k, so that no log(0) is taken and nothing overflows even at
|a| = 1000. Each function returns the per-pattern errors E_n, shape (N,);
E(w) = sum_n E_n(w) (PRML 5.44). Each kind has an integer ``code``, which the
compiled kernels (``deltaprop.fast.kernels``) take from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Array = Any


def sum_of_squares(xp, a: Array, t: Array) -> Array:
    """E_n = 1/2 sum_k (y_k - t_k)^2 with y_k = a_k (PRML 5.46, 5.61)."""
    r = a - t
    return 0.5 * xp.sum(r * r, axis=-1)


def binary_cross_entropy(xp, a: Array, t: Array) -> Array:
    """E_n = -sum_k {t_k ln y_k + (1 - t_k) ln(1 - y_k)}, y_k = sigma(a_k) (PRML 5.22).

    Since ln sigma(a) = -softplus(-a) and ln(1 - sigma(a)) = -softplus(a),
    E_n = sum_k {softplus(a_k) - t_k a_k}, and softplus(a) = logaddexp(0, a)
    is finite for every finite a.
    """
    softplus = xp.logaddexp(xp.zeros_like(a), a)
    return xp.sum(softplus - t * a, axis=-1)


def cross_entropy(xp, a: Array, t: Array) -> Array:
    """E_n = -sum_k t_k ln y_k, y_k = softmax(a)_k (PRML 5.24, 5.25).

    With ln y_k = a_k - ln sum_j exp(a_j), E_n = sum_k t_k (lse(a) - a_k),
    where the log-sum-exp is taken after subtracting the row maximum.
    """
    m = xp.max(a, axis=-1, keepdims=True)
    lse = m + xp.log(xp.sum(xp.exp(a - m), axis=-1, keepdims=True))
    return xp.sum(t * (lse - a), axis=-1)


def identity_jacobian(xp, y: Array) -> Array:
    """dy_k/da_m = [k = m] for linear outputs, as (N, K, K)."""
    N, K = y.shape
    return xp.broadcast_to(xp.eye(K, dtype=y.dtype), (N, K, K)) * xp.ones_like(y)[:, :, None]


def logistic_jacobian(xp, y: Array) -> Array:
    """dy_k/da_m = [k = m] y_k (1 - y_k) for logistic outputs (PRML 4.88), as (N, K, K)."""
    return xp.eye(y.shape[1], dtype=y.dtype) * (y * (1.0 - y))[:, :, None]


def softmax_jacobian(xp, y: Array) -> Array:
    """dy_k/da_m = y_k ([k = m] - y_m) for softmax outputs (PRML 4.106), as (N, K, K)."""
    return y[:, :, None] * (xp.eye(y.shape[1], dtype=y.dtype) - y[:, None, :])


def deltas(xp, y: Array, t: Array) -> Array:
    """delta_k = dE_n/da_k = y_k - t_k, for every kind of this table (PRML 5.18, 5.54)."""
    return y - t


@dataclass(frozen=True)
class OutputKind:
    """An output activation paired with its canonical error function.

    Attributes
    ----------
    name : str
        The output activation's name (``deltaprop.engine.activations``).
    code : int
        Its number in the compiled kernels.
    error : callable
        ``error(xp, a, t) -> E_n`` per pattern, from the pre-activations a.
    jacobian : callable
        ``jacobian(xp, y) -> dy/da``, (N, K, K): what the second-order passes and the
        input Jacobian propagate back from the outputs.
    equation : str
        Where PRML defines E_n.
    """

    name: str
    code: int
    error: Callable[..., Array]
    jacobian: Callable[..., Array]
    equation: str


OUTPUT_KINDS: dict[str, OutputKind] = {
    kind.name: kind
    for kind in (
        OutputKind("linear", 0, sum_of_squares, identity_jacobian, "PRML 5.11"),
        OutputKind("logistic", 1, binary_cross_entropy, logistic_jacobian, "PRML 5.22"),
        OutputKind("softmax", 2, cross_entropy, softmax_jacobian, "PRML 5.24"),
    )
}

#: The output activations, each with its canonical error function (delta_k = y_k - t_k).
OUTPUT_ACTIVATIONS = tuple(OUTPUT_KINDS)
