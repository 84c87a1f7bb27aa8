"""Hidden suite for the `cache_aside` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with a one-line replay the student can paste into a notebook
cell (`clock = FakeClock(); cache = TTLCache(...); ...`) to see it for themselves.

`TTLCache` runs on the suite's own FakeClock, handed over as a plain function
(`support.contract_clock`): nothing in the expiry and eviction parts waits or depends on the
machine's speed, and every time used is a multiple of 0.25 s (exact in binary), so `now - t >= ttl`
and `now >= t + ttl` agree. The calls made at one clock reading go to the student's process in one
batch (`sandbox.call_each`); `len(cache)`, `.hits` and `.misses` are read between batches.

The single-flight part uses real threads, ordered by gates, never by delays: the suite's `load`
blocks until the test opens its gate, and the test opens it once `load` was entered and every other
caller is confirmed inside `get`, which the contract shows as a miss counted by the cache it was
given (`CacheAside.get` looks the key up with `cache.get`). That wait is bounded and ends at once
when the outcome is known (a second `load` call is already the failure); if it runs out the test
opens the gate anyway, which can only make a wrong implementation look right, never the reverse.

Readings the grader takes where the contract is silent (the notebook states each one): None is a
value like any other; `get` of an expired entry removes it; a get of a missing key changes no order;
`ttl=None` means the cache's ttl and a hit does not extend a ttl; `delete` of a missing key does
nothing; setting a cached key again evicts nothing; `CacheAside` stores with `cache.set(key, value)`
(the cache's ttl); callers arriving after a load failed start a new load. Not graded: capacity < 1,
ttl <= 0, whether a None from `load` is cached, `invalidate` during a load of that key.
"""
# DSP-CANARY-CACHE_ASIDE-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict

import pytest
from support import (
    SETTLE,
    Background,
    Boom,
    contract_clock,
    expect,
    expect_equal,
    only_callable,
    wait_until,
)

from dspatterns.testing import FakeClock

ABSENT = "<absent>"  # the default the suite passes to get, so None stays a value


# ------------------------------------------------------------------------------------- helpers
def described(outcome) -> tuple:
    """A batch outcome as ("returned", value) or ("raised", "Type: message (at line)")."""
    if not outcome.raised:
        return ("returned", outcome.value)
    error = outcome.error
    text = f"{type(error).__name__}: {error}"
    where = getattr(error, "remote_traceback", None)
    if where:
        text += f" (at {where[-1].strip()})"
    return ("raised", text)


def said(result) -> str:
    kind, value = result
    return f"returned {value!r}" if kind == "returned" else f"raised {value}"


class Run:
    """A TTLCache on the suite's fake clock, writing down each step as the code that replays it."""

    def __init__(self, impl, sandbox, capacity=10, ttl=2.0, start=0.0):
        self.sandbox = sandbox
        self.clock = FakeClock(start)
        self.cache = impl.TTLCache(capacity, ttl, clock=contract_clock(self.clock))
        self.lines = [f"clock = FakeClock({start!r})",
                      f"cache = TTLCache({capacity!r}, {ttl!r}, clock=clock)"]
        self.get_fn, self.set_fn, self.delete_fn = self.cache.get, self.cache.set, self.cache.delete

    @property
    def replay(self) -> str:
        return "; ".join(self.lines)

    def advance(self, seconds):
        self.clock.advance(seconds)
        self.lines.append(f"clock.advance({seconds!r})")

    # Calls, described as (code, function, args, kwargs), run in one batch at the current time.
    def get(self, key, default=ABSENT):
        if default is None:
            return (f"cache.get({key!r})", self.get_fn, (key,), {})
        return (f"cache.get({key!r}, {default!r})", self.get_fn, (key, default), {})

    def set(self, key, value, ttl=None):
        if ttl is None:
            return (f"cache.set({key!r}, {value!r})", self.set_fn, (key, value), {})
        return (f"cache.set({key!r}, {value!r}, ttl={ttl!r})", self.set_fn, (key, value),
                {"ttl": ttl})

    def delete(self, key):
        return (f"cache.delete({key!r})", self.delete_fn, (key,), {})

    def batch(self, calls) -> list[tuple]:
        """Each call's (line, result), in order; a call that raised fails the test at once."""
        outcomes = self.sandbox.call_each([(fn, args, kwargs) for _, fn, args, kwargs in calls])
        steps = []
        for (line, *_), outcome in zip(calls, outcomes):
            self.lines.append(line)
            result = described(outcome)
            expect(result[0] == "returned",
                   f"{line} {said(result)}; the contract says it returns\n  replay: {self.replay}")
            steps.append((line, result[1]))
        return steps

    def gets(self, *keys, default=ABSENT) -> list:
        return [value for _, value in self.batch([self.get(key, default) for key in keys])]

    def do(self, *calls):
        self.batch(list(calls))

    def length(self):
        self.lines.append("len(cache)")
        return len(self.cache)

    def counts(self):
        self.lines.append("(cache.hits, cache.misses)")
        return (self.cache.hits, self.cache.misses)


