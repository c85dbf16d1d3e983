"""Time deltaprop against its peers on the same networks, in one interleaved run.

    python benchmarks/run.py [--quick] [--repeats R] [--only W2,W5] [--one-core] [--out benchmarks/RESULTS.md]
    python benchmarks/run.py --device cuda [--out benchmarks/GPU.md]

Workloads (the same math in every row: same initial weights, same data order,
same learning rate; each implementation's final loss is checked against
deltaprop's):

  W1  the seed's 1-3-1 tanh network, N = 50, full-batch gradient descent, float64 (us/step)
  W2  784-512-512-10 tanh, softmax outputs, mini-batches of 256, SGD, float32 (ms/step)
  W3  1-10-1 tanh, N = 1000, on-line SGD (batch 1), float64 (us/update)
  W5a L-BFGS on the seed's example, 1000 iterations (ms per fit), against SciPy's L-BFGS-B on E and its gradient
      written by hand in NumPy (the optimizer deltaprop's lbfgs calls) and optax.lbfgs in one jit, from the same w0
  W5b 13-50-1 tanh on the Boston housing data, 40 epochs of SGD with batches of 32 (ms per fit)
  W7  whole L-BFGS fits of an 8-50-1 tanh network on an 8192 x 8 kin8nm-like table, 500 iterations, the same
      weight decay: NetworkRegressor against scikit-learn, torch.optim.LBFGS and optax.lbfgs (s per fit)
  W6  second derivatives: H v, dy/dw and the exact Hessian of the 13-50-1 network on Boston's first
      training split, and H v of 784-512-512-10 on 256 patterns, against torch.func, PyTorch's double
      backward and JAX; each result compared with deltaprop's (ms per call)

Peers, each timed only where installed (missing ones are reported, never
faked): a hand-written NumPy loop (the floor), PyTorch eager, JAX (a jitted
step called from Python, and the whole loop in one jit), scikit-learn's
MLPRegressor. Repeats are interleaved (every implementation once, then again)
and the table gives medians, with each row's time relative to deltaprop's.
``--one-core`` runs everything on one core with one thread (BLAS, XLA, PyTorch),
where two-thread matrix products do not switch between speeds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

import deltaprop as dp
from deltaprop.examples import seed_example

NOTE = ("deltaprop's time is the whole dp.train call: checking the data, drawing w0, the steps, the history and the "
        "final E(w). Its mini-batch rows use history='running' (each epoch's error is the sum of its batch errors, which "
        "the steps compute anyway; the peers record no per-epoch error at all); the row 'exact per-epoch history' is the "
        "default history='exact', which adds one pass over the data per epoch for E(w) and the gradient norm. The row "
        "'the steps alone' is the same call timed by its own history (result.history['seconds'], epoch 0 to the last): "
        "what the peers' timed loops hold, without checking the data, drawing w0 and the final E(w).\n\n"
        "scikit-learn's MLPRegressor shuffles mini-batches with its own random numbers, so where batches are shuffled "
        "(W3, W5b) its final loss differs from the others: it runs the same method on another data order.")
W6_NOTE = ("W6: deltaprop's rows are the public calls dp.hessian_vector_product, dp.weight_jacobian and dp.hessian, "
           "each checking its input; 'evaluator' is deltaprop.fast.evaluator(net, X, T).hessian_vector_product(w, v), "
           "which checked the data once, as the gradient row (the evaluator's error_and_gradient) did. The peers' rows "
           "time their functions alone, JAX's compiled before timing. Every result is compared with deltaprop's.")
W7_NOTE = ("W7: each row is one whole fit from its own random start, as its library draws it, of the same objective "
           "(the mean of 1/2 (y - t)^2 plus lambda/2N times the squared weights, biases free) on the same standardised "
           "table; the final objectives differ by where each start leads. deltaprop's row is the estimator a user calls "
           "(checking the data, standardising, the history), with restarts=1 (its default is 3); JAX's excludes "
           "compiling. Iterations are each library's own count (L-BFGS may stop early at a converged objective).")
HAVE = {name: importlib.util.find_spec(name) is not None for name in ("torch", "jax", "sklearn", "numba", "optax")}


# -- the problems ----------------------------------------------------------------


class Problem:
    """A network, data, initial weights and the data order that dp.train will use for a seed."""

    def __init__(self, name, unit, net, X, T, method, lr, epochs, batch_size, seed=0, dtype=np.float64, scale=1.0):
        self.name, self.unit, self.scale = name, unit, scale
        self.net, self.method, self.lr, self.epochs, self.batch_size, self.seed = net, method, lr, epochs, batch_size, seed
        self.X, self.T = X.astype(dtype), T.astype(dtype)
        self.N = X.shape[0]
        # dp.train's seeds: SeedSequence(seed).spawn(restarts + 1); restart 0 draws w0, then one permutation per epoch
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
        self.w0 = net.init(seed=rng).astype(dtype)
        full = batch_size is None or batch_size >= self.N
        self.batches = [[None] if full else np.split(rng.permutation(self.N), range(batch_size, self.N, batch_size))
                        for _ in range(epochs)]
        self.steps = sum(len(b) for b in self.batches)
        self.views = [(net.unpack(np.arange(net.n_params))[f"W[{b}<-{a}]"], net.unpack(np.arange(net.n_params))[f"b[{b}]"])
                      for a, b in zip(list(net.layers)[:-1], list(net.layers)[1:])]
        self.output = net.layers[net.output].activation.name

    def layers(self, w):
        """[(W, b), ...] of the layered network, copies, for the peers."""
        return [(w[iW].copy(), w[ib].copy()) for iW, ib in self.views]

    def loss(self, w) -> float:
        return float(self.net.error(np.asarray(w, dtype=np.float64), self.X.astype(np.float64), self.T.astype(np.float64)))


def problems(quick: bool) -> list[Problem]:
    net, X, T = seed_example(0)
    w1 = Problem("W1: 1-3-1 tanh, N=50, full-batch GD, float64", "us/step", net, X, T, "gd", 0.1,
                 2000 if quick else 20000, None, scale=1e6)
    rng = np.random.default_rng(1)
    X2 = rng.standard_normal((256 * (4 if quick else 8), 784))
    T2 = np.eye(10)[rng.integers(0, 10, len(X2))]
    w2 = Problem("W2: 784-512-512-10 tanh, batch 256, SGD, float32", "ms/step", dp.mlp([784, 512, 512, 10], output="softmax"),
                 X2, T2, "sgd", 0.01, 2 if quick else 16, 256, dtype=np.float32, scale=1e3)
    X3 = rng.uniform(-1, 1, (1000, 1))
    w3 = Problem("W3: 1-10-1 tanh, N=1000, on-line SGD, float64", "us/update", dp.mlp([1, 10, 1]), X3, np.sin(np.pi * X3),
                 "sgd", 0.01, 2 if quick else 10, 1, scale=1e6)
    return [w1, w2, w3]


# -- the implementations: each runs the whole training and returns (seconds, final weights or loss) ----------


def run_deltaprop(p: Problem, history: str = "running", steps_alone: bool = False):
    """The whole dp.train call, from checking the data and drawing w0 to the final E(w).

    Mini-batch runs record the running per-epoch error (history="running"), as the peers'
    loops would if they recorded one; ``run_deltaprop_exact`` adds the exact E(w) and
    gradient norm at every epoch's end, one more pass over the data per epoch.
    ``steps_alone``: the time from epoch 0 to the last epoch in the result's own history,
    which leaves out what the peers' timed loops leave out too (checking the data, drawing
    w0, the final E(w)).
    """
    kwargs = {"learning_rate": p.lr, "epochs": p.epochs, "seed": p.seed, "progress": False, "history": history}
    if p.method == "sgd":
        kwargs["batch_size"] = p.batch_size
    start = time.perf_counter()
    result = dp.train(p.net, p.X, p.T, method=p.method, **kwargs)
    seconds = time.perf_counter() - start
    if steps_alone:
        seconds = result.history["seconds"][-1] - result.history["seconds"][0]
    return seconds, p.loss(result.w)


def run_deltaprop_steps(p: Problem):
    return run_deltaprop(p, steps_alone=True)


def run_deltaprop_exact(p: Problem):
    if p.batch_size is None or p.batch_size >= p.N:
        return None  # full-batch epochs record the exact history anyway
    return run_deltaprop(p, history="exact")


def _numpy_step(p: Problem):
    out = p.output

    def grad(layers, X, T):
        zs = [X]
        for W, b in layers[:-1]:
            zs.append(np.tanh(zs[-1] @ W.T + b))
        a = zs[-1] @ layers[-1][0].T + layers[-1][1]
        if out == "softmax":
            e = np.exp(a - a.max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
        else:
            y = a
        delta = y - T
        grads = []
        for k in range(len(layers) - 1, -1, -1):
            grads.append((delta.T @ zs[k], delta.sum(axis=0)))
            if k:
                delta = (1 - zs[k] * zs[k]) * (delta @ layers[k][0])
        return grads[::-1]

    return grad


def run_numpy(p: Problem):
    layers = p.layers(p.w0)
    grad = _numpy_step(p)
    start = time.perf_counter()
    for batches in p.batches:
        for idx in batches:
            X, T = (p.X, p.T) if idx is None else (p.X[idx], p.T[idx])
            eta = p.lr / X.shape[0]
            for (W, b), (gW, gb) in zip(layers, grad(layers, X, T)):
                W -= eta * gW
                b -= eta * gb
    seconds = time.perf_counter() - start
    return seconds, p.loss(_pack(p, layers))


def _pairs(p):
    names = list(p.net.layers)
    return list(zip(names[:-1], names[1:]))


def _pack(p, layers):
    views = {}
    for (W, b), (src, dst) in zip(layers, _pairs(p)):
        views[f"W[{dst}<-{src}]"], views[f"b[{dst}]"] = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return p.net.pack(views)


def run_torch(p: Problem):
    import torch

    dtype = torch.float64 if p.X.dtype == np.float64 else torch.float32
    params = [torch.tensor(a, dtype=dtype, requires_grad=True) for W, b in p.layers(p.w0) for a in (W, b)]
    X, T = torch.tensor(p.X), torch.tensor(p.T)
    opt = torch.optim.SGD(params, lr=p.lr)
    batches = [[None if i is None else torch.as_tensor(i) for i in b] for b in p.batches]
    start = time.perf_counter()
    for epoch in batches:
        for idx in epoch:
            x, t = (X, T) if idx is None else (X[idx], T[idx])
            opt.zero_grad()
            z = x
            for k in range(0, len(params) - 2, 2):
                z = torch.tanh(z @ params[k].T + params[k + 1])
            a = z @ params[-2].T + params[-1]
            if p.output == "softmax":
                loss = -(t * torch.log_softmax(a, dim=1)).sum() / x.shape[0]
            else:
                loss = 0.5 * ((a - t) ** 2).sum() / x.shape[0]
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    layers = [(params[k].detach().numpy(), params[k + 1].detach().numpy()) for k in range(0, len(params), 2)]
    return seconds, p.loss(_pack(p, layers))


def _jax_parts(p: Problem):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    dtype = jnp.float64 if p.X.dtype == np.float64 else jnp.float32

    def loss(params, x, t):
        z = x
        for W, b in params[:-1]:
            z = jnp.tanh(z @ W.T + b)
        a = z @ params[-1][0].T + params[-1][1]
        if p.output == "softmax":
            return -(t * jax.nn.log_softmax(a, axis=1)).sum() / x.shape[0]
        return 0.5 * ((a - t) ** 2).sum() / x.shape[0]

    def step(params, x, t):
        g = jax.grad(loss)(params, x, t)
        return jax.tree_util.tree_map(lambda a, b: a - p.lr * b, params, g)

    params = [(jnp.asarray(W, dtype), jnp.asarray(b, dtype)) for W, b in p.layers(p.w0)]
    return jax, jnp, step, params, jnp.asarray(p.X, dtype), jnp.asarray(p.T, dtype)


def run_jax_step(p: Problem):
    jax, jnp, step, params, X, T = _jax_parts(p)
    step = jax.jit(step)
    batches = [[None if i is None else jnp.asarray(i) for i in b] for b in p.batches]
    first = batches[0][0]
    compile_start = time.perf_counter()
    jax.block_until_ready(step(params, X if first is None else X[first], T if first is None else T[first]))
    compile_seconds = time.perf_counter() - compile_start
    start = time.perf_counter()
    for epoch in batches:
        for idx in epoch:
            params = step(params, X, T) if idx is None else step(params, X[idx], T[idx])
    jax.block_until_ready(params)
    seconds = time.perf_counter() - start
    return seconds, p.loss(_pack(p, [(np.asarray(W), np.asarray(b)) for W, b in params])), compile_seconds


def run_jax_fused(p: Problem):
    jax, jnp, step, params, X, T = _jax_parts(p)
    if p.batches[0][0] is None:
        n = p.steps

        def loop(params):
            return jax.lax.fori_loop(0, n, lambda i, q: step(q, X, T), params)
    elif len({len(i) for b in p.batches for i in b}) > 1:
        return None  # a last, smaller batch: one jitted loop needs batches of one size
    else:
        # as an expert writes it: each epoch gathers the data once in its permuted order, then every step takes
        # a contiguous batch by lax.dynamic_slice (a scalar start), not a gather X[order[i]] per step
        perms = jnp.asarray(np.stack([np.concatenate(b) for b in p.batches]))  # (epochs, N)
        B, per_epoch = p.batch_size, len(p.batches[0])

        def epoch(e, q):
            Xe, Te = X[perms[e]], T[perms[e]]
            return jax.lax.fori_loop(0, per_epoch, lambda i, r: step(
                r, jax.lax.dynamic_slice_in_dim(Xe, i * B, B), jax.lax.dynamic_slice_in_dim(Te, i * B, B)), q)

        def loop(params):
            return jax.lax.fori_loop(0, perms.shape[0], epoch, params)

    loop = jax.jit(loop)
    compile_start = time.perf_counter()
    compiled = loop.lower(params).compile()
    compile_seconds = time.perf_counter() - compile_start
    start = time.perf_counter()
    params = jax.block_until_ready(compiled(params))
    seconds = time.perf_counter() - start
    return seconds, p.loss(_pack(p, [(np.asarray(W), np.asarray(b)) for W, b in params])), compile_seconds


_NUMBA_LOOP = None


def _numba_loop():
    """A hand-written Numba loop for a D-M-K tanh network with linear outputs: scalar code over units and
    patterns, no framework, the same data order and the same mean-gradient step as dp.train."""
    global _NUMBA_LOOP
    if _NUMBA_LOOP is None:
        from numba import njit

        @njit(cache=False)
        def loop(W1, b1, W2, b2, X, T, order, batch, lr):
            M, D = W1.shape
            K = W2.shape[0]
            N = order.shape[1]
            z = np.empty(M)
            d = np.empty(K)
            gW1, gb1, gW2, gb2 = np.empty_like(W1), np.empty_like(b1), np.empty_like(W2), np.empty_like(b2)
            for e in range(order.shape[0]):
                for start in range(0, N, batch):
                    stop = min(start + batch, N)
                    for j in range(M):
                        gb1[j] = 0.0
                        for i in range(D):
                            gW1[j, i] = 0.0
                    for k in range(K):
                        gb2[k] = 0.0
                        for j in range(M):
                            gW2[k, j] = 0.0
                    for s in range(start, stop):
                        n = order[e, s]
                        for j in range(M):
                            a = b1[j]
                            for i in range(D):
                                a += W1[j, i] * X[n, i]
                            z[j] = np.tanh(a)
                        for k in range(K):
                            y = b2[k]
                            for j in range(M):
                                y += W2[k, j] * z[j]
                            d[k] = y - T[n, k]
                            gb2[k] += d[k]
                            for j in range(M):
                                gW2[k, j] += d[k] * z[j]
                        for j in range(M):
                            back = 0.0
                            for k in range(K):
                                back += W2[k, j] * d[k]
                            dj = (1.0 - z[j] * z[j]) * back
                            gb1[j] += dj
                            for i in range(D):
                                gW1[j, i] += dj * X[n, i]
                    step = lr / (stop - start)  # in place, element by element: no temporary arrays
                    for j in range(M):
                        b1[j] -= step * gb1[j]
                        for i in range(D):
                            W1[j, i] -= step * gW1[j, i]
                    for k in range(K):
                        b2[k] -= step * gb2[k]
                        for j in range(M):
                            W2[k, j] -= step * gW2[k, j]

        _NUMBA_LOOP = loop
    return _NUMBA_LOOP


def run_numba(p: Problem):
    """The hand-written Numba loop (``_numba_loop``): the scalar-code floor for small networks; compiled before
    timing. The permutations are the ones dp.train draws, made before the timed loop as the compiled path makes
    them per chunk of epochs."""
    if p.output != "linear" or len(p.net.layers) != 3 or p.X.dtype != np.float64:
        return None
    loop = _numba_loop()
    full = p.batches[0][0] is None
    order = np.tile(np.arange(p.N), (p.epochs, 1)) if full else np.stack([np.concatenate(b) for b in p.batches])
    batch = p.N if full else p.batch_size
    (W1, b1), (W2, b2) = p.layers(p.w0)
    compile_start = time.perf_counter()
    loop(W1.copy(), b1.copy(), W2.copy(), b2.copy(), p.X, p.T, order[:1], batch, p.lr)
    compile_seconds = time.perf_counter() - compile_start
    start = time.perf_counter()
    loop(W1, b1, W2, b2, p.X, p.T, order, batch, p.lr)
    seconds = time.perf_counter() - start
    return seconds, p.loss(_pack(p, [(W1, b1), (W2, b2)])), compile_seconds


def run_sklearn(p: Problem):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    if p.output != "linear" or len(p.net.layers) != 3:
        return None
    hidden = p.net.layers["h1"].size
    batch = p.N if p.batch_size is None else p.batch_size
    mlp = MLPRegressor(hidden_layer_sizes=(hidden,), activation="tanh", solver="sgd", learning_rate_init=p.lr,
                       momentum=0.0, alpha=0.0, batch_size=batch, max_iter=p.epochs, shuffle=batch < p.N, tol=0.0,
                       n_iter_no_change=10**9, random_state=p.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.set_params(max_iter=1).fit(p.X, p.T[:, 0])  # builds the layers; then start from deltaprop's w0
        (W1, b1), (W2, b2) = p.layers(p.w0)
        mlp.coefs_, mlp.intercepts_ = [W1.T.copy(), W2.T.copy()], [b1, b2]
        mlp.set_params(max_iter=p.epochs, warm_start=True)
        mlp._optimizer = None
        start = time.perf_counter()
        mlp.fit(p.X, p.T[:, 0])
        seconds = time.perf_counter() - start
    layers = [(mlp.coefs_[0].T, mlp.intercepts_[0]), (mlp.coefs_[1].T, mlp.intercepts_[1])]
    return seconds, p.loss(_pack(p, layers))


# In this order each round: after a JAX call its worker threads spin for a while and share the cores with the next
# row, which costs a row of a few ms (W3's) up to 2x its time (benchmarks/floor.py), so JAX's rows are followed by
# rows that take seconds (PyTorch eager, scikit-learn)
JAX_FUSED = "JAX whole loop in one jit (per epoch one gather, then lax.dynamic_slice)"
PEERS: list[tuple[str, str, Callable]] = [
    ("deltaprop", "", run_deltaprop),
    ("deltaprop, the steps alone", "", run_deltaprop_steps),
    ("deltaprop, exact per-epoch history", "", run_deltaprop_exact),
    ("NumPy hand-written", "", run_numpy),
    ("Numba hand-written scalar loop", "numba", run_numba),
    (JAX_FUSED, "jax", run_jax_fused),
    ("JAX jit step", "jax", run_jax_step),
    ("PyTorch eager", "torch", run_torch),
    ("scikit-learn MLPRegressor", "sklearn", run_sklearn),
]


W5A_JAX = "JAX optax.lbfgs in one jit (compiled before timing), from deltaprop's w0"
W7_JAX = "JAX optax.lbfgs in one jit (compiled before timing), float64"


def targets(medians: dict) -> list[str]:
    """Issue 29's targets (and issue 18's for W1) beside the ratios of this run (medians[workload][row]: seconds per
    step, per fit for W5a, per iteration for W7)."""
    w7_ours = next((k for k in medians.get("W7", {}) if k.startswith("deltaprop")), "deltaprop")
    rows = [("W1", "deltaprop", JAX_FUSED, "ahead of JAX's whole loop", lambda r: r > 1, "JAX / deltaprop"),
            ("W1", "deltaprop", "Numba hand-written scalar loop", "ahead of the Numba loop", lambda r: r > 1,
             "Numba / deltaprop"),
            ("W3", "deltaprop", "Numba hand-written scalar loop", "within 1.1x of the Numba loop (whole call)",
             lambda r: r <= 1.1, "deltaprop / Numba"),
            ("W3", "deltaprop", JAX_FUSED, "ahead of JAX's whole loop", lambda r: r > 1, "JAX / deltaprop"),
            ("W2", "deltaprop", JAX_FUSED, "no slower than JAX's whole loop (whole call)", lambda r: r <= 1.0,
             "deltaprop / JAX"),
            ("W2", "deltaprop, the steps alone", JAX_FUSED, "no slower than JAX's whole loop (the steps alone)",
             lambda r: r <= 1.0, "deltaprop / JAX"),
            ("W5a", "deltaprop", W5A_JAX, "no slower than optax.lbfgs in one jit (whole fit)", lambda r: r <= 1.0,
             "deltaprop / optax"),
            ("W7", w7_ours, W7_JAX, "no slower than optax.lbfgs in one jit (per iteration)", lambda r: r <= 1.0,
             "deltaprop / optax")]
    lines = ["### Targets in this run (issue 29; W1's from issue 18)", "", "| workload | target | ratio | result |",
             "|---|---|---|---|"]
    for workload, ours, peer, target, met, how in rows:
        m = medians.get(workload, {})
        if ours not in m or peer not in m:
            continue
        ratio = m[peer] / m[ours] if how.startswith(("JAX /", "Numba /")) else m[ours] / m[peer]
        lines.append(f"| {workload} | {target} | {how} = {ratio:.2f} | {'met' if met(ratio) else 'not met'} |")
    return lines + ["", "W1 and W3 are single-threaded calls of a few ms, which this machine's two-speed phases can "
                    "decide; `benchmarks/floor.py` times them with many interleaved repeats on one core "
                    "(`benchmarks/FLOOR.md`).", ""]


# -- W5: whole fits ------------------------------------------------------------------


# W5a's L-BFGS runs its 1000 iterations whatever the objective does (tol 0): where it stops to a tolerance moves
# with the last bits of E and its gradient (to tol 1e-12: 1000 iterations before the kernels of 2026-11-29, 266 after)
W5A = {"tol": 0.0, "epochs": 1000}


def _w5a_deltaprop(p: Problem):
    start = time.perf_counter()
    r = dp.train(p.net, p.X, p.T, method="lbfgs", **W5A, seed=p.seed, progress=False)
    return time.perf_counter() - start, r.history["epoch"][-1], r.error


def _sum_of_squares_and_gradient(p: Problem):
    """E(w) = 1/2 sum (y - t)^2 of a layered tanh network with linear outputs, and its gradient laid out as w,
    written by hand in NumPy: the objective a SciPy user passes to minimize."""
    X, T = p.X, p.T

    def fun(w):
        layers = [(w[iW], w[ib]) for iW, ib in p.views]
        zs = [X]
        for W, b in layers[:-1]:
            zs.append(np.tanh(zs[-1] @ W.T + b))
        delta = zs[-1] @ layers[-1][0].T + layers[-1][1] - T
        E, g = 0.5 * float((delta * delta).sum()), np.empty_like(w)
        for k in range(len(layers) - 1, -1, -1):
            iW, ib = p.views[k]
            g[iW], g[ib] = delta.T @ zs[k], delta.sum(axis=0)
            if k:
                delta = (1.0 - zs[k] * zs[k]) * (delta @ layers[k][0])
        return E, g

    return fun


def _w5a_scipy(p: Problem):
    """SciPy's L-BFGS-B (the optimizer deltaprop's lbfgs calls, with its options) on E and the gradient by hand."""
    from scipy.optimize import minimize

    fun = _sum_of_squares_and_gradient(p)
    start = time.perf_counter()
    r = minimize(fun, p.w0.copy(), jac=True, method="L-BFGS-B",
                 options={"maxiter": p.epochs, "ftol": 0.0, "gtol": 0.0, "maxfun": 10 * p.epochs + 100})
    return time.perf_counter() - start, r.nit, float(r.fun)


def _optax_lbfgs(objective, params, iters: int):
    """``iters`` iterations of optax.lbfgs (memory 10, zoom line search: what optax documents for L-BFGS) on
    ``objective`` from ``params``, all in one jit, compiled before timing: (seconds, iters, final objective)."""
    import jax
    import optax

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)

    @jax.jit
    def run(q):
        def body(_, carry):
            q, state = carry
            value, grad = value_and_grad(q, state=state)
            updates, state = solver.update(grad, state, q, value=value, grad=grad, value_fn=objective)
            return optax.apply_updates(q, updates), state

        return jax.lax.fori_loop(0, iters, body, (q, solver.init(q)))[0]

    compiled = run.lower(params).compile()
    start = time.perf_counter()
    params = jax.block_until_ready(compiled(params))
    seconds = time.perf_counter() - start
    return seconds, iters, float(objective(params))


def _w5a_jax(p: Problem):
    """optax.lbfgs (memory 10, zoom line search) for all the iterations in one jit, from deltaprop's w0."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    X, T = jnp.asarray(p.X), jnp.asarray(p.T)
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in p.layers(p.w0)]

    def objective(q):
        z = X
        for W, b in q[:-1]:
            z = jnp.tanh(z @ W.T + b)
        return 0.5 * ((z @ q[-1][0].T + q[-1][1] - T) ** 2).sum()

    return _optax_lbfgs(objective, params, p.epochs)


