"""What a heartbeat registry reports over time, and how long a dead instance stays in its view.

A registry cannot see a crash: it only sees heartbeats stop. It keeps an instance in its view while
``now - last_seen < ttl`` and drops it the moment that fails, so an instance that dies is still handed
out to callers for a while. How long depends on where between two heartbeats it died: just after a
heartbeat it is dropped ``ttl`` later, just before the next one only ``ttl - heartbeat_interval``
later. That window, ``(ttl - interval, ttl]``, is the price of detecting failure by silence; an
instance that shuts down cleanly deregisters and leaves the view at once.

Nothing here runs a clock: heartbeat times are ``registered_at + k * heartbeat_interval`` (computed by
multiplication, so times that are exact in binary stay exact) and the view at each sample time is
worked out from them. Events at a sample's time (a heartbeat, a stop) happen before the sample is
taken, so an instance stopping at a heartbeat time still sends that heartbeat.
"""
from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Detection:
    """One stopped instance: when it stopped, its last sign of life, and when the registry dropped it."""

    instance: str
    stopped_at: float
    last_heartbeat: float
    vanished_at: float  # the first moment the registry no longer lists it
    graceful: bool  # it deregistered on the way out instead of just going silent

    @property
    def delay(self) -> float:
        """How long callers were still sent to it after it stopped: in ``(ttl - interval, ttl]`` for a crash."""
        return self.vanished_at - self.stopped_at

    @property
    def silence(self) -> float:
        """How long after its last heartbeat it vanished: ``ttl`` for a crash, whatever the timing."""
        return self.vanished_at - self.last_heartbeat


@dataclass(frozen=True)
class RegistryTimeline:
    """The registry's view at every sample time, the heartbeats behind it, and one row per stop."""

    instances: tuple[str, ...]  # in registration order
    heartbeat_interval: float
    ttl: float
    times: tuple[float, ...]
    healthy: tuple[tuple[str, ...], ...]  # per sample time, the instances listed, in registration order
    heartbeats: dict[str, tuple[float, ...]]  # per instance, every heartbeat up to the horizon or its stop
    detections: tuple[Detection, ...]  # one per stopped instance, in registration order

    @property
    def healthy_count(self) -> list[int]:
        return [len(view) for view in self.healthy]

    def listed(self, instance: str) -> list[bool]:
        """Per sample time, whether ``instance`` was in the view: one lane of a swimlane figure."""
        return [instance in view for view in self.healthy]

    def detection(self, instance: str) -> Detection:
        for row in self.detections:
            if row.instance == instance:
                return row
        raise KeyError(instance)

    @property
    def stale_samples(self) -> list[tuple[float, str]]:
        """Sample times at which a stopped instance was still listed: callers sent to a dead address."""
        stopped = {row.instance: row.stopped_at for row in self.detections}
        return [
            (time, name) for time, view in zip(self.times, self.healthy)
            for name in view if name in stopped and time > stopped[name]
        ]


def registry_timeline(
    instances: Sequence[str],
    heartbeat_interval: float,
    ttl: float,
    stops: Mapping[str, float],
    *,
    horizon: float,
    step: float,
    registered_at: Mapping[str, float] | None = None,
    graceful: Collection[str] = (),
) -> RegistryTimeline:
    """Sample the registry's view every ``step`` seconds from 0 to ``horizon`` while instances come and go.

    Every instance registers at ``registered_at[name]`` (0 by default) and heartbeats every
    ``heartbeat_interval`` seconds until its time in ``stops``, if it has one (that time must not be
    before it registered). A stopped instance in ``graceful`` deregisters at its stop; the others crash
    and go silent. With ``ttl <= heartbeat_interval`` even live instances drop out between heartbeats:
    the registry flaps, which the timeline shows rather than forbids.
    """
    starts = {name: 0.0 for name in instances} if registered_at is None else dict(registered_at)
    _check(instances, heartbeat_interval, ttl, stops, horizon, step, starts, graceful)
    order = sorted(instances, key=lambda name: (starts[name], instances.index(name)))
    heartbeats = {
        name: _heartbeat_times(starts[name], heartbeat_interval, stops.get(name, horizon)) for name in order
    }
    times = _sample_times(horizon, step)
    views = tuple(
        tuple(name for name in order if _listed(time, heartbeats[name], ttl, stops.get(name), name in graceful))
        for time in times
    )
    detections = tuple(
        _detection(name, stops[name], heartbeats[name][-1], ttl, name in graceful) for name in order if name in stops
    )
    return RegistryTimeline(
        instances=tuple(order), heartbeat_interval=float(heartbeat_interval), ttl=float(ttl), times=times,
        healthy=views, heartbeats=heartbeats, detections=detections,
    )


def _heartbeat_times(start: float, interval: float, until: float) -> tuple[float, ...]:
    """The registration (``k = 0``) and every heartbeat at ``start + k * interval <= until``."""
    times = []
    k = 0
    while start + k * interval <= until:
        times.append(start + k * interval)
        k += 1
    return tuple(times)


def _sample_times(horizon: float, step: float) -> tuple[float, ...]:
    times = []
    k = 0
    while k * step <= horizon:
        times.append(k * step)
        k += 1
    return tuple(times)


def _listed(time: float, heartbeats: tuple[float, ...], ttl: float, stop: float | None, graceful: bool) -> bool:
    """The registry's rule: registered, not deregistered, and last seen less than ``ttl`` ago."""
    if graceful and stop is not None and time >= stop:
        return False
    seen = bisect.bisect_right(heartbeats, time)  # heartbeats at or before ``time``
    if seen == 0:
        return False  # not registered yet
    return time - heartbeats[seen - 1] < ttl


def _detection(name: str, stop: float, last: float, ttl: float, graceful: bool) -> Detection:
    return Detection(
        instance=name, stopped_at=float(stop), last_heartbeat=last,
        vanished_at=float(stop) if graceful else last + ttl, graceful=graceful,
    )


def _check(instances, interval, ttl, stops, horizon, step, starts, graceful) -> None:
    for name, value in {"heartbeat_interval": interval, "ttl": ttl, "step": step}.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if not horizon >= 0:
        raise ValueError(f"horizon cannot be negative, got {horizon!r}")
    if len(set(instances)) != len(instances):
        raise ValueError(f"instance names must be unique, got {list(instances)!r}")
    for label, names in (("stops", stops), ("registered_at", starts), ("graceful", graceful)):
        unknown = set(names) - set(instances)
        if unknown:
            raise ValueError(f"{label} names instances that do not exist: {sorted(unknown)!r}")
    missing = set(instances) - set(starts)
    if missing:
        raise ValueError(f"registered_at has no time for {sorted(missing)!r}")
    if set(graceful) - set(stops):
        raise ValueError(f"graceful instances need a stop time: {sorted(set(graceful) - set(stops))!r}")
    for name, stop in stops.items():
        if stop < starts[name]:
            raise ValueError(f"{name!r} stops at {stop!r}, before it registers at {starts[name]!r}")
