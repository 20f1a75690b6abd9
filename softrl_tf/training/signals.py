"""SIGINT and SIGTERM as a flag the training loop checks between iterations; a second one ends
the process at once.

Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the program is, which can
be in the middle of a checkpoint write; the loop instead finishes its iteration, writes a
checkpoint and stops cleanly. Python runs signal handlers only when the main thread returns to
the interpreter, which a long TensorFlow call can delay: the signal is therefore also read by a
watcher thread (through :func:`signal.set_wakeup_fd`), which records the first one at once and,
on a second, prints one line and ends the process with status 128 + the signal's number. The
checkpoints written before stay intact (a checkpoint being written is never the latest until it
is complete).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading


class StopSignals:
    """Context manager that records SIGINT/SIGTERM in ``received`` instead of stopping; a second
    signal ends the process at once (exit status 128 + its number)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool):
        self.received: int | None = None
        self._previous = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._previous_wakeup = -1

    def _handle(self, signal_number, frame):
        del frame
        if self.received is None:
            self.received = signal_number

    def _watch(self, reader: socket.socket) -> None:
        count = 0
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signal_number in data:
                if signal_number not in self.SIGNALS:
                    continue
                count += 1
                if self.received is None:
                    self.received = signal_number
                if count >= 2:
                    name = signal.Signals(signal_number).name
                    sys.stderr.write(
                        f"softrl_tf: {name} received again: stopped at once; the checkpoints "
                        "written before are intact: continue with --resume.\n"
                    )
                    sys.stderr.flush()
                    os._exit(128 + signal_number)

    def __enter__(self):
        if self._enabled:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
            reader, writer = socket.socketpair()
            writer.setblocking(False)
            self._sockets = (reader, writer)
            self._previous_wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            threading.Thread(
                target=self._watch, args=(reader,), name="softrl_tf-signals", daemon=True
            ).start()
        return self

    def __exit__(self, *exc_info):
        if self._sockets is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            reader, writer = self._sockets
            writer.close()
            reader.shutdown(socket.SHUT_RDWR)
            reader.close()
            self._sockets = None
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
