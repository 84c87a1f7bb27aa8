"""A correct handler where each key maps to a ``concurrent.futures.Future``: the first call puts an
unfinished future in the table, so any call that finds one not yet done is refused; the handler's
response becomes the future's result and a repeat returns ``future.result()``. A failure removes
the future, so nothing of it stays behind. Keys remember when their future was completed in a
second dict. Small pieces, each with one job: ``_claim`` decides, ``_settle`` records."""
import threading
import time
from concurrent.futures import Future


class IdempotencyMismatch(Exception):
    pass


class RequestInProgress(Exception):
    pass


class IdempotentHandler:
    def __init__(self, handler, ttl=86400.0, clock=time.monotonic):
        self.handler = handler
        self.ttl = ttl
        self.clock = clock
        self.lock = threading.RLock()
        self.futures = {}     # key -> (request, Future)
        self.done_at = {}     # key -> clock() when its future got its result

    def _claim(self, key, request):
        """The stored future to replay, or None after claiming the key with a new one."""
        with self.lock:
            entry = self.futures.get(key)
            if entry is not None:
                stored_request, future = entry
                if not future.done():
                    raise RequestInProgress(key)
                if self.clock() - self.done_at[key] < self.ttl:
                    if stored_request != request:
                        raise IdempotencyMismatch(key)
                    return future
            self.futures[key] = (request, Future())
            self.done_at.pop(key, None)
            return None

    def _settle(self, key, response):
        with self.lock:
            self.done_at[key] = self.clock()
            self.futures[key][1].set_result(response)

    def handle(self, key, request):
        stored = self._claim(key, request)
        if stored is not None:
            return stored.result()
        try:
            response = self.handler(request)
        except BaseException:
            with self.lock:
                self.futures.pop(key, None)
            raise
        self._settle(key, response)
        return response
