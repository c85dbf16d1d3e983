"""What every curvature structure gives the Laplace approximation, and nothing more.

A structure approximates the precision of the posterior over w,

    A = diag(alpha) + s H,          s = beta for regression (PRML 5.166), 1 for classification (5.7.3),

by the H of its kind, and answers four questions about it: ln |A| (for the evidence, 5.174-5.175),
diag(A^-1) (for gamma_g = W_g - alpha_g Tr_g(A^-1), MacKay 1992, the re-estimation of 5.178-5.180),
g^T A^-1 g for a batch of patterns (the predictive variance, 5.173, 5.187) and a draw of w from
N(w_MAP, A^-1). A structure may cover only some of w (``last_layer``); the rest is then held at w_MAP
and takes no part in any of the four.

A structure is built in two steps: ``compute`` finds its curvature factors from the data at w (the
costly part, which the model file keeps as tensors), and the constructor combines them with the prior
and s (the cheap part, done again when a file is read).
"""

from __future__ import annotations

from typing import Optional

import numpy as np


class NotPositiveDefinite(ValueError):
    """A = diag(alpha) + s H is not positive definite."""


class Curvature:
    """The posterior precision A = diag(alpha) + s H of one structure (see the module's docstring).

    Attributes
    ----------
    name : str
        The structure: "exact", "ggn", "kron", "diag" or "last_layer".
    covered : ndarray of bool (n_params,)
        The entries of w the structure covers.
    notes : tuple of str
        What the structure did that a reader should know (a layer it could not factor, ...).
    """

    name = ""

    def __init__(self, net, w: np.ndarray, prior, scale: float, factors: dict, notes: tuple = ()):
        self.net, self.w, self.prior, self.scale = net, w, prior, float(scale)
        self.factors = factors
        self.notes = tuple(notes)
        self.covered = np.ones(net.n_params, dtype=bool)

    @classmethod
    def compute(cls, net, w: np.ndarray, X: np.ndarray, T: np.ndarray) -> tuple[dict, tuple]:
        """The curvature factors at w from the data (arrays, by name) and notes."""
        raise NotImplementedError

    @classmethod
    def factor_shapes(cls, net) -> dict:
        """The shape of each factor ``compute`` may give for ``net`` (what a model file may hold)."""
        raise NotImplementedError

    def log_det(self) -> float:
        """ln |A| over the entries covered."""
        raise NotImplementedError

    def inverse_diagonal(self) -> np.ndarray:
        """diag(A^-1), (n_params,); 0 where not covered."""
        raise NotImplementedError

    def variance(self, X: np.ndarray) -> np.ndarray:
        """g^T A^-1 g for each pattern and output, (N, K), g = da_k/dw (= dy_k/dw for linear outputs), chunked."""
        raise NotImplementedError

    def deviations(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws of w - w_MAP from N(0, A^-1), (size, n_params); 0 where not covered."""
        raise NotImplementedError

    def precision(self) -> np.ndarray:
        """A as a dense (n_params, n_params) matrix (the prior's diagonal where not covered): for checks on
        small networks."""
        raise NotImplementedError


def cholesky(A: np.ndarray, what: str) -> np.ndarray:
    """The lower Cholesky factor of A, or ``NotPositiveDefinite`` naming ``what``."""
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise NotPositiveDefinite(f"{what} is not positive definite") from None


def symmetric(M: np.ndarray, what: str) -> np.ndarray:
    """M as float64 if it is symmetric (to rounding), else ``NotPositiveDefinite`` naming ``what``: a curvature
    factor read from a file is data, and a Cholesky factor or an eigendecomposition would read one triangle only.
    Exact symmetry, what the curvature passes compute (every factor of a default Boston fit), is looked for first:
    a tenth of ``np.allclose``'s time, four of which took 0.2 of the 1.4 ms of a Laplace approximation."""
    M = np.asarray(M, dtype=np.float64)
    square = M.ndim == 2 and M.shape[0] == M.shape[1]
    with np.errstate(invalid="ignore"):  # a NaN entry: refused below, without NumPy's warning about atol
        close = square and (np.array_equal(M, M.T) or
                            np.allclose(M, M.T, rtol=1e-10, atol=1e-12 * np.abs(M).max(initial=0)))
    if not close:
        raise NotPositiveDefinite(f"{what} is not a symmetric matrix")
    return M


def flat_note(name: str, groups) -> Optional[str]:
    """The error for a structure that needs a proper prior on groups that have none."""
    return (f"hessian={name!r} needs a prior precision on every group of weights it covers; "
            f"{', '.join(groups)} {'has' if len(groups) == 1 else 'have'} a flat prior (alpha as one number "
            f"leaves the biases flat): give an alpha per group")
