"""Error functions E_n, each paired with its output activation.

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
E(w) = sum_n E_n(w) (PRML 5.44).
"""

from __future__ import annotations

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


ERROR_FOR_OUTPUT: dict[str, Callable[..., Array]] = {
    "linear": sum_of_squares,
    "logistic": binary_cross_entropy,
    "softmax": cross_entropy,
}
