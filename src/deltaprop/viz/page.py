"""Build the page: one HTML file, its script and style inline, the model as JSON inside it.

The page recomputes the forward and backward passes in JavaScript (float64,
as NumPy), so that a pattern typed in is traced as well as one from the data;
the tests check every number it shows against ``Network.trace``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Optional, Sequence

import numpy as np

from ..engine.network import Network

GRID = 200  # points of the fitted function drawn by the page (drawFit)
MAX_PATTERNS = 200


def _list(a: Any) -> Any:
    return np.asarray(a, dtype=float).tolist()


def explain_html(
    net: Network,
    w: Any,
    *,
    X: Any = None,
    T: Any = None,
    x_scaler: Optional[tuple] = None,
    t_scaler: Optional[tuple] = None,
    classes: Optional[Sequence] = None,
    history: Optional[dict] = None,
    snapshots: Optional[dict] = None,
    feature_names: Optional[Sequence[str]] = None,
    target_names: Optional[Sequence[str]] = None,
    title: str = "Backpropagation in action",
    subtitle: str = "",
    posterior: Any = None,
) -> str:
    """The page for ``net`` at weights w, as an HTML string.

    X and T are patterns in the original units (T holds class labels when
    ``classes`` is given); ``x_scaler`` and ``t_scaler`` are the (mean,
    scale) pairs that take them to the units the network works in. At most
    the first 200 patterns go into the page. With the Laplace ``posterior``
    (``deltaprop.laplace``, in the network's units) of a one-input regression,
    the fit at the final weights is drawn with its band +- 2 sigma(x) (PRML 5.173).
    """
    w = np.asarray(w, dtype=float)
    if w.shape != (net.n_params,):
        raise ValueError(f"w must be a 1-D array of length n_params = {net.n_params}; got shape {w.shape}")
    kind = net.layers[net.output].activation.name
    xm, xs = x_scaler or (np.zeros(net.D), np.ones(net.D))
    tm, ts = t_scaler or (np.zeros(net.target_size), np.ones(net.target_size))
    data = {
        "title": title,
        "subtitle": subtitle or repr(net),
        **network_description(net),
        "w": _list(w),
        "x_mean": _list(xm), "x_scale": _list(xs), "t_mean": _list(tm), "t_scale": _list(ts),
        "classes": None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes],
        "feature_names": list(feature_names or []),
        "target_names": list(target_names or []),
        "patterns": None,
        "history": None,
        "snapshots": None,
    }
    if X is not None and T is not None:
        X = np.asarray(X, dtype=float)[:MAX_PATTERNS]
        T = np.asarray(T)[:MAX_PATTERNS]
        T = T.reshape(len(T), -1)
        data["patterns"] = {"x": _list(X), "t": T.tolist() if classes is not None else _list(T)}
    data["laplace"] = None
    if posterior is not None and data["patterns"] is not None and net.D == 1 and net.K == 1 and kind == "linear":
        lo, hi = float(X[:, 0].min()), float(X[:, 0].max())
        grid = lo + (hi - lo) * np.arange(GRID) / (GRID - 1)  # the page's own grid for the fit
        variance = posterior.predictive(((grid - xm[0]) / xs[0])[:, None])[1][:, 0]
        data["laplace"] = {"half": _list(2.0 * np.sqrt(variance) * ts[0])}
    if history is not None:
        data["history"] = {k: [None if not np.isfinite(v) else float(v) for v in np.asarray(history[k], dtype=float)]
                           for k in ("epoch", "error", "validation_error") if k in history}
    if snapshots is not None and len(snapshots.get("epoch", [])):
        data["snapshots"] = {"epoch": [int(e) for e in snapshots["epoch"]], "w": _list(snapshots["w"])}
    return fill("template.html", data)


def network_description(net: Network) -> dict:
    """The network as the pages' JavaScript reads it (``net.js``): layers, order, connections with the offset
    and shape of each W[dst<-src] in w, the biases' offsets, the output kind and the mixture's components."""
    blocks = {b.name: b for b in net.blocks}
    return {
        "layers": [{"name": l.name, "size": l.size, "activation": l.activation.name if l.activation else None}
                   for l in net.layers.values()],
        "order": list(net.incoming),
        "input": net.input,
        "output": net.output,
        "output_kind": net.layers[net.output].activation.name,
        "components": net.layers[net.output].activation.components,
        "connections": [
            {"src": c.src, "dst": c.dst, "name": c.name, "offset": blocks[c.name].offset, "shape": list(blocks[c.name].shape),
             "mask": None if c.mask is None else c.mask.astype(int).tolist()}
            for c in net.connections
        ],
        "biases": {j: {"offset": blocks[f"b[{j}]"].offset} for j in net.incoming},
    }


def fill(template_name: str, data: dict, scripts: tuple = ()) -> str:
    """The page ``template_name`` with the shared scripts (``net.js``, ``draw.js``), then ``scripts``, at its
    ``/*SHARED_JS*/``, and ``data`` as JSON at its ``/*MODEL_DATA*/``."""
    files = resources.files("deltaprop.viz")
    template = files.joinpath(template_name).read_text(encoding="utf-8")
    shared = "\n".join(files.joinpath(name).read_text(encoding="utf-8") for name in ("net.js", "draw.js", *scripts))
    # <, > and & as \u escapes (inside JSON strings, the only place they occur): no text of the data can
    # end the script element or open a comment in it (`<!--<script>` in a column name blanked the page)
    payload = json.dumps(data, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return template.replace("/*SHARED_JS*/", shared).replace("/*MODEL_DATA*/", payload)
