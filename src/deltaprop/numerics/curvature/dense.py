"""Dense structures: A as one matrix over the weights it covers. ``exact`` (the Hessian, PRML 5.4.5),
``ggn`` (the outer-product or Gauss-Newton matrix, 5.84-5.85) and ``last_layer`` (the output layer's
weights alone, given the features z of the layer below at w_MAP: Bayesian linear regression on them,
PRML 3.3 and 3.5, for linear outputs; its Gauss-Newton block, which is its exact Hessian, for the others).

Cost, with P the weights covered: P^2 numbers for A, O(P^3) for its Cholesky factor (exact: and an
eigendecomposition), and the curvature from the data: O(N W^2) for exact and ggn, O(N K^2 F^2) for
last_layer (F the output layer's inputs).
"""

from __future__ import annotations

import numpy as np

from ...fast.second import gram
from .base import Curvature, cholesky, inverse_diagonal, symmetric
from .passes import CHUNK, layouts


class Dense(Curvature):
    """A = diag(alpha) + s H over the entries ``where`` of w, H a dense (P, P) matrix (``factors["H"]``)."""

    def __init__(self, net, w, prior, scale, factors, notes=()):
        super().__init__(net, w, prior, scale, factors, notes)
        self.where = self.entries(net)
        self.covered = np.zeros(net.n_params, dtype=bool)
        self.covered[self.where] = True
        self.d = prior.diagonal()[self.where]
        self.A = scale * symmetric(factors["H"], "H")
        self.A[np.diag_indices_from(self.A)] += self.d
        self.L = cholesky(self.A, "A = diag(alpha) + s H")

    @staticmethod
    def entries(net) -> np.ndarray:
        return np.arange(net.n_params)

    @classmethod
    def factor_shapes(cls, net):
        P = len(cls.entries(net))
        return {"H": (P, P)}

    def log_det(self) -> float:
        return 2.0 * float(np.sum(np.log(np.diag(self.L))))

    def inverse_diagonal(self) -> np.ndarray:
        out = np.zeros(self.net.n_params)
        out[self.where] = inverse_diagonal(self._gamma_factor())
        return out

    def _gamma_factor(self) -> np.ndarray:
        return self.L

    def jacobian(self, X: np.ndarray) -> np.ndarray:
        """da_k/dw over the entries covered, (N, K, P)."""
        from ...fast import weight_jacobian

        return weight_jacobian(self.net, self.w, X, activations=True)

    def variance(self, X):
        from scipy.linalg import cho_solve

        K, P = self.net.K, len(self.where)
        out = np.empty((X.shape[0], K))
        rows = max(1, CHUNK // (K * P))
        for start in range(0, X.shape[0], rows):
            flat = self.jacobian(X[start : start + rows]).reshape(-1, P)
            out[start : start + rows] = np.einsum("nw,wn->n", flat, cho_solve((self.L, True), flat.T)).reshape(-1, K)
        return out

    def deviations(self, rng, size):
        from scipy.linalg import solve_triangular

        out = np.zeros((size, self.net.n_params))
        out[:, self.where] = solve_triangular(self.L.T, rng.standard_normal((len(self.where), size)), lower=False).T
        return out

    def precision(self):
        A = np.diag(self.prior.diagonal())
        A[np.ix_(self.where, self.where)] = self.A
        return A


class Exact(Dense):
    """The exact Hessian of E_D (PRML 5.4.5), by the layer-wise formulas of ``deltaprop.fast.second``.

    Away from a minimum of E_D (w_MAP minimises E_D plus the penalty) s H may have negative
    eigenvalues; A stays positive definite there, but for gamma they count as 0, as in Netlab, so that
    0 <= gamma_g <= W_g."""

    name = "exact"

    @classmethod
    def compute(cls, net, w, X, T):
        from ...fast import hessian

        return {"H": hessian(net, w, X, T)}, ()

    def _gamma_factor(self):
        from scipy.linalg import eigh

        lam, U = eigh(self.scale * np.asarray(self.factors["H"], dtype=np.float64))
        if lam.min() >= 0:
            return self.L
        A = gram(U.T * np.sqrt(np.maximum(lam, 0.0))[:, None])  # U diag(max(lam, 0)) U^T
        A[np.diag_indices_from(A)] += self.d
        return cholesky(A, "A with the negative curvature dropped")


class GaussNewton(Dense):
    """The outer-product (Gauss-Newton) approximation sum_n B_n^T M_n B_n (PRML 5.84-5.85): positive
    semi-definite at any w, so A is positive definite wherever every group has a prior."""

    name = "ggn"

    @classmethod
    def compute(cls, net, w, X, T):
        from ...fast import outer_product_hessian

        return {"H": outer_product_hessian(net, w, X, T)}, ()


class LastLayer(Dense):
    """The output layer's weights alone: H = sum_n M_n (x) phi_n phi_n^T over its augmented weights
    [W, b] (K x (F + 1)), phi_n the inputs of the output layer at w_MAP with a 1 for the bias; the
    weights below are held at w_MAP. For linear outputs this is exact Bayesian linear regression on
    the features phi (PRML 3.3, 3.5)."""

    name = "last_layer"

    @staticmethod
    def entries(net):
        return layouts(net)[-1].where.ravel()

    @classmethod
    def _features(cls, net, w, X):
        """phi for each pattern, (N, F + 1), the output layer's mask (K, F + 1), and y, (N, K)."""
        from ...engine.backprop import forward_pass, weights

        z = forward_pass(net, weights(net, w), X)[1]
        incoming = net.incoming[net.output]
        phi = np.hstack([z[c.src] for c in incoming] + [np.ones((X.shape[0], 1))])
        present = np.hstack([net.present(c) for c in incoming] + [np.ones((net.K, 1), dtype=bool)])
        return phi, present, z[net.output]

    @classmethod
    def compute(cls, net, w, X, T):
        from ...engine.outputs import output_kind

        K = net.K
        F1 = sum(net.layers[c.src].size for c in net.incoming[net.output]) + 1
        H = np.zeros((K, F1, K, F1))
        rows = max(1, CHUNK // (K * K * F1))
        for start in range(0, X.shape[0], rows):
            phi, present, y = cls._features(net, w, X[start : start + rows])
            M = output_kind(net).jacobian(np, y)  # (n, K, K)
            U = (M[:, :, :, None] * phi[:, None, None, :]).reshape(phi.shape[0], -1)  # (n, K K F1)
            H += (U.T @ phi).reshape(K, K, F1, F1).transpose(0, 2, 1, 3)
        mask = present.ravel().astype(float)
        H = H.reshape(K * F1, K * F1) * np.outer(mask, mask)
        return {"H": 0.5 * (H + H.T)}, ()

    def jacobian(self, X):
        phi, present, _ = self._features(self.net, self.w, X)
        K = self.net.K
        J = np.eye(K)[None, :, :, None] * (phi[:, None, :] * present[None, :, :])[:, None, :, :]  # (n, K, K, F1)
        return J.reshape(X.shape[0], K, -1)
