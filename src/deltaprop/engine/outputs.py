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

The mixture density output ``"mdn:M"`` (PRML 5.6) breaks that rule: its units are
the parameters of a mixture of M Gaussians over L-dimensional targets, its error
the negative log likelihood (5.153), and its deltas those of 5.155-5.157
(``mixture_deltas``). Each kind therefore gives its own ``deltas``; everything
below the output layer is the same backpropagation. Its second derivatives are
not those of a canonical link, so the Hessian and what needs it refuse it
(``require_canonical``).

The cross-entropies are computed from the output pre-activations a_k, never
from y_k, so that no log(0) is taken and nothing overflows even at
|a| = 1000. Each function returns the per-pattern errors E_n, shape (N,);
E(w) = sum_n E_n(w) (PRML 5.44). Each kind has an integer ``code``, which the
compiled kernels (``deltaprop.fast.kernels``) take from this table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Callable

from .activations import MIXTURE, mixture_split

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


def deltas(xp, a: Array, y: Array, t: Array) -> Array:
    """delta_k = dE_n/da_k = y_k - t_k, for every canonical kind of this table (PRML 5.18, 5.54)."""
    return y - t


def _log_components(xp, a: Array, t: Array, M: int) -> tuple[Array, Array]:
    """ln pi_k + ln N(t | mu_k, sigma_k^2 I) for each component, (N, M), and q_k = ||t - mu_k||^2 / sigma_k^2,
    from the pre-activations: ln pi_k by log-softmax, ln sigma_k = a^sigma_k (PRML 5.150-5.152)."""
    a_pi, a_sigma, mu = mixture_split(xp, a, M)
    L = mu.shape[2]
    m = xp.max(a_pi, axis=1, keepdims=True)
    log_pi = a_pi - (m + xp.log(xp.sum(xp.exp(a_pi - m), axis=1, keepdims=True)))
    r = t[:, None, :] - mu
    q = xp.sum(r * r, axis=2) * xp.exp(-2.0 * a_sigma)
    return log_pi - L * a_sigma - 0.5 * q - 0.5 * L * math.log(2.0 * math.pi), q


def _responsibilities(xp, c: Array) -> tuple[Array, Array]:
    """gamma_k = pi_k N_k / sum_l pi_l N_l (PRML 5.154) and ln sum_l pi_l N_l, by log-sum-exp over c = ln pi N."""
    m = xp.max(c, axis=1, keepdims=True)
    m = xp.where(m > -math.inf, m, xp.zeros_like(m))  # every component -inf (t beyond float64's reach): density 0
    e = xp.exp(c - m)
    total = xp.sum(e, axis=1, keepdims=True)
    positive = total > 0
    log_total = xp.where(positive, xp.log(xp.where(positive, total, xp.ones_like(total))), -math.inf * xp.ones_like(total))
    return e / xp.where(positive, total, xp.ones_like(total)), (m + log_total)[:, 0]


def mixture_error(xp, a: Array, t: Array, M: int) -> Array:
    """E_n = -ln sum_k pi_k(x_n) N(t_n | mu_k(x_n), sigma_k^2(x_n) I) (PRML 5.153), by log-sum-exp: the
    mixing coefficients and the means may be any size, ln sigma_k = a^sigma_k within about +-300."""
    return -_responsibilities(xp, _log_components(xp, a, t, M)[0])[1]


def mixture_deltas(xp, a: Array, y: Array, t: Array, M: int) -> Array:
    """dE_n/da for the mixture density output, laid out as its units [pi, sigma, mu] (PRML 5.155-5.157):

        delta^pi_k = pi_k - gamma_k,
        delta^sigma_k = gamma_k (L - ||t - mu_k||^2 / sigma_k^2),
        delta^mu_kl = gamma_k (mu_kl - t_l) / sigma_k^2,

    gamma_k the responsibilities (5.154), L the dimension of t.
    """
    c, q = _log_components(xp, a, t, M)
    gamma, _ = _responsibilities(xp, c)
    pi, _, mu = mixture_split(xp, y, M)
    L = mu.shape[2]
    inverse_variance = xp.exp(-2.0 * a[:, M : 2 * M])
    d_mu = (gamma * inverse_variance)[:, :, None] * (mu - t[:, None, :])
    return xp.concat([pi - gamma, gamma * (L - q), xp.reshape(d_mu, (a.shape[0], M * L))], axis=1)


def mixture_jacobian(xp, y: Array, M: int) -> Array:
    """dy/da for the mixture density output, (N, (L+2)M, (L+2)M): the softmax's Jacobian on the mixing
    units, diag(sigma) on the standard deviations (d exp(a)/da = exp(a)), the identity on the means."""
    N, units = y.shape
    blocks = [softmax_jacobian(xp, y[:, :M]), xp.eye(M, dtype=y.dtype) * y[:, M : 2 * M, None],
              identity_jacobian(xp, y[:, 2 * M :])]
    rows, start = [], 0
    for block in blocks:  # block-diagonal, each block's rows padded with zeros to the full width
        n = block.shape[1]
        pad = lambda width: xp.zeros((N, n, width), dtype=y.dtype)  # noqa: E731
        rows.append(xp.concat([pad(start), block, pad(units - start - n)], axis=2))
        start += n
    return xp.concat(rows, axis=1)


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
    deltas : callable
        ``deltas(xp, a, y, t) -> dE_n/da``, (N, K): y - t for the canonical kinds.
    canonical : bool
        Whether dE_n/da = y - t and d2E_n/da2 = dy/da (what the second derivatives assume).
    """

    name: str
    code: int
    error: Callable[..., Array]
    jacobian: Callable[..., Array]
    equation: str
    deltas: Callable[..., Array] = deltas
    canonical: bool = True

    def target_size(self, units: int) -> int:
        """The width of a target row for an output layer of ``units`` units: K, or L for a mixture of M
        Gaussians over L dimensions, whose layer has (L + 2) M units."""
        return units if self.canonical else units // int(self.name.split(":")[1]) - 2


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


@lru_cache(maxsize=None)
def mixture_kind(M: int) -> OutputKind:
    """The output kind of a mixture density network of M components (PRML 5.6)."""
    return OutputKind(f"{MIXTURE}:{M}", 3, partial(mixture_error, M=M), partial(mixture_jacobian, M=M), "PRML 5.153",
                      partial(mixture_deltas, M=M), False)


def output_kind(net) -> OutputKind:
    """The output kind of ``net``'s output layer."""
    activation = net.layers[net.output].activation
    return mixture_kind(activation.components) if activation.components else OUTPUT_KINDS[activation.name]


def require_canonical(net, what: str) -> None:
    """Refuse ``what`` (a second-order quantity) for an output without a canonical link."""
    kind = output_kind(net)
    if not kind.canonical:
        raise ValueError(f"{what} needs an output with its canonical error ({', '.join(OUTPUT_ACTIVATIONS)}), for "
                         f"which dE/da = y - t; this network's output is the mixture density {kind.name!r} (PRML 5.6), "
                         f"whose second derivatives are not implemented")
