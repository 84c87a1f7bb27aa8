"""Cache invalidation under four strategies, replayed in simulated time: who reads a stale value, and why.

A cache-aside reader looks in the cache and, on a miss, reads the database and stores what it read.
When the database row changes, the cached copy is wrong until something removes it. The strategies:

* ``TTL_ONLY``: nothing removes it; the entry expires ``ttl`` seconds after it was stored. Every hit in
  between returns the old value. Simple, and the staleness is bounded by the ttl, no better.
* ``DELETE_THEN_WRITE``: the writer deletes the cache entry, then commits to the database. A reader
  that misses in the gap reads the *old* row and stores it again, where it stays until its ttl runs out.
* ``WRITE_THEN_DELETE``: the writer commits, then deletes (the usual advice). Hits between the commit
  and the delete are stale (a short window), and one race remains: a *slow* reader that read the old
  row before the commit and stores it after the delete puts the old value back, for a whole ttl. That
  is the classic cache-aside race; it needs a reader slower than a write, which is rare but not
  impossible (a GC pause, a swapped-out process, a retry).
* ``VERSIONED_KEYS``: the row carries a version that changes in the same transaction as the data, and the
  cache key includes it (``product:42:v7``). A reader asks the database for the current version (a
  cheap indexed read, counted as ``version_reads``) and looks up that key: an old entry is simply never
  asked for again. A slow reader can only store an old version under its old key, which nobody reads.
  The price: a version read per request and dead entries left for the ttl or the eviction to remove.

Every strategy keeps the ttl as a backstop. The model: reads and writes are Poisson streams over
``keys`` keys drawn from ``seed`` alone (the same requests under every strategy). A database read happens
at the instant the read is issued; storing the result in the cache happens ``load_time`` later (the
time to build the value), or ``slow_load_time`` later for a share ``slow_share`` of readers. A read
is *stale* when it returns a version older than the one committed when it was issued: a hit on an
entry some write has since made wrong. (A miss returns what the database held, so it is never stale.)

This is a model for figures and counts, not a cache; section 5 of the course runs the same patterns on
a real Redis.
"""
from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TTL_ONLY = "TTL only"
DELETE_THEN_WRITE = "delete, then write"
WRITE_THEN_DELETE = "write, then delete"
VERSIONED_KEYS = "versioned keys"
STRATEGIES = (TTL_ONLY, DELETE_THEN_WRITE, WRITE_THEN_DELETE, VERSIONED_KEYS)

HIT, MISS = "hit", "miss"
NOT_INVALIDATED = "stored before the write, not yet removed"
REPOPULATED = "stored after the invalidation (the race)"

# event kinds, in the order they run at the same instant
_COMMIT, _DELETE, _STORE, _READ = 0, 1, 2, 3


@dataclass(frozen=True)
class ReadRequest:
    """A read as the workload issues it; ``load_time`` is how long this reader takes to store a miss."""

    time: float
    key: str
    load_time: float
    slow: bool = False


@dataclass(frozen=True)
class WriteRequest:
    time: float
    key: str


@dataclass(frozen=True)
class ReadResult:
    """What one read returned. ``stale_cause`` is None for a fresh read, else why the entry was wrong."""

    time: float
    key: str
    outcome: str  # HIT or MISS
    version: int
    committed: int  # the key's version in the database when the read was issued
    stale_cause: str | None
    slow: bool

    @property
    def stale(self) -> bool:
        return self.version < self.committed


@dataclass(frozen=True)
class InvalidationRun:
    strategy: str
    seed: int
    duration: float
    ttl: float
    delete_gap: float
    reads: tuple[ReadResult, ...]
    writes: tuple[WriteRequest, ...]
    db_reads: int
    version_reads: int
    stores: int

    @property
    def stale_reads(self) -> int:
        return sum(read.stale for read in self.reads)

    def stale_by_cause(self) -> dict[str, int]:
        counts = {NOT_INVALIDATED: 0, REPOPULATED: 0}
        for read in self.reads:
            if read.stale:
                counts[read.stale_cause] += 1
        return counts

    @property
    def hits(self) -> int:
        return sum(read.outcome == HIT for read in self.reads)


