"""Hidden suite for the `circuit_breaker` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the inputs that show it.
"""
# DSP-CANARY-CIRCUIT_BREAKER-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dspatterns.testing import FakeClock
from support import (Boom, Gate, Unrelated, contract_clock, expect, expect_equal, only_callable,
                     wait_until)

def fail():
    raise Boom("dependency failed")


def succeed():
    return "ok"


def raise_unrelated():
    raise Unrelated("a bug in the caller, not a dependency failure")


def make(impl, clock=None, **kwargs):
    clock = clock or FakeClock()
    return impl.CircuitBreaker(clock=contract_clock(clock), **kwargs), clock


def rejected(impl, breaker, func=succeed) -> bool:
    """True if the call was refused with CircuitOpenError; False if it ran."""
    try:
        breaker.call(func)
    except impl.CircuitOpenError:
        return True
    except Exception:
        return False
    return False


def fail_times(breaker, n):
    for _ in range(n):
        with pytest.raises(Boom):
            breaker.call(fail)


def open_breaker(impl, **kwargs):
    threshold = kwargs.setdefault("failure_threshold", 2)
    breaker, clock = make(impl, **kwargs)
    fail_times(breaker, threshold)
    expect_equal(breaker.state, "open", f"state after {threshold} consecutive failures "
                                        f"(failure_threshold={threshold})")
    return breaker, clock


# --------------------------------------------------------------------------------------- closed
@pytest.mark.part("closed")
class TestClosed:
    def test_calls_pass_through(self, impl):
        """closed: a call runs the function with its arguments and returns its result"""
        breaker, _ = make(impl)
        expect_equal(breaker.state, "closed", "state of a new breaker")
        result = breaker.call(lambda a, b, *, c: (a, b, c), 1, "two", c=[3])
        expect_equal(result, (1, "two", [3]), "breaker.call(f, 1, 'two', c=[3]) with f returning its "
                                              "arguments")
        expect_equal(breaker.state, "closed", "state after a successful call")

    @pytest.mark.parametrize("threshold", [1, 2, 3, 5])
    def test_opens_at_threshold(self, impl, threshold):
        """closed: opens exactly when consecutive failures reach failure_threshold, re-raising each failure"""
        breaker, _ = make(impl, failure_threshold=threshold)
        for n in range(1, threshold + 1):
            raised = None
            error = Boom(f"failure {n}")

            def failing():
                raise error
            try:
                breaker.call(failing)
            except Boom as exc:
                raised = exc
            expect(raised is error, f"failure {n}: the function's own exception must propagate "
                                    f"unchanged (got {raised!r})")
            want = "open" if n >= threshold else "closed"
            expect_equal(breaker.state, want, f"state after {n} consecutive failures "
                                              f"(failure_threshold={threshold})")

    def test_success_resets_count(self, impl):
        """closed: a success resets the failure count, so only consecutive failures open it"""
        breaker, _ = make(impl, failure_threshold=3)
        for round_ in range(4):
            fail_times(breaker, 2)
            breaker.call(succeed)
            expect_equal(breaker.state, "closed", f"state after round {round_ + 1} of "
                                                  "[fail, fail, succeed] with failure_threshold=3")

    def test_other_exceptions_leave_count(self, impl):
        """closed: exceptions outside failure_exceptions propagate and neither count nor reset"""
        breaker, _ = make(impl, failure_threshold=3, failure_exceptions=(Boom,))
        fail_times(breaker, 2)
        for _ in range(3):
            with pytest.raises(Unrelated):
                breaker.call(raise_unrelated)
        expect_equal(breaker.state, "closed", "state after [Boom, Boom, Unrelated x3] with "
                                              "failure_threshold=3, failure_exceptions=(Boom,)")
        fail_times(breaker, 1)
        expect_equal(breaker.state, "open", "state after [Boom, Boom, Unrelated x3, Boom]: the "
                                            "Unrelated errors must not reset the count")

    def test_failure_exception_subclasses_count(self, impl):
        """closed: subclasses of failure_exceptions count; the default counts every Exception"""
        breaker, _ = make(impl, failure_threshold=2, failure_exceptions=(OSError,))

        def refused():
            raise ConnectionRefusedError("refused")
        for _ in range(2):
            with pytest.raises(ConnectionRefusedError):
                breaker.call(refused)
        expect_equal(breaker.state, "open", "state after 2 ConnectionRefusedError failures with "
                                            "failure_exceptions=(OSError,)")
        default, _ = make(impl)
        for n in range(5):
            expect_equal(default.state, "closed", f"default breaker after {n} failures")
            with pytest.raises(KeyError):
                default.call(lambda: {}["missing"])
        expect_equal(default.state, "open", "default breaker (failure_threshold=5) after 5 KeyErrors")


