"""Fuzzing the two readers of untrusted files: only their documented exceptions may come out.

A model file mutated at random (bytes flipped, cut, inserted; its header's JSON rewritten with
random values under a valid digest) loads or raises ModelFileError; a table of random text loads
or raises DataError. The examples are bounded, and CI derandomises them (conftest.py).
"""

import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save_file

import deltaprop as dp
from deltaprop import io
from deltaprop.tables import DataError, numeric, read_table

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    est = dp.NetworkClassifier(hidden=(3,), restarts=1, snapshots=3, random_state=0).fit(X, X[:, 0] > 0)
    path = tmp_path_factory.mktemp("fuzz") / "m.safetensors"
    est.save(path, metadata={"features": ["a", "b"], "targets": ["t"]})
    return path


def _load_only_documented(path):
    try:
        est = dp.load(path)
    except dp.ModelFileError:
        return
    est.predict(np.zeros((1, est.n_features_in_)))  # what loads must work


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.floats(0, 1), st.binary(min_size=1,
                                                                                                     max_size=8)),
                      min_size=1, max_size=4))
def test_a_mutated_model_file_loads_or_raises_model_file_error(model_file, tmp_path_factory, edits):
    data = bytearray(model_file.read_bytes())
    for kind, where, payload in edits:
        i = int(where * (len(data) - 1))
        if kind == "flip":
            data[i] ^= payload[0] or 1
        elif kind == "cut":
            del data[i:]
        else:
            data[i:i] = payload
        if not data:
            break
    path = tmp_path_factory.mktemp("mutated") / "m.safetensors"
    path.write_bytes(bytes(data))
    _load_only_documented(path)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


@FUZZ
@given(key=st.sampled_from(["params", "estimator", "training", "user", "architecture", "kind", "format_version"]),
       path_in=st.lists(st.text(max_size=12), max_size=3), value=JSON)
def test_crafted_metadata_under_a_valid_digest_loads_or_raises_model_file_error(model_file, tmp_path_factory, key,
                                                                               path_in, value):
    with safe_open(str(model_file), framework="np") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    try:
        entry = json.loads(metadata[key])
    except json.JSONDecodeError:
        entry = metadata[key]
    target = entry  # replace the value at a random place inside the entry, or the whole entry
    for step in path_in:
        if isinstance(target, dict) and target:
            child = sorted(target)[hash(step) % len(target)]
            if not isinstance(target[child], (dict, list)):
                target[child] = value
                break
            target = target[child]
        else:
            entry = value
            break
    else:
        entry = value
    metadata[key] = entry if isinstance(entry, str) else json.dumps(entry)
    metadata["sha256"] = io._digest(tensors, metadata)
    path = tmp_path_factory.mktemp("crafted") / "m.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    _load_only_documented(path)


CSV_TEXT = st.text(alphabet=st.sampled_from(list("ab,\n\"' .-+e0123456789\tTrueFalsnNI<>#")), max_size=200)


@FUZZ
@given(text=CSV_TEXT)
def test_a_table_of_random_text_reads_or_raises_data_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("table") / "t.csv"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pandas or NumPy warning reaches the user either
        try:
            df = read_table(path)
            numeric(df, list(df.columns), path)
        except DataError:
            pass


@FUZZ
@given(suffix=st.sampled_from([".npy", ".npz", ".parquet"]), head=st.sampled_from([b"", b"\x93NUMPY\x01\x00", b"PK\x03\x04",
                                                                                  b"PAR1"]),
       body=st.binary(max_size=200))
def test_random_bytes_as_a_numpy_or_parquet_table_read_or_raise_data_error(tmp_path_factory, suffix, head, body):
    path = tmp_path_factory.mktemp("binary") / f"t{suffix}"
    path.write_bytes(head + body)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            df = read_table(path)
            numeric(df, list(df.columns), path)
        except DataError:
            pass