@dataclass
class _Entry:
    version: int
    stored_at: float
    expires_at: float


def replay(
    strategy: str,
    reads: Iterable[ReadRequest],
    writes: Iterable[WriteRequest],
    *,
    ttl: float,
    delete_gap: float = 0.05,
    duration: float | None = None,
    seed: int = 0,
) -> InvalidationRun:
    """Run the given reads and writes against a database and a cache under ``strategy``.

    The database starts with every key at version 1 (a write makes it 2, 3, ...) and the cache empty. A
    write's second step (the delete after the commit, or the commit after the delete) comes
    ``delete_gap`` seconds after the first. Events at the same instant run commits, then deletes, then
    stores, then reads; otherwise in the order given.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if ttl <= 0 or delete_gap < 0:
        raise ValueError(f"ttl must be positive and delete_gap not negative, got {ttl!r} and {delete_gap!r}")
    reads, writes = tuple(reads), tuple(writes)
    events: list[tuple[float, int, int, tuple]] = []
    order = 0

    def push(time: float, kind: int, payload: tuple) -> None:
        nonlocal order
        heapq.heappush(events, (time, kind, order, payload))
        order += 1

    for write in writes:
        if strategy == DELETE_THEN_WRITE:
            push(write.time, _DELETE, (write.key,))
            push(write.time + delete_gap, _COMMIT, (write.key,))
        else:
            push(write.time, _COMMIT, (write.key,))
            if strategy == WRITE_THEN_DELETE:
                push(write.time + delete_gap, _DELETE, (write.key,))
    for read in reads:
        push(read.time, _READ, (read,))

    committed: dict[str, int] = {}
    deleted_at: dict[str, list[float]] = {}  # key -> when each write's delete ran, in write order
    cache: dict[str, _Entry] = {}
    results: list[ReadResult] = []
    db_reads = version_reads = stores = 0
    while events:
        time, kind, _, payload = heapq.heappop(events)
        if kind == _COMMIT:
            (key,) = payload
            committed[key] = committed.get(key, 1) + 1
        elif kind == _DELETE:
            (key,) = payload
            cache.pop(key, None)
            deleted_at.setdefault(key, []).append(time)
        elif kind == _STORE:
            cache_key, version = payload
            cache[cache_key] = _Entry(version, time, time + ttl)  # a plain SET: it overwrites
            stores += 1
        else:
            (read,) = payload
            current = committed.get(read.key, 1)
            if strategy == VERSIONED_KEYS:
                version_reads += 1
                cache_key = f"{read.key}:v{current}"
            else:
                cache_key = read.key
            entry = cache.get(cache_key)
            if entry is not None and time < entry.expires_at:
                cause = None
                if entry.version < current:
                    cause = _stale_cause(entry, deleted_at.get(read.key, []))
                results.append(ReadResult(time, read.key, HIT, entry.version, current, cause, read.slow))
            else:
                if entry is not None:
                    del cache[cache_key]
                db_reads += 1
                results.append(ReadResult(time, read.key, MISS, current, current, None, read.slow))
                push(time + read.load_time, _STORE, (cache_key, current))
    end = duration if duration is not None else max([r.time for r in reads] + [w.time for w in writes] + [0.0])
    return InvalidationRun(strategy, seed, end, ttl, delete_gap, tuple(results), writes, db_reads, version_reads, stores)


# Cached: compare_strategies replays one workload per strategy, and the explorer's ttl and gap sliders
# replay the same requests again. The requests are frozen dataclasses in tuples: safe to share.
@functools.lru_cache(maxsize=16)
def draw_requests(
    *,
    seed: int = 3,
    duration: float = 60.0,
    keys: int = 5,
    read_rate: float = 40.0,
    write_rate: float = 2.0,
    load_time: float = 0.005,
    slow_share: float = 0.1,
    slow_load_time: float = 1.0,
) -> tuple[tuple[ReadRequest, ...], tuple[WriteRequest, ...]]:
    """Poisson reads and writes on ``keys`` keys (uniform), from ``seed`` alone, reads and writes from generators of their own."""
    if not 0.0 <= slow_share <= 1.0:
        raise ValueError(f"slow_share is a fraction in [0, 1], got {slow_share!r}")
    names = [f"k{number}" for number in range(keys)]
    read_rng, write_rng = random.Random(f"{seed}/reads"), random.Random(f"{seed}/writes")
    reads = []
    for time in _arrivals(read_rng, read_rate, duration):
        key, slow = read_rng.choice(names), read_rng.random() < slow_share
        reads.append(ReadRequest(time, key, slow_load_time if slow else load_time, slow))
    reads = tuple(reads)
    writes = tuple(WriteRequest(time, write_rng.choice(names)) for time in _arrivals(write_rng, write_rate, duration))
    return reads, writes


def simulate_invalidation(
    strategy: str = WRITE_THEN_DELETE,
    *,
    seed: int = 3,
    duration: float = 60.0,
    keys: int = 5,
    read_rate: float = 40.0,
    write_rate: float = 2.0,
    ttl: float = 10.0,
    load_time: float = 0.005,
    slow_share: float = 0.1,
    slow_load_time: float = 1.0,
    delete_gap: float = 0.05,
) -> InvalidationRun:
    """The seeded workload of ``draw_requests`` under ``strategy``."""
    reads, writes = draw_requests(seed=seed, duration=duration, keys=keys, read_rate=read_rate,
                                  write_rate=write_rate, load_time=load_time, slow_share=slow_share,
                                  slow_load_time=slow_load_time)
    return replay(strategy, reads, writes, ttl=ttl, delete_gap=delete_gap, duration=duration, seed=seed)


def compare_strategies(strategies: Sequence[str] = STRATEGIES, **settings) -> tuple[InvalidationRun, ...]:
    """Every strategy on the very same requests (drawn once: ``draw_requests`` is cached)."""
    return tuple(simulate_invalidation(strategy, **settings) for strategy in strategies)


def classic_race(strategy: str = WRITE_THEN_DELETE, *, ttl: float = 6.0, pause: float = 2.0) -> InvalidationRun:
    """The cache-aside race, scripted on one key so that every step can be read off the timeline.

    Reader A misses at 1.0 s (the cache is empty), reads version 1 and then stalls for ``pause`` seconds
    before storing it (a GC pause). A writer commits version 2 at 1.5 s and deletes the entry 2 ms later,
    when there is nothing to delete yet. Other readers ask every 0.5 s from 2.0 s to 10 s and need 10 ms
    to store a miss: the first of them reads version 2 and stores it. Then A wakes up at 1.0 + ``pause``
    and overwrites that fresh entry with version 1, which stays for the whole ttl. Deleting cannot help:
    the delete came before A's store. Under ``VERSIONED_KEYS`` A stores ``k:v1``, which nobody asks for.
    """
    reads = [ReadRequest(1.0, "k", pause, slow=True)]
    reads += [ReadRequest(0.5 * n, "k", 0.01) for n in range(4, 21)]
    writes = [WriteRequest(1.5, "k")]
    return replay(strategy, sorted(reads, key=lambda read: read.time), writes, ttl=ttl, delete_gap=0.002,
                  duration=10.5)


def _stale_cause(entry: _Entry, deletes: list[float]) -> str:
    """Why a stale entry was there: not yet removed, or stored again after the delete meant to remove it.

    The write that made version v old is the key's v-th write (it committed version v + 1), so its
    delete is ``deletes[v - 1]`` if it has run. An entry stored at or after that delete came back.
    """
    index = entry.version - 1
    if index < len(deletes) and entry.stored_at >= deletes[index]:
        return REPOPULATED
    return NOT_INVALIDATED


def _arrivals(rng: random.Random, rate: float, duration: float) -> list[float]:
    if rate <= 0:
        return []
    times, time = [], 0.0
    while True:
        time += rng.expovariate(rate)
        if time >= duration:
            return times
        times.append(time)