def w5(quick: bool, repeats: int, medians: Optional[dict] = None) -> list[str]:
    """W5a and W5b's rows; ``medians`` (where given) receives W5a's median seconds per fit by implementation."""
    rows = []
    net, X, T = seed_example(0)
    p = Problem("W5a", "ms/fit", net, X, T, "lbfgs", None, W5A["epochs"], None)
    peers = [("deltaprop", None, _w5a_deltaprop),
             ("SciPy L-BFGS-B, E and its gradient by hand in NumPy, from deltaprop's w0", None, _w5a_scipy),
             (W5A_JAX, "optax", _w5a_jax)]
    runs = {name: [] for name, need, _ in peers if need is None or HAVE[need]}
    for _ in range(repeats):
        for name, need, fn in peers:
            if name in runs:
                runs[name].append(fn(p))
    base = statistics.median(r[0] for r in runs["deltaprop"])
    for name, results in runs.items():
        t = statistics.median(r[0] for r in results)
        if medians is not None:
            medians.setdefault("W5a", {})[name] = t
        _, iterations, E = results[-1]
        rows.append(f"| W5a: lbfgs on the seed's example, {W5A['epochs']} iterations | {name} | {1e3 * t:.1f} ms "
                    f"| {t / base:.2f}x deltaprop's time; {iterations} iterations, E = {E:.3g} |")
    boston = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci" / "bostonHousing" / "data.txt"
    if not boston.exists():
        rows.append("| W5b: 13-50-1 on Boston | deltaprop | missing | ../shared/data/uci/bostonHousing not found |")
        return rows
    data = np.loadtxt(boston)
    Xb, tb = data[:, :13], data[:, 13:14]
    Xb, tb = (Xb - Xb.mean(0)) / Xb.std(0), (tb - tb.mean(0)) / tb.std(0)
    p = Problem("W5b", "ms/fit", dp.mlp([13, 50, 1]), Xb, tb, "sgd", 0.01, 40, 32)
    results = {name: [] for name, need, _ in PEERS if not need or HAVE[need]}
    for _ in range(repeats):
        for name, need, fn in PEERS:
            if name in results:
                out = fn(p)
                if out is None:
                    results.pop(name)
                else:
                    results[name].append(out[:2])
    base = statistics.median(t for t, _ in results["deltaprop"])
    for name, runs in results.items():
        if runs:
            t = statistics.median(s for s, _ in runs)
            rows.append(f"| W5b: 13-50-1 tanh on Boston, 40 epochs SGD batch 32 | {name} | {1e3 * t:.1f} ms "
                        f"| {t / base:.2f}x deltaprop's time; final E {runs[-1][1]:.6g} |")
    return rows


