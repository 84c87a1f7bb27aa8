"""Hidden suite for the `outbox` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the inputs that show it and a line to replay it.

The student's classes work on real SQLite files in the sandbox's own private /tmp; the suite never
opens those files: it sees only what `publish` and `handle` receive. `publish` and `handle` are the
suite's recording functions (each call is a round trip), so runs hold tens of messages, not
thousands. A "crash" is an exception raised by `publish` (before or after it records the message),
after which the relay object is abandoned and a NEW `OutboxRelay` on the same file takes over: a
real process death cannot be staged cheaply (a second sandbox has its own /tmp, so it cannot reopen
the file). Nothing here waits or races.
"""
# DSP-CANARY-OUTBOX-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Boom, expect, expect_equal, only_callable, returned

MESSAGE_KEYS = {"id", "order_id", "amount"}


# ------------------------------------------------------------------------------------- helpers
def fresh_path() -> str:
    """A database file no test has used, in the sandbox's private /tmp."""
    return f"/tmp/outbox-{uuid.uuid4().hex}.db"


class Broker:
    """The suite's publish: records each message it accepts; call number n in ``fail_before``
    raises without recording (the broker never got it), in ``fail_after`` records then raises (the
    broker got it, the relay never heard back)."""

    def __init__(self, fail_before=(), fail_after=()):
        self.fail_before, self.fail_after = set(fail_before), set(fail_after)
        self.received: list[dict] = []
        self.calls = 0

    def __call__(self, message):
        self.calls += 1
        if self.calls in self.fail_before:
            raise Boom(f"broker down (publish call {self.calls})")
        self.received.append(dict(message))
        if self.calls in self.fail_after:
            raise Boom(f"connection lost after sending (publish call {self.calls})")


class Recorder:
    """The suite's handle: records every message it is given."""

    def __init__(self):
        self.handled: list[dict] = []

    def __call__(self, message):
        if not isinstance(message, dict):
            raise TypeError(f"handle was given {message!r}: DedupConsumer passes handle the message "
                            "itself (the dict with its 'id'), once per id")
        self.handled.append(dict(message))


def place(sandbox, service, orders):
    """Place ``orders`` ((order_id, amount) pairs) in one round trip; the outcomes."""
    return sandbox.batch(service.place_order, [tuple(order) for order in orders])


def orders_of(messages) -> list:
    return [(m.get("order_id"), m.get("amount")) for m in messages]


def drain(relay, limit=50) -> list[int]:
    """run_once until it returns 0 (at most ``limit`` runs): what each run returned."""
    counts = []
    for _ in range(limit):
        counts.append(relay.run_once())
        if counts[-1] == 0:
            break
    return counts


def numbered(n, prefix="order"):
    return [(f"{prefix}-{i}", 10 * i + 5) for i in range(1, n + 1)]


REPLAY_SETUP = ("svc = OrderService('o.db'); [svc.place_order(f'order-{i}', 10 * i + 5) "
                "for i in range(1, N + 1)]")


def replay_setup(n: int) -> str:
    """The line that places ``numbered(n)``, for replays."""
    return REPLAY_SETUP.replace("N + 1", f"{n} + 1")