def expect_gets(run: Run, expected: dict, why: str, default=ABSENT):
    """One batch of gets; each must return ``expected[key]``."""
    got = dict(zip(expected, run.gets(*expected, default=default)))
    for key, value in expected.items():
        expect(got[key] == value and type(got[key]) is type(value),
               f"cache.get({key!r}, {default!r}) {why}: expected {value!r}, got {got[key]!r}\n"
               f"  replay: {run.replay}")


def expect_len(run: Run, expected: int, why: str):
    n = run.length()
    expect(n == expected, f"len(cache) {why}: expected {expected}, got {n!r}\n  replay: {run.replay}")


def expect_counts(run: Run, expected: tuple, why: str):
    got = run.counts()
    expect(tuple(got) == expected,
           f"(cache.hits, cache.misses) {why}: expected {expected}, got {tuple(got)}\n"
           f"  replay: {run.replay}")


# ---------------------------------------------------------------------------------------- model
class ModelCache:
    """The suite's own reading of the contract: key -> (value, expires_at), least recent first."""

    def __init__(self, capacity, ttl):
        self.capacity, self.ttl = capacity, ttl
        self.entries: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def get(self, now, key, default):
        entry = self.entries.get(key)
        if entry is None or now >= entry[1]:
            self.entries.pop(key, None)
            self.misses += 1
            return default
        self.entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def set(self, now, key, value, ttl=None):
        if key not in self.entries and len(self.entries) >= self.capacity:
            for k in [k for k, (_, e) in self.entries.items() if now >= e]:
                del self.entries[k]
            while len(self.entries) >= self.capacity:
                self.entries.popitem(last=False)
        self.entries[key] = (value, now + (self.ttl if ttl is None else ttl))
        self.entries.move_to_end(key)

    def delete(self, now, key):
        self.entries.pop(key, None)

    def live(self, now):
        return sum(1 for _, e in self.entries.values() if now < e)


KEYS = "abcde"
TTLS = [None, None, None, 0.5, 1.0, 3.0]
MOVES = [0.25, 0.5, 1.0, 1.75, 2.0]


def random_sequence(seed, length=40):
    """Ops: ("set", key, value, ttl), ("get", key), ("delete", key), ("advance", seconds)."""
    rng = random.Random(seed)
    ops = []
    for i in range(length):
        roll = rng.random()
        if roll < 0.35:
            ops.append(("set", rng.choice(KEYS), i, rng.choice(TTLS)))
        elif roll < 0.75:
            ops.append(("get", rng.choice(KEYS)))
        elif roll < 0.85:
            ops.append(("delete", rng.choice(KEYS)))
        else:
            ops.append(("advance", rng.choice(MOVES)))
    return ops


