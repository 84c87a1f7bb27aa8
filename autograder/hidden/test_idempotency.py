"""Hidden suite for the `idempotency` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with a one-line replay the student can paste into a notebook
cell (`clock = FakeClock(); payments = Payments(); pay = IdempotentHandler(payments, ...); ...`,
with the notebook's `Payments` fake handler) to see it for themselves.

The handler is the suite's own `Payments`-like object, handed over as a plain function
(`support.only_callable`): it counts its calls and returns a new suite-owned `Receipt` per call.
A `Receipt` is not plain data, so it crosses the channel by reference and comes back to the suite
as the very same object: `is` tells which call of the handler a response came from, and a copy is
caught. Time is the suite's FakeClock (`support.contract_clock`); the handler never moves it, so
"stored" at the start or at the end of a call read the same time. Checks of in-flight calls use
real threads: the first call waits inside the handler on a gate the suite confirms entered before
the next step, every other wait ends as soon as its outcome is known, and every gate is opened in a
`finally`. The random-sequence checks compare the student's answers with a model the suite owns,
one round trip per batch of calls at one clock reading (`sandbox.call_each`); there the handler
returns plain dicts (a batch carries plain data only). Readings the grader takes where the
contract is silent (the notebook states each one): requests are compared with `==`; a key stored
at t is expired once `clock() - t >= ttl`, and a replay does not restart its ttl; while a call
runs, any call with its key raises RequestInProgress whatever its request; any exception of the
handler is a failure and leaves the key as if never used; `None` is a response like any other; two
IdempotentHandler objects share nothing.
"""
# DSP-CANARY-IDEMPOTENCY-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import random
import threading

import pytest
import support
from support import SETTLE, contract_clock, expect, expect_equal, only_callable, wait_until

from dspatterns.testing import FakeClock

HELD = 15.0   # seconds a held handler waits for its gate before giving up (only if a test broke)


class CardDeclined(Exception):
    """What the suite's handler raises on the calls it is told to fail."""


class Receipt:
    """A response only the suite can make: it crosses by reference, so identity is checkable."""

    def __init__(self, number, request):
        self.number, self.request = number, request

    def __repr__(self) -> str:
        return f"Receipt({self.number}, {self.request!r})"


class Payments:
    """The suite's handler, like the notebook's `Payments`: records each request, returns a new
    Receipt per call (a dict ``{"receipt": n}`` with ``plain=True``), raises CardDeclined on the
    call numbers in ``fail``, and holds the call numbers in ``hold`` inside until ``open()``."""

    def __init__(self, fail=(), hold=(), plain=False, returns=None):
        self.fail = {fail} if isinstance(fail, int) else set(fail)
        self.hold = {hold} if isinstance(hold, int) else set(hold)
        self.plain, self.returns = plain, returns
        self.calls = []      # the requests, in the order the handler got them
        self.raised = []     # the exceptions it raised, in order
        self.inside = 0      # calls waiting at the gate now
        self._lock = threading.Lock()
        self._gate = threading.Event()

    def __call__(self, request):
        with self._lock:
            self.calls.append(request)
            number = len(self.calls)
        if number in self.hold:
            with self._lock:
                self.inside += 1
            try:
                self._gate.wait(HELD)
            finally:
                with self._lock:
                    self.inside -= 1
        if number in self.fail:
            error = CardDeclined(f"call {number}")
            self.raised.append(error)
            raise error
        if self.returns is not None:
            return self.returns(number, request)
        return {"receipt": number} if self.plain else Receipt(number, request)

    def open(self):
        self._gate.set()

    def spec(self) -> str:
        args = []
        if self.fail:
            args.append(f"fail={_set(self.fail)}")
        if self.hold:
            args.append("gate=True")
        return f"Payments({', '.join(args)})"


def _set(numbers) -> str:
    numbers = sorted(numbers)
    return repr(numbers[0]) if len(numbers) == 1 else "{" + ", ".join(map(str, numbers)) + "}"


