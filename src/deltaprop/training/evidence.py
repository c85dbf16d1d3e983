"""The evidence framework (PRML 5.7.2; MacKay 1992): train to w_MAP, re-estimate the hyperparameters
alpha (one per group of weights) and beta from the Laplace approximation there, and repeat until they
settle. The data choose the weight decay; nothing is held out.
"""

from __future__ import annotations

import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

from ..fast.blas import one_thread
from ..numerics.curvature import NotPositiveDefinite, check_name, choose
from ..numerics.laplace import Posterior, laplace
from ..numerics.prior import Prior, block_of
from ..optimize import STOCHASTIC_METHODS
from .restarts import first_sigint_calls
from .result import Restart, TrainResult
from .train import train

PRIORS = ("groups", "shared", "relevance")
MAX_ALPHA = 1e10  # a group the data do not use at all is pruned to ~0, not divided by zero
MIN_ALPHA = 1e-10  # gamma_g ~ 0 by rounding must not make a prior improper
FLOORS = (1e-6, 1e-4, 1e-2, 1.0)  # alphas raised to these, in turn, where A is singular to rounding (working units)
#: Each later cycle's training, from the last w: this many iterations (epochs), enough for the next re-estimate to
#: be worth making,
CYCLE_ITERATIONS = 100
#: with no tolerance (fewer only where an iteration lowers nothing). With 1e-7 of the objective L-BFGS's first steps
#: from the last w, of a guessed length before it knows any curvature, ended cycles where much remained: on yacht
#: with hessian="ggn" 27 of 30 cycles trained one or two iterations, w left where it was (test LL -0.91 over the 20
#: splits, -0.44 without); tested from L-BFGS's 11th iteration only, the cycles still stopped on such plateaus and
#: settled there (-0.84), as the 3-unit candidate on 120 points from a 1-3-1 network did, at a one-unit fit's log
#: evidence (137 against 187). The cost: a 784-100-10 classifier's cycles train 55 to 83 iterations instead of 11 to
#: 17, to the same gamma (41 s against 28).
CYCLE_TOL = 0.0
#: Levenberg-Marquardt's and scaled conjugate gradients' steps are scaled by curvature from the first: their cycles
#: end where the objective changes by under this share of itself (LM then meets each cycle's w_MAP to rounding, and
#: the fixed point reached is the same in any units to 1e-9; with no tolerance it wanders on rounding, 3e-4).
CURVATURE_SCALED_TOL = {"lm": 1e-7, "scg": 1e-7}
RETRY_WEAKER = (1e-2, 1e-4)  # after a collapse, the cycles start again from the fan-in alphas times these
RETRY_STRONGER = (1e2, 1e4)  # after an over-fit, from these
PRUNED = 0.01  # a group with fewer well-determined parameters than this share of its own is being pruned,
HARDLY = 0.5  # as is one with fewer than this many in all (a single bias: its alpha = gamma / b^2 swings with b ~ 0)


@dataclass(frozen=True)
class Cycle:
    """One cycle of ``train_evidence``: the hyperparameters it trained with, what the Laplace approximation
    at the w it reached says, and the hyperparameters re-estimated from it (PRML 5.178, 5.180)."""

    cycle: int
    alpha: dict
    beta: Optional[float]
    gamma: float
    log_evidence: float
    error: float
    hessian: str
    new_alpha: dict
    new_beta: Optional[float]
    iterations: int


