"""Hidden suite for the `event_sourcing` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the inputs that show it and a line to replay it.

Stores are real SQLite files in the sandbox's private /tmp (a fresh name per test); the suite never
opens them itself, it only calls the contract. Timestamps come from the suite's FakeClock, handed
over as a plain function (`support.contract_clock`), so `as_of` boundaries are exact.

An `Event` may be any object with the five fields; a tuple subclass (a NamedTuple) crosses the
channel as a plain tuple, so fields are read by position there (the contract's order).

The race: two stores on one file (two connections), two real threads, each appending at the same
expected version. Neither verdict depends on timing: each writer's clock holds its first reading
until the other writer has read its clock too, or has returned, or HOLD seconds have passed. A
store that checks the version outside its write transaction lets both writers read the old version
and then meets them at the clock, so both insert; a correct store holds the loser out of the
transaction, the winner's wait runs out and it commits, and the loser then sees the new version.
"""
# DSP-CANARY-EVENT_SOURCING-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from support import Boom, contract_clock, expect, expect_equal

from dspatterns.testing import FakeClock

FIELDS = ("stream_id", "version", "type", "data", "timestamp")
HOLD = 1.0  # real seconds a writer's first clock reading waits for the other writer
SLACK = 5.0  # seconds a default timestamp may differ from the suite's time.time() around the call


# ------------------------------------------------------------------------------------- helpers
def db_path() -> str:
    return f"/tmp/es-{uuid.uuid4().hex[:12]}.db"


def as_tuple(event) -> tuple:
    """The event's five fields as a plain tuple (a NamedTuple arrives as a tuple already)."""
    if isinstance(event, tuple):
        return tuple(event[:5])
    return tuple(getattr(event, name) for name in FIELDS)


def as_tuples(events) -> list[tuple]:
    return [as_tuple(event) for event in events]


def new_store(impl, path=None, start=100.0):
    fake = FakeClock(start)
    store = impl.EventStore(path or db_path(), clock=contract_clock(fake))
    return store, fake


def replay(path, *lines) -> str:
    return "; ".join([f"store = EventStore({path!r}, clock=FakeClock(100))", *lines])


def expect_raises(kind, call, what: str):
    try:
        value = call()
    except kind:
        return
    except Exception as exc:  # noqa: BLE001 - reported
        raise AssertionError(f"{what}: expected {kind.__name__}, got {type(exc).__name__}({exc})")
    raise AssertionError(f"{what}: expected {kind.__name__}, but it returned {value!r}")


