"""deltaprop: feed-forward networks trained by error backpropagation, written
as the equations of Bishop's PRML chapter 5.

>>> import deltaprop as dp
>>> net = dp.mlp([1, 3, 1])                    # the lecture's D=1, M=3 tanh, K=1 network
>>> w = net.init(seed=0)                        # PRML's weight vector, one flat array
>>> E, g = net.error_and_gradient(w, X, T)     # E(w) and dE/dw by backpropagation  # doctest: +SKIP
"""

from .engine import ACTIVATIONS, Activation, Connection, Layer, Network, Trace, mlp
from .engine.second import inverse_outer_product as inverse_outer_product_hessian
from .fast import hessian, hessian_vector_product, jacobian, outer_product_hessian, weight_jacobian
from .numerics import (Committee, GradientCheck, HessianCheck, Posterior, central_differences, gradient_check, hessian_check,
                       laplace, mixture, negative_log_likelihood, noise_precision, predictive)
from .numerics.prior import Prior
from .training import EvidenceResult, Restart, TrainingWarning, TrainResult, TrainState, train, train_evidence

__version__ = "0.1.0"

# scikit-learn and safetensors load only when their part is used: `import deltaprop` stays quick.
_LAZY = {
    "NetworkRegressor": "estimators",
    "NetworkClassifier": "estimators",
    "MixtureDensityRegressor": "estimators",
    "load": "estimators",
    "load_network": "io",
    "save_network": "io",
    "ModelFileError": "io",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'deltaprop' has no attribute {name!r}")


__all__ = [
    "NetworkRegressor",
    "NetworkClassifier",
    "MixtureDensityRegressor",
    "load",
    "load_network",
    "save_network",
    "ModelFileError",
    "ACTIVATIONS",
    "Activation",
    "Connection",
    "GradientCheck",
    "inverse_outer_product_hessian",
    "hessian",
    "hessian_vector_product",
    "jacobian",
    "outer_product_hessian",
    "weight_jacobian",
    "HessianCheck",
    "hessian_check",
    "laplace",
    "mixture",
    "Posterior",
    "Committee",
    "Prior",
    "Layer",
    "Network",
    "Trace",
    "central_differences",
    "gradient_check",
    "mlp",
    "negative_log_likelihood",
    "noise_precision",
    "predictive",
    "Restart",
    "TrainResult",
    "TrainState",
    "TrainingWarning",
    "train",
    "train_evidence",
    "EvidenceResult",
]
