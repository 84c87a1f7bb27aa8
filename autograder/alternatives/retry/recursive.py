"""Retry by recursion instead of a loop: the attempts 1..max_attempts are a range that is split
in half and tried left half first, so the stack grows with log2(max_attempts), not with it.
Each single attempt sleeps after failing unless it is the very last one; the last exception is
handed back up the recursion as a value and raised once at the top, as itself."""
import math
import random
import time


def backoff_delay(attempt, base, strategy="exponential", cap=float("inf")):
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if strategy == "exponential":
        try:
            raw = math.ldexp(base, attempt - 1)  # base * 2**(attempt-1), exact for floats
        except OverflowError:
            raw = math.copysign(float("inf"), base) if base else 0.0
    elif strategy == "linear":
        raw = base * attempt
    elif strategy == "fixed":
        raw = base
    else:
        raise ValueError(f"unknown backoff strategy: {strategy!r}")
    return raw if raw <= cap else cap


def full_jitter(delay, rng):
    return rng.uniform(0.0, delay)


def equal_jitter(delay, rng):
    return delay / 2 + rng.uniform(0.0, delay / 2)


def decorrelated_jitter(previous, base, cap, rng):
    return min(cap, rng.uniform(base, 3 * previous))


class _Failed:
    """The outcome of a range of attempts that all failed: carries the last exception."""

    def __init__(self, error):
        self.error = error


def retry_with_backoff(func, *, max_attempts=3, base_delay=1.0, strategy="exponential",
                       max_delay=float("inf"), jitter="none", retry_on=(Exception,),
                       sleep=time.sleep, rng=None):
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if strategy not in ("fixed", "linear", "exponential"):
        raise ValueError(f"unknown backoff strategy: {strategy!r}")
    if jitter not in ("none", "full", "equal", "decorrelated"):
        raise ValueError(f"unknown jitter: {jitter!r}")
    rng = random.Random() if rng is None else rng
    last_sleep = [base_delay]  # decorrelated jitter's "previous"

    def pause(attempt):
        if jitter == "decorrelated":
            seconds = decorrelated_jitter(last_sleep[0], base_delay, max_delay, rng)
        else:
            seconds = backoff_delay(attempt, base_delay, strategy, max_delay)
            if jitter == "full":
                seconds = full_jitter(seconds, rng)
            elif jitter == "equal":
                seconds = equal_jitter(seconds, rng)
        seconds = min(seconds, max_delay)
        last_sleep[0] = seconds
        sleep(seconds)

    def attempts(first, last):
        """Try attempts first..last; the result of the first success, or _Failed(last error)."""
        if first == last:
            try:
                return func()
            except retry_on as error:
                if first < max_attempts:
                    pause(first)
                return _Failed(error)
        middle = (first + last) // 2
        outcome = attempts(first, middle)
        if not isinstance(outcome, _Failed):
            return outcome
        return attempts(middle + 1, last)

    outcome = attempts(1, max_attempts)
    if isinstance(outcome, _Failed):
        raise outcome.error
    return outcome
