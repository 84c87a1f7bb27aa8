"""A request-response server on real sockets: newline-delimited JSON over TCP, with ways to misbehave.

The ``request_response`` exercise asks for an asyncio client that matches each reply to its caller by
id, gives up on a call at its timeout and turns error replies into exceptions. None of that is
tested by a server that answers every request at once and in order, so ``RpcServer`` answers late,
out of order, with errors or not at all, when asked to. It runs in a background thread with its own
asyncio loop, so a notebook whose kernel already runs an event loop starts it with plain calls, and
a test can talk to it with a blocking socket.

Wire format, one JSON object per line (UTF-8, ended by ``\\n``), both ways::

    request  {"id": <int>, "method": <str>, "params": <any>}     "params" left out counts as null
    reply    {"id": <int>, "result": <any>}
             {"id": <int>, "error": {"message": <str>}}

Methods:

* ``echo``: the result is ``params``.
* ``add``: the result is the sum of ``params``, a list of numbers.
* ``sleep``: ``params`` is ``{"seconds": s, "result": r}``; the reply ``r`` (null if left out) leaves
  after ``s`` real seconds (at most ``max_wait``). Every request is answered by its own task, so a
  sleep does not hold up the requests behind it on the same connection: their replies overtake it.
* ``fail``: an error reply whose message is ``params`` (sent as its JSON text if it is not a string).
* any other method: an error reply naming it.

A line that is not a request (not JSON, not an object, ``id`` missing or not an integer, ``method``
missing or not a string, longer than ``max_line`` bytes) gets an error reply, and the connection stays
usable. That reply's id is the line's id when it has an integer one, and null otherwise, as JSON-RPC
2.0 replies null to a parse error or an invalid request: there is no id to answer to. So a client
must expect a reply whose id matches no call of its own.

To misbehave on purpose, give functions of the ``Request``, called in the server's thread as each
request arrives (keep them quick: they hold up the whole server while they run):

* ``drop(request) -> bool``: true means the request is never answered, which is what a client's
  timeout is for.
* ``error(request) -> str | None``: a string is sent back as an error reply instead of the result
  (the method does not run), as a server that fails for its own reasons does.
* ``delay(request) -> seconds`` (or None for none): added before the reply leaves. A longer delay
  for an earlier request reorders replies on purpose, whatever the method.
* ``hold(request) -> threading.Event | None``: an event means the reply waits (after any delay)
  until some other thread sets it, or ``max_wait`` seconds have passed, whichever comes first. A
  test that holds the replies to three requests and sets the events in reverse order gets the
  replies in reverse order because it arranged them, not because one delay beat another. A held
  reply polls its event every millisecond (the only polling in the server, and only while held).
* ``stray(request) -> list[dict] | None``: messages sent on that request's connection just before
  its reply (after any delay or hold), as a server does that answers a request twice or answers a
  line it could not parse with id null: a client must ignore a reply that matches no call of its
  own. Each message must be a dict that JSON can encode.

An option that raises, or returns something else, gets the request an error reply that says so,
rather than a dead server thread nobody sees.

``server.log`` records, per request, its connection, id, method, when it arrived and when its reply
left (seconds since ``start()``, from ``time.monotonic()``), and how it ended, for drawing a sequence
diagram of what really happened. Requests still in flight show as ``"pending"``; a reply is logged as
it is written, so a client that holds a reply finds it in the log already.

Everything is bounded so that a notebook cell or a test can never hang on the server: it listens on
127.0.0.1 only (or on a listening socket handed to it, ``sock=``, so a grader can create the socket
inside a sandbox's network namespace and the server never binds anything itself); a line is at most
``max_line`` bytes; at most ``max_connections`` connections are open at once, each with at most
``max_in_flight`` requests being answered; a sleep or delay lasts at most ``max_wait`` seconds; with a
``lifetime`` the server stops itself; and ``close()`` closes every connection and joins its thread.
A connection over the limit gets one error line (id null) saying so, then is closed. A client that
half-closes its connection still gets the replies to what it sent before. ``open_connections``
counts the connections open now, so a test can see that a client closed its connection.
"""
from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

METHODS = ("add", "echo", "fail", "sleep")

PENDING = "pending"
RESULT = "result"
ERROR = "error"
DROPPED = "dropped"
UNANSWERED = "unanswered"  # the connection closed before the reply could leave
OUTCOMES = (PENDING, RESULT, ERROR, DROPPED, UNANSWERED)

