"""Where W2's step goes on one core: its eight matrix products, in NumPy (OpenBLAS) and in XLA, against
deltaprop's whole pass.

    python benchmarks/products.py [--rounds 25] [--core 0] [--out benchmarks/W2-products.md]

One mini-batch step of W2 (784-512-512-10, tanh, softmax, 256 rows, float32) multiplies eight matrices:
three forward (z W^T), two sending deltas back (delta W) and three gradients (delta^T z). Each is timed
as NumPy's ``matmul`` into a buffer and as one call of the same product jitted by JAX, pinned to one core
with one thread for both; then deltaprop's buffered pass on the batch (E and the whole gradient,
``deltaprop.fast.buffered.Buffers``) against the eight NumPy products alone. Calls are interleaved,
repeated, and each row gives the median of the per-round ratios, so that this machine's slow phases fall
on both sides alike. Every XLA product is checked against NumPy's (1e-4 relative); a product that
disagrees exits 1. Without JAX the XLA column says so and the rest still runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import deltaprop as dp
from deltaprop.fast.buffered import Buffers

# name, left operand, right operand, transpose the left, transpose the right (W's are (out, in) as in w)
PRODUCTS = [("z0 W1^T", "X", "W1", False, True), ("z1 W2^T", "Z1", "W2", False, True),
            ("z2 W3^T", "Z2", "W3", False, True), ("delta3 W3", "D3", "W3", False, False),
            ("delta2 W2", "D2", "W2", False, False), ("delta3^T z2", "D3", "Z2", True, False),
            ("delta2^T z1", "D2", "Z1", True, False), ("delta1^T z0", "D1", "X", True, False)]


def timed(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--core", type=int, default=0, help="the core to pin to")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(1)  # noqa: F841 - held while the process runs
    rng = np.random.default_rng(0)
    f32 = np.float32
    net = dp.mlp([784, 512, 512, 10], output="softmax")
    w = net.init(seed=0).astype(f32)
    views = net.unpack(w)
    arrays = {"X": rng.standard_normal((256, 784)).astype(f32),
              "W1": views["W[h1<-x]"], "W2": views["W[h2<-h1]"], "W3": views["W[y<-h2]"],
              "Z1": np.tanh(rng.standard_normal((256, 512))).astype(f32),
              "Z2": np.tanh(rng.standard_normal((256, 512))).astype(f32),
              "D1": rng.standard_normal((256, 512)).astype(f32), "D2": rng.standard_normal((256, 512)).astype(f32),
              "D3": rng.standard_normal((256, 10)).astype(f32)}
    T = np.eye(10, dtype=f32)[rng.integers(0, 10, 256)]
    have_jax = importlib.util.find_spec("jax") is not None
    if have_jax:
        import jax

        on_device = {k: jax.device_put(np.ascontiguousarray(v)) for k, v in arrays.items()}
    rows, numpy_calls, failures = [], [], 0
    for name, a, b, ta, tb in PRODUCTS:
        left, right = (arrays[a].T if ta else arrays[a]), (arrays[b].T if tb else arrays[b])
        out = np.empty((left.shape[0], right.shape[1]), f32)
        ours = lambda left=left, right=right, out=out: np.matmul(left, right, out=out)  # noqa: E731
        numpy_calls.append(ours)
        theirs = None
        if have_jax:
            product = jax.jit(lambda x, y, ta=ta, tb=tb: (x.T if ta else x) @ (y.T if tb else y))
            xa, xb = on_device[a], on_device[b]
            theirs = lambda product=product, xa=xa, xb=xb: product(xa, xb).block_until_ready()  # noqa: E731
            ours()
            scale = np.abs(out).max()
            if np.abs(np.asarray(product(xa, xb)) - out).max() > 1e-4 * scale:
                print(f"{name}: XLA's product disagrees with NumPy's", file=sys.stderr)
                failures += 1
        t_np, t_x = [], []
        for fn in (ours, theirs):
            if fn is not None:
                fn()
        for _ in range(args.rounds):
            t_np.append(timed(ours, 10))
            if theirs is not None:
                t_x.append(timed(theirs, 10))
        if t_x:
            ratio = statistics.median(n / x for n, x in zip(t_np, t_x))
            rows.append(f"| {name} | {left.shape[0]} x {left.shape[1]} x {right.shape[1]} | "
                        f"{1e6 * statistics.median(t_np):.0f} | {1e6 * statistics.median(t_x):.0f} | {ratio:.2f} |")
        else:
            rows.append(f"| {name} | {left.shape[0]} x {left.shape[1]} x {right.shape[1]} | "
                        f"{1e6 * statistics.median(t_np):.0f} | JAX not installed | |")
    buffers, g = Buffers(net, 256, f32), np.empty_like(w)
    X = arrays["X"]
    whole = lambda: buffers.error_and_gradient(w, X, T, g)  # noqa: E731
    products = lambda: [call() for call in numpy_calls]  # noqa: E731
    whole(), products()
    t_whole, t_products = [], []
    for _ in range(args.rounds):
        t_whole.append(timed(whole, 5))
        t_products.append(timed(products, 5))
    pass_ratio = statistics.median(a / b for a, b in zip(t_whole, t_products))
    lines = [f"`python benchmarks/products.py --rounds {args.rounds}`: one core (core {args.core}), one thread, "
             f"NumPy {np.__version__}" + (f", JAX {jax.__version__}" if have_jax else ", JAX not installed"), "",
             "| product of W2's step | m x k x n | NumPy us | XLA us | NumPy / XLA (median of rounds) |",
             "|---|---|---|---|---|", *rows, "",
             f"deltaprop's buffered pass on the batch (E and the whole gradient): "
             f"{1e6 * statistics.median(t_whole):.0f} us; the eight NumPy products alone: "
             f"{1e6 * statistics.median(t_products):.0f} us; pass / products {pass_ratio:.3f} (median of rounds)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
