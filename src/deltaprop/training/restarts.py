"""Restarts: independent random starts through joblib, so that any joblib backend (processes, a
Dask cluster) runs them, with results bit-identical to running them one after another."""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

from .restart import Progress, train_one


@contextlib.contextmanager
def on_scheduler(address: str) -> Iterator[None]:
    """Run joblib's work (the restarts) on the workers of the Dask scheduler at ``address`` meanwhile."""
    import joblib
    from distributed import Client

    with Client(address), joblib.parallel_config(backend="dask"):
        yield


def run_restarts(jobs: list, n_jobs: Optional[int], scheduler: Optional[str], show_progress: bool) -> list[dict]:
    if len(jobs) == 1 and scheduler is None:
        return [train_one(*jobs[0])]
    import joblib

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            stack.enter_context(on_scheduler(scheduler))
        progress = Progress(show_progress, len(jobs), "restarts")
        stack.callback(progress.close)
        outcomes: list[dict] = []
        results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            joblib.delayed(train_one)(*job) for job in jobs
        )
        try:
            for outcome in results:
                outcomes.append(outcome)
                progress.update(len(outcomes), min(o["error"] for o in outcomes), None)
                if outcome["stop_reason"] == "interrupted":
                    break
        except KeyboardInterrupt:
            if not outcomes:
                raise
            for o in outcomes:
                o["stop_reason"] = o["stop_reason"] or "interrupted"
        finally:
            with contextlib.suppress(Exception):
                results.close()
    return sorted(outcomes, key=lambda o: o["index"])
