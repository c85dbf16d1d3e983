"""benchmarks/uci.py: its validation folds, and a whole run on a small data set in the published layout."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("uci", ROOT / "benchmarks" / "uci.py")
uci = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uci)


@pytest.mark.parametrize("folds", [2, 5, 7])
def test_folds_hold_out_every_training_row_once(folds):
    train = np.random.default_rng(0).permutation(103)
    parts = uci.validation_parts(train, folds)
    assert len(parts) == folds
    held_out = np.concatenate([val for _, val in parts])
    assert np.array_equal(np.sort(held_out), np.sort(train))
    for fit, val in parts:
        assert np.array_equal(np.sort(np.concatenate([fit, val])), np.sort(train))
        assert not np.intersect1d(fit, val).size


def test_one_fold_holds_out_the_last_fifth():
    train = np.arange(50, 150)
    [(fit, val)] = uci.validation_parts(train, 1)
    assert np.array_equal(fit, train[:80]) and np.array_equal(val, train[80:])


def write_data_set(folder: Path, splits: int = 2) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(80, 2))
    y = np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] + 0.05 * rng.standard_normal(80)
    folder.mkdir(parents=True)
    np.savetxt(folder / "data.txt", np.column_stack([x, y]))
    np.savetxt(folder / "index_features.txt", [0, 1], fmt="%d")
    np.savetxt(folder / "index_target.txt", [2], fmt="%d")
    np.savetxt(folder / "n_hidden.txt", [8], fmt="%d")
    np.savetxt(folder / "n_splits.txt", [splits], fmt="%d")
    for k in range(splits):
        order = rng.permutation(80)
        np.savetxt(folder / f"index_train_{k}.txt", order[:64], fmt="%d")
        np.savetxt(folder / f"index_test_{k}.txt", order[64:], fmt="%d")
    return y


def test_a_run_learns_the_function_and_writes_the_table(tmp_path):
    y = write_data_set(tmp_path / "data" / "toy")
    out = tmp_path / "UCI.md"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "uci.py"), str(tmp_path / "data"), "--folds", "3",
                             "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    [row] = [line.split("|") for line in out.read_text().splitlines() if line.startswith("| toy ")]
    rmse, ll = float(row[4].split("+-")[0]), float(row[7].split("+-")[0])
    assert row[3].strip() == "2"
    assert rmse < 0.3 * y.std()  # a network that learnt nothing would be at y.std()
    assert ll > 0.5 * np.log(1 / (2 * np.pi * (0.3 * y.std()) ** 2)) - 0.5
    assert "3-fold cross-validation" in out.read_text()


def test_a_folder_without_data_sets_is_refused(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "uci.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode != 0 and "holds no data set folders" in result.stderr


@pytest.mark.parametrize("args, message", [(["no/such/folder"], "is not a folder"),
                                           (["{tmp}", "--folds", "0"], "--folds must be at least 1")])
def test_bad_arguments_are_refused_by_name(tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "uci.py"), *args],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode != 0 and message in result.stderr


def test_an_evidence_run_needs_no_cross_validation_and_writes_its_table(tmp_path):
    write_data_set(tmp_path / "data" / "toy", splits=1)
    out = tmp_path / "UCI-evidence.md"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "uci.py"), str(tmp_path / "data"),
                             "--weight-decay", "evidence", "--out", str(out)], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    [row] = [line.split("|") for line in out.read_text().splitlines() if line.startswith("| toy ")]
    rmse, ll = float(row[4].split("+-")[0]), float(row[8].split("+-")[0])
    assert row[3].strip() == "1" and rmse < 0.2 and ll > 0.0  # noise 0.05: the function is learnt
    assert "NetworkRegressor() with every default" in out.read_text() and "ensembles LL" in out.read_text()


def test_the_bayes_runner_compares_the_default_with_the_plain_fit_scikit_learn_and_each_structure(tmp_path):
    y = write_data_set(tmp_path / "data" / "toy", splits=1)
    out = tmp_path / "BAYES.md"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bayes.py"), str(tmp_path / "data"),
                             "--structures", "--out", str(out)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split("|")[2].strip(): line.split("|") for line in out.read_text().splitlines()
            if line.startswith("| toy ")}
    names = ["deltaprop (default: the evidence)", "deltaprop default, n_jobs=-1 (the starts on threads)",
             "deltaprop plain fit (weight_decay=1)",
             "scikit-learn MLPRegressor (defaults)"] + [f"deltaprop hessian={s!r}" for s in
                                                        ("exact", "ggn", "kron", "diag", "last_layer")]
    assert all(name in rows for name in names)
    default = rows["deltaprop (default: the evidence)"]
    assert float(default[5].split("+-")[0]) < 0.3 * y.std()  # test RMSE: the network learnt the function
    assert float(rows["scikit-learn MLPRegressor (defaults)"][4]) == 1.0  # its own time over itself
    threads = rows["deltaprop default, n_jobs=-1 (the starts on threads)"]
    assert float(threads[5].split("+-")[0]) < 0.3 * y.std()  # (its own draw: the rows use random_state=None)


def test_the_bayes_runner_refuses_a_missing_data_folder(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bayes.py"), str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 2 and "is not a folder of data sets" in result.stderr


def test_a_size_case_fits_the_plain_network_and_scikit_learns_default_on_the_same_rows():
    """benchmarks/bayes.py --sizes runs each case three ways in processes of their own; the kin8nm-like case here,
    its plain fit and scikit-learn's (the default fit is the slow one, and the same code as the UCI rows)."""
    runner = [sys.executable, str(ROOT / "benchmarks" / "bayes.py"), "--size-case", "rows"]
    for kind in ("--plain", "--peer"):
        result = subprocess.run([*runner, kind], capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
        got = json.loads(result.stdout.strip().splitlines()[-1])
        assert got["seconds"] > 0 and got["peak_mb"] > 0 and "hessian" not in got  # no evidence in either
