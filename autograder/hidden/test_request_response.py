"""Hidden suite for the `request_response` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected, what the client did, and the calls that show it.

The server is the course's real `RpcServer` (`dspatterns.communication.rpc_server`), started per test
on a listening socket made inside the sandbox's network namespace (`sandbox.listener()`), so only the
student's process can reach it. The student's coroutines run in an event loop in their own process
(`sandbox.event_loop()`): calls handed over together start together there, each with its own outcome,
and a call still running at the loop's limit is cut off as a `RuntimeError`, which can never pass for
the client's own `TimeoutError`.

Order is arranged, never hoped for from delays. Replies are held by the server's `hold` option (a
`threading.Event` per request, kept by the suite's `Held`) and released in the order a test chooses,
once the server's log shows that every request has arrived; a test that needs the client to have read
a late reply before it looks makes one more call after that reply left: the stream is read in order,
so the answer to that call proves the late reply was read first. Unmatched replies (an id-null error
line, a second reply to an answered call, an id never sent) come from the server's `stray` option,
sent just before a chosen reply. Real time is used only where the contract is about it: calls that
must time out get 0.25-0.3 s; a call that must not gets 3 s (6 s for the 6 MB requests, and for a
call whose reply is held while the test checks others), and a held reply is released well before
that. A held reply the test never releases leaves by itself after the server's `max_wait`, which is
`HELD` for a server that holds replies: never while a correct client's held call could still be
waiting, so a check that such a call is still waiting does not depend on how fast the machine is
(a loaded one included). Where every held call has a SHORT timeout it is `LONG`, the suite's bound on
anything a correct client does promptly. Every server closes at the end of its test, so a broken
client costs seconds per test, never a hang.
Waits for an event end as soon as the outcome is known (a call already finished is the failure).

Readings the grader takes where the contract is silent (the notebook states each one): ids are any
integers unique on one connection, and a new connection may start again; `timeout` is in seconds
from the call, and a timed-out call raises the built-in `TimeoutError` (a subclass is fine); after a
timeout or an error reply the connection stays usable; a reply whose id matches no call in flight
(late, duplicate, id null, never sent) is ignored; `str(RpcError)` contains the server's message; a
result may be any JSON value, null and false included; the calls of one client are tasks of one
event loop (no thread-safety asked), and concurrent requests must go out as whole lines even when the
socket's buffer fills; `RpcClient(host, port)` needs no running loop (the suite makes it outside
the loop its coroutines run in; the notebook's first graded cell does the same); `close()` closes the connection, which the server sees end. Not graded: what
calls in flight do when the connection ends, calls before `connect()` or after `close()`, timeouts of
0 or None.
"""
# DSP-CANARY-REQUEST_RESPONSE-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import contextlib
import random
import threading
import time

import pytest
from support import SETTLE, expect, expect_equal, for_each_seed, wait_until

from autograder.sandbox.rpc import RemoteTimeout
from dspatterns.communication.rpc_server import ERROR, PENDING, RESULT, RpcServer

MAX_WAIT = 2.5   # the longest sleep or delay a server without holds allows
LONG = 3.0       # the timeout of a call that must not time out (a correct one takes milliseconds)
HELD = 6.0       # the timeout of a call whose reply a test holds while it checks other things
# A held reply the test never releases leaves by itself after this: only once the call waiting for it
# (timeout HELD, counted from before the request left) has timed out, so a test's "still waiting"
# checks (a timeout, a late reply and a round trip, well under a second on an idle machine) can never
# see a held reply released behind their back.
HOLD_MAX_WAIT = HELD
# A test whose held calls all have SHORT timeouts (no call waits for a held reply) passes LONG instead:
# the suite already expects a correct client to do what it does promptly within LONG, and a client
# that ignores its timeout then fails in 3 s instead of 6.
SHORT = 0.3      # the timeout of a call that must
LIMIT = 7.0      # the event loop cuts a call off after this (below the channel's own limit)
ARRIVE = 5.0     # how long a test waits for requests to reach the server
# A request this long cannot leave in one write (a socket's send buffer is at most 4 MB on Linux),
# so the client's writer buffers the rest and its drain() waits: the moment other tasks write too.
BIG = 6_000_000
BIG_TIMEOUT = 6.0  # those requests' calls: 18 MB through the channel and the socket, on a loaded machine


