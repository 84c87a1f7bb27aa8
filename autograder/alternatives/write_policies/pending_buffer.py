"""A correct pair in another design: write-behind keeps its unflushed writes in a pending buffer
beside a cache of clean entries only (as Hazelcast's write-behind queue sits beside its map), so a
dirty value can never be evicted: it is not in the part that evicts. Reads look in the buffer, then
the clean cache, then the store. A flush writes the buffer key by key and moves each written value
into the clean cache; a failure leaves the rest in the buffer. Recency is a use counter and eviction
scans for the smallest (O(n), plain). ``.dirty`` is a frozenset snapshot."""
import itertools
import time


class _CleanLru:
    """Clean entries with the tick of their last use; the smallest tick goes first."""

    def __init__(self, capacity):
        self.capacity, self.entries, self.ticks = capacity, {}, itertools.count()

    def use(self, key, value):
        self.entries[key] = (next(self.ticks), value)

    def touch(self, key):
        self.entries[key] = (next(self.ticks), self.entries[key][1])
        return self.entries[key][1]

    def discard(self, key):
        self.entries.pop(key, None)

    def shrink_to(self, room):
        while len(self.entries) > max(room, 0):
            del self.entries[min(self.entries, key=lambda k: self.entries[k][0])]


class WriteThroughCache:
    def __init__(self, store, capacity):
        self._store, self._cache = store, _CleanLru(capacity)

    def set(self, key, value):
        self._store[key] = value
        self._cache.use(key, value)
        self._cache.shrink_to(self._cache.capacity)

    def get(self, key):
        if key in self._cache.entries:
            return self._cache.touch(key)
        return self._store.get(key)


class WriteBehindCache:
    def __init__(self, store, capacity, clock=time.monotonic):
        self._store, self._clock = store, clock
        self._cache = _CleanLru(capacity)
        self._pending = {}  # key -> (tick of last use, latest unflushed value)

    def set(self, key, value):
        self._cache.discard(key)
        self._pending[key] = (next(self._cache.ticks), value)
        self._cache.shrink_to(self._cache.capacity - len(self._pending))

    def get(self, key):
        if key in self._pending:
            self._pending[key] = (next(self._cache.ticks), self._pending[key][1])
            return self._pending[key][1]
        if key in self._cache.entries:
            return self._cache.touch(key)
        return self._store.get(key)

    def flush(self):
        count = 0
        try:
            for key in sorted(self._pending, key=lambda k: self._pending[k][0]):
                tick, value = self._pending[key]
                self._store[key] = value
                del self._pending[key]
                self._cache.entries[key] = (tick, value)
                count += 1
        finally:
            self._cache.shrink_to(self._cache.capacity - len(self._pending))
        return count

    def close(self):
        return self.flush()

    @property
    def dirty(self):
        return frozenset(self._pending)