# -- W7: whole fits as users run them ------------------------------------------------------------

W7_LAMBDA = 1.0  # the weight decay of every row: deltaprop's lambda, scikit-learn's alpha (both: weights, not biases)


def kin8nm_like(N: int = 8192, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A table shaped like kin8nm (8 inputs, 8192 rows): the distance of the tip of an 8-joint planar arm from
    its base, the joint angles uniform in (-pi/2, pi/2), links of lengths 1, 0.9, ..., 0.3, plus noise; standardised."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi / 2, np.pi / 2, (N, 8))
    angle = np.cumsum(X, axis=1)
    lengths = 1.0 - 0.1 * np.arange(8)
    tip = np.stack([(lengths * np.cos(angle)).sum(1), (lengths * np.sin(angle)).sum(1)], axis=1)
    t = np.linalg.norm(tip, axis=1) + 0.05 * rng.standard_normal(N)
    X = (X - X.mean(0)) / X.std(0)
    return X, ((t - t.mean()) / t.std())[:, None]


def _w7_deltaprop(X, T, iters, seed):
    est = dp.NetworkRegressor(hidden=(50,), weight_decay=W7_LAMBDA, max_iter=iters, restarts=1, random_state=seed)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, T[:, 0])
    seconds = time.perf_counter() - start
    return seconds, est.n_iter_, (est.training_["error"] + est.training_["penalty"]) / len(X)


