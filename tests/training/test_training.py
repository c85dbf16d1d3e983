"""dp.train: optimisers, restarts, validation, early stopping, checkpoints, and its errors."""

import math

import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.examples import FIGURE_5_3, seed_example
from deltaprop.optimize import METHODS
from interrupt import interrupted


def convex_problem():
    """A linear network (no hidden layer): E(w) is quadratic and lstsq gives its minimum."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    T = X @ rng.standard_normal((3, 2)) + 0.5 + 0.1 * rng.standard_normal((200, 2))
    A = np.hstack([X, np.ones((200, 1))])
    coef, *_ = np.linalg.lstsq(A, T, rcond=None)
    E_min = 0.5 * np.sum((A @ coef - T) ** 2)
    return dp.mlp([3, 2]), X, T, E_min


@pytest.mark.parametrize("method", METHODS)
def test_every_optimiser_reduces_E_on_the_seed_example(method):
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, method=method, epochs=100, seed=1)
    assert result.history["epoch"][0] == 0
    assert result.error < 0.9 * result.history["error"][0]
    assert math.isfinite(result.error) and result.w.shape == (net.n_params,)


@pytest.mark.parametrize(
    "method, options, rtol",
    [
        ("gd", {"learning_rate": 0.5, "epochs": 500}, 1e-9),
        ("scg", {}, 1e-9),
        ("lm", {}, 1e-12),
        ("lbfgs", {}, 1e-9),
        ("bfgs", {}, 1e-9),
        ("cg", {}, 1e-9),
        ("sgd", {"learning_rate": 0.02, "batch_size": 10, "epochs": 200}, 1e-2),
        ("momentum", {"learning_rate": 0.005, "batch_size": 10, "epochs": 200}, 1e-2),
        ("momentum", {"learning_rate": 0.005, "batch_size": 10, "epochs": 200, "nesterov": True}, 1e-2),
        ("adam", {"learning_rate": 0.01, "batch_size": 20, "epochs": 300}, 1e-2),
    ],
)
def test_every_optimiser_reaches_the_least_squares_minimum_of_a_linear_network(method, options, rtol):
    net, X, T, E_min = convex_problem()
    result = dp.train(net, X, T, method=method, seed=0, **options)
    assert E_min * (1 - 1e-12) <= result.error <= E_min * (1 + rtol), (result.error, E_min, result.stop_reason)


def test_gd_equals_sgd_with_one_batch_of_all_N_step_for_step():
    net, X, T = seed_example(0)
    gd = dp.train(net, X, T, method="gd", learning_rate=0.2, epochs=30, seed=4)
    sgd = dp.train(net, X, T, method="sgd", learning_rate=0.2, batch_size=50, epochs=30, seed=4)
    np.testing.assert_array_equal(gd.history["error"], sgd.history["error"])
    np.testing.assert_array_equal(gd.w, sgd.w)


def test_gd_is_w_minus_eta_times_the_mean_gradient():
    net, X, T = seed_example(0)
    w0 = net.init(seed=np.random.default_rng(np.random.SeedSequence(9).spawn(2)[1]))
    result = dp.train(net, X, T, method="gd", learning_rate=0.3, epochs=1, seed=9)
    _, g = net.error_and_gradient(w0, X, T)
    np.testing.assert_allclose(result.history["error"][0], net.error(w0, X, T))
    w1 = w0 - 0.3 * g / 50
    assert result.error == pytest.approx(float(net.error(w1, X, T)), rel=1e-14)


@pytest.mark.parametrize("method", ["lbfgs", "lm"])
def test_weight_decay_gives_ridge_regression_with_unpenalised_biases(method):
    net, X, T, _ = convex_problem()
    lam = 5.0
    result = dp.train(net, X, T, method=method, weight_decay=lam, seed=0)
    # minimise 1/2 ||X W^T + b - T||^2 + lam/2 ||W||^2: centre, then ridge, then the bias
    Xc, Tc = X - X.mean(0), T - T.mean(0)
    W = np.linalg.solve(Xc.T @ Xc + lam * np.eye(3), Xc.T @ Tc).T
    b = T.mean(0) - X.mean(0) @ W.T
    v = net.unpack(result.w)
    np.testing.assert_allclose(v["W[y<-x]"], W, rtol=1e-6)
    np.testing.assert_allclose(v["b[y]"], b, rtol=1e-6)
    assert result.penalty == pytest.approx(lam / 2 * np.sum(W**2), rel=1e-6)
    assert result.error == pytest.approx(float(net.error(result.w, X, T)), rel=1e-12)


def test_the_seed_example_reaches_small_rmse_with_lbfgs_and_scg():
    # The targets: best of 10 restarts under RMSE 0.01 for x^2 and sin(pi x), 0.02 for |x|.
    for name, target in (("x^2", 0.01), ("sin(pi x)", 0.01), ("|x|", 0.02)):
        net, X, T = seed_example(0, target=name)
        for method in ("lbfgs", "scg"):
            result = dp.train(net, X, T, method=method, restarts=10, seed=0, epochs=2000)
            rmse = np.sqrt(2 * result.error / 50)
            print(f"{name:10s} {method:6s} RMSE {rmse:.2e}")
            assert rmse < target, (name, method, rmse)
    assert set(FIGURE_5_3) == {"x^2", "sin(pi x)", "|x|", "H(x)"}


def test_restarts_keep_every_minimum_and_return_the_best():
    net, X, T = seed_example(0, target="|x|")
    result = dp.train(net, X, T, method="scg", restarts=5, epochs=50, seed=3)
    assert len(result.restarts) == 5 and [r.index for r in result.restarts] == list(range(5))
    assert len({r.seed for r in result.restarts}) == 5
    assert result.error == result.restart_errors.min()
    assert result.best_restart == int(np.argmin(result.restart_errors))
    one = dp.train(net, X, T, method="scg", restarts=5, epochs=50, seed=3)
    np.testing.assert_array_equal(one.w, result.w)


def test_same_seed_is_bit_identical_with_one_or_two_jobs():
    net, X, T = seed_example(1)
    a = dp.train(net, X, T, method="adam", restarts=4, epochs=20, seed=11, n_jobs=1)
    b = dp.train(net, X, T, method="adam", restarts=4, epochs=20, seed=11, n_jobs=2)
    np.testing.assert_array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.restart_errors, b.restart_errors)
    c = dp.train(net, X, T, method="adam", restarts=4, epochs=20, seed=12, n_jobs=1)
    assert not np.array_equal(a.w, c.w)


def test_restarts_on_a_dask_cluster_equal_local_restarts():
    import distributed
    import joblib

    net, X, T = seed_example(2)
    local = dp.train(net, X, T, method="scg", restarts=3, epochs=30, seed=5)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = dp.train(net, X, T, method="scg", restarts=3, epochs=30, seed=5, scheduler=cluster.scheduler_address)
        with distributed.Client(cluster), joblib.parallel_config(backend="dask"):
            configured = dp.train(net, X, T, method="scg", restarts=3, epochs=30, seed=5)
    for result in (remote, configured):
        np.testing.assert_array_equal(result.w, local.w)
        np.testing.assert_array_equal(result.restart_errors, local.restart_errors)


@pytest.mark.parametrize("method, history", [("gd", "exact"), ("sgd", "exact"), ("sgd", "running"), ("momentum", "exact"),
                                             ("adam", "running"), ("scg", "exact"), ("lm", "exact")])
def test_checkpoint_interrupt_and_resume_equal_one_uninterrupted_run(tmp_path, method, history):
    net, X, T = seed_example(0)
    options = dict(method=method, epochs=40, seed=8, compiled=False, history=history)  # the Python engine, bit for bit
    whole = dp.train(net, X, T, **options)

    def interrupt_at_17(state):
        if state.epoch == 17:
            raise KeyboardInterrupt

    path = tmp_path / "run.npz"
    cut = dp.train(net, X, T, checkpoint=path, callbacks=[interrupt_at_17], **options)
    assert cut.stop_reason == "interrupted" and cut.history["epoch"][-1] == 16
    resumed = dp.train(net, X, T, resume=path, **options)
    np.testing.assert_array_equal(resumed.w, whole.w)
    np.testing.assert_array_equal(resumed.history["error"], whole.history["error"])
    assert resumed.stop_reason == whole.stop_reason


def test_checkpoints_of_several_restarts_and_of_scipy_methods(tmp_path):
    net, X, T = seed_example(0)
    path = tmp_path / "r.npz"
    first = dp.train(net, X, T, method="scg", restarts=2, epochs=10, seed=1, checkpoint=path)
    assert (tmp_path / "r.restart0.npz").exists() and (tmp_path / "r.restart1.npz").exists()
    more = dp.train(net, X, T, method="scg", restarts=2, epochs=20, seed=1, resume=path)
    straight = dp.train(net, X, T, method="scg", restarts=2, epochs=20, seed=1)
    np.testing.assert_array_equal(more.w, straight.w)
    assert first.error >= more.error

    lb = tmp_path / "lbfgs.npz"
    short = dp.train(net, X, T, method="lbfgs", epochs=5, seed=1, checkpoint=lb)
    warm = dp.train(net, X, T, method="lbfgs", epochs=50, seed=1, resume=lb)
    assert warm.error < short.error and warm.history["epoch"][0] == 0 and len(warm.history["epoch"]) > 6


def test_resume_refuses_a_missing_foreign_or_mismatched_checkpoint(tmp_path):
    net, X, T = seed_example(0)
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        dp.train(net, X, T, method="sgd", resume=tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="is not a deltaprop checkpoint"):
        dp.train(net, X, T, method="sgd", resume=junk)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, w=np.zeros(3))
    with pytest.raises(ValueError, match="is not a deltaprop checkpoint"):
        dp.train(net, X, T, method="sgd", resume=foreign)
    path = tmp_path / "sgd.npz"
    dp.train(net, X, T, method="sgd", epochs=3, seed=0, checkpoint=path)
    with pytest.raises(ValueError, match="would not continue the same run"):
        dp.train(net, X, T, method="adam", resume=path)
    with pytest.raises(ValueError, match="holds weights for 10 parameters; this network has 19"):
        dp.train(dp.mlp([1, 6, 1]), X, T, method="sgd", resume=path)


def test_divergence_stops_warns_and_returns_the_best_weights():
    net, X, T = seed_example(0)
    with pytest.warns(dp.TrainingWarning, match="diverged .* learning_rate=1000 is too large .* try learning_rate=100"):
        result = dp.train(net, X, T, method="gd", learning_rate=1e3, epochs=100, seed=0)
    assert result.stop_reason == "diverged"
    assert not result.history["error"][-1] <= 1e4 * result.history["error"][0]  # non-finite, or ran away
    finite = result.history["error"][np.isfinite(result.history["error"])]
    assert np.all(np.isfinite(result.w)) and result.error == finite.min()


def test_early_stopping_returns_the_weights_of_least_validation_error():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 1))
    T = np.sin(np.pi * X) + 0.3 * rng.standard_normal((30, 1))
    Xv = rng.uniform(-1, 1, (30, 1))
    Tv = np.sin(np.pi * Xv) + 0.3 * rng.standard_normal((30, 1))
    net = dp.mlp([1, 30, 1])
    result = dp.train(net, X, T, method="adam", learning_rate=0.02, batch_size=10, epochs=3000,
                      validation=(Xv, Tv), early_stopping=50, seed=0)
    assert result.stop_reason == "early stopping"
    h = result.history
    best = int(np.argmin(h["validation_error"]))
    assert h["epoch"][-1] == best + 50
    assert result.validation_error == h["validation_error"][best] == pytest.approx(float(net.error(result.w, Xv, Tv)), rel=1e-14)
    assert h["error"][-1] < h["error"][best]  # training error kept falling: over-fitting


def test_validation_fraction_holds_out_patterns():
    net, X, T = seed_example(0)
    seen = []
    dp.train(net, X, T, method="scg", epochs=3, validation=0.2, seed=0, callbacks=[seen.append])
    result = dp.train(net, X, T, method="scg", epochs=3, validation=0.2, seed=0)
    assert all(s.validation_error is not None for s in seen)
    # 40 training patterns: beta_ML = NK / 2E with N = 40
    assert result.beta == pytest.approx(40 / (2 * result.error), rel=1e-12)
    assert result.validation_error is not None


def test_callbacks_see_each_epoch_and_can_stop_training():
    net, X, T = seed_example(0)
    seen = []

    def stop_at_5(state):
        seen.append((state.epoch, state.error, state.grad_norm))
        return state.epoch == 5

    result = dp.train(net, X, T, method="sgd", epochs=100, seed=0, callbacks=[stop_at_5])
    assert result.stop_reason == "callback" and [s[0] for s in seen] == list(range(6))
    np.testing.assert_array_equal([s[1] for s in seen], result.history["error"])


def test_tol_stops_a_converged_run():
    net, X, T, _ = convex_problem()
    result = dp.train(net, X, T, method="gd", learning_rate=0.5, epochs=10000, tol=1e-12, seed=0)
    assert result.stop_reason == "converged" and result.history["epoch"][-1] < 10000


def test_history_and_result_fields():
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, method="scg", epochs=25, seed=0)
    h = result.history
    assert set(h) == {"epoch", "error", "validation_error", "grad_norm", "seconds"}
    assert list(h["epoch"]) == list(range(len(h["epoch"])))
    assert np.all(np.isnan(h["validation_error"])) and np.all(np.diff(h["seconds"]) >= 0)
    assert result.beta == pytest.approx(dp.noise_precision(net, result.w, X, T), rel=1e-12)
    assert result.method == "scg" and result.penalty == 0.0 and result.validation_error is None
    _, g = net.error_and_gradient(result.w, X, T)
    assert h["grad_norm"][-1] == pytest.approx(np.linalg.norm(g), rel=1e-12)


def _sgd_by_hand(net, X, T, seed, epochs, batch_size, lr, weight_decay):
    """Plain SGD on dp.train's own draws (restart 0: w0, then one permutation per epoch), summing each
    batch's E and its share of the penalty at the weights its step starts from."""
    N = len(X)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    w = net.init(seed=rng)
    mask = np.zeros_like(w)
    for c in net.connections:
        view = net.unpack(mask)[f"W[{c.dst}<-{c.src}]"]
        view[...] = 1.0
    sums = []
    for _ in range(epochs):
        E_sum = objective_sum = 0.0
        order = rng.permutation(N)
        for k in range(0, N, batch_size):
            batch = order[k : k + batch_size]
            E, g = net.error_and_gradient(w, X[batch], T[batch])
            share = len(batch) / N
            E_sum += E
            objective_sum += E + share * 0.5 * weight_decay * np.sum((w * mask) ** 2)
            w = w - lr * (g + share * weight_decay * w * mask) / len(batch)
        sums.append((E_sum, objective_sum))
    return w, np.array(sums)


