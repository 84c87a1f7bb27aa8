"""Hidden suite for the `bulkhead` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the inputs that show it.

These tests use real threads and real time, so no verdict may depend on how fast the machine is:
calls are held inside the bulkhead by gates (`support.Gate`) that the test opens when it is done,
"at once" means "before any gate is opened", and every real-time bound is generous (seconds where a
correct implementation needs milliseconds, or "at least most of max_wait" where it must wait).
Every gate is opened in a `finally`, so a call stuck in a wrong implementation ends too.
"""
# DSP-CANARY-BULKHEAD-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from support import SETTLE, Background, Boom, Gate, expect, expect_equal, only_callable, wait_until



def fill(bulkhead, n, gate):
    """Start ``n`` calls that hold their slots until ``gate`` opens; wait until all are inside."""
    holders = [Background(lambda: bulkhead.call(only_callable(gate))) for _ in range(n)]
    if not wait_until(lambda: gate.inside >= n or any(h.done for h in holders), 8) \
            or gate.inside < n:
        inside = gate.inside
        finish(holders, gate)
        outcomes = sorted({holder.describe() for holder in holders})
        raise AssertionError(f"only {inside} of {n} calls started at once got to run inside a "
                             f"bulkhead with {n} free slots (the others: {outcomes})")
    return holders


def finish(holders, *gates):
    for gate in gates:
        gate.release()
    for holder in holders:
        holder.join(15)


def rejected(impl, background) -> bool:
    return background.done and isinstance(background.error, impl.BulkheadFullError)


def _refused(impl, bulkhead) -> bool:
    """One call on a full bulkhead: True if it raised BulkheadFullError, False if it ran."""
    try:
        bulkhead.call(lambda: "ran")
    except impl.BulkheadFullError:
        return True
    return False


class Meter:
    """A function that records how many callers are inside it at once (holding ``hold`` seconds).
    Student code gets ``only_callable(meter)``, so it cannot reset ``peak``."""

    def __init__(self, hold=0.01):
        self.hold = hold
        self.now = 0
        self.peak = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.hold)
        with self._lock:
            self.now -= 1
        return "done"


