"""Bulkheads must keep the healthy service serving while a shared pool starves it, on the same traffic."""
from __future__ import annotations

import pytest

from dspatterns.resilience.bulkhead_simulation import (
    HEALTHY,
    REJECTED,
    SERVED,
    SICK,
    TIMED_OUT,
    compare_pools,
    pool_report,
    simulate_pools,
)

SEEDS = (1, 3, 8)


def arrivals(run, service, start=0.0, end=float("inf")):
    return sum(r.service == service and start <= r.arrival < end for r in run.requests)


def served_share(run, service):
    start, end = run.slow_window
    return run.count(service, SERVED, start, end) / arrivals(run, service, start, end)


def most_at_once(requests):
    """The largest number of calls holding a slot at the same moment."""
    edges = sorted([(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests])
    running = peak = 0
    for _, step in edges:  # at equal times -1 sorts first: a slot is freed before it is taken again
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("seed", SEEDS)
def test_bulkheads_keep_the_healthy_service_serving(seed):
    shared, split = compare_pools(seed=seed)
    assert served_share(split, HEALTHY) > 0.95
    assert served_share(shared, HEALTHY) < 0.4


@pytest.mark.parametrize("seed", SEEDS)
def test_before_the_incident_both_setups_serve_everything(seed):
    shared, split = compare_pools(seed=seed)
    for run in (shared, split):
        for service in (HEALTHY, SICK):
            assert run.count(service, SERVED, 0.0, 9.0) == arrivals(run, service, 0.0, 9.0)


def test_the_sick_service_never_serves_while_it_hangs():
    shared, split = compare_pools()
    for run in (shared, split):
        start, end = run.slow_window
        assert run.count(SICK, SERVED, start, end) == 0
        assert run.count(SICK, TIMED_OUT, start, end) > 0
        hung = [r for r in run.requests if r.outcome == TIMED_OUT]
        assert all(r.finished - r.started == pytest.approx(run.timeout) for r in hung)


def test_both_setups_see_the_same_traffic():
    shared, split = compare_pools(seed=5)
    assert [(r.service, r.arrival) for r in shared.requests] == [(r.service, r.arrival) for r in split.requests]


def test_same_seed_same_run_and_another_seed_other_traffic():
    assert simulate_pools(bulkheads=True, seed=2) == simulate_pools(bulkheads=True, seed=2)
    first, second = simulate_pools(bulkheads=False, seed=2), simulate_pools(bulkheads=False, seed=4)
    assert [r.arrival for r in first.requests] != [r.arrival for r in second.requests]


def test_pools_are_never_overfilled_and_bulkheads_never_share():
    shared, split = compare_pools(pool_size=8, sick_slots=3)
    admitted = [r for r in shared.requests if r.started is not None]
    assert most_at_once(admitted) == 8  # the incident fills the whole shared pool, and no more
    for service, slots in ((HEALTHY, 5), (SICK, 3)):
        mine = [r for r in split.requests if r.started is not None and r.service == service]
        assert most_at_once(mine) <= slots
    assert most_at_once([r for r in split.requests if r.started is not None and r.service == SICK]) == 3


def test_a_call_without_a_slot_gives_up_after_max_wait():
    run = simulate_pools(bulkheads=False, max_wait=0.25)
    rejected = [r for r in run.requests if r.outcome == REJECTED]
    assert rejected
    assert all(r.started is None and r.finished - r.arrival == pytest.approx(0.25) for r in rejected)


def test_served_per_second_adds_up_to_the_served_calls():
    run = simulate_pools(bulkheads=True)
    for service in (HEALTHY, SICK):
        starts, rates = run.served_per_second(service, bin_width=2.0)
        assert len(starts) == len(rates) == 20
        assert sum(rates) * 2.0 == pytest.approx(sum(r.service == service and r.outcome == SERVED
                                                     for r in run.requests))


def test_report_names_both_setups_and_every_outcome():
    text = pool_report(compare_pools())
    assert "shared pool of 10" in text and "bulkheads: 5 for catalog + 5 for payments" in text
    for outcome in (SERVED, TIMED_OUT, REJECTED):
        assert outcome in text


@pytest.mark.parametrize("bad", [
    dict(pool_size=1), dict(rate=0.0), dict(timeout=0.0), dict(max_wait=-1.0), dict(slow_window=(5.0, 1.0)),
    dict(service_time=(0.0, 0.1)), dict(bulkheads=True, sick_slots=10),
])
def test_nonsense_settings_are_refused(bad):
    settings = dict(bulkheads=False) | bad
    with pytest.raises(ValueError):
        simulate_pools(**settings)
