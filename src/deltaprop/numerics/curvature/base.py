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


# The dense structures do their W^3 work in SciPy's LAPACK alone (``cholesky``, ``inverse_diagonal``; their
# W^2 products by ``fast.second.gram``, SciPy's BLAS): NumPy's and SciPy's are two OpenBLAS builds with two
# thread pools, and alternating between them left one pool's idle threads spinning against the other's work.
# Measured on 2 cores, A's Cholesky factor and diag(A^-1) from B (455 x 301, Boston's 13-20-1): 8.1 ms with
# NumPy's product and Cholesky and scipy.linalg.solve_triangular against the identity, 1.7 ms here; 92 against
# 24 ms at W = 991. With SciPy's alone, limiting the threads (``fast.blas``) changed nothing (Laplace
# approximations of 301 to 3151 weights within 2%), so they keep the caller's setting.


def cholesky(A: np.ndarray, what: str) -> np.ndarray:
    """The lower Cholesky factor of A (LAPACK dpotrf), or ``NotPositiveDefinite`` naming ``what``."""
    from scipy.linalg.lapack import dpotrf

    L, info = dpotrf(A, lower=1, clean=1)
    if info != 0 or not np.all(np.isfinite(np.diag(L))):
        raise NotPositiveDefinite(f"{what} is not positive definite")
    return L


def inverse_diagonal(L: np.ndarray) -> np.ndarray:
    """diag(A^-1) from A's lower Cholesky factor L: A^-1 = L^-T L^-1, so entry j is the sum of squares of
    column j of L^-1 (LAPACK dtrtri)."""
    from scipy.linalg.lapack import dtrtri

    L_inv, info = dtrtri(L, lower=1)
    if info != 0:
        raise NotPositiveDefinite("A's Cholesky factor is singular")
    return np.einsum("ij,ij->j", L_inv, L_inv)


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
