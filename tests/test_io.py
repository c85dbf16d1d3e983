"""Model files: round trips, and every kind of bad file refused with a clear error."""

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import deltaprop as dp
from deltaprop import io


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    return X, X[:, 0] - 2 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(60)


@pytest.fixture(scope="module")
def regressor(data):
    return dp.NetworkRegressor(hidden=(6, 4), restarts=2, random_state=0).fit(*data)


def test_regressor_round_trip_gives_identical_predictions(tmp_path, data, regressor):
    X, _ = data
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    loaded = dp.load(path)
    assert type(loaded) is dp.NetworkRegressor and loaded.get_params() == regressor.get_params()
    np.testing.assert_array_equal(loaded.predict(X), regressor.predict(X))
    np.testing.assert_array_equal(loaded.predict(X, return_std=True)[1], regressor.predict(X, return_std=True)[1])
    assert loaded.beta_ == regressor.beta_ and loaded.n_iter_ == regressor.n_iter_
    np.testing.assert_array_equal(loaded.restart_errors_, regressor.restart_errors_)
    np.testing.assert_array_equal(loaded.history_["error"], regressor.history_["error"])
    assert loaded.training_ == regressor.training_


@pytest.mark.parametrize("hessian", ["exact", "ggn", "kron", "diag", "last_layer"])
def test_every_posterior_structure_survives_a_round_trip(tmp_path, data, hessian):
    X, y = data
    est = dp.NetworkRegressor(hidden=(5,), restarts=1, hessian=hessian, random_state=0).fit(X, y)
    if est.posterior_.hessian != hessian:  # an exact A that is not positive definite gives way to the Gauss-Newton H
        assert (hessian, est.posterior_.hessian) == ("exact", "ggn") and "not positive definite" in est.posterior_.notes[-1]
    hessian = est.posterior_.hessian
    est.save(tmp_path / "r.safetensors")
    loaded = dp.load(tmp_path / "r.safetensors")
    assert loaded.posterior_.hessian == hessian and loaded.evidence_ == est.evidence_
    np.testing.assert_allclose(loaded.predict(X * 3, return_std=True)[1], est.predict(X * 3, return_std=True)[1],
                               rtol=1e-12)
    assert sorted(k for k in io.ModelFile(tmp_path / "r.safetensors").tensors if k.startswith("posterior")) == \
        sorted(f"posterior:{hessian}:{k}" for k in est.posterior_.curvature.factors)


