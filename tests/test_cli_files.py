"""The deltaprop command on data files the tests write: fit, predict, evaluate, trace, gradcheck, info, and bad input."""

import io as stdio
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deltaprop as dp

DELTAPROP = str(Path(sys.executable).parent / "deltaprop")


def run(*args, cwd=None):
    return subprocess.run([DELTAPROP, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["y"] = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(80)
    df["z"] = X[:, 2] ** 2
    df["label"] = np.where(X[:, 0] > 0, "up", "down")
    df.to_csv(d / "train.csv", index=False)
    df.to_parquet(d / "train.parquet")
    np.save(d / "train.npy", df[["a", "b", "c", "y"]].to_numpy())
    np.savez(d / "train.npz", a=df["a"].to_numpy(), b=df["b"].to_numpy(), c=df["c"].to_numpy(), y=df["y"].to_numpy())
    assert run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--hidden", "5", "--restarts", "2",
               "-o", d / "reg.safetensors").returncode == 0
    assert run("fit", d / "train.csv", "--target", "label", "--features", "a,b,c", "--classify", "--hidden", "4",
               "-o", d / "clf.safetensors").returncode == 0
    return d, df


def test_fit_prints_a_summary_and_writes_a_model(files):
    d, df = files
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--hidden", "5", "--restarts", "2",
                 "-o", d / "again.safetensors")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("N = 80 rows; 3 features: a, b, c", "Network(layers=[x: 3, h1: 5 tanh, y: 1 linear]", "│ beta ",
                 "lbfgs, best of 2 restarts, weight decay by the evidence", "│ evidence │ alpha: W[h1<-x][:, 0] (a)", "saved"):
        assert text in out, text
    assert "W[h1<-x][:, 1] (b)" in " ".join(out.replace("│", " ").split())  # an alpha per input, by its name
    est = dp.load(d / "again.safetensors")
    assert f"{float(est.beta_):.6g}" in out
    np.testing.assert_array_equal(est.w_, dp.load(d / "reg.safetensors").w_)  # the default seed is fixed


def test_fit_takes_the_structure_of_the_evidences_hessian_and_info_names_it(files):
    d, df = files
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--hidden", "5", "--restarts", "1",
                 "--hessian", "kron", "-o", d / "kron.safetensors")
    assert result.returncode == 0, result.stderr
    assert "Hessian kron" in " ".join(result.stdout.split())
    assert dp.load(d / "kron.safetensors").posterior_.hessian == "kron"
    info = run("info", d / "kron.safetensors")
    assert info.returncode == 0 and "Hessian kron" in " ".join(info.stdout.split())
    auto = " ".join(run("info", d / "reg.safetensors").stdout.replace("│", " ").split())
    assert "hessian 'auto' took 'exact'" in auto  # the default, and why, in the file
    layers = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--hidden", "5", "--restarts", "1",
                  "--prior", "groups", "-o", d / "groups.safetensors")
    assert layers.returncode == 0 and "alpha: W[h1<-x] " in " ".join(layers.stdout.replace("│", " ").split())
    assert dp.load(d / "groups.safetensors").prior == "groups"


def test_fit_chooses_the_hidden_size_by_the_evidence_and_info_lists_every_candidate(files):
    d, df = files
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--hidden", "evidence", "--restarts", "1",
                 "-o", d / "sizes.safetensors")
    assert result.returncode == 0, result.stderr
    assert "│ sizes " in result.stdout and "kept)" in result.stdout
    est = dp.load(d / "sizes.safetensors")
    assert [r["hidden"] for r in est.evidence_["candidates"]] == [[1], [2], [4], [8], [16], [32]]
    info = run("info", d / "sizes.safetensors").stdout
    assert "│ sizes " in info and "kept)" in info
    refused = run("fit", d / "train.csv", "--target", "y", "--hidden", "evidence", "--weight-decay", "1")
    message = " ".join(refused.stderr.replace("│", " ").split())
    assert refused.returncode == 2 and "it takes --weight-decay evidence (the default), not 1.0" in message


def test_fit_with_levenberg_marquardt_matches_the_estimator(files):
    d, df = files
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--hidden", "5", "--restarts", "2",
                 "--method", "lm", "-o", d / "lm.safetensors")
    assert result.returncode == 0, result.stderr
    assert "lm, best of 2 restarts" in result.stdout
    est = dp.NetworkRegressor(hidden=(5,), method="lm", restarts=2, random_state=0).fit(df[["a", "b", "c"]].to_numpy(),
                                                                                        df["y"].to_numpy())
    np.testing.assert_array_equal(dp.load(d / "lm.safetensors").w_, est.w_)


