"""Optimisers on a flat weight vector w, knowing nothing of networks: the step rules (and their
compiled kernels) and scaled conjugate gradients. Each sees only ``fun(w, batch) -> (E, g)``."""

from .rules import (METHODS, SCIPY_METHODS, STOCHASTIC_METHODS, Adam, GradientDescent, Momentum, StepRule,
                    make_optimizer)
from .scg import ScaledConjugateGradients

__all__ = ["METHODS", "SCIPY_METHODS", "STOCHASTIC_METHODS", "Adam", "GradientDescent", "Momentum", "StepRule",
           "ScaledConjugateGradients", "make_optimizer"]
