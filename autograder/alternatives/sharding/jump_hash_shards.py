"""shard_of by jump consistent hashing (Lamping and Veach, 2014) on a BLAKE2b digest: growing from
n to n + 1 shards moves only about 1/(n + 1) of the keys. Each shard is an object of its own (a
Shard with its own dict), as a client library's connection to one server would be."""
import hashlib


def _jump(key64, buckets):
    b, j = -1, 0
    while j < buckets:
        b = j
        key64 = (key64 * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (1 << 31) / ((key64 >> 33) + 1))
    return b


def shard_of(key, num_shards):
    if num_shards < 1:
        raise ValueError(f"num_shards={num_shards!r}: there must be at least one shard")
    if isinstance(key, str):
        key = key.encode("utf-8")
    elif not isinstance(key, bytes):
        raise TypeError(f"cannot shard a {type(key).__name__} key")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return _jump(int.from_bytes(digest, "little"), num_shards)


class Shard:
    def __init__(self):
        self.data = {}

    def __len__(self):
        return len(self.data)


class ShardedStore:
    def __init__(self, num_shards, router=None):
        self._set_layout(num_shards, router)
        self._shards = [Shard() for _ in range(num_shards)]

    def _set_layout(self, num_shards, router):
        if num_shards < 1:
            raise ValueError(f"num_shards={num_shards!r}: there must be at least one shard")
        self.num_shards, self.router = num_shards, router

    def _index(self, key, num_shards=None, router=None, current=True):
        if current:
            num_shards, router = self.num_shards, self.router
        index = shard_of(key, num_shards) if router is None else router(key)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_shards:
            raise ValueError(f"router gave shard {index!r} for {key!r}; valid: 0..{num_shards - 1}")
        return index

    def _shard(self, key):
        return self._shards[self._index(key)]

    def put(self, key, value):
        self._shard(key).data[key] = value

    def get(self, key):
        return self._shard(key).data[key]

    def delete(self, key):
        del self._shard(key).data[key]

    def shard_sizes(self):
        return list(map(len, self._shards))

    def query(self, predicate):
        partials = [{k: v for k, v in shard.data.items() if predicate(k, v)} for shard in self._shards]
        merged = {}
        for partial in partials:
            merged.update(partial)
        return merged

    def reshard(self, num_shards, router=None):
        if num_shards < 1:
            raise ValueError(f"num_shards={num_shards!r}: there must be at least one shard")
        plan = [(key, old, new) for old, shard in enumerate(self._shards) for key in shard.data
                if (new := self._index(key, num_shards, router, current=False)) != old]
        while len(self._shards) < num_shards:
            self._shards.append(Shard())
        for key, old, new in plan:
            self._shards[new].data[key] = self._shards[old].data.pop(key)
        self._shards = self._shards[:num_shards]
        self._set_layout(num_shards, router)
        return len(plan)