class Run:
    """An IdempotentHandler around the suite's Payments on the suite's FakeClock, writing down
    each step as the notebook code that replays it."""

    def __init__(self, impl, payments=None, ttl=None, start=0.0):
        self.impl = impl
        self.clock = FakeClock(start)
        self.payments = payments if payments is not None else Payments()
        kwargs = {} if ttl is None else {"ttl": ttl}
        self.idem = impl.IdempotentHandler(only_callable(self.payments, "handler"),
                                           clock=contract_clock(self.clock), **kwargs)
        ttl_text = "" if ttl is None else f"ttl={ttl!r}, "
        self.lines = [f"clock = FakeClock({start!r})", f"payments = {self.payments.spec()}",
                      f"pay = IdempotentHandler(payments, {ttl_text}clock=clock)"]

    def handle(self, key, request):
        """``handle(key, request)``: ("returned", value) or ("raised", exception)."""
        self.lines.append(f"pay.handle({key!r}, {request!r})")
        try:
            return ("returned", self.idem.handle(key, request))
        except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
            return ("raised", exc)

    def advance(self, seconds):
        self.clock.advance(seconds)
        self.lines.append(f"clock.advance({seconds!r})")

    @property
    def calls(self) -> int:
        return len(self.payments.calls)

    @property
    def replay(self) -> str:
        return "replay: " + "; ".join(self.lines)

    def said(self, outcome) -> str:
        kind, value = outcome
        if kind == "returned":
            return f"returned {value!r}"
        return f"raised {describe_error(value)}"

    def expect_response(self, outcome, expected, what):
        """``outcome`` is ``expected`` itself (a Receipt, or None)."""
        kind, value = outcome
        expect(kind == "returned" and value is expected,
               f"{what}: expected {expected!r} (that very object), but it {self.said(outcome)}; "
               f"{self.replay}")

    def expect_new_response(self, outcome, calls_before, what):
        """The handler ran once more for this call and ``outcome`` is its new Receipt."""
        kind, value = outcome
        expect(kind == "returned" and self.calls == calls_before + 1
               and isinstance(value, Receipt) and value.number == self.calls,
               f"{what}: expected the handler to run (call {calls_before + 1}) and its new Receipt "
               f"to be returned, but it {self.said(outcome)} and the handler has run "
               f"{self.calls} times in all; {self.replay}")
        return value

    def expect_raised(self, outcome, error_type, what):
        kind, value = outcome
        expect(kind == "raised" and isinstance(value, error_type),
               f"{what}: expected {error_type.__name__}, but it {self.said(outcome)}; {self.replay}")

    def expect_calls(self, n, what):
        expect(self.calls == n, f"{what}: the handler should have run {n} time{'s' * (n != 1)}, "
                                f"it ran {self.calls} (with {self.payments.calls}); {self.replay}")


def describe_error(error) -> str:
    text = f"{type(error).__name__}({error})"
    where = getattr(error, "remote_traceback", None)  # raised by the student's code
    if where and type(error).__module__ == "builtins":
        text += f" at {where[-1].strip()}"
    return text


class Background(support.Background):
    still_running = f"had not returned after {SETTLE:g} s (it must not wait)"

    def describe(self) -> str:
        if self.done and self.error is not None:
            return f"raised {describe_error(self.error)}"
        return super().describe()


def start_held(run, key, request):
    """Start ``handle(key, request)`` in a thread whose handler call is held at the gate; wait until
    it is confirmed inside the handler."""
    run.lines.append(f"# in a thread: pay.handle({key!r}, {request!r}), held inside the handler")
    first = Background(lambda: run.idem.handle(key, request))
    entered = wait_until(lambda: run.payments.inside >= 1 or first.done, HELD)
    if not (entered and run.payments.inside >= 1):
        run.payments.open()
        first.join(HELD)
        raise AssertionError(f"handle({key!r}, {request!r}) on a new key should run the handler, "
                             f"but it never got inside it: it {first.describe()}; {run.replay}")
    return first


def at_once(run, key, request):
    """``handle(key, request)`` from another thread, given SETTLE seconds to return."""
    run.lines.append(f"pay.handle({key!r}, {request!r})")
    other = Background(lambda: run.idem.handle(key, request))
    other.join(SETTLE)
    return other