# --------------------------------------------------------------------------------------- limits
@pytest.mark.part("limits")
class TestLimits:
    def test_call_runs_the_function(self, impl):
        """call(func, *args, **kwargs) runs func with its arguments and returns its result"""
        bulkhead = impl.Bulkhead(2)
        expect_equal(bulkhead.active, 0, "active of a new Bulkhead(2)")
        result = bulkhead.call(lambda a, b, *, c: [a, b, c], 1, "two", c=3.0)
        expect_equal(result, [1, "two", 3.0], "bulkhead.call(f, 1, 'two', c=3.0) with f returning "
                                              "its arguments")
        expect_equal(bulkhead.active, 0, "active after the call returned")
        for n in range(5):
            expect_equal(bulkhead.call(lambda: n), n, f"call number {n + 2} in a row on a "
                                                      "Bulkhead(2) (a finished call frees its slot)")

    @pytest.mark.parametrize("limit", [1, 3])
    def test_rejects_the_extra_call_at_once(self, impl, limit):
        """with every slot busy and max_wait=0 (the default), a call raises BulkheadFullError at once, without calling func"""
        bulkhead = impl.Bulkhead(limit)
        gate, extra_gate = Gate(), Gate()
        holders = fill(bulkhead, limit, gate)
        try:
            extra = Background(lambda: bulkhead.call(only_callable(extra_gate)))
            wait_until(lambda: extra.done or extra_gate.inside > 0, SETTLE)
            running = f"Bulkhead({limit}) with {limit} call{'s' if limit > 1 else ''} running"
            expect(extra_gate.inside == 0, f"{running}: call "
                                           f"number {limit + 1} ran its function too ({limit + 1} "
                                           f"calls inside at once)")
            expect(extra.done, f"{running}: call number "
                               f"{limit + 1} had not returned after {SETTLE:g} s; with max_wait=0 "
                               "it must be refused at once, not wait")
            expect(rejected(impl, extra), f"{running}: call "
                                          f"number {limit + 1} should raise BulkheadFullError, but it "
                                          f"{extra.describe()}")
        finally:
            finish(holders, gate, extra_gate)

    def test_active_counts_running_calls(self, impl):
        """.active is the number of calls running inside right now"""
        bulkhead = impl.Bulkhead(3)
        gates = [Gate() for _ in range(3)]
        holders = []
        try:
            for n, gate in enumerate(gates, start=1):
                holders.append(Background(lambda gate=gate: bulkhead.call(only_callable(gate))))
                holder = holders[-1]
                expect(wait_until(lambda: gate.inside == 1 or holder.done, 8) and gate.inside == 1,
                       f"call {n} on a Bulkhead(3) with {n - 1} running should run, but it "
                       f"{holder.describe()}")
                expect_equal(bulkhead.active, n, f"active of a Bulkhead(3) with {n} calls running")
            gates[0].release()
            holders[0].join(15)
            expect_equal(bulkhead.active, 2, "active after one of 3 running calls returned")
        finally:
            finish(holders, *gates)
        expect_equal(bulkhead.active, 0, "active after every call returned")

    def test_rejections_leave_the_limit_unchanged(self, impl):
        """refused calls take no slot and free none: afterwards exactly max_concurrent calls fit again"""
        bulkhead = impl.Bulkhead(2)
        first = Gate()
        holders = fill(bulkhead, 2, first)
        try:
            tries = Background(lambda: [_refused(impl, bulkhead) for _ in range(5)])
            tries.join(SETTLE)
        finally:
            finish(holders, first)
        expect(tries.done and tries.error is None and tries.result == [True] * 5,
               "5 calls made while both slots of a Bulkhead(2) were busy should each raise "
               f"BulkheadFullError at once; they {tries.describe()} (True: refused)")
        expect_equal(bulkhead.active, 0, "active once every call returned")
        second, extra_gate = Gate(), Gate()
        holders = fill(bulkhead, 2, second)
        try:
            extra = Background(lambda: bulkhead.call(only_callable(extra_gate)))
            wait_until(lambda: extra.done or extra_gate.inside > 0, SETTLE)
            expect(extra_gate.inside == 0 and rejected(impl, extra),
                   "after 5 refused calls and then 2 new running calls, a third call on the "
                   f"Bulkhead(2) should be refused, but it {extra.describe()}"
                   + (" and ran its function" if extra_gate.inside else "")
                   + " (did a refused call give back a slot it never had?)")
        finally:
            finish(holders, second, extra_gate)

    def test_two_bulkheads_never_share_slots(self, impl):
        """each bulkhead has its own slots: a full one does not block another"""
        first, second = impl.Bulkhead(1), impl.Bulkhead(2)
        gate, other_gate = Gate(), Gate()
        holders = fill(first, 1, gate)
        try:
            expect_equal(second.call(lambda: "second ran"), "second ran",
                         "a call on Bulkhead(2) while a different Bulkhead(1) is full")
            holders += fill(second, 2, other_gate)
            expect_equal((first.active, second.active), (1, 2),
                         "(first.active, second.active) with 1 call in the first and 2 in the second")
        finally:
            finish(holders, gate, other_gate)
        third = impl.Bulkhead(1)
        expect_equal(third.call(lambda: "third ran"), "third ran", "a call on a new Bulkhead(1)")


    def test_bulkheads_of_the_same_size_have_their_own_slots(self, impl):
        """two bulkheads of the same size have their own slots: a full Bulkhead(1) does not block another Bulkhead(1)"""
        first, second = impl.Bulkhead(1), impl.Bulkhead(1)
        gate, other_gate = Gate(), Gate()
        holders = fill(first, 1, gate)
        try:
            expect_equal(second.active, 0, "active of a second Bulkhead(1) while the first is full")
            expect_equal(second.call(lambda: "second ran"), "second ran",
                         "a call on a Bulkhead(1) while another Bulkhead(1) is full")
            holders += fill(second, 1, other_gate)
            expect_equal((first.active, second.active), (1, 1),
                         "(first.active, second.active) with one call running in each Bulkhead(1)")
        finally:
            finish(holders, gate, other_gate)
    @pytest.mark.parametrize("limit", [0, -2])
    def test_max_concurrent_below_one_raises_value_error(self, impl, limit):
        """Bulkhead(max_concurrent) with max_concurrent < 1 raises ValueError"""
        with pytest.raises(ValueError):
            impl.Bulkhead(limit)
            raise AssertionError(f"Bulkhead({limit}) should raise ValueError, but it was created")