def test_predict_with_std_matches_the_library(files):
    d, df = files
    result = run("predict", d / "reg.safetensors", d / "train.csv", "--std")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(stdio.StringIO(result.stdout))
    est = dp.load(d / "reg.safetensors")
    mean, std = est.predict(df[["a", "b", "c"]].to_numpy(), return_std=True)
    assert list(table.columns) == ["y", "y_std"]
    np.testing.assert_allclose(table["y"], mean, rtol=1e-12)
    np.testing.assert_allclose(table["y_std"], std, rtol=1e-12)
    assert run("predict", d / "reg.safetensors", d / "train.csv", "-o", d / "out.csv").returncode == 0
    np.testing.assert_allclose(pd.read_csv(d / "out.csv")["y"], mean, rtol=1e-12)


def test_predict_matches_columns_by_name(files):
    d, df = files
    shuffled = df[["c", "label", "a", "b"]]
    shuffled.to_csv(d / "shuffled.csv", index=False)
    a = pd.read_csv(stdio.StringIO(run("predict", d / "reg.safetensors", d / "shuffled.csv").stdout))
    b = pd.read_csv(stdio.StringIO(run("predict", d / "reg.safetensors", d / "train.csv").stdout))
    np.testing.assert_array_equal(a["y"], b["y"])


def test_classifier_predict_proba_and_evaluate(files):
    d, df = files
    result = run("predict", d / "clf.safetensors", d / "train.csv", "--proba")
    table = pd.read_csv(stdio.StringIO(result.stdout))
    assert list(table.columns) == ["label", "p(down)", "p(up)"]
    np.testing.assert_allclose(table["p(down)"] + table["p(up)"], 1.0)
    assert np.mean(table["label"] == df["label"]) > 0.9
    result = run("evaluate", d / "clf.safetensors", d / "train.csv")
    assert result.returncode == 0 and "accuracy" in result.stdout and "log-loss" in result.stdout
    accuracy = float(next(l for l in result.stdout.splitlines() if "accuracy" in l).split("│")[2])
    assert accuracy == pytest.approx(np.mean(table["label"] == df["label"]), abs=1e-6)


def test_evaluate_regression(files):
    d, df = files
    result = run("evaluate", d / "reg.safetensors", d / "train.csv", "--target", "y")
    assert result.returncode == 0, result.stderr
    est = dp.load(d / "reg.safetensors")
    X, t = df[["a", "b", "c"]].to_numpy(), df["y"].to_numpy()
    rmse = np.sqrt(np.mean((est.predict(X) - t) ** 2))
    # the mean NLL under the committee's mixture of its starts' Laplace predictive distributions, in target units
    means, variances = est.committee_.components(est.network_inputs(X))
    mu, var = means[:, :, 0] * est.y_scale_ + est.y_mean_, variances[:, :, 0] * est.y_scale_**2
    density = np.einsum("r,rn->n", est.committee_.weights, np.exp(-0.5 * (t - mu) ** 2 / var) / np.sqrt(2 * np.pi * var))
    nll = -np.mean(np.log(density))
    assert f"{rmse:.6g}" in result.stdout and f"{nll:.6g}" in result.stdout and "R^2" in result.stdout


def test_trace_prints_the_jacobian_of_the_pattern_in_the_data_units(files):
    d, _ = files
    result = run("trace", d / "reg.safetensors", "--input", "0.3,1.2,-0.5")
    assert result.returncode == 0, result.stderr
    J = dp.load(d / "reg.safetensors").jacobian(np.array([[0.3, 1.2, -0.5]]))[0]
    table = result.stdout[result.stdout.index("the Jacobian dy_k/dx_i at this pattern"):]
    row = next(line for line in table.splitlines() if line.startswith("│ y "))
    np.testing.assert_allclose([float(c) for c in row.strip("│").split("│")[1:]], J, rtol=1e-5)
    result = run("trace", d / "clf.safetensors", "--input", "0.3,1.2,-0.5")
    assert result.returncode == 0 and "│ p(up) " in result.stdout


def test_trace_prints_the_library_trace_of_the_standardised_pattern(files):
    d, _ = files
    result = run("trace", d / "reg.safetensors", "--input", "0.3,1.2,-0.5", "--target", "0.5")
    assert result.returncode == 0, result.stderr
    est = dp.load(d / "reg.safetensors")
    xs = (np.array([0.3, 1.2, -0.5]) - est.x_mean_) / est.x_scale_
    ts = (np.array([0.5]) - est.y_mean_) / est.y_scale_
    assert str(est.network_.trace(est.w_, xs, ts)) in result.stdout
    assert "inputs standardised" in result.stdout
    labelled = run("trace", d / "clf.safetensors", "--input", "0.3,1.2,-0.5", "--target", "up")
    assert labelled.returncode == 0 and "t_k" in labelled.stdout
    free = run("trace", d / "reg.safetensors", "--input", "0.3,1.2,-0.5")
    assert free.returncode == 0 and "no --target given" in free.stdout