# ------------------------------------------------------------------------------------- helpers
def said(outcome) -> str:
    """An outcome as the student reads it: "returned 'x'" or "raised TimeoutError: ... (at line)"."""
    if not outcome.raised:
        return f"returned {outcome.value!r}"
    error = outcome.error
    text = f"raised {type(error).__name__}: {error}"
    if is_timeout(error) and not str(error):
        text = "raised TimeoutError (no reply reached this call before its timeout)"
    where = getattr(error, "remote_traceback", None)
    if where:
        text += f" (at {where[-1].strip()})"
    return text


def is_timeout(error) -> bool:
    """The client's own TimeoutError, not the channel's (which only a dead sandbox raises)."""
    return isinstance(error, TimeoutError) and not isinstance(error, RemoteTimeout)


class Held:
    """The server's ``hold`` option: holds the replies to the requests ``which`` picks, each until
    the test releases it. Called in the server's thread; the test reads it from its own."""

    def __init__(self, which):
        self.which = which
        self._lock = threading.Lock()
        self._requests = []
        self._events = {}

    def __call__(self, request):
        if not self.which(request):
            return None
        event = threading.Event()
        with self._lock:
            self._requests.append(request)
            self._events[request.number] = event
        return event

    @property
    def requests(self) -> list:
        """The held requests, in the order they arrived."""
        with self._lock:
            return list(self._requests)

    def by_params(self) -> dict:
        return {request.params: request for request in self.requests}

    def release(self, request) -> None:
        with self._lock:
            event = self._events[request.number]
        event.set()

    def release_all(self) -> None:
        with self._lock:
            events = list(self._events.values())
        for event in events:
            event.set()


def held_text(request) -> bool:
    """The requests whose params are a string starting "held": those a test holds."""
    return isinstance(request.params, str) and request.params.startswith("held")


@contextlib.contextmanager
def serving(sandbox, max_wait=None, **options):
    """A fresh RpcServer only the student's process can reach, closed (holds released) at the end."""
    if max_wait is None:
        max_wait = HOLD_MAX_WAIT if options.get("hold") is not None else MAX_WAIT
    server = RpcServer(sock=sandbox.listener(), max_wait=max_wait, **options)
    server.start()
    try:
        yield server
    finally:
        hold = options.get("hold")
        if isinstance(hold, Held):
            hold.release_all()
        server.close()


class Client:
    """The student's RpcClient on a suite's server, with the loop in their process that runs it."""

    def __init__(self, impl, sandbox, server, loop=None):
        self.server = server
        self.loop = loop or sandbox.event_loop()
        try:
            self.client = impl.RpcClient(server.host, server.port)
        except Exception as error:
            made = f"RpcClient({server.host!r}, {server.port}) raised {type(error).__name__}: {error}"
            if isinstance(error, RuntimeError) and "event loop" in str(error):
                raise AssertionError(
                    f"{made}. The grader makes the client outside any event loop (connect() then runs "
                    "in one): make what needs a running loop in connect(), not in __init__") from None
            raise AssertionError(f"{made}; making the client should not fail (connect() opens the "
                                 "connection)") from None
        connected = self.loop.run(self.client.connect, timeout=LIMIT)
        expect(not connected.raised,
               f"client = RpcClient({server.host!r}, {server.port}); await client.connect() "
               f"{said(connected)}; it should connect to the server listening there")

    def call(self, method, params, timeout=LONG):
        """A call as the event loop takes it: (function, args, kwargs)."""
        return (self.client.call, (method, params, timeout), {})

    def run(self, method, params, timeout=LONG):
        return self.loop.run(self.client.call, method, params, timeout, timeout=LIMIT)

    def start(self, calls):
        return self.loop.start(calls, timeout=LIMIT)

    def gather(self, calls):
        return self.loop.gather(calls, timeout=LIMIT)

    def close(self):
        return self.loop.run(self.client.close, timeout=2.0)