# ---------------------------------------------------------------------------------------- append
@pytest.mark.part("append")
class TestAppend:
    def test_append_and_read_fields(self, impl):
        """append returns the new version; read gives Events with all five fields, timestamped by the clock"""
        path = db_path()
        store, fake = new_store(impl, path)
        try:
            expect_equal(store.append("order-1", [("Placed", {"total": 30})], 0), 1,
                         "append('order-1', [('Placed', {'total': 30})], 0) on a new stream")
            fake.advance(5)
            expect_equal(store.append("order-1", [("Paid", {"by": "card"}), ("Shipped", {})], 1), 3,
                         "append of 2 events at expected_version 1")
            got = as_tuples(store.read("order-1"))
        finally:
            store.close()
        expect_equal(got, [("order-1", 1, "Placed", {"total": 30}, 100.0),
                           ("order-1", 2, "Paid", {"by": "card"}, 105.0),
                           ("order-1", 3, "Shipped", {}, 105.0)],
                     "read('order-1') as (stream_id, version, type, data, timestamp) after the clock "
                     "read 100 for the first append and 105 for the second; replay: "
                     + replay(path, "store.append('order-1', [('Placed', {'total': 30})], 0)",
                              "...", "store.read('order-1')"))

    def test_default_store_is_in_memory(self, impl):
        """EventStore() with no path keeps its events in memory: two such stores share nothing"""
        first, second = impl.EventStore(), impl.EventStore()
        try:
            versions = (first.append("s", [("One", {})], 0), second.append("s", [("Two", {})], 0))
            types = ([t[2] for t in as_tuples(first.read("s"))],
                     [t[2] for t in as_tuples(second.read("s"))])
        except impl.ConcurrencyError as exc:
            raise AssertionError("first = EventStore(); second = EventStore(); first.append('s', "
                                 "[('One', {})], 0); second.append('s', [('Two', {})], 0): the "
                                 "second append raised ConcurrencyError "
                                 f"({exc}): do stores made without a path share a file?") from None
        finally:
            first.close()
            second.close()
        expect_equal(versions, (1, 1), "what each of two EventStore() returned for its first "
                                       "append to 's'")
        expect_equal(types, (["One"], ["Two"]), "types read back from each of two EventStore() "
                                                "(path ':memory:' by default)")

    def test_default_clock_is_wall_time(self, impl):
        """without a clock, timestamps are time.time(): seconds since 1970, as as_of is"""
        store = impl.EventStore()
        try:
            before = time.time()
            store.append("s", [("E", {})], 0)
            after = time.time()
            stamp = as_tuple(store.read("s")[0])[4]
        finally:
            store.close()
        expect(isinstance(stamp, (int, float)) and before - SLACK <= stamp <= after + SLACK,
               f"store = EventStore(); store.append('s', [('E', {{}})], 0): the event's timestamp "
               f"was {stamp!r}, expected time.time() at the append (between {before:.1f} and "
               f"{after:.1f}, give or take {SLACK:g} s): the default clock is time.time")

    def test_data_round_trips(self, impl):
        """data comes back as it went in: nested dicts, lists, floats, unicode, booleans, None"""
        values = [{"nested": {"list": [1, 2.5, [3, {"deep": "ünïcødé ✓"}]], "none": None}},
                  {"float": 0.1, "big": 10**15, "neg": -2.75, "flag": True, "off": False},
                  {"text": "日本語 and emoji 🎉", "empty": [], "empty_dict": {}},
                  {}]
        store, _ = new_store(impl)
        try:
            store.append("s", [(f"T{i}", data) for i, data in enumerate(values)], 0)
            got = [fields[3] for fields in as_tuples(store.read("s"))]
        finally:
            store.close()
        for i, (sent, back) in enumerate(zip(values, got)):
            expect_equal(back, sent, f"data of event {i + 1} read back")
        expect_equal(len(got), len(values), "events read back")

    def test_versions_are_per_stream(self, impl):
        """each stream counts its own versions from 1"""
        store, _ = new_store(impl)
        try:
            got = [store.append("a", [("A1", {})], 0), store.append("b", [("B1", {})], 0),
                   store.append("b", [("B2", {}), ("B3", {})], 1), store.append("a", [("A2", {})], 1),
                   store.append("c", [("C1", {})], 0)]
            versions = {s: [t[1] for t in as_tuples(store.read(s))] for s in "abc"}
        finally:
            store.close()
        expect_equal(got, [1, 1, 3, 2, 1], "what append returned for a@0, b@0, b@1 (2 events), a@1, c@0")
        expect_equal(versions, {"a": [1, 2], "b": [1, 2, 3], "c": [1]}, "versions read per stream")

    def test_read_from_version(self, impl):
        """read(stream_id, from_version) gives the stream's events from that version on"""
        store, _ = new_store(impl)
        try:
            store.append("s", [(f"E{i}", {"i": i}) for i in range(1, 6)], 0)
            store.append("other", [("X", {})], 0)
            got = {v: [t[1] for t in as_tuples(store.read("s", v))] for v in (1, 2, 5, 6)}
            default = [t[1] for t in as_tuples(store.read("s"))]
            unknown = as_tuples(store.read("nobody"))
        finally:
            store.close()
        expect_equal(got, {1: [1, 2, 3, 4, 5], 2: [2, 3, 4, 5], 5: [5], 6: []},
                     "versions returned by read('s', from_version) for from_version 1, 2, 5, 6 on a "
                     "stream of 5 events")
        expect_equal(default, [1, 2, 3, 4, 5], "versions returned by read('s') (from_version=1)")
        expect_equal(unknown, [], "read() of a stream that was never written")

    @pytest.mark.parametrize("expected, current", [(0, 2), (1, 2), (3, 2), (1, 0), (-1, 0)])
    def test_wrong_expected_version_raises(self, impl, expected, current):
        """append raises ConcurrencyError unless the stream is at expected_version (0 for a new one), and appends nothing"""
        store, _ = new_store(impl)
        try:
            if current:
                store.append("s", [("E", {"n": n}) for n in range(current)], 0)
            expect_raises(impl.ConcurrencyError, lambda: store.append("s", [("Late", {})], expected),
                          f"append('s', [('Late', {{}})], {expected}) on a stream at version {current}")
            got = [t[2] for t in as_tuples(store.read("s"))]
            after = store.append("s", [("Next", {})], current)
        finally:
            store.close()
        expect_equal(got, ["E"] * current, f"event types in the stream after the refused append "
                                           f"(it was at version {current})")
        expect_equal(after, current + 1, f"append at the right expected_version ({current}) after "
                                         "a refused one")

    def test_failure_half_way_leaves_nothing(self, impl):
        """an append whose second event cannot be stored (data not JSON-serialisable) leaves nothing: all or nothing"""
        store, _ = new_store(impl)
        try:
            store.append("s", [("First", {"n": 1})], 0)
            try:
                store.append("s", [("Ok", {"n": 2}), ("Bad", {"not json": {1, 2}}), ("Ok", {})], 1)
            except impl.ConcurrencyError as exc:
                raise AssertionError(f"a set in data should fail to serialise, not raise "
                                     f"ConcurrencyError({exc})")
            except Exception:  # noqa: BLE001, S110 - any error is right here
                pass
            else:
                raise AssertionError("append('s', [('Ok', {'n': 2}), ('Bad', {'not json': {1, 2}}), "
                                     "('Ok', {})], 1): data holding a set is not JSON-serialisable, "
                                     "so append should raise, but it returned")
            got = [t[2] for t in as_tuples(store.read("s"))]
            all_types = [t[2] for t in as_tuples(store.read_all())]
            next_version = store.append("s", [("Second", {})], 1)
        finally:
            store.close()
        expect_equal(got, ["First"], "types in stream 's' after an append whose 2nd of 3 events "
                                     "failed (nothing of it may stay)")
        expect_equal(all_types, ["First"], "types in read_all() after the failed append")
        expect_equal(next_version, 2, "append at expected_version 1 after the failed append (the "
                                      "stream's version must be unchanged)")

    def test_clock_failure_half_way_is_all_or_nothing(self, impl):
        """a clock that raises during a multi-event append leaves nothing of it (or, if it read the clock once, all of it)"""
        fake = FakeClock(100)
        readings = []
        fail_at = []  # the reading that raises, set once the first append shows how often it reads

        def clock():
            readings.append(fake())
            if fail_at and len(readings) >= fail_at[0]:
                raise Boom("clock failed")
            return fake()
        store = impl.EventStore(db_path(), clock=clock)
        try:
            store.append("s", [("First", {})], 0)
            per_event = len(readings)
            expect(per_event >= 1, "append never read the clock it was given")
            # a store reading per event fails on event 2; one reading per append never fails
            fail_at.append(2 * per_event + 1)
            raised = None
            try:
                store.append("s", [("A", {}), ("B", {}), ("C", {})], 1)
            except Exception as exc:  # noqa: BLE001
                raised = exc
            types = [t[2] for t in as_tuples(store.read("s"))]
        finally:
            store.close()
        if raised is not None:
            expect_equal(types, ["First"], f"types in the stream after an append of 3 events whose "
                                           f"clock raised {raised!r} at its reading for event 2")
        else:
            expect_equal(types, ["First", "A", "B", "C"], "types after a 3-event append that "
                                                           "succeeded")