@dataclass
class EvidenceResult:
    """What ``train_evidence`` found.

    Attributes
    ----------
    w : ndarray
        w_MAP at the final hyperparameters.
    alpha : dict
        The prior precision of each group of weights (PRML 5.178).
    beta : float or None
        The noise precision (PRML 5.180); None for classification.
    gamma : float
        The effective number of well-determined parameters (PRML 5.179).
    log_evidence : float
        ln p(D | alpha, beta) at the end (PRML 5.175; 5.183 for classification).
    posterior : Posterior
        The Laplace approximation at w (``posterior.predictive(X)`` for error bars); ``posterior.hessian``
        is the structure used and ``posterior.notes`` why.
    cycles : list of Cycle
        One record per cycle of training and re-estimation.
    converged : bool
        Whether alpha and beta settled (``shift`` below ``tol``) before ``cycles`` ran out, at a fixed
        point that is not degenerate (``degenerate``); the alpha of a group the data hardly determine (gamma_g
        below 1% of its W_g, or below half a parameter: the evidence is pruning it, its alpha growing without
        end) need not settle.
    training : TrainResult
        The last cycle's training, at ``alpha`` and ``beta``, from the w before (from random weights where
        the cycles ended at the first); ``training.pairs`` its curvature pairs, to train on from.
    first : TrainResult
        The kept start's first training, from random weights; its ``restarts`` summarise every start's last
        training (its E, iterations and why it stopped), ``best_restart`` the kept one.
    prior : Prior
        The final prior (``alpha`` as a ``Prior`` value).
    units : Units
        The units the cycles worked in (``cycles`` holds their alphas, betas and errors in them); everything
        else here is in the data's units.
    members : list of Member
        Every start's answer, most evidence first, the degenerate ones left out where any is not: what a
        ``Committee`` of their posteriors predicts with. The result's w, alpha, beta and posterior are the first's.
    """

    w: np.ndarray
    alpha: dict
    beta: Optional[float]
    gamma: float
    log_evidence: float
    posterior: Posterior
    cycles: list
    converged: bool
    training: TrainResult
    first: TrainResult
    prior: Prior = field(repr=False, default=None)
    units: Optional["Units"] = None
    members: list = field(repr=False, default_factory=list)


@dataclass(frozen=True)
class _Problem:
    """What every cycle needs: the network, the data (as given, and as float64 for the Laplace
    approximation), and the options of the cycles and of their trainings."""

    net: Any
    X: Any
    T: Any
    X64: np.ndarray
    T64: np.ndarray
    regression: bool
    shared: bool
    cycles: int
    tol: float
    hessian: str
    method: str
    options: dict
    stop: Optional[threading.Event] = None  # set by Ctrl-C while the starts run on threads

    def train(self, prior: Prior, beta: Optional[float], **start) -> TrainResult:
        """Train to w_MAP of beta E_D + sum_g alpha_g/2 ||w_g||^2: weight decay alpha_g / beta per group. A
        training that ends after Ctrl-C on a thread (``stop``) is one that was interrupted."""
        decay = prior.scaled(1.0 / beta) if self.regression else prior
        options = {**self.options, **start}
        if "max_iter" in start:
            options.pop("epochs", None)
        result = train(self.net, self.X, self.T, method=self.method, weight_decay=decay, **options)
        if self.stopped() and result.stop_reason not in ("interrupted", "diverged"):
            result = replace(result, stop_reason="interrupted")
        return result

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def laplace(self, w: np.ndarray, prior: Prior, beta: Optional[float]) -> Posterior:
        """The Laplace approximation at w. Where A is singular to rounding (a group's alpha re-estimated towards
        ``MIN_ALPHA`` while the data determine few of its weights: a network interpolating a handful of
        patterns), its alphas are raised to ``FLOORS`` in turn until it is not; the posterior says which alphas
        it took (``alpha``), and ``degenerate`` judges the fit."""
        beta = beta if self.regression else None
        for floor in (0.0,) + FLOORS:
            floored = prior.with_alphas({g: max(a, floor) for g, a in prior.alphas.items()}) if floor else prior
            try:
                return laplace(self.net, w, self.X64, self.T64, floored, beta, hessian=self.hessian)
            except NotPositiveDefinite:
                if floor == FLOORS[-1]:
                    raise


