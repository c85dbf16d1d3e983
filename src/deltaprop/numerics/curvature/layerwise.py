"""Layer-wise structures: A block-diagonal by layers, each layer's block Kronecker-factored (``kron``)
or diagonal (``diag``).

Layer j's weights form the augmented matrix [W_src1, ..., b] (m_j x (F + 1)); its Gauss-Newton block
is sum_n Q_n (x) phi_n phi_n^T with Q_n = G_n^T M_n G_n (``passes``).

``kron`` (Martens and Grosse 2015; Ritter, Botev and Barber 2018; the default of laplace-torch,
Daxberger et al. 2021) approximates that sum of Kronecker products by the product of the two sums,

    A_j = s/N Q (x) Z + I (x) D,     Q = sum_n Q_n,  Z = sum_n phi_n phi_n^T,

D the prior precision of each column (its group's alpha: a layer's weights, its biases and, with one alpha per
input, each input's column may differ).
With Q = U diag(lambda) U^T and D^-1/2 Z D^-1/2 = V diag(mu) V^T, A_j = (I (x) D^1/2)(U (x) V)
diag(1 + s/N lambda_i mu_k)(U (x) V)^T (I (x) D^1/2): ln |A_j|, diag(A_j^-1), g^T A_j^-1 g and a draw
from N(0, A_j^-1) all come from the two eigendecompositions, O(m^3 + F^3), never a W x W matrix. With one
pattern (N = 1) the block is exact. A layer with a masked connection into it is not a Kronecker product
of that form: it takes the diagonal block instead, and the structure's notes say so. Skip-layer
connections into a layer are columns of its F like any other.

``diag``: A_j's diagonal alone, s (sum_n diag(Q_n) phi_n^2) + alpha, the diagonal of the Gauss-Newton
matrix (PRML 5.84 with 5.79-5.80's neglect of every off-diagonal term).

Cost: the messages of every layer over the data in chunks, O(N sum_j K m_j (m_j + F_j)) (kron) or
O(N sum_j K m_j F_j) (diag) time and O(CHUNK) memory beside the factors, m_j^2 + F_j^2 numbers per layer.
"""

from __future__ import annotations

import numpy as np

from .base import Curvature, NotPositiveDefinite, flat_note, symmetric
from .passes import chunk_rows, layouts, messages, output_curvature


class KronLayer:
    """A_j = s/N Q (x) Z + I (x) D in closed form (the module's docstring); Z is stored divided by N."""

    def __init__(self, Q, Z, D, scale):
        self.D = D
        root = 1.0 / np.sqrt(D)
        lam, self.U = np.linalg.eigh(Q)
        mu, self.V = np.linalg.eigh(root[:, None] * Z * root[None, :])
        self.root = root
        self.S = scale * np.outer(np.maximum(lam, 0.0), np.maximum(mu, 0.0))  # rounding below 0: PSD sums
        self.R = 1.0 / (1.0 + self.S)
        self.Q, self.Z, self.scale = Q, Z, scale

    def log_det(self):
        return float(np.sum(np.log1p(self.S))) + self.U.shape[0] * float(np.sum(np.log(self.D)))

    def inverse_diagonal(self):
        return (self.U**2 @ self.R @ (self.V**2).T) / self.D[None, :]

    def variance(self, phi, G):
        a2 = np.matmul(G, self.U) ** 2  # (n, K, m)
        b2 = ((phi * self.root) @ self.V) ** 2  # (n, F + 1)
        return np.einsum("nkf,nf->nk", a2 @ self.R, b2)

    def deviations(self, rng, size):
        E = rng.standard_normal((size,) + self.S.shape) * np.sqrt(self.R)
        return (self.U @ E @ self.V.T) * self.root

    def precision(self):
        return self.scale * np.kron(self.Q, self.Z) + np.diag(np.tile(self.D, self.Q.shape[0]))


class DiagLayer:
    """A_j's diagonal, s h + alpha, h = sum_n diag(Q_n) phi_n^2 over the weights present (0/1 in ``present``)."""

    def __init__(self, h, alpha, scale, present):
        self.A = scale * h + alpha
        self.present = present
        if not np.all(self.A > 0):
            raise NotPositiveDefinite("A = diag(alpha) + s H is not positive definite: a weight with a flat prior "
                                      "has no curvature")

    def log_det(self):
        return float(np.sum(np.log(self.A)))

    def inverse_diagonal(self):
        return 1.0 / self.A

    def variance(self, phi, G):
        return np.einsum("nkf,nf->nk", (G**2) @ (self.present / self.A), phi**2)

    def deviations(self, rng, size):
        return rng.standard_normal((size,) + self.A.shape) / np.sqrt(self.A)

    def precision(self):
        return np.diag(self.A.ravel())


