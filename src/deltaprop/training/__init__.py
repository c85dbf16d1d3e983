"""Training (PRML 5.2): ``train`` and its result; the options checked once (``config``); the
objective over one evaluator (``objective``); one restart with the one copy of its rules
(``restart``, ``rules``); the loops (``loops``, ``fused``); restarts through joblib (``restarts``);
the weight decay set by the evidence (``evidence``, PRML 5.7)."""

from .evidence import EvidenceResult, train_evidence
from .restarts import dask_client, on_scheduler
from .result import Restart, TrainingWarning, TrainResult, TrainState
from .train import check_lm_output, train

__all__ = ["EvidenceResult", "train_evidence", "Restart", "TrainingWarning", "TrainResult", "TrainState", "check_lm_output", "dask_client",
           "on_scheduler", "train"]
