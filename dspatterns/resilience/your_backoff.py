"""Your ``backoff_delay`` and jitter functions, run where the course's models draw their own.

The backoff explorer and the retry-storm explorer accept the exercise's functions:
``backoff_delay(attempt, base, strategy, cap)``, ``full_jitter(delay, rng)``, ``equal_jitter(delay,
rng)`` and ``decorrelated_jitter(previous, base, cap, rng)``. They are called with the same arguments,
in the same order and on the same seeded ``random.Random`` as the model draws with, so a function that
computes what the contract says, drawing as the model does (``rng.uniform``), gives exactly the model's
numbers. A function that draws differently (``delay - rng.uniform(0, delay)``, two draws) can honour
the contract and still part from the model: the sentence then says whether its value lies inside the
contract's range. A function that raises, or returns something that is not a number of seconds, stops
the run with one sentence.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dspatterns.resilience.backoff_curves import delay_schedule, jittered_schedules
from dspatterns.student_code import describe, name_of

JITTER_KINDS = ("full", "equal", "decorrelated")
CONTRACT_NAMES = {"delay": "backoff_delay", "full": "full_jitter", "equal": "equal_jitter",
                  "decorrelated": "decorrelated_jitter"}


def same_number(yours: float, model: float) -> bool:
    """Equal up to float rounding: what "differ" means for two sleeps drawn from the same rng."""
    return math.isclose(yours, model, rel_tol=1e-9, abs_tol=1e-12)


class YourCodeFailed(Exception):
    """One of your functions raised or returned garbage; the message is the sentence to show."""


class YourFunctions:
    """Your functions, each call checked: a number of seconds comes back, or ``YourCodeFailed`` is raised.

    A kind you did not hand over is the course's own, so that a jitter can be tried before the delay is
    written; ``given`` says which ones are yours.
    """

    def __init__(self, delay: Callable | None = None, jitters: Mapping[str, Callable] | None = None):
        jitters = dict(jitters or {})
        unknown = set(jitters) - set(JITTER_KINDS)
        if unknown:
            raise ValueError(f"jitters takes {', '.join(JITTER_KINDS)}; got {', '.join(sorted(unknown))}")
        self._functions = {"delay": delay, **jitters}
        self.given = tuple(kind for kind in ("delay", *JITTER_KINDS) if self._functions.get(kind) is not None)

    def __bool__(self) -> bool:
        return bool(self.given)

    def mine(self, kind: str) -> bool:
        return kind in self.given

    def describe_given(self) -> str:
        return ", ".join(name_of(self._functions[kind]) for kind in self.given)

    def delay(self, attempt: int, base: float, strategy: str, cap: float) -> float:
        if not self.mine("delay"):
            return delay_schedule(strategy, base=base, cap=cap, attempts=attempt + 1)[-1]
        return self._call("delay", (attempt, base, strategy, cap))

    def full(self, delay: float, rng: random.Random) -> float:
        return self._call("full", (delay, rng)) if self.mine("full") else rng.uniform(0.0, delay)

    def equal(self, delay: float, rng: random.Random) -> float:
        return self._call("equal", (delay, rng)) if self.mine("equal") else delay / 2 + rng.uniform(0.0, delay / 2)

    def decorrelated(self, previous: float, base: float, cap: float, rng: random.Random) -> float:
        if not self.mine("decorrelated"):
            return min(cap, rng.uniform(base, 3 * previous))
        return self._call("decorrelated", (previous, base, cap, rng))

    def _call(self, kind: str, arguments: tuple) -> float:
        function = self._functions[kind]
        shown = ", ".join("rng" if isinstance(a, random.Random) else f"{a!r}" for a in arguments)
        call = f"your {name_of(function)}({shown})"
        try:
            value = function(*arguments)
        except Exception as error:  # noqa: BLE001 - any failure of student code becomes one sentence
            raise YourCodeFailed(f"{call} raised {describe(error)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
            raise YourCodeFailed(f"{call} returned {value!r}, not a number of seconds (a float >= 0)")
        return float(value)


# --- the backoff explorer's crowd -------------------------------------------------------------------

@dataclass(frozen=True)
class BackoffDifference:
    """The first sleep on which your functions and the model part."""

    client: int  # 0 for the schedule without jitter, else 1, 2, ... as the clients are drawn
    attempt: int  # the failed attempt the sleep follows
    yours: float
    model: float
    low: float  # the contract's range for this sleep, given your previous sleep
    high: float

    @property
    def text(self) -> str:
        if self.client == 0:
            return (f"the schedule without jitter, sleep after failed attempt {self.attempt}: yours "
                    f"{self.yours:.4g} s, the model (and the contract) {self.model:.4g} s")
        who = f"client {self.client}"
        inside = self.low - 1e-9 <= self.yours <= self.high + 1e-9
        why = ("inside the contract's range, so yours may draw from the same rng another way" if inside
               else "outside the contract's range")
        return (f"{who}, sleep after failed attempt {self.attempt}: yours {self.yours:.4g} s, the model "
                f"{self.model:.4g} s ({why} [{self.low:.4g}, {self.high:.4g}])")


@dataclass(frozen=True)
class BackoffComparison:
    plain: tuple[float, ...] | None  # your sleeps without jitter (None when your code stopped)
    crowd: tuple[tuple[float, ...], ...] | None
    first_difference: BackoffDifference | None = None
    differences: int = 0
    problem: str | None = None
    given: str = ""

    @property
    def text(self) -> str:
        if self.problem is not None:
            return self.problem + "."
        if self.first_difference is None:
            sleeps = len(self.plain) * (1 + len(self.crowd))
            return f"every one of the {sleeps:,} sleeps is the model's, to float rounding."
        return f"first difference at {self.first_difference.text}; {self.differences:,} sleeps differ."


def your_schedules(
    functions: YourFunctions, strategy: str, jitter: str, *, base: float, cap: float, attempts: int,
    samples: int, seed: int,
) -> tuple[list[float], list[list[float]]]:
    """``delay_schedule`` and ``jittered_schedules`` computed with your functions, draw for draw in the same order."""
    plain = [functions.delay(k, base, strategy, cap) for k in range(1, attempts)]
    rng = random.Random(seed)
    if jitter == "none":
        return plain, [list(plain) for _ in range(samples)]
    if jitter in ("full", "equal"):
        draw = functions.full if jitter == "full" else functions.equal
        return plain, [[draw(d, rng) for d in plain] for _ in range(samples)]
    rows: list[list[float]] = [[] for _ in range(samples)]
    previous = [base] * samples
    for _ in plain:  # column by column, as the model draws
        previous = [functions.decorrelated(p, base, cap, rng) for p in previous]
        for row, sleep in zip(rows, previous):
            row.append(sleep)
    return plain, rows


def compare_backoff(
    functions: YourFunctions, strategy: str = "exponential", jitter: str = "full", *, base: float = 1.0,
    cap: float = 30.0, attempts: int = 7, samples: int = 200, seed: int = 0,
) -> BackoffComparison:
    """Your sleeps beside the model's: the same policy, the same seed, the first sleep that differs."""
    settings = dict(base=base, cap=cap, attempts=attempts, samples=samples, seed=seed)
    try:
        plain, crowd = your_schedules(functions, strategy, jitter, **settings)
    except YourCodeFailed as failed:
        return BackoffComparison(None, None, problem=str(failed), given=functions.describe_given())
    model_plain = delay_schedule(strategy, base=base, cap=cap, attempts=attempts)
    model_crowd = jittered_schedules(strategy, jitter, **settings)
    found: list[BackoffDifference] = []
    for k, (yours, model) in enumerate(zip(plain, model_plain), start=1):
        if not same_number(yours, model):
            found.append(BackoffDifference(0, k, yours, model, model, model))
    for client, (row, model_row) in enumerate(zip(crowd, model_crowd), start=1):
        previous = base
        for k, (yours, model, d) in enumerate(zip(row, model_row, model_plain), start=1):
            if not same_number(yours, model):
                found.append(BackoffDifference(client, k, yours, model, *_contract_range(jitter, d, previous,
                                                                                         base, cap)))
            previous = yours
    return BackoffComparison(tuple(plain), tuple(map(tuple, crowd)), found[0] if found else None, len(found),
                             given=functions.describe_given())


def _contract_range(jitter: str, delay: float, previous: float, base: float, cap: float) -> tuple[float, float]:
    if jitter == "full":
        return 0.0, delay
    if jitter == "equal":
        return delay / 2, delay
    if jitter == "decorrelated":
        return min(cap, base), min(cap, 3 * previous)
    return delay, delay


def first_differing(yours: Sequence[float], model: Sequence[float]) -> int | None:
    """The index of the first value that differs beyond float rounding (or where one sequence ends early)."""
    for index, (mine, theirs) in enumerate(zip(yours, model)):
        if not same_number(mine, theirs):
            return index
    return None if len(yours) == len(model) else min(len(yours), len(model))
