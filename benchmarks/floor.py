"""Small networks against the compiled floor: W1 and W3 of ``run.py`` for deltaprop (the whole dp.train call
and its steps alone), the hand-written Numba loop and JAX's whole loop in one jit, many interleaved repeats
on one core, reported as the median of the per-repeat ratios.

    python benchmarks/floor.py [--repeats 41] [--core 0] [--only W1,W3] [--quick] [--out FILE]

``--only W2`` times W2 (784-512-512-10, float32) the same way: deltaprop against JAX's whole loop,
where run.py's runs of a few repeats put the ratio anywhere from 1.07x to 1.25x (one core) within an
hour of one another.

Why a runner of its own: this machine's two cores each switch between two speeds for seconds at a
time, and a W3 call lasts 3 ms, so medians taken per implementation over run.py's few repeats compare
rows that ran in different phases (W3's whole call came out 1.26x and 1.80x the Numba loop's in two
such runs of one day). Here every repeat times each implementation back to back on one core (pinned,
every library on one thread), each row first in turn and called twice, the second call timed: after
JAX's call its worker threads spin for a while, and on one core the next row shares it with them
(deltaprop's W3 call right after JAX's took 1.6 to 2x its time). The table gives each row's median
time and the median of its per-repeat ratio to deltaprop's whole call, which a phase change shared by
one repeat's rows leaves alone. The rows' final losses are checked against deltaprop's as in run.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

ROWS = {
    "deltaprop, the whole dp.train call": run.run_deltaprop,
    "deltaprop, the steps alone": run.run_deltaprop_steps,
    "Numba hand-written scalar loop": run.run_numba,
    "JAX whole loop in one jit (per epoch one gather, then lax.dynamic_slice)": run.run_jax_fused,
}


def measure(p, repeats: int) -> list[str]:
    rows = {name: fn for name, fn in ROWS.items() if name.startswith("deltaprop") or
            run.HAVE["numba" if "Numba" in name else "jax"]}
    reference = None
    for name, fn in list(rows.items()):  # warm up: compile, or load the caches
        out = fn(p)
        if out is None:  # a row that does not take this problem
            rows.pop(name)
            continue
        reference = out[1] if reference is None else reference
        if abs(out[1] - reference) > 1e-8 * max(abs(reference), 1e-12):
            raise SystemExit(f"{p.name}: a row ended at loss {out[1]!r}, deltaprop at {reference!r}")
    times = {name: [] for name in rows}
    for r in range(repeats):
        names = list(rows)
        for name in names[r % len(names):] + names[: r % len(names)]:  # each row first in turn
            rows[name](p)  # untimed: see the module's docstring
            times[name].append(rows[name](p)[0])
    base = times["deltaprop, the whole dp.train call"]
    lines = [f"### {p.name}", "", f"| implementation | median {p.unit} | median of per-repeat ratios to deltaprop's "
             "whole call |", "|---|---|---|"]
    for name, t in times.items():
        ratio = statistics.median(a / b for a, b in zip(t, base))
        lines.append(f"| {name} | {statistics.median(t) / p.steps * p.scale:.3g} | {ratio:.2f}x |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--quick", action="store_true", help="run.py's small sizes (a check that it runs)")
    parser.add_argument("--core", type=int, default=None, help="the core to pin to (default: the lowest allowed)")
    parser.add_argument("--only", default="W1,W3", help="comma-separated workloads of W1, W2, W3 (default: W1,W3)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    names = [n.strip().upper() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - {"W1", "W2", "W3"})
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; expected some of W1, W2, W3")
    run._one_core()
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    core = min(os.sched_getaffinity(0))
    only = "" if names == ["W1", "W3"] else f" --only {','.join(names)}"
    lines = ["# Small networks against the compiled floor" if only == "" else "# Interleaved on one core", "",
             f"`python benchmarks/floor.py --repeats {args.repeats} --core {core}{only}`", "",
             f"Machine: {run._cpu()}, pinned to core {core}, every library on one thread; {args.repeats} repeats, "
             "each timing every row once, back to back.", ""]
    for p in run.problems(args.quick):
        if p.name.split(":")[0] in names:
            lines += measure(p, args.repeats)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