def test_gradcheck_and_info(files):
    d, _ = files
    result = run("gradcheck", d / "reg.safetensors", d / "train.csv")
    assert result.returncode == 0 and result.stdout.startswith("PASS") and "largest relative difference" in result.stdout
    result = run("gradcheck", d / "clf.safetensors", d / "train.csv", "--rows", "10")
    assert result.returncode == 0 and "on 10 rows" in result.stdout
    result = run("info", d / "reg.safetensors")
    assert result.returncode == 0
    for text in ("NetworkRegressor", "model format version 5", "h1", "features", "a, b, c", "starts' final E",
                 "weight decay by the evidence", "ln evidence"):
        assert text in result.stdout, text


@pytest.mark.parametrize("name, columns", [("train.parquet", ["--target", "y", "--features", "a,b,c"]),
                                           ("train.npy", ["--target", "3"]), ("train.npz", ["--target", "y"])])
def test_other_data_formats(files, name, columns):
    d, _ = files
    out = d / f"{name}.safetensors"
    result = run("fit", d / name, *columns, "--hidden", "3", "--restarts", "1", "-o", out)
    assert result.returncode == 0, result.stderr
    assert run("predict", out, d / name).returncode == 0


def test_multi_output_fit(files):
    d, _ = files
    result = run("fit", d / "train.csv", "--target", "y,z", "--features", "a,b,c", "--hidden", "6",
                 "--restarts", "1", "-o", d / "multi.safetensors")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(stdio.StringIO(run("predict", d / "multi.safetensors", d / "train.csv", "--std").stdout))
    assert list(table.columns) == ["y", "y_std", "z", "z_std"]


def write(d, name, text):
    (d / name).write_text(text)
    return d / name


def parquet(d, name, **columns):
    pd.DataFrame(columns).to_parquet(d / name)
    return d / name