# ------------------------------------------------------------------------------ atomic_write
@pytest.mark.part("atomic_write")
class TestAtomicWrite:
    def test_each_order_gives_one_message(self, impl, sandbox):
        """each placed order gives exactly one message: {"id", "order_id", "amount"} with the order's values"""
        path = fresh_path()
        service = impl.OrderService(path)
        orders = [("A-1", 30), ("B-2", 12.5), ("C-3", 0), ("D-4", 999)]
        returned(place(sandbox, service, orders))
        broker = Broker()
        count = impl.OutboxRelay(path, only_callable(broker, "publish")).run_once()
        replay = ("svc = OrderService('o.db'); [svc.place_order(*o) for o in "
                  f"{orders!r}]; OutboxRelay('o.db', print).run_once()")
        expect_equal(count, 4, f"run_once() after 4 orders were placed (replay: {replay})")
        for message in broker.received:
            expect(set(message) == MESSAGE_KEYS,
                   f"each message should be a dict with exactly the keys {sorted(MESSAGE_KEYS)}; "
                   f"got {message!r} (replay: {replay})")
        expect_equal(orders_of(broker.received), orders,
                     f"(order_id, amount) of the messages published (replay: {replay})")
        ids = [m["id"] for m in broker.received]
        expect(len(set(ids)) == len(ids), f"message ids must be unique; got {ids} "
                                          f"(replay: {replay})")

    def test_duplicate_order_raises_and_adds_nothing(self, impl, sandbox):
        """a duplicate order_id raises ValueError and writes no new message, whatever its amount"""
        path = fresh_path()
        service = impl.OrderService(path)
        outcomes = place(sandbox, service, [("A-1", 30), ("A-1", 30), ("A-1", 75), ("B-2", 5)])
        replay = ("svc = OrderService('o.db'); svc.place_order('A-1', 30); "
                  "svc.place_order('A-1', 75)")
        expect(not outcomes[0].raised, f"the first place_order('A-1', 30) raised {outcomes[0].error!r}")
        for outcome, amount in zip(outcomes[1:3], (30, 75)):
            expect(outcome.raised and isinstance(outcome.error, ValueError),
                   f"place_order('A-1', {amount}) after A-1 was placed should raise ValueError; "
                   f"it {'raised ' + repr(outcome.error) if outcome.raised else 'returned'} "
                   f"(replay: {replay})")
        expect(not outcomes[3].raised, f"place_order('B-2', 5) after a rejected duplicate raised "
                                       f"{outcomes[3].error!r}")
        broker = Broker()
        impl.OutboxRelay(path, only_callable(broker, "publish")).run_once()
        expect_equal(orders_of(broker.received), [("A-1", 30), ("B-2", 5)],
                     "messages after placing A-1 (30), A-1 again twice (30, 75: rejected) and "
                     f"B-2 (5) (replay: {replay}; OutboxRelay('o.db', print).run_once())")

    def test_duplicate_after_publishing_adds_nothing(self, impl, sandbox):
        """a duplicate of an order already published is still rejected and publishes nothing new"""
        path = fresh_path()
        service = impl.OrderService(path)
        service.place_order("A-1", 30)
        broker = Broker()
        relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
        expect_equal(relay.run_once(), 1, "run_once() after one order")
        outcome = place(sandbox, service, [("A-1", 40)])[0]
        expect(outcome.raised and isinstance(outcome.error, ValueError),
               "place_order('A-1', 40) after A-1 was placed and published should raise ValueError; "
               f"it {'raised ' + repr(outcome.error) if outcome.raised else 'returned'}")
        expect_equal(relay.run_once(), 0, "run_once() after only a rejected duplicate was placed")
        expect_equal(len(broker.received), 1, "messages published in all")

    def test_duplicate_through_another_service_on_the_same_file(self, impl, sandbox):
        """two OrderServices on one file share its orders: either rejects the other's order ids"""
        path = fresh_path()
        first, second = impl.OrderService(path), impl.OrderService(path)
        outcomes = sandbox.call_each([
            (first.place_order, ("A-1", 10), {}), (second.place_order, ("B-2", 20), {}),
            (second.place_order, ("A-1", 11), {}), (first.place_order, ("B-2", 21), {}),
            (first.place_order, ("C-3", 30), {})])
        replay = ("a, b = OrderService('o.db'), OrderService('o.db'); a.place_order('A-1', 10); "
                  "b.place_order('A-1', 11)")
        verdicts = ["ValueError" if o.raised and isinstance(o.error, ValueError)
                    else repr(o.error) if o.raised else "ok" for o in outcomes]
        expect_equal(verdicts, ["ok", "ok", "ValueError", "ValueError", "ok"],
                     "outcomes of A-1 (first), B-2 (second), A-1 (second), B-2 (first), C-3 (first) "
                     f"(replay: {replay})")
        broker = Broker()
        impl.OutboxRelay(path, only_callable(broker, "publish")).run_once()
        expect_equal(orders_of(broker.received), [("A-1", 10), ("B-2", 20), ("C-3", 30)],
                     "messages of the orders both services placed, in the order they were placed")

    def test_orders_survive_new_objects(self, impl, sandbox):
        """orders are in the file, not the object: a new OrderService on it rejects old ids and a new relay publishes them"""
        path = fresh_path()
        returned(place(sandbox, impl.OrderService(path), numbered(3)))
        outcome = place(sandbox, impl.OrderService(path), [("order-2", 1)])[0]
        expect(outcome.raised and isinstance(outcome.error, ValueError),
               "a new OrderService on the same file: place_order('order-2', 1) should raise "
               f"ValueError (order-2 is in the file); it "
               f"{'raised ' + repr(outcome.error) if outcome.raised else 'returned'} "
               f"(replay: {replay_setup(3)}; OrderService('o.db').place_order('order-2', 1))")
        broker = Broker()
        impl.OutboxRelay(path, only_callable(broker, "publish")).run_once()
        expect_equal(orders_of(broker.received), numbered(3),
                     "messages published by a relay made after the services")

    @settings(max_examples=25)
    @given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=12))
    def test_any_sequence_of_orders(self, impl, sandbox, order_ids):
        """any sequence of order ids: repeats raise ValueError, and the messages are the first placements in order"""
        path = fresh_path()
        orders = [(order_id, position) for position, order_id in enumerate(order_ids)]
        outcomes = place(sandbox, impl.OrderService(path), orders)
        seen, expected_raised, expected_messages = set(), [], []
        for order_id, amount in orders:
            expected_raised.append(order_id in seen)
            if order_id not in seen:
                expected_messages.append((order_id, amount))
            seen.add(order_id)
        replay = (f"svc = OrderService('o.db'); [svc.place_order(*o) for o in {orders!r}]")
        for (order_id, amount), outcome, duplicate in zip(orders, outcomes, expected_raised):
            if duplicate:
                expect(outcome.raised and isinstance(outcome.error, ValueError),
                       f"place_order({order_id!r}, {amount}) repeats an order id: expected "
                       f"ValueError, it {'raised ' + repr(outcome.error) if outcome.raised else 'returned'}"
                       f" (replay: {replay})")
            else:
                expect(not outcome.raised, f"place_order({order_id!r}, {amount}) is a new order id "
                                           f"but raised {outcome.error!r} (replay: {replay})")
        broker = Broker()
        impl.OutboxRelay(path, only_callable(broker, "publish")).run_once()
        expect_equal(orders_of(broker.received), expected_messages,
                     f"messages published (replay: {replay}; OutboxRelay('o.db', print).run_once())")


