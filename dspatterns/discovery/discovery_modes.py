"""Client-side against server-side discovery: who holds the view of the registry, and how stale it gets.

In **client-side** discovery every client asks the registry for the instances, keeps the answer, and
balances over it itself (Netflix's Eureka client refreshes its copy every 30 s by default). In
**server-side** discovery the client calls one address, a router or load balancer, which holds the
view and forwards the request (Kubernetes Services, an AWS load balancer, Consul with a proxy).

When an instance crashes, two delays add up before requests stop going to it: the registry's own
detection delay (``ttl`` after the last heartbeat, see ``registry_timeline``) and the age of the copy
the caller balances over. Every client refreshes at its own moment, so for a while some clients have
dropped the dead instance and others still call it: the caches disagree (a small split brain). A
router holds one copy, often kept fresh by a watch (an etcd watch, a Consul blocking query), so it
has one short window instead of many long ones.

The model replays one seeded request stream in both shapes. Requests arrive as a Poisson stream over
virtual time, each from a client drawn at random; whoever holds the view (the client, or the router)
picks round robin over its copy, and a request sent to the crashed instance after the crash fails.
A holder with ``refresh > 0`` fetched the registry at 0 and then at ``phase + j * refresh`` (a seeded
phase in ``[0, refresh)`` each, since clients start at different times); ``refresh = 0`` is a watch,
whose copy is the registry's view at every moment. Nothing retries: every failure here is one a
caller would see or would have to retry.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import networkx as nx

from dspatterns.discovery.registry_timeline import registry_timeline

CLIENT_SIDE, SERVER_SIDE = "client-side", "server-side"
MODES = (CLIENT_SIDE, SERVER_SIDE)
ROUTER = "router"


@dataclass(frozen=True)
class Routed:
    """One request: when it was sent, by which client, to which instance, and whether it failed."""

    time: float
    client: int
    instance: str
    failed: bool


@dataclass(frozen=True)
class FailoverRun:
    """One shape of discovery through one crash: every request, and when each copy of the view healed."""

    mode: str
    instances: tuple[str, ...]
    crashed: str
    crash_at: float
    registry_drops_at: float  # the first moment the registry no longer lists the crashed instance
    refresh: float
    drops_at: dict[str, float]  # per view holder (a client, or the router), when its copy lost the instance
    requests: tuple[Routed, ...]

    @property
    def failures(self) -> int:
        return sum(request.failed for request in self.requests)

    @property
    def failure_times(self) -> list[float]:
        return [request.time for request in self.requests if request.failed]

    @property
    def healed_at(self) -> float:
        """When the last copy of the view dropped the dead instance: no request can fail after it."""
        return max(self.drops_at.values())

    @property
    def disagreement(self) -> float:
        """How long the copies disagreed: some had dropped the instance while others still handed it out."""
        return max(self.drops_at.values()) - min(self.drops_at.values())

    def failed_by(self, time: float) -> int:
        """Failed requests sent at or before ``time``: one point of the cumulative curve."""
        return sum(1 for t in self.failure_times if t <= time)


def failover_study(
    mode: str,
    *,
    refresh: float,
    instances: int = 4,
    clients: int = 20,
    rate: float = 40.0,
    crash_at: float = 10.3,
    heartbeat_interval: float = 1.0,
    ttl: float = 3.0,
    horizon: float = 40.0,
    seed: int = 0,
) -> FailoverRun:
    """Replay ``rate`` requests a second for ``horizon`` seconds while ``instance-1`` crashes at ``crash_at``.

    ``refresh`` is how often each view holder fetches the registry (0: it watches). The request stream
    and the clients' phases come from ``seed`` alone, so the two modes see the same requests.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, value in {"rate": rate, "heartbeat_interval": heartbeat_interval, "ttl": ttl}.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if refresh < 0 or instances < 2 or clients < 1 or not 0 <= crash_at <= horizon:
        raise ValueError("need refresh >= 0, instances >= 2, clients >= 1 and 0 <= crash_at <= horizon")
    names = tuple(f"instance-{i}" for i in range(instances))
    crashed = names[1]
    timeline = registry_timeline(names, heartbeat_interval, ttl, {crashed: crash_at}, horizon=horizon, step=horizon)
    registry_drops_at = timeline.detection(crashed).vanished_at
    stream = _stream(rate, horizon, clients, seed)
    holders = [f"client-{c}" for c in range(clients)] if mode == CLIENT_SIDE else [ROUTER]
    phases = _phases(clients, refresh, seed)
    if mode == SERVER_SIDE:
        phases = {ROUTER: phases["client-0"]}
    drops_at = {holder: _copy_drops_at(registry_drops_at, refresh, phases[holder]) for holder in holders}
    cursors = dict.fromkeys(holders, 0)
    alive = [name for name in names if name != crashed]
    routed = []
    for time, client in stream:
        holder = holders[client] if mode == CLIENT_SIDE else ROUTER
        view = names if time < drops_at[holder] else alive
        instance = view[cursors[holder] % len(view)]
        cursors[holder] += 1
        routed.append(Routed(time, client, instance, instance == crashed and time >= crash_at))
    return FailoverRun(mode=mode, instances=names, crashed=crashed, crash_at=float(crash_at),
                       registry_drops_at=registry_drops_at, refresh=float(refresh), drops_at=drops_at,
                       requests=tuple(routed))


