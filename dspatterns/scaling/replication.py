"""A primary, its read replicas and the replication lag between them, replayed in simulated time.

Read replicas scale reads: every write goes to the primary, which appends it to its log at the next
position (1, 2, 3, ...), and each replica applies that log, in order, some time later. Any replica can
answer a read, so adding replicas adds read capacity. The price is the lag: a replica that has not yet
applied a write answers with the value from before it. The course has to *show* that price (how many
reads are stale, whose own writes go missing, how much load the fixes push back onto the primary), and
it has to show the same traffic under every setting, so this module replays a seeded workload against
a model of the servers in virtual time: the same arguments always give the same reads.

How the model works:

* The workload comes first and does not depend on the servers: writes and reads arrive as Poisson
  streams from their own generators, each made by one of ``sessions`` users. A read asks, half of the
  time (``own_key_share``), for the key its session wrote last (a user looking at the profile they just
  saved), otherwise for any key. So changing the lag, the number of replicas or the policy replays the
  very same requests; changing the write rate redraws only the writes.
* Replica ``i`` lags ``lag * (1 + lag_spread * i)`` seconds on average, and each write reaches it that
  long after it was written, give or take ``jitter`` (a fraction of the lag, drawn per write and per
  replica from a generator of that replica alone, so adding a replica leaves the others' timings as they
  were). A replica applies the log in order: a write never becomes visible before the ones written
  earlier, however fast its own delivery was. With ``lag_spread = jitter = 0`` every replica applies a
  write exactly ``lag`` seconds after it was written, the rule of the graded exercise.
* A read asks for a minimum log position, which depends on the policy: ``ANY_REPLICA`` asks for nothing
  (position 0); ``READ_YOUR_WRITES`` asks for the position of its session's last write, so the session
  sees everything it wrote; ``MONOTONIC_SESSIONS`` also asks for the highest position any server that
  served the session had applied, so a session never sees the data go back in time. The read goes to
  the next replica in turn (round robin, starting after the one that served last) among those that have
  applied that position, and to the primary when none has.

This is a model for figures, not a store: the servers are arrays of apply times and the reads are
plain records. Writing the replicated store itself is the exercise.
"""
from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ANY_REPLICA = "any replica"
READ_YOUR_WRITES = "read-your-writes"
MONOTONIC_SESSIONS = "read-your-writes + monotonic reads"
POLICIES = (ANY_REPLICA, READ_YOUR_WRITES, MONOTONIC_SESSIONS)

PRIMARY = "primary"
WRITE = "write"
READ = "read"


def replica_name(index: int) -> str:
    """Replicas are numbered from 0, as the exercise's ``reads_served()`` and ``replica_position(i)`` are."""
    return f"replica {index}"


@dataclass(frozen=True)
class Operation:
    """One request of the workload, before any server has seen it."""

    time: float
    kind: str  # WRITE or READ
    session: int
    key: str


@dataclass(frozen=True)
class Write:
    """A write as the primary logged it; ``value`` names the key's version, e.g. ``"k3 v2"``."""

    time: float
    session: int
    key: str
    value: str
    position: int


@dataclass(frozen=True)
class Read:
    """One read and everything needed to judge it afterwards.

    ``applied`` is how far the serving server had applied the log; ``version`` is the log position of
    the write whose value it returned (0 when the key was absent there, ``value`` then ``None``);
    ``latest`` is the key's newest position on the primary at that moment; ``own_write`` is the position
    of this session's newest write of the key (0 if none); ``seen_before`` is the newest version of the
    key this session had been shown by an earlier read.
    """

    time: float
    session: int
    key: str
    server: str
    min_position: int
    applied: int
    version: int
    value: str | None
    latest: int
    own_write: int
    seen_before: int

    @property
    def stale(self) -> bool:
        """Older than the latest write of the key: what the primary would have answered differs."""
        return self.version < self.latest

    @property
    def missed_own_write(self) -> bool:
        """The session wrote this key, then read an older value: the anomaly read-your-writes removes."""
        return self.version < self.own_write

    @property
    def went_back(self) -> bool:
        """The session had already been shown a newer value of this key: time ran backwards for it."""
        return self.version < self.seen_before