class Layerwise(Curvature):
    """A block-diagonal by layers; ``kronecker`` says which layers take the Kronecker-factored block."""

    kronecker = True

    def __init__(self, net, w, prior, scale, factors, notes=()):
        super().__init__(net, w, prior, scale, factors, notes)
        alpha = prior.diagonal()
        self.layouts = layouts(net)
        self.blocks = []
        flat = []
        for lay in self.layouts:
            D = alpha[lay.where[0]]  # each column's alpha: a group is a connection, a column of one, or biases
            if f"Q[{lay.name}]" in factors:
                if not np.all(D > 0):
                    flat += [g for g, d in dict.fromkeys(zip(lay.groups, D)) if d == 0]
                    continue
                self.blocks.append(KronLayer(symmetric(factors[f"Q[{lay.name}]"], f"Q[{lay.name}]"),
                                             symmetric(factors[f"Z[{lay.name}]"], f"Z[{lay.name}]"), D, scale))
            else:
                self.blocks.append(DiagLayer(factors[f"h[{lay.name}]"], alpha[lay.where], scale, _present(net, lay)))
        if flat:
            raise ValueError(flat_note(self.name, flat))

    @classmethod
    def factor_shapes(cls, net):
        shapes = {}
        for lay in layouts(net):
            m, F1 = lay.where.shape
            if cls.kronecker:
                shapes.update({f"Q[{lay.name}]": (m, m), f"Z[{lay.name}]": (F1, F1)})
            shapes[f"h[{lay.name}]"] = (m, F1)
        return shapes

    @classmethod
    def compute(cls, net, w, X, T):
        lays = layouts(net)
        kron = {lay.name: cls.kronecker and not lay.masked for lay in lays}
        sums = {}
        for phi, G, M in messages(net, w, X, chunk_rows(net)):
            for lay in lays:
                j = lay.name
                if kron[j]:
                    parts = (output_curvature(G[j], M), phi[j].T @ phi[j])
                else:
                    c = np.einsum("nkp,nkp->np", G[j], np.matmul(M, G[j]))  # diag(G^T M G) per pattern
                    parts = (c.T @ phi[j] ** 2,)
                sums[j] = parts if j not in sums else tuple(s + p for s, p in zip(sums[j], parts))
        N = X.shape[0]
        factors = {}
        for lay in lays:
            j = lay.name
            if kron[j]:
                factors[f"Q[{j}]"], factors[f"Z[{j}]"] = sums[j][0], sums[j][1] / N
            else:
                factors[f"h[{j}]"] = sums[j][0] * _present(net, lay)
        masked = [lay.name for lay in lays if cls.kronecker and lay.masked]
        notes = () if not masked else (f"layer{'s' if len(masked) > 1 else ''} {', '.join(masked)} "
                                       f"{'have' if len(masked) > 1 else 'has'} a masked connection, which is not a "
                                       f"Kronecker product: {'their' if len(masked) > 1 else 'its'} block is diagonal",)
        return factors, notes

    def log_det(self):
        return sum(b.log_det() for b in self.blocks)

    def inverse_diagonal(self):
        out = np.zeros(self.net.n_params)
        for lay, b in zip(self.layouts, self.blocks):
            out[lay.where] = b.inverse_diagonal()
        return out

    def variance(self, X):
        out = np.zeros((X.shape[0], self.net.K))
        rows = chunk_rows(self.net, self.net.K * max(lay.where.shape[1] for lay in self.layouts))
        start = 0
        for phi, G, _ in messages(self.net, self.w, X, rows):
            n = next(iter(phi.values())).shape[0]
            for lay, b in zip(self.layouts, self.blocks):
                out[start : start + n] += b.variance(phi[lay.name], G[lay.name])
            start += n
        return out

    def deviations(self, rng, size):
        out = np.zeros((size, self.net.n_params))
        for lay, b in zip(self.layouts, self.blocks):
            out[:, lay.where] = b.deviations(rng, size)
        return out

    def precision(self):
        A = np.zeros((self.net.n_params, self.net.n_params))
        for lay, b in zip(self.layouts, self.blocks):
            where = lay.where.ravel()
            A[np.ix_(where, where)] = b.precision()
        return A


def _present(net, lay) -> np.ndarray:
    """Which entries of layer j's augmented matrix are weights that exist (masks), as 0/1."""
    return np.hstack([net.present(c) for c in net.incoming[lay.name]]
                     + [np.ones((net.layers[lay.name].size, 1), dtype=bool)]).astype(float)


class Kron(Layerwise):
    """Kronecker-factored blocks per layer (the module's docstring)."""

    name = "kron"
    kronecker = True


class Diagonal(Layerwise):
    """The diagonal of the Gauss-Newton matrix (the module's docstring)."""

    name = "diag"
    kronecker = False
