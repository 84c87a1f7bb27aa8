"""Probe (a gap check, not a graded mutant): retry_with_backoff quietly treats an unknown strategy (a typo) as exponential."""
import random
import time

STRATEGIES = ("fixed", "linear", "exponential")
JITTERS = ("none", "full", "equal", "decorrelated")


def backoff_delay(attempt, base, strategy="exponential", cap=float("inf")):
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, 3, ...), before jitter."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt!r}")
    if strategy == "fixed":
        delay = base
    elif strategy == "linear":
        delay = base * attempt
    elif strategy == "exponential":
        try:
            delay = base * 2.0 ** (attempt - 1)
        except OverflowError:  # thousands of attempts: the true delay is beyond any float
            delay = float("inf") if base > 0 else 0.0
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    return min(cap, delay)


def full_jitter(delay, rng):
    """Anywhere from 0 to ``delay``, uniformly: spreads clients out the most."""
    return rng.uniform(0, delay)


def equal_jitter(delay, rng):
    """At least half of ``delay``, plus a uniform share of the other half."""
    half = delay / 2
    return half + rng.uniform(0, half)


def decorrelated_jitter(previous, base, cap, rng):
    """Uniform between ``base`` and three times the ``previous`` sleep, never above ``cap``."""
    return min(cap, rng.uniform(base, 3 * previous))


def retry_with_backoff(func, *, max_attempts=3, base_delay=1.0, strategy="exponential",
                       max_delay=float("inf"), jitter="none", retry_on=(Exception,),
                       sleep=time.sleep, rng=None):
    """Call ``func()`` until it succeeds, at most ``max_attempts`` times in all; return its result."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts counts every call, the first included: it must be >= 1, "
                         f"got {max_attempts!r}")
    if strategy not in STRATEGIES:
        strategy = 'exponential'
    if jitter not in JITTERS:
        raise ValueError(f"unknown jitter {jitter!r}; expected one of {JITTERS}")
    if rng is None:
        rng = random.Random()
    previous = base_delay  # where decorrelated jitter starts
    for attempt in range(1, max_attempts + 1):
        try:
            return func()
        except retry_on:
            if attempt == max_attempts:
                raise  # the last exception itself, with its own traceback
        previous = pause_after(attempt, previous, base_delay, strategy, max_delay, jitter, rng)
        sleep(previous)


# A helper for the loop above: change or remove it as you like.
def pause_after(attempt, previous, base_delay, strategy, max_delay, jitter, rng):
    """How long to sleep after failed attempt ``attempt``; ``previous`` is the last sleep."""
    if jitter == "decorrelated":
        return decorrelated_jitter(previous, base_delay, max_delay, rng)
    delay = backoff_delay(attempt, base_delay, strategy, cap=max_delay)
    if jitter == "full":
        delay = full_jitter(delay, rng)
    elif jitter == "equal":
        delay = equal_jitter(delay, rng)
    return min(max_delay, delay)
