"""What really happens on one connection when several calls share it: a run to draw as a sequence diagram.

The course's figure of request-response is drawn from a run against a real ``RpcServer``, not from a
picture of what should happen. ``scripted_run`` starts a private server whose ``delay`` and ``error``
options are keyed on a label each call carries in its params (``{"call": "A", ...}``), so the server
answers call A late, call B at once and call C with an error, whichever client sends them and whatever
ids that client picks. Then a client sends every call at once on one connection and waits:

* the course's own client is ``multiplexed_run``: one blocking socket, all requests written at once,
  a ``selectors`` loop that files each reply under its id and gives a call up at its deadline. It is a
  loop over a list, not a reusable client object: writing the asyncio client the contract asks for is
  the exercise.
* a student's client class (``RpcClient(host, port)`` with ``await connect()``, ``await call(method,
  params, timeout)`` and ``await close()``) runs the same calls from ``asyncio.run`` in a worker thread,
  because a notebook kernel already runs an event loop in its own thread.

Either way the result is a ``SequenceRun``: per call, when it was sent, when the server read it and
wrote its reply (from ``server.log``), and when and how the client settled it, on one time axis. Client
times come from ``time.monotonic()`` and the server's from its own start, so the two axes are aligned
by the smallest gap between a send and its arrival: on loopback that is microseconds, and it keeps
every arrow pointing forward in time.

A call that gives up keeps its reply coming: the server does not know the client stopped waiting. The
run waits for those late replies too (until the server's log has them, within ``linger`` seconds), so
the figure can show the reply the client dropped.
"""
from __future__ import annotations

import asyncio
import json
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dspatterns.communication.rpc_server import PENDING, Request, RpcServer
from dspatterns.student_code import describe

RESULT = "result"
ERROR = "error"
TIMEOUT = "timeout"
BROKEN = "broken"  # the connection closed, or a student's client raised something the contract does not name


@dataclass(frozen=True)
class ScriptedCall:
    """One call of the script and how the server is told to treat it (by its label, not its id)."""

    label: str
    value: Any = None
    server_delay: float = 0.0
    server_error: str | None = None

    @property
    def params(self) -> dict:
        return {"call": self.label, "value": self.value}


# Four calls on one connection, sent 5 ms apart: replies come back B (at 5 ms), C (20 ms), A (30 ms),
# and D's (95 ms) only after its caller gave up at 65 ms. Milliseconds, so that a replay (which waits for
# D's late reply too) is over in about 0.1 s and the explorer redraws at once; the margins around the
# 50 ms timeout (A answered 20 ms before it, D's reply leaving 30 ms after it) are many times the
# scheduling jitter of a loopback socket on an idle machine.
DEFAULT_CALLS = (
    ScriptedCall("A", "slow", server_delay=0.030),
    ScriptedCall("B", "fast", server_delay=0.0),
    ScriptedCall("C", "fails", server_delay=0.010, server_error="no such user"),
    ScriptedCall("D", "too slow", server_delay=0.080),
)
DEFAULT_TIMEOUT = 0.05
DEFAULT_SEND_GAP = 0.005  # calls leave 5 ms apart, so the figure's arrows do not sit on top of each other


@dataclass(frozen=True)
class ClientRecord:
    """What the client saw of one call, in seconds since the run began."""

    label: str
    id: int | None
    sent: float
    settled: float | None
    outcome: str
    value: Any = None
    late_reply_read: float | None = None  # when a reply came for a call already given up


@dataclass(frozen=True)
class CallTrace:
    """One call end to end: two arrows (request, reply) and how the caller's wait ended."""

    label: str
    id: int | None
    sent: float
    arrived: float | None
    replied: float | None
    settled: float | None
    outcome: str
    value: Any
    timeout: float
    late_reply_read: float | None = None

    @property
    def deadline(self) -> float:
        return self.sent + self.timeout

    @property
    def reply_was_late(self) -> bool:
        """The server answered, but only after the caller had given up: the reply is dropped."""
        return self.outcome == TIMEOUT and self.replied is not None


@dataclass(frozen=True)
class SequenceRun:
    """A whole run: whose client it was, the timeout, and every call in the order it was made."""

    client: str
    timeout: float
    calls: tuple[CallTrace, ...]
    problem: str | None = None  # a student's client that broke, in one line

    def reply_order(self) -> list[str]:
        """Labels in the order their replies left the server (the order the client read them)."""
        answered = [call for call in self.calls if call.replied is not None]
        return [call.label for call in sorted(answered, key=lambda call: call.replied)]

    def by_label(self, label: str) -> CallTrace:
        return next(call for call in self.calls if call.label == label)


