"""Model files: tensors plus checked JSON metadata, a network and its weights among them.

This module knows no estimator: ``deltaprop.estimators`` decides what an
estimator's file holds (its scalers, labels, training summary) and builds it
through ``write_model`` and ``ModelFile``.

The format is safetensors: the flat weight vector w, the connection masks and
the scalers are tensors; the architecture, the estimator's parameters, the
training summary and a format version are JSON in the header's metadata. A
SHA-256 digest over every tensor and every metadata entry detects a flipped
byte anywhere in the file. Loading never executes code (no pickle): a model
file from a stranger is data. Files are written to a temporary name and then
renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .engine.network import Network
from .files import atomic_write

FORMAT = "deltaprop-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be read: missing, truncated, corrupted, foreign or too new."""


# -- networks as data ----------------------------------------------------------


def network_to_dict(net: Network) -> dict:
    """The architecture as JSON-able data; masks go apart, as tensors named ``mask:W[dst<-src]``."""
    return {
        "layers": [[l.name, l.size, None if l.activation is None else l.activation.name] for l in net.layers.values()],
        "connections": [[c.src, c.dst, c.mask is not None] for c in net.connections],
    }


def network_from_dict(spec: dict, masks: dict) -> Network:
    layers = {}
    for name, size, activation in spec["layers"]:
        layers[name] = size if activation is None else (size, activation)
    connections = []
    for src, dst, masked in spec["connections"]:
        name = f"W[{dst}<-{src}]"
        connections.append((src, dst, masks[f"mask:{name}"]) if masked else (src, dst))
    return Network(layers, connections)


# -- writing -------------------------------------------------------------------


def _digest(tensors: dict, metadata: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{t.dtype.str}|{t.shape}|".encode())
        h.update(t.tobytes())
    for key in sorted(metadata):
        if key != "sha256":
            h.update(f"{key}={metadata[key]}|".encode())
    return h.hexdigest()


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else str(value)  # JSON has no nan or inf
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_model(path: Any, tensors: dict, metadata: dict) -> None:
    """Write ``tensors`` (name -> array) and ``metadata`` (name -> str) to ``path`` atomically, with the
    format, its version and a SHA-256 digest over everything."""
    from safetensors.numpy import save_file

    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), **metadata}
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    metadata["sha256"] = _digest(tensors, metadata)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def save_network(path: Any, net: Network, w: Any, metadata: Optional[dict] = None) -> None:
    """Write a bare network and its weights w to ``path``; ``metadata`` is any JSON-able dict kept with them."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (net.n_params,):
        raise ValueError(f"w must be a 1-D array of length n_params = {net.n_params}; got shape {w.shape}")
    write_model(path, network_tensors(net, w),
           {"kind": "network", "architecture": json.dumps(network_to_dict(net)),
            "user": json.dumps(jsonable(metadata or {}))})


def network_tensors(net: Network, w: np.ndarray) -> dict:
    tensors = {"w": w}
    for c in net.connections:
        if c.mask is not None:
            tensors[f"mask:{c.name}"] = c.mask
    return tensors


# -- reading -------------------------------------------------------------------


class ModelFile:
    """What a model file holds, checked: its kind, network, weights, tensors and metadata."""

    def __init__(self, path: Any):
        self.path = Path(path)
        self.tensors, self.metadata = _read(self.path)
        self.kind = self.metadata.get("kind")
        self.user = self.read_json("user") if "user" in self.metadata else {}
        try:
            masks = {k: v for k, v in self.tensors.items() if k.startswith("mask:")}
            self.network = network_from_dict(self.read_json("architecture"), masks)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{self.path}: the architecture it describes is not a valid network: {exc}") from None
        self.w = self.tensors.get("w")
        if self.w is None or self.w.dtype != np.float64 or self.w.shape != (self.network.n_params,):
            shape = None if self.w is None else self.w.shape
            raise ModelFileError(
                f"{self.path}: the weights have shape {shape}; the architecture needs ({self.network.n_params},) float64"
            )

    def read_json(self, key: str) -> Any:
        """The metadata entry ``key``, parsed as JSON."""
        try:
            return json.loads(self.metadata[key])
        except KeyError:
            raise ModelFileError(f"{self.path}: the metadata entry {key!r} is missing") from None
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{self.path}: the metadata entry {key!r} is not valid JSON: {exc}") from None

    def vector(self, name: str, size: int) -> np.ndarray:
        """The tensor ``name``, which must be a vector of ``size`` entries."""
        v = self.tensors.get(name)
        if v is None or v.shape != (size,):
            raise ModelFileError(f"{self.path}: tensor {name!r} has shape {None if v is None else v.shape}; expected ({size},)")
        return v


def _read(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.stat().st_size < 8:
        raise ModelFileError(f"{path} is too short to be a model file ({path.stat().st_size} bytes): truncated or empty")
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise ModelFileError(
            f"{path} is not a deltaprop model file: it is not a complete safetensors file ({exc}); "
            f"it may be truncated, corrupted or of another format"
        ) from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file but not a deltaprop model (format {metadata.get('format')!r})")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        version = None
    if version is not None and version > FORMAT_VERSION:  # before the digest: a newer format may digest otherwise
        raise ModelFileError(
            f"{path} was written by a newer deltaprop (model format version {version}); this deltaprop reads "
            f"version {FORMAT_VERSION}: upgrade deltaprop to load it"
        )
    if metadata.get("sha256") != _digest(tensors, metadata):
        raise ModelFileError(f"{path} has been modified or corrupted: its contents do not match their SHA-256 digest")
    if version is None or version < 1:
        raise ModelFileError(f"{path}: unknown model format version {metadata.get('format_version')!r}")
    return tensors, metadata


def load_network(path: Any) -> tuple[Network, np.ndarray]:
    """Load ``(network, w)`` from any model file, a bare network's or an estimator's."""
    f = ModelFile(path)
    return f.network, f.w