_START_TIMEOUT = 10.0  # how long start() waits for the server's thread to be listening
_DRAIN_TIMEOUT = 5.0  # a client that stops reading loses its connection instead of stalling replies
_CLOSE_TIMEOUT = 1.0  # how long a closing connection may take to flush before it is cut
_HOLD_POLL = 0.001  # how often a held reply looks at its event


@dataclass(frozen=True)
class Request:
    """A well-formed request, as the misbehaviour options see it.

    ``connection`` numbers connections from 1 in the order they were accepted; ``number`` counts
    well-formed requests over the whole server from 1, so an option can pick "the third request" or
    "every request on connection 2".
    """

    connection: int
    number: int
    id: int
    method: str
    params: Any


@dataclass(frozen=True)
class Exchange:
    """One request in ``server.log``: one arrow in and, unless ``replied`` is None, one arrow out.

    Times are seconds since the server started. ``id`` and ``method`` are None where a malformed line
    had none. ``outcome`` is ``"pending"`` (still being answered), ``"result"``, ``"error"`` (an error
    reply, whose message is ``error``), ``"dropped"`` (the ``drop`` option chose never to answer) or
    ``"unanswered"`` (the connection closed first, at either end).
    """

    connection: int
    id: int | None
    method: str | None
    arrived: float
    replied: float | None
    outcome: str
    error: str | None = None


class _Failure(Exception):
    """Raised while answering a request: its message goes back as the error reply."""


Option = Callable[[Request], Any]