def _w7_sklearn(X, T, iters, seed):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(50,), activation="tanh", solver="lbfgs",
                                                         alpha=W7_LAMBDA, max_iter=iters, max_fun=10 * iters, tol=0.0,
                                                         random_state=seed))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, T[:, 0])
    seconds = time.perf_counter() - start
    mlp = model[-1]
    return seconds, mlp.n_iter_, mlp.loss_  # 1/2N sum (y - t)^2 + alpha/2N ||W||^2: E/N, as deltaprop's row


def _w7_torch(X, T, iters, seed):
    import torch

    torch.manual_seed(seed)
    Xt, Tt = torch.as_tensor(X), torch.as_tensor(T)
    model = torch.nn.Sequential(torch.nn.Linear(8, 50), torch.nn.Tanh(), torch.nn.Linear(50, 1)).double()
    weights = [model[0].weight, model[2].weight]
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=iters, max_eval=10 * iters, tolerance_grad=0.0,
                                  tolerance_change=0.0, history_size=10, line_search_fn="strong_wolfe")
    N = len(X)

    def closure():
        optimizer.zero_grad()
        loss = 0.5 * ((model(Xt) - Tt) ** 2).sum() / N + 0.5 * W7_LAMBDA * sum((W**2).sum() for W in weights) / N
        loss.backward()
        return loss

    start = time.perf_counter()
    optimizer.step(closure)
    seconds = time.perf_counter() - start
    return seconds, optimizer.state[optimizer._params[0]]["n_iter"], float(closure().detach())


