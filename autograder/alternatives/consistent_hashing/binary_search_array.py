"""A hand-written binary search (no bisect module) over a sorted list of points, with the owners
as node numbers in a parallel array('I'): each node gets a small number (its slot in a table of
names), so the owners take 4 bytes a point and never compare node names. Default hash: SHA-256's
first 16 hex digits."""
import hashlib
from array import array


def sha256_64(text):
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], 16)


class ConsistentHashRing:
    def __init__(self, nodes=(), vnodes=100, hash_fn=None):
        if vnodes <= 0:
            raise ValueError("need at least one virtual point per node")
        self.vnodes = vnodes
        self.hash_fn = hash_fn or sha256_64
        self._names = []  # slot -> node (None once removed)
        self._slot = {}  # node -> slot
        self._points = []
        self._owners = array("I")
        pending = []
        for node in nodes:
            if node in self._slot:
                raise ValueError(f"duplicate node {node!r}")
            slot = self._new_slot(node)
            pending += [(point, slot) for point in self._hashes(node)]
        pending.sort(key=lambda pair: pair[0])
        self._points.extend(point for point, _ in pending)
        self._owners.extend(slot for _, slot in pending)

    def _hashes(self, node):
        return [self.hash_fn(f"{node}#{i}") for i in range(self.vnodes)]

    def _new_slot(self, node):
        self._slot[node] = len(self._names)
        self._names.append(node)
        return self._slot[node]

    def _first_at_or_after(self, target):
        low, high = 0, len(self._points)
        while low < high:
            middle = (low + high) // 2
            if self._points[middle] < target:
                low = middle + 1
            else:
                high = middle
        return low

    def add_node(self, node):
        if node in self._slot:
            raise ValueError(f"{node!r} is on the ring already")
        slot = self._new_slot(node)
        for point in self._hashes(node):
            index = self._first_at_or_after(point + 1)  # after equal points: earlier ones win
            self._points.insert(index, point)
            self._owners.insert(index, slot)

    def remove_node(self, node):
        if node not in self._slot:
            raise KeyError(node)
        slot = self._slot.pop(node)
        self._names[slot] = None
        keep = [i for i, owner in enumerate(self._owners) if owner != slot]
        self._points = [self._points[i] for i in keep]
        self._owners = array("I", (self._owners[i] for i in keep))

    def get_node(self, key):
        if not self._points:
            raise LookupError("the ring is empty")
        index = self._first_at_or_after(self.hash_fn(key))
        return self._names[self._owners[index % len(self._points)]]

    def get_nodes(self, key, n):
        if n < 0:
            raise ValueError("n cannot be negative")
        wanted = min(n, len(self._slot))
        if wanted == 0:
            return []
        size = len(self._points)
        index = self._first_at_or_after(self.hash_fn(key))
        slots = []
        while len(slots) < wanted:
            slot = self._owners[index % size]
            if slot not in slots:
                slots.append(slot)
            index += 1
        return [self._names[slot] for slot in slots]

    @property
    def nodes(self):
        return set(self._slot)

    def __len__(self):
        return len(self._slot)
