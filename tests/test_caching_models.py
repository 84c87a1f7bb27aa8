"""The caching models: every claim 05_caching.ipynb makes about hit rates and stampedes, with its numbers.

Hit rates: the cache models follow the exercise's TTL and eviction rules on hand-made traces, and the
simulated LRU hit rate matches Che's approximation within 2% at every size the notebook shows (on a
long seeded trace, so that the comparison is about the formula, not the noise of a short trace; the
errors measured are printed). Stampedes: on fixed seeds, single flight makes one query per expiry, no
protection makes many, XFetch recomputes before the expiry so that nobody misses, and jitter lowers the
peak load. Each simulated check names its seed; to replay one, call ``simulate(strategy, seed=N, ...)``
with the settings printed in the assertion message.
"""
from __future__ import annotations

import itertools
import math

import pytest

from autograder.exercises import EXERCISES
from dspatterns.caching.hit_rate import (
    LRU,
    NO_EVICTION,
    NOTEBOOK_SIZES,
    che_characteristic_time,
    che_hit_rate,
    hit_rate,
    hit_rate_curve,
    replay,
    zipf_popularity,
    zipf_trace,
)
from dspatterns.caching.stampede import (
    EARLY,
    MISS,
    NO_PROTECTION,
    SINGLE_FLIGHT,
    XFETCH,
    compare_strategies,
    simulate,
    threaded_stampede,
)

SEEDS = (0, 1, 2)


# --- Zipf traces -------------------------------------------------------------------------------------

def test_zipf_popularity_is_a_distribution_falling_as_a_power_of_the_rank():
    popularity = zipf_popularity(1_000, 0.8)
    assert math.isclose(sum(popularity), 1.0)
    assert all(a > b for a, b in itertools.pairwise(popularity))
    assert math.isclose(popularity[0] / popularity[9], 10 ** 0.8)


def test_a_trace_is_the_same_for_a_seed_and_follows_the_popularity():
    trace = zipf_trace(50_000, 1_000, 0.8, seed=3)
    assert trace == zipf_trace(50_000, 1_000, 0.8, seed=3)
    assert trace != zipf_trace(50_000, 1_000, 0.8, seed=4)
    share = trace.count(0) / len(trace)
    assert abs(share - zipf_popularity(1_000, 0.8)[0]) < 0.005, share


def test_the_top_tenth_of_the_keys_takes_most_requests_at_the_notebooks_skew():
    """The prose: at skew 0.8, the 100 most popular of 1,000 keys take over half the requests."""
    top = sum(zipf_popularity(1_000, 0.8)[:100])
    print(f"top 100 of 1,000 keys at skew 0.8: {top:.1%} of the requests")
    assert 0.5 < top < 0.6


# --- the cache models follow the exercise's rules -----------------------------------------------------

def test_lru_evicts_the_least_recently_used_and_a_hit_counts_as_a_use():
    # 0 and 1 stored; 0 hit (now the most recent); 2 evicts 1; so 0 hits and 1 misses
    assert replay([0, 1, 0, 2, 0, 1], 2, policy=LRU) == [False, False, True, False, True, False]


def test_no_eviction_keeps_the_first_keys_and_never_stores_another():
    assert replay([0, 1, 2, 2, 0, 1], 2, policy=NO_EVICTION) == [False, False, False, False, True, True]


def test_an_entry_is_gone_once_its_age_reaches_the_ttl_and_a_hit_does_not_restart_it():
    # one request per second, ttl 2 s: stored at 0, hit at 1, gone at 2 (age 2 >= 2), stored again at 2
    assert replay([0, 0, 0, 0], 5, ttl=2.0, rate=1.0) == [False, True, False, True]


def test_expired_entries_go_before_any_live_one():
    # four requests a second, ttl 1 s: 0 is stored at 0 s and used last at 0.75 s, 1 stored at 0.5 s; at
    # 1 s, when 2 needs room, 0 has expired: it goes, although 1 is the least recently used, and 1 hits
    assert replay([0, 0, 1, 0, 2, 1], 2, ttl=1.0, rate=4.0, policy=LRU) == [False, True, False, True, False, True]


@pytest.mark.parametrize("ttl", [math.inf, 5.0, 0.5])
@pytest.mark.parametrize("size", [10, 100, 400])
def test_the_reference_ttl_cache_hits_exactly_where_the_lru_model_does(size, ttl):
    """The explorer marks where your class and the model disagree: the reference answer must agree."""
    from dspatterns.widgets.hit_rate_explorer import check_cache_class

    namespace: dict = {}
    exec(compile(EXERCISES["cache_aside"].reference_code, "reference", "exec"), namespace)  # noqa: S102
    verdict = check_cache_class(namespace["TTLCache"], zipf_trace(8_000, 1_000, 0.8, seed=0), size, ttl)
    assert verdict.problem is None and verdict.first_disagreement is None, verdict.text


# --- Che's approximation -------------------------------------------------------------------------------

