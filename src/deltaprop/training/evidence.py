"""The evidence framework (PRML 5.7.2; MacKay 1992): train to w_MAP, re-estimate the hyperparameters
alpha (one per group of weights) and beta from the Laplace approximation there, and repeat until they
settle. The data choose the weight decay; nothing is held out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..numerics.laplace import Posterior, laplace
from ..optimize import STOCHASTIC_METHODS
from .result import TrainResult
from .train import train

PRIORS = ("groups", "shared")
MAX_ALPHA = 1e10  # a group the data do not use at all is pruned to ~0, not divided by zero
MIN_ALPHA = 1e-10  # gamma_g ~ 0 by rounding must not make a prior improper
CYCLE_TOL = 1e-7  # each cycle's training, from the last w: the hyperparameters settle to ~1% only; the last is tight
PRUNED = 0.01  # a group with fewer well-determined parameters than this share of its own is being pruned


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
        alpha of a group the data hardly determine (gamma_g below 1% of its W_g: the evidence is pruning
        it, its alpha growing without end) need not settle.
    training : TrainResult
        The last training run, from the previous w at the final hyperparameters.
    first : TrainResult
        The first cycle's training run, the one with the restarts from random starts.
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
    first: TrainResult


def initial_alphas(net, prior: str) -> dict[str, float]:
    """The first alpha of each group: the precision of the distribution ``net.init`` draws that group's weights
    from, its units' fan-in (a bias group takes its layer's); "shared": 1 / the mean of those variances."""
    fan_in = {}
    for c in net.connections:
        fan_in[c.dst] = fan_in.get(c.dst, 0) + net.layers[c.src].size
    alphas = {}
    for b in net.blocks:
        dst = b.name[b.name.index("[") + 1 : b.name.index("<-") if "<-" in b.name else -1]
        alphas[b.name] = float(max(fan_in.get(dst, 1), 1))
    if prior == "shared":
        sizes = {b.name: b.size for b in net.blocks}
        shared = sum(sizes.values()) / sum(sizes[g] / a for g, a in alphas.items())
        alphas = {g: shared for g in alphas}
    return alphas


def train_evidence(net, X: Any, T: Any, *, prior: str = "groups", alpha: Optional[float] = None,
                   beta: Optional[float] = None, cycles: int = 30, tol: float = 1e-2, hessian: str = "exact",
                   method: str = "lbfgs", restarts: int = 1, seed: Any = None, **options: Any) -> EvidenceResult:
    """Train ``net`` with its weight decay set by the evidence (PRML 5.7.2).

    Each cycle trains to w_MAP of E = beta E_D + sum_g alpha_g/2 ||w_g||^2 (``weight_decay`` alpha_g/beta
    per group), forms the Laplace approximation there (``dp.laplace``) and re-estimates

        alpha_g = gamma_g / ||w_g||^2,   beta = (N K - gamma) / sum_n ||y_n - t_n||^2     (PRML 5.178, 5.180)

    with gamma_g = W_g - alpha_g Tr_g(A^-1) (MacKay 1992); classification has no beta (5.7.3). The next
    cycle starts from w. It stops when every alpha and beta changes by less than ``tol`` (relative, default
    1%) in a cycle. A cycle's training that stops at its iteration limit, and hyperparameters that do not
    settle within ``cycles``, are each told once, as a ``ConvergenceWarning`` (the cycles' own trainings, which
    continue from w, may stop at their limits unsaid). Ctrl-C or a diverged training stops the cycles: the
    result then holds that training (``training.stop_reason``) and the posterior at its w.

    Parameters
    ----------
    prior : {"groups", "shared"}
        "groups" (default): one alpha for each group of w, each layer's weights and each layer's biases
        apart, the consistent prior of PRML 5.5.1; "shared": one alpha for all of w.
    alpha : float
        The first alpha of every group; by default the precision of the distribution the initial weights
        are drawn from (``initial_alphas``: each unit's fan-in), so that training starts from a prior
        the random start agrees with. The evidence may have several fixed points: started from a broad
        prior (alpha = 0.01) on the diabetes data a 10-20-1 network settled at gamma = 194 of 241
        parameters and a test R^2 of -0.22; from this start, at gamma = 25, R^2 0.53 and a log evidence
        higher by 245.
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
    alpha0 = None if alpha is None else number("alpha", alpha, 0.0, low_open=True)
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
    # every group has a prior, so that A is positive definite
    alphas = initial_alphas(net, prior) if alpha0 is None else {b.name: alpha0 for b in net.blocks}
    from sklearn.exceptions import ConvergenceWarning

    history: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        alphas, beta, w, converged, first, result = _cycles(net, X, T, X64, T64, alphas, beta, regression, prior,
                                                            cycles, tol, hessian, method, restarts, seed, options,
                                                            history)
        if result is None:  # w and the posterior at the hyperparameters re-estimated last
            scale = beta if regression else 1.0
            result = train(net, X, T, method=method, weight_decay={g: a / scale for g, a in alphas.items()}, init=w,
                           seed=seed, **options)
    for c in caught:  # the cycles' trainings may stop at their limits (they continue from w); others are told
        if not issubclass(c.category, ConvergenceWarning):
            warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
    if result.stop_reason == "max epochs":
        warnings.warn(f"{method} stopped at its limit of {result.history['epoch'][-1]} iterations in the last "
                      f"training, at the final alpha and beta; raise max_iter (epochs)", ConvergenceWarning,
                      stacklevel=2)
    if not converged and result.stop_reason not in ("interrupted", "diverged"):
        warnings.warn(f"the hyperparameters did not settle within {cycles} cycles (tol={tol:g}); the result holds "
                      f"the last cycle's; raise cycles or tol", ConvergenceWarning, stacklevel=2)
    w = result.w
    post = laplace(net, w, X64, T64, alphas, beta, hessian=hessian)
    return EvidenceResult(w, alphas, beta, post.gamma, post.log_evidence, post, history, converged, result, first)


def _cycles(net, X, T, X64, T64, alphas, beta, regression, prior, cycles, tol, hessian, method, restarts, seed,
            options, history) -> tuple:
    """The cycles of training and re-estimation; each appends its summary to ``history``."""
    w, converged, first = None, False, None
    for cycle in range(1, cycles + 1):
        scale = beta if regression else 1.0
        decay = {g: a / scale for g, a in alphas.items()}
        start = {"restarts": restarts} if w is None else {"init": w}
        loose = {} if method in STOCHASTIC_METHODS else {"tol": CYCLE_TOL}  # mini-batch methods keep theirs (off)
        result = train(net, X, T, method=method, weight_decay=decay, seed=seed, **{**loose, **options}, **start)
        first = first or result
        w = result.w
        if result.stop_reason in ("interrupted", "diverged"):  # Ctrl-C, or no w_MAP: the posterior at this w
            return alphas, beta, w, False, first, result
        post = laplace(net, w, X64, T64, alphas, beta if regression else None, hessian=hessian)
        new_alphas = {}
        for g, a in alphas.items():
            b = net.block(g)
            size = float(np.sum(w[b.offset : b.offset + b.size] ** 2))
            new_alphas[g] = float(np.clip(post.gamma_groups[g] / size, MIN_ALPHA, MAX_ALPHA)) if size > 0 else MAX_ALPHA
        if prior == "shared":  # alpha = gamma / w^T w over all of w (PRML 5.178)
            total = float(w @ w)
            shared = float(np.clip(post.gamma / total, MIN_ALPHA, MAX_ALPHA)) if total > 0 else MAX_ALPHA
            new_alphas = {g: shared for g in alphas}
        new_beta = None
        if regression:
            NK = X64.shape[0] * net.K
            # with fewer patterns than well-determined parameters NK - gamma can fall to 0 or below: keep one
            # degree of freedom for the noise, so that beta stays a precision
            new_beta = max(NK - post.gamma, 1.0) / (2.0 * post.error) if post.error > 0 else MAX_ALPHA
        history.append({"cycle": cycle, "alpha": dict(alphas), "beta": beta, "gamma": post.gamma,
                        "log_evidence": post.log_evidence, "error": post.error, "hessian": post.hessian,
                        "new_alpha": dict(new_alphas), "new_beta": new_beta})
        # a group the data do not determine (gamma_g ~ 0) is being pruned: its alpha grows without end
        changes = [abs(new_alphas[g] - alphas[g]) / alphas[g] for g in alphas
                   if post.gamma_groups[g] >= PRUNED * net.block(g).size]
        if regression:
            changes.append(abs(new_beta - beta) / beta)
        alphas, beta = new_alphas, (new_beta if regression else None)
        if max(changes, default=0.0) < tol:
            converged = True
            break
    return alphas, beta, w, converged, first, None
