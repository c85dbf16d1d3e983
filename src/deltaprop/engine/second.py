"""Beyond the gradient: the input Jacobian (PRML 5.3.4), the Jacobian of the outputs with respect
to w, and Hessian-vector products by the R-operator (PRML 5.4.6, Pearlmutter 1994), from which
the exact Hessian (PRML 5.4.5). The same forward pass as ``backprop``, and backward passes that
carry several messages at once: one per output unit for the Jacobians, the R{.} of every a, z and
delta for H v. Absent (masked) weights have zero derivatives of every order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from array_api_compat import array_namespace

from .backprop import forward_pass, weights
from .outputs import OUTPUT_KINDS, output_kind, require_canonical

if TYPE_CHECKING:
    from .network import Network

Array = Any

#: The most entries of da/dw (patterns x outputs x weights) held at once by the outer-product sums.
CHUNK_ELEMENTS = 1 << 22


def _add(messages: dict, layer: str, message: Array) -> None:
    """Gather a message sent back to ``layer``: the sum over every connection out of it."""
    messages[layer] = message if layer not in messages else messages[layer] + message


def _masked(net: "Network", c, g: Array) -> Array:
    """A connection's derivatives with those of its absent weights set to zero."""
    return g if c.mask is None else g * net.mask_like(c, g)


def _flat(net: "Network", xp, per_view: dict) -> Array:
    """Per-view arrays joined into one vector laid out as w."""
    return xp.concat([xp.reshape(per_view[b.name], (-1,)) for b in net.blocks])


def _h_primes(net: "Network", xp, j: str, a: dict, z: dict) -> tuple[Array, Array]:
    """h'(a_j) and h''(a_j) of layer j, from the activation table."""
    h = net.layers[j].activation
    return h.derivative(xp, a[j], z[j]), h.second_derivative(xp, a[j], z[j])


def _output_jacobian(net: "Network", xp, y: Array, of_activations: bool) -> Array:
    """d(output)/da_out, (N, K, K): dy/da from the output kind's table, or the identity for da/da."""
    kind = OUTPUT_KINDS["linear"] if of_activations else output_kind(net)
    return kind.jacobian(xp, y)


def _backward_per_output(net: "Network", W: dict, a: dict, z: dict, top: Array) -> dict:
    """delta_j[n, k, :] = d(output k)/da_j for every layer, from ``top`` = d(output)/da_out (PRML 5.74-5.76)."""
    xp = array_namespace(top)
    delta, sent = {net.output: top}, {}
    for j in reversed(net.incoming):
        if j != net.output:
            delta[j] = net.layers[j].activation.derivative(xp, a[j], z[j])[:, None, :] * sent[j]
        for c in net.incoming[j]:
            if c.src != net.input:
                message = delta[j] @ W[c.name]
                _add(sent, c.src, message)
    return delta


def jacobian(net: "Network", w: Array, X: Array) -> Array:
    """J[n, k, i] = dy_k/dx_i at each pattern, (N, K, D), by backpropagating to the inputs (PRML 5.73-5.78)."""
    xp = array_namespace(w)
    W = weights(net, w)
    a, z = forward_pass(net, W, X)
    delta = _backward_per_output(net, W, a, z, _output_jacobian(net, xp, z[net.output], False))
    J = None
    for j, incoming in net.incoming.items():
        for c in incoming:
            if c.src == net.input:
                term = delta[j] @ W[c.name]
                J = term if J is None else J + term
    return J


def weight_jacobian(net: "Network", w: Array, X: Array, activations: bool = False) -> Array:
    """dy_nk/dw, (N, K, n_params): the g of PRML 5.173 for each output; with ``activations``, da_nk/dw,
    the b_n of the outer-product approximation (PRML 5.84), the same for linear outputs."""
    xp = array_namespace(w)
    W = weights(net, w)
    a, z = forward_pass(net, W, X)
    delta = _backward_per_output(net, W, a, z, _output_jacobian(net, xp, z[net.output], activations))
    N, K = X.shape[0], net.K
    rows = {}
    for j, incoming in net.incoming.items():
        for c in incoming:
            outer = delta[j][:, :, :, None] * z[c.src][:, None, None, :]
            if c.mask is not None:
                outer = outer * net.mask_like(c, w)
            rows[c.name] = xp.reshape(outer, (N, K, -1))
        rows[f"b[{j}]"] = delta[j]
    return xp.concat([rows[b.name] for b in net.blocks], axis=2)


