"""The discovery family's course models: what the registry and load-balancing figures claim.

Each expectation is worked out here from first principles (arithmetic on times that are exact in
binary, a plain count, a published bound), never read back from the model it checks. Every random run
is seeded.
"""
from __future__ import annotations

import math
from functools import lru_cache

import pytest

from dspatterns.discovery.load_balancing import (
    LEAST_CONNECTIONS,
    POLICIES,
    RANDOM,
    ROUND_ROBIN,
    TWO_CHOICES,
    balancing_report,
    balancing_study,
    balls_into_bins,
    compare_policies,
    fluid_limit,
    request_stream,
)
from dspatterns.discovery.registry_timeline import registry_timeline

SEEDS = (1, 2, 3)


# --- registry timeline ----------------------------------------------------------------------------

def test_a_crashed_instance_is_listed_until_exactly_ttl_after_its_last_heartbeat():
    # interval 1, ttl 3, crash at 2.5: the last heartbeat is at 2.0, so 2.0 + 3 = 5.0 is the first
    # moment with now - last_seen < ttl false. Every number here is exact in binary.
    run = registry_timeline(["a", "b"], 1.0, 3.0, {"b": 2.5}, horizon=8.0, step=0.25)
    lane = dict(zip(run.times, run.listed("b")))
    assert lane[4.75] is True   # 4.75 - 2.0 = 2.75 < 3
    assert lane[5.0] is False   # 5.0 - 2.0 = 3.0, not < 3
    assert all(lane[t] for t in run.times if t < 5.0)
    assert not any(lane[t] for t in run.times if t >= 5.0)
    assert all(run.listed("a"))
    row = run.detection("b")
    assert (row.last_heartbeat, row.vanished_at, row.delay, row.silence) == (2.0, 5.0, 2.5, 3.0)


@pytest.mark.parametrize("interval, ttl", [(0.5, 1.5), (1.0, 2.0), (0.25, 1.0), (2.0, 5.0)])
def test_the_boundary_for_every_stop_time_on_a_binary_grid(interval, ttl):
    step = 0.125
    stops = {f"i{k}": k * step for k in range(1, 40)}
    run = registry_timeline(list(stops), interval, ttl, stops, horizon=16.0, step=step)
    for name, stop in stops.items():
        last = math.floor(stop / interval) * interval  # exact: interval and stop are dyadic
        expected = [t < last + ttl for t in run.times]  # registered at 0, so listed iff t - last < ttl ...
        expected = [t < stop or listed for t, listed in zip(run.times, expected)]  # ... or still alive
        assert run.listed(name) == expected, f"{name} stopping at {stop}"
        assert run.detection(name).vanished_at == last + ttl


def test_detection_delay_lies_between_ttl_minus_interval_and_ttl():
    interval, ttl = 0.75, 2.5
    stops = {f"i{k}": 0.013 * k for k in range(1, 500)}  # not exact in binary, not on heartbeats
    stops.update({"on a heartbeat": 3 * interval, "just before one": 4 * interval - 1e-9})
    run = registry_timeline(list(stops), interval, ttl, stops, horizon=10.0, step=0.5)
    delays = {row.instance: row.delay for row in run.detections}
    assert all(ttl - interval < delay <= ttl for delay in delays.values()), min(delays.values())
    assert delays["on a heartbeat"] == pytest.approx(ttl)
    assert delays["just before one"] == pytest.approx(ttl - interval, abs=1e-6)
    assert all(row.silence == pytest.approx(ttl) for row in run.detections)
    # spread over the whole window, not bunched at one end
    assert max(delays.values()) - min(delays.values()) > 0.9 * interval


def test_a_graceful_stop_leaves_the_view_at_once():
    run = registry_timeline(["a", "b", "c"], 1.0, 3.0, {"b": 2.5, "c": 2.5}, horizon=6.0, step=0.5,
                            graceful={"c"})
    assert run.detection("c").delay == 0.0
    assert run.listed("c") == [t < 2.5 for t in run.times]
    assert sorted({name for _, name in run.stale_samples}) == ["b"]
    assert [t for t, _ in run.stale_samples] == [t for t in run.times if 2.5 < t < 5.0]


