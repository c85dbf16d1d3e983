"""deltaprop.fixed_order: its sums are the ones its docstrings spell out, to the bit; dot's order is fixed by the
row's length alone, and combine gives what the loop it replaced gave."""

from fractions import Fraction

import numba as nb
import numpy as np
import pytest

from deltaprop.fixed_order import COMBINE_VECTORS, DOT_VECTORS, LANES, combine, combine4, dot, dot_part, fma


@nb.njit
def call_dot(a, b, n):
    return dot(a, b, n)


@nb.njit
def dot_in_parts(a, b, n, cuts, acc):
    """a[:n] . b[:n] by dot_part, in the parts that ``cuts`` (their first columns after 0) mark."""
    s, start = 0.0, 0
    for end in list(cuts) + [n]:
        s = dot_part(acc, LANES * DOT_VECTORS, a, start, b, start, end - start, start == 0, end == n)
        start = end
    return s


@nb.njit
def call_fma(a, b, c):
    return fma(a, b, c)


@nb.njit
def call_combine(out, M, first, count, w, w0, stride, b, n, m0=0):
    combine(out, M, first, count, w, w0, stride, b, n, m0)


@nb.njit
def stored_at_every_step(out, M, first, count, w, w0, stride, b, n):
    """The loop combine replaced in the column kernel: a vector loop over the columns for each k, storing."""
    for c in range(n):
        out[c] = fma(w[w0], M[first, c], b)
    for k in range(1, count):
        wk = w[w0 + k * stride]
        for c in range(n):
            out[c] = fma(wk, M[first + k, c], out[c])


@nb.njit
def call_combine4(O, r0, M, first, count, w, w0, wstep, stride, b0, biased, n, m0):
    combine4(O, r0, M, first, count, w, w0, wstep, stride, b0, biased, n, m0)


def exact_fma(a, b, c):
    return float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))  # rounded once, to nearest


def dot_in_its_order(a, b, n):
    """dot's order, written out in Python: vector v of each group of DOT_VECTORS into accumulator v (the vectors
    after the last whole group into the first ones), the accumulators pairwise, the lanes in a tree, then the
    last n mod LANES products one by one."""
    acc = [[0.0] * LANES for _ in range(DOT_VECTORS)]
    group = LANES * DOT_VECTORS
    whole, vectors = n // group * group, n // LANES * LANES
    for c in range(0, whole, group):
        for v in range(DOT_VECTORS):
            acc[v] = [exact_fma(a[c + LANES * v + k], b[c + LANES * v + k], acc[v][k]) for k in range(LANES)]
    for v, c in enumerate(range(whole, vectors, LANES)):
        acc[v] = [exact_fma(a[c + k], b[c + k], acc[v][k]) for k in range(LANES)]
    while len(acc) > 1:
        acc = [[x + y for x, y in zip(acc[i], acc[i + 1])] for i in range(0, len(acc), 2)]
    lanes = acc[0]
    while len(lanes) > 1:
        lanes = [lanes[i] + lanes[i + 1] for i in range(0, len(lanes), 2)]
    s = lanes[0]
    for c in range(vectors, n):
        s = exact_fma(a[c], b[c], s)
    return s


def test_fma_rounds_once():
    a, b = 1.0 + 2.0**-30, 1.0 - 2.0**-30  # a b = 1 - 2^-60: a plain product rounds it to 1
    assert call_fma(a, b, -1.0) == -(2.0**-60)
    assert a * b - 1.0 == 0.0


