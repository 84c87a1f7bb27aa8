"""cache_aside, another design: a plain dict as the recency order (a use pops the key and puts it
back at the end; the first key is the least recently used), with the set time and ttl kept per
entry and the whole cache swept of expired entries when it is full; single flight with a lock
per load used as a latch: the loader holds it while loading, and each waiter takes and releases it
once the loader has written down the outcome."""
import threading
import time

_NONE_YET = object()


class TTLCache:
    def __init__(self, capacity, ttl, clock=time.monotonic):
        self.capacity = capacity
        self.ttl = ttl
        self.clock = clock
        self.items = {}  # key -> (value, set_at, ttl), least recently used first
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _alive(item, now):
        _, set_at, ttl = item
        return now < set_at + ttl

    def get(self, key, default=None):
        now = self.clock()
        item = self.items.pop(key, None)
        if item is None or not self._alive(item, now):
            self.misses += 1
            return default
        self.items[key] = item  # back at the end: the most recently used
        self.hits += 1
        return item[0]

    def set(self, key, value, ttl=None):
        now = self.clock()
        if key in self.items:
            del self.items[key]
        elif len(self.items) >= self.capacity:
            self.items = {k: v for k, v in self.items.items() if self._alive(v, now)}
            while len(self.items) >= self.capacity:
                del self.items[next(iter(self.items))]
        self.items[key] = (value, now, self.ttl if ttl is None else ttl)

    def delete(self, key):
        self.items.pop(key, None)

    def __len__(self):
        now = self.clock()
        return sum(1 for item in self.items.values() if self._alive(item, now))


class _Latch:
    def __init__(self):
        self.lock = threading.Lock()
        self.lock.acquire()  # held by the loader until the outcome is written down
        self.value = None
        self.error = None


class CacheAside:
    def __init__(self, cache, load):
        self.cache = cache
        self.load = load
        self.guard = threading.Lock()
        self.latches = {}

    def get(self, key):
        with self.guard:
            value = self.cache.get(key, _NONE_YET)
            if value is not _NONE_YET:
                return value
            latch = self.latches.get(key)
            loader = latch is None
            if loader:
                latch = self.latches[key] = _Latch()
        if not loader:
            with latch.lock:
                pass
            if latch.error is not None:
                raise latch.error
            return latch.value
        try:
            latch.value = self.load(key)
        except BaseException as error:  # noqa: BLE001 - raised again below, to every caller
            latch.error = error
        with self.guard:
            if self.latches.get(key) is latch:
                del self.latches[key]
                if latch.error is None:
                    self.cache.set(key, latch.value)
        latch.lock.release()
        if latch.error is not None:
            raise latch.error
        return latch.value

    def invalidate(self, key):
        with self.guard:
            self.cache.delete(key)
            self.latches.pop(key, None)
