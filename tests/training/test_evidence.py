"""Hyperparameters by the evidence (PRML 5.7.2): on a network with no hidden layer the Laplace approximation is
exact, so train_evidence must land on Bayesian linear regression's re-estimated alpha, beta and gamma (PRML
3.86-3.95), computed here in closed form."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import deltaprop as dp
from interrupt import interrupted


def problem(N=60, D=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    T = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.7 + 0.3 * rng.standard_normal((N, 1))
    return X, T


def blr_fixed_point(Phi, t, groups, iterations=2000):
    """Re-estimate alpha_g = gamma_g / ||m_g||^2 and beta = (N - gamma) / ||t - Phi m||^2 to their fixed point,
    with m and S_N of Bayesian linear regression (PRML 3.53-3.54, 3.91-3.95); groups: index arrays of Phi's columns."""
    N, M = Phi.shape
    alpha, beta = np.full(len(groups), 0.01), 1.0 / np.var(t)
    for _ in range(iterations):
        prior = np.zeros(M)
        for a, g in zip(alpha, groups):
            prior[g] = a
        A = np.diag(prior) + beta * Phi.T @ Phi
        S = np.linalg.inv(A)
        m = beta * S @ Phi.T @ t[:, 0]
        gammas = np.array([len(g) - a * np.trace(S[np.ix_(g, g)]) for a, g in zip(alpha, groups)])
        alpha = gammas / np.array([m[g] @ m[g] for g in groups])
        beta = (N - gammas.sum()) / np.sum((t[:, 0] - Phi @ m) ** 2)
    E = beta / 2 * np.sum((t[:, 0] - Phi @ m) ** 2) + 0.5 * np.sum(prior * m * m)
    log_evidence = (0.5 * sum(len(g) * np.log(a) for a, g in zip(alpha, groups)) + N / 2 * np.log(beta) - E
                    - 0.5 * np.linalg.slogdet(A)[1] - N / 2 * np.log(2 * np.pi))  # PRML 3.86, at the last alpha, beta
    return alpha, beta, gammas.sum(), m, log_evidence


@pytest.mark.parametrize("prior", ["shared", "groups"])
def test_the_linear_network_lands_on_bayesian_linear_regressions_hyperparameters(prior):
    """The cycles work in units where X and T have unit spread (``Units``), so Bayesian linear regression is solved
    there and mapped to the data's units: W by t / x, b by t, each alpha by their inverse squares, beta by 1 / t^2,
    the log evidence by -N ln t. With one alpha per group the fixed point is the same in any units; the shared
    prior's one alpha is one in the working units."""
    X, T = problem()
    x, t = np.std(X), np.std(T)
    net = dp.mlp([3, 1])
    Phi = np.hstack([X / x, np.ones((len(X), 1))])  # w's layout: W[y<-x] then b[y]
    groups = [np.arange(4)] if prior == "shared" else [np.arange(3), np.array([3])]
    alpha, beta, gamma, m, log_evidence = blr_fixed_point(Phi, T / t, groups)
    result = dp.train_evidence(net, X, T, prior=prior, cycles=500, tol=1e-12, method="lm")
    assert result.converged and result.units.x == pytest.approx(x) and result.units.t == pytest.approx(t)
    factor = np.array([t / x, t / x, t / x, t])
    got = [result.alpha["W[y<-x]"], result.alpha["b[y]"]]
    expected = [alpha[0], alpha[0]] if prior == "shared" else list(alpha)
    np.testing.assert_allclose(got, np.array(expected) / factor[[0, 3]] ** 2, rtol=1e-6)
    assert result.beta == pytest.approx(beta / t**2, rel=1e-6)
    assert result.gamma == pytest.approx(gamma, rel=1e-6)
    np.testing.assert_allclose(result.w, m * factor, rtol=1e-6)
    assert result.log_evidence == pytest.approx(log_evidence - len(X) * np.log(t), rel=1e-6)
    first = result.cycles[0]
    assert first.cycle == 1 and first.hessian == "exact" and first.iterations > 0
    assert first.alpha == {"W[y<-x]": 3.0, "b[y]": 3.0} and first.beta == pytest.approx(1.0)  # working units