def check_against_model(impl, sandbox, seed, capacity, ttl=2.0, check_len=True):
    """Runs one seeded sequence on the student's cache and on the model; fails at the first
    answer that differs, naming the seed and the replay up to it."""
    run, model = Run(impl, sandbox, capacity=capacity, ttl=ttl), ModelCache(capacity, ttl)
    ops = random_sequence(seed)
    segments, current = [], []
    for op in ops:
        if op[0] == "advance":
            segments.append((current, op[1]))
            current = []
        else:
            current.append(op)
    segments.append((current, None))
    for calls, move in segments:
        now = run.clock.now
        expected, batch = [], []
        for op in calls:
            if op[0] == "set":
                model.set(now, op[1], op[2], op[3])
                batch.append(run.set(op[1], op[2], op[3]))
                expected.append(None)
            elif op[0] == "get":
                expected.append(model.get(now, op[1], ABSENT))
                batch.append(run.get(op[1]))
            else:
                model.delete(now, op[1])
                batch.append(run.delete(op[1]))
                expected.append(None)
        for (line, value), want, op in zip(run.batch(batch), expected, calls):
            if op[0] == "get":
                expect(value == want and type(value) is type(want),
                       f"seed {seed}: {line} at clock {now!r} should return {want!r} (a model of "
                       f"the contract, capacity={capacity}, ttl={ttl}), but it returned "
                       f"{value!r}\n  replay: {run.replay}")
        counts = run.counts()
        expect(tuple(counts) == (model.hits, model.misses),
               f"seed {seed}: after the calls at clock {now!r}, (cache.hits, cache.misses) should "
               f"be {(model.hits, model.misses)}, got {tuple(counts)}\n  replay: {run.replay}")
        if check_len:
            n = run.length()
            expect(n == model.live(now),
                   f"seed {seed}: at clock {now!r} len(cache) should be {model.live(now)} (live "
                   f"entries only), got {n!r}\n  replay: {run.replay}")
        if move is not None:
            run.advance(move)


