"""Hidden suite for the `retry` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the inputs (and seeds) that show it. Randomness comes from
`random.Random(seed)` generators, with the seeds in the messages; the statistical checks allow five
standard errors, so a correct implementation passes them for any seed.

Every check here compares outputs (delays, draws, sleeps) with what the contract says, so the
seeded generators are made in the student's process (`sandbox.random`: reseeding one changes
nothing but the student's own outputs), and calls made many times with plain data go in one batch
(`sandbox.batch`). A round trip per draw and per call made this suite the slowest to grade. The
fake dependency and the fake sleep stay the suite's own: what they record is what is graded.
"""
# DSP-CANARY-RETRY-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import Boom, Unrelated, expect, expect_equal, only_callable, returned

INF = float("inf")
STRATEGIES = ("fixed", "linear", "exponential")


# ------------------------------------------------------------------------------------- helpers
def expected_delay(attempt, base, strategy, cap=INF):
    raw = {"fixed": base, "linear": base * attempt, "exponential": base * 2 ** (attempt - 1)}[strategy]
    return min(cap, raw)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def close(actual, expected) -> bool:
    return is_number(actual) and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)


def all_close(actual, expected) -> bool:
    return (isinstance(actual, (list, tuple)) and len(actual) == len(expected)
            and all(close(a, e) for a, e in zip(actual, expected)))


def within(value, low, high) -> bool:
    """low <= value <= high, allowing for float rounding in a + (b - a) * u."""
    slack = 1e-9 * max(1.0, abs(low), abs(high))
    return is_number(value) and low - slack <= value <= high + slack


def rounded(values, digits=4):
    return [round(v, digits) if is_number(v) else v for v in values]


def mean(values):
    return sum(values) / len(values)


def expect_mean(values, expected, sd, what):
    """The sample mean lies within five standard errors of ``expected`` (``sd``: one draw's)."""
    tolerance = 5 * sd / math.sqrt(len(values))
    got = mean(values)
    expect(abs(got - expected) <= tolerance,
           f"{what}: the mean of {len(values)} draws should be about {expected:.4g} "
           f"(± {tolerance:.2g}), got {got:.4g}")


def uniform_sd(low, high):
    return (high - low) / math.sqrt(12)


class Recorder:
    """A fake dependency and a fake sleep sharing one log, so tests can see what happened when.

    ``outcomes`` lists what each call does, in order (the last repeats): ``"fail"`` raises a fresh
    ``Boom``, ``"other"`` a fresh ``Unrelated``, an exception instance is raised as it is, and
    anything else is returned.
    """

    def __init__(self, *outcomes):
        self.outcomes = outcomes or ("fail",)
        self.log = []
        self.raised = []

    @property
    def calls(self):
        return self.log.count("call")

    @property
    def sleeps(self):
        return [entry[1] for entry in self.log if isinstance(entry, tuple)]

    def func(self):
        n = self.calls
        self.log.append("call")
        outcome = self.outcomes[min(n, len(self.outcomes) - 1)]
        if outcome == "fail":
            outcome = Boom(f"attempt {n + 1} failed")
        elif outcome == "other":
            outcome = Unrelated(f"attempt {n + 1} hit a bug")
        if isinstance(outcome, BaseException):
            self.raised.append(outcome)
            raise outcome
        return outcome

    def sleep(self, seconds):
        self.log.append(("sleep", seconds))

    def pretty_log(self):
        return ", ".join("call" if e == "call" else f"sleep({e[1]:.4g})" if is_number(e[1])
                         else f"sleep({e[1]!r})" for e in self.log) or "nothing"


def run(impl, recorder, **kwargs):
    """retry_with_backoff on the recorder; returns ("returned", value) or ("raised", exception)."""
    try:
        args, keywords = retry_call(recorder, kwargs)
        return "returned", impl.retry_with_backoff(*args, **keywords)
    except Exception as exc:  # noqa: BLE001 - the tests inspect whatever came out
        return "raised", exc


def retry_call(recorder, kwargs):
    """The arguments of retry_with_backoff on ``recorder``: (func,), then the keywords."""
    return (only_callable(recorder.func),), dict(sleep=only_callable(recorder.sleep, "sleep"), **kwargs)


