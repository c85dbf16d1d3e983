"""The options of ``train``, checked once, before any work: a ``Config`` holds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from ..engine.checks import number
from ..numerics.prior import Prior
from ..optimize import METHODS, STOCHASTIC_METHODS

DEFAULT_EPOCHS = {"gd": 1000, "sgd": 200, "momentum": 200, "adam": 200, "scg": 1000, "lm": 1000, "lbfgs": 1000, "bfgs": 1000, "cg": 1000}
DEFAULT_LEARNING_RATE = {"gd": 0.1, "sgd": 0.01, "momentum": 0.01, "adam": 0.001}
DEFAULT_BATCH_SIZE = 32
DEFAULT_TOL = 1e-10  # batch methods only: the mini-batch methods' E is too noisy for it
HISTORY_MODES = ("exact", "running")


@dataclass
class Config:
    """The options of one ``train`` call, checked (``make_config``)."""

    method: str
    epochs: int
    learning_rate: Optional[float]
    batch_size: Optional[int]
    momentum: float
    nesterov: bool
    tol: float
    prior: Prior  # the weight decay: lambda_g per group of w (PRML 5.112, 5.5.1), as a prior's precisions
    early_stopping: Optional[int]
    checkpoint_every: float
    snapshots: int = 0
    history: str = "exact"

    def fingerprint(self) -> dict:
        keys = ("method", "learning_rate", "batch_size", "momentum", "nesterov")
        return {**{k: getattr(self, k) for k in keys}, "weight_decay": self.prior.alphas}


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def make_config(net, N: int, *, method, epochs, max_iter, learning_rate, batch_size, momentum, nesterov, tol,
                weight_decay, early_stopping, has_validation, checkpoint_every, snapshots=0, history="exact") -> Config:
    """The options of ``train`` for ``net`` and N training patterns, checked; see ``train`` for each."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if epochs is not None and max_iter is not None:
        raise ValueError("give epochs or max_iter, not both: they are the same limit")
    limit = epochs if epochs is not None else max_iter
    limit = DEFAULT_EPOCHS[method] if limit is None else positive_int("epochs" if epochs is not None else "max_iter", limit)

    first_order = method in DEFAULT_LEARNING_RATE
    if not first_order:
        for name, value in (("learning_rate", learning_rate), ("batch_size", batch_size), ("momentum", momentum)):
            if value is not None:
                raise ValueError(f"{name} does not apply to method {method!r}, which chooses its own steps over the whole batch")
    if learning_rate is None and first_order:
        learning_rate = DEFAULT_LEARNING_RATE[method]
    if learning_rate is not None:
        learning_rate = number("learning_rate", learning_rate, 0.0, low_open=True)
    if method in STOCHASTIC_METHODS:
        batch_size = min(DEFAULT_BATCH_SIZE, N) if batch_size is None else positive_int("batch_size", batch_size)
        if batch_size > N:
            raise ValueError(f"batch_size {batch_size} is larger than the number of training patterns N = {N}")
    elif batch_size is not None:
        raise ValueError(f"batch_size does not apply to method {method!r}, which uses all N patterns each step")
    if momentum is not None and method != "momentum":
        raise ValueError(f"momentum applies to method 'momentum' only; got method {method!r}")
    momentum = 0.9 if momentum is None else number("momentum", momentum, 0.0, 1.0)
    if momentum >= 1.0:
        raise ValueError(f"momentum must be below 1; got {momentum}")
    if tol is None:
        tol = 0.0 if method in STOCHASTIC_METHODS else DEFAULT_TOL
    tol = number("tol", tol, 0.0)
    if isinstance(weight_decay, Mapping):
        weight_decay = {k: number(f"weight_decay[{k!r}]", v, 0.0) for k, v in weight_decay.items()}
    elif not isinstance(weight_decay, Prior):
        weight_decay = number("weight_decay", weight_decay, 0.0)
    prior = Prior.of(net, weight_decay, name="weight_decay", allow_zero=True)
    if early_stopping is not None:
        early_stopping = positive_int("early_stopping", early_stopping)
        if not has_validation:
            raise ValueError("early_stopping needs validation data: pass validation=(X_val, T_val) or a fraction such as 0.1")
    checkpoint_every = number("checkpoint_every", checkpoint_every, 0.0)
    snapshots = positive_int("snapshots", snapshots, minimum=0)
    if history not in HISTORY_MODES:
        raise ValueError(f"unknown history {history!r}; expected one of {', '.join(map(repr, HISTORY_MODES))}")
    if method not in STOCHASTIC_METHODS or batch_size >= N:
        history = "exact"  # each epoch is one step on all the data: its exact E comes with the next gradient
    return Config(method, limit, learning_rate, batch_size, momentum, bool(nesterov), tol, prior, early_stopping,
                  checkpoint_every, snapshots, history)
