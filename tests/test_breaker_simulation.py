"""The breaker simulation must be reproducible and must obey the breaker's rules at every instant.

The invariants are checked against the drawn state intervals, not against the model's own notion of
state, because the intervals are what students see in the figures.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dspatterns.resilience import FailureProfile, simulate_breaker
from dspatterns.resilience.breaker_simulation import CLOSED, FAILURE, HALF_OPEN, OPEN, REJECTED, SUCCESS

ALLOWED_TRANSITIONS = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (HALF_OPEN, CLOSED)}
invariant_settings = settings(derandomize=True, max_examples=80, deadline=None)


@st.composite
def breaker_settings(draw):
    duration = draw(st.floats(5.0, 60.0))
    start = draw(st.floats(0.0, duration * 0.8))
    end = draw(st.floats(start + 0.5, duration + 5.0))
    return dict(
        seed=draw(st.integers(0, 10_000)),
        duration=duration,
        rate=draw(st.floats(1.0, 40.0)),
        failure_profile=FailureProfile.outage(
            start, end, failure_rate=draw(st.floats(0.0, 1.0)), baseline=draw(st.floats(0.0, 0.3))
        ),
        failure_threshold=draw(st.integers(1, 8)),
        recovery_timeout=draw(st.floats(0.2, 10.0)),
        half_open_max_calls=draw(st.integers(1, 4)),
        service_time=draw(st.floats(0.01, 1.0)),
        arrivals=draw(st.sampled_from(["poisson", "even"])),
    )


def interval_at(run, time):
    """The interval in force at ``time``: a transition instant already belongs to the new state."""
    matches = [i for i in run.intervals if i.start <= time < i.end]
    assert len(matches) == 1, f"time {time} is covered by {len(matches)} intervals"
    return matches[0]


def test_same_seed_gives_an_identical_run():
    assert simulate_breaker(seed=3) == simulate_breaker(seed=3)


def test_different_seeds_give_different_calls():
    first, second = simulate_breaker(seed=3), simulate_breaker(seed=4)
    assert [c.time for c in first.calls] != [c.time for c in second.calls]
    evenly = dict(arrivals="even", failure_profile=FailureProfile.steady(0.3))
    assert [c.outcome for c in simulate_breaker(seed=3, **evenly).calls] != [
        c.outcome for c in simulate_breaker(seed=4, **evenly).calls
    ]


def test_breaker_settings_replay_the_same_traffic():
    """Moving a slider must change the breaker's response, not the traffic it responds to."""
    tight = simulate_breaker(seed=11, failure_threshold=2, recovery_timeout=1.0)
    loose = simulate_breaker(seed=11, failure_threshold=10, recovery_timeout=8.0)
    assert [c.time for c in tight.calls] == [c.time for c in loose.calls]
    assert tight.intervals != loose.intervals


def test_default_run_tells_the_whole_story():
    """The default outage should show every state, so the course's first figure is not a dud."""
    run = simulate_breaker()
    assert [i.state for i in run.intervals][:2] == [CLOSED, OPEN]
    assert run.intervals[-1].state == CLOSED
    assert {i.state for i in run.intervals} == {CLOSED, OPEN, HALF_OPEN}
    assert run.rejected > 0 and run.failures > 0


def test_summary_counts_add_up():
    run = simulate_breaker(seed=5)
    assert run.reached_service + run.rejected == len(run.calls)
    assert run.successes + run.failures == run.reached_service
    assert run.times_opened == sum(i.state == OPEN for i in run.intervals) >= 1


def test_arrivals_are_evenly_spaced_when_asked():
    run = simulate_breaker(rate=4.0, duration=10.0, arrivals="even")
    assert [c.time for c in run.calls] == pytest.approx([k / 4.0 for k in range(40)])


@pytest.mark.parametrize(
    "bad", [dict(rate=0), dict(duration=-1), dict(failure_threshold=0), dict(recovery_timeout=0),
            dict(half_open_max_calls=0), dict(service_time=0), dict(arrivals="bursty")],
)
def test_nonsense_settings_are_refused(bad):
    with pytest.raises(ValueError):
        simulate_breaker(**bad)


def test_failure_profile_rejects_impossible_probabilities():
    with pytest.raises(ValueError):
        FailureProfile.steady(1.5)
    with pytest.raises(ValueError):
        FailureProfile.outage(10.0, 5.0)


@invariant_settings
@given(breaker_settings())
def test_intervals_tile_the_run_and_start_closed(config):
    run = simulate_breaker(**config)
    assert run.intervals[0].start == 0.0 and run.intervals[0].state == CLOSED
    assert run.intervals[-1].end == run.duration
    for before, after in zip(run.intervals, run.intervals[1:]):
        assert before.end == after.start
        assert before.state != after.state
        assert (before.state, after.state) in ALLOWED_TRANSITIONS


@invariant_settings
@given(breaker_settings())
def test_no_call_reaches_the_service_while_open(config):
    run = simulate_breaker(**config)
    for call in run.calls:
        if call.outcome != REJECTED:
            assert interval_at(run, call.time).state != OPEN


