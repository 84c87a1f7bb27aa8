"""Hidden suite for the `message_queue` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with a one-line replay the student can paste into a notebook
cell (`clock = FakeClock(); queue = WorkQueue(...); m1 = queue.send('a'); ...`) to see it for
themselves.

Time is the suite's FakeClock, handed over as a plain function (`support.contract_clock`): nothing
in the ordering, visibility and dead-letter parts waits or depends on the machine's speed, and every
time used is a multiple of 0.25 s (exact in binary), so `clock() - received_at >= timeout` and
`clock() >= received_at + timeout` agree; the boundary tests also read the clock one float step
before the boundary (`math.nextafter`). A message crosses the channel by reference, so the suite
reads its `.id`, `.body` and `.deliveries` right after `receive` returned it. Many plain sends go to
the student's process in one batch (`sandbox.batch`). A message that is a tuple (a namedtuple)
crosses by value without its field names, so its first three items are read in the contract's
order (id, body, deliveries), as the notebook says; further items are not graded.

The threads part uses real threads calling `send`, `receive`, `ack` and `len` at once on a fake
clock that does not move while they run (with a one-hour visibility timeout no lease runs out, so
every message must go to exactly one consumer). No event is ordered by a delay; each wait ends as
soon as its threads have finished, bounded by `HELD` only if the student's code hangs.

Readings the grader takes where the contract is silent (the notebook states each one): `ack` of an
id that is unknown, already acked or dead does nothing (SQS accepts a stale receipt); `ack` removes
any message that is not dead, also one whose lease ran out and that was not received again; a
message is dead from the instant its last timeout passes (`len` leaves it out at once), and
`.dead_letters` is read only after a `receive()` at that time, so queues that move dead letters
eagerly and those that move them on the next receive (as SQS does) both pass; ids are ints or strs, distinct within one queue, compared only
for equality; a body is any value and equal bodies are two messages. Not graded: where a message
that is visible again goes relative to fresh ones (only the send order of fresh messages among
themselves is checked, also when both come out of one receive), the order of `.dead_letters` and
their `.deliveries`, `visibility_timeout <= 0`, `max_deliveries < 1`, `max_messages < 1`, a clock
that goes backwards.
"""
# DSP-CANARY-MESSAGE_QUEUE-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import math
from collections import Counter

import pytest
from support import Background, contract_clock, expect, expect_equal, returned

from dspatterns.testing import FakeClock

HELD = 30.0  # real seconds a thread test waits for its threads (only if the student's code hangs)
LONG = 3600.0  # a visibility timeout no lease reaches while the threads run


