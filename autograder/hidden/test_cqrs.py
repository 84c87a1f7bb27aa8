"""Hidden suite for the `cqrs` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the log that shows it, and a line the student can paste
into their notebook (whose `MemoryStore` builds the same log) to see it for themselves.

The store is the suite's own: a log of bank events in memory, handed to the student's projection
as an object with `read_all(after)` and nothing else. `read_all(after)` returns a list of the
events at global positions `after + 1, after + 2, ...` (positions are 1, 2, 3, ... with no gaps, as
in `event_sourcing`), so the i-th event of the list (from 0) sits at position `after + i + 1`.
The list crosses the channel by value; each event in it is one of the suite's objects, reached by
reference (reading `event.type` is a round trip), since a namedtuple would arrive as a bare tuple
without its field names. Logs stay at tens of events per check.

An interrupted read: a generator handed across the channel would be drained by the judge before
the student's code saw its first item (an iteration over one of the judge's objects is one round
trip for the lot), so a store that "fails after k events" is built differently: its list holds the
k events, then an event whose every field raises `StoreUnavailable` when read, as a cursor raises
when the connection drops mid-batch. Code that applies events one at a time has applied exactly
the k before it. Nothing here uses real time or threads.
"""
# DSP-CANARY-CQRS-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import expect, expect_equal, returned


class StoreUnavailable(ConnectionError):
    """What the suite's store raises when a read fails (the connection to the database dropped)."""


class Event:
    """One stored event, with the contract's fields (no position: the list's order gives it)."""

    __slots__ = ("data", "stream_id", "timestamp", "type", "version")

    def __init__(self, stream_id, version, type, data, timestamp):
        self.stream_id, self.version, self.type = stream_id, version, type
        self.data, self.timestamp = data, timestamp


class UnreadableEvent:
    """The event a broken read stops at: every field raises, as a cursor does mid-batch."""

    __slots__ = ("_position",)

    def __init__(self, position):
        self._position = position

    def __getattr__(self, name):
        raise StoreUnavailable(f"the connection to the event store dropped while reading the "
                               f"event at position {self._position}")


class Log:
    """The suite's event log and the calls the projection made to it (judge-side only)."""

    def __init__(self):
        self.events: list[Event] = []
        self.versions: dict[str, int] = {}
        self.asked: list = []  # the `after` of every read_all call, in order
        self.break_at = None  # the next read stops at this position (then the store heals)
        self.refuse_next = False  # the next read_all raises before returning anything
        self.steps: list[str] = []  # the notebook lines that build the same log

    def append(self, stream_id, kind, data):
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        self.events.append(Event(stream_id, version, kind, dict(data), 1_700_000_000.0
                                 + len(self.events)))
        self.steps.append(f"store.append({stream_id!r}, {kind!r}, {data!r})")

    def open(self, account, name=None):
        self.append(account, "AccountOpened", {"name": name or account.title()})

    def deposit(self, account, amount):
        self.append(account, "MoneyDeposited", {"amount": amount})

    def withdraw(self, account, amount):
        self.append(account, "MoneyWithdrawn", {"amount": amount})

    def read_all(self, after=0):
        self.asked.append(after)
        if self.refuse_next:
            self.refuse_next = False
            raise StoreUnavailable("the event store is unreachable (read_all failed at once)")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise TypeError(f"read_all(after) takes a position (an int >= 0), got {after!r}")
        events = list(self.events[after:])
        if self.break_at is not None and after < self.break_at <= len(self.events):
            cut = self.break_at - after - 1
            events = events[:cut] + [UnreadableEvent(self.break_at)]
            self.break_at = None
        return events

    def store(self):
        return ContractStore(self)

    def replay(self, *calls: str) -> str:
        """The notebook line that rebuilds this log and makes ``calls`` on a projection ``p``."""
        return "; ".join(["store = MemoryStore()", *self.steps, "p = BalanceProjection(store)",
                          *calls])


class ContractStore:
    """The contract's store: ``read_all(after)`` and nothing else of the suite's log."""

    __slots__ = ("_log",)

    def __init__(self, log):
        self._log = log

    def read_all(self, after=0):
        return self._log.read_all(after)


# ------------------------------------------------------------------------------------- helpers
def model_balances(events) -> dict:
    """What the events say each opened account holds."""
    balances = {}
    for event in events:
        if event.type == "AccountOpened":
            balances.setdefault(event.stream_id, 0)
        elif event.type == "MoneyDeposited":
            balances[event.stream_id] = balances.get(event.stream_id, 0) + event.data["amount"]
        elif event.type == "MoneyWithdrawn":
            balances[event.stream_id] = balances.get(event.stream_id, 0) - event.data["amount"]
    return balances