# ----------------------------------------------------------------------------------- concurrency
class Meeting:
    """Clocks for two writers: each one's first reading waits until the other writer has read its
    clock too or finished, at most HOLD seconds; this is where a check-then-insert store races."""

    def __init__(self):
        self.fake = FakeClock(500)
        self.arrived: set[str] = set()
        self.finished: set[str] = set()
        self._cond = threading.Condition()

    def clock_for(self, name: str, other: str):
        def clock():
            with self._cond:
                if name not in self.arrived:
                    self.arrived.add(name)
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: other in self.arrived or other in self.finished, HOLD)
            return self.fake()
        return clock

    def finish(self, name: str):
        with self._cond:
            self.finished.add(name)
            self._cond.notify_all()


def race(impl, path, expected, events_of, meeting=None):
    """Two stores on ``path`` append ``events_of[name]`` at ``expected`` in two threads at once."""
    names = list(events_of)
    stores = {}
    try:
        for name, other in zip(names, reversed(names)):
            clock = meeting.clock_for(name, other) if meeting else contract_clock(FakeClock(500))
            stores[name] = impl.EventStore(path, clock=clock)
        outcomes = {}
        ready = threading.Barrier(2)

        def write(name):
            ready.wait(10)
            try:
                outcomes[name] = ("returned", stores[name].append("s", events_of[name], expected))
            except Exception as exc:  # noqa: BLE001
                outcomes[name] = ("raised", exc)
            finally:
                if meeting:
                    meeting.finish(name)
        threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        stream = as_tuples(stores[names[0]].read("s"))
    finally:
        for store in stores.values():
            store.close()
    return outcomes, stream


