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

    def __init__(self, chunks=(), *, hang_after: bool = False):
        self.chunks = list(chunks)
        self.hang_after = hang_after
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
        self._listener.close()
        self._thread.join(5)


def timed(func, *args, **kwargs):
    """(result or exception, seconds taken)."""
    start = time.monotonic()
    try:
        outcome = func(*args, **kwargs)
    except Exception as exc:  # the caller inspects it
        outcome = exc
    return outcome, time.monotonic() - start
