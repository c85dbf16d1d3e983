"""Numerics on top of the engine: the Gaussian noise model (beta_ML, the negative log likelihood,
the predictive distribution), the Laplace approximation and the evidence (PRML 5.7), and the checks
of derivatives by central differences; what a mixture density network says of t given x (``mixture``)."""

from . import mixture

from .derivative_checks import GradientCheck, HessianCheck, central_differences, gradient_check, hessian_check
from .laplace import Committee, Posterior, laplace
from .prior import Prior
from .likelihood import gaussian_nll, negative_log_likelihood, noise_precision, predictive

__all__ = ["mixture", "Committee", "Posterior", "Prior", "laplace", "GradientCheck", "HessianCheck", "hessian_check", "central_differences", "gradient_check", "gaussian_nll", "negative_log_likelihood",
           "noise_precision", "predictive"]
