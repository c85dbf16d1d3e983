"""What the estimators share: the checks of their parameters, the scaling of X, training by ``dp.train`` or
the evidence, the committee, the fitted attributes, and the model file's common part; each estimator adds its
targets, its output and its part of the file.
"""

from __future__ import annotations

import contextlib
import json
from numbers import Integral, Real
import os
import re
import sys
from typing import Any, Optional
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..engine.activations import ACTIVATIONS
from ..engine.network import mlp
from ..io import jsonable, network_tensors, network_to_dict, write_model
from ..numerics.curvature import HESSIANS
from ..numerics.laplace import COMMITTEES, Committee
from ..optimize import METHODS, STOCHASTIC_METHODS
from ..training import TrainingWarning, check_lm_output, train, train_evidence
from ..training.evidence import PRIORS


MAX_MEMBERS = 64  # the most starts a model file's committee holds


def _layer_sizes(hidden) -> list[int]:
    """The hidden layers' sizes of ``hidden`` (an int or a sequence of them), each positive."""
    sizes = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    for m in sizes:
        if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"hidden must list positive layer sizes, e.g. (20,) or (10, 10); got {hidden!r}")
    return [int(m) for m in sizes]


def _number(v) -> bool:
    """A number as ``jsonable`` writes one: int, float, or "nan"/"inf"/"-inf" text."""
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) or v in ("nan", "inf", "-inf")


def _positive(v) -> bool:
    return _number(v) and not isinstance(v, str) and v > 0 and np.isfinite(v)


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
_OURS = tuple(os.path.dirname(os.path.abspath(sys.modules[name].__file__)) for name in (__name__.split(".")[0], "sklearn"))


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

    #: The output activation fit gives the network, as the settings' checks name it (``_check_settings``).
    _OUTPUT = "linear"

    def _check_settings(self) -> None:
        """Refuse settings that are wrong whatever the data: each parameter's type and range (scikit-learn's
        InvalidParameterError), and the rules between parameters (a ValueError whose message begins with the
        parameter's name). ``fit`` calls it first; ``deltaprop fit`` calls it before it reads its data."""
        self._validate_params()
        self._check_hidden()
        if self.method == "lm":
            check_lm_output(self._OUTPUT)

    def _check_hidden(self) -> None:
        self._hidden_sizes()

    def _hidden_sizes(self) -> list[int]:
        return _layer_sizes(self.hidden)

    def _fit_network(self, X: np.ndarray, T: np.ndarray, output: str) -> None:
        """Build the network D - hidden - K, standardise X, train, keep the results as fitted attributes."""
        self._check_settings()
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
                found = train_evidence(self.network_, inputs, T, prior=getattr(self, "prior", None) or
                                       self._evidence_prior, hessian=self.hessian, **options)
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
        if self.weight_decay_ == "evidence":  # every training of the kept start: its cycles continue one another
            self.n_iter_ = sum(c.iterations for c in found.cycles) + (
                self.n_iter_ if result.stop_reason in ("interrupted", "diverged") else 0)

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
                                    "committee": [StrOptions(set(COMMITTEES))], "prior": [StrOptions(set(PRIORS)), None],
                                    "hidden": ["array-like", StrOptions({"evidence"})]}
    #: The sizes hidden="evidence" compares: one hidden layer of 1 to 32 units
    EVIDENCE_SIZES = ((1,), (2,), (4,), (8,), (16,), (32,))

    def __init__(self, hidden=(20,), activation: str = "tanh", method: str = "lbfgs",
                 learning_rate: Optional[float] = None, max_iter: Optional[int] = None,
                 batch_size: Optional[int] = None, weight_decay: Any = None, restarts: int = 3,
                 early_stopping: Optional[int] = None, validation_fraction: Optional[float] = None,
                 standardize: bool = True, random_state: Any = None, n_jobs: Optional[int] = None,
                 progress: bool = False, snapshots: int = 0, hessian: str = "auto", committee: str = "uniform",
                 prior: Optional[str] = None):
        super().__init__(hidden=hidden, activation=activation, method=method, learning_rate=learning_rate,
                         max_iter=max_iter, batch_size=batch_size, weight_decay=weight_decay, restarts=restarts,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         standardize=standardize, random_state=random_state, n_jobs=n_jobs, progress=progress,
                         snapshots=snapshots)
        self.hessian = hessian
        self.committee = committee
        self.prior = prior

    def _check_settings(self) -> None:
        super()._check_settings()
        if self.prior is not None and self.weight_decay not in (None, "evidence"):
            raise ValueError(f"prior={self.prior!r} is the evidence's prior over alpha's groups; it takes "
                             f"weight_decay='evidence' (or None), not {self.weight_decay!r}")

    def _candidates(self) -> Optional[list]:
        """The hidden sizes to compare by the evidence: hidden="evidence", or a list of sizes (each a sequence,
        e.g. [(5,), (10,), (10, 10)]); None for one network."""
        if isinstance(self.hidden, str) and self.hidden == "evidence":
            return [list(c) for c in self.EVIDENCE_SIZES]
        if isinstance(self.hidden, (list, tuple)) and self.hidden and \
                all(isinstance(c, (list, tuple)) for c in self.hidden):
            return [list(c) for c in self.hidden]
        return None

    def _check_hidden(self) -> None:
        candidates = self._candidates()
        if candidates is None:
            return super()._check_hidden()
        if self.weight_decay not in (None, "evidence"):
            raise ValueError(f"hidden={self.hidden!r} compares sizes by the evidence; it takes weight_decay='evidence' "
                             f"(or None), not {self.weight_decay!r}")
        for sizes in candidates:
            _layer_sizes(sizes)

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

        from ..numerics.laplace import log_symmetry

        candidates = self._candidates()
        if candidates is None:
            return False
        self._check_settings()
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


def _summary(post) -> dict:
    """What a model file keeps of a Laplace approximation beside its factors."""
    return {"alpha": post.alpha, "beta": post.beta, "gamma": post.gamma, "gamma_groups": post.gamma_groups,
            "log_evidence": post.log_evidence, "hessian": post.hessian, "notes": list(post.notes),
            "error": post.error, "N": post.N}
