"""``NetworkClassifier``: a logistic output for two classes, softmax for more, the cross-entropy (PRML 5.21, 5.24).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..io import ModelFile
from .base import _BayesianEstimator


class NetworkClassifier(ClassifierMixin, _BayesianEstimator):
    """A feed-forward network classifier with the cross-entropy error.

    Two classes: one logistic output unit, y = p(class 1 | x) (PRML 5.19);
    more: K softmax outputs, y_k = p(class k | x) (PRML 5.25). Labels may be
    integers or strings.

    Parameters
    ----------
    The same as :class:`NetworkRegressor`; ``standardize`` scales the inputs only.
    With the evidence (the default) the prior has one alpha for all of w, as
    PRML 5.7.3 writes it (``prior=None``: "shared"), and ``predict_proba``
    gives the moderated probabilities (PRML 5.190). One alpha per layer fell
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

    _OUTPUT = "logistic or softmax"

    def _save_fitted(self, tensors: dict, info: dict) -> tuple[dict, dict]:
        info["classes"] = _classes_to_json(self.classes_)
        return tensors, info

    @staticmethod
    def _fitted_problem(net, params: dict, info: dict) -> str:
        """What is wrong with the entries ``_save_fitted`` writes, as read from a file; "" if nothing."""
        output = net.layers[net.output].activation.name
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
        return ""

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

def _classes_to_json(classes: np.ndarray) -> dict:
    values = classes.tolist()
    for kind, types in (("bool", (bool,)), ("int", (int,)), ("float", (float,)), ("str", (str,))):
        if all(isinstance(v, types) and not (kind == "int" and isinstance(v, bool)) for v in values):
            return {"kind": kind, "values": values}
    raise ValueError(f"class labels must all be numbers or all strings to be saved; got {values!r}")
