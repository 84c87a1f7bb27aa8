"""Hidden suite for the `write_policies` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with a one-line replay the student can paste into a notebook
cell (`store = RecordingStore(...); cache = WriteBehindCache(store, ...); ...`; `RecordingStore` is
the notebook's helper, with the same arguments as the suite's `Store`) to see it for themselves.

The store is the suite's own object (`Store`), handed over by reference: a plain dict would cross the
channel by value and the student's writes would land in a copy. It offers the student exactly what
a dict-like store offers (`store[key]`, `store[key] = value`, `key in store`, `store.get`); what it
records and when it fails are underscore attributes the channel does not let the student's code
read or set. Every store access is a round trip, so a run holds tens of operations, not thousands;
the calls between two flushes go over in one batch (`sandbox.call_each`), the store's answers coming
back inside it. The clock is a FakeClock handed over as a plain function and never moved: no rule of
the contract depends on time. Random sequences are drawn from a seeded `random.Random` of the suite
and compared with the suite's model; a failure names the seed and replays the sequence.

Readings the grader takes where the contract is silent (the notebook states each one): both caches
evict the least recently used entry, a get or a set counting as a use; a write-through get that read
the store may or may not cache the value (not checked); a cache of dirty entries only may hold more
than `capacity` until a flush (and one more set) lets it evict clean ones; `.dirty` is a snapshot
compared as `set(cache.dirty)`; the order of a flush's writes is free; `clock` is accepted and unused.
"""
# DSP-CANARY-WRITE_POLICIES-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import random

import pytest
from support import contract_clock, expect, for_each_seed

from dspatterns.testing import FakeClock


class StoreDown(ConnectionError):
    """The error the suite's store raises for a write it refuses."""


class Store:
    """The suite's store: a dict-like mapping that records every write it takes (in ``_writes``)
    and every read (in ``_reads``), and refuses a write of a key in ``_failing`` or once it has
    taken ``_writes_left`` more writes (``None``: no limit), raising ``StoreDown``."""

    _rpc_accepts_items = True  # the channel lets student code set items on this object (it is a store)

    def __init__(self, data=None, failing=(), writes_left=None):
        self._data = dict(data or {})
        self._failing = set(failing)
        self._writes_left = writes_left
        self._writes: list[tuple] = []
        self._refused: list = []
        self._reads: list = []

    def __setitem__(self, key, value):
        if key in self._failing or self._writes_left == 0:
            self._refused.append(key)
            raise StoreDown(f"store down: write of {key!r} refused")
        if self._writes_left is not None:
            self._writes_left -= 1
        self._writes.append((key, value))
        self._data[key] = value

    def __getitem__(self, key):
        self._reads.append(key)
        return self._data[key]

    def __contains__(self, key):
        self._reads.append(key)
        return key in self._data

    def get(self, key, default=None):
        self._reads.append(key)
        return self._data.get(key, default)


# ------------------------------------------------------------------------------------- helpers
def outcome_of(outcome):
    """A batch outcome as ("returned", value), ("raised", "StoreDown") for the store's own error,
    or ("raised", "<type>: <message>") for anything else."""
    if not outcome.raised:
        return ("returned", outcome.value)
    error = outcome.error
    if isinstance(error, StoreDown):
        return ("raised", "StoreDown")
    return ("raised", f"{type(error).__name__}: {error}")


def said(result) -> str:
    kind, value = result
    if kind == "returned":
        return f"returned {value!r}"
    return "raised the store's ConnectionError" if value == "StoreDown" else f"raised {value}"


