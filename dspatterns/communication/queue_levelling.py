"""A message queue between a bursty producer and steady consumers, checked against queueing theory.

Why put a queue between services? A producer that sends in bursts would overwhelm consumers that call
it directly; with a queue in between, the burst waits in the queue and the consumers work through it at
their own steady pace. The queue does not create capacity: it trades a rejected or failed call for a
*wait*, and the wait is the price. ``levelling_run`` shows both sides: how deep the queue gets and how
long messages wait, for bursts of 1 to 50 messages and 1 to 8 consumers, at the same average load.

A model is only worth a figure if it is right, so the same FIFO queue also runs the textbook case,
M/M/c: Poisson arrivals, exponential service. ``mmc_simulation`` measures its mean wait and
``mmc_mean_wait`` predicts it (Erlang C); the tests check the two agree within 5 %, and that the SimPy
queue (``_serve``) and the fast one ``mmc_simulation`` runs (``_fifo_starts``) start every message at
the same instant. A queue only levels load a consumer eventually finishes, and real consumers
crash: ``redelivery_run`` is the at-least-once side, a visibility timeout that brings an un-acked
message back and a dead-letter queue that takes it after ``max_deliveries`` tries.

Everything runs in virtual time with SimPy and draws from ``random.Random(seed)``: same seed, same run.
"""
from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import simpy


# --- the queue itself: arrivals in, FIFO, ``consumers`` workers ---------------------------------------

@dataclass(frozen=True)
class _Served:
    """When each message started and finished service, in the order the messages were sent."""

    started: tuple[float, ...]
    finished: tuple[float, ...]


def _serve(sent_at: Sequence[float], work: Sequence[float], consumers: int) -> _Served:
    """Feed messages sent at ``sent_at`` (sorted) into one FIFO queue read by ``consumers`` workers.

    Message ``i`` keeps its worker for ``work[i]`` seconds. Several messages may share a send time (a
    burst): they enter the queue at the same instant, in order.
    """
    env = simpy.Environment()
    queue = simpy.Store(env)
    started = [math.nan] * len(sent_at)
    finished = [math.nan] * len(sent_at)

    def producer():
        for index, time in enumerate(sent_at):
            if time > env.now:
                yield env.timeout(time - env.now)
            queue.put(index)

    def consumer():
        while True:
            index = yield queue.get()
            started[index] = env.now
            yield env.timeout(work[index])
            finished[index] = env.now

    env.process(producer())
    for _ in range(consumers):
        env.process(consumer())
    env.run()  # ends once every message is done: idle consumers wait on an empty store, scheduling nothing
    return _Served(tuple(started), tuple(finished))


def _percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value at least ``share`` of the values are not above."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _count_up_to(ordered: Sequence[float], time: float) -> int:
    return bisect.bisect_right(ordered, time)


# --- 1. levelling a bursty producer ----------------------------------------------------------------------

@dataclass(frozen=True)
class LevellingRun:
    """One run: the settings, the queue's depth over time, and every message's wait.

    ``times``/``depths``/``busy`` sample, every ``sample_interval`` seconds until the queue has drained,
    how many messages wait in the queue and how many consumers are working. ``peak_depth`` is exact (not
    sampled). ``throughput`` counts messages finished while the producer was sending, per second: it
    stays at the consumers' capacity when that is below ``offered_rate``, however long the queue grows.
    """

    burst_size: int
    consumers: int
    rate: float
    service_time: float
    duration: float
    sample_interval: float
    times: tuple[float, ...]
    depths: tuple[int, ...]
    busy: tuple[int, ...]
    sent_at: tuple[float, ...]
    finished_at: tuple[float, ...]
    waits: tuple[float, ...]
    peak_depth: int
    mean_wait: float
    p95_wait: float
    throughput: float
    offered_rate: float
    drained_at: float

    @property
    def utilisation(self) -> float:
        """Offered work over capacity: at or above 1 the queue grows for as long as the producer sends."""
        return self.rate * self.service_time / self.consumers

    @property
    def label(self) -> str:
        return f"bursts of {self.burst_size}, {self.consumers} consumer{'s' * (self.consumers != 1)}"

    def sent_per_bin(self, bin_width: float = 5.0) -> tuple[list[float], list[float]]:
        """Messages sent per second, in bins of ``bin_width`` seconds: the spiky input."""
        return _rate_per_bin(self.sent_at, bin_width, self.drained_at)

    def finished_per_bin(self, bin_width: float = 5.0) -> tuple[list[float], list[float]]:
        """Messages finished per second, in bins: the levelled output."""
        return _rate_per_bin(self.finished_at, bin_width, self.drained_at)