def _w7_jax(X, T, iters, seed):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    Xj, Tj, N = jnp.asarray(X), jnp.asarray(T), len(X)
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    params = {"W1": jax.random.normal(k1, (50, 8)) / jnp.sqrt(8.0), "b1": jnp.zeros(50),
              "W2": jax.random.normal(k2, (1, 50)) / jnp.sqrt(50.0), "b2": jnp.zeros(1)}

    def objective(q):
        y = jnp.tanh(Xj @ q["W1"].T + q["b1"]) @ q["W2"].T + q["b2"]
        return 0.5 * ((y - Tj) ** 2).sum() / N + 0.5 * W7_LAMBDA * ((q["W1"] ** 2).sum() + (q["W2"] ** 2).sum()) / N

    return _optax_lbfgs(objective, params, iters)


def w7(quick: bool, repeats: int, medians: Optional[dict] = None) -> list[str]:
    """Whole L-BFGS fits of an 8-50-1 tanh network on a kin8nm-like table, as users run them; ``medians`` (where
    given) receives the median seconds per iteration by implementation."""
    X, T = kin8nm_like(2048 if quick else 8192)
    iters = 100 if quick else 500
    peers = [(f"deltaprop NetworkRegressor(weight_decay=1, max_iter={iters}, restarts=1).fit", None, _w7_deltaprop),
             ("scikit-learn StandardScaler + MLPRegressor(solver='lbfgs', alpha=1)", "sklearn", _w7_sklearn),
             ("PyTorch torch.optim.LBFGS (strong Wolfe, history 10), float64", "torch", _w7_torch),
             (W7_JAX, "optax", _w7_jax)]
    runs = {name: [] for name, need, _ in peers if need is None or HAVE[need]}
    for _ in range(repeats):
        for name, need, fn in peers:
            if name in runs:
                runs[name].append(fn(X, T, iters, 0))
    base = statistics.median(r[0] for r in runs[peers[0][0]])
    if medians is not None:
        medians["W7"] = {name: statistics.median(r[0] / max(r[1], 1) for r in rs) for name, rs in runs.items()}
    rows = [f"| W7: 8-50-1 tanh, {len(X)} x 8 kin8nm-like, L-BFGS {iters} iterations, weight decay {W7_LAMBDA:g} | "
            f"{name} | {statistics.median(r[0] for r in rs):.2f} s | {statistics.median(r[0] for r in rs) / base:.2f}x "
            f"| {rs[-1][1]} iterations, {1e3 * statistics.median(r[0] / max(r[1], 1) for r in rs):.2f} ms each; "
            f"final objective E/N {rs[-1][2]:.5g} |" for name, rs in runs.items()]
    return rows


# -- W6: second derivatives ----------------------------------------------------------------------


def boston() -> tuple[np.ndarray, np.ndarray] | None:
    """The Boston housing data's first published training split, standardised; None where it is missing."""
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci" / "bostonHousing"
    if not (folder / "data.txt").exists():
        return None
    data = np.loadtxt(folder / "data.txt")
    rows = np.loadtxt(folder / "index_train_0.txt").astype(int)
    X, t = data[rows, :13], data[rows, 13:14]
    return (X - X.mean(0)) / X.std(0), (t - t.mean(0)) / t.std(0)


