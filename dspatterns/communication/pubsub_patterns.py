"""Topic patterns and fan-out, as Redis pub/sub really does them, beside the exercise's dotted patterns.

Two pattern languages meet in this family, and they disagree on the same strings:

* **Redis** ``PSUBSCRIBE`` patterns are globs over the whole channel name: ``*`` is any run of
  characters (dots included), ``?`` one character, ``[abc]``/``[a-z]``/``[^x]`` a set, ``\\`` escapes
  the next character. ``redis_glob_matches`` is a line-by-line Python port of Redis's own matcher
  (``stringmatchlen`` in ``src/util.c``, as in Redis 7.0, the version Debian ships), checked in the
  tests against a real ``redis-server`` on generated channels. It is Redis's rule, not the exercise's.
* **The exercise** (and AMQP topic exchanges, RabbitMQ's ``amq.topic``) splits topics at dots: ``*`` is
  exactly one segment and ``#`` any number, zero included. The course does not ship a matcher for that
  (writing it is the exercise): ``AMQP_EXAMPLES`` is a table of examples with the answers written out,
  and the tests check the table against an independent matcher they carry themselves.

``redis_fanout_run`` runs a real publish on a real Redis: each subscriber has its own connection and
``PSUBSCRIBE``s its pattern, a publisher ``PUBLISH``es each topic (Redis answers how many subscriptions
received it), and each subscriber's handler runs on what it got; one handler raises, and the others'
deliveries are not touched. ``broker_run`` does the same through a student's ``Broker`` class, by its
contract: ``subscribe(pattern, callback)``, ``publish(topic, message)`` returning how many callbacks it
reached, and ``broker.errors``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

_NESTING_LIMIT = 1000  # Redis gives up on patterns that would recurse deeper (abusive patterns)


# --- Redis's glob, ported --------------------------------------------------------------------------------

def redis_glob_matches(pattern: str | bytes, channel: str | bytes, *, nocase: bool = False) -> bool:
    """Whether Redis's ``PSUBSCRIBE pattern`` receives a message ``PUBLISH``ed to ``channel``.

    Works on bytes (str is UTF-8 encoded first), as Redis does: ``?`` is one *byte*, so one non-ASCII
    character is several. ``nocase`` is the matcher's case-folding mode, which ``KEYS`` does not use and
    pub/sub does not either; it is here because the port is of the whole function.
    """
    pattern_bytes = pattern.encode() if isinstance(pattern, str) else bytes(pattern)
    channel_bytes = channel.encode() if isinstance(channel, str) else bytes(channel)
    return _match(pattern_bytes, 0, channel_bytes, 0, nocase, [False], 0)


def _lower(byte: int) -> int:
    return byte + 32 if 65 <= byte <= 90 else byte  # C's tolower in the "C" locale


def _match(pattern: bytes, p: int, string: bytes, s: int, nocase: bool, skip_longer: list[bool],
           nesting: int) -> bool:
    """``stringmatchlen_impl``: ``p``/``s`` are the positions the C code's pointers are at.

    Reading past the end of the pattern gives None, where C reads the terminating NUL: no comparison
    with a pattern character is then true, as in C.
    """
    if nesting > _NESTING_LIMIT:
        return False
    at = lambda i: pattern[i] if i < len(pattern) else None  # noqa: E731
    same = (lambda a, b: a is not None and _lower(a) == _lower(b)) if nocase else (lambda a, b: a == b)
    while p < len(pattern) and s < len(string):
        char = pattern[p]
        if char == ord("*"):
            while p < len(pattern) and at(p + 1) == ord("*"):
                p += 1
            if len(pattern) - p == 1:
                return True
            while s < len(string):
                if _match(pattern, p + 1, string, s, nocase, skip_longer, nesting + 1):
                    return True
                if skip_longer[0]:
                    return False
                s += 1
            skip_longer[0] = True  # the rest matches nowhere later, so a longer '*' earlier cannot help
            return False
        if char == ord("?"):
            s += 1
        elif char == ord("["):
            p += 1
            negate = at(p) == ord("^")
            if negate:
                p += 1
            matched = False
            while True:
                if at(p) == ord("\\") and len(pattern) - p >= 2:
                    p += 1
                    if at(p) == string[s]:
                        matched = True
                elif at(p) == ord("]"):
                    break
                elif p >= len(pattern):  # no closing bracket: the set ends with the pattern
                    p -= 1
                    break
                elif len(pattern) - p >= 3 and at(p + 1) == ord("-"):
                    start, end, c = pattern[p], pattern[p + 2], string[s]
                    if start > end:
                        start, end = end, start
                    if nocase:
                        start, end, c = _lower(start), _lower(end), _lower(c)
                    p += 2
                    if start <= c <= end:
                        matched = True
                elif same(pattern[p], string[s]):
                    matched = True
                p += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            s += 1
        else:
            if char == ord("\\") and len(pattern) - p >= 2:
                p += 1
            if not same(pattern[p], string[s]):
                return False
            s += 1
        p += 1
        if s == len(string):
            while at(p) == ord("*"):
                p += 1
            break
    return p >= len(pattern) and s == len(string)


# --- the exercise's patterns, as data -------------------------------------------------------------------

@dataclass(frozen=True)
class PatternExample:
    """A pattern, a topic, and whether a dotted (AMQP-style) subscription to the pattern receives it."""

    pattern: str
    topic: str
    dotted: bool
    why: str


AMQP_EXAMPLES = (
    PatternExample("orders.*", "orders.created", True, "* is one segment"),
    PatternExample("orders.*", "orders.eu.created", False, "* is exactly one segment, not two"),
    PatternExample("orders.*", "orders", False, "* needs a segment to be there"),
    PatternExample("orders.#", "orders", True, "# may be zero segments"),
    PatternExample("orders.#", "orders.eu.created", True, "# may be several segments"),
    PatternExample("#", "payments.failed", True, "# alone matches every topic"),
    PatternExample("*.failed", "payments.failed", True, "* in the first position"),
    PatternExample("*.failed", "failed", False, "* cannot be empty"),
    PatternExample("orders.#.created", "orders.created", True, "# in the middle, as zero segments"),
    PatternExample("orders.#.created", "orders.eu.de.created", True, "# in the middle, as two segments"),
    PatternExample("orders.*", "ordersXcreated", False, "a dot is a separator, not any character"),
    PatternExample("orders.c?eated", "orders.created", False, "? is not a wildcard here: a literal ?"),
)


# --- fan-out runs ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    subscriber: str
    pattern: str
    topic: str
    message: str


@dataclass(frozen=True)
class FanoutRun:
    """Who subscribed with which pattern, what was published, who got what, and whose handler raised."""

    backend: str
    subscriptions: tuple[tuple[str, str], ...]  # (subscriber, pattern)
    published: tuple[tuple[str, str, int], ...]  # (topic, message, receivers the publish reported)
    deliveries: tuple[Delivery, ...]  # in the order handlers ran
    errors: tuple[str, ...]  # one line per handler call that raised
    failing: str | None
    problem: str | None = None

    def received_by(self, subscriber: str) -> list[tuple[str, str]]:
        """(topic, message) pairs ``subscriber``'s handler was given, in order."""
        return [(d.topic, d.message) for d in self.deliveries if d.subscriber == subscriber]

    def matches(self) -> set[tuple[str, str]]:
        """(topic, pattern) pairs where a message on the topic reached a subscription to the pattern."""
        return {(d.topic, d.pattern) for d in self.deliveries}