def compare_modes(*, client_refresh: float = 5.0, router_refresh: float = 0.0, **settings) -> dict[str, FailoverRun]:
    """Both shapes on the same requests: clients refreshing every ``client_refresh`` s, a router every ``router_refresh``."""
    return {CLIENT_SIDE: failover_study(CLIENT_SIDE, refresh=client_refresh, **settings),
            SERVER_SIDE: failover_study(SERVER_SIDE, refresh=router_refresh, **settings)}


def failover_report(runs: dict[str, FailoverRun]) -> str:
    """The comparison in one line per shape."""
    lines = []
    for mode, run in runs.items():
        how = "watches the registry" if run.refresh == 0 else f"refreshes every {run.refresh:g} s"
        holder = "each client" if mode == CLIENT_SIDE else "the router"
        lines.append(
            f"{mode:>11}: {holder} {how}; {run.failures:3d} of {len(run.requests):,} requests failed; "
            f"the registry dropped {run.crashed} {run.registry_drops_at - run.crash_at:.2f} s after the crash, "
            f"the last copy {run.healed_at - run.crash_at:.2f} s after it; copies disagreed for "
            f"{run.disagreement:.2f} s")
    return "\n".join(lines)


def _stream(rate: float, horizon: float, clients: int, seed: int) -> list[tuple[float, int]]:
    rng = random.Random(seed)
    stream, time = [], 0.0
    while True:
        time += rng.expovariate(rate)
        if time > horizon:
            return stream
        stream.append((time, rng.randrange(clients)))


def _phases(clients: int, refresh: float, seed: int) -> dict[str, float]:
    """Each client's refresh phase, drawn apart from the requests so that changing ``refresh`` keeps them."""
    rng = random.Random(f"phases-{seed}")
    fractions = [rng.random() for _ in range(clients)]
    return {f"client-{c}": fraction * refresh for c, fraction in enumerate(fractions)}


def _copy_drops_at(registry_drops_at: float, refresh: float, phase: float) -> float:
    """The first fetch at or after the registry dropped the instance (a watch sees it at once)."""
    if refresh == 0 or registry_drops_at <= 0:
        return registry_drops_at
    if registry_drops_at <= phase:
        return phase
    return phase + math.ceil((registry_drops_at - phase) / refresh) * refresh


# --- the two shapes as graphs ---------------------------------------------------------------------

def discovery_topology(mode: str, instances: int = 3) -> tuple[nx.DiGraph, dict]:
    """Who talks to whom, with each edge's step number and label, and a left-to-right layout.

    Registration and heartbeats (step 0) go from every instance to the registry in both shapes; what
    differs is who looks the instances up and who picks one.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    graph = nx.DiGraph()
    names = [f"instance-{i}" for i in range(instances)]
    for name in names:
        graph.add_edge(name, "registry", step=0, label="register, heartbeat")
    rows = [0.6 - 1.2 * k / max(1, instances - 1) for k in range(instances)]
    positions = {name: (2.0, row) for name, row in zip(names, rows)}
    if mode == CLIENT_SIDE:
        graph.add_edge("client", "registry", step=1, label="look up (cached)")
        graph.add_edge("client", names[0], step=2, label="call the chosen instance")
        positions.update({"client": (0.0, 0.0), "registry": (1.0, 1.3)})
    else:
        graph.add_edge("client", ROUTER, step=1, label="call one address")
        graph.add_edge(ROUTER, "registry", step=2, label="look up (watched)")
        graph.add_edge(ROUTER, names[0], step=3, label="forward to the chosen instance")
        positions.update({"client": (0.0, 0.0), ROUTER: (1.0, 0.0), "registry": (1.5, 1.3)})
    return graph, positions
