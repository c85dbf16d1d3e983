"""Feed-forward networks: topology, and the layout of the flat weight vector w.

A network is a set of named layers in topological order and connections
between them. Each non-input layer j computes

    a_j = sum_i w_ji z_i + b_j,      z_j = h(a_j)          (PRML 5.48, 5.49)

summed over every connection into it. The bias b_j is PRML's weight w_j0 from
an extra unit z_0 = 1 (PRML 5.8, 5.9).

The Network holds no parameters: they are one flat 1-D vector w (PRML's
weight vector), which ``unpack`` cuts into named zero-copy views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from array_api_compat import array_namespace, device

from . import backprop, checks, second
from .activations import Activation, get_activation
from .outputs import OUTPUT_ACTIVATIONS, output_kind
from .trace import Trace

Array = Any
MAX_HESSIAN_PARAMS = 5000  # a dense n_params x n_params float64 Hessian of this size is 200 MB


@dataclass(frozen=True)
class Layer:
    """A layer of ``size`` units with activation h (None for the input layer)."""

    name: str
    size: int
    activation: Optional[Activation]


@dataclass(frozen=True, eq=False)
class Connection:
    """Weights w_ji from every unit i of ``src`` to every unit j of ``dst``.

    ``mask``, when given, is a boolean (size_dst, size_src) array; its False
    entries are absent weights, held at zero.
    """

    src: str
    dst: str
    mask: Optional[np.ndarray] = None

    @property
    def name(self) -> str:
        return f"W[{self.dst}<-{self.src}]"


@dataclass(frozen=True)
class Block:
    """One named piece of w: ``w[offset:offset + size]`` viewed as ``shape``."""

    name: str
    offset: int
    shape: tuple

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Network:
    """A feed-forward network of named layers and connections.

    Parameters
    ----------
    layers : mapping
        Layer names to specifications, in topological order. The first is
        the input layer, given by its size (``"x": 2``); every other layer
        is ``(size, activation)``, the last being the output layer. Hidden
        activations: ``"linear"``, ``"tanh"``, ``"logistic"``, ``"relu"``,
        ``"softplus"``. Output activations, each with its canonical error
        function: ``"linear"`` (sum-of-squares), ``"logistic"`` (binary
        cross-entropy), ``"softmax"`` (multiclass cross-entropy).
    connections : sequence
        ``(src, dst)`` or ``(src, dst, mask)`` tuples; ``mask`` is a boolean
        (size_dst, size_src) array whose False entries are absent weights.
        Skip-layer connections and several connections into one layer are
        allowed; the connections must form no cycle, and every layer must
        lie on a path from the input layer to the output layer.

    Examples
    --------
    A two-layer network with a skip-layer connection from x to y:

    >>> net = Network(
    ...     layers={"x": 2, "h": (3, "tanh"), "y": (1, "linear")},
    ...     connections=[("x", "h"), ("h", "y"), ("x", "y")],
    ... )
    >>> net.n_params
    15
    """

    def __init__(self, layers: Mapping[str, Any], connections: Sequence[tuple]):
        self.layers: dict[str, Layer] = _parse_layers(layers)
        self.connections: tuple[Connection, ...] = _parse_connections(connections, self.layers)
        _check_topology(self.layers, self.connections)

        names = list(self.layers)
        self.input: str = names[0]
        self.output: str = names[-1]
        self.D: int = self.layers[self.input].size
        self.K: int = self.layers[self.output].size
        #: The width of a target row: K, or L for a mixture density output over L-dimensional targets
        self.target_size: int = output_kind(self).target_size(self.K)
        self.incoming: dict[str, tuple[Connection, ...]] = {
            name: tuple(c for c in self.connections if c.dst == name) for name in names[1:]
        }

        blocks, offset = [], 0
        for name in names[1:]:
            for c in self.incoming[name]:
                shape = (self.layers[c.dst].size, self.layers[c.src].size)
                blocks.append(Block(c.name, offset, shape))
                offset += shape[0] * shape[1]
            blocks.append(Block(f"b[{name}]", offset, (self.layers[name].size,)))
            offset += self.layers[name].size
        self.blocks: tuple[Block, ...] = tuple(blocks)
        self.n_params: int = offset
        self._masks: dict = {}  # masks converted to the namespaces the engine has met
        self._scale: Optional[np.ndarray] = None  # init's standard deviations, worked out when first drawn

    # -- parameters -------------------------------------------------------

    @property
    def param_names(self) -> list[str]:
        """Names of the views of w, in the order they lie in w."""
        return [b.name for b in self.blocks]

    def init(self, seed: Any = None) -> np.ndarray:
        """Draw a float64 weight vector w of length ``n_params``.

        Each weight into unit j is drawn from N(0, 1/fan-in_j), fan-in_j being
        the number of weights (mask entries that are True) into unit j over
        all its incoming connections; biases and absent weights are zero.

        Parameters
        ----------
        seed : None, int or numpy.random.Generator
            Passed to ``numpy.random.default_rng``; the same seed gives the
            same w.
        """
        rng = np.random.default_rng(seed)
        scale = self._init_scale()
        return np.where(scale > 0, rng.standard_normal(self.n_params) * scale, 0.0)

    def _init_scale(self) -> np.ndarray:
        """The standard deviation ``init`` draws each entry of w with, 1/sqrt(fan-in) (0: biases, absent
        weights); worked out once per network and kept (read only)."""
        if self._scale is None:
            fan_in = {name: np.zeros(self.layers[name].size) for name in self.incoming}
            for c in self.connections:
                fan_in[c.dst] += self.layers[c.src].size if c.mask is None else c.mask.sum(axis=1)
            scale = np.zeros(self.n_params)
            for c in self.connections:
                std = 1.0 / np.sqrt(np.maximum(fan_in[c.dst], 1.0))
                b = self.block(c.name)
                if c.mask is None:
                    scale[b.offset : b.offset + b.size] = np.repeat(std, self.layers[c.src].size)
                else:
                    scale[b.offset : b.offset + b.size] = (std[:, None] * c.mask).ravel()
            scale.flags.writeable = False
            self._scale = scale
        return self._scale

    def unpack(self, w: Array) -> dict[str, Array]:
        """Cut w into named zero-copy views.

        Returns a dict with ``"W[dst<-src]"`` of shape (size_dst, size_src),
        holding w_ji with j in dst and i in src, and ``"b[dst]"`` of shape
        (size_dst,), the biases w_j0. Writing into a view writes into w.
        """
        checks.check_length(self, w, "w")
        return self.views(w)

    def views(self, w: Array) -> dict[str, Array]:
        """``unpack`` without checking w: for the engine's passes, whose callers checked it once."""
        xp = array_namespace(w)
        return {b.name: xp.reshape(w[b.offset : b.offset + b.size], b.shape) for b in self.blocks}

    def mask_like(self, c: Connection, like: Array) -> Array:
        """The mask of connection c as 0/1 in the namespace, device and dtype of ``like``, converted once."""
        key = (c.name, type(like), str(device(like)), str(like.dtype))
        m = self._masks.get(key)
        if m is None:
            xp = array_namespace(like)
            m = self._masks[key] = xp.astype(xp.asarray(c.mask, device=device(like), copy=True), like.dtype)
        return m

    def pack(self, views: Mapping[str, Array]) -> Array:
        """Join named arrays, as ``unpack`` returns them, into one flat vector.

        Absent (masked) weights must be zero.
        """
        expected, given = set(self.param_names), set(views)
        if expected != given:
            missing = ", ".join(sorted(expected - given)) or "none"
            extra = ", ".join(sorted(given - expected)) or "none"
            raise ValueError(
                f"pack needs exactly the views {self.param_names}; missing: {missing}; unexpected: {extra}"
            )
        xp = array_namespace(*views.values())
        for b in self.blocks:
            v = views[b.name]
            if tuple(v.shape) != b.shape:
                raise ValueError(f"view {b.name!r} has shape {tuple(v.shape)}; expected {b.shape}")
        for c in self.connections:
            if c.mask is not None:
                absent = xp.asarray(~c.mask)
                if bool(xp.any(xp.astype(views[c.name], xp.bool) & absent)):
                    raise ValueError(f"view {c.name!r} is nonzero where its mask is False (absent weights are zero)")
        return xp.concat([xp.reshape(views[b.name], (-1,)) for b in self.blocks])

    def param_name(self, index: int) -> str:
        """The name of entry ``index`` of w, e.g. ``"W[h<-x][2, 0]"`` or ``"b[h][2]"``."""
        index = int(index)
        if not 0 <= index < self.n_params:
            raise IndexError(f"parameter index {index} is out of range for {self.n_params} parameters")
        for b in self.blocks:
            if index < b.offset + b.size:
                position = np.unravel_index(index - b.offset, b.shape)
                return f"{b.name}[{', '.join(str(int(p)) for p in position)}]"
        raise AssertionError("unreachable")

    # -- evaluation -------------------------------------------------------

    def forward(self, w: Array, X: Array) -> Array:
        """Forward propagation: the outputs Y = y(X, w), shape (N, K) (PRML 5.48, 5.49)."""
        w, X, _ = checks.check_data(self, w, X)
        return backprop.forward(self, w, X)

    def error(self, w: Array, X: Array, T: Array) -> Array:
        """E(w) = sum_n E_n(w) over the patterns (PRML 5.44), as a 0-d array.

        E_n is the output activation's canonical error function: see
        :mod:`deltaprop.engine.outputs`.
        """
        w, X, T = checks.check_data(self, w, X, T)
        return backprop.error(self, w, X, T)

    def error_and_gradient(self, w: Array, X: Array, T: Array) -> tuple[Array, Array]:
        """E(w) and its gradient dE/dw by error backpropagation (PRML 5.53-5.57).

        Returns ``(E, g)``, g a flat vector laid out as w.
        """
        w, X, T = checks.check_data(self, w, X, T)
        return backprop.error_and_gradient(self, w, X, T)

    def pattern_gradients(self, w: Array, X: Array, T: Array) -> Array:
        """The gradients of each E_n (PRML 5.53), as rows of an (N, n_params) array."""
        w, X, T = checks.check_data(self, w, X, T)
        return backprop.pattern_gradients(self, w, X, T)

    def jacobian(self, w: Array, X: Array) -> Array:
        """J[n, k, i] = dy_k/dx_i for every pattern, (N, K, D), by backpropagation to the inputs (PRML 5.73-5.78)."""
        w, X, _ = checks.check_data(self, w, X)
        return second.jacobian(self, w, X)

    def weight_jacobian(self, w: Array, X: Array, activations: bool = False) -> Array:
        """dy_nk/dw for every pattern and output, (N, K, n_params) (the g of PRML 5.173); with
        ``activations=True``, da_nk/dw of the output units' activations (the b_n of PRML 5.84)."""
        w, X, _ = checks.check_data(self, w, X)
        return second.weight_jacobian(self, w, X, bool(activations))

    def hessian_vector_product(self, w: Array, X: Array, T: Array, v: Array) -> Array:
        """H v, H the Hessian of E(w), by the R-operator (PRML 5.4.6): a small multiple of a gradient's cost."""
        w, X, T = checks.check_data(self, w, X, T)
        return second.hessian_vector_product(self, w, X, T, checks.check_vector(self, v, w))

    def hessian(self, w: Array, X: Array, T: Array) -> Array:
        """The exact Hessian of E(w), (n_params, n_params), from n_params products H e_i (PRML 5.4.5-5.4.6).

        Refused above ``MAX_HESSIAN_PARAMS`` parameters: use ``hessian_vector_product`` there.
        """
        self.dense_hessian_fits()
        w, X, T = checks.check_data(self, w, X, T)
        return second.hessian(self, w, X, T)

    def outer_product_hessian(self, w: Array, X: Array, T: Array) -> Array:
        """The outer-product (Levenberg-Marquardt) approximation sum_n B_n^T (dy_n/da_n) B_n (PRML 5.84-5.85)."""
        self.dense_hessian_fits()
        w, X, T = checks.check_data(self, w, X, T)
        return second.outer_product_hessian(self, w, X, T)

    def diagonal_hessian(self, w: Array, X: Array, T: Array) -> Array:
        """The diagonal approximation of the Hessian (PRML 5.79-5.81), (n_params,); see ``engine.second``."""
        w, X, T = checks.check_data(self, w, X, T)
        return second.diagonal_hessian(self, w, X, T)

    def dense_hessian_fits(self) -> None:
        """Refuse a dense n_params x n_params matrix above ``MAX_HESSIAN_PARAMS`` parameters."""
        if self.n_params > MAX_HESSIAN_PARAMS:
            raise ValueError(
                f"this network has {self.n_params} parameters: its dense Hessian would hold {self.n_params}^2 numbers "
                f"({8 * self.n_params**2 / 2**30:.1f} GiB); a dense Hessian takes at most {MAX_HESSIAN_PARAMS} "
                f"parameters. Use hessian_vector_product(w, X, T, v) for H v"
            )

    def trace(self, w: Array, x: Array, t: Array) -> "Trace":
        """Every message of backpropagation for one pattern (x, t).

        Returns a :class:`~deltaprop.engine.trace.Trace` holding each layer's a,
        z and delta and every dE_n/dw_ji; ``print(trace)`` shows it as a
        table in PRML's notation.
        """
        w, X, T = checks.check_pattern(self, w, x, t)
        return backprop.trace(self, w, X, T)

    # -- helpers ----------------------------------------------------------

    def block(self, name: str) -> Block:
        """Where the view called ``name`` lies in w."""
        return next(b for b in self.blocks if b.name == name)

    def present(self, c: Connection) -> np.ndarray:
        """Which weights of connection c exist: its mask, or all True."""
        shape = (self.layers[c.dst].size, self.layers[c.src].size)
        return np.ones(shape, dtype=bool) if c.mask is None else c.mask

    def __repr__(self) -> str:
        layers = ", ".join(
            f"{l.name}: {l.size}" + (f" {l.activation.name}" if l.activation else "") for l in self.layers.values()
        )
        conns = ", ".join(f"{c.src}->{c.dst}" + ("*" if c.mask is not None else "") for c in self.connections)
        return f"Network(layers=[{layers}], connections=[{conns}], n_params={self.n_params})"


