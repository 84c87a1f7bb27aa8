"""The client-side against server-side failover model: what its figure claims, checked from first principles.

Expectations are worked out from the settings (the registry drops a crash ``ttl`` after its last
heartbeat; a copy refreshed every ``k`` seconds heals at its first fetch after that; round robin over
``n`` instances sends every ``n``-th request of a holder to each), never read back from the model.
"""
from __future__ import annotations

import math

import pytest

from dspatterns.discovery.discovery_modes import (
    CLIENT_SIDE,
    ROUTER,
    SERVER_SIDE,
    compare_modes,
    discovery_topology,
    failover_report,
    failover_study,
)
from dspatterns.discovery.ttl_tradeoff import TtlSetting, ttl_table

SEEDS = (0, 1, 2)


def test_the_registry_drops_the_crash_ttl_after_its_last_heartbeat():
    # heartbeats every 1 s from 0: the last before a crash at 10.3 is at 10.0, so the registry drops it at 13.0
    run = failover_study(SERVER_SIDE, refresh=0.0, crash_at=10.3, heartbeat_interval=1.0, ttl=3.0)
    assert run.registry_drops_at == 13.0
    assert run.drops_at == {ROUTER: 13.0}, "a watching router sees the registry's view at every moment"


@pytest.mark.parametrize("seed", SEEDS)
def test_failures_are_the_requests_to_the_dead_instance_between_the_crash_and_the_holders_heal(seed):
    run = failover_study(CLIENT_SIDE, refresh=5.0, seed=seed)
    for request in run.requests:
        holder = f"client-{request.client}"
        if request.failed:
            assert request.instance == run.crashed
            assert run.crash_at <= request.time < run.drops_at[holder], f"seed {seed}: {request}"
        if request.time >= run.drops_at[holder]:
            assert request.instance != run.crashed, f"seed {seed}: {request} after its copy healed"
    assert run.failures == len(run.failure_times) > 0


def test_a_copy_heals_at_its_first_fetch_after_the_registry_dropped_the_instance():
    run = failover_study(CLIENT_SIDE, refresh=5.0, seed=4)
    for holder, healed in run.drops_at.items():
        assert healed >= run.registry_drops_at
        assert healed - run.registry_drops_at < 5.0 + 1e-9, holder
    assert run.disagreement == pytest.approx(max(run.drops_at.values()) - min(run.drops_at.values()))
    assert run.disagreement > 2.5, "20 clients with random phases over 5 s should disagree for most of it"


def test_round_robin_sends_every_nth_request_of_the_router_to_the_dead_instance():
    run = failover_study(SERVER_SIDE, refresh=0.0, instances=4, seed=3)
    routed = [r.instance for r in run.requests]
    before = [name for r, name in zip(run.requests, routed) if r.time < run.registry_drops_at]
    assert before == [f"instance-{k % 4}" for k in range(len(before))]
    window = [r for r in run.requests if run.crash_at <= r.time < run.registry_drops_at]
    assert abs(run.failures - len(window) / 4) <= 1, (run.failures, len(window))


@pytest.mark.parametrize("seed", SEEDS)
def test_both_shapes_see_the_same_requests_and_stale_client_caches_fail_more(seed):
    runs = compare_modes(client_refresh=10.0, router_refresh=0.0, seed=seed)
    client, server = runs[CLIENT_SIDE], runs[SERVER_SIDE]
    assert [(r.time, r.client) for r in client.requests] == [(r.time, r.client) for r in server.requests]
    assert client.failures > server.failures, f"seed {seed}: {failover_report(runs)}"
    assert server.disagreement == 0.0 and client.healed_at > server.healed_at


def test_a_longer_client_refresh_never_heals_sooner():
    healed = [failover_study(CLIENT_SIDE, refresh=k, seed=0).healed_at for k in (1.0, 5.0, 30.0)]
    assert healed == sorted(healed) and healed[0] < healed[-1]
    assert math.isclose(failover_study(CLIENT_SIDE, refresh=0.0).healed_at, 13.0)


def test_bad_settings_are_refused():
    for mode, settings in ((CLIENT_SIDE, {"refresh": -1.0}), (CLIENT_SIDE, {"refresh": 1.0, "instances": 1}),
                           ("peer-to-peer", {"refresh": 1.0}), (SERVER_SIDE, {"refresh": 1.0, "ttl": 0.0})):
        with pytest.raises(ValueError):
            failover_study(mode, **settings)


def test_the_topologies_differ_in_who_looks_up_and_who_picks():
    client, _ = discovery_topology(CLIENT_SIDE)
    server, positions = discovery_topology(SERVER_SIDE)
    assert client.has_edge("client", "registry") and client.has_edge("client", "instance-0")
    assert not server.has_edge("client", "registry") and server.has_edge(ROUTER, "registry")
    assert [b for _, b in server.out_edges("client")] == [ROUTER]
    assert all(server.has_edge(f"instance-{i}", "registry") for i in range(3))
    assert set(positions) == set(server.nodes)


# --- the ttl trade-off table ----------------------------------------------------------------------------

@pytest.mark.parametrize("ttl, interval, survived", [(3.0, 1.0, 1), (10.0, 3.0, 2), (30.0, 10.0, 1), (3.5, 1.0, 2),
                                                     (1.0, 2.0, 0), (2.0, 2.0, 0)])
def test_lost_heartbeats_survived_follow_the_strict_rule(ttl, interval, survived):
    # k lost in a row: the next heartbeat comes (k + 1) * interval after the last one seen, and must be < ttl
    expected = max([k for k in range(20) if (k + 1) * interval < ttl], default=-1)
    assert TtlSetting(ttl, interval, 10).lost_heartbeats_survived == max(0, expected) == survived


def test_the_ttl_table_agrees_with_the_registry_timeline():
    from dspatterns.discovery.registry_timeline import registry_timeline

    setting = TtlSetting(10.0, 3.0, 2_000)
    stops = {f"i{k}": 0.25 * k for k in range(1, 48)}
    run = registry_timeline(list(stops), 3.0, 10.0, stops, horizon=30.0, step=0.25)
    delays = [row.delay for row in run.detections]
    assert setting.fastest_detection < min(delays) and max(delays) == setting.slowest_detection
    assert setting.heartbeats_per_second == pytest.approx(2_000 / 3)
    assert ttl_table([(10.0, 3.0)], 2_000).splitlines()[1].split() == ["10", "3", "7", "to", "10", "s", "667", "2"]