# --- the course's driver: one blocking socket and a selector -------------------------------------------

def multiplexed_run(server: RpcServer, calls: Sequence[ScriptedCall], timeout: float, *, send_gap: float = 0.0,
                    linger: float = 5.0, clock: Callable[[], float] = time.monotonic) -> list[ClientRecord]:
    """Send the calls on one connection to ``server``, ids 1, 2, ..., ``send_gap`` s apart, and file replies by id.

    A call whose reply has not come ``timeout`` seconds after it was sent is given up (``"timeout"``);
    a reply that comes later is noted (``late_reply_read``) and otherwise ignored. Replies that are
    readable are always read before deadlines are checked, so a reply that came in time is never
    counted late because this loop was slow to look. After the last call settles it goes on reading
    until every given-up call's reply has come or the server's log shows none will, at most
    ``linger`` seconds. The server must be this run's alone: its log is read by id. (The gap only
    spreads the arrows of the figure apart; the replies' order is the server's delays' doing.)
    """
    started = clock()
    now = lambda: clock() - started  # noqa: E731
    records: dict[int, ClientRecord] = {}
    unsent = list(enumerate(calls, start=1))
    with socket.create_connection(server.address, timeout=5.0) as sock, selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        buffer = b""
        linger_until = None
        while True:
            while unsent and now() >= (unsent[0][0] - 1) * send_gap:
                number, call = unsent.pop(0)
                line = json.dumps({"id": number, "method": "echo", "params": call.params}) + "\n"
                records[number] = ClientRecord(call.label, number, now(), None, "pending")
                sock.sendall(line.encode())
            waiting = [r for r in records.values() if r.settled is None]
            given_up = [n for n, r in records.items() if r.outcome == TIMEOUT and r.late_reply_read is None]
            if unsent:
                wake = [(unsent[0][0] - 1) * send_gap] + [r.sent + timeout for r in waiting]
                wait = max(0.0, min(wake) - now())
            elif waiting:
                wait = max(0.0, min(r.sent + timeout for r in waiting) - now())
            else:
                if not given_up or not _replies_still_coming(server, given_up):
                    break
                linger_until = now() + linger if linger_until is None else linger_until
                if now() >= linger_until:
                    break
                wait = min(0.05, linger_until - now())
            if selector.select(wait):
                chunk = sock.recv(65536)
                if not chunk:
                    for number, record in records.items():
                        if record.settled is None:
                            records[number] = replace(record, settled=now(), outcome=BROKEN,
                                                      value="the server closed the connection")
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    _file_reply(records, json.loads(line), now())
            for number, record in records.items():
                if record.settled is None and now() >= record.sent + timeout:
                    records[number] = replace(record, settled=record.sent + timeout, outcome=TIMEOUT)
    return [records[number] for number in sorted(records)]


def _file_reply(records: dict[int, ClientRecord], reply: dict, at: float) -> None:
    record = records.get(reply.get("id"))
    if record is None:
        return  # an id we never sent (a reply to a malformed line): nobody waits for it
    if record.outcome == TIMEOUT:
        records[record.id] = replace(record, late_reply_read=at)
    elif record.settled is None:
        if "error" in reply:
            records[record.id] = replace(record, settled=at, outcome=ERROR, value=reply["error"]["message"])
        else:
            records[record.id] = replace(record, settled=at, outcome=RESULT, value=reply["result"])


def _replies_still_coming(server: RpcServer, ids: Sequence[int]) -> bool:
    """Whether any of these requests is still being answered, so its reply may yet arrive."""
    rows = [row for row in server.log if row.id in ids]
    return any(row.outcome == PENDING or row.replied is not None for row in rows)


# --- a student's client, through the contract only ---------------------------------------------------------

