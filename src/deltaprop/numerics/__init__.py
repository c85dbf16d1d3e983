"""Numerics on top of the engine: the Gaussian noise model (beta_ML, the negative log likelihood,
the predictive distribution) and the checks of derivatives by central differences."""

from .derivative_checks import GradientCheck, HessianCheck, central_differences, gradient_check, hessian_check
from .likelihood import gaussian_nll, negative_log_likelihood, noise_precision, predictive

__all__ = ["GradientCheck", "HessianCheck", "hessian_check", "central_differences", "gradient_check", "gaussian_nll", "negative_log_likelihood",
           "noise_precision", "predictive"]
