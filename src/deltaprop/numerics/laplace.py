"""The Bayesian network (PRML 5.7): the Laplace approximation of the posterior over w, the evidence
for the hyperparameters, and the predictive distribution it gives.

Regression (PRML 5.7.1-5.7.2): with the prior p(w | alpha) = N(w | 0, alpha^-1 I) and the noise model
p(t | x, w, beta) = N(t | y(x, w), beta^-1 I), the posterior is approximated by a Gaussian at its mode
w_MAP with precision A = alpha I + beta H (PRML 5.161-5.166), H the Hessian of the sum-of-squares
error E_D = 1/2 sum_n ||y_n - t_n||^2. Classification (5.7.3): A = alpha I + H, H that of the
cross-entropy, and no beta.

The prior may hold one alpha per group of weights (PRML 5.5.1): the groups are the views of w, named
as ``net.unpack`` names them (``"W[h1<-x]"``, ``"b[h1]"``). A group with no alpha has a flat prior:
by default, as ``train``'s ``weight_decay``, every connection's weights share one alpha and the biases
have none. The evidence is then defined only up to a constant for each flat-prior parameter
(``Posterior.proper`` says whether it is); comparing models with the same biases cancels it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import numpy as np

Alpha = Union[float, Mapping[str, float]]


def prior_groups(net, alpha: Alpha) -> dict[str, float]:
    """alpha per view of w: one number for every connection's weights (the biases flat), or a mapping
    from view names to positive numbers (the views it leaves out flat)."""
    names = [b.name for b in net.blocks]
    if isinstance(alpha, Mapping):
        unknown = [k for k in alpha if k not in names]
        if unknown:
            raise ValueError(f"alpha names {unknown[0]!r}, which is not a group of this network's weights; the "
                             f"groups are {', '.join(names)}")
        groups = {k: _positive("alpha" + f"[{k!r}]", v) for k, v in alpha.items()}
    else:
        a = _positive("alpha", alpha)
        groups = {c.name: a for c in net.connections}
    return {name: groups[name] for name in names if name in groups}


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive number; got {value!r}")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive, finite number (a precision); got {value}")
    return value


def _prior_diagonal(net, groups: Mapping[str, float], dtype) -> np.ndarray:
    """The prior precision of each entry of w: alpha of its group, 0 where the prior is flat."""
    d = np.zeros(net.n_params, dtype=dtype)
    for name, a in groups.items():
        b = net.block(name)
        d[b.offset : b.offset + b.size] = a
    return d


@dataclass(frozen=True)
class Posterior:
    """The Laplace approximation N(w | w_MAP, A^-1) of the posterior over w (PRML 5.167).

    Attributes
    ----------
    w : ndarray
        The mode (w_MAP: where the caller trained to).
    alpha : dict
        The prior precision of each group of weights (groups not named have a flat prior).
    beta : float or None
        The noise precision (regression); None for classification.
    A : ndarray (W, W)
        The posterior precision, diag(alpha) + beta H (PRML 5.166).
    hessian : str
        "exact", or "outer_product" where asked or where the exact A was not positive definite.
    error : float
        E_D(w): 1/2 sum ||y - t||^2 (regression) or the cross-entropy (classification).
    gamma : float
        The number of well-determined parameters (PRML 5.179), the flat-prior ones counted whole;
        ``gamma_groups`` gives each group's share, W_g - alpha_g Tr_g(A^-1) (MacKay 1992). Where beta H
        has negative eigenvalues (w a minimum of the objective but not of E_D), they count as 0 here,
        as in Netlab, so that 0 <= gamma_g <= W_g.
    log_evidence : float
        ln p(D | alpha, beta) (PRML 5.175; 5.183 for classification), up to the flat prior's constant
        where ``proper`` is False.
    """

    net: Any
    w: np.ndarray
    alpha: dict
    beta: Optional[float]
    A: np.ndarray
    hessian: str
    error: float
    N: int
    gamma: float
    gamma_groups: dict
    log_evidence: float
    proper: bool
    notes: tuple = field(default=())

    def weight_variance(self, X: Any) -> np.ndarray:
        """g^T A^-1 g for each pattern and output, (N, K): the variance of y(x, w) under the posterior,
        g = dy/dw (PRML 5.173); for classification, b^T A^-1 b with b = da/dw (PRML 5.187)."""
        from scipy.linalg import cho_factor, cho_solve

        from ..fast import weight_jacobian

        from ..fast.second import CHUNK

        X = np.asarray(X, dtype=np.float64)
        N, K, W = X.shape[0], self.net.K, self.net.n_params
        factor = cho_factor(self.A, lower=True)
        out = np.empty((N, K))
        rows = max(1, CHUNK // (K * W))  # the (rows, K, W) Jacobian of a chunk of patterns at a time
        for start in range(0, N, rows):
            G = weight_jacobian(self.net, self.w, X[start : start + rows], activations=self.beta is None)
            flat = G.reshape(-1, W)
            out[start : start + rows] = np.einsum("nw,wn->n", flat, cho_solve(factor, flat.T)).reshape(-1, K)
        return out

    def moderated_probabilities(self, X: Any) -> np.ndarray:
        """Classification: the class probabilities averaged over the posterior, (N, K) (PRML 5.7.3).

        Logistic outputs: p = sigma(kappa(s^2) a_MAP) with s^2 = b^T A^-1 b and kappa(s^2) =
        (1 + pi s^2 / 8)^(-1/2), the probit approximation (PRML 5.190, 4.153-4.154). Softmax outputs,
        for which PRML gives no formula: the same scaling of each a_k by its own variance before the
        softmax, the usual extension (Lu, Ie and Sha 2020), which keeps the probabilities summing to 1.
        """
        from ..engine.activations import ACTIVATIONS
        from ..engine.backprop import forward_pass, weights

        if self.beta is not None:
            raise ValueError("moderated probabilities are for classification (logistic or softmax outputs); for "
                             "regression use predictive")
        X = np.asarray(X, dtype=np.float64)
        a = forward_pass(self.net, weights(self.net, self.w), X)[0][self.net.output]
        kappa = 1.0 / np.sqrt(1.0 + np.pi * self.weight_variance(X) / 8.0)
        return ACTIVATIONS[self.net.layers[self.net.output].activation.name].h(np, kappa * a)

    def predictive(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Regression: the mean y(x, w_MAP) and the variance sigma^2(x) = 1/beta + g^T A^-1 g
        (PRML 5.172-5.173), each (N, K)."""
        if self.beta is None:
            raise ValueError("predictive is for regression (linear outputs); for classification use "
                             "moderated_probabilities")
        return self.net.forward(self.w, X), 1.0 / self.beta + self.weight_variance(X)


