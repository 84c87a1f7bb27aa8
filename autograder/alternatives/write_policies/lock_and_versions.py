"""A correct pair in another design: thread-safe with one lock each, and write-behind tracking
dirtiness by version numbers: every set bumps the key's version, and a key is dirty while its
version is newer than the version last written. A flush lists the dirty keys with their versions and
records each version once the store has taken it, under the lock, so a concurrent set waits rather
than being marked clean by mistake. LRU order is a plain dict re-inserted on each use (dicts keep
insertion order)."""
import threading
import time


class WriteThroughCache:
    def __init__(self, store, capacity):
        self.store, self.capacity = store, capacity
        self.values = {}
        self.lock = threading.Lock()

    def _use(self, key, value):
        self.values.pop(key, None)
        self.values[key] = value

    def set(self, key, value):
        with self.lock:
            self.store[key] = value
            self._use(key, value)
            while len(self.values) > self.capacity:
                del self.values[next(iter(self.values))]

    def get(self, key):
        with self.lock:
            if key in self.values:
                value = self.values[key]
                self._use(key, value)
                return value
            return self.store.get(key)


class WriteBehindCache:
    def __init__(self, store, capacity, clock=time.monotonic):
        self.store, self.capacity, self.clock = store, capacity, clock
        self.values = {}       # key -> value, least recently used first
        self.version = {}      # key -> version of its latest set
        self.written = {}      # key -> version last written to the store
        self.lock = threading.RLock()

    def _is_dirty(self, key):
        return self.version.get(key, 0) > self.written.get(key, 0)

    def _use(self, key, value):
        self.values.pop(key, None)
        self.values[key] = value

    def _evict(self):
        clean = [key for key in self.values if not self._is_dirty(key)]
        while len(self.values) > self.capacity and clean:
            del self.values[clean.pop(0)]

    def set(self, key, value):
        with self.lock:
            self._use(key, value)
            self.version[key] = self.version.get(key, 0) + 1
            self._evict()

    def get(self, key):
        with self.lock:
            if key in self.values:
                value = self.values[key]
                self._use(key, value)
                return value
            return self.store.get(key)

    def flush(self):
        with self.lock:
            todo = [(key, self.version[key]) for key in self.values if self._is_dirty(key)]
            done = 0
            try:
                for key, version in todo:
                    self.store[key] = self.values[key]
                    self.written[key] = version
                    done += 1
            finally:
                self._evict()
            return done

    def close(self):
        return self.flush()

    @property
    def dirty(self):
        with self.lock:
            return {key for key in self.values if self._is_dirty(key)}
