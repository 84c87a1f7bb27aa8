"""What a ttl and a heartbeat interval cost: how late a crash is noticed, against heartbeat load.

The registry keeps an instance while ``now - last_seen < ttl`` (see ``registry_timeline``). A crash is
therefore noticed between ``ttl - interval`` and ``ttl`` after it happened, every instance sends
``1 / interval`` heartbeats a second, and a live instance survives ``k`` lost heartbeats in a row only
if the next one arrives in time, ``(k + 1) * interval < ttl``: a heartbeat landing exactly at the ttl
is too late, as the rule's ``<`` says.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TtlSetting:
    """One ttl and heartbeat interval, for a fleet of ``instances``."""

    ttl: float
    interval: float
    instances: int

    @property
    def fastest_detection(self) -> float:
        """A crash just before a heartbeat is noticed this long after it (the window's open lower end)."""
        return max(0.0, self.ttl - self.interval)

    @property
    def slowest_detection(self) -> float:
        """A crash just after a heartbeat is noticed a full ttl later."""
        return self.ttl

    @property
    def heartbeats_per_second(self) -> float:
        """What the registry must take from the whole fleet."""
        return self.instances / self.interval

    @property
    def lost_heartbeats_survived(self) -> int:
        """The most heartbeats in a row a live instance can lose and still stay listed."""
        return max(0, math.ceil(self.ttl / self.interval - 1) - 1)


def ttl_table(settings: Iterable[tuple[float, float]], instances: int) -> str:
    """One line per ``(ttl, interval)``: the detection window, the heartbeat load, the lost beats survived."""
    lines = [f"{'ttl':>6} {'interval':>9} {'a crash is handed out for':>27} {'heartbeats/s':>13} "
             f"{'lost beats survived':>20}"]
    for ttl, interval in settings:
        row = TtlSetting(ttl, interval, instances)
        window = f"{row.fastest_detection:g} to {row.slowest_detection:g} s"
        lines.append(f"{ttl:6g} {interval:9g} {window:>27} {row.heartbeats_per_second:13,.0f} "
                     f"{row.lost_heartbeats_survived:20d}")
    return "\n".join(lines)