def test_ches_time_solves_its_equation():
    popularity = zipf_popularity(1_000, 0.8)
    for size in NOTEBOOK_SIZES:
        t = che_characteristic_time(popularity, size)
        assert math.isclose(sum(1 - math.exp(-p * t) for p in popularity), size, rel_tol=1e-9)


def test_ches_hit_rate_grows_with_the_size_from_nothing_to_everything():
    popularity = zipf_popularity(1_000, 0.8)
    rates = [che_hit_rate(popularity, size) for size in (0, 10, 100, 500, 1_000)]
    assert rates[0] == 0.0 and rates[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(rates))


@pytest.mark.parametrize("skew", [0.6, 0.8, 1.2])
def test_che_matches_the_simulated_lru_within_two_percent_at_every_size_the_notebook_shows(skew):
    """200,000 requests (10,000 of warm-up) on seed 7: the noise of the trace is well under 1% here."""
    curve = hit_rate_curve(skew=skew, sizes=NOTEBOOK_SIZES, requests=200_000, warmup=10_000, seed=7)
    errors = curve.relative_errors()
    print(f"skew {skew}: " + ", ".join(f"size {size}: LRU {sim:.3f}, Che {che:.3f} ({error:.2%})"
                                       for size, sim, che, error in zip(curve.sizes, curve.simulated[LRU],
                                                                        curve.che, errors)))
    assert max(errors) < 0.02, f"seed 7, skew {skew}: relative errors {errors}"


def test_the_notebooks_short_trace_is_within_five_percent_of_che():
    """What the explorer itself shows (8,000 requests, seed 0, skew 0.8): the noise is larger, still small."""
    errors = hit_rate_curve(skew=0.8, seed=0).relative_errors()
    print("explorer's trace, skew 0.8:", [f"{error:.1%}" for error in errors])
    assert max(errors) < 0.05, errors


def test_lru_beats_keeping_the_first_keys_on_a_small_cache_but_not_on_a_large_one():
    """The prose: at 10 entries LRU hits about three times as often; at 400 keeping the first keys is as good."""
    curve = hit_rate_curve(skew=0.8, seed=0)
    lru, first = dict(zip(curve.sizes, curve.simulated[LRU])), dict(zip(curve.sizes, curve.simulated[NO_EVICTION]))
    print(f"size 10: LRU {lru[10]:.3f}, no eviction {first[10]:.3f}; size 400: LRU {lru[400]:.3f}, "
          f"no eviction {first[400]:.3f}")
    assert lru[10] > 2.5 * first[10]
    assert first[400] >= lru[400] - 0.01


def test_a_ttl_flattens_the_curve_more_room_then_holds_nothing():
    """The prose: with a 5 s TTL (640 requests) a cache of 400 entries is never full, so the policy does not matter."""
    curve = hit_rate_curve(skew=0.8, ttl=5.0, seed=0)
    lru, first = dict(zip(curve.sizes, curve.simulated[LRU])), dict(zip(curve.sizes, curve.simulated[NO_EVICTION]))
    che = dict(zip(curve.sizes, curve.che))
    print(f"ttl 5 s, size 400: LRU {lru[400]:.3f}, no eviction {first[400]:.3f}, Che without TTL {che[400]:.3f}")
    assert lru[400] == first[400]
    assert lru[400] < che[400] - 0.1
    assert all(sim <= che_rate + 0.01 for sim, che_rate in zip(curve.simulated[LRU], curve.che))


def test_hit_rate_counts_only_after_the_warmup():
    assert hit_rate([False, False, True, True], warmup=2) == 1.0
    assert hit_rate([False, False, True, True]) == 0.5


# --- stampedes ---------------------------------------------------------------------------------------

def _replay_hint(strategy: str, seed: int, **settings) -> str:
    extra = "".join(f", {name}={value!r}" for name, value in settings.items())
    return f"replay: simulate({strategy!r}, seed={seed}{extra})"


@pytest.mark.parametrize("seed", SEEDS)
def test_single_flight_makes_one_query_per_expiry(seed):
    run = simulate(SINGLE_FLIGHT, seed=seed)
    hint = _replay_hint(SINGLE_FLIGHT, seed)
    for key in range(run.settings["keys"]):
        starts = [q.start for q in run.queries if q.key == key]
        # never two at once: each starts after the previous one returned
        assert all(b >= a + run.recompute for a, b in itertools.pairwise(starts)), hint
        # and one for every value that expired while the run went on (plus a margin for its first request)
        expired = [e for k, e in run.expiries if k == key and e < run.duration - 1.0]
        assert len(starts) == len(expired), (key, starts, expired, hint)
    print(f"seed {seed}: {len(run.queries)} queries for {len(run.miss_times)} misses")