def _peer_params(net, w, lib, dtype):
    """[(W, b), ...] of a layered network as tensors of ``lib`` ("torch" or "jax")."""
    names = list(net.layers)
    views = net.unpack(w)
    pairs = [(views[f"W[{b}<-{a}]"], views[f"b[{b}]"]) for a, b in zip(names[:-1], names[1:])]
    if lib == "torch":
        import torch

        return [(torch.tensor(W, dtype=dtype), torch.tensor(b, dtype=dtype)) for W, b in pairs]
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # before the first array: float64 where asked
    return [(jnp.asarray(W, dtype), jnp.asarray(b, dtype)) for W, b in pairs]


def _flatten(net, layers) -> np.ndarray:
    names = list(net.layers)
    views = {}
    for (W, b), (src, dst) in zip(layers, zip(names[:-1], names[1:])):
        views[f"W[{dst}<-{src}]"], views[f"b[{dst}]"] = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return net.pack(views)


def _torch_second(net, X, T, output):
    """PyTorch as its documentation writes these: torch.func's forward-over-reverse H v (jvp of grad), the
    per-pattern Jacobian by vmap of jacrev, and torch.func.hessian (jacfwd of jacrev), in eager mode."""
    import torch
    from torch.func import grad, hessian, jacrev, jvp, vmap

    dtype = torch.float64 if X.dtype == np.float64 else torch.float32
    Xt, Tt = torch.tensor(X, dtype=dtype), torch.tensor(T, dtype=dtype)

    def forward(params, x):
        z = x
        for W, b in params[:-1]:
            z = torch.tanh(z @ W.T + b)
        return z @ params[-1][0].T + params[-1][1]

    def loss(params):
        a = forward(params, Xt)
        if output == "softmax":
            return -(Tt * torch.log_softmax(a, dim=1)).sum()
        return 0.5 * ((a - Tt) ** 2).sum()

    def flat_jacobian(params):
        J = vmap(jacrev(forward), in_dims=(None, 0))(params, Xt)  # per pattern: [(dy/dW, dy/db), ...]
        return torch.cat([torch.cat([dW.reshape(len(Xt), net.K, -1), db.reshape(len(Xt), net.K, -1)], 2)
                          for dW, db in J], 2)

    def flat_hessian(params):
        flat = [p for pair in params for p in pair]
        shapes = [p.shape for p in flat]

        def f(*ps):
            return loss([(ps[i], ps[i + 1]) for i in range(0, len(ps), 2)])

        H = hessian(f, argnums=tuple(range(len(flat))))(*flat)
        n = [int(np.prod(s)) for s in shapes]
        return torch.cat([torch.cat([H[i][j].reshape(n[i], n[j]) for j in range(len(flat))], 1) for i in range(len(flat))], 0)

    def double_backward(params, v):
        """H v by differentiating g . v once more (reverse over reverse), the classic PyTorch form."""
        flat = [p.detach().requires_grad_() for pair in params for p in pair]
        g = torch.autograd.grad(loss([(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]), flat, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, [u for pair in v for u in pair]))
        Hv = torch.autograd.grad(dot, flat)
        return [(Hv[i], Hv[i + 1]) for i in range(0, len(Hv), 2)]

    return {
        "hvp double backward": double_backward,
        "hvp": lambda params, v: jvp(grad(loss), (params,), (v,))[1],
        "gradient": lambda params: grad(loss)(params),
        "weight_jacobian": flat_jacobian,
        "hessian": flat_hessian,
    }


def _jax_second(net, X, T, output):
    """JAX jitted: jvp of grad for H v, vmap of jacrev per pattern, jax.hessian."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    dtype = jnp.float64 if X.dtype == np.float64 else jnp.float32
    Xj, Tj = jnp.asarray(X, dtype), jnp.asarray(T, dtype)

    def forward(params, x):
        z = x
        for W, b in params[:-1]:
            z = jnp.tanh(z @ W.T + b)
        return z @ params[-1][0].T + params[-1][1]

    def loss(params):
        a = forward(params, Xj)
        if output == "softmax":
            return -(Tj * jax.nn.log_softmax(a, axis=1)).sum()
        return 0.5 * ((a - Tj) ** 2).sum()

    def flat_jacobian(params):
        J = jax.vmap(jax.jacrev(forward), in_axes=(None, 0))(params, Xj)
        return jnp.concatenate([jnp.concatenate([dW.reshape(len(Xj), net.K, -1), db.reshape(len(Xj), net.K, -1)], 2)
                                for dW, db in J], 2)

    def flat_hessian(params):
        flat, unflatten = jax.flatten_util.ravel_pytree(params)
        return jax.hessian(lambda f: loss(unflatten(f)))(flat)

    import jax.flatten_util  # noqa: F401

    return {
        "hvp": jax.jit(lambda params, v: jax.jvp(jax.grad(loss), (params,), (v,))[1]),
        "gradient": jax.jit(jax.grad(loss)),
        "weight_jacobian": jax.jit(flat_jacobian),
        "hessian": jax.jit(flat_hessian),
    }


def second_order_rows(quick: bool, repeats: int) -> list[str]:
    """W6: H v, dy/dw and the exact Hessian on the Boston 13-50-1 network, and H v on 784-512-512-10,
    deltaprop against torch.func and JAX, interleaved; each peer's result checked against deltaprop's."""
    from deltaprop.fast import evaluator

    rows = ["| network | quantity | implementation | median ms | relative to deltaprop | max relative difference from deltaprop |",
            "|---|---|---|---|---|---|"]
    cases = []
    data = boston()
    if data is None:
        rows.append("| 13-50-1 Boston | all | deltaprop | missing | | ../shared/data/uci/bostonHousing not found |")
    else:
        net = dp.mlp([13, 50, 1])
        cases.append((f"13-50-1 tanh, Boston, N={len(data[0])}, float64", net, data[0], data[1], "linear",
                      ("gradient", "hvp", "weight_jacobian", "hessian")))
    rng = np.random.default_rng(1)
    X2 = rng.standard_normal((256, 784)).astype(np.float32)
    T2 = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 256)]
    cases.append(("784-512-512-10 tanh, softmax, N=256, float32", dp.mlp([784, 512, 512, 10], output="softmax"), X2, T2,
                  "softmax", ("gradient", "hvp")))
    for title, net, X, T, output, quantities in cases:
        w = net.init(seed=0).astype(X.dtype)
        v = np.random.default_rng(2).standard_normal(net.n_params).astype(X.dtype)
        ev = evaluator(net, X, T)
        ours = {
            "gradient": lambda: ev.error_and_gradient(w)[1],
            "hvp": lambda: dp.hessian_vector_product(net, w, X, T, v),
            "weight_jacobian": lambda: dp.weight_jacobian(net, w, X),
            "hessian": lambda: dp.hessian(net, w, X, T),
        }
        as_float64 = lambda r: np.asarray(r, dtype=np.float64)  # noqa: E731
        peers = {"deltaprop": {q: (lambda f=ours[q]: f(), as_float64) for q in quantities},
                 "deltaprop, evaluator (data checked once)": {
                     "hvp": (lambda: ev.hessian_vector_product(w, v), as_float64)}}
        for lib, make in (("torch.func (eager)", _torch_second), ("JAX (jit)", _jax_second)):
            if not HAVE["torch" if lib.startswith("torch") else "jax"]:
                continue
            if lib.startswith("torch"):
                import torch

                dtype = torch.float64 if X.dtype == np.float64 else torch.float32
                params = _peer_params(net, w, "torch", dtype)
                vp = _peer_params(net, v, "torch", dtype)
            else:
                import jax
                import jax.numpy as jnp

                jax.config.update("jax_enable_x64", True)
                dtype = jnp.float64 if X.dtype == np.float64 else jnp.float32
                params = _peer_params(net, w, "jax", dtype)
                vp = _peer_params(net, v, "jax", dtype)
            fns = make(net, X, T, output)
            flat = lambda r: _flatten(net, r)  # noqa: E731
            if "hvp double backward" in fns:
                peers[f"{lib[:len('torch')]}.autograd double backward"] = {
                    "hvp": (lambda fns=fns, p=params, vp=vp: fns["hvp double backward"](p, vp), flat)}
            peers[lib] = {
                "gradient": (lambda fns=fns, p=params: fns["gradient"](p), flat),
                "hvp": (lambda fns=fns, p=params, vp=vp: fns["hvp"](p, vp), flat),
                "weight_jacobian": (lambda fns=fns, p=params: fns["weight_jacobian"](p),
                                    lambda r: np.asarray(r, dtype=np.float64)),
                "hessian": (lambda fns=fns, p=params: fns["hessian"](p), lambda r: np.asarray(r, dtype=np.float64)),
            }
        for quantity in quantities:
            takers = {name: fs for name, fs in peers.items() if quantity in fs}
            times = {name: [] for name in takers}
            results = {}
            for name, fs in takers.items():  # warm-up (JAX compiles here)
                results[name] = _ready(fs[quantity][0]())
            for _ in range(repeats):
                for name, fs in takers.items():
                    start = time.perf_counter()
                    _ready(fs[quantity][0]())
                    times[name].append(time.perf_counter() - start)
            reference = peers["deltaprop"][quantity][1](results["deltaprop"])
            base = statistics.median(times["deltaprop"])
            for name, ts in times.items():
                value = peers[name][quantity][1](results[name])
                if quantity == "weight_jacobian" and name != "deltaprop":
                    value = value[:, :, _peer_order(net)]
                difference = np.abs(value - reference).max() / max(np.abs(reference).max(), 1e-300)
                t = statistics.median(ts)
                label = {"gradient": "gradient (for scale)", "hvp": "H v", "weight_jacobian": "dy/dw (N, K, W)",
                         "hessian": "exact Hessian (W, W)"}[quantity]
                rows.append(f"| {title} | {label} | {name} | {1e3 * t:.3g} | {t / base:.2f}x | {difference:.1e} |")
            print("\n".join(rows[-len(times):]), flush=True)
    return rows


def _ready(result):
    """Wait for an asynchronous result (JAX) to be computed."""
    if HAVE["jax"] and "jax" in sys.modules:
        import jax

        return jax.block_until_ready(result)
    return result


def _peer_order(net) -> np.ndarray:
    """Columns of the peers' flattened dy/dw ([W1 row-major, b1, W2, b2, ...]) in w's order: the identity
    for deltaprop's mlp layout, checked here rather than assumed."""
    names = list(net.layers)
    order = np.concatenate([np.concatenate([np.arange(net.block(f"W[{b}<-{a}]").offset,
                                                      net.block(f"W[{b}<-{a}]").offset + net.block(f"W[{b}<-{a}]").size),
                                            np.arange(net.block(f"b[{b}]").offset,
                                                      net.block(f"b[{b}]").offset + net.block(f"b[{b}]").size)])
                            for a, b in zip(names[:-1], names[1:])])
    return np.argsort(order)


