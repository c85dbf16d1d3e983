"""What a mixture density network (PRML 5.6) says about t given x: the conditional density p(t | x)
(5.148), its mean (5.158) and variance (5.160), the conditional mode, and samples.

The network's outputs y(x, w) = [pi, sigma, mu] are the parameters of a mixture of M Gaussians with
isotropic covariances sigma_k^2 I over L-dimensional targets (``dp.mlp(..., output="mdn",
components=M)``). Every function takes the network, w and X (N, D).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Mixture(NamedTuple):
    """The mixture at each pattern: pi (N, M), sigma (N, M), mu (N, M, L)."""

    pi: np.ndarray
    sigma: np.ndarray
    mu: np.ndarray


def _components(net) -> int:
    M = net.layers[net.output].activation.components
    if not M:
        raise ValueError(f"this network's output is {net.layers[net.output].activation.name!r}, not a mixture density "
                         f"(build one with dp.mlp(sizes, output='mdn', components=M))")
    return M


def mixture(net, w: Any, X: Any) -> Mixture:
    """pi_k(x), sigma_k(x) and mu_k(x) for each row of X (PRML 5.150-5.152)."""
    from ..engine.activations import mixture_split

    M = _components(net)
    pi, sigma, mu = mixture_split(np, np.asarray(net.forward(w, X), dtype=np.float64), M)
    return Mixture(pi, sigma, mu)


def log_density(net, w: Any, X: Any, T: Any) -> np.ndarray:
    """ln p(t_n | x_n) for each pattern, (N,): minus the error E_n (PRML 5.153), by log-sum-exp."""
    from ..engine.backprop import forward_pass, pattern_errors, weights
    from ..engine.checks import check_data

    _components(net)
    w, X, T = check_data(net, np.asarray(w, dtype=np.float64), X, T)
    with np.errstate(over="ignore"):  # a t far beyond every component: ||t - mu||^2 = inf, ln p = -inf
        return -pattern_errors(net, forward_pass(net, weights(net, w), X)[0][net.output], T)


def density(net, w: Any, X: Any, T: Any) -> np.ndarray:
    """p(t_n | x_n) = sum_k pi_k N(t_n | mu_k, sigma_k^2 I) for each pattern, (N,) (PRML 5.148)."""
    return np.exp(log_density(net, w, X, T))


def mean(net, w: Any, X: Any) -> np.ndarray:
    """E[t | x] = sum_k pi_k mu_k, (N, L) (PRML 5.158)."""
    m = mixture(net, w, X)
    return np.einsum("nk,nkl->nl", m.pi, m.mu)


def variance(net, w: Any, X: Any) -> np.ndarray:
    """s^2(x) = sum_k pi_k {sigma_k^2 + ||mu_k - E[t | x]||^2}, (N,) (PRML 5.160): the variance of t about
    its conditional mean for L = 1."""
    m = mixture(net, w, X)
    spread = np.sum((m.mu - mean(net, w, X)[:, None, :]) ** 2, axis=2)
    return np.einsum("nk,nk->n", m.pi, m.sigma**2 + spread)


def mode(net, w: Any, X: Any) -> np.ndarray:
    """The conditional mode as PRML 5.6 suggests approximating it: the mean of the most probable component,
    mu_k with k = argmax pi_k, (N, L)."""
    m = mixture(net, w, X)
    return m.mu[np.arange(len(m.pi)), np.argmax(m.pi, axis=1)]


def sample(net, w: Any, X: Any, size: int = 1, seed: Any = None) -> np.ndarray:
    """Draws t ~ p(t | x): (N, size, L); a component by pi, then t from its Gaussian."""
    from ..engine.checks import number

    if number("size", size, 1) != int(size):
        raise ValueError(f"size must be a whole number of draws; got {size}")
    size = int(size)
    m = mixture(net, w, X)
    rng = np.random.default_rng(seed)
    N, M, L = m.mu.shape
    u = rng.random((N, size, 1))
    k = np.minimum((u > np.cumsum(m.pi, axis=1)[:, None, :]).sum(axis=2), M - 1)  # (N, size)
    rows = np.arange(N)[:, None]
    return m.mu[rows, k] + m.sigma[rows, k][:, :, None] * rng.standard_normal((N, size, L))