@dataclass(frozen=True)
class ReplicationRun:
    """One policy over one workload; ``apply_times[i][p - 1]`` is when replica ``i`` applied position ``p``."""

    policy: str
    seed: int
    duration: float
    write_rate: float
    read_rate: float
    lag: float
    replica_lags: tuple[float, ...]
    jitter: float
    writes: tuple[Write, ...]
    reads: tuple[Read, ...]
    apply_times: tuple[tuple[float, ...], ...]

    @property
    def servers(self) -> tuple[str, ...]:
        return (PRIMARY, *(replica_name(i) for i in range(len(self.replica_lags))))

    @property
    def stale_reads(self) -> int:
        return sum(read.stale for read in self.reads)

    @property
    def missed_own_writes(self) -> int:
        return sum(read.missed_own_write for read in self.reads)

    @property
    def went_back(self) -> int:
        return sum(read.went_back for read in self.reads)

    def reads_by_server(self) -> dict[str, int]:
        """How many reads each server answered, the primary first, every server listed (0 included)."""
        counts = dict.fromkeys(self.servers, 0)
        for read in self.reads:
            counts[read.server] += 1
        return counts

    def read_share(self) -> dict[str, float]:
        """Each server's fraction of the reads: what capacity planning for replicas is about."""
        total = len(self.reads)
        return {server: count / total if total else 0.0 for server, count in self.reads_by_server().items()}

    def applied_position(self, server: str, time: float) -> int:
        """How far ``server`` had applied the log at ``time`` (a replica applies at its apply time, ``>=``)."""
        if server == PRIMARY:
            return bisect.bisect_right([write.time for write in self.writes], time)
        return bisect.bisect_right(self.apply_times[self.servers.index(server) - 1], time)

    def backlog(self, replica: int) -> tuple[list[float], list[int]]:
        """Writes the primary has and replica ``replica`` has not yet applied, as a step function of time.

        Returns the times where the backlog changes (from 0 to ``duration``) and its value from each of
        them on. On average it is the write rate times the lag (Little's law): the lag, counted in writes.
        """
        steps = [(write.time, 1) for write in self.writes]
        steps += [(applied, -1) for applied in self.apply_times[replica] if applied <= self.duration]
        times, values, backlog = [0.0], [0], 0
        for time, change in sorted(steps, key=lambda step: (step[0], step[1])):
            backlog += change
            if time == times[-1]:
                values[-1] = backlog
            else:
                times.append(time)
                values.append(backlog)
        times.append(self.duration)
        values.append(backlog)
        return times, values


def draw_workload(
    *,
    seed: int = 11,
    duration: float = 30.0,
    write_rate: float = 2.0,
    read_rate: float = 20.0,
    sessions: int = 8,
    keys: int = 12,
    own_key_share: float = 0.5,
) -> tuple[Operation, ...]:
    """The requests, in time order: Poisson writes and reads, each from a session, drawn from ``seed`` alone.

    Writes and reads have generators of their own, so a new write rate leaves the read times, and the
    sessions making them, unchanged. A read wants its session's last written key with probability
    ``own_key_share`` (once the session has written anything), otherwise a key drawn uniformly.
    """
    _check_workload(duration, write_rate, read_rate, sessions, keys, own_key_share)
    names = [f"k{number}" for number in range(keys)]
    write_rng, read_rng = random.Random(f"{seed}/writes"), random.Random(f"{seed}/reads")
    writes = [(time, WRITE, write_rng.randrange(sessions), write_rng.choice(names))
              for time in _arrivals(write_rng, write_rate, duration)]
    reads = [(time, read_rng.randrange(sessions), read_rng.random(), read_rng.choice(names))
             for time in _arrivals(read_rng, read_rate, duration)]
    operations, last_key = [], {}
    pending = iter(writes)
    upcoming = next(pending, None)
    for time, session, draw, any_key in reads:
        while upcoming is not None and upcoming[0] <= time:  # a write at a read's instant comes first
            operations.append(Operation(*upcoming))
            last_key[upcoming[2]] = upcoming[3]
            upcoming = next(pending, None)
        wants_own = session in last_key and draw < own_key_share
        operations.append(Operation(time, READ, session, last_key[session] if wants_own else any_key))
    while upcoming is not None:
        operations.append(Operation(*upcoming))
        upcoming = next(pending, None)
    return tuple(operations)