def ranked(balances: dict) -> list:
    return sorted(balances.items(), key=lambda item: (-item[1], item[0]))


def balances_of(sandbox, projection, accounts) -> dict:
    """``projection.balance(a)`` for every account, in one round trip."""
    accounts = list(accounts)
    values = returned(sandbox.batch(projection.balance, [(a,) for a in accounts]))
    return dict(zip(accounts, values))


def pairs(value):
    """``top_accounts``'s answer as a list of tuples (a list of lists reads the same)."""
    if isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2
                                                for p in value):
        return [tuple(p) for p in value]
    return value


def expect_balances(sandbox, projection, want: dict, what: str) -> None:
    got = balances_of(sandbox, projection, want)
    wrong = {a: (got[a], w) for a, w in want.items() if got[a] != w or isinstance(got[a], bool)}
    expect(not wrong, f"{what}: " + "; ".join(f"balance({a!r}) should be {w!r}, got {g!r}"
                                              for a, (g, w) in list(wrong.items())[:4]))


def catch_up(sandbox, projection):
    """One ``projection.catch_up()``: its outcome, a value or the exception it raised."""
    return sandbox.call_each([(projection.catch_up, ())])[0]


def describe(outcome) -> str:
    if outcome.raised:
        return f"raised {type(outcome.error).__name__}({outcome.error})"
    return f"returned {outcome.value!r}"


def expect_returned(outcome, want, what: str) -> None:
    expect(not outcome.raised and outcome.value == want and isinstance(outcome.value, int)
           and not isinstance(outcome.value, bool),
           f"{what}: catch_up() should return {want!r} (the events it applied), but it "
           f"{describe(outcome)}")


def bank_log(seed: int, accounts: int = 4, events: int = 20) -> Log:
    """A valid bank log from ``random.Random(seed)``: every account opened before it is used,
    no withdrawal above the balance."""
    rng = random.Random(seed)
    log, balances = Log(), {}
    names = [f"acc-{i}" for i in range(accounts)]
    for name in names[:2]:
        log.open(name)
        balances[name] = 0
    while len(log.events) < events:
        name = rng.choice(names)
        if name not in balances:
            log.open(name)
            balances[name] = 0
        elif balances[name] and rng.random() < 0.35:
            amount = rng.randint(1, balances[name])
            log.withdraw(name, amount)
            balances[name] -= amount
        else:
            amount = rng.randint(1, 500)
            log.deposit(name, amount)
            balances[name] += amount
    return log


def small_log() -> Log:
    """alice 100 - 30 + 5 = 75, bob 40, carol opened with nothing: 6 events."""
    log = Log()
    log.open("alice")
    log.open("bob")
    log.deposit("alice", 100)
    log.deposit("bob", 40)
    log.withdraw("alice", 30)
    log.open("carol")
    log.deposit("alice", 5)
    return log


