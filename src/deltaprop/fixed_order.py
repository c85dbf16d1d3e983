"""Arithmetic in an order the source fixes, as LLVM vector code for Numba kernels: ``fma`` (one rounding),
``dot`` (a sum of products over a row), ``dot_part`` (the same sum taken a part of the row at a time, to the same
bits), ``combine`` (a weighted sum of rows, column by column) and ``combine4`` (four of them at once).

No kernel of deltaprop uses fastmath, which lets the compiler reorder sums as it likes: a process that compiled
the kernels and one that loaded them from Numba's cache then differed in the last bit, and restarts in worker
processes stopped equalling local ones. Without it, LLVM keeps every sum in the source's order, and so does not
vectorise a sum over a row at all; these intrinsics write the vector code themselves, in an order fixed by the
row's length alone (never by the machine: a vector of ``LANES`` lanes is one 512-bit register or two of 256 bits,
the same arithmetic), and keep partial sums in registers, not in memory.

This module imports Numba and llvmlite; only the compiled kernels (``deltaprop.fast.kernels``,
``deltaprop.optimize.lbfgs``, ``deltaprop.training.fused_lbfgs``) import it. It knows nothing of networks.
Numba's cache is keyed by the file that defines a kernel, so a change here reaches those kernels' cached machine
code only when their own files change: after editing this module, delete their ``__pycache__/*.nbi`` and
``*.nbc`` files (a fresh install writes them anew).
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

LANES = 8  # a vector's lanes (AVX-512 holds 8 doubles); the column kernel pads the patterns to a multiple of this
DOT_VECTORS = 4  # dot's accumulators
COMBINE_VECTORS = 4  # combine's vectors of columns held at once


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma), in float64: as fast as fastmath's contraction, but explicit."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        x, y, z = (context.cast(builder, v, t, types.float64) for v, t in zip(args, signature.args))
        return builder.call(_llvm_fma(builder, ir.DoubleType()), [x, y, z])

    return types.float64(a, b, c), codegen


def _llvm_fma(builder, ty):
    """LLVM's fma for a float type or a vector of them: one rounding, element by element."""
    def suffix(t):
        return {"double": "f64", "float": "f32"}[str(t)]

    name = "llvm.fma." + (f"v{ty.count}{suffix(ty.element)}" if isinstance(ty, ir.VectorType) else suffix(ty))
    return builder.module.globals.get(name) or ir.Function(builder.module, ir.FunctionType(ty, [ty] * 3), name)


def _loop(builder, start, stop, step, carried, body):
    """Emit ``for c in range(start, stop, step)`` (int64 values) carrying LLVM values from one pass to the next:
    body(c, values) -> the next values; returns the values after the last pass."""
    i64 = ir.IntType(64)
    before = builder.block
    head = builder.append_basic_block("loop.head")
    inside = builder.append_basic_block("loop.body")
    after = builder.append_basic_block("loop.end")
    builder.branch(head)
    builder.position_at_end(head)
    c = builder.phi(i64)
    phis = [builder.phi(v.type) for v in carried]
    c.add_incoming(start, before)
    for p, v in zip(phis, carried):
        p.add_incoming(v, before)
    builder.cbranch(builder.icmp_signed("<", c, stop), inside, after)
    builder.position_at_end(inside)
    new = body(c, phis)
    end = builder.block
    c.add_incoming(builder.add(c, ir.Constant(i64, step)), end)
    for p, v in zip(phis, new):
        p.add_incoming(v, end)
    builder.branch(head)
    builder.position_at_end(after)
    return phis


def _index(v):
    return ir.Constant(ir.IntType(64), v)


@intrinsic
def combine(typingctx, out, M, first, count, w, w0, stride, b, n, m0):
    """out[c] = b + sum_k w[w0 + k stride] M[first + k, m0 + c] for c < n: out[c] = fma(w[w0], M[first, m0 + c],
    b), then out[c] = fma(w[w0 + k stride], M[first + k, m0 + c], out[c]) for k = 1 .. count - 1, in float64,
    each step rounded to the arrays' dtype: exactly what a loop over k of loops over c storing out at every step
    gives (b = -0.0: the first product alone, as -0.0 adds nothing, not even to a zero's sign). A layer's a_j over
    a chunk of patterns (PRML 5.48; m0 the chunk's first column of the inputs) or a unit's back-propagated sum
    (5.56). ``COMBINE_VECTORS`` vectors of columns are held in registers through the whole sum over k instead of
    loaded and stored at every k: 15 -> 10 us for the 20 a_j of 13-20-1 over 456 patterns (measured), the same
    bits."""
    if not (isinstance(out, types.Array) and out.ndim == 1 and out.layout == "C" and isinstance(M, types.Array)
            and M.ndim == 2 and M.layout == "C" and out.dtype == M.dtype and isinstance(out.dtype, types.Float)
            and isinstance(w, types.Array) and w.ndim == 1 and isinstance(w.dtype, types.Float)
            and all(isinstance(t, types.Integer) for t in (first, count, w0, stride, n, m0))
            and isinstance(b, types.Float)):
        return None
    dt = out.dtype

    def codegen(context, builder, sig, args):
        arr_out, arr_M, arr_w = (context.make_array(sig.args[k])(context, builder, args[k]) for k in (0, 1, 4))
        first_, count_, w0_, stride_, n_, m0_ = (context.cast(builder, args[k], sig.args[k], types.int64)
                                                 for k in (2, 3, 5, 6, 8, 9))
        b_ = context.cast(builder, args[7], sig.args[7], types.float64)
        _combine(context, builder, dt, [arr_out.data], arr_M, first_, count_, arr_w.data, sig.args[4].dtype, [w0_],
                 stride_, [b_], n_, m0_)
        return context.get_dummy_value()

    return types.void(out, M, first, count, w, w0, stride, b, n, m0), codegen


