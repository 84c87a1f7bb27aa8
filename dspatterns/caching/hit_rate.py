"""How often a cache of a given size and TTL hits, on a Zipf workload: simulated, and by Che's approximation.

A cache is worth what its hit rate is worth, and the hit rate depends on the workload far more than on
the cache: a few keys take most requests (Zipf's law: the key of rank ``i`` is asked for in proportion
to ``1 / i**skew``), so a cache holding a small fraction of the keys can answer most requests. This
module draws seeded Zipf traces, replays them through two tiny cache models (one request at a time,
with an ``OrderedDict``), and computes Che's approximation of the LRU hit rate, so that a figure or a
test can put the simulation beside the formula.

The two models, both with the same TTL rule as the exercise (an entry whose age reaches its TTL is
gone; a hit does not restart the TTL, only a store does):

* **LRU**: beyond ``size`` live entries, the least recently used one goes (a hit or a store is a use).
  Expired entries are dropped before any live one.
* **No eviction**: the first ``size`` keys that miss are admitted and stay, never evicted; a key that
  misses while the cache is full is fetched but not stored. With a TTL an expired entry frees its slot
  and the next miss takes it. This is the cache people write with a plain dict and a size check.

Requests arrive at a steady ``rate`` per second (request ``n`` at ``n / rate``), so a TTL in seconds
means "``ttl * rate`` requests". The default rate is 128 a second, a power of two, so that every time
and every whole or half-second TTL is exact in floating point: whether an entry has reached its TTL
never depends on rounding, however a cache writes the comparison (``now - stored >= ttl`` or
``now >= stored + ttl``); the hit rate is counted after a warm-up, because Che's
approximation describes a cache in its steady state, not one that starts empty.
"""
from __future__ import annotations

import bisect
import functools
import math
import random
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

LRU = "LRU"
NO_EVICTION = "no eviction"
POLICIES = (LRU, NO_EVICTION)
NO_TTL = math.inf


def zipf_popularity(keys: int, skew: float) -> list[float]:
    """The request probability of each key by rank: ``p_i`` proportional to ``1 / i**skew``, summing to 1."""
    if keys < 1:
        raise ValueError(f"need at least one key, not {keys}")
    weights = [1.0 / (rank ** skew) for rank in range(1, keys + 1)]
    total = sum(weights)
    return [weight / total for weight in weights]


def zipf_trace(requests: int, keys: int, skew: float, *, seed: int = 0) -> list[int]:
    """``requests`` key ranks (0 is the most popular) drawn independently from the Zipf popularity."""
    cumulative, running = [], 0.0
    for p in zipf_popularity(keys, skew):
        running += p
        cumulative.append(running)
    rng = random.Random(seed)
    last = keys - 1
    return [min(bisect.bisect_left(cumulative, rng.random()), last) for _ in range(requests)]


@functools.lru_cache(maxsize=32)
def _remembered_trace(requests: int, keys: int, skew: float, seed: int) -> tuple[int, ...]:
    return tuple(zipf_trace(requests, keys, skew, seed=seed))