# ------------------------------------------------------------------------------------- helpers
class Run:
    """A WorkQueue on the suite's fake clock, writing down each step as the code that replays it.

    Messages are read as ``(id, body, deliveries)`` tuples right after ``receive`` returns them;
    in the replay each id is the name of the variable its send was assigned to (``m1``, ``m2``...).
    """

    def __init__(self, impl, sandbox=None, start=0.0, **options):
        self.sandbox = sandbox
        self.clock = FakeClock(start)
        self.queue = impl.WorkQueue(clock=contract_clock(self.clock), **options)
        args = ", ".join([f"{k}={v!r}" for k, v in options.items()] + ["clock=clock"])
        self.lines = [f"clock = FakeClock({start!r})", f"queue = WorkQueue({args})"]
        self.names: dict = {}
        self.sent = 0

    @property
    def replay(self) -> str:
        return "replay: " + "; ".join(self.lines)

    def name(self, message_id) -> str:
        return self.names.get(message_id, repr(message_id))

    def shown(self, messages) -> list:
        """Messages as the replay names them: (m1, 'a', 2)."""
        return [(Named(self.name(i)), body, n) for i, body, n in messages]

    # -- calls
    def send(self, body):
        message_id = self.queue.send(body)
        self.sent += 1
        name = f"m{self.sent}"
        self.lines.append(f"{name} = queue.send({body!r})")
        expect(isinstance(message_id, (int, str)) and not isinstance(message_id, bool),
               f"send should return the message's id, an int or a str; it returned "
               f"{message_id!r} ({type(message_id).__name__})\n  {self.replay}")
        expect(message_id not in self.names,
               f"{name} = queue.send({body!r}) returned the id {message_id!r}, which "
               f"{self.names.get(message_id)} already has: each message needs its own id\n  "
               f"{self.replay}")
        self.names[message_id] = name
        return message_id

    def send_many(self, bodies) -> list:
        """One batch of sends (one round trip); the replay shows it as one line."""
        outcomes = self.sandbox.batch(self.queue.send, [[body] for body in bodies])
        self.lines.append(f"ids = [queue.send(b) for b in {list(bodies)!r}]")
        ids = []
        for outcome in outcomes:
            if outcome.raised:
                raise outcome.error
            ids.append(outcome.value)
        for i, message_id in enumerate(ids):
            self.names.setdefault(message_id, f"ids[{i}]")
        return ids

    def receive(self, max_messages=None) -> list:
        call = "queue.receive()" if max_messages is None else f"queue.receive({max_messages!r})"
        self.lines.append(call)
        got = self.queue.receive() if max_messages is None else self.queue.receive(max_messages)
        expect(isinstance(got, list),
               f"{call} should return a list of messages; it returned {got!r}\n  {self.replay}")
        return [read(message, call, self.replay) for message in got]

    def ack(self, message_id, shown=None):
        self.lines.append(f"queue.ack({shown or self.name(message_id)})")
        self.queue.ack(message_id)

    def advance(self, seconds):
        self.clock.advance(seconds)
        self.lines.append(f"clock.advance({seconds!r})")

    def just_before(self, t):
        """The clock one float step before ``t``."""
        self.clock.now = math.nextafter(t, -math.inf)
        self.lines.append(f"import math; clock.now = math.nextafter({t!r}, -math.inf)")

    def at(self, t):
        self.clock.now = t
        self.lines.append(f"clock.now = {t!r}")

    def length(self) -> int:
        self.lines.append("len(queue)")
        return len(self.queue)

    def dead(self) -> list:
        """``.dead_letters`` as (id, body) pairs, sorted by the replay's name (order not graded)."""
        self.lines.append("queue.dead_letters")
        letters = self.queue.dead_letters
        expect(isinstance(letters, list),
               f"queue.dead_letters should be a list of messages; it is {letters!r}\n  {self.replay}")
        pairs = [read(m, "queue.dead_letters", self.replay)[:2] for m in letters]
        return sorted(pairs, key=lambda pair: (len(self.name(pair[0])), self.name(pair[0])))

    # -- checks
    def expect_received(self, max_messages, expected, why):
        """One receive; it must give exactly ``expected`` (id, body, deliveries), in this order."""
        got = self.receive(max_messages)
        expect(got == expected,
               f"{self.lines[-1]} {why}: expected {self.shown(expected)}, got {self.shown(got)}\n"
               f"  {self.replay}")
        return got

    def expect_nothing(self, why, max_messages=10):
        self.expect_received(max_messages, [], why)

    def expect_len(self, expected, why):
        n = self.length()
        expect(n == expected, f"len(queue) {why}: expected {expected}, got {n!r}\n  {self.replay}")

    def expect_dead(self, expected, why):
        got = self.dead()
        want = sorted(expected, key=lambda pair: (len(self.name(pair[0])), self.name(pair[0])))
        expect(got == want,
               f"queue.dead_letters {why}: expected (id, body) {self.shown_pairs(want)}, got "
               f"{self.shown_pairs(got)}\n  {self.replay}")

    def shown_pairs(self, pairs):
        return [(Named(self.name(i)), body) for i, body in pairs]


class Named(str):
    """A variable name of the replay, shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


def fields(message) -> tuple:
    """``(id, body, deliveries)`` of a message. A message that is a tuple (a namedtuple, say)
    crosses the channel by value as a bare tuple, without its field names: its first three items
    are read as (id, body, deliveries), as the notebook says, and any further items (a
    ``received_at``, say) are the student's own and not graded."""
    if isinstance(message, tuple):
        if len(message) < 3:
            raise AttributeError(f"a message that is a tuple reaches the grader as a plain tuple "
                                 f"(a namedtuple loses its field names on the way) and its first "
                                 f"three items are read as (id, body, deliveries); this one has "
                                 f"{len(message)} items: {message!r}")
        return tuple(message[:3])
    return (message.id, message.body, message.deliveries)


