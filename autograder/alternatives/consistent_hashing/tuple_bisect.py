"""One sorted list of (point, serial, node) tuples searched with bisect on the tuples themselves.

A lookup bisects for ``(hash,)``, which sorts before every tuple whose point equals ``hash`` and
after every smaller one, so it lands on the first point at or after the key. The serial (a counter
of points placed) sits between point and node so that tuples never compare two node names (which
may be of types that do not compare) and so that, on equal points, the point placed first wins.
The default hash is SHA-1's first 8 bytes: any hash from hashlib is the same in every process.
"""
import bisect
import hashlib
import itertools


def sha1_64(text):
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


class ConsistentHashRing:
    def __init__(self, nodes=(), vnodes=100, hash_fn=None):
        if vnodes < 1:
            raise ValueError("vnodes must be >= 1")
        self._vnodes = vnodes
        self._hash = hash_fn or sha1_64
        self._serial = itertools.count()
        self._members = {}
        self._ring = []
        for node in nodes:
            if node in self._members:
                raise ValueError(f"{node!r} listed twice")
            self._members[node] = None
            self._ring.extend(self._entries(node))
        self._ring.sort()

    def _entries(self, node):
        return [(self._hash(f"{node}#{i}"), next(self._serial), node) for i in range(self._vnodes)]

    def add_node(self, node):
        if node in self._members:
            raise ValueError(f"{node!r} is already on the ring")
        self._members[node] = None
        for entry in self._entries(node):
            bisect.insort(self._ring, entry)

    def remove_node(self, node):
        del self._members[node]  # KeyError if absent
        self._ring = [entry for entry in self._ring if entry[2] != node]

    def _start(self, key):
        index = bisect.bisect_left(self._ring, (self._hash(key),))
        return 0 if index == len(self._ring) else index

    def get_node(self, key):
        if not self._ring:
            raise LookupError("empty ring")
        return self._ring[self._start(key)][2]

    def get_nodes(self, key, n):
        if n < 0:
            raise ValueError("n must be >= 0")
        if not self._ring or n == 0:
            return []
        want = min(n, len(self._members))
        start, size = self._start(key), len(self._ring)
        chosen = {}
        for offset in range(size):
            chosen.setdefault(self._ring[(start + offset) % size][2], None)
            if len(chosen) == want:
                break
        return list(chosen)

    @property
    def nodes(self):
        return set(self._members)

    def __len__(self):
        return len(self._members)
