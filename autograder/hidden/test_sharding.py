"""Hidden suite for the `sharding` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the inputs (and seeds) that show it, and a line the
student can paste into their notebook to see it for themselves.

Nothing here waits or races: every check compares outputs with the suite's own expectations, so
calls made many times with plain data go in one batch (`sandbox.batch`, `sandbox.call_each`).
Expected placements under the default router are computed with the student's *own* `shard_of`
(the contract fixes its properties, not its hash), so a store is graded on using it consistently.
Routers and predicates the suite hands the store are its own plain functions: each call is a round
trip, so the stores that use them hold tens of keys, not thousands.

The uniformity check is a chi-square test on fixed keys from seeded generators. Its bound is set
where a truly uniform hash would exceed it with probability below 1e-9 (a Chernoff bound, no
tables), so a correct `shard_of` never fails it, while routing by length or first character always
does.
"""
# DSP-CANARY-SHARDING-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import expect, expect_equal, returned

FALSE_ALARM = 1e-9  # the chance a uniform hash fails the chi-square check
OTHER_HASH_SEED = 4242  # PYTHONHASHSEED of the second process (the main sandbox runs with 0)


# ------------------------------------------------------------------------------------- helpers
def user_keys(seed: int, count: int) -> list[str]:
    """Keys like production ids: ``user-<random number>``, from ``random.Random(seed)``."""
    rng = random.Random(seed)
    return [f"user-{rng.randrange(10**9)}" for _ in range(count)]


def user_keys_code(seed: int, count: int) -> str:
    """The Python that rebuilds ``user_keys(seed, count)`` in the student's notebook."""
    return (f"rng = random.Random({seed}); keys = [f'user-{{rng.randrange(10**9)}}' "
            f"for _ in range({count})]")


def email_keys(seed: int, count: int) -> list[str]:
    """Keys sharing a long suffix, as e-mail addresses do: ``customer<number>@example.com``."""
    rng = random.Random(seed)
    return [f"customer{rng.randrange(10**9)}@example.com" for _ in range(count)]


def email_keys_code(seed: int, count: int) -> str:
    return (f"rng = random.Random({seed}); keys = [f'customer{{rng.randrange(10**9)}}@example.com' "
            f"for _ in range({count})]")


def order_keys(count: int, start: int = 0) -> list[str]:
    """Sequential keys, ``order-0``, ``order-1``, ...: what auto-increment ids look like."""
    return [f"order-{i}" for i in range(start, start + count)]


ODD_KEYS = ["", "a", "é", "日本語", "key with spaces", "x" * 300, "0", "-1", "None", "🙂"]


def all_returned(sandbox, function, argument_lists) -> list:
    """``function(*args)`` for each ``args``, in one batch, as values (the first exception raised,
    as calling one at a time would have). The first call goes alone: code that raises on every
    call (the untouched stub) then fails at once instead of sending back thousands of tracebacks."""
    first = returned(sandbox.batch(function, argument_lists[:1]))
    return first + returned(sandbox.batch(function, argument_lists[1:])) if argument_lists[1:] else first


def shards(sandbox, impl, keys, num_shards) -> list:
    """The student's ``shard_of(key, num_shards)`` for every key, in one round trip."""
    return all_returned(sandbox, impl.shard_of, [(key, num_shards) for key in keys])


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sizes_of(store, num_shards, what) -> list[int]:
    """``store.shard_sizes()`` as a list, after checking it is one count per shard."""
    sizes = store.shard_sizes()
    expect(isinstance(sizes, (list, tuple)) and len(sizes) == num_shards
           and all(is_int(s) for s in sizes),
           f"{what}: shard_sizes() should be a list of {num_shards} counts (one per shard, shard 0 "
           f"first, empty shards included), got {sizes!r}")
    return list(sizes)


def expected_sizes(indices, num_shards) -> list[int]:
    counts = Counter(indices)
    return [counts.get(i, 0) for i in range(num_shards)]


def filled(impl, sandbox, num_shards, items, router=None):
    """A store with ``items`` (a dict) put into it in one round trip."""
    store = impl.ShardedStore(num_shards) if router is None else impl.ShardedStore(num_shards, router)
    all_returned(sandbox, store.put, list(items.items()))
    return store


def values_read(sandbox, store, keys) -> list:
    """``store.get(key)`` for every key, in one round trip (the outcomes, errors included)."""
    return sandbox.batch(store.get, [(key,) for key in keys])


def expect_all_readable(sandbox, store, items: dict, what: str) -> None:
    """Every key of ``items`` reads back with its value."""
    outcomes = values_read(sandbox, store, list(items))
    wrong = [(key, outcome) for key, outcome in zip(items, outcomes)
             if outcome.raised or outcome.value != items[key]
             or type(outcome.value) is not type(items[key])]
    expect(not wrong, f"{what}: every key should read back with its value; {len(wrong)} of "
                      f"{len(items)} did not, e.g. " + "; ".join(
                          f"get({key!r}) should return {items[key]!r}, "
                          f"{describe(outcome)}" for key, outcome in wrong[:3]))


