"""Build the playground: one self-contained HTML page that trains a network in the browser.

The page's JavaScript engine (``net.js``, shared with the explain page) runs the forward pass and the
deltas of every pattern in float64, in the equations and order of ``deltaprop.engine.backprop``; the
page's step rules are ``deltaprop.optimize.rules``' (the mean gradient of a batch, the weight decay's
share n/N of the batch, Adam's bias corrections), so n steps from the same w0 on the same batches give
the Python engine's weights to rounding (tested). Its data are made here, at build time, and written
into the page: nothing is fetched.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..examples import FIGURE_5_3, seed_example
from .page import fill

PRESETS = ("mazur", "seed", "figure-5.3", "xor", "digits")  # the menu's order; "seed" opens first
MAX_ROWS = 2000  # rows of a user's data written into the page


def _rows(a: Any) -> list:
    return np.asarray(a, dtype=float).tolist()


def _two_d(kind: str, rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """TensorFlow Playground's four 2-D problems, drawn in [-1, 1]^2: labels 0 and 1."""
    if kind == "circle":  # a disc inside a ring
        r = np.concatenate([rng.uniform(0, 0.45, n // 2), rng.uniform(0.65, 1.0, n - n // 2)])
        angle = rng.uniform(0, 2 * np.pi, n)
        return np.c_[r * np.cos(angle), r * np.sin(angle)], (r < 0.5).astype(float)
    if kind == "xor":  # the four quadrants, away from the axes
        X = rng.uniform(-1, 1, (n, 2))
        X += 0.05 * np.sign(X)
        return np.clip(X, -1, 1), (X[:, 0] * X[:, 1] > 0).astype(float)
    if kind == "gauss":  # two Gaussian clouds
        t = np.arange(n) % 2
        centre = np.where(t[:, None] == 1, 0.45, -0.45)
        return np.clip(centre + 0.22 * rng.standard_normal((n, 2)), -1, 1), t.astype(float)
    if kind == "spiral":  # two interleaved spirals
        t = np.arange(n) % 2
        s = rng.uniform(0.05, 1.0, n)
        angle = 3.5 * np.pi * s + np.pi * t
        X = np.c_[s * np.cos(angle), s * np.sin(angle)] + 0.02 * rng.standard_normal((n, 2))
        return np.clip(X, -1, 1), t.astype(float)
    raise ValueError(kind)


def data_sets(seed: int = 0) -> dict:
    """The page's data sets, name -> {kind, X, T, input_names, classes, image}; made once, here."""
    sets = {}
    _, X, T = seed_example(seed)
    sets["mazur"] = {"kind": "regression", "X": [[0.05, 0.10]], "T": [[0.01, 0.99]],
                     "note": "Matt Mazur's step-by-step example: one pattern, two inputs, two targets. The page computes in "
                             "exact float64: E = 0.298371109, then 0.291027774 after one step and 0.0000351019 after "
                             "10,000; his post prints 0.291027924 and 0.0000351085, because it rounded its intermediate "
                             "values before reusing them"}
    sets["seed"] = {"kind": "regression", "X": _rows(X), "T": _rows(T),
                    "note": "the lecture's example: 50 points, t = sin(pi x)"}
    for name, f in FIGURE_5_3.items():
        sets[f"figure-5.3 {name}"] = {"kind": "regression", "X": _rows(X), "T": _rows(f(X)),
                                      "note": f"PRML Figure 5.3: 50 points of t = {name}"}
    rng = np.random.default_rng(seed)
    for name in ("xor", "circle", "gauss", "spiral"):
        X2, t2 = _two_d(name, rng)
        sets[name] = {"kind": "binary", "X": _rows(X2), "T": _rows(t2[:, None]), "classes": ["0", "1"],
                      "note": f"TensorFlow Playground's {name}: 200 points, two classes"}
    centres = np.array([[-0.5, -0.4], [0.5, -0.4], [0.0, 0.5]])
    labels = np.arange(300) % 3
    X3 = np.clip(centres[labels] + 0.25 * rng.standard_normal((300, 2)), -1, 1)
    sets["three classes"] = {"kind": "classes", "X": _rows(X3), "T": _rows(np.eye(3)[labels]),
                             "classes": ["0", "1", "2"], "note": "three Gaussian clouds: softmax outputs"}
    from sklearn.datasets import load_digits

    digits = load_digits()
    sets["digits"] = {"kind": "classes", "X": (digits.data / 16.0).round(4).tolist(),
                      "T": np.eye(10)[digits.target].astype(int).tolist(), "classes": [str(k) for k in range(10)],
                      "image": [8, 8], "note": "scikit-learn's 1,797 handwritten digits, 8 x 8 pixels, ink 0 to 1"}
    for d in sets.values():
        d.setdefault("classes", None)
        d.setdefault("image", None)
        d["input_names"] = [f"x{i + 1}" for i in range(len(d["X"][0]))]
    return sets


def playground_html(
    X: Any = None,
    T: Any = None,
    *,
    classes: Optional[Sequence] = None,
    feature_names: Optional[Sequence[str]] = None,
    name: str = "your data",
    preset: str = "seed",
) -> str:
    """The playground page, as an HTML string.

    With X (N, D) and T (N,) or (N, K) the page offers them as a data set called ``name``, its first
    ``MAX_ROWS`` rows, inputs standardised in the page (z-scores, as ``deltaprop fit`` does); T holds
    class labels when ``classes`` (their sorted values) is given, else numbers (standardised too).
    ``preset`` is the one the page opens with, unless its URL names another.
    """
    if preset not in PRESETS and preset != "data":
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    sets = data_sets()
    if X is not None:
        X = np.asarray(X, dtype=float)[:MAX_ROWS]
        T = np.asarray(T)[:MAX_ROWS]
        if X.ndim != 2 or len(X) != len(T) or len(X) == 0:
            raise ValueError(f"X must be (N, D) and T hold N targets; got X {X.shape} and T {T.shape}")
        if classes is not None:
            index = {c: k for k, c in enumerate(classes)}
            codes = np.array([index[t] for t in T.ravel()])
            kind = "binary" if len(classes) == 2 else "classes"
            Tn = codes[:, None].astype(float) if kind == "binary" else np.eye(len(classes))[codes]
            names = [str(c) for c in classes]
        else:
            kind, Tn, names = "regression", np.asarray(T, dtype=float).reshape(len(X), -1), None
        sets[name] = {"kind": kind, "X": _rows(X), "T": _rows(Tn), "classes": names, "image": None,
                      "input_names": list(feature_names or [f"x{i + 1}" for i in range(X.shape[1])]),
                      "standardise": True, "note": f"{name}: {len(X)} rows, inputs standardised in the page"}
        preset = "data"
    return fill("playground.html", {"sets": sets, "presets": list(PRESETS), "start": preset,
                                     "user": name if X is not None else None}, scripts=("playground.js",))
