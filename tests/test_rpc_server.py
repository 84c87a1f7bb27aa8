"""The request-response server, against real sockets on 127.0.0.1.

The client here is a plain blocking socket, not the exercise's client, so a fault in the server cannot
hide behind a fault in the client. Every wait is on a reply, bounded by the socket's timeout, so a
broken server fails a test instead of hanging it. The time comparisons are between replies hundreds
of milliseconds apart, or against bounds seconds wide, so a loaded machine cannot fail them.
"""
from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import socket
import threading
import time

import pytest

from dspatterns.communication.rpc_server import (
    DROPPED,
    ERROR,
    PENDING,
    RESULT,
    UNANSWERED,
    Exchange,
    Request,
    RpcServer,
)

TIMEOUT = 5.0  # long enough for a loaded machine, short enough that a broken server fails fast


class LineClient:
    """JSON lines out, JSON lines back, each wait bounded by the socket's timeout."""

    def __init__(self, address, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, request_id, method, params=None) -> None:
        self.send_raw(json.dumps({"id": request_id, "method": method, "params": params}).encode() + b"\n")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> dict:
        line = self.file.readline()
        if not line:
            raise EOFError("the server closed the connection instead of replying")
        assert line.endswith(b"\n")
        return json.loads(line)

    def call(self, request_id, method, params=None) -> dict:
        self.send(request_id, method, params)
        return self.reply()

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        return self.file.read()

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> LineClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def ok(request_id, result) -> dict:
    return {"id": request_id, "result": result}


def err(request_id, message) -> dict:
    return {"id": request_id, "error": {"message": message}}


@pytest.mark.parametrize("method, params, expected", [
    ("echo", {"a": [1, "x", None], "b": True}, ok(7, {"a": [1, "x", None], "b": True})),
    ("echo", None, ok(7, None)),
    ("add", [1, 2, 3.5], ok(7, 6.5)),
    ("add", [], ok(7, 0)),
    ("sleep", {"seconds": 0.01, "result": "done"}, ok(7, "done")),
    ("sleep", {"seconds": 0}, ok(7, None)),
    ("fail", "boom", err(7, "boom")),
    ("fail", {"code": 3}, err(7, '{"code": 3}')),
])
def test_each_method_replies_as_documented(method, params, expected):
    with RpcServer() as server, LineClient(server.address) as client:
        assert client.call(7, method, params) == expected


def test_an_unknown_method_gets_an_error_naming_it():
    with RpcServer() as server, LineClient(server.address) as client:
        reply = client.call(4, "launch_missiles", [])
        assert set(reply) == {"id", "error"} and reply["id"] == 4
        assert "'launch_missiles'" in reply["error"]["message"]


@pytest.mark.parametrize("method, params", [
    ("add", "12"), ("add", [1, True]), ("add", [1, "2"]), ("add", [1e308, 1e308]),
    ("sleep", {"seconds": -1}), ("sleep", {"seconds": 2.5}), ("sleep", "0.1"), ("sleep", {"result": 1}),
])
def test_bad_params_get_an_error_reply(method, params):
    with RpcServer(max_wait=2.0) as server, LineClient(server.address) as client:
        reply = client.call(11, method, params)
        assert reply["id"] == 11 and method in reply["error"]["message"]
        assert client.call(12, "echo", "still here") == ok(12, "still here")


def test_ids_come_back_exactly():
    ids = [0, -1, 7, 2**53 + 1, 10**30]
    with RpcServer() as server, LineClient(server.address) as client:
        for request_id in ids:
            client.send(request_id, "echo", request_id)
        replies = [client.reply() for _ in ids]
    assert replies == [ok(i, i) for i in ids]
    assert all(type(r["id"]) is int for r in replies)


def test_sleeps_on_one_connection_come_back_out_of_order():
    with RpcServer() as server, LineClient(server.address) as client:
        client.send(1, "sleep", {"seconds": 0.6, "result": "slow"})
        client.send(2, "sleep", {"seconds": 0.3, "result": "medium"})
        client.send(3, "echo", "fast")
        replies = [client.reply() for _ in range(3)]
    assert replies == [ok(3, "fast"), ok(2, "medium"), ok(1, "slow")]


