"""Where the fixed cost of a ``dp.train`` call goes: each phase of the call timed on its own, for small networks.

    python benchmarks/fixed_cost.py [--calls 300] [--out benchmarks/FIXED-COST.md]

Three calls, as issue 29 names them: W1 (the lecture's 1-3-1 network, N = 50, full-batch gd, 20000 steps), W3
(1-10-1, N = 1000, on-line sgd, 10 epochs) and a 20-iteration lbfgs run of an 8-20-1 network on 200 rows. Each
phase (the data's checks, the options' checks, the validation split, the objective and its evaluator, the initial
weights, the epoch-0 record, the compiled loop itself, the final E, the result) is wrapped in a timer for the
duration of the run; the table gives the median over ``--calls`` calls of each phase's time in a call, and "rest"
the call's time outside them (the restarts' dispatch, seeding, argument handling, the history, the permutations).

The whole call less its compiled loop holds, besides the fixed cost, what grows with the epochs outside the loop (the
history's arrays, W3's permutations). The fixed cost proper is the call's time as its steps go to none: each call is
timed again with one epoch (iteration), and the table's last row is that call less one epoch's share of the longer
call's compiled loop.

    python benchmarks/fixed_cost.py --against OLD_SRC [--rounds 10]

times those one-epoch calls for this version and another checkout's ``src`` (``git worktree add /tmp/old COMMIT``),
each in its own process, the two alternating round by round (this machine's speed drifts over minutes; in one
process, two copies of deltaprop time apart by which is loaded first): the median of each round's 300 calls, and
the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

if __name__ == "__main__" and "--src" in sys.argv:  # a child of --against: deltaprop from that checkout
    sys.path.insert(0, sys.argv[sys.argv.index("--src") + 1])
import deltaprop as dp  # noqa: E402
from deltaprop.engine.network import Network  # noqa: E402
from deltaprop.examples import seed_example  # noqa: E402

fused, fused_lbfgs, objective, restart, train = (importlib.import_module(f"deltaprop.training.{m}") for m in
                                                 ("fused", "fused_lbfgs", "objective", "restart", "train"))

PHASES = [  # (module or class, attribute, label)
    (train, "check_data", "check the data"),
    (train, "make_config", "check the options"),
    (train, "_split", "validation split"),
    (objective.Objective, "__init__", "objective and evaluator"),
    (Network, "init", "initial weights"),
    (restart.Run, "record", "epoch-0 record"),
    (fused, "run_epochs", "compiled loop (the steps)"),
    (fused_lbfgs, "run_lbfgs", "compiled loop (the steps)"),
    (objective.Objective, "value", "final E(w)"),
    (train, "_result", "the result"),
]


def cases():
    net, X, T = seed_example(0)
    rng = np.random.default_rng(0)
    X3 = rng.uniform(-1, 1, (1000, 1))
    X8 = rng.standard_normal((200, 8))
    return {
        "W1: 1-3-1, N=50, gd, 20000 steps": (net, X, T, dict(method="gd", learning_rate=0.1, epochs=20000, tol=0.0)),
        "W3: 1-10-1, N=1000, on-line sgd, 10 epochs": (dp.mlp([1, 10, 1]), X3, np.sin(np.pi * X3),
                                                      dict(method="sgd", batch_size=1, learning_rate=0.01, epochs=10,
                                                           history="running", tol=0.0)),
        "lbfgs, 20 iterations: 8-20-1, N=200": (dp.mlp([8, 20, 1]), X8, np.sin(X8).sum(1, keepdims=True),
                                               dict(method="lbfgs", max_iter=20, tol=0.0)),
    }


def one_epoch(options: dict) -> dict:
    """The same options with one epoch (iteration)."""
    return {**options, **({"epochs": 1} if "epochs" in options else {"max_iter": 1})}


def timed(calls: int, change=lambda options: options) -> dict:
    spent: dict = defaultdict(float)
    originals = []
    for owner, name, label in PHASES:
        original = getattr(owner, name)
        originals.append((owner, name, original))

        def wrapper(*args, __f=original, __label=label, **kwargs):
            began = time.perf_counter()
            try:
                return __f(*args, **kwargs)
            finally:
                spent[__label] += time.perf_counter() - began

        setattr(owner, name, wrapper)
    try:
        table = {}
        for case, (net, X, T, options) in cases().items():
            options = change(options)
            dp.train(net, X, T, seed=0, **options)  # compile or load the kernels
            rows = defaultdict(list)
            for _ in range(calls):
                spent.clear()
                began = time.perf_counter()
                dp.train(net, X, T, seed=0, **options)
                total = time.perf_counter() - began
                for label, seconds in spent.items():
                    rows[label].append(seconds)
                rows["rest"].append(total - sum(spent.values()))
                rows["whole call"].append(total)
            table[case] = {label: float(np.median(v)) for label, v in rows.items()}
        return table
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def markdown(table: dict, calls: int, one: dict) -> str:
    labels = list(dict.fromkeys(label for _, _, label in PHASES)) + ["rest", "whole call"]
    cases_ = list(table)
    lines = ["# The fixed cost of a dp.train call", "", f"`python benchmarks/fixed_cost.py --calls {calls}`", "",
             "| phase (us, median of calls) | " + " | ".join(cases_) + " |", "|---|" + "---|" * len(cases_)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(f"{table[c].get(label, 0.0) * 1e6:.1f}" for c in cases_) + " |")
    fixed = [table[c]["whole call"] - table[c].get("compiled loop (the steps)", 0.0) for c in cases_]
    lines.append("| whole call less the steps | " + " | ".join(f"{f * 1e6:.1f}" for f in fixed) + " |")
    epochs = [options.get("epochs", options.get("max_iter")) for *_, options in cases().values()]
    lines.append("| whole call of one epoch (iteration) | " + " | ".join(f"{one[c]['whole call'] * 1e6:.1f}" for c in cases_)
                 + " |")
    proper = [one[c]["whole call"] - table[c].get("compiled loop (the steps)", 0.0) / e for c, e in zip(cases_, epochs)]
    lines.append("| **fixed cost** (the call of one epoch less one epoch's share of the steps above) | "
                 + " | ".join(f"**{f * 1e6:.1f}**" for f in proper) + " |")
    lines += ["", f"Each phase timed inside the call by a wrapper (a few tenths of a microsecond each); medians over "
              f"{calls} calls after one warm-up; {platform.machine()}, CPython {platform.python_version()}, "
              f"deltaprop {dp.__version__}."]
    return "\n".join(lines) + "\n"


def one_epoch_medians(calls: int) -> dict:
    """case -> the median seconds of ``calls`` one-epoch calls, untouched by any timer inside them."""
    found = {}
    for case, (net, X, T, options) in cases().items():
        options = one_epoch(options)
        dp.train(net, X, T, seed=0, **options)
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            dp.train(net, X, T, seed=0, **options)
            times.append(time.perf_counter() - began)
        found[case] = float(np.median(times))
    return found


def against(old: Path, rounds: int, calls: int) -> str:
    """The one-epoch calls of this version and of ``old`` (a ``src`` folder), in alternating processes."""
    if not (old / "deltaprop" / "__init__.py").exists():
        raise SystemExit(f"fixed_cost.py: error: {old} holds no deltaprop package (give a checkout's src folder)")
    new = Path(dp.__file__).resolve().parents[1]
    found: dict = {"old": [], "new": []}
    for r in range(rounds):
        for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
            child = subprocess.run([sys.executable, __file__, "--src", str(old if which == "old" else new), "--medians",
                                    "--calls", str(calls)], capture_output=True, text=True, check=True)
            found[which].append(json.loads(child.stdout.splitlines()[-1]))
    lines = [f"`python benchmarks/fixed_cost.py --against {old} --rounds {rounds} --calls {calls}` (new: {new})", "",
             "| call of one epoch (iteration) | old us | new us | new / old (median of the rounds' ratios) |",
             "|---|---|---|---|"]
    for case in found["old"][0]:
        o, n = (np.array([d[case] for d in found[which]]) for which in ("old", "new"))
        name = case.split(":")[0].split(",")[0]  # W1, W3, lbfgs: here with one epoch (iteration)
        lines.append(f"| {name} | {np.median(o) * 1e6:.1f} | {np.median(n) * 1e6:.1f} | {np.median(n / o):.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--against", type=Path, default=None, help="another checkout's src folder")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--medians", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.medians:
        print(json.dumps(one_epoch_medians(args.calls)))
        return
    if args.against is not None:
        text = against(args.against.resolve(), args.rounds, args.calls)
    else:
        text = markdown(timed(args.calls), args.calls, timed(args.calls, one_epoch))
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
