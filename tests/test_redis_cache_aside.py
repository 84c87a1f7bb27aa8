"""Cache-aside on a real Redis (Debian's redis-server) in front of a real SQLite file, with real threads.

Section 5 of the caching notebook claims what Redis does: a key stored with ``PX`` disappears by itself,
deleting on update ends a stale read, and a ``SET NX PX`` lock turns a stampede of N database reads into
one. These tests check those claims against the server itself, not a mock, so that the notebook's
numbers cannot drift from what Redis does. Nothing here measures speed: every wait is bounded and ends as
soon as the outcome is known, and every count is exact because a barrier lines the threads up after
their miss instead of relying on luck.
"""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import nbformat
import pytest

from dspatterns.caching import redis_server as redis_server_module
from dspatterns.caching.redis_cache_aside import (
    LockedCacheAside,
    ProductDatabase,
    RedisCacheAside,
    RedisMissing,
    stampede,
    start_redis_lab,
)
from dspatterns.caching.redis_server import RedisUnavailable, port_is_open, redis_server
from notebook_sections import printed_text, run_cells, section_cells

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "course" / "05_caching.ipynb"
SECTION_HEADING = "## 5."
INSTALL_COMMAND = "apt-get install redis-server"
FALLBACK_TEXT = ("Redis is not available", "Redis could not be started")
STAMPEDE_THREADS = 12
WAIT_LIMIT_S = 5.0  # generous bound for "Redis expired the key"; the poll stops as soon as it has


def wait_until(condition, *, limit: float = WAIT_LIMIT_S, interval: float = 0.01) -> bool:
    """Poll ``condition`` until it holds (True) or ``limit`` seconds have passed (False)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """One private Redis and one SQLite shop for the TTL, invalidation and stampede tests.

    The database reads are short (10 ms) because the counts, not the delays, are what is checked: the
    barrier, not the delay, is what makes every thread miss before any of them loads.
    """
    with redis_server() as server:
        client = server.client()
        database = ProductDatabase(tmp_path_factory.mktemp("shop") / "shop.sqlite3", read_delay=0.01)
        database.insert([("lamp", 4_900), ("desk", 21_000), ("chair", 8_900)])
        try:
            yield client, database
        finally:
            client.close()


def test_server_answers_ping_and_leaves_nothing_behind():
    """The server answers on 127.0.0.1:<port> without persistence; afterwards port, process and folder are gone."""
    with redis_server() as server:
        client = server.client()
        try:
            assert server.host == "127.0.0.1"
            assert client.ping() is True
            assert port_is_open(server.port)
            assert server.process.poll() is None, "the server exited while the with block was running"
            assert server.folder.is_dir()
            assert client.config_get("save")["save"] == "", "RDB snapshots should be off"
            assert client.config_get("appendonly")["appendonly"] == "no"
        finally:
            client.close()
    assert server.process.returncode is not None, "redis-server still runs after the with block"
    assert not port_is_open(server.port), f"port {server.port} still accepts connections"
    assert not server.folder.exists(), f"{server.folder} was not removed"


def test_value_stored_with_px_expires_and_the_next_get_reads_the_database(shop):
    client, database = shop
    ttl_ms = 800  # long enough that a busy machine still sees the key alive right after the SET
    cache = RedisCacheAside(client, database, ttl_ms=ttl_ms)
    key = cache.key("lamp")
    client.delete(key)

    reads = database.reads
    assert cache.get("lamp") == 4_900
    assert database.reads == reads + 1, "a miss must read the database"
    assert 0 < client.pttl(key) <= ttl_ms, "the value must be stored with its PX expiry"
    assert client.get(key) == "4900"

    assert wait_until(lambda: client.exists(key) == 0), f"{key} still exists {WAIT_LIMIT_S} s after its PX"
    assert client.pttl(key) == -2  # no such key

    reads = database.reads
    assert cache.get("lamp") == 4_900
    assert database.reads == reads + 1, "the get after expiry must read the database again"
    client.delete(key)


def test_update_deletes_the_key_so_the_next_read_is_the_new_value(shop):
    client, database = shop
    cache = RedisCacheAside(client, database, ttl_ms=60_000)
    key = cache.key("desk")
    client.delete(key)
    database.update("desk", 21_000)

    assert cache.get("desk") == 21_000
    # the control: a write around the cache stays invisible, so the cache is really serving this key
    database.update("desk", 19_900)
    reads = database.reads
    assert cache.get("desk") == 21_000
    assert database.reads == reads, "a cached key must not read the database"

    cache.update("desk", 18_500)
    assert client.exists(key) == 0, "update must delete the cached key"
    reads = database.reads
    assert cache.get("desk") == 18_500, "the read after an update returned the old cached price"
    assert database.reads == reads + 1
    assert client.get(key) == "18500", "the fresh value is cached again"
    client.delete(key)
    database.update("desk", 21_000)


@pytest.mark.parametrize("locked, expected_reads", [(False, STAMPEDE_THREADS), (True, 1)],
                         ids=["without-lock", "with-set-nx-px-lock"])
def test_stampede_on_one_hot_key(shop, locked, expected_reads):
    """N threads all miss (the barrier holds them after the miss): N database reads, or 1 with the lock."""
    client, database = shop
    barrier = threading.Barrier(STAMPEDE_THREADS, timeout=30)
    options = {"ttl_ms": 30_000, "after_miss": lambda key: barrier.wait()}
    cache = LockedCacheAside(client, database, **options) if locked else RedisCacheAside(client, database, **options)
    key = cache.key("chair")
    client.delete(key, "lock:" + key)
    try:
        result = stampede(cache, "chair", threads=STAMPEDE_THREADS, barrier=barrier)
    finally:
        client.delete(key)
    assert result.misses == STAMPEDE_THREADS, "every thread should have missed before any loaded"
    assert result.db_reads == expected_reads
    assert result.answers == (8_900,) * STAMPEDE_THREADS, "every thread must get the database's price"
    assert client.exists("lock:" + key) == 0, "the lock must be released after the load"


def test_missing_binary_raises_with_the_install_command_and_the_lab_stands_in(tmp_path, monkeypatch, capsys):
    """No binary at the Debian path nor on the PATH: a clear error, and the notebook's lab prints it instead."""
    empty_folder = tmp_path / "bin"
    empty_folder.mkdir()
    monkeypatch.setattr(redis_server_module, "DEBIAN_BINARY", tmp_path / "absent" / "redis-server")
    monkeypatch.setenv("PATH", str(empty_folder))

    with pytest.raises(RedisUnavailable, match=re.escape(INSTALL_COMMAND)), redis_server():
        pytest.fail("a server started without a binary")

    lab = start_redis_lab()
    assert isinstance(lab, RedisMissing)
    assert not lab
    print(lab.describe())
    print(lab.stampede_demo(threads=20))
    print(lab.stop())
    printed = capsys.readouterr().out
    assert INSTALL_COMMAND in printed
    assert printed.count("Redis is not available") == 2


