"""Time deltaprop's own rows of the benchmark (W1, W2, W3, W5a, W5b, W7) for two versions, interleaved
call by call in one process.

    python benchmarks/versions.py OLD_SRC [--rounds 15] [--only W1,W3] [--out FILE]

OLD_SRC is the ``src`` folder of another checkout (``git worktree add /tmp/old COMMIT`` makes
one); the version installed here is the new one. The old package is copied under the name
``deltaprop_old`` (deltaprop imports itself only relatively), so both live in one process and
each call of one is followed by the same call of the other, the order alternating: this
machine's slow phases (its two-speed cores) then fall on both alike, which separate processes
do not promise. Each workload is ``dp.train`` as ``benchmarks/run.py`` calls it (the whole call,
history="running"), after a warm-up call of each version (Numba compiles or loads its cache).
The table gives medians over the rounds, and the median of the per-round ratios new/old.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

import deltaprop  # noqa: E402

UNITS = {"W1": "us/step", "W2": "ms/step", "W3": "us/update", "W5a": "ms/fit", "W5b": "ms/fit", "W7": "s/fit"}


def load_old(src: Path):
    """The package under ``src`` imported as ``deltaprop_old`` from a copy."""
    folder = Path(tempfile.mkdtemp(prefix="deltaprop-old-"))
    shutil.copytree(src / "deltaprop", folder / "deltaprop_old", ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(folder))
    module = importlib.import_module("deltaprop_old")
    importlib.import_module("deltaprop_old.examples")
    return module


def workloads(dp) -> dict:
    """name -> (call, per): a call of dp.train for each workload of run.py, and what one step is."""
    run.dp, run.seed_example = dp, dp.examples.seed_example  # run.py builds with whichever package is set
    found = {}
    for p in run.problems(False):
        found[p.name.split(":")[0]] = (p, p.steps / p.scale)
    net, X, T = dp.examples.seed_example(0)
    found["W5a"] = (lambda: dp.train(net, X, T, method="lbfgs", **run.W5A, seed=0, progress=False), 1e-3)
    data = np.loadtxt(Path(run.__file__).resolve().parents[2] / "shared" / "data" / "uci" / "bostonHousing" / "data.txt")
    Xb, tb = data[:, :13], data[:, 13:14]
    Xb, tb = (Xb - Xb.mean(0)) / Xb.std(0), (tb - tb.mean(0)) / tb.std(0)
    found["W5b"] = (run.Problem("W5b", "ms/fit", dp.mlp([13, 50, 1]), Xb, tb, "sgd", 0.01, 40, 32), 1e-3)
    X7, T7 = run.kin8nm_like()
    found["W7"] = (lambda: run._w7_deltaprop(X7, T7, 500, 0), 1.0)
    return found


def seconds(dp, work, per) -> float:
    """The seconds of one call of ``work``, divided by ``per``."""
    run.dp = dp  # run.py's functions call whichever package is set
    if callable(work):
        start = time.perf_counter()
        work()
        return (time.perf_counter() - start) / per
    return run.run_deltaprop(work)[0] / per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", default=",".join(UNITS), help="comma-separated workloads (default: all)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(UNITS))
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; expected some of {', '.join(UNITS)}")
    versions = {"old": load_old(args.old.resolve()), "new": deltaprop}
    work = {which: workloads(dp) for which, dp in versions.items()}
    for which, dp in versions.items():  # warm up: compile or load the kernels
        for name in names:
            seconds(dp, *work[which][name])
    times = {which: {name: [] for name in names} for which in versions}
    for r in range(args.rounds):
        for name in names:
            for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
                w, per = work[which][name]
                times[which][name].append(seconds(versions[which], w, per))
        print(f"round {r + 1}: " + ", ".join(f"{n} {times['old'][n][-1]:.4g}/{times['new'][n][-1]:.4g}" for n in names),
              file=sys.stderr)
    only = "" if names == list(UNITS) else f" --only {','.join(names)}"
    lines = [f"`python benchmarks/versions.py {args.old} --rounds {args.rounds}{only}` (old: {args.old}; new: "
             f"{Path(deltaprop.__file__).parent})", "",
             "| workload | unit | old | new | new / old (median of rounds) |", "|---|---|---|---|---|"]
    for name in names:
        unit = UNITS[name]
        old, new = times["old"][name], times["new"][name]
        ratio = statistics.median(n / o for n, o in zip(new, old))
        lines.append(f"| {name} | {unit} | {statistics.median(old):.4g} | {statistics.median(new):.4g} | {ratio:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