class Run:
    """One cache on one suite store, writing down each step as the code that replays it."""

    def __init__(self, impl, sandbox, kind, capacity, data=None, failing=(), writes_left=None):
        self.sandbox = sandbox
        self.store = Store(data, failing, writes_left)
        args = [repr(dict(data or {}))]
        if failing:
            args.append(f"failing={set(failing)!r}")
        if writes_left is not None:
            args.append(f"writes_left={writes_left!r}")
        self.lines = [f"store = RecordingStore({', '.join(args)})"]
        if kind == "through":
            self.cache = impl.WriteThroughCache(self.store, capacity)
            self.lines.append(f"cache = WriteThroughCache(store, capacity={capacity!r})")
        else:
            self.cache = impl.WriteBehindCache(self.store, capacity, clock=contract_clock(FakeClock()))
            self.lines.append(f"cache = WriteBehindCache(store, capacity={capacity!r}, clock=FakeClock())")
        self.set_fn, self.get_fn = self.cache.set, self.cache.get

    @property
    def replay(self) -> str:
        return "; ".join(self.lines)

    def note(self, line):
        self.lines.append(line)

    # -- the store's behaviour, changed by the suite (the replay says how) ----------------------
    def fail_on(self, *keys):
        self.store._failing = set(keys)
        self.note(f"store.failing = {set(keys)!r}" if keys else "store.failing = set()")

    def allow_writes(self, n):
        self.store._writes_left = n
        self.note(f"store.writes_left = {n!r}")

    def change_behind(self, key, value):
        """The store's value changes without the cache being told (another writer)."""
        self.store._data[key] = value
        self.note(f"store.data[{key!r}] = {value!r}")

    # -- calls -----------------------------------------------------------------------------------
    def calls(self, ops):
        """``ops``: ("set", key, value) / ("get", key), run in one batch; their results in order."""
        batch, lines = [], []
        for op in ops:
            if op[0] == "set":
                batch.append((self.set_fn, (op[1], op[2]), {}))
                lines.append(f"cache.set({op[1]!r}, {op[2]!r})")
            else:
                batch.append((self.get_fn, (op[1],), {}))
                lines.append(f"cache.get({op[1]!r})")
        results = []
        for line, outcome in zip(lines, self.sandbox.call_each(batch)):
            self.note(line)
            results.append((line, outcome_of(outcome), self.replay))
        return results

    def set(self, key, value):
        return self.calls([("set", key, value)])[0]

    def get(self, key):
        return self.calls([("get", key)])[0]

    def flush(self, name="flush"):
        """``cache.flush()`` (or close): (result, the writes the store took during it)."""
        before = len(self.store._writes)
        line = f"cache.{name}()"
        outcome = self.sandbox.call_each([(getattr(self.cache, name), (), {})])[0]
        self.note(line)
        return outcome_of(outcome), self.store._writes[before:]

    def dirty(self) -> set:
        line = "set(cache.dirty)"
        try:
            value = set(self.cache.dirty)
        except Exception as exc:  # noqa: BLE001 - the message says what came out
            raise AssertionError(f"{line} should give the set of dirty keys, but it raised "
                                 f"{type(exc).__name__}: {exc}\n  replay: {self.replay}") from None
        self.note(line)
        return value


def expect_returned(step, value, why: str):
    line, result, replay = step
    expect(result == ("returned", value),
           f"{line} {why}: expected {value!r}, but it {said(result)}\n  replay: {replay}")


def expect_store_error(step, why: str):
    line, result, replay = step
    expect(result == ("raised", "StoreDown"),
           f"{line} {why}: the store raised ConnectionError, which should propagate out of it, "
           f"but it {said(result)}\n  replay: {replay}")


def expect_no_error(step, why: str = ""):
    line, result, replay = step
    expect(result[0] == "returned", f"{line} {why}should not raise, but it {said(result)}\n"
                                    f"  replay: {replay}")


def keyed(writes) -> dict:
    return {key: value for key, value in writes}


