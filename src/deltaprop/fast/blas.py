"""BLAS on one thread for the duration of a block (threadpoolctl), counted per library, so that nested blocks
share the setting: the first to enter sets it, the last to leave restores what it found. Only the main thread
sets it: OpenBLAS, once a thread has made BLAS calls, ignored that thread's request to raise its count again
(measured: a worker thread's restore to 2 left 1, so that restarts on threads left SciPy's BLAS on one thread
for good). Work on threads (restarts, the evidence's starts) runs inside a block the main thread opened around
it; a block opened on any other thread changes nothing.

NumPy and SciPy each bring their own OpenBLAS, each with a thread pool whose idle threads spin for a while
after a call. SciPy's L-BFGS-B does its vector work in SciPy's beside the network's products in NumPy's, and
ran against the other pool's spinning threads: on 2 cores 12 ms an iteration on the digits against 1.1 ms with
SciPy's pool on one thread (``training.loops.scipy_loop``). The dense curvature structures avoid the two
pools' alternation instead, keeping their work in SciPy's (``numerics.curvature.base``).
"""

from __future__ import annotations

import contextlib
import os
import threading

# A library's file -> [blocks inside now, its threads before the first]; the main thread's alone.
_USERS: dict = {}
_CONTROLLER: list = []  # threadpoolctl's view of the loaded libraries, made once (0.5 ms)


def _libraries(scipy_only: bool) -> list:
    import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS before the libraries are listed)
    from threadpoolctl import ThreadpoolController

    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    libs = [lib for lib in _CONTROLLER[0].lib_controllers if lib.user_api == "blas"]
    if scipy_only:
        bundled = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
        libs = [lib for lib in libs if lib.filepath.startswith(bundled)]
    return libs


@contextlib.contextmanager
def one_thread(scipy_only: bool = False):
    """Run every loaded BLAS (or SciPy's bundled one alone, ``scipy_only``) on one thread inside the block; on a
    thread other than the main one, nothing (the module's docstring says why)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    libs = _libraries(scipy_only)
    for lib in libs:
        users = _USERS.setdefault(lib.filepath, [0, 1])
        if users[0] == 0:
            users[1] = lib.num_threads
            lib.set_num_threads(1)
        users[0] += 1
    try:
        yield
    finally:
        for lib in libs:
            users = _USERS[lib.filepath]
            users[0] -= 1
            if users[0] == 0:
                lib.set_num_threads(users[1])
