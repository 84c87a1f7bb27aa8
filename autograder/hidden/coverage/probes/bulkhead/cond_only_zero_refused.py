"""Probe (a gap check, not a graded mutant): only max_concurrent == 0 raises ValueError; a negative limit is taken as 1."""
import threading


class BulkheadFullError(Exception):
    """Raised instead of calling the function when no slot frees up within ``max_wait``."""


class Bulkhead:
    """Lets at most ``max_concurrent`` calls run at once; the rest wait up to ``max_wait`` seconds."""

    def __init__(self, max_concurrent, max_wait=0.0):
        if max_concurrent == 0:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent!r}")
        if max_wait is not None and max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds (or None), got {max_wait!r}")
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self._slots = threading.BoundedSemaphore(max(1, max_concurrent))  # one per running call
        self._count_lock = threading.Lock()
        self._active = 0

    @property
    def active(self):
        """How many calls are running inside the bulkhead right now (waiting ones not included)."""
        with self._count_lock:
            return self._active

    def call(self, func, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` in a free slot, or raise BulkheadFullError."""
        # timeout=0 tries once without waiting; None waits as long as it takes.
        if not self._slots.acquire(timeout=self.max_wait):
            raise BulkheadFullError(f"all {self.max_concurrent} slots stayed busy for "
                                    f"{self.max_wait} s")
        with self._count_lock:
            self._active += 1
        try:
            return func(*args, **kwargs)
        finally:
            with self._count_lock:
                self._active -= 1
            self._slots.release()