def describe(outcome) -> str:
    if outcome.raised:
        return f"raised {type(outcome.error).__name__}({outcome.error})"
    return f"returned {outcome.value!r}"


def raised(outcome, error_type) -> bool:
    return outcome.raised and isinstance(outcome.error, error_type)


class Table:
    """A router: a plain lookup in a dict the suite made (``key -> shard``)."""

    def __init__(self, table: dict):
        self.table = dict(table)

    def router(self):
        table = self.table

        def route(key):
            return table[key]
        return route


def table_router(table: dict):
    return Table(table).router()


def chi_square(counts) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


def chi_square_bound(degrees: int, false_alarm: float = FALSE_ALARM) -> float:
    """The x above which a chi-square variable with ``degrees`` degrees of freedom lies with
    probability below ``false_alarm``, by the Chernoff bound P(X >= x) <= (x/k)^(k/2) e^((k-x)/2)."""
    k = degrees

    def log_tail(x):
        return (k / 2) * math.log(x / k) - (x - k) / 2

    low, high = float(k), 10.0 * k + 200.0
    for _ in range(200):
        middle = (low + high) / 2
        if log_tail(middle) > math.log(false_alarm):
            low = middle
        else:
            high = middle
    return high


# ------------------------------------------------------------------------------------ shard_of
@pytest.mark.part("shard_of")
class TestShardOf:
    def test_in_range_for_every_count(self, impl, sandbox):
        """shard_of(key, n) is an int from 0 to n - 1, for n = 1 to 40 and for large n"""
        keys = user_keys(1, 40) + ODD_KEYS
        counts = list(range(1, 41)) + [97, 1000, 2**20, 2**40]
        calls = [(key, n) for n in counts for key in keys]
        results = all_returned(sandbox, impl.shard_of, calls)
        bad = [(key, n, got) for (key, n), got in zip(calls, results)
               if not (is_int(got) and 0 <= got < n)]
        expect(not bad, f"shard_of(key, n) should be an int in [0, n); {len(bad)} of {len(calls)} "
                        f"calls were not, e.g. " + "; ".join(
                            f"shard_of({key!r}, {n}) returned {got!r}" for key, n, got in bad[:3]))

    def test_one_shard_is_always_zero(self, impl, sandbox):
        """with a single shard every key goes to shard 0"""
        keys = user_keys(2, 200) + ODD_KEYS
        got = shards(sandbox, impl, keys, 1)
        wrong = [(k, g) for k, g in zip(keys, got) if g != 0 or not is_int(g)]
        expect(not wrong, "shard_of(key, 1) should be 0 for every key, got "
                          + ", ".join(f"shard_of({k!r}, 1) = {g!r}" for k, g in wrong[:3]))

    def test_same_key_same_shard(self, impl, sandbox):
        """asking again gives the same shard: shard_of depends on the key and the count only"""
        keys = user_keys(3, 300)
        first, second = shards(sandbox, impl, keys, 11), shards(sandbox, impl, keys, 11)
        differ = [(k, a, b) for k, a, b in zip(keys, first, second) if a != b]
        expect(not differ, "shard_of(key, 11) asked twice should give the same shard, got "
                           + "; ".join(f"{a!r} then {b!r} for {k!r}" for k, a, b in differ[:3]))

    def test_same_in_another_process(self, impl, sandbox):
        """the same shards in a second process with another PYTHONHASHSEED (no built-in hash())"""
        keys = user_keys(4, 300) + order_keys(100) + ODD_KEYS
        counts = (2, 7, 16, 1000)
        calls = [(key, n) for n in counts for key in keys]
        here = all_returned(sandbox, impl.shard_of, calls)
        # The second process is asked in the opposite order: a shard_of that numbers keys as it
        # first sees them is stable in one process, and must not pass for being asked alike.
        with sandbox.another_process(hash_seed=OTHER_HASH_SEED) as other:
            there = all_returned(sandbox, other.shard_of, calls[::-1])[::-1]
        differ = [(key, n, a, b) for (key, n), a, b in zip(calls, here, there) if a != b]
        expect(not differ,
               f"shard_of must give the same shard in every process, but {len(differ)} of "
               f"{len(calls)} answers changed when your code ran again in a process started with "
               f"PYTHONHASHSEED={OTHER_HASH_SEED} (the first ran with PYTHONHASHSEED=0), e.g. "
               + "; ".join(f"shard_of({k!r}, {n}) was {a!r}, then {b!r}" for k, n, a, b in differ[:3])
               + ". Python's built-in hash() of a str changes from one process to the next, and so "
                 "does anything a process remembers (keys numbered as they come); hash the key's "
                 "bytes with hashlib (or zlib.crc32) instead. Replay: "
                 f"print(shard_of({differ[0][0]!r}, {differ[0][1]})), then restart the kernel and "
                 "run it again (each kernel starts with its own hash seed)" if differ else "")

    def test_different_keys_spread_over_every_shard(self, impl, sandbox):
        """different keys do spread: 2000 keys reach every one of 2 to 32 shards"""
        keys = user_keys(5, 2000)
        for n in (2, 3, 5, 8, 32):
            got = shards(sandbox, impl, keys, n)
            sizes = expected_sizes(got, n)
            empty = [i for i, size in enumerate(sizes) if size == 0]
            expect(not empty, f"shard_of(key, {n}) over 2000 keys ({user_keys_code(5, 2000)}) "
                              f"should reach every shard; shards {empty} got no key (keys per "
                              f"shard: {sizes})")

    @pytest.mark.parametrize("family", ["user", "email", "order"])
    def test_close_to_uniform(self, impl, sandbox, family):
        """close to uniform: a chi-square test on 6000 seeded keys, for 8 and 13 shards"""
        count = 6000
        if family == "user":
            seed = 2718
            keys, code = user_keys(seed, count), user_keys_code(seed, count)
        elif family == "email":
            seed = 1618
            keys, code = email_keys(seed, count), email_keys_code(seed, count)
        else:
            keys, code = order_keys(count), f"keys = [f'order-{{i}}' for i in range({count})]"
        for n in (8, 13):
            got = shards(sandbox, impl, keys, n)
            sizes = expected_sizes(got, n)
            statistic, bound = chi_square(sizes), chi_square_bound(n - 1)
            expect(statistic <= bound,
                   f"shard_of(key, {n}) over {count} keys ({code}) should put about "
                   f"{count / n:.0f} keys on each shard; it put {sizes}. The chi-square statistic is "
                   f"{statistic:.1f}, and a uniform hash exceeds {bound:.1f} with probability below "
                   f"{FALSE_ALARM:g}. Replay: {code}; "
                   f"print(collections.Counter(shard_of(k, {n}) for k in keys))")

    @pytest.mark.parametrize("num_shards", [0, -1, -8])
    def test_fewer_than_one_shard_raises_value_error(self, impl, num_shards):
        """shard_of(key, n) with n < 1 raises ValueError (there is no shard to return)"""
        try:
            got = impl.shard_of("user-1", num_shards)
        except ValueError:
            return
        raise AssertionError(f"shard_of('user-1', {num_shards}) should raise ValueError, "
                             f"returned {got!r}")