@contextlib.contextmanager
def connected(impl, sandbox, server, loop=None):
    client = Client(impl, sandbox, server, loop)
    try:
        yield client
    finally:
        client.close()


def expect_result(outcome, expected, what: str) -> None:
    expect(not outcome.raised, f"{what}: expected it to return {expected!r}; it {said(outcome)}")
    expect_equal(outcome.value, expected, what)


def wait_for_arrivals(server, n, running=None) -> None:
    """Until ``n`` requests have reached the server, or a call has ended (which a check then names)."""
    wait_until(lambda: len(server.log) >= n or running is not None and any(running.done()), ARRIVE)
    arrived = len(server.log)
    expect(arrived >= n or running is not None and any(running.done()),
           f"{n} calls started at once should send {n} requests; after {ARRIVE:g} s the server had "
           f"received {arrived} (does a call wait for the previous call's reply before sending?)")


def wait_until_replied(server, request) -> None:
    """Until the server's log shows the reply to ``request`` has left."""
    def replied():
        return any(e.connection == request.connection and e.id == request.id and e.replied is not None
                   for e in server.log)
    expect(wait_until(replied, ARRIVE), f"the server never sent the reply to {request}")


def held_request(server, held, text: str):
    """The held request whose params are ``text``, once it has reached the server."""
    wait_until(lambda: text in held.by_params(), ARRIVE)
    requests = held.by_params()
    expect(text in requests,
           f"the request of client.call('echo', {text!r}, ...) never reached the server in {ARRIVE:g} s; "
           f"it received {len(server.log)} request(s), holding those with params {list(requests)}")
    return requests[text]


def everything(request) -> bool:
    """Hold every reply."""
    return True


def release_newer_half_first(server, held, requests) -> None:
    """Releases the replies to the newer half of ``requests`` and waits until they have left, then
    releases the older half: whatever else happens, the first replies the client reads answer calls
    that are not the oldest in flight, so a client that matches replies by arrival cannot pass."""
    half = len(requests) // 2
    for request in requests[half:]:
        held.release(request)
    for request in requests[half:]:
        wait_until_replied(server, request)
    for request in requests[:half]:
        held.release(request)


def duplicates(ids) -> list:
    seen, repeated = set(), []
    for request_id in ids:
        if request_id in seen and request_id not in repeated:
            repeated.append(request_id)
        seen.add(request_id)
    return repeated


