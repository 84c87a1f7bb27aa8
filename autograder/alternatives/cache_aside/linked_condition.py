"""cache_aside, another design: a hand-made doubly linked list for recency (head = least recently
used) beside a dict of nodes, each node carrying its deadline; single flight with one lock and one
Condition, callers of a key in flight waiting on a shared ticket until the loader fills it in."""
import threading
import time


class _Node:
    __slots__ = ("deadline", "key", "next", "prev", "value")

    def __init__(self, key=None, value=None, deadline=0.0):
        self.key, self.value, self.deadline = key, value, deadline
        self.prev = self.next = self


class TTLCache:
    def __init__(self, capacity, ttl, clock=time.monotonic):
        self.capacity, self.ttl, self._clock = capacity, ttl, clock
        self._nodes = {}
        self._ring = _Node()  # sentinel: ring.next is the least recently used
        self.hits = 0
        self.misses = 0

    def _unlink(self, node):
        node.prev.next, node.next.prev = node.next, node.prev

    def _append(self, node):
        last = self._ring.prev
        node.prev, node.next = last, self._ring
        last.next = self._ring.prev = node

    def _drop(self, node):
        self._unlink(node)
        del self._nodes[node.key]

    def get(self, key, default=None):
        now = self._clock()
        node = self._nodes.get(key)
        if node is None or not now < node.deadline:
            if node is not None:
                self._drop(node)
            self.misses += 1
            return default
        self._unlink(node)
        self._append(node)
        self.hits += 1
        return node.value

    def set(self, key, value, ttl=None):
        now = self._clock()
        deadline = now + (self.ttl if ttl is None else ttl)
        node = self._nodes.get(key)
        if node is not None:
            node.value, node.deadline = value, deadline
            self._unlink(node)
            self._append(node)
            return
        if len(self._nodes) >= self.capacity:
            for stale in [n for n in self._nodes.values() if not now < n.deadline]:
                self._drop(stale)
            while len(self._nodes) >= self.capacity:
                self._drop(self._ring.next)
        node = self._nodes[key] = _Node(key, value, deadline)
        self._append(node)

    def delete(self, key):
        node = self._nodes.get(key)
        if node is not None:
            self._drop(node)

    def __len__(self):
        now = self._clock()
        return len([n for n in self._nodes.values() if now < n.deadline])


class CacheAside:
    _NOTHING = object()

    def __init__(self, cache, load):
        self.cache, self.load = cache, load
        self._changed = threading.Condition()
        self._tickets = {}  # key -> {"done": bool, "value": ..., "error": ...}

    def get(self, key):
        with self._changed:
            value = self.cache.get(key, self._NOTHING)
            if value is not self._NOTHING:
                return value
            ticket = self._tickets.get(key)
            if ticket is not None:
                while not ticket["done"]:
                    self._changed.wait()
                if ticket["error"] is not None:
                    raise ticket["error"]
                return ticket["value"]
            ticket = self._tickets[key] = {"done": False, "value": None, "error": None}
        try:
            value = self.load(key)
        except BaseException as error:
            self._finish(key, ticket, error=error)
            raise
        self._finish(key, ticket, value=value)
        return value

    def _finish(self, key, ticket, value=None, error=None):
        with self._changed:
            if self._tickets.get(key) is ticket:
                del self._tickets[key]
                if error is None:
                    self.cache.set(key, value)
            ticket.update(done=True, value=value, error=error)
            self._changed.notify_all()

    def invalidate(self, key):
        with self._changed:
            self.cache.delete(key)
            self._tickets.pop(key, None)
