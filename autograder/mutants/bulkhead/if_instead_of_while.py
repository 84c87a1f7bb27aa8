"""Known bug: checks for a free slot with if instead of while around Condition.wait: notify_all wakes every waiter and all of them enter."""
import threading
import time


class BulkheadFullError(Exception):
    """No slot freed up within max_wait."""


class Bulkhead:
    """A differently written correct bulkhead (Condition, deadline, plain attribute)."""

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
            if self.active >= self.max_concurrent:
                if not self._cond.wait(self.max_wait):
                    raise BulkheadFullError("bulkhead full")
            self.active += 1
        try:
            return func(*args, **kwargs)
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify_all()
