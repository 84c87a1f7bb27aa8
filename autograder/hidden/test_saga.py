"""Hidden suite for the `saga` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the saga that shows it as one line the student can paste
into the notebook (whose helper cell defines `Flaky`, `ok` and `FOREVER`).

Steps' actions and compensations are the suite's own recording functions, handed over as plain
functions (`only_callable`), never the recorder: what the recorder notes (which function ran, in
what order, with what context) is what is graded. Nothing here waits or is random except the
hypothesis tests, which run derandomized (the `grading` profile) and print the shrunk example.

The context crosses the channel by value (a dict is plain data), so a recording function sees the
context as the student's code held it at that call, and cannot change the student's dict: the tests
check what every step was given and what `run` returns, not that one dict object was shared.
"""
# DSP-CANARY-SAGA-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import expect, expect_equal, only_callable

FOREVER = 10**9


class StepFailure(Exception):
    """What a recording step function raises when it is set to fail."""


class Journal:
    """Every call of every step function, in order: (kind, step name, the context it was given)."""

    def __init__(self):
        self.calls = []
        self.errors = {}  # step name -> the exception object its action raised (the last one)

    def function(self, kind, name, failures=0):
        """A step function for ``name`` whose first ``failures`` calls raise StepFailure."""
        made = {"count": 0}

        def step(context):
            self.calls.append((kind, name, context))
            made["count"] += 1
            if made["count"] <= failures:
                error = StepFailure(f"{kind} {name} failed (call {made['count']})")
                if kind == "action":
                    self.errors[name] = error
                raise error
        return only_callable(step, f"{kind}_{name}")

    def kinds(self):
        return [(kind, name) for kind, name, _ in self.calls]

    def attempts(self, kind, name):
        return sum(1 for k, n, _ in self.calls if (k, n) == (kind, name))


def build(impl, journal, names, *, fail_action=None, compensation_failures=None):
    """Steps named ``names``; the action of ``fail_action`` fails forever; compensation of step
    ``n`` fails ``compensation_failures[n]`` times first."""
    compensation_failures = compensation_failures or {}
    return [impl.SagaStep(name,
                          journal.function("action", name, FOREVER if name == fail_action else 0),
                          journal.function("compensation", name, compensation_failures.get(name, 0)))
            for name in names]


def replay(names, *, fail_action=None, compensation_failures=None, retries=None, context=None):
    """The saga as one line for the student's notebook (Flaky, ok and FOREVER are defined there)."""
    compensation_failures = compensation_failures or {}

    def fn(failures):
        return "ok" if failures == 0 else "Flaky(FOREVER)" if failures >= FOREVER else f"Flaky({failures})"
    steps = ", ".join(f"SagaStep({name!r}, {fn(FOREVER if name == fail_action else 0)}, "
                      f"{fn(compensation_failures.get(name, 0))})" for name in names)
    retry_text = "" if retries is None else f", compensation_retries={retries}"
    return f"saga = SagaOrchestrator([{steps}]{retry_text}); saga.run({context or {}!r})"


def run_failing(impl, saga, context, line):
    """Run a saga that must fail; its SagaFailed."""
    try:
        result = saga.run(context)
    except impl.SagaFailed as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the message says what came out instead
        raise AssertionError(f"`{line}`: expected SagaFailed, got {type(exc).__name__}: {exc}") from None
    raise AssertionError(f"`{line}`: an action failed, so run should raise SagaFailed; it returned "
                         f"{result!r}")


def model(names, fail_index, compensation_failures, retries):
    """What the contract says happens: the log, the compensated names, the attempts per
    compensation, and whether run fails."""
    log, attempts, compensated = [], {}, []
    completed = names if fail_index is None else names[:fail_index]
    log += [("action", name) for name in completed]
    if fail_index is None:
        return log, compensated, attempts
    for name in reversed(completed):
        failures = compensation_failures.get(name, 0)
        attempts[name] = min(failures, retries) + 1
        if failures > retries:
            break
        log.append(("compensate", name))
        compensated.append(name)
    return log, compensated, attempts