# --------------------------------------------------------------------------------------- expiry
@pytest.mark.part("expiry")
class TestExpiry:
    def test_set_then_get_returns_the_value(self, impl, sandbox):
        """get returns what set stored, for each key, and default for a key never set"""
        run = Run(impl, sandbox)
        run.do(run.set("a", 1), run.set("b", [2, "two"]), run.set(3, "three"))
        expect_gets(run, {"a": 1, "b": [2, "two"], 3: "three", "never": ABSENT},
                    "right after the sets")
        expect_gets(run, {"never": None}, "of a key never set, with no default", default=None)

    def test_gone_exactly_when_its_age_reaches_the_ttl(self, impl, sandbox):
        """an entry is live while its age is below its ttl and gone once it reaches it (>=)"""
        run = Run(impl, sandbox, ttl=2.0, start=100.0)
        run.do(run.set("k", "v"))
        run.clock.now = math.nextafter(102.0, 0.0)
        run.lines.append("clock.now = math.nextafter(102.0, 0.0)")
        expect_gets(run, {"k": "v"}, "just before the ttl of 2.0 s has passed (set at 100.0)")
        run.clock.now = 102.0
        run.lines.append("clock.now = 102.0")
        expect_gets(run, {"k": ABSENT}, "exactly 2.0 s (the ttl) after it was set: it is gone")
        run.advance(5.0)
        expect_gets(run, {"k": ABSENT}, "long after the ttl")

    def test_get_of_an_expired_entry_returns_the_default(self, impl, sandbox):
        """a miss returns the default given to get (None when none is given), expired or never set"""
        run = Run(impl, sandbox, ttl=1.0)
        run.do(run.set("k", "v"), run.set("j", "w"))
        run.advance(1.0)
        expect_gets(run, {"k": "fallback"}, "of an expired entry", default="fallback")
        expect_gets(run, {"j": None}, "of an expired entry with no default", default=None)
        expect_gets(run, {"k": 0}, "after it expired, with default 0", default=0)

    def test_per_entry_ttl(self, impl, sandbox):
        """set(key, value, ttl=...) gives that entry its own ttl; ttl=None means the cache's ttl"""
        run = Run(impl, sandbox, ttl=2.0)
        run.do(run.set("short", 1, ttl=0.5), run.set("long", 2, ttl=5.0), run.set("default", 3),
               run.set("explicit_none", 4, None))
        run.advance(0.5)
        expect_gets(run, {"short": ABSENT, "long": 2, "default": 3, "explicit_none": 4},
                    "0.5 s after the sets (ttls 0.5, 5.0, cache's 2.0, cache's 2.0)")
        run.advance(1.5)
        expect_gets(run, {"long": 2, "default": ABSENT, "explicit_none": ABSENT},
                    "2.0 s after the sets (the cache's ttl is 2.0, 'long' has 5.0)")
        run.advance(3.0)
        expect_gets(run, {"long": ABSENT}, "5.0 s after the sets (its ttl is 5.0)")

    def test_setting_a_key_again_restarts_its_ttl(self, impl, sandbox):
        """setting a key again replaces its value and restarts its ttl (with the new set's ttl)"""
        run = Run(impl, sandbox, ttl=2.0)
        run.do(run.set("k", "old"), run.set("p", "first", ttl=0.5))
        run.advance(1.5)
        run.do(run.set("k", "new"))
        run.advance(1.75)
        expect_gets(run, {"k": "new"}, "1.75 s after it was set again (3.25 s after the first set)")
        run.advance(0.25)
        expect_gets(run, {"k": ABSENT}, "2.0 s after it was set again (the ttl)")
        run.do(run.set("p", "second", ttl=4.0))
        run.advance(3.75)
        expect_gets(run, {"p": "second"}, "set again with ttl=4.0, 3.75 s later")

    def test_a_hit_does_not_extend_the_ttl(self, impl, sandbox):
        """the ttl counts from the set: gets in between do not push the expiry back"""
        run = Run(impl, sandbox, ttl=2.0)
        run.do(run.set("k", "v"))
        for _ in range(3):
            run.advance(0.5)
            expect_gets(run, {"k": "v"}, "while its age is below the ttl")
        run.advance(0.5)
        expect_gets(run, {"k": ABSENT}, "2.0 s after the set, hits in between")

    def test_delete_forgets_the_key_and_ignores_a_missing_one(self, impl, sandbox):
        """delete(key) removes the entry; deleting a key that is not cached does nothing"""
        run = Run(impl, sandbox)
        run.do(run.set("a", 1), run.set("b", 2), run.delete("a"), run.delete("never"))
        expect_gets(run, {"a": ABSENT, "b": 2}, "after delete('a')")
        run.do(run.delete("a"), run.set("a", 3))
        expect_gets(run, {"a": 3}, "set again after it was deleted")
        run.advance(2.0)
        run.do(run.delete("b"))  # expired, then deleted: still nothing to raise
        expect_gets(run, {"b": ABSENT}, "expired and deleted")

    def test_hits_and_misses_count_gets(self, impl, sandbox):
        """hits count gets that found a live value, misses those that found nothing or an expired entry"""
        run = Run(impl, sandbox, ttl=1.0)
        expect_counts(run, (0, 0), "of a new cache")
        run.do(run.set("a", 1), run.set("b", 2), run.delete("b"), run.delete("x"))
        expect_counts(run, (0, 0), "after sets and deletes only")
        run.gets("a", "a", "b", "nothing")
        expect_counts(run, (2, 2), "after two hits on 'a', a get of deleted 'b' and of 'nothing'")
        run.advance(1.0)
        run.gets("a")
        expect_counts(run, (2, 3), "after a get of 'a' once it expired (a miss)")
        run.gets("a")
        expect_counts(run, (2, 4), "after another get of the expired 'a'")

    def test_none_is_a_value(self, impl, sandbox):
        """a cached None is a value: get returns it (a hit), not the default"""
        run = Run(impl, sandbox)
        run.do(run.set("n", None))
        expect_gets(run, {"n": None}, "of a key set to None", default="default")
        expect_counts(run, (1, 0), "after a get of a key whose value is None (a hit)")
        expect_len(run, 1, "with one entry whose value is None")

    def test_reads_the_clock_it_is_given(self, impl, sandbox):
        """time is the clock handed to the cache (it starts at 50000 s here), never the real one"""
        run = Run(impl, sandbox, ttl=30.0, start=50_000.0)
        run.do(run.set("k", "v"))
        run.advance(29.75)
        expect_gets(run, {"k": "v"}, "29.75 s of the given clock later (ttl 30.0)")
        run.advance(0.25)
        expect_gets(run, {"k": ABSENT}, "30.0 s of the given clock later (no real time passed)")

    def test_two_caches_share_nothing(self, impl, sandbox):
        """each TTLCache has its own entries and counts (nothing kept on the class)"""
        one, two = Run(impl, sandbox), Run(impl, sandbox)
        one.do(one.set("k", "one"))
        expect_gets(two, {"k": ABSENT}, "of a second cache, after the first cache set 'k'")
        expect_counts(one, (0, 0), "of the first cache after a get on the second")

    def test_matches_a_model_without_eviction(self, impl, sandbox):
        """random sets, gets, deletes and clock moves give a model's values, hits and misses (no eviction)"""
        for seed in range(30):
            check_against_model(impl, sandbox, seed, capacity=len(KEYS), check_len=False)