def laplace(net, w: Any, X: Any, T: Any, alpha: Alpha, beta: Optional[float] = None, *,
            hessian: str = "exact") -> Posterior:
    """The Laplace approximation of the posterior over w at w (PRML 5.7.1, 5.7.3).

    Parameters
    ----------
    net : Network
    w : array (n_params,)
        The mode: weights trained with ``weight_decay=alpha/beta`` (regression) or ``alpha``
        (classification) are the mode of this posterior.
    X, T : arrays (N, D), (N, K)
    alpha : float or mapping
        The prior precision: one number for every connection's weights (the biases flat, as
        ``train``'s weight decay), or a mapping from the groups (``"W[h1<-x]"``, ``"b[h1]"``) to
        their precisions (the groups it leaves out flat).
    beta : float
        The noise precision: required for linear (regression) outputs, refused for logistic and
        softmax ones.
    hessian : {"exact", "outer_product"}
        H by ``dp.hessian`` (exact) or ``dp.outer_product_hessian`` (PRML 5.84-5.85). Where the exact
        A is not positive definite (w is a saddle, or not yet a minimum) the outer product, which
        always gives a positive definite A, is used instead and ``notes`` says so.

    Returns
    -------
    Posterior
    """
    from ..engine.checks import check_data
    from ..engine.network import MAX_HESSIAN_PARAMS
    from ..fast import hessian as exact_hessian
    from ..fast import outer_product_hessian

    if hessian not in ("exact", "outer_product"):
        raise ValueError(f"unknown hessian {hessian!r}; expected 'exact' or 'outer_product'")
    if net.n_params > MAX_HESSIAN_PARAMS:
        raise ValueError(f"the Laplace approximation needs the dense {net.n_params} x {net.n_params} matrix A; this "
                         f"network has {net.n_params} parameters, more than {MAX_HESSIAN_PARAMS}: there is no evidence "
                         f"or error bar for it here; train it with a fixed weight_decay instead")
    regression = net.layers[net.output].activation.name == "linear"
    if regression and beta is None:
        raise ValueError("beta, the noise precision, is needed for linear (regression) outputs")
    if not regression and beta is not None:
        raise ValueError(f"beta applies to linear (regression) outputs; this network's are "
                         f"{net.layers[net.output].activation.name}, whose cross-entropy has no noise precision")
    beta = None if beta is None else _positive("beta", beta)
    w, X, T = check_data(net, np.asarray(w, dtype=np.float64), np.asarray(X, dtype=np.float64),
                         np.asarray(T, dtype=np.float64))
    groups = prior_groups(net, alpha)
    if hessian == "exact":
        posterior = _posterior(net, w, X, T, groups, beta, "exact", exact_hessian(net, w, X, T))
        if posterior is not None:
            return posterior
        notes = ("the exact A is not positive definite at w (a saddle, or not yet a minimum): the outer-product "
                 "approximation of H is used instead",)
    else:
        notes = ()
    posterior = _posterior(net, w, X, T, groups, beta, "outer_product", outer_product_hessian(net, w, X, T), notes)
    if posterior is None:
        raise ValueError("A = diag(alpha) + beta H is singular even with the outer-product H: some parameter is "
                         "determined neither by the data nor by the prior; give its group an alpha")
    return posterior