def test_a_ttl_shorter_than_the_interval_makes_live_instances_flap():
    run = registry_timeline(["a"], 1.0, 0.5, {}, horizon=4.0, step=0.25)
    assert run.listed("a") == [t % 1.0 < 0.5 for t in run.times]  # 0.5 after a heartbeat: gone


def test_the_view_is_in_registration_order_and_empty_before_registration():
    starts = {"late": 2.0, "early": 0.0, "middle": 1.0}
    run = registry_timeline(list(starts), 1.0, 3.0, {}, horizon=4.0, step=0.5, registered_at=starts)
    assert run.instances == ("early", "middle", "late")
    for time, view in zip(run.times, run.healthy):
        assert list(view) == [name for name in ("early", "middle", "late") if starts[name] <= time]
    assert run.healthy_count == [len(view) for view in run.healthy]


@pytest.mark.parametrize("args, settings", [
    ((["a"], 0.0, 3.0, {}), {}),
    ((["a"], 1.0, -1.0, {}), {}),
    ((["a"], 1.0, 3.0, {"ghost": 1.0}), {}),
    ((["a", "a"], 1.0, 3.0, {}), {}),
    ((["a"], 1.0, 3.0, {"a": 0.5}), {"registered_at": {"a": 1.0}}),
    ((["a"], 1.0, 3.0, {}), {"graceful": {"a"}}),
])
def test_bad_settings_are_refused(args, settings):
    with pytest.raises(ValueError):
        registry_timeline(*args, horizon=5.0, step=0.5, **settings)


# --- load balancing -------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def runs(seed, cost, instances=8, requests=3000):
    return compare_policies(instances, requests, seed=seed, cost=cost)


def counts_before_pick(run):
    """Per request, every instance's outstanding count the balancer saw, rebuilt from the requests alone."""
    seen = []
    for j, request in enumerate(run.requests):
        counts = [0] * len(run.instances)
        for earlier in run.requests[:j]:
            if earlier.finished > request.arrival:
                counts[earlier.instance] += 1
        seen.append(counts)
    return seen


@pytest.mark.parametrize("cost", ["exponential", "pareto"])
def test_every_policy_sees_the_same_requests(cost):
    stream = [[(r.arrival, r.cost) for r in run.requests] for run in runs(1, cost).values()]
    assert all(s == stream[0] for s in stream)
    assert stream[0] == list(request_stream(3000, 0.8 * 8, seed=1, cost=cost))


