"""Hidden suite for the `pubsub` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with a replay the student can paste into a notebook cell (the
notebook defines `recorder(got, name, raises=None)`, the callback these replays use; a callback that
unsubscribes or subscribes during delivery is written out in the replay as a one-line lambda).

The callbacks are the suite's own functions, handed over as plain functions: each writes down the
arguments it was called with in the suite's process, so what the student's broker delivered is
recorded where the student's code cannot reach it. Nothing here waits on time or threads: delivery
is synchronous, so when `publish` returns, its callbacks have run. Many publishes of plain data go to
the student's process in one batch (`sandbox.batch`); each delivery is still a call back into the
suite, which is why the property test keeps its brokers small.

Wildcards are checked against the suite's own matcher, a translation of the pattern into a regular
expression on "." + topic (the reference solution walks the segments instead), on named cases for
every position of `*` and `#` and on generated patterns and topics over the three segments a, b
and ab: few enough that matches are frequent, and "ab" starts with "a", so a segment compared by
prefix shows (hypothesis; the failure names the pattern and the topic).

Readings the grader takes where the contract is silent (the notebook states each one):
- a callback is called as `callback(topic, message)`: with a wildcard, the subscriber needs to know
  which topic matched (MQTT's message.topic, AMQP's routing key, Redis's pmessage channel);
- delivery is synchronous: when `publish` returns, every matching callback has been called and
  `broker.errors` holds what they raised; the message is passed as it was published;
- each `subscribe` is its own subscription: the same callback subscribed twice, or under two
  patterns that both match, is called once per subscription, and each counts in `publish`'s return;
- `unsubscribe()` of a subscription already removed does nothing (no error, nothing else removed);
- a publish delivers to the subscriptions there were when it began (a snapshot, as Node's
  EventEmitter documents for emit, and .NET events, whose delegate lists are immutable): one removed by a callback during that publish still
  receives that publish, one added during it does not; both changes hold from the next publish on.
  A callback that unsubscribes itself or another never makes the broker skip a third subscription;
- a callback raising any `Exception` is caught; the exception object itself is appended to
  `broker.errors`, in the order raised (the suite compares, publish by publish, which objects were
  appended); the subscription stays;
- errors and subscriptions belong to one broker (two brokers share nothing).
Not graded: the order in which different subscriptions get one publish (the reference uses
subscribe order; a topic tree need not), `*` or `#` inside a longer segment, empty topics or
segments, `BaseException`s such as KeyboardInterrupt, publishing from inside a callback, threads.
"""
# DSP-CANARY-PUBSUB-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import expect, expect_equal


# ------------------------------------------------------------------------------- the suite's matcher
def reference_matches(pattern: str, topic: str) -> bool:
    """AMQP-style matching by a regular expression on "." + topic: a literal segment is "\\.lit",
    `*` one segment "\\.[^.]+", `#` any number of segments "(\\.[^.]+)*"."""
    parts = []
    for segment in pattern.split("."):
        if segment == "*":
            parts.append(r"\.[^.]+")
        elif segment == "#":
            parts.append(r"(?:\.[^.]+)*")
        else:
            parts.append(r"\." + re.escape(segment))
    return re.fullmatch("".join(parts), "." + topic) is not None


# -------------------------------------------------------------------------------------- helpers
class OddCall:
    """A delivery whose arguments were not (topic, message): shown as the call that was made."""

    def __init__(self, args, kwargs):
        self.text = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])

    def __repr__(self):
        return f"<callback({self.text}), not callback(topic, message)>"


def arguments(args, kwargs) -> tuple:
    """(topic, message) from a callback's arguments, as `callback(topic, message)` passes them;
    keywords named topic and message are taken too. Anything else: (OddCall, None)."""
    if not kwargs and len(args) == 2:
        return tuple(args)
    if set(kwargs) <= {"topic", "message"} and len(args) + len(kwargs) == 2:
        named = dict(zip(("topic", "message"), args), **kwargs)
        return (named["topic"], named["message"])
    return (OddCall(args, kwargs), None)


