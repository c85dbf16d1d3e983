"""The evidence framework (PRML 5.7.2; MacKay 1992): train to w_MAP, re-estimate the hyperparameters
alpha (one per group of weights) and beta from the Laplace approximation there, and repeat until they
settle. The data choose the weight decay; nothing is held out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..numerics.laplace import Posterior, laplace
from .result import TrainResult
from .train import train

PRIORS = ("groups", "shared")
ALPHA0 = 0.01  # the first alpha of every group: a broad prior (Netlab's demev1 starts there)
MAX_ALPHA = 1e10  # a group the data do not use at all is pruned to ~0, not divided by zero
PRUNED = 0.01  # a group with fewer well-determined parameters than this is pruned: its alpha need not settle


@dataclass
class EvidenceResult:
    """What ``train_evidence`` found.

    Attributes
    ----------
    w : ndarray
        w_MAP at the final hyperparameters.
    alpha : dict
        The prior precision of each group of weights (PRML 5.178).
    beta : float or None
        The noise precision (PRML 5.180); None for classification.
    gamma : float
        The effective number of well-determined parameters (PRML 5.179).
    log_evidence : float
        ln p(D | alpha, beta) at the end (PRML 5.175; 5.183 for classification).
    posterior : Posterior
        The Laplace approximation at w (``posterior.predictive(X)`` for error bars).
    cycles : list of dict
        For each cycle: the alpha and beta it trained with, then gamma, the log evidence, E_D, and the
        re-estimated alpha and beta.
    converged : bool
        Whether alpha and beta settled (relative change below ``tol``) before ``cycles`` ran out; the
        alpha of a group the data do not determine (gamma_g < 0.01: the evidence prunes it, its alpha
        growing without end) need not settle.
    training : TrainResult
        The last cycle's training run.
    """

    w: np.ndarray
    alpha: dict
    beta: Optional[float]
    gamma: float
    log_evidence: float
    posterior: Posterior
    cycles: list
    converged: bool
    training: TrainResult


def train_evidence(net, X: Any, T: Any, *, prior: str = "groups", alpha: float = ALPHA0,
                   beta: Optional[float] = None, cycles: int = 30, tol: float = 1e-3, hessian: str = "exact",
                   method: str = "lbfgs", restarts: int = 1, seed: Any = None, **options: Any) -> EvidenceResult:
    """Train ``net`` with its weight decay set by the evidence (PRML 5.7.2).

    Each cycle trains to w_MAP of E = beta E_D + sum_g alpha_g/2 ||w_g||^2 (``weight_decay`` alpha_g/beta
    per group), forms the Laplace approximation there (``dp.laplace``) and re-estimates

        alpha_g = gamma_g / ||w_g||^2,   beta = (N K - gamma) / sum_n ||y_n - t_n||^2     (PRML 5.178, 5.180)

    with gamma_g = W_g - alpha_g Tr_g(A^-1) (MacKay 1992); classification has no beta (5.7.3). The next
    cycle starts from w. It stops when every alpha and beta changes by less than ``tol`` (relative).

    Parameters
    ----------
    prior : {"groups", "shared"}
        "groups" (default): one alpha for each group of w, each layer's weights and each layer's biases
        apart, the consistent prior of PRML 5.5.1; "shared": one alpha for all of w.
    alpha : float
        The first alpha of every group (default 0.01, a broad prior).
    beta : float
        The first beta; default 1 / Var(T), as if the network explained nothing.
    cycles : int
        The most cycles of training and re-estimation.
    hessian : {"exact", "outer_product"}
        The H of the Laplace approximation (``dp.laplace``).
    method, restarts, seed, **options
        As ``dp.train``: the first cycle runs the restarts from random starts; later cycles continue
        from w. ``weight_decay`` and ``init`` are set here.
    """
    from .config import number, positive_int

    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; expected one of {', '.join(map(repr, PRIORS))}")
    for name in ("weight_decay", "init", "validation", "early_stopping"):
        if name in options:
            raise ValueError(f"{name} does not apply to train_evidence: the evidence sets the weight decay from "
                             f"the training data, with nothing held out")
    cycles = positive_int("cycles", cycles)
    tol = number("tol", tol, 0.0)
    alpha0 = number("alpha", alpha, 0.0, low_open=True)
    regression = net.layers[net.output].activation.name == "linear"
    X64, T64 = np.asarray(X, dtype=np.float64), np.asarray(T, dtype=np.float64)
    if T64.ndim == 1:
        T64 = T64.reshape(-1, 1)
    if regression:
        beta = (1.0 / max(float(np.mean((T64 - T64.mean(0)) ** 2)), 1e-12) if beta is None
                else number("beta", beta, 0.0, low_open=True))
    elif beta is not None:
        raise ValueError(f"beta applies to linear (regression) outputs; this network's are "
                         f"{net.layers[net.output].activation.name}")
    alphas = {b.name: alpha0 for b in net.blocks}  # every group has a prior: A is positive definite
    history, w, result, converged = [], None, None, False
    for cycle in range(1, cycles + 1):
        scale = beta if regression else 1.0
        decay = {g: a / scale for g, a in alphas.items()}
        if w is None:
            result = train(net, X, T, method=method, weight_decay=decay, restarts=restarts, seed=seed, **options)
        else:
            result = train(net, X, T, method=method, weight_decay=decay, init=w, seed=seed, **options)
        w = result.w
        post = laplace(net, w, X64, T64, alphas, beta if regression else None, hessian=hessian)
        new_alphas = {}
        for g, a in alphas.items():
            b = net.block(g)
            size = float(np.sum(w[b.offset : b.offset + b.size] ** 2))
            new_alphas[g] = min(post.gamma_groups[g] / size, MAX_ALPHA) if size > 0 else MAX_ALPHA
        if prior == "shared":  # alpha = gamma / w^T w over all of w (PRML 5.178)
            total = float(w @ w)
            new_alphas = {g: min(post.gamma / total, MAX_ALPHA) if total > 0 else MAX_ALPHA for g in alphas}
        new_beta = None
        if regression:
            NK = X64.shape[0] * net.K
            new_beta = (NK - post.gamma) / (2.0 * post.error) if post.error > 0 else math.inf
        history.append({"cycle": cycle, "alpha": dict(alphas), "beta": beta, "gamma": post.gamma,
                        "log_evidence": post.log_evidence, "error": post.error, "hessian": post.hessian,
                        "new_alpha": dict(new_alphas), "new_beta": new_beta})
        # a group the data do not determine (gamma_g ~ 0) is being pruned: its alpha grows without end
        changes = [abs(new_alphas[g] - alphas[g]) / alphas[g] for g in alphas if post.gamma_groups[g] >= PRUNED]
        if regression:
            changes.append(abs(new_beta - beta) / beta)
        alphas, beta = new_alphas, (new_beta if regression else None)
        if max(changes, default=0.0) < tol:
            converged = True
            break
    # the posterior and w at the hyperparameters the last re-estimation gave
    scale = beta if regression else 1.0
    result = train(net, X, T, method=method, weight_decay={g: a / scale for g, a in alphas.items()}, init=w,
                   seed=seed, **options)
    w = result.w
    post = laplace(net, w, X64, T64, alphas, beta, hessian=hessian)
    return EvidenceResult(w, alphas, beta, post.gamma, post.log_evidence, post, history, converged, result)
