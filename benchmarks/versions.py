"""Time deltaprop's own rows of the benchmark (W1, W2, W3, W5a, W5b, W7) for two versions, interleaved
call by call in one process, in both orders.

    python benchmarks/versions.py OLD_SRC [--rounds 15] [--only W1,W3] [--out FILE]

OLD_SRC is the ``src`` folder of another checkout (``git worktree add /tmp/old COMMIT`` makes
one); the version installed here is the new one. Each is copied under a name of its own
(``deltaprop_old``, ``deltaprop_new``; deltaprop imports itself only relatively), so both live in
one process and each call of one is followed by the same call of the other, the order alternating:
this machine's slow phases (its two-speed cores) then fall on both alike, which separate processes
do not promise. Each workload is ``dp.train`` as ``benchmarks/run.py`` calls it (the whole call,
history="running"), after a warm-up call of each version (Numba compiles or loads its cache).

Which version's kernels are loaded first matters: two copies of the same source in one process ran
W5a 1.7x slower in the copy loaded second (1.36 against 2.30 ms, measured), so one process cannot
compare compiled rows fairly. The comparison therefore runs twice, in two processes, the old version
loaded first in one and the new in the other, and the table gives each order's median of the
per-round ratios new/old and their geometric mean, in which an order effect that multiplies
either version's time alike cancels.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

import deltaprop  # noqa: E402

UNITS = {"W1": "us/step", "W2": "ms/step", "W3": "us/update", "W5a": "ms/fit", "W5b": "ms/fit", "W7": "s/fit"}


def load_copy(src: Path, name: str):
    """The package under ``src`` imported as ``name`` from a copy."""
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    shutil.copytree(src / "deltaprop", folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(folder))
    module = importlib.import_module(name)
    importlib.import_module(f"{name}.examples")
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


def one_order(old_src: Path, names: list, rounds: int, first: str) -> dict:
    """Both versions in this process, ``first`` loaded and warmed first; name -> (old times, new times)."""
    new_src = Path(deltaprop.__file__).resolve().parents[1]
    order = ("old", "new") if first == "old" else ("new", "old")
    versions = {which: load_copy(old_src if which == "old" else new_src, f"deltaprop_{which}") for which in order}
    work = {which: workloads(dp) for which, dp in versions.items()}
    for which, dp in versions.items():  # warm up: compile or load the kernels
        for name in names:
            seconds(dp, *work[which][name])
    times = {which: {name: [] for name in names} for which in versions}
    for r in range(rounds):
        for name in names:
            for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
                w, per = work[which][name]
                times[which][name].append(seconds(versions[which], w, per))
        print(f"{first} first, round {r + 1}: " + ", ".join(f"{n} {times['old'][n][-1]:.4g}/{times['new'][n][-1]:.4g}"
                                                            for n in names), file=sys.stderr)
    return {name: (times["old"][name], times["new"][name]) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", default=",".join(UNITS), help="comma-separated workloads (default: all)")
    parser.add_argument("--first", choices=("old", "new"), help=argparse.SUPPRESS)  # one order, in this process
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(UNITS))
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; expected some of {', '.join(UNITS)}")
    if args.first:
        print(json.dumps(one_order(args.old.resolve(), names, args.rounds, args.first)))
        return
    found = {}
    for first in ("old", "new"):
        done = subprocess.run([sys.executable, __file__, str(args.old), "--rounds", str(args.rounds), "--only",
                               ",".join(names), "--first", first], stdout=subprocess.PIPE, text=True, check=True)
        found[first] = json.loads(done.stdout)
    only = "" if names == list(UNITS) else f" --only {','.join(names)}"
    lines = [f"`python benchmarks/versions.py {args.old} --rounds {args.rounds}{only}` (old: {args.old}; new: "
             f"{Path(deltaprop.__file__).parent})", "",
             "| workload | unit | old | new | new / old, old loaded first | new / old, new loaded first | "
             "new / old (geometric mean) |", "|---|---|---|---|---|---|---|"]
    for name in names:
        ratios = [statistics.median(n / o for o, n in zip(*found[first][name])) for first in ("old", "new")]
        old = statistics.median(found["old"][name][0] + found["new"][name][0])
        new = statistics.median(found["old"][name][1] + found["new"][name][1])
        lines.append(f"| {name} | {UNITS[name]} | {old:.4g} | {new:.4g} | {ratios[0]:.3f} | {ratios[1]:.3f} | "
                     f"{math.sqrt(ratios[0] * ratios[1]):.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
