"""The message queue's rules on a real Redis: Streams, a consumer group, XAUTOCLAIM and a dead stream.

The exercise's ``WorkQueue`` keeps its own clock and its own list of leases. A deployed queue keeps them in
a broker, and Redis Streams is a common one: ``XADD`` appends a message, a consumer group hands each
message to one consumer (``XREADGROUP ... >``) and remembers it in the group's *pending entries list*
(PEL) until ``XACK``. ``StreamQueue`` maps the contract onto those commands:

* **Visibility timeout = idle time.** Redis records, per pending entry, the server time of its last
  delivery; ``XPENDING`` reports ``now - that`` as *idle time* in milliseconds. A message is "visible
  again" when its idle time is at least the visibility timeout, and ``XAUTOCLAIM stream group consumer
  <min-idle-time ms>`` moves such entries to the caller atomically, so two consumers never both
  reclaim one. The clock is the *server's* wall clock, not a parameter: tests cannot fast-forward it
  the way the exercise's ``clock=`` allows, so they use short real timeouts (about 100-200 ms) and poll
  for the outcome within a bound.
* **Delivery count.** ``XREADGROUP`` sets an entry's delivery counter to 1 and each ``XAUTOCLAIM`` (or
  ``XCLAIM``) without ``JUSTID`` *increments* it, so after a reclaim the counter already counts this
  delivery, like the contract's ``.deliveries``. ``XAUTOCLAIM`` returns the entries but not the
  counters; ``receive`` reads them with ``XPENDING`` for the claimed ids.
* **Dead letters.** The contract moves a message once it was delivered ``max_deliveries`` times and that
  last timeout passed without an ack. Here that is the moment a reclaim pushes the counter past
  ``max_deliveries``: the consumer that claimed it (only one can) copies it to ``dead_stream`` with
  ``XADD`` and then ``XACK``s it, in one ``MULTI``, instead of returning it.

Where Redis differs from the contract: time is server-side real time; an ack after the timeout still
succeeds if nobody reclaimed the entry yet (Redis only redelivers when somebody asks, the exercise's
timeout is strict); a crash between reading and acking leaves the entry pending with its owner until a
reclaim; and the dead stream and the pending list are data on the server that outlive any process.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

BODY_FIELD = "body"


@dataclass(frozen=True)
class StreamMessage:
    """One delivery: the stream id, the body, and how many times Redis has delivered it (this one included)."""

    id: str
    body: str
    deliveries: int


@dataclass(frozen=True)
class PendingSummary:
    """What the group holds unacknowledged: how many entries, and how many per consumer."""

    count: int
    per_consumer: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DeadLetter:
    """A message that exhausted its deliveries, as copied to the dead stream."""

    original_id: str
    body: str
    deliveries: int


class StreamQueue:
    """The exercise's queue as a Redis stream and consumer group; every rule is enforced by Redis commands."""

    def __init__(self, client, stream: str, group: str, *, visibility_timeout: float, max_deliveries: int,
                 dead_stream: str):
        if visibility_timeout <= 0 or max_deliveries < 1:
            raise ValueError("visibility_timeout must be > 0 and max_deliveries >= 1")
        self.client = client
        self.stream = stream
        self.group = group
        self.visibility_timeout = visibility_timeout
        self.max_deliveries = max_deliveries
        self.dead_stream = dead_stream
        self._create_group()

    @property
    def min_idle_ms(self) -> int:
        """The visibility timeout in the unit Redis measures idle time in (milliseconds, rounded up)."""
        return max(1, int(-(-self.visibility_timeout * 1000 // 1)))

    def _create_group(self) -> None:
        import redis

        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def send(self, body: str) -> str:
        """Append a message (``XADD``); its id orders it after everything sent before."""
        return self.client.xadd(self.stream, {BODY_FIELD: body})

    def receive(self, consumer: str, count: int = 1) -> list[StreamMessage]:
        """Up to ``count`` messages for ``consumer``: reclaimed ones whose timeout passed first, then fresh ones."""
        messages = self._reclaim(consumer, count)
        wanted = count - len(messages)
        if wanted > 0:
            messages += self._read_fresh(consumer, wanted)
        return messages

    def _reclaim(self, consumer: str, count: int) -> list[StreamMessage]:
        _, claimed, _deleted = self.client.xautoclaim(self.stream, self.group, consumer, self.min_idle_ms,
                                                      start_id="0-0", count=count)
        messages = []
        for message_id, fields in claimed:
            deliveries = self._deliveries(message_id)
            body = fields.get(BODY_FIELD, "")
            if deliveries > self.max_deliveries:
                self._dead_letter(message_id, body, deliveries - 1)
            else:
                messages.append(StreamMessage(message_id, body, deliveries))
        return messages

    def _deliveries(self, message_id: str) -> int:
        entries = self.client.xpending_range(self.stream, self.group, min=message_id, max=message_id, count=1)
        return entries[0]["times_delivered"] if entries else 0

    def _dead_letter(self, message_id: str, body: str, deliveries: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.dead_stream, {BODY_FIELD: body, "original_id": message_id, "deliveries": deliveries})
        pipe.xack(self.stream, self.group, message_id)
        pipe.execute()

    def _read_fresh(self, consumer: str, count: int) -> list[StreamMessage]:
        answer = self.client.xreadgroup(self.group, consumer, {self.stream: ">"}, count=count)
        return [StreamMessage(message_id, fields.get(BODY_FIELD, ""), 1)
                for _, entries in answer for message_id, fields in entries]

    def ack(self, message_id: str) -> bool:
        """``XACK``: True if the entry was pending (and no longer is), False if it was already acked."""
        return self.client.xack(self.stream, self.group, message_id) == 1

    def pending(self) -> PendingSummary:
        """``XPENDING`` summary: unacknowledged entries in the group, in total and per consumer."""
        summary = self.client.xpending(self.stream, self.group)
        per_consumer = tuple(sorted((c["name"], int(c["pending"])) for c in summary["consumers"] or ()))
        return PendingSummary(int(summary["pending"]), per_consumer)

    def dead_letters(self) -> list[DeadLetter]:
        """The dead stream's contents, oldest first."""
        return [DeadLetter(fields["original_id"], fields[BODY_FIELD], int(fields["deliveries"]))
                for _, fields in self.client.xrange(self.dead_stream)]


@dataclass(frozen=True)
class StreamEvent:
    """One line of the demo's script: who did what to which message, and its delivery count then."""

    step: int
    consumer: str
    action: str
    body: str
    deliveries: int


def poll_until(condition: Callable[[], object], *, wait_limit: float = 5.0, interval: float = 0.01,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
    """Call ``condition`` until it returns something truthy and return that; None if ``wait_limit`` passes."""
    deadline = clock() + wait_limit
    while True:
        outcome = condition()
        if outcome or clock() >= deadline:
            return outcome or None
        sleep(interval)


def streams_demo(client, *, visibility_timeout: float = 0.15, max_deliveries: int = 3, wait_limit: float = 5.0,
                 stream: str = "demo:jobs", group: str = "workers", dead_stream: str = "demo:dead") -> list[StreamEvent]:
    """A scripted run: alice crashes before acking, bob reclaims and acks after the timeout, a poison message
    fails every delivery until it lands in the dead stream. Returns the events in order."""
    queue = StreamQueue(client, stream, group, visibility_timeout=visibility_timeout,
                        max_deliveries=max_deliveries, dead_stream=dead_stream)
    events: list[StreamEvent] = []

    def log(consumer: str, action: str, body: str, deliveries: int) -> None:
        events.append(StreamEvent(len(events) + 1, consumer, action, body, deliveries))

    queue.send("resize-photo")
    [job] = queue.receive("alice")
    log("alice", "received", job.body, job.deliveries)
    log("alice", "crashed before ack", job.body, job.deliveries)
    log("bob", "received nothing (still invisible)" if not queue.receive("bob") else "received too early",
        job.body, job.deliveries)
    [again] = poll_until(lambda: queue.receive("bob"), wait_limit=wait_limit) or [job]
    log("bob", "reclaimed after timeout", again.body, again.deliveries)
    queue.ack(again.id)
    log("bob", "acked", again.body, again.deliveries)

    queue.send("poison")
    consumers = ("alice", "bob")
    while not queue.dead_letters():
        consumer = consumers[len(events) % 2]
        got = poll_until(lambda: queue.receive(consumer) or queue.dead_letters(), wait_limit=wait_limit)
        if not got:
            break
        if isinstance(got[0], DeadLetter):
            break
        log(consumer, "received, failed, no ack", got[0].body, got[0].deliveries)
    for letter in queue.dead_letters():
        log("redis", "dead-lettered", letter.body, letter.deliveries)
    return events
