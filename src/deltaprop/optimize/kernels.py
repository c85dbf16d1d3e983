"""The step rules of ``gd``, ``sgd``, ``momentum`` and ``adam`` as compiled kernels: one pass over
w, g and the rule's state each (Adam in NumPy took about twelve passes and four temporary arrays).

``deltaprop.optimize.rules`` calls them on whole vectors (g summed over a batch, scale = 1/n; g is
only read), and the fused training loop (``deltaprop.training.fused``) inlines them. This module
imports Numba; the rules import it when they first step, and fall back to ``rules.numpy_steps``
where Numba is absent. No fastmath, as in ``deltaprop.fast.kernels``: the same bits whether
compiled now or loaded from the cache.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

JIT = dict(cache=True, error_model="numpy", nogil=True)  # as deltaprop.fast.kernels


@nb.njit(inline="always", **JIT)
def gd_step(w, g, lr, scale):
    """w <- w - eta g / n (PRML 5.41; 5.43 for one pattern)."""
    for i in range(w.size):
        w[i] -= lr * (g[i] * scale)


@nb.njit(inline="always", **JIT)
def momentum_step(w, g, v, lr, scale, mu, nesterov):
    """v <- mu v - eta g / n;  w <- w + v, or w <- w + mu v - eta g / n (Nesterov)."""
    for i in range(w.size):
        gi = g[i] * scale
        v[i] = mu * v[i] - lr * gi
        w[i] += mu * v[i] - lr * gi if nesterov else v[i]


@nb.njit(inline="always", **JIT)
def adam_step(w, g, m, v, lr, scale, beta1, beta2, eps, t):
    """Adam's step number t (Kingma and Ba 2015): the moments m and v, and w, with bias correction.

    eta m_hat / (sqrt(v_hat) + eps) is taken as step m / (sqrt(v) r + eps), step = eta / (1 - beta1^t)
    and r = 1 / sqrt(1 - beta2^t): one division and one square root per weight, in w's precision
    (the constants pass through an array of w's dtype), so float32 runs as float32 vectors.
    """
    k = np.empty(8, w.dtype)
    k[0], k[1], k[2], k[3] = scale, beta1, 1.0 - beta1, beta2
    k[4], k[5], k[6], k[7] = 1.0 - beta2, lr / (1.0 - beta1**t), 1.0 / math.sqrt(1.0 - beta2**t), eps
    s, b1, c1, b2, c2, step, r, e = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
    for i in range(w.size):
        gi = g[i] * s
        m[i] = b1 * m[i] + c1 * gi
        v[i] = b2 * v[i] + c2 * gi * gi
        w[i] -= step * m[i] / (math.sqrt(v[i]) * r + e)