def simulate_replication(
    *,
    policy: str = ANY_REPLICA,
    seed: int = 11,
    duration: float = 30.0,
    write_rate: float = 2.0,
    read_rate: float = 20.0,
    replicas: int = 3,
    lag: float = 1.0,
    lag_spread: float = 0.5,
    jitter: float = 0.3,
    sessions: int = 8,
    keys: int = 12,
    own_key_share: float = 0.5,
) -> ReplicationRun:
    """Replay the workload of ``seed`` against a primary and ``replicas`` replicas under ``policy``."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas!r}")
    if lag < 0 or lag_spread < 0:
        raise ValueError(f"lag and lag_spread cannot be negative, got {lag!r} and {lag_spread!r}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter is a fraction of the lag in [0, 1], got {jitter!r}")
    operations = draw_workload(seed=seed, duration=duration, write_rate=write_rate, read_rate=read_rate,
                               sessions=sessions, keys=keys, own_key_share=own_key_share)

    writes: list[Write] = []
    versions_per_key: dict[str, int] = {}
    for operation in operations:
        if operation.kind == WRITE:
            versions_per_key[operation.key] = versions_per_key.get(operation.key, 0) + 1
            writes.append(Write(operation.time, operation.session, operation.key,
                                f"{operation.key} v{versions_per_key[operation.key]}", len(writes) + 1))
    replica_lags = tuple(lag * (1.0 + lag_spread * index) for index in range(replicas))
    apply_times = tuple(
        _apply_times(writes, mean_lag, jitter, random.Random(f"{seed}/{replica_name(index)}"))
        for index, mean_lag in enumerate(replica_lags)
    )

    positions_of_key: dict[str, list[int]] = {}  # ascending log positions of each key's writes
    last_write: dict[int, int] = {}  # session -> position of its last write
    own_writes: dict[tuple[int, str], int] = {}  # (session, key) -> position of its last write of key
    floor: dict[int, int] = {}  # session -> highest position a server that served it had applied
    seen: dict[tuple[int, str], int] = {}  # (session, key) -> newest version it has been shown
    reads: list[Read] = []
    written = 0
    last_served = -1  # the replica that served the previous replica read; the rotation starts after it
    for operation in operations:
        if operation.kind == WRITE:
            written += 1
            positions_of_key.setdefault(operation.key, []).append(written)
            last_write[operation.session] = written
            own_writes[operation.session, operation.key] = written
            continue
        session, key = operation.session, operation.key
        wanted = {
            ANY_REPLICA: 0,
            READ_YOUR_WRITES: last_write.get(session, 0),
            MONOTONIC_SESSIONS: max(last_write.get(session, 0), floor.get(session, 0)),
        }[policy]
        applied_now = [bisect.bisect_right(times, operation.time) for times in apply_times]
        for step in range(1, replicas + 1):
            candidate = (last_served + step) % replicas
            if applied_now[candidate] >= wanted:
                server, applied, last_served = replica_name(candidate), applied_now[candidate], candidate
                break
        else:
            server, applied = PRIMARY, written
        history = positions_of_key.get(key, [])
        version = _version_at(history, applied)
        reads.append(Read(
            time=operation.time, session=session, key=key, server=server, min_position=wanted,
            applied=applied, version=version, value=writes[version - 1].value if version else None,
            latest=_version_at(history, written), own_write=own_writes.get((session, key), 0),
            seen_before=seen.get((session, key), 0),
        ))
        floor[session] = max(floor.get(session, 0), applied)
        seen[session, key] = max(seen.get((session, key), 0), version)

    return ReplicationRun(
        policy=policy, seed=seed, duration=float(duration), write_rate=float(write_rate),
        read_rate=float(read_rate), lag=float(lag), replica_lags=replica_lags, jitter=float(jitter),
        writes=tuple(writes), reads=tuple(reads), apply_times=apply_times,
    )


def compare_policies(policies: Sequence[str] = (ANY_REPLICA, READ_YOUR_WRITES), **settings) -> tuple[ReplicationRun, ...]:
    """The same workload and the same replicas under each policy, in the order given."""
    return tuple(simulate_replication(policy=policy, **settings) for policy in policies)


def replication_report(runs: Iterable[ReplicationRun]) -> str:
    """Plain-text counts per run: stale reads, missed own writes, reads that went back, the read share."""
    lines = []
    for run in runs:
        total = len(run.reads)
        share = ", ".join(f"{server} {fraction:.0%}" for server, fraction in run.read_share().items())
        lines.append(
            f"{run.policy:>34}: {total:,} reads, {run.stale_reads:4,} stale ({run.stale_reads / max(total, 1):4.0%}), "
            f"{run.missed_own_writes:3,} missed the session's own write, {run.went_back:3,} went back in time"
        )
        lines.append(f"{'':>34}  read share: {share}")
    return "\n".join(lines)


def lag_sweep(
    lags: Sequence[float] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0),
    *,
    seeds: Iterable[int] = range(10),
    **settings,
) -> str:
    """A table over lags, summed over several workloads: what lag costs, and what sessions cost the primary.

    For each lag: the share of stale reads and of reads that missed the session's own write when any
    replica may answer, then the share of reads the primary has to serve under read-your-writes.
    """
    seeds = list(seeds)
    lines = [f"{'lag (s)':>8}  {'stale reads':>12}  {'missed own write':>17}  {'primary share with read-your-writes':>37}"]
    for lag in lags:
        stale = missed = primary = total = 0
        for seed in seeds:
            anyone, sessions = compare_policies((ANY_REPLICA, READ_YOUR_WRITES), seed=seed, lag=lag, **settings)
            stale += anyone.stale_reads
            missed += anyone.missed_own_writes
            primary += sessions.reads_by_server()[PRIMARY]
            total += len(anyone.reads)
        lines.append(f"{lag:>8g}  {stale / total:>12.1%}  {missed / total:>17.1%}  {primary / total:>37.1%}")
    return "\n".join(lines)


def _apply_times(writes: Sequence[Write], mean_lag: float, jitter: float, rng: random.Random) -> tuple[float, ...]:
    """When one replica applies each log position: in order, each no earlier than its own delivery."""
    times, previous = [], 0.0
    for write in writes:
        delivered = write.time + mean_lag * (1.0 + jitter * (2.0 * rng.random() - 1.0))
        previous = max(previous, delivered)
        times.append(previous)
    return tuple(times)


def _version_at(positions: list[int], applied: int) -> int:
    """The newest of a key's write positions at or below ``applied`` (0: the key did not exist yet)."""
    index = bisect.bisect_right(positions, applied)
    return positions[index - 1] if index else 0


def _arrivals(rng: random.Random, rate: float, duration: float) -> list[float]:
    times, time = [], rng.expovariate(rate)
    while time < duration:
        times.append(time)
        time += rng.expovariate(rate)
    return times


def _check_workload(duration, write_rate, read_rate, sessions, keys, own_key_share) -> None:
    for name, value in {"duration": duration, "write_rate": write_rate, "read_rate": read_rate}.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    for name, value in {"sessions": sessions, "keys": keys}.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value!r}")
    if not 0.0 <= own_key_share <= 1.0:
        raise ValueError(f"own_key_share is a probability in [0, 1], got {own_key_share!r}")