# ---------------------------------------------------------------------------- write-through
@pytest.mark.part("write_through")
class TestWriteThrough:
    def test_set_writes_the_store_at_once(self, impl, sandbox):
        """set writes store[key] at once, before it returns, with the value given"""
        run = Run(impl, sandbox, "through", capacity=3)
        seen = []
        for n, (key, value) in enumerate([("a", 1), ("b", 2), ("a", 3), ("c", [4, 5]), ("d", None)]):
            expect_no_error(run.set(key, value))
            seen.append((key, value))
            expect(run.store._writes == seen,
                   f"after {len(seen)} sets the store should have taken {seen}, one write per set, "
                   f"but it took {run.store._writes}\n  replay: {run.replay}")

    def test_failed_set_leaves_the_old_value(self, impl, sandbox):
        """the store refuses a write: set raises its error and get still gives the old value"""
        run = Run(impl, sandbox, "through", capacity=3)
        expect_no_error(run.set("k", "old"))
        run.fail_on("k")
        expect_store_error(run.set("k", "new"), "(the store refuses 'k')")
        expect_returned(run.get("k"), "old", "(the store refused k='new', so the cache must not "
                                             "have taken it)")
        expect(run.store._data == {"k": "old"},
               f"the store should still hold k='old', it holds {run.store._data}\n  replay: {run.replay}")

    def test_failed_set_of_a_new_key_caches_nothing(self, impl, sandbox):
        """a refused write of a key not cached yet: get gives the store's value, not the refused one"""
        run = Run(impl, sandbox, "through", capacity=3, data={"k": "in the store"}, failing={"k"})
        expect_store_error(run.set("k", "refused"), "(the store refuses 'k')")
        expect_returned(run.get("k"), "in the store",
                        "(the refused value must not be cached: get reads the store)")

    def test_store_failing_after_some_writes(self, impl, sandbox):
        """a store that goes down after 2 writes: the first sets succeed, the rest raise and cache nothing"""
        data = {f"k{n}": f"stored {n}" for n in range(5)}
        run = Run(impl, sandbox, "through", capacity=5, data=data, writes_left=2)
        steps = run.calls([("set", f"k{n}", n) for n in range(5)])
        for n, step in enumerate(steps):
            if n < 2:
                expect_no_error(step, "(the store takes 2 writes) ")
            else:
                expect_store_error(step, "(the store took 2 writes and is now down)")
        for n, step in enumerate(run.calls([("get", f"k{n}") for n in range(5)])):
            expect_returned(step, n if n < 2 else f"stored {n}",
                            "(set it succeeded)" if n < 2 else "(its set was refused by the store)")

    def test_get_reads_the_cache_not_the_store(self, impl, sandbox):
        """a key that was set is served from the cache: no store read, even if the store changed since"""
        run = Run(impl, sandbox, "through", capacity=3)
        run.calls([("set", "a", 1), ("set", "b", 2)])
        run.change_behind("a", "changed behind the cache")
        reads = len(run.store._reads)
        expect_returned(run.get("a"), 1, "(a=1 was set through this cache, so it is cached)")
        expect_returned(run.get("b"), 2, "(b=2 was set through this cache)")
        expect(run.store._reads[reads:] == [],
               f"cached keys must be read from the cache, but the store was read for "
               f"{run.store._reads[reads:]}\n  replay: {run.replay}")

    def test_get_of_an_uncached_key_reads_the_store(self, impl, sandbox):
        """a key the cache does not have is read from the store"""
        run = Run(impl, sandbox, "through", capacity=2, data={"x": "from the store", "y": [1, 2]})
        expect_returned(run.get("x"), "from the store", "(not cached, so read from the store)")
        expect_returned(run.get("y"), [1, 2], "(not cached, so read from the store)")
        expect_no_error(run.set("z", 3))
        expect_returned(run.get("z"), 3, "(set through the cache)")

    def test_capacity_keeps_the_most_recent_keys(self, impl, sandbox):
        """capacity 3, six sets: the last three are served from the cache; the first three were evicted"""
        run = Run(impl, sandbox, "through", capacity=3)
        run.calls([("set", f"k{n}", n) for n in range(6)])
        reads = len(run.store._reads)
        for n, step in zip(range(3, 6), run.calls([("get", f"k{n}") for n in range(3, 6)])):
            expect_returned(step, n, "(one of the 3 most recently used keys)")
        expect(run.store._reads[reads:] == [],
               f"the 3 most recently set keys should be cached (capacity 3), but the store was read "
               f"for {run.store._reads[reads:]}\n  replay: {run.replay}")
        run.change_behind("k0", "newer")
        expect_returned(run.get("k0"), "newer", "(k0 is the least recently used of 6 keys in a cache "
                                                "of capacity 3: it was evicted, so get reads the store)")

    def test_a_get_counts_as_a_use(self, impl, sandbox):
        """LRU: a get makes a key recently used, so the next eviction takes the other one"""
        run = Run(impl, sandbox, "through", capacity=2)
        run.calls([("set", "a", 1), ("set", "b", 2), ("get", "a"), ("set", "c", 3)])
        run.change_behind("a", "a in the store")
        run.change_behind("b", "b in the store")
        expect_returned(run.get("a"), 1, "(a was used by the get after b was set, so b was the "
                                         "least recently used when c came in: a is still cached)")
        expect_returned(run.get("b"), "b in the store", "(b was the least recently used key when "
                                                        "c came in, so it was evicted)")

    def test_random_sequences(self, impl, sandbox):
        """random sets and gets, with the store refusing some keys at times, agree with a model"""
        for_each_seed(range(40), lambda seed: self._test_random_sequences_seed(impl, sandbox, seed))

    def _test_random_sequences_seed(self, impl, sandbox, seed):
        rng = random.Random(seed)
        keys = [f"k{n}" for n in range(5)]
        data = {key: f"initial {key}" for key in keys}
        run = Run(impl, sandbox, "through", capacity=rng.choice([1, 2, 3]), data=data)
        model = dict(data)
        counter = 0
        for _ in range(4):
            failing = set(rng.sample(keys, rng.choice([0, 0, 1, 2])))
            if failing != run.store._failing:
                run.fail_on(*sorted(failing))
            ops = []
            for _ in range(8):
                counter += 1
                ops.append(("set", rng.choice(keys), counter) if rng.random() < 0.5
                           else ("get", rng.choice(keys)))
            for op, step in zip(ops, run.calls(ops)):
                where = f"(seed {seed}; the store refuses {sorted(failing)})"
                if op[0] == "get":
                    expect_returned(step, model[op[1]], f"{where}: the latest value the store took")
                elif op[1] in failing:
                    expect_store_error(step, where)
                else:
                    expect_no_error(step, f"{where} ")
                    model[op[1]] = op[2]
            expect(run.store._data == model,
                   f"(seed {seed}) the store should hold {model}, it holds {run.store._data}\n"
                   f"  replay: {run.replay}")