# ------------------------------------------------------------------------------------- success
@pytest.mark.part("success")
class TestSuccess:
    def test_actions_run_in_order_with_the_context(self, impl):
        """every action runs once, in order, each given the context dict; no compensation runs"""
        journal, names = Journal(), ["reserve", "charge", "ship"]
        context = {"order": 17, "items": ["book", "pen"], "total": 12.5}
        line = replay(names, context=context)
        impl.SagaOrchestrator(build(impl, journal, names)).run(dict(context))
        expect_equal(journal.kinds(), [("action", n) for n in names], f"`{line}`: the step functions "
                                                                     "called, in order")
        for kind, name, seen in journal.calls:
            expect_equal(seen, context, f"`{line}`: the context given to {kind} {name!r}")

    def test_run_returns_the_context(self, impl):
        """run(context) returns the context dict it was given, with its contents"""
        journal, names = Journal(), ["a", "b"]
        context = {"order": 3, "nested": {"qty": [1, 2]}, "note": None}
        result = impl.SagaOrchestrator(build(impl, journal, names)).run(context)
        expect(isinstance(result, dict), f"`{replay(names, context=context)}`: run should return "
                                         f"the context dict; it returned {result!r}")
        expect_equal(result, context, f"`{replay(names, context=context)}`: what run returned")

    def test_log_lists_the_actions(self, impl):
        """.log lists ("action", name) for every action, in order, after a successful run"""
        journal, names = Journal(), ["first", "second", "third", "fourth"]
        saga = impl.SagaOrchestrator(build(impl, journal, names))
        saga.run({})
        expect_equal(saga.log, [("action", n) for n in names], f"`{replay(names)}`; saga.log")

    @pytest.mark.parametrize("steps_as", ["list", "tuple"])
    def test_empty_saga(self, impl, steps_as):
        """a saga with no steps returns the context and logs nothing"""
        steps = [] if steps_as == "list" else ()
        saga = impl.SagaOrchestrator(steps)
        expect_equal(saga.run({"x": 1}), {"x": 1}, f"SagaOrchestrator({steps!r}).run({{'x': 1}})")
        expect_equal(saga.log, [], f"SagaOrchestrator({steps!r}) after run: .log")

    def test_log_describes_the_latest_run(self, impl):
        """.log is [] before the first run and starts again with each run (the reading the notebook states)"""
        journal, names = Journal(), ["a", "b"]
        saga = impl.SagaOrchestrator(build(impl, journal, names))
        expect_equal(saga.log, [], f"`{replay(names).split(';')[0]}`: .log before any run")
        saga.run({"run": 1})
        saga.run({"run": 2})
        expect_equal(saga.log, [("action", "a"), ("action", "b")],
                     f"`{replay(names)}; saga.run({{}})`: .log after the second run")
        expect_equal(journal.kinds(), [("action", "a"), ("action", "b")] * 2,
                     f"`{replay(names)}; saga.run({{}})`: the step functions called in both runs")

    def test_steps_given_as_a_tuple(self, impl):
        """steps may be any sequence of SagaStep (here a tuple)"""
        journal, names = Journal(), ["a", "b", "c"]
        saga = impl.SagaOrchestrator(tuple(build(impl, journal, names)))
        saga.run({})
        expect_equal(saga.log, [("action", n) for n in names], "SagaOrchestrator(tuple of 3 steps): .log")


