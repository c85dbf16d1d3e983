"""Second derivatives of a layered network in NumPy: H v, the input and weight Jacobians, and the
exact Hessian by the layer-wise formulas (Bishop 1992; PRML 5.4.5), for the chains of layers that
``deltaprop.fast.layered`` accepts and NumPy float data.

The engine (``deltaprop.engine.second``) holds the definitions for any network and array library;
here the same quantities come from fewer, larger NumPy calls: no dictionaries of messages, outer
products with one output as ``numpy.dot`` (a BLAS call, where ``@`` with an inner dimension of 1
is a slow loop), and the exact Hessian as matrix products instead of n_params products H e_i.

Notation (a chain of weight layers l = 1..L): a^l = W^l z^(l-1) + b^l, z^l = h(a^l), y = z^L,
Z^(l-1) = [z^(l-1), 1] (the bias as a weight from a unit fixed at 1), delta^l = dE_n/da^l,
b^(l,j) = da^l/da^j, and M_n = dy/da^L, the output kind's Jacobian.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import numpy as xp_numpy

from ..engine.outputs import OUTPUT_KINDS

CHUNK = 1 << 22  # the most entries of a pattern-indexed temporary held at once in ``hessian``
CACHED_BYTES = 1 << 16  # H v: the largest (rows, units) array of a chunk of patterns
MIN_CHUNK_ROWS = 128  # fewer rows than this per chunk (wide layers): no chunks, the products dominate


def gram(B: np.ndarray) -> np.ndarray:
    """B^T B, (W, W), for B (n, W): one dsyrk of SciPy's BLAS, its lower triangle mirrored (exactly symmetric).
    SciPy's, as the dense curvature structures' Cholesky factors (``deltaprop.numerics.curvature.base``): two
    OpenBLAS thread pools used by turns slowed each other several times over (measured there)."""
    from scipy.linalg.blas import dsyrk

    C = dsyrk(1.0, np.asarray(B, dtype=np.float64).T, lower=1)  # B.T of a C-ordered B is Fortran-ordered: no copy
    S = C + C.T  # the upper triangle of C is 0: every entry off the diagonal is one of C's, the diagonal twice
    np.fill_diagonal(S, np.diagonal(C))
    return S


class Chain:
    """A layered network's weights as per-layer matrices, and the flat layout of w."""

    def __init__(self, net):
        names = list(net.layers)
        self.net, self.K = net, net.K
        self.layers = []  # (W slice, W shape, b slice, activation) per weight layer
        for src, dst in zip(names[:-1], names[1:]):
            Wb, bb = net.block(f"W[{dst}<-{src}]"), net.block(f"b[{dst}]")
            shape = (net.layers[dst].size, net.layers[src].size)
            self.layers.append((slice(Wb.offset, Wb.offset + Wb.size), shape, slice(bb.offset, bb.offset + bb.size),
                                net.layers[dst].activation))
        self.output = OUTPUT_KINDS[net.layers[net.output].activation.name]

    def augmented(self) -> np.ndarray:
        """Where entry (p, i) of each layer's augmented matrix [W^l, b^l] lies in w, layer after layer."""
        return np.concatenate([
            np.column_stack([np.arange(Ws.start, Ws.stop).reshape(shape), np.arange(bs.start, bs.stop)]).ravel()
            for Ws, shape, bs, _ in self.layers])

    def matrices(self, w: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(w[Ws].reshape(shape), w[bs]) for Ws, shape, bs, _ in self.layers]

    def forward(self, w: np.ndarray, X: np.ndarray, second: bool = False):
        """z^0..z^L, and h'(a^l), h''(a^l) of the hidden layers (PRML 5.48-5.49)."""
        z, h1, h2 = [X], [], []
        for l, ((W, b), (_, _, _, act)) in enumerate(zip(self.matrices(w), self.layers)):
            a = z[-1] @ W.T
            a += b
            z.append(act.h(xp_numpy, a))
            if l < len(self.layers) - 1:
                h1.append(act.derivative(xp_numpy, a, z[-1]))
                if second:
                    h2.append(act.second_derivative(xp_numpy, a, z[-1]))
        return z, h1, h2

    def output_jacobian(self, y: np.ndarray) -> np.ndarray:
        """M_n = dy_n/da_n, (N, K, K)."""
        return self.output.jacobian(xp_numpy, y)


def _outer(u: np.ndarray, W: np.ndarray) -> np.ndarray:
    """u @ W for an inner dimension that may be 1 (one output), by BLAS."""
    return np.dot(u, W)


