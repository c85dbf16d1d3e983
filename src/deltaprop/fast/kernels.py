"""The compiled kernels: E and dE/dw of a layered network in Numba, for the ``compiled`` backend
and the fused training loop (``deltaprop.training.fused``), and two elementwise passes for the
``buffered`` backend.

This module imports Numba; nothing imports it until a compiled or buffered backend is first used.

Two kernels evaluate E and its gradient on a set of rows (PRML 5.48-5.57):

- ``_evaluate_columns`` for several rows: each unit's activations over the
  rows lie side by side, so every loop over patterns is a vector loop: a_j and
  the back-propagated sums by ``fixed_order.combine4`` (four units at a time,
  each input row loaded once for the four; ``combine`` for the rest), the gradient's sums over
  patterns by ``fixed_order.dot`` (``dot_part`` where the rows are taken
  ``CHUNK`` at a time, to the same bits); tanh is ``_tanh``, written so that the
  compiler vectorises it. More than ``PART_ROWS`` rows are parts (``evaluate_parts``),
  whose sums ``fold`` adds in part order, for ``deltaprop.fast.compiled`` to share among threads.
- ``_evaluate_rows`` for one or a few rows: one pattern at a time in scalar
  loops (a layer's activations in one vector loop over its units), no allocation.

Two small kernels serve ``deltaprop.fast.buffered``, whose matrix products stay
NumPy's: ``output_deltas`` (delta_k = y_k - t_k, E and the output biases'
gradient in one pass) and ``times_h_prime_and_sum`` (a hidden layer's deltas
and bias gradient in one pass); each replaces two to five NumPy calls that
each pass over the array.

The activation and output codes are those of the engine's tables
(``deltaprop.engine.activations.ACTIVATIONS``, ``deltaprop.engine.outputs.OUTPUT_KINDS``);
every kernel checks the codes it is given on entry (``check_codes``) and
raises on one it does not know, so that no code falls through to another
function.

Numba compiles once per dtype and caches the machine code on disk
(``cache=True``), so the compile time (seconds) is paid once per machine.
No kernel uses ``fastmath``: every sum is added in an order the source fixes
(sums over patterns by ``fixed_order.dot``, in LLVM vectors it writes itself, in an order
fixed by the number of patterns) and multiply-adds are explicit ``fixed_order.fma`` calls,
so however the compiler inlines and vectorises, a process that compiles the kernels and one
that loads them from the cache give the same bits. (With fastmath they
differed in the last bit, and restarts in worker processes stopped equalling
local ones.) NaN and inf pass through, so divergence is seen.
"""

from __future__ import annotations

import math
import weakref
from collections import namedtuple

import numpy as np

import numba as nb

from ..engine.activations import ACTIVATIONS
from ..engine.outputs import OUTPUT_KINDS
from ..fixed_order import DOT_VECTORS, LANES, combine, combine4, dot, dot_part, fma

# The codes of the engine's tables, as compile-time constants of the kernels.
LINEAR, TANH, LOGISTIC = ACTIVATIONS["linear"].code, ACTIVATIONS["tanh"].code, ACTIVATIONS["logistic"].code
RELU, SOFTPLUS = ACTIVATIONS["relu"].code, ACTIVATIONS["softplus"].code
HIDDEN_CODES = np.array([a.code for a in ACTIVATIONS.values() if not a.output_only], dtype=np.int64)
SUM_OF_SQUARES, BINARY_CROSS_ENTROPY = OUTPUT_KINDS["linear"].code, OUTPUT_KINDS["logistic"].code
CROSS_ENTROPY = OUTPUT_KINDS["softmax"].code
COLUMNS_FROM = 4  # rows per call from which the vector loops over patterns beat one pattern at a time (measured)
CHUNK = 512  # the column kernel's patterns per chunk: a multiple of PART, so that each keeps its work arrays in L2
PART = LANES * DOT_VECTORS  # the accumulators of a sum over patterns that continues from one chunk to the next
#: Patterns per part: more rows than this are evaluated in parts, each summed over its own patterns, their sums
#: added in part order (``fold``), so that the parts can run on threads (``deltaprop.fast.compiled``) with the bits
#: of one thread. The cut depends on the number of rows alone, never on the threads.
PART_ROWS = 2048
#: error_model "numpy": division by zero gives inf or NaN as in NumPy, no exception checks; nogil: the kernels let
#: other threads run (the evidence's starts on n_jobs threads). A change here reaches the kernels of other modules
#: that import it only once their own source changes (Numba's cache is keyed by the file that defines a kernel).
JIT = dict(cache=True, error_model="numpy", nogil=True)

