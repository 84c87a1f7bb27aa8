"""Bulkhead as a pool of slot tokens in a queue.Queue: a call takes a token (waiting up to
max_wait with Queue.get's timeout) and puts it back in a finally block. The queue is the only
shared state, so it is thread-safe by construction; each bulkhead owns its own queue, and
`.active` is simply how many tokens are out."""
import queue


class BulkheadFullError(Exception):
    """No slot came free within max_wait; the function was not called."""


class Bulkhead:
    def __init__(self, max_concurrent, max_wait=0.0):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must be >= 0 (or None to wait forever)")
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self._tokens = queue.Queue(maxsize=max_concurrent)
        for slot in range(max_concurrent):
            self._tokens.put_nowait(slot)

    @property
    def active(self):
        return self.max_concurrent - self._tokens.qsize()

    def _take(self):
        try:
            if self.max_wait == 0:
                return self._tokens.get_nowait()
            return self._tokens.get(timeout=self.max_wait)  # None: block until one is back
        except queue.Empty:
            raise BulkheadFullError(f"no free slot within {self.max_wait} s") from None

    def call(self, func, *args, **kwargs):
        token = self._take()
        try:
            return func(*args, **kwargs)
        finally:
            self._tokens.put_nowait(token)
