"""How many judges grade at once.

One judge per core leaves the machine idle much of the time: a judge waiting on real time (a socket
time-out, a bulkhead's ``max_wait``, a thread gate) uses no CPU while it waits. Too many judges at
once would compete for the cores and slow down the very checks that measure real time. So the
number of judges follows what they actually spend: while the cores sit idle, one more judge is let
in; when the cores are saturated, one fewer; never fewer than the cores, never more than the
ceiling, which memory and a multiple of the cores bound.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

# A judge process (pytest, hypothesis) and its sandbox peaked at 81 + 70 MB resident grading the
# resilience references; the bound counts twice that. (A sandbox's own limit, DSP_LIMIT_MEMORY_MB,
# is of address space, which its threads' stacks fill without touching: it bounds one runaway
# sandbox, not what judges use together.)
JUDGE_MEMORY_BYTES = 300 * 1024**2
MOST_PER_CORE = 4
ADD_WHEN_IDLE = 0.20  # add a judge while at least this share of the CPU time is idle
REMOVE_WHEN_IDLE = 0.05  # remove one (down to the cores) when less than this share is idle
MIN_INTERVAL = 0.5  # seconds between two decisions: shorter readings are noise


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
    """The number of judges to keep running, adjusted from the machine's idle CPU share.

    ``fixed``: the instructor chose the number (``--workers``); it never changes then.
    """

    cores: int
    ceiling: int
    fixed: int | None = None
    target: int = 0
    history: list[int] = field(default_factory=list)  # every target chosen, for the summary
    _last: tuple[float, float, float] | None = None  # (monotonic, idle, total) of the last reading

    def __post_init__(self):
        self.target = self.fixed or min(self.cores, self.ceiling)
        self.history.append(self.target)

    @classmethod
    def for_machine(cls, workers: int | None = None) -> "JudgeConcurrency":
        cores = os.cpu_count() or 1
        if workers:
            return cls(cores=cores, ceiling=workers, fixed=workers)
        return cls(cores=cores, ceiling=ceiling_for(cores, available_memory()))

    def observe(self, now: float, reading: tuple[float, float] | None) -> int:
        """Take a reading of ``cpu_times()`` at ``now`` (monotonic seconds); returns the target."""
        if self.fixed or reading is None:
            return self.target
        if self._last is None:
            self._last = (now, *reading)
            return self.target
        then, idle_then, total_then = self._last
        if now - then < MIN_INTERVAL or reading[1] <= total_then:
            return self.target
        idle = (reading[0] - idle_then) / (reading[1] - total_then)
        self._last = (now, *reading)
        return self.decide(idle)

    def decide(self, idle_share: float) -> int:
        """One step, from the share of CPU time the machine left idle since the last decision."""
        if idle_share >= ADD_WHEN_IDLE and self.target < self.ceiling:
            self.target += 1
        elif idle_share < REMOVE_WHEN_IDLE and self.target > min(self.cores, self.ceiling):
            self.target -= 1
        else:
            return self.target
        self.history.append(self.target)
        return self.target

    def describe(self) -> str:
        if self.fixed:
            return f"{self.fixed} judges at once (--workers)"
        return (f"judges at once: from {self.history[0]} to {max(self.history)} "
                f"({self.cores} cores; at most {self.ceiling})")