@dataclass(frozen=True)
class Units:
    """The units the evidence works in: X / x and T / t, x and t the spread of all of X and of all of T about
    its column means (t = 1 for classification), so that the fixed point reached does not depend on the units the
    data come in (one number each: the prior of a group is isotropic, so a change of units must scale all of a
    group's weights alike). A weight into layer j from layer i is w_data = w_work t_j / x_i, with t_j = t for the
    output layer and x_i = x for the input layer (1 otherwise); alpha_g scales by the inverse square, beta by
    1 / t^2, E and the penalty by t^2, and ln p(D) by -N K ln t (the density of T)."""

    x: float
    t: float

    @classmethod
    def of(cls, X: np.ndarray, T: np.ndarray, regression: bool) -> "Units":
        with np.errstate(all="ignore"):  # bad data are told by train's checks, not here
            x = float(np.std(X))
            t = float(np.std(T - T.mean(axis=0))) if regression and T.ndim == 2 and T.size else 1.0
        return cls(x if math.isfinite(x) and x > 0 else 1.0, t if math.isfinite(t) and t > 0 else 1.0)

    def factors(self, net) -> np.ndarray:
        """w_data / w_work for each entry of w."""
        f = np.ones(net.n_params)
        for c in net.connections:
            b = net.block(c.name)
            f[b.offset : b.offset + b.size] = (self.t if c.dst == net.output else 1.0) / (self.x if c.src == net.input
                                                                                         else 1.0)
        b = net.block(f"b[{net.output}]")
        f[b.offset : b.offset + b.size] = self.t
        return f

    def prior(self, net, prior: Prior) -> Prior:
        """A prior on working weights as the same prior on the data's weights."""
        f = self.factors(net)
        return prior.with_alphas({g: a / f[s.start] ** 2 for (g, a), s in zip(prior.alphas.items(), prior.slices.values())})

    def result(self, net, r: TrainResult) -> TrainResult:
        """A training in working units in the data's: w, E, the penalty, beta_ML, the history's E and the snapshots
        (the gradient norms stay those of the working units)."""
        f, t2 = self.factors(net), self.t**2
        return replace(r, w=r.w * f, error=r.error * t2, penalty=r.penalty * t2,
                       beta=None if r.beta is None else r.beta / t2,
                       history={**r.history, "error": r.history["error"] * t2},
                       snapshots={**r.snapshots, "w": r.snapshots["w"] * f},
                       restarts=[replace(x, error=x.error * t2) for x in r.restarts])


