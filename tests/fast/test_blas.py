"""``deltaprop.fast.blas.one_thread``: nested blocks share one BLAS setting, set by the main thread alone."""

import os

import numpy as np
import scipy
import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS)
from threadpoolctl import ThreadpoolController

import deltaprop as dp
from deltaprop.fast import blas


def threads() -> dict:
    """Each loaded BLAS's threads, SciPy's bundled one marked."""
    bundled = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    return {("scipy" if c.filepath.startswith(bundled) else "numpy"): c.num_threads
            for c in ThreadpoolController().lib_controllers if c.user_api == "blas"}


def test_nested_blocks_share_the_setting_and_the_last_restores_it():
    with ThreadpoolController().limit(limits=2, user_api="blas"):  # more than one thread, on any machine
        before = threads()
        assert before == {"numpy": 2, "scipy": 2}, "NumPy's and SciPy's wheels each bundle an OpenBLAS"
        first, second, both = blas.one_thread(scipy_only=True), blas.one_thread(scipy_only=True), blas.one_thread()
        first.__enter__()
        assert threads() == {"numpy": 2, "scipy": 1}
        second.__enter__()
        both.__enter__()
        assert threads() == {"numpy": 1, "scipy": 1}
        first.__exit__(None, None, None)  # the blocks may end in any order: those still inside keep one thread
        assert threads() == {"numpy": 1, "scipy": 1}
        both.__exit__(None, None, None)
        assert threads() == {"numpy": 2, "scipy": 1}
        second.__exit__(None, None, None)
        assert threads() == before


def test_a_block_on_another_thread_changes_nothing():
    """OpenBLAS ignored a worker thread's request to raise its count again once that thread had made BLAS calls:
    only the main thread sets and restores."""
    import threading

    with ThreadpoolController().limit(limits=2, user_api="blas"):
        seen = []

        def worker():
            with blas.one_thread():
                seen.append(threads())

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert seen == [{"numpy": 2, "scipy": 2}] and threads() == {"numpy": 2, "scipy": 2}


def test_scipy_loops_on_threads_run_scipys_blas_on_one_thread_and_leave_the_setting_as_it_was(monkeypatch):
    """The main thread opens the block around the restarts' threads (and the evidence's starts'): SciPy's
    minimize in a restart sees SciPy's BLAS on one thread, NumPy's untouched, and the caller's two are back
    after the fit (before, each thread's own restore was ignored and SciPy's stayed on one thread)."""
    import scipy.optimize

    seen = []
    minimize = scipy.optimize.minimize
    monkeypatch.setattr(scipy.optimize, "minimize", lambda *a, **k: (seen.append(threads()), minimize(*a, **k))[1])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    T = np.sin(X[:, :1]) + 0.1 * rng.standard_normal((60, 1))
    with ThreadpoolController().limit(limits=2, user_api="blas"):
        dp.train(dp.mlp([2, 3, 1]), X, T, method="cg", epochs=5, restarts=2, n_jobs=2, seed=0)
        assert threads() == {"numpy": 2, "scipy": 2}
    assert len(seen) == 2 and all(s == {"numpy": 2, "scipy": 1} for s in seen)
