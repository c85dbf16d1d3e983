"""Restarts: independent random starts through joblib, on threads unless the caller configures another
backend (``joblib.parallel_config``: processes, a Dask cluster), with results bit-identical to running them
one after another. Threads need no worker processes started (a first two-job fit of Boston: 0.14 s on
threads, 0.81 s on joblib's processes) and run side by side because the compiled loops release the GIL."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from typing import Iterator, Optional

from ..fast.blas import one_thread
from .restart import Job, Outcome, Progress, train_one


def dask_client(address: str):
    """Dask's ``distributed.Client``, or an error that says how to install it."""
    try:
        from distributed import Client
    except ImportError:
        raise ModuleNotFoundError(f"running on the Dask scheduler {address} needs Dask's distributed package: "
                                  f"pip install 'deltaprop[dask]'") from None
    return Client


@contextlib.contextmanager
def on_scheduler(address: str) -> Iterator[None]:
    """Run joblib's work (the restarts) on the workers of the Dask scheduler at ``address`` meanwhile."""
    import joblib

    Client = dask_client(address)
    with Client(address), joblib.parallel_config(backend="dask"):
        yield


class StopFlag:
    """Ctrl-C for restarts in other processes: the first SIGINT in the caller creates a file that
    every restart on this machine looks for after each epoch (``restart.Run.record``), so that each
    stops at its last whole epoch and returns its best, as one restart does on Ctrl-C; a restart not
    yet begun does not begin. A second Ctrl-C interrupts at once."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="deltaprop-restarts-")
        self.path = os.path.join(self.folder, "stop")
        self.requested = False

    def request(self) -> None:
        self.requested = True
        open(self.path, "w").close()

    @contextlib.contextmanager
    def on_sigint(self) -> Iterator["StopFlag"]:
        try:
            with first_sigint_calls(self.request):
                yield self
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def first_sigint_calls(action) -> Iterator[None]:
    """Meanwhile the first Ctrl-C (SIGINT) calls ``action()`` instead of raising KeyboardInterrupt, which could
    land anywhere in the main thread while work runs elsewhere; a second one raises as usual. Off the main thread,
    where no handler can be set, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum, frame):
        action()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_restarts(jobs: list[Job], n_jobs: Optional[int], scheduler: Optional[str],
                 show_progress: bool) -> list[Outcome]:
    """Run ``train_one`` for every job; return the outcomes of the restarts that ran, in order.

    Ctrl-C returns what finished and what was running (each at its last whole epoch), in
    this process or in others (``StopFlag``); restarts that had not begun are left out."""
    if len(jobs) == 1 and scheduler is None:
        return [train_one(jobs[0])]
    import joblib

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            stack.enter_context(on_scheduler(scheduler))
        stop = stack.enter_context(StopFlag().on_sigint())
        if scheduler is None and joblib.effective_n_jobs(n_jobs) > 1:  # SciPy's loops on threads (fast.blas)
            stack.enter_context(one_thread(scipy_only=True))
        progress = Progress(show_progress, len(jobs), "restarts")
        stack.callback(progress.close)
        outcomes: list[Outcome] = []
        results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered", prefer="threads")(
            joblib.delayed(train_one)(job, stop_file=stop.path) for job in jobs
        )
        try:
            for outcome in results:
                if outcome is None:  # asked to stop before it began
                    continue
                outcomes.append(outcome)
                progress.update(len(outcomes), min(o.error for o in outcomes), None)
                if outcome.stop_reason == "interrupted" and not stop.requested:
                    stop.request()  # Ctrl-C reached a restart in this process: the others stop too
        except KeyboardInterrupt:  # a second Ctrl-C, or a backend that cannot be asked
            if not outcomes:
                raise
            for o in outcomes:
                o.stop_reason = o.stop_reason or "interrupted"
        finally:
            with contextlib.suppress(Exception):
                results.close()
    return sorted(outcomes, key=lambda o: o.index)
