"""Numerics on top of the engine: the Gaussian noise model (beta_ML, the negative log likelihood,
the predictive distribution) and the checks of derivatives by central differences."""

from .derivative_checks import GradientCheck, central_differences, gradient_check
from .likelihood import gaussian_nll, negative_log_likelihood, noise_precision, predictive

__all__ = ["GradientCheck", "central_differences", "gradient_check", "gaussian_nll", "negative_log_likelihood",
           "noise_precision", "predictive"]
