"""The column kernel takes the patterns CHUNK at a time: the same bits as taking them all at once, whatever the
output, the activations, the dtype and the rows, and work arrays whose size does not grow with N beyond the data.
More than PART_ROWS rows are taken in parts, whose sums are added in part order: the same bits on any number of
threads."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.engine import backprop
from deltaprop.fast import kernels
from deltaprop.fast.compiled import CompiledEvaluator
from deltaprop.fast.kernels import CHUNK, PART, PART_ROWS, Work, _evaluate_columns, kernel_spec, work


def one_chunk(sizes, N, dtype):
    """Work arrays wide enough for all N patterns at once: the kernel then runs them as one chunk."""
    n = (N + 7) // 8 * 8
    units = int(np.sum(sizes))
    made = work(sizes, N, np.empty(0, dtype))
    wide = np.empty((units, n + 8), dtype)
    return made._replace(A=wide, Z=wide.copy(), Dl=wide.copy(), R=np.empty(n + 8, dtype), acc=np.empty(0, dtype),
                         terms=np.empty((0, n), dtype))


def columns(made):
    """The column kernel's arrays of a ``Work``, in its argument order."""
    return made.A, made.Z, made.Dl, made.R, made.Xc, made.acc, made.terms


CASES = [([3, 7, 1], "tanh", "linear"), ([3, 5, 4, 3], "tanh", "linear"), ([2, 6, 3], "logistic", "logistic"),
         ([4, 6, 5, 3], "relu", "softmax"), ([1, 3, 1], "softplus", "linear")]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes, hidden, output", CASES)
