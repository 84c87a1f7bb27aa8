"""A correct store in another design: each replica is an object with its own copy of the data, fed
from the primary's log through a queue of pending writes that it applies, in order, whenever it is
asked about a moment at least ``replication_lag`` after a write. Reads go to the next replica after
the last one that served that has caught up far enough."""
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class LogEntry:
    position: int
    written_at: float
    key: object
    value: object


class Replica:
    """One read replica: the data it has applied so far, and what is still on its way."""

    def __init__(self, lag):
        self.lag = lag
        self.data = {}
        self.position = 0
        self.pending = deque()
        self.served = 0

    def receive(self, entry):
        self.pending.append(entry)

    def catch_up(self, now):
        while self.pending and now - self.pending[0].written_at >= self.lag:
            entry = self.pending.popleft()
            self.data[entry.key] = entry.value
            self.position = entry.position


class ReplicatedStore:
    def __init__(self, num_replicas=2, replication_lag=1.0, clock=time.monotonic):
        if num_replicas < 0 or replication_lag < 0:
            raise ValueError("num_replicas and replication_lag must not be negative")
        self._clock = clock
        self._primary = {}
        self._position = 0
        self._replicas = [Replica(replication_lag) for _ in range(num_replicas)]
        self._last_served = -1

    def write(self, key, value):
        self._position += 1
        entry = LogEntry(self._position, self._clock(), key, value)
        self._primary[key] = value
        for replica in self._replicas:
            replica.receive(entry)
        return self._position

    def read(self, key, min_position=0):
        now = self._clock()
        count = len(self._replicas)
        for step in range(1, count + 1):
            index = (self._last_served + step) % count
            replica = self._replicas[index]
            replica.catch_up(now)
            if replica.position >= min_position:
                self._last_served = index
                replica.served += 1
                return replica.data[key]
        return self._primary[key]

    def reads_served(self):
        return [replica.served for replica in self._replicas]

    def replica_position(self, i):
        if i < 0:
            raise IndexError(f"no replica {i}")
        replica = self._replicas[i]
        replica.catch_up(self._clock())
        return replica.position

    def session(self):
        return _Session(self)


class _Session:
    def __init__(self, store):
        self._store = store
        self._token = 0

    def write(self, key, value):
        self._token = max(self._token, self._store.write(key, value))
        return self._token

    def read(self, key):
        return self._store.read(key, self._token)
