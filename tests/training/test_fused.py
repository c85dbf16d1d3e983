"""The fused loop (whole epochs compiled) gives what the Python step loop gives, to rounding, and stands aside
where it does not apply."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.examples import seed_example

HIDDEN = ["linear", "tanh", "logistic", "relu", "softplus"]


def data(output, K, N=40, D=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    if output == "linear":
        return X, rng.standard_normal((N, K))
    if output == "logistic":
        return X, (rng.random((N, K)) < 0.5).astype(float)
    return X, np.eye(K)[rng.integers(0, K, N)]


@pytest.mark.parametrize("method, options", [
    ("gd", {"learning_rate": 0.05}),
    ("sgd", {"batch_size": 7}),
    ("sgd", {"batch_size": 1}),
    ("momentum", {"batch_size": 8}),
    ("momentum", {"batch_size": 8, "nesterov": True}),
    ("adam", {"batch_size": 16, "learning_rate": 0.01}),
])
@pytest.mark.parametrize("output, K", [("linear", 2), ("logistic", 2), ("softmax", 3)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_fast_path_equals_the_python_loop(method, options, output, K, weight_decay):
    for hidden in HIDDEN:
        net = dp.Network({"x": 3, "h1": (5, hidden), "h2": (4, "tanh"), "y": (K, output)},
                         [("x", "h1"), ("h1", "h2"), ("h2", "y")])
        X, T = data(output, K)
        kwargs = dict(method=method, epochs=15, seed=1, weight_decay=weight_decay, **options)
        slow = dp.train(net, X, T, compiled=False, **kwargs)
        fast = dp.train(net, X, T, **kwargs)
        assert (slow.engine, slow.loop) == ("reference", "steps") and (fast.engine, fast.loop) == ("compiled", "fused")
        np.testing.assert_allclose(fast.w, slow.w, rtol=1e-10, atol=1e-10 * np.abs(slow.w).max())
        np.testing.assert_allclose(fast.history["error"], slow.history["error"], rtol=1e-10)
        np.testing.assert_allclose(fast.history["grad_norm"], slow.history["grad_norm"], rtol=1e-9)
        assert fast.stop_reason == slow.stop_reason and fast.error == pytest.approx(slow.error, rel=1e-10)


def test_fast_path_stops_on_tol_and_on_divergence_as_the_python_loop_does():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    T = X @ rng.standard_normal((3, 2)) + 0.1 * rng.standard_normal((100, 2))
    net = dp.mlp([3, 2])  # convex: the two runs cannot drift apart
    for kwargs in (dict(method="gd", learning_rate=0.5, epochs=20000, tol=1e-12),
                   dict(method="gd", learning_rate=1e3, epochs=50)):
        with np.errstate(all="ignore"), pytest.warns() if kwargs["learning_rate"] > 1 else _nothing():
            slow = dp.train(net, X, T, seed=0, compiled=False, **kwargs)
        with np.errstate(all="ignore"), pytest.warns() if kwargs["learning_rate"] > 1 else _nothing():
            fast = dp.train(net, X, T, seed=0, **kwargs)
        assert fast.loop == "fused" and fast.stop_reason == slow.stop_reason
        assert len(fast.history["epoch"]) == len(slow.history["epoch"])
        # thousands of steps along a flat valley let rounding move w, but not E
        np.testing.assert_allclose(fast.history["error"], slow.history["error"], rtol=1e-8)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_python_loop_runs_where_the_fast_path_does_not_apply(tmp_path):
    net, X, T = seed_example(0)
    skip = dp.Network({"x": 1, "h": (3, "tanh"), "y": (1, "linear")}, [("x", "h"), ("h", "y"), ("x", "y")])
    masked = dp.Network({"x": 1, "h": (3, "tanh"), "y": (1, "linear")},
                        [("x", "h", np.array([[True], [False], [True]])), ("h", "y")])
    cases = [
        (net, dict(method="sgd", validation=0.2)),
        (net, dict(method="sgd", callbacks=[lambda s: None])),
        (net, dict(method="sgd", checkpoint=tmp_path / "c.npz")),
        (net, dict(method="sgd", snapshots=3)),
        (net, dict(method="scg")),
        (skip, dict(method="sgd")),
        (masked, dict(method="sgd")),
    ]
    for network, kwargs in cases:
        assert dp.train(network, X, T, epochs=3, seed=0, **kwargs).loop != "fused", kwargs
    assert dp.train(skip, X, T, method="scg", epochs=3, seed=0).engine == "reference"  # the kernels know chains only
    assert (dp.train(net, X, T, method="scg", epochs=3, seed=0).engine,
            dp.train(net, X, T, method="scg", epochs=3, seed=0).loop) == ("compiled", "steps")
    X32, T32 = X.astype(np.float32), T.astype(np.float32)
    assert dp.train(net, X32, T32, method="sgd", epochs=3, seed=0).loop == "fused"
    assert dp.train(net, X32, T32, method="scg", epochs=3, seed=0).engine == "compiled"
    assert dp.train(net, X, T, method="sgd", epochs=3, seed=0).loop == "fused"
    assert dp.train(net, X, T, method="sgd", epochs=3, seed=0, compiled=False).engine == "reference"
    assert dp.train(skip, X, T, method="sgd", epochs=3, seed=0).engine == "reference"
    assert dp.train(net, X, T, method="sgd", epochs=3, seed=0, validation=0.2).engine == "compiled"
    assert dp.train(net, X, T, method="lbfgs", epochs=3, seed=0).loop == "fused"
    assert dp.train(net, X, T, method="lbfgs", epochs=3, seed=0, compiled=False).loop == "scipy"
    assert dp.train(net, X32, T32, method="lbfgs", epochs=3, seed=0).loop == "scipy"  # SciPy's works in float64
    assert dp.train(net, X, T, method="lbfgs", epochs=3, seed=0, snapshots=2).loop == "scipy"


@pytest.mark.parametrize("method, options", [
    ("gd", {"learning_rate": 0.05}),
    ("sgd", {"batch_size": 7}),
    ("sgd", {"batch_size": 1}),
    ("momentum", {"batch_size": 8, "nesterov": True}),
    ("adam", {"batch_size": 16, "learning_rate": 0.01}),
])
def test_float32_runs_compiled_in_float32_and_follows_the_python_loop(method, options):
    net, X, T = seed_example(0)
    X, T = X.astype(np.float32), T.astype(np.float32)
    kwargs = dict(method=method, epochs=50, seed=0, weight_decay=0.1, **options)
    fast, slow = dp.train(net, X, T, **kwargs), dp.train(net, X, T, compiled=False, **kwargs)
    assert (fast.loop, slow.engine) == ("fused", "reference") and fast.w.dtype == slow.w.dtype == np.float32
    np.testing.assert_allclose(fast.w, slow.w, rtol=1e-4, atol=1e-5 * np.abs(slow.w).max())
    np.testing.assert_allclose(fast.history["error"], slow.history["error"], rtol=1e-4)


def test_float32_data_trains_in_float32():
    net, X, T = seed_example(0)
    result = dp.train(net, X.astype(np.float32), T.astype(np.float32), method="sgd", epochs=5, seed=0)
    assert result.w.dtype == np.float32
    assert dp.train(net, X, T, method="sgd", epochs=5, seed=0).w.dtype == np.float64


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, K", [("linear", 2), ("logistic", 2), ("softmax", 3)])
def test_wide_layers_take_the_buffered_matrix_products_and_agree_too(hidden, output, K):
    from deltaprop import fast as backends

    net = dp.mlp([3, 30, 30, K], hidden=hidden, output=output)
    assert 30 * 30 > backends.SMALL_WEIGHTS and not backends.small(net)
    X, T = data(output, K, N=50)
    for method, options in (("gd", {"learning_rate": 0.02}), ("sgd", {"batch_size": 9}), ("momentum", {"batch_size": 9}),
                            ("adam", {"batch_size": 16}), ("scg", {})):
        kwargs = dict(method=method, epochs=10, seed=2, weight_decay=0.1, **options)
        slow, fast = dp.train(net, X, T, compiled=False, **kwargs), dp.train(net, X, T, **kwargs)
        assert fast.engine == "buffered" and slow.engine == "reference"
        np.testing.assert_allclose(fast.w, slow.w, rtol=1e-10, atol=1e-10 * np.abs(slow.w).max())
        np.testing.assert_allclose(fast.history["error"], slow.history["error"], rtol=1e-10)


@pytest.mark.parametrize("method", ["lbfgs", "scg", "bfgs"])
def test_batch_methods_on_the_compiled_backend_follow_the_reference(method):
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, method=method, epochs=30, seed=0)
    assert result.engine == "compiled"
    np.testing.assert_allclose(result.history["error"][:10],
                               dp.train(net, X, T, method=method, epochs=30, seed=0, compiled=False).history["error"][:10],
                               rtol=1e-8)


@pytest.mark.parametrize("N, batch_size", [(43, 43), (43, 5), (43, 2), (9, 4)])
def test_the_pattern_column_kernel_pads_odd_batches_without_changing_the_result(N, batch_size):
    net = dp.mlp([2, 6, 5, 2], hidden="tanh", output="softmax")
    X, T = data("softmax", 2, N=N, D=2, seed=4)
    kwargs = dict(method="sgd", batch_size=batch_size, epochs=12, seed=0, learning_rate=0.1)
    slow, fast = dp.train(net, X, T, compiled=False, **kwargs), dp.train(net, X, T, **kwargs)
    assert fast.loop == "fused"
    np.testing.assert_allclose(fast.w, slow.w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.history["error"], slow.history["error"], rtol=1e-10)


@pytest.mark.parametrize("batch_size", [1, 6])
def test_fast_path_running_history_equals_the_python_loops(batch_size):
    net = dp.mlp([3, 7, 2])
    X, T = data("linear", 2, N=30)
    kwargs = dict(method="adam", batch_size=batch_size, epochs=8, seed=5, learning_rate=0.01, weight_decay=0.2,
                  history="running")
    slow, fast = dp.train(net, X, T, compiled=False, **kwargs), dp.train(net, X, T, **kwargs)
    assert fast.loop == "fused"
    np.testing.assert_allclose(fast.history["error"], slow.history["error"], rtol=1e-10)
    np.testing.assert_allclose(fast.w, slow.w, rtol=1e-10, atol=1e-12)
    assert np.all(np.isnan(fast.history["grad_norm"])) and fast.best_restart == slow.best_restart


def test_freshly_compiled_and_cached_kernels_give_the_same_bits(tmp_path):
    """A process that compiles the kernels and one that loads them from Numba's cache must agree bit for
    bit, or restarts run in worker processes would not equal local ones (the kernels use no fastmath)."""
    import os
    import subprocess
    import sys

    script = (
        "import hashlib, numpy as np, deltaprop as dp\n"
        "from deltaprop.examples import seed_example\n"
        "net, X, T = seed_example(2)\n"
        "h = hashlib.sha256()\n"
        "for kwargs in (dict(method='sgd', batch_size=8), dict(method='gd'), dict(method='scg')):\n"
        "    r = dp.train(net, X, T, epochs=40, seed=5, **kwargs)\n"
        "    h.update(r.w.tobytes()); h.update(np.float64(r.error).tobytes())\n"
        "wide = dp.mlp([1, 40, 30, 1])\n"
        "h.update(dp.train(wide, X, T, method='adam', batch_size=16, epochs=5, seed=0).w.tobytes())\n"
        "print(h.hexdigest())\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    fresh, cached = (subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
                     for _ in range(2))
    assert any((tmp_path / "numba").rglob("*.nbc")), "the first run should have written Numba's cache"
    assert fresh.stdout == cached.stdout and len(fresh.stdout.strip()) == 64


def test_the_fused_loop_runs_whole_chunks_of_epochs_per_call(monkeypatch):
    """Chunks grow while a call is quick: thousands of epochs take a few calls, not one call each (a timer
    once overwritten by a returned value made every chunk one epoch long, 15x slower)."""
    from deltaprop.training import fused

    calls = []
    kernel = fused.run_epochs

    def counted(*args):
        calls.append(args[6].shape[0])  # the epochs asked of this call: the rows of perms
        return kernel(*args)

    monkeypatch.setattr(fused, "run_epochs", counted)
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, method="gd", learning_rate=0.1, epochs=5000, tol=0, seed=0)
    assert result.loop == "fused" and sum(calls) == 5000 and len(calls) < 20


@pytest.mark.parametrize("options", [
    dict(method="gd", learning_rate=0.05, weight_decay=0.3),
    dict(method="sgd", batch_size=7),
    dict(method="momentum", batch_size=8, weight_decay=0.3, history="running"),
    dict(method="adam", batch_size=1, learning_rate=0.01, history="running"),
])
@pytest.mark.parametrize("N", [40, 600, 5000])  # one pattern at a time, the column kernel, rows in parts
def test_a_fused_run_makes_no_evaluator_and_logs_what_one_would_give(monkeypatch, options, N):
    """Epoch 0's E and gradient norm come from the kernel's evaluation at w0 and, where the history holds running
    sums, E(best_w) from one at the end: no evaluator is made in Python for either (part of a call's fixed cost),
    and each is the bits an evaluator's would be. Where the evaluator would share the rows among cores (more than
    PART_ROWS of them), it is made for them instead, being quicker there; the same bits."""
    from deltaprop.fast.compiled import cores
    from deltaprop.fast.kernels import PART_ROWS
    from deltaprop.training import objective

    net = dp.Network({"x": 3, "h1": (5, "tanh"), "y": (2, "linear")}, [("x", "h1"), ("h1", "y")])
    X, T = data("linear", 2, N=N)
    kwargs = dict(epochs=6, seed=2, tol=0.0, **options)
    made = []
    evaluator = objective.Objective.evaluator.func
    with monkeypatch.context() as m:
        m.setattr(objective.Objective, "evaluator", property(lambda self: made.append(1) or evaluator(self)))
        result = dp.train(net, X, T, **kwargs)
    assert result.loop == "fused" and result.stop_reason == "max epochs"
    assert bool(made) == (N > PART_ROWS and cores() > 1)
    check = objective.Objective(net, X, T, dp.Prior.of(net, options.get("weight_decay", 0.0), allow_zero=True))
    w0 = net.init(seed=np.random.default_rng(np.random.SeedSequence(2).spawn(2)[1]))  # as train draws restart 0's
    E0, _, g0 = check.full(w0)
    if options.get("history") != "running":
        assert result.history["error"][0] == E0
        assert result.history["grad_norm"][0] == np.sqrt(g0 @ g0)
    E, objective_value = check.value(result.w)
    assert result.error == E and result.error + result.penalty == pytest.approx(objective_value, rel=1e-13)


def test_a_chunk_fills_its_time_at_the_last_pace_growing_at_most_sixteenfold():
    from deltaprop.training.loops import CHUNK_SECONDS, next_chunk

    assert next_chunk(1, 3e-4) == 16  # a quick first epoch: 16, not the 666 its pace suggests
    assert next_chunk(16, 3e-4) == 256 and next_chunk(256, 3e-4) == int(CHUNK_SECONDS / 3e-4)  # then it fills CHUNK_SECONDS
    assert next_chunk(500, 1.0) == 1  # slow epochs: one per call
    assert next_chunk(8, 0.0) == 128  # a call too quick to time still grows by at most 16


@pytest.mark.parametrize("output, K", [("linear", 2), ("logistic", 2), ("softmax", 3)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_fused_lbfgs_takes_scipys_steps(output, K, weight_decay):
    """The compiled L-BFGS and SciPy's L-BFGS-B (on the reference engine) take the same 20 iterations, to rounding
    (each iteration a direction and a More-Thuente line search; rounding grows along a non-convex path)."""
    for hidden in HIDDEN:
        net = dp.Network({"x": 3, "h1": (5, hidden), "h2": (4, "tanh"), "y": (K, output)},
                         [("x", "h1"), ("h1", "h2"), ("h2", "y")])
        X, T = data(output, K)
        kwargs = dict(method="lbfgs", epochs=20, seed=1, weight_decay=weight_decay, tol=0.0)
        slow, fast = dp.train(net, X, T, compiled=False, **kwargs), dp.train(net, X, T, **kwargs)
        assert (fast.loop, slow.loop) == ("fused", "scipy") and fast.stop_reason == slow.stop_reason, hidden
        np.testing.assert_allclose(fast.history["error"], slow.history["error"], rtol=1e-9, err_msg=hidden)
        np.testing.assert_allclose(fast.w, slow.w, rtol=1e-7, atol=1e-9 * np.abs(slow.w).max(), err_msg=hidden)


def test_fused_lbfgs_logs_epoch_0_from_its_own_first_evaluation_and_builds_no_evaluator(monkeypatch):
    """The compiled L-BFGS evaluates at w0 before its first step anyway; epoch 0's E, objective and gradient norm
    are those values, so the call makes no evaluator and no second pass at w0 (issue 29's fixed cost)."""
    from deltaprop.training import objective

    net, X, T = seed_example(0)
    reference = dp.train(net, X, T, method="lbfgs", epochs=15, seed=2, weight_decay=0.01, tol=0.0)

    def refused(*args, **kwargs):
        raise AssertionError("the fused lbfgs built an evaluator")

    monkeypatch.setattr(objective, "evaluator", refused)
    result = dp.train(net, X, T, method="lbfgs", epochs=15, seed=2, weight_decay=0.01, tol=0.0)
    assert result.loop == "fused" and result.history["epoch"][0] == 0
    np.testing.assert_array_equal(result.w, reference.w)
    w0 = net.init(seed=np.random.default_rng(np.random.SeedSequence(2).spawn(2)[1]))
    E0, g0 = net.error_and_gradient(w0, X, T)
    np.testing.assert_allclose(result.history["error"][0], E0, rtol=1e-12)
    g0 = g0 + dp.Prior.of(net, 0.01).diagonal() * w0  # and the weight decay's gradient (PRML 5.112)
    np.testing.assert_allclose(result.history["grad_norm"][0], np.linalg.norm(g0), rtol=1e-10)


def test_fused_lbfgs_converges_where_scipy_does():
    """On a convex objective (no hidden layer: linear least squares with weight decay) the two stop at the same
    iteration by the same rule, at the same minimum (inputs of spread 1 to 3, so that it takes more iterations than
    the TOLERANCE_AFTER before the rule is tested; before it only an iteration that lowers nothing ends a run, and
    where the two reach the minimum within it, their last bits decide which iteration that is)."""
    net = dp.mlp([8, 2])
    X, T = data("linear", 2, N=100, D=8)
    X = X * np.geomspace(1, 3, 8)
    kwargs = dict(method="lbfgs", epochs=1000, seed=0, weight_decay=0.1, tol=1e-12)
    slow, fast = dp.train(net, X, T, compiled=False, **kwargs), dp.train(net, X, T, **kwargs)
    assert fast.stop_reason == slow.stop_reason == "converged"
    assert 10 < fast.history["epoch"][-1] == slow.history["epoch"][-1] < 100
    np.testing.assert_allclose(fast.w, slow.w, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("compiled", [True, False])
def test_lbfgs_tests_its_tolerance_only_once_it_holds_its_pairs(compiled):
    """From a warm start near a minimum of a nearby objective, L-BFGS's first step (down the gradient by a guessed
    length) fell by about 1e-5 of the objective, and SciPy's rule stopped the run there as converged, over 1.3%
    above where the same run reaches in 200 iterations. The tolerance is tested from iteration
    TOLERANCE_AFTER + 1 on, in the fused loop and on SciPy's alike."""
    from deltaprop.optimize.lbfgs import TOLERANCE_AFTER

    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, (60, 1))
    T = np.sin(2 * X) + 0.05 * rng.standard_normal((60, 1))
    net = dp.mlp([1, 5, 1])
    w = dp.train(net, X, T, method="lbfgs", weight_decay=1e-3, tol=1e-14, max_iter=3000, seed=2).w
    kwargs = dict(method="lbfgs", init=w, weight_decay=3e-3, compiled=compiled)
    early = dp.train(net, X, T, tol=0.0, max_iter=3, **kwargs)
    late = dp.train(net, X, T, tol=0.0, max_iter=200, **kwargs)
    assert late.error + late.penalty < 0.987 * (early.error + early.penalty)  # much remained after 3 iterations
    result = dp.train(net, X, T, tol=1e-4, max_iter=200, **kwargs)
    assert result.loop == ("fused" if compiled else "scipy")
    assert result.history["epoch"][-1] > TOLERANCE_AFTER
    assert result.error + result.penalty < early.error + early.penalty


def test_the_line_search_meets_the_strong_wolfe_conditions():
    """More and Thuente's search, alone, on phi(s) = (s - 3)^2 + sin(4 s) from phi'(0) < 0: the step it accepts
    satisfies sufficient decrease (ftol 1e-3) and curvature (gtol 0.9)."""
    from deltaprop.optimize.lbfgs import CONVERGENCE, FG, FTOL, GTOL, START, STATE_SIZE, line_search

    def phi(s):
        return (s - 3.0) ** 2 + np.sin(4.0 * s), 2.0 * (s - 3.0) + 4.0 * np.cos(4.0 * s)

    for first in (1e-3, 0.1, 1.0, 10.0, 100.0):
        f0, g0 = phi(0.0)
        state = np.empty(STATE_SIZE)
        stp, task = line_search(f0, g0, first, START, state, 1e10)
        calls = 0
        while task == FG:
            calls += 1
            stp, task = line_search(*phi(stp), stp, task, state, 1e10)
        f, g = phi(stp)
        assert task == CONVERGENCE and calls <= 20, first
        assert f <= f0 + FTOL * stp * g0 and abs(g) <= GTOL * abs(g0), first


def test_the_history_is_the_same_whatever_the_tape_the_chunks_write_into(monkeypatch):
    """The chunks write E, the objective and the gradient norm into parts of one tape, a new one where it is full:
    a tape of 7 epochs (many tapes, chunks split across none) gives the same history, epochs 0..N without a gap,
    seconds that never go back, as one tape for the whole run."""
    from deltaprop.training import loops

    net, X, T = seed_example(0)
    for method, kwargs in (("gd", dict(learning_rate=0.1, epochs=600)), ("lbfgs", dict(max_iter=60))):
        one = dp.train(net, X, T, method=method, tol=0, seed=2, **kwargs)
        monkeypatch.setattr(loops, "TAPE", 7)
        many = dp.train(net, X, T, method=method, tol=0, seed=2, **kwargs)
        monkeypatch.undo()
        assert one.loop == many.loop == "fused"
        np.testing.assert_array_equal(many.history["epoch"], np.arange(len(many.history["epoch"])))
        for key in ("epoch", "error", "grad_norm", "validation_error"):
            np.testing.assert_array_equal(one.history[key], many.history[key], err_msg=f"{method} {key}")
        assert np.all(np.diff(many.history["seconds"]) >= 0) and np.array_equal(one.w, many.w)


def test_init_with_a_result_continues_lbfgs_with_its_curvature_pairs():
    """train(init=result) goes on with result's curvature pairs: 50 + 50 iterations reach where one run of 100 does
    (to rounding: rho and theta are formed again from the pairs), where a restart from result.w alone, whose first
    step goes down the gradient by a guessed length and whose next ones rest on few pairs, does not."""
    X, T = data("linear", 1, N=60, D=2, seed=4)
    net = dp.mlp([2, 6, 1])
    kwargs = dict(method="lbfgs", weight_decay=1e-3, tol=0.0, seed=1)
    one = dp.train(net, X, T, max_iter=100, **kwargs)
    half = dp.train(net, X, T, max_iter=50, **kwargs)
    assert half.pairs is not None and half.pairs.s.shape == (10, net.n_params) and half.loop == "fused"
    b = net.block("b[h1]")
    assert np.all(half.pairs.decay[:b.offset] == 1e-3) and not half.pairs.decay[b.offset:b.offset + b.size].any()
    carried = dp.train(net, X, T, max_iter=50, init=half, **kwargs)
    fresh = dp.train(net, X, T, max_iter=50, init=half.w, **kwargs)
    objective = lambda r: r.error + r.penalty  # noqa: E731
    assert abs(objective(carried) - objective(one)) < 1e-6 * objective(one)
    assert abs(objective(fresh) - objective(one)) > 100 * abs(objective(carried) - objective(one))
    np.testing.assert_allclose(carried.w, one.w, rtol=1e-5, atol=1e-7)


def test_carried_pairs_are_those_of_the_new_objective():
    """Under another weight decay each pair's y is that objective's gradient difference: y + (lambda' - lambda) s,
    exactly, the penalty being quadratic; a pair whose curvature s^T y is then not positive is dropped."""
    from deltaprop.training.loops import memory_from
    from deltaprop.training.result import Pairs

    rng = np.random.default_rng(0)
    s, y = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    old, new = np.full(5, 0.5), np.full(5, 0.2)
    y[0], y[1], y[2] = s[0] + 0.1 * y[0], 0.25 * s[1], 2 * s[2]  # pair 1: curvature 0.25 - 0.3 < 0 under the new decay
    memory = memory_from(Pairs(s, y, old), new, 4)
    assert memory.counts[1] == 2 and memory.counts[0] == 1 and memory.counts[2] == -1
    for row, k in enumerate((0, 2)):
        expected = y[k] + (new - old) * s[k]
        np.testing.assert_array_equal(memory.Y[row], expected)
        np.testing.assert_array_equal(memory.S[row], s[k])
        assert memory.rho[row] == 1.0 / (s[k] @ expected)
    assert memory.values[0] == (memory.Y[1] @ memory.Y[1]) * memory.rho[1]
    empty = memory_from(None, new, 4)
    assert empty.counts[1] == 0 and memory_from(Pairs(s[:, :4], y[:, :4], old[:4]), new, 4).counts[1] == 0


def test_results_of_other_loops_carry_no_pairs():
    X, T = data("linear", 1)
    net = dp.mlp([3, 4, 1])
    assert dp.train(net, X, T, method="scg", max_iter=20, seed=0).pairs is None
    assert dp.train(net, X, T, method="lbfgs", max_iter=20, seed=0, compiled=False).pairs is None
    result = dp.train(net, X, T, method="lbfgs", max_iter=20, seed=0, compiled=False)
    assert dp.train(net, X, T, method="lbfgs", max_iter=5, init=result, seed=0).pairs is not None  # from w alone