# ------------------------------------------------------------------------------------- eviction
@pytest.mark.part("eviction")
class TestEviction:
    def test_capacity_bounds_the_entries(self, impl, sandbox):
        """never more than capacity live entries: each new key beyond it evicts one"""
        run = Run(impl, sandbox, capacity=3, ttl=100.0)
        for i in range(6):
            run.do(run.set(f"k{i}", i))
            expect_len(run, min(i + 1, 3), f"after {i + 1} different keys were set (capacity 3)")
        kept = run.gets(*[f"k{i}" for i in range(6)])
        expect(kept == [ABSENT, ABSENT, ABSENT, 3, 4, 5],
               f"after k0..k5 were set into a TTLCache(3, ...), gets of k0..k5 should find only the "
               f"last three; got {kept}\n  replay: {run.replay}")

    def test_least_recently_set_goes_first(self, impl, sandbox):
        """with no gets in between, entries are evicted in the order they were set"""
        run = Run(impl, sandbox, capacity=2, ttl=100.0)
        run.do(run.set("a", 1), run.set("b", 2), run.set("c", 3))
        expect_gets(run, {"a": ABSENT, "b": 2, "c": 3}, "after a, b, c into capacity 2")
        run.do(run.set("d", 4))
        expect_gets(run, {"b": ABSENT, "c": 3, "d": 4}, "then d (b was now the least recent)")

    def test_a_hit_counts_as_a_use(self, impl, sandbox):
        """a get that finds the entry makes it the most recently used"""
        run = Run(impl, sandbox, capacity=3, ttl=100.0)
        run.do(run.set("a", 1), run.set("b", 2), run.set("c", 3), run.get("a"), run.get("b"),
               run.set("d", 4))
        expect_gets(run, {"c": ABSENT, "a": 1, "b": 2, "d": 4},
                    "after gets of a and b, then a new key (c was the least recently used)")

    def test_a_miss_is_not_a_use(self, impl, sandbox):
        """a get of a missing key changes no order; the least recently used still goes"""
        run = Run(impl, sandbox, capacity=2, ttl=100.0)
        run.do(run.set("a", 1), run.set("b", 2), run.get("zz"), run.get("x"), run.set("c", 3))
        expect_gets(run, {"a": ABSENT, "b": 2, "c": 3}, "after misses and a new key")

    def test_setting_again_is_a_use_and_evicts_nothing(self, impl, sandbox):
        """setting a cached key again makes it the most recent and evicts no other entry"""
        run = Run(impl, sandbox, capacity=2, ttl=100.0)
        run.do(run.set("a", 1), run.set("b", 2), run.set("a", 10))
        expect_gets(run, {"a": 10, "b": 2}, "after setting 'a' again in a full cache")
        expect_len(run, 2, "after setting a cached key again in a full cache")
        run.do(run.set("a", 11), run.set("c", 3))
        expect_gets(run, {"b": ABSENT, "a": 11, "c": 3},
                    "after 'a' was set again and then a new key (b was the least recently used)")

    def test_expired_entries_go_before_the_least_recently_used(self, impl, sandbox):
        """a new key in a full cache removes expired entries first, even recently used ones"""
        run = Run(impl, sandbox, capacity=3, ttl=10.0)
        run.do(run.set("lru", 1), run.set("mid", 2), run.set("short", 3, ttl=1.0),
               run.get("short"))
        run.advance(1.0)
        run.do(run.set("new", 4))
        expect_gets(run, {"lru": 1, "mid": 2, "new": 4, "short": ABSENT},
                    "after 'short' (the most recently used) expired and a new key was set")
        run.do(run.set("a", 5, ttl=0.5), run.set("b", 6, ttl=0.5))  # evicts lru, then mid
        run.advance(0.5)
        run.do(run.set("c", 7), run.set("d", 8))
        expect_gets(run, {"new": 4, "c": 7, "d": 8, "a": ABSENT, "b": ABSENT},
                    "after two entries expired and two new keys were set (capacity 3)")

    def test_len_counts_live_entries_only(self, impl, sandbox):
        """len(cache) counts the entries live at clock(), not those expired or deleted"""
        run = Run(impl, sandbox, capacity=10, ttl=2.0)
        expect_len(run, 0, "of a new cache")
        run.do(run.set("a", 1, ttl=0.5), run.set("b", 2, ttl=1.0), run.set("c", 3),
               run.set("d", 4, ttl=4.0), run.set("d", 5, ttl=4.0))
        expect_len(run, 4, "after 4 keys were set (d twice)")
        run.advance(0.5)
        expect_len(run, 3, "once 'a' (ttl 0.5) expired, with no get of it")
        run.advance(0.5)
        expect_len(run, 2, "once 'b' (ttl 1.0) expired too")
        run.do(run.delete("d"))
        expect_len(run, 1, "after delete('d')")
        run.advance(1.0)
        expect_len(run, 0, "once every entry expired")

    def test_a_deleted_entry_frees_its_slot(self, impl, sandbox):
        """after delete, a full cache has room again: the next new key evicts nothing"""
        run = Run(impl, sandbox, capacity=2, ttl=100.0)
        run.do(run.set("a", 1), run.set("b", 2), run.delete("a"), run.set("c", 3))
        expect_gets(run, {"b": 2, "c": 3}, "after delete('a') and a new key in capacity 2")

    def test_matches_a_model_with_eviction(self, impl, sandbox):
        """random sets, gets, deletes and clock moves on a small cache give a model's values and len"""
        for seed in range(1000, 1030):
            check_against_model(impl, sandbox, seed, capacity=3)