def levelling_run(
    burst_size: int,
    consumers: int,
    *,
    seed: int,
    rate: float = 1.5,
    service_time: float = 1.0,
    duration: float = 600.0,
    sample_interval: float = 1.0,
) -> LevellingRun:
    """Send ``rate`` messages per second on average, in bursts of ``burst_size``, for ``duration`` seconds.

    Bursts come at exponential intervals of mean ``burst_size / rate``, so every burst size offers the
    same load and only the burstiness differs. Each message takes an exponential ``service_time`` (mean)
    of one consumer's time. With the defaults one consumer is overloaded (utilisation 1.5), two are at
    0.75 and eight at 0.19. The burst times are drawn first, then the work, so for one seed and burst
    size every consumer count sees exactly the same messages.
    """
    if burst_size < 1 or consumers < 1:
        raise ValueError(f"burst_size and consumers must be at least 1, got {burst_size!r}, {consumers!r}")
    for name, value in {"rate": rate, "service_time": service_time, "duration": duration,
                        "sample_interval": sample_interval}.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    rng = random.Random(seed)
    sent_at = _burst_times(rng, burst_size, rate, duration)
    work = [rng.expovariate(1.0 / service_time) for _ in sent_at]
    served = _serve(sent_at, work, consumers)

    waits = tuple(start - sent for start, sent in zip(served.started, sent_at))
    drained_at = max(served.finished, default=0.0)
    times, depths, busy = _sample_occupancy(sent_at, served, sample_interval, max(drained_at, duration))
    return LevellingRun(
        burst_size=burst_size, consumers=consumers, rate=float(rate), service_time=float(service_time),
        duration=float(duration), sample_interval=float(sample_interval),
        times=times, depths=depths, busy=busy, sent_at=tuple(sent_at), finished_at=served.finished,
        waits=waits, peak_depth=_peak_depth(sent_at, served.started),
        mean_wait=sum(waits) / len(waits) if waits else 0.0,
        p95_wait=_percentile(waits, 0.95) if waits else 0.0,
        throughput=sum(f <= duration for f in served.finished) / duration,
        offered_rate=len(sent_at) / duration, drained_at=drained_at,
    )


def levelling_table(runs: Sequence[LevellingRun]) -> str:
    """Plain-text summary, one line per run: the figures' story in numbers."""
    lines = [f"{'run':<32} {'peak depth':>10} {'mean wait':>10} {'p95 wait':>9} {'msg/s':>6}"]
    for run in runs:
        lines.append(
            f"{run.label:<32} {run.peak_depth:>10d} {run.mean_wait:>9.1f}s {run.p95_wait:>8.1f}s "
            f"{run.throughput:>6.2f}"
        )
    return "\n".join(lines)


def _burst_times(rng: random.Random, burst_size: int, rate: float, duration: float) -> list[float]:
    """Send times: ``burst_size`` copies of each burst instant, bursts at exponential intervals."""
    times = []
    time = rng.expovariate(rate / burst_size)
    while time < duration:
        times.extend([time] * burst_size)
        time += rng.expovariate(rate / burst_size)
    return times


def _peak_depth(sent_at: Sequence[float], started: Sequence[float]) -> int:
    """Most messages waiting at once. A message that starts the instant it is sent never waited."""
    starts = sorted(started)
    return max((_count_up_to(sent_at, t) - _count_up_to(starts, t) for t in set(sent_at)), default=0)


def _sample_occupancy(
    sent_at: Sequence[float], served: _Served, interval: float, end: float,
) -> tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...]]:
    """Waiting and in-service counts at ``0, interval, 2*interval, ...`` up to and including ``end``."""
    starts, finishes = sorted(served.started), sorted(served.finished)
    times = tuple(i * interval for i in range(math.ceil(end / interval) + 1))
    depths = tuple(_count_up_to(sent_at, t) - _count_up_to(starts, t) for t in times)
    busy = tuple(_count_up_to(starts, t) - _count_up_to(finishes, t) for t in times)
    return times, depths, busy


