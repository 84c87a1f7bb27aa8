"""cache_aside, another design: entries in a plain dict, expiry and recency in two heaps with lazy
deletion (a heap item is stale once its entry changed; it is skipped when it reaches the top), the
age compared as ``now - set_at >= ttl``; single flight with one ``concurrent.futures.Future`` per
key in flight."""
import heapq
import itertools
import threading
import time
from concurrent.futures import Future

_ABSENT = object()


class TTLCache:
    def __init__(self, capacity, ttl, clock=time.monotonic):
        self.capacity, self.ttl, self._clock = capacity, ttl, clock
        self._data = {}          # key -> [value, set_at, ttl, last_use, set_id]
        self._by_expiry = []     # (set_at + ttl, set_id, key): stale once the key is set again
        self._by_use = []        # (last_use, key): may hold stale items
        self._uses = itertools.count()
        self.hits = self.misses = 0

    def _expired(self, entry, now):
        return now - entry[1] >= entry[2]

    def get(self, key, default=None):
        now = self._clock()
        entry = self._data.get(key)
        if entry is not None and self._expired(entry, now):
            del self._data[key]
            entry = None
        if entry is None:
            self.misses += 1
            return default
        entry[3] = next(self._uses)
        heapq.heappush(self._by_use, (entry[3], key))
        self.hits += 1
        return entry[0]

    def set(self, key, value, ttl=None):
        now = self._clock()
        ttl = self.ttl if ttl is None else ttl
        if key not in self._data:
            self._make_room(now)
        use = next(self._uses)
        self._data[key] = [value, now, ttl, use, use]
        heapq.heappush(self._by_use, (use, key))
        heapq.heappush(self._by_expiry, (now + ttl, use, key))
        if len(self._by_use) > 4 * len(self._data) + 32:
            self._compact()

    def _make_room(self, now):
        while len(self._data) >= self.capacity and self._by_expiry:
            _, set_id, key = self._by_expiry[0]
            entry = self._data.get(key)
            if entry is None or entry[4] != set_id:
                heapq.heappop(self._by_expiry)  # stale: the entry was deleted or set again
            elif self._expired(entry, now):
                heapq.heappop(self._by_expiry)
                del self._data[key]
            else:
                break
        while len(self._data) >= self.capacity:
            use, key = heapq.heappop(self._by_use)
            entry = self._data.get(key)
            if entry is not None and entry[3] == use:
                del self._data[key]

    def _compact(self):
        self._by_use = [(e[3], k) for k, e in self._data.items()]
        self._by_expiry = [(e[1] + e[2], e[4], k) for k, e in self._data.items()]
        heapq.heapify(self._by_use)
        heapq.heapify(self._by_expiry)

    def delete(self, key):
        self._data.pop(key, None)

    def __len__(self):
        now = self._clock()
        return sum(not self._expired(entry, now) for entry in self._data.values())


class CacheAside:
    def __init__(self, cache, load):
        self.cache, self.load = cache, load
        self._lock = threading.Lock()
        self._futures = {}

    def get(self, key):
        with self._lock:
            value = self.cache.get(key, _ABSENT)
            if value is not _ABSENT:
                return value
            future = self._futures.get(key)
            mine = future is None
            if mine:
                future = self._futures[key] = Future()
        if not mine:
            return future.result()
        try:
            value = self.load(key)
        except BaseException as error:
            with self._lock:
                if self._futures.get(key) is future:
                    del self._futures[key]
            future.set_exception(error)
            raise
        with self._lock:
            if self._futures.get(key) is future:
                del self._futures[key]
                self.cache.set(key, value)
        future.set_result(value)
        return value

    def invalidate(self, key):
        with self._lock:
            self.cache.delete(key)
            self._futures.pop(key, None)