# -------------------------------------------------------------------------------- compensation
@pytest.mark.part("compensation")
class TestCompensation:
    def test_reverse_order(self, impl):
        """after a failed action, the completed steps are compensated newest first"""
        journal, names = Journal(), ["a", "b", "c", "d", "e"]
        line = replay(names, fail_action="e")
        run_failing(impl, impl.SagaOrchestrator(build(impl, journal, names, fail_action="e")), {}, line)
        compensations = [name for kind, name in journal.kinds() if kind == "compensation"]
        expect_equal(compensations, ["d", "c", "b", "a"], f"`{line}`: the compensations run, in order")

    def test_failed_step_not_compensated_and_later_steps_not_run(self, impl):
        """the failed step is not compensated, each completed one is compensated once, later steps never run"""
        journal, names = Journal(), ["a", "b", "c", "d"]
        line = replay(names, fail_action="b")
        run_failing(impl, impl.SagaOrchestrator(build(impl, journal, names, fail_action="b")), {}, line)
        expect_equal(journal.kinds(), [("action", "a"), ("action", "b"), ("compensation", "a")],
                     f"`{line}`: the step functions called, in order")

    def test_saga_failed_says_what_happened(self, impl):
        """SagaFailed has .failed_step (the name), .compensated (in order run) and .cause (the action's own exception)"""
        journal, names = Journal(), ["reserve", "charge", "ship", "notify"]
        line = replay(names, fail_action="ship")
        exc = run_failing(impl, impl.SagaOrchestrator(build(impl, journal, names, fail_action="ship")),
                          {}, line)
        expect(isinstance(exc, Exception), f"`{line}`: SagaFailed should be an Exception subclass")
        expect_equal(exc.failed_step, "ship", f"`{line}`: SagaFailed.failed_step")
        expect_equal(exc.compensated, ["charge", "reserve"], f"`{line}`: SagaFailed.compensated")
        cause = exc.cause
        expect(isinstance(cause, StepFailure) and str(cause) == "action ship failed (call 1)",
               f"`{line}`: SagaFailed.cause should be the exception the action raised, "
               f"StepFailure('action ship failed (call 1)'); got {type(cause).__name__}: {cause!r}")
        expect(cause is journal.errors["ship"], f"`{line}`: SagaFailed.cause should be the action's "
                                                "exception object itself, not a copy")

    def test_log_after_a_failure(self, impl):
        """.log after a failure: the completed actions, then the compensations, nothing for the failed action"""
        journal, names = Journal(), ["a", "b", "c"]
        line = replay(names, fail_action="c")
        saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action="c"))
        run_failing(impl, saga, {}, line)
        expect_equal(saga.log, [("action", "a"), ("action", "b"), ("compensate", "b"),
                                ("compensate", "a")], f"`{line}`; saga.log")

    def test_failure_at_the_first_step_compensates_nothing(self, impl):
        """a saga failing at its first step compensates nothing and logs nothing"""
        journal, names = Journal(), ["a", "b", "c"]
        line = replay(names, fail_action="a")
        saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action="a"))
        exc = run_failing(impl, saga, {}, line)
        expect_equal(journal.kinds(), [("action", "a")], f"`{line}`: the step functions called")
        expect_equal(exc.compensated, [], f"`{line}`: SagaFailed.compensated")
        expect_equal(exc.failed_step, "a", f"`{line}`: SagaFailed.failed_step")
        expect_equal(saga.log, [], f"`{line}`; saga.log")

    def test_compensations_get_the_context(self, impl):
        """compensations are given the context dict too"""
        journal, names = Journal(), ["a", "b", "c"]
        context = {"order": 9, "lines": [("book", 2)]}
        line = replay(names, fail_action="c", context=context)
        run_failing(impl, impl.SagaOrchestrator(build(impl, journal, names, fail_action="c")),
                    dict(context), line)
        for kind, name, seen in journal.calls:
            expect_equal(seen, context, f"`{line}`: the context given to {kind} {name!r}")

    def test_a_failed_run_then_a_good_one(self, impl):
        """after a failed run, the next run on the same orchestrator logs only its own actions"""
        journal = Journal()
        outcomes = iter([True, False])  # the second action fails in the first run only
        names = ["a", "b"]

        def flaky_b(context):
            journal.calls.append(("action", "b", context))
            if next(outcomes):
                raise StepFailure("b failed the first time")
        steps = [impl.SagaStep("a", journal.function("action", "a"), journal.function("compensation", "a")),
                 impl.SagaStep("b", only_callable(flaky_b), journal.function("compensation", "b"))]
        saga = impl.SagaOrchestrator(steps)
        line = "saga = SagaOrchestrator([SagaStep('a', ok, ok), SagaStep('b', Flaky(1), ok)])"
        run_failing(impl, saga, {}, line + "; saga.run({})")
        saga.run({})
        expect_equal(saga.log, [("action", n) for n in names], f"`{line}`; then saga.run({{}}) twice "
                                                                "(the first fails): .log")

    @settings(max_examples=60)
    @given(count=st.integers(1, 6), data=st.data())
    def test_random_failure_points_match_the_model(self, impl, count, data):
        """random sagas failing at a random step (or none): the calls, .log and SagaFailed match the contract"""
        names = [f"s{i}" for i in range(1, count + 1)]
        fail_index = data.draw(st.one_of(st.none(), st.integers(0, count - 1)), label="fail_index")
        check_against_model(impl, names, fail_index, {}, None)


