"""Hidden suite for the `read_replicas` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with a one-line replay the student can paste into a notebook
cell (`clock = FakeClock(); store = ReplicatedStore(...); ...`) to see it for themselves.

Time is the suite's own FakeClock, handed over as a plain function (`support.contract_clock`), so
nothing here waits or depends on the machine's speed. The calls made at one clock reading go to the
student's process in one batch (`sandbox.call_each`): the clock only moves between batches, and
every call's result is compared with what the contract says, so the batch changes nothing but the
number of round trips. `reads_served()` is asked after every read, which is how the suite sees
which server answered. Readings the grader takes where the contract is silent (the notebook states
each one): a read the primary answers takes no replica's turn and is not counted; a replica read
that finds no value (KeyError) was still served by that replica; "in turn" is any order that keeps
the replicas' counts within one of each other (0, 1, 2, 0, ... or any other start); a session reads
at least at the position of its own last write, whatever key it reads; `num_replicas=0` means every
read is the primary's; a negative `num_replicas` or `replication_lag` raises ValueError;
`replica_position(i)` for `i` outside `range(num_replicas)` raises IndexError.
"""
# DSP-CANARY-READ_REPLICAS-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import contract_clock, expect, expect_equal

from dspatterns.testing import FakeClock

MISSING = ("raised", "KeyError")


# ------------------------------------------------------------------------------------- helpers
def normalise(outcome):
    """A batch outcome as ("returned", value) or ("raised", what); KeyError is the only error the
    contract names, so any other exception keeps its message for the report."""
    if not outcome.raised:
        return ("returned", outcome.value)
    error = outcome.error
    for named in (KeyError, IndexError):  # the errors the contract and the notebook name
        if isinstance(error, named):
            return ("raised", named.__name__)
    text = f"{type(error).__name__}: {error}"
    where = getattr(error, "remote_traceback", None)
    if where:
        text += f" (at {where[-1].strip()})"
    return ("raised", text)


def said(result) -> str:
    kind, value = result
    return f"returned {value!r}" if kind == "returned" else f"raised {value}"


def wanted(result) -> str:
    kind, value = result
    return f"return {value!r}" if kind == "returned" else f"raise {value}"


def value_or_missing(value):
    return MISSING if value is MISSING else ("returned", value)


class Step:
    """One call made in a batch: the line of code that replays it and what it did."""

    __slots__ = ("line", "replay", "result")

    def __init__(self, line, result, replay):
        self.line, self.result, self.replay = line, result, replay


class Run:
    """A store on the suite's fake clock, writing down each step as the code that replays it."""

    def __init__(self, impl, sandbox, num_replicas=2, lag=1.0, start=0.0, sessions=0, **extra):
        self.sandbox = sandbox
        self.clock = FakeClock(start)
        self.lines = [f"clock = FakeClock({start!r})"]
        if extra.get("defaults"):
            self.store = impl.ReplicatedStore(clock=contract_clock(self.clock))
            self.lines.append("store = ReplicatedStore(clock=clock)")
        else:
            self.store = impl.ReplicatedStore(num_replicas=num_replicas, replication_lag=lag,
                                              clock=contract_clock(self.clock))
            self.lines.append(f"store = ReplicatedStore(num_replicas={num_replicas!r}, "
                              f"replication_lag={lag!r}, clock=clock)")
        self.num_replicas = 2 if extra.get("defaults") else num_replicas
        self.write_fn, self.read_fn = self.store.write, self.store.read
        self.served_fn, self.position_fn = self.store.reads_served, self.store.replica_position
        self.sessions = []
        for _ in range(sessions):
            self.add_session()

    def add_session(self):
        session = self.store.session()
        self.lines.append(f"s{len(self.sessions)} = store.session()")
        self.sessions.append((session.write, session.read))
        return len(self.sessions) - 1

    def at(self, when):
        """Move the fake clock to ``when`` (never backwards)."""
        if when != self.clock.now:
            self.lines.append(f"clock.now = {when!r}")
            self.clock.now = when

    def advance(self, seconds):
        if seconds:
            self.clock.advance(seconds)
            self.lines.append(f"clock.advance({seconds!r})")

    @property
    def replay(self) -> str:
        return "; ".join(self.lines)

    # Calls, described as (code, function, args, kwargs), run in one batch at the current time.
    def write(self, key, value):
        return (f"store.write({key!r}, {value!r})", self.write_fn, (key, value), {})

    def read(self, key, min_position=None):
        if min_position is None:
            return (f"store.read({key!r})", self.read_fn, (key,), {})
        return (f"store.read({key!r}, min_position={min_position!r})", self.read_fn, (key,),
                {"min_position": min_position})

    def served(self):
        return ("store.reads_served()", self.served_fn, (), {})

    def position(self, i):
        return (f"store.replica_position({i!r})", self.position_fn, (i,), {})

    def session_write(self, s, key, value):
        return (f"s{s}.write({key!r}, {value!r})", self.sessions[s][0], (key, value), {})

    def session_read(self, s, key):
        return (f"s{s}.read({key!r})", self.sessions[s][1], (key,), {})

    def batch(self, calls) -> list[Step]:
        outcomes = self.sandbox.call_each([(fn, args, kwargs) for _, fn, args, kwargs in calls])
        steps = []
        for (line, *_), outcome in zip(calls, outcomes):
            self.lines.append(line)
            steps.append(Step(line, normalise(outcome), self.replay))
        return steps

    def one(self, call) -> Step:
        return self.batch([call])[0]