# -------------------------------------------------------------------------------------- waiting
@pytest.mark.part("waiting")
class TestWaiting:
    def test_waits_for_a_slot_that_frees_in_time(self, impl):
        """with max_wait > 0, a call waits while every slot is busy and runs once a slot frees in time"""
        bulkhead = impl.Bulkhead(1, max_wait=8.0)
        gate = Gate()
        holders = fill(bulkhead, 1, gate)
        try:
            waiter = Background(lambda: bulkhead.call(lambda: "got the slot"))
            still_waiting = not waiter.join(0.5)
        finally:
            finish(holders, gate)
        expect(still_waiting, f"Bulkhead(1, max_wait=8) with its slot busy: a second call "
                              f"{waiter.describe()} within 0.5 s; it should wait for the slot")
        expect(waiter.join(SETTLE), f"the waiting call had not finished {SETTLE:g} s after the slot "
                                    "freed")
        expect(waiter.error is None and waiter.result == "got the slot",
               "Bulkhead(1, max_wait=8): a call waiting while the slot was busy, freed after about "
               f"0.5 s, should run and return 'got the slot', but it {waiter.describe()}")
        expect_equal(bulkhead.active, 0, "active after both calls returned")

    def test_several_waiters_all_get_through(self, impl):
        """waiting calls take slots as they free, never more than the limit: 2 calls hold Bulkhead(2, max_wait=8) while 4 wait; when both finish, 2 waiters run, then the other 2"""
        bulkhead = impl.Bulkhead(2, max_wait=8.0)
        first, second = Gate(), Gate()
        holders = fill(bulkhead, 2, first)
        waiters = []
        try:
            waiters = [Background(lambda: bulkhead.call(only_callable(second))) for _ in range(4)]
            # The four find both slots taken and wait. Then both slots free at once: a bulkhead that
            # lets every woken waiter in (an `if` where a `while` belongs around Condition.wait) now
            # lets four in, where two may run. Held inside the second gate, they cannot leave early.
            time.sleep(SETTLE / 2)
            first.release()
            wait_until(lambda: second.inside > 2, SETTLE / 2)
            inside_at_once = second.inside
        finally:
            finish(holders + waiters, first, second)
        expect(inside_at_once <= 2, f"Bulkhead(2): two calls finished while four waited, and then "
                                    f"{inside_at_once} of the waiters ran at once; only 2 slots had freed "
                                    "(a woken waiter must check again that a slot is free)")
        outcomes = Counter(call.describe() for call in holders + waiters)
        expect(all(call.result == "through the gate" for call in holders + waiters),
               f"6 calls on Bulkhead(2, max_wait=8), 2 holding their slots while 4 waited: every one "
               f"should get a slot within max_wait, got "
               + "; ".join(f"{n} x {what}" for what, n in outcomes.items()))

    def test_gives_up_after_max_wait(self, impl):
        """a call that gets no slot within max_wait raises BulkheadFullError, after waiting, without calling func"""
        bulkhead = impl.Bulkhead(2, max_wait=0.5)
        gate = Gate()
        holders = fill(bulkhead, 2, gate)
        called = []
        try:
            waiter = Background(lambda: bulkhead.call(called.append, "ran"))
            finished = waiter.join(0.5 + SETTLE)
        finally:
            finish(holders, gate)
        expect(finished, f"Bulkhead(2, max_wait=0.5) with both slots busy: a third call was still "
                         f"waiting {0.5 + SETTLE:g} s later; it should give up after max_wait")
        expect(rejected(impl, waiter), f"Bulkhead(2, max_wait=0.5) with both slots busy the whole "
                                       f"time: a third call should raise BulkheadFullError, but it "
                                       f"{waiter.describe()}")
        expect(waiter.elapsed >= 0.4, f"Bulkhead(2, max_wait=0.5) with both slots busy: the third "
                                      f"call gave up after {waiter.elapsed:.3f} s; it should wait "
                                      "max_wait (0.5 s) for a slot first")
        expect_equal(called, [], "calls that reached func although no slot freed")

    def test_waiting_calls_are_not_active(self, impl):
        """.active counts calls running, not calls waiting for a slot"""
        bulkhead = impl.Bulkhead(2, max_wait=8.0)
        gate = Gate()
        holders = fill(bulkhead, 2, gate)
        try:
            expect_equal(bulkhead.active, 2, "active of a Bulkhead(2) with 2 calls running")
            waiter = Background(lambda: bulkhead.call(lambda: "waited"))
            readings = []

            def changed():
                readings.append(bulkhead.active)
                return readings[-1] != 2
            moved = wait_until(changed, 1.0)
            expect(not moved, f"Bulkhead(2, max_wait=8) with 2 calls running and a third one "
                              f"waiting: active should stay 2, but read {readings[-1]!r}")
        finally:
            finish(holders, gate)
        expect(waiter.join(SETTLE) and waiter.result == "waited",
               f"the waiting call should run once the slots freed, but it {waiter.describe()}")

    def test_zero_wait_never_blocks(self, impl):
        """Bulkhead(n, max_wait=0) refuses at once every time, even many calls in a row"""
        bulkhead = impl.Bulkhead(1, max_wait=0)
        gate = Gate()
        holders = fill(bulkhead, 1, gate)
        try:
            tries = Background(lambda: [_refused(impl, bulkhead) for _ in range(20)])
            tries.join(SETTLE)
            expect(tries.done, f"20 calls on a full Bulkhead(1, max_wait=0) had not all returned "
                               f"after {SETTLE:g} s: they must not wait")
            expect(tries.error is None and tries.result == [True] * 20,
                   f"20 calls on a full Bulkhead(1, max_wait=0): each should raise "
                   f"BulkheadFullError, got {tries.result if tries.error is None else tries.describe()}")
        finally:
            finish(holders, gate)