def train_evidence(net, X: Any, T: Any, *, prior: str = "groups", alpha: Optional[float] = None,
                   beta: Optional[float] = None, cycles: int = 80, tol: float = 0.1, hessian: str = "auto",
                   method: str = "lbfgs", restarts: int = 1, seed: Any = None, n_jobs: Optional[int] = None,
                   **options: Any) -> EvidenceResult:
    """Train ``net`` with its weight decay set by the evidence (PRML 5.7.2).

    Each cycle trains to w_MAP of E = beta E_D + sum_g alpha_g/2 ||w_g||^2 (``weight_decay`` alpha_g/beta
    per group), forms the Laplace approximation there (``dp.laplace``) and re-estimates

        alpha_g = gamma_g / ||w_g||^2,   beta = (N K - gamma) / sum_n ||y_n - t_n||^2     (PRML 5.178, 5.180)

    with gamma_g = W_g - alpha_g Tr_g(A^-1) (MacKay 1992); classification has no beta (5.7.3).

    The re-estimation has several fixed points, and which one a run reaches depends on where it starts; so each
    of the ``restarts`` starts trains from its own random weights and runs its own cycles (MacKay's practice),
    and every start's answer is kept (``members``, most evidence first), for a ``Committee`` to predict with;
    the result's w, alpha, beta and posterior are those of the start of most evidence. Within a start, each
    later cycle continues from the last (its w, and lbfgs's curvature pairs: ``train(init=result)``, so that the
    cycles' trainings are one L-BFGS run whose objective changes every cycle) and trains only until the next
    re-estimate is worth making (``CYCLE_ITERATIONS`` iterations, fewer only where one lowers nothing:
    ``CYCLE_TOL``; lm and scg to a tolerance, ``CURVATURE_SCALED_TOL``), until alpha and beta move by less than
    ``tol`` of their own posterior standard deviations in a cycle (``shift``). The result is that last cycle's:
    its w, the hyperparameters it trained with and the Laplace approximation there (its re-estimates moved by
    under ``tol``). No longer training follows: on the UCI sets one of 1000 iterations at the final alpha and beta
    always stopped at its limit, moved them again by 0.3 to 4 of those deviations, and fitted no better (test
    log-likelihood over 20 splits: -2.487, -2.938, -0.612, -0.580 with it, against -2.477, -2.974, -0.591,
    -0.434 without, on Boston, concrete, energy and yacht, in 0.6 to 1.1 of the time; every fit settled within
    58 cycles, 61 of the 80 within 30 with it). A fixed point that is degenerate (``degenerate``: a collapse
    to a constant, an over-fit that leaves the noise under 3 degrees of freedom, or a single pattern) starts
    that start's cycles again from the fan-in alphas times ``RETRY_WEAKER`` (after a collapse) or
    ``RETRY_STRONGER`` (after an over-fit), and is left out of ``members`` where another start is sound; where
    every start ends so, a ``ConvergenceWarning`` names what happened and ``converged`` is False. The cycles
    work in units where X and T have unit spread (``Units``), so that the answer does not depend on the data's units.

    A cycle's training that stops at ``CYCLE_ITERATIONS`` is not told (the next continues it); one that stops at
    a lower limit of the caller's (``max_iter``) in the last cycle, and hyperparameters that do not settle within
    ``cycles``, are each told once, as a ``ConvergenceWarning``. Ctrl-C or a diverged
    training stops a start's cycles (Ctrl-C the starts too): the result then holds that training
    (``training.stop_reason``) and the posterior at its w.

    Cost: per start, a plain training from random weights, at most ``cycles`` cycles of at most
    ``CYCLE_ITERATIONS`` iterations and one Laplace approximation each, whose structure "auto" chooses so that
    it costs a small part of a training (``deltaprop.numerics.curvature``).

    Parameters
    ----------
    prior : {"groups", "shared", "relevance"}
        "groups" (default): one alpha for each group of w, each layer's weights and each layer's biases
        apart, the consistent prior of PRML 5.5.1; "shared": one alpha for all of w; "relevance": as "groups",
        but the weights from the input layer take one alpha per input (``W[h1<-x][:, i]``, the weights input i
        sends to h1): automatic relevance determination (MacKay 1994, Neal 1996), where the evidence prunes
        the inputs the data do not need (their alphas grow without end). Its fixed points depend on where the
        inputs' alphas start: from the fan-in alphas an input the first trainings use little is pruned at once,
        while from one settled alpha per connection every input starts equal. So with ``restarts`` over one
        the starts alternate: the first, third, ... split from their first cycle; the second, fourth, ... run
        the cycles with one alpha per connection until they settle (``Prior.blocks``), then split it per input,
        every input at the settled value, and run the cycles again from that w (up to ``cycles`` each time;
        ``cycles`` lists both). (On the UCI sets' 20 splits each kind alone lost on some set: splitting at
        once reached Boston's RMSE 2.89 and LL -2.39 but energy's -0.71 and yacht's -0.46; splitting after
        settling, energy -0.53 and yacht -0.00 but Boston -2.41; their committee, -2.33 / -0.57 / -0.15.)
    alpha : float
        The first alpha of every group; by default the precision of the distribution the initial weights
        are drawn from (``Prior.initial``: each unit's fan-in), so that training starts from a prior
        the random start agrees with. The evidence may have several fixed points: started from a broad
        prior (alpha = 0.01) on the diabetes data a 10-20-1 network settled at gamma = 194 of 241
        parameters and a test R^2 of -0.22; from this start, at gamma = 25, R^2 0.53 and a log evidence
        higher by 245.
    beta : float
        The first beta; default 1 / Var(T), as if the network explained nothing.
    cycles : int
        The most cycles of training and re-estimation.
    tol : float
        The cycles end when no alpha_g and not beta moves in a cycle by ``tol`` of its own posterior standard
        deviation or more (``shift``; default 0.1: about a 1% change for a group of 130 well-determined weights
        or for beta with 300 degrees of freedom, 7% for an output bias alone).
    hessian : {"auto", "exact", "ggn", "kron", "diag", "last_layer"}
        The structure of the Laplace approximation's H (``dp.laplace``). "auto" chooses once, by the size
        of the network and of the data. ``last_layer`` re-estimates the output layer's alphas alone (the
        layers below are held at w_MAP); theirs stay at their first values.
    restarts : int
        The starts, each from its own random weights with its own cycles; their seeds derive from ``seed``.
    n_jobs : int
        The starts run on this many threads (joblib's count: -1 all cores; None one, unless inside
        ``joblib.parallel_config(n_jobs=...)``); the compiled loops and the Laplace approximation's
        products release the GIL, so two threads fit Boston's three starts in 0.58 s against 0.86 s on two
        cores (measured). The result is the same, bit for bit, at any n_jobs. On threads, Ctrl-C ends each
        start after its current training (within ``CYCLE_ITERATIONS`` iterations in the cycles), starts not
        begun are left out, and the trainings show no progress bar.
    method, seed, **options
        As ``dp.train``. ``weight_decay``, ``init`` and ``restarts`` (of each training) are set here.
    """
    from ..engine.outputs import require_canonical
    from .config import number, positive_int

    require_canonical(net, "the evidence (its Laplace approximation)")  # before any training
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; expected one of {', '.join(map(repr, PRIORS))}")
    for name in ("weight_decay", "init", "validation", "early_stopping"):
        if name in options:
            raise ValueError(f"{name} does not apply to train_evidence: the evidence sets the weight decay from "
                             f"the training data, with nothing held out")
    cycles = positive_int("cycles", cycles)
    tol = number("tol", tol, 0.0)
    alpha0 = None if alpha is None else number("alpha", alpha, 0.0, low_open=True)
    hessian = check_name("ggn" if hessian == "outer_product" else hessian)
    regression = net.layers[net.output].activation.name == "linear"
    X64, T64 = np.asarray(X, dtype=np.float64), np.asarray(T, dtype=np.float64)
    if T64.ndim == 1:
        T64 = T64.reshape(-1, 1)
    units = Units.of(X64, T64, regression)
    if regression:  # in working units, where T has unit spread
        beta = 1.0 / max(float(np.mean((T64 / units.t - (T64 / units.t).mean(0)) ** 2)), 1e-12) if beta is None \
            else number("beta", beta, 0.0, low_open=True) * units.t**2
    elif beta is not None:
        raise ValueError(f"beta applies to linear (regression) outputs; this network's are "
                         f"{net.layers[net.output].activation.name}")
    chosen = ()
    if hessian == "auto" and X64.ndim == 2:
        hessian, why = choose(net, X64.shape[0])
        chosen = (f"hessian 'auto' took {hessian!r}: {why}",)
    # every group has a prior, so that A is positive definite
    first_prior = fan_in = Prior.initial(net, shared=prior == "shared", relevance=prior == "relevance")
    if alpha0 is not None:  # given in the data's units
        f = units.factors(net)
        first_prior = first_prior.with_alphas({g: alpha0 * f[s.start] ** 2 for g, s in first_prior.slices.items()})
    float32 = getattr(X, "dtype", None) == np.float32 and getattr(T, "dtype", None) == np.float32
    dtype = np.float32 if float32 else np.float64
    Xw, Tw = (X64 / units.x).astype(dtype), (T64 / units.t).astype(dtype)
    problem = _Problem(net, Xw, Tw, Xw.astype(np.float64), Tw.astype(np.float64), regression, prior == "shared",
                       cycles, tol, hessian, method, options)
    from sklearn.exceptions import ConvergenceWarning

    restarts = positive_int("restarts", restarts)
    seeds = [seed] if restarts == 1 else (seed if isinstance(seed, np.random.SeedSequence)
                                          else np.random.SeedSequence(seed)).spawn(restarts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        runs = _run_starts(problem, first_prior, fan_in, beta, seeds, alpha0 is not None, n_jobs,
                           staged=len(fan_in.alphas) > len(fan_in.blocks(net).alphas))
    for c in caught:  # the cycles' trainings may stop at their limits (they continue from w); others are told
        if not issubclass(c.category, ConvergenceWarning):
            warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
    members = [_member(net, problem, units, index, run, X64, T64, chosen) for index, (run, _) in enumerate(runs)]
    sound = [m for m in members if m.degenerate is None and m.training.stop_reason not in ("interrupted", "diverged")]
    kept = sorted(sound or members, key=lambda m: -m.posterior.log_evidence)
    best = kept[0]
    limit = _cycle_iterations(problem.options)
    if limit < CYCLE_ITERATIONS and best.training.stop_reason == "max epochs":  # the caller's limit, not the cycles'
        warnings.warn(f"{method} stopped at its limit of {limit} iteration{'s' if limit > 1 else ''} in the last cycle "
                      f"(a cycle trains up to {CYCLE_ITERATIONS}), the objective still changing, so that the "
                      f"hyperparameters settled only as far as w moved; raise max_iter", ConvergenceWarning,
                      stacklevel=2)
    if not sound and best.degenerate is not None:
        tried = [", ".join(t) for _, t in runs]
        where = (f"from every start tried ({tried[0]})" if len(tried) == 1 else
                 f"from each of the {len(tried)} starts ({tried[0]})" if len(set(tried)) == 1 else
                 f"from every start tried ({'; '.join(tried)})")
        warnings.warn(f"the evidence ended at a degenerate fixed point, {best.degenerate}, {where}; the "
                      f"hyperparameters are kept but mean little", ConvergenceWarning, stacklevel=2)
    elif not best.converged and best.training.stop_reason not in ("interrupted", "diverged"):
        warnings.warn(f"the hyperparameters did not settle (move by less than {tol:g} of their posterior standard "
                      f"deviations in a cycle) within {cycles} cycles; the result holds the last cycle's; raise cycles "
                      f"or tol",
                      ConvergenceWarning, stacklevel=2)
    first = replace(best.first, restarts=[Restart(m.index, m.first.restarts[0].seed, m.training.error, None,
                                                  int(m.training.history["epoch"][-1]), m.training.stop_reason)
                                          for m in members], best_restart=best.index)
    return EvidenceResult(best.w, dict(best.prior.alphas), best.beta, best.posterior.gamma,
                          best.posterior.log_evidence, best.posterior, best.cycles, best.converged and bool(sound),
                          best.training, first, best.prior, units, kept)


def _member(net, problem: _Problem, units: Units, index: int, run: _Attempt, X64, T64, chosen: tuple) -> Member:
    """A start's attempt in the data's units. Its posterior is the same Gaussian, w scaled; gamma is counted in
    the working units, where a negative curvature dropped (as Netlab) is the same whatever the data's units; the
    log evidence is the working units' less N K ln t, the density of T in its own units."""
    working = run.posterior
    w, prior = run.result.w * units.factors(net), units.prior(net, run.prior)
    beta = None if run.beta is None else run.beta / units.t**2
    post = laplace(net, w, X64, T64, prior, beta, hessian=working.hessian)
    post = replace(post, gamma=working.gamma, gamma_groups=working.gamma_groups,
                   log_evidence=working.log_evidence - T64.size * math.log(units.t), notes=chosen + working.notes)
    return Member(index, w, prior, beta, post, run.converged, run.cycles, units.result(net, run.first),
                  units.result(net, run.result), run.wrong)



@dataclass
class _Attempt:
    """The cycles from one start, the last cycle's prior, beta, training and Laplace approximation (working units),
    with what is degenerate about it (``degenerate``) or None."""

    prior: Prior
    beta: Optional[float]
    converged: bool
    cycles: list
    first: TrainResult
    result: TrainResult
    posterior: Posterior
    wrong: Optional[str]


def _run_starts(problem: _Problem, first_prior: Prior, fan_in: Prior, beta: Optional[float], seeds: list,
                caller_alpha: bool, n_jobs: Optional[int], staged: bool = False) -> list:
    """Every start (``_start``), in the order of ``seeds``: one after another (Ctrl-C: the starts run so far), or
    on ``n_jobs`` threads, where the first Ctrl-C sets ``problem.stop`` (``restarts.first_sigint_calls``): each
    running start ends after its training, and starts not begun are left out. ``staged``: the second start, the
    fourth, ... settle one alpha per connection before they split it per input (``_attempt``)."""
    import joblib

    stages = [staged and i % 2 == 1 for i in range(len(seeds))]
    threads = min(joblib.effective_n_jobs(n_jobs), len(seeds))
    if threads <= 1:
        runs: list = []
        for seed in seeds:
            runs.append(_start(problem, first_prior, fan_in, beta, seed, caller_alpha, stages[len(runs)]))
            if runs[-1][0].result.stop_reason == "interrupted":
                break
        return runs
    problem = replace(problem, stop=threading.Event(), options={**problem.options, "progress": False})
    runs = [None] * len(seeds)

    def start(i: int) -> None:
        run = _start(problem, first_prior, fan_in, beta, seeds[i], caller_alpha, stages[i])
        if run is not None:
            runs[i] = run

    with one_thread(scipy_only=True), first_sigint_calls(problem.stop.set), ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(start, i) for i in range(len(seeds))]
        while not all(future.done() for future in futures):
            wait(futures, timeout=0.1)  # the main thread runs Python's signal handlers only between waits
        for future in futures:
            future.result()  # a start's error, raised here
    runs = [run for run in runs if run is not None]
    if not runs:  # Ctrl-C before any start began
        raise KeyboardInterrupt
    return runs


