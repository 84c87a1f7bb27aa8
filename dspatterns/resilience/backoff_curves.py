"""Backoff as whole sequences: how long a client sleeps after each failed attempt, and how clients spread.

A backoff policy is easiest to judge as a picture: the sleep after failed attempt 1, 2, 3, ..., for
one client without jitter and for many clients with it. This module produces those sequences, already
laid out for plotting (one list per client, one entry per failed attempt), plus the summaries a
figure needs: percentile bands per attempt and the moments at which clients come back.

The numbering follows the exercise. A call allowed ``attempts`` attempts sleeps after failed attempts
1 to ``attempts - 1`` (never after the last one, which gives up), so every sequence here has
``attempts - 1`` entries. The sleep after failed attempt ``k`` is ``base`` (fixed), ``base * k``
(linear) or ``base * 2**(k - 1)`` (exponential), never above ``cap``, then jittered: full jitter draws
uniformly in ``[0, d]``, equal jitter keeps ``d / 2`` and draws the rest in ``[0, d / 2]``, and
decorrelated jitter ignores ``d`` and draws in ``[base, 3 * previous]`` (starting from ``previous =
base``), capped at ``cap``.

These are sequences for plots, computed column by column for a crowd of clients; the per-call
helpers a retry loop needs are what the exercise asks you to write.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

STRATEGIES = ("fixed", "linear", "exponential")
JITTERS = ("none", "full", "equal", "decorrelated")


def delay_schedule(
    strategy: str = "exponential", *, base: float = 1.0, cap: float = math.inf, attempts: int = 6,
) -> list[float]:
    """The sleeps after failed attempts 1 .. ``attempts - 1`` before any jitter: the policy's skeleton."""
    _check(strategy=strategy, jitter="none", base=base, cap=cap, attempts=attempts, samples=1)
    failed = range(1, attempts)
    if strategy == "fixed":
        raw = [base for _ in failed]
    elif strategy == "linear":
        raw = [base * k for k in failed]
    else:
        raw = [base * 2.0 ** min(k - 1, 1023) for k in failed]
    return [min(cap, value) for value in raw]


def jittered_schedules(
    strategy: str = "exponential",
    jitter: str = "full",
    *,
    base: float = 1.0,
    cap: float = math.inf,
    attempts: int = 6,
    samples: int = 200,
    seed: int = 0,
) -> list[list[float]]:
    """The sleeps of ``samples`` clients that all failed together: one row per client.

    All draws come from ``random.Random(seed)``, so the same arguments always give the same crowd.
    With ``jitter="none"`` every row equals ``delay_schedule``: that sameness is the thundering herd.
    """
    _check(strategy=strategy, jitter=jitter, base=base, cap=cap, attempts=attempts, samples=samples)
    plain = delay_schedule(strategy, base=base, cap=cap, attempts=attempts)
    rng = random.Random(seed)
    if jitter == "none":
        return [list(plain) for _ in range(samples)]
    if jitter == "full":
        return [[rng.uniform(0.0, d) for d in plain] for _ in range(samples)]
    if jitter == "equal":
        return [[d / 2 + rng.uniform(0.0, d / 2) for d in plain] for _ in range(samples)]
    # Decorrelated: each sleep depends on the one before, so build every client's row left to right.
    rows: list[list[float]] = [[] for _ in range(samples)]
    previous = [base] * samples
    for _ in plain:
        previous = [min(cap, rng.uniform(base, 3 * p)) for p in previous]
        for row, sleep in zip(rows, previous):
            row.append(sleep)
    return rows


def retry_times(schedules: Sequence[Sequence[float]]) -> list[list[float]]:
    """When each client makes attempts 2, 3, ...: running totals of its sleeps.

    Calls are taken to fail instantly, so this is the pure effect of the policy: a crowd that failed
    at time 0 comes back at these moments.
    """
    out = []
    for row in schedules:
        total, times = 0.0, []
        for sleep in row:
            total += sleep
            times.append(total)
        out.append(times)
    return out


@dataclass(frozen=True)
class Band:
    """Per failed attempt: the low and high percentile and the median of the sleeps across clients."""

    low: tuple[float, ...]
    median: tuple[float, ...]
    high: tuple[float, ...]


def percentile_band(schedules: Sequence[Sequence[float]], *, low: float = 10, high: float = 90) -> Band:
    """Where the middle of the crowd sleeps, attempt by attempt: the band drawn behind the samples."""
    if not schedules:
        raise ValueError("need at least one schedule")
    if not 0 <= low <= 50 <= high <= 100:
        raise ValueError(f"need 0 <= low <= 50 <= high <= 100, got low={low!r}, high={high!r}")
    columns = [sorted(column) for column in zip(*schedules)]
    return Band(
        low=tuple(_percentile(c, low) for c in columns),
        median=tuple(_percentile(c, 50) for c in columns),
        high=tuple(_percentile(c, high) for c in columns),
    )


def _percentile(ordered: Sequence[float], percent: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted column."""
    position = (len(ordered) - 1) * percent / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _check(*, strategy: str, jitter: str, base: float, cap: float, attempts: int, samples: int) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if jitter not in JITTERS:
        raise ValueError(f"jitter must be one of {JITTERS}, got {jitter!r}")
    if not base > 0:
        raise ValueError(f"base must be positive, got {base!r}")
    if not cap > 0:
        raise ValueError(f"cap must be positive, got {cap!r}")
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts!r}")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples!r}")