@pytest.mark.parametrize("requests", [800, 803])
def test_round_robin_hands_out_evenly_by_count(requests):
    run = balancing_study(ROUND_ROBIN, 8, requests, seed=2, cost="pareto")
    assert [r.instance for r in run.requests] == [j % 8 for j in range(requests)]
    assert max(run.handed_out) - min(run.handed_out) == (0 if requests % 8 == 0 else 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cost", ["exponential", "pareto"])
def test_load_aware_policies_keep_the_peak_well_below_randoms(seed, cost):
    by_policy = runs(seed, cost)
    random_peak = by_policy[RANDOM].peak
    for policy in (LEAST_CONNECTIONS, TWO_CHOICES):
        assert by_policy[policy].peak <= random_peak / 2, f"seed {seed}, {cost}:\n{balancing_report(by_policy)}"
        assert by_policy[policy].mean_response < by_policy[RANDOM].mean_response


@pytest.mark.parametrize("policy", POLICIES)
def test_outstanding_load_and_finish_times_follow_from_the_requests(policy):
    run = balancing_study(policy, 4, 400, seed=5, cost="exponential", load=0.9)
    seen = counts_before_pick(run)
    free = [0.0] * 4
    for request, counts, row in zip(run.requests, seen, run.outstanding):
        counts[request.instance] += 1
        assert list(row) == counts
        assert request.finished == pytest.approx(max(request.arrival, free[request.instance]) + request.cost)
        free[request.instance] = request.finished  # one worker, first come first served
    assert run.max_load == tuple(max(row[i] for row in run.outstanding) for i in range(4))


def test_least_connections_picks_a_least_loaded_instance_and_two_choices_never_the_unique_busiest():
    lc = balancing_study(LEAST_CONNECTIONS, 5, 400, seed=7, load=0.9)
    assert all(counts[r.instance] == min(counts) for r, counts in zip(lc.requests, counts_before_pick(lc)))
    two = balancing_study(TWO_CHOICES, 5, 400, seed=7, load=0.9)
    for r, counts in zip(two.requests, counts_before_pick(two)):
        assert counts[r.instance] <= sorted(counts)[-2]  # it beat (or tied) the other instance it drew


def test_same_seed_same_run_another_seed_another_stream():
    assert balancing_study(TWO_CHOICES, 4, 300, seed=3) == balancing_study(TWO_CHOICES, 4, 300, seed=3)
    first, second = balancing_study(RANDOM, 4, 300, seed=3), balancing_study(RANDOM, 4, 300, seed=4)
    assert [r.arrival for r in first.requests] != [r.arrival for r in second.requests]


def test_bad_settings_are_refused_for_balancing():
    for policy, instances, settings in [("fastest", 4, {}), (RANDOM, 0, {}), (RANDOM, 4, {"cost": "gamma"}),
                                        (RANDOM, 4, {"load": 0.0}), (RANDOM, ["a", "a"], {})]:
        with pytest.raises(ValueError):
            balancing_study(policy, instances, 10, seed=1, **settings)


# --- balls into bins: the published result ---------------------------------------------------------

@lru_cache(maxsize=None)
def thrown(n, choices, seed):
    return balls_into_bins(n, n, choices=choices, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [10**4, 10**5])
def test_two_choices_bring_the_maximum_down_to_ln_ln_n_over_ln_2(n, seed):
    """Azar, Broder, Karlin and Upfal (1994): n balls into n bins, the fullest bin holds
    ln n / ln ln n (1 + o(1)) with one random choice and ln ln n / ln 2 + O(1) with two, w.h.p.

    The constant we allow is +1. Why: Mitzenmacher's (1996) fluid limit (``fluid_limit``, checked
    against the simulation below) gives the fraction of bins with at least 4 balls as 6e-6 and with
    at least 5 as 1.3e-12, so for n <= 10^5 the expected number of bins holding 5 is below 1e-6: the
    maximum is 4 at most, and ln ln n / ln 2 + 1 is 4.2 (n = 10^4) and 4.5 (n = 10^5).
    One choice: at least ln n / ln ln n (the leading term; the true value sits well above it at these
    n) and at most 3 ln n / ln ln n (the union bound n (e/k)^k < 1/n at k = 3 ln n / ln ln n).
    """
    one, two = thrown(n, 1, seed), thrown(n, 2, seed)
    assert two.max_load <= math.log(math.log(n)) / math.log(2) + 1
    assert two.max_load <= one.max_load - 2, (one.bins_with_load, two.bins_with_load)
    assert math.log(n) / math.log(math.log(n)) <= one.max_load <= 3 * math.log(n) / math.log(math.log(n))
    assert sum(two.bins_with_load) == n and sum(k * c for k, c in enumerate(two.bins_with_load)) == n


@pytest.mark.parametrize("choices", [1, 2])
def test_the_bin_loads_match_the_fluid_limit(choices):
    limit = fluid_limit(4, choices=choices)
    for seed in SEEDS:
        outcome = thrown(10**5, choices, seed)
        for load in (1, 2, 3):  # a fraction over 10^5 bins has a standard deviation below 0.002
            assert outcome.at_least(load) == pytest.approx(limit[load], abs=0.01), (choices, seed, load)


def test_the_fluid_limit_has_the_known_closed_forms():
    poisson_tail = [1 - sum(math.exp(-1) / math.factorial(k) for k in range(i)) for i in range(6)]
    assert fluid_limit(5, choices=1) == pytest.approx(poisson_tail, abs=1e-9)  # one choice: Poisson(1)
    assert fluid_limit(3, choices=2)[1] == pytest.approx(math.tanh(1.0), abs=1e-9)  # ds1/dt = 1 - s1^2
    two = fluid_limit(6, choices=2)
    assert all(two[i + 1] <= two[i] ** 2 for i in range(1, 6))  # the tail at least squares each level
