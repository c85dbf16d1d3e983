"""The one copy of a restart's rules, and the objective that makes every reported value on one backend."""

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.examples import seed_example
from deltaprop.training import rules
from deltaprop.numerics.prior import Prior
from deltaprop.training.objective import Objective


def test_the_rules_say_what_they_mean():
    assert rules.diverged(math.nan, 1.0) and rules.diverged(math.inf, 1.0) and not rules.diverged(1e300, 1e297)
    assert rules.diverged(2e4 + 1, 2.0) and not rules.diverged(2e4, 2.0)  # more than GROWTH times the start
    assert not rules.diverged(5.0, 0.0) and not rules.diverged(5.0, math.nan)  # no start to measure against
    assert rules.improved(1.0, 2.0) and not rules.improved(2.0, 2.0) and not rules.improved(math.nan, 2.0)
    assert rules.converged(1.0, 1.0 - 1e-12, 1e-10) and not rules.converged(1.0, 0.9, 1e-10)
    assert not rules.converged(1.0, 1.0, 0.0)  # tol 0: never
    assert not rules.converged(math.nan, 1.0, 1e-10)  # no previous epoch yet
    assert rules.converged(0.0, 0.0, 1e-10)  # E = 0 twice: no division by zero
    assert rules.patience_exhausted(15, 5, 10) and not rules.patience_exhausted(14, 5, 10)
    assert not rules.patience_exhausted(10**6, 0, 0)


def test_the_fused_loop_compiles_these_same_rules():
    from deltaprop.training import fused

    for name in ("diverged", "improved", "converged"):
        assert getattr(fused, name).py_func is getattr(rules, name)


@pytest.mark.parametrize("compiled", [True, False])
def test_every_value_a_run_reports_comes_from_one_backend(compiled):
    """The history, the best-weights choice and result.error come from one evaluator: the same bits.
    (Before, the history came from the compiled kernel and result.error from the matrix products,
    4e-15 apart, and a Ctrl-C test that compared them failed now and then.)"""
    net, X, T = seed_example(0)
    result = dp.train(net, X, T, method="sgd", batch_size=5, epochs=30, seed=1, weight_decay=0.01, snapshots=100,
                      compiled=compiled)
    assert result.engine == ("compiled" if compiled else "reference") and result.loop == "steps"
    evaluator = Objective(net, X, T, Prior.of(net, 0.01), result.engine).evaluator
    assert len(result.snapshots["epoch"]) == 31
    for epoch, w in zip(result.snapshots["epoch"], result.snapshots["w"]):
        assert evaluator.error(w) == result.history["error"][epoch]
    assert result.error == evaluator.error(result.w)
    assert result.error + result.penalty == min(result.history["error"][e] + Objective(net, X, T, Prior.of(net, 0.01)).penalty(w)
                                                for e, w in zip(result.snapshots["epoch"], result.snapshots["w"]))


def test_the_objective_adds_the_penalty_of_the_weights_not_the_biases():
    net, X, T = seed_example(0)
    w = net.init(seed=0) + 0.5
    for backend in ("compiled", "buffered", "reference"):
        objective = Objective(net, X, T, Prior.of(net, 0.3), backend)
        E, total, g = objective.full(w)
        weights = np.concatenate([w[b.offset:b.offset + b.size] for b in net.blocks if b.name.startswith("W")])
        assert total - E == pytest.approx(0.15 * weights @ weights, rel=1e-12)
        E_ref, g_ref = net.error_and_gradient(w, X, T)
        np.testing.assert_allclose(g - g_ref, w * objective.decay, rtol=1e-10, atol=1e-12)
        assert objective.value(w + 0.0)[0] == E  # value() at w is the same evaluation as full()
