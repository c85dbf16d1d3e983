"""The README as a reader meets it: every Python block run in order in one session, as if pasted one after
another into one interpreter, with warnings turned into errors; every shell block in a folder of its own; and
the numbers the README prints are the ones the code prints."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.examples import seed_example

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
PYTHON = re.findall(r"^```python\n(.*?)^```", TEXT, flags=re.S | re.M)
SHELL = re.findall(r"^```bash\n(.*?)^```", TEXT, flags=re.S | re.M)

#: The one warning the README's blocks may still give, and the blocks that give it (by a line each holds): a
#: default fit whose last L-BFGS training stops at its limit of 1000 iterations while the objective still falls
#: (issue 28, item 2, open: the limit is real, and raising it changes the fit). Anything else fails the test.
LIMIT = "lbfgs stopped at its limit of 1000 iterations"
LIMITED = ("found = dp.train_evidence(net, X, T, restarts=3, seed=0)",
           'mdn = dp.MixtureDensityRegressor(hidden=(5,), components=3, restarts=5, random_state=0)',
           "reg = dp.NetworkRegressor(hidden=(20,), random_state=0).fit(X, y)",
           "est = dp.NetworkRegressor(hidden=(20, 20), restarts=1, random_state=0).fit(X, y)")

DRIVER = '''
import json, sys, warnings

from sklearn.exceptions import ConvergenceWarning


def main():
    blocks = json.loads(open(sys.argv[1]).read())
    session = {"__name__": "__readme__"}
    told = []
    for i, code in enumerate(blocks):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("error")
            warnings.simplefilter("always", ConvergenceWarning)  # recorded, and compared by the test
            exec(compile(code, f"README python block {i}", "exec"), session)
        told.append(sorted({str(w.message) for w in caught}))
    open(sys.argv[2], "w").write(json.dumps(told))


if __name__ == "__main__":  # Dask's worker processes import this file again
    main()
'''


def _env(home: Path) -> dict:
    return {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(home)}


def test_the_readme_has_python_and_shell_blocks():
    assert len(PYTHON) >= 10 and len(SHELL) >= 2
    assert all(any(line in block for block in PYTHON) for line in LIMITED)


def test_every_python_block_runs_in_order_in_one_session(tmp_path):
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "blocks.json").write_text(json.dumps(PYTHON))
    result = subprocess.run([sys.executable, "driver.py", "blocks.json", "told.json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=1200, env=_env(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    told = json.loads((tmp_path / "told.json").read_text())
    for code, messages in zip(PYTHON, told):
        allowed = any(line in code for line in LIMITED)
        assert all(allowed and m.startswith(LIMIT) for m in messages), (code, messages)


@pytest.mark.parametrize("code", SHELL, ids=[f"bash-{i}" for i in range(len(SHELL))])
def test_every_shell_block_runs_in_a_folder_of_its_own(tmp_path, code):
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=900, env=_env(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert all(line.startswith("warning: " + LIMIT) for line in result.stderr.splitlines()), result.stderr
    if "deltaprop info" in code:  # the format version the README names is the one info prints
        version = re.search(r"model format version (\d+)", result.stdout).group(1)
        assert f"(format version {version};" in TEXT


def test_the_trace_the_readme_shows_is_the_one_printed():
    shown = re.search(r"^```\n(unit .*?)^```", TEXT, flags=re.S | re.M).group(1).splitlines()
    net = dp.mlp([1, 3, 1], hidden="tanh", output="linear")
    w = net.init(seed=0)
    X = np.random.default_rng(0).uniform(-1, 1, (50, 1))
    printed = [line.rstrip() for line in str(net.trace(w, X[0], np.sin(np.pi * X[0]))).splitlines()]
    for line in shown:
        if line.strip() != "...":
            assert line.rstrip() in printed, line


def test_the_methods_rmse_the_readme_quotes_are_the_codes():
    sentence = re.search(r"fits\s+sin\(pi x\) to an RMSE of (.*?)\.\s", TEXT, flags=re.S).group(1)
    quoted = {m: float(v) for v, m in re.findall(r"([\d.e-]+)\s+with\s+(?:1000 steps of\s+)?`(\w+)`", sentence)}
    assert set(quoted) == {"lbfgs", "scg", "adam", "sgd", "momentum", "gd"}, sentence
    net, X, T = seed_example(0, target="sin(pi x)")
    for method, value in quoted.items():  # as deltaprop demo trains: the best of 10 restarts, seed 0
        result = dp.train(net, X, T, method=method, restarts=10, seed=0, progress=False)
        assert f"{np.sqrt(2 * result.error / len(X)):.2g}" == f"{value:.2g}", method