def test_the_delay_option_reorders_replies_on_purpose():
    with RpcServer(delay=lambda r: 0.4 if r.id == 1 else None) as server, LineClient(server.address) as client:
        client.send(1, "echo", "first sent")
        client.send(2, "echo", "second sent")
        assert [client.reply() for _ in range(2)] == [ok(2, "second sent"), ok(1, "first sent")]
    first = server.log[0]
    assert first.id == 1 and first.replied - first.arrived >= 0.4


def test_a_dropped_request_is_never_answered_but_later_ones_are():
    with RpcServer(drop=lambda r: r.id == 2) as server, LineClient(server.address) as client:
        for request_id in (1, 2, 3):
            client.send(request_id, "echo", request_id)
        assert [client.reply() for _ in range(2)] == [ok(1, 1), ok(3, 3)]
        server.close()
        assert client.rest() == b""  # closed without ever sending the reply to 2
    assert [(e.id, e.outcome, e.replied) for e in server.log if e.id == 2] == [(2, DROPPED, None)]


def test_the_error_option_replaces_the_result_without_running_the_method():
    def error(request: Request) -> str | None:
        return "overloaded, try later" if request.method == "sleep" else None

    with RpcServer(error=error) as server, LineClient(server.address, timeout=2.0) as client:
        # A 10 s sleep that ran would outlast the 2 s socket timeout.
        assert client.call(1, "sleep", {"seconds": 10, "result": "x"}) == err(1, "overloaded, try later")
        assert client.call(2, "add", [2, 2]) == ok(2, 4)
    assert [(e.outcome, e.error) for e in server.log] == [(ERROR, "overloaded, try later"), (RESULT, None)]


def test_an_option_that_breaks_gets_an_error_reply_not_a_dead_server():
    def delay(request: Request):
        return {1: lambda: 1 / 0, 2: lambda: "soon", 3: lambda: -1.0}.get(request.id, lambda: 0)()

    with RpcServer(delay=delay) as server, LineClient(server.address) as client:
        assert "ZeroDivisionError" in client.call(1, "echo", "a")["error"]["message"]
        assert "'soon'" in client.call(2, "echo", "b")["error"]["message"]
        assert "-1.0" in client.call(3, "echo", "c")["error"]["message"]
        assert client.call(4, "echo", "d") == ok(4, "d")


@pytest.mark.parametrize("line, reply_id", [
    (b"not json\n", None),
    (b"[1, 2]\n", None),
    (b'"a string"\n', None),
    (b"\n", None),
    (b"\xff\xfe{}\n", None),
    (b'{"id": NaN, "method": "echo"}\n', None),
    (b'{"method": "echo", "params": 1}\n', None),
    (b'{"id": "7", "method": "echo"}\n', None),
    (b'{"id": true, "method": "echo"}\n', None),
    (b'{"id": 1.0, "method": "echo"}\n', None),
    (b'{"id": 5}\n', 5),
    (b'{"id": 5, "method": ["echo"]}\n', 5),
])
def test_a_malformed_line_gets_an_error_and_the_connection_stays_usable(line, reply_id):
    with RpcServer() as server, LineClient(server.address) as client:
        client.send_raw(line)
        reply = client.reply()
        assert set(reply) == {"id", "error"} and reply["id"] == reply_id
        assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
        assert client.call(99, "echo", "after") == ok(99, "after")


def test_a_line_over_the_limit_is_refused_and_skipped_to_its_end():
    with RpcServer(max_line=100) as server, LineClient(server.address) as client:
        request = {"id": 1, "method": "echo", "params": ""}
        request["params"] = "x" * (100 - len(json.dumps(request)))
        exactly_at_limit = json.dumps(request).encode()
        assert len(exactly_at_limit) == 100
        client.send_raw(exactly_at_limit + b"\n")
        assert client.reply() == ok(1, request["params"])

        client.send_raw(b'{"id": 2, "method": "echo", "params": "' + b"y" * 5000 + b'"}\n')
        client.send(3, "echo", "next")
        reply = client.reply()
        assert reply["id"] is None and "100 bytes" in reply["error"]["message"]
        assert client.reply() == ok(3, "next")  # the long line's tail was not read as a line of its own