@pytest.mark.parametrize("compiled", [True, False])
def test_running_history_is_the_sum_of_the_batch_errors_and_costs_no_extra_pass(compiled):
    net, X, T = seed_example(0)
    kwargs = dict(method="sgd", batch_size=8, learning_rate=0.05, weight_decay=0.01, epochs=6, seed=3)
    running = dp.train(net, X, T, history="running", compiled=compiled, **kwargs)
    exact = dp.train(net, X, T, compiled=compiled, **kwargs)
    assert (running.engine, running.loop) == (("compiled", "fused") if compiled else ("reference", "steps"))
    w, sums = _sgd_by_hand(net, X, T, 3, 6, 8, 0.05, 0.01)
    h = running.history
    np.testing.assert_allclose(h["error"][1:], sums[:, 0], rtol=1e-10)
    assert math.isnan(h["error"][0])  # epoch 0, before any batch: no pass is made for it
    assert np.all(np.isnan(h["grad_norm"])) and np.all(np.isfinite(exact.history["grad_norm"]))
    # the same steps either way; the exact history is E(w) at each epoch's end
    np.testing.assert_allclose(exact.history["error"][-1], net.error(w, X, T), rtol=1e-10)
    assert not np.allclose(h["error"][1:], exact.history["error"][1:], rtol=1e-6)
    # the best epoch goes by the running objective; result.error is E at those weights, exactly
    assert running.error == pytest.approx(net.error(running.w, X, T), rel=1e-12)


