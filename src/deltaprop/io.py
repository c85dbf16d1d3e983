"""Model files: tensors plus checked JSON metadata, a network and its weights among them.

This module knows no estimator: ``deltaprop.estimators`` decides what an
estimator's file holds (its scalers, labels, training summary) and builds it
through ``write_model`` and ``ModelFile``.

The format is safetensors: the flat weight vector w, the connection masks and
the scalers are tensors; the architecture, the estimator's parameters, the
training summary and a format version are JSON in the header's metadata. A
SHA-256 digest over one canonical serialisation of the metadata (sorted-key
JSON) and of every tensor (name, dtype, shape and bytes) detects a changed
byte anywhere in the file. Loading never executes code (no pickle): a model
file from a stranger is data, read in this order, each step refusing with a
``ModelFileError`` that names what is wrong before the next one runs:

1. the safetensors header alone (its size bounded by ``MAX_HEADER``): every
   tensor's dtype, shape and place in the file;
2. the format, its version and the architecture, which fixes the tensors the
   file may hold (``TENSORS``): a tensor of another name, dtype or shape is
   refused before any tensor is read;
3. the tensors, the digest, and their values (finite weights, positive scales).

Files are written to a temporary name and then renamed, so a crash never
leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .engine.network import Network
from .files import atomic_write

FORMAT = "deltaprop-model"
FORMAT_VERSION = 5  # 2: the canonical digest (version 1 files are read with theirs); 3: posterior_precision;
# 4: the posterior as its curvature structure's factors (posterior:NAME:FACTOR); format 3's A is still read;
# 5: the estimators' prior parameter (earlier files were fitted with the prior it names for them)
MAX_HEADER = 64 * 2**20  # bytes of safetensors header (the metadata JSON): a history of about a million epochs
DTYPES = {"F64": np.float64, "BOOL": np.bool_}  # the only tensor dtypes deltaprop writes


NETWORK = "network"  # the kind of a file that holds a bare network; estimators name their own (``ModelFile``)


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
    """The network that ``network_to_dict`` describes, its masks given as ``{"mask:W[dst<-src]": array}``."""
    layers = {}
    for name, size, activation in spec["layers"]:
        layers[name] = size if activation is None else (size, activation)
    connections = []
    for src, dst, masked in spec["connections"]:
        name = f"W[{dst}<-{src}]"
        connections.append((src, dst, masks[f"mask:{name}"]) if masked else (src, dst))
    return Network(layers, connections)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_architecture(spec: Any) -> str:
    """What is wrong with an architecture read from a file (its JSON form), or "" if nothing is."""
    if not isinstance(spec, dict) or set(spec) != {"layers", "connections"}:
        return "it must be an object with exactly 'layers' and 'connections'"
    if not isinstance(spec["layers"], list) or not isinstance(spec["connections"], list):
        return "'layers' and 'connections' must be lists"
    for i, layer in enumerate(spec["layers"]):
        if not (isinstance(layer, list) and len(layer) == 3 and isinstance(layer[0], str) and _is_int(layer[1])
                and layer[1] >= 1 and (layer[2] is None or isinstance(layer[2], str))):
            return f"layers[{i}] must be [name, size >= 1, activation or null]"
    for i, c in enumerate(spec["connections"]):
        if not (isinstance(c, list) and len(c) == 3 and isinstance(c[0], str) and isinstance(c[1], str)
                and isinstance(c[2], bool)):
            return f"connections[{i}] must be [source, destination, masked]"
    return ""


# -- writing -------------------------------------------------------------------


def _digest(tensors: dict, metadata: dict) -> str:
    """SHA-256 of the sorted-key JSON of the metadata (without the digest), then of each tensor's
    [name, dtype, shape] as JSON and its bytes, in name order: every part delimits itself."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in metadata.items() if k != "sha256"}, sort_keys=True).encode())
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        h.update(json.dumps([name, t.dtype.str, list(t.shape)]).encode())
        h.update(t.tobytes())
    return h.hexdigest()


def _digest_v1(tensors: dict, metadata: dict) -> str:
    """The digest of format version 1, to read its files: text joined without escaping."""
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
           {"kind": NETWORK, "architecture": json.dumps(network_to_dict(net)),
            "user": json.dumps(jsonable(metadata or {}))})


def network_tensors(net: Network, w: np.ndarray) -> dict:
    tensors = {"w": w}
    for c in net.connections:
        if c.mask is not None:
            tensors[f"mask:{c.name}"] = c.mask
    return tensors


# -- reading -------------------------------------------------------------------


#: The tensors a model file may hold, by name: w, one mask per masked connection, and the scalers and
#: snapshots of an estimator's file, and the Laplace posterior's precision A (PRML 5.166) of one trained by the
#: evidence. ``expected_tensors`` gives their dtypes and shapes for a network.
TENSORS = ("w", "mask:W[dst<-src]", "x_mean", "x_scale", "y_mean", "y_scale", "snapshots", "posterior_precision",
           "posterior:STRUCTURE:FACTOR", "memberR:w", "memberR:posterior:STRUCTURE:FACTOR")