def _combine(context, builder, dt, outs, arr_M, first_, count_, pw, wtype, w0s, stride_, bs, n_, m0_):
    """combine's code for one or more outputs at once: out_r[c] = bs[r] + sum_k w[w0s[r] + k stride] M[first + k,
    m0 + c], each output's sums in combine's order; the entries of M are loaded once for all the outputs."""
    f64, ft = ir.DoubleType(), context.get_value_type(dt)
    v64, vt = ir.VectorType(f64, LANES), ir.VectorType(ft, LANES)
    narrow = dt.bitwidth != 64
    columns = cgutils.unpack_tuple(builder, arr_M.shape)[1]
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)

    def weight(w0, k, vector):
        x = builder.load(builder.gep(pw, [builder.add(w0, builder.mul(k, stride_))]))
        return spread(context.cast(builder, x, wtype, types.float64), vector)

    def spread(x, vector):
        if not vector:
            return x
        v = builder.insert_element(ir.Constant(v64, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(v, ir.Constant(v64, ir.Undefined), zeros)

    def rounded(x, vector):  # to the arrays' dtype and back, as a store and a load would
        return builder.fpext(builder.fptrunc(x, vt if vector else ft), v64 if vector else f64) if narrow else x

    def load(row, c, vector):
        p = builder.gep(arr_M.data, [builder.add(builder.mul(row, columns), builder.add(m0_, c))])
        x = builder.load(builder.bitcast(p, vt.as_pointer()), align=dt.bitwidth // 8) if vector else builder.load(p)
        return builder.fpext(x, v64 if vector else f64) if narrow else x

    def store(out, x, c, vector):
        p = builder.gep(out, [c])
        x = builder.fptrunc(x, vt if vector else ft) if narrow else x
        if vector:
            builder.store(x, builder.bitcast(p, vt.as_pointer()), align=dt.bitwidth // 8)
        else:
            builder.store(x, p)

    def block(c, vectors, vector):
        """Columns c .. c + vectors LANES (vector) or column c alone, of every output."""
        f = _llvm_fma(builder, v64 if vector else f64)
        cs = [builder.add(c, _index(LANES * v)) for v in range(vectors)]
        loaded = [load(first_, ck, vector) for ck in cs]
        sums = []
        for w0, b in zip(w0s, bs):
            w_first = weight(w0, _index(0), vector)
            sums += [rounded(builder.call(f, [w_first, x, spread(b, vector)]), vector) for x in loaded]

        def step(k, sums):
            row = builder.add(first_, k)
            loaded = [load(row, ck, vector) for ck in cs]
            new = []
            for r, w0 in enumerate(w0s):
                wk = weight(w0, k, vector)
                new += [rounded(builder.call(f, [wk, x, s]), vector)
                        for x, s in zip(loaded, sums[r * vectors:(r + 1) * vectors])]
            return new

        done = _loop(builder, _index(1), count_, 1, sums, step)
        for r, out in enumerate(outs):
            for x, ck in zip(done[r * vectors:(r + 1) * vectors], cs):
                store(out, x, ck, vector)
        return []

    whole = builder.and_(n_, _index(-LANES * COMBINE_VECTORS))
    vectors = builder.and_(n_, _index(-LANES))
    _loop(builder, _index(0), whole, LANES * COMBINE_VECTORS, [], lambda c, _: block(c, COMBINE_VECTORS, True))
    _loop(builder, whole, vectors, LANES, [], lambda c, _: block(c, 1, True))
    _loop(builder, vectors, n_, 1, [], lambda c, _: block(c, 1, False))


@intrinsic
def combine4(typingctx, O, r0, M, first, count, w, w0, wstep, stride, b0, biased, n, m0):
    """``combine`` into rows r0 .. r0 + 3 of O at once: row r0 + r from the weights at w0 + r wstep (stride apart
    along k), with the bias w[b0 + r] where ``biased``, else -0.0 (the first product alone); each row the bits combine gives it, M's entries loaded once for all four
    (four units' a_j, or four back-propagated sums): a 13-20-1 evaluation on 455 rows 41 -> 36 us, 13-50-1 on 2048
    445 -> 380 us against combine a row at a time (two at a time: 400, measured)."""
    if not (isinstance(O, types.Array) and O.ndim == 2 and O.layout == "C"
            and isinstance(M, types.Array) and M.ndim == 2 and M.layout == "C" and O.dtype == M.dtype
            and isinstance(O.dtype, types.Float) and isinstance(w, types.Array) and w.ndim == 1
            and isinstance(w.dtype, types.Float) and isinstance(biased, types.Boolean)
            and all(isinstance(t, types.Integer) for t in (r0, first, count, w0, wstep, stride, b0, n, m0))):
        return None
    dt = O.dtype

    def codegen(context, builder, sig, args):
        arr_O, arr_M, arr_w = (context.make_array(sig.args[k])(context, builder, args[k]) for k in (0, 2, 5))
        r0_, first_, count_, w0_, wstep_, stride_, b0_, n_, m0_ = (
            context.cast(builder, args[k], sig.args[k], types.int64) for k in (1, 3, 4, 6, 7, 8, 9, 11, 12))
        width = cgutils.unpack_tuple(builder, arr_O.shape)[1]
        outs = [builder.gep(arr_O.data, [builder.mul(builder.add(r0_, _index(r)), width)]) for r in range(4)]
        w0s = [builder.add(w0_, builder.mul(_index(r), wstep_)) for r in range(4)]
        minus_zero = ir.Constant(ir.DoubleType(), -0.0)
        bs = [builder.select(args[10], context.cast(builder, builder.load(builder.gep(arr_w.data, [builder.add(
            b0_, _index(r))])), sig.args[5].dtype, types.float64), minus_zero) for r in range(4)]
        _combine(context, builder, dt, outs, arr_M, first_, count_, arr_w.data, sig.args[5].dtype, w0s, stride_, bs,
                 n_, m0_)
        return context.get_dummy_value()

    return types.void(O, r0, M, first, count, w, w0, wstep, stride, b0, biased, n, m0), codegen


def _dot_sum(context, builder, dt, pa, pb, nn, acc_in, fresh, last):
    """dot's arithmetic over c < nn of the rows at pa and pb (pointers to their first entries): the accumulators
    start at zero (``acc_in`` None) or, where the runtime flag ``fresh`` is false, from the ``DOT_VECTORS``
    vectors at ``acc_in``; then the whole groups. Where ``last`` (None: always) holds, the rest of dot's order
    follows and the sum is returned; where it does not, the accumulators are stored back at ``acc_in`` for the
    next part of the row (whose columns must then follow on after nn, a multiple of ``LANES DOT_VECTORS``)."""
    ft = context.get_value_type(dt)
    vt = ir.VectorType(ft, LANES)
    vfma, sfma = _llvm_fma(builder, vt), _llvm_fma(builder, ft)

    def load(p, i, t):
        return builder.load(builder.bitcast(builder.gep(p, [i]), t.as_pointer()), align=dt.bitwidth // 8)

    def branch_if(cond, make, value):
        """value, or make(value) where cond holds: a phi of the two."""
        here = builder.block
        then = builder.append_basic_block("dot.then")
        after = builder.append_basic_block("dot.after")
        builder.cbranch(cond, then, after)
        builder.position_at_end(then)
        made = make(value)
        then_end = builder.block
        builder.branch(after)
        builder.position_at_end(after)
        phi = builder.phi(value.type)
        phi.add_incoming(value, here)
        phi.add_incoming(made, then_end)
        return phi

    whole = builder.and_(nn, _index(-LANES * DOT_VECTORS))  # the columns of the whole groups of vectors
    vectors = builder.and_(nn, _index(-LANES))  # and of all whole vectors
    zero = ir.Constant(vt, [ir.Constant(ft, 0.0)] * LANES)
    start = [zero] * DOT_VECTORS
    if acc_in is not None:
        start = [builder.select(fresh, zero, load(acc_in, _index(LANES * k), vt)) for k in range(DOT_VECTORS)]

    def group(c, acc):
        cs = [builder.add(c, _index(LANES * k)) for k in range(DOT_VECTORS)]
        return [builder.call(vfma, [load(pa, ck, vt), load(pb, ck, vt), v]) for v, ck in zip(acc, cs)]

    acc = _loop(builder, _index(0), whole, LANES * DOT_VECTORS, start, group)
    if last is not None:  # a part that is not the row's last: its accumulators kept for the next
        keep = builder.append_basic_block("dot.keep")
        finish = builder.append_basic_block("dot.finish")
        done = builder.append_basic_block("dot.done")
        builder.cbranch(last, finish, keep)
        builder.position_at_end(keep)
        for k, v in enumerate(acc):
            builder.store(v, builder.bitcast(builder.gep(acc_in, [_index(LANES * k)]), vt.as_pointer()),
                          align=dt.bitwidth // 8)
        builder.branch(done)
        builder.position_at_end(finish)
    out = list(acc)
    for k in range(DOT_VECTORS - 1):
        ck = builder.add(whole, _index(LANES * k))
        out[k] = branch_if(builder.icmp_signed("<", ck, vectors),
                           lambda v, ck=ck: builder.call(vfma, [load(pa, ck, vt), load(pb, ck, vt), v]), out[k])
    while len(out) > 1:
        out = [builder.fadd(out[k], out[k + 1]) for k in range(0, len(out), 2)]
    lanes = [builder.extract_element(out[0], ir.Constant(ir.IntType(32), k)) for k in range(LANES)]
    while len(lanes) > 1:
        lanes = [builder.fadd(lanes[k], lanes[k + 1]) for k in range(0, len(lanes), 2)]
    total = _loop(builder, vectors, nn, 1, lanes,  # the last n mod LANES products, one by one
                  lambda c, s: [builder.call(sfma, [load(pa, c, ft), load(pb, c, ft), s[0]])])[0]
    if last is None:
        return total
    finished = builder.block
    builder.branch(done)
    builder.position_at_end(done)
    result = builder.phi(ft)
    result.add_incoming(ir.Constant(ft, 0.0), keep)
    result.add_incoming(total, finished)
    return result


def _rows_of_one_float(*arrays) -> bool:
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in arrays) and \
        len({a.dtype for a in arrays}) == 1 and isinstance(arrays[0].dtype, types.Float)


@intrinsic
def dot(typingctx, a, b, n):
    """sum_c a[c] b[c] over c < n (a, b rows of one float dtype), in an order fixed by n alone: ``DOT_VECTORS``
    accumulators of ``LANES`` lanes, vector v of every ``DOT_VECTORS`` into accumulator v (the vectors beyond the
    last whole group into the first accumulators), an explicit fma each; then the accumulators added pairwise,
    their lanes in a fixed tree, and the last n mod ``LANES`` products one by one. The vectors are LLVM's, so the
    same arithmetic on any machine (one 512-bit register or two of 256 bits a vector): a process that compiles the
    kernels and one that loads them from the cache, on any x86-64, give the same bits. A dot product of a row with
    a row of ones is the row's sum. Against the copy and halving passes that summed over the patterns before, the
    partial sums stay in registers: 26 -> 11-14 us for the 280 sums of 13-20-1's first layer over 456 patterns
    (measured). ``DOT_VECTORS`` is a power of 2."""
    if not (_rows_of_one_float(a, b) and isinstance(n, types.Integer)):
        return None
    dt = a.dtype

    def codegen(context, builder, signature, args):
        pa = context.make_array(signature.args[0])(context, builder, args[0]).data
        pb = context.make_array(signature.args[1])(context, builder, args[1]).data
        nn = context.cast(builder, args[2], signature.args[2], types.int64)
        return _dot_sum(context, builder, dt, pa, pb, nn, None, None, None)

    return dt(a, b, n), codegen


@intrinsic
def dot_part(typingctx, acc, k0, a, a0, b, b0, n, fresh, last):
    """One part of a dot product taken in parts: sum_c a[a0 + c] b[b0 + c] over c < n continued from the
    accumulators kept in acc[k0 : k0 + LANES DOT_VECTORS] (from zero where ``fresh``), and, where ``last``, the
    whole row's sum, in exactly ``dot``'s order for the whole row: every part but the last covers a multiple of
    ``LANES DOT_VECTORS`` entries and leaves its accumulators in acc (returning 0). A sum over the patterns taken
    in chunks of patterns so gives the bits of one sum over them all, whatever the chunks."""
    if not (_rows_of_one_float(acc, a, b) and all(isinstance(t, types.Integer) for t in (k0, a0, b0, n))
            and isinstance(fresh, types.Boolean) and isinstance(last, types.Boolean)):
        return None
    dt = a.dtype

    def codegen(context, builder, signature, args):
        def at(k, offset):
            data = context.make_array(signature.args[k])(context, builder, args[k]).data
            return builder.gep(data, [context.cast(builder, args[offset], signature.args[offset], types.int64)])

        nn = context.cast(builder, args[6], signature.args[6], types.int64)
        return _dot_sum(context, builder, dt, at(2, 3), at(4, 5), nn, at(0, 1), args[7], args[8])

    return dt(acc, k0, a, a0, b, b0, n, fresh, last), codegen