# ---------------------------------------------------------------------------- coalescing
@pytest.mark.part("coalescing")
class TestCoalescing:
    def test_set_does_not_write_the_store(self, impl, sandbox):
        """a write-behind set only updates the cache: the store is not written before a flush"""
        run = Run(impl, sandbox, "behind", capacity=10)
        for step in run.calls([("set", "a", 1), ("set", "b", 2), ("set", "a", 3)]):
            expect_no_error(step)
        expect(run.store._writes == [],
               f"set must not write the store (that is flush's job), but the store took "
               f"{run.store._writes}\n  replay: {run.replay}")
        expect_returned(run.get("a"), 3, "(the latest value set, from the cache)")

    def test_many_sets_one_write_of_the_latest(self, impl, sandbox):
        """twenty sets of one key: flush writes it once, with the last value, and returns 1"""
        run = Run(impl, sandbox, "behind", capacity=4)
        run.calls([("set", "counter", n) for n in range(20)])
        result, writes = run.flush()
        expect(result == ("returned", 1),
               f"cache.flush() after 20 sets of one key should return 1 (one key written), but it "
               f"{said(result)}\n  replay: {run.replay}")
        expect(writes == [("counter", 19)],
               f"flush should write counter once, with its latest value 19; the store took "
               f"{writes}\n  replay: {run.replay}")

    def test_flush_returns_the_number_of_keys_written(self, impl, sandbox):
        """flush writes each dirty key once with its latest value and returns how many it wrote"""
        run = Run(impl, sandbox, "behind", capacity=10)
        ops = [("set", key, n) for n, key in enumerate("abcabcaddb")]
        run.calls(ops)
        latest = {op[1]: op[2] for op in ops}
        result, writes = run.flush()
        expect(result == ("returned", 4),
               f"4 keys were dirty (a, b, c, d), so cache.flush() should return 4, but it "
               f"{said(result)}\n  replay: {run.replay}")
        expect(sorted(writes) == sorted(latest.items()),
               f"flush should write each dirty key once with its latest value {latest} (in any "
               f"order), but the store took {writes}\n  replay: {run.replay}")

    def test_flush_with_nothing_dirty(self, impl, sandbox):
        """a flush with no dirty key writes nothing and returns 0, a second flush too"""
        run = Run(impl, sandbox, "behind", capacity=3)
        for attempt in ("on a new cache", "after a flush"):
            result, writes = run.flush()
            expect(result == ("returned", 0) and not writes,
                   f"cache.flush() {attempt} should write nothing and return 0, but it "
                   f"{said(result)} and the store took {writes}\n  replay: {run.replay}")
            run.calls([("set", "a", 1)])
            run.flush()

    def test_dirty_after_sets_and_flushes(self, impl, sandbox):
        """.dirty: empty at first, the keys set since the last flush, empty after a flush"""
        run = Run(impl, sandbox, "behind", capacity=10)
        for ops, want in (([], set()), ([("set", "a", 1)], {"a"}), ([("set", "b", 2), ("set", "a", 3)], {"a", "b"}),
                          ("flush", set()), ([("set", "c", 4)], {"c"}), ([("get", "a")], {"c"}),
                          ("flush", set()), ("flush", set())):
            if ops == "flush":
                run.flush()
            else:
                run.calls(ops)
            got = run.dirty()
            expect(got == want, f"set(cache.dirty) should be {want}, got {got}\n  replay: {run.replay}")

    def test_flushed_values_are_read_back(self, impl, sandbox):
        """after a flush, get still gives the latest values; a new set makes the key dirty again"""
        run = Run(impl, sandbox, "behind", capacity=3)
        run.calls([("set", "a", 1), ("set", "a", 2), ("set", "b", 3)])
        run.flush()
        for key, want, step in zip("ab", (2, 3), run.calls([("get", "a"), ("get", "b")])):
            expect_returned(step, want, f"(the latest value of {key}, flushed)")
        run.calls([("set", "a", 4)])
        result, writes = run.flush()
        expect(result == ("returned", 1) and writes == [("a", 4)],
               f"only a is dirty again, so the flush should write a=4 and return 1, but it "
               f"{said(result)} and the store took {writes}\n  replay: {run.replay}")

    def test_caches_are_independent(self, impl, sandbox):
        """two write-behind caches keep their own dirty keys (nothing kept on the class)"""
        first = Run(impl, sandbox, "behind", capacity=3)
        first.calls([("set", "a", 1)])
        second = Run(impl, sandbox, "behind", capacity=3)
        expect(second.dirty() == set(), f"a new cache has no dirty keys, even after another cache's "
                                        f"set\n  replay: {first.replay}; {second.replay}")
        result, writes = second.flush()
        expect(result == ("returned", 0) and not writes,
               f"a new cache's flush should write nothing to its store, but it {said(result)} and "
               f"the store took {writes}\n  replay: {first.replay}; {second.replay}")

    def test_random_sequences(self, impl, sandbox):
        """random sets, gets and flushes agree with a model: each flush writes each dirty key once"""
        for_each_seed(range(40), lambda seed: self._test_random_sequences_seed(impl, sandbox, seed))

    def _test_random_sequences_seed(self, impl, sandbox, seed):
        drive_behind(impl, sandbox, seed, capacity=8, failures=False,
                     checks={"values", "flush", "dirty"})


