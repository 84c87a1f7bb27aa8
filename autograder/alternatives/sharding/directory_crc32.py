"""Directory-based sharding: a lookup table remembers which shard each key was put on, as the
metadata service of a directory-sharded database does. The router runs only where a key is placed
(put and reshard); get and delete read the directory. Shards are a dict of dicts keyed by shard
index, and shard_of is zlib.crc32 of the key's UTF-8 bytes."""
import zlib


def shard_of(key, num_shards):
    if num_shards < 1:
        raise ValueError("need at least one shard")
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes):
        raise TypeError("shard keys are str or bytes")
    return zlib.crc32(key) % num_shards


class ShardedStore:
    def __init__(self, num_shards, router=None):
        if num_shards < 1:
            raise ValueError("need at least one shard")
        self._count = num_shards
        self._router = router
        self._shards = {index: {} for index in range(num_shards)}
        self._directory = {}  # key -> the shard it is on

    def _place(self, key, router, count):
        index = router(key) if router is not None else shard_of(key, count)
        if type(index) is not int or index < 0 or index >= count:
            raise ValueError(f"router returned {index!r} for {key!r}, not a shard of {count}")
        return index

    def put(self, key, value):
        index = self._place(key, self._router, self._count)
        old = self._directory.get(key)
        if old is not None and old != index:  # a router that changed its mind: keep one copy
            del self._shards[old][key]
        self._shards[index][key] = value
        self._directory[key] = index

    def get(self, key):
        return self._shards[self._directory[key]][key]

    def delete(self, key):
        index = self._directory.pop(key)
        del self._shards[index][key]

    def shard_sizes(self):
        return [len(self._shards[index]) for index in range(self._count)]

    def query(self, predicate):
        result = {}
        for index in sorted(self._shards):
            result.update((k, v) for k, v in self._shards[index].items() if predicate(k, v))
        return result

    def reshard(self, num_shards, router=None):
        if num_shards < 1:
            raise ValueError("need at least one shard")
        targets = {key: self._place(key, router, num_shards) for key in self._directory}
        moving = {key: new for key, new in targets.items() if new != self._directory[key]}
        for index in range(self._count, num_shards):
            self._shards[index] = {}
        for key, new in moving.items():
            self._shards[new][key] = self._shards[self._directory[key]].pop(key)
            self._directory[key] = new
        for index in range(num_shards, self._count):
            del self._shards[index]
        self._count, self._router = num_shards, router
        return len(moving)