REDIS_SUBSCRIPTIONS = (("billing", "orders.*"), ("eu-desk", "orders.eu.*"), ("audit", "*"),
                       ("alerts", "*.fail[a-z]*"))
BROKER_SUBSCRIPTIONS = (("billing", "orders.*"), ("eu-desk", "orders.eu.*"), ("audit", "#"),
                        ("alerts", "*.failed"))
TOPICS = ("orders.created", "orders.eu.created", "payments.failed", "orders")
DEFAULT_FAILING = "billing"


class HandlerFailed(RuntimeError):
    """What the failing subscriber's handler raises on every message: a bug in one consumer."""


def redis_fanout_run(server, subscriptions: Sequence[tuple[str, str]] = REDIS_SUBSCRIPTIONS,
                     topics: Sequence[str] = TOPICS, *, failing: str | None = DEFAULT_FAILING,
                     wait_limit: float = 5.0, clock: Callable[[], float] = time.monotonic) -> FanoutRun:
    """``PSUBSCRIBE`` each subscriber on its own connection, ``PUBLISH`` each topic, run the handlers.

    ``server`` is a running Redis (``dspatterns.caching.redis_server.redis_server()``); nothing needs
    clearing first, since pub/sub stores nothing. Publishing starts only once Redis has confirmed every subscription,
    and reading stops once the subscribers have as many messages as the publishes reported (or after
    ``wait_limit`` seconds), so no message is lost to a race and none is waited for by a guess.
    """
    handlers = _handlers(subscriptions, failing)
    publisher = server.client()
    listeners = {}
    try:
        for subscriber, pattern in subscriptions:
            pubsub = server.client().pubsub()
            pubsub.psubscribe(pattern)
            confirmation = pubsub.get_message(timeout=wait_limit)
            if not confirmation or confirmation["type"] != "psubscribe":
                raise RuntimeError(f"Redis did not confirm PSUBSCRIBE {pattern!r}: {confirmation!r}")
            listeners[subscriber] = (pattern, pubsub)
        published = []
        for number, topic in enumerate(topics, start=1):
            message = f"message {number}"
            published.append((topic, message, int(publisher.publish(topic, message))))
        expected = sum(count for _, _, count in published)
        deliveries, errors = [], []
        deadline = clock() + wait_limit
        while len(deliveries) < expected and clock() < deadline:
            for subscriber, (pattern, pubsub) in listeners.items():
                got = pubsub.get_message(timeout=0.01)
                if got and got["type"] == "pmessage":
                    delivery = Delivery(subscriber, got["pattern"], got["channel"], got["data"])
                    deliveries.append(delivery)
                    _run_handler(handlers[subscriber], delivery, errors)
        return FanoutRun("Redis pub/sub", tuple(subscriptions), tuple(published), tuple(deliveries),
                         tuple(errors), failing)
    finally:
        for _, pubsub in listeners.values():
            pubsub.close()
        publisher.close()