def replay(trace: Sequence[int], size: int, *, ttl: float = NO_TTL, rate: float = 128.0,
           policy: str = LRU) -> list[bool]:
    """Hit (True) or miss (False) for each request of ``trace``, through a cache model of ``size`` entries.

    A miss stores the key (its TTL starts then), as cache-aside does after loading it.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    lru = policy == LRU
    stored_at: OrderedDict[int, float] = OrderedDict()  # key -> when it was stored; order = recency for LRU
    by_store_time: deque[tuple[float, int]] = deque()  # every store in time order, to find expired ones fast
    expires = not math.isinf(ttl)
    get, touch, outcomes = stored_at.get, stored_at.move_to_end, []
    hit, miss = outcomes.append, outcomes.append  # one list; two names only to read the loop as prose
    for n, key in enumerate(trace):
        now = n / rate
        when = get(key)
        if when is not None and now - when < ttl:
            hit(True)
            if lru:
                touch(key)
            continue
        miss(False)
        if when is not None:  # expired: a store restarts it in place
            del stored_at[key]
        if expires:
            while len(stored_at) >= size and by_store_time and now - by_store_time[0][0] >= ttl:
                stored, old = by_store_time.popleft()  # expired entries go before any live one
                if get(old) == stored:
                    del stored_at[old]
        if len(stored_at) < size:
            stored_at[key] = now
        elif lru and size > 0:
            stored_at.popitem(last=False)
            stored_at[key] = now
        else:
            continue
        if expires:
            by_store_time.append((now, key))
    return outcomes


def hit_rate(outcomes: Sequence[bool], warmup: int = 0) -> float:
    """The share of hits among the requests after the first ``warmup``."""
    counted = outcomes[warmup:]
    return sum(counted) / len(counted) if counted else 0.0


def che_characteristic_time(popularity: Sequence[float], size: float) -> float:
    """Che's characteristic time ``T``: the root of ``sum_i (1 - exp(-p_i T)) = size``, in requests.

    ``T`` is how long (counted in requests) a key survives in an LRU cache after its last request. Che,
    Tung and Wang (2002) observed that for a large cache it is nearly the same for every key, so each key
    is a hit if it is asked for again within ``T``. The left side grows from 0 to the number of keys, so
    there is one root for ``0 < size < keys``.
    """
    if not 0 < size < len(popularity):
        raise ValueError(f"Che's time needs 0 < size < keys ({len(popularity)}), not {size}")
    # The left side is increasing and concave in T, so Newton's method started at T = 0 climbs to the
    # root from below without overshooting, and converges in a few dozen steps at most.
    t = 0.0
    for _ in range(500):
        excess = _occupancy(popularity, t) - size
        slope = sum(p * math.exp(-p * t) for p in popularity)
        step = -excess / slope
        t += step
        if step <= 1e-12 * t:
            break
    return t


def _occupancy(popularity: Sequence[float], t: float) -> float:
    return sum(-math.expm1(-p * t) for p in popularity)


def che_hit_rate(popularity: Sequence[float], size: float) -> float:
    """Che's approximation of the LRU hit rate: ``sum_i p_i (1 - exp(-p_i T))`` with ``T`` as above."""
    if size <= 0:
        return 0.0
    if size >= len(popularity):
        return 1.0
    return _che_zipf(tuple(popularity), size)


@functools.lru_cache(maxsize=256)
def _che_zipf(popularity: tuple[float, ...], size: float) -> float:
    # remembered: a slider move that changes only the TTL or the policy must not solve it again
    t = che_characteristic_time(popularity, size)
    return sum(p * -math.expm1(-p * t) for p in popularity)


@dataclass(frozen=True)
class HitRateCurve:
    """Hit rates over cache sizes for one workload: each policy simulated, and Che's LRU formula."""

    sizes: tuple[int, ...]
    simulated: dict[str, tuple[float, ...]]  # policy -> hit rate at each size
    che: tuple[float, ...]
    keys: int
    skew: float
    ttl: float
    requests: int
    warmup: int
    seed: int

    def relative_errors(self) -> tuple[float, ...]:
        """|simulated LRU - Che| / simulated LRU at each size."""
        return tuple(abs(sim - che) / sim for sim, che in zip(self.simulated[LRU], self.che))


NOTEBOOK_SIZES = (10, 25, 50, 100, 200, 400)  # the sizes the notebook shows, out of 1,000 keys


def hit_rate_curve(*, skew: float = 0.8, keys: int = 1_000, sizes: Sequence[int] = NOTEBOOK_SIZES,
                   ttl: float = NO_TTL, rate: float = 128.0, requests: int = 8_000, warmup: int = 1_000,
                   seed: int = 0) -> HitRateCurve:
    """Simulate both policies at every size on one seeded trace, and Che's formula beside them.

    Che's formula has no TTL in it: with a finite TTL it is still the LRU curve without one, an upper
    bound the TTL pulls the simulation below.
    """
    trace = _remembered_trace(requests, keys, skew, seed)
    popularity = zipf_popularity(keys, skew)
    simulated = {policy: tuple(hit_rate(replay(trace, size, ttl=ttl, rate=rate, policy=policy), warmup)
                               for size in sizes) for policy in POLICIES}
    return HitRateCurve(tuple(sizes), simulated, tuple(che_hit_rate(popularity, size) for size in sizes),
                        keys, skew, ttl, requests, warmup, seed)