@pytest.mark.parametrize("n", list(range(0, 2 * LANES * DOT_VECTORS + 2 * LANES + 3)) + [455, 456, 1000])
def test_dot_adds_in_the_order_its_docstring_gives(n):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal(n + 5), rng.standard_normal(n + 5)  # the entries past n must not count
    got = call_dot(a, b, n)
    assert got == dot_in_its_order(a, b, n)
    assert got == pytest.approx(float(a[:n] @ b[:n]), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("n", [1, 31, 32, 33, 64, 455, 456, 1000, 1032])
def test_a_dot_product_taken_in_parts_has_the_bits_of_one_over_the_whole_row(n):
    rng = np.random.default_rng(n)
    group = LANES * DOT_VECTORS
    a, b = rng.standard_normal(n + 5), rng.standard_normal(n + 5)
    want = call_dot(a, b, n)
    for cuts in ([], [group], list(range(group, n, group)), list(range(4 * group, n, 4 * group)), [n // group * group]):
        cuts = [c for c in cuts if 0 < c < n]
        acc = np.full(3 * group, np.nan)  # what lies outside the part's accumulators is never read, nor written
        assert dot_in_parts(a, b, n, np.array(cuts, dtype=np.int64), acc) == want
        assert np.isnan(acc[:group]).all() and np.isnan(acc[2 * group :]).all()
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    acc32 = np.empty(2 * group, np.float32)
    cuts32 = np.array([c for c in [group] if c < n], dtype=np.int64)
    assert dot_in_parts(a32, b32, n, cuts32, acc32) == call_dot(a32, b32, n)


def test_dot_in_float32_is_a_float32_sum_and_passes_nan():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(301).astype(np.float32), rng.standard_normal(301).astype(np.float32)
    got = call_dot(a, b, 301)
    assert float(np.float32(got)) == got  # summed in float32 (Numba returns it as a Python float)
    assert float(got) == pytest.approx(float(a.astype(np.float64) @ b), rel=1e-5)
    a[100] = np.nan
    assert np.isnan(call_dot(a, b, 301))
    a[100], b[7] = 1.0, np.inf
    assert np.isinf(call_dot(a, b, 301)) or np.isnan(call_dot(a, b, 301))


def test_dot_refuses_rows_of_different_dtypes():
    with pytest.raises(nb.core.errors.TypingError):
        call_dot(np.ones(8), np.ones(8, np.float32), 8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, LANES - 1, LANES, LANES + 1, LANES * COMBINE_VECTORS - 1,
                               LANES * COMBINE_VECTORS, LANES * COMBINE_VECTORS + LANES + 3, 456])
@pytest.mark.parametrize("count, stride", [(1, 1), (2, 1), (5, 3), (20, 14)])
def test_combine_gives_the_bits_of_the_loop_it_replaced(dtype, n, count, stride):
    rng = np.random.default_rng(n * 100 + count)
    first, w0 = 2, 3
    M = rng.standard_normal((first + count + 1, n + 9)).astype(dtype)
    M[first, 0] = 0.0  # with b = -0.0 and a negative weight, the product -0.0 stays -0.0
    w = rng.standard_normal(w0 + count * stride + 1)
    w[w0] = -abs(w[w0])
    for b in (0.37, -0.0):
        want, got = np.full(n + 9, 7.0, dtype), np.full(n + 9, 7.0, dtype)
        stored_at_every_step(want, M, first, count, w, w0, stride, b, n)
        call_combine(got, M, first, count, w, w0, stride, b, n)
        assert np.array_equal(want.view(np.uint8), got.view(np.uint8))  # the same bits, signed zeros too
        assert np.all(got[n:] == 7.0)  # nothing written past n
        shifted = np.full(n + 9, 7.0, dtype)  # columns m0 .. m0 + n of M: the same as M's columns from 0 moved
        call_combine(shifted, np.roll(M, 5, axis=1), first, count, w, w0, stride, b, n, 5)
        assert np.array_equal(want.view(np.uint8), shifted.view(np.uint8))
    if count == 1 and dtype == np.float64:
        assert np.signbit(got[0])


def test_combine_passes_nan_and_inf_through():
    M = np.ones((3, 40))
    M[1, 5], M[2, 33] = np.nan, np.inf
    out = np.zeros(40)
    call_combine(out, M, 0, 3, np.ones(3), 0, 1, 0.0, 40)
    assert np.isnan(out[5]) and np.isinf(out[33]) and np.all(out[[0, 6, 32, 39]] == 3.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, LANES - 1, LANES * COMBINE_VECTORS, LANES * COMBINE_VECTORS + LANES + 3, 456])
@pytest.mark.parametrize("count, wstep, stride", [(1, 1, 1), (13, 13, 1), (5, 1, 6), (20, 14, 3)])
def test_combine4_gives_each_row_the_bits_combine_gives_it(dtype, n, count, wstep, stride):
    rng = np.random.default_rng(n * 100 + count)
    first, w0, m0 = 1, 2, 3
    M = rng.standard_normal((first + count + 1, n + m0 + 5)).astype(dtype)
    w = rng.standard_normal(w0 + 3 * wstep + count * stride + 1)
    b0 = 1  # the biases in w too, as a layer's are
    for biased in (True, False):
        O = np.full((7, n + 9), 7.0, dtype)
        call_combine4(O, 2, M, first, count, w, w0, wstep, stride, b0, biased, n, m0)
        for r in range(4):
            want = np.full(n + 9, 7.0, dtype)
            call_combine(want, M, first, count, w, w0 + r * wstep, stride, w[b0 + r] if biased else -0.0, n, m0)
            assert np.array_equal(O[2 + r].view(np.uint8), want.view(np.uint8))  # signed zeros too
        assert np.all(O[[0, 1, 6]] == 7.0)  # no other row written