def broker_run(broker_class: type, subscriptions: Sequence[tuple[str, str]] = BROKER_SUBSCRIPTIONS,
               topics: Sequence[str] = TOPICS, *, failing: str | None = DEFAULT_FAILING) -> FanoutRun:
    """The same scenario through a student's ``Broker``: its publish counts and its ``errors`` list."""
    deliveries: list[Delivery] = []
    name = getattr(broker_class, "__name__", "Broker")
    try:
        broker = broker_class()
        for subscriber, pattern in subscriptions:
            broker.subscribe(pattern, _recording_callback(subscriber, pattern, failing, deliveries))
        published = []
        for number, topic in enumerate(topics, start=1):
            message = f"message {number}"
            published.append((topic, message, broker.publish(topic, message)))
        errors = tuple(f"{type(error).__name__}: {error}" for error in broker.errors)
    except Exception as exc:  # shown to the student in one line
        first = str(exc).splitlines()[0] if str(exc) else ""
        return FanoutRun(f"your {name}", tuple(subscriptions), (), tuple(deliveries), (), failing,
                         problem=f"{type(exc).__name__}: {first}".rstrip(": "))
    return FanoutRun(f"your {name}", tuple(subscriptions), tuple(published), tuple(deliveries), errors, failing)


def _recording_callback(subscriber: str, pattern: str, failing: str | None, deliveries: list[Delivery]):
    """A callback that notes what it was given (the contract gives it the topic and the message)."""

    def callback(topic, message):
        deliveries.append(Delivery(subscriber, pattern, topic, message))
        if subscriber == failing:
            raise HandlerFailed(f"{subscriber}'s handler has a bug ({topic})")

    return callback


