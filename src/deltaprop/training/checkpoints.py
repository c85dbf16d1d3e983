"""Checkpoints: a restart's state as ``.npz`` arrays with JSON metadata, written atomically, read
without pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.network import Network
from ..files import atomic_write
from .config import Config

CHECKPOINT_FORMAT = "deltaprop-checkpoint"
CHECKPOINT_VERSION = 1


def restart_path(path: Optional[Path], index: int, restarts: int) -> Optional[Path]:
    if path is None or restarts == 1:
        return path
    return path.with_name(f"{path.stem}.restart{index}{path.suffix}")


def save_checkpoint(path: Path, arrays: dict, meta: dict) -> None:
    """Write arrays and JSON metadata to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)

    atomic_write(path, write)


def load_checkpoint(path: Path, net: Network, config: Config) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{path} is not a deltaprop checkpoint (it could not be read: {exc})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a deltaprop checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is a checkpoint of format version {meta.get('version')}; this deltaprop reads version {CHECKPOINT_VERSION}")
    if meta.get("n_params") != net.n_params or arrays.get("w", np.zeros(0)).shape != (net.n_params,):
        raise ValueError(f"{path} holds weights for {meta.get('n_params')} parameters; this network has {net.n_params}")
    if meta.get("config") != config.fingerprint():
        raise ValueError(
            f"{path} was written by training with {meta.get('config')}; resuming with {config.fingerprint()} "
            f"would not continue the same run"
        )
    return arrays, meta