def _attempt(problem: _Problem, prior: Prior, beta: Optional[float], seed: Any, staged: bool = False) -> _Attempt:
    """One start's cycles from random weights under ``prior``. ``staged`` (a prior with one alpha per input): first
    the cycles with one alpha per connection (``Prior.blocks``, each at its first column's), until they settle;
    then each connection's alpha split per input, all at its settled value, and the cycles again, from that w."""
    history: list = []
    if staged:
        joined, beta, result, converged, first, stopped, post = _cycles(problem, prior.blocks(problem.net), beta,
                                                                       history, seed)
        if stopped:
            prior = joined
        else:
            prior = prior.with_alphas({g: joined.alphas[block_of(g)] for g in prior.alphas})
            prior, beta, result, converged, _, stopped, post = _cycles(problem, prior, beta, history, seed, result)
    else:
        prior, beta, result, converged, first, stopped, post = _cycles(problem, prior, beta, history, seed)
    if stopped:  # Ctrl-C, or no w_MAP: the posterior at the w it left
        post = problem.laplace(result.w, prior, beta)
    prior = prior.with_alphas(post.alpha)  # raised where A was singular to rounding
    wrong = None if result.stop_reason in ("interrupted", "diverged") else degenerate(problem, post, beta)
    return _Attempt(prior, beta, converged, history, first, result, post, wrong)


