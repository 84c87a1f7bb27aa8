"""How a client-side balancer's policy decides how busy the busiest instance gets.

Requests arrive as a seeded Poisson stream over virtual time, each with a cost (its service time), and
the balancer sends each one to an instance as it arrives. An instance works on its requests in arrival
order, ``workers`` at a time; a request holds its connection until it is done, so the instance's
*outstanding* count (queued plus in service) is what "least connections" reads. Four policies:

* random: any instance, uniformly;
* round robin: the next instance in turn, blind to load, so counts come out even but load need not;
* least connections: the instance with the fewest outstanding requests (ties go round robin);
* power of two choices: two distinct instances at random, the less loaded of them (Mitzenmacher).

Under uneven costs (exponential, or heavy-tailed Pareto) one long request piles the requests behind
it up on one instance; policies that look at load steer around it. The request stream (arrivals and
costs) is drawn from the seed before any policy runs, so every policy sees exactly the same requests
and any difference between runs comes from the policy. The policies' own coin flips come from a
second generator, also derived from the seed.

``balls_into_bins`` is the static version behind the two-choice idea: ``n`` balls into ``n`` bins, each
ball going to the least loaded of ``d`` bins picked at random. With ``d = 1`` the fullest bin holds
about ``ln n / ln ln n`` balls; with ``d = 2`` about ``ln ln n / ln 2``, an exponential improvement
(Azar, Broder, Karlin and Upfal 1994; Mitzenmacher 1996). The tests check both on fixed seeds.
"""
from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

RANDOM, ROUND_ROBIN = "random", "round robin"
LEAST_CONNECTIONS, TWO_CHOICES = "least connections", "power of two choices"
POLICIES = (RANDOM, ROUND_ROBIN, LEAST_CONNECTIONS, TWO_CHOICES)

PARETO_SHAPE = 1.5  # heavy-tailed: finite mean, infinite variance


def constant_cost(rng: random.Random) -> float:
    return 1.0


def exponential_cost(rng: random.Random) -> float:
    return rng.expovariate(1.0)


def pareto_cost(rng: random.Random) -> float:
    """Pareto with shape 1.5, scaled to mean 1: most requests are cheap, a few take very long."""
    return rng.paretovariate(PARETO_SHAPE) * (PARETO_SHAPE - 1) / PARETO_SHAPE


COSTS: Mapping[str, Callable[[random.Random], float]] = {
    "constant": constant_cost, "exponential": exponential_cost, "pareto": pareto_cost,
}


@dataclass(frozen=True)
class Served:
    """One request: when it arrived, how long it needed, where it went, and when it was done."""

    arrival: float
    cost: float
    instance: int  # an index into ``BalancingRun.instances``
    finished: float

    @property
    def response_time(self) -> float:
        return self.finished - self.arrival


@dataclass(frozen=True)
class BalancingRun:
    """One policy over one request stream: the load every instance carried, sampled at every arrival."""

    policy: str
    instances: tuple[str, ...]
    cost: str
    load: float  # offered utilisation: arrival rate x mean cost / (instances x workers)
    workers: int
    times: tuple[float, ...]  # arrival times
    outstanding: tuple[tuple[int, ...], ...]  # per arrival, per instance, just after the pick
    requests: tuple[Served, ...]

    @property
    def max_load(self) -> tuple[int, ...]:
        """Per instance, the most requests it held at once (a peak always follows an arrival)."""
        return tuple(max(column, default=0) for column in zip(*self.outstanding)) or (0,) * len(self.instances)

    @property
    def peak(self) -> int:
        """The busiest moment of the busiest instance."""
        return max(self.max_load)

    @property
    def handed_out(self) -> tuple[int, ...]:
        """Per instance, how many requests it was sent."""
        counts = [0] * len(self.instances)
        for request in self.requests:
            counts[request.instance] += 1
        return tuple(counts)

    def load_of(self, instance: int) -> list[int]:
        """One instance's outstanding requests at every arrival: one line of the figure."""
        return [row[instance] for row in self.outstanding]

    @property
    def mean_response(self) -> float:
        return sum(r.response_time for r in self.requests) / len(self.requests)

    def response_quantile(self, q: float) -> float:
        ordered = sorted(r.response_time for r in self.requests)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def request_stream(
    requests: int, rate: float, *, seed: int, cost: str | Callable[[random.Random], float] = "exponential",
) -> tuple[tuple[float, float], ...]:
    """``(arrival, cost)`` for each request: Poisson arrivals at ``rate`` per second, costs drawn alongside."""
    draw = _cost_function(cost)
    rng = random.Random(seed)
    stream = []
    time = 0.0
    for _ in range(requests):
        time += rng.expovariate(rate)
        stream.append((time, draw(rng)))
    return tuple(stream)