def expect_result(step: Step, expected, why: str):
    expect(step.result == expected,
           f"{step.line} {why}: expected it to {wanted(expected)}, but it {said(step.result)}\n"
           f"  replay: {step.replay}")


def expect_returns(step: Step, value, why: str):
    expect_result(step, ("returned", value), why)


def served_list(step: Step, num_replicas: int) -> list:
    """The list reads_served() gave, checked for its shape: one count per replica."""
    kind, value = step.result
    expect(kind == "returned" and isinstance(value, list) and len(value) == num_replicas
           and all(isinstance(n, int) and not isinstance(n, bool) for n in value),
           f"store.reads_served() should return a list of {num_replicas} counts (one per "
           f"replica), but it {said(step.result)}\n  replay: {step.replay}")
    return value


def reads_then_served(run: Run, reads) -> list:
    """Each read followed by reads_served(), all in one batch: (read step, served step) pairs."""
    calls = []
    for read in reads:
        calls += [read, run.served()]
    steps = run.batch(calls)
    return list(zip(steps[0::2], steps[1::2]))


def served_by(before: list, after: list, step: Step) -> int | None:
    """Which replica served ``step`` (None: the primary), from reads_served() before and after."""
    grown = [i for i, (b, a) in enumerate(zip(before, after)) if a != b]
    expect(not grown or (len(grown) == 1 and after[grown[0]] == before[grown[0]] + 1),
           f"one read must add 1 to one replica's count in reads_served(); around {step.line} it "
           f"went from {before} to {after}\n  replay: {step.replay}")
    return grown[0] if grown else None


def expect_turns_even(counts: list, step: Step):
    expect(not counts or max(counts) - min(counts) <= 1,
           f"reads should go to the replicas in turn, so no replica serves two more reads than "
           f"another; after {step.line}, reads_served() is {counts}\n  replay: {step.replay}")


# Random schedules for the property tests: clock advances, plain writes and reads, two sessions'
# writes and reads, replica_position. One driver runs them; each part checks its own clauses, so a
# bug in spreading or sessions costs those parts, not this one.
LAGS = st.sampled_from([0.0, 0.5, 1.0, 2.5])
SCHEDULES = st.lists(st.one_of(
    st.tuples(st.just("advance"), st.sampled_from([0.25, 0.5, 1.0, 2.0])),
    st.tuples(st.just("write"), st.sampled_from("abc")),
    st.tuples(st.just("read"), st.sampled_from("abc"), st.integers(0, 6)),
    st.tuples(st.just("session write"), st.integers(0, 1), st.sampled_from("abc")),
    st.tuples(st.just("session read"), st.integers(0, 1), st.sampled_from("abc")),
    st.tuples(st.just("position"), st.integers(0, 2))), min_size=1, max_size=24)