# ------------------------------------------------------------------------------------- relay
@pytest.mark.part("relay")
class TestRelay:
    def test_fresh_file_publishes_nothing(self, impl):
        """a relay on a file no order was ever placed in publishes nothing and returns 0"""
        broker = Broker()
        relay = impl.OutboxRelay(fresh_path(), only_callable(broker, "publish"))
        expect_equal([relay.run_once(), relay.run_once(batch_size=5)], [0, 0],
                     "run_once() twice on a fresh file (replay: OutboxRelay('new.db', print).run_once())")
        expect_equal(broker.calls, 0, "publish calls on a fresh file")

    def test_insertion_order_across_many_orders(self, impl, sandbox):
        """many orders are published in the order they were placed, each once, and run_once returns the count"""
        path = fresh_path()
        orders = [(f"order-{(i * 37) % 101:03d}", i) for i in range(60)]  # ids not in sorted order
        returned(place(sandbox, impl.OrderService(path), orders))
        broker = Broker()
        relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
        expect_equal(relay.run_once(), 60, "run_once() after 60 orders (default batch_size=100)")
        expect_equal(orders_of(broker.received), orders,
                     "60 orders whose ids are not in sorted order, published by one run_once() "
                     "(replay: svc = OrderService('o.db'); [svc.place_order(f'order-{(i * 37) % 101:03d}', i) "
                     "for i in range(60)]; OutboxRelay('o.db', print).run_once())")
        expect_equal(relay.run_once(), 0, "run_once() again, with everything published")
        expect_equal(broker.calls, 60, "publish calls in all")

    def test_batch_size_is_respected(self, impl, sandbox):
        """run_once(batch_size=n) publishes at most n messages, the oldest unpublished ones"""
        path = fresh_path()
        returned(place(sandbox, impl.OrderService(path), numbered(8)))
        broker = Broker()
        relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
        counts = [relay.run_once(batch_size=3) for _ in range(4)]
        replay = replay_setup(8) + "; r = OutboxRelay('o.db', print); r.run_once(batch_size=3)"
        expect_equal(counts, [3, 3, 2, 0], f"run_once(batch_size=3) four times after 8 orders "
                                           f"(replay: {replay})")
        expect_equal(orders_of(broker.received), numbered(8),
                     f"messages published by those runs (replay: {replay})")

    def test_default_batch_is_100(self, impl, sandbox):
        """run_once() with the default batch_size publishes 100 messages, then the rest"""
        path = fresh_path()
        returned(place(sandbox, impl.OrderService(path), numbered(105)))
        broker = Broker()
        relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
        counts = [relay.run_once(), relay.run_once()]
        expect_equal(counts, [100, 5], "run_once() twice after 105 orders (replay: "
                     + replay_setup(105) + "; r = OutboxRelay('o.db', print); r.run_once())")
        expect_equal(orders_of(broker.received), numbered(105), "messages published")

    def test_failed_message_is_published_again(self, impl, sandbox):
        """a message whose publish raised is not marked: the next run_once publishes it again, same id and content"""
        path = fresh_path()
        returned(place(sandbox, impl.OrderService(path), numbered(2)))
        broker = Broker(fail_after={1})
        relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
        first = relay.run_once()
        replay = replay_setup(2) + ("; r = OutboxRelay('o.db', publish); r.run_once() "
                                             "with publish recording, then raising on its first call")
        expect_equal(first, 0, f"run_once() when the first publish raised (replay: {replay})")
        second = relay.run_once()
        expect_equal(second, 2, f"the next run_once() with publish working (replay: {replay})")
        expect(len(broker.received) == 3 and broker.received[1] == broker.received[0],
               "the message whose publish raised should be published again first, with the same "
               f"id and content; publish received {broker.received} (replay: {replay})")
        expect_equal(orders_of(broker.received[1:]), numbered(2), "messages of the second run")

    @pytest.mark.parametrize("failing_call", [1, 3, 5])
    def test_stops_at_the_first_failure(self, impl, sandbox, failing_call):
        """publish raising at the k-th message: run_once stops there and returns k-1; the next run starts at that message"""
        path = fresh_path()
        returned(place(sandbox, impl.OrderService(path), numbered(6)))
        broker = Broker(fail_before={failing_call})
        relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
        replay = replay_setup(6) + (f"; r = OutboxRelay('o.db', publish); r.run_once() "
                                             f"with publish raising on call {failing_call}")
        count = relay.run_once()
        expect_equal(count, failing_call - 1, f"run_once() when publish raised on call "
                                              f"{failing_call} of 6 (replay: {replay})")
        expect_equal(broker.calls, failing_call, f"publish calls in that run (it must stop at the "
                                                 f"failure) (replay: {replay})")
        expect_equal(relay.run_once(), 6 - failing_call + 1, "the next run_once(), publish working")
        expect_equal(orders_of(broker.received), numbered(6),
                     "messages publish accepted across both runs: each once, in order (the ones "
                     f"accepted before the failure are marked and not sent again) (replay: {replay})")

    def test_orders_placed_between_runs(self, impl, sandbox):
        """orders placed between runs are picked up by the next run, after the older ones"""
        path = fresh_path()
        service = impl.OrderService(path)
        broker = Broker()
        relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
        counts = []
        for chunk in (numbered(3, "a"), numbered(2, "b"), [], numbered(4, "c")):
            returned(place(sandbox, service, chunk))
            counts.append(relay.run_once(batch_size=2))
        counts += drain(relay)
        expect_equal(counts, [2, 2, 1, 2, 2, 0], "run_once(batch_size=2) after placing 3, 2, 0 "
                                                 "and 4 orders, then until nothing is left")
        expect_equal(orders_of(broker.received),
                     numbered(3, "a") + numbered(2, "b") + numbered(4, "c"),
                     "messages in the order their orders were placed")

    def test_two_relays_on_the_same_file(self, impl, sandbox):
        """a second relay on the same file continues where the first stopped: marks are in the file"""
        path = fresh_path()
        returned(place(sandbox, impl.OrderService(path), numbered(5)))
        broker = Broker()
        first = impl.OutboxRelay(path, only_callable(broker, "publish"))
        second = impl.OutboxRelay(path, only_callable(broker, "publish"))
        counts = [first.run_once(batch_size=2), second.run_once(batch_size=2),
                  first.run_once(batch_size=2), second.run_once(batch_size=2)]
        expect_equal(counts, [2, 2, 1, 0], "run_once(batch_size=2) alternating between two relays "
                                           "on one file with 5 orders")
        expect_equal(orders_of(broker.received), numbered(5), "messages the two relays published")


