"""A functional design: the store is one flat mapping key -> (shard, value), replaced rather than
mutated in place; shard sizes are counted from it, a query is a comprehension over it, and a
reshard is a new mapping built in one expression (so a router that fails leaves the old one).
shard_of is the first 8 bytes of SHA-256, big-endian."""
import hashlib
from collections import Counter


def shard_of(key, num_shards):
    if num_shards < 1:
        raise ValueError("num_shards must be >= 1")
    data = key.encode() if isinstance(key, str) else key
    if not isinstance(data, bytes):
        raise TypeError("keys must be str or bytes")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % num_shards


def _router_for(num_shards, router):
    def route(key):
        index = shard_of(key, num_shards) if router is None else router(key)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_shards:
            raise ValueError(f"no shard {index!r} among {num_shards}")
        return index
    return route


class ShardedStore:
    def __init__(self, num_shards, router=None):
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        self._n, self._route = num_shards, _router_for(num_shards, router)
        self._items = {}

    def put(self, key, value):
        self._items = {**self._items, key: (self._route(key), value)}

    def get(self, key):
        return self._items[key][1]

    def delete(self, key):
        if key not in self._items:
            raise KeyError(key)
        self._items = {k: entry for k, entry in self._items.items() if k != key}

    def shard_sizes(self):
        counts = Counter(shard for shard, _ in self._items.values())
        return [counts[i] for i in range(self._n)]

    def query(self, predicate):
        return {k: value for k, (_, value) in self._items.items() if predicate(k, value)}

    def reshard(self, num_shards, router=None):
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        route = _router_for(num_shards, router)
        moved_items = {k: (route(k), value) for k, (_, value) in self._items.items()}
        moved = sum(moved_items[k][0] != shard for k, (shard, _) in self._items.items())
        self._n, self._route, self._items = num_shards, route, moved_items
        return moved
