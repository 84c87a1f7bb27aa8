"""A read model catching up with a write model: the log's head, the projection's position, the lag.

Writes arrive as a seeded Poisson stream for ``duration`` seconds and then stop. Every
``catch_up_every`` seconds the projector applies at most ``batch_limit`` of the events it has not
seen. The trace records both positions at every tick, so the lag (events written but not yet
readable) can be drawn and checked to reach zero once the writes stop.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class ProjectionRun:
    times: list[float]
    head: list[int]
    applied: list[int]
    write_times: list[float]
    catch_up_every: float
    batch_limit: int
    duration: float

    @property
    def lag(self) -> list[int]:
        return [head - applied for head, applied in zip(self.head, self.applied)]

    @property
    def caught_up_at(self) -> float | None:
        """The first tick after the last write at which the projection has applied everything."""
        for time, lag in zip(self.times, self.lag):
            if time >= self.duration and lag == 0:
                return time
        return None


def simulate_projection(
    seed: int = 7,
    *,
    write_rate: float = 5.0,
    catch_up_every: float = 1.0,
    batch_limit: int = 4,
    duration: float = 20.0,
    drain_for: float = 40.0,
) -> ProjectionRun:
    """Writes for ``duration`` s, then catch-ups with no writes for ``drain_for`` s and for as long after
    that as the projection needs to apply every event (it always gets there: each tick applies one or more)."""
    if catch_up_every <= 0 or batch_limit < 1:
        raise ValueError("catch_up_every must be positive and batch_limit at least 1")
    rng = random.Random(seed)
    write_times, now = [], 0.0
    while True:
        now += rng.expovariate(write_rate)
        if now > duration:
            break
        write_times.append(now)
    ticks = math.floor((duration + drain_for) / catch_up_every)
    times, head, applied = [0.0], [0], [0]
    position, tick = 0, 0
    while tick < ticks or position < len(write_times):
        tick += 1
        time = tick * catch_up_every
        written = sum(1 for t in write_times if t <= time)
        position = min(written, position + batch_limit)
        times.append(time)
        head.append(written)
        applied.append(position)
    return ProjectionRun(times, head, applied, write_times, catch_up_every, batch_limit, duration)