def _start(problem: _Problem, first_prior: Prior, fan_in: Prior, beta: Optional[float], seed: Any,
           caller_alpha: bool, staged: bool = False) -> Optional[tuple[_Attempt, list]]:
    """One start: its cycles from random weights, and, where they end at a degenerate fixed point, again from
    other alphas (a collapse from weaker ones, an over-fit from stronger: MacKay's fixed points differ by
    where they start). Returns the attempt kept and the starts tried (for the warning); None where Ctrl-C came
    before the start began (``problem.stop``)."""
    if problem.stopped():
        return None
    run = _attempt(problem, first_prior, beta, seed, staged)
    tried: list = ["the first alphas" if not caller_alpha else "the alpha given"]
    retries = {"a collapse": RETRY_WEAKER, "an over-fit": RETRY_STRONGER}.get((run.wrong or "").split(":")[0], ())
    if caller_alpha and retries:  # a start of the caller's: the fan-in start first
        retries = (1.0,) + retries
    for factor in retries:
        if problem.stopped():
            break
        tried.append(f"the fan-in alphas x {factor:g}")
        again = _attempt(problem, fan_in.scaled(factor), beta, seed, staged)
        if again.wrong is None and again.result.stop_reason not in ("interrupted", "diverged"):
            return again, tried
    return run, tried