# -------------------------------------------------------------------------------------- loading
class Loader:
    """The suite's ``load``: records the keys it was called with, returns ``key@n`` (n: its call
    number), raises ``Boom`` while ``failing``, and blocks while ``gate`` is closed. Student code gets
    ``only_callable(loader, "load")``, so it cannot reset the records the test reads."""

    def __init__(self, block=None, failing=False):
        self.calls: list = []
        self.block = block if block is not None else (lambda key: False)
        self.failing = failing
        self.gate = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, key):
        with self._lock:
            self.calls.append(key)
            n = len(self.calls)
        if self.block(key) and not self.gate.wait(30):
            raise RuntimeError("the test never opened the gate")
        if self.failing:
            raise Boom(f"load({key!r}) failed (call {n})")
        return f"{key}@{n}"

    def entered(self, key) -> int:
        with self._lock:
            return self.calls.count(key)


def make_aside(impl, loader, capacity=10, ttl=5.0, start=0.0):
    clock = FakeClock(start)
    cache = impl.TTLCache(capacity, ttl, clock=contract_clock(clock))
    aside = impl.CacheAside(cache, only_callable(loader, "load"))
    replay = (f"clock = FakeClock({start!r}); cache = TTLCache({capacity!r}, {ttl!r}, clock=clock); "
              f"aside = CacheAside(cache, load)")
    return clock, cache, aside, replay