def test_two_connections_are_served_at_once_each_with_its_own_ids():
    with RpcServer() as server, LineClient(server.address) as a, LineClient(server.address) as b:
        a.send(1, "sleep", {"seconds": 0.5, "result": "for a"})
        assert b.call(1, "echo", "for b") == ok(1, "for b")  # not held up behind a's sleep
        assert a.reply() == ok(1, "for a")
    by_connection = {e.connection: e for e in server.log}
    assert set(by_connection) == {1, 2} and server.connections == 2
    assert by_connection[2].replied < by_connection[1].replied


def test_connections_over_the_limit_are_told_why_and_closed():
    with RpcServer(max_connections=1) as server, LineClient(server.address) as first:
        assert first.call(1, "echo", 1) == ok(1, 1)
        with LineClient(server.address) as second:
            reply = second.reply()
            assert reply["id"] is None and "too many connections" in reply["error"]["message"]
            assert second.rest() == b""
        assert first.call(2, "echo", 2) == ok(2, 2)
    assert server.connections == 1


def test_a_handed_over_listening_socket_is_used_without_binding_anything(monkeypatch):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]

    def no_binding(self, address):
        raise PermissionError(errno.EACCES, "this test forbids binding")

    monkeypatch.setattr(socket.socket, "bind", no_binding)
    with pytest.raises(OSError, match="forbids binding"):  # the patch does catch a server that binds
        RpcServer().start()
    with RpcServer(sock=sock) as server:
        assert (server.host, server.port) == ("127.0.0.1", port)
        with LineClient(("127.0.0.1", port)) as client:
            assert client.call(1, "add", [40, 2]) == ok(1, 42)
    assert sock.fileno() == -1  # the server took the socket over and closed it


def test_a_socket_that_is_not_listening_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(ValueError, match="listening"):
            RpcServer(sock=sock)
        sock.listen()
        with pytest.raises(ValueError, match="not both"):
            RpcServer(sock=sock, port=sock.getsockname()[1])


def test_close_ends_connections_and_threads_and_frees_the_port():
    before = set(threading.enumerate())
    server = RpcServer().start()
    assert server.running
    assert [t.name for t in set(threading.enumerate()) - before] == ["rpc-server"]
    port = server.port
    with LineClient(server.address) as client:
        client.send(1, "sleep", {"seconds": 20, "result": "never"})
        assert client.call(2, "echo", "in") == ok(2, "in")
        server.close()
        assert client.rest() == b""  # the connection was closed; the 20 s sleep was not waited for
    assert set(threading.enumerate()) == before and not server.running
    assert [(e.id, e.outcome) for e in server.log] == [(1, UNANSWERED), (2, RESULT)]
    server.close()  # again: nothing more to do
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    with pytest.raises(RuntimeError):
        server.start()
    with RpcServer(port=port) as again, LineClient(again.address) as client:
        assert again.port == port and client.call(1, "echo", "reused") == ok(1, "reused")


def test_a_port_in_use_fails_start_and_leaves_no_thread():
    with RpcServer() as server:
        before = set(threading.enumerate())
        with pytest.raises(OSError):
            RpcServer(port=server.port).start()
        assert set(threading.enumerate()) == before


def test_the_server_stops_by_itself_after_its_lifetime():
    server = RpcServer(lifetime=0.3).start()
    try:
        with LineClient(server.address) as client:
            assert client.call(1, "echo", "x") == ok(1, "x")
            assert client.rest() == b""  # the server closed the connection at its lifetime
        with pytest.raises(OSError):  # and stopped listening before that
            socket.create_connection(server.address, timeout=1.0).close()
    finally:
        server.close()
    assert not server.running


def test_a_half_closed_connection_still_gets_its_replies():
    with RpcServer() as server, LineClient(server.address) as client:
        client.send(1, "sleep", {"seconds": 0.2, "result": "after EOF"})
        client.sock.shutdown(socket.SHUT_WR)
        assert client.reply() == ok(1, "after EOF")
        assert client.rest() == b""