def read(message, call, replay) -> tuple:
    try:
        return fields(message)
    except AttributeError as error:
        raise AssertionError(f"{call} should give messages with .id, .body and .deliveries; "
                             f"reading one raised AttributeError: {error}\n  {replay}") from None


def fresh_in_send_order(run, got, sent_order, why):
    """The fresh messages (deliveries 1) of ``got`` must keep ``sent_order`` among themselves."""
    rank = {message_id: i for i, message_id in enumerate(sent_order)}
    fresh = [m for m in got if m[2] == 1]
    expect([m[0] for m in fresh] == sorted((m[0] for m in fresh), key=rank.__getitem__),
           f"{run.lines[-1]} {why}: fresh messages must come out in send order; the fresh ones "
           f"came out as {[run.name(m[0]) for m in fresh]}\n  {run.replay}")


# ------------------------------------------------------------------------------------- ordering
@pytest.mark.part("ordering")
class TestOrdering:
    def test_each_send_returns_its_own_id(self, impl, sandbox):
        """send returns a different id (an int or a str) for each of 60 messages, equal bodies included"""
        run = Run(impl, sandbox)
        bodies = [f"job {i % 20}" for i in range(60)]
        ids = run.send_many(bodies)
        kinds = {type(i).__name__ for i in ids}
        expect(all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in ids),
               f"send should return ids that are ints or strs; it returned types {sorted(kinds)}\n"
               f"  {run.replay}")
        repeated = [i for i, n in Counter(ids).items() if n > 1]
        expect(not repeated, f"60 sends (20 distinct bodies, 3 of each) should return 60 different "
                             f"ids; these came back more than once: {repeated[:5]}\n  {run.replay}")

    def test_fresh_messages_come_out_in_send_order(self, impl):
        """receive() gives one message at a time, the oldest sent first, each with its id, body and deliveries 1"""
        run = Run(impl, visibility_timeout=30.0)
        bodies = ["a", "b", "c", "d", "e", "f", "g", "h"]
        ids = [run.send(body) for body in bodies]
        for message_id, body in zip(ids, bodies):
            run.expect_received(None, [(message_id, body, 1)],
                                f"(the next of {bodies} sent, none acked)")
        run.expect_nothing("once every message is in flight")

    def test_receive_gives_at_most_max_messages(self, impl):
        """receive(max_messages=k) gives at most k messages, fewer when fewer are visible, in send order"""
        run = Run(impl)
        ids = [run.send(n) for n in range(7)]
        run.expect_received(3, [(ids[i], i, 1) for i in range(3)], "of 7 fresh messages")
        run.expect_received(3, [(ids[i], i, 1) for i in range(3, 6)], "of the 4 still visible")
        run.expect_received(3, [(ids[6], 6, 1)], "with 1 still visible")
        run.expect_received(3, [], "with none visible")
        got = run.queue.receive(max_messages=2)
        run.lines.append("queue.receive(max_messages=2)")
        expect(got == [], f"queue.receive(max_messages=2) (by keyword) with none visible should "
                          f"return [], got {got!r}\n  {run.replay}")

    def test_an_empty_queue_gives_an_empty_list(self, impl):
        """receive on a queue with no message returns an empty list at once, whatever max_messages"""
        run = Run(impl)
        run.expect_received(None, [], "of a new queue")
        run.expect_received(5, [], "of a new queue")
        run.expect_len(0, "of a new queue")

    def test_bodies_come_back_as_sent(self, impl):
        """each message's body is what was sent, whatever its type; equal bodies are two messages"""
        run = Run(impl)
        bodies = ["text", 42, 3.5, None, [1, "two"], {"k": [1, 2]}, "", "dup", "dup"]
        ids = [run.send(body) for body in bodies]
        run.expect_received(len(bodies), [(i, b, 1) for i, b in zip(ids, bodies)],
                            "of messages with these bodies")

    def test_sends_between_receives_keep_send_order(self, impl):
        """messages sent after some were received still come out in send order"""
        run = Run(impl)
        a, b = run.send("a"), run.send("b")
        run.expect_received(None, [(a, "a", 1)], "(a and b sent)")
        c, d = run.send("c"), run.send("d")
        run.expect_received(2, [(b, "b", 1), (c, "c", 1)], "(b still waiting, c and d sent after)")
        e = run.send("e")
        run.expect_received(5, [(d, "d", 1), (e, "e", 1)], "(d waiting, e sent after)")

    def test_len_counts_waiting_and_in_flight_messages(self, impl):
        """len(queue) counts every message neither acked nor dead: waiting ones and those in flight"""
        run = Run(impl)
        run.expect_len(0, "of a new queue")
        ids = [run.send(body) for body in "vwxyz"]
        run.expect_len(5, "after 5 sends")
        run.receive(2)
        run.expect_len(5, "with 2 of the 5 in flight (received, not acked)")
        run.ack(ids[0])
        run.expect_len(4, "after one of the 5 was acked")
        run.receive(10)
        run.expect_len(4, "with all 4 left in flight")

    def test_two_queues_share_nothing(self, impl):
        """each WorkQueue has its own messages (nothing kept on the class)"""
        one, two = Run(impl), Run(impl)
        one.send("only in one")
        two.expect_nothing("of a second queue, after the first queue got a message")
        two.expect_len(0, "of a second queue, after the first queue got a message")
        one.expect_len(1, "of the first queue")


