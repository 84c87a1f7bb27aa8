"""Cache-aside as it is deployed: a real Redis in front of a real SQLite database, with real threads.

The pieces, each with one job:

* ``ProductDatabase``: the source of truth, a SQLite file of product prices. Every read is counted and
  made slow on purpose (a real ``sleep`` of ``read_delay`` seconds, as a query over a busy network would
  be), because a stampede only shows when loading takes longer than the gap between requests.
* ``RedisCacheAside``: ``get`` reads Redis and, on a miss, the database, then stores the value with
  ``SET key value PX ttl_ms`` (the expiry travels with the write, so no key is ever left without one);
  ``update`` writes the database, *then* deletes the key (invalidation by deleting on update).
* ``ShortLock``: ``SET lock:key token NX PX lock_ms``, released only by the token that took it (a
  compare-and-delete in one Lua script), so a holder that overran its time cannot free someone else's lock.
* ``LockedCacheAside``: the same, but a miss first tries the short lock. One caller wins and loads;
  the others poll Redis for the value every ``poll_interval`` seconds. If the lock expires without a
  value (the winner crashed), a waiter tries for the lock itself; after ``max_wait`` it reads the
  database anyway, so a lost lock costs a duplicate read, never an outage.
* ``RedisLab``: what the notebook's cells call: it starts the server and the database, runs each demo
  and prints numbers a reader can compare, and stops everything in ``stop()``. ``start_redis_lab()``
  returns a stand-in that prints how to install Redis when it cannot be started, so the notebook runs on.

Both cache classes take ``after_miss``, called with the key right after a miss and before anything else:
the demo and the tests pass a ``threading.Barrier`` there so that every thread has missed before any of
them loads, which is what happens at a hot key's expiry under load, arranged so that it is not luck.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dspatterns.caching.redis_server import RedisOwner, RedisUnavailable, redis_server
from dspatterns.missing_server import MissingServer

RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class ProductDatabase:
    """A SQLite file of ``(id, price)`` rows whose reads are counted and take ``read_delay`` seconds.

    Each call opens its own connection, so any number of threads may read at once (SQLite allows many
    readers); ``reads`` counts every ``read`` since creation, under a lock.
    """

    def __init__(self, path: str | Path, *, read_delay: float = 0.05, sleep: Callable[[float], None] = time.sleep):
        self.path = Path(path)
        self.read_delay = read_delay
        self._sleep = sleep
        self._lock = threading.Lock()
        self.reads = 0
        with self._connect() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS products (id TEXT PRIMARY KEY, price INTEGER NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5.0)

    def insert(self, rows: Iterable[tuple[str, int]]) -> None:
        with contextlib.closing(self._connect()) as connection, connection:
            connection.executemany("INSERT OR REPLACE INTO products (id, price) VALUES (?, ?)", list(rows))

    def read(self, product_id: str) -> int | None:
        """The price, or None for an unknown product; counted, and slow by ``read_delay``."""
        with self._lock:
            self.reads += 1
        with contextlib.closing(self._connect()) as connection:
            row = connection.execute("SELECT price FROM products WHERE id = ?", (product_id,)).fetchone()
        self._sleep(self.read_delay)
        return None if row is None else row[0]

    def update(self, product_id: str, price: int) -> None:
        with contextlib.closing(self._connect()) as connection, connection:
            connection.execute("UPDATE products SET price = ? WHERE id = ?", (price, product_id))


class RedisCacheAside:
    """Cache-aside on Redis: ``get`` hits or loads and stores with a ttl; ``update`` writes, then deletes."""

    def __init__(self, client, database: ProductDatabase, *, ttl_ms: int = 30_000, prefix: str = "product:",
                 after_miss: Callable[[str], object] | None = None):
        self.client, self.database = client, database
        self.ttl_ms, self.prefix = ttl_ms, prefix
        self.after_miss = after_miss or (lambda key: None)
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def key(self, product_id: str) -> str:
        return self.prefix + product_id

    def get(self, product_id: str) -> int | None:
        cached = self.client.get(self.key(product_id))
        if cached is not None:
            self._count(hit=True)
            return int(cached)
        self._count(hit=False)
        self.after_miss(product_id)
        return self._load(product_id)

    def _load(self, product_id: str) -> int | None:
        price = self.database.read(product_id)
        if price is not None:  # an unknown id is not cached here; negative caching is a choice of its own
            self.client.set(self.key(product_id), price, px=self.ttl_ms)
        return price

    def update(self, product_id: str, price: int) -> None:
        """The database first, then the delete: a failed write leaves the cache as it was."""
        self.database.update(product_id, price)
        self.client.delete(self.key(product_id))

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1


class ShortLock:
    """``SET name token NX PX lock_ms``: a lock that expires by itself, released only by its own token."""

    def __init__(self, client, name: str, *, lock_ms: int):
        self.client, self.name, self.lock_ms = client, name, lock_ms
        self.token = uuid.uuid4().hex
        self._release = client.register_script(RELEASE_SCRIPT)

    def acquire(self) -> bool:
        return bool(self.client.set(self.name, self.token, nx=True, px=self.lock_ms))

    def release(self) -> bool:
        return bool(self._release(keys=[self.name], args=[self.token]))


class LockedCacheAside(RedisCacheAside):
    """Cache-aside whose misses take a short lock first: one loader per key, the others wait for its value."""

    def __init__(self, client, database: ProductDatabase, *, ttl_ms: int = 30_000, lock_ms: int = 2_000,
                 poll_interval: float = 0.01, max_wait: float = 5.0, prefix: str = "product:",
                 after_miss: Callable[[str], object] | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(client, database, ttl_ms=ttl_ms, prefix=prefix, after_miss=after_miss)
        self.lock_ms, self.poll_interval, self.max_wait = lock_ms, poll_interval, max_wait
        self._sleep, self._clock = sleep, clock
        self.waited = 0  # misses that were answered by another caller's load

    def _load(self, product_id: str) -> int | None:
        give_up_at = self._clock() + self.max_wait
        while True:
            lock = ShortLock(self.client, "lock:" + self.key(product_id), lock_ms=self.lock_ms)
            if lock.acquire():
                try:
                    cached = self.client.get(self.key(product_id))  # someone may have stored it meanwhile
                    return int(cached) if cached is not None else super()._load(product_id)
                finally:
                    lock.release()
            while self.client.exists(lock.name) and self._clock() < give_up_at:
                self._sleep(self.poll_interval)
                cached = self.client.get(self.key(product_id))
                if cached is not None:
                    with self._lock:
                        self.waited += 1
                    return int(cached)
            cached = self.client.get(self.key(product_id))
            if cached is not None:
                with self._lock:
                    self.waited += 1
                return int(cached)
            if self._clock() >= give_up_at:
                return super()._load(product_id)  # the lock holder vanished for too long: read it ourselves


@dataclass(frozen=True)
class StampedeResult:
    threads: int
    locked: bool
    db_reads: int
    answers: tuple[int | None, ...]
    misses: int
    waited: int
    seconds: float


def stampede(cache: RedisCacheAside, product_id: str, *, threads: int, barrier: threading.Barrier) -> StampedeResult:
    """``threads`` real threads ``get`` one key at once; ``barrier`` must be the cache's ``after_miss`` hook.

    The caller builds the cache with ``after_miss=lambda key: barrier.wait()`` and an empty key, so all
    threads miss before any of them loads. Returns the database reads this stampede made.
    """
    reads_before = cache.database.reads
    answers: list[int | None] = [None] * threads
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            answers[index] = cache.get(product_id)
        except BaseException as error:  # reported below, not lost in a thread
            errors.append(error)
            barrier.abort()

    workers = [threading.Thread(target=worker, args=(index,), name=f"stampede-{index}") for index in range(threads)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return StampedeResult(threads, isinstance(cache, LockedCacheAside), cache.database.reads - reads_before,
                          tuple(answers), cache.misses, getattr(cache, "waited", 0), seconds)


class RedisLab(RedisOwner):
    """A running Redis and a SQLite database for section 5; every method returns text to print."""

    def __init__(self, *, read_delay: float = 0.05):
        self._own_redis(redis_server, prepare=lambda: self._open_database(read_delay))

    def _open_database(self, read_delay: float) -> None:
        """The shop's SQLite file lives in the server's folder, so it goes when the server does."""
        self.database = ProductDatabase(self.server.folder / "shop.sqlite3", read_delay=read_delay)
        self.database.insert([("lamp", 4_900), ("desk", 21_000), ("chair", 8_900)])

    def describe(self) -> str:
        version = self.client.info("server")["redis_version"]
        persistence = self.client.config_get("save")["save"] or "off"
        return (f"Redis {version} answering PING on {self.server.host}:{self.server.port} "
                f"(RDB snapshots: {persistence}, append-only file: {self.client.config_get('appendonly')['appendonly']});\n"
                f"SQLite database {self.database.path.name} with 3 products, each read taking "
                f"{self.database.read_delay * 1000:.0f} ms")

    def ttl_demo(self, ttl_ms: int = 1_500) -> str:
        """Store with ``SET ... PX``, watch ``PTTL`` count down, and see the expired key send a read to the database."""
        cache = RedisCacheAside(self.client, self.database, ttl_ms=ttl_ms)
        key = cache.key("lamp")
        self.client.delete(key)
        reads = self.database.reads
        lines = [f"get('lamp') -> {cache.get('lamp')}: a miss, the database was read "
                 f"({self.database.reads - reads}), SET {key} 4900 PX {ttl_ms}"]
        started = time.monotonic()
        for pause in (0.0, 0.5, 0.5):
            time.sleep(pause)
            lines.append(f"  after {time.monotonic() - started:4.2f} s: TTL {self.client.ttl(key)} s, "
                         f"PTTL {self.client.pttl(key)} ms, get -> {cache.get('lamp')} (hits so far: {cache.hits})")
        while self.client.exists(key) and time.monotonic() - started < ttl_ms / 1000 + 2.0:
            time.sleep(0.05)
        lines.append(f"  after {time.monotonic() - started:4.2f} s: EXISTS {self.client.exists(key)}, "
                     f"PTTL {self.client.pttl(key)} (-2: no such key); Redis expired it by itself")
        reads = self.database.reads
        cache.get("lamp")
        lines.append(f"  get('lamp') again: a miss, database reads +{self.database.reads - reads}")
        self.client.delete(key)
        return "\n".join(lines)

    def invalidation_demo(self, ttl_ms: int = 60_000) -> str:
        """An update that forgets the cache leaves a stale price for the ttl; deleting on update fixes it."""
        cache = RedisCacheAside(self.client, self.database, ttl_ms=ttl_ms)
        key = cache.key("desk")
        self.client.delete(key)
        self.database.update("desk", 21_000)
        lines = [f"get('desk') -> {cache.get('desk')} (loaded and cached for {ttl_ms / 1000:g} s)"]
        self.database.update("desk", 19_900)  # a write that goes around the cache
        lines.append(f"database updated to 19900 without touching Redis: get('desk') -> {cache.get('desk')} "
                     f"(stale, for another {self.client.ttl(key)} s)")
        cache.update("desk", 18_500)
        lines.append(f"cache.update('desk', 18500): database written, then DEL {key}: "
                     f"EXISTS {self.client.exists(key)}; get('desk') -> {cache.get('desk')} (fresh, cached again)")
        self.client.delete(key)
        return "\n".join(lines)

    def stampede_demo(self, threads: int = 20) -> str:
        """``threads`` threads miss one hot key together, without and with the short lock; count database reads."""
        results = [self.stampede(threads=threads, locked=locked) for locked in (False, True)]
        lines = [f"{threads} threads miss 'chair' at once; each database read takes "
                 f"{self.database.read_delay * 1000:.0f} ms"]
        for result in results:
            label = "with SET NX PX lock" if result.locked else "without a lock    "
            lines.append(f"  {label}: {result.db_reads:2d} database reads, {result.waited:2d} threads waited for the "
                         f"winner's value, every answer {sorted(set(result.answers))}, {result.seconds:.2f} s")
        return "\n".join(lines)

    def stampede(self, *, threads: int, locked: bool, product_id: str = "chair") -> StampedeResult:
        barrier = threading.Barrier(threads, timeout=30)
        options = dict(ttl_ms=30_000, after_miss=lambda key: barrier.wait())
        cache = LockedCacheAside(self.client, self.database, **options) if locked else \
            RedisCacheAside(self.client, self.database, **options)
        self.client.delete(cache.key(product_id), "lock:" + cache.key(product_id))
        try:
            return stampede(cache, product_id, threads=threads, barrier=barrier)
        finally:
            self.client.delete(cache.key(product_id))


class RedisMissing(MissingServer):
    """Stands in for ``RedisLab`` when Redis cannot start: every cell prints the reason and how to get it."""

    server_name = "Redis"
    consequence = "this section shows no numbers"


def start_redis_lab(*, read_delay: float = 0.05) -> RedisLab | RedisMissing:
    """A running ``RedisLab``, or a ``RedisMissing`` that explains why not (the notebook does not stop there)."""
    try:
        return RedisLab(read_delay=read_delay)
    except RedisUnavailable as error:
        return RedisMissing(str(error))