def describe(outcome):
    kind, value = outcome
    if kind == "returned":
        return f"returned {value!r}"
    text = f"raised {type(value).__name__}({value})"
    where = getattr(value, "remote_traceback", None)  # set on exceptions your code raised itself
    if where and type(value).__module__ == "builtins":  # e.g. a TypeError: say where
        text += f" at {where[-1]}"
    return text


def args_text(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def expect_a_failure_propagated(outcome, rec, setup):
    """Every call failed: what came out must be one of func's own exceptions (not a crash)."""
    expect(outcome[0] == "raised" and any(outcome[1] is error for error in rec.raised),
           f"{setup}: every call failed, so the last failure should propagate, but you "
           f"{describe(outcome)}")


# -------------------------------------------------------------------------------------- delays
@pytest.mark.part("delays")
class TestDelays:
    @pytest.mark.parametrize("strategy", STRATEGIES)
    def test_sequence_for_each_strategy(self, impl, sandbox, strategy):
        """backoff_delay gives base, base·attempt or base·2^(attempt−1) for attempts 1, 2, 3, …"""
        for base in (0.5, 3.0):
            expected = [expected_delay(n, base, strategy) for n in range(1, 9)]
            got = returned(sandbox.batch(impl.backoff_delay, [(n, base, strategy) for n in range(1, 9)]))
            expect(all_close(got, expected),
                   f"backoff_delay(attempt, {base}, {strategy!r}) for attempt = 1..8: expected "
                   f"{expected}, got {rounded(got)}")

    @pytest.mark.parametrize("strategy", STRATEGIES)
    def test_cap_limits_every_strategy(self, impl, sandbox, strategy):
        """backoff_delay never returns more than cap, whatever the strategy"""
        for base, cap in ((1.0, 10.0), (2.5, 6.0), (4.0, 1.5)):
            expected = [expected_delay(n, base, strategy, cap) for n in range(1, 11)]
            got = returned(sandbox.batch(impl.backoff_delay,
                                         [(n, base, strategy, cap) for n in range(1, 11)]))
            expect(all_close(got, expected),
                   f"backoff_delay(attempt, {base}, {strategy!r}, cap={cap}) for attempt = 1..10: "
                   f"expected {expected}, got {rounded(got)}")

    def test_defaults_exponential_without_cap(self, impl):
        """backoff_delay's defaults: strategy "exponential", no cap (large attempts keep doubling)"""
        for attempt in (1, 2, 5, 20, 40):
            got = impl.backoff_delay(attempt, 0.25)
            want = 0.25 * 2 ** (attempt - 1)
            expect(close(got, want), f"backoff_delay({attempt}, 0.25) with the default strategy and "
                                     f"cap: expected {want}, got {got!r}")

    @pytest.mark.parametrize("strategy", ["quadratic", "", "expo"])
    def test_unknown_strategy_raises_value_error(self, impl, strategy):
        """backoff_delay raises ValueError for a strategy it does not know"""
        with pytest.raises(ValueError):
            result = impl.backoff_delay(2, 1.0, strategy)
            raise AssertionError(f"backoff_delay(2, 1.0, {strategy!r}) should raise ValueError, "
                                 f"returned {result!r}")


    @pytest.mark.parametrize("strategy", ["quadratic", "fixedd"])
    def test_unknown_strategy_raises_for_every_attempt(self, impl, strategy):
        """backoff_delay raises ValueError for an unknown strategy at every attempt, the first included"""
        for attempt, cap in ((1, INF), (1, 0.5), (3, INF), (30, 10.0)):
            try:
                result = impl.backoff_delay(attempt, 1.0, strategy, cap)
            except ValueError:
                continue
            raise AssertionError(f"backoff_delay({attempt}, 1.0, {strategy!r}, cap={cap}) should "
                                 f"raise ValueError, returned {result!r}")
    @settings(max_examples=80)
    @given(attempt=st.integers(1, 60),
           base=st.one_of(st.sampled_from([0.001, 0.1, 0.3, 1.0, 2.5]), st.floats(0.01, 50)),
           strategy=st.sampled_from(STRATEGIES),
           cap=st.sampled_from([INF, 0.2, 3.0, 45.5, 1e6]))
    def test_matches_formula_for_any_inputs(self, impl, attempt, base, strategy, cap):
        """for any attempt, base, strategy and cap, backoff_delay matches the formula (property-based)"""
        want = expected_delay(attempt, base, strategy, cap)
        got = impl.backoff_delay(attempt, base, strategy, cap)
        expect(close(got, want), f"backoff_delay({attempt}, {base!r}, {strategy!r}, {cap!r}): "
                                 f"expected {want!r}, got {got!r}")


# -------------------------------------------------------------------------------------- jitter
def draws(sandbox, function, args, n):
    """``function(*args)`` called ``n`` times, in one batch."""
    values = returned(sandbox.batch(function, [args] * n))
    bad = [v for v in values if not is_number(v)]
    expect(not bad, f"jitter functions must return numbers, got {bad[0]!r}" if bad else "")
    return values


def expect_uniform_spread(values, low, high, what):
    """Each quarter of [low, high] holds about a quarter of the draws."""
    width = (high - low) / 4
    tolerance = 5 * math.sqrt(0.25 * 0.75 / len(values))
    for q in range(4):
        lo, hi = low + q * width, low + (q + 1) * width
        share = sum(lo <= v < hi or (q == 3 and v == hi) for v in values) / len(values)
        expect(abs(share - 0.25) <= tolerance,
               f"{what}: draws should be uniform on [{low:g}, {high:g}], so about 25% of them "
               f"(± {tolerance:.0%}) should fall in [{lo:g}, {hi:g}); got {share:.1%}")


@pytest.mark.part("jitter")
class TestJitter:
    @pytest.mark.parametrize("delay", [10.0, 0.8])
    def test_full_jitter_uniform_from_zero_to_delay(self, impl, sandbox, delay):
        """full_jitter(delay, rng) is uniform in [0, delay]: mean about delay/2"""
        seed = 11
        values = draws(sandbox, impl.full_jitter, (delay, sandbox.random(seed)), 500)
        what = f"full_jitter({delay}, random.Random({seed})), drawn 500 times"
        outside = [v for v in values if not within(v, 0.0, delay)]
        expect(not outside, f"{what}: every value should be in [0, {delay}], got {outside[:5]}")
        expect_mean(values, delay / 2, uniform_sd(0, delay), what)
        expect_uniform_spread(values, 0.0, delay, what)

    @pytest.mark.parametrize("delay", [10.0, 0.8])
    def test_equal_jitter_upper_half(self, impl, sandbox, delay):
        """equal_jitter(delay, rng) is uniform in [delay/2, delay]: mean about 3·delay/4"""
        seed = 12
        values = draws(sandbox, impl.equal_jitter, (delay, sandbox.random(seed)), 500)
        what = f"equal_jitter({delay}, random.Random({seed})), drawn 500 times"
        outside = [v for v in values if not within(v, delay / 2, delay)]
        expect(not outside, f"{what}: every value should be in [{delay / 2}, {delay}], got "
                            f"{outside[:5]}")
        expect_mean(values, 0.75 * delay, uniform_sd(delay / 2, delay), what)
        expect_uniform_spread(values, delay / 2, delay, what)

    def test_decorrelated_depends_on_previous(self, impl, sandbox):
        """decorrelated_jitter(previous, base, cap, rng) is uniform in [base, 3·previous] below the cap"""
        seed = 13
        rng = sandbox.random(seed)
        for previous, base in ((1.0, 1.0), (4.0, 1.0), (20.0, 0.5)):
            values = draws(sandbox, impl.decorrelated_jitter, (previous, base, INF, rng), 300)
            what = (f"decorrelated_jitter({previous}, {base}, inf, rng) with rng = "
                    f"random.Random({seed}) shared by all draws, drawn 300 times")
            outside = [v for v in values if not within(v, base, 3 * previous)]
            expect(not outside, f"{what}: every value should be in [{base}, {3 * previous}], got "
                                f"{outside[:5]}")
            expect_mean(values, (base + 3 * previous) / 2, uniform_sd(base, 3 * previous), what)

    def test_decorrelated_cap_clips_the_draw(self, impl, sandbox):
        """decorrelated_jitter returns min(cap, draw): when 3·previous is far above cap, most values equal cap"""
        seed = 14
        previous, base, cap = 100.0, 1.0, 10.0
        values = draws(sandbox, impl.decorrelated_jitter, (previous, base, cap, sandbox.random(seed)), 300)
        what = f"decorrelated_jitter({previous}, {base}, {cap}, random.Random({seed})), drawn 300 times"
        outside = [v for v in values if not within(v, base, cap)]
        expect(not outside, f"{what}: every value should be in [{base}, {cap}], got {outside[:5]}")
        at_cap = sum(v >= cap - 1e-9 for v in values) / len(values)
        expect(at_cap >= 0.9, f"{what}: a draw from [1, 300] lands above the cap 10 about 97% of "
                              f"the time, and min(cap, draw) is then exactly 10; only {at_cap:.0%} "
                              "of the values were 10 (is the cap narrowing the range instead of "
                              "clipping the draw?)")

    def test_jitter_uses_the_given_rng(self, impl, sandbox):
        """all three jitter functions draw from the rng they are given: the same seed gives the same values"""
        makers = {
            "full_jitter(5.0, rng)": (impl.full_jitter, (5.0,)),
            "equal_jitter(5.0, rng)": (impl.equal_jitter, (5.0,)),
            "decorrelated_jitter(2.0, 1.0, inf, rng)": (impl.decorrelated_jitter, (2.0, 1.0, INF)),
        }
        for name, (function, args) in makers.items():
            first, second = (draws(sandbox, function, (*args, sandbox.random(99)), 15)
                             for _ in range(2))
            expect(first == second, f"{name}, 15 draws with rng = random.Random(99), twice: the "
                                    f"two runs should give the same values, got {rounded(first[:4])}... "
                                    f"and {rounded(second[:4])}... (use the rng you are given, not "
                                    "the random module)")
            expect(len(set(first)) > 10, f"{name} with random.Random(99): 15 draws gave only "
                                         f"{len(set(first))} different values")


# ------------------------------------------------------------------------------------ attempts
@pytest.mark.part("attempts")
class TestAttempts:
    @pytest.mark.parametrize("max_attempts", [1, 2, 3, 5])
    def test_calls_at_most_max_attempts(self, impl, max_attempts):
        """a function that always fails is called exactly max_attempts times, the first call included"""
        rec = Recorder("fail")
        outcome = run(impl, rec, max_attempts=max_attempts, base_delay=0.1)
        expect_equal(rec.calls, max_attempts, f"calls to func with max_attempts={max_attempts} when "
                                              f"every call fails (you {describe(outcome)})")
        expect(outcome[0] == "raised" and isinstance(outcome[1], Boom),
               f"with every attempt failing, retry_with_backoff should raise the failure, but it "
               f"{describe(outcome)}")

    def test_default_is_three_attempts(self, impl):
        """by default (max_attempts=3) an always-failing function is called three times"""
        rec = Recorder("fail")
        outcome = run(impl, rec, base_delay=0.1)
        expect_equal(rec.calls, 3, f"calls to func with the default max_attempts when every call "
                                   f"fails (you {describe(outcome)}; log: {rec.pretty_log()})")

    @pytest.mark.parametrize("failures", [0, 1, 3])
    def test_returns_the_first_success(self, impl, failures):
        """returns the first successful result at once, with no further call"""
        result = {"order": 17, "items": ["a", "b"]}
        rec = Recorder(*(["fail"] * failures), result, "fail")
        outcome = run(impl, rec, max_attempts=5, base_delay=0.1)
        expect(outcome == ("returned", result), f"func failing {failures} time(s), then returning "
                                                f"{result!r}, with max_attempts=5: should return that "
                                                f"result, but you {describe(outcome)}")
        expect_equal(rec.calls, failures + 1, f"calls to func when call {failures + 1} succeeds")

    @pytest.mark.parametrize("value", [None, 0, "", False, []])
    def test_falsy_result_is_a_success(self, impl, value):
        """a result that is falsy (None, 0, "", False, []) is still a success and is returned"""
        rec = Recorder(value, "fail")
        outcome = run(impl, rec, max_attempts=3, base_delay=0.1)
        expect(outcome[0] == "returned" and outcome[1] == value and type(outcome[1]) is type(value),
               f"func returning {value!r} on its first call: should return {value!r}, but you "
               f"{describe(outcome)}")
        expect_equal(rec.calls, 1, f"calls to func when the first call returns {value!r}")
        expect_equal(rec.sleeps, [], f"sleeps when the first call returns {value!r}")

    @pytest.mark.parametrize("max_attempts", [0, -1])
    def test_max_attempts_below_one_raises_value_error(self, impl, max_attempts):
        """max_attempts < 1 raises ValueError without calling the function"""
        rec = Recorder("ok")
        outcome = run(impl, rec, max_attempts=max_attempts)
        expect(outcome[0] == "raised" and isinstance(outcome[1], ValueError),
               f"retry_with_backoff(func, max_attempts={max_attempts}) should raise ValueError, but "
               f"you {describe(outcome)}")
        expect_equal(rec.calls, 0, f"calls to func with max_attempts={max_attempts}")

    def test_reraises_the_last_exception_itself(self, impl):
        """when every attempt fails it re-raises the last exception object itself, not a wrapper or the first one"""
        errors = [Boom("first"), ConnectionError("second"), TimeoutError("third")]
        rec = Recorder(*errors)
        outcome = run(impl, rec, max_attempts=3, base_delay=0.1)
        expect(outcome[0] == "raised", f"every attempt failed, but you {describe(outcome)}")
        got = outcome[1]
        expect(got is errors[2], f"attempts raised Boom('first'), ConnectionError('second'), "
                                 f"TimeoutError('third'): the exception raised should be that very "
                                 f"TimeoutError object, got {type(got).__name__}({got})"
                                 + (" (the first one)" if got is errors[0] else "")
                                 + (" (the second one)" if got is errors[1] else ""))

    def test_non_retryable_error_propagates_at_once(self, impl):
        """an exception outside retry_on propagates at once: no sleep and no further attempt"""
        rec = Recorder("other", "ok")
        outcome = run(impl, rec, max_attempts=4, retry_on=(Boom,))
        expect(outcome[0] == "raised" and rec.raised and outcome[1] is rec.raised[0],
               f"func raising Unrelated with retry_on=(Boom,): that exception should propagate "
               f"unchanged, but you {describe(outcome)}")
        expect_equal(rec.log, ["call"], "what happened (call/sleep) when the first call raised an "
                                        "exception outside retry_on")

        rec = Recorder("fail", "fail", "other", "ok")
        outcome = run(impl, rec, max_attempts=5, base_delay=1.0, retry_on=(Boom,))
        expect(outcome[0] == "raised" and rec.raised and outcome[1] is rec.raised[-1],
               f"calls raising Boom, Boom, then Unrelated with retry_on=(Boom,), max_attempts=5: "
               f"the Unrelated should propagate, but you {describe(outcome)}")
        expect(rec.log == ["call", ("sleep", 1.0), "call", ("sleep", 2.0), "call"],
               f"calls raising Boom, Boom, then Unrelated with retry_on=(Boom,), base_delay=1: "
               f"expected call, sleep(1), call, sleep(2), call; got {rec.pretty_log()}")

    def test_retry_on_matches_subclasses(self, impl):
        """exceptions that are instances of a retry_on class (subclasses included) are retried"""
        rec = Recorder(ConnectionRefusedError("refused"), TimeoutError("slow"), "done")
        outcome = run(impl, rec, max_attempts=3, base_delay=0.1, retry_on=(OSError,))
        expect(outcome == ("returned", "done"),
               f"calls raising ConnectionRefusedError, TimeoutError, then returning 'done', with "
               f"retry_on=(OSError,): should return 'done', but you {describe(outcome)}")
        rec = Recorder(KeyError("k"), "done")
        outcome = run(impl, rec, max_attempts=3, base_delay=0.1)
        expect(outcome == ("returned", "done"),
               f"a KeyError, then 'done', with the default retry_on=(Exception,): should return "
               f"'done', but you {describe(outcome)}")


# -------------------------------------------------------------------------------------- sleeps
def jittered_runs(impl, sandbox, jitter, seeds, **kwargs):
    """One run per seed, every call failing, all in one batch: the recorders of the runs."""
    runs = [Recorder("fail") for _ in seeds]
    outcomes = sandbox.call_each(
        (impl.retry_with_backoff,
         *retry_call(rec, dict(kwargs, jitter=jitter, rng=sandbox.random(seed))))
        for rec, seed in zip(runs, seeds))
    for rec, seed, outcome in zip(runs, seeds, outcomes):
        outcome = ("raised", outcome.error) if outcome.raised else ("returned", outcome.value)
        expect_a_failure_propagated(outcome, rec, f"retry_with_backoff({args_text(kwargs)}, "
                                                  f"jitter={jitter!r}, rng=random.Random({seed}))")
    return runs


@pytest.mark.part("sleeps")
class TestSleeps:
    def test_sleeps_only_between_attempts(self, impl):
        """sleeps once after each failed attempt except the last: never before the first call or after the last"""
        rec = Recorder("fail")
        outcome = run(impl, rec, max_attempts=4, base_delay=1.0)
        expect_a_failure_propagated(outcome, rec, "retry_with_backoff(max_attempts=4, base_delay=1.0)")
        want = ["call", ("sleep", 1.0), "call", ("sleep", 2.0), "call", ("sleep", 4.0), "call"]
        expect(rec.log == want, f"max_attempts=4, base_delay=1, every call failing: expected call, "
                                f"sleep(1), call, sleep(2), call, sleep(4), call; got {rec.pretty_log()}")
        rec = Recorder("fail", "ok")
        outcome = run(impl, rec, max_attempts=4, base_delay=1.0)
        expect(outcome == ("returned", "ok"), f"retry_with_backoff(max_attempts=4, base_delay=1.0) "
                                              f"with the second call returning 'ok': should return "
                                              f"'ok', but you {describe(outcome)}")
        expect(rec.log == ["call", ("sleep", 1.0), "call"],
               f"max_attempts=4, base_delay=1, the second call succeeding: expected call, sleep(1), "
               f"call; got {rec.pretty_log()}")

    @pytest.mark.parametrize("strategy", STRATEGIES)
    def test_unjittered_sleeps_follow_strategy_and_cap(self, impl, strategy):
        """with jitter "none" each sleep is the strategy's delay for that attempt, capped at max_delay"""
        for max_delay in (INF, 2.2):
            rec = Recorder("fail")
            kwargs = dict(max_attempts=7, base_delay=0.5, strategy=strategy, max_delay=max_delay)
            outcome = run(impl, rec, **kwargs)
            expect_a_failure_propagated(outcome, rec, f"retry_with_backoff({args_text(kwargs)})")
            want = [expected_delay(n, 0.5, strategy, max_delay) for n in range(1, 7)]
            expect(all_close(rec.sleeps, want), f"retry_with_backoff({args_text(kwargs)}), every "
                                                f"call failing: expected sleeps {want}, got "
                                                f"{rounded(rec.sleeps)}")

    @pytest.mark.parametrize("jitter", ["full", "equal"])
    def test_jittered_sleeps_per_attempt(self, impl, sandbox, jitter):
        """full/equal jitter apply to each attempt's capped delay: right range and mean for every attempt"""
        kwargs = dict(max_attempts=6, base_delay=1.0, strategy="exponential", max_delay=5.0)
        seeds = range(120)
        runs = jittered_runs(impl, sandbox, jitter, seeds, **kwargs)
        setup = (f"retry_with_backoff({args_text(kwargs)}, jitter={jitter!r}, "
                 f"rng=random.Random(seed)), every call failing")
        for rec, seed in zip(runs, seeds):
            expect_equal(len(rec.sleeps), 5, f"number of sleeps in {setup} with seed={seed}")
        for attempt in range(1, 6):
            delay = expected_delay(attempt, 1.0, "exponential", 5.0)
            low = 0.0 if jitter == "full" else delay / 2
            values = [rec.sleeps[attempt - 1] for rec in runs]
            for seed, value in zip(seeds, values):
                expect(within(value, low, delay),
                       f"{setup}, seed={seed}: the sleep after attempt {attempt} (capped delay "
                       f"{delay}) should be in [{low}, {delay}], got {value!r}")
            expect_mean(values, (low + delay) / 2, uniform_sd(low, delay),
                        f"{setup}, seeds 0..119: sleep after attempt {attempt} (capped delay {delay})")

    def test_decorrelated_chains_on_previous_sleep(self, impl, sandbox):
        """decorrelated jitter starts from previous = base_delay, then each sleep is in [base, min(cap, 3·previous sleep)]"""
        kwargs = dict(max_attempts=8, base_delay=1.0, max_delay=20.0)
        seeds = range(40)
        runs = jittered_runs(impl, sandbox, "decorrelated", seeds, **kwargs)
        setup = (f"retry_with_backoff({args_text(kwargs)}, jitter='decorrelated', "
                 f"rng=random.Random(seed)), every call failing")
        for rec, seed in zip(runs, seeds):
            sleeps = rec.sleeps
            expect_equal(len(sleeps), 7, f"number of sleeps in {setup} with seed={seed}")
            previous = 1.0
            for n, value in enumerate(sleeps, start=1):
                high = min(20.0, 3 * previous)
                expect(within(value, 1.0, high),
                       f"{setup}, seed={seed}: sleeps so far {rounded(sleeps[:n - 1])}, so sleep "
                       f"{n} should be in [1.0, min(20, 3 × {previous:.4g})] = [1.0, {high:.4g}], got "
                       f"{value!r}")
                previous = value
        firsts = [rec.sleeps[0] for rec in runs]
        expect_mean(firsts, 2.0, uniform_sd(1.0, 3.0),
                    f"{setup}, seeds 0..39: first sleep (previous = base_delay = 1, so uniform in [1, 3])")
        lasts = [rec.sleeps[-1] for rec in runs]
        expect(mean(lasts) > 5.0, f"{setup}, seeds 0..39: chaining on the previous sleep makes the "
                                  f"sleeps grow (the 7th averages about 12 with the cap at 20; "
                                  f"without chaining it stays below 3), but the 7th sleep averaged "
                                  f"{mean(lasts):.3g}")

    def test_uses_the_given_rng(self, impl, sandbox):
        """jittered sleeps come from the rng passed in (same seed, same sleeps); with rng=None it still works"""
        kwargs = dict(max_attempts=6, base_delay=1.0, max_delay=30.0)
        for jitter in ("full", "equal", "decorrelated"):
            first, second = jittered_runs(impl, sandbox, jitter, [5, 5], **kwargs)
            expect(first.sleeps == second.sleeps,
                   f"retry_with_backoff({args_text(kwargs)}, jitter={jitter!r}, rng=random.Random(5)) "
                   f"twice: the sleeps should be the same, got {rounded(first.sleeps)} and "
                   f"{rounded(second.sleeps)}")
            rec = Recorder("fail")
            outcome = run(impl, rec, jitter=jitter, **kwargs)
            expect(outcome[0] == "raised" and isinstance(outcome[1], Boom),
                   f"with jitter={jitter!r} and no rng the last failure should propagate, but you "
                   f"{describe(outcome)}")
            expect(len(rec.sleeps) == 5 and all(within(s, 0.0, 30.0) for s in rec.sleeps),
                   f"retry_with_backoff({args_text(kwargs)}, jitter={jitter!r}) without an rng: "
                   f"expected 5 sleeps between 0 and 30, got {rounded(rec.sleeps)}")

    def test_default_sleeps(self, impl):
        """the defaults (base_delay=1, exponential, no cap, no jitter) sleep 1 s, then 2 s"""
        rec = Recorder("fail")
        outcome = run(impl, rec)
        expect_a_failure_propagated(outcome, rec, "retry_with_backoff(func, sleep=...)")
        expect(all_close(rec.sleeps, [1.0, 2.0]), f"retry_with_backoff(func, sleep=...) with every "
                                                  f"call failing: expected sleeps [1.0, 2.0], got "
                                                  f"{rounded(rec.sleeps)}")

    def test_unknown_strategy_raises_before_any_sleep(self, impl):
        """retry_with_backoff with an unknown strategy raises ValueError instead of sleeping some other delay"""
        rec = Recorder("fail")
        outcome = run(impl, rec, max_attempts=3, base_delay=1.0, strategy="exponentail")
        expect(outcome[0] == "raised" and isinstance(outcome[1], ValueError),
               f"retry_with_backoff(func, max_attempts=3, base_delay=1.0, strategy='exponentail') "
               f"with every call failing should raise ValueError, but you {describe(outcome)} "
               f"(log: {rec.pretty_log()})")
        expect_equal(rec.sleeps, [], "sleeps made with the unknown strategy 'exponentail'")