# Cody-Waite split of ln 2: K * LN2_HI is exact for |K| < 2**20, so r = y - K ln 2 loses nothing
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.4426950408889634


_specs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def kernel_spec(net) -> tuple:
    """What the kernels need of a layered network: layer sizes, hidden activation codes, output code; worked out
    once per network (a network does not change after it is made; nothing writes into the arrays)."""
    known = _specs.get(net)
    if known is None:
        names = list(net.layers)
        sizes = np.array([net.layers[n].size for n in names], dtype=np.int64)
        acts = np.array([net.layers[n].activation.code for n in names[1:-1]], dtype=np.int64)
        known = _specs[net] = (sizes, acts, OUTPUT_KINDS[net.layers[net.output].activation.name].code)
    return known


def tanh(x) -> np.ndarray:
    """``_tanh`` over an array: the compiled kernels' tanh, for checking it against ``numpy.tanh``."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _tanh_loop(x.reshape(-1), out.reshape(-1))
    return out


#: The column kernel's and the one-pattern kernel's work arrays (``work``).
Work = namedtuple("Work", "A Z Dl a z d R Xc acc terms")


@nb.njit(inline="always", **JIT)
def _row_length(width):
    """A work row of ``width`` entries, padded where width is a multiple of 64: such rows would put a column's entries
    in one set of the L1 cache, which the column kernel's loops over units (``fixed_order.combine``) walk down (1024
    columns took 1.6x the time of 1032, measured)."""
    return width + LANES if width % 64 == 0 else width


@nb.njit(**JIT)
def work(sizes, rows, like):
    """Work arrays of like's dtype for evaluations on up to ``rows`` rows, as one ``Work``: A, Z, Dl of shape (units, columns) for the column kernel, its patterns ``CHUNK`` at a time (all of
    them where they fit); a, z, d for one row; R a row for the column kernel's sums; Xc the inputs of all the rows,
    a pattern per column (``_gather_columns``); acc the gradient's partial sums between chunks (``fixed_order.
    dot_part``: LANES DOT_VECTORS for each weight); terms the errors of each output and pattern where there are
    several outputs and several chunks (so that E is summed output by output, as in one chunk). Memory: units x
    CHUNK for the three, inputs x rows for Xc, outputs x rows for terms, never units x rows. The kernels write
    every entry before they read it, so none is cleared (clearing megabytes on every call cost more than the
    steps)."""
    units = np.sum(sizes)
    width = (rows + LANES - 1) // LANES * LANES
    columns = width if width <= CHUNK else CHUNK
    chunked = width > columns
    shape = (units, _row_length(columns))
    P = 0
    for l in range(1, sizes.size):
        P += (sizes[l - 1] + 1) * sizes[l]
    K = sizes[-1]
    dt = like.dtype
    return Work(np.empty(shape, dt), np.empty(shape, dt), np.empty(shape, dt), np.empty(units, dt),
                np.empty(units, dt), np.empty(units, dt), np.empty(shape[1], dt),
                np.empty((sizes[0], _row_length(width)), dt), np.empty(P * PART if chunked else 0, dt),
                np.empty((K if chunked and K > 1 else 0, width), dt))


@nb.njit(inline="always", **JIT)
def _tanh(x):
    """tanh x to within 3 units in the last place of float64, in arithmetic a compiler can vectorise.

    tanh|x| = m / (m + 2) with m = exp(2|x|) - 1, which, unlike 1 - 2/(exp(2|x|) + 1), keeps its
    precision near 0, so that one formula serves every x: m = 2^k expm1(r) + (2^k - 1), where
    y = 2|x| = k ln 2 + r, r in [-ln2/2, ln2/2], expm1(r) = r q(r) by its Taylor polynomial to r^13
    (error below 5e-18), 2^k exact from the bits of k, and 2^k - 1 exact. One polynomial and one
    division: with the former two branches (a Pade approximant for |x| <= 1, 1 - 2/(exp(2|x|) + 1)
    beyond, both computed in a vector loop) W1's step took 1.12 times as long (measured). tanh
    rounds to 1 beyond |x| = 19.1, so |x| is capped at 20. A NaN stays NaN.
    """
    ax = abs(x)
    if ax > 20.0:
        ax = 20.0
    y = 2.0 * ax
    k = np.floor(fma(y, INV_LN2, 0.5))
    r = fma(-k, LN2_LO, fma(-k, LN2_HI, y))
    q = 1.0 / 6227020800.0
    for c in (1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
              1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0):
        q = fma(q, r, c)
    s = np.float64(np.int64(1) << np.int64(k))
    em = fma(s, q * r, s - 1.0)
    t = em / (em + 2.0)
    return t if x >= 0.0 else -t


@nb.njit(**JIT)
def _tanh_loop(x, out):
    for i in range(x.size):
        out[i] = _tanh(x[i])


@nb.njit(**JIT)
def check_codes(acts, out):
    """Raise on a hidden activation or output code that the engine's tables do not define."""
    for code in acts:
        known = False
        for c in HIDDEN_CODES:
            known = known or code == c
        if not known:
            raise ValueError("a hidden activation code that the engine's table does not define")
    if out != SUM_OF_SQUARES and out != BINARY_CROSS_ENTROPY and out != CROSS_ENTROPY:
        raise ValueError("an output code that the engine's table does not define")