def npz_bomb(d):
    """A small .npz whose member's header claims 2 GiB of float64: refused before decompressing."""
    import zipfile

    header = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**28,)})
    with zipfile.ZipFile(d / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", header.getvalue() + bytes(64))  # the header (with its magic), then 64 of 2 GiB
    return d / "bomb.npz"


def wide_csv(d):
    (d / "wide.csv").write_text(",".join(f"c{i}" for i in range(20_001)) + "\n" + ",".join(["1"] * 20_001) + "\n")
    return d / "wide.csv"


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda d: write(d, "cell.csv", "a,b,y\n1,2,3\n4,abc,6\n"), ["--target", "y"],
         "cell.csv: column 'b', row 2 (line 3) holds 'abc', not a number"),
        (lambda d: write(d, "nan.csv", "a,b,y\n1,2,3\n4,,6\n7,8,9\n"), ["--target", "y"],
         "nan.csv: column 'b', row 2 (line 3) is empty or NaN"),
        (lambda d: write(d, "inf.csv", "a,b,y\n1,2,3\n4,inf,6\n"), ["--target", "y"],
         "inf.csv: column 'b', row 2 (line 3) holds inf"),
        (lambda d: write(d, "notarget.csv", "a,b\n1,2\n"), ["--target", "y"],
         "notarget.csv has no target column 'y'; its columns are 'a', 'b'"),
        (lambda d: write(d, "empty.csv", ""), ["--target", "y"], "empty.csv is empty"),
        (lambda d: write(d, "header.csv", "a,b,y\n"), ["--target", "y"], "header.csv has a header but no data rows"),
        (lambda d: d / "absent.csv", ["--target", "y"], "absent.csv: no such data file"),
        (lambda d: write(d, "data.xlsx", "a"), ["--target", "y"], "unknown data format '.xlsx'"),
        (lambda d: write(d, "nolabel.csv", "a,label\n1,x\n2,\n"), ["--target", "label", "--classify"],
         "nolabel.csv: column 'label', row 2 (line 3) has no class label"),
        (lambda d: write(d, "onlyfeat.csv", "a,y\n1,2\n3,4\n"), ["--target", "y", "--features", "q"],
         "onlyfeat.csv has no feature column 'q'"),
        # issue 17, item 5: nothing shifted, renamed or coerced silently
        (lambda d: write(d, "trailing.csv", "a,b,t\n0.1,0.2,0.3,7\n0.4,0.5,0.6,8\n0.7,0.8,0.9,9\n"), ["--target", "t"],
         "trailing.csv: line 2 has 4 fields, the header 3"),
        (lambda d: write(d, "long.csv", "a,b,t\n0.1,0.2,0.3\n0.4,0.5,0.6,8\n"), ["--target", "t"],
         "long.csv: line 3 has 4 fields, the header 3"),
        # issue 28, item 7: a short row by its length, not as a missing cell; a binary file by what it is
        (lambda d: write(d, "short.csv", "a,b,t\n0.1,0.2,0.3\n0.4,0.5\n0.7,0.8,0.9\n"), ["--target", "t"],
         "short.csv: line 3 has 2 fields, the header 3"),
        (lambda d: (d / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)) and d / "image.csv",
         ["--target", "t"], "image.csv is not a text file (it holds NUL bytes): save the data as CSV text"),
        (lambda d: (d / "latin1.csv").write_bytes("caf\u00e9,t\n1,2\n3,4\n".encode("latin-1")) and d / "latin1.csv",
         ["--target", "t"], "latin1.csv is not UTF-8 text (byte 0xe9 at offset 3): save the data as a CSV text file"),
        (lambda d: write(d, "huge.csv", "a,t\n1," + "9" * 400 + "\n2,3\n"), ["--target", "t"],
         "huge.csv: column 't', row 1 (line 2) holds a number too large for float64"),
        (lambda d: parquet(d, "when.parquet", a=pd.to_datetime(["2020-01-01", "2021-01-01"]), t=[1.0, 2.0]),
         ["--target", "t"], "when.parquet: column 'a' holds dates and times, not numbers"),
        (lambda d: parquet(d, "long.parquet", a=pd.to_timedelta([1, 2], unit="s"), t=[1.0, 2.0]),
         ["--target", "t"], "long.parquet: column 'a' holds durations, not numbers"),
        (lambda d: write(d, "bools.csv", "a,t\nTrue,1\nFalse,2\n"), ["--target", "t"],
         "bools.csv: column 'a' holds True/False values"),
        (lambda d: (np.save(d / "complex.npy", np.array([[1 + 2j, 3], [4, 5]])), d / "complex.npy")[1],
         ["--target", "1"], "complex.npy: column '0' holds complex numbers, not numbers"),
        (lambda d: write(d, "dup.csv", "a,a,t\n1,2,3\n4,5,6\n"), ["--target", "t"],
         "dup.csv: the column name 'a' appears twice"),
        (lambda d: write(d, "noname.csv", "a,,t\n1,2,3\n4,5,6\n"), ["--target", "t"],
         "noname.csv: column 2 has no name"),
        # item 10: no overflow, no RuntimeWarning
        (lambda d: write(d, "big308.csv", "a,t\n1,1e308\n2,3\n3,4\n"), ["--target", "t"],
         "big308.csv: column 't', row 1 (line 2) holds 1e+308, whose square overflows float64"),
        # item 6: bombs refused before they are decompressed or parsed
        (npz_bomb, ["--target", "0"], "bomb.npz: member 'x.npy' holds 2.0 GiB of data; deltaprop reads at most"),
        (wide_csv, ["--target", "c0"], "wide.csv has 20,001 columns; deltaprop reads at most 10,000 columns"),
    ],
)
def test_bad_data_exits_1_naming_file_column_and_row(tmp_path, make, args, message):
    path = make(tmp_path)
    result = run("fit", path, *args, "-o", tmp_path / "m.safetensors")
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_model_trained_on_other_columns_and_bad_model_files(files, tmp_path):
    d, df = files
    df[["a", "b"]].to_csv(tmp_path / "ab.csv", index=False)
    result = run("predict", d / "reg.safetensors", tmp_path / "ab.csv")
    assert result.returncode == 1 and "ab.csv has no feature column 'c'; its columns are 'a', 'b'" in result.stderr
    df[["a", "b", "c"]].assign(label="sideways").to_csv(tmp_path / "new.csv", index=False)
    result = run("evaluate", d / "clf.safetensors", tmp_path / "new.csv")
    assert result.returncode == 1 and "holds the label 'sideways', which the model never saw" in result.stderr
    (tmp_path / "junk.safetensors").write_text('{"not": "a model"}')
    for command in (["predict", tmp_path / "junk.safetensors", d / "train.csv"], ["info", tmp_path / "junk.safetensors"]):
        result = run(*command)
        assert result.returncode == 1 and "is not a deltaprop model file" in result.stderr
    result = run("info", tmp_path / "absent.safetensors")
    assert result.returncode == 1 and "no such model file" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "x.csv", "--target", "y", "--bogus"], "No such option: --bogus"),
        (["fit", "x.csv"], "Missing option '--target'"),
        (["fit", "x.csv", "--target", "y", "--hidden", "ten"], "--hidden: expected layer sizes separated by commas"),
        (["fit", "x.csv", "--target", "y", "--hidden", "10,0"], "--hidden: hidden must list positive layer sizes"),
        (["fit", "x.csv", "--target", "y", "--validation", "1.5"],
         "--validation: must be a float in the range (0.0, 1.0) or None; got 1.5"),
        (["fit", "x.csv", "--target", "y", "--method", "newton"], "--method: must be one of 'adam', 'bfgs', 'cg', 'gd', "
         "'lbfgs', 'lm', 'momentum', 'scg', 'sgd'; got 'newton'"),
        (["fit", "x.csv", "--target", "y", "--weight-decay", "lots"],
         "--weight-decay: must be a float in the range [0.0, inf), one of 'evidence' or None; got 'lots'"),
        (["fit", "x.csv", "--target", "y", "--components", "2", "--method", "lm"],
         "--method: method 'lm' (Levenberg-Marquardt) minimises a sum-of-squares error, which needs linear outputs; "
         "this network's outputs are mdn:2"),
        (["fit", "x.csv", "--target", "y", "--components", "2", "--hidden", "evidence"],
         "--hidden: 'evidence' compares sizes by the evidence, which a mixture density network has not"),
        (["fit", "x.csv", "--target", "y", "--prior", "ard"],
         "--prior: must be one of 'groups', 'relevance', 'shared'; got 'ard'"),
        (["fit", "x.csv", "--target", "y", "--prior", "groups", "--weight-decay", "1"],
         "--prior: --prior groups is the evidence's prior over alpha's groups; it takes --weight-decay evidence (the "
         "default), not 1.0"),
        (["fit", "x.csv", "--target", "y", "--components", "2", "--prior", "groups"],
         "--prior: a mixture density network is not trained by the evidence; it takes no --prior"),
        (["fit", "x.csv", "--target", "y", "--hessian", "full"],
         "--hessian: must be one of 'auto', 'diag', 'exact', 'ggn', 'kron', 'last_layer'; got 'full'"),
        (["fit", "x.csv", "--target", "label", "--classify", "--method", "lm"],
         "Invalid value for --method: method 'lm' (Levenberg-Marquardt) minimises a sum-of-squares error, which needs "
         "linear outputs; this network's outputs are logistic or softmax (a cross-entropy error): use --method lbfgs or "
         "scg"),
        (["fit", "x.csv", "--target", "y", "--restarts", "0"], "should be greater than or equal to 1"),
        (["trace", "MODEL", "--input", "1,2"], "the model takes 3 inputs (a, b, c); got 2"),
        (["trace", "MODEL", "--input", "1,two,3"], "expected numbers separated by commas"),
        (["predict", "MODEL", "DATA", "--proba"], "--proba is for classification models"),
    ],
)
def test_usage_errors_exit_2(files, args, message):
    d, _ = files
    args = [d / "reg.safetensors" if a == "MODEL" else d / "train.csv" if a == "DATA" else a for a in args]
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.replace("│", " ").split())