# ------------------------------------------------------------------------------------- matching
@pytest.mark.part("matching")
class TestMatching:
    def test_a_call_returns_the_result(self, impl, sandbox):
        """A call returns the reply's result, any JSON value (null and false included)."""
        values = ["text", 42, -1.5, [1, "two", None], {"nested": {"list": [1, 2]}}, None, False, True,
                  "", "üñíçødé ✓"]
        with serving(sandbox) as server, connected(impl, sandbox, server) as client:
            for value in values:
                expect_result(client.run("echo", value), value, f"await client.call('echo', {value!r}, {LONG})")
            expect_result(client.run("add", [1, 2, 39]), 42, f"await client.call('add', [1, 2, 39], {LONG})")

    def test_each_request_is_one_line_of_the_wire_format(self, impl, sandbox):
        """Each request is one JSON line {"id", "method", "params"} that the server can read."""
        with serving(sandbox) as server, connected(impl, sandbox, server) as client:
            for method, params in (("echo", "a"), ("add", [2, 2]), ("echo", {"k": [None]})):
                client.run(method, params)
            log = server.log
        expect_equal([(e.method, e.outcome) for e in log],
                     [("echo", RESULT), ("add", RESULT), ("echo", RESULT)],
                     "the server's log of three calls (method, outcome); a malformed request shows "
                     f"as method None with an error: {[(e.method, e.error) for e in log]}")

    def test_ids_are_unique_on_a_connection(self, impl, sandbox):
        """The requests of one connection carry ids unique on that connection (one after another and at once)."""
        with serving(sandbox) as server, connected(impl, sandbox, server) as client:
            for n in range(20):
                client.run("echo", n)
            client.gather([client.call("echo", n) for n in range(30)])
            ids = [e.id for e in server.log]
        expect(len(ids) == 50, f"50 calls should send 50 requests; the server got {len(ids)}")
        expect(all(isinstance(i, int) for i in ids), f"ids are integers; the server got {ids}")
        expect(not duplicates(ids),
               f"20 calls one after another, then 30 at once, on one connection: the ids should all "
               f"differ, but {duplicates(ids)} were used more than once (ids in order: {ids})")

    def test_a_second_connection_may_start_its_ids_again(self, impl, sandbox):
        """Two clients on one server: held replies released crosswise, each reply reaches its own caller."""
        held = Held(held_text)
        with serving(sandbox, hold=held) as server:
            loop = sandbox.event_loop()
            with connected(impl, sandbox, server, loop) as a, connected(impl, sandbox, server, loop) as b:
                texts = [f"held {name}{n}" for n in range(3) for name in "ab"]
                running = loop.start([(a if text[5] == "a" else b).call("echo", text, HELD) for text in texts],
                                     timeout=LIMIT)
                wait_for_arrivals(server, 6, running)
                for request in reversed(held.requests):
                    held.release(request)
                outcomes = running.wait()
                log = server.log
        for text, outcome in zip(texts, outcomes):
            client = "a" if text[5] == "a" else "b"
            expect_result(outcome, text, f"client {client}: await {client}.call('echo', {text!r}, {HELD}), with "
                                         "two clients on one server and the replies released newest first")
        for connection in {e.connection for e in log}:
            ids = [e.id for e in log if e.connection == connection]
            expect(not duplicates(ids), f"ids on connection {connection} repeat: {ids}")

    def test_replies_in_reverse_order_reach_their_callers(self, impl, sandbox):
        """Three calls at once, replies released newest first: each call ends when its own reply comes."""
        held = Held(held_text)
        texts = ["held first", "held second", "held third"]
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            running = client.start([client.call("echo", text, HELD) for text in texts])
            wait_for_arrivals(server, 3, running)
            expect_equal(running.done(), [False] * 3, "calls done before any reply was released")
            requests = held.by_params()
            for index in (2, 1, 0):
                held.release(requests[texts[index]])
                wait_until(lambda: running.done()[index], ARRIVE)
                expect_equal(running.done(), [i >= index for i in range(3)],
                             f"which calls are done once the replies to {texts[index:]} were released "
                             f"(newest first)")
            outcomes = running.wait()
        for text, outcome in zip(texts, outcomes):
            expect_result(outcome, text, f"await client.call('echo', {text!r}, {HELD}), replies released newest first")

    def test_replies_in_a_shuffled_order_reach_their_callers(self, impl, sandbox):
        """Eight calls at once, replies released in a seeded random order: each call gets its own."""
        held = Held(held_text)
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            def check(seed):
                texts = [f"held {seed}-{n}" for n in range(8)]
                order = list(range(8))
                random.Random(seed).shuffle(order)
                running = client.start([client.call("echo", text, HELD) for text in texts])
                wait_until(lambda: all(t in held.by_params() for t in texts) or any(running.done()), ARRIVE)
                requests = held.by_params()
                for index in order:
                    if texts[index] in requests:
                        held.release(requests[texts[index]])
                outcomes = running.wait()
                for text, outcome in zip(texts, outcomes):
                    expect_result(outcome, text,
                                  f"await client.call('echo', {text!r}, {HELD}) among 8 at once, replies "
                                  f"released in the order {[texts[i] for i in order]}")
            for_each_seed([1, 2, 3], check)

    def test_a_quick_reply_overtakes_a_held_one(self, impl, sandbox):
        """A call is not held up behind another call's reply: a quick one returns while a slow one waits."""
        held = Held(held_text)
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            slow = client.start([client.call("echo", "held slow", HELD)])
            wait_for_arrivals(server, 1, slow)
            quick = client.run("echo", "quick")
            expect_result(quick, "quick", f"await client.call('echo', 'quick', {LONG}) while another call's "
                                          "reply is held at the server")
            expect_equal(slow.done(), [False], "the held call done before its reply was released")
            held.release_all()
            [outcome] = slow.wait()
        expect_result(outcome, "held slow", "the held call, once its reply was released")

    def test_200_concurrent_calls_on_one_connection(self, impl, sandbox):
        """200 calls at once on one connection all get their own results."""
        held = Held(everything)  # no reply leaves before all 200 requests are in: the same run every time
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            running = client.start([client.call("add", [n, 1000], HELD) for n in range(200)])
            wait_for_arrivals(server, 200, running)
            release_newer_half_first(server, held, held.requests)
            outcomes = running.wait()
            wrong = [(n, said(o)) for n, o in enumerate(outcomes) if o.raised or o.value != n + 1000]
            expect(not wrong, f"200 concurrent calls client.call('add', [n, 1000], {HELD}), the replies "
                              f"to the newer 100 released first: {len(wrong)} did not return n + 1000, "
                              f"first ones: {wrong[:5]}")
            expect_equal(server.connections, 1, "connections the server saw")
            expect_equal(len(server.log), 200, "requests the server received")
            ids = [e.id for e in server.log]
            expect(not duplicates(ids),
                   f"200 calls at once on one connection: the ids should all differ, but "
                   f"{duplicates(ids)[:10]} were used more than once")

    def test_large_requests_sent_at_once_stay_whole(self, impl, sandbox):
        """Requests of megabytes sent at once: each leaves as one whole line while the socket's buffer is full."""
        padding = "x" * BIG

        def big(n):
            return {"seconds": 0, "result": f"big {n}", "padding": padding}

        with serving(sandbox, max_line=2 * BIG) as server, connected(impl, sandbox, server) as client:
            calls = [client.call("sleep", big(n), BIG_TIMEOUT) if n < 3
                     else client.call("echo", f"small {n}", BIG_TIMEOUT)
                     for n in range(6)]
            outcomes = client.gather(calls)
            log = server.log
        broken = [e.error[:120] for e in log if e.outcome == ERROR]
        expect(not broken, f"3 requests of {BIG / 1e6:g} MB and 3 small ones sent at once: the server could "
                           f"not read {len(broken)} lines (parts of two requests mixed on one line?): {broken[:3]}")
        for n, outcome in enumerate(outcomes):
            expected = f"big {n}" if n < 3 else f"small {n}"
            call = (f"client.call('sleep', {{'seconds': 0, 'result': {expected!r}, 'padding': 'x' * {BIG}}}, {BIG_TIMEOUT})"
                    if n < 3 else f"client.call('echo', {expected!r}, {BIG_TIMEOUT})")
            expect_result(outcome, expected, f"await {call}, with 5 more such calls at once")

    def test_connect_and_close(self, impl, sandbox):
        """connect() opens a connection the server sees; close() closes it."""
        with serving(sandbox) as server:
            client = Client(impl, sandbox, server)
            opened = wait_until(lambda: server.open_connections == 1, SETTLE)
            expect(opened, f"after await client.connect() the server should have 1 open connection; it has "
                           f"{server.open_connections}")
            expect_result(client.run("echo", "hello"), "hello", f"await client.call('echo', 'hello', {LONG})")
            closed = client.close()
            expect(not closed.raised, f"await client.close() {said(closed)}")
            expect(wait_until(lambda: server.open_connections == 0, SETTLE),
                   f"after await client.close() the server still has {server.open_connections} open "
                   f"connection(s) {SETTLE:g} s later: close() should close the connection")


