"""Cache stampedes in simulated time: the load on the database when hot keys expire, and three defences.

A cached value saves the database one query per request only while it is fresh. At the instant a hot
key expires, every request for it misses, and with plain cache-aside every one of them queries the
database for the same value, for as long as that query takes: a *stampede* (or *dog-pile*). The
simulation here replays seeded Poisson traffic from many clients on a few equally hot keys, all written
at t = 0, and records every query that reaches the database, so a figure can plot that load over time.

The strategies, each a rule for what a request does when it finds the key:

* ``no protection``: a request that finds no fresh value queries the database itself.
* ``single flight``: the first such request queries it; the others wait for that query's result, so each
  expiry costs one query. (This is what the exercise's ``CacheAside`` does within one process.)
* ``XFetch`` (probabilistic early expiration; Vattani, Chierichetti and Lowenstein, 2015): a request
  that finds a *fresh* value still recomputes it early when ``now - delta * beta * ln(rand()) >=
  expiry``, where ``delta`` is how long the recomputation takes and ``rand()`` is uniform on (0, 1]. The
  closer the expiry, and the more requests there are, the likelier one of them recomputes first, so the
  value is usually replaced before it expires and nobody misses. ``beta`` > 1 recomputes earlier. No
  lock is taken: now and then two requests recompute at once.

TTL jitter is a separate knob that works with all three: each store draws its TTL uniformly from
``[ttl * (1 - jitter), ttl]`` (never longer than the TTL chosen, so the staleness bound still holds).
Keys written together with one TTL expire together, and their misses add up; jitter spreads them out.
"""
from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dspatterns.student_code import describe
from dspatterns.testing import FakeClock

NO_PROTECTION = "no protection"
SINGLE_FLIGHT = "single flight"
XFETCH = "XFetch"
STRATEGIES = (NO_PROTECTION, SINGLE_FLIGHT, XFETCH)
MISS, EARLY = "miss", "early"  # why a query reached the database


@dataclass(frozen=True)
class Query:
    """One query that reached the database: which key, when it started, and why."""

    key: int
    start: float
    reason: str  # MISS: the request found no fresh value; EARLY: XFetch recomputed a fresh one


@dataclass(frozen=True)
class StampedeRun:
    """Everything one simulated run did: the queries, the misses, and when each stored value expired."""

    strategy: str
    queries: tuple[Query, ...]
    miss_times: tuple[float, ...]  # requests that found no fresh value (they queried or waited)
    expiries: tuple[tuple[int, float], ...]  # (key, expiry) of every value stored, initial ones included
    requests: int
    duration: float
    recompute: float
    settings: dict = field(default_factory=dict)

    def per_bin(self, times, bin_width: float = 0.25) -> list[int]:
        counts = [0] * math.ceil(self.duration / bin_width)
        for t in times:
            counts[min(int(t / bin_width), len(counts) - 1)] += 1
        return counts

    def load_per_bin(self, bin_width: float = 0.25) -> list[int]:
        """Queries started in each ``bin_width``-second bin: the load the database sees over time."""
        return self.per_bin((q.start for q in self.queries), bin_width)

    def peak_load(self, bin_width: float = 0.25) -> int:
        return max(self.load_per_bin(bin_width), default=0)


