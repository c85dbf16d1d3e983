"""``deltaprop.fast.blas.one_thread``: blocks on several threads share one BLAS setting."""

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


def test_blocks_on_several_threads_share_the_setting_and_the_last_restores_it():
    with ThreadpoolController().limit(limits=2, user_api="blas"):  # more than one thread, on any machine
        before = threads()
        assert before == {"numpy": 2, "scipy": 2}, "NumPy's and SciPy's wheels each bundle an OpenBLAS"
        first, second, both = blas.one_thread(scipy_only=True), blas.one_thread(scipy_only=True), blas.one_thread()
        first.__enter__()
        assert threads() == {"numpy": 2, "scipy": 1}
        second.__enter__()
        both.__enter__()
        assert threads() == {"numpy": 1, "scipy": 1}
        first.__exit__(None, None, None)  # the blocks end in any order: those still inside keep one thread
        assert threads() == {"numpy": 1, "scipy": 1}
        both.__exit__(None, None, None)
        assert threads() == {"numpy": 2, "scipy": 1}
        second.__exit__(None, None, None)
        assert threads() == before


def test_the_dense_laplace_approximation_runs_its_blas_on_one_thread(monkeypatch):
    from deltaprop.numerics.curvature import dense

    seen = []
    cholesky = dense.cholesky
    monkeypatch.setattr(dense, "cholesky", lambda *a: (seen.append(threads()), cholesky(*a))[1])
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    net = dp.mlp([2, 3, 1])
    with ThreadpoolController().limit(limits=2, user_api="blas"):
        alpha = {"W[h1<-x]": 1.0, "b[h1]": 1.0, "W[y<-h1]": 1.0, "b[y]": 1.0}
        post = dp.laplace(net, rng.normal(size=net.n_params), X, T, alpha, 2.0, hessian="ggn")
        assert threads() == {"numpy": 2, "scipy": 2}
    assert seen == [{"numpy": 1, "scipy": 1}] and post.gamma > 0


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


def test_starts_on_threads_run_their_blas_on_one_thread_and_leave_the_setting_as_it_was(monkeypatch):
    """The main thread opens the block around the threads (the evidence's starts, the restarts): a dense Laplace
    approximation in a start sees one thread, and the caller's two are back after the fit."""
    from deltaprop.numerics.curvature import dense

    seen = []
    cholesky = dense.cholesky
    monkeypatch.setattr(dense, "cholesky", lambda *a: (seen.append(threads()), cholesky(*a))[1])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(60)
    with ThreadpoolController().limit(limits=2, user_api="blas"):
        dp.NetworkRegressor(hidden=(3,), hessian="ggn", restarts=2, n_jobs=2, random_state=0).fit(X, y)
        assert threads() == {"numpy": 2, "scipy": 2}
        dp.NetworkRegressor(hidden=(3,), method="scg", weight_decay=1.0, restarts=2, n_jobs=2,
                            random_state=0).fit(X, y)
        assert threads() == {"numpy": 2, "scipy": 2}
    assert seen and all(s == {"numpy": 1, "scipy": 1} for s in seen)