# ---------------------------------------------------------------------------- the model
def drive_behind(impl, sandbox, seed, *, capacity, failures, checks, keys=5, rounds=5):
    """A random sequence against a WriteBehindCache and the suite's model of it.

    The model keeps each key's latest acknowledged value and the set of dirty keys. Between flushes
    come a few sets and gets (one batch); a flush may meet a store that refuses some keys or goes
    down after some writes. ``checks`` says which clauses this part grades: "values" (get gives the
    latest value), "flush" (a flush that succeeds writes each dirty key once, latest value, and
    returns the count; no set writes the store), "failures" (a flush the store failed raises its
    error; it wrote only dirty keys, each once, latest value), "dirty" (``.dirty`` after each
    flush), "close" (after close() the store holds every key's latest value)."""
    rng = random.Random(seed)
    names = [f"k{n}" for n in range(keys)]
    data = {key: f"initial {key}" for key in names}
    run = Run(impl, sandbox, "behind", capacity=capacity, data=data)
    latest, dirty, counter = dict(data), set(), 0
    where = f"(seed {seed})"
    for _ in range(rounds):
        ops = []
        for _ in range(rng.randint(2, 8)):
            counter += 1
            ops.append(("set", rng.choice(names), counter) if rng.random() < 0.6
                       else ("get", rng.choice(names)))
        before = len(run.store._writes)
        for op, step in zip(ops, run.calls(ops)):
            if op[0] == "set":
                expect_no_error(step, f"{where} ")
                latest[op[1]] = op[2]
                dirty.add(op[1])
            elif "values" in checks:
                expect_returned(step, latest[op[1]], f"{where}: the latest value set")
        if "flush" in checks:
            expect(len(run.store._writes) == before,
                   f"{where} sets and gets must not write the store, but it took "
                   f"{run.store._writes[before:]}\n  replay: {run.replay}")
        refuses = set()
        if failures and rng.random() < 0.6:
            if rng.random() < 0.5:
                refuses = set(rng.sample(names, rng.randint(1, 2)))
                run.fail_on(*sorted(refuses))
            else:
                run.allow_writes(rng.randint(0, max(0, len(dirty) - 1)))
        attempts = len(run.store._refused)
        result, writes = run.flush()
        refused = len(run.store._refused) > attempts
        if failures:
            run.fail_on()
            run.allow_writes(None)
        written = [key for key, _ in writes]
        pending = {key: latest[key] for key in sorted(dirty)}
        if refused and "failures" in checks:
            expect(result == ("raised", "StoreDown"),
                   f"{where} the store refused a write during cache.flush(): its ConnectionError "
                   f"should propagate out of flush, but flush {said(result)}\n  replay: {run.replay}")
        if refused and {"failures", "flush"} & checks:
            expect(set(written) <= dirty and len(written) == len(set(written))
                   and all(latest[key] == value for key, value in writes),
                   f"{where} a flush writes only dirty keys {sorted(dirty)}, each once, with its "
                   f"latest value {pending}; the store took "
                   f"{writes}\n  replay: {run.replay}")
        if not refused and "flush" in checks:
            expect(result == ("returned", len(dirty)),
                   f"{where} {len(dirty)} keys were dirty, so cache.flush() should return "
                   f"{len(dirty)}, but it {said(result)}\n  replay: {run.replay}")
            expect(sorted(writes) == sorted((key, latest[key]) for key in dirty),
                   f"{where} flush should write each dirty key once with its latest value "
                   f"{pending}; the store took {writes}\n"
                   f"  replay: {run.replay}")
        dirty -= set(written)
        if not refused:
            dirty = set()  # every dirty key was written (checked above where it is graded)
        if "dirty" in checks:
            got = run.dirty()
            expect(got == dirty,
                   f"{where} after that flush (the store took {writes}), set(cache.dirty) should "
                   f"be {dirty}: written keys clean, the others still dirty; got {got}\n"
                   f"  replay: {run.replay}")
    if "close" in checks:
        result, writes = run.flush("close")
        expect(result[0] == "returned",
               f"{where} cache.close() with a working store should not raise, but it "
               f"{said(result)}\n  replay: {run.replay}")
        expect(run.store._data == latest,
               f"{where} after close() the store should hold every key's latest value {latest}, "
               f"it holds {run.store._data}\n  replay: {run.replay}")