# ------------------------------------------------------------------------------------- retries
def check_against_model(impl, names, fail_index, compensation_failures, retries):
    journal = Journal()
    fail_action = None if fail_index is None else names[fail_index]
    line = replay(names, fail_action=fail_action, compensation_failures=compensation_failures,
                  retries=retries)
    kwargs = {} if retries is None else {"compensation_retries": retries}
    saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action=fail_action,
                                       compensation_failures=compensation_failures), **kwargs)
    log, compensated, attempts = model(names, fail_index, compensation_failures,
                                       3 if retries is None else retries)
    if fail_index is None:
        saga.run({"n": len(names)})
    else:
        exc = run_failing(impl, saga, {"n": len(names)}, line)
        expect_equal(exc.failed_step, fail_action, f"`{line}`: SagaFailed.failed_step")
        expect_equal(exc.compensated, compensated, f"`{line}`: SagaFailed.compensated")
        expect(exc.cause is journal.errors[fail_action],
               f"`{line}`: SagaFailed.cause should be the action's exception, got {exc.cause!r}")
    expect_equal(saga.log, log, f"`{line}`; saga.log")
    made = {name: journal.attempts("compensation", name) for name in names}
    expect_equal(made, {name: attempts.get(name, 0) for name in names},
                 f"`{line}`: calls of each step's compensation")
    actions = [name for kind, name in journal.kinds() if kind == "action"]
    expect_equal(actions, names if fail_index is None else names[:fail_index + 1],
                 f"`{line}`: the actions called, in order")