# --------------------------------------------------------------------------------------- store
@pytest.mark.part("store")
class TestStore:
    def test_put_then_get(self, impl, sandbox):
        """put(key, value) then get(key) returns the value, for hundreds of keys on 5 shards"""
        keys = user_keys(10, 300)
        kinds = [lambda i: i, lambda i: f"v{i}", lambda i: [i, i + 1], lambda i: {"n": i},
                 lambda i: i / 4, lambda i: (i, "t")]
        items = {key: kinds[i % len(kinds)](i) for i, key in enumerate(keys)}
        store = filled(impl, sandbox, 5, items)
        expect_all_readable(sandbox, store, items, "ShardedStore(5) after putting 300 keys")

    def test_falsy_values_are_values(self, impl, sandbox):
        """None, 0, "" and [] are values like any other: get returns them, not KeyError"""
        items = {"none": None, "zero": 0, "empty": "", "list": [], "false": False}
        store = filled(impl, sandbox, 3, items)
        expect_all_readable(sandbox, store, items, "ShardedStore(3) after put('none', None), "
                                                   "put('zero', 0), put('empty', ''), put('list', [])"
                                                   ", put('false', False)")
        sizes = sizes_of(store, 3, "ShardedStore(3) holding 5 keys")
        expect_equal(sum(sizes), 5, f"the total of shard_sizes() {sizes} with 5 keys stored, "
                                    "some of them falsy")

    def test_put_overwrites(self, impl, sandbox):
        """put on a key already stored replaces its value; the key still counts once"""
        keys = order_keys(100)
        store = filled(impl, sandbox, 4, {key: 1 for key in keys})
        newer = {key: f"new-{key}" for key in keys[::2]}
        returned(sandbox.batch(store.put, list(newer.items())))
        items = {key: newer.get(key, 1) for key in keys}
        expect_all_readable(sandbox, store, items, "ShardedStore(4): put(k, 1) for order-0..order-99, "
                                                   "then put(k, 'new-' + k) for every other one")
        sizes = sizes_of(store, 4, "after the overwrites")
        expect_equal(sum(sizes), 100, f"the total of shard_sizes() {sizes} after putting 100 keys "
                                      "and overwriting 50 of them")

    def test_delete_removes_only_that_key(self, impl, sandbox):
        """delete(key) removes that key and no other; its shard's count goes down"""
        keys = user_keys(11, 120)
        items = {key: i for i, key in enumerate(keys)}
        store = filled(impl, sandbox, 6, items)
        gone = keys[::3]
        returned(sandbox.batch(store.delete, [(key,) for key in gone]))
        after = values_read(sandbox, store, gone)
        still = [(k, o) for k, o in zip(gone, after) if not raised(o, KeyError)]
        expect(not still, "after delete(key), get(key) should raise KeyError, but " + "; ".join(
            f"get({k!r}) {describe(o)}" for k, o in still[:3]))
        kept = {key: value for key, value in items.items() if key not in set(gone)}
        expect_all_readable(sandbox, store, kept, "ShardedStore(6) after deleting 40 of 120 keys")
        placed = shards(sandbox, impl, list(kept), 6)
        sizes = sizes_of(store, 6, "after the deletes")
        expect_equal(sizes, expected_sizes(placed, 6),
                     "shard_sizes() after deleting 40 of 120 keys (your shard_of places the 80 left)")

    def test_absent_keys_raise_key_error(self, impl, sandbox):
        """get and delete of a key that is not there raise KeyError, in an empty and a full store"""
        store = impl.ShardedStore(4)
        for method in ("get", "delete"):
            outcome = sandbox.batch(getattr(store, method), [("missing",)])[0]
            expect(raised(outcome, KeyError),
                   f"ShardedStore(4).{method}('missing') on an empty store should raise KeyError, "
                   f"but it {describe(outcome)}")
        store = filled(impl, sandbox, 4, {key: key for key in user_keys(12, 200)})
        absent = [f"absent-{i}" for i in range(40)]
        for method in ("get", "delete"):
            outcomes = sandbox.batch(getattr(store, method), [(key,) for key in absent])
            wrong = [(k, o) for k, o in zip(absent, outcomes) if not raised(o, KeyError)]
            expect(not wrong, f"a ShardedStore(4) with 200 keys (every shard holds some): "
                              f"{method}(key) of a key never put should raise KeyError, but "
                              + "; ".join(f"{method}({k!r}) {describe(o)}" for k, o in wrong[:3]))
        sizes = sizes_of(store, 4, "after failed gets and deletes")
        expect_equal(sum(sizes), 200, f"the total of shard_sizes() {sizes} after 200 puts and only "
                                      "failed deletes")

    def test_delete_twice_raises_key_error(self, impl, sandbox):
        """deleting a key a second time raises KeyError"""
        store = filled(impl, sandbox, 3, {"a": 1, "b": 2})
        first, second = sandbox.call_each([(store.delete, ("a",)), (store.delete, ("a",))])
        expect(not first.raised, f"delete('a') of a stored key should succeed, but it {describe(first)}")
        expect(raised(second, KeyError), f"the second delete('a') should raise KeyError, but it "
                                         f"{describe(second)}")

    @pytest.mark.parametrize("num_shards", [1, 3, 8])
    def test_shard_sizes_counts_every_shard(self, impl, sandbox, num_shards):
        """shard_sizes() has a count for every shard, empty ones included"""
        store = impl.ShardedStore(num_shards)
        expect_equal(sizes_of(store, num_shards, f"a new ShardedStore({num_shards})"),
                     [0] * num_shards, f"shard_sizes() of a new ShardedStore({num_shards})")
        store.put("only-key", 1)
        where = impl.shard_of("only-key", num_shards)
        want = [1 if i == where else 0 for i in range(num_shards)]
        expect_equal(sizes_of(store, num_shards, f"ShardedStore({num_shards}) with one key"), want,
                     f"shard_sizes() of a ShardedStore({num_shards}) holding only 'only-key' "
                     f"(your shard_of('only-key', {num_shards}) is {where!r})")

    def test_shard_sizes_follow_shard_of(self, impl, sandbox):
        """with no router, each key lives on shard_of(key, num_shards): shard_sizes() agrees"""
        keys = user_keys(13, 500)
        store = filled(impl, sandbox, 7, {key: 0 for key in keys})
        want = expected_sizes(shards(sandbox, impl, keys, 7), 7)
        expect_equal(sizes_of(store, 7, "ShardedStore(7) with 500 keys"), want,
                     f"shard_sizes() of a ShardedStore(7) after putting 500 keys "
                     f"({user_keys_code(13, 500)}), by your own shard_of(key, 7)")

    def test_custom_router_places_keys(self, impl, sandbox):
        """a router given to ShardedStore decides each key's shard (shard i gets 2i + 1 keys)"""
        table, keys = {}, user_keys(14, 25)
        for shard, how_many in enumerate((1, 3, 5, 7, 9)):
            for _ in range(how_many):
                table[keys[len(table)]] = 4 - shard
        store = filled(impl, sandbox, 5, {key: i for i, key in enumerate(keys)}, table_router(table))
        expect_equal(sizes_of(store, 5, "ShardedStore(5, router)"), [9, 7, 5, 3, 1],
                     "shard_sizes() of a ShardedStore(5, router) whose router sends 9 keys to shard "
                     "0, 7 to shard 1, 5 to 2, 3 to 3 and 1 to 4")
        expect_all_readable(sandbox, store, {key: i for i, key in enumerate(keys)},
                            "ShardedStore(5, router) with 25 keys")

    def test_router_out_of_range_raises_value_error(self, impl, sandbox):
        """a router that returns no real shard (n, -1, 99) makes put raise ValueError; nothing is stored"""
        table = {"fine": 2, "too-big": 3, "negative": -1, "far": 99}
        store = impl.ShardedStore(3, table_router(table))
        store.put("fine", "ok")
        for key in ("too-big", "negative", "far"):
            outcome = sandbox.batch(store.put, [(key, "lost")])[0]
            expect(raised(outcome, ValueError),
                   f"ShardedStore(3, router) where router({key!r}) = {table[key]}: put({key!r}, ...) "
                   f"should raise ValueError (shards are 0, 1 and 2), but it {describe(outcome)}")
        expect_equal(sizes_of(store, 3, "after the refused puts"), [0, 0, 1],
                     "shard_sizes() after put('fine') on shard 2 and three puts the router sent to "
                     "no real shard")

    @pytest.mark.parametrize("num_shards", [0, -2])
    def test_fewer_than_one_shard_raises_value_error(self, impl, num_shards):
        """ShardedStore(n) with n < 1 raises ValueError"""
        try:
            impl.ShardedStore(num_shards)
        except ValueError:
            return
        raise AssertionError(f"ShardedStore({num_shards}) should raise ValueError")

    def test_stores_are_independent(self, impl, sandbox):
        """two stores never share keys"""
        first = filled(impl, sandbox, 3, {"shared-name": 1, "only-first": 2})
        second = impl.ShardedStore(3)
        outcome = sandbox.batch(second.get, [("only-first",)])[0]
        expect(raised(outcome, KeyError), f"a key put into one ShardedStore should not be in another: "
                                          f"get('only-first') on the second store {describe(outcome)}")
        expect_equal(sum(sizes_of(second, 3, "a new store beside a full one")), 0,
                     "the total of shard_sizes() of a new store created after another was filled")
        expect_equal(first.get("shared-name"), 1, "get('shared-name') on the first store")


