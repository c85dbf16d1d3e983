"""Fast backends of the engine: ``evaluator(net, X, T)`` gives E(w) and dE/dw on the rows of (X, T)
by the backend chosen here, in this one place; ``hessian_vector_product``, ``hessian``,
``outer_product_hessian``, ``jacobian`` and ``weight_jacobian`` give the engine's second-order
quantities (``deltaprop.engine.second``) by ``deltaprop.fast.second`` for layered networks and NumPy
float data, and by the engine itself otherwise.

==============  ===============================================================  ======================
backend         what it is                                                       takes
==============  ===============================================================  ======================
``compiled``    Numba loops over units and patterns (``kernels``)                 layered networks with
                                                                                 small layers, NumPy
                                                                                 float32/float64
``buffered``    NumPy matrix products into buffers allocated once (``buffered``)  layered networks and
                                                                                 mixture density chains,
                                                                                 NumPy float32/float64
``reference``   the engine itself (``deltaprop.engine.backprop``)                 everything
==============  ===============================================================  ======================

The choice is a whitelist: ``SUPPORTS`` says what each backend takes, and the first of
``BACKENDS`` that takes a problem gets it, so anything a backend does not know goes to the
reference. Every backend gives the reference's E and gradient to rounding (tested, on every
activation and output kind). Numba is imported only here, when a compiled or buffered backend
is first chosen; where it is absent, those two stand aside with a one-line notice.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Optional

import numpy as np

BACKENDS = ("compiled", "buffered", "reference")  # in order of preference
SMALL_WEIGHTS = 800  # up to this many weights between any two layers, loops beat matrix products (measured)
# at every number of rows: more than kernels.PART_ROWS rows are shared among the cores (an lbfgs iteration on 8192
# rows, compiled with its parts on two threads against buffered products and SciPy's L-BFGS-B: 8-50-1 0.38, 13-50-1
# 0.68, 16-32-1 0.83, 8-100-1 0.63, measured); on one core compiled/buffered was 0.96-1.31 an evaluation and
# 0.80-1.06 an iteration at 4096-8192 rows, where the choice once went by the rows as well


class BackendNotice(UserWarning):
    """A faster backend could not be used (Numba is not installed): the reference runs instead."""


_shapes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _shape(net) -> tuple:
    """(layered, the most weights between two consecutive layers, a chain) of a network, worked out once per
    network (a network does not change after it is made)."""
    known = _shapes.get(net)
    if known is None:
        names = list(net.layers)
        chain = [(c.src, c.dst) for c in net.connections] == list(zip(names[:-1], names[1:])) and \
            all(c.mask is None for c in net.connections)
        sizes = [layer.size for layer in net.layers.values()]
        known = (chain and not net.layers[net.output].activation.components,
                 max(a * b for a, b in zip(sizes[1:], sizes[:-1])), chain)
        _shapes[net] = known
    return known


def layered(net) -> bool:
    """A chain of layers, each fed by the one before, with no masks, and an output with its canonical error
    (not a mixture density): the networks the fast backends know."""
    return _shape(net)[0]


def chained(net) -> bool:
    """A chain of layers with no masks, whatever its output: ``layered``, or a mixture density network, whose
    E and gradient the buffered backend also computes (its output deltas by ``kernels.mixture_output_deltas``)."""
    return _shape(net)[2]


def small(net) -> bool:
    """A layered network with at most ``SMALL_WEIGHTS`` weights between any two layers."""
    is_layered, widest, _ = _shape(net)
    return is_layered and widest <= SMALL_WEIGHTS


def _numpy_floats(first, *others) -> bool:
    """NumPy arrays of one dtype, float32 or float64."""
    return type(first) is np.ndarray and first.dtype in (np.float32, np.float64) and \
        all(type(a) is np.ndarray and a.dtype == first.dtype for a in others)


_numba: Optional[bool] = None


def have_numba() -> bool:
    """Whether Numba imports; the first time it does not, say so once."""
    global _numba
    if _numba is None:
        try:
            import numba  # noqa: F401
        except ImportError:
            _numba = False
            warnings.warn("Numba is not installed: deltaprop runs the reference engine, without the compiled and "
                          "buffered backends (pip install numba)", BackendNotice, stacklevel=3)
        else:
            _numba = True
    return _numba


#: What each backend takes: ``SUPPORTS[name](net, X, T) -> bool``.
SUPPORTS = {
    "compiled": lambda net, X, T: _numpy_floats(X, T) and small(net) and have_numba(),
    "buffered": lambda net, X, T: _numpy_floats(X, T) and chained(net) and have_numba(),
    "reference": lambda net, X, T: True,
}


def choose(net, X, T) -> str:
    """The first backend of ``BACKENDS`` that takes (net, X, T)."""
    for name in BACKENDS:
        if SUPPORTS[name](net, X, T):
            return name
    raise AssertionError("unreachable: the reference takes everything")


def backend_for(net, X: Any, T: Any, backend: Optional[str] = None) -> str:
    """The name of the backend that ``evaluator`` would use: ``backend`` where it takes the problem (else an
    error saying what it needs), or ``choose``'s where it is None."""
    if backend is not None and backend not in SUPPORTS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend is None:
        return choose(net, X, T)
    if not SUPPORTS[backend](net, X, T):
        raise ValueError(f"the {backend!r} backend does not take this problem: it needs a layered network (each layer "
                         f"fed by the one before, no masks){' with small layers' if backend == 'compiled' else ''}, "
                         f"NumPy float32 or float64 data of one dtype, and Numba")
    return backend


