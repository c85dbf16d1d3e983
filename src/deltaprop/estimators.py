"""scikit-learn estimators: a layered network trained by ``deltaprop.train``, with its scaling,
target encoding, model file (``save``, ``load``) and the quantities the command line prints.

``NetworkRegressor`` has linear outputs with the sum-of-squares error and
gives a predictive standard deviation from beta_ML (PRML 5.16);
``NetworkClassifier`` has a logistic output for two classes and softmax
outputs for more, with the cross-entropy error (PRML 5.21, 5.24).
"""

from __future__ import annotations

import json
from numbers import Integral, Real
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

import contextlib
import os
import re
import sys
import warnings

from .engine.activations import ACTIVATIONS
from .engine.network import mlp
from .io import MEMBER, ModelFile, ModelFileError, jsonable, network_tensors, network_to_dict, write_model
from .numerics import gaussian_nll
from .numerics.curvature import HESSIANS, STRUCTURES
from .numerics.prior import Prior
from .numerics.laplace import COMMITTEES, Committee, restored

MAX_MEMBERS = 64  # the most starts a model file's committee holds
from .optimize import METHODS, STOCHASTIC_METHODS
from .training import TrainingWarning, train, train_evidence


def _scaler(A: np.ndarray, enabled: bool, what: str, names=None) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 where a column is constant); zeros and ones when disabled.

    A column whose squares overflow float64 (|values| beyond about 1e154) has no standard deviation:
    it is refused by name, so that no overflow reaches the network (nor a RuntimeWarning the user)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, scale = A.mean(axis=0), A.std(axis=0)
        square = np.max(A * A, axis=0) if A.size else np.zeros(A.shape[1])
    bad = ~(np.isfinite(mean) & np.isfinite(scale) & np.isfinite(square))
    if bad.any():
        j = int(np.argmax(bad))
        name = f"{names[j]!r}" if names is not None else str(j)
        raise ValueError(f"{what} column {name} holds {A[np.argmax(np.abs(A[:, j])), j]:.3g}, whose square overflows "
                         f"float64; rescale it (values up to about 1e150 can be squared)")
    if not enabled:
        return np.zeros(A.shape[1]), np.ones(A.shape[1])
    return mean, np.where(scale > 0, scale, 1.0)



#: The training functions' advice in the estimators' words: they have no ``cycles`` or ``tol``.
_ESTIMATOR_SPELLINGS = ((r"; raise cycles or tol$", ""),)
_OURS = tuple(os.path.dirname(os.path.abspath(m.__file__)) for m in (sys.modules[__package__], sys.modules["sklearn"]))