# ----------------------------------------------------------------------------------- replication
@pytest.mark.part("replication")
class TestReplication:
    def test_positions_count_from_one(self, impl, sandbox):
        """write returns the log position: 1, 2, 3, ... across all keys, rewrites included"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0)
        keys = ["a", "b", "a", "c", "a", "b", "d", "a", "a", "e", "b", "a"]
        steps = run.batch([run.write(key, f"v{n}") for n, key in enumerate(keys, 1)])
        for n, step in enumerate(steps, 1):
            expect_returns(step, n, f"(write number {n} to the primary)")
            expect(type(step.result[1]) is int, f"{step.line} should return an int log position, "
                                                f"got {step.result[1]!r}\n  replay: {step.replay}")
        run.advance(0.5)
        later = run.batch([run.write("a", "later"), run.write("z", "new key")])
        expect_returns(later[0], 13, "(the 13th write, half a second later)")
        expect_returns(later[1], 14, "(the 14th write)")

    def test_two_stores_share_nothing(self, impl, sandbox):
        """two stores have their own logs, positions and counts (nothing kept on the class)"""
        first = Run(impl, sandbox, num_replicas=2, lag=0.0)
        first.batch([first.write("a", 1), first.write("b", 2), first.read("a"), first.read("b")])
        second = Run(impl, sandbox, num_replicas=2, lag=0.0)
        steps = second.batch([second.served(), second.write("c", 3), second.read("a"),
                              second.position(0)])
        expect_returns(steps[0], [0, 0], "for a new store, made after another store served 2 reads")
        expect_returns(steps[1], 1, "(the first write to this store, after 2 writes to another)")
        expect_result(steps[2], MISSING, "('a' was written to another store)")
        expect_returns(steps[3], 1, "(this store has one write, and replication_lag=0)")

    @pytest.mark.parametrize("lag", [1.0, 2.5, 0.25])
    def test_applied_exactly_at_the_lag(self, impl, sandbox, lag):
        """a write is applied once replication_lag has passed (>=): at written_at + lag, not a hair before"""
        run = Run(impl, sandbox, num_replicas=3, lag=lag, start=10.0)
        expect_returns(run.one(run.write("k", "v")), 1, "(the first write)")
        due = 10.0 + lag
        for when, want in ((10.0, 0), (due - 1e-6, 0), (math.nextafter(due, 0.0), 0),
                           (due, 1), (due + 1e-6, 1), (due + 500.0, 1)):
            run.at(when)
            verdict = "at or after" if want else "before"
            for step in run.batch([run.position(i) for i in range(3)]):
                expect_returns(step, want, f"at t={when!r}, {verdict} written_at + "
                                           f"replication_lag = 10.0 + {lag} (the rule is >=)")

    def test_each_write_applies_lag_after_it_was_written(self, impl, sandbox):
        """each write is applied replication_lag after its own write time, in log order"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0)
        for when in (0.0, 0.5, 2.0, 2.25):
            run.at(when)
            run.one(run.write("k", when))
        for when, want in ((2.25, 2), (2.99, 2), (3.0, 3), (3.24, 3), (3.25, 4), (9.0, 4)):
            run.at(when)
            for step in run.batch([run.position(0), run.position(1)]):
                expect_returns(step, want, f"at t={when} (writes at t=0, 0.5, 2, 2.25; "
                                           f"replication_lag=1: {want} of them are due)")

    def test_zero_lag_applies_at_once(self, impl, sandbox):
        """replication_lag=0: a replica has applied a write the moment it is written"""
        run = Run(impl, sandbox, num_replicas=2, lag=0.0, start=3.0)
        steps = run.batch([run.write("k", "v1"), run.position(0), run.position(1),
                           run.read("k"), run.served()])
        expect_returns(steps[1], 1, "right after the write, with replication_lag=0")
        expect_returns(steps[2], 1, "right after the write, with replication_lag=0")
        expect_returns(steps[3], "v1", "with replication_lag=0 (the replicas have it)")
        expect(sum(served_list(steps[4], 2)) == 1,
               f"with replication_lag=0 a replica has the write, so it should serve the read; "
               f"reads_served() is {steps[4].result[1]}\n  replay: {steps[4].replay}")

    def test_defaults_two_replicas_one_second(self, impl, sandbox):
        """the defaults: num_replicas=2 and replication_lag=1.0 seconds"""
        run = Run(impl, sandbox, defaults=True)
        steps = run.batch([run.served(), run.write("k", "v"), run.position(0), run.position(1),
                           run.position(2)])
        expect_returns(steps[0], [0, 0], "for ReplicatedStore(clock=clock) (2 replicas by default)")
        expect_result(steps[4], ("raised", "IndexError"), "(there are 2 replicas by default)")
        run.at(math.nextafter(1.0, 0.0))
        for step in run.batch([run.position(0), run.position(1)]):
            expect_returns(step, 0, "a hair before 1 s (the default replication_lag is 1.0)")
        run.at(1.0)
        for step in run.batch([run.position(0), run.position(1)]):
            expect_returns(step, 1, "1 s after the write (the default replication_lag is 1.0)")

    def test_replica_position_reads_the_clock_it_is_given(self, impl, sandbox):
        """replica_position reads the clock it was given, at the moment it is asked"""
        run = Run(impl, sandbox, num_replicas=2, lag=5.0, start=50000.0)
        run.one(run.write("k", "v"))
        expect_returns(run.one(run.position(0)), 0, "at once (replication_lag=5; the store must "
                                                    "use the clock it was given, not the real time)")
        run.advance(5.0)  # no call in between: replica_position must read the clock itself
        expect_returns(run.one(run.position(1)), 1, "5 s later on the given clock, with no other "
                                                    "call since (replication_lag=5)")
        expect_returns(run.one(run.position(0)), 1, "5 s later on the given clock")

    def test_negative_arguments_raise_value_error(self, impl):
        """num_replicas < 0 or replication_lag < 0 raises ValueError; 0 replicas and a zero lag are fine"""
        clock = contract_clock(FakeClock())
        for kwargs in ({"num_replicas": -1}, {"replication_lag": -0.5},
                       {"num_replicas": -3, "replication_lag": 1.0}):
            args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            try:
                impl.ReplicatedStore(clock=clock, **kwargs)
            except ValueError:
                continue
            except Exception as exc:  # noqa: BLE001 - the message says what came out
                raise AssertionError(f"ReplicatedStore({args}, clock=clock) should raise "
                                     f"ValueError, raised {type(exc).__name__}: {exc}") from None
            raise AssertionError(f"ReplicatedStore({args}, clock=clock) should raise ValueError")
        impl.ReplicatedStore(num_replicas=0, replication_lag=0.0, clock=clock)

    def test_replica_index_out_of_range_raises_index_error(self, impl, sandbox):
        """replica_position(i) raises IndexError for i outside range(num_replicas), negatives included"""
        run = Run(impl, sandbox, num_replicas=3, lag=1.0)
        run.one(run.write("k", "v"))
        for step in run.batch([run.position(i) for i in (3, 4, 100, -1)]):
            expect_result(step, ("raised", "IndexError"), "(the replicas are 0, 1 and 2)")
        empty = Run(impl, sandbox, num_replicas=0, lag=1.0)
        expect_result(empty.one(empty.position(0)), ("raised", "IndexError"), "(there are no replicas)")

    @settings(max_examples=40)
    @given(lag=st.sampled_from([0.0, 0.5, 1.0, 2.5]), num_replicas=st.integers(1, 3),
           gaps=st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]), min_size=1, max_size=8),
           probes=st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]), min_size=1, max_size=6))
    def test_positions_match_the_lag_for_any_schedule(self, impl, sandbox, lag, num_replicas, gaps,
                                                       probes):
        """for any write times, every replica's position counts the writes at least replication_lag old (property-based)"""
        run = Run(impl, sandbox, num_replicas=num_replicas, lag=lag)
        times = []
        for n, gap in enumerate(gaps, 1):
            run.advance(gap)
            times.append(run.clock.now)
            expect_returns(run.one(run.write(f"k{n % 3}", n)), n, f"(write number {n})")
        for gap in probes:
            run.advance(gap)
            want = sum(1 for t in times if run.clock.now - t >= lag)
            for step in run.batch([run.position(i) for i in range(num_replicas)]):
                expect_returns(step, want, f"at t={run.clock.now} (writes at t={times}, "
                                           f"replication_lag={lag})")


