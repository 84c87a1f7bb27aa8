"""Bulkhead with a Lock, a free-slot counter and a FIFO of per-waiter threading.Events: a
finishing call hands its slot straight to the longest waiter (fair, no barging, no polling)
instead of releasing it to a race. A waiter that times out removes itself under the lock, and
if a slot was handed to it in that instant it keeps it, so no slot is ever lost or doubled."""
import collections
import threading


class BulkheadFullError(Exception):
    """Raised when no slot is free within max_wait; func is not called."""


class Bulkhead:
    def __init__(self, max_concurrent, max_wait=0.0):
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, not {max_concurrent!r}")
        if max_wait is not None and max_wait < 0:
            raise ValueError(f"max_wait must not be negative, not {max_wait!r}")
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._free = max_concurrent
        self._waiters = collections.deque()  # Events of threads waiting, oldest first
        self._inside = 0

    @property
    def active(self):
        with self._lock:
            return self._inside

    def _enter(self):
        with self._lock:
            if self._free > 0:
                self._free -= 1
                self._inside += 1
                return True
            if self.max_wait == 0:
                return False
            granted = threading.Event()
            self._waiters.append(granted)
        if granted.wait(self.max_wait):
            return True
        with self._lock:
            if granted.is_set():  # handed a slot just as we gave up: keep it
                return True
            self._waiters.remove(granted)
            return False

    def _leave(self):
        with self._lock:
            self._inside -= 1
            if self._waiters:
                self._inside += 1  # the slot passes straight to the oldest waiter
                self._waiters.popleft().set()
            else:
                self._free += 1

    def call(self, func, *args, **kwargs):
        if not self._enter():
            raise BulkheadFullError(f"all {self.max_concurrent} slots busy for {self.max_wait} s")
        try:
            return func(*args, **kwargs)
        finally:
            self._leave()