def hessian_vector_product(net, w: np.ndarray, X: np.ndarray, T: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v by the R-operator (PRML 5.92-5.98), as ``deltaprop.engine.second.hessian_vector_product``.

    Small layers take the patterns in chunks whose (rows, units) arrays stay within ``CACHED_BYTES``:
    fresh arrays larger than that come from the operating system page by page, which on small
    networks cost more than the arithmetic (measured: H v on Boston's 13-50-1 network 0.55 ms in
    chunks of 160 rows, 0.86 ms whole, against 0.26 ms for a gradient).
    """
    chain = Chain(net)
    widest = max(layer.size for layer in net.layers.values())
    rows = CACHED_BYTES // (w.dtype.itemsize * widest)
    if rows < MIN_CHUNK_ROWS or rows >= X.shape[0]:
        return _hessian_vector_product(chain, w, X, T, v)
    out = _hessian_vector_product(chain, w, X[:rows], T[:rows], v)
    for start in range(rows, X.shape[0], rows):
        out += _hessian_vector_product(chain, w, X[start : start + rows], T[start : start + rows], v)
    return out


def _hessian_vector_product(chain: Chain, w, X, T, v) -> np.ndarray:
    """H v on all the rows of (X, T) at once; each array not needed again is overwritten by the next."""
    Ws, Vs = chain.matrices(w), chain.matrices(v)
    z, h1, h2 = chain.forward(w, X, second=True)
    L = len(Ws)
    Ra, Rz = [], [None]
    for l, ((W, _), (V, c)) in enumerate(zip(Ws, Vs)):
        r = z[l] @ V.T  # R{a} = V z + c + W R{z} (PRML 5.92)
        r += c
        if l:
            r += Rz[l] @ W.T
        Ra.append(r)
        if l < L - 1:
            Rz.append(h1[l] * r)  # R{z} = h'(a) R{a} (5.93)
    y = z[L]
    delta = y - T
    Rdelta = Ra[-1] if chain.output.name == "linear" else np.einsum("nkm,nm->nk", chain.output_jacobian(y), Ra[-1])
    out = np.empty_like(w)
    for l in range(L - 1, -1, -1):
        Wslice, shape, bslice, _ = chain.layers[l]
        g = out[Wslice].reshape(shape)
        np.matmul(Rdelta.T, z[l], out=g)  # R{dE/dw} = R{delta} z + delta R{z} (5.97)
        if l:
            g += delta.T @ Rz[l]
        out[bslice] = Rdelta.sum(axis=0)
        if l:
            W, V = Ws[l][0], Vs[l][0]
            s = _outer(delta, W)
            Rs = _outer(Rdelta, W)
            Rs += _outer(delta, V)
            Rdelta = Ra[l - 1]  # R{delta} = h''(a) R{a} s + h'(a) R{s} (5.96)
            Rdelta *= h2[l - 1]
            Rdelta *= s
            Rs *= h1[l - 1]
            Rdelta += Rs
            s *= h1[l - 1]
            delta = s
    return out


def _backward_per_output(chain: Chain, Ws, h1, top: np.ndarray) -> list[np.ndarray]:
    """G^l[n, k, :] = d(output k)/da^l for every layer, from ``top`` = d(output)/da^L (PRML 5.74-5.76)."""
    G = [top]
    for l in range(len(Ws) - 1, 0, -1):
        G.append(h1[l - 1][:, None, :] * (G[-1] @ Ws[l][0]))
    return G[::-1]


def jacobian(net, w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """dy_k/dx_i, (N, K, D) (PRML 5.73-5.78)."""
    chain = Chain(net)
    Ws = chain.matrices(w)
    z, h1, _ = chain.forward(w, X)
    return _backward_per_output(chain, Ws, h1, chain.output_jacobian(z[-1]))[0] @ Ws[0][0]


def weight_jacobian(net, w: np.ndarray, X: np.ndarray, activations: bool = False) -> np.ndarray:
    """dy_nk/dw, or da_nk/dw with ``activations``, (N, K, n_params)."""
    chain = Chain(net)
    Ws = chain.matrices(w)
    z, h1, _ = chain.forward(w, X)
    N, K = X.shape[0], chain.K
    top = np.broadcast_to(np.eye(K, dtype=w.dtype), (N, K, K)) if activations or chain.output.name == "linear" \
        else chain.output_jacobian(z[-1])
    G = _backward_per_output(chain, Ws, h1, top)
    B = np.empty((N, K, net.n_params), dtype=w.dtype)
    for l, (Wslice, shape, bslice, _) in enumerate(chain.layers):
        B[:, :, Wslice] = (G[l][:, :, :, None] * z[l][:, None, None, :]).reshape(N, K, -1)
        B[:, :, bslice] = G[l]
    return B


def outer_product_hessian(net, w: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """sum_n B_n^T M_n B_n with B_n = da_n/dw (PRML 5.84-5.85), patterns taken in chunks."""
    chain = Chain(net)
    H = np.zeros((net.n_params, net.n_params), dtype=w.dtype)
    rows = max(1, CHUNK // (chain.K * net.n_params))
    for start in range(0, X.shape[0], rows):
        Xc = X[start : start + rows]
        B = weight_jacobian(net, w, Xc, activations=True)
        B2 = B.reshape(-1, net.n_params)
        if chain.output.name == "linear":
            H += gram(B2)
        else:
            M = chain.output_jacobian(chain.forward(w, Xc)[0][-1])
            H += B2.T @ (M @ B).reshape(-1, net.n_params)
    return 0.5 * (H + H.T)


def hessian(net, w: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The exact Hessian of E(w), (n_params, n_params), by the layer-wise formulas (Bishop 1992;
    ``_hessian_of_rows``), the patterns taken in chunks so that no temporary holds more than ``CHUNK``
    numbers: memory W^2 for H (three times, for its symmetrisation and layout) and O(CHUNK) beside it,
    at any N; time O(N W^2) for the products plus O(W^2) per chunk to add each chunk's blocks."""
    chain = Chain(net)
    units = [shape[0] for _, shape, _, _ in chain.layers]  # m_l, the units of weight layer l
    inputs = [shape[1] + 1 for _, shape, _, _ in chain.layers]  # its inputs with the bias
    L = len(units)
    per_pattern = max([net.n_params, chain.K * max(units)]  # B (one output) or G^l (K outputs)
                      + [units[l] * inputs[l] * units[j] for l in range(L) for j in range(l)]  # F (n, p, k, q)
                      + [units[l] * units[j] for l in range(L) for j in range(l + 1)])  # b, beta (n, p, q)
    rows = max(1, CHUNK // per_pattern)
    H = _hessian_of_rows(chain, w, X[:rows], T[:rows])
    for start in range(rows, X.shape[0], rows):
        H += _hessian_of_rows(chain, w, X[start : start + rows], T[start : start + rows])
    return H


def _hessian_of_rows(chain: Chain, w: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The exact Hessian of the sum of E_n over the rows of (X, T), by the layer-wise formulas (Bishop 1992).

    With dE_n/dw_pk = delta_p z_k, differentiating again gives, for the weights w_pk (into unit p of
    layer l) and w_qi (into unit q of layer j <= l),

        d2E_n / dw_pk dw_qi = z_k z_i beta_pq + delta_p h'(a_k) b_kq z_i,

    with beta_pq = d delta_p / da_q, sent backwards as beta^L = M_n b^(L,j) and
    beta^l = h''(a^l) (W^(l+1)T delta^(l+1)) b^(l,j) + h'(a^l) W^(l+1)T beta^(l+1) (the second term
    when layer l-1 lies at or after j). The part of beta that comes from M_n summed over the patterns
    is the outer-product (Gauss-Newton) term sum_n B_n^T M_n B_n (PRML 5.84), one matrix product; the
    rest (the terms in delta) is built block by block. The blocks with j > l are the transposes.
    """
    Ws = chain.matrices(w)
    z, h1, h2 = chain.forward(w, X, second=True)
    L, N = len(Ws), X.shape[0]
    Z = [np.column_stack([zl, np.ones(N, dtype=w.dtype)]) for zl in z[:-1]]
    y = z[L]
    delta = [None] * L
    delta[L - 1] = y - T
    s = [None] * L  # s^l = delta^(l+1) W^(l+1) (without the bias column): the message to layer l
    for l in range(L - 2, -1, -1):
        s[l] = _outer(delta[l + 1], Ws[l + 1][0])
        delta[l] = h1[l] * s[l]

    # the outer-product term, in the augmented layout [W^l, b^l] per layer, then moved to w's
    offsets = np.cumsum([0] + [Ws[l][0].shape[0] * Z[l].shape[1] for l in range(L)])
    H = np.zeros((offsets[-1], offsets[-1]), dtype=w.dtype)
    _outer_product_term(chain, H, offsets, Ws, h1, Z, chain.output_jacobian(y))

    # the terms in delta, block (l, j) for j <= l; the blocks with j > l are their transposes
    for j in range(L - 1):
        eye = np.broadcast_to(np.eye(Ws[j][0].shape[0], dtype=w.dtype), (N,) + (Ws[j][0].shape[0],) * 2)
        b = [eye]  # b^(l, j) for l = j, j+1, ..., L-2
        for l in range(j + 1, L - 1):
            b.append(Ws[l][0] @ (h1[l - 1][:, :, None] * b[-1]))
        beta = None  # beta~^(l, j): zero at the outputs, where all of beta is the outer-product term
        for l in range(L - 2, j - 1, -1):
            own = (h2[l] * s[l])[:, :, None] * b[l - j] if l > j or beta is not None else None
            sent = None if beta is None else h1[l][:, :, None] * (Ws[l + 1][0].T @ beta)
            beta = sent if own is None else own if sent is None else own + sent
            if beta is None:  # l == j == L - 2: beta~ is diag(h''(a) s), one Gram matrix per unit
                block = _diagonal_block(h2[l] * s[l], Z[l])
            else:
                block = _beta_block(beta, Z[l], Z[j])
            _add_block(H, offsets, l, j, block)
            if beta is None:
                break
        for l in range(j + 1, L):  # delta_p h'(a_k) b_kq z_i, k a unit of layer l-1 (at or after layer j)
            F = delta[l][:, :, None, None] * (h1[l - 1][:, :, None] * b[l - 1 - j])[:, None, :, :]  # (N, p, k, q)
            block = np.zeros((Ws[l][0].shape[0], Z[l].shape[1], Ws[j][0].shape[0], Z[j].shape[1]), dtype=w.dtype)
            block[:, :-1] = np.einsum("npkq,ni->pkqi", F, Z[j], optimize=True)
            _add_block(H, offsets, l, j, block)
    flat = np.empty_like(H)
    where = chain.augmented()
    flat[np.ix_(where, where)] = H
    return 0.5 * (flat + flat.T)  # symmetric to the bit, as the engine's


def _outer_product_term(chain: Chain, H, offsets, Ws, h1, Z, M) -> None:
    """Add sum_n B_n^T M_n B_n (PRML 5.84) to the augmented H.

    One output: B^T M B as one product of (N, W) matrices. K outputs: block (l, j) is
    sum_n C_n[p, q] Z^l_nk Z^j_ni with C_n = G^l_n^T M_n G^j_n, the K outputs contracted first, which
    costs N W^2 rather than the N K W^2 of B^T (M B) with B (N K, W) (measured on the digits'
    64-20-10 softmax network, N = 1500: 0.2 s against 1.4 s).
    """
    N, K, L = Z[0].shape[0], chain.K, len(Ws)
    G = _backward_per_output(chain, Ws, h1, np.broadcast_to(np.eye(K, dtype=H.dtype), (N, K, K)))
    if K == 1:
        B = np.concatenate([(G[l][:, 0, :, None] * Z[l][:, None, :]).reshape(N, -1) for l in range(L)], axis=1)
        H += (M[:, 0, 0, None] * B).T @ B if chain.output.name != "linear" else B.T @ B
        return
    MG = [M @ G[j] for j in range(L)]  # (N, K, m_j)
    for j in range(L):
        for l in range(j, L):
            _add_block(H, offsets, l, j, _beta_block(np.matmul(G[l].transpose(0, 2, 1), MG[j]), Z[l], Z[j]))


def _beta_block(beta: np.ndarray, Zl: np.ndarray, Zj: np.ndarray) -> np.ndarray:
    """sum_n beta[n, p, q] Zl[n, k] Zj[n, i], (p, k, q, i), patterns taken in chunks."""
    N, m_l, m_j = beta.shape
    out = np.zeros((m_l * Zl.shape[1] * m_j, Zj.shape[1]), dtype=beta.dtype)
    rows = max(1, CHUNK // (m_l * Zl.shape[1] * m_j))
    for start in range(0, N, rows):
        part = slice(start, start + rows)
        U = beta[part, :, None, :] * Zl[part, None, :, None]  # (n, p, k, q)
        out += U.reshape(U.shape[0], -1).T @ Zj[part]
    return out.reshape(m_l, Zl.shape[1], m_j, Zj.shape[1])


def _diagonal_block(c: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """The block of beta = diag(c): sum_n c[n, p] Z[n, k] Z[n, i] at (p, k, p, i), zero off p = q."""
    N, m = c.shape
    gram = np.matmul((c[:, :, None] * Z[:, None, :]).transpose(1, 2, 0), Z)  # (p, k, i)
    block = np.zeros((m, Z.shape[1], m, Z.shape[1]), dtype=c.dtype)
    block[np.arange(m), :, np.arange(m), :] = gram
    return block


def _add_block(H: np.ndarray, offsets: np.ndarray, l: int, j: int, block: np.ndarray) -> None:
    """Add block (l, j) of the augmented Hessian, and its transpose at (j, l) when l != j."""
    rows, cols = slice(offsets[l], offsets[l + 1]), slice(offsets[j], offsets[j + 1])
    block = block.reshape(rows.stop - rows.start, cols.stop - cols.start)
    H[rows, cols] += block
    if l != j:
        H[cols, rows] += block.T