@dataclass
class Member:
    """One start's answer, in the data's units: its w, prior, beta and Laplace approximation (``posterior``,
    whose ``log_evidence`` judges it), whether its hyperparameters settled, its cycles (working units) and its
    trainings."""

    index: int
    w: np.ndarray
    prior: Prior
    beta: Optional[float]
    posterior: Posterior
    converged: bool
    cycles: list
    first: TrainResult
    training: TrainResult
    degenerate: Optional[str]


def _cycles(problem: _Problem, prior: Prior, beta: Optional[float], history: list, seed: Any,
            result: Optional[TrainResult] = None) -> tuple:
    """The cycles of training and re-estimation; each appends its ``Cycle`` to ``history``, and each training
    continues from the last (its w, and lbfgs's curvature pairs: ``train(init=result)``), the first from
    ``result`` where one is given, else from random weights. Returns the last
    training's prior and beta, that training, whether the hyperparameters settled (their re-estimates at its w
    moved by less than ``tol``), the first training, whether Ctrl-C or a divergence stopped the cycles, and the
    Laplace approximation at its w (the one before, where they were stopped)."""
    first, post = None, None
    for cycle in range(1, problem.cycles + 1):
        if result is None:
            start = {"seed": seed}
        else:  # mini-batch methods keep their own tolerance (off) and epochs
            start = {"init": result, "seed": seed} if problem.method in STOCHASTIC_METHODS else \
                {"init": result, "seed": seed, "tol": CURVATURE_SCALED_TOL.get(problem.method, CYCLE_TOL),
                 "max_iter": _cycle_iterations(problem.options)}
        result = problem.train(prior, beta, **start)
        first = first or result
        w = result.w
        if result.stop_reason in ("interrupted", "diverged"):  # Ctrl-C, or no w_MAP
            return prior, beta, result, False, first, True, post
        post = problem.laplace(w, prior, beta)
        new, new_beta, moved = _re_estimate(problem, prior, beta, w, post)
        history.append(Cycle(len(history) + 1, dict(prior.alphas), beta, post.gamma, post.log_evidence, post.error, post.hessian,
                             new, new_beta, int(result.history["epoch"][-1])))
        if moved < problem.tol or cycle == problem.cycles:
            return prior, beta, result, moved < problem.tol, first, False, post
        prior, beta = prior.with_alphas(new), new_beta