#: The prefix of another start's w and posterior (a committee's members beside the first).
MEMBER = re.compile(r"member[1-9][0-9]{0,2}:")


def expected_tensors(net: Network) -> dict:
    """name -> (dtype, shape) of every tensor a file of ``net`` may hold; None in a shape is any length."""
    expected = {"w": (np.float64, (net.n_params,)), "x_mean": (np.float64, (net.D,)),
                "x_scale": (np.float64, (net.D,)), "y_mean": (np.float64, (net.target_size,)),
                "y_scale": (np.float64, (net.target_size,)), "snapshots": (np.float64, (None, net.n_params)),
                "posterior_precision": (np.float64, (net.n_params, net.n_params))}
    for c in net.connections:
        if c.mask is not None:
            expected[f"mask:{c.name}"] = (np.bool_, c.mask.shape)
    from .numerics.curvature import STRUCTURES

    for name, structure in STRUCTURES.items():
        for factor, shape in structure.factor_shapes(net).items():
            expected[f"posterior:{name}:{factor}"] = (np.float64, shape)
    return expected


class ModelFile:
    """What a model file holds, checked: its kind, network, weights, tensors and metadata.

    Raises ``ModelFileError`` naming the first thing wrong; see the module's docstring for the
    order of the checks.
    """

    def __init__(self, path: Any, kinds: Optional[tuple] = None):
        """Read and check the file at ``path``: a bare network's, or one of ``kinds`` (the estimator kinds the
        caller reads, ``deltaprop.estimators.ESTIMATORS``); None takes any kind, for its network alone."""
        self.path = Path(path)
        self.tensors: Optional[dict] = None
        entries, self.metadata = _header(self.path)
        self._entries = entries  # for fail(), which may read the tensors to tell corruption
        self.version = _version(self.metadata)
        if self.version is None or self.version < 1:
            self.fail(f"unknown model format version {self.metadata.get('format_version')!r}")
        self.kind = self.metadata.get("kind")
        if not isinstance(self.kind, str) or (kinds is not None and self.kind not in (NETWORK, *kinds)):
            expected = (f"one of {', '.join(map(repr, (NETWORK, *kinds)))}" if kinds is not None else
                        "the name of what it holds")
            self.fail(f"the metadata entry 'kind' is {self.kind!r}; expected {expected}")
        self.user = self.read_json("user", dict) if "user" in self.metadata else {}
        spec = self.read_json("architecture", dict)
        problem = check_architecture(spec)
        if problem:
            self.fail(f"the architecture it describes is not a valid network: {problem}")
        try:
            # masks are placeholders until the tensors are read: they fix only which tensors are expected
            shapes = {f"mask:W[{d}<-{s_}]": np.ones((_size(spec, d), _size(spec, s_)), bool)
                      for s_, d, masked in spec["connections"] if masked}
            skeleton = network_from_dict(spec, shapes)
        except (KeyError, TypeError, ValueError) as exc:
            self.fail(f"the architecture it describes is not a valid network: {exc}")
        expected = expected_tensors(skeleton)
        for name, entry in sorted(entries.items(), key=lambda item: item[0] != "w"):  # w first: it names the size
            member = MEMBER.match(name)  # another start's w and posterior: the shapes of the first's
            if member and (name[member.end():] == "w" or name[member.end():].startswith("posterior:")):
                name = name[member.end():]
            if name not in expected:
                self.fail(f"it holds a tensor {name!r}, which no deltaprop model file has (expected only "
                          f"{', '.join(sorted(expected))})")
            dtype, shape = expected[name]
            if DTYPES.get(entry["dtype"]) is not dtype or len(entry["shape"]) != len(shape) or \
                    any(want is not None and got != want for got, want in zip(entry["shape"], shape)):
                self.fail(f"tensor {name!r} is {entry['dtype']} of shape {tuple(entry['shape'])}; expected "
                          f"{np.dtype(dtype).name} of shape {tuple('k' if d is None else d for d in shape)}")
        missing = [n for n in expected if n == "w" or n.startswith("mask:")]
        missing = [n for n in missing if n not in entries]
        if missing:
            self.fail(f"the tensor {missing[0]!r} is missing")
        self.tensors = _tensors(self.path, list(entries))
        if not self._intact():
            self.fail(CORRUPTED)
        masks = {k: v for k, v in self.tensors.items() if k.startswith("mask:")}
        self.network = network_from_dict(spec, masks)
        self.w = self.tensors["w"]
        for name, t in self.tensors.items():
            if t.dtype == np.float64 and not np.all(np.isfinite(t)):
                self.fail(f"tensor {name!r} holds a non-finite value ({t[~np.isfinite(t)].flat[0]})")
        for name in ("x_scale", "y_scale"):
            if name in self.tensors and not np.all(self.tensors[name] > 0):
                self.fail(f"tensor {name!r} holds {self.tensors[name].min()}; scales must be positive")

    def fail(self, problem: str):
        """Raise the ModelFileError of this file: ``problem`` says what is wrong, unless the file is
        simply corrupted (a flipped byte makes any field wrong), which its digest tells where its
        tensors are small enough to read without trusting the rest."""
        if self.tensors is None and sum(e["data_offsets"][1] - e["data_offsets"][0] for e in self._entries.values()) \
                <= MAX_HEADER and all(e["dtype"] in DTYPES for e in self._entries.values()):
            self.tensors = _tensors(self.path, list(self._entries))
            if not self._intact():
                problem = CORRUPTED
        raise ModelFileError(f"{self.path}: {problem}")

    def _intact(self) -> bool:
        digests = {1: (_digest_v1,), 2: (_digest,), 3: (_digest,), 4: (_digest,), 5: (_digest,)}.get(self.version,
                                                                                             (_digest, _digest_v1))
        return any(self.metadata.get("sha256") == digest(self.tensors, self.metadata) for digest in digests)

    def read_json(self, key: str, kind: type = object) -> Any:
        """The metadata entry ``key``, parsed as JSON, which must be of type ``kind``."""
        if key not in self.metadata:
            self.fail(f"the metadata entry {key!r} is missing")
        try:
            value = json.loads(self.metadata[key])
        except json.JSONDecodeError as exc:
            self.fail(f"the metadata entry {key!r} is not valid JSON: {exc}")
        except RecursionError:
            self.fail(f"the metadata entry {key!r} is nested too deeply to be deltaprop's")
        if not isinstance(value, kind):
            self.fail(f"the metadata entry {key!r} must be a JSON {_JSON_NAMES.get(kind, kind.__name__)}; "
                      f"got {type(value).__name__}")
        return value

    def vector(self, name: str, size: int) -> np.ndarray:
        """The tensor ``name``, which must be a vector of ``size`` entries."""
        v = self.tensors.get(name)
        if v is None or v.shape != (size,):
            self.fail(f"tensor {name!r} has shape {None if v is None else v.shape}; expected ({size},)")
        return v