# ------------------------------------------------------------------------------------- replay
@pytest.mark.part("replay")
class TestReplay:
    def test_first_call_runs_the_handler(self, impl):
        """the first call with a key runs handler(request) once and returns its response"""
        run = Run(impl)
        request = {"amount": 30, "card": "4242"}
        outcome = run.handle("order-1", request)
        run.expect_new_response(outcome, 0, "the first handle('order-1', ...)")
        expect_equal(run.payments.calls, [request], f"the requests the handler got ({run.replay})")

    def test_repeat_returns_the_identical_response_without_running_the_handler(self, impl):
        """a repeat with the same key and request returns the stored response itself (not a copy) and does not run the handler"""
        run = Run(impl)
        first = run.expect_new_response(run.handle("order-1", {"amount": 30}), 0, "the first call")
        for n in range(2, 6):
            run.expect_response(run.handle("order-1", {"amount": 30}), first,
                                f"repeat number {n - 1} of handle('order-1', {{'amount': 30}})")
        run.expect_calls(1, "after the first call and four repeats")

    def test_an_equal_request_built_separately_is_a_repeat(self, impl):
        """requests are compared with ==: an equal dict built another way (other key order, nested lists) is a repeat"""
        run = Run(impl)
        request = {"amount": 30, "card": "4242", "items": [["book", 2], ["pen", 1]],
                   "meta": {"source": "web"}}
        first = run.expect_new_response(run.handle("k", request), 0, "the first call")
        equal = {"meta": dict.fromkeys(["source"], "web"), "items": [["book", 2], ["pen", 1]],
                 "card": "42" + "42", "amount": 15 * 2}
        run.expect_response(run.handle("k", equal), first,
                            "a repeat with an equal request built separately (== holds)")
        run.expect_calls(1, "after a repeat with an equal request")

    @pytest.mark.parametrize("request_", ["plain text", 42, ["a", 1], None],
                             ids=["str", "int", "list", "None"])
    def test_requests_of_any_plain_type(self, impl, request_):
        """a request need not be a dict: a string, a number, a list or None is replayed the same way"""
        run = Run(impl)
        first = run.expect_new_response(run.handle("k", request_), 0, "the first call")
        run.expect_response(run.handle("k", request_), first, "a repeat with the same request")
        run.expect_calls(1, "after one repeat")

    def test_keys_are_independent(self, impl):
        """each key is its own operation: the same request under another key runs the handler again, and each key replays its own response"""
        run = Run(impl)
        request = {"amount": 30}
        receipts = {}
        for n, key in enumerate(["a", "b", "c"]):
            receipts[key] = run.expect_new_response(run.handle(key, request), n,
                                                    f"the first call with key {key!r}")
        for key in ["c", "a", "b", "a"]:
            run.expect_response(run.handle(key, request), receipts[key],
                                f"a repeat with key {key!r}")
        run.expect_calls(3, "three keys, each first used once, then repeated")

    def test_keys_of_other_types(self, impl):
        """keys are compared by value: 1 and '1' are different keys, and an int or tuple key works"""
        run = Run(impl)
        receipts = {}
        for n, key in enumerate([1, "1", ("user", 7)]):
            receipts[key] = run.expect_new_response(run.handle(key, "charge"), n,
                                                    f"the first call with key {key!r}")
        for key in [("user", 7), "1", 1]:
            run.expect_response(run.handle(key, "charge"), receipts[key], f"a repeat with key {key!r}")

    def test_none_is_a_stored_response(self, impl):
        """a handler that returned None has a stored response: a repeat returns None without running it again"""
        payments = Payments(returns=lambda number, request: None)
        run = Run(impl, payments)
        run.lines[1] = "payments = lambda request: None  # (count its calls)"
        outcome = run.handle("k", {"amount": 1})
        expect(outcome == ("returned", None), f"the first call should return the handler's None, but "
                                              f"it {run.said(outcome)}; {run.replay}")
        for _ in range(3):
            run.expect_response(run.handle("k", {"amount": 1}), None, "a repeat after a None response")
        run.expect_calls(1, "a None response is stored like any other")

    def test_two_handlers_share_nothing(self, impl):
        """two IdempotentHandler objects keep their own keys: a key stored in one is new to the other"""
        first_run, second_run = Run(impl), Run(impl)
        first = first_run.expect_new_response(first_run.handle("k", {"amount": 1}), 0,
                                              "the first object's first call")
        outcome = second_run.handle("k", {"amount": 2})
        second = second_run.expect_new_response(
            outcome, 0, "a second IdempotentHandler (its own Payments) with key 'k' that only the "
                        "first one has seen")
        first_run.expect_response(first_run.handle("k", {"amount": 1}), first,
                                  "a repeat on the first object")
        second_run.expect_response(second_run.handle("k", {"amount": 2}), second,
                                   "a repeat on the second object")

    def test_random_sequences_match_a_model(self, impl, sandbox):
        """random sequences of calls over a few keys and requests (no failures, no time passing) get exactly the model's answers"""
        check_against_model(impl, sandbox, seeds=range(60), fail_rate=0.0, moves=False)


