"""The Bayesian network (PRML 5.7): the Laplace approximation of the posterior over w, the evidence
for the hyperparameters, and the predictive distribution it gives.

Regression (PRML 5.7.1-5.7.2): with the prior p(w | alpha) = N(w | 0, alpha^-1 I) and the noise model
p(t | x, w, beta) = N(t | y(x, w), beta^-1 I), the posterior is approximated by a Gaussian at its mode
w_MAP with precision A = alpha I + beta H (PRML 5.161-5.166), H the Hessian of the sum-of-squares
error E_D = 1/2 sum_n ||y_n - t_n||^2. Classification (5.7.3): A = alpha I + H, H that of the
cross-entropy, and no beta. H comes from one of the curvature structures of
``deltaprop.numerics.curvature`` (exact, ggn, kron, diag, last_layer; "auto" chooses by size).

The prior may hold one alpha per group of weights (PRML 5.5.1; ``deltaprop.numerics.prior.Prior``):
the groups are the views of w, named as ``net.unpack`` names them (``"W[h1<-x]"``, ``"b[h1]"``). A
group with no alpha has a flat prior: given one number, as ``train``'s ``weight_decay``, every
connection's weights share it and the biases have none. The evidence is then defined only up to a
constant for each flat-prior parameter (``Posterior.proper`` says whether it is); comparing models with
the same biases cancels it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

from .curvature import STRUCTURES, Curvature, NotPositiveDefinite, check_name, choose
from .prior import Alpha, Prior, precision


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
    curvature : Curvature
        A = diag(alpha) + beta H by its structure: ln |A|, diag(A^-1), g^T A^-1 g, draws of w.
    hessian : str
        The structure of H: "exact", "ggn", "kron", "diag" or "last_layer".
    error : float
        E_D(w): 1/2 sum ||y - t||^2 (regression) or the cross-entropy (classification).
    gamma : float
        The number of well-determined parameters (PRML 5.179), the flat-prior ones counted whole;
        ``gamma_groups`` gives each covered group's share, W_g - alpha_g Tr_g(A^-1) (MacKay 1992). With
        the exact H, negative eigenvalues of beta H (w a minimum of the objective but not of E_D) count
        as 0, as in Netlab, so that 0 <= gamma_g <= W_g. ``last_layer`` covers the output layer's
        groups alone; the others are held at w_MAP and have no gamma_g.
    log_evidence : float
        ln p(D | alpha, beta) (PRML 5.175; 5.183 for classification) under the structure's A, up to
        the flat prior's constant where ``proper`` is False.
    notes : tuple of str
        Why the structure was chosen, and what it did that a reader should know.
    """

    net: Any
    w: np.ndarray
    alpha: dict
    beta: Optional[float]
    curvature: Curvature
    hessian: str
    error: float
    N: int
    gamma: float
    gamma_groups: dict
    log_evidence: float
    proper: bool
    notes: tuple = field(default=())

    @property
    def A(self) -> np.ndarray:
        """The posterior precision as a dense (W, W) matrix (PRML 5.166): for small networks and checks."""
        return self.curvature.precision()

    def weight_variance(self, X: Any) -> np.ndarray:
        """g^T A^-1 g for each pattern and output, (N, K): the variance of y(x, w) under the posterior,
        g = dy/dw (PRML 5.173); for classification, b^T A^-1 b with b = da/dw (PRML 5.187)."""
        return self.curvature.variance(np.asarray(X, dtype=np.float64))

    def sample(self, size: int, seed: Any = None) -> np.ndarray:
        """``size`` draws of w from N(w_MAP, A^-1), (size, n_params) (the weights a structure does not cover
        stay at w_MAP)."""
        return self.w + self.curvature.deviations(np.random.default_rng(seed), int(size))

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
            hessian: str = "auto") -> Posterior:
    """The Laplace approximation of the posterior over w at w (PRML 5.7.1, 5.7.3).

    Parameters
    ----------
    net : Network
    w : array (n_params,)
        The mode: weights trained with ``weight_decay=alpha/beta`` (regression) or ``alpha``
        (classification) are the mode of this posterior.
    X, T : arrays (N, D), (N, K)
    alpha : float, mapping or Prior
        The prior precision: one number for every connection's weights (the biases flat, as
        ``train``'s weight decay), a mapping from the groups (``"W[h1<-x]"``, ``"b[h1]"``) to
        their precisions (the groups it leaves out flat), or a ``Prior``.
    beta : float
        The noise precision: required for linear (regression) outputs, refused for logistic and
        softmax ones.
    hessian : {"auto", "exact", "ggn", "kron", "diag", "last_layer"}
        The structure of H (``deltaprop.numerics.curvature``). "auto" (default): ``exact`` while its
        dense work N W^2 + W^3 is within ``curvature.EXACT_BUDGET``, else ``kron`` (then ``last_layer``,
        then ``diag``, where the factors would be too wide); ``notes`` says which and why. Where the
        exact A is not positive definite (w is a saddle, or not yet a minimum) the Gauss-Newton H, which
        always gives a positive definite A, is used instead and ``notes`` says so. "outer_product" is
        the former name of "ggn".

    Returns
    -------
    Posterior
    """
    from ..engine.checks import check_data
    from ..engine.network import MAX_HESSIAN_PARAMS
    from ..engine.outputs import require_canonical

    hessian = check_name("ggn" if hessian == "outer_product" else hessian)
    require_canonical(net, "the Laplace approximation")
    regression = net.layers[net.output].activation.name == "linear"
    if regression and beta is None:
        raise ValueError("beta, the noise precision, is needed for linear (regression) outputs")
    if not regression and beta is not None:
        raise ValueError(f"beta applies to linear (regression) outputs; this network's are "
                         f"{net.layers[net.output].activation.name}, whose cross-entropy has no noise precision")
    beta = None if beta is None else precision("beta", beta)
    prior = Prior.of(net, alpha)
    w, X, T = check_data(net, np.asarray(w, dtype=np.float64), np.asarray(X, dtype=np.float64),
                         np.asarray(T, dtype=np.float64))
    name, why = choose(net, X.shape[0]) if hessian == "auto" else (hessian, "")
    notes = (f"hessian 'auto' took {name!r}: {why}",) if why else ()
    if name in ("exact", "ggn") and net.n_params > MAX_HESSIAN_PARAMS:
        raise ValueError(f"hessian={name!r} needs the dense {net.n_params} x {net.n_params} matrix A, and this network "
                         f"has {net.n_params} parameters, more than {MAX_HESSIAN_PARAMS}: use hessian='kron' (or "
                         f"'auto', which chooses by size)")
    scale = 1.0 if beta is None else beta
    try:
        curvature = build(name, net, w, X, T, prior, scale)
    except NotPositiveDefinite:
        if name != "exact":
            raise NotPositiveDefinite(f"A = diag(alpha) + beta H is singular with hessian={name!r}: some parameter "
                                      f"is determined neither by the data nor by the prior; give its group an "
                                      f"alpha") from None
        notes += ("the exact A is not positive definite at w (a saddle, or not yet a minimum): the Gauss-Newton "
                  "H is used instead",)
        fallback = laplace(net, w, X, T, prior, beta, hessian="ggn")
        return replace(fallback, notes=notes + fallback.notes)
    return summarise(net, w, X, T, prior, beta, curvature, notes)