# ------------------------------------------------------------------------------------ catch_up
@pytest.mark.part("catch_up")
class TestCatchUp:
    def test_empty_store_applies_nothing(self, impl, sandbox):
        """a new projection of an empty store: catch_up() returns 0, position is 0"""
        log = Log()
        projection = impl.BalanceProjection(log.store())
        expect_returned(catch_up(sandbox, projection), 0, "BalanceProjection(store) of an empty store")
        expect_equal(projection.position, 0, "position of a projection of an empty store")

    def test_first_catch_up_applies_every_event(self, impl, sandbox):
        """the first catch_up applies every event in the store and returns how many"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        replay = log.replay("p.catch_up()")
        expect_returned(catch_up(sandbox, projection), 7, f"a store holding 7 events (`{replay}`)")
        expect_equal(projection.position, 7, f"`{replay}`: then p.position (the last event's "
                                             "position)")

    def test_deposits_add_and_withdrawals_subtract(self, impl, sandbox):
        """balances after catch_up: deposits add, withdrawals subtract, each event counted once"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        expect_balances(sandbox, projection, {"alice": 75, "bob": 40, "carol": 0},
                        f"`{log.replay('p.catch_up()')}`")

    def test_many_accounts_many_events(self, impl, sandbox):
        """a seeded log of 120 events over 8 accounts: the count and every balance"""
        log = bank_log(seed=7, accounts=8, events=120)
        projection = impl.BalanceProjection(log.store())
        replay = ("store = MemoryStore(); store.extend(bank_events(seed=7, accounts=8, count=120)); "
                  "p = BalanceProjection(store); p.catch_up()")
        expect_returned(catch_up(sandbox, projection), 120, f"120 events (`{replay}`)")
        expect_balances(sandbox, projection, model_balances(log.events), f"`{replay}`")

    def test_new_events_applied_by_the_next_catch_up(self, impl, sandbox):
        """events appended after a catch_up are applied by the next one, which counts only them"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        log.deposit("bob", 60)
        log.open("dave")
        log.withdraw("alice", 75)
        replay = log.replay("p.catch_up()", "store.append('bob', 'MoneyDeposited', {'amount': 60})",
                            "store.append('dave', 'AccountOpened', {'name': 'Dave'})",
                            "store.append('alice', 'MoneyWithdrawn', {'amount': 75})",
                            "p.catch_up()")
        replay = replay.replace("; store.append('bob', 'MoneyDeposited', {'amount': 60}); store"
                                ".append('dave', 'AccountOpened', {'name': 'Dave'}); store.append("
                                "'alice', 'MoneyWithdrawn', {'amount': 75}); p = ", "; p = ", 1)
        expect_returned(catch_up(sandbox, projection), 3, f"7 events, catch_up(), then 3 more events "
                                                 f"(`{replay}`): the second catch_up")
        expect_equal(projection.position, 10, "position after the second catch_up (10 events)")
        expect_balances(sandbox, projection, {"alice": 0, "bob": 100, "carol": 0, "dave": 0},
                        "after bob +60, dave opened, alice -75 and the second catch_up")

    def test_read_all_asked_from_the_position(self, impl, sandbox):
        """catch_up asks read_all(after) from its own position: 0 first, then the last applied"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        first = list(log.asked)
        log.deposit("carol", 9)
        log.deposit("carol", 1)
        returned([catch_up(sandbox, projection)])
        second = log.asked[len(first):]
        expect(bool(first) and first[0] == 0 and set(first) <= {0, 7},
               f"a new projection's catch_up over 7 events should call read_all(0) (then, if it "
               f"asks again, read_all(7)); it asked read_all with after = {first}")
        expect(bool(second) and second[0] == 7 and set(second) <= {7, 9},
               f"7 events applied, 2 appended: catch_up should call read_all(7) (the projection's "
               f"position; then, if it asks again, read_all(9)); it asked after = {second}. "
               "Reading from 0 and skipping what was applied reads the whole log every time.")

    def test_unknown_event_types_are_passed_over(self, impl, sandbox):
        """events of other types change no balance, but count as applied and move the position"""
        log = Log()
        log.open("alice")
        log.append("alice", "AddressChanged", {"city": "Lyon"})
        log.deposit("alice", 50)
        log.append("alice", "InterestRateSet", {"amount": 1000})
        log.append("audit-1", "AuditRun", {})
        replay = log.replay("p.catch_up()")
        expect_returned(catch_up(sandbox, projection := impl.BalanceProjection(log.store())), 5,
                        f"5 events, 3 of types a balance ignores (`{replay}`)")
        expect_equal(projection.position, 5, f"`{replay}`: then p.position")
        expect_balances(sandbox, projection, {"alice": 50, "audit-1": 0},
                        f"`{replay}` (InterestRateSet carries an amount but is no deposit)")
        expect_returned(catch_up(sandbox, projection), 0, f"`{replay}; p.catch_up()`: the second catch_up")

    def test_two_projections_keep_their_own_state(self, impl, sandbox):
        """two projections, of one store or of two, each keep their own position and balances"""
        log, other = small_log(), Log()
        other.open("zed")
        other.deposit("zed", 5)
        first = impl.BalanceProjection(log.store())
        second = impl.BalanceProjection(log.store())
        third = impl.BalanceProjection(other.store())
        returned([catch_up(sandbox, first)])
        expect_returned(catch_up(sandbox, second), 7, "a second projection of the same 7-event store, "
                                             "after the first caught up")
        expect_returned(catch_up(sandbox, third), 2, "a projection of another store holding 2 events")
        expect_balances(sandbox, first, {"alice": 75, "zed": 0},
                        "the first projection, after a projection of another store caught up")
        expect_balances(sandbox, third, {"zed": 5, "alice": 0},
                        "the projection of the other store (zed +5 only)")
        expect_equal(third.position, 2, "position of the projection of the 2-event store")