def evaluator(net, X: Any, T: Any, backend: Optional[str] = None):
    """E(w) and dE/dw of ``net`` on (X, T), checked once here, by ``backend`` (default: ``choose``).

    Returns an object with ``backend`` (its name), ``error(w, rows=None) -> float`` and
    ``error_and_gradient(w, rows=None, g=None) -> (E, g)``, where ``rows`` picks patterns
    (an index array; None for all) and ``g``, when given, is an array the gradient may be
    written into (use the one returned), and ``hessian_vector_product(w, v)`` on all the data
    (v of w's dtype, unchecked). The reference also has ``pattern_gradients``.
    w must be a 1-D array of X's dtype; it is not checked again on each call.
    """
    backend = backend_for(net, X, T, backend)
    if backend == "compiled":
        from .compiled import CompiledEvaluator as Evaluator
    elif backend == "buffered":
        from .buffered import BufferedEvaluator as Evaluator
    else:
        from .reference import ReferenceEvaluator as Evaluator
    return Evaluator(net, X, T)


def _second_order_numpy(net, *arrays) -> bool:
    """Whether ``fast.second`` takes the problem: a layered network and NumPy float arrays of one dtype."""
    return layered(net) and _numpy_floats(*arrays)


def _second_order(name: str, net, *arrays):
    """The function ``name`` of ``fast.second`` where it takes the problem, else the engine's."""
    if _second_order_numpy(net, *arrays):
        from . import second
    else:
        from ..engine import second
    return getattr(second, name)


def hessian_vector_product(net, w: Any, X: Any, T: Any, v: Any):
    """H v for the Hessian of E(w) on (X, T), by the R-operator (PRML 5.4.6); as ``net.hessian_vector_product``,
    computed by ``fast.second`` for a layered network and NumPy float data, else by the engine."""
    from ..engine.checks import check_data, check_vector
    from ..engine.outputs import require_canonical

    require_canonical(net, "H v")
    w, X, T = check_data(net, w, X, T)
    v = check_vector(net, v, w)
    return _second_order("hessian_vector_product", net, w, X, T, v)(net, w, X, T, v)


def hessian(net, w: Any, X: Any, T: Any):
    """The exact Hessian of E(w), (n_params, n_params); as ``net.hessian``, by the layer-wise formulas of
    ``fast.second`` for a layered network and NumPy float data (else the engine's n_params products H e_i).
    Refused above ``MAX_HESSIAN_PARAMS`` parameters."""
    from ..engine.checks import check_data
    from ..engine.outputs import require_canonical

    require_canonical(net, "the Hessian")
    net.dense_hessian_fits()
    w, X, T = check_data(net, w, X, T)
    return _second_order("hessian", net, w, X, T)(net, w, X, T)


def outer_product_hessian(net, w: Any, X: Any, T: Any):
    """The outer-product approximation sum_n B_n^T M_n B_n (PRML 5.84-5.85); as ``net.outer_product_hessian``."""
    from ..engine.checks import check_data
    from ..engine.outputs import require_canonical

    require_canonical(net, "the outer-product Hessian")
    net.dense_hessian_fits()
    w, X, T = check_data(net, w, X, T)
    return _second_order("outer_product_hessian", net, w, X, T)(net, w, X, T)


def jacobian(net, w: Any, X: Any):
    """dy_k/dx_i, (N, K, D) (PRML 5.73-5.78); as ``net.jacobian``."""
    from ..engine.checks import check_data

    w, X, _ = check_data(net, w, X)
    return _second_order("jacobian", net, w, X)(net, w, X)


def weight_jacobian(net, w: Any, X: Any, activations: bool = False):
    """dy_nk/dw, or da_nk/dw with ``activations``, (N, K, n_params); as ``net.weight_jacobian``."""
    from ..engine.checks import check_data

    w, X, _ = check_data(net, w, X)
    return _second_order("weight_jacobian", net, w, X)(net, w, X, bool(activations))


__all__ = ["BACKENDS", "SMALL_WEIGHTS", "SUPPORTS", "BackendNotice", "backend_for", "chained", "choose",
           "evaluator", "have_numba", "hessian",
           "hessian_vector_product", "jacobian", "layered", "outer_product_hessian", "small", "weight_jacobian"]
