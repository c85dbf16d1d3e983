"""scikit-learn estimators: a layered network trained by ``deltaprop.train``.

``NetworkRegressor`` has linear outputs with the sum-of-squares error and
gives a predictive standard deviation from beta_ML (PRML 5.16);
``NetworkClassifier`` has a logistic output for two classes and softmax
outputs for more, with the cross-entropy error (PRML 5.21, 5.24).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .activations import ACTIVATIONS
from .network import mlp
from .optimize import METHODS
from .training import train


def _scaler(A: np.ndarray, enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 where a column is constant); zeros and ones when disabled."""
    if not enabled:
        return np.zeros(A.shape[1]), np.ones(A.shape[1])
    scale = A.std(axis=0)
    return A.mean(axis=0), np.where(scale > 0, scale, 1.0)


class _NetworkEstimator(BaseEstimator):
    """What the regressor and the classifier share: parameters, the network, training."""

    _default_weight_decay = 1.0

    _parameter_constraints: dict = {
        "hidden": ["array-like"],
        "activation": [StrOptions({n for n, a in ACTIVATIONS.items() if not a.output_only})],
        "method": [StrOptions(set(METHODS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left"), None],
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
        weight_decay: Optional[float] = None,
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
        self.x_mean_, self.x_scale_ = _scaler(X, self.standardize)
        validation = self.validation_fraction
        if self.early_stopping is not None and validation is None:
            validation = 0.1
        seed = self.random_state
        if not isinstance(seed, (int, np.integer)) and seed is not None:
            seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
        self.network_ = mlp(sizes, hidden=self.activation, output=output)
        result = train(
            self.network_, (X - self.x_mean_) / self.x_scale_, T, method=self.method, max_iter=self.max_iter,
            learning_rate=self.learning_rate, batch_size=self._batch_size(X.shape[0], validation),
            weight_decay=self._default_weight_decay if self.weight_decay is None else self.weight_decay, restarts=self.restarts, validation=validation,
            early_stopping=self.early_stopping, seed=seed, n_jobs=self.n_jobs, progress=self.progress,
            snapshots=self.snapshots,
        )
        self.w_ = result.w
        self.training_ = {
            "method": result.method, "error": result.error, "penalty": result.penalty, "beta": result.beta,
            "validation_error": result.validation_error, "stop_reason": result.stop_reason,
            "restarts": len(result.restarts), "best_restart": result.best_restart,
        }
        self.history_ = result.history
        self.snapshots_ = result.snapshots
        self.restart_errors_ = result.restart_errors
        self.n_iter_ = int(result.history["epoch"][-1])

    def _batch_size(self, N: int, validation: Optional[float]) -> Optional[int]:
        if self.batch_size is None or self.method not in ("sgd", "momentum", "adam"):
            return self.batch_size
        n_train = N - (int(round(validation * N)) if validation else 0)
        return min(self.batch_size, n_train)

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self, "w_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.forward(self.w_, (X - self.x_mean_) / self.x_scale_)

    def save(self, path, metadata: Optional[dict] = None) -> None:
        """Write the fitted estimator to ``path`` as a safetensors model file (see :mod:`deltaprop.io`)."""
        from .io import save_estimator

        save_estimator(self, path, metadata)


class NetworkRegressor(RegressorMixin, _NetworkEstimator):
    """A feed-forward network regressor with linear outputs and the sum-of-squares error.

    Targets are modelled as Gaussian about the network function with noise
    precision beta (PRML 5.16); beta_ML is estimated at the trained weights
    (PRML 5.17), so ``predict(X, return_std=True)`` gives a predictive
    standard deviation.

    Parameters
    ----------
    hidden : int or sequence of int, default=(20,)
        Units in each hidden layer.
    activation : str, default="tanh"
        Hidden activation: "tanh", "logistic", "relu", "softplus" or "linear".
    method : str, default="lbfgs"
        Optimiser (see ``deltaprop.train``): "lbfgs", "scg", "bfgs", "cg",
        "gd", "sgd", "momentum" or "adam".
    learning_rate : float, default=None
        Step size of gd, sgd, momentum and adam (their default if None).
    max_iter : int, default=None
        Epochs (mini-batch methods) or iterations (batch methods); the
        method's default if None (200 or 1000).
    batch_size : int, default=None
        Mini-batch size of sgd, momentum and adam (default 32).
    weight_decay : float, default=None
        lambda in E + lambda/2 w^T w, on the weights but not the biases
        (PRML 5.112), with E summed over the patterns of standardised data.
        None means 10 for the regressor and 1 for the classifier, the values
        that did best on scikit-learn's diabetes and digits data.
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
        Restarts run in parallel through joblib.
    progress : bool, default=False
        Show a progress bar while training.
    snapshots : int, default=0
        Keep this many weight vectors spread over training (``snapshots_``),
        for ``deltaprop explain`` to replay.

    Attributes
    ----------
    network_ : Network
    w_ : ndarray of shape (n_params,)
        The trained weights, for standardised inputs and targets.
    beta_ : float or ndarray of shape (n_outputs,)
        The noise precision beta_ML in the original target units.
    history_ : dict of arrays
        Per epoch: error, validation_error, grad_norm, seconds.
    snapshots_ : dict
        ``epoch`` (k,) and ``w`` (k, n_params): weights spread over training.
    restart_errors_ : ndarray of shape (restarts,)
        The final training error of each restart.
    training_ : dict
        The training summary: method, error, penalty, beta (in
        standardised units), validation_error, stop_reason, restarts,
        best_restart.
    n_features_in_ : int
    n_iter_ : int
        Epochs or iterations of the best restart.
    """

    _default_weight_decay = 10.0

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def fit(self, X, y):
        """Train on X (n_samples, n_features) and y (n_samples,) or (n_samples, n_outputs)."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self._single_output = y.ndim == 1
        T = y.reshape(len(y), -1)
        self.y_mean_, self.y_scale_ = _scaler(T, self.standardize)
        self._fit_network(X, (T - self.y_mean_) / self.y_scale_, "linear")
        beta = self.training_["beta"] / self.y_scale_**2  # 1/beta scales as the targets' variance
        self.beta_ = float(beta[0]) if self._single_output else beta
        return self

    def predict(self, X, return_std: bool = False):
        """The predictive mean y(x, w) and, with ``return_std``, the standard deviation sqrt(1/beta_ML) (PRML 5.16)."""
        Y = self._outputs(X) * self.y_scale_ + self.y_mean_
        std = np.broadcast_to(np.sqrt(1.0 / np.atleast_1d(self.beta_)), Y.shape).copy()
        if self._single_output:
            Y, std = Y[:, 0], std[:, 0]
        return (Y, std) if return_std else Y


class NetworkClassifier(ClassifierMixin, _NetworkEstimator):
    """A feed-forward network classifier with the cross-entropy error.

    Two classes: one logistic output unit, y = p(class 1 | x) (PRML 5.19);
    more: K softmax outputs, y_k = p(class k | x) (PRML 5.25). Labels may be
    integers or strings.

    Parameters
    ----------
    The same as :class:`NetworkRegressor`; ``standardize`` scales the inputs only.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    network_, w_, history_, restart_errors_, training_, n_features_in_, n_iter_
        As for :class:`NetworkRegressor`.
    """

    def fit(self, X, y):
        """Train on X (n_samples, n_features) and class labels y (n_samples,)."""
        X, y = validate_data(self, X, y, dtype=np.float64)
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

    def predict_proba(self, X) -> np.ndarray:
        """p(class | x) for each class, columns in the order of ``classes_``."""
        Y = self._outputs(X)
        return np.hstack([1.0 - Y, Y]) if Y.shape[1] == 1 else Y

    def predict(self, X) -> np.ndarray:
        """The class of largest posterior probability."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def estimator_class(name: str) -> type:
    return {"NetworkRegressor": NetworkRegressor, "NetworkClassifier": NetworkClassifier}[name]


