"""A correct handler in the style of AWS Lambda Powertools' idempotency utility: one record per key
with a status ("INPROGRESS" or "COMPLETED") and an absolute expiry timestamp, as Powertools keeps
them in a DynamoDB table. Expired records are purged eagerly: every record expires ttl after it was
stored and they are stored in time order, so the oldest sit at the left end of a deque and a call
drops those whose time has come before it looks anything up. One lock guards it all, never held
while the handler runs."""
import collections
import threading
import time

INPROGRESS, COMPLETED = "INPROGRESS", "COMPLETED"


class IdempotencyMismatch(Exception):
    pass


class RequestInProgress(Exception):
    pass


class IdempotentHandler:
    def __init__(self, handler, ttl=86400.0, clock=time.monotonic):
        self.handler, self.ttl, self.clock = handler, ttl, clock
        self.records = {}                      # key -> {"status", "request", "response", "expiry"}
        self.by_expiry = collections.deque()   # (expiry, key, record) of completed records, oldest first
        self.mutex = threading.Lock()

    def _purge(self, now):
        while self.by_expiry and now - self.by_expiry[0][0] >= 0:
            _expiry, key, record = self.by_expiry.popleft()
            if self.records.get(key) is record:
                del self.records[key]

    def handle(self, key, request):
        with self.mutex:
            self._purge(self.clock())
            record = self.records.get(key)
            if record is not None:
                if record["status"] == INPROGRESS:
                    raise RequestInProgress(key)
                if record["request"] != request:
                    raise IdempotencyMismatch(key)
                return record["response"]
            record = {"status": INPROGRESS, "request": request}
            self.records[key] = record
        try:
            response = self.handler(request)
        except BaseException:
            with self.mutex:
                del self.records[key]
            raise
        with self.mutex:
            stored_at = self.clock()
            record.update(status=COMPLETED, response=response, stored_at=stored_at)
            # now - expiry >= 0 with expiry = stored_at + ttl, kept as the pair to stay exact
            self.by_expiry.append((_Expiry(stored_at, self.ttl), key, record))
        return response


class _Expiry:
    """stored_at + ttl without rounding: ``now - expiry`` is ``(now - stored_at) - ttl``."""

    __slots__ = ("stored_at", "ttl")

    def __init__(self, stored_at, ttl):
        self.stored_at, self.ttl = stored_at, ttl

    def __rsub__(self, now):
        return (now - self.stored_at) - self.ttl