# ------------------------------------------------------------------------------------- timeouts
@pytest.mark.part("timeouts")
class TestTimeouts:
    def test_a_call_past_its_timeout_raises_timeout_error(self, impl, sandbox):
        """A call whose reply does not come within its timeout raises TimeoutError, not before the timeout."""
        held = Held(held_text)
        with serving(sandbox, hold=held, max_wait=LONG) as server, connected(impl, sandbox, server) as client:
            began = time.monotonic()
            running = client.start([client.call("echo", "held never", SHORT)])
            wait_until(lambda: running.done()[0], LIMIT)
            elapsed = time.monotonic() - began
            [outcome] = running.wait()
        expect(outcome.raised and is_timeout(outcome.error),
               f"await client.call('echo', 'held never', {SHORT}) with its reply held at the server: "
               f"expected TimeoutError; it {said(outcome)}")
        expect(elapsed >= SHORT, f"the call raised TimeoutError after {elapsed:.3f} s, before its {SHORT} s timeout")

    def test_a_timeout_ends_only_its_own_call(self, impl, sandbox):
        """One call timing out leaves a call with a longer timeout waiting, and it gets its reply."""
        held = Held(held_text)
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            running = client.start([client.call("echo", "held short", SHORT), client.call("echo", "held long", HELD)])
            wait_until(lambda: running.done()[0], LONG)   # its timeout is SHORT
            expect_equal(running.done(), [True, False],
                         f"which calls are done once the {SHORT} s one timed out (both replies held)")
            held.release(held_request(server, held, "held long"))
            short, long = running.wait()
        expect(short.raised and is_timeout(short.error), f"the call with timeout {SHORT}: expected "
                                                         f"TimeoutError; it {said(short)}")
        expect_result(long, "held long", f"the call with timeout {HELD} whose reply was released after the other timed out")

    def test_the_late_reply_is_dropped(self, impl, sandbox):
        """A late reply answers nobody: a call in flight then and a call made after it get their own replies."""
        held = Held(held_text)
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            running = client.start([client.call("echo", "held late", SHORT), client.call("echo", "held during", HELD)])
            wait_until(lambda: running.done()[0], LONG)   # its timeout is SHORT
            late = held_request(server, held, "held late")
            held.release(late)
            wait_until_replied(server, late)
            probe = client.run("echo", "after the late reply")   # read after the late reply
            expect_result(probe, "after the late reply",
                          "a call made after the late reply to a timed-out call arrived")
            expect_equal(running.done(), [True, False],
                         "which calls are done after the late reply arrived (the second call's reply "
                         "is still held: the late one must not answer it)")
            held.release(held_request(server, held, "held during"))
            timed_out, during = running.wait()
            after = client.run("echo", "later still")
        expect(timed_out.raised and is_timeout(timed_out.error),
               f"the call with timeout {SHORT} whose reply was held: expected TimeoutError; it {said(timed_out)}")
        expect_result(during, "held during", "the call in flight when the late reply arrived")
        expect_result(after, "later still", "a call after all that")

    def test_a_late_reply_never_reaches_a_later_call(self, impl, sandbox):
        """Calls that time out one after another: none of their late replies reaches the calls made after them."""
        held = Held(held_text)
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            for n in range(3):
                [outcome] = client.gather([client.call("echo", f"held late {n}", SHORT)])
                expect(outcome.raised and is_timeout(outcome.error),
                       f"call {n} with its reply held: expected TimeoutError; it {said(outcome)}")
                # The next call waits while the late reply arrives: it must not take it.
                fresh = client.start([client.call("echo", f"held fresh {n}", HELD)])
                late = held_request(server, held, f"held late {n}")
                waiting = held_request(server, held, f"held fresh {n}")
                held.release(late)
                wait_until_replied(server, late)
                held.release(waiting)
                [outcome] = fresh.wait()
                expect_result(outcome, f"held fresh {n}",
                              f"await client.call('echo', 'held fresh {n}', {HELD}), waiting when the late "
                              f"reply to timed-out call {n} arrived")

    def test_the_connection_stays_usable_after_timeouts(self, impl, sandbox):
        """Five calls time out at once; 20 calls at once, waiting while the late replies arrive, all get their results."""
        held = Held(everything)
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            timed = client.gather([client.call("echo", f"held {n}", 0.25) for n in range(5)])
            not_timeouts = [said(o) for o in timed if not (o.raised and is_timeout(o.error))]
            expect(not not_timeouts, f"5 calls with timeout 0.25 and their replies held: each should raise "
                                     f"TimeoutError; {not_timeouts}")
            late = held.requests
            # 20 calls wait while the 5 late replies arrive, then get their own.
            running = client.start([client.call("add", [n, n], HELD) for n in range(20)])
            wait_for_arrivals(server, 25, running)
            for request in late:
                held.release(request)
            for request in late:
                wait_until_replied(server, request)
            held.release_all()
            outcomes = running.wait()
        wrong = [(n, said(o)) for n, o in enumerate(outcomes) if o.raised or o.value != 2 * n]
        expect(not wrong, f"after 5 timeouts, 20 concurrent calls client.call('add', [n, n], {HELD}) "
                          f"waiting while the 5 late replies arrived: {wrong[:5]}")


