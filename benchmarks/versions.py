"""Time deltaprop's own rows of the benchmark (W1, W2, W3, W5a, W5b) for two source trees, interleaved.

    python benchmarks/versions.py OLD_SRC NEW_SRC [--rounds 5] [--repeats 3] [--out FILE]

OLD_SRC and NEW_SRC are the ``src`` folders of two checkouts (``git worktree add /tmp/old
COMMIT`` makes one). Each round runs every workload once per tree, in a fresh process that
puts that tree first on ``sys.path``, the two trees alternating which goes first; each
process compiles (or loads from the cache) and warms up first, then times ``--repeats``
calls of ``dp.train`` as ``benchmarks/run.py`` does (the whole call, history="running").
The table gives medians over rounds and the ratio new/old.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time, statistics
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
import numpy as np
import deltaprop as dp
import run
repeats = int(sys.argv[3])
out = {"deltaprop": dp.__file__}
for p in run.problems(False):
    run.run_deltaprop(p)  # compile or load the kernels, warm the caches
    out[p.name.split(":")[0]] = statistics.median(run.run_deltaprop(p)[0] for _ in range(repeats)) / p.steps * p.scale
net, X, T = run.seed_example(0)
def w5a():
    start = time.perf_counter(); dp.train(net, X, T, method="lbfgs", tol=1e-12, seed=0, progress=False)
    return time.perf_counter() - start
w5a()
out["W5a"] = 1e3 * statistics.median(w5a() for _ in range(repeats))
data = np.loadtxt(run.Path(run.__file__).resolve().parents[2] / "shared" / "data" / "uci" / "bostonHousing" / "data.txt")
Xb, tb = data[:, :13], data[:, 13:14]
Xb, tb = (Xb - Xb.mean(0)) / Xb.std(0), (tb - tb.mean(0)) / tb.std(0)
p = run.Problem("W5b", "ms/fit", dp.mlp([13, 50, 1]), Xb, tb, "sgd", 0.01, 40, 32)
run.run_deltaprop(p)
out["W5b"] = 1e3 * statistics.median(run.run_deltaprop(p)[0] for _ in range(repeats))
print(json.dumps(out))
"""

UNITS = {"W1": "us/step", "W2": "ms/step", "W3": "us/update", "W5a": "ms/fit", "W5b": "ms/fit"}


def measure(src: Path, repeats: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(src), str(HERE), str(repeats)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs = {"old": [], "new": []}
    for r in range(args.rounds):
        for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
            runs[which].append(measure(getattr(args, which).resolve(), args.repeats))
            print(f"round {r + 1} {which}: " + ", ".join(f"{k} {v:.4g}" for k, v in runs[which][-1].items()
                                                          if k in UNITS), file=sys.stderr)
    lines = [f"`python benchmarks/versions.py {args.old} {args.new} --rounds {args.rounds} --repeats {args.repeats}`",
             "", "| workload | unit | old | new | new / old |", "|---|---|---|---|---|"]
    for key, unit in UNITS.items():
        old = statistics.median(m[key] for m in runs["old"])
        new = statistics.median(m[key] for m in runs["new"])
        lines.append(f"| {key} | {unit} | {old:.4g} | {new:.4g} | {new / old:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