def judge_race(impl, outcomes, stream, before, expected, events_of, label):
    names = list(events_of)
    shown = {n: (o[0], o[1] if o[0] == "returned" else f"{type(o[1]).__name__}({o[1]})")
             for n, o in outcomes.items()}
    winners = [n for n in names if outcomes.get(n, ("",))[0] == "returned"]
    losers = [n for n in names if outcomes.get(n, ("",))[0] == "raised"
              and isinstance(outcomes[n][1], impl.ConcurrencyError)]
    expect(len(winners) == 1 and len(losers) == 1,
           f"{label}: two writers on two connections to one file appended to 's' at "
           f"expected_version {expected} at once; exactly one should win and the other raise "
           f"ConcurrencyError, got {shown}")
    winner = winners[0]
    expect_equal(outcomes[winner][1], expected + len(events_of[winner]),
                 f"{label}: what the winner's append returned")
    expect_equal([(t[1], t[2], t[3]) for t in stream],
                 before + [(expected + i + 1, kind, data) for i, (kind, data)
                           in enumerate(events_of[winner])],
                 f"{label}: (version, type, data) of the stream after the race ({winner} won): "
                 "exactly the winner's events may be there")


@pytest.mark.part("concurrency")
class TestConcurrency:
    def test_two_writers_on_a_new_stream(self, impl):
        """two writers (two connections, real threads) create the same stream at once: exactly one wins"""
        events_of = {"A": [("Created", {"by": "A"})], "B": [("Created", {"by": "B"})]}
        outcomes, stream = race(impl, db_path(), 0, events_of, Meeting())
        judge_race(impl, outcomes, stream, [], 0, events_of, "new stream")

    def test_two_writers_with_several_events(self, impl):
        """two writers each appending 2 events at the same expected version: the stream holds exactly the winner's"""
        path = db_path()
        store, _ = new_store(impl, path)
        try:
            store.append("s", [("Created", {})], 0)
        finally:
            store.close()
        events_of = {"A": [("Step", {"by": "A", "n": 1}), ("Step", {"by": "A", "n": 2})],
                     "B": [("Step", {"by": "B", "n": 1}), ("Step", {"by": "B", "n": 2})]}
        outcomes, stream = race(impl, path, 1, events_of, Meeting())
        judge_race(impl, outcomes, stream, [(1, "Created", {})], 1, events_of,
                   "stream at version 1")

    def test_many_rounds_of_racing_writers(self, impl):
        """12 rounds of two threads racing at the same expected version: one winner per round, versions without gaps or repeats"""
        path = db_path()
        before = []
        for round_number in range(12):
            events_of = {"A": [("Round", {"by": "A", "round": round_number})],
                         "B": [("Round", {"by": "B", "round": round_number})]}
            outcomes, stream = race(impl, path, round_number, events_of)
            judge_race(impl, outcomes, stream, before, round_number, events_of,
                       f"round {round_number + 1} (no clock gate)")
            before = [(t[1], t[2], t[3]) for t in stream]


