"""A correct handler built from per-key slots, each with its own lock that is held exactly while
that key's handler runs: a call that finds its slot's lock taken knows the first call is still
running and is refused at once. A short table lock guards looking slots up, replaying and taking a
slot's lock (never the handler), so two repeats at the same moment both get the response: an
earlier version of this file replayed while holding the slot's lock, and a repeat beside another
repeat was refused (the suite's held race caught it). The slot's lock is released in ``finally``,
whether the handler returned or raised; a failed slot simply has no response."""
import threading
import time


class IdempotencyMismatch(Exception):
    pass


class RequestInProgress(Exception):
    pass


_EMPTY = object()


class _Slot:
    __slots__ = ("request", "response", "running", "stored_at")

    def __init__(self):
        self.running = threading.Lock()
        self.request = self.response = _EMPTY
        self.stored_at = None


class IdempotentHandler:
    def __init__(self, handler, ttl=86400.0, clock=time.monotonic):
        self._handler, self._ttl, self._clock = handler, ttl, clock
        self._slots = {}
        self._table = threading.Lock()

    def handle(self, key, request):
        with self._table:
            slot = self._slots.setdefault(key, _Slot())
            if not slot.running.acquire(blocking=False):
                raise RequestInProgress(f"{key!r} is being handled")
            if slot.response is not _EMPTY and self._clock() - slot.stored_at < self._ttl:
                slot.running.release()
                if not (slot.request == request):
                    raise IdempotencyMismatch(f"{key!r} belongs to another request")
                return slot.response
            slot.request = slot.response = _EMPTY   # never used, failed, or expired: run it
        try:
            response = self._handler(request)
            with self._table:
                slot.request, slot.response, slot.stored_at = request, response, self._clock()
            return response
        finally:
            slot.running.release()