def build(name: str, net, w: np.ndarray, X: np.ndarray, T: np.ndarray, prior: Prior, scale: float) -> Curvature:
    """The structure ``name``'s A at w from the data."""
    structure = STRUCTURES[name]
    factors, notes = structure.compute(net, w, X, T)
    return structure(net, w, prior, scale, factors, notes)


def summarise(net, w: np.ndarray, X: np.ndarray, T: np.ndarray, prior: Prior, beta: Optional[float],
              curvature: Curvature, notes: tuple = ()) -> Posterior:
    """The posterior of a structure's A: gamma per group and the log evidence (PRML 5.175, 5.183). w, X and T are
    ``laplace``'s, already checked."""
    from ..engine.backprop import error as engine_error

    error = float(engine_error(net, w, X, T))
    N, K = X.shape[0], net.K
    covered = curvature.covered
    inverse = curvature.inverse_diagonal()
    groups = {g: a for g, a in prior.alphas.items() if covered[prior.slices[g]].all()}
    sizes = {g: n for g, n in prior.sizes().items() if g in groups}
    gamma_groups = {g: float(np.clip(sizes[g] - a * inverse[prior.slices[g]].sum(), 0.0, sizes[g]))
                    for g, a in groups.items()}  # MacKay 1992; 0 <= gamma_g <= W_g, rounding aside
    d = prior.diagonal()
    flat = int(np.sum((d == 0) & covered))
    gamma = float(flat + sum(gamma_groups.values()))
    log_evidence = (-0.5 * float(np.sum((d * w * w)[covered])) - 0.5 * curvature.log_det()
                    + sum(0.5 * n * math.log(groups[g]) for g, n in sizes.items())
                    + 0.5 * flat * math.log(2 * math.pi))  # the Gaussian integral over each flat-prior direction
    if beta is None:
        log_evidence -= error  # PRML 5.183
    else:
        log_evidence += -beta * error + 0.5 * N * K * (math.log(beta) - math.log(2 * math.pi))  # PRML 5.175
    return Posterior(net, w, dict(prior.alphas), beta, curvature, curvature.name, error, N, gamma, gamma_groups,
                     log_evidence, flat == 0, tuple(notes) + curvature.notes)