class Scene:
    """A broker and the suite's recording callbacks, writing down each step as the code that replays it."""

    def __init__(self, impl, sandbox):
        self.sandbox = sandbox
        self.broker = impl.Broker()
        self.publish_fn = self.broker.publish
        self.got: list[tuple] = []  # (name, topic, message) per delivery, in the order they came
        self.raised: list[BaseException] = []  # what the suite's callbacks raised, in order
        self.lines = ["got = []", "broker = Broker()"]

    @property
    def replay(self) -> str:
        return "; ".join(self.lines)

    def callback(self, name, raises=None, then=None):
        """A callback that records (name, topic, message), runs ``then(topic, message)`` if given,
        then raises a fresh ``raises(...)`` if given."""
        def callback(*args, **kwargs):
            self.got.append((name, *arguments(args, kwargs)))
            if then is not None:
                then(*args)
            if raises is not None:
                error = raises(f"{name} failed on message {args[-1] if args else None!r}")
                self.raised.append(error)
                raise error
        return callback

    def subscribe(self, name, pattern, raises=None, then=None, then_replay=None):
        """``then_replay`` is ``then`` written as a Python expression on ``topic`` (and the replay's
        names), so that the replay's callback does what the suite's did: a one-line lambda."""
        subscription = self.broker.subscribe(pattern, self.callback(name, raises, then))
        if then_replay is not None:
            self.lines.append(f"{name} = broker.subscribe({pattern!r}, lambda topic, message: "
                              f"(got.append(({name!r}, topic, message)), {then_replay}))")
        else:
            failing = f", raises={raises.__name__}" if raises is not None else ""
            self.lines.append(f"{name} = broker.subscribe({pattern!r}, recorder(got, {name!r}{failing}))")
        return subscription

    def unsubscribe(self, name, subscription):
        self.lines.append(f"{name}.unsubscribe()")
        return subscription.unsubscribe()

    def publish(self, topic, message):
        """One publish; its return value."""
        self.lines.append(f"broker.publish({topic!r}, {message!r})")
        return self.publish_fn(topic, message)

    def publish_all(self, calls) -> list:
        """Many publishes in one batch; their return values (a publish that raised fails at once)."""
        outcomes = self.sandbox.batch(self.publish_fn, calls)
        for (topic, message), outcome in zip(calls, outcomes):
            self.lines.append(f"broker.publish({topic!r}, {message!r})")
            expect(not outcome.raised, f"broker.publish({topic!r}, {message!r}) raised "
                                       f"{type(outcome.error).__name__}: {outcome.error}; a publish "
                                       f"never raises for its callbacks\n  replay: {self.replay}")
        return [outcome.value for outcome in outcomes]

    def take(self) -> list[tuple]:
        """The deliveries since the last take."""
        taken, self.got[:] = list(self.got), []
        return taken


def expect_count(count, expected, what, scene):
    expect(count == expected and type(count) is int,
           f"{what}: publish should return {expected} (the callbacks it was delivered to), got "
           f"{count!r}\n  replay: {scene.replay}")


def expect_scene_equal(actual, expected, what, scene):
    """expect_equal, with the scene's replay."""
    try:
        expect_equal(actual, expected, what)
    except AssertionError as error:
        raise AssertionError(f"{error}\n  replay: {scene.replay}") from None


def expect_deliveries(got, expected, what, scene, ordered=True):
    """``got`` equals ``expected`` (as a list, or as a multiset when order is not graded)."""
    same = got == expected if ordered else sorted(map(repr, got)) == sorted(map(repr, expected))
    expect(same, f"{what}: expected the deliveries (name, topic, message) {expected!r}, got "
                 f"{got!r}\n  replay: {scene.replay}")


def first_difference(got: list, expected: list) -> int:
    """The first position where two lists differ (the shorter one's length if one is a prefix)."""
    return next((k for k, (x, y) in enumerate(zip(got, expected)) if x != y),
                min(len(got), len(expected)))


