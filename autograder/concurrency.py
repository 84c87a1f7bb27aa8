"""How many judges grade at once.

One judge per core leaves the machine idle much of the time: a judge waiting on real time (a socket
time-out, a bulkhead's ``max_wait``, a thread gate) uses no CPU while it waits. Too many judges at
once would compete for the cores and slow down the very checks that measure real time. So the
number follows what the judges actually spend: a judge that used CPU for a third of its wall time
leaves room for two more beside it, so the target is the cores divided by the CPU share of the
judges finished lately (their CPU time over their wall time). It moves one step per finished judge,
never rises while the machine's cores are already saturated, never falls below the cores, and
never exceeds the ceiling that memory and a multiple of the cores set.
"""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

# A judge process (pytest, hypothesis) and its sandbox peaked at 81 + 70 MB resident grading the
# resilience references; the bound counts twice that. (A sandbox's own limit, DSP_LIMIT_MEMORY_MB,
# is of address space, which its threads' stacks fill without touching: it bounds one runaway
# sandbox, not what judges use together.)
JUDGE_MEMORY_BYTES = 300 * 1024**2
MOST_PER_CORE = 6
RECENT_JUDGES = 24  # the CPU share is taken over this many judges finished last
SATURATED_IDLE = 0.05  # the machine counts as saturated below this share of idle CPU time
GUARD_SECONDS = 2.0  # the idle share is read over at least this long (shorter readings are noise)


def cpu_times() -> tuple[float, float] | None:
    """(idle, total) CPU time of the whole machine so far, in clock ticks (None off Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [float(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return idle, sum(fields[:8])


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def ceiling_for(cores: int, memory: int | None) -> int:
    """The most judges at once: MOST_PER_CORE per core, and no more than the available memory
    holds at JUDGE_MEMORY_BYTES each."""
    most = MOST_PER_CORE * cores
    if memory is not None:
        most = min(most, memory // JUDGE_MEMORY_BYTES)
    return max(1, most)


@dataclass
class JudgeConcurrency:
    """The number of judges to keep running, from what finished judges spent.

    ``fixed``: the instructor chose the number (``--workers``); it never changes then.
    """

    cores: int
    ceiling: int
    fixed: int | None = None
    target: int = 0
    history: list[tuple[float, int]] = field(default_factory=list)  # (when, target) at each change
    _recent: deque = field(default_factory=lambda: deque(maxlen=RECENT_JUDGES))  # (cpu, wall)
    _idle_mark: tuple[float, float, float] | None = None  # (when, idle, total) the guard counts from
    _saturated: bool = False

    def __post_init__(self):
        self.target = self.fixed or min(self.cores, self.ceiling)

    @classmethod
    def for_machine(cls, workers: int | None = None) -> "JudgeConcurrency":
        cores = os.cpu_count() or 1
        if workers:
            return cls(cores=cores, ceiling=workers, fixed=workers)
        return cls(cores=cores, ceiling=ceiling_for(cores, available_memory()))

    @property
    def floor(self) -> int:
        return min(self.cores, self.ceiling)

    def cpu_share(self) -> float | None:
        """CPU time over wall time of the judges finished lately (None before the first)."""
        wall = sum(w for _, w in self._recent)
        return sum(c for c, _ in self._recent) / wall if wall > 0 else None

    def wanted(self) -> int:
        """cores ÷ CPU share, within the floor and the ceiling."""
        share = self.cpu_share()
        if share is None:
            return self.target
        return max(self.floor, min(self.ceiling, round(self.cores / max(share, 1e-3))))

    def machine(self, now: float, reading: tuple[float, float] | None) -> None:
        """Note the machine's CPU times (``cpu_times()``) at ``now``: below SATURATED_IDLE idle
        over the last GUARD_SECONDS or more, no judge is added."""
        if reading is None:
            return
        if self._idle_mark is None:
            self._idle_mark = (now, *reading)
            return
        then, idle_then, total_then = self._idle_mark
        if now - then >= GUARD_SECONDS and reading[1] > total_then:
            self._saturated = (reading[0] - idle_then) / (reading[1] - total_then) < SATURATED_IDLE
            self._idle_mark = (now, *reading)

    def finished(self, now: float, cpu: float, wall: float) -> int:
        """A judge finished, having used ``cpu`` seconds of CPU in ``wall`` seconds: one step
        toward ``wanted()``. Returns the new target."""
        if not self.history:
            self.history.append((now, self.target))
        if self.fixed or wall <= 0:
            return self.target
        self._recent.append((cpu, wall))
        wanted = self.wanted()
        before = self.target
        if wanted > self.target and not self._saturated:
            self.target += 1
        elif wanted < self.target:
            self.target -= 1
        if self.target != before:
            self.history.append((now, self.target))
        return self.target

    def mean_target(self, until: float) -> float:
        """The number of judges kept running, averaged over time from the first judge finished."""
        if not self.history or until <= self.history[0][0]:
            return float(self.target)
        spans = zip(self.history, self.history[1:] + [(until, self.target)])
        return sum((end - start) * target for (start, target), (end, _) in spans) / (
            until - self.history[0][0])

    def describe(self, until: float | None = None) -> str:
        if self.fixed:
            return f"{self.fixed} judges at once (--workers)"
        targets = [target for _, target in self.history] or [self.target]
        mean = f", {self.mean_target(until):.1f} on average" if until is not None else ""
        share = self.cpu_share()
        spent = f"; a judge used CPU {share:.0%} of its time" if share is not None else ""
        return (f"judges at once: {min(targets)} to {max(targets)}{mean} "
                f"({self.cores} cores; at most {self.ceiling}{spent})")