@contextlib.contextmanager
def _told_at_the_callers_line():
    """Warnings raised by training, told at the caller's line (the first frame outside deltaprop and scikit-learn,
    where ``fit`` was called) instead of inside this module, in the estimators' words; each once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    frame = sys._getframe(0)
    while frame is not None and (frame.f_code.co_filename.startswith(_OURS) or "contextlib" in frame.f_code.co_filename):
        frame = frame.f_back
    seen = set()
    for w in caught:
        message = str(w.message)
        for pattern, replacement in _ESTIMATOR_SPELLINGS:
            message = re.sub(pattern, replacement, message)
        if (message, w.category) in seen:
            continue
        seen.add((message, w.category))
        if frame is None:
            warnings.warn(message, w.category, stacklevel=2)
        else:
            warnings.warn_explicit(message, w.category, frame.f_code.co_filename, frame.f_lineno,
                                   module=frame.f_globals.get("__name__"),
                                   registry=frame.f_globals.setdefault("__warningregistry__", {}))

class _NetworkEstimator(BaseEstimator):
    """What the regressor and the classifier share: parameters, the network, training."""

    _fixed_weight_decay = 1.0  # where the evidence cannot run and was not asked for by name
    _evidence_prior = "groups"  # train_evidence's prior

    _parameter_constraints: dict = {
        "hidden": ["array-like"],
        "activation": [StrOptions({n for n, a in ACTIVATIONS.items() if not a.output_only})],
        "method": [StrOptions(set(METHODS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left"), StrOptions({"evidence"}), None],
        "restarts": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "standardize": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "progress": ["boolean"],
        "snapshots": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        hidden=(20,),
        activation: str = "tanh",
        method: str = "lbfgs",
        learning_rate: Optional[float] = None,
        max_iter: Optional[int] = None,
        batch_size: Optional[int] = None,
        weight_decay: Any = None,
        restarts: int = 3,
        early_stopping: Optional[int] = None,
        validation_fraction: Optional[float] = None,
        standardize: bool = True,
        random_state: Any = None,
        n_jobs: Optional[int] = None,
        progress: bool = False,
        snapshots: int = 0,
    ):
        self.hidden = hidden
        self.activation = activation
        self.method = method
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.restarts = restarts
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress
        self.snapshots = snapshots

    def _hidden_sizes(self) -> list[int]:
        hidden = [self.hidden] if isinstance(self.hidden, (int, np.integer)) else list(self.hidden)
        for m in hidden:
            if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)) or m < 1:
                raise ValueError(f"hidden must list positive layer sizes, e.g. (20,) or (10, 10); got {self.hidden!r}")
        return [int(m) for m in hidden]

    def _fit_network(self, X: np.ndarray, T: np.ndarray, output: str) -> None:
        """Build the network D - hidden - K, standardise X, train, keep the results as fitted attributes."""
        self._validate_params()
        sizes = [X.shape[1], *self._hidden_sizes(), T.shape[1]]
        self.x_mean_, self.x_scale_ = _scaler(X, self.standardize, "X", getattr(self, "feature_names_in_", None))
        validation = self.validation_fraction
        if self.early_stopping is not None and validation is None:
            validation = 0.1
        seed = self.random_state
        if not isinstance(seed, (int, np.integer)) and seed is not None:
            seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
        self.network_ = mlp(sizes, hidden=self.activation, output=output, **self._output_options())
        self.weight_decay_ = self._weight_decay(validation)
        options = dict(method=self.method, max_iter=self.max_iter, learning_rate=self.learning_rate,
                       batch_size=self._batch_size(X.shape[0], validation), restarts=self.restarts, seed=seed,
                       n_jobs=self.n_jobs, progress=self.progress, snapshots=self.snapshots)
        inputs = (X - self.x_mean_) / self.x_scale_
        self.posterior_, self.evidence_, self.committee_ = None, None, None
        if self.weight_decay_ == "evidence":
            with _told_at_the_callers_line():
                found = train_evidence(self.network_, inputs, T, prior=self._evidence_prior, hessian=self.hessian,
                                       **options)
            result, beta = found.training, found.beta
            self.posterior_ = found.posterior
            self.evidence_ = {**_summary(found.posterior), "cycles": len(found.cycles), "converged": found.converged,
                              "members": [{**_summary(m.posterior), "cycles": len(m.cycles), "converged": m.converged}
                                          for m in found.members[1:]]}
            self.committee_ = Committee.of([m.posterior for m in found.members], self.committee)
        else:
            with _told_at_the_callers_line():
                result = train(self.network_, inputs, T, weight_decay=self.weight_decay_, validation=validation,
                               early_stopping=self.early_stopping, **options)
            beta = result.beta
        started = found.first if self.weight_decay_ == "evidence" else result  # the run of the random restarts
        self._evidence_attributes()
        self.w_ = result.w
        self.training_ = {
            "method": result.method, "error": result.error, "penalty": result.penalty, "beta": beta,
            "validation_error": result.validation_error, "stop_reason": result.stop_reason,
            "restarts": len(started.restarts),
            "best_restart": [r.index for r in started.restarts].index(started.best_restart),  # in restart_errors_
        }
        self.history_ = result.history
        self.snapshots_ = result.snapshots
        self.restart_errors_ = started.restart_errors
        self.n_iter_ = int(result.history["epoch"][-1])

    def _output_options(self) -> dict:
        """Options of ``mlp`` for the output layer beyond its kind (the mixture's components)."""
        return {}

    def _evidence_attributes(self) -> None:
        """alpha_, gamma_ and log_evidence_ from ``evidence_`` (None without the evidence)."""
        e = self.evidence_
        self.alpha_ = None if e is None else dict(e["alpha"])
        self.gamma_ = None if e is None else e["gamma"]
        self.log_evidence_ = None if e is None else e["log_evidence"]

    def _weight_decay(self, validation) -> Any:
        """The weight decay to train with: "evidence" (PRML 5.7) or a number. The default ("evidence", at
        any size: the structure of its Hessian is chosen to fit) gives way to the fixed default, with a
        warning, only where validation data are held out (the evidence uses all the training data), and
        for an estimator without the evidence (the mixture density network)."""
        if self.weight_decay == "evidence" and validation:
            raise ValueError("weight_decay='evidence' sets alpha and beta from all the training data; it takes no "
                             "validation_fraction or early_stopping (validation does not apply to train_evidence)")
        if self.weight_decay is not None:
            return self.weight_decay if self.weight_decay == "evidence" else float(self.weight_decay)
        if not validation:
            return "evidence"
        import warnings

        warnings.warn(f"weight_decay: validation data are held out (early stopping), while the evidence uses all "
                      f"the training data; using the fixed weight decay {self._fixed_weight_decay:g} instead (pass "
                      f"weight_decay= to choose)", TrainingWarning, stacklevel=4)
        return self._fixed_weight_decay

    def _batch_size(self, N: int, validation: Optional[float]) -> Optional[int]:
        if self.batch_size is None or self.method not in STOCHASTIC_METHODS:
            return self.batch_size
        n_train = N - (int(round(validation * N)) if validation else 0)
        return min(self.batch_size, n_train)

    def network_inputs(self, X) -> np.ndarray:
        """X as the network sees it: standardised with the training statistics, (n_samples, D)."""
        check_is_fitted(self, "w_")
        X = validate_data(self, X, reset=False, dtype=np.float64, order="C")
        return (X - self.x_mean_) / self.x_scale_

    def _outputs(self, X) -> np.ndarray:
        inputs = self.network_inputs(X)  # checks that the estimator is fitted
        return self.network_.forward(self.w_, inputs)

    def output_jacobian(self, X) -> np.ndarray:
        """d(output k)/dx_i at each row of X, (n_samples, K, n_features), in the units of X and of the outputs
        (the regressor's targets; the classifier's network outputs y(x, w), the class probabilities at w, not
        the moderated ones of the evidence): the network's Jacobian (PRML 5.73-5.78) through the scalers,
        y_scale_k J_ki / x_scale_i; with a committee, the weighted sum of its members' (the Jacobian of its mean)."""
        inputs = self.network_inputs(X)
        if getattr(self, "committee_", None) is not None:
            c = self.committee_
            J = sum(p * self.network_.jacobian(m.w, inputs) for p, m in zip(c.weights, c.members) if p > 0)
        else:
            J = self.network_.jacobian(self.w_, inputs)
        return J * self._output_scale()[:, None] / self.x_scale_

    def _output_scale(self) -> np.ndarray:
        return np.ones(self.network_.K)

    def save(self, path, metadata: Optional[dict] = None) -> None:
        """Write the fitted estimator to ``path`` as a safetensors model file (see :mod:`deltaprop.io`).

        ``metadata`` is any JSON-able dict kept with it (the command line keeps the column names there).
        """
        check_is_fitted(self, "w_")
        net = self.network_
        tensors = network_tensors(net, np.asarray(self.w_, dtype=np.float64))
        tensors.update(x_mean=self.x_mean_, x_scale=self.x_scale_)
        if len(self.snapshots_["epoch"]):
            tensors["snapshots"] = np.asarray(self.snapshots_["w"], dtype=np.float64)
        info: dict = {"n_features_in": self.n_features_in_,
                      "feature_names": list(getattr(self, "feature_names_in_", [])) or None}
        tensors, info = self._save_fitted(tensors, info)
        info["weight_decay"] = self.weight_decay_
        if self.posterior_ is not None:
            members = self.committee_.members if self.committee_ is not None else (self.posterior_,)
            for r, member in enumerate(members):  # the first is the kept start's, w_ and posterior_
                prefix = "" if r == 0 else f"member{r}:"
                if r:
                    tensors[f"{prefix}w"] = np.asarray(member.w, dtype=np.float64)
                tensors.update({f"{prefix}posterior:{member.hessian}:{k}": np.asarray(v, dtype=np.float64)
                                for k, v in member.curvature.factors.items()})
            info["evidence"] = self.evidence_
        params = self.get_params()
        if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
            params["random_state"] = None
        training = {**self.training_, "history": self.history_, "restart_errors": self.restart_errors_,
                    "n_iter": self.n_iter_, "snapshot_epochs": self.snapshots_["epoch"]}
        write_model(path, tensors, {
            "kind": type(self).__name__,
            "architecture": json.dumps(network_to_dict(net)),
            "params": json.dumps(jsonable(params)),
            "estimator": json.dumps(jsonable(info)),
            "training": json.dumps(jsonable(training)),
            "user": json.dumps(jsonable(metadata or {})),
        })


class _BayesianEstimator(_NetworkEstimator):
    """The estimators whose default weight decay is the evidence: they take the structure of its Hessian."""

    _parameter_constraints: dict = {**_NetworkEstimator._parameter_constraints, "hessian": [StrOptions(set(HESSIANS))],
                                    "committee": [StrOptions(set(COMMITTEES))],
                                    "hidden": ["array-like", StrOptions({"evidence"})]}
    #: The sizes hidden="evidence" compares: one hidden layer of 1 to 32 units
    EVIDENCE_SIZES = ((1,), (2,), (4,), (8,), (16,), (32,))

    def __init__(self, hidden=(20,), activation: str = "tanh", method: str = "lbfgs",
                 learning_rate: Optional[float] = None, max_iter: Optional[int] = None,
                 batch_size: Optional[int] = None, weight_decay: Any = None, restarts: int = 3,
                 early_stopping: Optional[int] = None, validation_fraction: Optional[float] = None,
                 standardize: bool = True, random_state: Any = None, n_jobs: Optional[int] = None,
                 progress: bool = False, snapshots: int = 0, hessian: str = "auto", committee: str = "uniform"):
        super().__init__(hidden=hidden, activation=activation, method=method, learning_rate=learning_rate,
                         max_iter=max_iter, batch_size=batch_size, weight_decay=weight_decay, restarts=restarts,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         standardize=standardize, random_state=random_state, n_jobs=n_jobs, progress=progress,
                         snapshots=snapshots)
        self.hessian = hessian
        self.committee = committee

    def _candidates(self) -> Optional[list]:
        """The hidden sizes to compare by the evidence: hidden="evidence", or a list of sizes (each a sequence,
        e.g. [(5,), (10,), (10, 10)]); None for one network."""
        if isinstance(self.hidden, str) and self.hidden == "evidence":
            return [list(c) for c in self.EVIDENCE_SIZES]
        if isinstance(self.hidden, (list, tuple)) and self.hidden and \
                all(isinstance(c, (list, tuple)) for c in self.hidden):
            return [list(c) for c in self.hidden]
        return None

    def _hidden_sizes(self) -> list[int]:
        if self._candidates() is not None:  # fitted: the sizes the evidence chose
            if not hasattr(self, "network_"):
                raise ValueError("hidden names candidates; their sizes are chosen by fit")
            return [self.network_.layers[n].size for n in list(self.network_.layers)[1:-1]]
        return super()._hidden_sizes()

    def _fit_candidates(self, X, y) -> bool:
        """hidden="evidence" or a list of sizes: fit each (by the evidence, every other setting the same) and keep
        the one whose log evidence, with ln(2^M M!) for its equivalent modes over its effective units
        (``log_symmetry``: gamma of the weights a layer sends on, per unit they feed), is largest; every candidate's numbers are in ``evidence_["candidates"]`` and its fitted
        estimator in ``candidates_``. False for one network."""
        from sklearn.base import clone

        from .numerics.laplace import log_symmetry

        candidates = self._candidates()
        if candidates is None:
            return False
        self._validate_params()
        if self.weight_decay not in (None, "evidence"):
            raise ValueError(f"hidden={self.hidden!r} compares sizes by the evidence; it takes weight_decay='evidence' "
                             f"(or None), not {self.weight_decay!r}")
        fits, rows = [], []
        for sizes in candidates:
            fit = clone(self).set_params(hidden=tuple(sizes)).fit(X, y)
            symmetry, active = log_symmetry(fit.posterior_)
            fits.append(fit)
            rows.append({"hidden": list(sizes), "log_evidence": fit.log_evidence_, "log_symmetry": symmetry,
                         "active": active, "score": fit.log_evidence_ + symmetry})
        best = int(np.argmax([r["score"] for r in rows]))
        for key, value in vars(fits[best]).items():
            if key.endswith("_") and not key.startswith("_"):
                setattr(self, key, value)
        if hasattr(fits[best], "_single_output"):
            self._single_output = fits[best]._single_output
        self.evidence_ = {**fits[best].evidence_, "candidates": rows}
        self.candidates_ = fits
        return True


class _RealTargets:
    """What the regressors share: real targets, one column or several, standardised with the training
    statistics before the network sees them."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _fit_real_targets(self, X, y, output: str) -> None:
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64, order="C")
        y = np.asarray(y, dtype=np.float64)
        self._single_output = y.ndim == 1
        T = y.reshape(len(y), -1)
        self.y_mean_, self.y_scale_ = _scaler(T, self.standardize, "y")
        self._fit_network(X, (T - self.y_mean_) / self.y_scale_, output)


class NetworkRegressor(_RealTargets, RegressorMixin, _BayesianEstimator):
    """A feed-forward network regressor with linear outputs and the sum-of-squares error.

    Targets are modelled as Gaussian about the network function with noise
    precision beta (PRML 5.16); beta_ML is estimated at the trained weights
    (PRML 5.17), so ``predict(X, return_std=True)`` gives a predictive
    standard deviation.

    Parameters
    ----------
    hidden : int, sequence of int, "evidence" or list of sequences, default=(20,)
        Units in each hidden layer; or "evidence", one layer of 1, 2, 4, 8, 16 or
        32 units, or a list of sizes such as [(5,), (10,), (10, 10)]: each is
        fitted by the evidence and the one of largest log evidence plus
        ln(2^M M!) over its effective units kept (``candidates_``,
        ``evidence_["candidates"]``).
    activation : str, default="tanh"
        Hidden activation: "tanh", "logistic", "relu", "softplus" or "linear".
    method : str, default="lbfgs"
        Optimiser (see ``deltaprop.train``): "lbfgs", "scg", "lm"
        (regression only), "bfgs", "cg", "gd", "sgd", "momentum" or "adam".
    learning_rate : float, default=None
        Step size of gd, sgd, momentum and adam (their default if None).
    max_iter : int, default=None
        Epochs (mini-batch methods) or iterations (batch methods); the
        method's default if None (200 or 1000).
    batch_size : int, default=None
        Mini-batch size of sgd, momentum and adam (default 32).
    weight_decay : "evidence", float or None, default=None
        "evidence": one prior precision alpha per group of weights (PRML
        5.5.1) and the noise precision beta, re-estimated from the training
        data by the evidence (PRML 5.7; ``deltaprop.train_evidence``); then
        ``predict(X, return_std=True)`` gives the Laplace approximation's
        predictive standard deviation, which grows away from the training
        inputs. A number: lambda in E + lambda/2 w^T w, on the weights but not
        the biases (PRML 5.112), E summed over the patterns of standardised
        data. None: "evidence", at any size (see ``hessian``), falling back,
        with a warning, to 10 (1 for the classifier) only where validation
        data are held out.
    restarts : int, default=3
        Random initialisations; the best is kept.
    early_stopping : int, default=None
        Stop when the validation error has not improved for this many
        epochs, holding out ``validation_fraction`` (0.1 if None).
    validation_fraction : float, default=None
        Fraction of the training data held out to choose the weights.
    standardize : bool, default=True
        Scale inputs and targets to zero mean and unit variance with the
        training statistics, which the model keeps.
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, the restarts and the data order.
    n_jobs : int, default=None
        Restarts run in parallel through joblib, with a fixed weight decay;
        the evidence's starts, each with its own cycles, run one after another.
    progress : bool, default=False
        Show a progress bar while training.
    snapshots : int, default=0
        Keep this many weight vectors spread over training (``snapshots_``),
        for ``deltaprop explain`` to replay.
    hessian : {"auto", "exact", "ggn", "kron", "diag", "last_layer"}, default="auto"
        The structure of the evidence's Hessian (``deltaprop.laplace``):
        "auto" takes the exact one while it is cheap, the Kronecker-factored
        one above, so that the evidence runs at every size.
    committee : {"uniform", "evidence", "best"}, default="uniform"
        With the evidence each of the ``restarts`` starts runs its own cycles;
        predictions mix the starts' Laplace predictive distributions with
        these weights (``deltaprop.Committee``).

    Attributes
    ----------
    network_ : Network
    w_ : ndarray of shape (n_params,)
        The trained weights, for standardised inputs and targets.
    beta_ : float or ndarray of shape (n_outputs,)
        The noise precision in the original target units: by the evidence
        (PRML 5.180), or beta_ML (5.17) with a fixed weight decay.
    posterior_ : Posterior or None
        The Laplace approximation at w_ (``deltaprop.laplace``) when trained
        by the evidence, in standardised units.
    evidence_ : dict or None
        With the evidence: alpha (per group), beta (standardised units),
        gamma, gamma_groups, log_evidence, cycles, converged, hessian, notes
        (which structure, and why) of the start of most evidence; members (the
        other starts' summaries); candidates (with hidden="evidence").
    committee_ : Committee or None
        With the evidence: the mixture of the starts' Laplace approximations
        that ``predict`` uses (standardised units).
    alpha_, gamma_, log_evidence_ : dict, float, float or None
        With the evidence: the prior precision of each group of weights
        (PRML 5.178), the number of well-determined parameters (5.179) and
        ln p(D | alpha, beta) (5.175), in standardised units.
    history_ : dict of arrays
        Per epoch: error, validation_error, grad_norm, seconds.
    snapshots_ : dict
        ``epoch`` (k,) and ``w`` (k, n_params): weights spread over training.
    restart_errors_ : ndarray of shape (restarts,)
        The final training error of each restart.
    weight_decay_ : float or "evidence"
        The weight decay lambda that training used, or "evidence".
    training_ : dict
        The training summary: method, error, penalty, beta (in
        standardised units), validation_error, stop_reason, restarts (those
        that ran), best_restart (the kept one's place in ``restart_errors_``).
    n_features_in_ : int
    n_iter_ : int
        Epochs or iterations of the best restart.
    """

    _fixed_weight_decay = 10.0

    def fit(self, X, y):
        """Train on X (n_samples, n_features) and y (n_samples,) or (n_samples, n_outputs)."""
        if self._fit_candidates(X, y):
            return self
        self._fit_real_targets(X, y, "linear")
        beta = self.training_["beta"] / self.y_scale_**2  # 1/beta scales as the targets' variance
        self.beta_ = float(beta[0]) if self._single_output else beta
        return self

    def network_targets(self, y) -> np.ndarray:
        """y as the network sees it: standardised with the training statistics, (n_samples, K)."""
        check_is_fitted(self, "w_")
        T = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if T.shape[1] != self.network_.K:
            raise ValueError(f"holds {T.shape[1]} target columns; the model has {self.network_.K} outputs")
        return (T - self.y_mean_) / self.y_scale_

    def negative_log_likelihood(self, X, y) -> float:
        """The mean over patterns of -ln N(t | mean, std^2) in the target units, with the mean and standard
        deviation of ``predict(X, return_std=True)``: the Laplace predictive distribution (PRML 5.172) when
        trained by the evidence, else N(t | y(x, w), 1/beta_ML) (PRML 5.16)."""
        check_is_fitted(self, "w_")
        if self.committee_ is not None:  # the committee's mixture density, in the targets' units
            log_p = self.committee_.log_density(self.network_inputs(X), self.network_targets(y))
            return float(-np.mean(log_p) + np.sum(np.log(self.y_scale_)))
        Y, std = (np.asarray(a, dtype=np.float64).reshape(len(X), -1) for a in self.predict(X, return_std=True))
        T = np.asarray(y, dtype=np.float64).reshape(Y.shape)
        return float(gaussian_nll(Y, T, 1.0 / std**2).mean())

    def _save_fitted(self, tensors: dict, info: dict) -> tuple[dict, dict]:
        tensors.update(y_mean=self.y_mean_, y_scale=self.y_scale_)
        info.update(single_output=bool(self._single_output), beta=self.beta_)
        return tensors, info

    def _load_fitted(self, f: ModelFile, info: dict) -> None:
        K = self.network_.K
        self.y_mean_, self.y_scale_ = f.vector("y_mean", K), f.vector("y_scale", K)
        self._single_output = bool(info["single_output"])
        self.beta_ = float(info["beta"]) if self._single_output else np.asarray(info["beta"], dtype=float)

    def _output_scale(self) -> np.ndarray:
        return np.asarray(self.y_scale_, dtype=float)

    def jacobian(self, X) -> np.ndarray:
        """dy_k/dx_i of the predictive mean at each row of X, in the units of X and y, by backpropagating to
        the inputs (PRML 5.73-5.78) through the scalers: (n_samples, n_outputs, n_features), or
        (n_samples, n_features) for a single output, as ``predict`` gives (n_samples,)."""
        J = self.output_jacobian(X)
        return J[:, 0, :] if self._single_output else J

    def predict(self, X, return_std: bool = False):
        """The predictive mean y(x, w) and, with ``return_std``, its standard deviation in target units:
        with the evidence, the Laplace approximation's sqrt(1/beta + g^T A^-1 g), which grows away from the
        training inputs (PRML 5.172-5.173); with a fixed weight decay, sqrt(1/beta_ML) (PRML 5.16)."""
        inputs = self.network_inputs(X)  # checks that the estimator is fitted
        if self.committee_ is not None:  # the mixture of the starts' Laplace predictive distributions
            mean, variance = self.committee_.predictive(inputs)
            Y, std = mean * self.y_scale_ + self.y_mean_, np.sqrt(variance) * self.y_scale_
        else:
            Y = self.network_.forward(self.w_, inputs) * self.y_scale_ + self.y_mean_
        if self.committee_ is None:
            std = np.broadcast_to(np.sqrt(1.0 / np.atleast_1d(self.beta_)), Y.shape).copy()
        if self._single_output:
            Y, std = Y[:, 0], std[:, 0]
        return (Y, std) if return_std else Y


class NetworkClassifier(ClassifierMixin, _BayesianEstimator):
    """A feed-forward network classifier with the cross-entropy error.

    Two classes: one logistic output unit, y = p(class 1 | x) (PRML 5.19);
    more: K softmax outputs, y_k = p(class k | x) (PRML 5.25). Labels may be
    integers or strings.

    Parameters
    ----------
    The same as :class:`NetworkRegressor`; ``standardize`` scales the inputs only.
    With the evidence (the default) the prior has one alpha for all of w, as
    PRML 5.7.3 writes it, and ``predict_proba`` gives the moderated
    probabilities (PRML 5.190). One alpha per layer, as the regressor's, fell
    on the digits data into a near-linear network (first-layer alpha 2.5e4,
    second 8e-4: tiny tanh inputs, huge output weights) whose Laplace
    evidence was higher (-461 against -908) but whose accuracy was lower
    (0.973 against 0.983), at four times the cost.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    network_, w_, history_, restart_errors_, training_, n_features_in_, n_iter_
        As for :class:`NetworkRegressor`.
    alpha_, gamma_, log_evidence_, evidence_, posterior_
        As for :class:`NetworkRegressor` (no beta: the cross-entropy has none).
    """

    _evidence_prior = "shared"

    def fit(self, X, y):
        """Train on X (n_samples, n_features) and class labels y (n_samples,)."""
        if self._fit_candidates(X, y):
            return self
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"NetworkClassifier needs at least 2 classes in y; got 1 class: {self.classes_[0]!r}")
        if len(self.classes_) == 2:
            T, output = index[:, None].astype(np.float64), "logistic"
        else:
            T, output = np.eye(len(self.classes_))[index], "softmax"
        self._fit_network(X, T, output)
        return self

    def encode_labels(self, y) -> np.ndarray:
        """The index in ``classes_`` of each label of y (labels compared as text, as a CSV file holds them)."""
        check_is_fitted(self, "classes_")
        index = {str(c): k for k, c in enumerate(self.classes_)}
        unknown = [v for v in np.asarray(y, dtype=object) if str(v) not in index]
        if unknown:
            raise ValueError(f"holds the label {unknown[0]!r}, which the model never saw; its classes are "
                             f"{', '.join(str(c) for c in self.classes_)}")
        return np.array([index[str(v)] for v in np.asarray(y, dtype=object)], dtype=int)

    def network_targets(self, y) -> np.ndarray:
        """Labels as the network's targets: 0/1 for one logistic output, 1-of-K rows for softmax (PRML 5.24)."""
        k = self.encode_labels(y)
        return k[:, None].astype(float) if self.network_.K == 1 else np.eye(self.network_.K)[k]

    def _save_fitted(self, tensors: dict, info: dict) -> tuple[dict, dict]:
        info["classes"] = _classes_to_json(self.classes_)
        return tensors, info

    def _load_fitted(self, f: ModelFile, info: dict) -> None:
        kind, values = info["classes"]["kind"], info["classes"]["values"]
        self.classes_ = np.array(values, dtype=object if kind == "str" else None)

    def predict_proba(self, X) -> np.ndarray:
        """p(class | x) for each class, columns in the order of ``classes_``: the network's outputs, or, when
        trained by the evidence, the moderated probabilities of the Laplace approximation (PRML 5.190)."""
        Y = self._outputs(X)  # checks that the estimator is fitted
        if self.committee_ is not None:
            Y = self.committee_.moderated_probabilities(self.network_inputs(X))
        return np.hstack([1.0 - Y, Y]) if Y.shape[1] == 1 else Y

    def predict(self, X) -> np.ndarray:
        """The class of largest posterior probability."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class MixtureDensityRegressor(_RealTargets, RegressorMixin, _NetworkEstimator):
    """A mixture density network (PRML 5.6): p(t | x) as a mixture of M Gaussians whose mixing coefficients,
    standard deviations and means are the network's outputs, trained by minimising the negative log
    likelihood (5.153), for targets that have several right answers at one x (the inverse problem of
    PRML Figures 5.19-5.21).

    A class apart from :class:`NetworkRegressor`, whose contract is one Gaussian: there ``predict`` is
    the conditional mean with a standard deviation beside it, the weight decay comes from the evidence,
    and ``beta_`` is a noise precision; here ``predict`` gives the conditional mode or mean, the
    uncertainty is the whole density (``predict_density``, ``sample``), and the evidence, which needs
    the Hessian of the canonical outputs, does not apply.

    Parameters
    ----------
    components : int, default=3
        M, the number of Gaussians in the mixture.
    prediction : {"mode", "mean"}, default="mode"
        What ``predict`` returns: the mean of the most probable component, as PRML 5.6 suggests for
        multimodal targets, or the conditional mean sum_k pi_k mu_k (5.158), which for such targets lies
        between the branches (as a sum-of-squares network's fit does).
    weight_decay : float or None, default=None
        lambda in E + lambda/2 w^T w on standardised data; None: 0, as PRML 5.6's example.
    hidden, activation, method, ... :
        As :class:`NetworkRegressor`. MDNs have poor local minima, where a component collapses onto a
        few points or goes unused, so that ``restarts`` (default 3) matter more than for sum-of-squares.

    Attributes
    ----------
    y_mean_, y_scale_ : ndarray
        The targets' standardisation, which ``mixture``, ``predict_density`` and ``sample`` undo.
    network_, w_, history_, restart_errors_, training_, n_features_in_, n_iter_
        As for :class:`NetworkRegressor`.
    """

    _parameter_constraints: dict = {
        **_NetworkEstimator._parameter_constraints,
        "weight_decay": [Interval(Real, 0, None, closed="left"), None],
        "components": [Interval(Integral, 1, None, closed="left")],
        "prediction": [StrOptions({"mode", "mean"})],
    }
    _fixed_weight_decay = 0.0

    def __init__(self, hidden=(20,), activation: str = "tanh", method: str = "lbfgs",
                 learning_rate: Optional[float] = None, max_iter: Optional[int] = None,
                 batch_size: Optional[int] = None, weight_decay: Any = None, restarts: int = 3,
                 early_stopping: Optional[int] = None, validation_fraction: Optional[float] = None,
                 standardize: bool = True, random_state: Any = None, n_jobs: Optional[int] = None,
                 progress: bool = False, snapshots: int = 0, components: int = 3, prediction: str = "mode"):
        super().__init__(hidden=hidden, activation=activation, method=method, learning_rate=learning_rate,
                         max_iter=max_iter, batch_size=batch_size, weight_decay=weight_decay, restarts=restarts,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         standardize=standardize, random_state=random_state, n_jobs=n_jobs, progress=progress,
                         snapshots=snapshots)
        self.components = components
        self.prediction = prediction

    def _output_options(self) -> dict:
        if isinstance(self.components, (bool, np.bool_)):  # sklearn's Interval(Integral) lets True through as 1
            raise ValueError(f"The 'components' parameter of {type(self).__name__} must be an int in the range "
                             f"[1, inf); got {self.components!r}")
        return {"components": int(self.components)}

    def _weight_decay(self, validation) -> float:
        return self._fixed_weight_decay if self.weight_decay is None else float(self.weight_decay)

    def fit(self, X, y):
        """Train on X (n_samples, n_features) and y (n_samples,) or (n_samples, n_targets)."""
        self._fit_real_targets(X, y, "mdn")
        return self

    def network_targets(self, y) -> np.ndarray:
        """y as the network sees it: standardised with the training statistics, (n_samples, L)."""
        check_is_fitted(self, "w_")
        T = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        L = self.network_.target_size
        if T.shape[1] != L:
            raise ValueError(f"holds {T.shape[1]} target columns; the model has {L} target dimension{'s' * (L > 1)}")
        return (T - self.y_mean_) / self.y_scale_

    def mixture(self, X):
        """pi (n_samples, M), sigma (n_samples, M, L) and mu (n_samples, M, L) of p(t | x) in target units:
        the network's mixture (PRML 5.150-5.152) with the standardisation undone (sigma_k times each
        target's scale)."""
        from .numerics import mixture

        inputs = self.network_inputs(X)  # checks that the estimator is fitted
        m = mixture.mixture(self.network_, self.w_, inputs)
        return mixture.Mixture(m.pi, m.sigma[:, :, None] * self.y_scale_, m.mu * self.y_scale_ + self.y_mean_)

    def predict(self, X, return_std: bool = False):
        """The conditional mode (the mean of the most probable component) or the conditional mean
        sum_k pi_k mu_k (PRML 5.158), as ``prediction`` says, in target units."""
        if return_std:
            raise ValueError("p(t | x) of a mixture density network is a mixture of Gaussians, not one: there is no "
                             "single standard deviation; use predict_density(X, y), mixture(X) or sample(X)")
        m = self.mixture(X)
        if self.prediction == "mode":
            Y = m.mu[np.arange(len(m.pi)), np.argmax(m.pi, axis=1)]
        else:
            Y = np.einsum("nk,nkl->nl", m.pi, m.mu)
        return Y[:, 0] if self._single_output else Y

    def predict_density(self, X, y) -> np.ndarray:
        """p(t | x) at each (x_n, t_n), (n_samples,), in target units (PRML 5.148)."""
        return np.exp(-self._pattern_nll(X, y))

    def negative_log_likelihood(self, X, y) -> float:
        """The mean over patterns of -ln p(t | x) in the target units (PRML 5.153)."""
        return float(self._pattern_nll(X, y).mean())

    def _pattern_nll(self, X, y) -> np.ndarray:
        from .numerics import mixture

        inputs = self.network_inputs(X)
        T = self.network_targets(y)
        if len(T) != len(inputs):
            raise ValueError(f"y has {len(T)} rows but X has {len(inputs)}")
        return -mixture.log_density(self.network_, self.w_, inputs, T) + float(np.sum(np.log(self.y_scale_)))

    def sample(self, X, size: int = 1, random_state: Any = None) -> np.ndarray:
        """Draws t ~ p(t | x) in target units: (n_samples, size), or (n_samples, size, L) for L targets."""
        from .numerics import mixture

        inputs = self.network_inputs(X)
        draws = mixture.sample(self.network_, self.w_, inputs, size=size, seed=random_state)
        draws = draws * self.y_scale_ + self.y_mean_
        return draws[:, :, 0] if self._single_output else draws

    def _save_fitted(self, tensors: dict, info: dict) -> tuple[dict, dict]:
        tensors.update(y_mean=self.y_mean_, y_scale=self.y_scale_)
        info.update(single_output=bool(self._single_output))
        return tensors, info

    def _load_fitted(self, f: ModelFile, info: dict) -> None:
        L = self.network_.target_size
        self.y_mean_, self.y_scale_ = f.vector("y_mean", L), f.vector("y_scale", L)
        self._single_output = bool(info["single_output"])


ESTIMATORS = {"NetworkRegressor": NetworkRegressor, "NetworkClassifier": NetworkClassifier,
              "MixtureDensityRegressor": MixtureDensityRegressor}


def _classes_to_json(classes: np.ndarray) -> dict:
    values = classes.tolist()
    for kind, types in (("bool", (bool,)), ("int", (int,)), ("float", (float,)), ("str", (str,))):
        if all(isinstance(v, types) and not (kind == "int" and isinstance(v, bool)) for v in values):
            return {"kind": kind, "values": values}
    raise ValueError(f"class labels must all be numbers or all strings to be saved; got {values!r}")


def _number(v) -> bool:
    """A number as ``jsonable`` writes one: int, float, or "nan"/"inf"/"-inf" text."""
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) or v in ("nan", "inf", "-inf")


def _positive(v) -> bool:
    return _number(v) and not isinstance(v, str) and v > 0 and np.isfinite(v)


HISTORY_KEYS = ("epoch", "error", "validation_error", "grad_norm", "seconds")


def _metadata_problem(cls, net, params: dict, info: dict, training: dict) -> str:
    """What is wrong with an estimator's metadata as read from its file, naming the field; "" if nothing.
    The one place that says what deltaprop writes there (``_NetworkEstimator.save``)."""
    expected = set(cls().get_params())
    if set(params) != expected:
        missing, extra = sorted(expected - set(params)), sorted(set(params) - expected)
        return f"params {'lacks ' + repr(missing[0]) if missing else 'has the unknown entry ' + repr(extra[0])}"
    if not (isinstance(info.get("n_features_in"), int) and info["n_features_in"] == net.D):
        return f"estimator.n_features_in is {info.get('n_features_in')!r}; the network has {net.D} inputs"
    names = info.get("feature_names")
    if names is not None and not (isinstance(names, list) and len(names) == net.D and all(isinstance(n, str) for n in names)):
        return f"estimator.feature_names must be null or {net.D} strings"
    output = net.layers[net.output].activation.name
    if cls is MixtureDensityRegressor:
        if output != f"mdn:{params.get('components')}":
            return f"a MixtureDensityRegressor of params.components = {params.get('components')!r} has the output " \
                   f"'mdn:{params.get('components')}'; this network's is {output}"
        if not isinstance(info.get("single_output"), bool) or (info["single_output"] and net.target_size != 1):
            return f"estimator.single_output must be true or false (and false for {net.target_size} target dimensions)"
    elif cls is NetworkRegressor:
        if output != "linear":
            return f"a NetworkRegressor has linear outputs; this network's are {output}"
        if not isinstance(info.get("single_output"), bool) or (info["single_output"] and net.K != 1):
            return f"estimator.single_output must be true or false (and false for {net.K} outputs)"
        beta = info.get("beta")
        ok = _positive(beta) if info["single_output"] else \
            isinstance(beta, list) and len(beta) == net.K and all(_positive(b) for b in beta)
        if not ok:
            return f"estimator.beta must be {'a positive number' if info['single_output'] else f'{net.K} positive numbers'}; got {beta!r}"
    else:
        if output not in ("logistic", "softmax"):
            return f"a NetworkClassifier has logistic or softmax outputs; this network's are {output}"
        classes = info.get("classes")
        if not (isinstance(classes, dict) and classes.get("kind") in ("bool", "int", "float", "str")
                and isinstance(classes.get("values"), list)):
            return "estimator.classes must be {kind, values}"
        if len(classes["values"]) != (2 if net.K == 1 else net.K) or len(set(map(str, classes["values"]))) != \
                len(classes["values"]):
            return f"estimator.classes holds {len(classes['values'])} labels for {net.K} output units"
        kinds = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}[classes["kind"]]
        if not all(isinstance(v, kinds) for v in classes["values"]):
            return f"estimator.classes.values are not all of kind {classes['kind']}"
    if "weight_decay" in info and not (info["weight_decay"] == "evidence" or
                                       (_number(info["weight_decay"]) and info["weight_decay"] >= 0)):
        return f"estimator.weight_decay must be \"evidence\" or a number >= 0; got {info['weight_decay']!r}"
    evidence = info.get("evidence")
    if evidence is not None:
        problem = _evidence_problem(net, evidence, output == "linear")
        if problem:
            return f"estimator.evidence.{problem}"
    history = training.get("history")
    if not (isinstance(history, dict) and set(history) == set(HISTORY_KEYS)
            and all(isinstance(v, list) and all(_number(x) for x in v) for v in history.values())
            and len({len(v) for v in history.values()}) == 1 and len(history["epoch"]) >= 1
            and all(isinstance(e, int) for e in history["epoch"])):
        return f"training.history must hold {', '.join(HISTORY_KEYS)} as lists of numbers of one length"
    for key, check, what in (("restart_errors", lambda v: isinstance(v, list) and v and all(_number(x) for x in v),
                              "a list of numbers"),
                             ("n_iter", lambda v: isinstance(v, int) and v >= 0, "a whole number"),
                             ("snapshot_epochs", lambda v: isinstance(v, list) and all(isinstance(e, int) for e in v),
                              "a list of epochs"),
                             ("method", lambda v: v in METHODS, f"one of {', '.join(METHODS)}"),
                             ("stop_reason", lambda v: isinstance(v, str), "text"),
                             ("error", _number, "a number"), ("penalty", _number, "a number"),
                             ("restarts", lambda v: isinstance(v, int) and v >= 1, "a whole number >= 1"),
                             ("best_restart", lambda v: isinstance(v, int) and 0 <= v < len(training.get(
                                 "restart_errors") or []), "the place of a restart in training.restart_errors")):
        if key not in training or not check(training[key]):
            return f"training.{key} must be {what}; got {training.get(key, 'nothing')!r}"
    return ""


def _evidence_problem(net, e: Any, regression: bool, member: bool = False) -> str:
    """What is wrong with the evidence summary of a file (``_NetworkEstimator.evidence_``, or one of its
    ``members``); "" if nothing."""
    keys = {"alpha", "beta", "gamma", "gamma_groups", "log_evidence", "cycles", "converged", "hessian", "error", "N"}
    optional = {"notes"} if member else {"notes", "members", "candidates"}
    if not isinstance(e, dict) or not keys <= set(e) <= keys | optional:
        return f"must hold {', '.join(sorted(keys))} (and {', '.join(sorted(optional))})"
    if not (isinstance(e.get("notes", []), list) and all(isinstance(n, str) for n in e.get("notes", []))):
        return "notes must be a list of text"
    groups = [b.name for b in net.blocks]
    for key in ("alpha", "gamma_groups"):
        if not (isinstance(e[key], dict) and set(e[key]) <= set(groups) and all(_number(v) for v in e[key].values())):
            return f"{key} must map groups of the network's weights ({', '.join(groups)}) to numbers"
    if not all(_positive(v) for v in e["alpha"].values()):
        return "alpha must be positive"
    if not (_positive(e["beta"]) if regression else e["beta"] is None):
        return "beta must be a positive number (regression) or null (classification)"
    for key, ok in (("gamma", _number(e["gamma"])), ("log_evidence", _number(e["log_evidence"])),
                    ("error", _number(e["error"])), ("cycles", isinstance(e["cycles"], int) and e["cycles"] >= 0),
                    ("N", isinstance(e["N"], int) and e["N"] >= 1), ("converged", isinstance(e["converged"], bool)),
                    ("hessian", e["hessian"] in ("outer_product", *STRUCTURES))):
        if not ok:
            return f"{key} is {e[key]!r}"
    for r, row in enumerate(e.get("candidates", [])):
        if not (isinstance(row, dict) and set(row) == {"hidden", "log_evidence", "log_symmetry", "active", "score"}
                and isinstance(row["hidden"], list) and all(isinstance(m, int) and m >= 1 for m in row["hidden"])
                and isinstance(row["active"], list) and all(_number(m) for m in row["active"])
                and all(_number(row[k]) for k in ("log_evidence", "log_symmetry", "score"))):
            return f"candidates[{r}] must hold hidden, log_evidence, log_symmetry, active and score"
    members = e.get("members", [])
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        return f"members must be a list of at most {MAX_MEMBERS} summaries"
    for r, m in enumerate(members, 1):
        problem = _evidence_problem(net, m, regression, member=True)
        if problem:
            return f"members[{r - 1}].{problem}"
    return ""


def from_model_file(f: ModelFile):
    """The fitted estimator that the model file ``f`` holds; its metadata is checked before anything is built."""
    if f.kind not in ESTIMATORS:
        raise ModelFileError(f"{f.path} holds a bare network, not an estimator: load it with dp.load_network")
    cls, net = ESTIMATORS[f.kind], f.network
    params, info, training = f.read_json("params", dict), f.read_json("estimator", dict), f.read_json("training", dict)
    problem = _metadata_problem(cls, net, params, info, training)
    if problem:
        f.fail(problem)
    params["hidden"] = tuple(params["hidden"]) if isinstance(params["hidden"], list) else params["hidden"]
    est = cls(**params)
    sizes = [net.layers[n].size for n in list(net.layers)[1:-1]]
    try:
        est._validate_params()
        candidates = est._candidates() if hasattr(est, "_candidates") else None
        hidden = est._hidden_sizes() if candidates is None else sizes
    except (ValueError, TypeError) as exc:
        f.fail(f"params: {exc}")
    if candidates is not None and sizes not in candidates:
        f.fail(f"params.hidden compares {candidates}; the network's hidden layers have {sizes} units, none of them")
    if sizes != hidden:
        f.fail(f"params.hidden is {params['hidden']!r}; the network's hidden layers have "
               f"{[net.layers[n].size for n in list(net.layers)[1:-1]]} units")
    est.network_, est.w_, est.n_features_in_ = net, f.w, info["n_features_in"]
    if info.get("feature_names"):
        est.feature_names_in_ = np.array(info["feature_names"], dtype=object)
    est.x_mean_, est.x_scale_ = f.vector("x_mean", net.D), f.vector("x_scale", net.D)
    est._load_fitted(f, info)
    if "weight_decay" in info:
        est.weight_decay_ = info["weight_decay"]
    else:  # written before the evidence: None meant the fixed default
        est.weight_decay_ = est._fixed_weight_decay if est.weight_decay is None else float(est.weight_decay)
    est.posterior_, est.evidence_ = None, info.get("evidence")
    est.committee_ = None
    stored = [k for k in f.tensors if k.startswith(("posterior", "member"))]
    if est.evidence_ is not None:
        summaries = [est.evidence_] + est.evidence_.get("members", [])
        prefixes = [""] + [f"member{r}:" for r in range(1, len(summaries))]
        strays = [k for k in stored if MEMBER.match(k) and not 1 <= int(k[6 : MEMBER.match(k).end() - 1]) < len(summaries)]
        if strays:
            f.fail(f"the file holds {strays[0]}, but estimator.evidence has {len(summaries) - 1} members beside the first")
        members = []
        for prefix, e in zip(prefixes, summaries):
            if prefix and f"{prefix}w" not in f.tensors:
                f.fail(f"estimator.evidence.members names a start whose tensor {prefix}w is missing")
            members.append(_posterior_from_file(f, net, f.tensors[f"{prefix}w"] if prefix else est.w_, e, prefix))
        est.posterior_ = members[0]
        est.committee_ = Committee.of(members, est.committee)
    elif stored:
        f.fail(f"the file holds {stored[0]} but no estimator.evidence")
    est._evidence_attributes()
    est.history_ = {k: np.asarray(v, dtype=int if k == "epoch" else float) for k, v in training.pop("history").items()}
    est.restart_errors_ = np.asarray(training.pop("restart_errors"), dtype=float)
    est.n_iter_ = training.pop("n_iter")
    epochs = np.asarray(training.pop("snapshot_epochs"), dtype=int)
    snapshots = f.tensors.get("snapshots", np.zeros((0, net.n_params)))
    if snapshots.shape != (len(epochs), net.n_params):
        f.fail(f"{snapshots.shape[0]} snapshots of weights for {len(epochs)} epochs")
    est.snapshots_ = {"epoch": epochs, "w": snapshots}
    est.training_ = training
    return est


def _summary(post) -> dict:
    """What a model file keeps of a Laplace approximation beside its factors."""
    return {"alpha": post.alpha, "beta": post.beta, "gamma": post.gamma, "gamma_groups": post.gamma_groups,
            "log_evidence": post.log_evidence, "hessian": post.hessian, "notes": list(post.notes),
            "error": post.error, "N": post.N}


def _posterior_from_file(f: ModelFile, net, w: np.ndarray, e: dict, member: str = ""):
    """The Laplace posterior kept in a model file: its structure's curvature factors (``posterior:NAME:FACTOR``
    tensors, each start but the first's behind ``member{r}:``), or, in files of format 3, the precision A
    itself (``posterior_precision``)."""
    name = {"outer_product": "ggn"}.get(e["hessian"], e["hessian"])
    prefix = f"{member}posterior:{name}:"
    factors = {k[len(prefix):]: v for k, v in f.tensors.items() if k.startswith(prefix)}
    strays = [k for k in f.tensors if k.startswith(f"{member}posterior") and not k.startswith(prefix)
              and not (k == "posterior_precision" and name in ("exact", "ggn"))]
    if strays:
        f.fail(f"the tensor {strays[0]} is not a factor of the {name!r} posterior that estimator.evidence names")
    if "posterior_precision" in f.tensors and not member:
        A = f.tensors["posterior_precision"]
        factors = {"H": (A - np.diag(Prior.of(net, e["alpha"]).diagonal())) / (1.0 if e["beta"] is None else e["beta"])}
    try:
        return restored(net, w, e["alpha"], e["beta"], name, factors, error=e["error"], N=e["N"], gamma=e["gamma"],
                        gamma_groups=e["gamma_groups"], log_evidence=e["log_evidence"], notes=tuple(e.get("notes", ())))
    except KeyError as exc:
        f.fail(f"estimator.evidence is given but the tensor {prefix}{exc.args[0]} is missing")
    except ValueError as exc:
        f.fail(f"the tensors of the {name!r} posterior do not make a precision: {exc}")


def load(path):
    """Load the fitted NetworkRegressor, NetworkClassifier or MixtureDensityRegressor saved in ``path``."""
    return from_model_file(ModelFile(path))