@pytest.mark.part("loading")
class TestLoading:
    def test_a_miss_loads_and_stores_then_a_hit(self, impl):
        """get of a missing key calls load(key) and returns its value; the next get is a hit"""
        loader = Loader()
        _, _, aside, replay = make_aside(impl, loader)
        expect_equal(aside.get("user:1"), "user:1@1", f"{replay}; aside.get('user:1')")
        expect_equal(aside.get("user:1"), "user:1@1", "a second aside.get('user:1') (a hit)")
        expect_equal(loader.calls, ["user:1"], "the keys load was called with, after two gets")

    def test_each_key_is_loaded_with_its_own_key(self, impl):
        """load is called with the key that missed, once per key"""
        loader = Loader()
        _, _, aside, replay = make_aside(impl, loader)
        got = [aside.get(k) for k in ("a", "b", "a", 7, "b", 7)]
        expect_equal(got, ["a@1", "b@2", "a@1", "7@3", "b@2", "7@3"],
                     f"{replay}; [aside.get(k) for k in ('a', 'b', 'a', 7, 'b', 7)]")
        expect_equal(loader.calls, ["a", "b", 7], "the keys load was called with")

    def test_the_value_is_stored_in_the_cache_it_was_given(self, impl):
        """get stores the loaded value in the given cache, and a value set there is a hit"""
        loader = Loader()
        _, cache, aside, replay = make_aside(impl, loader)
        aside.get("k")
        expect_equal(cache.get("k", ABSENT), "k@1", f"{replay}; aside.get('k'); cache.get('k')")
        cache.set("preset", "from elsewhere")
        expect_equal(aside.get("preset"), "from elsewhere",
                     "aside.get('preset') after cache.set('preset', 'from elsewhere')")
        expect_equal(loader.calls, ["k"], "the keys load was called with")
        expect(cache.misses >= 1 and cache.hits >= 1,
               f"aside.get looks the key up in its cache: after a miss and a hit through it, "
               f"cache.hits and cache.misses should both count; got {(cache.hits, cache.misses)}")

    def test_the_stored_value_lives_for_the_caches_ttl(self, impl):
        """a loaded value is stored with the cache's ttl: once it passes, get loads again"""
        loader = Loader()
        clock, _, aside, replay = make_aside(impl, loader, ttl=5.0)
        aside.get("k")
        clock.advance(4.75)
        expect_equal(aside.get("k"), "k@1", f"{replay}; aside.get('k'); clock.advance(4.75); "
                                            "aside.get('k')")
        clock.advance(0.25)
        expect_equal(aside.get("k"), "k@2", "aside.get('k') 5.0 s (the cache's ttl) after the load")

    def test_invalidate_makes_the_next_get_load_again(self, impl):
        """invalidate(key) drops the key: the next get calls load again; other keys stay"""
        loader = Loader()
        _, cache, aside, replay = make_aside(impl, loader)
        aside.get("a"), aside.get("b")
        aside.invalidate("a")
        expect_equal(cache.get("a", ABSENT), ABSENT,
                     f"{replay}; aside.get('a'); aside.get('b'); aside.invalidate('a'); "
                     f"cache.get('a', {ABSENT!r})")
        expect_equal(aside.get("a"), "a@3", "aside.get('a') after invalidate('a')")
        expect_equal(aside.get("b"), "b@2", "aside.get('b') (not invalidated)")
        aside.invalidate("never-loaded")  # nothing to drop: must not raise
        expect_equal(loader.calls, ["a", "b", "a"], "the keys load was called with")

    def test_a_failing_load_raises_and_stores_nothing(self, impl):
        """an error from load reaches the caller; nothing is stored, so the next get loads again"""
        loader = Loader(failing=True)
        _, cache, aside, replay = make_aside(impl, loader)
        with pytest.raises(Boom):
            aside.get("k")
        expect_equal(cache.get("k", ABSENT), ABSENT,
                     f"{replay}; aside.get('k') with load raising; cache.get('k', {ABSENT!r})")
        loader.failing = False
        expect_equal(aside.get("k"), "k@2", "aside.get('k') once load works again")


# -------------------------------------------------------------------------------- single flight
def concurrent_misses(aside, cache, loader, key, n):
    """``n`` threads call aside.get(key) at once; the gated load is released once it was entered
    and every caller has missed in the cache (bounded, ending at once on a second load)."""
    misses_before, entered_before = cache.misses, loader.entered(key)

    def entered():
        return loader.entered(key) - entered_before

    callers = [Background(lambda: aside.get(key)) for _ in range(n)]
    try:
        wait_until(lambda: entered() > 1 or any(c.done for c in callers)
                   or (entered() == 1 and cache.misses - misses_before >= n), SETTLE)
    finally:
        loader.gate.set()
    for caller in callers:
        caller.join(SETTLE)
    return callers