# The last branch of each switch below is SOFTPLUS (or CROSS_ENTROPY): check_codes let no other code in.


@nb.njit(inline="always", **JIT)
def _h1(code, a):
    if code == LINEAR:
        return a
    if code == TANH:
        return _tanh(a)
    if code == LOGISTIC:
        e = math.exp(-abs(a))
        return 1.0 / (1.0 + e) if a >= 0 else e / (1.0 + e)
    if code == RELU:
        return a if a > 0 else 0.0
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


@nb.njit(inline="always", **JIT)
def _dh1(code, a, z):
    if code == LINEAR:
        return 1.0
    if code == TANH:
        return 1.0 - z * z  # PRML 5.60
    if code == LOGISTIC:
        return z * (1.0 - z)
    if code == RELU:
        return 1.0 if a > 0 else 0.0
    e = math.exp(-abs(a))
    return 1.0 / (1.0 + e) if a >= 0 else e / (1.0 + e)


# Rows of 2-d work arrays are indexed in place, never sliced: a view costs a reference count.


@nb.njit(inline="always", **JIT)
def _activate(code, A, Z, u, n):
    """Z[u, :n] = h(A[u, :n]); the activation chosen once, outside the vector loop (PRML 5.49)."""
    if code == TANH:
        for c in range(n):
            Z[u, c] = _tanh(A[u, c])
    else:
        for c in range(n):
            Z[u, c] = _h1(code, A[u, c])


@nb.njit(inline="always", **JIT)
def _times_dh(code, A, Z, Dl, u, n):
    """Dl[u, :n] *= h'(A[u, :n]) (PRML 5.56)."""
    if code == TANH:
        for c in range(n):
            Dl[u, c] *= 1.0 - Z[u, c] * Z[u, c]
    else:
        for c in range(n):
            Dl[u, c] *= _dh1(code, A[u, c], Z[u, c])


@nb.njit(inline="always", **JIT)
def _u(i):
    """i as an unsigned index. Numba checks every signed index for a negative value (to count from the end);
    an unsigned one it indexes directly. Indices computed from the layer sizes are unsigned in the kernels
    (measured on W3: the checks cost a third of the one-pattern kernel's time)."""
    return np.uint64(i)


@nb.njit(inline="always", **JIT)
def _place(sizes, l):
    """Layer l's first weight in w, and the first unit of layers l - 1 and l among all units (no allocation),
    as unsigned integers (see ``_u``)."""
    o, u0 = _u(0), _u(0)
    for k in range(1, l):
        o += _u(sizes[k] * sizes[k - 1] + sizes[k])
        u0 += _u(sizes[k - 1])
    return o, u0, u0 + _u(sizes[l - 1])


