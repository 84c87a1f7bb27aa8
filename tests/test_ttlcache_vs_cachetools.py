"""The exercise's TTLCache agrees with cachetools.TTLCache (8.0.2) where the two contracts coincide.

Both are driven by the same seeded random sequences of sets, gets, deletes, len and clock moves,
and every answer is compared. Where they coincide: the expiry boundary (cachetools keeps an item
while ``timer() < set_time + ttl``: gone once its age reaches its ttl), setting a key again (new
value, new ttl, most recently used), what a use is (a hit or a set, not a miss), eviction (expired
items first, then the least recently used live one) and ``len`` (live items only). Left out, since
they differ: per-entry ttl (cachetools' TTLCache has none: every set here uses the cache's ttl),
hits and misses (cachetools has no counters: the test derives them from cachetools' answers and
compares those), deleting a missing or expired key (``del`` raises KeyError there: it deletes with
``pop(key, None)``). Times are multiples of 0.25 s, so ``now - t >= ttl`` and ``now >= t + ttl``
agree exactly. The alternatives in ``autograder/alternatives/cache_aside/`` are checked the same way.
"""
from __future__ import annotations

import random
from pathlib import Path

import cachetools
import pytest

from autograder.exercises import EXERCISES

SEQUENCES = 600
KEYS = "abcdefg"
ABSENT = object()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def reference_namespace():
    namespace: dict = {}
    exec(compile(EXERCISES["cache_aside"].reference_code, "reference", "exec"), namespace)  # noqa: S102
    return namespace


def alternative_namespace(path: Path):
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102
    return namespace


IMPLEMENTATIONS = [pytest.param(reference_namespace, id="reference")] + [
    pytest.param(lambda p=p: alternative_namespace(p), id=p.stem)
    for p in EXERCISES["cache_aside"].alternatives]


def compare(TTLCache, seed: int) -> str | None:
    """None if every answer agrees; else the seed, the first differing operation and a replay."""
    rng = random.Random(seed)
    capacity, ttl = rng.choice([1, 2, 3, 5]), rng.choice([0.5, 1.0, 2.0, 3.25])
    ours_clock, theirs_clock = Clock(), Clock()
    ours = TTLCache(capacity, ttl, clock=ours_clock)
    theirs = cachetools.TTLCache(maxsize=capacity, ttl=ttl, timer=theirs_clock)
    hits = misses = 0
    lines = [f"cache = TTLCache({capacity}, {ttl}, clock=clock)"]
    for step in range(60):
        roll = rng.random()
        key = rng.choice(KEYS)
        if roll < 0.35:
            ours.set(key, step)
            theirs[key] = step
            lines.append(f"cache.set({key!r}, {step})")
            continue
        if roll < 0.45:
            ours.delete(key)
            theirs.pop(key, None)
            lines.append(f"cache.delete({key!r})")
            continue
        if roll < 0.6:
            move = rng.choice([0.25, 0.5, 1.0, 2.0])
            ours_clock.now += move
            theirs_clock.now += move
            lines.append(f"clock.advance({move})")
            continue
        if roll < 0.7:
            mine, want, line = len(ours), len(theirs), "len(cache)"
        else:
            want = theirs.get(key, ABSENT)
            mine, line = ours.get(key, ABSENT), f"cache.get({key!r})"
            hits, misses = (hits + 1, misses) if want is not ABSENT else (hits, misses + 1)
        lines.append(line)
        if mine != want or (ours.hits, ours.misses) != (hits, misses):
            def shown(value):
                return "absent" if value is ABSENT else repr(value)
            return (f"seed {seed}: {line} at clock {ours_clock.now}: ours {shown(mine)} "
                    f"(hits, misses = {(ours.hits, ours.misses)}), cachetools {shown(want)} "
                    f"(derived {(hits, misses)})\n  replay: clock = FakeClock(); "
                    + "; ".join(lines))
    return None


@pytest.mark.parametrize("make", IMPLEMENTATIONS)
def test_ttlcache_returns_what_cachetools_returns(make):
    TTLCache = make()["TTLCache"]
    for seed in range(SEQUENCES):
        difference = compare(TTLCache, seed)
        assert difference is None, difference


def test_the_comparison_catches_an_expiry_one_instant_late():
    """The comparison can fail: a cache that keeps an entry whose age equals its ttl differs."""
    code = EXERCISES["cache_aside"].reference_code.replace(
        "now >= entry[1]:", "now > entry[1]:")
    namespace: dict = {}
    exec(compile(code, "late", "exec"), namespace)  # noqa: S102
    found = [d for d in (compare(namespace["TTLCache"], seed) for seed in range(SEQUENCES)) if d]
    assert found and found[0].startswith("seed ") and "replay:" in found[0]