# ---------------------------------------------------------------------------------- idempotent
@pytest.mark.part("idempotent")
class TestIdempotent:
    def test_repeated_catch_up_applies_nothing_again(self, impl, sandbox):
        """catch_up again with nothing new returns 0 and changes no balance, however often"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        outcomes = sandbox.batch(projection.catch_up, [()] * 3)
        replay = log.replay("p.catch_up()", "p.catch_up()")
        for n, outcome in enumerate(outcomes, 2):
            expect_returned(outcome, 0, f"`{replay}`: catch_up number {n} with no new event")
        expect_equal(projection.position, 7, f"`{replay}`: position after 4 catch-ups of 7 events")
        expect_balances(sandbox, projection, {"alice": 75, "bob": 40, "carol": 0},
                        f"`{replay}` and two more catch-ups")

    @pytest.mark.parametrize("fail_at", [1, 4, 7])
    def test_interrupted_read_keeps_what_was_applied(self, impl, sandbox, fail_at):
        """a read that fails at event k: the events before it are applied, position is k - 1"""
        log = small_log()
        log.break_at = fail_at
        projection = impl.BalanceProjection(log.store())
        _ = catch_up(sandbox, projection)
        replay = log.replay(f"store.fail_at({fail_at})", "attempt(p.catch_up)")
        want = model_balances(log.events[:fail_at - 1])
        expect_equal(projection.position, fail_at - 1,
                     f"7 events; reading event {fail_at} fails (`{replay}`): p.position (the last "
                     f"event applied, {fail_at - 1}; the one that failed was never applied)")
        expect_balances(sandbox, projection, {a: want.get(a, 0) for a in ("alice", "bob", "carol")},
                        f"`{replay}`: exactly the {fail_at - 1} events before the failure applied")

    @pytest.mark.parametrize("fail_at", [1, 4, 7])
    def test_after_an_interruption_the_rest_is_applied_once(self, impl, sandbox, fail_at):
        """after a failed read, the next catch_up applies the rest, each event exactly once"""
        log = small_log()
        log.break_at = fail_at
        projection = impl.BalanceProjection(log.store())
        _ = catch_up(sandbox, projection)
        replay = log.replay(f"store.fail_at({fail_at})", "attempt(p.catch_up)", "p.catch_up()")
        expect_returned(catch_up(sandbox, projection), 7 - (fail_at - 1),
                        f"7 events, the first read failing at event {fail_at} (`{replay}`): the "
                        "catch_up after the failure")
        expect_equal(projection.position, 7, f"`{replay}`: then p.position")
        expect_balances(sandbox, projection, {"alice": 75, "bob": 40, "carol": 0},
                        f"`{replay}`: every event applied once")
        expect_returned(catch_up(sandbox, projection), 0, f"`{replay}; p.catch_up()`: one more catch_up")

    def test_the_store_error_reaches_the_caller(self, impl, sandbox):
        """a read that fails part-way: catch_up raises (the error is not swallowed)"""
        log = small_log()
        log.break_at = 5
        projection = impl.BalanceProjection(log.store())
        outcome = catch_up(sandbox, projection)
        expect(outcome.raised, f"reading event 5 of 7 fails with StoreUnavailable "
                               f"(`{log.replay('store.fail_at(5)', 'p.catch_up()')}`): catch_up "
                               f"should let the error reach its caller (so the failure is seen and "
                               f"retried), but it {describe(outcome)}")

    def test_read_all_failing_at_once_changes_nothing(self, impl, sandbox):
        """read_all raising before any event: catch_up raises, nothing changes, a retry works"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        log.deposit("bob", 10)
        log.refuse_next = True
        replay = log.replay("p.catch_up()", "store.append('bob', 'MoneyDeposited', "
                            "{'amount': 10})", "store.refuse_next()", "attempt(p.catch_up)")
        outcome = catch_up(sandbox, projection)
        expect(outcome.raised, f"`{replay}`: read_all raised StoreUnavailable, so catch_up should "
                               f"raise too, but it {describe(outcome)}")
        expect_equal(projection.position, 7, f"`{replay}`: p.position after the failed catch_up")
        expect_balances(sandbox, projection, {"bob": 40}, f"`{replay}`: nothing applied")
        expect_returned(catch_up(sandbox, projection), 1, f"`{replay}; p.catch_up()`: the retry")
        expect_balances(sandbox, projection, {"bob": 50, "alice": 75}, f"`{replay}; p.catch_up()`")

    def test_interrupted_twice_then_caught_up(self, impl, sandbox):
        """two failed reads in a row, at different events, then a catch_up: every event once"""
        log = bank_log(seed=11, accounts=3, events=24)
        projection = impl.BalanceProjection(log.store())
        log.break_at = 9
        _ = catch_up(sandbox, projection)
        log.break_at = 17
        _ = catch_up(sandbox, projection)
        replay = ("store = MemoryStore(); store.extend(bank_events(seed=11, accounts=3, count=24)); "
                  "p = BalanceProjection(store); store.fail_at(9); attempt(p.catch_up); "
                  "store.fail_at(17); attempt(p.catch_up)")
        expect_equal(projection.position, 16, f"`{replay}`: p.position")
        expect_returned(catch_up(sandbox, projection), 8, f"`{replay}; p.catch_up()`: the third "
                                                          "catch_up")
        expect_balances(sandbox, projection, model_balances(log.events),
                        f"`{replay}; p.catch_up()`: every event once")

    @settings(max_examples=30)
    @given(seed=st.integers(0, 10**6), plan=st.lists(st.tuples(
        st.integers(0, 6), st.one_of(st.none(), st.integers(1, 8), st.just("refuse"))),
        min_size=1, max_size=6))
    def test_any_log_and_interruptions_match_a_model(self, impl, sandbox, seed, plan):
        """random logs, appends between catch-ups and failed reads anywhere match a model (property-based)"""
        count = 6 * len(plan) + 2
        full = bank_log(seed=seed, accounts=3, events=count).events
        log = Log()
        projection = impl.BalanceProjection(log.store())
        position, taken = 0, 0
        steps = [f"events = bank_events(seed={seed}, accounts=3, count={count})",
                 "store = MemoryStore()", "p = BalanceProjection(store)"]
        for appended, failure in plan:
            for event in full[taken:taken + appended]:
                log.append(event.stream_id, event.type, event.data)
            if appended:
                steps.append(f"store.extend(events[{taken}:{taken + appended}])")
            taken += appended
            if failure == "refuse":
                log.refuse_next = True
                steps.append("store.refuse_next()")
            elif failure is not None and position + failure <= len(log.events):
                log.break_at = position + failure
                steps.append(f"store.fail_at({position + failure})")
            broken = failure == "refuse" or log.break_at is not None
            want_position = (position if failure == "refuse"
                             else log.break_at - 1 if log.break_at is not None
                             else len(log.events))
            outcome = catch_up(sandbox, projection)
            log.break_at = None
            steps.append("attempt(p.catch_up)" if broken else "p.catch_up()")
            story = f"seed={seed}, plan={plan}; replay: `{'; '.join(steps)}`"
            if not broken:
                expect_returned(outcome, want_position - position, story)
            position = want_position
            expect_equal(projection.position, position, f"{story}, then p.position")
        want = model_balances(log.events[:position])
        expect_balances(sandbox, projection, want, f"seed={seed}, plan={plan}; replay: "
                                                   f"`{'; '.join(steps)}`, then the balances")