def mlp(sizes: Sequence[int], hidden: str = "tanh", output: str = "linear", components: Optional[int] = None) -> Network:
    """The layered network D - M1 - ... - K with full connections between neighbours.

    ``mlp([D, M, K])`` is the lecture's two-layer network (PRML 5.7);
    ``mlp([D, K])``, with no hidden layer, is the simple linear model
    y_k = sum_i w_ki x_i (PRML 5.45). Layers are named ``x``, ``h1``, ...,
    ``y``.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first and output last; at least two entries.
    hidden : str
        Activation of every hidden layer.
    output : str
        Output activation: ``"linear"``, ``"logistic"``, ``"softmax"``, or ``"mdn"``: a mixture
        density network (PRML 5.6) of ``components`` Gaussians over targets of ``sizes[-1]``
        dimensions, whose output layer has (sizes[-1] + 2) * components units.
    components : int
        M, for ``output="mdn"`` only.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size, e.g. [1, 3, 1]; got {sizes}")
    if (output == "mdn") != (components is not None):
        raise ValueError("components (M) goes with output='mdn', a mixture density network, and only with it; got "
                         f"output={output!r}, components={components!r}")
    if output == "mdn":
        if isinstance(components, (bool, np.bool_)) or not isinstance(components, (int, np.integer)) or components < 1:
            raise ValueError(f"components must be a positive integer, the number M of Gaussians in the mixture; got "
                             f"{components!r}")
        output = get_activation(f"mdn:{int(components)}")
        sizes[-1] = (_parse_size("the targets", sizes[-1]) + 2) * output.components
    names = ["x"] + [f"h{i}" for i in range(1, len(sizes) - 1)] + ["y"]
    layers: dict[str, Any] = {"x": sizes[0]}
    for name, size in zip(names[1:-1], sizes[1:-1]):
        layers[name] = (size, hidden)
    layers["y"] = (sizes[-1], output)
    return Network(layers, list(zip(names[:-1], names[1:])))


# -- checking the specification ---------------------------------------------


def _parse_size(name: str, size: Any) -> int:
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"layer {name!r}: size must be a positive integer; got {size!r}")
    return int(size)


def _parse_layers(layers: Mapping[str, Any]) -> dict[str, Layer]:
    if not isinstance(layers, Mapping):
        raise TypeError(f"layers must be a dict of name -> size or (size, activation); got {type(layers).__name__}")
    if len(layers) < 2:
        raise ValueError(f"a network needs an input and an output layer; got layers {list(layers)}")
    parsed = {}
    names = list(layers)
    for position, (name, spec) in enumerate(layers.items()):
        if not isinstance(name, str) or not name or any(ch in name for ch in "[]<-, \t\n"):
            raise ValueError(f"layer names must be non-empty strings without brackets, '<-', commas or spaces; got {name!r}")
        if position == 0:
            if isinstance(spec, tuple):
                raise ValueError(
                    f"the input layer {name!r} (the first in layers) is given by its size alone, e.g. {name!r}: 2; got {spec!r}"
                )
            parsed[name] = Layer(name, _parse_size(name, spec), None)
            continue
        if not (isinstance(spec, (tuple, list)) and len(spec) == 2):
            raise ValueError(f"layer {name!r} must be (size, activation), e.g. (3, 'tanh'); got {spec!r}")
        size, activation = _parse_size(name, spec[0]), get_activation(spec[1])
        is_output = position == len(names) - 1
        if is_output and activation.name not in OUTPUT_ACTIVATIONS and not activation.components:
            raise ValueError(
                f"the output layer {name!r} (the last in layers) has activation {activation.name!r}; expected one of "
                f"{OUTPUT_ACTIVATIONS}, each paired with its canonical error so that delta_k = y_k - t_k (PRML 5.18), "
                f"or 'mdn:M', a mixture density of M components (PRML 5.6)"
            )
        M = activation.components
        if is_output and M and (size % M or size // M < 3):
            raise ValueError(
                f"the mixture density output layer {name!r} of {M} components over L-dimensional targets has "
                f"(L + 2) * {M} units (mixing coefficients, standard deviations, means), L >= 1; got {size}"
            )
        if not is_output and activation.output_only:
            raise ValueError(
                f"layer {name!r}: {activation.name!r} couples the units of a layer and is allowed only on the output layer"
            )
        if is_output and activation.name == "softmax" and size < 2:
            raise ValueError(f"the softmax output layer {name!r} needs at least 2 units (one per class); got {size}")
        parsed[name] = Layer(name, size, activation)
    return parsed


def _parse_connections(connections: Sequence[tuple], layers: dict[str, Layer]) -> tuple[Connection, ...]:
    parsed, seen = [], set()
    for spec in connections:
        if not (isinstance(spec, (tuple, list)) and len(spec) in (2, 3)):
            raise ValueError(f"a connection is (src, dst) or (src, dst, mask); got {spec!r}")
        src, dst = spec[0], spec[1]
        for role, name in (("source", src), ("destination", dst)):
            if name not in layers:
                raise ValueError(f"connection {src!r} -> {dst!r}: unknown {role} layer {name!r}; layers are {list(layers)}")
        if dst == next(iter(layers)):
            raise ValueError(f"connection {src!r} -> {dst!r}: nothing may feed the input layer {dst!r}")
        if (src, dst) in seen:
            raise ValueError(f"connection {src!r} -> {dst!r} is given twice")
        seen.add((src, dst))
        mask = None
        if len(spec) == 3 and spec[2] is not None:
            mask = np.asarray(spec[2])
            expected = (layers[dst].size, layers[src].size)
            if mask.dtype != np.bool_:
                raise ValueError(f"connection {src!r} -> {dst!r}: mask must be a boolean array; got dtype {mask.dtype}")
            if mask.shape != expected:
                raise ValueError(
                    f"connection {src!r} -> {dst!r}: mask has shape {mask.shape}; expected (size_dst, size_src) = {expected}"
                )
            mask = mask.copy()
            mask.setflags(write=False)
        parsed.append(Connection(src, dst, mask))
    return tuple(parsed)


def _check_topology(layers: dict[str, Layer], connections: tuple[Connection, ...]) -> None:
    names = list(layers)
    successors = {n: [c.dst for c in connections if c.src == n] for n in names}

    cycle = _find_cycle(names, successors)
    if cycle:
        raise ValueError("the connections form a cycle: " + " -> ".join(cycle) + "; a feed-forward network has none")
    order = {n: i for i, n in enumerate(names)}
    for c in connections:
        if order[c.src] > order[c.dst]:
            raise ValueError(
                f"layers must be listed in topological order: {c.src!r} feeds {c.dst!r} but is listed after it"
            )

    def reach(start: str, step: dict[str, list[str]]) -> set[str]:
        seen, stack = {start}, [start]
        while stack:
            for m in step[stack.pop()]:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    predecessors = {n: [c.src for c in connections if c.dst == n] for n in names}
    from_input, to_output = reach(names[0], successors), reach(names[-1], predecessors)
    stranded = [n for n in names if n not in from_input or n not in to_output]
    if stranded:
        raise ValueError(
            f"layers {stranded} are not on a path from the input layer {names[0]!r} to the output layer "
            f"{names[-1]!r}; connect them or remove them"
        )


def _find_cycle(names: list[str], successors: dict[str, list[str]]) -> Optional[list[str]]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(n: str, path: list[str]) -> Optional[list[str]]:
        state[n] = 1
        path.append(n)
        for m in successors[n]:
            if state.get(m) == 1:
                return path[path.index(m) :] + [m]
            if m not in state:
                found = visit(m, path)
                if found:
                    return found
        state[n] = 2
        path.pop()
        return None

    for n in names:
        if n not in state:
            found = visit(n, [])
            if found:
                return found
    return None