def test_full_batch_methods_record_the_exact_history_whatever_history_says():
    net, X, T = seed_example(0)
    for method, options in (("gd", {}), ("sgd", {"batch_size": 50}), ("lbfgs", {})):
        a = dp.train(net, X, T, method=method, epochs=20, seed=0, history="running", **options)
        b = dp.train(net, X, T, method=method, epochs=20, seed=0, **options)
        np.testing.assert_array_equal(a.history["error"], b.history["error"])
        assert np.all(np.isfinite(a.history["grad_norm"]))


def test_logistic_and_softmax_networks_train():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    for output, T in (("logistic", labels[:, None]), ("softmax", np.eye(2)[labels])):
        result = dp.train(dp.mlp([2, 6, T.shape[1]], output=output), X, T, restarts=3, seed=0)
        assert result.beta is None
        Y = dp.mlp([2, 6, T.shape[1]], output=output).forward(result.w, X)
        predicted = (Y[:, 0] > 0.5).astype(int) if output == "logistic" else Y.argmax(1)
        assert np.mean(predicted == labels) > 0.9


def test_progress_bar_runs(capsys):
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, method="scg", epochs=5, seed=0, progress=True)
    assert result.history["epoch"][-1] == 5
    result = dp.train(net, X, T, method="scg", restarts=2, epochs=5, seed=0, progress=True)
    assert len(result.restarts) == 2


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "newton"}, ValueError, "unknown method 'newton'"),
        ({"method": "sgd", "learning_rate": -0.1}, ValueError, "learning_rate must lie in \\(0.0, inf\\]; got -0.1"),
        ({"method": "sgd", "learning_rate": "fast"}, TypeError, "learning_rate must be a number"),
        ({"method": "sgd", "batch_size": 51}, ValueError, "batch_size 51 is larger than the number of training patterns N = 50"),
        ({"method": "sgd", "batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
        ({"method": "lbfgs", "learning_rate": 0.1}, ValueError, "learning_rate does not apply to method 'lbfgs'"),
        ({"method": "gd", "batch_size": 5}, ValueError, "batch_size does not apply to method 'gd'"),
        ({"method": "adam", "momentum": 0.5}, ValueError, "momentum applies to method 'momentum' only"),
        ({"method": "momentum", "momentum": 1.0}, ValueError, "momentum must be below 1"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1; got 0"),
        ({"epochs": 5, "max_iter": 5}, ValueError, "give epochs or max_iter, not both"),
        ({"weight_decay": -1}, ValueError, "weight_decay must lie in \\[0.0, inf\\]"),
        ({"tol": -1}, ValueError, "tol must lie in"),
        ({"restarts": 0}, ValueError, "restarts must be an integer >= 1"),
        ({"early_stopping": 10}, ValueError, "early_stopping needs validation data"),
        ({"validation": 1.5}, ValueError, "validation must lie in \\(0.0, 1.0\\]"),
        ({"validation": 0.001}, ValueError, "holds out 0"),
        ({"validation": (np.zeros((5, 2)), np.zeros((5, 1)))}, ValueError, "X_val must be a 2-D array of shape \\(N, D=1\\)"),
        ({"callbacks": [3]}, TypeError, "callbacks must be callables"),
        ({"history": "approximate"}, ValueError, "unknown history 'approximate'; expected one of 'exact', 'running'"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(kwargs, error, message):
    net, X, T = seed_example(0)
    with pytest.raises(error, match=message):
        dp.train(net, X, T, **kwargs)


def test_bad_data_is_refused():
    net, X, T = seed_example(0)
    with pytest.raises(ValueError, match="T must be a 2-D array of shape \\(N, K=1\\); got shape \\(50, 2\\)"):
        dp.train(net, X, np.hstack([T, T]))
    with pytest.raises(ValueError, match="X holds a non-finite value"):
        dp.train(net, np.full_like(X, np.nan), T)
    with pytest.raises(TypeError, match="net must be a deltaprop Network"):
        dp.train("net", X, T)



def test_ctrl_c_returns_the_best_result_so_far(tmp_path):
    status, out, err = interrupted(tmp_path, (
        "import numpy as np, deltaprop as dp\n"
        "from deltaprop.examples import seed_example\n"
        "net, X, T = seed_example(0)\n"
        "def started(state):\n"
        "    if state.epoch == 1:\n"
        "        print('started', flush=True)\n"
        "r = dp.train(net, X, T, method='sgd', batch_size=1, epochs=10**7, seed=0, callbacks=[started])\n"
        "print(r.stop_reason, r.history['epoch'][-1], np.isfinite(r.error), r.error <= r.history['error'].min())\n"),
        ready="started", after=0.5, timeout=60, hang=50)
    assert status == 0, err
    reason, epochs, finite, best = out.split()
    assert reason == "interrupted" and int(epochs) >= 1
    assert finite == "True" and best == "True"


@pytest.mark.parametrize("method", ["adam", "lbfgs"])
def test_snapshots_are_spread_over_the_run_and_end_with_the_final_weights(method):
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, method=method, epochs=300, seed=0, snapshots=12)
    s = result.snapshots
    assert 2 <= len(s["epoch"]) <= 12 and s["w"].shape == (len(s["epoch"]), net.n_params)
    assert s["epoch"][0] == 0 and s["epoch"][-1] == result.history["epoch"][-1]
    assert np.all(np.diff(s["epoch"]) > 0)
    for epoch, w in zip(s["epoch"], s["w"]):  # each snapshot is the weights of its epoch
        assert float(net.error(w, X, T)) == pytest.approx(result.history["error"][epoch], rel=1e-12)
    if method == "adam":
        assert len(s["epoch"]) == 12 and np.array_equal(s["w"][-1], result.w)
    assert dp.train(net, X, T, method=method, epochs=5, seed=0).snapshots["w"].shape == (0, net.n_params)


def test_snapshots_survive_interrupt_and_resume(tmp_path):
    net, X, T = seed_example(0)
    options = dict(method="sgd", epochs=60, seed=2, snapshots=7)
    whole = dp.train(net, X, T, **options)

    def stop_at_33(state):
        if state.epoch == 33:
            raise KeyboardInterrupt

    dp.train(net, X, T, checkpoint=tmp_path / "c.npz", callbacks=[stop_at_33], **options)
    resumed = dp.train(net, X, T, resume=tmp_path / "c.npz", **options)
    np.testing.assert_array_equal(resumed.snapshots["epoch"], whole.snapshots["epoch"])
    np.testing.assert_array_equal(resumed.snapshots["w"], whole.snapshots["w"])


@pytest.mark.parametrize("method", ["adam", "sgd", "momentum", "gd"])
@pytest.mark.parametrize("compiled", [True, False])
def test_a_run_away_learning_rate_is_divergence_for_every_step_rule(method, compiled):
    """Adam's steps are bounded, so its E stays finite while it runs away (issue 17, item 9): it is told all the same."""
    net, X, T = seed_example(0)
    with pytest.warns(dp.TrainingWarning, match=f"training diverged \\(restart 0 at epoch 1, best weights from epoch 0; "
                                                 f"method='{method}'\\).*"
                                                 f"learning_rate=1000 is too large"):
        result = dp.train(net, X, T, method=method, learning_rate=1e3, epochs=200, seed=0, compiled=compiled)
    assert result.stop_reason == "diverged" and result.history["epoch"][-1] == 1
    np.testing.assert_array_equal(result.w, net.init(seed=np.random.default_rng(np.random.SeedSequence(0).spawn(2)[1])))


def test_a_warning_raised_in_a_worker_process_reaches_the_caller():
    net, X, T = seed_example(0)
    with pytest.warns(dp.TrainingWarning) as caught:
        result = dp.train(net, X, T, method="sgd", learning_rate=1e3, epochs=20, restarts=2, n_jobs=2, seed=0)
    assert len(caught) == 1  # one warning for the two restarts, each named
    assert str(caught[0].message).startswith("training diverged (restart 0 at epoch 1, best weights from epoch 0; "
                                             "restart 1 at epoch 1")
    assert all(r.stop_reason == "diverged" for r in result.restarts)


@pytest.mark.parametrize("loop", ["fused", "steps"])
@pytest.mark.parametrize("to_group", [False, True])
def test_ctrl_c_with_restarts_in_parallel_returns_the_best_of_those_that_ran(tmp_path, loop, to_group):
    """Issue 17, item 8: Ctrl-C (to the caller alone, or to its whole process group as a terminal sends it)
    stops every running restart at its last whole epoch; restarts not yet begun are left out."""
    status, out, err = interrupted(tmp_path, (
        "import numpy as np, deltaprop as dp\n"
        "from deltaprop.examples import seed_example\n"
        "net, X, T = seed_example(0)\n"
        f"callbacks = {'[]' if loop == 'fused' else '[lambda state: None]'}\n"
        "r = dp.train(net, X, T, method='sgd', batch_size=1, epochs=10**7, restarts=4, n_jobs=2, seed=0,\n"
        "             callbacks=callbacks, progress=False)\n"
        "print(r.stop_reason, len(r.restarts), sorted({x.stop_reason for x in r.restarts}),\n"
        "      min(x.epochs for x in r.restarts) > 0, np.isfinite(r.error), r.error == min(r.restart_errors))\n"),
        after=8, group=to_group)  # the two workers start (and compile or load the kernels) and train
    assert status == 0, err
    assert out.split() == ["interrupted", "2", "['interrupted']", "True", "True", "True"]


def test_a_batch_method_stopped_by_its_limit_says_so_as_scikit_learn_does():
    from sklearn.exceptions import ConvergenceWarning

    net, X, T = seed_example(0)
    with pytest.warns(ConvergenceWarning, match="lbfgs stopped at its limit of 20 iterations, the objective still "
                                                "changing by more than 1e-10 of itself \\(tol\\) per iteration; raise max_iter"):
        assert dp.train(net, X, T, epochs=20, seed=0).stop_reason == "max epochs"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dp.train(net, X, T, seed=0).stop_reason == "converged"
        dp.train(net, X, T, method="sgd", epochs=3, seed=0)  # no tolerance to meet: its limit is its end


@pytest.mark.parametrize("method", ["lbfgs", "lm", "gd"])
def test_weight_decay_by_group_is_ridge_regression_with_one_lambda_per_group(method):
    net, X, T, _ = convex_problem()
    lam, mu = 5.0, 2.0
    options = {"learning_rate": 0.5, "epochs": 4000, "tol": 1e-15} if method == "gd" else {}
    result = dp.train(net, X, T, method=method, weight_decay={"W[y<-x]": lam, "b[y]": mu}, seed=0, **options)
    Phi = np.hstack([X, np.ones((len(X), 1))])  # [W, b] for each output
    theta = np.linalg.solve(Phi.T @ Phi + np.diag([lam, lam, lam, mu]), Phi.T @ T)
    v = net.unpack(result.w)
    np.testing.assert_allclose(v["W[y<-x]"], theta[:3].T, rtol=1e-6)
    np.testing.assert_allclose(v["b[y]"], theta[3], rtol=1e-6)
    assert result.penalty == pytest.approx(lam / 2 * np.sum(theta[:3] ** 2) + mu / 2 * np.sum(theta[3] ** 2), rel=1e-6)
    with pytest.raises(ValueError, match="weight_decay names 'W\\[h<-x\\]', which is not a group of this network's "
                                         "weights; the groups are W\\[y<-x\\], b\\[y\\]"):
        dp.train(net, X, T, weight_decay={"W[h<-x]": 1.0})
    with pytest.raises(ValueError, match="weight_decay\\['b\\[y\\]'\\] must lie in \\[0.0, inf\\]"):
        dp.train(net, X, T, weight_decay={"b[y]": -1.0})


def test_init_starts_from_given_weights():
    net, X, T = seed_example(0)
    first = dp.train(net, X, T, epochs=30, seed=0)
    more = dp.train(net, X, T, init=first.w, seed=5)
    assert more.history["error"][0] == pytest.approx(first.error, rel=1e-12)
    assert more.error < first.error
    with pytest.raises(ValueError, match="init gives one starting point; it needs restarts=1, not 3"):
        dp.train(net, X, T, init=first.w, restarts=3)
    with pytest.raises(ValueError, match="init must be a 1-D array of length n_params = 10"):
        dp.train(net, X, T, init=first.w[:4])
