"""Signals: SIGTERM unwinds a command like Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a batch system's time limit), handled like Ctrl-C."""


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM unwinds like Ctrl-C, so worker pools and Dask clusters are shut down with the command.

    Python's default on SIGTERM is to exit at once: the reference-MD worker processes a command
    started would keep running (and writing) without it. The signal takes effect when the main
    thread is next in Python (after the current OpenMM chunk or compiled JAX call); further
    SIGTERMs are ignored while the command cleans up (SIGKILL still ends it at once).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM must not cut the clean-up short
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


__all__ = ["Terminated", "terminate_as_interrupt"]