# ---------------------------------------------------------------------------------- conflicts
@pytest.mark.part("conflicts")
class TestConflicts:
    @pytest.mark.parametrize("different", [
        {"amount": 31}, {"amount": 30, "card": "1111"}, {"amount": "30"}, {}, "amount=30",
    ], ids=["other-value", "extra-field", "str-not-int", "empty", "not-a-dict"])
    def test_different_request_raises_mismatch(self, impl, different):
        """the same key with a different request raises IdempotencyMismatch and does not run the handler"""
        run = Run(impl)
        first = run.expect_new_response(run.handle("k", {"amount": 30}), 0, "the first call")
        run.expect_raised(run.handle("k", different), impl.IdempotencyMismatch,
                          f"key 'k' was used for {{'amount': 30}}; handle('k', {different!r})")
        run.expect_calls(1, "a refused request must not run the handler")
        run.expect_response(run.handle("k", {"amount": 30}), first,
                            "after the mismatch, the original request")

    def test_mismatch_replaces_nothing(self, impl):
        """a refused request leaves the stored one in place: it stays refused, and the original keeps replaying"""
        run = Run(impl)
        first = run.expect_new_response(run.handle("k", {"amount": 30}), 0, "the first call")
        for _ in range(3):
            run.expect_raised(run.handle("k", {"amount": 99}), impl.IdempotencyMismatch,
                              "the different request, asked again")
            run.expect_response(run.handle("k", {"amount": 30}), first, "the original request")
        run.expect_calls(1, "mismatches never run the handler")

    def test_mismatch_is_an_exception_class(self, impl):
        """IdempotencyMismatch and RequestInProgress are two different Exception subclasses"""
        for name in ("IdempotencyMismatch", "RequestInProgress"):
            cls = getattr(impl, name)
            expect(isinstance(cls, type) and issubclass(cls, Exception),
                   f"{name} should be a subclass of Exception, got {cls!r}")
        expect(not issubclass(impl.IdempotencyMismatch, impl.RequestInProgress)
               and not issubclass(impl.RequestInProgress, impl.IdempotencyMismatch),
               "IdempotencyMismatch and RequestInProgress should be separate classes (neither a "
               "subclass of the other), so a client can tell 'wrong request' from 'try later'")

    def test_duplicate_while_running_is_refused_at_once(self, impl):
        """while the first call runs (a real thread, held inside the handler), a duplicate raises RequestInProgress at once and runs nothing"""
        run = Run(impl, Payments(hold=1))
        first = start_held(run, "k", {"amount": 30})
        try:
            duplicate = at_once(run, "k", {"amount": 30})
            expect(duplicate.done and isinstance(duplicate.error, impl.RequestInProgress),
                   "while the first call with key 'k' is running, an equal request should raise "
                   f"RequestInProgress at once, but it {duplicate.describe()}; {run.replay}")
            run.expect_calls(1, "the refused duplicate must not run the handler")
        finally:
            run.payments.open()
            first.join(HELD)
        expect(first.done and first.error is None and isinstance(first.result, Receipt),
               f"the first call, once let through, should return its Receipt, but it "
               f"{first.describe()}; {run.replay}")
        run.lines.append("payments.open()  # the first call returns")
        run.expect_response(run.handle("k", {"amount": 30}), first.result,
                            "a repeat once the first call returned")
        run.expect_calls(1, "after the first call returned and a repeat")

    def test_other_request_while_running_is_in_progress(self, impl):
        """while the first call runs, a different request with its key raises RequestInProgress too (not IdempotencyMismatch), and stores nothing"""
        run = Run(impl, Payments(hold=1))
        first = start_held(run, "k", {"amount": 30})
        try:
            other = at_once(run, "k", {"amount": 99})
            expect(other.done and isinstance(other.error, impl.RequestInProgress),
                   "while the first call with key 'k' is running, any call with 'k' should raise "
                   f"RequestInProgress at once; a different request {other.describe()}; {run.replay}")
        finally:
            run.payments.open()
            first.join(HELD)
        run.lines.append("payments.open()  # the first call returns")
        expect(first.done and first.error is None, f"the first call {first.describe()}; {run.replay}")
        run.expect_raised(run.handle("k", {"amount": 99}), impl.IdempotencyMismatch,
                          "after the first call stored {'amount': 30}, the refused request again")
        run.expect_response(run.handle("k", {"amount": 30}), first.result,
                            "a repeat of the first request")
        run.expect_calls(1, "only the first call ran the handler")

    def test_other_keys_are_not_blocked(self, impl):
        """while one key's first call runs, calls with other keys run and return at once"""
        run = Run(impl, Payments(hold=1))
        first = start_held(run, "slow", {"amount": 30})
        try:
            other = at_once(run, "fast", {"amount": 30})
            expect(other.done and other.error is None and isinstance(other.result, Receipt),
                   "while key 'slow' is running, handle('fast', ...) should run the handler and "
                   f"return its Receipt at once, but it {other.describe()}; {run.replay}")
            again = at_once(run, "fast", {"amount": 30})
            expect(again.done and again.error is None and again.result is other.result,
                   f"a repeat with key 'fast' while 'slow' runs should return {other.result!r}, but "
                   f"it {again.describe()}; {run.replay}")
        finally:
            run.payments.open()
            first.join(HELD)
        expect(first.done and first.error is None, f"the first call {first.describe()}; {run.replay}")
        run.expect_calls(2, "one call per key")

    def test_racing_duplicates_only_one_runs(self, impl):
        """many threads racing on a few keys, the handler held: exactly one call per key gets in, every other call raises RequestInProgress at once; afterwards all replay that call's response"""
        keys, per_key = 6, 5
        payments = Payments(hold=range(1, keys * per_key + 1))
        run = Run(impl, payments)
        barrier = threading.Barrier(keys * per_key)
        requests = {f"k{i}": {"amount": i} for i in range(keys)}

        def racer(key):
            def go():
                barrier.wait(HELD)
                return run.idem.handle(key, requests[key])
            return go

        racers = [(key, Background(racer(key))) for key in requests for _ in range(per_key)]
        try:
            settled = wait_until(lambda: sum(b.done for _, b in racers) + payments.inside
                                 == len(racers), 2 * SETTLE)
            inside = payments.inside
            started = sorted(request["amount"] for request in payments.calls)
            stuck = sum(not b.done for _, b in racers) - inside
        finally:
            payments.open()
            for _, background in racers:
                background.join(HELD)
        what = (f"{per_key} threads each on keys k0..k{keys - 1} (request {{'amount': i}} for ki), "
                "started together, every handler call held")
        expect(settled, f"{what}: {stuck} calls neither got into the handler nor returned within "
                        f"{2 * SETTLE:g} s (a call must be refused at once while its key runs)")
        expect(inside == keys and started == list(range(keys)),
               f"{what}: exactly one call per key should get into the handler; the handler got the "
               f"amounts {started}")
        for key, background in racers:
            expect(background.done and (isinstance(background.error, impl.RequestInProgress)
                                        or background.error is None),
                   f"{what}: a call with {key!r} {background.describe()}; expected its Receipt or "
                   "RequestInProgress")
        winners = {key: b.result for key, b in racers if b.error is None}
        expect(sorted(winners) == sorted(requests) and all(
                   sum(1 for k, b in racers if k == key and b.error is None) == 1 for key in requests),
               f"{what}: one call per key should return a Receipt, all others RequestInProgress")
        second = threading.Barrier(keys * per_key)

        def repeater(key):
            def go():
                second.wait(HELD)  # the repeats race each other too: none may be refused
                return run.idem.handle(key, requests[key])
            return go

        again = [(key, Background(repeater(key))) for key in requests for _ in range(per_key)]
        for key, background in again:
            background.join(HELD)
            expect(background.done and background.result is winners[key],
                   f"{what}; then {per_key} threads per key repeat: each should get "
                   f"{winners[key]!r}, but one {background.describe()}")
        expect_equal(len(payments.calls), keys, f"handler calls in all ({what}, then repeats)")

    def test_racing_threads_many_keys(self, impl):
        """thread safety: 8 threads per key on 10 keys, racing freely (handler not held): each key's handler runs once, every call gets that response or RequestInProgress"""
        keys, per_key = 10, 8
        payments = Payments()
        run = Run(impl, payments)
        barrier = threading.Barrier(keys * per_key)
        rng = random.Random(11)
        order = [f"k{i}" for i in range(keys) for _ in range(per_key)]
        rng.shuffle(order)

        def racer(key):
            def go():
                barrier.wait(HELD)
                return run.idem.handle(key, {"key": key})
            return go

        racers = [(key, Background(racer(key))) for key in order]
        for _, background in racers:
            background.join(HELD)
        what = f"{per_key} threads on each of {keys} keys, started together in a shuffled order"
        counts = {}
        for request in payments.calls:
            counts[request["key"]] = counts.get(request["key"], 0) + 1
        expect(all(counts.get(f"k{i}") == 1 for i in range(keys)),
               f"{what}: each key's handler should run exactly once; it ran {counts}")
        receipts = {b.result.request["key"]: b.result for _, b in racers
                    if isinstance(b.result, Receipt)}
        for key, background in racers:
            ok = (background.done and background.error is None and background.result is
                  receipts.get(key)) or isinstance(background.error, impl.RequestInProgress)
            expect(ok, f"{what}: a call with {key!r} {background.describe()}; expected the Receipt "
                       f"of that key's one handler call or RequestInProgress")
        for i in range(keys):
            key = f"k{i}"
            outcome = run.handle(key, {"key": key})
            expect(outcome[0] == "returned" and isinstance(outcome[1], Receipt)
                   and outcome[1].request == {"key": key} and outcome[1] is receipts.get(key, outcome[1]),
                   f"{what}: afterwards handle({key!r}, ...) should replay that key's Receipt, but it "
                   f"{run.said(outcome)}")
        expect_equal(len(payments.calls), keys, f"handler calls in all ({what}, then one repeat each)")