def client_class_run(client_class: type, server: RpcServer, calls: Sequence[ScriptedCall], timeout: float, *,
                     send_gap: float = 0.0, linger: float = 5.0, limit: float = 20.0,
                     clock: Callable[[], float] = time.monotonic) -> tuple[list[ClientRecord], str | None]:
    """Run the calls at once through ``client_class(host, port)`` in a worker thread's own event loop.

    Call ``i`` starts ``i * send_gap`` s in, and its ``sent`` is when its ``call`` began (the client
    decides when the bytes go). Before
    ``close()`` the run waits until the late replies have left the server, so the client has to drop
    them, not miss them. A class that raises in ``__init__``/``connect``/``close``, or a run that is not
    over within ``limit`` seconds, is reported as one line instead of records.
    """
    started = clock()
    now = lambda: clock() - started  # noqa: E731
    outcome: dict[str, Any] = {}

    async def one(client, index: int, call: ScriptedCall) -> ClientRecord:
        await asyncio.sleep(max(0.0, index * send_gap - now()))
        sent = now()
        try:
            value = await client.call("echo", call.params, timeout)
        except TimeoutError:
            return ClientRecord(call.label, None, sent, sent + timeout, TIMEOUT)
        except Exception as exc:  # RpcError by name: the student's module defines it, not ours
            kind = ERROR if type(exc).__name__ == "RpcError" else BROKEN
            return ClientRecord(call.label, None, sent, now(), kind, str(exc) if kind == ERROR else describe(exc))
        return ClientRecord(call.label, None, sent, now(), RESULT, value)

    async def main() -> None:
        client = client_class(server.host, server.port)
        await client.connect()
        try:
            outcome["records"] = await asyncio.gather(*(one(client, i, call) for i, call in enumerate(calls)))
            deadline = clock() + linger
            while _labels_still_answering(server) and clock() < deadline:
                await asyncio.sleep(0.02)
        finally:
            await client.close()

    def worker() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # shown to the student, never raised into the notebook
            outcome["problem"] = describe(exc)

    thread = threading.Thread(target=worker, name="student-rpc-client", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        return list(outcome.get("records", [])), f"your client had not finished after {limit:g} s"
    return list(outcome.get("records", [])), outcome.get("problem")


def _labels_still_answering(server: RpcServer) -> bool:
    return any(row.outcome == PENDING for row in server.log)


# --- the scripted run: a private server, a client, and the two views joined ----------------------------

class _Script:
    """The server's options for a script: delay and error by the call's label; it notes who carried which."""

    def __init__(self, calls: Sequence[ScriptedCall]):
        self.calls = {call.label: call for call in calls}
        self.seen: dict[str, tuple[int, int]] = {}  # label -> (connection, id) as the server read it
        self._lock = threading.Lock()

    def _call(self, request: Request) -> ScriptedCall | None:
        params = request.params
        label = params.get("call") if isinstance(params, dict) else None
        call = self.calls.get(label) if isinstance(label, str) else None
        if call is not None:
            with self._lock:
                self.seen.setdefault(call.label, (request.connection, request.id))
        return call

    def delay(self, request: Request) -> float:
        call = self._call(request)
        return call.server_delay if call is not None else 0.0

    def error(self, request: Request) -> str | None:
        call = self._call(request)
        return call.server_error if call is not None else None


def scripted_run(calls: Sequence[ScriptedCall] = DEFAULT_CALLS, timeout: float = DEFAULT_TIMEOUT, *,
                 client_class: type | None = None, send_gap: float = DEFAULT_SEND_GAP,
                 linger: float = 5.0) -> SequenceRun:
    """Run ``calls`` against a fresh server, with the course's driver or ``client_class``; join both views."""
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    labels = [call.label for call in calls]
    if len(set(labels)) != len(labels):
        raise ValueError(f"each call needs its own label, got {labels}")
    script = _Script(calls)
    with RpcServer(delay=script.delay, error=script.error, max_wait=30.0) as server:
        if client_class is None:
            records = multiplexed_run(server, calls, timeout, send_gap=send_gap, linger=linger)
            problem, client = None, "course driver"
        else:
            records, problem = client_class_run(client_class, server, calls, timeout, send_gap=send_gap,
                                               linger=linger)
            client = getattr(client_class, "__name__", "your client")
        log = server.log
    rows = {(row.connection, row.id): row for row in log}
    served = {label: rows.get(key) for label, key in script.seen.items()}
    traces = []
    by_label = {record.label: record for record in records}
    for call in calls:
        record = by_label.get(call.label)
        row = served.get(call.label)
        if record is None:
            record = ClientRecord(call.label, None, 0.0, None, BROKEN, "the call never returned")
        traces.append(CallTrace(
            label=call.label, id=row.id if row is not None else record.id, sent=record.sent,
            arrived=row.arrived if row is not None else None, replied=row.replied if row is not None else None,
            settled=record.settled, outcome=record.outcome, value=record.value, timeout=timeout,
            late_reply_read=record.late_reply_read,
        ))
    return SequenceRun(client, float(timeout), tuple(_align(traces)), problem)


def _align(traces: list[CallTrace]) -> list[CallTrace]:
    """Shift the server's times onto the client's axis: the quickest request arrives as it is sent."""
    gaps = [t.arrived - t.sent for t in traces if t.arrived is not None]
    if not gaps:
        return traces
    shift = min(gaps)
    return [replace(t, arrived=None if t.arrived is None else t.arrived - shift,
                    replied=None if t.replied is None else t.replied - shift) for t in traces]