def check_matching(impl, sandbox, patterns, topics):
    """Subscribe each pattern once, publish each topic once in one batch (message = its index),
    and compare who got what, and each count, with the suite's matcher."""
    scene = Scene(impl, sandbox)
    names = {}
    for number, pattern in enumerate(patterns):
        names[f"p{number}"] = pattern
        scene.subscribe(f"p{number}", pattern)
    counts = scene.publish_all([(topic, index) for index, topic in enumerate(topics)])
    got = scene.take()
    for name, topic, message in got:
        expect(not isinstance(topic, OddCall),
               f"the callback was called as {topic!r}: the grader calls for callback(topic, "
               f"message), e.g. callback({topics[0]!r}, 0) for publish({topics[0]!r}, 0)\n"
               f"  replay: {scene.replay}")
    for index, topic in enumerate(topics):
        mine = [name for name, _, message in got if message == index]
        for name, pattern in names.items():
            should = reference_matches(pattern, topic)
            times = mine.count(name)
            expect(times == int(should),
                   f"pattern {pattern!r} and topic {topic!r}: "
                   + ("they match, so the subscriber should get the message once"
                      if should else "they do not match, so the subscriber should not get it")
                   + f"; it got it {times} time(s)\n  replay: got = []; broker = Broker(); "
                   f"broker.subscribe({pattern!r}, recorder(got, 's')); broker.publish({topic!r}, "
                   f"'m'); got  # expected {[('s', topic, 'm')] if should else []!r}"
                   + (f"\n  (it happened in a broker holding the patterns {patterns!r})"
                      if len(patterns) > 1 else ""))
        expected = sum(reference_matches(pattern, topic) for pattern in patterns)
        expect_count(counts[index], expected, f"publish({topic!r}, {index!r}) with the patterns "
                                              f"{patterns!r}", scene)


# ------------------------------------------------------------------------------------- matching
@pytest.mark.part("matching")
class TestMatching:
    def test_a_pattern_without_wildcards_matches_only_its_own_topic(self, impl, sandbox):
        """a pattern without wildcards matches exactly its own topic, segment by segment"""
        check_matching(impl, sandbox, ["orders", "orders.created", "orders.created.eu"],
                       ["orders", "orders.created", "orders.created.eu", "orders.deleted",
                        "created", "orders.created.us", "eu.orders.created"])

    def test_segments_are_compared_whole(self, impl, sandbox):
        """segments are compared whole: "a.b" matches neither "a.bc", "ab", "a.b.c" nor "a"; the dot is not a wildcard"""
        check_matching(impl, sandbox, ["a.b", "a", "a.*", "ab"],
                       ["a.bc", "ab", "a.b.c", "a", "a.b", "axb", "ab.c", "b.a"])

    def test_star_matches_exactly_one_segment_in_any_position(self, impl, sandbox):
        """`*` matches exactly one segment, never zero or two: first, middle, last, alone and repeated"""
        check_matching(impl, sandbox, ["*", "*.b", "a.*.c", "a.*", "*.*", "*.*.*"],
                       ["a", "x", "a.b", "x.b", "b", "a.x.c", "a.c", "a.x.y.c", "a.x", "a.x.y",
                        "x.y.b", "x.y.z"])

    def test_hash_matches_any_number_of_segments_zero_included(self, impl, sandbox):
        """`#` matches any number of segments, zero included: alone, first, middle, last and repeated"""
        check_matching(impl, sandbox, ["#", "a.#", "#.c", "a.#.c", "#.#", "#.b.#"],
                       ["a", "c", "a.c", "a.b.c", "a.b.b.c", "a.b", "b", "x.b.y", "b.b.b",
                        "x.y.z.c", "c.a", "a.c.c"])

    def test_star_and_hash_together(self, impl, sandbox):
        """`*` and `#` together: "*.#" needs one segment or more, "*.#.*" two or more, "#.*" and "a.#.*.c" as the contract reads them"""
        check_matching(impl, sandbox, ["*.#", "#.*", "*.#.*", "a.#.*.c", "#.*.#", "a.*.#"],
                       ["a", "a.b", "a.b.c", "a.c", "a.x.c", "a.x.y.c", "b.c", "x"])

    def test_a_topic_matching_no_pattern_reaches_nobody(self, impl, sandbox):
        """a topic that no pattern matches is delivered to nobody and publish returns 0"""
        check_matching(impl, sandbox, ["a.*", "b.#", "*.c"], ["c", "x.y.z", "c.b", "a"])

    @settings(max_examples=150)
    @given(patterns=st.lists(st.lists(st.sampled_from(["a", "b", "ab", "*", "#"]), min_size=1,
                                      max_size=4).map(".".join), min_size=1, max_size=3, unique=True),
           topics=st.lists(st.lists(st.sampled_from(["a", "b", "ab"]), min_size=1, max_size=5)
                           .map(".".join), min_size=1, max_size=4))
    def test_generated_patterns_and_topics(self, impl, sandbox, patterns, topics):
        """generated patterns over a, b, ab, `*` and `#` and topics over a, b and ab: each delivered exactly where the grader's own matcher says (property-based)"""
        check_matching(impl, sandbox, patterns, topics)


