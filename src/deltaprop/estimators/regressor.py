"""``NetworkRegressor``: linear outputs, the sum-of-squares error, beta from the data (PRML 5.16, 5.7).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ..io import ModelFile
from ..numerics import gaussian_nll
from .base import _BayesianEstimator, _positive, _RealTargets


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
        method's default if None (200 or 1000). With the evidence, the
        limit of each start's first training, and of each later cycle's
        where it is under the cycles' 100.
    batch_size : int, default=None
        Mini-batch size of sgd, momentum and adam (default 32).
    weight_decay : "evidence", float or None, default=None
        "evidence": one prior precision alpha per group of weights (PRML
        5.5.1), the first layer's weights one per input (automatic relevance
        determination: ``prior="relevance"`` of ``deltaprop.train_evidence``,
        which prunes the inputs the data do not need), and the noise
        precision beta, re-estimated from the training data by the evidence
        (PRML 5.7); then
        ``predict(X, return_std=True)`` gives the Laplace approximation's
        predictive standard deviation, which grows away from the training
        inputs. A number: lambda in E + lambda/2 w^T w, on the weights but not
        the biases (PRML 5.112), E summed over the patterns of standardised
        data. None: "evidence", at any size (see ``hessian``), falling back,
        with a warning, to 10 (1 for the classifier) only where validation
        data are held out.
    restarts : int, default=3
        Random initialisations: with a fixed weight decay the best is kept;
        with the evidence each runs its own cycles and predictions are their
        committee's (``committee``); the second (and fourth, ...) settles one
        alpha per layer before it splits the first layer's per input.
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
        Restarts run in parallel through joblib (threads), with a fixed weight decay;
        the evidence's starts, each with its own cycles, on this many threads
        (-1: all cores; ``deltaprop.train_evidence``). The same fit at any n_jobs.
    progress : bool, default=False
        Show a progress bar while training.
    snapshots : int, default=0
        Keep this many weight vectors spread over training (``snapshots_``),
        for ``deltaprop explain`` to replay.
    hessian : {"auto", "exact", "ggn", "kron", "diag", "last_layer"}, default="auto"
        The structure of the evidence's Hessian (``deltaprop.laplace``):
        "auto" takes the exact one while it is cheap, the dense Gauss-Newton
        matrix while that costs about a cycle's training, the
        Kronecker-factored one above, so that the evidence runs at every size.
    committee : {"uniform", "evidence", "best"}, default="uniform"
        With the evidence each of the ``restarts`` starts runs its own cycles;
        predictions mix the starts' Laplace predictive distributions with
        these weights (``deltaprop.Committee``).
    prior : {"relevance", "groups", "shared"} or None, default=None
        The evidence's groups of weights, one alpha each
        (``deltaprop.train_evidence``): "relevance", one per input for the
        first layer's weights and one per group elsewhere; "groups", one per
        layer's weights and one per layer's biases (PRML 5.5.1; on Boston's
        20 UCI splits RMSE 3.32 and LL -2.46 against 2.89 and -2.37);
        "shared", one for all of w. None: "relevance" for this estimator, "shared" for
        the classifier. Only with the evidence.

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
        Per epoch: error, validation_error, grad_norm, seconds (with the
        evidence, of the kept start's last cycle).
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
        Epochs or iterations of the best restart; with the evidence, of
        every training of the kept start (its cycles continue one another).
    """

    _fixed_weight_decay = 10.0
    _evidence_prior = "relevance"

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

    @staticmethod
    def _fitted_problem(net, params: dict, info: dict) -> str:
        """What is wrong with the entries ``_save_fitted`` writes, as read from a file; "" if nothing."""
        output = net.layers[net.output].activation.name
        if output != "linear":
            return f"a NetworkRegressor has linear outputs; this network's are {output}"
        if not isinstance(info.get("single_output"), bool) or (info["single_output"] and net.K != 1):
            return f"estimator.single_output must be true or false (and false for {net.K} outputs)"
        beta = info.get("beta")
        ok = _positive(beta) if info["single_output"] else \
            isinstance(beta, list) and len(beta) == net.K and all(_positive(b) for b in beta)
        if not ok:
            return (f"estimator.beta must be {'a positive number' if info['single_output'] else f'{net.K} positive numbers'}"
                    f"; got {beta!r}")
        return ""

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
