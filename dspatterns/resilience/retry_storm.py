"""A retry storm in simulated time: many clients, one contended resource, five ways to back off.

This reproduces the experiment behind Marc Brooker's AWS Architecture Blog post "Exponential Backoff
and Jitter" (2015). ``clients`` clients each want to update one shared row exactly once, under
optimistic concurrency control: a client reads the row's version, then sends a write carrying that
version, and the write succeeds only if the version is still current, that is, if nobody else's write
landed between the read and the write. A client whose write loses sleeps according to its backoff
strategy and starts over with a fresh read. Two numbers come out of a run: **calls**, the writes the
resource had to judge (the work the storm costs it), and the **completion time**, when the last client
learns that its write went through.

Why simulate instead of running real clients: the effect only shows with a hundred clients and
seconds of backoff, which is slow and noisy on a laptop; here SimPy moves a virtual clock and every
number follows from the seed.

The model and its parameters are those of the AWS simulator
(github.com/aws-samples/aws-arch-backoff-simulator) except for the cap:

* every network hop takes ``|Normal(network_delay, network_spread)|`` seconds, 10 ms ± 2 ms; one
  attempt is four hops (read request, read reply, write request, write reply), about 40 ms;
* retry ``n`` (the one after failed attempt ``n``) is preceded by ``min(cap, base * 2**n)`` seconds of
  exponential backoff, before jitter, with ``base = 5 ms``; like the AWS code the exponent starts at 1,
  so the first retry waits 10 ms. Full jitter draws uniformly below that, equal jitter keeps half and
  draws the other half, decorrelated jitter ignores it and draws from ``[base, 3 * previous sleep]``
  starting at ``previous = base``; every sleep is capped;
* ``cap = 4 s`` where the AWS code used 2 s. With a 2 s cap this model gives the AWS simulator's
  numbers within a few per cent (100 clients, mean of 100 storms: full jitter about 800 calls in
  4.9 s, decorrelated about 1,000 calls in 4.6 s), but at 100 clients decorrelated jitter's lead in
  completion time (about 0.3 s) is then smaller than the run-to-run spread of a single storm (about
  0.5 s), so ten storms per point cannot show it reliably. The doubled cap widens that lead to over a
  second without changing any call count noticeably; only the unjittered exponential line, which
  sleeps at the cap, takes longer (about twice as long).

The simulation is a model of the storm, not a retry helper: sleeps are drawn inside the client
process from a private generator. Writing ``retry_with_backoff`` and its jitters is the exercise.
"""
from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import simpy

from dspatterns.resilience.your_backoff import YourCodeFailed, YourFunctions, first_differing

NO_BACKOFF = "no backoff"
EXPONENTIAL = "exponential"
FULL_JITTER = "full jitter"
EQUAL_JITTER = "equal jitter"
DECORRELATED_JITTER = "decorrelated jitter"
STRATEGIES = (NO_BACKOFF, EXPONENTIAL, FULL_JITTER, EQUAL_JITTER, DECORRELATED_JITTER)
JITTERED = (FULL_JITTER, EQUAL_JITTER, DECORRELATED_JITTER)

