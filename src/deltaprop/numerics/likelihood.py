"""The Gaussian noise model of regression outputs: beta_ML, the negative log
likelihood and the predictive distribution (PRML 5.2).

For linear outputs, t given x is Gaussian about the network function,
p(t | x, w, beta) = N(t | y(x, w), beta^-1 I) (PRML 5.16); beta is the noise
precision. For logistic and softmax outputs the error function already is the
negative log likelihood (PRML 5.20-5.24) and no beta enters.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

from array_api_compat import array_namespace

from ..engine import backprop, checks

if TYPE_CHECKING:
    from ..engine.network import Network

Array = Any


def _require_linear(net: "Network", what: str) -> None:
    kind = net.layers[net.output].activation.name
    if kind != "linear":
        raise ValueError(
            f"{what} belongs to the Gaussian noise model of linear (regression) outputs; this network's outputs "
            f"are {kind}, whose y(x, w) is already a class probability"
        )


def _sum_of_squares(net: "Network", w: Array, X: Array, T: Array) -> Array:
    xp = array_namespace(w)
    r = backprop.forward(net, w, X) - T
    return xp.sum(r * r)


def noise_precision(net: "Network", w: Any, X: Any, T: Any) -> float:
    """beta_ML, the noise precision that maximises the likelihood at w.

    1/beta_ML = (1/NK) sum_n ||y(x_n, w) - t_n||^2 (PRML 5.17; the lecture's
    5.15 is the case K = 1). Evaluate it at w = w_ML.
    """
    _require_linear(net, "noise_precision")
    w, X, T = checks.check_data(net, w, X, T)
    N, K = X.shape[0], net.K
    ss = float(_sum_of_squares(net, w, X, T))
    if ss == 0.0:
        raise ValueError("the network fits every target exactly (sum of squares 0): beta_ML is infinite")
    return N * K / ss


def negative_log_likelihood(net: "Network", w: Any, X: Any, T: Any, beta: Optional[float] = None) -> float:
    """-ln p(T | X, w, beta), summed over patterns and outputs.

    Linear outputs: beta/2 sum_n ||y(x_n, w) - t_n||^2 - NK/2 ln beta + NK/2 ln 2 pi
    (PRML 5.13 for K outputs); ``beta=None`` uses beta_ML at w. Logistic and
    softmax outputs: the cross-entropy E(w) itself (PRML 5.21-5.24), and
    ``beta`` must be None.
    """
    if net.layers[net.output].activation.name != "linear":
        if beta is not None:
            raise ValueError("beta is the noise precision of linear outputs; leave it None for logistic and softmax outputs")
        return float(net.error(w, X, T))
    w, X, T = checks.check_data(net, w, X, T)
    if beta is None:
        beta = noise_precision(net, w, X, T)
    beta = _check_beta(beta)
    return float(gaussian_nll(backprop.forward(net, w, X), T, beta).sum())


def gaussian_nll(Y: Any, T: Any, beta: Any) -> Array:
    """-ln N(t_n | y_n, beta^-1 I) for each pattern, shape (N,) (PRML 5.16):
    sum_k {beta_k/2 (y_nk - t_nk)^2 - 1/2 ln beta_k + 1/2 ln 2 pi}.

    ``beta`` is one precision or one per output (K,), as an estimator's ``beta_``
    in target units is.
    """
    xp = array_namespace(Y, T)
    beta = xp.asarray(beta, dtype=Y.dtype)
    r = Y - T
    return xp.sum(0.5 * beta * r * r - 0.5 * xp.log(beta) + 0.5 * math.log(2.0 * math.pi), axis=-1)


def predictive(net: "Network", w: Any, X: Any, beta: float) -> tuple[Array, Array]:
    """The predictive distribution p(t | x, w, beta) = N(t | y(x, w), beta^-1 I) (PRML 5.16).

    Returns ``(mean, variance)``, both (N, K): the network outputs y(x_n, w)
    and 1/beta for every output.
    """
    _require_linear(net, "predictive")
    beta = _check_beta(beta)
    mean = net.forward(w, X)
    xp = array_namespace(mean)
    return mean, xp.full(mean.shape, 1.0 / beta, dtype=mean.dtype)


def _check_beta(beta: Any) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"beta must be a positive number (a precision, 1/variance); got {beta!r}") from None
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a positive finite number (a precision, 1/variance); got {beta}")
    return beta