_JSON_NAMES = {dict: "object", list: "array", str: "string"}
CORRUPTED = "it has been modified or corrupted: its contents do not match their SHA-256 digest"


def _size(spec: dict, layer: str) -> int:
    return next(size for name, size, _ in spec["layers"] if name == layer)


def _header(path: Path) -> tuple[dict, dict]:
    """The safetensors header: ``{name: {dtype, shape, data_offsets}}`` and the metadata, checked
    against the file's size, the format and its version; no tensor is read."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not a model file")
    size = path.stat().st_size
    if size < 8:
        raise ModelFileError(f"{path} is too short to be a model file ({size} bytes): truncated or empty")
    incomplete = (f"{path} is not a deltaprop model file: it is not a complete safetensors file "
                  f"({{}}); it may be truncated, corrupted or of another format")
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > MAX_HEADER or n > size - 8:
            raise ModelFileError(incomplete.format(f"its header claims {n} bytes"))
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(incomplete.format(f"its header is not JSON: {type(exc).__name__}")) from None
    if not isinstance(header, dict):
        raise ModelFileError(incomplete.format("its header is not a JSON object"))
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError(incomplete.format("its metadata is not a map of strings"))
    end = 0
    for name, e in header.items():
        ok = (isinstance(e, dict) and isinstance(e.get("dtype"), str) and isinstance(e.get("shape"), list)
              and all(_is_int(d) and d >= 0 for d in e["shape"]) and isinstance(e.get("data_offsets"), list)
              and len(e["data_offsets"]) == 2 and all(_is_int(o) for o in e["data_offsets"]))
        if not ok:
            raise ModelFileError(incomplete.format(f"tensor {name!r} has a malformed entry"))
        start, stop = e["data_offsets"]
        itemsize = np.dtype(DTYPES[e["dtype"]]).itemsize if e["dtype"] in DTYPES else None
        if itemsize is not None and not 0 <= start <= stop == start + itemsize * math.prod(e["shape"]):
            raise ModelFileError(incomplete.format(f"tensor {name!r} does not fill the bytes it claims"))
        end = max(end, stop)
    if 8 + n + end != size:
        raise ModelFileError(incomplete.format(f"it has {size} bytes; its header accounts for {8 + n + end}"))
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file but not a deltaprop model (format {metadata.get('format')!r})")
    version = _version(metadata)
    if version is not None and version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer deltaprop (model format version {version}); this deltaprop reads "
            f"versions 1 to {FORMAT_VERSION}: upgrade deltaprop to load it"
        )
    return header, metadata


def _version(metadata: dict) -> Optional[int]:
    try:
        return int(metadata.get("format_version", ""))
    except ValueError:
        return None


def _tensors(path: Path, names: list) -> dict:
    """The named tensors (checked by the header already), read with safetensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            return {k: f.get_tensor(k) for k in names}
    except Exception as exc:
        raise ModelFileError(f"{path} is not a deltaprop model file: it is not a complete safetensors file ({exc}); "
                             f"it may be truncated, corrupted or of another format") from None


def load_network(path: Any) -> tuple[Network, np.ndarray]:
    """Load ``(network, w)`` from any model file, a bare network's or an estimator's."""
    f = ModelFile(path)
    return f.network, f.w