# -- on an accelerator: the engine on PyTorch tensors against PyTorch eager ---------------------------


def device_rows(device: str, quick: bool, repeats: int) -> list[str]:
    """W2 and W4 (1024-4096-4096-1024, batch 8192) in float32 on ``device``: the deltaprop engine on torch
    tensors (error_and_gradient and an SGD step, the array namespace rule of DESIGN.md) against PyTorch as
    its users write it: ``nn.Linear`` layers (the bias added inside the matrix product), ``cross_entropy``
    on class labels, ``torch.optim.SGD``; eagerly (the fused SGD kernel on CUDA), and under ``torch.compile``
    (the loss and its backward in ``reduce-overhead`` mode, CUDA graphs, and the SGD step compiled).
    Every row starts from deltaprop's initial weights and ends at a loss checked against deltaprop's."""
    import torch
    import torch.nn.functional as F

    from deltaprop.engine import backprop

    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gpu = torch.cuda.get_device_name(device) if cuda else _cpu()
    rows = [f"Device: {gpu}; PyTorch {torch.__version__}; float32 matrix products at PyTorch's default precision "
            f"({torch.get_float32_matmul_precision()!r}: no TF32) in every row.", "",
            f"| workload | implementation | median ms/step on {device} | relative to deltaprop | final loss E |",
            "|---|---|---|---|---|"]
    specs = [("W2: 784-512-512-10 tanh, batch 256", [784, 512, 512, 10], 256),
             ("W4: 1024-4096-4096-1024 tanh, batch 8192", [1024, 4096, 4096, 1024], 8192 if not quick else 1024)]
    w4_ratio = None
    for name, sizes, batch in specs:
        net = dp.mlp(sizes, output="softmax")
        names = list(net.layers)
        gen = torch.Generator(device="cpu").manual_seed(0)
        X = torch.randn(batch, sizes[0], generator=gen).to(device)
        labels = torch.randint(0, sizes[-1], (batch,), generator=gen).to(device)
        T = F.one_hot(labels, sizes[-1]).float()
        w0 = torch.as_tensor(net.init(seed=0), dtype=torch.float32).to(device)
        steps, lr = (3 if quick else 20), 0.01

        def ours():
            w = w0.clone()
            for _ in range(steps):
                _, g = backprop.error_and_gradient(net, w, X, T)
                w = w - (lr / batch) * g
            return w

        linears = [torch.nn.Linear(net.layers[src].size, net.layers[dst].size, device=device)
                   for src, dst in zip(names[:-1], names[1:])]
        m = torch.nn.Sequential(*[layer for linear in linears for layer in (linear, torch.nn.Tanh())][:-1])
        keys = [(f"W[{dst}<-{src}]", f"b[{dst}]") for src, dst in zip(names[:-1], names[1:])]

        def loss(x):
            return F.cross_entropy(m(x), labels, reduction="sum") / batch

        # Eagerly: the fused SGD kernel. Compiled as PyTorch's recipes write it for a small network: the loss
        # and its backward under CUDA graphs ("reduce-overhead"), the optimizer's step compiled on its own.
        eager_opt = torch.optim.SGD(m.parameters(), lr=lr, fused=cuda or None)
        compiled_opt = torch.optim.SGD(m.parameters(), lr=lr)
        compiled_loss = torch.compile(loss, mode="reduce-overhead")
        compiled_step = torch.compile(compiled_opt.step)  # plain SGD keeps no state: one optimizer serves every run

        def train(loss, opt, step):
            """Every run starts from deltaprop's initial weights."""
            views = net.unpack(w0)
            with torch.no_grad():
                for linear, (W, b) in zip(linears, keys):
                    linear.weight.copy_(views[W])
                    linear.bias.copy_(views[b])
            for _ in range(steps):
                opt.zero_grad()
                loss(X).backward()
                step()
            by_name = {}
            for linear, (W, b) in zip(linears, keys):
                by_name[W], by_name[b] = linear.weight, linear.bias
            return torch.cat([by_name[block.name].detach().reshape(-1) for block in net.blocks])

        def eager():
            return train(loss, eager_opt, eager_opt.step)

        def compiled():
            return train(compiled_loss, compiled_opt, compiled_step)

        impls = [("deltaprop engine", ours), ("PyTorch eager (nn.Linear, fused SGD)", eager),
                 (f"PyTorch torch.compile ({'CUDA graphs; ' if cuda else ''}compiled SGD step)", compiled)]
        times: dict[str, list[float]] = {}
        finals, failed = {}, {}
        for label, fn in impls:
            try:
                fn()  # warm-up (compiles torch.compile's graph)
                times[label] = []
            except Exception as e:  # noqa: BLE001 - a peer that cannot run here is reported, never faked
                failed[label] = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
        for _ in range(repeats):
            for label, fn in impls:
                if label not in times:
                    continue
                sync()
                start = time.perf_counter()
                w = fn()
                sync()
                times[label].append((time.perf_counter() - start) / steps)
                finals[label] = float(backprop.error(net, w, X, T))
        base = statistics.median(times["deltaprop engine"])
        for label, ts in times.items():
            t = statistics.median(ts)
            rows.append(f"| {name} | {label} | {1e3 * t:.3g} | {t / base:.2f}x | {finals[label]:.6g} |")
            if name.startswith("W4") and label.startswith("PyTorch eager"):
                w4_ratio = base / t
        rows += [f"| {name} | {label} | failed: {why} | | |" for label, why in failed.items()]
    if w4_ratio is not None:
        rows += ["", f"Issue 18's target: W4 within 1.1x of PyTorch eager at the same precision. "
                     f"deltaprop's time is {w4_ratio:.2f}x eager's: {'met' if w4_ratio <= 1.1 else 'not met'}."]
    return rows