# ----------------------------------------------------------------------------------- failures
@pytest.mark.part("failures")
class TestFailures:
    def test_the_handlers_exception_propagates_itself(self, impl):
        """an exception the handler raises reaches the caller as that very exception, not a wrapper"""
        run = Run(impl, Payments(fail=1))
        outcome = run.handle("k", {"amount": 30})
        expect(outcome[0] == "raised" and outcome[1] is run.payments.raised[0],
               f"the handler raised {run.payments.raised[0]!r}; handle should let that very "
               f"exception propagate, but it {run.said(outcome)}; {run.replay}")

    def test_a_retry_after_a_failure_runs_the_handler(self, impl):
        """a handler that raised stored nothing: the retry runs it again, and that success is stored"""
        run = Run(impl, Payments(fail=1))
        run.handle("k", {"amount": 30})
        retry = run.expect_new_response(run.handle("k", {"amount": 30}), 1,
                                        "the retry after the handler raised")
        run.expect_response(run.handle("k", {"amount": 30}), retry, "a repeat after the retry")
        run.expect_calls(2, "the failed call and the retry")

    def test_after_a_failure_the_key_is_free_for_another_request(self, impl):
        """after a failure the key is as if never used: another request with it runs (no IdempotencyMismatch)"""
        run = Run(impl, Payments(fail=1))
        run.handle("k", {"amount": 30})
        other = run.expect_new_response(run.handle("k", {"amount": 45}), 1,
                                        "another request with the key whose first call failed")
        run.expect_raised(run.handle("k", {"amount": 30}), impl.IdempotencyMismatch,
                          "now that {'amount': 45} is stored, the first request again")
        run.expect_response(run.handle("k", {"amount": 45}), other, "a repeat of {'amount': 45}")

    def test_failures_in_a_row(self, impl):
        """three failures in a row store nothing each time; the fourth call succeeds and is stored"""
        run = Run(impl, Payments(fail={1, 2, 3}))
        for n in range(1, 4):
            outcome = run.handle("k", {"amount": 30})
            expect(outcome[0] == "raised" and outcome[1] is run.payments.raised[-1]
                   and run.calls == n,
                   f"call {n}: the handler should run and its CardDeclined propagate, but it "
                   f"{run.said(outcome)} (handler calls: {run.calls}); {run.replay}")
        success = run.expect_new_response(run.handle("k", {"amount": 30}), 3, "the fourth call")
        run.expect_response(run.handle("k", {"amount": 30}), success, "a repeat after the success")

    def test_a_failure_leaves_other_keys_alone(self, impl):
        """a failure on one key changes nothing stored under other keys"""
        run = Run(impl, Payments(fail=2))
        stored = run.expect_new_response(run.handle("a", {"amount": 1}), 0, "the first call, key 'a'")
        outcome = run.handle("b", {"amount": 2})
        expect(outcome[0] == "raised", f"the handler's second call raises; it {run.said(outcome)}; "
                                       f"{run.replay}")
        run.expect_response(run.handle("a", {"amount": 1}), stored, "a repeat with key 'a'")
        run.expect_raised(run.handle("a", {"amount": 2}), impl.IdempotencyMismatch,
                          "key 'a' with another request")

    def test_a_failure_while_others_wait_frees_the_key(self, impl):
        """a held call that then fails: during it, its key raises RequestInProgress; after it, the key is free (no RequestInProgress, no mismatch)"""
        run = Run(impl, Payments(fail=1, hold=1))
        run.lines[1] = "payments = Payments(fail=1, gate=True)"
        first = start_held(run, "k", {"amount": 30})
        try:
            duplicate = at_once(run, "k", {"amount": 30})
            expect(duplicate.done and isinstance(duplicate.error, impl.RequestInProgress),
                   f"while the first call runs, a duplicate {duplicate.describe()}; expected "
                   f"RequestInProgress; {run.replay}")
        finally:
            run.payments.open()
            first.join(HELD)
        run.lines.append("payments.open()  # the first call raises CardDeclined")
        expect(first.done and first.error is run.payments.raised[0],
               f"the held call's handler raised {run.payments.raised[0]!r}; that should reach its "
               f"caller, but the call {first.describe()}; {run.replay}")
        run.expect_new_response(run.handle("k", {"amount": 99}), 1,
                                "after the first call failed, another request with its key")

    def test_random_sequences_with_failures_match_a_model(self, impl, sandbox):
        """random sequences of calls where about a third of the handler's calls raise get exactly the model's answers"""
        check_against_model(impl, sandbox, seeds=range(100, 160), fail_rate=0.35, moves=False)


