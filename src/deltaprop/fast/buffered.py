"""The ``buffered`` backend: backpropagation through wide layers as NumPy matrix products into
buffers allocated once.

For a layered network whose layers are too wide for the compiled loops
(``deltaprop.fast.compiled``), E and its gradient are matrix products, and what costs beyond them is
allocating, filling and freeing the arrays that hold a, z and delta at every
step, and passing over them once per NumPy call. Here those arrays are
allocated once per ``Buffers`` and every product and activation writes into
them (``out=``); the gradient is written straight into the views of a flat
vector. The output deltas with E, and each hidden layer's h' with its bias
gradient, are single compiled passes (``deltaprop.fast.kernels``); below a layer of one unit (a
single output, as in most regressions) the messages sent back are an outer product, which the same
pass computes (``outer_times_h_prime_and_sum``: a whole W7 fit 0.80 of its time, measured). In float64 a tanh layer's
bias addition and tanh are one compiled pass too, by the kernels' tanh (``add_bias_and_tanh``:
an evaluation of W7's 8-50-1 network on 8192 rows took 0.945 of its time, measured); in float32
they stay NumPy's, whose float32 tanh is vectorised in float32. A mixture density output (PRML 5.6) takes its E and
deltas from ``mixture_output_deltas``, one compiled pass per row. The equations and their order are those of
``deltaprop.engine.backprop`` (PRML 5.48-5.57), so the result equals the
reference's to rounding (tested).

Data larger than ``CHUNK`` rows is taken in chunks of that many rows, so the
buffers stay the size of one chunk whatever N is.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.special import expit

from ..engine.outputs import output_kind
from .kernels import (add_bias_and_tanh, mixture_output_deltas, outer_times_h_prime_and_sum, output_deltas,
                      times_h_prime_and_sum)

CHUNK = 1024  # rows per pass when the whole data is evaluated


#: z = h(a) written into z (PRML 5.49), for each hidden activation of the engine's table.
H_INTO = {
    "linear": lambda a, z: np.copyto(z, a),
    "tanh": lambda a, z: np.tanh(a, out=z),
    "logistic": lambda a, z: expit(a, out=z),
    "relu": lambda a, z: np.maximum(a, 0, out=z),
    "softplus": lambda a, z: np.logaddexp(a, 0, out=z),
}


class Buffers:
    """E and dE/dw of a layered network on rows of (X, T), computed in buffers for ``rows`` rows at a time.

    Parameters
    ----------
    net : Network
        A layered network (``deltaprop.fast.layered``).
    rows : int
        The most rows one pass takes; more are taken in passes of this many.
    dtype : NumPy dtype
        The dtype of w, X and T.
    """

    def __init__(self, net, rows: int, dtype):
        names = list(net.layers)
        blocks = {b.name: b for b in net.blocks}
        self.net, self.rows = net, rows
        self.layers = []  # (src, dst, h, where W[dst<-src] lies in w, its shape, where b[dst] lies)
        for src, dst in zip(names[:-1], names[1:]):
            W, b = blocks[f"W[{dst}<-{src}]"], blocks[f"b[{dst}]"]
            self.layers.append((src, dst, net.layers[dst].activation, slice(W.offset, W.offset + W.size), W.shape,
                                slice(b.offset, b.offset + b.size)))
        self.a = {dst: np.empty((rows, net.layers[dst].size), dtype) for _, dst, *_ in self.layers}
        self.z = {dst: np.empty_like(self.a[dst]) for _, dst, *_ in self.layers[:-1]}
        self.delta = {dst: np.empty_like(self.a[dst]) for _, dst, *_ in self.layers}
        self.bias = {dst: b for _, dst, *_, b in self.layers}
        self.h_code = {dst: h.code for _, dst, h, *_ in self.layers[:-1]}
        unknown = [h.name for _, _, h, *_ in self.layers[:-1] if h.name not in H_INTO]
        if unknown:
            raise ValueError(f"the buffered backend has no h for the activation {unknown[0]!r}")
        self.h_into = {dst: H_INTO[h.name] for _, dst, h, *_ in self.layers[:-1]}
        self.fused_tanh = {dst: h.name == "tanh" and np.dtype(dtype) == np.float64 for _, dst, h, *_ in self.layers[:-1]}
        self.output, self.output_code = names[-1], output_kind(net).code
        self.components = net.layers[names[-1]].activation.components or 0  # M of a mixture density output
        self.gb_out = np.empty(net.layers[names[-1]].size, dtype)  # the output deltas' sum where no gradient is wanted
        self.g_chunk: Optional[np.ndarray] = None  # the gradient of a later chunk, allocated when first needed

    def error(self, w: np.ndarray, X: np.ndarray, T: np.ndarray) -> float:
        """E(w) on all rows of (X, T) (PRML 5.44): forward passes only."""
        E = 0.0
        for start in range(0, X.shape[0], self.rows):
            _, a_out = self._forward(w, X[start : start + self.rows])
            E += self._error(a_out, T[start : start + self.rows], self.gb_out)
        return E

    def error_and_gradient(self, w: np.ndarray, X: np.ndarray, T: np.ndarray, g: np.ndarray) -> float:
        """E(w) on all rows of (X, T), and its gradient written into g (laid out as w)."""
        E = self._pass(w, X[: self.rows], T[: self.rows], g)
        if X.shape[0] > self.rows:
            if self.g_chunk is None:
                self.g_chunk = np.empty_like(g)
            for start in range(self.rows, X.shape[0], self.rows):
                E += self._pass(w, X[start : start + self.rows], T[start : start + self.rows], self.g_chunk)
                g += self.g_chunk
        return E

    def _forward(self, w: np.ndarray, X: np.ndarray) -> tuple[dict, np.ndarray]:
        """z of every layer but the output, and the output's a, for at most ``rows`` rows (PRML 5.48, 5.49)."""
        n = X.shape[0]
        z = {self.net.input: X}
        for src, dst, h, W, shape, b in self.layers:
            a = self.a[dst][:n]
            np.matmul(z[src], w[W].reshape(shape).T, out=a)
            if dst in self.z and self.fused_tanh[dst]:
                z[dst] = self.z[dst][:n]
                add_bias_and_tanh(a, w[b], z[dst])
                continue
            a += w[b]
            if dst in self.z:
                z[dst] = self.z[dst][:n]
                self.h_into[dst](a, z[dst])
        return z, a

    def _error(self, a_out: np.ndarray, T: np.ndarray, gb: np.ndarray) -> float:
        """E on these rows (PRML 5.44, or 5.153 for a mixture density output); the output deltas are left in
        their buffer and their sum in gb."""
        D = self.delta[self.output][: a_out.shape[0]]
        if self.components:
            return mixture_output_deltas(self.components, a_out, T, D, gb)
        return output_deltas(self.output_code, a_out, T, D, gb)

    def _pass(self, w: np.ndarray, X: np.ndarray, T: np.ndarray, g: np.ndarray) -> float:
        """E over at most ``rows`` rows, and its gradient into g by backpropagation (PRML 5.53-5.57)."""
        n = X.shape[0]
        z, a_out = self._forward(w, X)
        E = self._error(a_out, T, g[self.bias[self.output]])  # and delta_k = y_k - t_k (PRML 5.54)
        delta = self.delta[self.output][:n]
        for src, dst, _, W, shape, b in reversed(self.layers):
            np.matmul(delta.T, z[src], out=g[W].reshape(shape))  # PRML 5.53
            if src in self.z:
                sent_back = self.delta[src][:n]
                if shape[0] == 1:  # dst has one unit: sum_k w_kj delta_k is an outer product
                    outer_times_h_prime_and_sum(self.h_code[src], delta, w[W], self.a[src][:n], z[src], sent_back,
                                                g[self.bias[src]])
                else:
                    np.matmul(delta, w[W].reshape(shape), out=sent_back)
                    times_h_prime_and_sum(self.h_code[src], self.a[src][:n], z[src], sent_back,
                                          g[self.bias[src]])  # PRML 5.56, and src's bias gradient
                delta = sent_back
        return E