# --------------------------------------------------------------------------------------- errors
@pytest.mark.part("errors")
class TestErrors:
    def test_exception_propagates_and_frees_the_slot(self, impl):
        """when func raises, the exception propagates unchanged and the slot is freed"""
        bulkhead = impl.Bulkhead(1)
        error = Boom("dependency failed")

        def failing():
            raise error
        for n in range(3):
            try:
                bulkhead.call(failing)
            except Exception as exc:  # noqa: BLE001
                expect(exc is error, f"call {n + 1}: func's own exception should propagate "
                                     f"unchanged, got {type(exc).__name__}({exc})")
            else:
                raise AssertionError(f"call {n + 1}: func raised Boom, but call() returned normally")
            expect_equal(bulkhead.active, 0, f"active after failing call {n + 1} on a Bulkhead(1)")
        expect_equal(bulkhead.call(lambda: "next"), "next",
                     "a call on a Bulkhead(1, max_wait=0) after 3 failed calls (their slot must be free)")

    def test_many_errors_leak_no_slots(self, impl):
        """after many failing calls of different exception types the bulkhead still holds exactly max_concurrent"""
        bulkhead = impl.Bulkhead(3)
        kinds = [Boom("boom"), KeyError("missing"), ValueError("bad"), ConnectionError("down")]
        for n in range(24):
            error = kinds[n % len(kinds)]

            def failing(error=error):
                raise error
            with pytest.raises(type(error)):
                bulkhead.call(failing)
        expect_equal(bulkhead.active, 0, "active after 24 failed calls")
        gate, extra_gate = Gate(), Gate()
        holders = fill(bulkhead, 3, gate)
        try:
            expect_equal(bulkhead.active, 3, "active with 3 calls running after 24 failed calls")
            extra = Background(lambda: bulkhead.call(only_callable(extra_gate)))
            wait_until(lambda: extra.done or extra_gate.inside > 0, SETTLE)
            expect(extra_gate.inside == 0 and rejected(impl, extra),
                   "Bulkhead(3) after 24 failed calls, with 3 calls running: a fourth call should "
                   f"be refused, but it {extra.describe()}")
        finally:
            finish(holders, gate, extra_gate)
        expect_equal(bulkhead.active, 0, "active after every call returned")

    def test_failure_beside_running_calls(self, impl):
        """a call that fails while others run frees only its own slot"""
        bulkhead = impl.Bulkhead(2)
        gate, second = Gate(), Gate()

        def failing():
            raise Boom("failed beside a running call")
        holders = fill(bulkhead, 1, gate)
        try:
            with pytest.raises(Boom):
                bulkhead.call(failing)
            expect_equal(bulkhead.active, 1, "active of a Bulkhead(2) with one call running, after "
                                             "another call failed")
            holders += fill_more(bulkhead, second)
            extra = Background(lambda: bulkhead.call(lambda: "ran"))
            wait_until(lambda: extra.done, SETTLE)
            expect(rejected(impl, extra), "Bulkhead(2) with 2 calls running (after a third one "
                                          f"failed): another call should be refused, but it "
                                          f"{extra.describe()}")
        finally:
            finish(holders, gate, second)
        expect_equal(bulkhead.active, 0, "active after every call returned")