def restored(net, w: np.ndarray, alpha: dict, beta: Optional[float], hessian: str, factors: dict, *, error: float,
             N: int, gamma: float, gamma_groups: dict, log_evidence: float, notes: tuple = ()) -> Posterior:
    """The Posterior that a model file keeps: the structure's curvature factors and the numbers computed from
    the data when it was made (no data needed). Raises KeyError naming a missing factor, ValueError where the
    factors do not give a positive definite A."""
    prior = Prior.of(net, alpha)
    curvature = STRUCTURES[hessian](net, w, prior, 1.0 if beta is None else beta, factors)
    return Posterior(net, w, dict(prior.alphas), beta, curvature, hessian, error, N, gamma, dict(gamma_groups),
                     log_evidence, prior.flat() == 0, tuple(notes))


COMMITTEES = ("uniform", "evidence", "best")


@dataclass(frozen=True)
class Committee:
    """A mixture of Laplace approximations, one at the fixed point each start of the evidence reached: the
    predictive distribution sum_r pi_r p(t | x, D, start r) (a committee, PRML 14.2; of Laplace approximations,
    Eschenhagen et al. 2021).

    Attributes
    ----------
    members : tuple of Posterior
        One per start (the first the one of most evidence).
    weights : ndarray (R,)
        pi_r: "uniform", 1/R (the default: the starts' Laplace evidences differ by tens of nats, so weights by
        the evidence are in effect the best start alone, and on the UCI sets the start of most evidence
        predicted no better than any one start while the uniform mixture did, as deep ensembles find);
        "evidence", pi_r proportional to p(D | start r) (MacKay 1992's weights: each fixed point a model);
        "best", the start of most evidence alone.
    kind : str
    """

    members: tuple
    weights: np.ndarray
    kind: str

    @classmethod
    def of(cls, members, kind: str = "uniform") -> "Committee":
        if kind not in COMMITTEES:
            raise ValueError(f"unknown committee {kind!r}; expected one of {', '.join(map(repr, COMMITTEES))}")
        members = tuple(members)
        evidence = np.array([m.log_evidence for m in members])
        if kind == "uniform":
            weights = np.full(len(members), 1.0 / len(members))
        elif kind == "evidence":
            weights = np.exp(evidence - evidence.max())
            weights /= weights.sum()
        else:
            weights = np.eye(len(members))[int(np.argmax(evidence))]
        return cls(members, weights, kind)

    def components(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Each member's predictive mean and variance (PRML 5.172-5.173), (R, N, K) each (regression)."""
        parts = [m.predictive(X) for m in self.members]
        return np.array([p[0] for p in parts]), np.array([p[1] for p in parts])

    def predictive(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """The mixture's mean sum_r pi_r y_r and variance sum_r pi_r (sigma_r^2 + y_r^2) - mean^2, (N, K)."""
        means, variances = self.components(X)
        mean = np.einsum("r,rnk->nk", self.weights, means)
        return mean, np.einsum("r,rnk->nk", self.weights, variances + (means - mean) ** 2)

    def log_density(self, X: Any, T: Any) -> np.ndarray:
        """ln sum_r pi_r prod_k N(t_k | y_rk(x), sigma_rk^2(x)) for each pattern, (N,)."""
        from scipy.special import logsumexp

        means, variances = self.components(X)
        T = np.asarray(T, dtype=np.float64).reshape(means.shape[1:])
        log_p = np.sum(-0.5 * np.log(2 * np.pi * variances) - 0.5 * (T - means) ** 2 / variances, axis=2)  # (R, N)
        keep = self.weights > 0
        return logsumexp(log_p[keep], b=self.weights[keep, None], axis=0)

    def moderated_probabilities(self, X: Any) -> np.ndarray:
        """Classification: sum_r pi_r of each member's moderated class probabilities (PRML 5.190), (N, K)."""
        return np.einsum("r,rnk->nk", self.weights, np.array([m.moderated_probabilities(X) for m in self.members]))


def log_symmetry(post: "Posterior") -> tuple[float, list]:
    """ln of the number of weight vectors equivalent to w_MAP, sum over hidden layers of ln(2^M M!) (PRML 5.1.1):
    the Laplace approximation covers one of the posterior's equivalent modes, so the evidence of a network with
    M hidden units is that of one mode times this (PRML 5.7.2, MacKay 1992).

    Units the prior has pruned, or that duplicate one another, give no new modes when they are swapped or flipped,
    so M is the layer's effective number of units: the well-determined parameters of the weights it sends on,
    gamma_g (PRML 5.179), per unit of the layer they feed (continuous, through ln Gamma(M + 1)). The sign flips
    (2^M) count for activations with h(-a) = -h(a) or 1 - h(a) (tanh, logistic), not for relu or softplus. A
    layer whose weights the structure does not cover (``last_layer``) counts all its units. Returns the log
    factor and each hidden layer's effective M."""
    net = post.net
    total, effective = 0.0, []
    for c in net.connections:
        if c.src == net.input:
            continue
        M = post.gamma_groups.get(c.name, net.layers[c.src].size * net.layers[c.dst].size) / net.layers[c.dst].size
        flips = net.layers[c.src].activation.name in ("tanh", "logistic")
        total += math.lgamma(M + 1) + (M * math.log(2) if flips else 0.0)
        effective.append(float(M))
    return total, effective