def test_one_alpha_per_input_lands_on_bayesian_linear_regressions_relevances():
    """prior="relevance" on a linear network: each input's weight its own group (automatic relevance determination),
    the bias its own: Bayesian linear regression with four alphas, in the working units as above. An input with no
    effect on T gets an alpha far above the others'."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 3)) * np.array([1.0, 5.0, 0.2])
    T = X @ np.array([[1.0], [0.0], [4.0]]) + 0.7 + 0.3 * rng.standard_normal((80, 1))
    x, t = np.std(X), np.std(T)
    Phi = np.hstack([X / x, np.ones((len(X), 1))])
    alpha, beta, gamma, _, _ = blr_fixed_point(Phi, T / t, [np.array([i]) for i in range(4)], 20000)
    result = dp.train_evidence(dp.mlp([3, 1]), X, T, prior="relevance", cycles=2000, tol=1e-12, method="lm")
    names = ["W[y<-x][:, 0]", "W[y<-x][:, 1]", "W[y<-x][:, 2]", "b[y]"]
    assert result.converged and list(result.alpha) == names
    factor = np.array([t / x, t / x, t / x, t])
    kept = [0, 2, 3]  # input 1's alpha grows without end on both sides (pruned: it need not settle)
    np.testing.assert_allclose([result.alpha[names[i]] for i in kept], (alpha / factor**2)[kept], rtol=1e-4)
    assert result.alpha[names[1]] > 1e6 * max(result.alpha[names[0]], result.alpha[names[2]])  # input 1 is irrelevant
    assert result.beta == pytest.approx(beta / t**2, rel=1e-5)
    assert result.gamma == pytest.approx(gamma, rel=1e-5)
    # PRML 3.86 at the alphas and beta reached (the pruned alpha differs between the two, clipped here at 1e10)
    a, b = np.array([result.alpha[g] for g in names]) * factor**2, result.beta * t**2
    A = np.diag(a) + b * Phi.T @ Phi
    m = np.linalg.solve(A, b * Phi.T @ (T[:, 0] / t))
    E = b / 2 * np.sum((T[:, 0] / t - Phi @ m) ** 2) + 0.5 * np.sum(a * m * m)
    expected = (0.5 * np.sum(np.log(a)) + len(X) / 2 * np.log(b / (2 * np.pi)) - E - 0.5 * np.linalg.slogdet(A)[1]
                - len(X) * np.log(t))
    assert result.log_evidence == pytest.approx(expected, rel=1e-9)
    assert set(result.posterior.gamma_groups) == set(names)


def test_relevance_prunes_the_inputs_a_hidden_layer_does_not_need_and_its_staged_starts_split_a_settled_alpha():
    """One alpha per input of a tanh network (MacKay 1994): inputs 2 and 3 are noise, and their alphas end orders of
    magnitude above the others'. The second start settles one alpha per connection first (its first cycles name
    ``W[h1<-x]``), then splits it per input, every input at the settled value, and its cycles go on from that w."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    T = np.sin(X[:, :1]) + 0.3 * X[:, 1:2] + 0.1 * rng.standard_normal((200, 1))
    result = dp.train_evidence(dp.mlp([4, 6, 1]), X, T, prior="relevance", restarts=2, seed=0)
    assert result.converged
    for member in result.members:
        a = [member.prior.alphas[f"W[h1<-x][:, {i}]"] for i in range(4)]
        assert min(a[2], a[3]) > 100 * max(a[0], a[1])
    staged = next(m for m in result.members if m.index == 1).cycles
    joined = [c for c in staged if "W[h1<-x]" in c.alpha]
    split = staged[len(joined):]
    assert joined and split and all("W[h1<-x]" not in c.alpha for c in split)
    assert [c.cycle for c in staged] == list(range(1, len(staged) + 1))
    assert {split[0].alpha[f"W[h1<-x][:, {i}]"] for i in range(4)} == {joined[-1].alpha["W[h1<-x]"]}
    direct = next(m for m in result.members if m.index == 0).cycles
    assert "W[h1<-x][:, 0]" in direct[0].alpha  # the first start splits from its first cycle


def test_a_hidden_layer_network_finds_the_noise_level_and_says_each_cycle():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (50, 1))
    T = np.sin(np.pi * X) + 0.1 * rng.standard_normal((50, 1))
    result = dp.train_evidence(dp.mlp([1, 3, 1]), X, T, restarts=3, seed=0)
    assert result.converged and 0.08 < 1 / np.sqrt(result.beta) < 0.13  # the noise's standard deviation is 0.1
    assert 0 < result.gamma <= 10
    assert all(0 <= c.gamma <= 10 for c in result.cycles)
    Xt = np.linspace(-1, 1, 200)[:, None]
    assert np.sqrt(np.mean((dp.mlp([1, 3, 1]).forward(result.w, Xt) - np.sin(np.pi * Xt)) ** 2)) < 0.05