def _re_estimate(problem: _Problem, prior: Prior, beta: Optional[float], w: np.ndarray, post: Posterior) -> tuple:
    """MacKay's re-estimates at w from its Laplace approximation: alpha_g = gamma_g / ||w_g||^2 and beta = (N K -
    gamma) / 2 E_D (PRML 5.178, 5.180), and how far they moved (``shift``: the largest over the hyperparameters; a
    group the data do not determine, gamma_g ~ 0, is being pruned, its alpha growing without end, and is left out).
    Returns (the new alphas, the new beta, how far)."""
    squares = prior.squares(w)
    new = dict(prior.alphas)  # groups the structure does not cover (last_layer) keep their alphas
    for g, gamma_g in post.gamma_groups.items():
        new[g] = float(np.clip(gamma_g / squares[g], MIN_ALPHA, MAX_ALPHA)) if squares[g] > 0 else MAX_ALPHA
    if problem.shared:  # alpha = gamma / w^T w over the weights covered (PRML 5.178)
        total = sum(squares[g] for g in post.gamma_groups)
        one = float(np.clip(post.gamma / total, MIN_ALPHA, MAX_ALPHA)) if total > 0 else MAX_ALPHA
        moves = [shift(next(iter(prior.alphas.values())), one, post.gamma)]
        new = {g: one for g in prior.alphas}
    else:
        sizes = prior.sizes()
        moves = [shift(a, new[g], post.gamma_groups[g]) for g, a in prior.alphas.items()
                 if g in post.gamma_groups and post.gamma_groups[g] >= max(PRUNED * sizes[g], HARDLY)]
    new_beta = None
    if problem.regression:
        NK = problem.X64.shape[0] * problem.net.K
        # with fewer patterns than well-determined parameters NK - gamma can fall to 0 or below: keep one
        # degree of freedom for the noise, so that beta stays a precision
        new_beta = min(max(NK - post.gamma, 1.0) / (2.0 * post.error), MAX_ALPHA) if post.error > 0 else MAX_ALPHA
        moves.append(shift(beta, new_beta, NK - post.gamma))
    return new, new_beta, max(moves, default=0.0)


def shift(old: float, new: float, determined: float) -> float:
    """How far a re-estimate moved a hyperparameter, in standard deviations of its own posterior: |ln(new / old)|
    over sqrt(2 / determined), ``determined`` the well-determined parameters its data count (gamma_g for alpha_g,
    N K - gamma for beta), the evidence being about Gaussian in ln alpha with variance 2 / gamma (MacKay 1992). A
    change of 5% in the alpha of one output bias (gamma_g ~ 1) moves it by 0.035 of its standard deviation and
    changes the log evidence by under 0.001 nats; 1% in the alpha of 130 input weights, by 0.08."""
    return abs(math.log(new / old)) * math.sqrt(max(determined, 0.0) / 2.0)


def degenerate(problem: _Problem, post: Optional[Posterior], beta: Optional[float]) -> Optional[str]:
    """What is wrong with a fixed point, in a few words with its numbers, or None where nothing is:

    - one pattern: N K - gamma cannot count the noise's degrees of freedom, so beta means nothing;
    - a collapse: under one well-determined parameter and a fit no better than a constant (the mean of T, or
      the classes' frequencies): the prior pruned the whole network;
    - an over-fit: beta at its ceiling, or fewer than 3 of the N K degrees of freedom left for the noise
      (N K - gamma < 3, PRML 5.180): the network interpolates the data and beta is no noise estimate."""
    if post is None:
        return None
    T, NK = problem.T64, problem.T64.size
    if T.shape[0] == 1:
        return "one pattern: N K - gamma cannot count the noise's degrees of freedom"
    if problem.regression:
        constant = 0.5 * float(np.sum((T - T.mean(axis=0)) ** 2))
    else:
        p = np.clip(T.mean(axis=0), 1e-12, 1 - 1e-12)
        constant = float(-np.sum(T * np.log(p)) - (np.sum((1 - T) * np.log(1 - p)) if T.shape[1] == 1 else 0.0))
    if post.gamma < 1 and post.error >= 0.99 * constant:
        return f"a collapse: gamma = {post.gamma:.3g} and a fit no better than a constant"
    if problem.regression and (beta >= 0.999 * MAX_ALPHA or NK - post.gamma < 3):
        return f"an over-fit: gamma = {post.gamma:.4g} of N K = {NK} ({NK - post.gamma:.3g} left for the noise)"
    return None


def _cycle_iterations(options: dict) -> int:
    """A later cycle's limit: ``CYCLE_ITERATIONS``, or the user's own limit where it is lower."""
    limit = options.get("max_iter") or options.get("epochs")
    return min(CYCLE_ITERATIONS, limit) if limit else CYCLE_ITERATIONS