# ----------------------------------------------------------------------------------- visibility
@pytest.mark.part("visibility")
class TestVisibility:
    def test_invisible_until_the_timeout_exactly(self, impl):
        """a received message is invisible while clock() - received_at < timeout, and visible again from == on"""
        run = Run(impl, start=100.0, visibility_timeout=30.0)
        m = run.send("job")
        run.expect_received(None, [(m, "job", 1)], "at 100.0")
        run.at(115.0)
        run.expect_nothing("15 s after it was received (timeout 30.0)")
        run.just_before(130.0)
        run.expect_nothing("one float step before 30.0 s had passed since it was received at 100.0")
        run.at(130.0)
        run.expect_received(None, [(m, "job", 2)],
                            "exactly 30.0 s (the timeout) after it was received at 100.0: it is "
                            "visible again (>=), delivered for the second time")

    def test_redelivered_each_time_with_deliveries_counted(self, impl):
        """each redelivery has the same id and body and .deliveries one higher (this delivery included)"""
        run = Run(impl, visibility_timeout=5.0, max_deliveries=10)
        m = run.send({"order": 7})
        for delivery in range(1, 6):
            run.expect_received(None, [(m, {"order": 7}, delivery)],
                                f"(delivery number {delivery}, never acked, timeout 5.0)")
            run.advance(5.0)

    def test_the_timeout_counts_from_the_latest_delivery(self, impl):
        """after a redelivery the message is invisible again for a whole timeout from that delivery"""
        run = Run(impl, visibility_timeout=5.0)
        m = run.send("job")
        run.receive()
        run.advance(5.0)
        run.expect_received(None, [(m, "job", 2)], "5.0 s after the first delivery")
        run.advance(4.75)
        run.expect_nothing("4.75 s after the second delivery (9.75 s after the first)")
        run.advance(0.25)
        run.expect_received(None, [(m, "job", 3)], "5.0 s after the second delivery")

    def test_each_message_has_its_own_timeout(self, impl):
        """each message becomes visible again a timeout after its own receive, not the others'"""
        run = Run(impl, visibility_timeout=10.0)
        first, second = run.send("first"), run.send("second")
        run.receive()
        run.advance(4.0)
        run.receive()
        run.advance(6.0)
        run.expect_received(5, [(first, "first", 2)],
                            "10 s after 'first' was received and 6 s after 'second' was")
        run.advance(3.75)
        run.expect_nothing("9.75 s after 'second' was received")
        run.advance(0.25)
        run.expect_received(5, [(second, "second", 2)], "10 s after 'second' was received")

    def test_ack_removes_the_message_for_good(self, impl):
        """an acked message is never delivered again; the others still are, and len counts them"""
        run = Run(impl, visibility_timeout=5.0)
        a, b = run.send("a"), run.send("b")
        run.receive(2)
        run.ack(a)
        run.expect_len(1, "after 'a' was acked ('b' is in flight)")
        run.advance(5.0)
        run.expect_received(5, [(b, "b", 2)], "a timeout later: only 'b' (not acked) comes back")
        run.ack(b)
        run.expect_len(0, "after both were acked")
        run.advance(50.0)
        run.expect_nothing("long after both were acked")

    def test_ack_of_a_redelivered_message(self, impl):
        """ack takes the id of a message delivered again: it removes the message"""
        run = Run(impl, visibility_timeout=5.0, max_deliveries=5)
        m = run.send("job")
        run.receive()
        run.advance(5.0)
        run.expect_received(None, [(m, "job", 2)], "a timeout after the first delivery")
        run.ack(m)
        run.expect_len(0, "after the redelivered message was acked")
        run.advance(5.0)
        run.expect_nothing("a timeout after the ack")
        run.expect_dead([], "after an acked message's timeout")

    def test_ack_of_an_unknown_or_acked_id_does_nothing(self, impl):
        """ack of an id never sent, or acked already, raises nothing and changes nothing"""
        run = Run(impl, visibility_timeout=5.0)
        a, b = run.send("a"), run.send("b")
        unknown_str = "never-sent" if "never-sent" not in (a, b) else "never-sent-either"
        ints = [i for i in (a, b) if isinstance(i, int)]
        unknown_int = max(ints, default=0) + 1000
        run.receive()
        run.ack(a)
        run.ack(a)
        run.ack(unknown_str, shown=repr(unknown_str))
        run.ack(unknown_int, shown=repr(unknown_int))
        run.expect_len(1, "after 'a' was acked twice and two unknown ids were acked")
        run.expect_received(None, [(b, "b", 1)], "('b' was never received)")
        run.advance(5.0)
        run.expect_received(None, [(b, "b", 2)], "a timeout later ('b' not acked)")

    def test_ack_after_the_timeout_before_a_redelivery(self, impl):
        """a message whose lease ran out but that nobody received again is removed by ack (as in SQS)"""
        run = Run(impl, visibility_timeout=5.0)
        m = run.send("slow job")
        run.receive()
        run.advance(7.0)
        run.ack(m)  # the slow worker finishes after its lease ran out
        run.expect_len(0, "after a late ack of a message nobody received again")
        run.expect_nothing("after that late ack")

    def test_visible_again_and_fresh_messages_all_come_out(self, impl):
        """messages visible again come out with the fresh ones; the fresh keep their send order"""
        run = Run(impl, visibility_timeout=10.0)
        ids = [run.send(body) for body in "abcde"]
        run.receive(2)  # a, b
        run.ack(ids[0])
        run.advance(10.0)
        f = run.send("f")
        got = run.receive(10)
        expected = {(ids[1], "b", 2)} | {(i, body, 1) for i, body in zip(ids[2:], "cde")} \
            | {(f, "f", 1)}
        expect(set(got) == expected and len(got) == len(expected),
               f"{run.lines[-1]} (b back after its timeout, c, d, e and f fresh) should give "
               f"{sorted(run.shown(expected), key=lambda m: m[1])} in some order; got "
               f"{run.shown(got)}\n  {run.replay}")
        fresh_in_send_order(run, got, ids + [f], "(b back after its timeout, c to f fresh)")

    def test_default_visibility_timeout_is_30_seconds(self, impl):
        """WorkQueue(clock=clock) hides a received message for 30 seconds of the given clock"""
        run = Run(impl, start=50_000.0)
        m = run.send("job")
        run.receive()
        run.advance(29.75)
        run.expect_nothing("29.75 s of the given clock after the receive (default timeout 30.0)")
        run.advance(0.25)
        run.expect_received(None, [(m, "job", 2)],
                            "30.0 s of the given clock after the receive (no real time passed)")


