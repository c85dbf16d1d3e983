"""Ctrl-C where it cannot be taken at once: the first one is told to a function, the second interrupts."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


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