# ----------------------------------------------------------------------------------------- reads
@pytest.mark.part("reads")
class TestReads:
    def test_replicas_return_the_value_as_of_what_they_applied(self, impl, sandbox):
        """a key written twice: until the second write is applied, replicas return the first value"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0)
        run.one(run.write("k", "first"))
        run.at(0.5)
        run.one(run.write("k", "second"))
        for step in run.batch([run.read("k"), run.read("k")]):
            expect_result(step, MISSING, "at t=0.5 (written at t=0 and t=0.5, replication_lag=1: "
                                         "no replica has applied either write)")
        run.at(1.0)
        for step in run.batch([run.read("k"), run.read("k"), run.read("k")]):
            expect_returns(step, "first", "at t=1 (the replicas have applied the write of t=0 "
                                          "but not the one of t=0.5)")
        run.at(1.5)
        for step in run.batch([run.read("k"), run.read("k")]):
            expect_returns(step, "second", "at t=1.5 (both writes applied)")

    def test_key_not_yet_applied_raises_key_error_on_a_replica(self, impl, sandbox):
        """a key written but not yet applied raises KeyError on a replica read with min_position=0"""
        run = Run(impl, sandbox, num_replicas=3, lag=2.0)
        run.one(run.write("old", 1))
        run.at(2.0)
        steps = run.batch([run.write("new", 2), run.read("new"), run.read("new", min_position=0),
                           run.read("old"), run.read("new", min_position=2),
                           run.read("never written", min_position=99), run.read("never written")])
        expect_result(steps[1], MISSING, "right after writing 'new' (the replicas have not applied it)")
        expect_result(steps[2], MISSING, "right after writing 'new' (the replicas have not applied it)")
        expect_returns(steps[3], 1, "at t=2 ('old' was written at t=0, replication_lag=2)")
        expect_returns(steps[4], 2, "(no replica has reached position 2, so the primary answers)")
        expect_result(steps[5], MISSING, "(the primary has no value for that key)")
        expect_result(steps[6], MISSING, "(no server has a value for that key)")

    def test_min_position_above_every_replica_goes_to_the_primary(self, impl, sandbox):
        """min_position above every replica's position: the primary answers, with the latest value"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.5)
        for when, value in ((0.0, "v1"), (1.0, "v2"), (2.0, "v3")):
            run.at(when)
            run.one(run.write("k", value))
        # at t=2 the replicas have applied position 1 only
        pairs = reads_then_served(run, [run.read("k", min_position=2), run.read("k", min_position=3),
                                        run.read("k", min_position=50), run.read("k", min_position=1),
                                        run.read("k")])
        for read, served in pairs[:3]:
            expect_returns(read, "v3", "at t=2 (writes at t=0, 1, 2 with replication_lag=1.5: "
                                       "the replicas are at position 1, so the primary answers)")
            expect_returns(served, [0, 0], "after reads only the primary could answer")
        for read, _ in pairs[3:]:
            expect_returns(read, "v1", "at t=2 (the replicas are at position 1, which qualifies)")
        expect(sum(served_list(pairs[-1][1], 2)) == 2,
               f"two reads that the replicas could serve should be counted in reads_served(), "
               f"got {pairs[-1][1].result[1]}\n  replay: {pairs[-1][1].replay}")

    def test_min_position_equal_to_the_replicas_is_served_by_a_replica(self, impl, sandbox):
        """a replica that has applied exactly min_position qualifies ("at least")"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0)
        run.batch([run.write("k", "one"), run.write("k", "two")])
        run.at(1.0)
        run.one(run.write("k", "three"))
        pairs = reads_then_served(run, [run.read("k", min_position=2), run.read("k", min_position=2),
                                        run.read("k", min_position=1)])
        for n, (read, served) in enumerate(pairs, 1):
            expect_returns(read, "two", "at t=1 (the replicas have applied positions 1 and 2, "
                                        "so they qualify)")
            expect(sum(served_list(served, 2)) == n,
                   f"a replica at position 2 should serve a read with min_position <= 2; after "
                   f"{read.line}, reads_served() is {served.result[1]}\n  replay: {served.replay}")

    def test_none_and_empty_values_are_values(self, impl, sandbox):
        """None, 0, "" and [] are values like any other: reading them returns them, not KeyError"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0)
        values = {"none": None, "zero": 0, "empty": "", "list": [], "false": False}
        run.batch([run.write(key, value) for key, value in values.items()])
        for key, value in values.items():
            expect_returns(run.one(run.read(key, min_position=5)), value, "(the primary has it)")
        run.at(1.0)
        for step, value in zip(run.batch([run.read(key) for key in values]), values.values()):
            expect_returns(step, value, "(the replicas have applied it)")

    def test_no_replicas_every_read_from_the_primary(self, impl, sandbox):
        """num_replicas=0: every read is answered by the primary with the latest value"""
        run = Run(impl, sandbox, num_replicas=0, lag=1.0)
        steps = run.batch([run.served(), run.write("k", "v1"), run.read("k"), run.write("k", "v2"),
                           run.read("k"), run.read("k", min_position=0), run.read("nothing"),
                           run.served()])
        expect_returns(steps[0], [], "with num_replicas=0 (one entry per replica)")
        expect_returns(steps[2], "v1", "right after writing it (no replicas: the primary answers)")
        expect_returns(steps[4], "v2", "right after rewriting it (the primary has the latest)")
        expect_returns(steps[5], "v2", "right after rewriting it (the primary has the latest)")
        expect_result(steps[6], MISSING, "(never written)")
        expect_returns(steps[7], [], "with num_replicas=0 after reads")

    @settings(max_examples=60)
    @given(num_replicas=st.integers(0, 3), lag=LAGS, script=SCHEDULES)
    def test_matches_a_simple_model_for_any_schedule(self, impl, sandbox, num_replicas, lag, script):
        """any schedule of writes, reads, session calls and clock advances: write positions, replica positions and read values match a simple model (property-based)"""
        run_schedule(impl, sandbox, num_replicas, lag, script, "reads")


