"""A dict from point to node, plus a sorted list of the points rebuilt only when a lookup finds it
stale: membership changes cost O(vnodes), and many changes in a row cost one sort at the next
lookup. A point already taken keeps its node (dict.setdefault), so a later node never steals an
earlier one's point. The default hash is BLAKE2b with an 8-byte digest."""
import bisect
import hashlib


def blake_64(text):
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class ConsistentHashRing:
    def __init__(self, nodes=(), vnodes=100, hash_fn=None):
        if not vnodes >= 1:
            raise ValueError(f"bad vnodes {vnodes!r}")
        self.vnodes = vnodes
        self.hash_fn = hash_fn if hash_fn is not None else blake_64
        self._owner_at = {}
        self._points_of = {}
        self._sorted = []
        self._stale = False
        for node in nodes:
            self.add_node(node)

    def add_node(self, node):
        if node in self._points_of:
            raise ValueError(f"{node!r} already on the ring")
        mine = []
        for i in range(self.vnodes):
            point = self.hash_fn(f"{node}#{i}")
            if self._owner_at.setdefault(point, node) == node:
                mine.append(point)
        self._points_of[node] = mine
        self._stale = True

    def remove_node(self, node):
        for point in self._points_of.pop(node):
            del self._owner_at[point]
        self._stale = True

    def _points(self):
        if self._stale:
            self._sorted = sorted(self._owner_at)
            self._stale = False
        return self._sorted

    def get_node(self, key):
        points = self._points()
        if not points:
            raise LookupError("no nodes on the ring")
        i = bisect.bisect_left(points, self.hash_fn(key))
        return self._owner_at[points[i if i < len(points) else 0]]

    def get_nodes(self, key, n):
        if n < 0:
            raise ValueError("negative n")
        points = self._points()
        result = []
        if not points:
            return result
        i = bisect.bisect_left(points, self.hash_fn(key))
        total = min(n, len(self._points_of))
        seen = 0
        while len(result) < total and seen < len(points):
            node = self._owner_at[points[(i + seen) % len(points)]]
            if node not in result:
                result.append(node)
            seen += 1
        return result

    @property
    def nodes(self):
        return set(self._points_of)

    def __len__(self):
        return len(self._points_of)
