"""The compiled kernels on the default fit's network, for this version and another: one evaluation of E and its
gradient, one L-BFGS iteration, one default fit; and an evaluation per pattern as N grows (a 100-fold N should cost
a 100-fold time).

    python benchmarks/kernels.py [OLD_SRC] [--rounds 3] [--fits 5] [--out FILE]

The network is ``NetworkRegressor()``'s on Boston: 13-20-1 tanh on the 455 training rows of the published split 0
(``../shared/data/uci``; a table of the same shape drawn at random where that folder is not beside the checkout),
standardised. Each version runs in a process of its own (two copies of the kernels in one
process run at different speeds: ``versions.py``), the versions alternating round by round, so that this machine's
slow phases fall on both; each row is the median over the rounds of each round's best (evaluation, iteration) or
median (fit). OLD_SRC is the ``src`` folder of another checkout (``git worktree add /tmp/old COMMIT``); without it,
this version alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOSTON = ROOT.parent / "shared" / "data" / "uci" / "bostonHousing"
ROWS = [("evaluation", "us", "one evaluation of E and dE/dw (compiled backend)"),
        ("iteration", "us", "one L-BFGS iteration (2000 from a random start, weight decay 0.01)"),
        ("fit", "s", "a default NetworkRegressor().fit (median of the random states 0 ..)"),
        ("per row, 455", "ns", "one evaluation of 8-20-1 on 455 random rows, per row"),
        ("per row, 45500", "ns", "one evaluation of 8-20-1 on 45,500 random rows, per row")]


def boston():
    """Boston's training rows of split 0 (X, t as a column), or, where ``../shared/data`` is not beside the checkout,
    a table of the same shape drawn from a seeded 13-20-1 network (``SYNTHETIC``)."""
    import numpy as np

    if BOSTON.is_dir():
        data = np.loadtxt(BOSTON / "data.txt")
        rows = np.loadtxt(BOSTON / "index_train_0.txt").astype(int)
        return data[rows, :-1], data[rows, -1:]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((455, 13))
    t = np.tanh(X @ rng.standard_normal((13, 20)) / 4) @ rng.standard_normal((20, 1)) + 0.3 * rng.standard_normal((455, 1))
    return X, t


SYNTHETIC = "455 x 13 drawn from a random 13-20-1 tanh network plus noise (no ../shared/data/uci here)"


def measure(fits: int) -> dict:
    """This process's deltaprop, timed: the three rows (``ROWS``)."""
    import time

    import deltaprop as dp
    from deltaprop import fast
    from deltaprop.estimators import NetworkRegressor

    X, t = boston()
    Xs, ts = (X - X.mean(0)) / X.std(0), (t - t.mean()) / t.std()
    net = dp.mlp([13, 20, 1])
    w = net.init(seed=0)
    evaluator = fast.evaluator(net, Xs, ts, backend="compiled")
    evaluator.error_and_gradient(w)
    best = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(2000):
            evaluator.error_and_gradient(w)
        best.append((time.perf_counter() - start) / 2000 * 1e6)
    warnings.simplefilter("ignore")  # the iteration and fit limits are what is timed
    dp.train(net, Xs, ts, method="lbfgs", epochs=20, seed=0, tol=0, weight_decay=0.01, progress=False)
    iteration = []
    for seed in range(3):
        start = time.perf_counter()
        r = dp.train(net, Xs, ts, method="lbfgs", epochs=2000, seed=seed, tol=0, weight_decay=0.01, progress=False)
        iteration.append((time.perf_counter() - start) / r.history["epoch"][-1] * 1e6)
    NetworkRegressor(random_state=0).fit(X, t[:, 0])
    fit = []
    for seed in range(fits):
        start = time.perf_counter()
        NetworkRegressor(random_state=seed).fit(X, t[:, 0])
        fit.append(time.perf_counter() - start)
    return {"evaluation": min(best), "iteration": min(iteration), "fit": statistics.median(fit),
            **{f"per row, {N}": per_row(N) for N in (455, 45500)}}


def per_row(N: int) -> float:
    """ns a row of one evaluation of 8-20-1 on N random rows (compiled backend), best of 5 runs of ~0.1 s."""
    import time

    import numpy as np

    import deltaprop as dp
    from deltaprop import fast

    rng = np.random.default_rng(N)
    net = dp.mlp([8, 20, 1])
    X, T, w = rng.standard_normal((N, 8)), rng.standard_normal((N, 1)), net.init(seed=0)
    evaluator = fast.evaluator(net, X, T, backend="compiled")
    evaluator.error_and_gradient(w)
    calls = max(3, 1_000_000 // N)
    best = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            evaluator.error_and_gradient(w)
        best.append((time.perf_counter() - start) / calls / N * 1e9)
    return min(best)


def child(src: Path, fits: int) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(src)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
            f"import kernels, deltaprop; assert deltaprop.__file__.startswith({str(src)!r}), deltaprop.__file__\n"
            f"print(json.dumps(kernels.measure({fits})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?", type=Path, help="another checkout's src folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fits", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    versions = {"this version": ROOT / "src"} | ({"old": args.old.resolve()} if args.old else {})
    for name, src in versions.items():
        if not (src / "deltaprop").is_dir():
            parser.error(f"{src} holds no deltaprop package (give a checkout's src folder)")
    times: dict = {name: [] for name in versions}
    for r in range(args.rounds):
        for name in (list(versions) if r % 2 == 0 else list(versions)[::-1]):
            times[name].append(child(versions[name], args.fits))
            print(f"round {r + 1}, {name}: {times[name][-1]}", file=sys.stderr, flush=True)
    medians = {name: {row: statistics.median(t[row] for t in runs) for row, _, _ in ROWS}
               for name, runs in times.items()}
    head = ["what", "unit", *versions] + (["this / old"] if args.old else [])
    lines = [f"`python benchmarks/kernels.py {args.old or ''} --rounds {args.rounds} --fits {args.fits}`".replace("  ", " "),
             "", "13-20-1 tanh on " + ("Boston's 455 training rows (split 0)" if BOSTON.is_dir() else SYNTHETIC) +
             " (the first three rows), each version in its own process, alternating.",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, unit, what in ROWS:
        cells = [what, unit] + [f"{medians[name][row]:.3g}" for name in versions]
        if args.old:
            cells.append(f"{medians['this version'][row] / medians['old'][row]:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