# ---------------------------------------------------------------------------- failures
@pytest.mark.part("failures")
class TestFailures:
    def test_flush_raises_the_store_error(self, impl, sandbox):
        """the store refuses a write during flush: the store's error propagates out of flush"""
        run = Run(impl, sandbox, "behind", capacity=5, failing={"b"})
        run.calls([("set", "a", 1), ("set", "b", 2)])
        result, _ = run.flush()
        expect(result == ("raised", "StoreDown"),
               f"the store refused b, so cache.flush() should raise the store's ConnectionError, "
               f"but it {said(result)}\n  replay: {run.replay}")

    def test_written_keys_clean_the_rest_dirty(self, impl, sandbox):
        """a failed flush: every key written is clean, every key not written stays dirty"""
        keys = [f"k{n}" for n in range(6)]
        run = Run(impl, sandbox, "behind", capacity=10, failing={"k2", "k4"})
        run.calls([("set", key, n) for n, key in enumerate(keys)])
        run.flush()
        written = {key for key, _ in run.store._writes}
        expect(not written & {"k2", "k4"}, f"the store refused k2 and k4, so they cannot have been "
                                           f"written\n  replay: {run.replay}")
        got = run.dirty()
        expect(got == set(keys) - written,
               f"the store took {run.store._writes}: those keys are clean and the rest dirty, so "
               f"set(cache.dirty) should be {set(keys) - written}, got {got}\n  replay: {run.replay}")

    def test_store_down_after_some_writes(self, impl, sandbox):
        """the store goes down after 2 of 5 writes: those 2 are clean, 3 stay dirty; the next flush writes 3"""
        keys = [f"k{n}" for n in range(5)]
        run = Run(impl, sandbox, "behind", capacity=10, writes_left=2)
        run.calls([("set", key, n) for n, key in enumerate(keys)])
        result, writes = run.flush()
        expect(result == ("raised", "StoreDown") and len(writes) == 2,
               f"the store takes 2 writes and then refuses: cache.flush() should write 2 keys and "
               f"raise its ConnectionError, but it {said(result)} after writes {writes}\n"
               f"  replay: {run.replay}")
        got = run.dirty()
        expect(got == set(keys) - set(keyed(writes)),
               f"the 2 written keys are clean, the other 3 dirty: set(cache.dirty) should be "
               f"{set(keys) - set(keyed(writes))}, got {got}\n  replay: {run.replay}")
        run.allow_writes(None)
        result, more = run.flush()
        expect(result == ("returned", 3) and sorted(more) == sorted(
                   (key, n) for n, key in enumerate(keys) if key not in keyed(writes)),
               f"the store is up again: the next flush should write the 3 keys still dirty, each "
               f"with its value, and return 3, but it {said(result)} and the store took {more}\n"
               f"  replay: {run.replay}")

    def test_unwritten_keys_keep_their_latest_values(self, impl, sandbox):
        """keys a failed flush did not write keep their latest values, in get and in the next flush"""
        run = Run(impl, sandbox, "behind", capacity=10, failing={"a", "b"})
        run.calls([("set", "a", 1), ("set", "a", 2), ("set", "b", 3), ("set", "c", 4)])
        run.flush()
        for key, want, step in zip("abc", (2, 3, 4), run.calls([("get", k) for k in "abc"])):
            expect_returned(step, want, f"(the latest value of {key}; the failed flush must not "
                                        f"lose or roll it back)")
        run.fail_on()
        run.flush()
        expect(run.store._data == {"a": 2, "b": 3, "c": 4},
               f"once the store is up, a flush writes the dirty keys' latest values; the store "
               f"holds {run.store._data}\n  replay: {run.replay}")

    def test_set_after_a_failed_flush_replaces_the_pending_value(self, impl, sandbox):
        """a set of a key left dirty by a failed flush: the next flush writes the newer value, once"""
        run = Run(impl, sandbox, "behind", capacity=5, failing={"k"})
        run.calls([("set", "k", "first")])
        run.flush()
        run.calls([("set", "k", "second")])
        got = run.dirty()
        expect(got == {"k"}, f"k is still dirty, so set(cache.dirty) should be {{'k'}}, got {got}\n"
                             f"  replay: {run.replay}")
        run.fail_on()
        result, writes = run.flush()
        expect(result == ("returned", 1) and writes == [("k", "second")],
               f"the next flush should write k once with its newest value 'second' and return 1, "
               f"but it {said(result)} and the store took {writes}\n  replay: {run.replay}")

    def test_repeated_failures_then_recovery(self, impl, sandbox):
        """three failed flushes in a row, sets in between, then a working store: nothing is lost"""
        run = Run(impl, sandbox, "behind", capacity=10, writes_left=0)
        latest = {}
        for n in range(3):
            ops = [("set", f"k{(n + i) % 4}", 10 * n + i) for i in range(3)]
            run.calls(ops)
            latest.update({op[1]: op[2] for op in ops})
            result, _ = run.flush()
            expect(result == ("raised", "StoreDown"),
                   f"the store is down, so cache.flush() should raise its ConnectionError, but it "
                   f"{said(result)}\n  replay: {run.replay}")
            got = run.dirty()
            expect(got == set(latest), f"nothing was written, so every key set stays dirty: "
                                       f"{set(latest)}, got {got}\n  replay: {run.replay}")
        run.allow_writes(None)
        result, writes = run.flush()
        expect(result == ("returned", len(latest)) and keyed(writes) == latest and len(writes) == len(latest),
               f"the store is up: flush should write each key once with its latest value {latest} "
               f"and return {len(latest)}, but it {said(result)} and the store took {writes}\n"
               f"  replay: {run.replay}")

    def test_random_sequences_with_a_failing_store(self, impl, sandbox):
        """random sets, gets and flushes, the store refusing keys or going down, agree with a model"""
        for_each_seed(range(50), lambda seed:
                      self._test_random_sequences_with_a_failing_store_seed(impl, sandbox, seed))

    def _test_random_sequences_with_a_failing_store_seed(self, impl, sandbox, seed):
        drive_behind(impl, sandbox, seed, capacity=8, failures=True,
                     checks={"values", "failures", "dirty"})