def simulate(strategy: str, *, clients: int = 200, rate: float = 1.0, recompute: float = 0.5,
             ttl: float = 10.0, keys: int = 10, beta: float = 1.0, jitter: float = 0.0,
             duration: float = 40.0, seed: int = 0) -> StampedeRun:
    """Replay ``clients`` clients, each sending ``rate`` requests per second on average, for ``duration``.

    Every request asks for one of ``keys`` equally popular keys. A database query takes ``recompute``
    seconds; its result is stored when it returns, with a fresh TTL (jittered as described above). Two
    runs with the same seed see the same requests, whatever the strategy, so they compare like for like.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter is a fraction of the TTL in [0, 1), not {jitter!r}")
    traffic = random.Random(seed)  # the requests: the same for every strategy
    ttls = random.Random(f"{seed}-ttl")  # the TTL draws: the same stores draw the same TTLs
    coins = random.Random(f"{seed}-xfetch")  # XFetch's rand()

    def stored_ttl() -> float:
        return ttl * (1.0 - jitter * ttls.random())

    expiry = {key: stored_ttl() for key in range(keys)}  # all written at t = 0: a warm cache
    expiries = [(key, expiry[key]) for key in range(keys)]
    in_flight: dict[int, int] = dict.fromkeys(range(keys), 0)
    returning: list[tuple[float, int]] = []  # (when a query returns, key), a heap
    queries, misses = [], []
    total_rate = clients * rate
    now, requests = 0.0, 0

    def start_query(key: int, reason: str) -> None:
        queries.append(Query(key, now, reason))
        in_flight[key] += 1
        heapq.heappush(returning, (now + recompute, key))

    while True:
        now += traffic.expovariate(total_rate)
        if now >= duration:
            break
        key = traffic.randrange(keys)
        requests += 1
        while returning and returning[0][0] <= now:
            done, stored = heapq.heappop(returning)
            in_flight[stored] -= 1
            expiry[stored] = done + stored_ttl()
            expiries.append((stored, expiry[stored]))
        if now < expiry[key]:
            if strategy == XFETCH and now - recompute * beta * math.log(1.0 - coins.random()) >= expiry[key]:
                start_query(key, EARLY)
            continue
        misses.append(now)
        if strategy == SINGLE_FLIGHT and in_flight[key]:
            continue  # wait for the query already on its way
        start_query(key, MISS)
    settings = {"clients": clients, "rate": rate, "recompute": recompute, "ttl": ttl, "keys": keys,
                "beta": beta, "jitter": jitter, "seed": seed}
    return StampedeRun(strategy, tuple(queries), tuple(misses), tuple(expiries), requests, duration,
                       recompute, settings)


def compare_strategies(**settings) -> dict[str, StampedeRun]:
    """Every strategy on the same requests (same seed and settings)."""
    return {strategy: simulate(strategy, **settings) for strategy in STRATEGIES}


def stampede_table(runs: dict[str, StampedeRun], bin_width: float = 0.25) -> str:
    """One line per strategy: queries, misses, peak load; plain text for the notebook."""
    lines = [f"{'strategy':>14} {'requests':>9} {'queries':>8} {'misses':>7} {'peak per ' + str(bin_width) + ' s':>15}"]
    for strategy, run in runs.items():
        lines.append(f"{strategy:>14} {run.requests:>9} {len(run.queries):>8} {len(run.miss_times):>7} "
                     f"{run.peak_load(bin_width):>15}")
    return "\n".join(lines)


# --- your CacheAside under real threads -------------------------------------------------------------

@dataclass(frozen=True)
class ThreadedStampede:
    """What a class did when ``callers`` threads missed one key at once: loads, and the first problem."""

    callers: int
    loads: int | None = None
    wrong_values: int = 0
    problem: str | None = None  # one sentence when the class could not be run, else None

    @property
    def text(self) -> str:
        if self.problem is not None:
            return self.problem
        text = f"{self.callers} threads missed one key at once: your class called load {self.loads} time(s)"
        if self.wrong_values:
            text += f", and {self.wrong_values} caller(s) got a value other than load's"
        return text + (" (single flight: 1)" if self.loads != 1 else ", as single flight should")


class _PlainDictCache:
    """A cache with no expiry and no capacity, for a ``CacheAside`` handed over without its ``TTLCache``."""

    def __init__(self) -> None:
        self._values: dict = {}
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            return self._values.get(key, default)

    def set(self, key, value, ttl=None) -> None:
        with self._lock:
            self._values[key] = value

    def delete(self, key) -> None:
        with self._lock:
            self._values.pop(key, None)


def threaded_stampede(cache_aside_class: type, ttl_cache_class: type | None = None, *, callers: int = 16,
                      wait: float = 2.0, clock: Callable[[], float] | None = None) -> ThreadedStampede:
    """Real threads call ``get("hot")`` on one cache-aside object at once; count the loads.

    The load blocks until every caller has arrived (at most ``wait`` seconds), then a moment longer so
    that the last arrival reaches the cache: without single flight every caller has missed by then and
    loads the key itself; with it, one load runs and the others wait for its value. The wait is bounded,
    so a class that serialises callers behind one lock still finishes, with its count.
    """
    name = getattr(cache_aside_class, "__name__", repr(cache_aside_class))
    try:
        if ttl_cache_class is None:
            cache = _PlainDictCache()
        else:
            cache = ttl_cache_class(100, 60.0, clock=clock or FakeClock())  # nothing expires while they run
    except Exception as error:  # noqa: BLE001 - any failure of student code becomes a sentence
        cache_name = getattr(ttl_cache_class, "__name__", repr(ttl_cache_class))
        return ThreadedStampede(callers, problem=f"your {cache_name}(100, 60.0, clock=...) raised {describe(error)}")
    lock, loads, arrived = threading.Lock(), [0], [0]
    everyone = threading.Event()

    def load(key):
        with lock:
            loads[0] += 1
        everyone.wait(wait)
        time.sleep(0.05)  # only a grace for the last arrival to reach the cache; nothing is timed
        return f"value of {key}"

    try:
        aside = cache_aside_class(cache, load)
    except Exception as error:  # noqa: BLE001
        return ThreadedStampede(callers, problem=f"your {name}(cache, load) raised {describe(error)}")
    results: list = [None] * callers
    errors: list[BaseException] = []

    def caller(index: int) -> None:
        with lock:
            arrived[0] += 1
            if arrived[0] == callers:
                everyone.set()
        try:
            results[index] = aside.get("hot")
        except BaseException as error:  # noqa: BLE001 - reported, not raised in a thread
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(wait * 3 + 1.0)
    if any(thread.is_alive() for thread in threads):
        return ThreadedStampede(callers, loads[0], problem=(
            f"your {name}.get('hot') did not return within {wait * 3 + 1.0:g} s in some threads "
            f"(a waiter that is never woken?); load was called {loads[0]} time(s)"))
    if errors:
        return ThreadedStampede(callers, loads[0], problem=f"your {name}.get('hot') raised {describe(errors[0])}")
    wrong = sum(result != "value of hot" for result in results)
    return ThreadedStampede(callers, loads[0], wrong)
