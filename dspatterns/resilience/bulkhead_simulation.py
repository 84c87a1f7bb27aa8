"""One caller, two downstream services, and a pool of connections: shared, or split into bulkheads.

A checkout page calls a catalog service and a payments service through a fixed pool of connections
(or worker threads: anything a call holds while it waits). Then payments fails *slowly*: its calls do
not error, they hang until the caller's timeout. The question is what that does to catalog calls,
which have nothing to do with payments. With one shared pool, hanging payments calls take every slot
and catalog starves. With bulkheads, each service has its own slots: payments can only exhaust its own,
and catalog keeps serving.

The simulation runs in virtual time with SimPy. A call that finds its pool full waits up to
``max_wait`` seconds for a slot and is turned away if none frees up. The traffic (arrival times and
healthy service times) is drawn from the seed before any pool exists, so the shared and the split
configuration see exactly the same requests: any difference between them comes from the pools.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import simpy

HEALTHY = "catalog"
SICK = "payments"
SERVICES = (HEALTHY, SICK)

SERVED = "served"
TIMED_OUT = "timed out"
REJECTED = "rejected"
OUTCOMES = (SERVED, TIMED_OUT, REJECTED)


@dataclass(frozen=True)
class Request:
    """One call as the caller saw it; ``started`` is ``None`` when it never got a slot."""

    service: str
    arrival: float
    outcome: str
    started: float | None
    finished: float


@dataclass(frozen=True)
class PoolRun:
    """A whole run: its settings, so figures can label themselves, and every request."""

    bulkheads: bool
    pool_sizes: dict[str, int]
    requests: tuple[Request, ...]
    duration: float
    slow_window: tuple[float, float]
    timeout: float

    @property
    def label(self) -> str:
        if not self.bulkheads:
            return f"one shared pool of {self.pool_sizes['shared']} connections"
        return "bulkheads: " + " + ".join(f"{size} for {name}" for name, size in self.pool_sizes.items())

    def count(self, service: str, outcome: str, start: float = 0.0, end: float = math.inf) -> int:
        """Requests of ``service`` that arrived in ``[start, end)`` and ended with ``outcome``."""
        return sum(
            r.service == service and r.outcome == outcome and start <= r.arrival < end for r in self.requests
        )

    def served_per_second(self, service: str, *, bin_width: float = 1.0) -> tuple[list[float], list[float]]:
        """Completed calls of ``service`` per second, binned by when they finished: the throughput seen."""
        bins = math.ceil(self.duration / bin_width)
        counts = [0] * bins
        for r in self.requests:
            if r.service == service and r.outcome == SERVED:
                index = min(int(r.finished // bin_width), bins - 1)
                counts[index] += 1
        return [i * bin_width for i in range(bins)], [c / bin_width for c in counts]


def simulate_pools(
    *,
    bulkheads: bool,
    seed: int = 3,
    duration: float = 40.0,
    rate: float = 15.0,
    pool_size: int = 10,
    sick_slots: int | None = None,
    slow_window: tuple[float, float] = (10.0, 30.0),
    timeout: float = 3.0,
    max_wait: float = 0.1,
    service_time: tuple[float, float] = (0.02, 0.08),
) -> PoolRun:
    """Run ``duration`` seconds of traffic, ``rate`` calls per second to each service, through the pools.

    Without bulkheads both services share ``pool_size`` slots. With them, payments gets ``sick_slots``
    (half the pool by default) and catalog the rest, so the total is the same and the comparison fair.
    A healthy call takes a uniform time in ``service_time``; a payments call *started* inside
    ``slow_window`` hangs until ``timeout``, holding its slot all that time.
    """
    _check(duration, rate, pool_size, slow_window, timeout, max_wait, service_time)
    if sick_slots is None:
        sick_slots = pool_size // 2
    if bulkheads and not 1 <= sick_slots <= pool_size - 1:
        raise ValueError(f"sick_slots must leave both services a slot: 1 .. {pool_size - 1}, got {sick_slots!r}")
    traffic = _traffic(random.Random(seed), duration, rate, service_time)

    env = simpy.Environment()
    if bulkheads:
        sizes = {HEALTHY: pool_size - sick_slots, SICK: sick_slots}
        pools = {name: simpy.Resource(env, capacity=size) for name, size in sizes.items()}
    else:
        sizes = {"shared": pool_size}
        shared = simpy.Resource(env, capacity=pool_size)
        pools = {name: shared for name in SERVICES}

    done: list[Request] = []

    def call(service: str, arrival: float, work: float):
        yield env.timeout(arrival)
        with pools[service].request() as slot:
            yield slot | env.timeout(max_wait)
            if not slot.triggered:
                done.append(Request(service, arrival, REJECTED, None, env.now))
                return
            started = env.now
            hangs = service == SICK and slow_window[0] <= started < slow_window[1]
            yield env.timeout(timeout if hangs else min(work, timeout))
            done.append(Request(service, arrival, TIMED_OUT if hangs else SERVED, started, env.now))

    for service, arrival, work in traffic:
        env.process(call(service, arrival, work))
    env.run()
    done.sort(key=lambda r: (r.arrival, r.service))
    return PoolRun(
        bulkheads=bulkheads, pool_sizes=sizes, requests=tuple(done), duration=float(duration),
        slow_window=(float(slow_window[0]), float(slow_window[1])), timeout=float(timeout),
    )


def compare_pools(**settings) -> tuple[PoolRun, PoolRun]:
    """The same traffic through one shared pool and through bulkheads: ``(shared, split)``."""
    return simulate_pools(bulkheads=False, **settings), simulate_pools(bulkheads=True, **settings)


def pool_report(runs: Sequence[PoolRun]) -> str:
    """Plain-text counts during the slow window, per run and service: the figure's story in numbers."""
    lines = []
    for run in runs:
        start, end = run.slow_window
        lines.append(f"{run.label}, requests arriving while payments hangs ({start:g} to {end:g} s):")
        for service in SERVICES:
            counts = ", ".join(f"{run.count(service, o, start, end):4d} {o}" for o in OUTCOMES)
            lines.append(f"  {service:>9}: {counts}")
    return "\n".join(lines)


def _traffic(
    rng: random.Random, duration: float, rate: float, service_time: tuple[float, float],
) -> list[tuple[str, float, float]]:
    """Arrival times and healthy service times, per service, drawn before the pools exist."""
    traffic = []
    for service in SERVICES:
        time = rng.expovariate(rate)
        while time < duration:
            traffic.append((service, time, rng.uniform(*service_time)))
            time += rng.expovariate(rate)
    return traffic


def _check(duration, rate, pool_size, slow_window, timeout, max_wait, service_time) -> None:
    for name, value in {"duration": duration, "rate": rate, "timeout": timeout}.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if pool_size < 2:
        raise ValueError(f"pool_size must be at least 2 (a slot per service when split), got {pool_size!r}")
    if max_wait < 0:
        raise ValueError(f"max_wait cannot be negative, got {max_wait!r}")
    if not slow_window[0] <= slow_window[1]:
        raise ValueError(f"slow_window must not end before it starts, got {slow_window!r}")
    if not 0 < service_time[0] <= service_time[1]:
        raise ValueError(f"service_time must be a range of positive times, got {service_time!r}")
