"""The curvature of the posterior over w (PRML 5.7): one table of structures, each giving what the
Laplace approximation needs of A = diag(alpha) + s H and nothing more (``base``).

============  ====================================================  ==========================  =============
structure     H                                                     memory                      time
============  ====================================================  ==========================  =============
exact         the Hessian of E_D (PRML 5.4.5)                       W^2                         N W^2 + W^3
ggn           the outer-product / Gauss-Newton matrix (5.84-5.85)   W^2                         N K W^2 + W^3
kron          per layer, s/N Q (x) Z (Martens and Grosse 2015)      sum_j m_j^2 + F_j^2         N sum_j K m_j
                                                                                                (m_j + F_j)
diag          the Gauss-Newton diagonal                             W                           N K W
last_layer    the output layer's weights alone, given the           (K (F + 1))^2               N K^2 F^2
              features below (Bayesian linear regression, PRML 3.5)
============  ====================================================  ==========================  =============

``hessian="auto"`` (``choose``) takes ``exact`` while the dense work, N W^2 + W^3 multiply-adds, is within
``EXACT_BUDGET`` (1e7) and W within ``MAX_HESSIAN_PARAMS`` (5000: A is then at most 200 MB, held about four
times while it is built and decomposed); ``ggn`` while its own, N K W^2 + W^3, is within ``GGN_BUDGET`` (1e8);
``kron`` above it while every factor is at most ``KRON_WIDTH`` (2048)
wide (32 MB a factor); ``last_layer`` where a factor is wider and the output layer's K (F + 1) weights are
within ``MAX_HESSIAN_PARAMS``; and ``diag`` (W numbers) otherwise: some structure always runs, so the
evidence never gives way to a fixed weight decay. Beside the factors, every pass over the data holds one
chunk of patterns' messages (``passes.CHUNK`` numbers, 32 MB).
"""

from __future__ import annotations

from .base import Curvature, NotPositiveDefinite
from .dense import Exact, GaussNewton, LastLayer
from .layerwise import Diagonal, Kron

STRUCTURES = {"exact": Exact, "ggn": GaussNewton, "kron": Kron, "diag": Diagonal, "last_layer": LastLayer}
HESSIANS = ("auto",) + tuple(STRUCTURES)
#: The most N W^2 + W^3 (the exact Hessian's products and its eigendecomposition, in multiply-adds) that
#: "auto" spends on the exact structure: about 1.5 ms here, under the cost of the 100 iterations of an evidence
#: cycle's training (measured: 13-20-1 on Boston's 455 rows, 6.8e7, took 8 ms exact, 0.6 ms kron, and a cycle's
#: training 4.4 ms; 6-20-1 on yacht's 277, 1.1e7, 2.8 ms exact against a cycle's 2.5 ms).
EXACT_BUDGET = 1e7
#: The most N K W^2 + W^3 "auto" spends on the dense Gauss-Newton matrix, which keeps the coupling between layers
#: that ``kron`` drops: about a cycle's training (13-20-1 on Boston's 455 rows, 6.8e7: 3 ms ggn against 0.5 ms
#: kron and 4.4 ms for a cycle's 100 iterations). On the four UCI sets' 20 splits it raised the default's test
#: log-likelihood by 0.02 to 0.34 nats over ``kron`` (benchmarks/UCI-evidence.md).
GGN_BUDGET = 1e8
#: The widest Kronecker factor (a layer's units, or its inputs and bias) "auto" takes: 2048^2 numbers are
#: 32 MB, and their eigendecomposition about a second.
KRON_WIDTH = 2048


def check_name(hessian: str) -> str:
    if hessian not in HESSIANS:
        raise ValueError(f"unknown hessian {hessian!r}; expected one of {', '.join(map(repr, HESSIANS))}")
    return hessian


def choose(net, N: int) -> tuple[str, str]:
    """The structure "auto" takes for ``net`` and N patterns, and why (one line)."""
    from ...engine.network import MAX_HESSIAN_PARAMS
    from .passes import layouts

    W = net.n_params
    cost = N * W**2 + W**3
    if W <= MAX_HESSIAN_PARAMS and cost <= EXACT_BUDGET:
        return "exact", f"the dense Hessian's N W^2 + W^3 = {cost:.2g} is within {EXACT_BUDGET:.0e}"
    outer = N * net.K * W**2 + W**3
    if W <= MAX_HESSIAN_PARAMS and outer <= GGN_BUDGET:
        return "ggn", (f"the dense Hessian's N W^2 + W^3 = {cost:.2g} is over {EXACT_BUDGET:.0e}, the Gauss-Newton "
                       f"matrix's N K W^2 + W^3 = {outer:.2g} within {GGN_BUDGET:.0e}")
    why = (f"W = {W} is over {MAX_HESSIAN_PARAMS}" if W > MAX_HESSIAN_PARAMS else
           f"the dense Gauss-Newton matrix's N K W^2 + W^3 = {outer:.2g} is over {GGN_BUDGET:.0e}")
    lays = layouts(net)
    widest = max(max(lay.where.shape) for lay in lays)
    if widest <= KRON_WIDTH:
        return "kron", why
    why += f", and a Kronecker factor would be {widest} wide, over {KRON_WIDTH}"
    P = lays[-1].where.size
    if P <= MAX_HESSIAN_PARAMS:
        return "last_layer", why
    return "diag", why + f", and the output layer has {P} weights, over {MAX_HESSIAN_PARAMS}"


__all__ = ["Curvature", "NotPositiveDefinite", "STRUCTURES", "HESSIANS", "EXACT_BUDGET", "GGN_BUDGET", "KRON_WIDTH",
           "choose",
           "check_name"]