@pytest.mark.parametrize("seed", SEEDS)
def test_without_protection_every_miss_is_a_query_about_rate_times_recompute_per_expiry(seed):
    runs = compare_strategies(seed=seed)
    plain, single = runs[NO_PROTECTION], runs[SINGLE_FLIGHT]
    per_expiry = len(plain.queries) / len(single.queries)
    expected = 200 * 1.0 / 10 * 0.5  # requests per second on one key, times the recompute time
    print(f"seed {seed}: {len(plain.queries)} queries without protection, {len(single.queries)} with single "
          f"flight: {per_expiry:.1f} per expiry (rate x recompute = {expected:g})")
    assert len(plain.queries) == len(plain.miss_times)
    assert 0.6 * expected < per_expiry < 1.6 * expected, _replay_hint(NO_PROTECTION, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_xfetch_recomputes_before_the_expiry_so_there_is_no_miss_burst(seed):
    runs = compare_strategies(seed=seed)
    xfetch, plain, single = runs[XFETCH], runs[NO_PROTECTION], runs[SINGLE_FLIGHT]
    early = sum(q.reason == EARLY for q in xfetch.queries)
    print(f"seed {seed}: XFetch {len(xfetch.queries)} queries ({early} early), {len(xfetch.miss_times)} misses; "
          f"no protection {len(plain.miss_times)} misses; single flight {len(single.queries)} queries")
    assert len(xfetch.miss_times) <= 0.02 * len(plain.miss_times), _replay_hint(XFETCH, seed)
    assert early >= 0.9 * len(xfetch.queries)
    assert xfetch.peak_load() < plain.peak_load() / 4
    # the price: it recomputes more often than single flight, some of it twice at once
    assert len(xfetch.queries) > 2 * len(single.queries)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_larger_beta_leaves_no_miss_at_all(seed):
    run = simulate(XFETCH, beta=2.0, seed=seed)
    assert run.miss_times == (), _replay_hint(XFETCH, seed, beta=2.0)
    assert all(q.reason == EARLY for q in run.queries)


@pytest.mark.parametrize("seed", SEEDS)
def test_jitter_lowers_the_peak_load(seed):
    # without protection one key's own stampede (about 5 queries per 0.25 s) is a floor jitter cannot lower
    for strategy, at_most in ((NO_PROTECTION, 0.6), (SINGLE_FLIGHT, 0.5)):
        together, spread = simulate(strategy, seed=seed), simulate(strategy, jitter=0.2, seed=seed)
        print(f"seed {seed}, {strategy}: peak {together.peak_load()} queries per 0.25 s without jitter, "
              f"{spread.peak_load()} with 20% jitter")
        assert spread.peak_load() <= at_most * together.peak_load(), _replay_hint(strategy, seed, jitter=0.2)
    # single flight without jitter: the ten keys, written together, are queried in one quarter second
    assert simulate(SINGLE_FLIGHT, seed=seed).peak_load() == 10


def test_the_same_seed_gives_the_same_run_and_every_strategy_sees_the_same_requests():
    runs = compare_strategies(seed=5)
    assert runs == compare_strategies(seed=5)
    assert len({run.requests for run in runs.values()}) == 1
    assert simulate(NO_PROTECTION, seed=5) != simulate(NO_PROTECTION, seed=6)
    assert {q.reason for q in runs[NO_PROTECTION].queries} == {MISS}


def test_the_strategy_and_jitter_are_checked():
    with pytest.raises(ValueError, match="strategy"):
        simulate("lock-free")
    with pytest.raises(ValueError, match="jitter"):
        simulate(SINGLE_FLIGHT, jitter=1.5)


# --- your CacheAside under real threads -----------------------------------------------------------------

def _reference():
    namespace: dict = {}
    exec(compile(EXERCISES["cache_aside"].reference_code, "reference", "exec"), namespace)  # noqa: S102
    return namespace["CacheAside"], namespace["TTLCache"]


def test_the_reference_calls_the_load_once_for_sixteen_threads():
    cache_aside, ttl_cache = _reference()
    result = threaded_stampede(cache_aside, ttl_cache, callers=16)
    assert (result.loads, result.wrong_values, result.problem) == (1, 0, None), result.text
    assert threaded_stampede(cache_aside, None, callers=16).loads == 1


class NoSingleFlight:
    """Cache-aside as the source card writes it: check, load, store. Every concurrent miss loads."""

    def __init__(self, cache, load):
        self.cache, self.load = cache, load

    def get(self, key):
        value = self.cache.get(key)
        if value is None:
            value = self.load(key)
            self.cache.set(key, value)
        return value


def test_a_cache_aside_without_single_flight_loads_once_per_thread():
    _, ttl_cache = _reference()
    result = threaded_stampede(NoSingleFlight, ttl_cache, callers=16)
    print(result.text)
    assert result.loads == 16 and result.problem is None, result.text
    assert "(single flight: 1)" in result.text


def test_a_stub_is_reported_in_one_line():
    class Stub:
        def __init__(self, cache, load):
            pass

        def get(self, key):
            raise NotImplementedError

    result = threaded_stampede(Stub, None, callers=4)
    assert result.problem == "your Stub.get('hot') raised NotImplementedError"
    assert "\n" not in result.text

    class BrokenCache:
        def __init__(self, capacity, ttl, clock=None):
            raise NotImplementedError("write me")

    result = threaded_stampede(_reference()[0], BrokenCache, callers=4)
    assert result.problem == "your BrokenCache(100, 60.0, clock=...) raised NotImplementedError: write me"