class RpcServer:
    """A newline-delimited JSON request-response server on loopback, in a background thread.

    Use it as a context manager, or ``start()`` and ``close()``. It listens on ``127.0.0.1:port``
    (port 0: the OS picks a free one; read it back from ``.port``), or on ``sock``, a listening TCP
    socket it takes over and closes when it closes. ``drop``, ``error`` and ``delay`` make it
    misbehave per request (see the module docstring). Settings out of range raise ``ValueError``
    at once, not in the server's thread.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        sock: socket.socket | None = None,
        drop: Option | None = None,
        error: Option | None = None,
        delay: Option | None = None,
        hold: Option | None = None,
        stray: Option | None = None,
        lifetime: float | None = None,
        max_line: int = 64 * 1024,
        max_connections: int = 16,
        max_in_flight: int = 1024,
        max_wait: float = 30.0,
    ) -> None:
        if sock is not None:
            if port:
                raise ValueError("give a port or a listening socket, not both")
            _check_listening(sock)
        elif not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) to 65535, got {port!r}")
        for name, option in (("drop", drop), ("error", error), ("delay", delay), ("hold", hold),
                             ("stray", stray)):
            if option is not None and not callable(option):
                raise ValueError(f"{name} must be a function of the request, got {option!r}")
        if lifetime is not None and not (isinstance(lifetime, (int, float)) and 0 < lifetime < math.inf):
            raise ValueError(f"lifetime must be None or a positive number of seconds, got {lifetime!r}")
        if not isinstance(max_line, int) or not 16 <= max_line <= 16 * 1024 * 1024:
            raise ValueError(f"max_line must be 16 bytes to 16 MiB, got {max_line!r}")
        if not isinstance(max_connections, int) or not 1 <= max_connections <= 1024:
            raise ValueError(f"max_connections must be 1 to 1024, got {max_connections!r}")
        if not isinstance(max_in_flight, int) or not 1 <= max_in_flight <= 100_000:
            raise ValueError(f"max_in_flight must be 1 to 100000, got {max_in_flight!r}")
        if not isinstance(max_wait, (int, float)) or not 0 <= max_wait <= 300:
            raise ValueError(f"max_wait must be 0 to 300 seconds, got {max_wait!r}")
        self.lifetime = lifetime
        self.max_line = max_line
        self.max_connections = max_connections
        self.max_in_flight = max_in_flight
        self.max_wait = float(max_wait)
        self.connections = 0  # connections served so far (refused ones are not counted)
        self._port = port
        self._sock = sock
        self._options = {"drop": drop, "error": error, "delay": delay, "hold": hold, "stray": stray}
        self._lock = threading.Lock()  # guards the log and the lifecycle fields below
        self._records: list[Exchange] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_error: BaseException | None = None
        self._closed = False
        self._address: tuple[str, int] | None = None
        self._started_at = 0.0
        # Only the server's thread touches these.
        self._server: asyncio.base_events.Server | None = None
        self._open: set[_Connection] = set()
        self._requests = 0
        self._stopping = False
        self._open_count = 0  # len(self._open), readable from any thread

    # --- lifecycle, called from the user's thread -------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("the server is not started")
        return self._address

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def running(self) -> bool:
        """True from ``start()`` until the server has stopped, by ``close()`` or at its lifetime."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def open_connections(self) -> int:
        """How many client connections are open now (refused ones are never counted)."""
        with self._lock:
            return self._open_count

    @property
    def log(self) -> list[Exchange]:
        """What happened so far, one ``Exchange`` per request in the order they arrived (a copy)."""
        with self._lock:
            return list(self._records)

    def start(self) -> RpcServer:
        with self._lock:
            if self._closed:
                raise RuntimeError("a closed server cannot be started again; make a new one")
            if self._thread is not None:
                raise RuntimeError("the server is already started")
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(ready,), name="rpc-server", daemon=True)
            self._thread.start()
        if not ready.wait(_START_TIMEOUT):
            self.close()
            raise RuntimeError(f"the server was not listening within {_START_TIMEOUT:g} s")
        if self._start_error is not None:
            self.close()
            raise self._start_error  # e.g. the port is taken: the caller sees the OSError itself
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening, close every connection, and wait (at most ``timeout`` s) for the thread to end.

        Requests still being answered are left unanswered. Calling it again, or on a server that has
        stopped at its lifetime or never started, does nothing more.
        """
        with self._lock:
            self._closed = True
            thread, loop = self._thread, self._loop
        if thread is not None and loop is not None:
            try:
                loop.call_soon_threadsafe(self._begin_shutdown)
            except RuntimeError:
                pass  # the loop has already closed: the server stopped at its lifetime
            if thread is threading.current_thread():
                return  # called from an option, in the server's own thread: it cannot wait for itself
            thread.join(timeout)
        if self._sock is not None and not self.running:
            self._sock.close()  # asyncio has closed it already, unless the server never got going

    def __enter__(self) -> RpcServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the server's thread ---------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                loop.run_until_complete(self._listen(loop))
            except BaseException as exc:  # handed to start(), which raises it
                self._start_error = exc
                return
            finally:
                ready.set()
            loop.run_forever()  # until _shutdown stops it
        finally:
            loop.close()

    async def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loop = loop
        self._started_at = time.monotonic()
        if self._sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=self._sock, limit=self.max_line)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port, limit=self.max_line)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (host, port)
        if self.lifetime is not None:
            loop.call_later(self.lifetime, self._begin_shutdown)

    def _begin_shutdown(self) -> None:
        if not self._stopping:
            self._stopping = True
            asyncio.get_running_loop().create_task(self._shutdown())

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()  # closes the listening socket now: later clients are refused at once
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.sleep(0)  # lets aborted transports run their connection_lost and close their sockets
        asyncio.get_running_loop().stop()

    def _now(self) -> float:
        return time.monotonic() - self._started_at

    def _record(self, exchange: Exchange) -> int:
        with self._lock:
            self._records.append(exchange)
            return len(self._records) - 1

    def _update(self, index: int, **changes) -> None:
        with self._lock:
            self._records[index] = replace(self._records[index], **changes)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._open) >= self.max_connections:
            # Say why before closing, so the client sees more than a connection reset.
            message = f"too many connections: this server allows {self.max_connections} at once"
            conn = _Connection(0, writer)
            try:
                await conn.send({"id": None, "error": {"message": message}})
            except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
                pass
            finally:
                await conn.close()
            return
        self.connections += 1
        conn = _Connection(self.connections, writer)
        self._open.add(conn)
        self._count_open()
        try:
            await self._read_requests(reader, conn)
            # The client has sent its last line (perhaps only half-closing): answer what is in flight.
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        except OSError:
            pass  # the client went away mid-read
        except asyncio.CancelledError:
            pass  # the server is closing; ending normally spares 3.11's stream callback a traceback
        finally:
            self._open.discard(conn)
            self._count_open()
            for task in conn.tasks:
                task.cancel()
            await asyncio.gather(*conn.tasks, return_exceptions=True)
            await conn.close()

    def _count_open(self) -> None:
        with self._lock:
            self._open_count = len(self._open)

    async def _read_requests(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        in_flight = asyncio.Semaphore(self.max_in_flight)
        while True:
            await in_flight.acquire()  # at the limit, stop reading: TCP then slows the client down
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return  # end of stream; a last line without its newline is not a request
            except asyncio.LimitOverrunError as exc:
                arrived = self._now()
                if not await _skip_rest_of_line(reader, exc.consumed):
                    return
                line = None
            else:
                arrived = self._now()
            task = self._answer_later(conn, line, arrived)
            if task is None:
                in_flight.release()
            else:
                conn.tasks.add(task)
                task.add_done_callback(conn.tasks.discard)
                task.add_done_callback(lambda _: in_flight.release())

    def _answer_later(self, conn: _Connection, line: bytes | None, arrived: float) -> asyncio.Task | None:
        """Log the line as it arrives, decide how to misbehave, and leave the reply to a task of its own."""
        if line is None:
            message, reply_id = None, None
            problem = f"invalid request: the line is longer than {self.max_line} bytes"
        else:
            message, problem, reply_id = _parse(line)
        if problem is not None:
            index = self._record(Exchange(conn.number, reply_id, None, arrived, None, PENDING))
            reply = {"id": reply_id, "error": {"message": problem}}
            return asyncio.create_task(self._reply(conn, index, reply, 0.0))
        self._requests += 1
        request = Request(conn.number, self._requests, message["id"], message["method"], message.get("params"))
        index = self._record(Exchange(conn.number, request.id, request.method, arrived, None, PENDING))
        try:
            if self._option_says(request, "drop", bool):
                self._update(index, outcome=DROPPED)
                return None
            injected = self._option_says(request, "error", (str, type(None)))
            delay = self._option_says(request, "delay", (int, float, type(None))) or 0.0
            if isinstance(delay, bool) or not 0 <= delay <= self.max_wait:
                raise _Failure(f"the server's delay option returned {delay!r}, not 0 to {self.max_wait:g} s")
            held = self._option_says(request, "hold", (threading.Event, type(None)))
            strays = self._option_says(request, "stray", (list, tuple, type(None))) or ()
            for message in strays:
                if not isinstance(message, dict) or not _encodable(message):
                    raise _Failure(f"the server's stray option gave {message!r}, not a dict JSON can encode")
        except _Failure as failure:
            return asyncio.create_task(self._reply(conn, index, _error_reply(request.id, failure), 0.0))
        later = _Later(delay, held, tuple(strays))
        if injected is not None:
            return asyncio.create_task(self._reply(conn, index, _error_reply(request.id, injected), later))
        return asyncio.create_task(self._call_then_reply(conn, index, request, later))

    def _option_says(self, request: Request, name: str, kinds) -> Any:
        option = self._options[name]
        if option is None:
            return None
        try:
            answer = option(request)
        except Exception as exc:  # reported to the client instead of killing the server
            raise _Failure(f"the server's {name} option raised {type(exc).__name__}: {exc}") from exc
        if kinds is bool:
            return bool(answer)
        if not isinstance(answer, kinds):
            raise _Failure(f"the server's {name} option returned {answer!r}")
        return answer

    async def _call_then_reply(self, conn: _Connection, index: int, request: Request, later: _Later) -> None:
        try:
            reply = {"id": request.id, "result": await self._call(request)}
        except _Failure as failure:
            reply = _error_reply(request.id, failure)
        except asyncio.CancelledError:
            self._update(index, outcome=UNANSWERED)
            raise
        await self._reply(conn, index, reply, later)

    async def _call(self, request: Request) -> Any:
        method, params = request.method, request.params
        if method == "echo":
            return params
        if method == "add":
            if not isinstance(params, list) or not all(_is_number(x) for x in params):
                raise _Failure("add needs params that are a list of numbers")
            total = sum(params)
            if not math.isfinite(total):
                raise _Failure("add: the sum is too large for JSON")
            return total
        if method == "sleep":
            seconds = params.get("seconds") if isinstance(params, dict) else None
            if not _is_number(seconds) or not 0 <= seconds <= self.max_wait:
                raise _Failure(f'sleep needs params {{"seconds": 0 to {self.max_wait:g}, "result": any}}')
            await asyncio.sleep(seconds)
            return params.get("result")
        if method == "fail":
            raise _Failure(params if isinstance(params, str) else json.dumps(params))
        raise _Failure(f"unknown method {method!r}: this server knows {', '.join(METHODS)}")

    async def _reply(self, conn: _Connection, index: int, reply: dict, later: _Later | float) -> None:
        if not isinstance(later, _Later):
            later = _Later(later)
        error = reply["error"]["message"] if "error" in reply else None
        left = False

        def leaving() -> None:
            nonlocal left
            left = True
            self._update(index, replied=self._now(), outcome=RESULT if error is None else ERROR, error=error)

        try:
            if later.delay:
                await asyncio.sleep(later.delay)
            if later.hold is not None:
                await self._wait_for(later.hold)
            for message in later.strays:
                await conn.send(message)
            await conn.send(reply, leaving)
        except asyncio.CancelledError:
            if not left:
                self._update(index, outcome=UNANSWERED)
            raise
        except (OSError, asyncio.TimeoutError):
            if not left:  # once written, the reply has left even if the client then stops reading
                self._update(index, outcome=UNANSWERED)


    async def _wait_for(self, event: threading.Event) -> None:
        """Until another thread sets ``event``, at most ``max_wait`` seconds."""
        deadline = time.monotonic() + self.max_wait
        while not event.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(_HOLD_POLL)


@dataclass(frozen=True)
class _Later:
    """What happens between answering a request and sending its reply."""

    delay: float = 0.0
    hold: threading.Event | None = None
    strays: tuple[dict, ...] = ()


class _Connection:
    """One client's stream: its number, its writer, and the tasks answering its requests."""

    def __init__(self, number: int, writer: asyncio.StreamWriter) -> None:
        self.number = number
        self.writer = writer
        self.tasks: set[asyncio.Task] = set()
        self._sending = asyncio.Lock()  # one reply at a time, so two replies never interleave

    async def send(self, message: dict, leaving: Callable[[], None] = lambda: None) -> None:
        """Send one reply; ``leaving()`` runs just before it goes, so the log has it before the client can."""
        data = (json.dumps(message, allow_nan=False) + "\n").encode()
        async with self._sending:
            if self.writer.is_closing():
                raise ConnectionResetError("the connection is closing")
            leaving()
            self.writer.write(data)
            try:
                await asyncio.wait_for(self.writer.drain(), _DRAIN_TIMEOUT)
            except asyncio.TimeoutError:
                self.writer.transport.abort()  # the client stopped reading; nobody else may wait on it
                raise

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), _CLOSE_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
            self.writer.transport.abort()


