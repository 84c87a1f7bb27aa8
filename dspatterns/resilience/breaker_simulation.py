"""A circuit breaker watched over simulated time.

The course has to *show* what a breaker does to traffic: when it trips, how long it refuses calls, how
much load it spares a sick service. Real clocks and threads would make that slow, and different on every
run, so this module replays a seeded stream of calls against a model of the breaker in virtual time: the
same arguments always draw the same timeline, which is what lets a figure or a test say something
definite.

The model follows the rules of the graded exercise, but it is deliberately not a breaker you could put
in front of a function: it is a state machine advanced by event times, private to the simulation.
Writing the real, reusable one is the exercise.
"""
from __future__ import annotations

import bisect
import heapq
import math
import random
from dataclasses import dataclass

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

SUCCESS = "success"
FAILURE = "failure"
REJECTED = "rejected"


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class FailureProfile:
    """How likely the downstream service is to fail, moment by moment.

    A breaker only shows its worth when health *changes*, so besides a steady baseline the profile can
    hold windows (an outage, a brownout) during which calls fail with a different probability. Windows
    are ``(start, end, failure_rate)``, half-open on the right; the first window containing a time wins.
    """

    baseline: float = 0.0
    windows: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        _check_probability("baseline", self.baseline)
        for start, end, rate in self.windows:
            if not start < end:
                raise ValueError(f"a window must end after it starts, got ({start!r}, {end!r})")
            _check_probability("window failure rate", rate)

    @classmethod
    def steady(cls, failure_rate: float) -> FailureProfile:
        return cls(baseline=failure_rate)

    @classmethod
    def outage(
        cls, start: float, end: float, failure_rate: float = 1.0, baseline: float = 0.0
    ) -> FailureProfile:
        """Healthy, then sick between ``start`` and ``end``, then healthy again: the story of most incidents."""
        return cls(baseline=baseline, windows=((start, end, failure_rate),))

    def failure_rate_at(self, time: float) -> float:
        for start, end, rate in self.windows:
            if start <= time < end:
                return rate
        return self.baseline

    def change_points(self, duration: float) -> list[float]:
        """Times where the failure rate may step, so a plot can draw the profile exactly."""
        edges = {0.0, float(duration)}
        for start, end, _ in self.windows:
            edges.update(t for t in (start, end) if 0.0 < t < duration)
        return sorted(edges)


# A healthy service with a little noise, a 22 s incident in the middle, then recovery.
DEFAULT_PROFILE = FailureProfile.outage(15.0, 37.0, failure_rate=0.9, baseline=0.02)


@dataclass(frozen=True)
class Call:
    """One call as the caller experienced it.

    ``breaker_state`` is the state that decided the call's fate when it arrived; ``finished_at`` is when
    the service answered (``None`` for a call rejected fast, which never reached it).
    """

    time: float
    outcome: str
    breaker_state: str
    finished_at: float | None


@dataclass(frozen=True)
class StateInterval:
    start: float
    end: float
    state: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class BreakerRun:
    """Everything one simulation produced, kept together so a figure can be redrawn from it alone."""

    calls: tuple[Call, ...]
    intervals: tuple[StateInterval, ...]
    duration: float
    failure_profile: FailureProfile
    failure_threshold: int
    recovery_timeout: float
    half_open_max_calls: int

    @property
    def reached_service(self) -> int:
        return sum(call.outcome != REJECTED for call in self.calls)

    @property
    def rejected(self) -> int:
        return sum(call.outcome == REJECTED for call in self.calls)

    @property
    def failures(self) -> int:
        return sum(call.outcome == FAILURE for call in self.calls)

    @property
    def successes(self) -> int:
        return sum(call.outcome == SUCCESS for call in self.calls)

    @property
    def times_opened(self) -> int:
        return sum(interval.state == OPEN for interval in self.intervals)

    def state_at(self, time: float) -> str:
        """The state in force at ``time``; at a transition instant the new state already holds."""
        if not 0.0 <= time <= self.duration:
            raise ValueError(f"time {time!r} is outside the run [0, {self.duration!r}]")
        index = bisect.bisect_right(self.intervals, time, key=lambda interval: interval.start) - 1
        return self.intervals[max(index, 0)].state


def simulate_breaker(
    *,
    seed: int = 7,
    duration: float = 60.0,
    rate: float = 20.0,
    failure_profile: FailureProfile | None = None,
    failure_threshold: int = 5,
    recovery_timeout: float = 5.0,
    half_open_max_calls: int = 1,
    service_time: float = 0.1,
    arrivals: str = "poisson",
) -> BreakerRun:
    """Send ``rate`` calls per simulated second through a breaker for ``duration`` seconds.

    Each call occupies the service for ``service_time`` seconds, so calls overlap: that is what makes a
    half-open breaker "full" and turns calls away while its trial calls are still running. The breaker
    judges a call when its answer comes back. An answer to a call admitted before the breaker last
    changed state is stale and changes nothing, the way a late reply from the previous episode should
    not decide the current one.

    Every call gets its arrival time and a uniform draw from one ``random.Random(seed)`` before the
    breaker sees anything, and it fails when that draw is below the failure rate at its arrival. So
    changing the breaker's settings (or the failure rate) replays the very same traffic: differences
    between two runs come from the settings, not from luck. ``arrivals`` is ``"poisson"`` (random
    gaps, as real traffic) or ``"even"`` (one call every ``1 / rate`` seconds).
    """
    _check_settings(duration, rate, failure_threshold, recovery_timeout, half_open_max_calls, service_time)
    profile = failure_profile if failure_profile is not None else DEFAULT_PROFILE
    script = scripted_calls(seed=seed, duration=duration, rate=rate, failure_profile=profile, arrivals=arrivals)

    breaker = _BreakerModel(failure_threshold, recovery_timeout, half_open_max_calls)
    in_service: list[tuple[float, int, int, bool]] = []  # (finished_at, index, episode, failed)
    calls: list[Call] = []
    for index, (time, failed) in enumerate(script):
        while in_service and in_service[0][0] <= time:
            finished_at, _, episode, failed_then = heapq.heappop(in_service)
            breaker.settle(finished_at, episode, failed_then)
        state = breaker.state_at(time)
        if not breaker.admit(time):
            calls.append(Call(time, REJECTED, state, None))
            continue
        finished_at = time + service_time
        heapq.heappush(in_service, (finished_at, index, breaker.episode, failed))
        calls.append(Call(time, FAILURE if failed else SUCCESS, state, finished_at))
    while in_service and in_service[0][0] <= duration:
        finished_at, _, episode, failed = heapq.heappop(in_service)
        breaker.settle(finished_at, episode, failed)

    return BreakerRun(
        calls=tuple(calls),
        intervals=tuple(breaker.timeline(duration)),
        duration=float(duration),
        failure_profile=profile,
        failure_threshold=failure_threshold,
        recovery_timeout=float(recovery_timeout),
        half_open_max_calls=half_open_max_calls,
    )