BASE = 0.005
CAP = 4.0
NETWORK_DELAY = 0.010
NETWORK_SPREAD = 0.002
DEFAULT_CLIENTS = (1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
DEFAULT_REPEATS = 10


@dataclass(frozen=True)
class StormRun:
    """One storm, kept whole so that a figure can show *when* the calls happened, not just how many.

    ``attempt_times`` holds the instant each write reached the resource, in order; ``finish_times``
    when each client learnt that it had succeeded, in order.
    """

    strategy: str
    clients: int
    attempt_times: tuple[float, ...]
    finish_times: tuple[float, ...]

    @property
    def calls(self) -> int:
        return len(self.attempt_times)

    @property
    def completion_time(self) -> float:
        return self.finish_times[-1]

    @property
    def wasted_calls(self) -> int:
        """Writes that lost the race: pure load on the resource, nothing to show for it."""
        return self.calls - self.clients


@dataclass(frozen=True)
class StormResult:
    """One row of a sweep: a strategy at one client count, averaged over ``repeats`` storms."""

    strategy: str
    clients: int
    calls: float
    completion_time: float
    repeats: int


def simulate_retry_storm(
    clients: int = 100,
    strategy: str = FULL_JITTER,
    *,
    seed: int = 0,
    base: float = BASE,
    cap: float = CAP,
    network_delay: float = NETWORK_DELAY,
    network_spread: float = NETWORK_SPREAD,
    functions: YourFunctions | None = None,
) -> StormRun:
    """Run one storm: ``clients`` clients start together and each retries until its write lands.

    All randomness (network hops and jitter) comes from one ``random.Random(seed)``, so a seed pins
    the whole run. Every client starts at time 0, which is the worst case the post studies: a crowd
    that failed together (after a deploy, a failover, a cache flush) and now retries together.

    ``functions`` (your ``backoff_delay`` and jitters, see ``your_backoff``) compute the sleeps in
    place of the model's: the ceiling before retry ``n`` is ``backoff_delay(n + 1, base,
    "exponential", cap)`` (the AWS exponent starts at 1), jittered by your function on the same rng.
    A failure of yours is raised as ``YourCodeFailed``.
    """
    _check(clients=clients, strategy=strategy, base=base, cap=cap,
           network_delay=network_delay, network_spread=network_spread)
    rng = random.Random(seed)
    env = simpy.Environment()
    row = _Row()
    attempts: list[float] = []
    finishes: list[float] = []

    def hop() -> float:
        return abs(rng.gauss(network_delay, network_spread))

    def client():
        sleeps = _sleeps(strategy, rng, base, cap) if functions is None else _your_sleeps(
            strategy, rng, base, cap, functions)
        until_read = hop()
        while True:
            read_to_write = hop() + hop()  # the read's reply travels back, the write travels out
            yield env.timeout(until_read + read_to_write)
            read_at = env.now - read_to_write
            attempts.append(env.now)
            if row.unchanged_since(read_at):
                row.commit(env.now)
                finishes.append(env.now + hop())
                return
            until_read = hop() + next(sleeps) + hop()  # the refusal travels back, sleep, read again

    for _ in range(clients):
        env.process(client())
    env.run()
    return StormRun(strategy, clients, tuple(attempts), tuple(sorted(finishes)))


def retry_storm_sweep(
    clients: Sequence[int] = DEFAULT_CLIENTS,
    strategies: Sequence[str] = STRATEGIES,
    *,
    seed: int = 0,
    repeats: int = DEFAULT_REPEATS,
    base: float = BASE,
    cap: float = CAP,
    network_delay: float = NETWORK_DELAY,
    network_spread: float = NETWORK_SPREAD,
) -> list[StormResult]:
    """Calls and completion time for every strategy at every client count: the data of the post's figures.

    Each point averages ``repeats`` storms, because the completion time hangs on the unluckiest
    client and varies from run to run by about a tenth; the call counts are much steadier. Storm
    ``r`` at a given client count uses the same seed for every strategy, so strategies are compared
    on equal terms. The rows come out strategy by strategy, client counts ascending.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats!r}")
    if not clients:
        raise ValueError("clients must name at least one client count")
    rows = []
    for strategy in strategies:
        for count in sorted(set(clients)):
            runs = [
                simulate_retry_storm(
                    count, strategy, seed=_storm_seed(seed, count, r), base=base, cap=cap,
                    network_delay=network_delay, network_spread=network_spread,
                )
                for r in range(repeats)
            ]
            rows.append(StormResult(
                strategy=strategy, clients=count,
                calls=statistics.fmean(run.calls for run in runs),
                completion_time=statistics.fmean(run.completion_time for run in runs),
                repeats=repeats,
            ))
    return rows


def result_table(results: Sequence[StormResult], clients: int) -> str:
    """A plain-text table of one client count, for readers without a live plot."""
    chosen = [r for r in results if r.clients == clients]
    if not chosen:
        raise ValueError(f"no results for {clients} clients")
    lines = [f"{'strategy':<22}{'calls':>8}{'completion (s)':>16}"]
    lines += [f"{r.strategy:<22}{r.calls:>8,.0f}{r.completion_time:>16.2f}" for r in chosen]
    return "\n".join(lines)


class _Row:
    """The contended row. Its version changes on every commit, so "the version I read is still
    current" is the same as "nobody committed after I read", which is what is checked."""

    def __init__(self) -> None:
        self.version = 0
        self._last_commit = -math.inf

    def unchanged_since(self, read_at: float) -> bool:
        return self._last_commit <= read_at

    def commit(self, now: float) -> None:
        self.version += 1
        self._last_commit = now


def _sleeps(strategy: str, rng: random.Random, base: float, cap: float) -> Iterator[float]:
    """The sleeps before retries 1, 2, 3, ... of one client; decorrelated jitter needs the previous one."""
    previous = base
    retry = 0
    while True:
        retry += 1
        ceiling = min(cap, base * 2.0 ** min(retry, 60))
        if strategy == NO_BACKOFF:
            yield 0.0
        elif strategy == EXPONENTIAL:
            yield ceiling
        elif strategy == FULL_JITTER:
            yield rng.uniform(0.0, ceiling)
        elif strategy == EQUAL_JITTER:
            yield ceiling / 2 + rng.uniform(0.0, ceiling / 2)
        else:
            previous = min(cap, rng.uniform(base, 3 * previous))
            yield previous


def _your_sleeps(strategy: str, rng: random.Random, base: float, cap: float, functions: YourFunctions
                 ) -> Iterator[float]:
    """``_sleeps`` with your functions: the same arguments, in the same order, on the same rng."""
    previous = base
    retry = 0
    while True:
        retry += 1
        if strategy == NO_BACKOFF:
            yield 0.0
            continue
        if strategy == DECORRELATED_JITTER:
            previous = functions.decorrelated(previous, base, cap, rng)
            yield previous
            continue
        ceiling = functions.delay(retry + 1, base, "exponential", cap)
        if strategy == EXPONENTIAL:
            yield ceiling
        elif strategy == FULL_JITTER:
            yield functions.full(ceiling, rng)
        else:
            yield functions.equal(ceiling, rng)


@dataclass(frozen=True)
class StormComparison:
    """The model's storm and yours on the same seed, and the first write whose time differs."""

    model: StormRun
    yours: StormRun | None
    first_difference: int | None = None  # index into the attempt times
    problem: str | None = None
    given: str = ""

    @property
    def text(self) -> str:
        if self.problem is not None:
            return self.problem + "."
        if self.first_difference is None:
            return (f"all {self.model.calls:,} writes reach the resource at the model's times, to float "
                    "rounding.")
        k, model, yours = self.first_difference, self.model.attempt_times, self.yours.attempt_times
        theirs = f"{model[k]:.4f} s" if k < len(model) else "never (the model's storm is over)"
        mine = f"{yours[k]:.4f} s" if k < len(yours) else "never (your storm is over)"
        return (f"write {k + 1} is the first to differ: the model's reaches the resource at {theirs}, yours at "
                f"{mine}; yours makes {self.yours.calls:,} calls in all and is done at "
                f"{self.yours.completion_time:.2f} s, the model {self.model.calls:,} and {self.model.completion_time:.2f} s.")


def compare_retry_storm(functions: YourFunctions, clients: int = 100, strategy: str = FULL_JITTER, *,
                        seed: int = 0, base: float = BASE, cap: float = CAP) -> StormComparison:
    """One storm with the model's sleeps and one with yours, on the same seed: where do they part?

    Both storms draw network hops and jitter from one ``random.Random(seed)``, so until your functions
    return a different sleep, or draw from the rng a different number of times, every write lands at
    the same instant. "Differ" is the first write (in the order they reach the resource) whose time is
    not the model's to float rounding.
    """
    model = simulate_retry_storm(clients, strategy, seed=seed, base=base, cap=cap)
    try:
        yours = simulate_retry_storm(clients, strategy, seed=seed, base=base, cap=cap, functions=functions)
    except YourCodeFailed as failed:
        return StormComparison(model, None, problem=str(failed), given=functions.describe_given())
    return StormComparison(model, yours, first_differing(yours.attempt_times, model.attempt_times),
                           given=functions.describe_given())


def _storm_seed(seed: int, clients: int, repeat: int) -> int:
    # A string seed is hashed with SHA-512 by random.Random, so this is stable across processes.
    return random.Random(f"retry-storm/{seed}/{clients}/{repeat}").getrandbits(64)


def _check(*, clients, strategy, base, cap, network_delay, network_spread) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not isinstance(clients, int) or clients < 1:
        raise ValueError(f"clients must be a positive whole number, got {clients!r}")
    if not base > 0:
        raise ValueError(f"base must be positive, got {base!r}")
    if not cap >= base:
        raise ValueError(f"cap must be at least base ({base!r}), got {cap!r}")
    if not network_delay > 0 or not network_spread >= 0:
        raise ValueError("network_delay must be positive and network_spread not negative")