COMMANDS = ("demo", "fit", "predict", "evaluate", "trace", "gradcheck", "info", "plot", "explain")


def _help_at_80(*command):
    env = {**os.environ, "COLUMNS": "80"}
    result = subprocess.run([DELTAPROP, *command, "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and "Usage" in result.stdout, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", ("",) + COMMANDS)
def test_every_help_reads_at_80_columns(command):
    text = _help_at_80(*filter(None, [command]))
    assert "Example:" in text
    body = text.split("\n", 1)[1]  # after click's "Usage: ... [ARGS]..."
    assert "\u2026" not in body and "..." not in body, text  # nothing cut: no default, no command summary
    assert "seed's" not in text  # the project's word for the lecture, which clashes with --seed
    for line in text.splitlines():
        assert len(line) <= 80, line
        option = re.match(r"  (-\S.*?  +)\S", line)
        if option:  # an option's description starts early enough to be at least 30 columns wide
            assert 80 - len(option.group(1)) - 2 >= 30, line


def test_flags_show_no_value_in_help():
    text = _help_at_80("predict")
    assert re.search(r"--std\s", text) and "--std <bool>" not in text


def test_fit_runs_its_restarts_on_a_dask_scheduler(files, tmp_path):
    import distributed

    d, _ = files
    args = ["fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--hidden", "5", "--restarts", "2"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run(*args, "--scheduler", cluster.scheduler_address, "-o", tmp_path / "dask.safetensors")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(dp.load(tmp_path / "dask.safetensors").w_, dp.load(d / "reg.safetensors").w_)


def test_plot_command_draws_fit_training_and_minima(files, tmp_path):
    d, _ = files
    model = tmp_path / "one.safetensors"
    assert run("fit", d / "train.csv", "--target", "y", "--features", "a", "--hidden", "4", "--restarts", "3",
               "-o", model).returncode == 0
    for kind in ("fit", "training", "minima"):
        out = tmp_path / f"{kind}.png"
        result = run("plot", model, d / "train.csv", "--kind", kind, "-o", out)
        assert result.returncode == 0, result.stderr
        assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 5000
    result = run("plot", d / "reg.safetensors", d / "train.csv", "--kind", "fit", "-o", tmp_path / "x.png")
    assert result.returncode == 0 and (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"  # three inputs: y against t
    result = run("plot", d / "clf.safetensors", d / "train.csv", "--kind", "fit", "-o", tmp_path / "c.png")
    assert result.returncode == 1 and "--kind fit draws regression models" in result.stderr
    result = run("plot", model, d / "train.csv", "--kind", "histogram")
    assert result.returncode == 2 and "unknown kind 'histogram'" in result.stderr


def test_a_model_file_naming_more_targets_than_outputs_is_refused_in_one_line(files, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.numpy import save_file

    from deltaprop import io

    d, _ = files
    with safe_open(str(d / "reg.safetensors"), framework="np") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    metadata["user"] = json.dumps({"features": ["a", "b", "c"], "targets": ["y", "y2", "y3"]})
    metadata["sha256"] = io._digest(tensors, metadata)
    save_file(tensors, str(tmp_path / "three.safetensors"), metadata=metadata)
    for command in (("predict", tmp_path / "three.safetensors", d / "train.csv"),
                    ("evaluate", tmp_path / "three.safetensors", d / "train.csv"), ("info", tmp_path / "three.safetensors")):
        result = run(*command)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip() == (f"error: {tmp_path / 'three.safetensors'}: user.targets must name the model's "
                                         f"1 target; got ['y', 'y2', 'y3']")


def test_an_output_that_cannot_be_written_is_told_before_training(files, tmp_path):
    d, _ = files
    for output, message in ((tmp_path, f"error: cannot write {tmp_path}: it is a directory; name a file"),
                            ("/sys/m.safetensors", "error: cannot write /sys/m.safetensors: Permission denied in /sys")):
        result = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--epochs", "100000", "-o", output)
        assert result.returncode == 1 and result.stderr.strip() == message and result.stdout == ""
    result = run("predict", d / "reg.safetensors", d / "train.csv", "-o", tmp_path)
    assert result.returncode == 1 and "it is a directory" in result.stderr
    (tmp_path / "plain.txt").write_text("")
    result = run("demo", "--out", tmp_path / "plain.txt")
    assert result.returncode == 1 and "plain.txt is a file, not a folder" in result.stderr


def test_a_full_disk_at_the_save_is_one_line_and_leaves_no_file(files, tmp_path):
    import os

    d, _ = files
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import errno, os\n"
        "def full(fd):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "os.fsync = full\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run([DELTAPROP, "fit", str(d / "train.csv"), "--target", "y", "--features", "a,b,c",
                             "--restarts", "1", "--weight-decay", "10", "-o",
                             str(tmp_path / "m.safetensors")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: could not write {tmp_path / 'm.safetensors'}: No space left on device; "
                                     f"it was left as it was")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_ctrl_c_during_parallel_restarts_saves_the_best_and_says_how_many_ran(files, tmp_path):
    import os
    import signal
    import time

    d, _ = files
    proc = subprocess.Popen([DELTAPROP, "fit", str(d / "train.csv"), "--target", "y", "--features", "a,b,c",
                             "--method", "sgd", "--batch-size", "1", "--epochs", "1000000", "--restarts", "3",
                             "--n-jobs", "2", "--weight-decay", "1", "--no-progress", "-o", str(tmp_path / "m.safetensors")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(8)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to deltaprop and its workers
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "best of 2 restarts (3 asked)" in out and "stopped: interrupted" in out
    info = run("info", tmp_path / "m.safetensors")
    assert "2 restarts" in info.stdout and "interrupted" in info.stdout


def test_fit_and_info_count_right_and_show_the_weight_decay_used(files, tmp_path):
    d, _ = files
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a", "--hidden", "2", "--restarts", "1",
                 "-o", tmp_path / "one.safetensors")
    assert result.returncode == 0 and "1 feature: a" in result.stdout and "best of 1 restart," in result.stdout
    info = run("info", tmp_path / "one.safetensors").stdout
    assert "1 restart, best 0; weight decay by the evidence" in info
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a", "--hidden", "2", "--restarts", "1",
                 "--weight-decay", "3", "-o", tmp_path / "three.safetensors")
    assert result.returncode == 0 and "weight decay 3" in result.stdout
    assert "1 restart, best 0; weight decay 3" in run("info", tmp_path / "three.safetensors").stdout


def test_a_warning_is_one_line(files, tmp_path):
    d, _ = files
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--method", "sgd", "--learning-rate",
                 "1000", "--restarts", "1", "-o", tmp_path / "m.safetensors")
    assert result.returncode == 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: training diverged (restart 0 at epoch 1")
    assert "--learning-rate 100," in lines[0] and "--method scg" in lines[0] and "=" not in lines[0]  # the CLI's words


def test_a_mixture_density_network_from_fit_to_plot(tmp_path):
    """Issue 16: fit --components M trains a MixtureDensityRegressor; predict gives the mode, evaluate the mean
    -ln p(t|x) per row, plot --kind fit draws PRML Figure 5.21; what does not apply is refused in one line."""
    from deltaprop.examples import inverse_problem

    X, T = inverse_problem(0, 300)
    pd.DataFrame({"x": X[:, 0], "t": T[:, 0]}).to_csv(tmp_path / "inverse.csv", index=False)
    model = tmp_path / "mdn.safetensors"
    result = run("fit", tmp_path / "inverse.csv", "--target", "t", "--hidden", "5", "--components", "3",
                 "--restarts", "2", "--epochs", "300", "-o", model)
    assert result.returncode == 0, result.stderr
    assert "3 Gaussian components" in result.stdout and "-ln p(t|x)" in result.stdout
    est = dp.load(model)
    assert type(est) is dp.MixtureDensityRegressor and est.components == 3
    predicted = pd.read_csv(stdio.StringIO(run("predict", model, tmp_path / "inverse.csv").stdout))
    np.testing.assert_allclose(predicted["t"], est.predict(X), rtol=1e-12)
    result = run("evaluate", model, tmp_path / "inverse.csv")
    assert result.returncode == 0 and f"{est.negative_log_likelihood(X, T[:, 0]):.6g}" in result.stdout
    result = run("plot", model, tmp_path / "inverse.csv", "--kind", "fit", "-o", tmp_path / "mdn.png")
    assert result.returncode == 0 and (tmp_path / "mdn.png").read_bytes()[:4] == b"\x89PNG"
    assert run("trace", model, "-x", "0.5", "-t", "0.3").returncode == 0
    for args, message in ((("predict", model, tmp_path / "inverse.csv", "--std"), "Invalid value for --std: this model is a mixture"),
                          (("fit", tmp_path / "inverse.csv", "--target", "t", "--components", "2", "--classify"),
                           "Invalid value for --components: a mixture density"),
                          (("fit", tmp_path / "inverse.csv", "--target", "t", "--components", "2", "--weight-decay",
                            "evidence"), "Invalid value for --weight-decay: --weight-decay evidence (PRML 5.7) needs the Hessian"),
                          (("fit", tmp_path / "inverse.csv", "--target", "t", "--components", "0"), "--components")):
        result = run(*args)
        assert result.returncode == 2 and message in " ".join(result.stderr.split()), result.stderr


def test_scheduler_without_dask_is_one_line(files, tmp_path):
    d, _ = files
    code = ("import sys; sys.modules['distributed'] = None; from deltaprop.cli import app; "
            "sys.argv = ['deltaprop'] + sys.argv[1:]; app()")
    result = subprocess.run([sys.executable, "-c", code, "fit", str(d / "train.csv"), "--target", "y",
                             "--scheduler", "tcp://127.0.0.1:8786", "-o", str(tmp_path / "m.safetensors")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: --scheduler: running on the Dask scheduler tcp://127.0.0.1:8786 needs "
                                     "Dask's distributed package: pip install 'deltaprop[dask]'")
    assert not (tmp_path / "m.safetensors").exists()


def test_train_on_a_scheduler_without_dask_says_how_to_install():
    code = ("import sys; sys.modules['distributed'] = None; import numpy as np, deltaprop as dp\n"
            "try:\n    dp.train(dp.mlp([1, 2, 1]), np.zeros((4, 1)), np.zeros((4, 1)), restarts=2, scheduler='tcp://h:1')\n"
            "except ModuleNotFoundError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'deltaprop[dask]'" in result.stdout, result.stderr


def _interrupt_fit(data, output, after=4.0):
    """A long fit of ``data``, Ctrl-C (SIGINT) ``after`` seconds into it."""
    import signal
    import time

    p = subprocess.Popen([DELTAPROP, "fit", str(data), "--target", "y", "--hidden", "30", "--epochs", "100000",
                          "--weight-decay", "0.001", "--restarts", "1", "-o", str(output)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


@pytest.fixture(scope="module")
def long_fit_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("interrupt") / "big.csv"
    X = np.random.default_rng(0).standard_normal((2000, 5))
    pd.DataFrame(np.c_[X, np.sin(X[:, 0])], columns=[*"abcde", "y"]).to_csv(path, index=False)
    return path


def test_an_interrupted_fit_saves_and_exits_130(long_fit_data, tmp_path):
    output = tmp_path / "m.safetensors"
    code, out, err = _interrupt_fit(long_fit_data, output)
    assert code == 130, err
    assert "stopped: interrupted" in out
    assert err.strip().splitlines()[-1].startswith("interrupted: the weights reached when Ctrl-C came")
    assert f"saved to {output}" in " ".join(err.split()) or str(output) in err
    assert dp.load(output).training_["stop_reason"] == "interrupted"


def test_an_interrupted_fit_never_replaces_an_existing_model(long_fit_data, tmp_path, files):
    d, _ = files
    output = tmp_path / "m.safetensors"
    output.write_bytes((d / "reg.safetensors").read_bytes())
    before = output.read_bytes()
    code, out, err = _interrupt_fit(long_fit_data, output)
    assert code == 130, err
    assert output.read_bytes() == before
    beside = tmp_path / "m.interrupted.safetensors"
    assert str(beside) in err and dp.load(beside).training_["stop_reason"] == "interrupted"


def test_ctrl_c_before_training_is_one_line_and_130(capsys):
    import typer

    from deltaprop.cli import _fail_on_bad_input

    @_fail_on_bad_input
    def reading():
        raise KeyboardInterrupt  # as Ctrl-C while the data are read

    with pytest.raises(typer.Exit) as exit:
        reading()
    assert exit.value.exit_code == 130
    assert capsys.readouterr().err == "interrupted: nothing was saved\n"


def test_output_into_a_missing_folder_is_refused_before_training(files, tmp_path):
    d, _ = files
    for command in (["fit", d / "train.csv", "--target", "y", "--features", "a,b,c"],
                    ["predict", d / "reg.safetensors", d / "train.csv"]):
        result = run(*command, "-o", tmp_path / "nosuchdir" / "out.file")
        assert result.returncode == 1
        assert result.stderr.strip() == (f"error: cannot write {tmp_path / 'nosuchdir' / 'out.file'}: there is no "
                                         f"folder {tmp_path / 'nosuchdir'}; create it, or name a file in a folder "
                                         f"that exists")
        assert not (tmp_path / "nosuchdir").exists()


def test_predict_says_what_it_wrote(files, tmp_path):
    d, _ = files
    result = run("predict", d / "reg.safetensors", d / "train.csv", "--std", "-o", tmp_path / "p.csv")
    assert result.returncode == 0
    assert result.stdout.strip() == f"wrote {tmp_path / 'p.csv'}: 80 rows, columns y, y_std"
    assert list(pd.read_csv(tmp_path / "p.csv").columns) == ["y", "y_std"]


def test_a_warning_advises_in_the_command_lines_words(files, tmp_path):
    d, _ = files
    result = run("fit", d / "train.csv", "--target", "y", "--features", "a,b,c", "--epochs", "3", "--weight-decay",
                 "1", "--restarts", "1", "-o", tmp_path / "m.safetensors")
    assert result.returncode == 0
    assert result.stderr.strip() == ("warning: lbfgs stopped at its limit of 3 iterations, the objective still changing "
                                     "by more than 1e-10 of itself per iteration; raise --epochs")


def test_an_evidence_models_pictures_and_info_say_what_their_errors_are(files, tmp_path):
    from deltaprop.cli import _picture_title

    d, _ = files
    info = " ".join(run("info", d / "reg.safetensors").stdout.replace("\u2502", " ").split())
    assert "starts' final E" in info and "(each start's last cycle, at its own alpha and beta)" in info
    assert re.search(r"stopped (settled|not settled) after \d+ cycles, \d+ iterations in all", info), info
    est = dp.load(d / "reg.safetensors")
    assert est.evidence_ is not None
    assert "at the evidence's final alpha and beta; E is the data term E_D" in _picture_title("m", est, "training")
    assert "final E of each start's last cycle" in _picture_title("m", est, "minima")
    plain = dp.NetworkRegressor(weight_decay=1.0, restarts=1, max_iter=5).fit(np.zeros((4, 1)), np.arange(4.0))
    assert _picture_title("m", plain, "minima") == "m: final E of each restart"
    for kind in ("training", "minima"):
        assert run("plot", d / "reg.safetensors", "--kind", kind, "-o", tmp_path / f"{kind}.png").returncode == 0