# ------------------------------------------------------------------------------------- expiry
@pytest.mark.part("expiry")
class TestExpiry:
    @pytest.mark.parametrize("ttl,start", [(60.0, 100.0), (0.5, 0.0), (3600.0, 12345.5)])
    def test_expires_exactly_ttl_after_it_was_stored(self, impl, ttl, start):
        """a key stored at t replays until t + ttl (a moment before it still does) and is new again at exactly t + ttl (>=)"""
        run = Run(impl, ttl=ttl, start=start)
        first = run.expect_new_response(run.handle("k", {"amount": 30}), 0, "the first call")
        run.advance(ttl - 0.25 if ttl > 0.25 else ttl / 2)
        run.expect_response(run.handle("k", {"amount": 30}), first,
                            "a repeat a moment before ttl has passed")
        run.advance(ttl - (ttl - 0.25 if ttl > 0.25 else ttl / 2))
        fresh = run.expect_new_response(run.handle("k", {"amount": 30}), 1,
                                        f"a repeat exactly ttl={ttl!r} after the key was stored")
        run.expect_response(run.handle("k", {"amount": 30}), fresh, "a repeat after the new call")

    def test_default_ttl_is_a_day(self, impl):
        """with no ttl given, a key lives 86400 seconds"""
        run = Run(impl, start=5.0)
        first = run.expect_new_response(run.handle("k", "charge"), 0, "the first call")
        run.advance(86399.5)
        run.expect_response(run.handle("k", "charge"), first,
                            "a repeat 86399.5 s later (the default ttl is 86400)")
        run.advance(0.5)
        run.expect_new_response(run.handle("k", "charge"), 1, "a repeat exactly 86400 s later")

    def test_after_expiry_another_request_runs(self, impl):
        """once a key expired, the same key with a different request runs the handler (no IdempotencyMismatch) and is stored"""
        run = Run(impl, ttl=10.0, start=50.0)
        run.expect_new_response(run.handle("k", {"amount": 30}), 0, "the first call")
        run.advance(9.5)
        run.expect_raised(run.handle("k", {"amount": 45}), impl.IdempotencyMismatch,
                          "another request before the key expired")
        run.advance(0.5)
        fresh = run.expect_new_response(run.handle("k", {"amount": 45}), 1,
                                        "another request once the key expired")
        run.expect_raised(run.handle("k", {"amount": 30}), impl.IdempotencyMismatch,
                          "the old request, now that {'amount': 45} is stored")
        run.expect_response(run.handle("k", {"amount": 45}), fresh, "a repeat of the new request")

    def test_a_replay_does_not_restart_the_ttl(self, impl):
        """a key expires ttl after it was stored, however often it was replayed in between"""
        run = Run(impl, ttl=10.0)
        first = run.expect_new_response(run.handle("k", 1), 0, "the first call")
        for _ in range(4):
            run.advance(2.0)
            run.expect_response(run.handle("k", 1), first, "a replay within the ttl")
        run.advance(2.0)
        run.expect_new_response(run.handle("k", 1), 1,
                                "a repeat 10 s after the key was stored (ttl=10), replays in between")

    def test_keys_expire_separately(self, impl):
        """each key expires ttl after it was stored itself: a later key outlives an earlier one"""
        run = Run(impl, ttl=10.0)
        early = run.expect_new_response(run.handle("early", 1), 0, "key 'early' at t=0")
        run.advance(4.0)
        late = run.expect_new_response(run.handle("late", 1), 1, "key 'late' at t=4")
        run.advance(6.0)
        run.expect_new_response(run.handle("early", 1), 2, "key 'early' at t=10 (expired)")
        run.expect_response(run.handle("late", 1), late, "key 'late' at t=10 (stored at 4)")
        expect(early is not late, "two keys, two receipts")
        run.advance(4.0)
        run.expect_new_response(run.handle("late", 1), 3, "key 'late' at t=14 (expired)")

    def test_the_ttl_counts_from_a_stored_response(self, impl):
        """a key whose handler failed was never stored: a success later starts its ttl then"""
        run = Run(impl, Payments(fail=1), ttl=10.0)
        run.handle("k", 1)
        run.advance(8.0)
        stored = run.expect_new_response(run.handle("k", 1), 1, "the retry at t=8 after a failure at 0")
        run.advance(9.5)
        run.expect_response(run.handle("k", 1), stored, "a repeat at t=17.5 (stored at 8, ttl=10)")
        run.advance(0.5)
        run.expect_new_response(run.handle("k", 1), 2, "a repeat at t=18 (stored at 8, ttl=10)")

    def test_random_sequences_with_time_match_a_model(self, impl, sandbox):
        """random sequences of calls, failures and clock moves (often landing exactly on a key's expiry) get exactly the model's answers"""
        check_against_model(impl, sandbox, seeds=range(200, 250), fail_rate=0.2, moves=True)