@pytest.mark.part("single_flight")
class TestSingleFlight:
    def test_concurrent_misses_on_one_key_call_load_once(self, impl):
        """8 threads miss one key at once: load runs once and every caller gets its value"""
        loader = Loader(block=lambda key: True)
        _, cache, aside, replay = make_aside(impl, loader)
        callers = concurrent_misses(aside, cache, loader, "hot", 8)
        outcomes = [c.describe() for c in callers]
        expect(loader.calls == ["hot"],
               f"8 threads calling aside.get('hot') at once (load blocked until all had missed) "
               f"should call load once; it was called {len(loader.calls)} times; the callers: "
               f"{sorted(set(outcomes))}\n  set-up: {replay}")
        expect(all(c.done and c.error is None and c.result == "hot@1" for c in callers),
               f"every one of the 8 concurrent aside.get('hot') should return 'hot@1' (the one "
               f"load's value); they: {outcomes}")
        expect_equal(aside.get("hot"), "hot@1", "aside.get('hot') afterwards (stored once)")

    def test_a_second_wave_after_invalidate_loads_once_again(self, impl):
        """single flight holds for every load, not only the first: invalidate, miss again at once"""
        loader = Loader(block=lambda key: True)
        _, cache, aside, replay = make_aside(impl, loader)
        loader.gate.set()
        expect_equal(aside.get("k"), "k@1", f"{replay}; aside.get('k')")
        aside.invalidate("k")
        loader.gate.clear()
        callers = concurrent_misses(aside, cache, loader, "k", 5)
        expect(loader.calls == ["k", "k"] and all(c.result == "k@2" for c in callers),
               f"after aside.invalidate('k'), 5 threads calling aside.get('k') at once should call "
               f"load once more and all get 'k@2'; load ran {len(loader.calls) - 1} more times, and "
               f"the callers: {[c.describe() for c in callers]}")

    def test_a_failing_load_reaches_every_waiter_and_stores_nothing(self, impl):
        """a load that raises: every caller waiting on it gets the error; the next get loads again"""
        loader = Loader(block=lambda key: True, failing=True)
        _, cache, aside, replay = make_aside(impl, loader)
        callers = concurrent_misses(aside, cache, loader, "k", 6)
        outcomes = [c.describe() for c in callers]
        expect(all(c.done and isinstance(c.error, Boom) for c in callers),
               f"6 threads calling aside.get('k') at once, with load raising Boom: every caller "
               f"should get Boom; they: {outcomes}\n  set-up: {replay}")
        expect_equal(cache.get("k", ABSENT), ABSENT, "cache.get('k') after the failed load")
        loader.failing = False
        calls_before = len(loader.calls)
        value = aside.get("k")
        expect(value == f"k@{calls_before + 1}" and len(loader.calls) == calls_before + 1,
               f"after the load failed, aside.get('k') should call load again and return its "
               f"value; it returned {value!r} and load ran {len(loader.calls) - calls_before} times")

    def test_different_keys_load_independently(self, impl):
        """a blocked load of one key does not hold up another key's load, nor a hit"""
        loader = Loader(block=lambda key: key == "slow")
        _, cache, aside, replay = make_aside(impl, loader)
        cache.set("cached", "already here")
        slow = Background(lambda: aside.get("slow"))
        try:
            entered = wait_until(lambda: loader.entered("slow") >= 1 or slow.done, SETTLE)
            expect(entered and not slow.done,
                   f"aside.get('slow') should call load('slow') (which blocks); it {slow.describe()}")
            fast = Background(lambda: aside.get("fast"))
            hit = Background(lambda: aside.get("cached"))
            wait_until(lambda: fast.done and hit.done or slow.done, SETTLE)
            expect(fast.done and fast.result == "fast@2" and not slow.done,
                   f"while load('slow') is blocked, aside.get('fast') should load and return "
                   f"'fast@2'; it {fast.describe()} (loads of different keys must not wait for "
                   f"each other)\n  set-up: {replay}")
            expect(hit.done and hit.result == "already here",
                   f"while load('slow') is blocked, aside.get('cached') (a hit) should return at "
                   f"once; it {hit.describe()}")
        finally:
            loader.gate.set()
        slow.join(SETTLE)
        expect(slow.done and slow.result == "slow@1",
               f"aside.get('slow') once its load was let through: it {slow.describe()}")

    def test_waiters_get_the_value_of_the_load_they_waited_for(self, impl):
        """callers of two keys missing at once: each key loads once, each caller its key's value"""
        loader = Loader(block=lambda key: True)
        _, cache, aside, replay = make_aside(impl, loader)
        misses_before = cache.misses
        callers = {key: [Background(lambda key=key: aside.get(key)) for _ in range(4)]
                   for key in ("x", "y")}
        everyone = callers["x"] + callers["y"]
        try:
            wait_until(lambda: loader.entered("x") > 1 or loader.entered("y") > 1
                       or any(c.done for c in everyone)
                       or (loader.entered("x") == 1 and loader.entered("y") == 1
                           and cache.misses - misses_before >= 8), SETTLE)
        finally:
            loader.gate.set()
        for caller in everyone:
            caller.join(SETTLE)
        expect(sorted(loader.calls) == ["x", "y"],
               f"4 threads on 'x' and 4 on 'y' at once should call load once per key; it was "
               f"called with {sorted(loader.calls)}\n  set-up: {replay}")
        for key in ("x", "y"):
            values = {c.result for c in callers[key]}
            expect(len(values) == 1 and all(c.error is None for c in callers[key])
                   and values.pop().startswith(f"{key}@"),
                   f"the 4 callers of aside.get({key!r}) should all get load({key!r})'s value; they: "
                   f"{[c.describe() for c in callers[key]]}")
