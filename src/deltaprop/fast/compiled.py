"""The ``compiled`` backend: E and dE/dw by the Numba kernels of ``deltaprop.fast.kernels``, for
layered networks with small layers (``deltaprop.fast.small``), where NumPy's per-call overheads
would cost more than the arithmetic."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Optional

import numpy as np

from . import kernels

_pool: Optional[ThreadPoolExecutor] = None
_pool_pid = 0  # the process that made _pool


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _shared_pool() -> ThreadPoolExecutor:
    """One pool for every evaluator of the process, a thread for each core but the caller's: evaluators called
    from several threads at once (the evidence's starts) queue their parts there rather than start threads of
    their own. A process forked from this one (``multiprocessing``'s "fork") makes its own: it inherits the pool but
    none of its threads, and work queued to them would wait for ever. (Two threads making the first pool at once
    make two, one of them soon unused: no lock, which a fork could inherit held.)"""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(max(cores() - 1, 1), thread_name_prefix="deltaprop-parts"), os.getpid()
    return _pool


class CompiledEvaluator:
    """E and dE/dw of ``net`` on rows of (X, T) by the compiled kernels; see ``deltaprop.fast.evaluator``.

    On all the rows the inputs are laid out for the kernel once, here, not on every call; more than
    ``kernels.PART_ROWS`` rows are taken in parts (``kernels.evaluate_parts``), shared among the cores
    (``threads``, at most one per core and per part), each with its work arrays, their sums added in part
    order (``kernels.fold``): the same bits whatever the threads. A part's thread waits for a core where
    others' parts hold them all. Memory beyond one thread's: a part's work arrays for each other thread, and
    the parts' gradients (parts x weights).
    """

    backend = "compiled"

    def __init__(self, net, X: np.ndarray, T: np.ndarray, threads: Optional[int] = None):
        self.sizes, self.acts, self.out = kernels.kernel_spec(net)
        kernels.check_codes(self.acts, self.out)
        self.net, self.dtype, self.n_params = net, X.dtype, net.n_params
        self.X, self.T = np.ascontiguousarray(X), np.ascontiguousarray(T)
        N = X.shape[0]
        self.everyone = np.arange(N)
        self.work = kernels.work(self.sizes, N, np.empty(0, self.dtype))
        self.scratch = np.empty(net.n_params, self.dtype)  # the gradient that error() computes and drops
        self.columns = N >= kernels.COLUMNS_FROM
        self.gathered = False  # whether the work's Xc holds all the rows (a call on some rows lays out those)
        self.parts = -(-N // kernels.PART_ROWS)
        self.threads = min(cores() if threads is None else threads, self.parts) if self.columns else 1
        if self.threads > 1:
            self.G, self.Es = np.empty((self.parts, self.n_params), self.dtype), np.empty(self.parts)
            self.spans = [(t * self.parts // self.threads, (t + 1) * self.parts // self.threads)
                          for t in range(self.threads)]
            self.works = [self.work] + [kernels.work(self.sizes, kernels.PART_ROWS, np.empty(0, self.dtype))
                                        for _ in range(self.threads - 1)]

    def error_and_gradient(self, w, rows=None, g: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
        g = np.empty(self.n_params, self.dtype) if g is None else g
        w = np.ascontiguousarray(w, dtype=self.dtype)
        if rows is not None or not self.columns:
            self.gathered = False
            E = kernels.evaluate(w, self.X, self.T, self.everyone if rows is None else rows, self.sizes, self.acts,
                                 self.out, g, *self.work)
            return float(E), g
        if not self.gathered:
            kernels._gather_columns(self.X, self.everyone, self.work.Xc)
            self.gathered = True
        if self.threads == 1:
            A, Z, Dl, _, _, _, R, Xc, acc, terms = self.work
            E = kernels._evaluate_columns(w, self.X, self.T, self.everyone, self.sizes, self.acts, self.out, g, A, Z,
                                          Dl, R, Xc, acc, terms, True)
        else:
            E = self._in_parts(w, g)
        return float(E), g

    def _in_parts(self, w, g):
        def part(t):
            A, Z, Dl, _, _, _, R, _, acc, terms = self.works[t]
            p0, p1 = self.spans[t]
            kernels.evaluate_parts(w, self.X, self.T, self.everyone, self.sizes, self.acts, self.out, self.G[p0:p1],
                                   self.Es[p0:p1], p0, p1, A, Z, Dl, R, self.work.Xc, acc, terms)

        others = [_shared_pool().submit(part, t) for t in range(1, self.threads)]
        try:
            part(0)
        finally:  # the parts write into this evaluator's arrays: none may outlive the call (Ctrl-C)
            wait(others)
        for f in others:
            f.result()  # a part's error, raised here
        return kernels.fold(self.G, self.Es, g)

    def error(self, w, rows=None) -> float:
        """E on the rows, by the same kernel as ``error_and_gradient``: the same bits."""
        return self.error_and_gradient(w, rows, self.scratch)[0]

    def hessian_vector_product(self, w, v) -> np.ndarray:
        """H v on all the data by the R-operator (PRML 5.4.6), in NumPy (``deltaprop.fast.second``)."""
        from .second import hessian_vector_product

        return hessian_vector_product(self.net, w, self.X, self.T, v)