def balancing_study(
    policy: str,
    instances: int | Sequence[str],
    requests: int,
    *,
    seed: int,
    cost: str | Callable[[random.Random], float] = "exponential",
    load: float = 0.8,
    workers: int = 1,
) -> BalancingRun:
    """Send ``requests`` requests through ``policy`` to the instances and record their load over time.

    ``load`` is the offered utilisation, assuming the mean cost is 1 (true of every named cost; a
    callable ``cost`` should keep to it): requests arrive at ``load x instances x workers`` per second.
    """
    names = _instance_names(instances)
    _check(policy, names, requests, load, workers)
    stream = request_stream(requests, load * len(names) * workers, seed=seed, cost=cost)
    return _run(policy, names, stream, workers, random.Random(f"policy-{seed}"),
                cost if isinstance(cost, str) else getattr(cost, "__name__", "custom"), load)


def compare_policies(
    instances: int | Sequence[str], requests: int, *, seed: int, policies: Sequence[str] = POLICIES, **settings,
) -> dict[str, BalancingRun]:
    """Every policy on the same request stream, keyed by policy, in ``policies`` order."""
    return {policy: balancing_study(policy, instances, requests, seed=seed, **settings) for policy in policies}


def balancing_report(runs: Mapping[str, BalancingRun]) -> str:
    """Plain-text peak load, requests handed out and response times per policy: the figure in numbers."""
    lines = []
    for policy, run in runs.items():
        lines.append(
            f"{policy:>22}: busiest instance held {run.peak:3d} at once; per instance {list(run.max_load)}; "
            f"handed out {min(run.handed_out)}-{max(run.handed_out)}; mean response {run.mean_response:6.2f} s, "
            f"p99 {run.response_quantile(0.99):6.2f} s"
        )
    return "\n".join(lines)


def _run(policy, names, stream, workers, rng, cost_label, load) -> BalancingRun:
    count = len(names)
    pending: list[list[float]] = [[] for _ in range(count)]  # finish times of each instance's open requests
    free_at = [[0.0] * workers for _ in range(count)]  # when each of an instance's workers is next free
    choose = _chooser(policy, count, rng)
    times, rows, served = [], [], []
    for arrival, cost in stream:
        for heap in pending:
            while heap and heap[0] <= arrival:  # done by now: its connection is released before the pick
                heapq.heappop(heap)
        outstanding = [len(heap) for heap in pending]
        target = choose(outstanding)
        finished = max(arrival, heapq.heappop(free_at[target])) + cost
        heapq.heappush(free_at[target], finished)
        heapq.heappush(pending[target], finished)
        outstanding[target] += 1
        times.append(arrival)
        rows.append(tuple(outstanding))
        served.append(Served(arrival, cost, target, finished))
    return BalancingRun(
        policy=policy, instances=names, cost=cost_label, load=float(load), workers=workers,
        times=tuple(times), outstanding=tuple(rows), requests=tuple(served),
    )


def _chooser(policy: str, count: int, rng: random.Random) -> Callable[[list[int]], int]:
    """The policy as a function from outstanding counts to an instance index (with its own state)."""
    cursor = 0

    def random_pick(outstanding):
        return rng.randrange(count)

    def round_robin(outstanding):
        nonlocal cursor
        pick, cursor = cursor, (cursor + 1) % count
        return pick

    def least_connections(outstanding):
        nonlocal cursor
        fewest = min(outstanding)
        pick = next(i % count for i in range(cursor, cursor + count) if outstanding[i % count] == fewest)
        cursor = (pick + 1) % count
        return pick

    def two_choices(outstanding):
        if count == 1:
            return 0
        first, second = rng.sample(range(count), 2)
        return second if outstanding[second] < outstanding[first] else first

    return {RANDOM: random_pick, ROUND_ROBIN: round_robin, LEAST_CONNECTIONS: least_connections,
            TWO_CHOICES: two_choices}[policy]


