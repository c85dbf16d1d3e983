"""The deltaprop command, run as a new user runs it."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from deltaprop.examples import seed_example

DELTAPROP = str(Path(sys.executable).parent / "deltaprop")


def run(*args):
    return subprocess.run([DELTAPROP, *args], capture_output=True, text=True, timeout=120)


def test_demo_prints_the_seed_example_and_its_trace():
    result = run("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    net, X, T = seed_example(0)
    w = net.init(seed=0)
    assert f"E(w) = 1/2 sum_n (y(x_n, w) - t_n)^2 = {float(net.error(w, X, T)):.6g}" in out
    difference = float(re.search(r"largest relative difference (\S+)", out).group(1))
    assert difference < 1e-6
    assert str(net.trace(w, X[0], T[0])) in out


def test_demo_trains_the_four_functions_of_figure_5_3_to_small_rmse():
    out = run("demo").stdout
    rmse = {}
    for name in ("x^2", "sin(pi x)", "|x|", "H(x)"):
        row = next(line for line in out.splitlines() if line.startswith("│ " + name + " "))
        cells = [c.strip() for c in row.strip("│").split("│")]
        rmse[name] = float(cells[2])
        assert float(cells[1]) <= float(cells[4]) <= float(cells[5])  # best <= median <= max of the minima
    assert rmse["x^2"] < 0.01 and rmse["sin(pi x)"] < 0.01 and rmse["|x|"] < 0.02


def test_demo_traces_the_pattern_asked_for():
    out = run("demo", "--pattern", "7", "--seed", "3", "--restarts", "1").stdout
    net, X, T = seed_example(3)
    assert str(net.trace(net.init(seed=3), X[7], T[7])) in out


def test_usage_errors_exit_2_with_a_message():
    result = run("demo", "--bogus")
    assert result.returncode == 2 and "No such option: --bogus" in result.stderr
    result = run("demo", "--pattern", "50")
    assert result.returncode == 2 and "pattern must be 0 to 49; got 50" in result.stderr
    result = run("demo", "--method", "newton")
    assert result.returncode == 2 and "unknown method 'newton'" in result.stderr
    result = run("nonsense")
    assert result.returncode == 2 and "No such command 'nonsense'" in result.stderr


def test_python_dash_m_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "deltaprop", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "demo" in result.stdout


def test_seed_example_data():
    net, X, T = seed_example(0)
    assert X.shape == (50, 1) and np.all(np.abs(X) < 1)
    np.testing.assert_array_equal(T, np.sin(np.pi * X))
    assert net.n_params == 10


def test_the_front_door_version_examples_and_80_columns():
    version = run("--version")
    assert version.returncode == 0 and re.fullmatch(r"deltaprop \d+\.\d+\.\d+\n", version.stdout)
    for command in ("demo", "fit", "predict", "evaluate", "trace", "gradcheck", "info", "plot", "explain"):
        text = run(command, "--help").stdout
        assert f"Example: deltaprop {command}" in text, command
    demo = run("demo", "--restarts", "2").stdout.splitlines()
    table = [line for line in demo if line and line[0] in "┏┃┡│└"]
    assert len(table) == 8 and max(len(line) for line in table) <= 80
    assert "best of 1 restart)" in run("demo", "--restarts", "1").stdout


def test_the_readmes_pictures_are_the_ones_deltaprop_demo_draws(tmp_path):
    """docs/img is written by `deltaprop demo --out docs/img`; a change to a picture's code without running it
    again leaves the README showing a stale picture, which this test names."""
    import matplotlib.image as mpimg

    docs = Path(__file__).resolve().parents[1] / "docs" / "img"
    result = subprocess.run([DELTAPROP, "demo", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(drawn) == 9 and set(drawn) <= {p.name for p in docs.glob("*.png")}
    stale = []
    for name in drawn:
        new, old = mpimg.imread(tmp_path / name), mpimg.imread(docs / name)
        if new.shape != old.shape or float(np.abs(new - old).mean()) > 2e-3:  # font rendering may differ a little
            stale.append(name)
    assert not stale, f"docs/img is stale: run deltaprop demo --out docs/img ({', '.join(stale)})"
