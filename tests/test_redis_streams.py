"""The queue's rules checked on a real Redis server (Debian's redis-server), with real threads.

Redis measures visibility as idle time on its own clock, so nothing here can fast-forward time: the
timeouts are short and real (150-300 ms), and every wait is a bounded poll that stops as soon as the
outcome is there. No verdict depends on how long something took; where "before the timeout" matters, the
test reads the entry's idle time from Redis and only asks about a receive that Redis itself says came early.
"""
from __future__ import annotations

import itertools
import threading

import pytest

from dspatterns.communication.redis_streams import StreamQueue, poll_until, streams_demo

TIMEOUT_S = 0.15
WAIT_LIMIT_S = 5.0
_names = itertools.count()


@pytest.fixture
def client(redis):
    client = redis.client()
    client.flushdb()
    yield client
    client.close()


def make_queue(client, *, visibility_timeout=TIMEOUT_S, max_deliveries=3) -> StreamQueue:
    n = next(_names)
    return StreamQueue(client, f"jobs:{n}", "workers", visibility_timeout=visibility_timeout,
                       max_deliveries=max_deliveries, dead_stream=f"dead:{n}")


def idle_ms(queue: StreamQueue, message_id: str) -> int:
    [entry] = queue.client.xpending_range(queue.stream, queue.group, min=message_id, max=message_id, count=1)
    return entry["time_since_delivered"]


def test_fresh_messages_come_out_in_send_order(client):
    queue = make_queue(client, visibility_timeout=30.0)
    bodies = [f"job-{i}" for i in range(20)]
    ids = [queue.send(body) for body in bodies]
    received = queue.receive("a", count=7) + queue.receive("b", count=13)
    assert [m.body for m in received] == bodies
    assert [m.id for m in received] == ids
    assert all(m.deliveries == 1 for m in received)
    assert queue.receive("c", count=5) == []


def test_invisible_until_the_timeout_then_delivered_again_with_a_higher_count(client):
    queue = make_queue(client, visibility_timeout=0.3, max_deliveries=5)
    queue.send("work")
    [first] = queue.receive("alice")
    early = queue.receive("bob")
    if idle_ms(queue, first.id) < queue.min_idle_ms:  # Redis agrees the second receive came early
        assert early == []
    again = poll_until(lambda: queue.receive("bob"), wait_limit=WAIT_LIMIT_S)
    assert again is not None, "never redelivered after the visibility timeout"
    [second] = again
    assert (second.id, second.body, second.deliveries) == (first.id, "work", 2)
    assert queue.pending().per_consumer == (("bob", 1),)  # the claim moved it from alice to bob
    third = poll_until(lambda: queue.receive("carol"), wait_limit=WAIT_LIMIT_S)
    assert third is not None and third[0].deliveries == 3


def test_ack_removes_it_from_pending_and_it_never_comes_back(client):
    queue = make_queue(client)
    kept, done = queue.send("kept"), queue.send("done")
    queue.receive("a", count=2)
    assert queue.pending().count == 2
    assert queue.ack(done) is True
    assert queue.ack(done) is False
    assert queue.pending().count == 1
    back = poll_until(lambda: queue.receive("b", count=2), wait_limit=WAIT_LIMIT_S)
    assert [m.id for m in back] == [kept]


def test_dead_letters_after_max_deliveries(client):
    queue = make_queue(client, max_deliveries=3)
    poison = queue.send("poison")
    counts = []
    while not queue.dead_letters():
        got = poll_until(lambda: queue.receive("w") or queue.dead_letters(), wait_limit=WAIT_LIMIT_S)
        assert got, "neither redelivered nor dead-lettered"
        if hasattr(got[0], "deliveries") and not queue.dead_letters():
            counts.append(got[0].deliveries)
        assert len(counts) <= queue.max_deliveries
    assert counts == [1, 2, 3]
    [letter] = queue.dead_letters()
    assert (letter.original_id, letter.body, letter.deliveries) == (poison, "poison", 3)
    assert queue.pending().count == 0
    assert queue.receive("w") == []


def test_two_consumers_never_hold_one_message_and_every_one_is_acked_once(client, redis):
    queue = make_queue(client, visibility_timeout=30.0)
    sent = {queue.send(f"m{i}") for i in range(300)}
    held, acked, problems = set(), [], []
    lock = threading.Lock()
    start = threading.Barrier(3)

    def consume(name: str) -> None:
        own = StreamQueue(redis.client(), queue.stream, queue.group, visibility_timeout=30.0,
                          max_deliveries=3, dead_stream=queue.dead_stream)
        start.wait()
        while batch := own.receive(name, count=5):
            for message in batch:
                with lock:
                    if message.id in held:
                        problems.append(message.id)
                    held.add(message.id)
                if own.ack(message.id):
                    with lock:
                        acked.append(message.id)
                with lock:
                    held.discard(message.id)

    threads = [threading.Thread(target=consume, args=(name,)) for name in ("alice", "bob", "carol")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_LIMIT_S * 2)
    assert not any(thread.is_alive() for thread in threads)
    assert problems == []
    assert sorted(acked) == sorted(sent)  # every one acked, exactly once, none lost
    assert len(acked) == len(set(acked))
    assert queue.pending().count == 0


DEMO_TIMEOUT_S = 1.0  # bob's early look must come before alice's message is visible again: a
                      # second of margin, so a stalled machine cannot make it "too early"


def test_demo_events(client):
    events = streams_demo(client, visibility_timeout=DEMO_TIMEOUT_S, max_deliveries=3)
    assert [e.step for e in events] == list(range(1, len(events) + 1))
    actions = [(e.consumer, e.action, e.body, e.deliveries) for e in events]
    assert actions[:5] == [
        ("alice", "received", "resize-photo", 1),
        ("alice", "crashed before ack", "resize-photo", 1),
        ("bob", "received nothing (still invisible)", "resize-photo", 1),
        ("bob", "reclaimed after timeout", "resize-photo", 2),
        ("bob", "acked", "resize-photo", 2),
    ]
    poison = [e for e in events if e.body == "poison"]
    assert [e.deliveries for e in poison] == [1, 2, 3, 3]
    assert poison[-1].action == "dead-lettered" and poison[-1].consumer == "redis"
    assert len({e.consumer for e in poison[:-1]}) == 2  # alternated between alice and bob
