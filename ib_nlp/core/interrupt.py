"""Ctrl-C that stops a long computation between two steps, deterministically.

Python raises ``KeyboardInterrupt`` only between bytecodes of the main thread, and a library
may catch it on the way. Inside :func:`stop_on_interrupt` the first Ctrl-C also sets a flag
that every optimisation loop checks once per step (:func:`check_interrupt`), so the loop stops
at the next step at the latest; a second Ctrl-C ends the process at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

_requested = threading.Event()


def check_interrupt() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed inside :func:`stop_on_interrupt`."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_interrupt(message: str, exit_status: int = 130) -> Iterator[None]:
    """For the duration, the first SIGINT raises ``KeyboardInterrupt`` and sets the flag read by
    :func:`check_interrupt`; a second one prints ``message`` and exits with ``exit_status``
    without cleaning up. Does nothing outside the main thread (signals go to the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        if _requested.is_set():
            print(message, file=sys.stderr, flush=True)
            os._exit(exit_status)
        _requested.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handle)
    _requested.clear()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
