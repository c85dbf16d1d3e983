"""Model files: a network, its weights and, for an estimator, its scalers and labels.

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

from .files import atomic_write
from .network import Network

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


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else str(value)  # JSON has no nan or inf
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _write(path: Any, tensors: dict, metadata: dict) -> None:
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
    _write(path, _network_tensors(net, w),
           {"kind": "network", "architecture": json.dumps(network_to_dict(net)),
            "user": json.dumps(_jsonable(metadata or {}))})


def _network_tensors(net: Network, w: np.ndarray) -> dict:
    tensors = {"w": w}
    for c in net.connections:
        if c.mask is not None:
            tensors[f"mask:{c.name}"] = c.mask
    return tensors


def _classes_to_json(classes: np.ndarray) -> dict:
    values = classes.tolist()
    for kind, types in (("bool", (bool,)), ("int", (int,)), ("float", (float,)), ("str", (str,))):
        if all(isinstance(v, types) and not (kind == "int" and isinstance(v, bool)) for v in values):
            return {"kind": kind, "values": values}
    raise ValueError(f"class labels must all be numbers or all strings to be saved; got {values!r}")


def save_estimator(est, path: Any, metadata: Optional[dict] = None) -> None:
    """Write a fitted NetworkRegressor or NetworkClassifier to ``path``."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "w_")
    net = est.network_
    tensors = _network_tensors(net, np.asarray(est.w_, dtype=np.float64))
    tensors.update(x_mean=est.x_mean_, x_scale=est.x_scale_)
    if len(est.snapshots_["epoch"]):
        tensors["snapshots"] = np.asarray(est.snapshots_["w"], dtype=np.float64)
    info: dict = {"n_features_in": est.n_features_in_,
                  "feature_names": list(getattr(est, "feature_names_in_", [])) or None}
    if hasattr(est, "classes_"):
        info["classes"] = _classes_to_json(est.classes_)
    else:
        tensors.update(y_mean=est.y_mean_, y_scale=est.y_scale_)
        info.update(single_output=bool(est._single_output), beta=est.beta_)
    params = est.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
        params["random_state"] = None
    training = {**est.training_, "history": est.history_, "restart_errors": est.restart_errors_, "n_iter": est.n_iter_,
                "snapshot_epochs": est.snapshots_["epoch"]}
    _write(path, tensors, {
        "kind": type(est).__name__,
        "architecture": json.dumps(network_to_dict(net)),
        "params": json.dumps(_jsonable(params)),
        "estimator": json.dumps(_jsonable(info)),
        "training": json.dumps(_jsonable(training)),
        "user": json.dumps(_jsonable(metadata or {})),
    })


# -- reading -------------------------------------------------------------------


class ModelFile:
    """What a model file holds, checked: its kind, network, weights, tensors and metadata."""

    def __init__(self, path: Any):
        self.path = Path(path)
        self.tensors, self.metadata = _read(self.path)
        self.kind = self.metadata.get("kind")
        self.user = self._json("user") if "user" in self.metadata else {}
        try:
            masks = {k: v for k, v in self.tensors.items() if k.startswith("mask:")}
            self.network = network_from_dict(self._json("architecture"), masks)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{self.path}: the architecture it describes is not a valid network: {exc}") from None
        self.w = self.tensors.get("w")
        if self.w is None or self.w.dtype != np.float64 or self.w.shape != (self.network.n_params,):
            shape = None if self.w is None else self.w.shape
            raise ModelFileError(
                f"{self.path}: the weights have shape {shape}; the architecture needs ({self.network.n_params},) float64"
            )

    def _json(self, key: str) -> Any:
        try:
            return json.loads(self.metadata[key])
        except KeyError:
            raise ModelFileError(f"{self.path}: the metadata entry {key!r} is missing") from None
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{self.path}: the metadata entry {key!r} is not valid JSON: {exc}") from None

    def estimator(self):
        """The fitted estimator this file holds."""
        from .estimators import NetworkClassifier, NetworkRegressor

        classes = {"NetworkRegressor": NetworkRegressor, "NetworkClassifier": NetworkClassifier}
        if self.kind not in classes:
            raise ModelFileError(f"{self.path} holds a bare network, not an estimator: load it with dp.load_network")
        params = self._json("params")
        params["hidden"] = tuple(params["hidden"]) if isinstance(params["hidden"], list) else params["hidden"]
        info, training = self._json("estimator"), self._json("training")
        try:
            est = classes[self.kind](**params)
        except TypeError as exc:
            raise ModelFileError(f"{self.path}: its estimator parameters do not fit {self.kind}: {exc}") from None
        net, D, K = self.network, self.network.D, self.network.K
        est.network_, est.w_, est.n_features_in_ = net, self.w, info["n_features_in"]
        if D != est.n_features_in_:
            raise ModelFileError(f"{self.path}: the network has {D} inputs but the estimator {est.n_features_in_} features")
        if info.get("feature_names"):
            est.feature_names_in_ = np.array(info["feature_names"], dtype=object)
        est.x_mean_, est.x_scale_ = self._vector("x_mean", D), self._vector("x_scale", D)
        if self.kind == "NetworkRegressor":
            est.y_mean_, est.y_scale_ = self._vector("y_mean", K), self._vector("y_scale", K)
            est._single_output = bool(info["single_output"])
            est.beta_ = float(info["beta"]) if est._single_output else np.asarray(info["beta"], dtype=float)
        else:
            kind, values = info["classes"]["kind"], info["classes"]["values"]
            est.classes_ = np.array(values, dtype=object if kind == "str" else None)
            if len(est.classes_) != (2 if K == 1 else K):
                raise ModelFileError(f"{self.path}: {len(est.classes_)} classes do not fit {K} output units")
        est.history_ = {k: np.asarray(v, dtype=int if k == "epoch" else float) for k, v in training.pop("history").items()}
        est.restart_errors_ = np.asarray(training.pop("restart_errors"), dtype=float)
        est.n_iter_ = training.pop("n_iter")
        epochs = np.asarray(training.pop("snapshot_epochs", []), dtype=int)
        snapshots = self.tensors.get("snapshots", np.zeros((0, net.n_params)))
        if snapshots.shape != (len(epochs), net.n_params):
            raise ModelFileError(f"{self.path}: {snapshots.shape[0]} snapshots of weights for {len(epochs)} epochs")
        est.snapshots_ = {"epoch": epochs, "w": snapshots}
        est.training_ = training
        return est

    def _vector(self, name: str, size: int) -> np.ndarray:
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


def load(path: Any):
    """Load the fitted NetworkRegressor or NetworkClassifier saved in ``path``."""
    return ModelFile(path).estimator()


def load_network(path: Any) -> tuple[Network, np.ndarray]:
    """Load ``(network, w)`` from any model file, a bare network's or an estimator's."""
    f = ModelFile(path)
    return f.network, f.w