# ------------------------------------------------------------------------------------- queries
@pytest.mark.part("queries")
class TestQueries:
    def test_unknown_account_is_zero(self, impl, sandbox):
        """balance of an account never seen is 0, before and after catch_up"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        expect_balances(sandbox, projection, {"alice": 0, "nobody": 0},
                        "a new projection, before any catch_up")
        returned([catch_up(sandbox, projection)])
        expect_balances(sandbox, projection, {"nobody": 0, "": 0, "ALICE": 0},
                        f"`{log.replay('p.catch_up()')}`: accounts never opened")

    def test_top_accounts_highest_first(self, impl, sandbox):
        """top_accounts(n): (account_id, balance) pairs, highest balance first, n of them"""
        log = Log()
        for account, amount in [("a", 30), ("b", 70), ("c", 10), ("d", 50)]:
            log.open(account)
            log.deposit(account, amount)
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        replay = log.replay("p.catch_up()", "p.top_accounts(2)")
        expect_equal(pairs(projection.top_accounts(2)), [("b", 70), ("d", 50)], f"`{replay}`")
        expect_equal(pairs(projection.top_accounts(4)), [("b", 70), ("d", 50), ("a", 30),
                                                         ("c", 10)],
                     f"`{replay[:-len('p.top_accounts(2)')]}p.top_accounts(4)`")

    def test_ties_by_account_id(self, impl, sandbox):
        """equal balances are listed by account id, ascending"""
        log = Log()
        for account, amount in [("m", 20), ("c", 20), ("x", 5), ("a", 20), ("k", 5)]:
            log.open(account)
            log.deposit(account, amount)
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        expect_equal(pairs(projection.top_accounts(5)),
                     [("a", 20), ("c", 20), ("m", 20), ("k", 5), ("x", 5)],
                     f"`{log.replay('p.catch_up()', 'p.top_accounts(5)')}` (ties by account id)")
        expect_equal(pairs(projection.top_accounts(2)), [("a", 20), ("c", 20)],
                     "the same, top_accounts(2): the first two of the three tied at 20")

    def test_n_above_the_count_and_zero(self, impl, sandbox):
        """top_accounts(n) with n above the number of accounts lists them all; n = 0 lists none"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        expect_equal(pairs(projection.top_accounts(3)), [],
                     "top_accounts(3) of a new projection, before any catch_up")
        returned([catch_up(sandbox, projection)])
        replay = log.replay("p.catch_up()", "p.top_accounts(10)")
        expect_equal(pairs(projection.top_accounts(10)),
                     [("alice", 75), ("bob", 40), ("carol", 0)],
                     f"`{replay}` (carol was opened with nothing: she is listed, with 0)")
        expect_equal(pairs(projection.top_accounts(0)), [], "top_accounts(0)")

    def test_position_is_the_last_event_applied(self, impl, sandbox):
        """.position: 0 at first, then the global position of the last event applied"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        expect_equal(projection.position, 0, "position of a new projection")
        returned([catch_up(sandbox, projection)])
        log.deposit("bob", 1)
        expect_equal(projection.position, 7, "position after catching up 7 events (an 8th "
                                             "appended since)")
        returned([catch_up(sandbox, projection)])
        expect_equal(projection.position, 8, "position after the 8th event is applied")

    def test_queries_answer_from_what_was_applied(self, impl, sandbox):
        """queries read the projection, not the store: new events show only after catch_up"""
        log = small_log()
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        asked = len(log.asked)
        log.deposit("carol", 500)
        replay = log.replay("p.catch_up()", "store.append('carol', 'MoneyDeposited', "
                            "{'amount': 500})", "p.balance('carol')")
        expect_balances(sandbox, projection, {"carol": 0, "alice": 75},
                        f"`{replay}` (the deposit is not applied until the next catch_up)")
        expect_equal(pairs(projection.top_accounts(1)), [("alice", 75)],
                     "top_accounts(1) before the next catch_up")
        expect_equal(projection.position, 7, "position before the next catch_up")
        expect_equal(log.asked[asked:], [], "read_all calls made by balance, top_accounts and "
                                            "position (only catch_up reads the store)")
        returned([catch_up(sandbox, projection)])
        expect_equal(pairs(projection.top_accounts(1)), [("carol", 500)],
                     "top_accounts(1) after the next catch_up")

    @settings(max_examples=25)
    @given(seed=st.integers(0, 10**6), accounts=st.integers(1, 7))
    def test_any_log_ranks_like_a_model(self, impl, sandbox, seed, accounts):
        """random logs: balance, top_accounts(n) for every n, and position match a model (property-based)"""
        log = bank_log(seed=seed, accounts=accounts, events=3 * accounts + 4)
        for i in range(0, accounts, 2):  # equal balances, so ties are exercised
            log.open(f"tie-{i}")
            log.deposit(f"tie-{i}", 100)
        projection = impl.BalanceProjection(log.store())
        returned([catch_up(sandbox, projection)])
        want = model_balances(log.events)
        ties = "; ".join(f"store.append('tie-{i}', 'AccountOpened', {{'name': 'Tie-{i}'}}); "
                         f"store.append('tie-{i}', 'MoneyDeposited', {{'amount': 100}})"
                         for i in range(0, accounts, 2))
        story = (f"`store = MemoryStore(); store.extend(bank_events(seed={seed}, accounts="
                 f"{accounts}, count={3 * accounts + 4})); {ties}; p = BalanceProjection(store); "
                 "p.catch_up()`")
        expect_balances(sandbox, projection, want, story)
        ns = list(range(len(want) + 3))
        got = [pairs(v) for v in returned(sandbox.batch(projection.top_accounts, [(n,) for n in ns]))]
        for n, value in zip(ns, got):
            expect_equal(value, ranked(want)[:n], f"{story}: top_accounts({n})")
        expect_equal(projection.position, len(log.events), f"{story}: position")
