"""Checks on what callers pass to the engine, each error naming what is wrong.

Arrays from any array-API library are kept in their own namespace; anything
else (lists, tuples) becomes a NumPy array. Integer and boolean data are
converted to the weights' floating dtype; all arrays of one call are brought
to one floating dtype (float64 unless every array is float32).
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

if TYPE_CHECKING:
    from .network import Network

Array = Any


def number(name: str, value: Any, low: float, high: float = float("inf"), low_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] ((low, high] with ``low_open``); a bool, a string or an
    array of more than one number is no number here (``True`` is not alpha = 1)."""
    if type(value) is float or type(value) is int:  # the common case, without the checks' dispatch
        scalar = True
    else:
        scalar = isinstance(value, numbers.Real) or (getattr(value, "shape", None) == () and
                                                     np.issubdtype(np.asarray(value).dtype, np.number))
    if isinstance(value, (bool, np.bool_)) or not scalar:
        raise TypeError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if not ((value > low if low_open else value >= low) and value <= high and math.isfinite(value)):
        raise ValueError(f"{name} must lie in {'(' if low_open else '['}{low}, {high}]; got {value}")
    return value


def as_array(x: Any, name: str) -> Array:
    """``x`` itself if it is an array of an array-API library, else a NumPy array of it."""
    if type(x) is np.ndarray or is_array_api_obj(x):
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be an array of numbers; could not make an array of it: {exc}") from None


def _numeric(x: Array, name: str) -> Array:
    """Refuse non-numeric dtypes; turn NumPy object arrays of numbers into float64."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "O":
            try:
                return x.astype(np.float64)
            except (ValueError, TypeError):
                raise TypeError(f"{name} must hold numbers; it holds objects that are not numbers") from None
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers; got dtype {x.dtype}")
        return x
    xp = array_namespace(x)
    if not xp.isdtype(x.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{name} must hold real numbers; got dtype {x.dtype}")
    return x


def _is_floating(xp, x: Array) -> bool:
    if type(x) is np.ndarray:  # NumPy's own answer, without the namespace's dispatch
        return x.dtype.kind == "f"
    return xp.isdtype(x.dtype, "real floating")


def _namespace(*arrays) -> Any:
    """The arrays' array-API namespace: array_api_compat's, found at once for plain NumPy arrays."""
    if all(type(a) is np.ndarray for a in arrays):
        return _NUMPY
    return array_namespace(*arrays)


_NUMPY = array_namespace(np.zeros(0))


def check_length(net: "Network", w: Array, name: str = "w") -> None:
    """w must be a 1-D array of length net.n_params."""
    shape = tuple(w.shape)
    if len(shape) != 1 or shape[0] != net.n_params:
        raise ValueError(
            f"{name} must be a 1-D array of length n_params = {net.n_params} for this network; got shape {shape}"
        )


def _check_finite(xp, x: Array, name: str) -> None:
    if type(x) is np.ndarray and x.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            if math.isfinite(np.add.reduce(x, axis=None)):  # a finite sum has no NaN or inf among its terms
                return
    finite = xp.isfinite(x)
    if bool(xp.all(finite)):
        return
    bad = ~finite
    if x.ndim == 1:
        i = int(xp.argmax(xp.astype(bad, xp.int8)))
        raise ValueError(f"{name} holds a non-finite value ({float(x[i])}) at index {i}; every entry must be finite")
    row = int(xp.argmax(xp.astype(xp.any(bad, axis=1), xp.int8)))
    col = int(xp.argmax(xp.astype(bad[row, :], xp.int8)))
    raise ValueError(
        f"{name} holds a non-finite value ({float(x[row, col])}) at row {row}, column {col}; every entry must be finite"
    )


def _check_2d(x: Array, name: str, columns: int, what: str, hint: str) -> None:
    shape = tuple(x.shape)
    if len(shape) != 2 or shape[1] != columns:
        raise ValueError(f"{name} must be a 2-D array of shape (N, {what}={columns}); got shape {shape}.{hint}")


def check_targets_range(net: "Network", xp, T: Array, name: str = "T") -> None:
    """Targets must suit the output's error function: in [0, 1] for logistic, 1-of-K rows for softmax."""
    kind = net.layers[net.output].activation.name
    if kind == "linear" or net.layers[net.output].activation.components:  # real-valued targets
        return
    outside = (T < 0) | (T > 1)
    if bool(xp.any(outside)):
        row = int(xp.argmax(xp.astype(xp.any(outside, axis=1), xp.int8)))
        raise ValueError(
            f"{name} row {row} holds a value outside [0, 1]; targets of {kind} outputs are probabilities "
            f"(binary 0/1 for logistic, 1-of-K for softmax)"
        )
    if kind == "softmax":
        off = xp.abs(xp.sum(T, axis=1) - 1.0) > 1e-6 * net.K
        if bool(xp.any(off)):
            row = int(xp.argmax(xp.astype(off, xp.int8)))
            raise ValueError(
                f"{name} row {row} sums to {float(xp.sum(T[row, :]))}; targets of softmax outputs are 1-of-K "
                f"coded rows (PRML 5.24) that sum to 1"
            )