# ----------------------------------------------------------------------------------------- open
@pytest.mark.part("open")
class TestOpen:
    def test_fails_fast_until_timeout(self, impl):
        """open: raises CircuitOpenError without calling the function until recovery_timeout has passed"""
        breaker, clock = open_breaker(impl, recovery_timeout=30.0)
        calls = []
        for elapsed in (0.0, 1.0, 29.0, 29.999):
            clock.now = elapsed
            expect(rejected(impl, breaker, lambda: calls.append(elapsed)),
                   f"{elapsed} s after opening (recovery_timeout=30): call should raise "
                   "CircuitOpenError")
            expect_equal(breaker.state, "open", f"state {elapsed} s after opening")
        expect_equal(calls, [], "calls that reached the function while open")

    @pytest.mark.parametrize("timeout", [5.0, 60.0])
    def test_half_open_exactly_at_timeout(self, impl, timeout):
        """open: reads "half_open" once clock() - opened_at >= recovery_timeout, with no call needed"""
        breaker, clock = open_breaker(impl, recovery_timeout=timeout)
        clock.now = timeout
        expect_equal(breaker.state, "half_open", f"state exactly {timeout} s after opening "
                                                 f"(recovery_timeout={timeout}; the rule is >=)")
        clock.advance(1000)
        expect_equal(breaker.state, "half_open", "state long after the timeout, before any call")

    def test_timer_starts_when_failure_happens(self, impl):
        """open: the recovery timer starts at the clock reading when the breaker opens, after a slow failing call"""
        breaker, clock = make(impl, failure_threshold=1, recovery_timeout=10.0)

        def slow_failure():
            clock.advance(7.0)
            raise Boom("timed out after 7 s")
        with pytest.raises(Boom):
            breaker.call(slow_failure)
        clock.now = 16.0
        expect_equal(breaker.state, "open", "state at t=16 after a call that started at t=0 and "
                                            "failed at t=7 (recovery_timeout=10: open until t=17)")
        clock.now = 17.0
        expect_equal(breaker.state, "half_open", "state at t=17 (opened at t=7, recovery_timeout=10)")

    def test_defaults_open_after_five_and_wait_sixty_seconds(self, impl):
        """the defaults: failure_threshold=5, recovery_timeout=60 s, half_open_max_calls=1"""
        clock = FakeClock()
        breaker = impl.CircuitBreaker(clock=contract_clock(clock))
        fail_times(breaker, 4)
        expect_equal(breaker.state, "closed", "state of CircuitBreaker(clock=...) after 4 failures "
                                              "(default failure_threshold=5)")
        fail_times(breaker, 1)
        expect_equal(breaker.state, "open", "state after 5 failures (default failure_threshold=5)")
        clock.now = 59.999
        expect(rejected(impl, breaker), "59.999 s after opening with the default recovery_timeout "
                                        "(60 s): a call should raise CircuitOpenError")
        clock.now = 60.0
        expect_equal(breaker.state, "half_open", "state 60 s after opening (default "
                                                 "recovery_timeout=60)")
        expect_equal(breaker.call(succeed), "ok", "result of the trial call")
        expect_equal(breaker.state, "closed", "state after one trial success (default "
                                              "half_open_max_calls=1)")