def hessian_vector_product(net: "Network", w: Array, X: Array, T: Array, v: Array) -> Array:
    """H v for the Hessian H of E(w) = sum_n E_n, by the R-operator R{.} = v^T grad (PRML 5.4.6).

    Forward: R{a_j} = sum_i (v_ji z_i + w_ji R{z_i}) + v_j0, R{z_j} = h'(a_j) R{a_j} (PRML 5.92-5.94).
    Outputs: R{delta_k} = R{y_k} = sum_m (dy_k/da_m) R{a_m} (the canonical link, PRML 5.95).
    Backward: R{delta_j} = h''(a_j) R{a_j} sum_k w_kj delta_k + h'(a_j) sum_k (v_kj delta_k + w_kj R{delta_k})
    (PRML 5.96), and R{dE/dw_ji} = sum_n (R{delta_j} z_i + delta_j R{z_i}) (PRML 5.97-5.98).
    One forward and one backward pass, each about twice a gradient's.
    """
    require_canonical(net, "H v")
    xp = array_namespace(w)
    W, V = weights(net, w), weights(net, v)
    a, z = forward_pass(net, W, X)
    Ra, Rz = {}, {net.input: xp.zeros_like(X)}
    for j, incoming in net.incoming.items():
        r = V[f"b[{j}]"]
        for c in incoming:
            r = r + z[c.src] @ V[c.name].T + Rz[c.src] @ W[c.name].T
        Ra[j] = r
        if j != net.output:
            Rz[j] = net.layers[j].activation.derivative(xp, a[j], z[j]) * r
    y = z[net.output]
    dy_da = _output_jacobian(net, xp, y, False)
    delta = {net.output: y - T}
    Rdelta = {net.output: (dy_da @ Ra[net.output][:, :, None])[:, :, 0]}
    sent, Rsent, out = {}, {}, {}
    for j in reversed(net.incoming):
        if j != net.output:
            h1, h2 = _h_primes(net, xp, j, a, z)
            delta[j] = h1 * sent[j]
            Rdelta[j] = h2 * Ra[j] * sent[j] + h1 * Rsent[j]
        for c in net.incoming[j]:
            g = Rdelta[j].T @ z[c.src] + delta[j].T @ Rz[c.src]
            out[c.name] = _masked(net, c, g)
            if c.src != net.input:
                message = delta[j] @ W[c.name]
                r_message = Rdelta[j] @ W[c.name] + delta[j] @ V[c.name]
                _add(sent, c.src, message)
                _add(Rsent, c.src, r_message)
        out[f"b[{j}]"] = xp.sum(Rdelta[j], axis=0)
    return _flat(net, xp, out)


def hessian(net: "Network", w: Array, X: Array, T: Array) -> Array:
    """The exact Hessian of E(w), (n_params, n_params): column i is H e_i (PRML 5.4.5, by 5.4.6)."""
    xp = array_namespace(w)
    columns = []
    for i in range(net.n_params):
        e = xp.zeros_like(w)
        e[i] = 1.0
        columns.append(hessian_vector_product(net, w, X, T, e))
    H = xp.stack(columns, axis=1)
    return 0.5 * (H + H.T)  # symmetric to rounding: each column is one pass


