"""``MixtureDensityRegressor``: p(t | x) as a mixture of Gaussians (PRML 5.6).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Optional

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..io import ModelFile
from .base import _NetworkEstimator, _RealTargets


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
        from ..numerics import mixture

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
        from ..numerics import mixture

        inputs = self.network_inputs(X)
        T = self.network_targets(y)
        if len(T) != len(inputs):
            raise ValueError(f"y has {len(T)} rows but X has {len(inputs)}")
        return -mixture.log_density(self.network_, self.w_, inputs, T) + float(np.sum(np.log(self.y_scale_)))

    def sample(self, X, size: int = 1, random_state: Any = None) -> np.ndarray:
        """Draws t ~ p(t | x) in target units: (n_samples, size), or (n_samples, size, L) for L targets."""
        from ..numerics import mixture

        inputs = self.network_inputs(X)
        draws = mixture.sample(self.network_, self.w_, inputs, size=size, seed=random_state)
        draws = draws * self.y_scale_ + self.y_mean_
        return draws[:, :, 0] if self._single_output else draws

    @property
    def _OUTPUT(self) -> str:
        return f"mdn:{self.components}"

    def _check_settings(self) -> None:
        if isinstance(self.weight_decay, str) and self.weight_decay == "evidence":
            raise ValueError("weight_decay='evidence' (PRML 5.7) needs the Hessian of an output with its canonical error, "
                             "which a mixture density network has not: give weight_decay a number")
        super()._check_settings()

    def _save_fitted(self, tensors: dict, info: dict) -> tuple[dict, dict]:
        tensors.update(y_mean=self.y_mean_, y_scale=self.y_scale_)
        info.update(single_output=bool(self._single_output))
        return tensors, info

    @staticmethod
    def _fitted_problem(net, params: dict, info: dict) -> str:
        """What is wrong with the entries ``_save_fitted`` writes, as read from a file; "" if nothing."""
        output = net.layers[net.output].activation.name
        if output != f"mdn:{params.get('components')}":
            return (f"a MixtureDensityRegressor of params.components = {params.get('components')!r} has the output "
                    f"'mdn:{params.get('components')}'; this network's is {output}")
        if not isinstance(info.get("single_output"), bool) or (info["single_output"] and net.target_size != 1):
            return f"estimator.single_output must be true or false (and false for {net.target_size} target dimensions)"
        return ""

    def _load_fitted(self, f: ModelFile, info: dict) -> None:
        L = self.network_.target_size
        self.y_mean_, self.y_scale_ = f.vector("y_mean", L), f.vector("y_scale", L)
        self._single_output = bool(info["single_output"])