# ------------------------------------------------------------------------------------- errors
@pytest.mark.part("errors")
class TestErrors:
    def test_an_error_reply_raises_rpc_error_with_the_message(self, impl, sandbox):
        """An error reply raises RpcError (an Exception) whose message contains the server's."""
        expect(isinstance(impl.RpcError, type) and issubclass(impl.RpcError, Exception),
               f"RpcError should be a subclass of Exception; it is {impl.RpcError!r}")
        with serving(sandbox) as server, connected(impl, sandbox, server) as client:
            outcome = client.run("fail", "disk full on /var")
        expect(outcome.raised and isinstance(outcome.error, impl.RpcError),
               f"await client.call('fail', 'disk full on /var', {LONG}) (the server replies "
               f'{{"error": {{"message": "disk full on /var"}}}}): expected RpcError; it {said(outcome)}')
        expect("disk full on /var" in str(outcome.error),
               f"the RpcError's message should contain the server's 'disk full on /var'; it is {str(outcome.error)!r}")

    def test_every_kind_of_error_reply_raises_rpc_error(self, impl, sandbox):
        """An unknown method, bad params and a server that refuses: each an RpcError with the server's message."""
        with serving(sandbox, error=lambda r: "overloaded, try later" if r.params == "refuse" else None) as server, \
                connected(impl, sandbox, server) as client:
            cases = [("no_such_method", [], "no_such_method"), ("add", "twelve", "add needs"),
                     ("echo", "refuse", "overloaded, try later")]
            for method, params, message in cases:
                outcome = client.run(method, params)
                expect(outcome.raised and isinstance(outcome.error, impl.RpcError),
                       f"await client.call({method!r}, {params!r}, {LONG}) gets an error reply: expected "
                       f"RpcError; it {said(outcome)}")
                expect(message in str(outcome.error),
                       f"the RpcError of client.call({method!r}, {params!r}, {LONG}) should contain "
                       f"{message!r}; its message is {str(outcome.error)!r}")

    def test_errors_and_results_at_once_each_reach_their_caller(self, impl, sandbox):
        """20 calls at once, every other one failing: each failing call raises its own error, the others return."""
        held = Held(everything)
        with serving(sandbox, hold=held) as server, connected(impl, sandbox, server) as client:
            calls = [client.call("fail", f"error {n}", HELD) if n % 2 else client.call("echo", n, HELD)
                     for n in range(20)]
            running = client.start(calls)
            wait_for_arrivals(server, 20, running)
            release_newer_half_first(server, held, held.requests)
            outcomes = running.wait()
            held.which = held_text  # from here on, replies leave at once
            after = client.run("echo", "after")
        for n, outcome in enumerate(outcomes):
            if n % 2:
                expect(outcome.raised and isinstance(outcome.error, impl.RpcError)
                       and f"error {n}" in str(outcome.error),
                       f"await client.call('fail', 'error {n}', {HELD}) among 20 at once, the newer 10 "
                       f"answered first: expected RpcError "
                       f"with 'error {n}'; it {said(outcome)}")
            else:
                expect_result(outcome, n, f"await client.call('echo', {n}, {HELD}) among 20 at once, half "
                                         f"failing, the newer 10 answered first")
        expect_result(after, "after", "a call after the error replies (the connection stays usable)")

    def test_the_connection_stays_usable_after_an_error(self, impl, sandbox):
        """After an error reply the next calls on the connection get their results."""
        with serving(sandbox) as server, connected(impl, sandbox, server) as client:
            client.run("fail", "first")
            for n in range(3):
                expect_result(client.run("add", [n, 10]), n + 10,
                              f"await client.call('add', [{n}, 10], {LONG}) after an error reply")

    def test_an_id_null_error_line_is_ignored(self, impl, sandbox):
        """A reply with id null (the server could not read some request) answers no call and is ignored."""
        null_line = {"id": None, "error": {"message": "invalid request: 'id' must be an integer"}}
        held = Held(held_text)
        stray = (lambda r: [null_line] if r.params == "after the null line" else None)
        with serving(sandbox, hold=held, stray=stray) as server, connected(impl, sandbox, server) as client:
            waiting = client.start([client.call("echo", "held waiting", HELD)])
            wait_for_arrivals(server, 1, waiting)
            outcome = client.run("echo", "after the null line")
            expect_result(outcome, "after the null line",
                          f"await client.call('echo', 'after the null line', {LONG}), whose reply follows the "
                          f"line {null_line}")
            expect_equal(waiting.done(), [False], "the held call done by an id-null line")
            held.release_all()
            [waited] = waiting.wait()
            expect_result(waited, "held waiting", "the call in flight when the id-null line came")
            expect_result(client.run("echo", "still here"), "still here", "a call after the id-null line")

    def test_a_second_reply_to_an_answered_call_is_ignored(self, impl, sandbox):
        """A duplicate reply (result or error) to a call already answered is ignored."""
        first = {}

        def stray(request):
            if request.params == "first":
                first["id"] = request.id
            if request.params == "second" and "id" in first:
                return [{"id": first["id"], "result": "a duplicate"},
                        {"id": first["id"], "error": {"message": "a duplicate error"}}]
            return None

        with serving(sandbox, stray=stray) as server, connected(impl, sandbox, server) as client:
            expect_result(client.run("echo", "first"), "first", f"await client.call('echo', 'first', {LONG})")
            expect_result(client.run("echo", "second"), "second",
                          f"await client.call('echo', 'second', {LONG}), whose reply follows two more replies "
                          "to the first call's id")
            expect_result(client.run("echo", "third"), "third", "a call after the duplicate replies")

    def test_a_reply_to_an_id_never_sent_is_ignored(self, impl, sandbox):
        """A reply whose id no request carried is ignored, and the calls around it get their own."""
        def stray(request):
            if request.params == "second":
                return [{"id": request.id + 1_000_003, "result": "nobody's"},
                        {"id": request.id - 1_000_003, "error": {"message": "nobody's error"}}]
            return None

        with serving(sandbox, stray=stray) as server, connected(impl, sandbox, server) as client:
            outcomes = [client.run("echo", text) for text in ("first", "second", "third")]
        for text, outcome in zip(("first", "second", "third"), outcomes):
            expect_result(outcome, text, f"await client.call('echo', {text!r}, {LONG}), with replies to "
                                         "ids never sent just before the second reply")