# --------------------------------------------------------------------------------- dead letters
@pytest.mark.part("dead_letters")
class TestDeadLetters:
    def test_dead_once_the_last_timeout_passes_not_before(self, impl):
        """delivered max_deliveries times: in the queue until that last timeout passes, then dead (len leaves it out)"""
        run = Run(impl, start=10.0, visibility_timeout=5.0, max_deliveries=3)
        m = run.send("poison")
        for delivery, t in ((1, 10.0), (2, 15.0), (3, 20.0)):
            run.at(t)
            run.expect_received(None, [(m, "poison", delivery)], f"at {t} (timeout 5.0)")
        run.just_before(25.0)
        run.expect_len(1, "one float step before the third (last) delivery's timeout passed")
        run.expect_nothing("before the last timeout passed")
        run.expect_dead([], "before the last timeout passed")
        run.at(25.0)
        run.expect_len(0, "exactly when the last delivery's timeout passed: it is dead")
        run.expect_nothing("once it is dead")
        run.expect_dead([(m, "poison")], "once the last timeout passed")

    def test_a_dead_letter_is_never_delivered_again(self, impl):
        """a dead message never comes out of receive again, and stays in dead_letters once"""
        run = Run(impl, visibility_timeout=1.0, max_deliveries=2)
        m = run.send("poison")
        run.receive()
        run.advance(1.0)
        run.receive()
        for _ in range(3):
            run.advance(1.0)
            run.expect_nothing("after its second (last) delivery's timeout")
        run.expect_dead([(m, "poison")], "after several receives")
        run.expect_dead([(m, "poison")], "read a second time")
        run.expect_len(0, "with only a dead letter")

    def test_an_ack_on_the_last_delivery_saves_it(self, impl):
        """a message acked during its last delivery is not a dead letter"""
        run = Run(impl, visibility_timeout=5.0, max_deliveries=2)
        m = run.send("job")
        run.receive()
        run.advance(5.0)
        run.expect_received(None, [(m, "job", 2)], "(its second and last delivery)")
        run.advance(4.75)
        run.ack(m)
        run.advance(0.25)
        run.expect_nothing("after it was acked during its last delivery")
        run.expect_dead([], "after it was acked during its last delivery")
        run.expect_len(0, "after it was acked")

    def test_an_ack_after_the_last_timeout_is_too_late(self, impl):
        """once the last timeout passed the message is dead: a late ack raises nothing and leaves it there"""
        run = Run(impl, visibility_timeout=5.0, max_deliveries=2)
        m = run.send("poison")
        run.receive()
        run.advance(5.0)
        run.receive()
        run.advance(5.0)
        run.ack(m)
        run.expect_len(0, "after the last timeout passed and a late ack")
        run.expect_nothing("after the late ack")
        run.expect_dead([(m, "poison")], "after the last timeout passed, then a late ack")

    def test_max_deliveries_one(self, impl):
        """with max_deliveries=1 a message is dead after one unacked delivery and its timeout"""
        run = Run(impl, visibility_timeout=2.0, max_deliveries=1)
        m = run.send("once")
        run.expect_received(None, [(m, "once", 1)], "(its only delivery)")
        run.advance(1.75)
        run.expect_len(1, "1.75 s into its only delivery (timeout 2.0)")
        run.advance(0.25)
        run.expect_nothing("once its only delivery's timeout passed")
        run.expect_dead([(m, "once")], "once its only delivery's timeout passed")

    def test_default_max_deliveries_is_5(self, impl):
        """WorkQueue(visibility_timeout=1.0, clock=clock) delivers a message 5 times, then it is dead"""
        run = Run(impl, visibility_timeout=1.0)
        m = run.send("poison")
        for delivery in range(1, 6):
            run.expect_received(None, [(m, "poison", delivery)],
                                f"(delivery {delivery}; max_deliveries defaults to 5)")
            run.advance(1.0)
        run.expect_nothing("after the fifth delivery's timeout")
        run.expect_dead([(m, "poison")], "after the fifth delivery's timeout")

    def test_only_the_unacked_die_and_the_queue_goes_on(self, impl):
        """of messages delivered max_deliveries times only the unacked die; later messages flow as usual"""
        run = Run(impl, visibility_timeout=5.0, max_deliveries=2)
        bodies = ["a", 2, ["c"], {"d": 4}]
        ids = [run.send(body) for body in bodies]
        run.receive(10)
        run.advance(5.0)
        run.receive(10)
        run.ack(ids[1])
        run.ack(ids[3])
        run.advance(5.0)
        run.expect_len(0, "after the two unacked messages' last timeout (the others acked)")
        late = run.send("late")
        run.expect_received(10, [(late, "late", 1)], "of a message sent after the others died")
        run.expect_dead([(ids[0], "a"), (ids[2], ["c"])], "(the two never acked)")
        run.expect_len(1, "with 'late' in flight and two dead letters")

    def test_dead_letters_start_empty(self, impl):
        """dead_letters is an empty list on a new queue and while nothing has died"""
        run = Run(impl, visibility_timeout=5.0, max_deliveries=1)
        run.expect_dead([], "of a new queue")
        run.send("job")
        run.receive()
        run.advance(4.75)
        run.expect_len(1, "while the only delivery is in flight")
        run.expect_dead([], "while the only delivery is in flight")


