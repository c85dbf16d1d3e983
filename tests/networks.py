"""Random architectures for property-based tests, and a reference network
written independently of deltaprop's backprop module.

The reference evaluates E(w) with the textbook definitions (no stabilised
forms) in whatever library it is given (autograd.numpy or torch), so that the
library's own automatic differentiation supplies the oracle gradient.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import deltaprop as dp

HIDDEN = ["linear", "tanh", "logistic", "relu", "softplus"]
OUTPUTS = ["linear", "logistic", "softmax"]


@st.composite
def architectures(draw, max_hidden_layers=4, max_width=8):
    """A random Network: 1 to 4 hidden layers of 1 to 8 units, skip connections, masks, any activations."""
    n_hidden = draw(st.integers(1, max_hidden_layers))
    output = draw(st.sampled_from(OUTPUTS))
    sizes = [draw(st.integers(1, 4))]
    sizes += [draw(st.integers(1, max_width)) for _ in range(n_hidden)]
    sizes += [draw(st.integers(2 if output == "softmax" else 1, 4))]
    names = ["x"] + [f"h{i}" for i in range(1, n_hidden + 1)] + ["y"]
    layers = {"x": sizes[0]}
    for name, size in zip(names[1:-1], sizes[1:-1]):
        layers[name] = (size, draw(st.sampled_from(HIDDEN)))
    layers["y"] = (sizes[-1], output)

    pairs = list(zip(range(len(names) - 1), range(1, len(names))))
    pairs += [(i, j) for i in range(len(names)) for j in range(i + 2, len(names)) if draw(st.booleans())]
    mask_rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    connections = []
    for i, j in pairs:
        if draw(st.integers(0, 3)) == 0:
            mask = mask_rng.random((sizes[j], sizes[i])) < 0.7
            connections.append((names[i], names[j], mask))
        else:
            connections.append((names[i], names[j]))
    return dp.Network(layers, connections)


def targets(net, rng, N):
    kind = net.layers[net.output].activation.name
    if kind == "linear":
        return rng.standard_normal((N, net.K))
    if kind == "logistic":
        return rng.random((N, net.K))
    return np.eye(net.K)[rng.integers(0, net.K, N)]


@st.composite
def problems(draw, max_N=50):
    """(net, w, X, T): a random network, weights (biases and masked entries nonzero too) and data."""
    net = draw(architectures())
    N = draw(st.integers(1, max_N))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = net.init(seed=rng) + 0.3 * rng.standard_normal(net.n_params)
    X = rng.standard_normal((N, net.D))
    return net, w, X, targets(net, rng, N)


# -- the reference network ---------------------------------------------------


class Ops:
    """The few functions the reference needs, from one array library."""

    def __init__(self, exp, log, tanh, maximum, total, asarray):
        self.exp, self.log, self.tanh, self.maximum, self.sum, self.asarray = exp, log, tanh, maximum, total, asarray


def autograd_ops():
    import autograd.numpy as anp

    return Ops(anp.exp, anp.log, anp.tanh, lambda a: anp.maximum(a, 0.0), anp.sum, lambda v: v)


def torch_ops():
    import torch

    return Ops(torch.exp, torch.log, torch.tanh, torch.relu, torch.sum,
               lambda v: torch.as_tensor(v, dtype=torch.float64))


def reference(ops, net, w, X, T):
    """(y, E, a) of ``net`` at w, written straight from the definitions; a holds each layer's a_j."""
    h = {
        "linear": lambda a: a,
        "tanh": ops.tanh,
        "logistic": lambda a: 1.0 / (1.0 + ops.exp(-a)),
        "relu": ops.maximum,
        "softplus": lambda a: ops.log(1.0 + ops.exp(a)),
        "softmax": lambda a: ops.exp(a) / ops.sum(ops.exp(a), 1, keepdims=True),
    }
    position = net.unpack(np.arange(net.n_params))  # where each w_ji lies in w
    X, T = ops.asarray(X), ops.asarray(T)
    z, pre = {net.input: X}, {}
    for name, layer in list(net.layers.items())[1:]:
        a = w[position[f"b[{name}]"]]
        for c in net.connections:
            if c.dst == name:
                W = w[position[c.name]]
                if c.mask is not None:
                    W = W * ops.asarray(c.mask.astype(float))
                a = a + z[c.src] @ W.T
        z[name], pre[name] = h[layer.activation.name](a), a
    y = z[net.output]
    kind = net.layers[net.output].activation.name
    if kind == "linear":
        E = 0.5 * ops.sum((y - T) ** 2)
    elif kind == "logistic":
        E = -ops.sum(T * ops.log(y) + (1.0 - T) * ops.log(1.0 - y))
    else:
        E = -ops.sum(T * ops.log(y))
    return y, E, pre


def numpy_ops():
    return Ops(np.exp, np.log, np.tanh, lambda a: np.maximum(a, 0.0), np.sum, np.asarray)


def near_relu_kink(net, w, X, margin=1e-4):
    """True if some relu unit has |a_j| < margin for some pattern, where central differences fail."""
    _, _, a = reference(numpy_ops(), net, w, X, targets(net, np.random.default_rng(0), X.shape[0]))
    return any(
        np.min(np.abs(a[name])) < margin for name, layer in net.layers.items() if layer.activation and layer.activation.name == "relu"
    )
