"""A suite's server for a networked exercise, and coroutines run where the student's code lives.

The sandbox has a network namespace of its own. A suite that grades a client (request_response)
asks the sandbox for a listening socket made inside that namespace (``StudentProcess.listener``):
its server accepts on it in the judge, the student's code connects to its port in the sandbox, and
nothing on the host can reach it. The student's coroutines run in an event loop in their own
process (``StudentProcess.event_loop``), started together, each with its own outcome, a hang cut
off as a ``RuntimeError`` that cannot pass for the client's own ``TimeoutError``.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from autograder.judge import MAX_ASYNC_WAIT, AsyncDriver
from autograder.sandbox.client import Sandbox
from autograder.sandbox.isolation import walls_problem
from dspatterns.communication.rpc_server import RESULT, RpcServer

needs_walls = pytest.mark.skipif(walls_problem() is not None,
                                 reason=f"no walls here: {walls_problem()}")

STUDENT = '''
import asyncio, json, os, socket

async def echo_all(host, port, values):
    reader, writer = await asyncio.open_connection(host, port)
    for number, value in enumerate(values):
        writer.write((json.dumps({"id": number, "method": "echo", "params": value}) + "\\n").encode())
    await writer.drain()
    replies = [json.loads(await reader.readline()) for _ in values]
    writer.close()
    return sorted((reply["id"], reply["result"]) for reply in replies)

async def raises():
    raise ValueError("from the student")

async def never_ends():
    await asyncio.Event().wait()

STARTED = []

async def note_start(name):
    STARTED.append(name)
    await asyncio.sleep(0)
    return name

def started():
    return list(STARTED)

def plain(value):
    return value * 2

def listening_sockets():
    """Every listening TCP socket this process holds, by port: what student code could accept on."""
    ports = []
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if probe.type == socket.SOCK_STREAM and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                ports.append(probe.getsockname()[1])
        except OSError:
            pass
        finally:
            probe.close()
    return ports

def connect_to(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
'''


@pytest.fixture(scope="module")
def box():
    with Sandbox([{"label": "cell 1", "source": STUDENT}]) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def loop(box):
    return AsyncDriver(box.peer.new("event_loop"))


def test_a_server_on_a_handed_over_listener_serves_the_sandbox(box, loop):
    with RpcServer(sock=box.peer.new("listener")) as server:
        outcome = loop.run(box.module.echo_all, server.host, server.port, ["a", 2, None])
        assert outcome.result() == [(0, "a"), (1, 2), (2, None)], outcome
        assert [e.outcome for e in server.log] == [RESULT] * 3, server.log


def test_the_sandbox_keeps_no_copy_of_the_listener(box):
    listener = box.peer.new("listener")
    try:
        port = listener.getsockname()[1]
        assert port not in box.module.listening_sockets(), (
            "the sandbox still holds the listening socket it handed over: student code could accept "
            "the connections meant for the suite's server")
    finally:
        listener.close()


@needs_walls
def test_nothing_on_the_host_reaches_the_listener(box):
    listener = box.peer.new("listener")
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            pass  # refused: nothing listens on that port on the host
        with pytest.raises(socket.timeout):
            listener.accept()  # and certainly not this listener
            raise AssertionError(f"a connection from the host reached the sandbox's listener on {port}")
    finally:
        listener.close()


@needs_walls
def test_the_sandbox_reaches_no_server_of_the_host(box):
    with socket.create_server(("127.0.0.1", 0)) as host_server:
        assert box.module.connect_to(host_server.getsockname()[1]) == "ConnectionRefusedError"


def test_each_call_keeps_its_own_outcome(loop, box):
    began = time.monotonic()
    value, error, hang, plain = loop.gather([(box.module.note_start, ("x",), {}),
                                             (box.module.raises, (), {}),
                                             (box.module.never_ends, (), {}),
                                             (box.module.plain, (21,), {})], timeout=1.0)
    assert value.result() == "x" and plain.result() == 42
    assert isinstance(error.error, ValueError) and "from the student" in str(error.error)
    assert isinstance(hang.error, RuntimeError) and not isinstance(hang.error, TimeoutError), hang
    assert "still running" in str(hang.error)
    assert time.monotonic() - began < 1.0 + 3.0  # cut off at its timeout, not at the channel's


def test_calls_start_together_in_the_order_given(loop, box):
    names = [f"call-{i}" for i in range(50)]
    outcomes = loop.gather([(box.module.note_start, (name,), {}) for name in names])
    assert [o.result() for o in outcomes] == names
    assert box.module.started()[-50:] == names


def test_started_calls_can_be_watched_while_the_server_holds_a_reply(box, loop):
    release = threading.Event()
    # The delay option runs in the server's thread: blocking it there holds the reply (and the
    # whole server) until released, so the call cannot have finished when it is looked at.
    with RpcServer(sock=box.peer.new("listener"),
                   delay=lambda request: 0.0 if release.wait(5) else 0.0) as server:
        running = loop.start([(box.module.echo_all, (server.host, server.port, ["held"]), {})])
        deadline = time.monotonic() + 5
        while not server.log and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.log, "the request never reached the server"
        assert running.done() == [False]
        release.set()
        assert [o.result() for o in running.wait()] == [[(0, "held")]]


def test_a_wait_longer_than_the_channel_allows_is_refused(loop, box):
    with pytest.raises(ValueError):
        loop.gather([(box.module.plain, (1,), {})], timeout=MAX_ASYNC_WAIT + 1)


def test_a_wait_can_end_sooner_than_the_start_allows(loop, box):
    began = time.monotonic()
    running = loop.start([(box.module.never_ends, (), {}), (box.module.plain, (2,), {})], timeout=5.0)
    hang, plain = running.wait(timeout=0.3)
    assert isinstance(hang.error, RuntimeError) and plain.result() == 4
    assert time.monotonic() - began < 5.0