# --------------------------------------------------------------------- model-based sequences
KEYS = ("a", "b", "c")
REQUESTS = ({"amount": 1}, {"amount": 2}, {"amount": 1, "note": "gift"}, "refund")
TTL = 10.0


class Model:
    """What the contract says, for one IdempotentHandler: the suite's expectation of each call."""

    def __init__(self, fails):
        self.fails = fails          # handler call numbers that raise
        self.calls = 0
        self.stored = {}            # key -> (request, receipt number, stored_at)

    def handle(self, key, request, now):
        if key in self.stored:
            stored_request, receipt, stored_at = self.stored[key]
            if now - stored_at < TTL:
                if stored_request != request:
                    return ("raised", "IdempotencyMismatch")
                return ("returned", {"receipt": receipt})
            del self.stored[key]
        self.calls += 1
        if self.calls in self.fails:
            return ("raised", "CardDeclined")
        self.stored[key] = (request, self.calls, now)
        return ("returned", {"receipt": self.calls})


def sequence(seed, fail_rate, moves):
    """Batches of (key, request) calls, each batch with the clock advance that comes before it."""
    rng = random.Random(seed)
    fails = {n for n in range(1, 200) if rng.random() < fail_rate}
    batches = []
    for _ in range(rng.randint(3, 6) if moves else 1):
        advance = rng.choice([0.5, 2.0, 4.5, 5.0, 9.5, 10.0, 10.0, 12.0]) if moves and batches else 0.0
        calls = [(rng.choice(KEYS), rng.choice(REQUESTS)) for _ in range(rng.randint(3, 8) if moves
                                                                          else rng.randint(15, 30))]
        batches.append((advance, calls))
    return fails, batches