# --------------------------------------------------------------------------------------- query
class Recorder:
    """A predicate that records every (key, value) it is asked about."""

    def __init__(self, test):
        self.test = test
        self.calls = []

    def predicate(self):
        calls, test = self.calls, self.test

        def predicate(*args):
            calls.append(args)
            return test(*args)
        return predicate


def numbered(count):
    """``item-0`` .. ``item-{count-1}`` with values 0, 10, 20, ..."""
    return {f"item-{i}": 10 * i for i in range(count)}


def by_number(num_shards):
    """A router sending ``item-i`` to shard ``i % num_shards``."""
    def route(key):
        return int(key.rsplit("-", 1)[1]) % num_shards
    return route


@pytest.mark.part("query")
class TestQuery:
    def test_query_sees_every_shard(self, impl, sandbox):
        """query finds matching items on every shard, not just the first"""
        items = numbered(36)
        store = filled(impl, sandbox, 6, items, by_number(6))
        got = store.query(lambda key, value: value >= 120)
        want = {k: v for k, v in items.items() if v >= 120}
        expect(isinstance(got, dict), f"query should return a dict, got {got!r}")
        missing = sorted(set(want) - set(got), key=lambda k: int(k.split("-")[1]))
        on = sorted({int(k.split("-")[1]) % 6 for k in missing})
        expect(got == want, f"ShardedStore(6, router) with item-i on shard i % 6 and value 10·i, "
                            f"query(lambda key, value: value >= 120) should return the {len(want)} "
                            f"items item-12 .. item-35 (from all 6 shards); got {len(got)} items"
                            + (f", missing {missing[:6]} (from shards {on})" if missing else
                               f": {dict(list(got.items())[:6])}"))

    def test_query_on_keys(self, impl, sandbox):
        """the predicate can select by key"""
        items = {key: i for i, key in enumerate(order_keys(150))}
        store = filled(impl, sandbox, 5, items)
        got = store.query(lambda key, value: key.endswith("7"))
        want = {k: v for k, v in items.items() if k.endswith("7")}
        expect_equal(got, want, "ShardedStore(5) holding order-0..order-149 (value i): "
                                "query(lambda key, value: key.endswith('7'))")

    def test_predicate_gets_key_then_value_once_per_item(self, impl, sandbox):
        """the predicate is called as predicate(key, value), once for every item"""
        items = numbered(24)
        store = filled(impl, sandbox, 4, items, by_number(4))
        recorder = Recorder(lambda key, value: isinstance(key, str) and value % 20 == 0)
        got = store.query(recorder.predicate())
        seen = Counter(recorder.calls)
        want_calls = Counter((k, v) for k, v in items.items())
        expect(seen == want_calls,
               "ShardedStore(4, router) with item-0..item-23 (value 10·i) on every shard: query "
               "should call predicate(key, value) once for each of the 24 items; "
               + (f"it made {len(recorder.calls)} calls, e.g. predicate{recorder.calls[0]!r}"
                  if recorder.calls else "it never called the predicate")
               + (f"; items never asked about: {sorted(set(want_calls) - set(seen))[:4]}"
                  if set(want_calls) - set(seen) else ""))
        expect_equal(got, {k: v for k, v in items.items() if v % 20 == 0},
                     "query(lambda key, value: isinstance(key, str) and value % 20 == 0)")

    def test_no_match_is_an_empty_dict(self, impl, sandbox):
        """a query that matches nothing returns {}; so does any query of an empty store"""
        store = filled(impl, sandbox, 3, numbered(12), by_number(3))
        got = store.query(lambda key, value: False)
        expect(got == {} and isinstance(got, dict),
               f"query(lambda key, value: False) should return {{}}, got {got!r}")
        empty = impl.ShardedStore(4)
        recorder = Recorder(lambda key, value: True)
        got = empty.query(recorder.predicate())
        expect(got == {} and isinstance(got, dict),
               f"query(lambda key, value: True) on an empty ShardedStore(4) should return {{}}, "
               f"got {got!r}")
        expect_equal(recorder.calls, [], "predicate calls made by a query of an empty store")

    def test_query_sees_the_latest_state(self, impl, sandbox):
        """query sees overwritten values and no deleted keys"""
        items = numbered(30)
        store = filled(impl, sandbox, 5, items, by_number(5))
        sandbox.call_each([(store.put, ("item-3", 999)), (store.delete, ("item-4",)),
                           (store.put, ("item-30", 5))])
        got = store.query(lambda key, value: True)
        want = {**{k: v for k, v in items.items() if k != "item-4"}, "item-3": 999, "item-30": 5}
        expect_equal(got, want, "ShardedStore(5, router) with item-0..item-29, then put('item-3', "
                                "999), delete('item-4'), put('item-30', 5): query(lambda k, v: True)")


