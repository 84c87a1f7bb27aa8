"""message_queue, another design: ids are uuid4 strings; a deque of the ids visible now, where a
message whose lease ran out goes to the back, behind the fresh ones (as in an SQS standard queue);
leases in a dict id -> received_at. Dead letters move lazily, only when receive finds them, as SQS
moves a message on the receive after its last one: len and ack tell a dead message by its count and
its lease without moving it. A delivery is a frozen dataclass; the lock is an RLock."""
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    id: str
    body: object
    deliveries: int


class WorkQueue:
    def __init__(self, visibility_timeout=30.0, max_deliveries=5, clock=time.monotonic):
        self.visibility_timeout = visibility_timeout
        self.max_deliveries = max_deliveries
        self.clock = clock
        self._lock = threading.RLock()
        self._bodies = {}      # id -> body, for every message not acked and not moved to the dead
        self._count = {}       # id -> deliveries so far
        self._ready = deque()  # ids visible now: fresh in send order, timed-out ones at the back
        self._leased = {}      # id -> received_at of its current delivery, in receive order
        self._dead = []

    def _lease_over(self, message_id, now):
        return now - self._leased[message_id] >= self.visibility_timeout

    def _is_dead(self, message_id, now):
        return (message_id in self._leased and self._count[message_id] >= self.max_deliveries
                and self._lease_over(message_id, now))

    def send(self, body):
        message_id = uuid.uuid4().hex
        with self._lock:
            self._bodies[message_id] = body
            self._count[message_id] = 0
            self._ready.append(message_id)
        return message_id

    def receive(self, max_messages=1):
        with self._lock:
            now = self.clock()
            for message_id in [i for i in self._leased if self._lease_over(i, now)]:
                del self._leased[message_id]
                if self._count[message_id] >= self.max_deliveries:
                    body, count = self._bodies.pop(message_id), self._count.pop(message_id)
                    self._dead.append(Delivery(message_id, body, count))
                else:
                    self._ready.append(message_id)
            out = []
            while self._ready and len(out) < max_messages:
                message_id = self._ready.popleft()
                self._count[message_id] += 1
                self._leased[message_id] = now
                out.append(Delivery(message_id, self._bodies[message_id], self._count[message_id]))
            return out

    def ack(self, message_id):
        with self._lock:
            if message_id not in self._bodies or self._is_dead(message_id, self.clock()):
                return
            del self._bodies[message_id], self._count[message_id]
            self._leased.pop(message_id, None)
            if message_id in self._ready:
                self._ready.remove(message_id)

    def __len__(self):
        with self._lock:
            now = self.clock()
            return sum(1 for message_id in self._bodies if not self._is_dead(message_id, now))

    @property
    def dead_letters(self):
        with self._lock:
            return list(self._dead)