# -------------------------------------------------------------------------------------- threads
def consume(queue, sizes, ack=lambda body: True, read_body=False, read_deliveries=False):
    """A consumer loop for a thread: receive (cycling through ``sizes``), read each message, ack the
    ones ``ack(body)`` picks, until a receive gives nothing; returns what it received."""
    def run():
        got, i = [], 0
        while True:
            batch = queue.receive(sizes[i % len(sizes)])
            i += 1
            if not batch:
                return got
            for message in batch:
                message_id, body, deliveries = fields(message)
                got.append((message_id, body if read_body else None,
                            deliveries if read_deliveries else None))
                if not read_body or ack(body):
                    queue.ack(message_id)
    return run


def finished(threads, what) -> list:
    """Wait for every thread; each must have returned (a hang or an error fails the test)."""
    for thread in threads:
        thread.join(HELD)
    problems = [t.describe() for t in threads if not t.done or t.error is not None]
    expect(not problems, f"{what}: every thread should finish without an error; "
                         f"{len(problems)} did not: {problems[:3]}")
    return [t.result for t in threads]


def exactly_once(received, sent, what):
    counts = Counter(received)
    twice = [i for i, n in counts.items() if n > 1]
    expect(not twice, f"{what}: {len(twice)} messages went to two consumers at once (with a "
                      f"one-hour timeout each must go to exactly one), e.g. ids {twice[:5]}")
    lost = [i for i in sent if i not in counts]
    expect(not lost, f"{what}: {len(lost)} of the {len(sent)} messages were never received, "
                     f"e.g. ids {lost[:5]}")
    extra = [i for i in counts if i not in set(sent)]
    expect(not extra, f"{what}: ids that were never sent came out: {extra[:5]}")