def _handlers(subscriptions: Sequence[tuple[str, str]], failing: str | None) -> Mapping[str, Callable]:
    def ok(delivery: Delivery) -> None:
        pass

    def broken(delivery: Delivery) -> None:
        raise HandlerFailed(f"{delivery.subscriber}'s handler has a bug ({delivery.topic})")

    return {subscriber: broken if subscriber == failing else ok for subscriber, _ in subscriptions}


def _run_handler(handler: Callable, delivery: Delivery, errors: list[str]) -> None:
    """A subscriber's handler raising is that subscriber's problem: note it, go on delivering."""
    try:
        handler(delivery)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class ContrastRow:
    example: PatternExample
    redis_glob: bool  # the port's answer
    redis_server: bool | None = field(default=None)  # a real PSUBSCRIBE's, where a server was given


def pattern_contrast(server=None, examples: Sequence[PatternExample] = AMQP_EXAMPLES, *,
                     wait_limit: float = 5.0) -> list[ContrastRow]:
    """Each example: the dotted answer (data), Redis's glob (the port), and, with a server, Redis itself."""
    real = _ask_redis(server, examples, wait_limit) if server is not None else {}
    return [ContrastRow(e, redis_glob_matches(e.pattern, e.topic), real.get((e.pattern, e.topic)))
            for e in examples]


def redis_receives(server, pairs: Sequence[tuple[str, str]], *, wait_limit: float = 5.0) -> dict[tuple[str, str], bool]:
    """For each (pattern, channel): does a real ``PSUBSCRIBE pattern`` receive ``PUBLISH channel``?

    One connection subscribes to every pattern at once; each channel is published once with a unique
    message, then a sentinel on a channel of its own subscription marks the end (Redis delivers to one
    connection in order), so every answer is read, none guessed from a timeout.
    """
    sentinel_channel = "__dspatterns_end__"
    patterns = sorted({pattern for pattern, _ in pairs})
    channels = list(dict.fromkeys(channel for _, channel in pairs))
    client = server.client()
    pubsub = server.client().pubsub()
    try:
        pubsub.psubscribe(*patterns)
        pubsub.subscribe(sentinel_channel)
        confirmed = 0
        deadline = time.monotonic() + wait_limit
        while confirmed < len(patterns) + 1 and time.monotonic() < deadline:
            got = pubsub.get_message(timeout=0.1)
            if got and got["type"] in ("psubscribe", "subscribe"):
                confirmed += 1
        if confirmed < len(patterns) + 1:
            raise RuntimeError("Redis did not confirm every subscription in time")
        for index, channel in enumerate(channels):
            client.publish(channel, str(index))
        client.publish(sentinel_channel, "end")
        received: set[tuple[str, str]] = set()
        while time.monotonic() < deadline:
            got = pubsub.get_message(timeout=0.1)
            if not got:
                continue
            if got["type"] == "message" and got["channel"] == sentinel_channel:
                break
            if got["type"] == "pmessage":
                received.add((got["pattern"], got["channel"]))
        else:
            raise RuntimeError("Redis's end-of-run message did not arrive in time")
        return {(pattern, channel): (pattern, channel) in received for pattern, channel in pairs}
    finally:
        pubsub.close()
        client.close()


def _ask_redis(server, examples: Sequence[PatternExample], wait_limit: float) -> dict[tuple[str, str], bool]:
    return redis_receives(server, [(e.pattern, e.topic) for e in examples], wait_limit=wait_limit)
