"""The per-layer messages the structured curvatures are built from, in chunks of patterns.

For each layer j after the input: its inputs with the bias, phi_n = [z_src..., 1] over every connection
into j, and G_n = da_out/da_j (K x m_j), the output activations' derivatives sent back to it (PRML
5.74-5.76 with the identity at the outputs); and M_n = dy/da_out, the output kind's Jacobian. The
Gauss-Newton block of layer j is sum_n (G_n^T M_n G_n) (x) (phi_n phi_n^T) (PRML 5.84), and the
gradient of output k with respect to layer j's weights is G_n[k] (x) phi_n.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Iterator

import numpy as np

CHUNK = 1 << 22  # the most numbers the messages of one chunk of patterns hold


@dataclass(frozen=True)
class LayerLayout:
    """Where layer j's weights lie in w, as the augmented matrix [W_src1, W_src2, ..., b] (m_j, F + 1).

    Attributes
    ----------
    name : str
        The layer.
    where : ndarray of int (m_j, F + 1)
        The index in w of each entry of the augmented matrix.
    groups : tuple of str
        The group of w (``"W[j<-src]"`` or ``"b[j]"``) of each of its F + 1 columns.
    masked : bool
        Some connection into j has a mask (absent weights): its block is not a Kronecker product.
    """

    name: str
    where: np.ndarray
    groups: tuple
    masked: bool


_layouts: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def layouts(net) -> list:
    """The ``LayerLayout`` of every layer after the input, in topological order; worked out once per network (a
    network does not change after it is made; their index arrays are read-only): 47 us a call on 13-20-1, two
    calls in each of a default fit's ~85 Laplace approximations (measured)."""
    known = _layouts.get(net)
    if known is None:
        known = _layouts[net] = _make_layouts(net)
    return list(known)


def _make_layouts(net) -> list:
    out = []
    for j, incoming in net.incoming.items():
        m = net.layers[j].size
        columns, groups = [], []
        for c in incoming:
            b = net.block(c.name)
            columns.append(b.offset + np.arange(b.size).reshape(b.shape))
            groups += [c.name] * b.shape[1]
        bias = net.block(f"b[{j}]")
        columns.append(bias.offset + np.arange(m)[:, None])
        groups.append(bias.name)
        where = np.hstack(columns)
        where.flags.writeable = False
        out.append(LayerLayout(j, where, tuple(groups), any(c.mask is not None for c in incoming)))
    return out


def chunk_rows(net, extra_per_pattern: int = 0) -> int:
    """Patterns per chunk so that the messages (and ``extra_per_pattern`` numbers beside them) fit ``CHUNK``."""
    K = net.K
    per_pattern = sum(K * net.layers[j].size + sum(net.layers[c.src].size for c in inc) + 1
                      for j, inc in net.incoming.items()) + K * K + extra_per_pattern
    return max(1, CHUNK // per_pattern)


def messages(net, w: np.ndarray, X: np.ndarray, rows: int) -> Iterator[tuple]:
    """For each chunk of ``rows`` patterns: (phi, G, M), phi and G dicts by layer, (n, F + 1) and (n, K, m_j),
    and M = dy/da_out, (n, K, K)."""
    from ...engine.backprop import forward_pass, weights
    from ...engine.outputs import output_kind
    from ...engine.second import _backward_per_output

    W = weights(net, w)
    K = net.K
    kind = output_kind(net)
    for start in range(0, X.shape[0], rows):
        Xc = X[start : start + rows]
        a, z = forward_pass(net, W, Xc)
        top = np.broadcast_to(np.eye(K), (Xc.shape[0], K, K))
        G = _backward_per_output(net, W, a, z, top)
        phi = {j: np.hstack([z[c.src] for c in inc] + [np.ones((Xc.shape[0], 1))]) for j, inc in net.incoming.items()}
        yield phi, G, kind.jacobian(np, z[net.output])


def output_curvature(G: np.ndarray, M: np.ndarray) -> np.ndarray:
    """sum_n G_n^T M_n G_n, (m, m): the output side of a layer's Gauss-Newton block."""
    MG = np.matmul(M, G)
    m = G.shape[2]
    return G.reshape(-1, m).T @ MG.reshape(-1, m)
