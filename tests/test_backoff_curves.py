"""Backoff sequences for the plots must follow the exercise's numbering and every jitter's bounds."""
from __future__ import annotations

import math
import statistics

import pytest

from dspatterns.resilience.backoff_curves import (
    JITTERS,
    STRATEGIES,
    delay_schedule,
    jittered_schedules,
    percentile_band,
    retry_times,
)


def test_schedules_have_one_sleep_per_failed_attempt_except_the_last():
    assert delay_schedule("fixed", base=2.0, attempts=4) == [2.0, 2.0, 2.0]
    assert delay_schedule("linear", base=2.0, attempts=4) == [2.0, 4.0, 6.0]
    assert delay_schedule("exponential", base=2.0, attempts=5) == [2.0, 4.0, 8.0, 16.0]
    assert delay_schedule("exponential", base=1.0, attempts=1) == []  # one attempt: nothing to wait for


def test_the_cap_bounds_every_sleep():
    assert delay_schedule("exponential", base=1.0, cap=5.0, attempts=6) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert delay_schedule("linear", base=3.0, cap=4.0, attempts=3) == [3.0, 4.0]
    huge = delay_schedule("exponential", base=1.0, cap=60.0, attempts=2000)
    assert max(huge) == 60.0 and len(huge) == 1999


def test_no_jitter_means_every_client_sleeps_the_same():
    crowd = jittered_schedules("linear", "none", base=1.0, cap=10.0, attempts=5, samples=7)
    assert crowd == [delay_schedule("linear", base=1.0, cap=10.0, attempts=5)] * 7


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_full_and_equal_jitter_stay_in_their_ranges(strategy):
    plain = delay_schedule(strategy, base=0.5, cap=6.0, attempts=8)
    full = jittered_schedules(strategy, "full", base=0.5, cap=6.0, attempts=8, samples=300, seed=1)
    equal = jittered_schedules(strategy, "equal", base=0.5, cap=6.0, attempts=8, samples=300, seed=1)
    for row in full:
        assert all(0.0 <= sleep <= d for sleep, d in zip(row, plain))
    for row in equal:
        assert all(d / 2 <= sleep <= d for sleep, d in zip(row, plain))


def test_full_jitter_averages_half_the_delay():
    crowd = jittered_schedules("fixed", "full", base=4.0, attempts=2, samples=4000, seed=3)
    assert statistics.fmean(row[0] for row in crowd) == pytest.approx(2.0, rel=0.05)


def test_decorrelated_jitter_grows_from_the_previous_sleep_and_respects_the_cap():
    base, cap = 1.0, 20.0
    crowd = jittered_schedules("exponential", "decorrelated", base=base, cap=cap, attempts=12, samples=300, seed=5)
    for row in crowd:
        previous = base
        for sleep in row:
            assert base <= sleep <= min(cap, 3 * previous) + 1e-12
            previous = sleep
    assert max(max(row) for row in crowd) == pytest.approx(cap)  # some client reaches the cap


def test_decorrelated_jitter_ignores_the_strategy():
    rows = {s: jittered_schedules(s, "decorrelated", base=1.0, cap=9.0, attempts=6, samples=5, seed=2)
            for s in STRATEGIES}
    assert rows["fixed"] == rows["linear"] == rows["exponential"]


def test_a_seed_pins_the_crowd():
    first = jittered_schedules("exponential", "full", attempts=6, samples=50, seed=11)
    assert first == jittered_schedules("exponential", "full", attempts=6, samples=50, seed=11)
    assert first != jittered_schedules("exponential", "full", attempts=6, samples=50, seed=12)


def test_crowds_have_one_row_per_client_and_one_column_per_sleep():
    for jitter in JITTERS:
        crowd = jittered_schedules("exponential", jitter, attempts=5, samples=9)
        assert len(crowd) == 9 and all(len(row) == 4 for row in crowd)


def test_retry_times_are_running_totals_of_the_sleeps():
    assert retry_times([[1.0, 2.0, 4.0], [0.5, 0.5]]) == [[1.0, 3.0, 7.0], [0.5, 1.0]]


def test_percentile_band_on_a_known_column():
    column = [[float(v)] for v in range(101)]  # 0, 1, ..., 100: the p-th percentile is p
    band = percentile_band(column, low=10, high=90)
    assert band.low == (10.0,) and band.median == (50.0,) and band.high == (90.0,)
    two = percentile_band([[0.0], [1.0]])
    assert two.median == (0.5,)


@pytest.mark.parametrize("bad", [
    dict(strategy="quadratic"), dict(jitter="some"), dict(base=0.0), dict(cap=0.0), dict(attempts=0),
    dict(samples=0),
])
def test_nonsense_settings_are_refused(bad):
    settings = dict(strategy="exponential", jitter="full") | bad
    with pytest.raises(ValueError):
        jittered_schedules(**settings)


def test_percentile_band_refuses_an_empty_crowd_or_crossed_percentiles():
    with pytest.raises(ValueError):
        percentile_band([])
    with pytest.raises(ValueError):
        percentile_band([[1.0]], low=60, high=90)


def test_infinite_cap_is_allowed():
    assert delay_schedule("exponential", base=1.0, cap=math.inf, attempts=4) == [1.0, 2.0, 4.0]