def fill_more(bulkhead, gate):
    holder = Background(lambda: bulkhead.call(only_callable(gate)))
    expect(wait_until(lambda: gate.inside == 1 or holder.done, 8) and gate.inside == 1,
           f"a call on a Bulkhead(2) with one slot free should run, but it {holder.describe()}")
    return [holder]


# -------------------------------------------------------------------------------------- threads
@pytest.mark.part("threads")
class TestThreads:
    def test_limit_holds_under_many_threads(self, impl):
        """16 threads x 6 calls on Bulkhead(3, max_wait=8): never more than 3 inside, every call runs"""
        bulkhead = impl.Bulkhead(3, max_wait=8.0)
        meter = Meter(hold=0.01)
        errors = []
        lock = threading.Lock()

        def worker():
            for _ in range(6):
                try:
                    bulkhead.call(only_callable(meter))
                except Exception as exc:  # noqa: BLE001
                    with lock:
                        errors.append(f"{type(exc).__name__}({exc})")
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        expect(meter.peak <= 3, f"16 threads calling a Bulkhead(3, max_wait=8): {meter.peak} calls "
                                "were inside func at once")
        expect(not errors, f"16 threads x 6 calls of 0.01 s on Bulkhead(3, max_wait=8): every call "
                           f"should get a slot in time, but {len(errors)} failed, e.g. {errors[:2]}")
        expect_equal(meter.calls, 96, "calls that reached func (16 threads x 6)")
        expect_equal(bulkhead.active, 0, "active after every thread finished")

    def test_exactly_the_limit_gets_in_at_once(self, impl):
        """16 threads at once on Bulkhead(3) (max_wait=0): exactly 3 run, the other 13 are refused at once"""
        bulkhead = impl.Bulkhead(3)
        gate = Gate()
        refused, other = [], []
        lock = threading.Lock()

        def worker():
            try:
                bulkhead.call(only_callable(gate))
            except impl.BulkheadFullError:
                with lock:
                    refused.append(1)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    other.append(f"{type(exc).__name__}({exc})")
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(16)]
        for thread in threads:
            thread.start()
        try:
            settled = wait_until(lambda: gate.inside + len(refused) + len(other) >= 16
                                 or gate.inside > 3, SETTLE)
            inside, active = gate.inside, bulkhead.active
            expect(inside <= 3, f"{inside} calls ran at once in a Bulkhead(3)")
            expect(not other, f"calls on a full Bulkhead(3) should raise BulkheadFullError, got {other[:2]}")
            expect(settled, f"after {SETTLE:g} s only {inside} calls ran and {len(refused)} were "
                            "refused out of 16: with max_wait=0 extra calls must be refused at once")
            expect_equal((inside, len(refused)), (3, 13), "(calls running, calls refused) of 16 "
                                                          "threads calling a Bulkhead(3) at once")
            expect_equal(active, 3, "active while 3 calls run")
        finally:
            gate.release()
            for thread in threads:
                thread.join(15)
        expect_equal(bulkhead.active, 0, "active after every thread finished")

    def test_bulkheads_stay_separate_under_threads(self, impl):
        """two bulkheads used by 8 threads each at once keep their own limits (2 and 4)"""
        small, large = impl.Bulkhead(2, max_wait=8.0), impl.Bulkhead(4, max_wait=8.0)
        small_meter, large_meter = Meter(hold=0.01), Meter(hold=0.01)
        errors = []
        lock = threading.Lock()

        def worker(bulkhead, meter):
            for _ in range(4):
                try:
                    bulkhead.call(only_callable(meter))
                except Exception as exc:  # noqa: BLE001
                    with lock:
                        errors.append(f"{type(exc).__name__}({exc})")
        threads = [threading.Thread(target=worker, args=pair, daemon=True)
                   for pair in [(small, small_meter), (large, large_meter)] * 8]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        expect(small_meter.peak <= 2, f"{small_meter.peak} calls ran at once in the Bulkhead(2) "
                                      "while a Bulkhead(4) was busy too")
        expect(large_meter.peak <= 4, f"{large_meter.peak} calls ran at once in the Bulkhead(4)")
        expect(not errors, f"8 threads on each of Bulkhead(2, max_wait=8) and Bulkhead(4, "
                           f"max_wait=8): every call should get a slot in time, got {errors[:2]}")
        expect_equal((small_meter.calls, large_meter.calls), (32, 32),
                     "calls that reached func in each bulkhead (8 threads x 4)")