@pytest.mark.part("retries")
class TestRetries:
    @pytest.mark.parametrize("failures", [1, 3])
    def test_compensation_failing_then_succeeding(self, impl, failures):
        """a compensation failing k <= compensation_retries times then succeeding is attempted k + 1 times, logged once, and unwinding goes on"""
        journal, names = Journal(), ["a", "b", "c"]
        line = replay(names, fail_action="c", compensation_failures={"b": failures}, retries=3)
        saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action="c",
                                           compensation_failures={"b": failures}),
                                     compensation_retries=3)
        exc = run_failing(impl, saga, {}, line)
        expect_equal(journal.attempts("compensation", "b"), failures + 1,
                     f"`{line}`: calls of b's compensation")
        expect_equal(journal.attempts("compensation", "a"), 1, f"`{line}`: calls of a's compensation")
        expect_equal(exc.compensated, ["b", "a"], f"`{line}`: SagaFailed.compensated")
        expect_equal(saga.log, [("action", "a"), ("action", "b"), ("compensate", "b"),
                                ("compensate", "a")], f"`{line}`; saga.log (failed attempts are not logged)")

    def test_compensation_failing_forever(self, impl):
        """a compensation that always fails is attempted exactly 1 + compensation_retries times; unwinding stops there"""
        journal, names = Journal(), ["a", "b", "c", "d", "e"]
        failures = {"c": FOREVER}
        line = replay(names, fail_action="e", compensation_failures=failures, retries=2)
        saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action="e",
                                           compensation_failures=failures), compensation_retries=2)
        exc = run_failing(impl, saga, {}, line)
        expect_equal(journal.attempts("compensation", "c"), 3, f"`{line}`: calls of c's compensation")
        expect_equal([journal.attempts("compensation", n) for n in ("b", "a")], [0, 0],
                     f"`{line}`: calls of b's and a's compensations (unwinding stops at c)")
        expect_equal(exc.compensated, ["d"], f"`{line}`: SagaFailed.compensated")
        expect_equal(exc.failed_step, "e", f"`{line}`: SagaFailed.failed_step (the failed action's "
                                           "step, not the stuck compensation's)")
        expect(exc.cause is journal.errors["e"],
               f"`{line}`: SagaFailed.cause should be the action's exception, got {exc.cause!r}")
        expect_equal(saga.log, [("action", n) for n in "abcd"] + [("compensate", "d")],
                     f"`{line}`; saga.log")

    def test_each_compensation_has_its_own_retries(self, impl):
        """every compensation gets its own 1 + compensation_retries attempts (not a budget shared by the unwinding)"""
        journal, names = Journal(), ["a", "b", "c", "d"]
        failures = {"a": 2, "b": 2, "c": 2}
        line = replay(names, fail_action="d", compensation_failures=failures, retries=2)
        saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action="d",
                                           compensation_failures=failures), compensation_retries=2)
        exc = run_failing(impl, saga, {}, line)
        expect_equal([journal.attempts("compensation", n) for n in ("c", "b", "a")], [3, 3, 3],
                     f"`{line}`: calls of c's, b's and a's compensations")
        expect_equal(exc.compensated, ["c", "b", "a"], f"`{line}`: SagaFailed.compensated")

    def test_zero_retries(self, impl):
        """compensation_retries=0: one attempt per compensation, no retry"""
        journal, names = Journal(), ["a", "b", "c"]
        failures = {"b": 1}
        line = replay(names, fail_action="c", compensation_failures=failures, retries=0)
        saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action="c",
                                           compensation_failures=failures), compensation_retries=0)
        exc = run_failing(impl, saga, {}, line)
        expect_equal(journal.attempts("compensation", "b"), 1, f"`{line}`: calls of b's compensation")
        expect_equal(journal.attempts("compensation", "a"), 0, f"`{line}`: calls of a's compensation")
        expect_equal(exc.compensated, [], f"`{line}`: SagaFailed.compensated")

    def test_default_is_three_retries(self, impl):
        """by default (compensation_retries=3) a failing compensation gets 4 attempts"""
        journal, names = Journal(), ["a", "b"]
        line = replay(names, fail_action="b", compensation_failures={"a": FOREVER})
        saga = impl.SagaOrchestrator(build(impl, journal, names, fail_action="b",
                                           compensation_failures={"a": FOREVER}))
        run_failing(impl, saga, {}, line)
        expect_equal(journal.attempts("compensation", "a"), 4, f"`{line}`: calls of a's compensation")

    def test_negative_retries_rejected(self, impl):
        """compensation_retries below 0 raises ValueError (the reading the notebook states)"""
        try:
            impl.SagaOrchestrator([], compensation_retries=-1)
        except ValueError:
            return
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"SagaOrchestrator([], compensation_retries=-1): expected ValueError, "
                                 f"got {type(exc).__name__}: {exc}") from None
        raise AssertionError("SagaOrchestrator([], compensation_retries=-1): expected ValueError, "
                             "it was accepted")

    @settings(max_examples=80)
    @given(count=st.integers(1, 5), retries=st.integers(0, 3), data=st.data())
    def test_random_compensation_failures_match_the_model(self, impl, count, retries, data):
        """random sagas with compensations failing a random number of times: calls, .log and SagaFailed match the contract"""
        names = [f"s{i}" for i in range(1, count + 1)]
        fail_index = data.draw(st.integers(0, count - 1), label="fail_index")
        failures = data.draw(st.dictionaries(st.sampled_from(names),
                                             st.sampled_from([1, 2, 3, 4, FOREVER]), max_size=count),
                             label="compensation_failures")
        check_against_model(impl, names, fail_index, failures, retries)