def normalise(impl, outcome):
    if not outcome.raised:
        return ("returned", outcome.value)
    error = outcome.error
    for name in ("IdempotencyMismatch", "RequestInProgress"):
        if isinstance(error, getattr(impl, name)):
            return ("raised", name)
    if isinstance(error, CardDeclined):
        return ("raised", "CardDeclined")
    return ("raised", describe_error(error))


def check_against_model(impl, sandbox, seeds, fail_rate, moves):
    """For each seed: one IdempotentHandler on the suite's clock, its calls made in a batch per
    clock reading, every answer compared with the model's."""
    for seed in seeds:
        fails, batches = sequence(seed, fail_rate, moves)
        payments = Payments(fail=fails, plain=True)
        clock = FakeClock(1000.0)
        idem = impl.IdempotentHandler(only_callable(payments, "handler"), ttl=TTL,
                                      clock=contract_clock(clock))
        model = Model(fails)
        total = sum(len(calls) for _, calls in batches)
        used = sorted(n for n in fails if n <= total)
        fail_text = f"fail={_set(used)}" if used else ""
        lines = ["clock = FakeClock(1000.0)",
                 f"payments = Payments({fail_text})  # (its receipts stand for {{'receipt': n}})",
                 f"pay = IdempotentHandler(payments, ttl={TTL!r}, clock=clock)"]
        for advance, calls in batches:
            if advance:
                clock.advance(advance)
                lines.append(f"clock.advance({advance!r})")
            outcomes = sandbox.call_each([(idem.handle, (key, request), {})
                                          for key, request in calls])
            for (key, request), outcome in zip(calls, outcomes):
                lines.append(f"pay.handle({key!r}, {request!r})")
                expected = model.handle(key, request, clock.now)
                got = normalise(impl, outcome)
                if got != expected:
                    what = (f"returned receipt {got[1]['receipt']}" if got[0] == "returned"
                            and isinstance(got[1], dict) and "receipt" in got[1]
                            else f"{got[0]} {got[1]!r}")
                    want = (f"return the response of handler call {expected[1]['receipt']}"
                            if expected[0] == "returned" else f"raise {expected[1]}")
                    raise AssertionError(
                        f"random sequence (seed {seed}, ttl={TTL!r}, the handler's calls number "
                        f"{_set(used) if used else 'none'} raising): at t={clock.now!r} the last "
                        f"call below should {want}, but it {what} (the handler has run "
                        f"{len(payments.calls)} times, the model {model.calls}); replay: "
                        + "; ".join(lines))
        # every handler call that the model expected is the one the handler got, in order
        expect_equal(len(payments.calls), model.calls,
                     f"handler calls in random sequence seed {seed}")
