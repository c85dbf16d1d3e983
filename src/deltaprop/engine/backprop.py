"""Forward propagation and error backpropagation (PRML 5.3.1): the reference engine.

Every function here takes inputs already checked (``checks``); the
``Network`` methods check and then call them. Patterns are rows, so a layer's
a, z and delta are (N, size) arrays and each loop runs over layers, never
over patterns or units. Only the array namespace of the inputs is used, so
NumPy, PyTorch and any other array-API library work alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from array_api_compat import array_namespace

from .outputs import output_kind
from .trace import Trace

if TYPE_CHECKING:
    from .network import Network

Array = Any


def weights(net: "Network", w: Array) -> dict[str, Array]:
    """The views of w, with absent (masked) weights multiplied by zero."""
    views = net.views(w)
    for c in net.connections:
        if c.mask is not None:
            views[c.name] = views[c.name] * net.mask_like(c, w)
    return views


def forward_pass(net: "Network", W: dict[str, Array], X: Array) -> tuple[dict[str, Array], dict[str, Array]]:
    """Forward propagation, keeping every layer's a and z.

    For each layer j after the input, in topological order,
    a_j = sum_i w_ji z_i + w_j0 over every connection into j (PRML 5.48) and
    z_j = h(a_j) (PRML 5.49). With patterns as rows, a_j = sum_src z_src W^T + b.
    The output layer's z is y.
    """
    xp = array_namespace(X)
    a: dict[str, Array] = {}
    z: dict[str, Array] = {net.input: X}
    for j, incoming in net.incoming.items():
        a_j = W[f"b[{j}]"]
        for c in incoming:
            a_j = a_j + z[c.src] @ W[c.name].T
        a[j] = a_j
        z[j] = net.layers[j].activation.h(xp, a_j)
    return a, z


def backward_pass(
    net: "Network", W: dict[str, Array], a: dict[str, Array], z: dict[str, Array], T: Array
) -> tuple[dict[str, Array], dict[str, Array]]:
    """Error backpropagation: every layer's delta, and dE/dw for every weight.

    delta_k = y_k - t_k at the outputs (PRML 5.54; the output kind's own deltas for a
    mixture density, 5.155-5.157); going backwards,
    delta_j = h'(a_j) sum_k w_kj delta_k over every connection out of j
    (PRML 5.56); and dE/dw_ji = sum_n delta_j z_i (PRML 5.53, 5.57), with
    dE/dw_j0 = sum_n delta_j for the bias.

    Returns ``(delta, grads)``: delta per layer, (N, size); grads per view
    of w, shaped as the view.
    """
    xp = array_namespace(T)
    delta = {net.output: output_kind(net).deltas(xp, a[net.output], z[net.output], T)}
    sent_back: dict[str, Array] = {}  # sum_k w_kj delta_k, gathered from the layers j feeds
    grads: dict[str, Array] = {}
    for j in reversed(net.incoming):
        if j != net.output:
            h = net.layers[j].activation
            delta[j] = h.derivative(xp, a[j], z[j]) * sent_back[j]
        for c in net.incoming[j]:
            grad = delta[j].T @ z[c.src]
            grads[c.name] = grad if c.mask is None else grad * net.mask_like(c, grad)
            if c.src != net.input:
                message = delta[j] @ W[c.name]
                sent_back[c.src] = message if c.src not in sent_back else sent_back[c.src] + message
        grads[f"b[{j}]"] = xp.sum(delta[j], axis=0)
    return delta, grads


def forward(net: "Network", w: Array, X: Array) -> Array:
    """The outputs y(X, w), (N, K)."""
    _, z = forward_pass(net, weights(net, w), X)
    return z[net.output]


def pattern_errors(net: "Network", a_out: Array, T: Array) -> Array:
    """E_n for each pattern, (N,), from the output pre-activations."""
    xp = array_namespace(a_out)
    return output_kind(net).error(xp, a_out, T)


def error(net: "Network", w: Array, X: Array, T: Array) -> Array:
    """E(w) = sum_n E_n(w) (PRML 5.44)."""
    xp = array_namespace(w)
    a, _ = forward_pass(net, weights(net, w), X)
    return xp.sum(pattern_errors(net, a[net.output], T))


def error_and_gradient(net: "Network", w: Array, X: Array, T: Array) -> tuple[Array, Array]:
    """E(w) and dE/dw as a flat vector laid out as w (PRML 5.57)."""
    xp = array_namespace(w)
    W = weights(net, w)
    a, z = forward_pass(net, W, X)
    _, grads = backward_pass(net, W, a, z, T)
    E = xp.sum(pattern_errors(net, a[net.output], T))
    return E, xp.concat([xp.reshape(grads[b.name], (-1,)) for b in net.blocks])


def pattern_gradients(net: "Network", w: Array, X: Array, T: Array) -> Array:
    """Row n is the gradient of E_n: dE_n/dw_ji = delta_j z_i (PRML 5.53), (N, n_params)."""
    xp = array_namespace(w)
    W = weights(net, w)
    a, z = forward_pass(net, W, X)
    delta, _ = backward_pass(net, W, a, z, T)
    N = X.shape[0]
    rows = {}
    for j, incoming in net.incoming.items():
        for c in incoming:
            outer = delta[j][:, :, None] * z[c.src][:, None, :]
            if c.mask is not None:
                outer = outer * net.mask_like(c, w)
            rows[c.name] = xp.reshape(outer, (N, -1))
        rows[f"b[{j}]"] = delta[j]
    return xp.concat([rows[b.name] for b in net.blocks], axis=1)


def trace(net: "Network", w: Array, X: Array, T: Array) -> Trace:
    """Forward and backward passes for one pattern, X (1, D) and T (1, K), keeping every message."""
    W = weights(net, w)
    a, z = forward_pass(net, W, X)
    delta, grads = backward_pass(net, W, a, z, T)
    E_n = float(pattern_errors(net, a[net.output], T)[0])
    first = lambda d: {name: v[0, ...] for name, v in d.items()}  # noqa: E731
    return Trace(
        network=net,
        x=X[0, ...],
        t=T[0, ...],
        a=first(a),
        z=first(z),
        delta=first(delta),
        weights=W,
        derivatives=grads,
        error=E_n,
    )
