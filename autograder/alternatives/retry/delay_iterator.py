"""Retry in the style of tenacity: backoff strategies and jitters are small callables looked up
in dicts, composed into one generator that yields the sleep after each failed attempt; the retry
loop just pulls the next delay from it. The generator is infinite and lazy, so it is consumed only
between attempts (never after the last), and decorrelated jitter keeps its state inside it."""
import itertools
import random
import time

BACKOFF = {
    "fixed": lambda base, n: base,
    "linear": lambda base, n: base * n,
    "exponential": lambda base, n: _scale(base, _power_of_two(n - 1)),
}


def _power_of_two(k):
    try:
        return 2.0 ** k
    except OverflowError:  # thousands of attempts: beyond any float
        return float("inf")


def _scale(base, factor):
    return 0.0 if base == 0 else base * factor  # 0 * inf would be nan


def backoff_delay(attempt, base, strategy="exponential", cap=float("inf")):
    try:
        rule = BACKOFF[strategy]
    except KeyError:
        raise ValueError(f"strategy must be one of {sorted(BACKOFF)}, not {strategy!r}") from None
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    return min(cap, rule(base, attempt))


def full_jitter(delay, rng):
    return rng.uniform(0, delay)


def equal_jitter(delay, rng):
    return delay / 2 + rng.uniform(0, delay / 2)


def decorrelated_jitter(previous, base, cap, rng):
    return min(cap, rng.uniform(base, 3 * previous))


# Each jitter turns the stream of plain backoff delays into the stream of sleeps.
def _no_jitter(delays, base, cap, rng):
    return delays


def _full(delays, base, cap, rng):
    return (full_jitter(d, rng) for d in delays)


def _equal(delays, base, cap, rng):
    return (equal_jitter(d, rng) for d in delays)


def _decorrelated(delays, base, cap, rng):
    previous = base
    for _ in delays:
        previous = decorrelated_jitter(previous, base, cap, rng)
        yield previous


JITTER = {"none": _no_jitter, "full": _full, "equal": _equal, "decorrelated": _decorrelated}


def wait_schedule(base, strategy, cap, jitter, rng):
    """An endless iterator of sleeps: the one after failed attempt 1, 2, 3, ..."""
    plain = (backoff_delay(n, base, strategy, cap) for n in itertools.count(1))
    return (min(cap, d) for d in JITTER[jitter](plain, base, cap, rng))


def retry_with_backoff(func, *, max_attempts=3, base_delay=1.0, strategy="exponential",
                       max_delay=float("inf"), jitter="none", retry_on=(Exception,),
                       sleep=time.sleep, rng=None):
    if max_attempts < 1:
        raise ValueError("max_attempts counts calls and must be >= 1")
    if strategy not in BACKOFF:
        raise ValueError(f"unknown strategy {strategy!r}")
    if jitter not in JITTER:
        raise ValueError(f"unknown jitter {jitter!r}")
    waits = wait_schedule(base_delay, strategy, max_delay, jitter,
                          random.Random() if rng is None else rng)
    remaining = max_attempts
    while True:
        remaining -= 1
        try:
            return func()
        except retry_on:
            if remaining == 0:
                raise
        sleep(next(waits))