# ---------------------------------------------------------------------------------- global order
@pytest.mark.part("global_order")
class TestGlobalOrder:
    def test_read_all_in_commit_order_across_streams(self, impl):
        """read_all() gives every stream's events in the order they were committed, not grouped by stream"""
        store, _ = new_store(impl)
        try:
            store.append("b", [("B1", {})], 0)
            store.append("a", [("A1", {}), ("A2", {})], 0)
            store.append("b", [("B2", {})], 1)
            store.append("c", [("C1", {})], 0)
            store.append("a", [("A3", {})], 2)
            got = [(t[0], t[1], t[2]) for t in as_tuples(store.read_all())]
        finally:
            store.close()
        expect_equal(got, [("b", 1, "B1"), ("a", 1, "A1"), ("a", 2, "A2"), ("b", 2, "B2"),
                           ("c", 1, "C1"), ("a", 3, "A3")],
                     "(stream, version, type) from read_all() after appends b@0, a@0 (2 events), "
                     "b@1, c@0, a@2")

    def test_read_all_after_each_position(self, impl):
        """read_all(after) returns exactly the events at global positions after `after` (1, 2, 3, ...)"""
        store, _ = new_store(impl)
        commits = [("x", [("X1", {})], 0), ("y", [("Y1", {}), ("Y2", {})], 0), ("x", [("X2", {})], 1),
                   ("z", [("Z1", {})], 0), ("y", [("Y3", {})], 2)]
        try:
            for stream, events, expected in commits:
                store.append(stream, events, expected)
            types = {after: [t[2] for t in as_tuples(store.read_all(after))] for after in range(8)}
            default = [t[2] for t in as_tuples(store.read_all())]
        finally:
            store.close()
        order = ["X1", "Y1", "Y2", "X2", "Z1", "Y3"]
        expect_equal(default, order, "types from read_all() (after=0)")
        for after in range(8):
            expect_equal(types[after], order[after:],
                         f"types from read_all({after}) with 6 events at positions 1-6 ({order})")

    def test_positions_continue_after_refused_and_failed_appends(self, impl):
        """refused or failed appends take no global position: read_all(after) still counts 1, 2, 3 over stored events"""
        store, _ = new_store(impl)
        try:
            store.append("a", [("A1", {})], 0)
            with pytest.raises(impl.ConcurrencyError):
                store.append("a", [("Stale", {})], 0)
            with pytest.raises(Exception):  # noqa: B017 - any error: the data is not JSON
                store.append("b", [("B1", {}), ("Bad", {"set": {1}})], 0)
            store.append("b", [("B1", {})], 0)
            store.append("a", [("A2", {})], 1)
            got = {after: [t[2] for t in as_tuples(store.read_all(after))] for after in (0, 1, 2, 3)}
        finally:
            store.close()
        expect_equal(got, {0: ["A1", "B1", "A2"], 1: ["B1", "A2"], 2: ["A2"], 3: []},
                     "types from read_all(after) for after 0-3, after one refused and one failed append")


# ------------------------------------------------------------------------------------ durability
@pytest.mark.part("durability")
class TestDurability:
    def test_reopened_file_reads_the_same(self, impl):
        """closing and reopening the same file gives the same read and read_all results"""
        path = db_path()
        store, fake = new_store(impl, path)
        try:
            store.append("acct-1", [("Opened", {"name": "Ann"}), ("Deposited", {"amount": 12.5})], 0)
            fake.advance(1)
            store.append("acct-2", [("Opened", {"name": "Bö"})], 0)
            store.append("acct-1", [("Withdrawn", {"amount": 2})], 2)
            before = (as_tuples(store.read("acct-1")), as_tuples(store.read_all()))
        finally:
            store.close()
        store, _ = new_store(impl, path, start=900)
        try:
            after = (as_tuples(store.read("acct-1")), as_tuples(store.read_all()))
        finally:
            store.close()
        expect_equal(after[0], before[0], "read('acct-1') after closing and reopening the file, "
                                          f"compared with before; replay: {replay(path, '...')}")
        expect_equal(after[1], before[1], "read_all() after closing and reopening the file")

    def test_reopened_store_continues_versions_and_positions(self, impl):
        """after reopening, versions and global positions continue where they were and stale writers are refused"""
        path = db_path()
        for round_number in range(3):
            store, _ = new_store(impl, path)
            try:
                if round_number:
                    expect_raises(impl.ConcurrencyError,
                                  lambda store=store: store.append("s", [("Again", {})], 0),
                                  f"append('s', ..., 0) on a reopened file whose 's' is at "
                                  f"version {round_number}")
                version = store.append("s", [("E", {"round": round_number})], round_number)
                store.append(f"other-{round_number}", [("O", {})], 0)
                tail = [(t[0], t[1]) for t in as_tuples(store.read_all(2 * round_number))]
            finally:
                store.close()
            expect_equal(version, round_number + 1, f"append at expected_version {round_number} "
                                                    f"after reopening the file {round_number} times")
            expect_equal(tail, [("s", round_number + 1), (f"other-{round_number}", 1)],
                         f"(stream, version) from read_all({2 * round_number}) after reopening "
                         f"{round_number} times (2 events were committed per opening)")