# ------------------------------------------------------------------------------------- delivery
@pytest.mark.part("delivery")
class TestDelivery:
    def test_publish_delivers_topic_and_message_to_every_match(self, impl, sandbox):
        """publish calls each matching callback with (topic, message) before it returns, and returns how many it called"""
        scene = Scene(impl, sandbox)
        scene.subscribe("billing", "orders.created")
        scene.subscribe("audit", "orders.created")
        scene.subscribe("payments", "payments.created")
        count = scene.publish("orders.created", {"id": 7})
        expect_deliveries(scene.take(), [("billing", "orders.created", {"id": 7}),
                                         ("audit", "orders.created", {"id": 7})],
                          "one publish on a topic two of three subscribers subscribed to", scene,
                          ordered=False)
        expect_count(count, 2, "two of three subscribers match", scene)

    def test_no_subscriber_means_zero(self, impl, sandbox):
        """publish with no subscriber at all returns 0 and does not raise"""
        scene = Scene(impl, sandbox)
        expect_count(scene.publish("orders.created", "m"), 0, "a broker with no subscriptions", scene)
        expect_equal(list(impl.Broker().errors), [], "broker.errors of a new broker")

    def test_the_message_arrives_as_published(self, impl, sandbox):
        """the message reaches the callback as it was published, whatever it is: None, 0, "", a dict, a list"""
        scene = Scene(impl, sandbox)
        scene.subscribe("s", "t")
        messages = [None, 0, "", False, {"k": [1, 2]}, [None], ("a", 1), "text", 2.5]
        counts = scene.publish_all([("t", m) for m in messages])
        expect_deliveries(scene.take(), [("s", "t", m) for m in messages],
                          "nine publishes of different messages", scene)
        expect_equal(counts, [1] * len(messages), "the counts of the nine publishes")

    def test_each_subscriber_gets_messages_in_publish_order(self, impl, sandbox):
        """each subscriber gets its messages in publish order, over 120 publishes on mixed topics"""
        scene = Scene(impl, sandbox)
        # Patterns without wildcards, so that a wildcard bug costs only the matching part.
        patterns = {"a": "orders.created", "b": "orders.paid", "c": "orders.created", "d": "eu"}
        for name, pattern in patterns.items():
            scene.subscribe(name, pattern)
        topics = ["orders.created", "orders.paid", "eu", "orders.created", "payments", "eu.x"]
        calls = [(topics[(i * 7 + i // 5) % len(topics)], i) for i in range(120)]
        counts = scene.publish_all(calls)
        got = scene.take()
        for name, pattern in patterns.items():
            expected = [(name, topic, i) for topic, i in calls if reference_matches(pattern, topic)]
            mine = [delivery for delivery in got if delivery[0] == name]
            expect(mine == expected,
                   f"subscriber {name!r} ({pattern!r}) should get its {len(expected)} messages in "
                   f"publish order; first difference at position {first_difference(mine, expected)}: got {mine[:12]!r}..., expected {expected[:12]!r}...\n"
                   f"  replay: {'; '.join(scene.lines[:6])}; then 120 publishes")
        expected_counts = [sum(reference_matches(p, topic) for p in patterns.values())
                           for topic, _ in calls]
        expect_equal(counts, expected_counts, "the counts of 120 publishes")

    def test_a_later_subscriber_gets_only_later_messages(self, impl, sandbox):
        """a subscriber gets only what is published after it subscribed (nothing is kept for it)"""
        scene = Scene(impl, sandbox)
        scene.subscribe("early", "news.sport")
        scene.publish("news.sport", 1)
        scene.subscribe("late", "news.sport")
        count = scene.publish("news.sport", 2)
        expect_deliveries(scene.take(), [("early", "news.sport", 1), ("early", "news.sport", 2),
                                         ("late", "news.sport", 2)],
                          "a subscriber added between two publishes", scene, ordered=False)
        expect_count(count, 2, "the second publish", scene)

    def test_two_brokers_share_nothing(self, impl, sandbox):
        """two brokers share no subscriptions and no errors"""
        first, second = Scene(impl, sandbox), Scene(impl, sandbox)
        first.subscribe("one", "#", raises=ValueError)
        count = second.publish("x", "m")
        expect_count(count, 0, "a second broker whose only neighbour has a subscription", second)
        expect_equal(list(second.broker.errors), [], "the second broker's errors after the first's "
                                                     "subscriber raised nothing yet")
        first.publish("x", "m")
        expect_equal(list(second.broker.errors), [], "the second broker's errors after the first "
                                                     "broker's subscriber raised")
        expect_equal(len(first.broker.errors), 1, "the first broker's errors after its subscriber raised")


# ------------------------------------------------------------------------------------- isolation
@pytest.mark.part("isolation")
class TestIsolation:
    def test_a_raising_callback_does_not_stop_the_others(self, impl, sandbox):
        """a callback that raises does not stop delivery to the others, publish does not raise, and it counts in the return"""
        scene = Scene(impl, sandbox)
        scene.subscribe("first", "alerts.#")
        scene.subscribe("broken", "alerts.#", raises=RuntimeError)
        scene.subscribe("last", "alerts.#")
        try:
            count = scene.publish("alerts.disk", "full")
        except Exception as error:  # noqa: BLE001 - the failure says what came out
            raise AssertionError(f"publish raised {type(error).__name__}: {error}; the exception of a "
                                 f"callback must not leave publish\n  replay: {scene.replay}") from None
        expect_deliveries(scene.take(), [("first", "alerts.disk", "full"),
                                         ("broken", "alerts.disk", "full"),
                                         ("last", "alerts.disk", "full")],
                          "three subscribers, the second raising", scene, ordered=False)
        expect_count(count, 3, "three subscribers, one raising (it was delivered to, so it counts)",
                     scene)

    def test_the_exception_object_is_appended_to_errors(self, impl, sandbox):
        """broker.errors is a list that gets each raised exception object itself, in the order raised"""
        scene = Scene(impl, sandbox)
        scene.subscribe("ok", "#")
        scene.subscribe("value", "a.*", raises=ValueError)
        scene.subscribe("key", "*.b", raises=KeyError)
        scene.subscribe("boom", "c", raises=RuntimeError)
        seen, previous = 0, []
        for topic in ["a.b", "x.b", "c", "a.c", "d"]:
            before = len(scene.raised)
            scene.publish(topic, topic)
            errors = list(scene.broker.errors)
            fresh = scene.raised[before:]
            expect(len(errors) == seen + len(fresh),
                   f"after publish({topic!r}) broker.errors should hold {seen + len(fresh)} "
                   f"exceptions, it holds {len(errors)}: {errors!r}\n  replay: {scene.replay}")
            appended = errors[seen:]
            expect(all(any(e is r for r in fresh) for e in appended) and
                   all(any(e is r for e in appended) for r in fresh),
                   f"publish({topic!r}) should append the exception objects its callbacks raised, "
                   f"{fresh!r}, themselves (not copies, not strings); it appended {appended!r}\n"
                   f"  replay: {scene.replay}")
            expect(all(e is p for e, p in zip(errors, previous)),
                   f"after publish({topic!r}) the earlier entries of broker.errors changed: they "
                   f"were {previous!r}, now {errors[:seen]!r}\n  replay: {scene.replay}")
            seen, previous = len(errors), errors
        expect(isinstance(scene.broker.errors, list) or type(scene.broker.errors).__name__ == "list",
               f"broker.errors should be a list, it is {type(scene.broker.errors).__name__}")

    def test_a_raising_callback_keeps_its_subscription(self, impl, sandbox):
        """a callback that raised stays subscribed: it gets the next messages too (and each error is appended)"""
        scene = Scene(impl, sandbox)
        scene.subscribe("flaky", "jobs.*", raises=RuntimeError)
        scene.subscribe("steady", "jobs.*")
        counts = [scene.publish("jobs.run", n) for n in range(3)]
        expect_deliveries(scene.take(), [(name, "jobs.run", n) for n in range(3)
                                         for name in ("flaky", "steady")],
                          "three publishes to a raising and a steady subscriber", scene, ordered=False)
        expect_scene_equal(counts, [2, 2, 2], "the counts of the three publishes", scene)
        expect_scene_equal(len(scene.broker.errors), 3, "len(broker.errors) after three publishes "
                           "that each made one callback raise", scene)

    def test_every_callback_raising(self, impl, sandbox):
        """when every matching callback raises, each is still called, each error is kept, and publish returns their number"""
        scene = Scene(impl, sandbox)
        for name in ("x", "y", "z"):
            scene.subscribe(name, "#", raises=ZeroDivisionError)
        count = scene.publish("t", "m")
        expect_deliveries(scene.take(), [(n, "t", "m") for n in "xyz"], "three raising callbacks",
                          scene, ordered=False)
        expect_count(count, 3, "three callbacks, all raising", scene)
        errors = list(scene.broker.errors)
        expect(len(errors) == 3 and all(any(e is r for e in errors) for r in scene.raised),
               f"broker.errors should hold the three exceptions raised, {scene.raised!r}; got "
               f"{errors!r}\n  replay: {scene.replay}")

    def test_errors_keep_publish_order(self, impl, sandbox):
        """over several publishes, broker.errors keeps the exceptions in the order the publishes raised them"""
        scene = Scene(impl, sandbox)
        scene.subscribe("odd", "odd.*", raises=ValueError)
        scene.subscribe("even", "even.*", raises=KeyError)
        topics = ["odd.1", "even.2", "even.4", "odd.3", "odd.5", "even.6"]
        scene.publish_all([(t, t) for t in topics])
        errors = list(scene.broker.errors)
        expect(len(errors) == len(scene.raised) and all(e is r for e, r in zip(errors, scene.raised)),
               f"broker.errors should be the six exceptions in the order raised, {scene.raised!r}; "
               f"got {errors!r}\n  replay: {scene.replay}")


# --------------------------------------------------------------------------------- subscriptions
@pytest.mark.part("subscriptions")
class TestSubscriptions:
    def test_unsubscribe_stops_delivery(self, impl, sandbox):
        """after unsubscribe(), the subscription gets nothing more; the others are unaffected"""
        scene = Scene(impl, sandbox)
        gone = scene.subscribe("gone", "chat.*")
        scene.subscribe("stays", "chat.*")
        scene.publish("chat.room", 1)
        scene.unsubscribe("gone", gone)
        count = scene.publish("chat.room", 2)
        expect_deliveries(scene.take(), [("gone", "chat.room", 1), ("stays", "chat.room", 1),
                                         ("stays", "chat.room", 2)],
                          "two publishes around an unsubscribe", scene, ordered=False)
        expect_count(count, 1, "after one of two subscriptions was removed", scene)

    def test_unsubscribe_twice_does_nothing(self, impl, sandbox):
        """unsubscribe() a second time raises nothing and removes no other subscription"""
        scene = Scene(impl, sandbox)
        callback = scene.callback("same")
        first = scene.broker.subscribe("t", callback)
        scene.broker.subscribe("t", callback)
        scene.subscribe("other", "t")
        scene.lines[2:2] = ["callback = recorder(got, 'same')", "first = broker.subscribe('t', callback)",
                            "second = broker.subscribe('t', callback)"]
        scene.unsubscribe("first", first)
        try:
            scene.unsubscribe("first", first)
        except Exception as error:  # noqa: BLE001 - the failure says what came out
            raise AssertionError(f"a second unsubscribe() raised {type(error).__name__}: {error}; "
                                 f"it should do nothing\n  replay: {scene.replay}") from None
        count = scene.publish("t", "m")
        expect_deliveries(scene.take(), [("same", "t", "m"), ("other", "t", "m")],
                          "one of two subscriptions of one callback removed twice", scene,
                          ordered=False)
        expect_count(count, 2, "the second subscription of the callback and another remain", scene)

    def test_the_same_callback_subscribed_twice_is_called_twice(self, impl, sandbox):
        """the same callback subscribed twice is two subscriptions: called twice per publish, counted twice; unsubscribing one leaves the other"""
        scene = Scene(impl, sandbox)
        callback = scene.callback("twice")
        first = scene.broker.subscribe("news", callback)
        scene.broker.subscribe("news", callback)
        scene.lines += ["callback = recorder(got, 'twice')", "first = broker.subscribe('news', callback)",
                        "second = broker.subscribe('news', callback)"]
        count = scene.publish("news", 1)
        expect_deliveries(scene.take(), [("twice", "news", 1)] * 2,
                          "one callback subscribed twice with the same pattern", scene)
        expect_count(count, 2, "one callback subscribed twice", scene)
        scene.unsubscribe("first", first)
        count = scene.publish("news", 2)
        expect_deliveries(scene.take(), [("twice", "news", 2)],
                          "after one of the two subscriptions was removed", scene)
        expect_count(count, 1, "one of the two subscriptions left", scene)

    def test_one_callback_under_two_matching_patterns(self, impl, sandbox):
        """one callback subscribed under two patterns that both match a topic gets that message twice"""
        scene = Scene(impl, sandbox)
        callback = scene.callback("both")
        scene.broker.subscribe("logs.*", callback)
        scene.broker.subscribe("#.error", callback)
        scene.lines += ["callback = recorder(got, 'both')", "broker.subscribe('logs.*', callback)",
                        "broker.subscribe('#.error', callback)"]
        counts = scene.publish_all([("logs.error", 1), ("logs.info", 2), ("db.error", 3)])
        expect_deliveries(scene.take(), [("both", "logs.error", 1), ("both", "logs.error", 1),
                                         ("both", "logs.info", 2), ("both", "db.error", 3)],
                          "one callback under two patterns", scene)
        expect_scene_equal(counts, [2, 1, 1], "the counts of publishing logs.error, logs.info, db.error",
                           scene)

    def test_a_callback_unsubscribing_itself(self, impl, sandbox):
        """a callback that unsubscribes itself during delivery: no error, the others still get that message, it gets no later one"""
        scene = Scene(impl, sandbox)
        subscriptions = {}
        once = scene.subscribe("once", "#", then=lambda *_: subscriptions["once"].unsubscribe(),
                               then_replay="once.unsubscribe()")
        subscriptions["once"] = once
        for name in ("b", "c", "d"):
            scene.subscribe(name, "#")
        counts = scene.publish_all([("t", 1), ("t", 2)])
        expect_deliveries(scene.take(), [("once", "t", 1), ("b", "t", 1), ("c", "t", 1), ("d", "t", 1),
                                         ("b", "t", 2), ("c", "t", 2), ("d", "t", 2)],
                          "a subscriber that unsubscribes itself on its first message (removing "
                          "from a list while looping over it skips the next one)", scene,
                          ordered=False)
        expect_scene_equal(counts, [4, 3], "the counts of the two publishes", scene)
        expect_scene_equal(list(scene.broker.errors), [], "broker.errors (an unsubscribe during "
                           "delivery is no error)", scene)

    def test_a_callback_unsubscribing_another(self, impl, sandbox):
        """a callback that unsubscribes another subscription: that publish still reaches it (the subscriptions when the publish began), later ones do not"""
        scene = Scene(impl, sandbox)
        subscriptions = {}
        def remove_victim(topic, *_):
            if topic == "t.1":
                subscriptions["victim"].unsubscribe()
        scene.subscribe("remover", "t.*", then=remove_victim,
                        then_replay="topic == 't.1' and victim.unsubscribe()")
        scene.subscribe("bystander", "t.*")
        subscriptions["victim"] = scene.subscribe("victim", "t.*")
        counts = scene.publish_all([("t.1", 1), ("t.2", 2)])
        expect_deliveries(scene.take(), [("remover", "t.1", 1), ("bystander", "t.1", 1),
                                         ("victim", "t.1", 1), ("remover", "t.2", 2),
                                         ("bystander", "t.2", 2)],
                          "a subscription removed by another callback during the first publish",
                          scene, ordered=False)
        expect_scene_equal(counts, [3, 2], "the counts of the two publishes", scene)
        expect_scene_equal(list(scene.broker.errors), [], "broker.errors (an unsubscribe during "
                           "delivery is no error)", scene)

    def test_a_callback_removing_an_earlier_subscription(self, impl, sandbox):
        """a callback that removes a subscription made before its own, during delivery, makes the broker skip nobody"""
        scene = Scene(impl, sandbox)
        subscriptions = {}
        subscriptions["early"] = scene.subscribe("early", "#")
        def remove_early(topic, *_):
            if topic == "go":
                subscriptions["early"].unsubscribe()
        scene.subscribe("remover", "#", then=remove_early,
                        then_replay="topic == 'go' and early.unsubscribe()")
        for name in ("x", "y"):
            scene.subscribe(name, "#")
        counts = scene.publish_all([("go", 1), ("again", 2)])
        expect_deliveries(scene.take(), [("early", "go", 1), ("remover", "go", 1), ("x", "go", 1),
                                         ("y", "go", 1), ("remover", "again", 2), ("x", "again", 2),
                                         ("y", "again", 2)],
                          "an earlier subscription removed during a publish", scene, ordered=False)
        expect_scene_equal(counts, [4, 3], "the counts of the two publishes", scene)

    def test_a_subscription_made_during_delivery_starts_with_the_next_publish(self, impl, sandbox):
        """a subscription made by a callback during a publish gets the next publishes, not that one"""
        scene = Scene(impl, sandbox)
        added = []

        def add_one(topic, *_):
            if topic == "first":
                added.append(scene.broker.subscribe("#", scene.callback("newcomer")))
        scene.subscribe("adder", "#", then=add_one,
                        then_replay="topic == 'first' and broker.subscribe('#', recorder(got, 'newcomer'))")
        scene.subscribe("other", "#")
        counts = scene.publish_all([("first", 1), ("second", 2)])
        expect_deliveries(scene.take(), [("adder", "first", 1), ("other", "first", 1),
                                         ("adder", "second", 2), ("other", "second", 2),
                                         ("newcomer", "second", 2)],
                          "a subscription added during the first publish", scene, ordered=False)
        expect_scene_equal(counts, [2, 3], "the counts of the two publishes", scene)
        expect_scene_equal(len(added), 1, "subscriptions the callback made", scene)
