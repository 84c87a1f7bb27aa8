"""A correct bulkhead in another design: one threading.Condition guards a plain counter, and a
waiting call sleeps on the condition until a slot frees up or its deadline passes."""
import threading
import time


class BulkheadFullError(Exception):
    """No slot freed up within max_wait."""


class Bulkhead:
    """At most ``max_concurrent`` calls inside at once (Condition, deadline, plain attribute)."""

    def __init__(self, max_concurrent, max_wait=0.0):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self._cond = threading.Condition()
        self.active = 0

    def call(self, func, *args, **kwargs):
        deadline = time.monotonic() + self.max_wait
        with self._cond:
            while self.active >= self.max_concurrent:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BulkheadFullError("bulkhead full")
                self._cond.wait(remaining)
            self.active += 1
        try:
            return func(*args, **kwargs)
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify_all()