def _posterior(net, w, X, T, groups: dict, beta: Optional[float], kind: str, H: np.ndarray,
               notes: tuple = ()) -> Optional[Posterior]:
    """The posterior with precision A = diag(alpha) + beta H, or None where A is not positive definite."""
    d = _prior_diagonal(net, groups, np.float64)
    A = (1.0 if beta is None else beta) * H
    A[np.diag_indices_from(A)] += d
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None
    error = float(net.error(w, X, T))
    N, K = X.shape[0], net.K
    lam, U = np.linalg.eigh((1.0 if beta is None else beta) * H)
    if lam.min() < 0:  # w is a minimum of the objective, not of E_D: as Netlab, drop the negative curvature
        A_gamma = (U * np.maximum(lam, 0.0)) @ U.T
        A_gamma[np.diag_indices_from(A_gamma)] += d
        L_gamma = np.linalg.cholesky(A_gamma)
    else:
        L_gamma = L
    L_inv = np.linalg.inv(L_gamma)
    diag_inv = np.einsum("ij,ij->j", L_inv, L_inv)  # diag(A^-1) from A^-1 = L^-T L^-1
    gamma_groups = {}
    for name, a in groups.items():
        b = net.block(name)
        gamma_groups[name] = float(b.size - a * diag_inv[b.offset : b.offset + b.size].sum())  # MacKay 1992
    flat = int(np.sum(d == 0))
    gamma = float(flat + sum(gamma_groups.values()))
    log_det = 2.0 * float(np.sum(np.log(np.diag(L))))
    log_evidence = (-0.5 * float(np.sum(d * w * w)) - 0.5 * log_det
                    + sum(0.5 * net.block(g).size * math.log(a) for g, a in groups.items())
                    + 0.5 * flat * math.log(2 * math.pi))  # the Gaussian integral over each flat-prior direction
    if beta is None:
        log_evidence -= error  # PRML 5.183
    else:
        log_evidence += -beta * error + 0.5 * N * K * (math.log(beta) - math.log(2 * math.pi))  # PRML 5.175
    return Posterior(net, w, groups, beta, A, kind, error, N, gamma, gamma_groups, log_evidence, flat == 0, notes)