# --- balls into bins ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BinsOutcome:
    """``balls`` balls thrown into ``bins`` bins, each to the least loaded of ``choices`` random bins."""

    balls: int
    bins: int
    choices: int
    bins_with_load: tuple[int, ...]  # index k: how many bins ended with exactly k balls

    @property
    def max_load(self) -> int:
        return len(self.bins_with_load) - 1

    def at_least(self, load: int) -> float:
        """The fraction of bins holding ``load`` balls or more: comparable with ``fluid_limit``."""
        return sum(self.bins_with_load[load:]) / self.bins

    @property
    def predicted_max_load(self) -> float:
        """The leading term for ``balls == bins``: ln n / ln ln n for one choice, ln ln n / ln d for d >= 2."""
        n = self.bins
        if self.choices == 1:
            return math.log(n) / math.log(math.log(n))
        return math.log(math.log(n)) / math.log(self.choices)


def balls_into_bins(balls: int, bins: int, *, choices: int, seed: int) -> BinsOutcome:
    """Throw the balls one by one; each picks ``choices`` bins independently and joins the emptiest.

    Ties go to the bin drawn first, which is as good as random since the draws are.
    """
    if balls < 0 or bins < 1 or choices < 1:
        raise ValueError(f"need balls >= 0, bins >= 1, choices >= 1; got {balls!r}, {bins!r}, {choices!r}")
    rng = random.Random(seed)
    loads = [0] * bins
    pick = rng.randrange
    for _ in range(balls):
        best = pick(bins)
        for _ in range(choices - 1):
            other = pick(bins)
            if loads[other] < loads[best]:
                best = other
        loads[best] += 1
    histogram = [0] * (max(loads) + 1)
    for load in loads:
        histogram[load] += 1
    return BinsOutcome(balls=balls, bins=bins, choices=choices, bins_with_load=tuple(histogram))


def fluid_limit(levels: int, *, choices: int, balls_per_bin: float = 1.0, steps: int = 2000) -> tuple[float, ...]:
    """The fraction of bins holding at least ``i`` balls, ``i = 0 .. levels``, as the number of bins grows.

    Mitzenmacher's (1996) differential equations, ``ds_i/dt = s_(i-1)^d - s_i^d`` with ``s_0 = 1``: a
    ball lands on a bin of load ``i - 1`` exactly when all ``d`` of its picks have load ``>= i - 1`` but
    not all ``>= i``. Solved by Runge-Kutta up to ``t = balls_per_bin``. With one choice this is the
    Poisson tail; with two, ``s_1 = tanh(1)`` and from then on the tail roughly squares at every
    level, which is where ``ln ln n / ln 2`` comes from.
    """
    if levels < 0 or choices < 1 or balls_per_bin < 0 or steps < 1:
        raise ValueError("need levels >= 0, choices >= 1, balls_per_bin >= 0, steps >= 1")
    d, h = choices, balls_per_bin / steps

    def slope(s: list[float]) -> list[float]:
        return [0.0] + [s[i - 1] ** d - s[i] ** d for i in range(1, len(s))]

    s = [1.0] + [0.0] * levels
    for _ in range(steps):
        k1 = slope(s)
        k2 = slope([a + h / 2 * b for a, b in zip(s, k1)])
        k3 = slope([a + h / 2 * b for a, b in zip(s, k2)])
        k4 = slope([a + h * b for a, b in zip(s, k3)])
        s = [a + h / 6 * (b + 2 * c + 2 * e + g) for a, b, c, e, g in zip(s, k1, k2, k3, k4)]
    return tuple(s)


def _instance_names(instances: int | Sequence[str]) -> tuple[str, ...]:
    if isinstance(instances, int):
        return tuple(f"instance-{i}" for i in range(instances))
    return tuple(instances)


def _cost_function(cost: str | Callable[[random.Random], float]) -> Callable[[random.Random], float]:
    if callable(cost):
        return cost
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {sorted(COSTS)} or a function of a random.Random, got {cost!r}")
    return COSTS[cost]


def _check(policy, names, requests, load, workers) -> None:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if not names or len(set(names)) != len(names):
        raise ValueError(f"need at least one instance, each named once, got {list(names)!r}")
    if requests < 1:
        raise ValueError(f"requests must be at least 1, got {requests!r}")
    if not load > 0:
        raise ValueError(f"load must be positive, got {load!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
