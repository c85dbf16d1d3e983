"""What training returns and what its callbacks see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..engine.network import Network


class TrainingWarning(UserWarning):
    """Training stopped for a reason the caller should hear about (divergence)."""


@dataclass
class TrainState:
    """What a callback sees after each epoch. A callback returning True stops training."""

    restart: int
    epoch: int
    w: np.ndarray
    error: float
    validation_error: Optional[float]
    grad_norm: float
    seconds: float


@dataclass
class Restart:
    """The outcome of one restart: its seed, final errors and why it stopped."""

    index: int
    seed: int
    error: float
    validation_error: Optional[float]
    epochs: int
    stop_reason: str


@dataclass(frozen=True)
class Pairs:
    """L-BFGS's curvature pairs at the end of a run (Nocedal and Wright 2006, 7.2): rows of ``s`` (steps) and ``y``
    (the objective's gradient differences), oldest first, and ``decay``, the weight decay lambda_i of each entry of
    w they were formed under. ``train(init=result)`` continues with them; under another weight decay each y is
    that objective's, y + (lambda' - lambda) s, exactly, the penalty being quadratic."""

    s: np.ndarray
    y: np.ndarray
    decay: np.ndarray


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes
    ----------
    w : ndarray
        The best weights: least training objective (E plus weight decay)
        over all epochs and restarts, or least validation error when
        validation data are given.
    error : float
        E(w) on the training data, without the weight-decay term.
    penalty : float
        The weight-decay term lambda/2 sum w^2 at w (PRML 5.112).
    beta : float or None
        beta_ML at w on the training data (PRML 5.17); None unless the
        outputs are linear.
    validation_error : float or None
        E(w) on the validation data.
    history : dict of arrays
        Per epoch (or iteration) of the best restart, epoch 0 being the
        initial weights: ``epoch``, ``error``, ``validation_error`` (NaN
        when there is no validation data), ``grad_norm`` (of the objective)
        and ``seconds``.
    stop_reason : str
        "interrupted" if Ctrl-C ended the run (in any restart); else why
        the best restart stopped: "max epochs", "converged",
        "early stopping", "callback", "interrupted", "diverged", or
        "scipy: " and the message of a SciPy method that stopped short.
    restarts : list of Restart
        One summary per restart, in order: the spread of minima.
    best_restart : int
        The index of the restart that gave w.
    snapshots : dict
        With ``train(..., snapshots=K)``: ``epoch`` (k,) and ``w`` (k,
        n_params), weight vectors spread over the best restart's run.
    engine : str
        The backend of ``deltaprop.fast`` that made every evaluation of the
        run: "compiled", "buffered" or "reference".
    loop : str
        How the epochs ran: "fused" (whole chunks of epochs in one compiled
        call, ``deltaprop.training.fused``), "steps" (one epoch per Python
        call) or "scipy" (``scipy.optimize.minimize``).
    pairs : Pairs or None
        lbfgs's curvature pairs at w, where the fused loop ran it: what
        ``train(init=result)`` continues with.
    """

    w: np.ndarray
    error: float
    penalty: float
    beta: Optional[float]
    validation_error: Optional[float]
    history: dict
    stop_reason: str
    restarts: list
    best_restart: int
    method: str
    network: Network = field(repr=False)
    snapshots: dict = field(default_factory=dict, repr=False)
    engine: str = "reference"
    loop: str = "steps"
    pairs: Optional[Pairs] = field(default=None, repr=False)

    @property
    def restart_errors(self) -> np.ndarray:
        """The final training error E of every restart."""
        return np.array([r.error for r in self.restarts])