def outer_product_hessian(net: "Network", w: Array, X: Array, T: Array) -> Array:
    """The outer-product (Levenberg-Marquardt, Gauss-Newton) approximation of the Hessian, (W, W), with
    B_n = da_n/dw (K x W) and M_n = dy_n/da_n, the output kind's Jacobian: sum_n B_n^T M_n B_n.
    That is sum_n b_n b_n^T for sum-of-squares (PRML 5.84), sum_n y_n (1 - y_n) b_n b_n^T for logistic
    outputs (5.85) and sum_n B_n^T (diag(y_n) - y_n y_n^T) B_n for softmax ones. It drops the terms
    in (y - t) times the second derivatives of the outputs, small near a good minimum."""
    require_canonical(net, "the outer-product Hessian")
    xp = array_namespace(w)
    H = xp.zeros((net.n_params, net.n_params), dtype=w.dtype)
    rows = max(1, CHUNK_ELEMENTS // (net.K * net.n_params))
    for start in range(0, X.shape[0], rows):  # B of a chunk of patterns at a time: memory bounded by CHUNK_ELEMENTS
        Xc = X[start : start + rows]
        B = weight_jacobian(net, w, Xc, activations=True)  # (n, K, W)
        M = _output_jacobian(net, xp, forward_pass(net, weights(net, w), Xc)[1][net.output], False)  # (n, K, K)
        B2 = xp.reshape(B, (-1, net.n_params))
        MB = xp.reshape(M @ B, (-1, net.n_params))
        H = H + xp.matrix_transpose(B2) @ MB
    return 0.5 * (H + H.T)


def inverse_outer_product_hessian(net: "Network", w: Array, X: Array, alpha: float) -> Array:
    """(alpha I + sum_n b_n b_n^T)^-1 for linear outputs, built pattern by pattern and output by output by
    the sequential update M <- M - (M b)(M b)^T / (1 + b^T M b) from M = I / alpha (PRML 5.88-5.89)."""
    xp = array_namespace(w)
    B = weight_jacobian(net, w, X, activations=True)
    M = xp.eye(net.n_params, dtype=w.dtype) / alpha
    for n in range(B.shape[0]):
        for k in range(B.shape[1]):
            Mb = M @ B[n, k, :]
            M = M - (Mb[:, None] * Mb[None, :]) / (1.0 + B[n, k, :] @ Mb)
    return M


def diagonal_hessian(net: "Network", w: Array, X: Array, T: Array) -> Array:
    """The diagonal approximation of the Hessian (Becker and Le Cun 1989; PRML 5.79-5.81), (W,), in one
    backward pass of second derivatives d2_j = d^2 E_n / da_j^2 that keeps only their diagonal:

        d2_k = dy_k/da_k at the outputs (1, y_k (1 - y_k), y_k (1 - y_k) for the three kinds),
        d2_j = h'(a_j)^2 sum_k w_kj^2 d2_k + h''(a_j) sum_k w_kj delta_k        (PRML 5.81),
        d^2 E / dw_ji^2 = sum_n d2_j z_i^2, and d2_j for the bias              (PRML 5.80).

    It neglects every off-diagonal entry, and inside the recursion the cross terms between units of a
    layer (d^2 E_n / da_k da_k' for k != k'); with no hidden layer and linear or logistic outputs the
    diagonal is exact.
    """
    require_canonical(net, "the diagonal Hessian")
    xp = array_namespace(w)
    W = weights(net, w)
    a, z = forward_pass(net, W, X)
    y = z[net.output]
    dy_da = _output_jacobian(net, xp, y, False)
    K = net.K
    d2 = {net.output: xp.stack([dy_da[:, k, k] for k in range(K)], axis=1)}
    delta = {net.output: y - T}
    sent, sent2, out = {}, {}, {}
    for j in reversed(net.incoming):
        if j != net.output:
            h1, h2 = _h_primes(net, xp, j, a, z)
            delta[j] = h1 * sent[j]
            d2[j] = h1 * h1 * sent2[j] + h2 * sent[j]
        for c in net.incoming[j]:
            g = d2[j].T @ (z[c.src] * z[c.src])
            out[c.name] = _masked(net, c, g)
            if c.src != net.input:
                Wc = W[c.name]
                message, message2 = delta[j] @ Wc, d2[j] @ (Wc * Wc)
                _add(sent, c.src, message)
                _add(sent2, c.src, message2)
        out[f"b[{j}]"] = xp.sum(d2[j], axis=0)
    return _flat(net, xp, out)


def inverse_outer_product(net: "Network", w: Any, X: Any, alpha: float) -> Array:
    """``dp.inverse_outer_product_hessian``: (alpha I + sum_n b_n b_n^T)^-1 for a network with linear outputs,
    by the sequential update (PRML 5.89); the inputs are checked first."""
    import numpy as np

    from .checks import check_data, number

    if net.layers[net.output].activation.name != "linear":
        raise ValueError("the sequential inverse (PRML 5.89) is for linear (sum-of-squares) outputs; this network's "
                         f"are {net.layers[net.output].activation.name}")
    alpha = number("alpha (the inverse starts from I / alpha)", alpha, 0.0, low_open=True)
    net.dense_hessian_fits()
    w, X, _ = check_data(net, w, X)
    with np.errstate(over="ignore", invalid="ignore"):  # told below, naming alpha
        M = inverse_outer_product_hessian(net, w, X, alpha)
    xp = array_namespace(M)
    if not bool(xp.all(xp.isfinite(M))):
        raise ValueError(f"alpha = {alpha:g} is too small: the sequential update from I / alpha overflows float64 "
                         f"(it squares 1 / alpha); use a larger alpha")
    return M