def run_schedule(impl, sandbox, num_replicas, lag, script, aspect):
    """Run ``script`` on a store with two sessions, the calls at each clock reading in one batch,
    and check what ``aspect`` ("reads", "spreading" or "sessions") is about against the model."""
    run = Run(impl, sandbox, num_replicas=num_replicas, lag=lag, sessions=2)
    model = Model(num_replicas, lag)
    watch_served = aspect == "spreading"
    pending = []  # the calls at the current clock reading, with what the model makes of each
    for n, action in enumerate(script):
        kind = action[0]
        if kind == "advance":
            check_against_model(run, model, pending, aspect)
            pending = []
            run.advance(action[1])
        elif kind == "write":
            pending.append((run.write(action[1], n), ("write", None, action[1], n)))
        elif kind == "session write":
            pending.append((run.session_write(action[1], action[2], n),
                            ("write", action[1], action[2], n)))
        elif kind == "read":
            pending.append((run.read(action[1], action[2]), ("read", None, action[1], action[2])))
        elif kind == "session read":
            pending.append((run.session_read(action[1], action[2]),
                            ("session read", action[1], action[2])))
        elif num_replicas:
            pending.append((run.position(action[1] % num_replicas), ("position",)))
        if watch_served and kind in ("read", "session read"):
            pending.append((run.served(), ("served",)))
    check_against_model(run, model, pending, aspect)


class Model:
    """The contract, step by step: the log, what the replicas have applied, what each read returns."""

    def __init__(self, num_replicas, lag):
        self.num_replicas, self.lag = num_replicas, lag
        self.log = []  # (written_at, key, value), position = index + 1
        self.session_last = {}  # session -> the position of its last write
        self.served = [0] * num_replicas

    def applied(self, now):
        return sum(1 for written_at, _, _ in self.log if now - written_at >= self.lag)

    def value(self, key, upto):
        for _, k, v in reversed(self.log[:upto]):
            if k == key:
                return ("returned", v)
        return MISSING

    def to_replica(self, now, min_position):
        return self.num_replicas > 0 and self.applied(now) >= min_position


def check_against_model(run, model, pending, aspect):
    """Run the calls pending at this clock reading in one batch; check what ``aspect`` covers."""
    if not pending:
        return
    steps = run.batch([call for call, _ in pending])
    now = run.clock.now
    last_read = None  # (the read's step, whether the model sends it to a replica, or None: a session's)
    for step, (_, what) in zip(steps, pending):
        kind, applied = what[0], model.applied(now)  # with no lag, a write is applied at once
        if kind == "write":
            model.log.append((now, what[2], what[3]))
            position = len(model.log)
            if what[1] is not None:
                model.session_last[what[1]] = position
            if aspect == "reads":
                expect_returns(step, position, "(the log position of this write)")
        elif kind == "position":
            if aspect == "reads":
                expect_returns(step, applied, f"at t={now} (replication_lag={model.lag})")
        elif kind == "read":
            key, min_position = what[2], what[3]
            to_replica = model.to_replica(now, min_position)
            if aspect == "reads":
                upto = applied if to_replica else len(model.log)
                where = (f"a replica (they have applied position {applied})" if to_replica else
                         f"the primary (the replicas are at position {applied}"
                         + (")" if model.num_replicas else "; there are no replicas)"))
                expect_result(step, model.value(key, upto), f"at t={now}, answered by {where}")
            last_read = (step, to_replica)
        elif kind == "session read":
            if aspect == "sessions":
                expect_session_read(step, model, now, what[1], what[2])
            last_read = (step, None)
        else:  # served, asked after each read (spreading): which server answered it
            read, to_replica = last_read
            after = served_list(step, model.num_replicas)
            replica = served_by(model.served, after, read)
            if to_replica is not None:  # a plain read; a session read may go either way
                expect((replica is not None) == to_replica,
                       f"{read.line} at t={now} should be answered by "
                       f"{'a replica' if to_replica else 'the primary'} (the replicas are at "
                       f"position {applied}), so reads_served() should "
                       f"{'grow by 1' if to_replica else 'stay as it was'}: it went from "
                       f"{model.served} to {after}\n  replay: {step.replay}")
            model.served = after
            expect_turns_even(after, step)