def test_a_format_3_file_with_the_posterior_precision_still_loads(tmp_path, data, regressor):
    """Format 3 kept A itself (``posterior_precision``); format 4 keeps the structure's factors."""
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    evidence = {k: v for k, v in regressor.evidence_.items() if k != "notes"}
    evidence["hessian"] = {"ggn": "outer_product"}.get(evidence["hessian"], evidence["hessian"])  # format 3's names
    estimator = json.loads(io.ModelFile(path).metadata["estimator"]) | {"evidence": io.jsonable(evidence)}
    with safe_open(str(path), framework="np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("posterior:")}
    tensors["posterior_precision"] = regressor.posterior_.A
    save_file(tensors, str(path), metadata={**io.ModelFile(path).metadata})
    rewrite(path, {"format_version": "3", "estimator": json.dumps(estimator)})
    X = data[0] * 2
    np.testing.assert_allclose(dp.load(path).predict(X, return_std=True)[1], regressor.predict(X, return_std=True)[1],
                               rtol=1e-9)


def test_a_missing_or_stray_posterior_factor_is_named(tmp_path, regressor):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    with safe_open(str(path), framework="np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    name = regressor.posterior_.hessian
    del tensors[f"posterior:{name}:H"]
    metadata = dict(io.ModelFile(path).metadata)
    metadata["sha256"] = io._digest(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(dp.ModelFileError, match=f"estimator.evidence is given but the tensor posterior:{name}:H is "
                                                f"missing"):
        dp.load(path)
    rewrite(path, {}, {"posterior:diag:h[y]": np.ones((1, 5))})
    with pytest.raises(dp.ModelFileError, match=f"the tensor posterior:diag:h\\[y\\] is not a factor of the '{name}' "
                                                f"posterior"):
        dp.load(path)


def test_multi_output_and_classifier_round_trips(tmp_path, data):
    X, y = data
    multi = dp.NetworkRegressor(hidden=(4,), restarts=1, random_state=0).fit(X, np.column_stack([y, -y]))
    multi.save(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(dp.load(tmp_path / "m.safetensors").predict(X, return_std=True)[1],
                                  multi.predict(X, return_std=True)[1])
    for labels in (np.where(y > 0, "pos", "neg"), (y > 0).astype(int) + 3, np.digitize(y, [-1, 0, 1])):
        clf = dp.NetworkClassifier(hidden=(4,), restarts=1, random_state=0).fit(X, labels)
        clf.save(tmp_path / "c.safetensors")
        loaded = dp.load(tmp_path / "c.safetensors")
        np.testing.assert_array_equal(loaded.classes_, clf.classes_)
        np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_dataframe_feature_names_survive(tmp_path, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    est = dp.NetworkRegressor(hidden=(3,), restarts=1, random_state=0).fit(df, y)
    est.save(tmp_path / "f.safetensors")
    assert list(dp.load(tmp_path / "f.safetensors").feature_names_in_) == ["a", "b", "c"]


def test_bare_network_round_trip(tmp_path):
    mask = np.array([[True, False, True]] * 4)
    net = dp.Network({"x": 3, "h": (4, "relu"), "y": (2, "softmax")}, [("x", "h", mask), ("h", "y"), ("x", "y")])
    w = net.init(seed=1)
    dp.save_network(tmp_path / "n.safetensors", net, w, metadata={"note": "hello"})
    net2, w2 = dp.load_network(tmp_path / "n.safetensors")
    assert repr(net2) == repr(net)
    np.testing.assert_array_equal(net2.connections[0].mask, mask)
    np.testing.assert_array_equal(w2, w)
    X = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(net2.forward(w2, X), net.forward(w, X))
    assert io.ModelFile(tmp_path / "n.safetensors").user == {"note": "hello"}
    with pytest.raises(dp.ModelFileError, match="holds a bare network, not an estimator"):
        dp.load(tmp_path / "n.safetensors")
    with pytest.raises(ValueError, match="w must be a 1-D array of length n_params"):
        dp.save_network(tmp_path / "bad.safetensors", net, w[:-1])


def test_an_estimator_file_also_loads_as_a_network(tmp_path, regressor):
    regressor.save(tmp_path / "r.safetensors")
    net, w = dp.load_network(tmp_path / "r.safetensors")
    np.testing.assert_array_equal(w, regressor.w_)
    assert repr(net) == repr(regressor.network_)


def test_every_flipped_byte_is_caught(tmp_path, data, regressor):
    """Every byte of a model file trained with a fixed weight decay (3 kB), and every 61st byte of one trained by
    the evidence (about 100 kB, with its posterior precision): each flip of the first took one load, and all
    105,000 of the second took 164 s of CI's time."""
    fixed = dp.NetworkRegressor(hidden=(6, 4), restarts=2, weight_decay=10.0, random_state=0).fit(*data)
    for est, stride in ((fixed, 1), (regressor, 61)):
        _flip_bytes(tmp_path / "r.safetensors", est, stride)


def _flip_bytes(path, est, stride):
    est.save(path)
    good = path.read_bytes()
    for i in range(0, len(good), stride):
        bad = bytearray(good)
        bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        # a flipped byte is either told as corruption (the digest) or as the field it broke, e.g. a dtype
        # "G64" in the header, which is refused before any tensor is read
        with pytest.raises(dp.ModelFileError, match="modified or corrupted|not a deltaprop model|newer deltaprop|"
                                                    "tensor '.*' is .* expected|unknown model format version"):
            dp.load(path)


def test_truncated_empty_foreign_and_missing_files(tmp_path, regressor):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(dp.ModelFileError, match="not a complete safetensors file .* truncated"):
        dp.load(path)
    path.write_bytes(good[:5])
    with pytest.raises(dp.ModelFileError, match="too short to be a model file"):
        dp.load(path)
    renamed = tmp_path / "config.safetensors"
    renamed.write_text(json.dumps({"hidden": [10], "weights": [0.1, 0.2]}))
    with pytest.raises(dp.ModelFileError, match="is not a deltaprop model file"):
        dp.load(renamed)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(dp.ModelFileError, match="is a safetensors file but not a deltaprop model \\(format 'pt'\\)"):
        dp.load(foreign)
    with pytest.raises(dp.ModelFileError, match="no such model file"):
        dp.load(tmp_path / "absent.safetensors")


def rewrite(path, change, tensors_change=None, digest=None):
    """Rewrite a model file with its metadata (and tensors) changed and a valid digest, as a crafted file has."""
    with safe_open(str(path), framework="np") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    metadata.update(change)
    tensors.update(tensors_change or {})
    metadata["sha256"] = (digest or io._digest)(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)


def test_the_estimators_name_the_kinds_they_read_and_load_network_reads_any_kind(tmp_path, regressor):
    """io knows no estimator: ``dp.load`` reads the kinds of ``deltaprop.estimators.ESTIMATORS`` (and refuses a bare
    network by name), while ``dp.load_network`` takes the network of a file of any kind, a later one's too."""
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    rewrite(path, {"kind": "GaussianProcess"})
    with pytest.raises(dp.ModelFileError, match="the metadata entry 'kind' is 'GaussianProcess'; expected one of "
                                                "'network', 'NetworkRegressor', 'NetworkClassifier', "
                                                "'MixtureDensityRegressor'"):
        dp.load(path)
    net, w = dp.load_network(path)
    np.testing.assert_array_equal(w, regressor.w_)
    with safe_open(str(path), framework="np") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    del metadata["kind"]
    metadata["sha256"] = io._digest(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(dp.ModelFileError, match="the metadata entry 'kind' is None; expected the name of what it holds"):
        dp.load_network(path)
    dp.save_network(tmp_path / "n.safetensors", net, w)
    with pytest.raises(dp.ModelFileError, match="holds a bare network, not an estimator: load it with dp.load_network"):
        dp.load(tmp_path / "n.safetensors")


def test_a_newer_format_version_is_refused(tmp_path, regressor):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    rewrite(path, {"format_version": "6"})
    with pytest.raises(dp.ModelFileError, match="written by a newer deltaprop \\(model format version 6\\).*upgrade"):
        dp.load(path)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_a_format_4_file_had_no_prior_parameter_and_loads_with_the_prior_it_was_fitted_with(tmp_path, data, kind):
    """Format 5 keeps the estimators' ``prior``; a format 4 regressor was fitted with one alpha per layer ("groups"),
    a classifier with its default (None: one alpha for all of w)."""
    X, y = data
    est = (dp.NetworkRegressor(prior="groups", hidden=(3,), restarts=1, random_state=0).fit(X, y) if kind == "regressor"
           else dp.NetworkClassifier(hidden=(3,), restarts=1, random_state=0).fit(X, y > np.median(y)))
    path = tmp_path / "m.safetensors"
    est.save(path)
    params = json.loads(io.ModelFile(path).metadata["params"])
    del params["prior"]
    rewrite(path, {"format_version": "4", "params": json.dumps(params)})
    loaded = dp.load(path)
    assert loaded.prior == ("groups" if kind == "regressor" else None)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    rewrite(path, {"format_version": "5", "params": json.dumps(params)})  # a format 5 file must say it
    with pytest.raises(dp.ModelFileError, match="params lacks 'prior'"):
        dp.load(path)


def test_files_of_format_version_1_still_load(tmp_path, data, regressor):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    rewrite(path, {"format_version": "1"}, digest=io._digest_v1)
    np.testing.assert_array_equal(dp.load(path).predict(data[0]), regressor.predict(data[0]))
    rewrite(path, {"format_version": "1"})  # a version-1 file must carry a version-1 digest
    with pytest.raises(dp.ModelFileError, match="modified or corrupted"):
        dp.load(path)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path, regressor):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    spec = io.network_to_dict(regressor.network_)
    spec["layers"][1][1] += 1  # one more hidden unit than the weights allow
    rewrite(path, {"architecture": json.dumps(spec)})
    with pytest.raises(dp.ModelFileError, match="tensor 'w' is F64 of shape \\(57,\\); expected float64 of shape \\(65,\\)"):
        dp.load(path)
    spec["layers"][1][2] = "sigmoidal"
    rewrite(path, {"architecture": json.dumps(spec)})
    with pytest.raises(dp.ModelFileError, match="not a valid network: unknown activation 'sigmoidal'"):
        dp.load(path)


def test_writes_are_atomic(tmp_path, regressor, monkeypatch):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.numpy.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        regressor.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.safetensors"]


def test_saving_an_unfitted_estimator_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        dp.NetworkRegressor().save(tmp_path / "x.safetensors")


def test_snapshots_are_kept_in_the_model_file(tmp_path, data):
    est = dp.NetworkRegressor(hidden=(3,), restarts=1, snapshots=5, random_state=0).fit(*data)
    assert len(est.snapshots_["epoch"]) == 5
    est.save(tmp_path / "s.safetensors")
    loaded = dp.load(tmp_path / "s.safetensors")
    np.testing.assert_array_equal(loaded.snapshots_["epoch"], est.snapshots_["epoch"])
    np.testing.assert_array_equal(loaded.snapshots_["w"], est.snapshots_["w"])


# -- crafted files: a valid digest over metadata deltaprop never wrote (issue 17, items 1-4) ------------------


@pytest.mark.parametrize("change, message", [
    (lambda m: m["params"].pop("hidden"), "params lacks 'hidden'"),
    (lambda m: m.update(kind="NetworkClassifier"), "a NetworkClassifier has logistic or softmax outputs"),
    (lambda m: m.update(kind="Pipeline"), "the metadata entry 'kind' is 'Pipeline'"),
    (lambda m: m.update(user=[]), "the metadata entry 'user' must be a JSON object; got list"),
    (lambda m: m["training"].pop("history"), "training.history must hold epoch, error"),
    (lambda m: m["training"]["history"].update(error=[1.0, "x"]), "training.history must hold"),
    (lambda m: m["training"].update(n_iter="many"), "training.n_iter must be a whole number"),
    (lambda m: m["estimator"].update(beta=-1.0), "estimator.beta must be a positive number; got -1.0"),
    (lambda m: m["estimator"].update(beta="nan"), "estimator.beta must be a positive number"),
    (lambda m: m["estimator"].update(n_features_in=4), "estimator.n_features_in is 4; the network has 3 inputs"),
    (lambda m: m["params"].update(hidden=[5, 4]), "params.hidden is \\(5, 4\\); the network's hidden layers"),
    # issue 28, item 9: a beta_ the error bars do not use, a gamma no posterior can have
    (lambda m: m["estimator"].update(beta=m["estimator"]["beta"] * 2), "but the posterior's beta .* would disagree"),
    (lambda m: m["estimator"]["evidence"].update(gamma="nan"), "gamma is 'nan'"),
    (lambda m: m["estimator"]["evidence"].update(gamma=-5), "gamma is -5"),
    (lambda m: m["estimator"]["evidence"]["gamma_groups"].update({"b[y]": 3.0}),
     "gamma_groups\\['b\\[y\\]'\\] is 3.0; a group's well-determined parameters lie in \\[0, 1\\]"),
    # one alpha per input: a column the network lacks, or a connection beside its own columns
    (lambda m: m["estimator"]["evidence"]["alpha"].update({"W[h1<-x][:, 9]": 1.0}),
     "alpha must map groups of the network's weights \\(W\\[h1<-x\\], b\\[h1\\], W\\[h2<-h1\\], .*, or a "
     "connection's column such as 'W\\[h1<-x\\]\\[:, 0\\]'\\) to numbers"),
    (lambda m: m["estimator"]["evidence"]["alpha"].update({"W[h1<-x]": 1.0}),
     "names 'W\\[h1<-x\\]\\[:, 0\\]' and its whole connection 'W\\[h1<-x\\]'; give one or the other"),
    (lambda m: m["params"].update(activation="sigmoidal"), "params: The 'activation' parameter"),
    (lambda m: m.update(architecture="[" * 100_000), "nested too deeply"),
    (lambda m: m.update(architecture={"layers": [["x", 3, None]], "connections": [["x", "y", "no"]]}),
     "connections\\[0\\] must be \\[source, destination, masked\\]"),
])
def test_crafted_metadata_is_refused_naming_the_field(tmp_path, regressor, change, message):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    with safe_open(str(path), framework="np") as f:
        meta = dict(f.metadata())
    parsed = {k: json.loads(v) for k, v in meta.items() if k in ("params", "estimator", "training", "user")}
    change(parsed)
    rewrite(path, {k: v if isinstance(v, str) else json.dumps(v) for k, v in parsed.items()})
    with pytest.raises(dp.ModelFileError, match=message):
        dp.load(path)


@pytest.mark.parametrize("name, value, message", [
    ("y_scale", np.array([np.nan]), "tensor 'y_scale' holds a non-finite value \\(nan\\)"),
    ("y_scale", np.array([0.0]), "tensor 'y_scale' holds 0.0; scales must be positive"),
    ("x_mean", np.array([0.0, np.inf, 0.0]), "tensor 'x_mean' holds a non-finite value \\(inf\\)"),
    ("w", None, "tensor 'w' holds a non-finite value \\(nan\\)"),
    ("y_mean", np.zeros(3), "tensor 'y_mean' is F64 of shape \\(3,\\); expected float64 of shape \\(1,\\)"),
    ("x_scale", np.ones(3, dtype=np.float32), "tensor 'x_scale' is F32 of shape \\(3,\\); expected float64"),
])
def test_values_out_of_range_are_refused_at_load(tmp_path, regressor, name, value, message):
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    if value is None:
        value = regressor.w_.copy()
        value[3] = np.nan
    rewrite(path, {}, {name: value})
    with pytest.raises(dp.ModelFileError, match=message):
        dp.load(path)


def test_a_sparse_file_claiming_a_huge_tensor_is_refused_before_reading_it(tmp_path, regressor):
    import tracemalloc

    path = tmp_path / "r.safetensors"
    regressor.save(path)
    with safe_open(str(path), framework="np") as f:
        meta = dict(f.metadata())
    size = 2 * 2**30
    header = json.dumps({"__metadata__": meta, "junk": {"dtype": "F64", "shape": [size // 8], "data_offsets": [0, size]},
                         "w": {"dtype": "F64", "shape": [57], "data_offsets": [size, size + 57 * 8]}}).encode()
    with open(path, "wb") as f:  # 4 KB on disk, 2 GiB long: the tensors' bytes are a hole
        f.write(len(header).to_bytes(8, "little") + header)
        f.truncate(8 + len(header) + size + 57 * 8)
    tracemalloc.start()
    with pytest.raises(dp.ModelFileError, match="it holds a tensor 'junk', which no deltaprop model file has"):
        dp.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20


def test_the_digest_is_of_one_canonical_serialisation():
    tensors = {"w": np.zeros(2)}
    moved, split = {"a": "x|b=y"}, {"a": "x", "b": "y"}
    assert io._digest_v1(tensors, moved) == io._digest_v1(tensors, split)  # the old digest could not tell them apart
    assert io._digest(tensors, moved) != io._digest(tensors, split)
    assert io._digest({"w": np.zeros(2)}, {}) != io._digest({"w": np.zeros((2, 1))}, {})


def test_every_start_of_the_committee_survives_a_round_trip(tmp_path, data, regressor):
    """Issue 26, item 3: the first start's w and posterior as before, every other start's behind member{r}:."""
    X, y = data
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    members = regressor.committee_.members
    assert len(members) == 2 and len(regressor.evidence_["members"]) == 1
    names = io.ModelFile(path).tensors
    assert "member1:w" in names and any(k.startswith(f"member1:posterior:{members[1].hessian}:") for k in names)
    loaded = dp.load(path)
    np.testing.assert_array_equal(loaded.committee_.weights, regressor.committee_.weights)
    for a, b in zip(loaded.predict(X * 2, return_std=True), regressor.predict(X * 2, return_std=True)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert loaded.negative_log_likelihood(X, y) == pytest.approx(regressor.negative_log_likelihood(X, y), rel=1e-12)
    rewrite(path, {}, {"member5:w": regressor.w_})
    with pytest.raises(dp.ModelFileError, match="holds member5:w, but estimator.evidence has 1 members beside the first"):
        dp.load(path)


def test_a_posterior_factor_that_is_not_symmetric_or_not_positive_definite_is_refused(tmp_path, regressor):
    """Issue 28, item 9, for the factors of format 4: a re-signed or one-sided H is named, before any prediction."""
    path = tmp_path / "r.safetensors"
    regressor.save(path)
    name = f"posterior:{regressor.posterior_.hessian}:H"
    H = io.ModelFile(path).tensors[name]
    for bad, what in ((np.triu(H) + 1.0, "is not a symmetric matrix"), (-H - 1e3 * np.eye(len(H)), "not positive definite")):
        rewrite(path, {}, {name: bad})
        with pytest.raises(dp.ModelFileError, match=f"the tensors of the .* posterior do not make a precision: .*{what}"):
            dp.load(path)
        regressor.save(path)