def test_max_in_flight_holds_back_reading_not_replies():
    with RpcServer(max_in_flight=1) as server, LineClient(server.address) as client:
        client.send(1, "sleep", {"seconds": 0.3, "result": "slow"})
        client.send(2, "echo", "fast")
        # With one request in flight at most, the echo is not even read until the sleep has replied.
        assert [client.reply() for _ in range(2)] == [ok(1, "slow"), ok(2, "fast")]
    assert server.log[1].arrived >= server.log[0].replied


def test_the_log_records_a_small_scripted_run():
    with RpcServer(drop=lambda r: r.method == "echo" and r.params == "lost") as server:
        with LineClient(server.address) as client:
            client.send(1, "sleep", {"seconds": 0.5, "result": "late"})
            client.send(2, "echo", "lost")
            client.send_raw(b"garbage\n")
            client.send(3, "fail", "nope")
            assert client.reply()["id"] is None
            assert client.reply() == err(3, "nope")
            in_flight = server.log[0]
            assert (in_flight.outcome, in_flight.replied) == (PENDING, None)
            assert client.reply() == ok(1, "late")
        with LineClient(server.address) as other:
            assert other.call(1, "add", [1, 1]) == ok(1, 2)
        log = server.log
    assert [(e.connection, e.id, e.method, e.outcome, e.error) for e in log] == [
        (1, 1, "sleep", RESULT, None),
        (1, 2, "echo", DROPPED, None),
        (1, None, None, ERROR, log[2].error),
        (1, 3, "fail", ERROR, "nope"),
        (2, 1, "add", RESULT, None),
    ]
    assert log[2].error.startswith("parse error")
    assert log[1].replied is None
    arrivals = [e.arrived for e in log]
    assert arrivals == sorted(arrivals) and arrivals[0] >= 0
    assert all(e.replied >= e.arrived for e in log if e.replied is not None)
    assert log[0].replied - log[0].arrived >= 0.5
    assert log[0].replied > log[3].replied  # the sleep's reply left after the ones sent behind it
    assert all(isinstance(e, Exchange) for e in log)
    with pytest.raises(dataclasses.FrozenInstanceError):
        log[0].outcome = "edited"  # type: ignore[misc]
    log.clear()
    assert len(server.log) == 5  # callers get a copy


def test_an_asyncio_client_round_trips_while_its_own_loop_runs():
    async def client(host, port):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b'{"id": 1, "method": "sleep", "params": {"seconds": 0.3, "result": "slow"}}\n')
            writer.write(b'{"id": 2, "method": "echo", "params": {"hello": "world"}}\n')
            await writer.drain()
            return [json.loads(await asyncio.wait_for(reader.readline(), TIMEOUT)) for _ in range(2)]
        finally:
            writer.close()
            await writer.wait_closed()

    with RpcServer() as server:
        replies = asyncio.run(client(server.host, server.port))
    assert replies == [ok(2, {"hello": "world"}), ok(1, "slow")]


def test_the_options_see_the_request_and_its_place():
    seen: list[Request] = []

    def drop(request: Request) -> bool:
        seen.append(request)
        return False

    with RpcServer(drop=drop) as server:
        with LineClient(server.address) as a, LineClient(server.address) as b:
            assert a.call(10, "echo", [1]) == ok(10, [1])
            assert b.call(20, "add", [2]) == ok(20, 2)
            a.send_raw(b"junk\n")  # not a request: the options never see it
            assert a.reply()["id"] is None
            assert a.call(11, "fail", "x") == err(11, "x")
    assert seen == [Request(1, 1, 10, "echo", [1]), Request(2, 2, 20, "add", [2]), Request(1, 3, 11, "fail", "x")]


@pytest.mark.parametrize("bad", [
    dict(port=-1), dict(port=70000), dict(lifetime=0), dict(lifetime=-1.0), dict(lifetime=float("inf")),
    dict(max_line=1), dict(max_connections=0), dict(max_in_flight=0), dict(max_wait=-1), dict(max_wait=1000),
    dict(drop="yes"), dict(delay=0.5),
])
def test_nonsense_settings_are_refused(bad):
    with pytest.raises(ValueError):
        RpcServer(**bad)


def test_the_address_needs_a_started_server():
    server = RpcServer()
    for attribute in ("address", "host", "port"):
        with pytest.raises(RuntimeError):
            getattr(server, attribute)
    server.close()  # closing a server that never started is harmless
    assert not server.running and server.log == []


