"""Known bug: keeps the running calls in a list that is a class attribute, so every bulkhead shares it."""
import threading
import time


class BulkheadFullError(Exception):
    """No slot freed up within max_wait."""


class Bulkhead:
    _running = []  # one entry per call inside
    _cond = threading.Condition()

    def __init__(self, max_concurrent, max_wait=0.0):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait

    @property
    def active(self):
        with self._cond:
            return len(self._running)

    def call(self, func, *args, **kwargs):
        deadline = time.monotonic() + self.max_wait
        token = object()
        with self._cond:
            while len(self._running) >= self.max_concurrent:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BulkheadFullError("bulkhead full")
                self._cond.wait(remaining)
            self._running.append(token)
        try:
            return func(*args, **kwargs)
        finally:
            with self._cond:
                self._running.remove(token)
                self._cond.notify_all()