# ------------------------------------------------------------------------------------ half-open
@pytest.mark.part("half_open")
class TestHalfOpen:
    def test_trial_success_closes_and_resets(self, impl):
        """half_open: a trial success closes the breaker with a zero failure count"""
        breaker, clock = open_breaker(impl, failure_threshold=3, recovery_timeout=10.0)
        clock.advance(10.0)
        expect_equal(breaker.call(succeed), "ok", "result of the trial call")
        expect_equal(breaker.state, "closed", "state after one trial success (half_open_max_calls=1)")
        fail_times(breaker, 2)
        expect_equal(breaker.state, "closed", "state after closing then 2 failures "
                                              "(failure_threshold=3: the count must restart at 0)")

    def test_trial_failure_reopens_and_restarts_timer(self, impl):
        """half_open: a trial failure reopens the breaker and restarts the recovery timer"""
        breaker, clock = open_breaker(impl, recovery_timeout=10.0)
        clock.now = 25.0
        expect_equal(breaker.state, "half_open", "state at t=25 (opened at t=0, timeout 10)")
        with pytest.raises(Boom):
            breaker.call(fail)
        expect_equal(breaker.state, "open", "state right after a failed trial at t=25")
        clock.now = 34.9
        expect(rejected(impl, breaker), "at t=34.9 (trial failed at t=25, timeout 10) calls must "
                                        "still be refused")
        clock.now = 35.0
        expect_equal(breaker.state, "half_open", "state at t=35, 10 s after the failed trial")

    def test_needs_max_calls_successes(self, impl):
        """half_open: with half_open_max_calls=3 it closes after the third trial success, not before"""
        breaker, clock = open_breaker(impl, recovery_timeout=5.0, half_open_max_calls=3)
        clock.advance(5.0)
        for n in (1, 2):
            breaker.call(succeed)
            expect_equal(breaker.state, "half_open", f"state after {n} of 3 trial successes")
        breaker.call(succeed)
        expect_equal(breaker.state, "closed", "state after 3 of 3 trial successes")

    def test_unrelated_error_in_trial_counts_as_neither(self, impl):
        """half_open: an exception outside failure_exceptions propagates, frees its slot, counts as neither"""
        breaker, clock = open_breaker(impl, recovery_timeout=5.0, failure_exceptions=(Boom,))
        clock.advance(5.0)
        for n in range(3):
            with pytest.raises(Unrelated):
                breaker.call(raise_unrelated)
            expect_equal(breaker.state, "half_open", f"state after {n + 1} trial(s) raising an "
                                                     "exception outside failure_exceptions")
        expect_equal(breaker.call(succeed), "ok", "a trial after those (their slots must be free)")
        expect_equal(breaker.state, "closed", "state after the successful trial")


    def test_unrelated_error_in_trial_is_not_a_success(self, impl):
        """half_open: a trial raising an exception outside failure_exceptions is no trial success either"""
        breaker, clock = open_breaker(impl, recovery_timeout=5.0, half_open_max_calls=2,
                                      failure_exceptions=(Boom,))
        clock.advance(5.0)
        with pytest.raises(Unrelated):
            breaker.call(raise_unrelated)
        breaker.call(succeed)
        expect_equal(breaker.state, "half_open", "state with half_open_max_calls=2 after trials "
                                                 "[Unrelated, success]: only 1 of 2 successes")
        breaker.call(succeed)
        expect_equal(breaker.state, "closed", "state after trials [Unrelated, success, success]")

    def test_trial_failure_after_a_trial_success_reopens(self, impl):
        """half_open: a trial failure reopens the breaker even after earlier trials succeeded"""
        breaker, clock = open_breaker(impl, recovery_timeout=5.0, half_open_max_calls=3)
        clock.now = 5.0
        breaker.call(succeed)
        breaker.call(succeed)
        with pytest.raises(Boom):
            breaker.call(fail)
        expect_equal(breaker.state, "open", "state with half_open_max_calls=3 after trials "
                                            "[success, success, failure] at t=5")
        clock.now = 9.9
        expect(rejected(impl, breaker), "at t=9.9 (the trial failed at t=5, recovery_timeout=5) "
                                        "calls must be refused")

    def test_each_half_open_period_counts_its_own_successes(self, impl):
        """half_open: successes from an earlier half-open period do not count towards closing"""
        breaker, clock = open_breaker(impl, recovery_timeout=5.0, half_open_max_calls=2)
        clock.now = 5.0
        breaker.call(succeed)
        with pytest.raises(Boom):
            breaker.call(fail)
        clock.now = 10.0
        expect_equal(breaker.state, "half_open", "state at t=10, 5 s after the failed trial")
        breaker.call(succeed)
        expect_equal(breaker.state, "half_open", "state with half_open_max_calls=2 after one "
                                                 "success in this half-open period (the success "
                                                 "before the reopening must not count)")
        breaker.call(succeed)
        expect_equal(breaker.state, "closed", "state after 2 successes in this half-open period")
    def test_extra_calls_refused_while_trial_runs(self, impl):
        """half_open: while half_open_max_calls trials run, a further call raises CircuitOpenError at once"""
        breaker, clock = open_breaker(impl, recovery_timeout=5.0, half_open_max_calls=1)
        clock.advance(5.0)
        gate = Gate()
        trial = threading.Thread(target=lambda: breaker.call(only_callable(gate)), daemon=True)
        trial.start()
        try:
            # Done waiting as soon as the trial reached the function or returned without it.
            expect(wait_until(lambda: gate.inside == 1 or not trial.is_alive()) and gate.inside == 1,
                   "the trial call never reached the function (at t = recovery_timeout the breaker "
                   "should be half_open and let one trial through)")
            called = []
            expect(rejected(impl, breaker, lambda: called.append(1)),
                   "a second call while the one trial is still running must raise CircuitOpenError")
            expect_equal(called, [], "calls that reached the function beyond the one trial")
        finally:
            gate.release()
            trial.join(15)
        expect_equal(breaker.state, "closed", "state once the running trial succeeded")