def test_a_round_trip_takes_milliseconds_not_a_poll_interval():
    # The server waits on its sockets rather than polling them, which keeps this file quick.
    with RpcServer() as server, LineClient(server.address) as client:
        started = time.monotonic()
        for request_id in range(50):
            assert client.call(request_id, "echo", request_id) == ok(request_id, request_id)
        assert time.monotonic() - started < 3.0


def test_held_replies_leave_in_the_order_their_events_are_set():
    events = {request_id: threading.Event() for request_id in (1, 2, 3)}
    with RpcServer(hold=lambda r: events.get(r.id)) as server, LineClient(server.address) as client:
        for request_id in (1, 2, 3):
            client.send(request_id, "echo", f"reply {request_id}")
        client.send(4, "echo", "not held")
        assert client.reply() == ok(4, "not held")
        assert [e.outcome for e in server.log[:3]] == [PENDING] * 3  # all three arrived and wait
        replies = []
        for request_id in (3, 2, 1):
            events[request_id].set()
            replies.append(client.reply())  # the next one is still held until its event is set
        assert replies == [ok(3, "reply 3"), ok(2, "reply 2"), ok(1, "reply 1")]


def test_a_held_reply_leaves_at_max_wait_if_nobody_releases_it():
    never = threading.Event()
    with RpcServer(hold=lambda r: never, max_wait=0.3) as server, LineClient(server.address) as client:
        assert client.call(1, "echo", "eventually") == ok(1, "eventually")
    assert server.log[0].replied - server.log[0].arrived >= 0.3


def test_a_held_error_reply_waits_too():
    release = threading.Event()
    with RpcServer(hold=lambda r: release, error=lambda r: "busy") as server, \
            LineClient(server.address) as client:
        client.send(1, "echo", "x")
        client.send_raw(b"garbage\n")  # not a request: never held
        assert client.reply()["id"] is None
        assert server.log[0].outcome == PENDING
        release.set()
        assert client.reply() == err(1, "busy")


def test_stray_messages_go_just_before_the_reply():
    def stray(request: Request):
        if request.id == 2:
            return [{"id": None, "error": {"message": "invalid request"}}, {"id": 1, "result": "again"}]
        return None

    with RpcServer(stray=stray) as server, LineClient(server.address) as client:
        assert client.call(1, "echo", "first") == ok(1, "first")
        client.send(2, "echo", "second")
        assert [client.reply() for _ in range(3)] == [
            {"id": None, "error": {"message": "invalid request"}}, ok(1, "again"), ok(2, "second")]
        assert client.call(3, "echo", "third") == ok(3, "third")
    assert [(e.id, e.outcome) for e in server.log] == [(1, RESULT), (2, RESULT), (3, RESULT)]


@pytest.mark.parametrize("option", [
    dict(hold=lambda r: True), dict(hold=lambda r: 1 / 0), dict(stray=lambda r: {"id": 1}),
    dict(stray=lambda r: ["not a dict"]), dict(stray=lambda r: [{"id": float("nan")}]),
])
def test_a_hold_or_stray_option_that_breaks_gets_an_error_reply(option):
    with RpcServer(**option) as server, LineClient(server.address) as client:
        reply = client.call(1, "echo", "x")
        assert reply["id"] == 1 and "option" in reply["error"]["message"]


def test_open_connections_counts_the_connections_open_now():
    with RpcServer(max_connections=2) as server:
        assert server.open_connections == 0
        with LineClient(server.address) as a:
            assert a.call(1, "echo", 1) == ok(1, 1)  # accepted and served: the server has it open
            assert server.open_connections == 1
            with LineClient(server.address) as b:
                assert b.call(1, "echo", 1) == ok(1, 1)
                assert server.open_connections == 2
                with LineClient(server.address) as refused:
                    assert refused.reply()["id"] is None
                    assert server.open_connections == 2  # a refused one is never counted
            deadline = time.monotonic() + TIMEOUT
            while server.open_connections != 1 and time.monotonic() < deadline:
                time.sleep(0.002)
            assert server.open_connections == 1
        deadline = time.monotonic() + TIMEOUT
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.002)
        assert server.open_connections == 0