def _parse(line: bytes) -> tuple[dict | None, str | None, int | None]:
    """The request on a line, or what is wrong with it; and the id to answer it with."""
    try:
        message = json.loads(line, parse_constant=_refuse_constant)
    except ValueError as exc:  # also bad UTF-8, and NaN or Infinity, which are not JSON
        return None, f"parse error: the line is not JSON ({exc})", None
    if not isinstance(message, dict):
        return None, f"invalid request: expected a JSON object, got {type(message).__name__}", None
    request_id = message.get("id")
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        return None, "invalid request: 'id' must be an integer", None
    if not isinstance(message.get("method"), str):
        return None, "invalid request: 'method' must be a string", request_id
    return message, None, request_id


def _encodable(message: dict) -> bool:
    try:
        json.dumps(message, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _error_reply(request_id: int | None, message: object) -> dict:
    return {"id": request_id, "error": {"message": str(message)}}


async def _skip_rest_of_line(reader: asyncio.StreamReader, consumed: int) -> bool:
    """Throw away a line longer than the limit, up to its newline; False if the stream ended first.

    asyncio leaves the bytes it looked at in the buffer, ``consumed`` of them and none a newline, so
    reading exactly those and trying again walks through the line without ever holding all of it.
    """
    while True:
        await reader.readexactly(consumed)
        try:
            await reader.readuntil(b"\n")
            return True
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed
        except asyncio.IncompleteReadError:
            return False


def _check_listening(sock: socket.socket) -> None:
    if not isinstance(sock, socket.socket) or sock.family not in (socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"sock must be a TCP socket, got {sock!r}")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("sock must be a TCP (SOCK_STREAM) socket")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise ValueError("sock must already be listening: call sock.listen() before handing it over")