def test_classification_re_estimates_alpha_alone():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 2))
    T = (X[:, :1] + 0.5 * X[:, 1:] + 0.5 * rng.standard_normal((80, 1)) > 0).astype(float)
    result = dp.train_evidence(dp.mlp([2, 3, 1], output="logistic"), X, T, seed=0)
    assert result.beta is None and result.posterior.beta is None
    assert result.converged and all(a > 0 for a in result.alpha.values())


def test_bad_options_are_named():
    X, T = problem()
    net = dp.mlp([3, 1])
    with pytest.raises(ValueError, match="unknown prior 'flat'; expected one of 'groups', 'shared'"):
        dp.train_evidence(net, X, T, prior="flat")
    with pytest.raises(ValueError, match="weight_decay does not apply to train_evidence"):
        dp.train_evidence(net, X, T, weight_decay=1.0)
    with pytest.raises(ValueError, match="validation does not apply to train_evidence"):
        dp.train_evidence(net, X, T, validation=0.2)
    with pytest.raises(ValueError, match="alpha must lie in \\(0.0, inf\\]"):
        dp.train_evidence(net, X, T, alpha=0)
    with pytest.raises(ValueError, match="beta applies to linear \\(regression\\) outputs; this network's are logistic"):
        dp.train_evidence(dp.mlp([3, 1], output="logistic"), X, (T > 0).astype(float), beta=2.0)


@pytest.mark.parametrize("x_scale, t_scale", [(1.0, 10.0), (1.0, 1e-6), (1.0, 1e6), (1e-3, 1.0), (1e3, 1e-6),
                                              (1e3, 1e6)])
