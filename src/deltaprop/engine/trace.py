"""The trace of one pattern's backpropagation, and its plain-text table in PRML's notation.

Units are numbered from 1 within each layer, as in PRML; the bias of unit j
is the weight w_j0 from the extra unit z_0 = 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .network import Network

Array = Any


@dataclass
class Trace:
    """The messages of backpropagation for one pattern (x, t).

    Attributes
    ----------
    network : Network
    x, t : arrays
        The pattern, shapes (D,) and (K,).
    a, z, delta : dict of layer name -> array of shape (size,)
        Each layer's a_j, z_j = h(a_j) and delta_j = dE_n/da_j; the input
        layer has only z (z_i = x_i).
    weights : dict of view name -> array
        The weights w_ji, shaped as ``network.unpack``.
    derivatives : dict of view name -> array
        dE_n/dw_ji = delta_j z_i for every weight, shaped as the weights.
    error : float
        E_n for this pattern.
    """

    network: "Network"
    x: Array
    t: Array
    a: dict[str, Array]
    z: dict[str, Array]
    delta: dict[str, Array]
    weights: dict[str, Array]
    derivatives: dict[str, Array]
    error: float

    def __str__(self) -> str:
        return format_trace(self)


def _num(v) -> str:
    return f"{float(v): .6g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(wd) if i else str(c).ljust(wd) for i, (c, wd) in enumerate(zip(r, widths)))  # noqa: E731
    return [line(header), "  ".join("-" * wd for wd in widths)] + [line(r) for r in rows]


def format_trace(tr: "Trace") -> str:
    """Format ``tr`` as three tables: units, output deltas' targets, and weight derivatives."""
    net = tr.network
    M = net.layers[net.output].activation.components
    outputs = ("  outputs:   delta_k = y_k - t_k                          (PRML 5.54)" if not M else
               f"  outputs:   {M} mixing coefficients, standard deviations, then means; deltas (PRML 5.155-5.157)")
    out = [
        "Backpropagation for one pattern (PRML 5.3.1). Units are numbered from 1;",
        "the bias of unit j is w_j0, the weight from the extra unit z_0 = 1.",
        "  forward:   a_j = sum_i w_ji z_i + w_j0,  z_j = h(a_j)   (PRML 5.48, 5.49)",
        outputs,
        "  backward:  delta_j = h'(a_j) sum_k w_kj delta_k         (PRML 5.56)",
        "  weights:   dE_n/dw_ji = delta_j z_i                     (PRML 5.53)",
        "",
        f"E_n = {float(tr.error):.6g}",
        "",
    ]
    if M:
        out[-1:-1] = [f"t = ({', '.join(_num(v) for v in tr.t)})"]
    rows = []
    for name, layer in net.layers.items():
        for u in range(layer.size):
            unit = f"{name}_{u + 1}"
            if layer.activation is None:
                rows.append([unit, "input", "", _num(tr.z[name][u]), "", ""])
                continue
            target = _num(tr.t[u]) if name == net.output and not M else ""
            rows.append(
                [unit, layer.activation.name, _num(tr.a[name][u]), _num(tr.z[name][u]), target, _num(tr.delta[name][u])]
            )
    out += _table(["unit", "h", "a_j", "z_j", "t_k", "delta_j"], rows)
    out.append("")

    rows = []
    for j, incoming in net.incoming.items():
        for c in incoming:
            W, dW = tr.weights[c.name], tr.derivatives[c.name]
            present = net.present(c)
            for q in range(W.shape[0]):
                for i in range(W.shape[1]):
                    if present[q, i]:
                        rows.append(
                            [f"w({j}_{q + 1} <- {c.src}_{i + 1})", _num(W[q, i]), _num(tr.delta[j][q]),
                             _num(tr.z[c.src][i]), _num(dW[q, i])]
                        )
        b, db = tr.weights[f"b[{j}]"], tr.derivatives[f"b[{j}]"]
        for q in range(b.shape[0]):
            rows.append([f"w({j}_{q + 1} <- 1)", _num(b[q]), _num(tr.delta[j][q]), _num(1.0), _num(db[q])])
    out += _table(["weight w_ji", "w_ji", "delta_j", "z_i", "dE_n/dw_ji"], rows)
    return "\n".join(out)