@invariant_settings
@given(breaker_settings())
def test_rejections_happen_only_while_open_or_half_open_is_full(config):
    run = simulate_breaker(**config)
    for index, call in enumerate(run.calls):
        if call.outcome != REJECTED:
            continue
        interval = interval_at(run, call.time)
        assert interval.state in (OPEN, HALF_OPEN)
        if interval.state == HALF_OPEN:
            trials_running = [
                earlier for earlier in run.calls[:index]
                if earlier.outcome != REJECTED
                and earlier.time >= interval.start
                and earlier.finished_at > call.time
            ]
            assert len(trials_running) == run.half_open_max_calls


@invariant_settings
@given(breaker_settings())
def test_half_open_never_runs_more_trials_than_allowed(config):
    run = simulate_breaker(**config)
    for interval in run.intervals:
        if interval.state != HALF_OPEN:
            continue
        trials = [c for c in run.calls if c.outcome != REJECTED and interval.start <= c.time < interval.end]
        for trial in trials:
            running = [other for other in trials if other.time <= trial.time < other.finished_at]
            assert len(running) <= run.half_open_max_calls


@invariant_settings
@given(breaker_settings())
def test_open_lasts_the_recovery_timeout_unless_the_run_ends(config):
    run = simulate_breaker(**config)
    for interval in run.intervals:
        if interval.state == OPEN and interval.end < run.duration:
            assert interval.duration == pytest.approx(run.recovery_timeout)


def settled_in(run, interval):
    """Outcomes the breaker weighed during ``interval``: calls admitted in it that answered by its end."""
    admitted = [c for c in run.calls if c.outcome != REJECTED and interval.start <= c.time < interval.end]
    return [c.outcome for c in sorted(admitted, key=lambda c: c.finished_at) if c.finished_at <= interval.end]


@invariant_settings
@given(breaker_settings())
def test_it_opens_only_after_enough_consecutive_failures_or_a_failed_trial(config):
    run = simulate_breaker(**config)
    for before, after in zip(run.intervals, run.intervals[1:]):
        if after.state != OPEN:
            continue
        outcomes = settled_in(run, before)
        if before.state == CLOSED:
            assert len(outcomes) >= run.failure_threshold
            assert outcomes[-run.failure_threshold:] == [FAILURE] * run.failure_threshold
        else:
            assert outcomes and outcomes[-1] == FAILURE and FAILURE not in outcomes[:-1]


@invariant_settings
@given(breaker_settings())
def test_it_closes_only_after_enough_trial_successes(config):
    run = simulate_breaker(**config)
    for before, after in zip(run.intervals, run.intervals[1:]):
        if after.state == CLOSED:
            assert settled_in(run, before) == [SUCCESS] * run.half_open_max_calls


@invariant_settings
@given(breaker_settings())
def test_a_healthy_service_never_trips_the_breaker(config):
    run = simulate_breaker(**{**config, "failure_profile": FailureProfile.steady(0.0)})
    assert [i.state for i in run.intervals] == [CLOSED]
    assert run.rejected == 0 and run.failures == 0


@invariant_settings
@given(
    seed=st.integers(0, 10_000),
    threshold=st.integers(1, 10),
    trials=st.integers(1, 4),
    recovery_timeout=st.floats(0.5, 5.0),
    baseline=st.floats(0.0, 0.5),
)
def test_a_dead_service_trips_it_within_threshold_calls(seed, threshold, trials, recovery_timeout, baseline):
    """Calls are spaced wider than they last, so each answer is back before the next call starts.

    With no overlap there are no answers from an earlier state to blur the count.
    """
    outage_start, outage_end = 10.0, 30.0
    run = simulate_breaker(
        seed=seed, duration=40.0, rate=10.0, arrivals="even", service_time=0.05,
        failure_profile=FailureProfile.outage(outage_start, outage_end, failure_rate=1.0, baseline=baseline),
        failure_threshold=threshold, recovery_timeout=recovery_timeout, half_open_max_calls=trials,
    )
    outage_calls = [c for c in run.calls if outage_start <= c.time < outage_end]
    assert all(c.outcome in (FAILURE, REJECTED) for c in outage_calls)
    reached_before_open = 0
    for call in outage_calls:
        if call.outcome == REJECTED:
            reached_before_open = 0
            continue
        reached_before_open += 1
        assert reached_before_open <= threshold
    first_outage_open = next(i for i in run.intervals if i.state == OPEN and i.end > outage_start)
    assert first_outage_open.start <= outage_start + threshold / 10.0 + 0.05 + 1e-9


def test_state_at_reads_the_intervals():
    run = simulate_breaker()
    opened = next(i for i in run.intervals if i.state == OPEN)
    assert run.state_at(opened.start) == OPEN
    assert run.state_at(math.nextafter(opened.start, 0.0)) == CLOSED
    with pytest.raises(ValueError):
        run.state_at(run.duration + 1)