def check_data(net: "Network", w: Any, X: Any, T: Optional[Any] = None, names: tuple = ("X", "T")) -> tuple:
    """Check w, X and (if given) T for ``net``; return them as arrays of one namespace and dtype.

    Raises
    ------
    TypeError
        An argument that is not an array of real numbers, or arrays from
        different array libraries.
    ValueError
        A shape that does not fit the network, no patterns, or a NaN or inf.
    """
    xname, tname = names
    arrays = {"w": _numeric(as_array(w, "w"), "w"), xname: _numeric(as_array(X, xname), xname)}
    if T is not None:
        arrays[tname] = _numeric(as_array(T, tname), tname)
    try:
        xp = _namespace(*arrays.values())
    except TypeError:
        kinds = ", ".join(f"{k}: {type(v).__module__}.{type(v).__name__}" for k, v in arrays.items())
        raise TypeError(f"w, {xname}" + (f" and {tname}" if T is not None else "") +
                        f" must come from the same array library; got {kinds}") from None

    w, X = arrays["w"], arrays[xname]
    check_length(net, w)
    if not _is_floating(xp, w):
        raise TypeError(f"w must be a floating-point array (float64 or float32); got dtype {w.dtype}")
    _check_2d(X, xname, net.D, "D", " A single input column is X.reshape(-1, 1)." if X.ndim == 1 else "")
    N = X.shape[0]
    if N == 0:
        raise ValueError(f"{xname} holds no patterns (N = 0); at least one row is needed")

    floats = [v.dtype for v in arrays.values() if _is_floating(xp, v)]
    dtype = xp.result_type(*floats)
    cast = lambda v: v if v.dtype == dtype else xp.astype(v, dtype)  # noqa: E731
    w, X = cast(w), cast(X)
    _check_finite(xp, w, "w")
    _check_finite(xp, X, xname)
    if T is None:
        return w, X, None

    T = cast(arrays[tname])
    hint = " A single target column is T.reshape(-1, 1)." if T.ndim == 1 else ""
    _check_2d(T, tname, net.target_size, "K", hint)
    if T.shape[0] != N:
        raise ValueError(f"{tname} has {T.shape[0]} rows but {xname} has {N}; each pattern x_n needs its target t_n")
    _check_finite(xp, T, tname)
    check_targets_range(net, xp, T, tname)
    return w, X, T


def check_vector(net: "Network", v: Any, like: Array, name: str = "v") -> Array:
    """A vector laid out as w, such as the v of H v: real, finite, of length n_params, in the namespace
    and dtype of ``like`` (the checked w)."""
    v = _numeric(as_array(v, name), name)
    check_length(net, v, name)
    try:
        xp = array_namespace(like, v)
    except TypeError:
        raise TypeError(f"w and {name} must come from the same array library; got {type(like).__module__}."
                        f"{type(like).__name__} and {type(v).__module__}.{type(v).__name__}") from None
    v = xp.astype(v, like.dtype)
    _check_finite(xp, v, name)
    return v


def check_pattern(net: "Network", w: Any, x: Any, t: Any) -> tuple:
    """Check one pattern x (D,) and target t (K,); return w and the pattern as (1, D) and (1, K) rows."""
    x, t = _numeric(as_array(x, "x"), "x"), _numeric(as_array(t, "t"), "t")
    for name, v, size, what in (("x", x, net.D, "D"), ("t", t, net.target_size, "K")):
        if tuple(v.shape) not in ((size,), (1, size)):
            raise ValueError(f"{name} must be one pattern of shape ({what}={size},); got shape {tuple(v.shape)}")
    xp = array_namespace(x, t)
    return check_data(net, w, xp.reshape(x, (1, net.D)), xp.reshape(t, (1, net.target_size)), names=("x", "t"))
