"""A correct store in another design: nothing but the primary's log, a tuple per write, and pure
functions over it. What a server holds is the log cut at its position, replayed into a dict when a
read needs it (O(writes) per read: plain, not fast). A read goes to the least-loaded replica that
qualifies (lowest index on a tie), which keeps the counts even like a round robin. A session is a
namespace of two closures sharing the position of its last write."""
import time
from types import SimpleNamespace


def applied_count(log, now, lag):
    """How many writes of ``log`` (in time order) are at least ``lag`` old at ``now``."""
    count = 0
    for written_at, _key, _value in log:
        if now - written_at < lag:
            break
        count += 1
    return count


def state_after(log, position):
    """The data a server holds after applying the first ``position`` writes."""
    return {key: value for _written_at, key, value in log[:position]}


class ReplicatedStore:
    def __init__(self, num_replicas=2, replication_lag=1.0, clock=time.monotonic):
        if num_replicas < 0:
            raise ValueError("num_replicas < 0")
        if replication_lag < 0:
            raise ValueError("replication_lag < 0")
        self.num_replicas, self.replication_lag, self.clock = num_replicas, replication_lag, clock
        self.log = []
        self.served = [0] * num_replicas

    def write(self, key, value):
        self.log.append((self.clock(), key, value))
        return len(self.log)

    def replica_position(self, i):
        if i not in range(self.num_replicas):
            raise IndexError(i)
        return applied_count(self.log, self.clock(), self.replication_lag)

    def read(self, key, min_position=0):
        position = applied_count(self.log, self.clock(), self.replication_lag)
        if self.num_replicas == 0 or position < min_position:
            position = len(self.log)  # the primary has everything
        else:
            replica = min(range(self.num_replicas), key=lambda i: (self.served[i], i))
            self.served[replica] += 1
        return state_after(self.log, position)[key]

    def reads_served(self):
        return self.served.copy()

    def session(self):
        last_write = [0]

        def write(key, value):
            last_write[0] = self.write(key, value)
            return last_write[0]

        def read(key):
            return self.read(key, min_position=last_write[0])

        return SimpleNamespace(write=write, read=read)
