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
from .outputs import OUTPUT_KINDS

if TYPE_CHECKING:
    from .network import Network

Array = Any


def _output_jacobian(net: "Network", xp, y: Array, of_activations: bool) -> Array:
    """d(output)/da_out, (N, K, K): dy/da from the output kind's table, or the identity for da/da."""
    kind = OUTPUT_KINDS["linear" if of_activations else net.layers[net.output].activation.name]
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
                sent[c.src] = message if c.src not in sent else sent[c.src] + message
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
            h = net.layers[j].activation
            h1, h2 = h.derivative(xp, a[j], z[j]), h.second_derivative(xp, a[j], z[j])
            delta[j] = h1 * sent[j]
            Rdelta[j] = h2 * Ra[j] * sent[j] + h1 * Rsent[j]
        for c in net.incoming[j]:
            g = Rdelta[j].T @ z[c.src] + delta[j].T @ Rz[c.src]
            out[c.name] = g if c.mask is None else g * net.mask_like(c, g)
            if c.src != net.input:
                message = delta[j] @ W[c.name]
                r_message = Rdelta[j] @ W[c.name] + delta[j] @ V[c.name]
                sent[c.src] = message if c.src not in sent else sent[c.src] + message
                Rsent[c.src] = r_message if c.src not in Rsent else Rsent[c.src] + r_message
        out[f"b[{j}]"] = xp.sum(Rdelta[j], axis=0)
    return xp.concat([xp.reshape(out[b.name], (-1,)) for b in net.blocks])


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