def scripted_calls(
    *, seed: int = 7, duration: float = 60.0, rate: float = 20.0, failure_profile: FailureProfile | None = None,
    arrivals: str = "poisson",
) -> tuple[tuple[float, bool], ...]:
    """The traffic of a run before any breaker sees it: each call's arrival time, and whether it would fail.

    This is what ``simulate_breaker`` sends through its model, and what the breaker explorer replays
    through a breaker class of yours, so that both meet exactly the same calls.
    """
    profile = failure_profile if failure_profile is not None else DEFAULT_PROFILE
    traffic = _traffic(random.Random(seed), rate, duration, arrivals)
    return tuple((time, draw < profile.failure_rate_at(time)) for time, draw in traffic)


class _BreakerModel:
    """The breaker's bookkeeping, advanced by the simulation's event times.

    Open turns into half-open by the passage of time alone, so every entry point first catches up
    with the clock. ``episode`` counts state changes; it is how stale answers are recognised.
    """

    def __init__(self, failure_threshold: int, recovery_timeout: float, half_open_max_calls: int):
        self._threshold = failure_threshold
        self._recovery_timeout = recovery_timeout
        self._trial_limit = half_open_max_calls
        self._current = CLOSED
        self._since = 0.0
        self._finished_intervals: list[StateInterval] = []
        self.episode = 0
        self._consecutive_failures = 0
        self._half_open_at = math.inf
        self._trials_running = 0
        self._trial_successes = 0

    def state_at(self, now: float) -> str:
        self._catch_up(now)
        return self._current

    def admit(self, now: float) -> bool:
        self._catch_up(now)
        if self._current == CLOSED:
            return True
        if self._current == HALF_OPEN and self._trials_running < self._trial_limit:
            self._trials_running += 1
            return True
        return False

    def settle(self, now: float, episode: int, failed: bool) -> None:
        self._catch_up(now)
        if episode != self.episode:
            return
        if self._current == CLOSED:
            self._consecutive_failures = self._consecutive_failures + 1 if failed else 0
            if self._consecutive_failures >= self._threshold:
                self._trip(now)
        elif self._current == HALF_OPEN:
            self._trials_running -= 1
            if failed:
                self._trip(now)
            else:
                self._trial_successes += 1
                if self._trial_successes >= self._trial_limit:
                    self._enter(CLOSED, now)

    def timeline(self, duration: float) -> list[StateInterval]:
        if self._current == OPEN and self._half_open_at < duration:
            self._catch_up(self._half_open_at)
        return [*self._finished_intervals, StateInterval(self._since, float(duration), self._current)]

    def _catch_up(self, now: float) -> None:
        # One comparison against a precomputed instant, so admission and the drawn intervals agree exactly.
        if self._current == OPEN and now >= self._half_open_at:
            self._enter(HALF_OPEN, self._half_open_at)

    def _trip(self, now: float) -> None:
        self._enter(OPEN, now)
        self._half_open_at = now + self._recovery_timeout

    def _enter(self, state: str, now: float) -> None:
        self._finished_intervals.append(StateInterval(self._since, now, self._current))
        self._current, self._since = state, now
        self.episode += 1
        self._consecutive_failures = 0
        self._trials_running = 0
        self._trial_successes = 0


def _traffic(rng: random.Random, rate: float, duration: float, arrivals: str) -> list[tuple[float, float]]:
    """Arrival times paired with the uniform draw that will decide each call's outcome."""
    if arrivals == "even":
        count = math.ceil(duration * rate)
        times = [k / rate for k in range(count) if k / rate < duration]
        return [(time, rng.random()) for time in times]
    if arrivals == "poisson":
        traffic = []
        time = rng.expovariate(rate)
        while time < duration:
            traffic.append((time, rng.random()))
            time += rng.expovariate(rate)
        return traffic
    raise ValueError(f"arrivals must be 'poisson' or 'even', got {arrivals!r}")


def _check_settings(
    duration: float, rate: float, failure_threshold: int, recovery_timeout: float,
    half_open_max_calls: int, service_time: float,
) -> None:
    # Zero durations would let two state changes share one instant and blur which state a call met.
    positive = {
        "duration": duration, "rate": rate, "recovery_timeout": recovery_timeout, "service_time": service_time,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    counts = {"failure_threshold": failure_threshold, "half_open_max_calls": half_open_max_calls}
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value!r}")
