"""The lecture's simple example and the four functions of PRML Figure 5.3."""

from __future__ import annotations

import numpy as np

from .engine.network import mlp

#: The four functions of PRML Figure 5.3. The figure's caption prints sin(x), nearly a
#: straight line on (-1, 1); the figure itself shows sin(pi x), used here.
FIGURE_5_3 = {
    "x^2": lambda x: x**2,
    "sin(pi x)": lambda x: np.sin(np.pi * x),
    "|x|": np.abs,
    "H(x)": lambda x: np.heaviside(x, 0.5),
}


def seed_example(seed: int = 0, N: int = 50, target: str = "sin(pi x)"):
    """The lecture's simple example: N points x uniform in (-1, 1), t = f(x), a 1-3-1 tanh network.

    ``target`` names one of the functions of PRML Figure 5.3 (``FIGURE_5_3``).
    Returns ``(net, X, T)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(N, 1))
    return mlp([1, 3, 1], hidden="tanh", output="linear"), X, FIGURE_5_3[target](X)


def inverse_problem(seed: int = 0, N: int = 1000):
    """PRML 5.6's inverse problem (Figures 5.19-5.21): t uniform in (0, 1), x = t + 0.3 sin(2 pi t) plus noise
    uniform in (-0.1, 0.1), and the network asked for t given x, which has up to three answers for one x.

    Returns ``(X, T)``, each (N, 1).
    """
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, 1.0, size=(N, 1))
    x = t + 0.3 * np.sin(2.0 * np.pi * t) + rng.uniform(-0.1, 0.1, size=(N, 1))
    return x, t