def expect_session_read(step, model, now, session, key):
    """A session read returns the value as of a server that has the session's last write: the
    primary's latest, or the replicas' view once they have applied that write."""
    needed, applied = model.session_last.get(session, 0), model.applied(now)
    allowed = [model.value(key, len(model.log))]
    if model.num_replicas and applied >= needed:
        allowed.append(model.value(key, applied))
    expect(step.result in allowed,
           f"{step.line} at t={now}: the session's last write is at position {needed} and the "
           f"replicas are at {applied}, so it should "
           + " or ".join(dict.fromkeys(wanted(a) for a in allowed))
           + f", but it {said(step.result)}\n  replay: {step.replay}")


# ------------------------------------------------------------------------------------- spreading
@pytest.mark.part("spreading")
class TestSpreading:
    def test_reads_go_to_the_replicas_in_turn(self, impl, sandbox):
        """with 3 or 4 caught-up replicas, many reads spread in turn: reads_served grows evenly"""
        for num_replicas in (3, 4):
            run = Run(impl, sandbox, num_replicas=num_replicas, lag=1.0)
            run.batch([run.write("k", "v"), run.write("j", "w")])
            run.at(1.0)
            before = [0] * num_replicas
            turns = []
            for n, (read, served) in enumerate(reads_then_served(
                    run, [run.read("k" if n % 3 else "j") for n in range(12 * num_replicas)])):
                expect_returns(read, "v" if n % 3 else "w", "(every replica has applied both writes)")
                after = served_list(served, num_replicas)
                replica = served_by(before, after, read)
                expect(replica is not None,
                       f"every replica has caught up, so {read.line} should be served by a replica; "
                       f"reads_served() stayed {after}\n  replay: {served.replay}")
                expect_turns_even(after, served)
                turns.append(replica)
                before = after
            expect_equal(before, [12] * num_replicas, f"reads_served() after {12 * num_replicas} "
                                                      f"reads with {num_replicas} caught-up replicas")
            expect(len(set(turns[:num_replicas])) == num_replicas,
                   f"the first {num_replicas} reads should go to {num_replicas} different replicas "
                   f"(in turn); they went to replicas {turns[:num_replicas]}")

    def test_reads_served_has_one_entry_per_replica(self, impl, sandbox):
        """reads_served() is a list with one count per replica, all 0 at first; one replica gets every read"""
        for num_replicas in (1, 2, 5):
            run = Run(impl, sandbox, num_replicas=num_replicas, lag=0.5)
            steps = run.batch([run.served(), run.write("k", 1)])
            expect_returns(steps[0], [0] * num_replicas, f"for a new store with {num_replicas} replicas")
            run.at(0.5)
            run.batch([run.read("k") for _ in range(3 * num_replicas)])
            expect_returns(run.one(run.served()), [3] * num_replicas,
                           f"after {3 * num_replicas} reads spread over {num_replicas} replicas")

    def test_primary_reads_are_not_counted(self, impl, sandbox):
        """reads the primary answers are not counted in reads_served()"""
        run = Run(impl, sandbox, num_replicas=3, lag=1.0)
        run.one(run.write("k", "v1"))
        pairs = reads_then_served(run, [run.read("k", min_position=1) for _ in range(5)])
        for read, served in pairs:
            expect_returns(read, "v1", "(the primary answers: no replica is at position 1 yet)")
            expect_returns(served, [0, 0, 0], f"after {read.line} answered by the primary")
        run.at(1.0)
        steps = run.batch([run.write("k", "v2"), run.read("k", min_position=2), run.read("k", min_position=9),
                           run.served()])
        expect_returns(steps[1], "v2", "(the primary answers: no replica is at position 2 yet)")
        expect_returns(steps[3], [0, 0, 0], "after reads only the primary could answer")

    def test_primary_reads_take_no_replica_turn(self, impl, sandbox):
        """primary reads in between do not skew the turns: the replicas' counts stay even"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0)
        run.one(run.write("k", "old"))
        run.at(1.0)
        run.one(run.write("k", "new"))  # position 2: not yet on the replicas
        reads = []
        for _ in range(8):
            reads += [run.read("k"), run.read("k", min_position=2)]
        before = [0, 0]
        for read, served in reads_then_served(run, reads):
            after = served_list(served, 2)
            served_by(before, after, read)
            expect_turns_even(after, served)
            before = after
        expect_equal(before, [4, 4], "reads_served() after 8 replica reads, each followed by a "
                                     "primary read (the primary's reads take no replica's turn)")

    def test_writes_in_between_do_not_restart_the_turns(self, impl, sandbox):
        """writes between reads do not restart the turns at one replica: the counts stay even"""
        run = Run(impl, sandbox, num_replicas=3, lag=1.0)
        run.one(run.write("k", "v"))
        run.at(1.0)
        calls = []
        for n in range(9):
            calls += [run.write(f"new{n}", n), run.read("k"), run.served()]
        steps = run.batch(calls)
        before = [0, 0, 0]
        for read, served in zip(steps[1::3], steps[2::3]):
            expect_returns(read, "v", "(a replica answers: 'k' was written 1 s ago)")
            after = served_list(served, 3)
            served_by(before, after, read)
            expect_turns_even(after, served)
            before = after
        expect_equal(before, [3, 3, 3], "reads_served() after 9 replica reads, a write before each")

    def test_sessions_and_plain_reads_share_the_turns(self, impl, sandbox):
        """session reads and plain reads take turns over the same replicas: together they spread evenly"""
        run = Run(impl, sandbox, num_replicas=3, lag=1.0, sessions=2)
        run.batch([run.session_write(0, "a", 1), run.session_write(1, "b", 2)])
        run.at(1.0)
        reads = []
        for _ in range(6):
            reads += [run.session_read(0, "a"), run.session_read(1, "b"), run.read("a")]
        before = [0, 0, 0]
        for read, served in reads_then_served(run, reads):
            after = served_list(served, 3)
            expect(served_by(before, after, read) is not None,
                   f"every write is on the replicas, so {read.line} should be served by a replica; "
                   f"reads_served() stayed {after}\n  replay: {served.replay}")
            expect_turns_even(after, served)
            before = after
        expect_equal(before, [6, 6, 6], "reads_served() after 18 reads (two sessions and plain "
                                        "reads, in turn)")

    @settings(max_examples=40)
    @given(num_replicas=st.integers(1, 3), lag=LAGS, script=SCHEDULES)
    def test_turns_match_a_simple_model_for_any_schedule(self, impl, sandbox, num_replicas, lag,
                                                         script):
        """any schedule: the replicas serve exactly the reads they qualify for, in turn (property-based)"""
        run_schedule(impl, sandbox, num_replicas, lag, script, "spreading")

    def test_reads_that_find_nothing_are_served_too(self, impl, sandbox):
        """a replica read that raises KeyError was still served by that replica, in its turn"""
        run = Run(impl, sandbox, num_replicas=3, lag=1.0)
        run.one(run.write("k", "v"))
        before = [0, 0, 0]
        for read, served in reads_then_served(run, [run.read("k") for _ in range(6)]):
            expect_result(read, MISSING, "at t=0 (written at t=0, replication_lag=1: a replica "
                                         "answers, and has no value yet)")
            after = served_list(served, 3)
            expect(served_by(before, after, read) is not None,
                   f"{read.line} (min_position=0) is answered by a replica, which counts even when it "
                   f"has no value (KeyError); reads_served() stayed {after}\n  replay: {served.replay}")
            expect_turns_even(after, served)
            before = after
        expect_equal(before, [2, 2, 2], "reads_served() after 6 replica reads that found nothing")


# -------------------------------------------------------------------------------------- sessions
@pytest.mark.part("sessions")
class TestSessions:
    def test_session_reads_its_own_write_at_once(self, impl, sandbox):
        """a write then an immediate read in one session returns the new value, through the primary"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0, sessions=1)
        run.one(run.write("k", "old"))
        run.at(1.0)
        steps = run.batch([run.session_write(0, "k", "new"), run.session_read(0, "k"),
                           run.session_read(0, "k"), run.served(), run.read("k"), run.served()])
        expect_returns(steps[1], "new", "right after the session wrote 'new' (a session reads its "
                                        "own writes; the replicas still have 'old')")
        expect_returns(steps[2], "new", "right after the session wrote 'new'")
        expect_returns(steps[3], [0, 0], "after the session's reads (the replicas do not have its "
                                         "write, so the primary answered)")
        expect_returns(steps[4], "old", "outside the session (a replica answers, with what it has)")

    def test_session_reads_replicas_once_its_writes_are_applied(self, impl, sandbox):
        """after the lag has passed, a session reads from the replicas, spread in turn (reads_served shows it)"""
        run = Run(impl, sandbox, num_replicas=3, lag=1.0, sessions=1)
        run.one(run.session_write(0, "k", "mine"))
        run.at(1.0)
        before = [0, 0, 0]
        for read, served in reads_then_served(run, [run.session_read(0, "k") for _ in range(9)]):
            expect_returns(read, "mine", "1 s after the session wrote it (replication_lag=1)")
            after = served_list(served, 3)
            expect(served_by(before, after, read) is not None,
                   f"once the replicas have applied the session's write, {read.line} may use them "
                   f"and should: reads_served() stayed {after}\n  replay: {served.replay}")
            expect_turns_even(after, served)
            before = after

    def test_session_reads_at_least_at_its_last_write(self, impl, sandbox):
        """a session never reads older than its last write, for every key it reads"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0, sessions=1)
        run.one(run.session_write(0, "x", "x by the session"))
        run.at(0.25)
        run.one(run.write("x", "x by another client"))
        run.at(0.5)
        run.one(run.session_write(0, "y", "y by the session"))
        run.at(1.0)  # the replicas have applied position 1 only
        steps = run.batch([run.session_read(0, "x"), run.session_read(0, "y"), run.served(),
                           run.session_read(0, "unknown")])
        expect_returns(steps[0], "x by another client",
                       "at t=1: the session's last write (y, position 3) is not on the replicas yet, "
                       "so the session reads from the primary, which has x's latest value")
        expect_returns(steps[1], "y by the session", "at t=1 (the session wrote it at t=0.5)")
        expect_returns(steps[2], [0, 0], "after session reads that the replicas could not serve")
        expect_result(steps[3], MISSING, "(no server has that key)")

    def test_sessions_are_independent(self, impl, sandbox):
        """one session's writes do not send another session (or plain reads) to the primary"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0, sessions=2)
        run.one(run.session_write(1, "m", "m by s1"))
        run.at(1.0)
        steps = run.batch([run.session_write(0, "k", "k by s0"), run.session_read(1, "m"),
                           run.served(), run.session_read(1, "k"), run.served(), run.read("k"),
                           run.served(), run.session_read(0, "k"), run.served()])
        expect_returns(steps[1], "m by s1", "(s1's own write, applied on the replicas at t=1)")
        expect(sum(served_list(steps[2], 2)) == 1,
               f"s1's writes are all on the replicas, so a replica should serve {steps[1].line} even "
               f"though s0 has just written; reads_served() is {steps[2].result[1]}\n"
               f"  replay: {steps[2].replay}")
        expect_result(steps[3], MISSING, "(s1 never wrote 'k'; s0's write of it is not on the "
                                         "replicas yet, and sessions do not share positions)")
        expect(sum(served_list(steps[4], 2)) == 2,
               f"{steps[3].line} should be served by a replica; reads_served() is "
               f"{steps[4].result[1]}\n  replay: {steps[4].replay}")
        expect_result(steps[5], MISSING, "(a plain read: a replica answers, without s0's write)")
        expect_returns(steps[7], "k by s0", "(s0 reads its own write)")
        expect_returns(steps[8], steps[6].result[1], "after s0's read, which the primary served")

    def test_session_writes_go_through_the_store(self, impl, sandbox):
        """a session's writes are the store's writes: one log, seen by every reader once applied"""
        run = Run(impl, sandbox, num_replicas=2, lag=1.0, sessions=2)
        steps = run.batch([run.write("a", 1), run.session_write(0, "b", 2), run.session_write(1, "c", 3),
                           run.write("d", 4), run.read("b", min_position=9), run.read("c", min_position=9)])
        expect_returns(steps[3], 4, "after 3 earlier writes, two of them through sessions (one log)")
        expect_returns(steps[4], 2, "(s0 wrote it; the primary has it)")
        expect_returns(steps[5], 3, "(s1 wrote it; the primary has it)")
        run.at(1.0)
        steps = run.batch([run.position(0), run.read("b"), run.session_read(1, "b")])
        expect_returns(steps[0], 4, "1 s after the 4 writes (replication_lag=1)")
        expect_returns(steps[1], 2, "(the replicas have applied s0's write)")
        expect_returns(steps[2], 2, "(s1 reads s0's write from a replica)")

    @settings(max_examples=40)
    @given(num_replicas=st.integers(0, 3), lag=LAGS, script=SCHEDULES)
    def test_sessions_match_a_simple_model_for_any_schedule(self, impl, sandbox, num_replicas, lag,
                                                            script):
        """any schedule: every session read returns a value at least as new as the session's last write (property-based)"""
        run_schedule(impl, sandbox, num_replicas, lag, script, "sessions")

    def test_many_sessions_always_read_their_own_writes(self, impl, sandbox):
        """five sessions writing and reading on a random schedule always read their own latest writes (seeded)"""
        seed = 20261202
        rng = random.Random(seed)
        run = Run(impl, sandbox, num_replicas=3, lag=1.0, sessions=5)
        latest = {}
        for _ in range(30):
            calls, checks = [], []
            for _ in range(rng.randint(1, 5)):
                s = rng.randrange(5)
                key = f"s{s}-{rng.randrange(2)}"  # keys only this session writes
                if rng.random() < 0.5:
                    value = rng.randrange(1000)
                    calls.append(run.session_write(s, key, value))
                    latest[key] = value
                    checks.append(None)
                elif key in latest:
                    calls.append(run.session_read(s, key))
                    checks.append(latest[key])
            for step, want in zip(run.batch(calls), checks):
                if want is not None:
                    expect_result(step, value_or_missing(want),
                                  f"(the session's own latest write of that key; random schedule "
                                  f"with seed {seed})")
            run.advance(rng.choice([0.0, 0.25, 0.5, 1.0]))