@nb.njit(inline="always", **JIT)
def _gather_columns(X, rows, Xc):
    """The inputs of X[rows] into Xc, a pattern per column, padded with zeros to a multiple of LANES columns: what
    ``_evaluate_columns`` reads, and nothing else writes (its ``gathered``)."""
    N = rows.size
    n = (N + LANES - 1) // LANES * LANES
    for i in range(X.shape[1]):
        for c in range(N):
            Xc[i, c] = X[rows[c], i]
        for c in range(N, n):
            Xc[i, c] = 0.0


@nb.njit(**JIT)
def _evaluate_columns(w, X, T, rows, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms, gathered):
    """E on X[rows], T[rows] (PRML 5.44); g receives its gradient.

    Row u of A, Z and Dl holds unit u's a, z and delta for a chunk of patterns (patterns are columns here), so
    each loop over patterns is a vector loop (PRML 5.48-5.56), a_j and the back-propagated sums four units at a
    time (``fixed_order.combine4``); the patterns are taken ``CHUNK`` at a time (at most units x CHUNK numbers each,
    which stay in L2: 8-20-1 on 45,500 rows 109 -> 63 ns a pattern, as on 455, measured), forward and back for
    each chunk, the gradient's sums continued from chunk to chunk by ``fixed_order.
    dot_part`` in ``dot``'s order: the same bits as in one chunk. More than ``PART_ROWS`` rows are taken in parts of
    that many, each summed on its own and the parts' sums added in order (``evaluate_parts``, ``fold``), so that
    threads can share them (``deltaprop.fast.compiled``). The patterns are padded with zero inputs to a
    multiple of LANES columns, whose deltas are set to 0, so that no loop has a scalar remainder. R is a work row
    (ones, for the biases' sums); A, Z, Dl, R, Xc, acc and terms are a ``Work``'s (apart: a tuple of arrays passed
    on costs each array's reference count, 0.52 -> 0.67 us a W1 step, measured). ``gathered``: Xc already holds X[rows]
    (``_gather_columns``), as where a loop evaluates the same rows again and again (full-batch gd, lbfgs: 4.6 of
    55 us for 13-20-1 on 455 rows, measured before the sums ran in ``fixed_order``'s vectors; of 34 since).
    """
    if not gathered:
        _gather_columns(X, rows, Xc)
    N = rows.size
    if N <= PART_ROWS:
        return _evaluate_part(w, X, T, rows, 0, N, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms)
    E, G, Es = 0.0, np.empty((1, g.size), g.dtype), np.empty(1)  # one part's sums at a time, added as they come
    for p in range((N + PART_ROWS - 1) // PART_ROWS):
        evaluate_parts(w, X, T, rows, sizes, acts, out, G, Es, p, p + 1, A, Z, Dl, R, Xc, acc, terms)
        if p == 0:
            E = Es[0]
            g[:] = G[0]
        else:
            E += Es[0]
            for i in range(g.size):
                g[i] += G[0, i]
    return E


@nb.njit(**JIT)
def evaluate_parts(w, X, T, rows, sizes, acts, out, G, Es, p0, p1, A, Z, Dl, R, Xc, acc, terms):
    """Parts p0 .. p1 - 1 of X[rows] (``PART_ROWS`` patterns each, the last what remains; Xc holds their inputs):
    part p's E into Es[p - p0] and its gradient into G[p - p0] (``_evaluate_part``), for ``fold`` to add in part
    order. Parts on different threads, each with its own work arrays, give the bits of one thread taking them all."""
    N = rows.size
    for p in range(p0, p1):
        first = p * PART_ROWS
        Es[p - p0] = _evaluate_part(w, X, T, rows, first, min(PART_ROWS, N - first), sizes, acts, out, G[p - p0], A,
                                    Z, Dl, R, Xc, acc, terms)


@nb.njit(**JIT)
def fold(G, Es, g):
    """E and g = the parts' sums added in part order: ((part 0 + part 1) + part 2) + ..."""
    E = Es[0]
    g[:] = G[0]
    for p in range(1, Es.size):
        E += Es[p]
        for i in range(g.size):
            g[i] += G[p, i]
    return E


@nb.njit(inline="always", **JIT)
def _evaluate_part(w, X, T, rows, first, N, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms):
    """E on the N patterns X[rows[first:first + N]] and its gradient into g, their inputs in Xc's columns from
    ``first`` on (``_evaluate_columns``)."""
    L = len(sizes) - 1
    n = (N + LANES - 1) // LANES * LANES
    C = n if n <= A.shape[1] else CHUNK
    chunks = n > C
    many = chunks or first > 0  # a later part reads Xc from an offset, which dot_part takes
    u, K = _place(sizes, L)[2], _u(sizes[L])
    for c in range(C):
        R[c] = 1.0  # a bias's gradient is its deltas' sum: their dot with ones
    E = 0.0
    for c0 in range(0, n, C):
        cn = min(C, n - c0)
        real = min(cn, N - c0)  # the chunk's patterns before the padding
        fresh, last = c0 == 0, c0 + cn == n
        for l in range(1, L + 1):  # a_j = sum_i w_ji z_i + w_j0 (PRML 5.48), z_j = h(a_j) (5.49)
            m, S = _u(sizes[l - 1]), _u(sizes[l])
            o, u0, u1 = _place(sizes, l)
            for p in range(S // _u(4)):  # four units at a time: each entry of M loaded once for all
                j = _u(4) * p
                if l == 1:
                    combine4(A, u1 + j, Xc, 0, m, w, o + j * m, m, 1, o + S * m + j, True, cn, first + c0)
                else:
                    combine4(A, u1 + j, Z, u0, m, w, o + j * m, m, 1, o + S * m + j, True, cn, 0)
            for j in range(S - S % _u(4), S):
                if l == 1:
                    combine(A[u1 + j], Xc, 0, m, w, o + j * m, 1, w[o + S * m + j], cn, first + c0)
                else:
                    combine(A[u1 + j], Z, u0, m, w, o + j * m, 1, w[o + S * m + j], cn, 0)
            if l < L:  # one call site: each inlined copy of tanh is code the loop of a small network must fetch
                for j in range(S):
                    _activate(acts[l - 1], A, Z, u1 + j, cn)
        apart = chunks and K > 1  # E output by output, as one chunk sums it: each pattern's term kept till the end
        if out == SUM_OF_SQUARES:
            for k in range(K):
                for c in range(real):
                    r = A[u + k, c] - T[rows[first + c0 + c], k]
                    Dl[u + k, c] = r  # PRML 5.54
                    if apart:
                        terms[k, c0 + c] = 0.5 * r * r
                    else:
                        E += 0.5 * r * r
        elif out == BINARY_CROSS_ENTROPY:
            for k in range(K):
                for c in range(real):
                    ak, tk = A[u + k, c], T[rows[first + c0 + c], k]
                    e = math.exp(-abs(ak))
                    Dl[u + k, c] = (1.0 / (1.0 + e) if ak >= 0 else e / (1.0 + e)) - tk
                    if apart:
                        terms[k, c0 + c] = max(ak, 0.0) + math.log1p(e) - tk * ak
                    else:
                        E += max(ak, 0.0) + math.log1p(e) - tk * ak
        else:
            for c in range(real):
                mx = A[u, c]
                for k in range(_u(1), K):
                    mx = max(mx, A[u + k, c])
                tot = 0.0
                for k in range(K):
                    Z[u + k, c] = math.exp(A[u + k, c] - mx)
                    tot += Z[u + k, c]
                lse = mx + math.log(tot)
                for k in range(K):
                    tk = T[rows[first + c0 + c], k]
                    Dl[u + k, c] = Z[u + k, c] / tot - tk
                    E += tk * (lse - A[u + k, c])
        for k in range(K):
            for c in range(real, cn):
                Dl[u + k, c] = 0.0
        for l in range(L, 0, -1):
            m, S = _u(sizes[l - 1]), _u(sizes[l])
            o, u0, u1 = _place(sizes, l)
            for j in range(S):
                d = Dl[u1 + j]
                b = o + S * m + j
                if many:
                    s = dot_part(acc, b * _u(PART), d, 0, R, 0, cn, fresh, last)
                    if last:
                        g[b] = s
                    for i in range(m):
                        s = dot_part(acc, (o + j * m + i) * _u(PART), d, 0, Xc[i] if l == 1 else Z[u0 + i],
                                     first + c0 if l == 1 else 0, cn, fresh, last)  # PRML 5.53
                        if last:
                            g[o + j * m + i] = s
                else:
                    g[b] = dot(d, R, cn)
                    for i in range(m):
                        g[o + j * m + i] = dot(d, Xc[i] if l == 1 else Z[u0 + i], cn)  # PRML 5.53
            if l > 1:
                for p in range(m // _u(4)):
                    i = _u(4) * p
                    combine4(Dl, u0 + i, Dl, u1, S, w, o + i, 1, m, 0, False, cn, 0)
                for i in range(m - m % _u(4), m):
                    combine(Dl[u0 + i], Dl, u1, S, w, o + i, m, -0.0, cn, 0)
                for i in range(m):
                    _times_dh(acts[l - 2], A, Z, Dl, u0 + i, cn)  # PRML 5.56
    if chunks and K > 1 and out != CROSS_ENTROPY:
        for k in range(K):
            for c in range(N):
                E += terms[k, c]
    return E


@nb.njit(**JIT)
def _evaluate_rows(w, X, T, rows, sizes, acts, out, g, a, z, d):
    """As _evaluate_columns, one pattern at a time in scalar loops: no allocation, no BLAS call.

    ``a``, ``z`` and ``d`` are work vectors holding every layer's units side by side.
    """
    L = len(sizes) - 1
    g[:] = 0.0
    E = 0.0
    D, K = _u(sizes[0]), _u(sizes[L])
    for r in range(rows.size):
        n = _u(rows[r])
        for i in range(D):
            z[i] = X[n, i]
        for l in range(1, L + 1):  # a_j = sum_i w_ji z_i + w_j0 (PRML 5.48), z_j = h(a_j) (5.49)
            m, S = _u(sizes[l - 1]), _u(sizes[l])
            o, u0, u1 = _place(sizes, l)
            for j in range(S):
                s = w[o + S * m + j]
                for i in range(m):
                    s += w[o + j * m + i] * z[u0 + i]
                a[u1 + j] = s
            if l < L:  # after the layer's sums: a vector loop over its units
                code = acts[l - 1]
                if code == TANH:
                    for j in range(S):
                        z[u1 + j] = _tanh(a[u1 + j])
                else:
                    for j in range(S):
                        z[u1 + j] = _h1(code, a[u1 + j])
        u = _place(sizes, L)[2]
        if out == SUM_OF_SQUARES:
            for k in range(K):
                z[u + k] = a[u + k]
                E += 0.5 * (a[u + k] - T[n, k]) ** 2
        elif out == BINARY_CROSS_ENTROPY:
            for k in range(K):
                ak = a[u + k]
                z[u + k] = _h1(LOGISTIC, ak)
                E += max(ak, 0.0) + math.log1p(math.exp(-abs(ak))) - T[n, k] * ak
        else:
            mx = a[u]
            for k in range(K):
                mx = max(mx, a[u + k])
            tot = 0.0
            for k in range(K):
                z[u + k] = math.exp(a[u + k] - mx)
                tot += z[u + k]
            lse = mx + math.log(tot)
            for k in range(K):
                z[u + k] /= tot
                E += T[n, k] * (lse - a[u + k])
        for k in range(K):
            d[u + k] = z[u + k] - T[n, k]  # PRML 5.54
        for l in range(L, 0, -1):
            m, S = _u(sizes[l - 1]), _u(sizes[l])
            o, u0, u1 = _place(sizes, l)
            for j in range(S):
                dj = d[u1 + j]
                g[o + S * m + j] += dj
                for i in range(m):
                    g[o + j * m + i] += dj * z[u0 + i]  # PRML 5.53
            if l > 1:
                for i in range(m):
                    s = 0.0
                    for j in range(S):
                        s += w[o + j * m + i] * d[u1 + j]
                    d[u0 + i] = _dh1(acts[l - 2], a[u0 + i], z[u0 + i]) * s  # PRML 5.56
    return E


@nb.njit(**JIT)
def evaluate(w, X, T, rows, sizes, acts, out, g, A, Z, Dl, a, z, d, R, Xc, acc, terms):
    """E on X[rows], T[rows] and its gradient into g: columns for several rows, one pattern at a
    time for a few (A .. terms: a ``Work``'s arrays, in its order). The codes are checked by the caller
    (``check_codes``), once."""
    if rows.size >= COLUMNS_FROM:
        return _evaluate_columns(w, X, T, rows, sizes, acts, out, g, A, Z, Dl, R, Xc, acc, terms, False)
    return _evaluate_rows(w, X, T, rows, sizes, acts, out, g, a, z, d)


# -- elementwise passes of the buffered backend (deltaprop.fast.buffered): rows are patterns there


@nb.njit(**JIT)
def output_deltas(out, A, T, D, gb):
    """D = y - t (PRML 5.54) from rows of output pre-activations A, and E on those rows (PRML 5.44),
    in one pass: the error functions of ``deltaprop.engine.outputs``, from a, never from y. gb receives the
    sum of D's rows, the output biases' gradient (PRML 5.53 with z_0 = 1)."""
    check_codes(HIDDEN_CODES[:0], out)
    E = 0.0
    total = np.zeros(D.shape[1])
    for r in range(A.shape[0]):
        if out == SUM_OF_SQUARES:
            for k in range(A.shape[1]):
                d = A[r, k] - T[r, k]
                D[r, k] = d
                E += 0.5 * d * d
        elif out == BINARY_CROSS_ENTROPY:
            for k in range(A.shape[1]):
                ak, tk = A[r, k], T[r, k]
                e = math.exp(-abs(ak))
                D[r, k] = (1.0 / (1.0 + e) if ak >= 0 else e / (1.0 + e)) - tk
                E += max(ak, 0.0) + math.log1p(e) - tk * ak
        else:
            mx = A[r, 0]
            for k in range(1, A.shape[1]):
                mx = max(mx, A[r, k])
            tot = 0.0
            for k in range(A.shape[1]):
                e = math.exp(A[r, k] - mx)
                D[r, k] = e
                tot += e
            lse = mx + math.log(tot)
            for k in range(A.shape[1]):
                tk = T[r, k]
                D[r, k] = D[r, k] / tot - tk
                E += tk * (lse - A[r, k])
        for k in range(A.shape[1]):
            total[k] += D[r, k]
    for k in range(A.shape[1]):
        gb[k] = total[k]
    return E


@nb.njit(**JIT)
def mixture_output_deltas(M, A, T, D, gb):
    """The mixture density output (PRML 5.6) on rows of its pre-activations A, laid out [a^pi (M), a^sigma (M),
    a^mu (M L)] as ``deltaprop.engine.activations.mixture_split`` cuts them: E on those rows (5.153) and
    D = dE_n/da (5.155-5.157) in one pass per row, gb the sum of D's rows (the output biases' gradient).

    The arithmetic of ``deltaprop.engine.outputs.mixture_error`` and ``mixture_deltas``: ln pi by log-softmax,
    ln N_k = -L a^sigma_k - q_k / 2 - L/2 ln 2 pi with q_k = ||t - mu_k||^2 exp(-2 a^sigma_k), the responsibilities
    gamma_k and -ln sum_k pi_k N_k by log-sum-exp (a row whose every component is -inf: density 0, E = inf)."""
    L = T.shape[1]
    if A.shape[1] != (L + 2) * M or D.shape[1] != A.shape[1] or T.shape[0] != A.shape[0]:
        raise ValueError("a mixture density output of M components over L dimensions has (L + 2) M units")
    E = 0.0
    total = np.zeros(D.shape[1])
    pi, c, q, iv = np.empty(M), np.empty(M), np.empty(M), np.empty(M)
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    for r in range(A.shape[0]):
        mx = A[r, 0]
        for k in range(1, M):
            mx = max(mx, A[r, k])
        s = 0.0
        for k in range(M):
            pi[k] = math.exp(A[r, k] - mx)
            s += pi[k]
        log_norm = mx + math.log(s)
        for k in range(M):
            pi[k] /= s  # the softmax (5.150)
            iv[k] = math.exp(-2.0 * A[r, M + k])  # 1 / sigma_k^2 (5.151)
            qk = 0.0
            for l in range(L):
                d = T[r, l] - A[r, 2 * M + k * L + l]
                qk += d * d
            q[k] = qk * iv[k]
            c[k] = (A[r, k] - log_norm) - L * A[r, M + k] - 0.5 * q[k] - L * half_log_2pi
        m = c[0]
        for k in range(1, M):
            m = max(m, c[k])
        if not m > -math.inf:
            m = 0.0
        tot = 0.0
        for k in range(M):
            c[k] = math.exp(c[k] - m)
            tot += c[k]
        if tot > 0.0:
            E -= m + math.log(tot)
        else:
            E = math.inf
            tot = 1.0
        for k in range(M):
            gamma = c[k] / tot  # the responsibility (5.154)
            D[r, k] = pi[k] - gamma  # 5.155
            D[r, M + k] = gamma * (L - q[k])  # 5.156, for ln sigma_k
            for l in range(L):
                D[r, 2 * M + k * L + l] = gamma * iv[k] * (A[r, 2 * M + k * L + l] - T[r, l])  # 5.157
        for k in range(D.shape[1]):
            total[k] += D[r, k]
    for k in range(D.shape[1]):
        gb[k] = total[k]
    return E


@nb.njit(**JIT)
def times_h_prime_and_sum(code, A, Z, D, gb):
    """D *= h'(A) (PRML 5.56), and gb = the sum of D's rows, the layer's bias gradient (PRML 5.53
    with z_0 = 1), in one pass; the sum is kept in float64 whatever D's dtype."""
    check_codes(np.full(1, code), SUM_OF_SQUARES)
    total = np.zeros(D.shape[1])
    for r in range(D.shape[0]):
        if code == TANH:
            for j in range(D.shape[1]):
                d = D[r, j]
                D[r, j] = d - d * (Z[r, j] * Z[r, j])  # d (1 - z^2) (PRML 5.60), in D's precision
                total[j] += D[r, j]
        else:
            for j in range(D.shape[1]):
                D[r, j] *= _dh1(code, A[r, j], Z[r, j])
                total[j] += D[r, j]
    for j in range(D.shape[1]):
        gb[j] = total[j]


@nb.njit(**JIT)
def outer_times_h_prime_and_sum(code, d, v, A, Z, D, gb):
    """D = d v^T times h'(A) (PRML 5.56 where the layer above has one unit, whose deltas are d's one
    column and whose weights from this layer are v), and gb = the sum of D's rows, in one pass.

    Equal to ``D = d @ v[None]`` followed by ``times_h_prime_and_sum``, operation for operation:
    for that outer product, a matrix product with an inner dimension of 1, OpenBLAS's dgemm took
    longer than the rest of the pass (86 against 22 us on 1024 x 50, measured)."""
    check_codes(np.full(1, code), SUM_OF_SQUARES)
    total = np.zeros(D.shape[1])
    for r in range(D.shape[0]):
        dr = d[r, 0]
        if code == TANH:
            for j in range(D.shape[1]):
                s = dr * v[j]
                D[r, j] = s - s * (Z[r, j] * Z[r, j])
                total[j] += D[r, j]
        else:
            for j in range(D.shape[1]):
                s = dr * v[j]
                D[r, j] = s * _dh1(code, A[r, j], Z[r, j])
                total[j] += D[r, j]  # as stored: in D's precision
    for j in range(D.shape[1]):
        gb[j] = total[j]


@nb.njit(**JIT)
def add_bias_and_tanh(A, b, Z):
    """A += b on every row (PRML 5.48), then Z = tanh(A) (5.49) by ``_tanh`` in one loop over all of A (C-contiguous,
    as the buffers are): a loop per row vectorises only the multiples of 8 of its units and leaves the rest to scalar
    code (W7's 8-50-1 on 1024 rows: 67 -> 55 us, the same bits)."""
    for r in range(A.shape[0]):
        for j in range(A.shape[1]):
            A[r, j] += b[j]
    a, z = A.reshape(A.size), Z.reshape(Z.size)
    for i in range(a.size):
        z[i] = _tanh(a[i])