# -- the run -----------------------------------------------------------------------------


def _cpu() -> str:
    """The processor's model name where Linux says it, else the architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def _one_core() -> None:
    """Pin this process to one core and give every library one thread: NumPy's OpenBLAS now, XLA and
    PyTorch through their settings before they first run (both are imported only when their rows run)."""
    from threadpoolctl import threadpool_limits

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["OMP_NUM_THREADS"] = "1"
    _one_core.limits = threadpool_limits(1)  # held for the life of the process
    if HAVE["torch"]:
        import torch

        torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 repeats: under a minute")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown tables here")
    parser.add_argument("--only", default=None, help="comma-separated workloads to run, e.g. W2,W5 (default: all)")
    parser.add_argument("--one-core", action="store_true",
                        help="pin to one core, one thread for BLAS, XLA and PyTorch (steadier two-thread-free timings)")
    parser.add_argument("--device", default=None,
                        help="time W2 and W4 on this PyTorch device (cuda, or cpu to try it) instead of the CPU suite")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    if args.device:
        if not HAVE["torch"]:
            raise SystemExit("--device needs PyTorch: pip install '.[bench]'")
        rows = device_rows(args.device, args.quick, repeats)
        print("\n".join(rows))
        if args.out:
            args.out.write_text(f"# Benchmarks on {args.device}\n\n" + "\n".join(rows) + "\n")
        return
    if args.one_core:
        _one_core()
    only = {w.strip().upper() for w in args.only.split(",")} if args.only else None
    lines = [f"Machine: {_cpu()}, {'pinned to one core, one thread' if args.one_core else f'{os.cpu_count()} cores'}, "
             f"Python {platform.python_version()}, "
             f"NumPy {np.__version__}, deltaprop {dp.__version__}"
             + "".join(f", {m} {__import__(m).__version__}" for m in ("torch", "jax", "sklearn") if HAVE[m]),
             f"Missing peers: {', '.join(m for m, ok in HAVE.items() if not ok) or 'none'}", ""]
    medians: dict = {}
    for p in problems(args.quick):
        if only is not None and p.name.split(":")[0] not in only:
            continue
        runs = {name: [] for name, need, _ in PEERS if not need or HAVE[need]}
        compile_times = {}
        for _ in range(repeats):  # interleaved: every implementation once per round
            for name, need, fn in PEERS:
                if name not in runs:
                    continue
                out = fn(p)
                if out is None:
                    runs.pop(name)
                    continue
                runs[name].append(out[:2])
                if len(out) > 2:
                    compile_times[name] = max(compile_times.get(name, 0.0), out[2])  # the first: compiling
        reference = runs["deltaprop"][-1][1]
        base = statistics.median(s for s, _ in runs["deltaprop"]) / p.steps
        lines += [f"### {p.name} ({p.steps} steps)", "",
                  f"| implementation | median {p.unit} | relative to deltaprop | final loss E | same loss as deltaprop |",
                  "|---|---|---|---|---|"]
        for name, results in runs.items():
            per_step = statistics.median(s for s, _ in results) / p.steps
            medians.setdefault(p.name.split(":")[0], {})[name] = per_step
            loss = results[-1][1]
            agrees = abs(loss - reference) <= (1e-3 if p.X.dtype == np.float32 else 1e-8) * max(abs(reference), 1e-12)
            note = f" (compile {compile_times[name]:.2f} s, not counted)" if name in compile_times else ""
            lines.append(f"| {name}{note} | {per_step * p.scale:.3g} | {per_step / base:.2f}x | {loss:.10g} | "
                         f"{'yes' if agrees else 'NO'} |")
        lines.append("")
        print("\n".join(lines[-(len(runs) + 4):]), flush=True)
    if only is None or "W6" in only:
        lines += ["### W6: second derivatives (H v, the Jacobian dy/dw, the exact Hessian)", ""]
        lines += second_order_rows(args.quick, repeats)
        lines += ["", W6_NOTE, ""]
    if only is None or "W7" in only:
        lines += ["### W7: whole fits as users run them", "",
                  "| workload | implementation | median time | relative to deltaprop | notes |", "|---|---|---|---|---|"]
        lines += w7(args.quick, repeats, medians)
        lines += ["", W7_NOTE, ""]
        print("\n".join(lines[-9:]), flush=True)
    if only is None or "W5" in only:
        lines += ["### W5: whole fits", "", "| workload | implementation | median time | notes |", "|---|---|---|---|"]
        rows = w5(args.quick, repeats, medians)
        lines += rows
        print("\n".join(lines[-len(rows) - 4:]))
    if medians:
        lines += targets(medians)
        print("\n".join(targets(medians)))
    lines += ["", NOTE]
    text = "\n".join(lines) + "\n"
    if args.out:
        command = " ".join(["python benchmarks/run.py", *sys.argv[1:]])
        args.out.write_text(f"# Benchmarks\n\n`{command}`\n\n" + text)


if __name__ == "__main__":
    main()