def test_chunks_give_the_bits_of_one_pass_over_all_the_patterns(sizes, hidden, output, dtype):
    net = dp.mlp(sizes, hidden=hidden, output=output)
    spec = kernel_spec(net)
    rng = np.random.default_rng(len(sizes) * 10 + sizes[-1])
    for N in (CHUNK + 9, 2 * CHUNK, 2 * CHUNK + 37, PART_ROWS - PART - 3):  # one part (see below for more)
        X = rng.standard_normal((N, net.D)).astype(dtype)
        T = {"linear": lambda: rng.standard_normal((N, net.K)), "logistic": lambda: rng.random((N, net.K)),
             "softmax": lambda: np.eye(net.K)[rng.integers(0, net.K, N)]}[output]().astype(dtype)
        w = (net.init(seed=rng) + 0.2 * rng.standard_normal(net.n_params)).astype(dtype)
        some = np.sort(rng.choice(N, CHUNK + 9 + (N - CHUNK - 9) // 2, replace=False))
        for rows in (np.arange(N), some, rng.permutation(some)):  # all, some, and some out of order
            chunked, g = work(spec[0], N, w), np.empty(net.n_params, dtype)
            assert chunked.A.shape[1] < (rows.size + 7) // 8 * 8  # more than one chunk
            whole, g1 = one_chunk(spec[0], N, dtype), np.empty(net.n_params, dtype)
            E = _evaluate_columns(w, X, T, rows, *spec, g, *columns(chunked), False)
            E1 = _evaluate_columns(w, X, T, rows, *spec, g1, *columns(whole), False)
            assert np.array_equal(np.array([E], dtype).view(np.uint8), np.array([E1], dtype).view(np.uint8))
            assert np.array_equal(g.view(np.uint8), g1.view(np.uint8))
            if dtype == np.float64:  # and the reference engine's numbers, to rounding
                E_ref, g_ref = backprop.error_and_gradient(net, w, X[rows], T[rows])
                assert E == pytest.approx(float(E_ref), rel=1e-12)
                np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-10 * np.abs(g_ref).max())


def test_a_fused_training_on_many_patterns_is_the_same_as_the_evaluator_and_the_reference_says():
    rng = np.random.default_rng(3)
    net = dp.mlp([4, 6, 2])
    X = rng.standard_normal((3 * CHUNK + 11, 4))
    T = np.stack([np.sin(X.sum(1)), np.cos(X[:, 0])], axis=1)
    with pytest.warns(Warning, match="limit of 30 iterations"):
        result = dp.train(net, X, T, method="lbfgs", max_iter=30, seed=0, progress=False)
    assert result.error == pytest.approx(net.error(result.w, X, T), rel=1e-12)
    E, g = dp.fast.evaluator(net, X, T, "compiled").error_and_gradient(result.w)
    np.testing.assert_allclose(g, net.error_and_gradient(result.w, X, T)[1], rtol=1e-9, atol=1e-12)
    assert E == pytest.approx(result.error, rel=1e-12)


def test_the_work_arrays_hold_a_chunk_of_patterns_not_all_of_them():
    net = dp.mlp([8, 20, 20, 3])
    sizes = kernel_spec(net)[0]
    N = 100_000
    made = work(sizes, N, np.empty(0))
    assert isinstance(made, Work)
    units = int(np.sum(sizes))
    for M in (made.A, made.Z, made.Dl):
        assert M.shape == (units, CHUNK + 8)  # a row of a multiple of 64 entries is padded by 8
    assert made.Xc.shape[0] == 8 and made.Xc.shape[1] >= N  # the inputs, once
    assert made.acc.size == net.n_params * PART and made.terms.shape[0] == 3 and made.terms.shape[1] >= N  # K x N
    small = work(sizes, 100, np.empty(0))
    assert small.A.shape == (units, 104) and small.acc.size == 0 and small.terms.shape[0] == 0


def test_chunk_is_a_multiple_of_the_parts_of_a_sum():
    assert CHUNK % PART == 0 and CHUNK % kernels.LANES == 0


def bits(x):
    return np.asarray(x).view(np.uint8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes, hidden, output", CASES)
def test_more_rows_than_a_part_are_the_parts_evaluated_alone_and_added_in_order(sizes, hidden, output, dtype):
    net = dp.mlp(sizes, hidden=hidden, output=output)
    spec = kernel_spec(net)
    rng = np.random.default_rng(7 + len(sizes))
    N = 2 * PART_ROWS + CHUNK + 13  # three parts, the last of one chunk and a bit
    X = rng.standard_normal((N, net.D)).astype(dtype)
    T = {"linear": lambda: rng.standard_normal((N, net.K)), "logistic": lambda: rng.random((N, net.K)),
         "softmax": lambda: np.eye(net.K)[rng.integers(0, net.K, N)]}[output]().astype(dtype)
    w = (net.init(seed=rng) + 0.2 * rng.standard_normal(net.n_params)).astype(dtype)
    rows = rng.permutation(N)[: N - 5]
    g = np.empty(net.n_params, dtype)
    E = _evaluate_columns(w, X, T, rows, *spec, g, *columns(work(spec[0], rows.size, w)), False)
    E_sum, g_sum = 0.0, None
    for first in range(0, rows.size, PART_ROWS):
        part = rows[first:first + PART_ROWS]
        g_p = np.empty(net.n_params, dtype)
        E_p = _evaluate_columns(w, X, T, part, *spec, g_p, *columns(work(spec[0], part.size, w)), False)
        E_sum, g_sum = (E_p, g_p) if g_sum is None else (E_sum + E_p, g_sum + g_p)
    assert E == E_sum and np.array_equal(bits(g), bits(g_sum))
    if dtype == np.float64:
        E_ref, g_ref = backprop.error_and_gradient(net, w, X[rows], T[rows])
        assert E == pytest.approx(float(E_ref), rel=1e-12)
        np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-10 * np.abs(g_ref).max())


@pytest.mark.parametrize("N", [PART_ROWS + 40, 3 * PART_ROWS + 7, 4 * PART_ROWS])
def test_the_evaluator_gives_the_same_bits_on_any_number_of_threads(N):
    rng = np.random.default_rng(N)
    net = dp.mlp([5, 9, 2])
    X, T = rng.standard_normal((N, 5)), rng.standard_normal((N, 2))
    w = net.init(seed=rng)
    one = CompiledEvaluator(net, X, T, threads=1)
    E1, g1 = one.error_and_gradient(w)
    for threads in (2, 3, 8):
        many = CompiledEvaluator(net, X, T, threads=threads)
        assert many.threads == min(threads, -(-N // PART_ROWS))
        for _ in range(2):  # the inputs laid out once serve every call
            E, g = many.error_and_gradient(w)
            assert E == E1 and np.array_equal(bits(g), bits(g1))
        some = rng.choice(N, 100, replace=False)  # a call on some rows, then all of them again
        assert many.error(w, some) == one.error(w, some)
        assert many.error_and_gradient(w)[0] == E1
    E_ref = net.error(w, X, T)
    assert E1 == pytest.approx(E_ref, rel=1e-12)


def test_lbfgs_on_many_rows_takes_the_same_steps_with_its_evaluations_on_threads(monkeypatch):
    """Past a part's rows, on more than one core, lbfgs's steps (``fused_lbfgs.advance``) take their evaluations
    from the threaded evaluator: the iterates of the one compiled call, to the bit, and the history's."""
    from deltaprop.fast import compiled
    from deltaprop.training import loops

    rng = np.random.default_rng(5)
    net = dp.mlp([6, 12, 1])
    N = 2 * PART_ROWS + 300
    X = rng.standard_normal((N, 6))
    T = np.tanh(X @ rng.standard_normal((6, 1))) + 0.1 * rng.standard_normal((N, 1))
    runs, threaded = {}, []
    real = loops.threaded_lbfgs
    monkeypatch.setattr(loops, "threaded_lbfgs", lambda *a: threaded.append(a[0].threads) or real(*a))
    for n in (1, 2, 3):
        monkeypatch.setattr(compiled, "cores", lambda n=n: n)
        runs[n] = dp.train(net, X, T, method="lbfgs", max_iter=60, tol=0.0, weight_decay=0.1, seed=0,
                           progress=False)
    assert threaded == [2, 3]  # one core: the compiled call; more: threads, at most one a part
    for n in (2, 3):
        assert np.array_equal(bits(runs[n].w), bits(runs[1].w))
        assert np.array_equal(bits(runs[n].history["error"]), bits(runs[1].history["error"]))
        assert runs[n].stop_reason == runs[1].stop_reason
    assert runs[1].error == pytest.approx(net.error(runs[1].w, X, T), rel=1e-12)


@pytest.mark.parametrize("cores, method", [(1, "lbfgs"), (2, "lbfgs"), (1, "gd")])
def test_a_real_ctrl_c_ends_a_fused_training_after_its_chunk_with_the_weights_its_errors_are_of(tmp_path, cores,
                                                                                                method):
    """The compiled call moves the best weights in place, and Python raises Ctrl-C as it returns, before its chunk
    is recorded: the result's error is E at the result's weights (it was the last recorded chunk's, at others)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent.parent))
    from interrupt import interrupted

    status, out, err = interrupted(tmp_path, (
        "import numpy as np, deltaprop as dp\n"
        "from deltaprop.fast import compiled\n"
        f"compiled.cores = lambda: {cores}\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.standard_normal((3 * 2048, 8)); T = rng.standard_normal((3 * 2048, 1))\n"
        "net = dp.mlp([8, 50, 1])\n"
        f"dp.train(net, X, T, method='{method}', max_iter=2, seed=0)\n"  # compiled (or loaded) before Ctrl-C
        "print('ready', flush=True)\n"
        f"r = dp.train(net, X, T, method='{method}', max_iter=10**6, tol=0.0, seed=0)\n"
        "print(r.stop_reason, r.history['epoch'][-1] > 1, abs(r.error - net.error(r.w, X, T)) < 1e-9 * r.error)\n"),
        ready="ready", after=3)
    assert status == 0, err
    assert out.split() == ["interrupted", "True", "True"]


def _error_in_a_forked_child(X, T, w):
    from deltaprop.fast.compiled import CompiledEvaluator

    return CompiledEvaluator(dp.mlp([5, 9, 2]), X, T, threads=2).error(w)


def test_a_forked_child_evaluates_on_threads_of_its_own():
    """multiprocessing's fork copies the parent's pool but not its threads: the child makes a pool of its own
    (it waited for ever on the parent's)."""
    import multiprocessing

    rng = np.random.default_rng(11)
    N = 2 * PART_ROWS + 5
    X, T = rng.standard_normal((N, 5)), rng.standard_normal((N, 2))
    w = dp.mlp([5, 9, 2]).init(seed=rng)
    E = CompiledEvaluator(dp.mlp([5, 9, 2]), X, T, threads=2).error(w)  # the parent's pool exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_error_in_a_forked_child, (X, T, w)).get(timeout=120) == E


def test_the_evidence_on_many_rows_is_the_same_fit_at_any_n_jobs(monkeypatch):
    """The evidence's starts on threads, each training's evaluations in parts on the same pool: bit for bit the
    fit of one thread."""
    from deltaprop.fast import compiled

    monkeypatch.setattr(compiled, "cores", lambda: 2)
    rng = np.random.default_rng(12)
    N = 2 * PART_ROWS + 100
    X = rng.standard_normal((N, 4))
    T = np.tanh(X @ rng.standard_normal((4, 1))) + 0.1 * rng.standard_normal((N, 1))
    fits = [dp.train_evidence(dp.mlp([4, 6, 1]), X, T, restarts=2, seed=0, cycles=2, n_jobs=n_jobs)
            for n_jobs in (1, 2)]
    assert np.array_equal(bits(fits[0].w), bits(fits[1].w)) and fits[0].log_evidence == fits[1].log_evidence
    assert [m.index for m in fits[0].members] == [m.index for m in fits[1].members]
