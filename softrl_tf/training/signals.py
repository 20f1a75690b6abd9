"""SIGINT and SIGTERM as a flag the training loop checks between iterations.

Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the program is, which can
be in the middle of a checkpoint write; the loop instead finishes its iteration, writes a
checkpoint and stops cleanly.
"""

from __future__ import annotations

import signal
import threading


class StopSignals:
    """Context manager that records SIGINT/SIGTERM in ``received`` instead of stopping."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool):
        self.received: int | None = None
        self._previous = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def _handle(self, signal_number, frame):
        del frame
        self.received = signal_number

    def __enter__(self):
        if self._enabled:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