# -------------------------------------------------------------------------------------- accounts
def types_of(store, account_id):
    return [t[2] for t in as_tuples(store.read(account_id))]


@pytest.mark.part("accounts")
class TestAccounts:
    def test_open_deposit_withdraw(self, impl):
        """open, deposit and withdraw append the contract's events and keep .balance, .name and .version"""
        store, _ = new_store(impl)
        try:
            account = impl.Account.open(store, "acc-1", "Ann")
            expect_equal((account.name, account.balance, account.version), ("Ann", 0, 1),
                         "(name, balance, version) after Account.open(store, 'acc-1', 'Ann')")
            account.deposit(100)
            account.withdraw(30)
            account.deposit(2.5)
            state = (account.name, account.balance, account.version)
            events = [(t[0], t[1], t[2], t[3]) for t in as_tuples(store.read("acc-1"))]
        finally:
            store.close()
        expect_equal(state, ("Ann", 72.5, 4), "(name, balance, version) after open, deposit(100), "
                                              "withdraw(30), deposit(2.5)")
        expect_equal(events, [("acc-1", 1, "AccountOpened", {"name": "Ann"}),
                              ("acc-1", 2, "MoneyDeposited", {"amount": 100}),
                              ("acc-1", 3, "MoneyWithdrawn", {"amount": 30}),
                              ("acc-1", 4, "MoneyDeposited", {"amount": 2.5})],
                     "the account's stream (stream, version, type, data)")

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_replay_equals_state(self, impl, seed):
        """Account.load replays the stream into the same balance, name and version as the live account"""
        rng = random.Random(seed)
        store, _ = new_store(impl)
        ops = []
        try:
            live = impl.Account.open(store, "acc", f"owner-{seed}")
            balance = 0
            for _ in range(15):
                amount = rng.randint(1, 50)
                if rng.random() < 0.4 and amount <= balance:
                    live.withdraw(amount)
                    balance -= amount
                    ops.append(f"withdraw({amount})")
                else:
                    live.deposit(amount)
                    balance += amount
                    ops.append(f"deposit({amount})")
            live_state = (live.name, live.balance, live.version)
            loaded = impl.Account.load(store, "acc")
            loaded_state = (loaded.name, loaded.balance, loaded.version)
        finally:
            store.close()
        expect_equal(live_state, (f"owner-{seed}", balance, 16), f"(name, balance, version) of the "
                                                                 f"live account after {ops}")
        expect_equal(loaded_state, live_state, f"(name, balance, version) of Account.load after "
                                               f"open and {ops} (seed {seed})")

    def test_overdraft_raises_and_appends_nothing(self, impl):
        """a withdrawal above the balance raises ValueError and appends nothing"""
        store, _ = new_store(impl)
        try:
            account = impl.Account.open(store, "acc", "Ann")
            account.deposit(50)
            expect_raises(ValueError, lambda: account.withdraw(50.01), "withdraw(50.01) with a "
                                                                       "balance of 50")
            state = (account.balance, account.version)
            types = types_of(store, "acc")
            account.withdraw(50)
            after = (account.balance, account.version)
            reloaded = impl.Account.load(store, "acc")
            reloaded_state = (reloaded.balance, reloaded.version)
        finally:
            store.close()
        expect_equal(types, ["AccountOpened", "MoneyDeposited"], "event types after a refused "
                                                                 "overdraft")
        expect_equal(state, (50, 2), "(balance, version) after a refused overdraft")
        expect_equal(after, (0, 3), "(balance, version) after then withdrawing exactly the balance")
        expect_equal(reloaded_state, (0, 3), "(balance, version) of the account loaded again")

    @pytest.mark.parametrize("amount", [0, -5])
    def test_non_positive_amounts_raise(self, impl, amount):
        """deposit and withdraw of an amount that is not positive raise ValueError and append nothing"""
        store, _ = new_store(impl)
        try:
            account = impl.Account.open(store, "acc", "Ann")
            account.deposit(10)
            expect_raises(ValueError, lambda: account.deposit(amount), f"deposit({amount})")
            expect_raises(ValueError, lambda: account.withdraw(amount), f"withdraw({amount})")
            types = types_of(store, "acc")
            balance = account.balance
        finally:
            store.close()
        expect_equal(types, ["AccountOpened", "MoneyDeposited"], f"types after deposit({amount}) "
                                                                 f"and withdraw({amount}) were refused")
        expect_equal(balance, 10, "balance after the refused amounts")

    def test_stale_account_and_reopen_refused(self, impl):
        """writes use the account's version as expected_version: a stale copy and a second open raise ConcurrencyError"""
        store, _ = new_store(impl)
        try:
            first = impl.Account.open(store, "acc", "Ann")
            expect_raises(impl.ConcurrencyError, lambda: impl.Account.open(store, "acc", "Bob"),
                          "Account.open of an account id that already exists")
            copy = impl.Account.load(store, "acc")
            first.deposit(40)
            expect_raises(impl.ConcurrencyError, lambda: copy.deposit(5),
                          "deposit(5) on a copy loaded at version 1 after the other copy deposited "
                          "(stream at version 2)")
            types = types_of(store, "acc")
            fresh = impl.Account.load(store, "acc")
            fresh.withdraw(15)
            state = (fresh.name, fresh.balance, fresh.version)
        finally:
            store.close()
        expect_equal(types, ["AccountOpened", "MoneyDeposited"], "types after the refused writes")
        expect_equal(state, ("Ann", 25, 3), "(name, balance, version) of a fresh copy after "
                                            "withdraw(15)")

    def test_as_of_at_exact_boundaries(self, impl):
        """Account.load(as_of=t) replays exactly the events with timestamp <= t"""
        store, fake = new_store(impl, start=100)
        try:
            account = impl.Account.open(store, "acc", "Ann")
            fake.advance(100)
            account.deposit(50)
            fake.advance(100)
            account.withdraw(20)
            fake.advance(100)
            account.deposit(5)
            got = {}
            for as_of in (99.5, 100, 199.999, 200, 299.999, 300, 400, 10**9, None):
                loaded = impl.Account.load(store, "acc", as_of=as_of)
                got[as_of] = (loaded.balance, loaded.version)
        finally:
            store.close()
        expected = {99.5: (0, 0), 100: (0, 1), 199.999: (0, 1), 200: (50, 2), 299.999: (50, 2),
                    300: (30, 3), 400: (35, 4), 10**9: (35, 4), None: (35, 4)}
        for as_of, state in expected.items():
            expect_equal(got[as_of], state, f"(balance, version) of Account.load(store, 'acc', "
                                            f"as_of={as_of}) with events at t=100 (open), 200 "
                                            "(+50), 300 (-20), 400 (+5)")

    def test_loaded_past_account_name(self, impl):
        """an account loaded as_of a past time has the name it was opened with and can keep working from a fresh load"""
        store, fake = new_store(impl, start=10)
        try:
            account = impl.Account.open(store, "acc", "Zoë")
            fake.advance(10)
            account.deposit(7)
            past = impl.Account.load(store, "acc", as_of=15)
            past_state = (past.name, past.balance, past.version)
            expect_raises(impl.ConcurrencyError, lambda: past.deposit(1),
                          "deposit(1) on an account loaded as_of a time before its last event "
                          "(its version is behind the stream)")
        finally:
            store.close()
        expect_equal(past_state, ("Zoë", 0, 1), "(name, balance, version) of Account.load as_of=15 "
                                                "(opened at 10, deposit 7 at 20)")