# ------------------------------------------------------------------------------ model (property)
class Model:
    """The contract, for calls made one at a time: what each step must do."""

    def __init__(self, threshold, timeout, max_calls):
        self.threshold, self.timeout, self.max_calls = threshold, timeout, max_calls
        self.state, self.failures, self.opened_at, self.successes = "closed", 0, 0.0, 0

    def current(self, now):
        if self.state == "open" and now - self.opened_at >= self.timeout:
            self.state, self.successes = "half_open", 0
        return self.state

    def call(self, kind, now):
        state = self.current(now)
        if state == "open":
            return "rejected"
        if kind == "other":
            return "raised Unrelated"
        if state == "half_open":
            if kind == "ok":
                self.successes += 1
                if self.successes >= self.max_calls:
                    self.state, self.failures = "closed", 0
                return "ok"
            self.state, self.opened_at = "open", now
            return "raised Boom"
        if kind == "ok":
            self.failures = 0
            return "ok"
        self.failures += 1
        if self.failures >= self.threshold:
            self.state, self.opened_at, self.failures = "open", now, 0
        return "raised Boom"


steps = st.lists(st.one_of(st.tuples(st.just("wait"), st.integers(1, 12)),
                           st.tuples(st.sampled_from(["ok", "fail", "other"]), st.just(0))),
                 min_size=1, max_size=30)


@pytest.mark.part("model")
class TestModel:
    @settings(max_examples=60)
    @given(threshold=st.integers(1, 4), timeout=st.integers(1, 10), max_calls=st.integers(1, 3),
           script=steps)
    def test_matches_contract_for_any_sequence(self, impl, threshold, timeout, max_calls, script):
        """any sequence of successes, failures, unrelated errors and waits behaves as the contract says"""
        breaker, clock = make(impl, failure_threshold=threshold, recovery_timeout=float(timeout),
                              half_open_max_calls=max_calls, failure_exceptions=(Boom,))
        model = Model(threshold, timeout, max_calls)
        funcs = {"ok": succeed, "fail": fail,
                 "other": raise_unrelated}
        history = []
        setup = (f"CircuitBreaker(failure_threshold={threshold}, recovery_timeout={timeout}, "
                 f"half_open_max_calls={max_calls}, failure_exceptions=(Boom,))")
        for kind, seconds in script:
            if kind == "wait":
                clock.advance(seconds)
                history.append(f"wait {seconds}")
            else:
                want = model.call(kind, clock.now)
                try:
                    got = "ok" if breaker.call(funcs[kind]) == "ok" else "returned something else"
                except impl.CircuitOpenError:
                    got = "rejected"
                except (Boom, Unrelated) as exc:
                    got = f"raised {type(exc).__name__}"
                history.append(f"{kind} -> {got}")
                expect(got == want, f"{setup}, after steps {history[:-1] or 'none'}: a call whose "
                                    f"function would {kind!r} should give {want!r}, got {got!r}")
            want_state = model.current(clock.now)
            expect_equal(breaker.state, want_state, f"{setup}, state after steps {history}")


# ---------------------------------------------------------------------------------------- threads
@pytest.mark.part("threads")
class TestThreads:
    def test_no_lost_failure_counts(self, impl):
        """threads: 8 threads x 25 concurrent failures with failure_threshold=200 open the breaker (no lost counts)"""
        breaker, _ = make(impl, failure_threshold=200, recovery_timeout=60.0)
        reached = []
        lock = threading.Lock()

        def failing():
            with lock:
                reached.append(1)
            raise Boom("down")

        def worker():
            for _ in range(25):
                try:
                    breaker.call(failing)
                except Exception:
                    pass
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        expect_equal(len(reached), 200, "calls that reached the function (all 200 were made while "
                                        "fewer than 200 failures had been counted)")
        expect_equal(breaker.state, "open", "state after 200 concurrent failures with "
                                            "failure_threshold=200 (some failure counts were lost?)")

    def test_half_open_limit_under_contention(self, impl):
        """threads: with half_open_max_calls=3, 12 threads at once get exactly 3 trials; the rest are refused"""
        breaker, clock = open_breaker(impl, recovery_timeout=5.0, half_open_max_calls=3)
        clock.advance(5.0)
        gate = Gate()
        refused = []
        lock = threading.Lock()

        def worker():
            try:
                breaker.call(only_callable(gate))
            except impl.CircuitOpenError:
                with lock:
                    refused.append(1)
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(12)]
        for thread in threads:
            thread.start()
        try:
            settled = wait_until(lambda: gate.inside + len(refused) >= 12 or gate.inside > 3)
            expect(gate.inside <= 3, f"{gate.inside} trial calls ran at once with "
                                     "half_open_max_calls=3")
            expect(settled, f"after 30 s only {gate.inside} trials started and {len(refused)} calls "
                            "were refused: extra calls must be refused at once, not wait")
            expect_equal(gate.inside, 3, "trial calls running at once")
        finally:
            gate.release()
            for thread in threads:
                thread.join(15)
        expect_equal(breaker.state, "closed", "state after the 3 trials succeeded")