# ----------------------------------------------------------------------------------- crashes
def restart_and_check(impl, sandbox, path, broker, orders, what):
    """A NEW relay with a working publish runs until nothing is left; then every message is published
    at least once, in order of first publication, and a DedupConsumer handles each exactly once."""
    relay = impl.OutboxRelay(path, only_callable(broker, "publish"))
    drain(relay)
    first_seen, order_of_first = set(), []
    for message in broker.received:
        if message["id"] not in first_seen:
            first_seen.add(message["id"])
            order_of_first.append((message["order_id"], message["amount"]))
    expect_equal(order_of_first, orders, f"{what}, then a new OutboxRelay on the same file run until "
                                         "run_once() returns 0: the orders of the distinct "
                                         "messages published, in order of first publication "
                                         "(every message at least once)")
    recorder = Recorder()
    consumer = impl.DedupConsumer(only_callable(recorder, "handle"))
    returned(sandbox.batch(consumer, [(message,) for message in broker.received]))
    expect_equal(orders_of(recorder.handled), orders,
                 f"{what}: everything published, passed through one DedupConsumer: what handle got")


@pytest.mark.part("crashes")
class TestCrashes:
    @pytest.mark.parametrize("position", [1, 2, 4])
    def test_crash_before_publish(self, impl, sandbox, position):
        """a crash before publishing message k (publish raises, nothing sent): a new relay loses nothing"""
        path = fresh_path()
        orders = numbered(4)
        returned(place(sandbox, impl.OrderService(path), orders))
        broker = Broker(fail_before={position})
        impl.OutboxRelay(path, only_callable(broker, "publish")).run_once()
        restart_and_check(impl, sandbox, path, broker, orders,
                          f"4 orders; publish raised before sending on call {position} (replay: "
                          f"{replay_setup(4)}; then OutboxRelay('o.db', publish).run_once())")
        expect_equal(len(broker.received), 4, "messages sent in all (nothing was sent twice)")

    @pytest.mark.parametrize("position", [1, 2, 4])
    def test_crash_after_publish_before_marking(self, impl, sandbox, position):
        """a crash after publish sent message k but before it was marked: it is sent again, nothing is lost"""
        path = fresh_path()
        orders = numbered(4)
        returned(place(sandbox, impl.OrderService(path), orders))
        broker = Broker(fail_after={position})
        impl.OutboxRelay(path, only_callable(broker, "publish")).run_once()
        what = (f"4 orders; publish sent message {position} then raised (replay: "
                f"{replay_setup(4)}; then OutboxRelay('o.db', publish).run_once())")
        restart_and_check(impl, sandbox, path, broker, orders, what)
        sent = [m["order_id"] for m in broker.received]
        expect_equal(sent, [o for o, _ in orders[:position]] + [o for o, _ in orders[position - 1:]],
                     f"{what}: the order ids sent, in order (only message {position} twice)")

    def test_crash_mid_batch(self, impl, sandbox):
        """a crash half way through a batch (the 3rd of 5 in the batch raises): earlier ones are kept marked"""
        path = fresh_path()
        orders = numbered(7)
        returned(place(sandbox, impl.OrderService(path), orders))
        broker = Broker(fail_before={3})
        impl.OutboxRelay(path, only_callable(broker, "publish")).run_once(batch_size=5)
        restart_and_check(impl, sandbox, path, broker, orders,
                          f"7 orders; run_once(batch_size=5) whose 3rd publish raised (replay: "
                          f"{replay_setup(7)}; then OutboxRelay('o.db', publish)"
                          ".run_once(batch_size=5))")
        expect_equal(len(broker.received), 7, "messages sent in all (nothing was sent twice)")

    @settings(max_examples=20)
    @given(st.lists(st.tuples(st.sampled_from(["before", "after"]), st.integers(1, 4),
                              st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=4))
    def test_repeated_crashes_with_new_orders(self, impl, sandbox, schedule):
        """any schedule of crashes, orders placed between them: nothing lost, only the crashed messages resent"""
        path = fresh_path()
        service = impl.OrderService(path)
        orders, sent_before_crash, steps = [], 0, []
        broker = Broker()
        for round_number, (kind, position, new_orders, batch) in enumerate(schedule):
            chunk = numbered(new_orders, f"r{round_number}")
            orders += chunk
            returned(place(sandbox, service, chunk))
            failing = broker.calls + position
            steps.append(f"place {[order_id for order_id, _ in chunk]}; a new relay's "
                         f"run_once(batch_size={batch}) with publish raising "
                         f"{kind} sending on call {position} of that run")
            (broker.fail_before if kind == "before" else broker.fail_after).add(failing)
            impl.OutboxRelay(path, only_callable(broker, "publish")).run_once(batch_size=batch)
            sent_before_crash += broker.calls >= failing and kind == "after"
            broker.fail_before.discard(failing)  # a crash that did not happen in its round
            broker.fail_after.discard(failing)  # (the batch ended first) does not carry over
        what = (f"crash schedule {schedule} (kind, the publish call that raises counted from the "
                "round's start, orders placed before the round, batch_size), each round a new "
                "relay (order r<round>-<n> has amount 10 * n + 5); replay: " + "; then ".join(steps))
        restart_and_check(impl, sandbox, path, broker, orders, what)
        duplicates = len(broker.received) - len(orders)
        expect(duplicates <= sent_before_crash,
               f"{what}: {duplicates} messages were sent more than once, but only "
               f"{sent_before_crash} crash(es) happened after a send and before its mark")


# ------------------------------------------------------------------------------------- dedup
def handled_ids(impl, sandbox, messages) -> list:
    recorder = Recorder()
    consumer = impl.DedupConsumer(only_callable(recorder, "handle"))
    returned(sandbox.batch(consumer, [(message,) for message in messages]))
    return [m["id"] for m in recorder.handled]


@pytest.mark.part("dedup")
class TestDedup:
    def test_repeats_are_dropped(self, impl, sandbox):
        """each id reaches handle once, the first time it arrives, in arrival order"""
        ids = [1, 2, 1, 3, 2, 2, 4, 1]
        messages = [{"id": i, "order_id": f"o{i}", "amount": i} for i in ids]
        expect_equal(handled_ids(impl, sandbox, messages), [1, 2, 3, 4],
                     f"ids handled after messages with ids {ids} (replay: c = DedupConsumer(print); "
                     f"[c({{'id': i}}) for i in {ids}])")

    def test_equal_content_new_id_passes(self, impl, sandbox):
        """two messages with the same content but different ids are both handled: dedup is by id"""
        messages = [{"id": 7, "order_id": "A", "amount": 5}, {"id": 8, "order_id": "A", "amount": 5}]
        expect_equal(handled_ids(impl, sandbox, messages), [7, 8],
                     f"ids handled after {messages} (replay: c = DedupConsumer(print); "
                     f"[c(m) for m in {messages}])")

    def test_same_id_new_content_is_dropped(self, impl, sandbox):
        """a message whose id was seen is dropped even if its other fields differ"""
        messages = [{"id": 7, "order_id": "A", "amount": 5}, {"id": 7, "order_id": "B", "amount": 6}]
        recorder = Recorder()
        consumer = impl.DedupConsumer(only_callable(recorder, "handle"))
        returned(sandbox.batch(consumer, [(m,) for m in messages]))
        expect_equal(recorder.handled, messages[:1],
                     f"messages handled after {messages} (replay: c = DedupConsumer(print); "
                     f"[c(m) for m in {messages}])")

    def test_remembers_every_id(self, impl, sandbox):
        """a consumer remembers every id it handled: 300 ids, then all of them again, are handled 300 times"""
        ids = list(range(300))
        messages = [{"id": i} for i in ids + ids[::-1] + ids]
        handled = handled_ids(impl, sandbox, messages)
        expect_equal(handled, ids, "ids handled after ids 0..299, then 299..0, then 0..299 "
                                   "(replay: c = DedupConsumer(print); [c({'id': i}) for i in "
                                   "[*range(300), *range(299, -1, -1), *range(300)]])")

    def test_consumers_are_independent(self, impl, sandbox):
        """two consumers keep their own memory: an id one of them handled is new to the other"""
        first, second = Recorder(), Recorder()
        a = impl.DedupConsumer(only_callable(first, "handle"))
        b = impl.DedupConsumer(only_callable(second, "handle"))
        returned(sandbox.call_each([(a, ({"id": 1},), {}), (b, ({"id": 1},), {}),
                                    (a, ({"id": 1},), {}), (b, ({"id": 2},), {})]))
        expect_equal([[m["id"] for m in first.handled], [m["id"] for m in second.handled]],
                     [[1], [1, 2]], "ids handled by a and b after a(1), b(1), a(1), b(2)")

    @given(st.lists(st.one_of(st.integers(-5, 5), st.sampled_from(["x", "y", "5"])), max_size=30))
    def test_any_sequence_of_ids(self, impl, sandbox, ids):
        """any sequence of ids (ints and strings): handle gets the first occurrence of each, in order"""
        expected = list(dict.fromkeys(ids))
        got = handled_ids(impl, sandbox, [{"id": i, "n": n} for n, i in enumerate(ids)])
        expect_equal(got, expected, f"ids handled after messages with ids {ids} (replay: "
                                    f"c = DedupConsumer(print); [c({{'id': i}}) for i in {ids!r}])")