def _rate_per_bin(times: Sequence[float], bin_width: float, end: float) -> tuple[list[float], list[float]]:
    bins = max(math.ceil(end / bin_width), 1)
    counts = [0] * bins
    for time in times:
        counts[min(int(time // bin_width), bins - 1)] += 1
    return [i * bin_width for i in range(bins)], [c / bin_width for c in counts]


# --- 2. the same queue against M/M/c theory ------------------------------------------------------------

def erlang_c(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Probability that an arrival has to wait in an M/M/c queue (Erlang's C formula).

    Computed through the Erlang B recursion ``B(k) = a B(k-1) / (k + a B(k-1))``, which never forms
    ``a**c / c!`` and so stays accurate for many servers; then ``C = B / (1 - rho (1 - B))``.
    """
    offered, utilisation = _offered_load(arrival_rate, service_rate, servers)
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return blocking / (1.0 - utilisation * (1.0 - blocking))


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in the queue (before service) of an M/M/c system: ``C / (c mu - lambda)``."""
    return erlang_c(arrival_rate, service_rate, servers) / (servers * service_rate - arrival_rate)


@dataclass(frozen=True)
class MmcRun:
    """Measured over the customers after the warm-up: waits in queue, and how busy the servers were."""

    arrival_rate: float
    service_rate: float
    servers: int
    customers: int
    measured: int
    mean_wait: float
    waited_share: float
    utilisation: float

    @property
    def predicted_wait(self) -> float:
        return mmc_mean_wait(self.arrival_rate, self.service_rate, self.servers)

    @property
    def predicted_waited_share(self) -> float:
        return erlang_c(self.arrival_rate, self.service_rate, self.servers)


def mmc_simulation(
    arrival_rate: float,
    service_rate: float,
    servers: int,
    *,
    seed: int,
    customers: int = 200_000,
    warmup: int | None = None,
) -> MmcRun:
    """Run ``customers`` Poisson arrivals with exponential service through ``servers`` FIFO servers.

    The queue starts empty, which is not the steady state theory describes: the first ``warmup``
    customers (a tenth by default) are run but not measured. ``utilisation`` is the measured
    customers' work over ``servers`` times the span from their first arrival to their last departure.
    Agreement within 5 % at utilisation 0.9 takes about a million customers, so this runs the queue as
    ``_fifo_starts`` (the same FIFO queue as ``_serve``, without SimPy's event loop: the tests check the
    two give identical start times).
    """
    _offered_load(arrival_rate, service_rate, servers)
    if warmup is None:
        warmup = customers // 10
    if not 0 <= warmup < customers:
        raise ValueError(f"need 0 <= warmup < customers, got warmup={warmup!r}, customers={customers!r}")
    rng = random.Random(seed)
    sent_at = list(itertools.accumulate(_exponentials(rng, arrival_rate, customers)))
    work = _exponentials(rng, service_rate, customers)
    started = _fifo_starts(sent_at, work, servers)

    waits = [start - sent for start, sent in zip(started[warmup:], sent_at[warmup:])]
    span = max(start + w for start, w in zip(started[warmup:], work[warmup:])) - sent_at[warmup]
    return MmcRun(
        arrival_rate=float(arrival_rate), service_rate=float(service_rate), servers=servers,
        customers=customers, measured=len(waits), mean_wait=sum(waits) / len(waits),
        waited_share=sum(w > 0 for w in waits) / len(waits),
        utilisation=sum(work[warmup:]) / (servers * span),
    )


def _exponentials(rng: random.Random, rate: float, count: int) -> list[float]:
    """``count`` draws of ``rng.expovariate(rate)``, the same numbers, without a Python call per draw."""
    draw, log = rng.random, math.log
    return [-log(1.0 - draw()) / rate for _ in range(count)]


def _fifo_starts(sent_at: Sequence[float], work: Sequence[float], consumers: int) -> list[float]:
    """``_serve``'s start times without SimPy: in FIFO order, each message takes the first worker free."""
    free_at = [0.0] * consumers  # a heap: when each worker is next free
    started = []
    for sent, busy in zip(sent_at, work):
        start = free_at[0] if free_at[0] > sent else sent
        heapq.heapreplace(free_at, start + busy)
        started.append(start)
    return started


def _offered_load(arrival_rate: float, service_rate: float, servers: int) -> tuple[float, float]:
    """``(a, rho)`` = ``(lambda / mu, lambda / (c mu))``; a ValueError unless the system is stable."""
    if not (arrival_rate > 0 and service_rate > 0):
        raise ValueError(f"rates must be positive, got {arrival_rate!r}, {service_rate!r}")
    if not (isinstance(servers, int) and servers >= 1):
        raise ValueError(f"servers must be a whole number, at least 1, got {servers!r}")
    utilisation = arrival_rate / (servers * service_rate)
    if utilisation >= 1:
        raise ValueError(f"unstable: utilisation lambda / (c mu) = {utilisation:.3g} >= 1, the queue grows forever")
    return arrival_rate / service_rate, utilisation


# --- 3. visibility timeout, redelivery and dead letters -------------------------------------------------

RECEIVED = "receive"
ACKED = "ack"
LATE_ACK = "late ack"
CRASHED = "crash"
TIMED_OUT = "timeout"
DEAD_LETTERED = "dead letter"
EVENT_KINDS = (RECEIVED, ACKED, LATE_ACK, CRASHED, TIMED_OUT, DEAD_LETTERED)


@dataclass(frozen=True)
class QueueEvent:
    """One line of the timeline. ``delivery`` counts from 1; a dead letter has no consumer."""

    time: float
    kind: str
    message: int
    delivery: int
    consumer: int | None


@dataclass(frozen=True)
class Lease:
    """A message invisible to everyone but ``consumer``, from ``start`` until ``end`` (ack or timeout)."""

    message: int
    delivery: int
    consumer: int
    start: float
    end: float
    outcome: str


@dataclass(frozen=True)
class RedeliveryRun:
    """Every message's fate: ``deliveries[m]`` is how often message ``m`` was handed out."""

    messages: int
    consumers: int
    visibility_timeout: float
    max_deliveries: int
    crash_rate: float
    deliveries: tuple[int, ...]
    acked: tuple[int, ...]
    dead_letters: tuple[int, ...]
    events: tuple[QueueEvent, ...]
    # How to run the same scenario again (``redelivery_run(**rerun)``); the replay uses it to try the
    # other place a timed-out message may rejoin.
    rerun: dict = field(default_factory=dict, compare=False, repr=False)

    def leases(self) -> list[Lease]:
        """Receive-to-ack-or-timeout intervals, for a Gantt chart of who held what when."""
        opened: dict[tuple[int, int], QueueEvent] = {}
        leases = []
        for event in self.events:
            key = (event.message, event.delivery)
            if event.kind == RECEIVED:
                opened[key] = event
            elif event.kind in (ACKED, TIMED_OUT) and key in opened:
                start = opened.pop(key)
                leases.append(Lease(event.message, event.delivery, start.consumer, start.time, event.time, event.kind))
        return leases

    def count(self, kind: str) -> int:
        return sum(event.kind == kind for event in self.events)


class _VisibilityQueue:
    """A deliberately small at-least-once queue: the teaching model, not the exercise's ``WorkQueue``.

    The rule: a received message is invisible until it is acked or until ``clock() - received_at >=
    visibility_timeout``. It is written here as ``clock() >= received_at + visibility_timeout``, the
    very sum SimPy schedules the timeout at, so an ack and the timeout at the same instant cannot
    disagree by a rounding error: an ack exactly at the timeout is too late. When the timeout passes,
    the message goes back to the end of the queue (``rejoin="back"``) or to its place in send order
    (``rejoin="in_place"``), or to the dead letters if that was its ``max_deliveries``-th delivery.
    """

    def __init__(self, env: simpy.Environment, visibility_timeout: float, max_deliveries: int, messages: int,
                 rejoin: str = "back"):
        self.env = env
        self.visibility_timeout = visibility_timeout
        self.max_deliveries = max_deliveries
        self.in_place = rejoin == "in_place"
        # Messages are numbered in send order, so a store that hands out the lowest number first keeps
        # every message in its send-order place.
        self.visible = simpy.PriorityStore(env) if self.in_place else simpy.Store(env)
        self.deliveries = [0] * messages
        self.leases: dict[int, tuple[int, int, float]] = {}  # message -> (delivery, consumer, deadline)
        self.acked: list[int] = []
        self.dead_letters: list[int] = []
        self.events: list[QueueEvent] = []

    def send(self, message: int) -> None:
        self._show(message)

    def _show(self, message: int) -> None:
        self.visible.put(simpy.PriorityItem(message, message) if self.in_place else message)

    def receive(self, consumer: int):
        """A SimPy generator: waits for a visible message, returns ``(message, delivery)``."""
        message = yield self.visible.get()
        if self.in_place:
            message = message.item
        self.deliveries[message] += 1
        delivery = self.deliveries[message]
        self.leases[message] = (delivery, consumer, self.env.now + self.visibility_timeout)
        self._log(RECEIVED, message, delivery, consumer)
        self.env.process(self._expire(message, delivery))
        return message, delivery

    def ack(self, message: int, delivery: int, consumer: int) -> bool:
        """True if this consumer still held this delivery; False (a late ack, ignored) otherwise."""
        lease = self.leases.get(message)
        if lease is None or lease[:2] != (delivery, consumer) or self.env.now >= lease[2]:
            self._log(LATE_ACK, message, delivery, consumer)
            return False
        del self.leases[message]
        self.acked.append(message)
        self._log(ACKED, message, delivery, consumer)
        return True

    def crashed(self, message: int, delivery: int, consumer: int) -> None:
        """Only logged: the queue cannot tell a dead consumer from a slow one, the timeout does that."""
        self._log(CRASHED, message, delivery, consumer)

    def _expire(self, message: int, delivery: int):
        yield self.env.timeout(self.visibility_timeout)
        lease = self.leases.get(message)
        if lease is None or lease[0] != delivery:
            return  # acked in time
        del self.leases[message]
        self._log(TIMED_OUT, message, delivery, lease[1])
        if delivery >= self.max_deliveries:
            self.dead_letters.append(message)
            self._log(DEAD_LETTERED, message, delivery, None)
        else:
            self._show(message)

    def _log(self, kind: str, message: int, delivery: int, consumer: int | None) -> None:
        self.events.append(QueueEvent(self.env.now, kind, message, delivery, consumer))


def redelivery_run(
    *,
    seed: int,
    messages: int = 20,
    consumers: int = 3,
    crash_rate: float = 0.2,
    poison: Sequence[int] = (),
    visibility_timeout: float = 5.0,
    max_deliveries: int = 3,
    service_time: tuple[float, float] = (1.0, 3.0),
    send_interval: float = 1.0,
    restart_time: float = 1.0,
    rejoin: str = "back",
) -> RedeliveryRun:
    """Send ``messages`` one every ``send_interval`` seconds to ``consumers`` that sometimes crash.

    A consumer works a uniform time in ``service_time`` on each message, then acks. With probability
    ``crash_rate`` (always, for a message in ``poison``: one that crashes whoever reads it) it dies part
    way through instead, never acks, and is back ``restart_time`` later. Work longer than the
    visibility timeout ends in a late ack: the message has already been handed out again. A message
    that timed out rejoins at the back (``rejoin="back"``) or in its send-order place (``"in_place"``).
    """
    if rejoin not in ("back", "in_place"):
        raise ValueError(f'rejoin is "back" or "in_place", got {rejoin!r}')
    rerun = dict(seed=seed, messages=messages, consumers=consumers, crash_rate=crash_rate, poison=tuple(poison),
                 visibility_timeout=visibility_timeout, max_deliveries=max_deliveries,
                 service_time=tuple(service_time), send_interval=send_interval, restart_time=restart_time,
                 rejoin=rejoin)
    _check_redelivery(messages, consumers, crash_rate, visibility_timeout, max_deliveries, service_time)
    rng = random.Random(seed)
    env = simpy.Environment()
    queue = _VisibilityQueue(env, visibility_timeout, max_deliveries, messages, rejoin)
    poisoned = frozenset(poison)

    def producer():
        for message in range(messages):
            queue.send(message)
            yield env.timeout(send_interval)

    def consumer(name: int):
        while True:
            message, delivery = yield from queue.receive(name)
            work = rng.uniform(*service_time)
            if message in poisoned or rng.random() < crash_rate:
                yield env.timeout(rng.uniform(0.0, work))
                queue.crashed(message, delivery, name)
                yield env.timeout(restart_time)
                continue
            yield env.timeout(work)
            queue.ack(message, delivery, name)

    env.process(producer())
    for name in range(consumers):
        env.process(consumer(name))
    env.run()
    return RedeliveryRun(
        messages=messages, consumers=consumers, visibility_timeout=float(visibility_timeout),
        max_deliveries=max_deliveries, crash_rate=float(crash_rate), deliveries=tuple(queue.deliveries),
        acked=tuple(queue.acked), dead_letters=tuple(queue.dead_letters), events=tuple(queue.events),
        rerun=rerun,
    )


def _check_redelivery(messages, consumers, crash_rate, visibility_timeout, max_deliveries, service_time) -> None:
    if messages < 0 or consumers < 1 or max_deliveries < 1:
        raise ValueError("need messages >= 0, consumers >= 1 and max_deliveries >= 1")
    if not 0 <= crash_rate <= 1:
        raise ValueError(f"crash_rate is a probability, got {crash_rate!r}")
    if not visibility_timeout > 0:
        raise ValueError(f"visibility_timeout must be positive, got {visibility_timeout!r}")
    if not 0 < service_time[0] <= service_time[1]:
        raise ValueError(f"service_time must be a range of positive times, got {service_time!r}")