@pytest.mark.slow
def test_notebook_section_shows_the_real_servers_numbers():
    """Section 5 runs in a fresh kernel against a real Redis and prints its numbers, not the fallback text."""
    notebook = run_cells(NOTEBOOK, section_cells(nbformat.read(NOTEBOOK, as_version=4), SECTION_HEADING))

    code = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]
    outputs = {cell.source: printed_text(cell) for cell in code}
    everything = "\n".join(outputs.values())
    for fallback in FALLBACK_TEXT:
        assert fallback not in everything, f"the section ran without Redis:\n{everything}"
    errors = [output for cell in code for output in cell.outputs if output.get("output_type") == "error"]
    assert not errors

    def output_of(call: str) -> str:
        found = [text for source, text in outputs.items() if call in source]
        assert len(found) == 1, f"expected one cell calling {call}, found {len(found)}"
        return found[0]

    assert re.search(r"Redis \d+\.\d+\S* answering PING on 127\.0\.0\.1:\d+", output_of("lab.describe()"))
    assert "RDB snapshots: off, append-only file: no" in output_of("lab.describe()")

    ttl = output_of("lab.ttl_demo(")
    assert re.search(r"PTTL \d+ ms, get -> 4900", ttl), ttl  # a live key with time left
    assert "EXISTS 0, PTTL -2" in ttl, ttl
    assert "database reads +1" in ttl, ttl

    invalidation = output_of("lab.invalidation_demo(")
    assert "get('desk') -> 21000 (stale" in invalidation, invalidation
    assert "EXISTS 0; get('desk') -> 18500 (fresh" in invalidation, invalidation

    stampede_text = output_of("lab.stampede_demo(")
    threads = int(re.search(r"(\d+) threads miss", stampede_text).group(1))
    unlocked = re.search(r"without a lock\s*:\s*(\d+) database reads, .*every answer \[(\d+)\]", stampede_text)
    locked = re.search(r"with SET NX PX lock\s*:\s*(\d+) database reads, .*every answer \[(\d+)\]", stampede_text)
    assert unlocked and locked, stampede_text
    assert int(unlocked.group(1)) == threads, stampede_text
    assert int(locked.group(1)) == 1, stampede_text
    assert unlocked.group(2) == locked.group(2) == "8900", stampede_text

    stopped = output_of("lab.stop()")
    assert re.search(r"port \d+ closed, process exited with status -?\d+, folder removed", stopped), stopped