class BufferedEvaluator:
    """E and dE/dw of ``net`` on rows of (X, T) through ``Buffers``; see ``deltaprop.fast.evaluator``."""

    backend = "buffered"

    def __init__(self, net, X: np.ndarray, T: np.ndarray):
        self.net, self.X, self.T, self.n_params = net, X, T, net.n_params
        self.buffers = Buffers(net, min(X.shape[0], CHUNK), X.dtype)

    def _rows(self, rows) -> tuple:
        return (self.X, self.T) if rows is None else (self.X[rows], self.T[rows])

    def error(self, w, rows=None) -> float:
        return self.buffers.error(w, *self._rows(rows))

    def error_and_gradient(self, w, rows=None, g: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
        g = np.empty(self.n_params, self.X.dtype) if g is None else g
        return self.buffers.error_and_gradient(w, *self._rows(rows), g), g

    def hessian_vector_product(self, w, v) -> np.ndarray:
        """H v on all the data by the R-operator (PRML 5.4.6): in NumPy (``deltaprop.fast.second``), or by the
        engine for a mixture density output, whose second derivatives the fast passes do not know."""
        if self.buffers.components:
            from ..engine.second import hessian_vector_product
        else:
            from .second import hessian_vector_product
        return hessian_vector_product(self.net, w, self.X, self.T, v)
