"""A scripted TCP server on 127.0.0.1 for the hidden suites: one connection, a fixed script.

Every server is bounded: it serves one connection, never sleeps longer than its script says, gives
up waiting for a client after a few seconds, and stops when its ``with`` block ends.
"""
from __future__ import annotations

import socket
import threading
import time


class ScriptedServer:
    """Sends ``chunks`` as (delay_before, data) pairs, then closes (or hangs, if ``hang_after``).

    A hanging server keeps the connection open without sending until the test ends: the case a
    read timeout exists for.
    """

    def __init__(self, chunks=(), *, hang_after: bool = False, start: threading.Event | None = None):
        self.chunks = list(chunks)
        self.hang_after = hang_after
        # With ``start``, the script's first delay counts from when that event is set (e.g. by the
        # client's first reading of its clock), not from the connection: the order of events the
        # test needs is arranged, not hoped for from a delay.
        self._start = start
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.sent = 0

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def connect(self) -> socket.socket:
        return socket.create_connection(self._listener.getsockname(), timeout=10)

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            if self._start is not None:
                self._start.wait(30)
                if self._stop.is_set():
                    return
            try:
                for delay, data in self.chunks:
                    if self._stop.wait(delay):
                        return
                    conn.sendall(data)
                    self.sent += len(data)
                if self.hang_after:
                    self._stop.wait(30)
            except OSError:
                pass

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._start is not None:
            self._start.set()  # a server still waiting for its start ends too
        self._listener.close()
        self._thread.join(5)


class FirstReading:
    """A clock that says when it was first read: for a correct ``read_response`` that is the moment
    its total deadline starts, before its first wait for data. Reads ``clock`` (default the real
    monotonic clock) for its value."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.read = threading.Event()

    def __call__(self) -> float:
        self.read.set()
        return self._clock()


def timed(func, *args, **kwargs):
    """(result or exception, seconds taken)."""
    start = time.monotonic()
    try:
        outcome = func(*args, **kwargs)
    except Exception as exc:  # the caller inspects it
        outcome = exc
    return outcome, time.monotonic() - start