def test_the_evidence_does_not_depend_on_the_units_of_x_or_t(x_scale, t_scale):
    """Issue 26, item 1: the cycles work in units where X and T have unit spread, so scaling X or T changes
    nothing but the units of the answer: predictions / std(T) and gamma equal to 1e-4, and the log evidence less
    N ln t. Levenberg-Marquardt, which converges each cycle's w tightly, shows it to rounding (1e-9 here); with
    L-BFGS's looser stops the same fits differ by about 0.5% (the chaotic paths of two roundings of one problem)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 2))
    T = np.sin(2 * X[:, :1]) * X[:, 1:] + 0.1 * rng.standard_normal((60, 1))
    Xt = rng.uniform(-1, 1, (50, 2))
    net = dp.mlp([2, 5, 1])
    fit = lambda Xs, Ts: dp.train_evidence(net, Xs, Ts, method="lm", seed=0, cycles=60)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base, scaled = fit(X, T), fit(X * x_scale, T * t_scale)
    np.testing.assert_allclose(net.forward(scaled.w, Xt * x_scale) / t_scale, net.forward(base.w, Xt),
                               atol=1e-4 * T.std())
    assert scaled.gamma == pytest.approx(base.gamma, rel=1e-4) and base.gamma > 3  # not a collapsed network
    assert scaled.log_evidence + 60 * np.log(t_scale) == pytest.approx(base.log_evidence, abs=1e-4)
    _, var = scaled.posterior.predictive(Xt * x_scale)
    np.testing.assert_allclose(var / t_scale**2, base.posterior.predictive(Xt)[1], rtol=1e-4)


def test_the_regressor_without_standardisation_is_unit_free_too():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (50, 2))
    y = np.cos(2 * X[:, 0]) + 0.1 * rng.standard_normal(50)
    make = lambda: dp.NetworkRegressor(hidden=(4,), method="lm", restarts=1, standardize=False, random_state=0)  # noqa
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base, scaled = make().fit(X, y), make().fit(X * 1e3, y * 1e-5)
    np.testing.assert_allclose(scaled.predict(X * 1e3) * 1e5, base.predict(X), atol=1e-4 * y.std())
    np.testing.assert_allclose(scaled.predict(X * 1e3, return_std=True)[1] * 1e5, base.predict(X, return_std=True)[1],
                               rtol=1e-4)


def test_each_later_cycle_trains_its_iterations_from_the_last_w(monkeypatch):
    """Each later cycle continues from the last w for CYCLE_ITERATIONS iterations with no tolerance (fewer only
    where an iteration lowers nothing): with one (1e-7 of the objective) these cycles stopped after 1 to 5 L-BFGS
    iterations, whose first steps from a warm start fall little where much remains, and the hyperparameters
    "settled" where training had not reached (on yacht with hessian="ggn", 27 of 30 cycles left w where it was)."""
    from deltaprop.training import evidence

    calls = []

    def spy(*args, **kwargs):
        result = train(*args, **kwargs)
        calls.append((kwargs.get("tol"), kwargs.get("max_iter"), int(result.history["epoch"][-1])))
        return result

    train = evidence.train
    monkeypatch.setattr(evidence, "train", spy)
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (60, 1))
    T = np.sin(2 * X) + 0.05 * rng.standard_normal((60, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = dp.train_evidence(dp.mlp([1, 5, 1]), X, T, hessian="ggn", seed=3, cycles=15)
    later = calls[1:]  # the first trains from random weights; the result is the last cycle's
    assert len(calls) == len(result.cycles)
    assert evidence.CYCLE_TOL == 0.0 and len(later) >= 4
    assert all(tol == 0.0 and limit == evidence.CYCLE_ITERATIONS for tol, limit, _ in later)
    assert sum(done for _, _, done in later) > 0.9 * evidence.CYCLE_ITERATIONS * len(later), later


def test_the_result_is_the_last_cycles_w_and_laplace_approximation_with_no_training_after(monkeypatch):
    """Each cycle's training continues the last (its w and L-BFGS's curvature pairs), and no training follows the
    cycles: the result holds the last cycle's w, the alpha and beta it trained with, and its Laplace
    approximation, whose re-estimates moved by under tol where the cycles settled. (A last training of 1000
    iterations at the final alpha and beta always stopped at its limit on the UCI sets and fitted no better.)"""
    from deltaprop.training import evidence

    calls = []

    def spy(*args, **kwargs):
        result = train(*args, **kwargs)
        calls.append((kwargs.get("init"), result))
        return result

    train = evidence.train
    monkeypatch.setattr(evidence, "train", spy)
    X, T = problem()
    net = dp.mlp([3, 4, 1])
    result = dp.train_evidence(net, X, T, seed=1)
    assert result.converged and len(calls) == len(result.cycles) >= 3
    assert calls[0][0] is None and all(init is before for (init, _), (_, before) in zip(calls[1:], calls))
    assert all(r.pairs is not None for _, r in calls)  # each cycle hands its curvature pairs to the next
    last = result.cycles[-1]
    assert result.training.history["epoch"][-1] == last.iterations
    factors = result.units.factors(net)
    np.testing.assert_array_equal(result.w, calls[-1][1].w * factors)
    in_data_units = result.units.prior(net, result.prior.with_alphas(last.alpha)).alphas
    for g, a in last.alpha.items():
        assert result.alpha[g] == pytest.approx(in_data_units[g], rel=1e-12)
        assert evidence.shift(a, last.new_alpha[g], result.posterior.gamma_groups[g]) < 0.1 or \
            result.posterior.gamma_groups[g] < max(evidence.PRUNED * result.prior.sizes()[g], evidence.HARDLY)
    assert result.beta * result.units.t ** 2 == pytest.approx(last.beta, rel=1e-12)
    assert result.gamma == pytest.approx(last.gamma, rel=1e-9) and result.log_evidence != last.log_evidence


def test_an_interpolating_fit_keeps_beta_at_its_ceiling_and_a_posterior(monkeypatch):
    """A 1-10-1 network interpolates 4 patterns: E_D -> 0 re-estimated beta at 9e25 and made A singular to
    rounding, and train_evidence raised (scikit-learn's estimator checks met it with every default). beta stops at
    MAX_ALPHA, and where A is still singular the group alphas are raised (``FLOORS``) until it is not. Cycles run
    until they interpolate here by the relative 1% rule of before, which does not settle as the default does."""
    from deltaprop.training import evidence

    monkeypatch.setattr(evidence, "shift", lambda old, new, determined: abs(new - old) / old * 10)
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (4, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = dp.train_evidence(dp.mlp([1, 10, 1]), X, np.sin(3 * X), seed=0)
    assert all(c.new_beta <= evidence.MAX_ALPHA for m in result.members for c in m.cycles)
    assert np.isfinite(result.log_evidence) and np.all(np.isfinite(result.posterior.predictive(X)[1]))


def test_a_collapse_starts_again_and_ends_at_the_good_fixed_point():
    """Issue 26, item 2: from alpha = 1e6 the first training leaves w ~ 0 and the re-estimation keeps it there
    (gamma 0.0004, a constant); the cycles start again from the fan-in alphas and end where they end from there."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 2))
    T = np.sin(2 * X[:, :1]) * X[:, 1:] + 0.1 * rng.standard_normal((60, 1))
    net = dp.mlp([2, 5, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        good = dp.train_evidence(net, X, T, seed=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="the evidence ended at a degenerate fixed point")
        warnings.simplefilter("ignore", ConvergenceWarning)
        strong = dp.train_evidence(net, X, T, alpha=1e6, seed=0)
    assert good.gamma > 5 and strong.converged and strong.gamma == pytest.approx(good.gamma, rel=1e-6)


def test_a_fixed_point_that_stays_degenerate_is_told_in_one_line():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (4, 1))
    with pytest.warns(ConvergenceWarning, match="degenerate fixed point, a collapse: gamma = .* from every start tried "
                                                "\\(the first alphas, the fan-in alphas x 0.01, the fan-in alphas x 0.0001\\)"):
        result = dp.train_evidence(dp.mlp([1, 10, 1]), X, np.sin(3 * X), seed=0)
    assert not result.converged
    with pytest.warns(ConvergenceWarning, match="degenerate fixed point, one pattern: N K - gamma cannot count the "
                                                "noise's degrees of freedom"):
        est = dp.NetworkRegressor(random_state=0).fit([[0.3, 0.2]], [1.5])
    assert est.evidence_["converged"] is False


def sine(N=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (N, 1))
    return X, np.sin(np.pi * X) + 0.1 * rng.standard_normal((N, 1))


def test_the_starts_on_threads_give_the_same_result_bit_for_bit():
    X, T = sine()
    one, two = (dp.train_evidence(dp.mlp([1, 5, 1]), X, T, restarts=3, seed=0, cycles=6, n_jobs=n) for n in (None, 2))
    assert np.array_equal(one.w, two.w)
    assert one.alpha == two.alpha and one.beta == two.beta
    assert [m.posterior.log_evidence for m in one.members] == [m.posterior.log_evidence for m in two.members]
    assert [len(m.cycles) for m in one.members] == [len(m.cycles) for m in two.members]


def test_ctrl_c_while_the_starts_run_on_threads_ends_each_after_its_training(monkeypatch):
    import _thread
    import signal
    import threading
    import time

    from deltaprop.training import evidence

    calls, lock, original = [], threading.Lock(), evidence.train
    both = threading.Barrier(2, action=_thread.interrupt_main)  # Ctrl-C reaches the main thread, which waits

    def train(*args, **kwargs):
        result = original(*args, **kwargs)
        with lock:
            calls.append(threading.current_thread().name)
        both.wait(timeout=60)  # once both starts have trained (a quick start must not run the others' trainings)
        time.sleep(1.0)  # and each training outlasts the main thread's look at Ctrl-C (every 0.1 s)
        return result

    monkeypatch.setattr(evidence, "train", train)
    X, T = sine()
    handler = signal.getsignal(signal.SIGINT)
    result = dp.train_evidence(dp.mlp([1, 5, 1]), X, T, restarts=3, seed=0, cycles=30, n_jobs=2)
    assert result.training.stop_reason == "interrupted"
    assert len(result.members) == 2  # the third start had not begun
    assert len(calls) == 2  # each running start ended after the training it was in
    assert signal.getsignal(signal.SIGINT) is handler  # Ctrl-C raises again afterwards


def test_a_real_ctrl_c_ends_the_threaded_starts_with_what_they_have(tmp_path):
    status, out, err = interrupted(tmp_path, (
        "import numpy as np, deltaprop as dp\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.uniform(-1, 1, (2000, 1)); T = np.sin(np.pi * X) + 0.1 * rng.standard_normal((2000, 1))\n"
        "print('ready', flush=True)\n"
        "r = dp.train_evidence(dp.mlp([1, 30, 30, 1]), X, T, restarts=4, seed=0, n_jobs=2, cycles=10**6, tol=0.0)\n"
        "print(r.training.stop_reason, len(r.members) < 4, np.isfinite(r.log_evidence))\n"),
        ready="ready", after=4)  # the two threads train their starts' cycles
    assert status == 0, err
    assert out.split() == ["interrupted", "True", "True"]