# ---------------------------------------------------------------------------- durability
@pytest.mark.part("durability")
class TestDurability:
    def test_dirty_entries_are_never_evicted(self, impl, sandbox):
        """eight dirty keys in a cache of capacity 2: each still reads its latest value"""
        run = Run(impl, sandbox, "behind", capacity=2)
        ops = [("set", f"k{n % 8}", n) for n in range(12)]
        run.calls(ops)
        latest = {op[1]: op[2] for op in ops}
        for key, step in zip(sorted(latest), run.calls([("get", key) for key in sorted(latest)])):
            expect_returned(step, latest[key], "(a dirty entry is never evicted before it is "
                                               "written, so its value is still there)")

    def test_flush_writes_every_dirty_entry_of_a_full_cache(self, impl, sandbox):
        """a cache of capacity 2 holding eight dirty keys: flush writes all eight"""
        run = Run(impl, sandbox, "behind", capacity=2)
        run.calls([("set", f"k{n}", n) for n in range(8)])
        result, writes = run.flush()
        want = {f"k{n}": n for n in range(8)}
        expect(keyed(writes) == want and len(writes) == 8,
               f"none of the 8 dirty keys may be dropped: flush should write {want}, the store "
               f"took {writes} (flush {said(result)})\n  replay: {run.replay}")

    def test_eviction_waits_for_the_flush_then_happens(self, impl, sandbox):
        """the cache grows past capacity only for dirty entries: after a flush and a set it evicts clean ones"""
        run = Run(impl, sandbox, "behind", capacity=2)
        run.calls([("set", f"k{n}", n) for n in range(5)])
        run.flush()
        run.calls([("set", "k5", 5)])
        for n in range(5):
            run.change_behind(f"k{n}", f"store {n}")
        reads = len(run.store._reads)
        steps = run.calls([("get", f"k{n}") for n in range(5)])
        from_store = [n for n, step in enumerate(steps) if step[1] == ("returned", f"store {n}")]
        expect(len(from_store) >= 4 and len(run.store._reads) > reads,
               f"after the flush every entry is clean, so with capacity 2 and k5 set since, at most "
               f"one of k0..k4 may still be cached; {len(from_store)} of them were read from the "
               f"store\n  replay: {run.replay}")

    def test_clean_entries_go_least_recently_used_first(self, impl, sandbox):
        """LRU among clean entries: a get makes a key recently used, so a new key evicts the other one"""
        run = Run(impl, sandbox, "behind", capacity=2)
        run.calls([("set", "a", 1), ("set", "b", 2)])
        run.flush()
        run.calls([("get", "a"), ("set", "c", 3)])
        run.flush()
        run.change_behind("a", "a in the store")
        run.change_behind("b", "b in the store")
        expect_returned(run.get("a"), 1, "(a was used by the get after b was set, so b was the "
                                         "least recently used clean entry when c came in: a is "
                                         "still cached)")
        expect_returned(run.get("b"), "b in the store", "(b was the least recently used clean "
                                                        "entry when c came in, so it was evicted)")

    def test_close_writes_every_acknowledged_set(self, impl, sandbox):
        """close writes every key's latest value to the store and leaves nothing dirty"""
        run = Run(impl, sandbox, "behind", capacity=3)
        ops = [("set", f"k{n % 5}", n) for n in range(13)]
        run.calls(ops)
        result, _ = run.flush("close")
        latest = {op[1]: op[2] for op in ops}
        expect(result[0] == "returned" and run.store._data == latest,
               f"after cache.close() the store should hold every key's latest value {latest}, it "
               f"holds {run.store._data} (close {said(result)})\n  replay: {run.replay}")
        got = run.dirty()
        expect(got == set(), f"after close() nothing is dirty; set(cache.dirty) is {got}\n"
                             f"  replay: {run.replay}")

    def test_close_after_a_failed_flush(self, impl, sandbox):
        """a flush fails, the store recovers, close writes what the failed flush left"""
        run = Run(impl, sandbox, "behind", capacity=2, writes_left=1)
        run.calls([("set", f"k{n}", n) for n in range(4)] + [("set", "k0", "newest")])
        run.flush()
        run.allow_writes(None)
        result, _ = run.flush("close")
        want = {"k0": "newest", "k1": 1, "k2": 2, "k3": 3}
        expect(result[0] == "returned" and run.store._data == want,
               f"close should write whatever the failed flush left, so the store holds {want}; it "
               f"holds {run.store._data} (close {said(result)})\n  replay: {run.replay}")

    def test_close_raises_when_the_store_is_down(self, impl, sandbox):
        """close with the store down raises its error and keeps the keys dirty for a later flush"""
        run = Run(impl, sandbox, "behind", capacity=3, failing={"a"})
        run.calls([("set", "a", 1)])
        result, _ = run.flush("close")
        expect(result == ("raised", "StoreDown"),
               f"the store refused a: close flushes, so its ConnectionError should propagate, but "
               f"close {said(result)}\n  replay: {run.replay}")
        got = run.dirty()
        expect(got == {"a"}, f"a was not written, so it stays dirty; set(cache.dirty) is {got}\n"
                             f"  replay: {run.replay}")

    def test_random_sequences_lose_nothing(self, impl, sandbox):
        """random sets, gets and flushes in a tiny cache, then close: every latest value in the store"""
        for_each_seed(range(40), lambda seed: self._test_random_sequences_lose_nothing_seed(impl, sandbox, seed))

    def _test_random_sequences_lose_nothing_seed(self, impl, sandbox, seed):
        drive_behind(impl, sandbox, seed, capacity=1 + seed % 2, failures=seed % 3 == 0,
                     checks={"values", "close"}, keys=6)