# ------------------------------------------------------------------------------------- reshard
def moved_between(sandbox, impl, keys, old, new) -> int:
    """How many keys ``shard_of`` places differently with ``old`` and ``new`` shards."""
    before, after = shards(sandbox, impl, keys, old), shards(sandbox, impl, keys, new)
    return sum(a != b for a, b in zip(before, after))


@pytest.mark.part("reshard")
class TestReshard:
    @pytest.mark.parametrize("old,new", [(4, 7), (5, 2), (1, 3), (6, 6)])
    def test_count_matches_shard_of(self, impl, sandbox, old, new):
        """reshard(n) returns exactly how many keys shard_of places on another shard"""
        keys = user_keys(20 + old, 400)
        items = {key: i for i, key in enumerate(keys)}
        store = filled(impl, sandbox, old, items)
        want = moved_between(sandbox, impl, keys, old, new)
        got = store.reshard(new)
        expect_equal(got, want, f"ShardedStore({old}) with 400 keys ({user_keys_code(20 + old, 400)}),"
                                f" then reshard({new}): keys whose shard_of(key, {old}) and "
                                f"shard_of(key, {new}) differ (by your own shard_of)")

    @pytest.mark.parametrize("old,new", [(4, 7), (5, 2)])
    def test_no_key_is_lost(self, impl, sandbox, old, new):
        """after reshard every key reads back with its value, on the shard the new layout gives it"""
        keys = user_keys(30 + old, 400)
        items = {key: f"value-{i}" for i, key in enumerate(keys)}
        store = filled(impl, sandbox, old, items)
        store.reshard(new)
        what = f"ShardedStore({old}) with 400 keys ({user_keys_code(30 + old, 400)}), then reshard({new})"
        expect_all_readable(sandbox, store, items, what)
        want = expected_sizes(shards(sandbox, impl, keys, new), new)
        expect_equal(sizes_of(store, new, what), want,
                     f"{what}: shard_sizes() (by your shard_of(key, {new}))")

    def test_router_keeping_most_keys_in_place(self, impl, sandbox):
        """growing from 4 to 5 shards with a router that moves one key in ten: 10 moved, counts follow"""
        items = numbered(100)

        def grown(key):
            i = int(key.rsplit("-", 1)[1])
            return 4 if i % 10 == 9 else i % 4
        store = filled(impl, sandbox, 4, items, by_number(4))
        got = store.reshard(5, grown)
        what = ("ShardedStore(4, router) with item-0..item-99 on shard i % 4, then reshard(5, r) "
                "where r sends item-i to shard 4 when i % 10 == 9, else to i % 4")
        expect_equal(got, 10, f"{what}: the number of keys moved")
        want = expected_sizes([grown(k) for k in items], 5)
        expect_equal(sizes_of(store, 5, what), want, f"{what}: shard_sizes()")
        expect_all_readable(sandbox, store, items, what)

    def test_same_shard_before_and_after_moves_nothing(self, impl, sandbox):
        """a router that keeps every key on shard 0 before and after: reshard moves 0 keys"""
        items = numbered(40)
        store = filled(impl, sandbox, 3, items, lambda key: 0)
        got = store.reshard(5, lambda key: 0)
        what = "ShardedStore(3, lambda key: 0) with 40 keys, then reshard(5, lambda key: 0)"
        expect_equal(got, 0, f"{what}: every key stays on shard 0, so the number moved")
        expect_equal(sizes_of(store, 5, what), [40, 0, 0, 0, 0], f"{what}: shard_sizes()")
        expect_all_readable(sandbox, store, items, what)

    def test_router_none_means_shard_of_with_the_new_count(self, impl, sandbox):
        """reshard(n) without a router places keys by shard_of(key, n), even after a custom router"""
        keys = user_keys(40, 60)
        items = {key: i for i, key in enumerate(keys)}
        store = filled(impl, sandbox, 3, items, lambda key: 1)
        after = shards(sandbox, impl, keys, 5)
        got = store.reshard(5)
        what = "ShardedStore(3, lambda key: 1) with 60 keys, then reshard(5) with no router"
        expect_equal(got, sum(a != 1 for a in after),
                     f"{what}: keys whose shard_of(key, 5) is not 1 (they all were on shard 1)")
        expect_equal(sizes_of(store, 5, what), expected_sizes(after, 5),
                     f"{what}: shard_sizes() (by your shard_of(key, 5))")
        expect_all_readable(sandbox, store, items, what)

    def test_later_operations_use_the_new_layout(self, impl, sandbox):
        """after reshard, put, get and delete use the new count: new keys land by shard_of(key, n)"""
        keys = user_keys(41, 200)
        store = filled(impl, sandbox, 3, {key: 1 for key in keys[:100]})
        store.reshard(6)
        returned(sandbox.batch(store.put, [(key, 2) for key in keys[100:]]))
        what = "ShardedStore(3) with 100 keys, reshard(6), then 100 more puts"
        expect_equal(sizes_of(store, 6, what), expected_sizes(shards(sandbox, impl, keys, 6), 6),
                     f"{what}: shard_sizes() (by your shard_of(key, 6))")
        items = {key: 1 if i < 100 else 2 for i, key in enumerate(keys)}
        expect_all_readable(sandbox, store, items, what)
        outcomes = sandbox.batch(store.delete, [(key,) for key in keys[::2]])
        failed = [(k, o) for k, o in zip(keys[::2], outcomes) if o.raised]
        expect(not failed, f"{what}: delete(key) of a stored key should succeed, but "
                           + "; ".join(f"delete({k!r}) {describe(o)}" for k, o in failed[:3]))
        expect_equal(sum(sizes_of(store, 6, what)), 100, f"{what}, then 100 deletes: the total "
                                                         "of shard_sizes()")

    def test_query_after_reshard_sees_every_key(self, impl, sandbox):
        """after reshard, query still sees every item"""
        items = {key: i for i, key in enumerate(user_keys(42, 80))}
        store = filled(impl, sandbox, 2, items)
        store.reshard(5)
        expect_equal(store.query(lambda key, value: True), items,
                     f"ShardedStore(2) with 80 keys ({user_keys_code(42, 80)}), reshard(5), then "
                     "query(lambda key, value: True)")

    def test_resharding_again_moves_nothing(self, impl, sandbox):
        """reshard to the layout the store already has moves 0 keys; an empty store moves 0"""
        keys = user_keys(43, 150)
        store = filled(impl, sandbox, 4, {key: 0 for key in keys})
        first = store.reshard(9)
        expect(is_int(first), f"reshard(9) should return an int (the number of keys moved), got "
                              f"{first!r}")
        expect_equal(store.reshard(9), 0, "ShardedStore(4) with 150 keys, reshard(9), then "
                                          "reshard(9) again: keys moved the second time")
        expect_equal(impl.ShardedStore(3).reshard(7), 0, "ShardedStore(3).reshard(7) on an empty "
                                                         "store: keys moved")

    def test_fewer_than_one_shard_raises_and_changes_nothing(self, impl, sandbox):
        """reshard(n) with n < 1 raises ValueError and leaves the store as it was"""
        items = {key: i for i, key in enumerate(user_keys(44, 50))}
        store = filled(impl, sandbox, 3, items)
        before = sizes_of(store, 3, "ShardedStore(3) with 50 keys")
        outcome = sandbox.batch(store.reshard, [(0,)])[0]
        expect(raised(outcome, ValueError), f"reshard(0) should raise ValueError, but it "
                                            f"{describe(outcome)}")
        expect_equal(sizes_of(store, 3, "after reshard(0)"), before, "shard_sizes() after a "
                                                                     "refused reshard(0)")
        expect_all_readable(sandbox, store, items, "ShardedStore(3) with 50 keys after reshard(0)")

    def test_router_out_of_range_changes_nothing(self, impl, sandbox):
        """reshard with a router that sends a key to no real shard raises ValueError; nothing moves"""
        items = numbered(30)
        store = filled(impl, sandbox, 3, items, by_number(3))

        def bad(key):
            return 7 if key == "item-29" else int(key.rsplit("-", 1)[1]) % 4
        outcome = sandbox.batch(store.reshard, [(4, bad)])[0]
        what = ("ShardedStore(3, router) with item-0..item-29 on shard i % 3, then reshard(4, r) "
                "where r sends item-29 to shard 7")
        expect(raised(outcome, ValueError), f"{what}: should raise ValueError, but it "
                                            f"{describe(outcome)}")
        expect_equal(sizes_of(store, 3, what), [10, 10, 10], f"{what}: shard_sizes() afterwards "
                                                             "(the store as it was)")
        expect_all_readable(sandbox, store, items, what)

    @settings(max_examples=40)
    @given(start=st.integers(1, 5), ops=st.lists(st.one_of(
        st.tuples(st.just("put"), st.sampled_from(range(12)), st.integers(0, 9)),
        st.tuples(st.just("delete"), st.sampled_from(range(12))),
        st.tuples(st.just("get"), st.sampled_from(range(12))),
        st.tuples(st.just("reshard"), st.integers(1, 6))), min_size=1, max_size=30))
    def test_any_sequence_matches_a_model(self, impl, sandbox, start, ops):
        """any mix of put, get, delete and reshard behaves like one dict, with exact move counts (property-based)"""
        keys = [f"k{i}" for i in range(12)]
        pairs = [(k, n) for n in range(1, 7) for k in keys]
        placement = dict(zip(pairs, all_returned(sandbox, impl.shard_of, pairs)))
        store = impl.ShardedStore(start)
        calls, steps = [], []
        for op in ops:
            if op[0] == "put":
                calls.append((store.put, (keys[op[1]], op[2])))
                steps.append(f"s.put({keys[op[1]]!r}, {op[2]})")
            elif op[0] == "reshard":
                calls.append((store.reshard, (op[1],)))
                steps.append(f"s.reshard({op[1]})")
            else:
                calls.append((getattr(store, op[0]), (keys[op[1]],)))
                steps.append(f"s.{op[0]}({keys[op[1]]!r})")
        outcomes = sandbox.call_each(calls)
        model, count = {}, start
        for n, (op, outcome) in enumerate(zip(ops, outcomes)):
            replay = "; ".join([f"s = ShardedStore({start})", *steps[:n + 1]])
            if op[0] == "put":
                model[keys[op[1]]] = op[2]
                ok, want = not outcome.raised, "to succeed"
            elif op[0] == "get":
                key = keys[op[1]]
                if key in model:
                    ok = not outcome.raised and outcome.value == model[key]
                    want = f"to return {model[key]!r}"
                else:
                    ok, want = raised(outcome, KeyError), "to raise KeyError"
            elif op[0] == "delete":
                key = keys[op[1]]
                ok = raised(outcome, KeyError) if key not in model else not outcome.raised
                want = "to raise KeyError" if key not in model else "to succeed"
                model.pop(key, None)
            else:
                moved = sum(placement[(k, count)] != placement[(k, op[1])] for k in model)
                ok = not outcome.raised and outcome.value == moved and is_int(outcome.value)
                want = f"to return {moved} (keys moved, by your shard_of)"
                count = op[1]
            expect(ok, f"the last call of `{replay}` was expected {want}, but it "
                       f"{describe(outcome)}")
        final = "; ".join([f"s = ShardedStore({start})", *steps, "s.shard_sizes()"])
        want = expected_sizes([placement[(k, count)] for k in model], count)
        expect_equal(sizes_of(store, count, f"`{final}`"), want, f"`{final}`")