@pytest.mark.part("threads")
class TestThreads:
    def test_consumers_never_share_a_message_and_lose_none(self, impl, sandbox):
        """6 threads receive and ack 300 messages at once: each message goes to exactly one of them"""
        clock = FakeClock()
        queue = impl.WorkQueue(visibility_timeout=LONG, clock=contract_clock(clock))
        ids = returned(sandbox.batch(queue.send, [[n] for n in range(300)]))
        consumers = [Background(consume(queue, sizes)) for sizes in
                     ([1], [2], [3], [1, 3], [2, 1], [3, 2])]
        results = finished(consumers, "6 consumers on 300 messages")
        what = ("queue = WorkQueue(visibility_timeout=3600.0, clock=FakeClock()); 300 sends; 6 "
                "threads each looping receive(1 to 3) and ack until receive gives []")
        exactly_once([m[0] for got in results for m in got], ids, what)
        expect_equal(len(queue), 0, f"{what}; then len(queue)")
        expect_equal(queue.receive(5), [], f"{what}; then queue.receive(5)")

    def test_concurrent_senders_get_distinct_ids_and_keep_their_order(self, impl):
        """4 threads send 60 messages each at once: 240 distinct ids, each sender's messages in its send order"""
        clock = FakeClock()
        queue = impl.WorkQueue(visibility_timeout=LONG, clock=contract_clock(clock))

        def sender(name):
            return lambda: [queue.send((name, i)) for i in range(60)]

        senders = [Background(sender(name)) for name in "pqrs"]
        sent = [i for ids in finished(senders, "4 concurrent senders") for i in ids]
        what = "4 threads each calling queue.send((name, i)) for i in range(60) at once"
        repeated = [i for i, n in Counter(sent).items() if n > 1]
        expect(not repeated, f"{what}: 240 sends should return 240 different ids; these came back "
                             f"more than once: {repeated[:5]}")
        expect_equal(len(queue), 240, f"{what}; then len(queue)")
        bodies = []
        while batch := queue.receive(80):
            bodies += [fields(m)[1] for m in batch]
        expect_equal(len(bodies), 240, f"{what}; then receive(80) until []: how many came out")
        for name in "pqrs":
            mine = [b[1] for b in bodies if b[0] == name]
            expect(mine == list(range(60)),
                   f"{what}: sender {name!r}'s messages should come out in its send order 0..59; "
                   f"they came out as {mine[:12]}...")

    def test_unacked_messages_come_back_once_each(self, impl, sandbox):
        """threads ack only some messages; after the timeout the rest come back, each to one thread, delivered twice"""
        clock = FakeClock()
        queue = impl.WorkQueue(visibility_timeout=60.0, clock=contract_clock(clock))
        ids = returned(sandbox.batch(queue.send, [[n] for n in range(160)]))
        by_body = dict(zip(range(160), ids))
        first = finished([Background(consume(queue, [2], ack=lambda body: body % 2 == 0,
                                             read_body=True)) for _ in range(5)],
                         "5 consumers acking the even bodies")
        what = ("queue = WorkQueue(visibility_timeout=60.0, clock=clock); 160 sends (bodies 0..159); "
                "5 threads receive(2) until [], acking only even bodies")
        exactly_once([m[0] for got in first for m in got], ids, what)
        expect_equal(len(queue), 80, f"{what}; then len(queue) (the odd ones are in flight)")
        clock.advance(60.0)
        second = finished([Background(consume(queue, [3], read_body=True, read_deliveries=True))
                           for _ in range(5)], "5 consumers after the timeout")
        again = [m for got in second for m in got]
        what += "; clock.advance(60.0); 5 threads receive(3) and ack until []"
        exactly_once([m[0] for m in again], [by_body[n] for n in range(1, 160, 2)], what)
        wrong = [m for m in again if m[2] != 2 or by_body.get(m[1]) != m[0]]
        expect(not wrong, f"{what}: each odd message should come back with its body and "
                          f"deliveries 2; these did not (id, body, deliveries): {wrong[:5]}")
        expect_equal(len(queue), 0, f"{what}; then len(queue)")

    def test_sends_receives_acks_and_len_at_once(self, impl):
        """3 threads send while 4 receive and ack: every message goes to exactly one consumer, none lost"""
        clock = FakeClock()
        queue = impl.WorkQueue(visibility_timeout=LONG, clock=contract_clock(clock))
        producers_done = []
        lengths = []

        def producer(name):
            def run():
                ids = [queue.send(f"{name}{i}") for i in range(50)]
                producers_done.append(name)
                return ids
            return run

        def consumer():
            got = []
            while True:
                done = len(producers_done) == 3  # read before the receive: then [] means drained
                batch = queue.receive(2)
                lengths.append(len(queue))
                if not batch and done:
                    return got
                for message in batch:
                    message_id = fields(message)[0]
                    got.append(message_id)
                    queue.ack(message_id)

        consumers = [Background(consumer) for _ in range(4)]
        producers = [Background(producer(name)) for name in "xyz"]
        sent = [i for ids in finished(producers, "3 producers") for i in ids]
        received = [i for got in finished(consumers, "4 consumers") for i in got]
        what = ("3 threads each sending 50 messages while 4 threads loop receive(2), len(queue) and "
                "ack until the producers are done and receive gives []")
        exactly_once(received, sent, what)
        expect(all(isinstance(n, int) and 0 <= n <= 150 for n in lengths),
               f"{what}: len(queue) should stay between 0 and 150; it gave "
               f"{[n for n in lengths if not (isinstance(n, int) and 0 <= n <= 150)][:5]}")
        expect_equal(len(queue), 0, f"{what}; then len(queue)")
