"""Timeouts against real sockets: a server that trickles, and deadlines passed down a chain of calls.

Two lessons about timeouts only convince when they run against a real network stack, so this module
starts tiny TCP servers on 127.0.0.1:

* ``TrickleServer`` answers every connection with the same bytes, in one of three manners: all at
  once, trickled one byte at a time with a gap, or cut short by closing early. A trickle just inside
  the read timeout shows why a per-read timeout is not a bound on the whole response:
  ``trickle_demo`` reads the same trickle once with only a read timeout and once with a total
  deadline as well, and reports what each client went through.
* ``deadline_propagation_demo`` chains client → service A → service B, where each hop passes the
  *remaining* time budget to the next, and records a timeline of who worked when.

Everything here is bounded so that a notebook cell or a test can never hang: servers listen on
loopback only, send at most ``max_bytes`` per connection, accept at most ``max_connections``
connections, stop themselves after ``lifetime`` seconds, and ``close()`` joins every thread they
started. The reading loops are private to the demos; writing a reusable reader with both timeouts
is the exercise.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field

ALL_AT_ONCE = "all at once"
TRICKLE = "trickle"
CLOSE_EARLY = "close early"
MODES = (ALL_AT_ONCE, TRICKLE, CLOSE_EARLY)

COMPLETE = "complete"
EOF_EARLY = "EOF before the end"
READ_TIMED_OUT = "read timeout fired"
DEADLINE_EXCEEDED = "total deadline fired"

_POLL = 0.02  # how often idle server threads look at their stop flag


class TrickleServer:
    """A loopback TCP server that sends one payload to each client that connects, then closes.

    ``mode`` decides how: ``"all at once"`` sends everything in one go; ``"trickle"`` sends one byte,
    waits ``gap`` seconds, sends the next, and so on; ``"close early"`` sends the first
    ``close_after`` bytes and closes, the way a crashing server leaves a response cut short. The
    server reads nothing from its clients. Use it as a context manager, or ``start()`` and
    ``close()``; it also closes by itself ``lifetime`` seconds after starting.
    """

    def __init__(
        self,
        payload: bytes = b"HTTP/1.0 200 OK\r\n\r\nhello",
        *,
        mode: str = ALL_AT_ONCE,
        gap: float = 0.05,
        close_after: int | None = None,
        lifetime: float = 10.0,
        max_bytes: int = 64 * 1024,
        max_connections: int = 32,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not isinstance(payload, bytes) or not 0 < len(payload) <= max_bytes:
            raise ValueError(f"payload must be 1 to {max_bytes} bytes")
        if not 0 <= gap <= 5.0:
            raise ValueError(f"gap must be between 0 and 5 seconds, got {gap!r}")
        if not 0 < lifetime <= 300:
            raise ValueError(f"lifetime must be between 0 and 300 seconds, got {lifetime!r}")
        if close_after is None:
            close_after = len(payload) // 2
        if mode == CLOSE_EARLY and not 0 <= close_after < len(payload):
            raise ValueError(f"close_after must be below the payload size {len(payload)}, got {close_after!r}")
        self.payload = payload
        self.mode = mode
        self.gap = gap
        self.close_after = close_after
        self.lifetime = lifetime
        self.max_connections = max_connections
        self.connections = 0
        self.bytes_sent: list[int] = []  # per connection, in the order they finished
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._stops_at = 0.0

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("the server is not started")
        return self._address

    def start(self) -> TrickleServer:
        if self._listener is not None:
            raise RuntimeError("the server is already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(_POLL)
        self._listener = listener
        self._address = listener.getsockname()
        self._stops_at = time.monotonic() + self.lifetime
        self._spawn(self._accept_loop, "trickle-accept")
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting and sending, and wait (at most ``timeout`` s) for every server thread to end."""
        self._stop.set()
        end = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, end - time.monotonic()))
        if self._listener is not None:
            self._listener.close()

    def live_threads(self) -> int:
        """Server threads still running: zero after ``close()``, which is what the tests check."""
        return sum(thread.is_alive() for thread in self._threads)

    def __enter__(self) -> TrickleServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _stopping(self) -> bool:
        return self._stop.is_set() or time.monotonic() >= self._stops_at

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        try:
            self._accept_until_stopped(self._listener)
        finally:
            self._listener.close()  # later clients are refused at once instead of waiting in the backlog

    def _accept_until_stopped(self, listener: socket.socket) -> None:
        while not self._stopping():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                refused = self.connections > self.max_connections
            if refused:
                conn.close()
                continue
            self._spawn(self._serve, "trickle-send", conn)

    def _serve(self, conn: socket.socket) -> None:
        sent = 0
        try:
            conn.settimeout(1.0)  # a client that stops reading cannot block this thread for long
            if self.mode == ALL_AT_ONCE:
                conn.sendall(self.payload)
                sent = len(self.payload)
            elif self.mode == CLOSE_EARLY:
                conn.sendall(self.payload[: self.close_after])
                sent = self.close_after
            else:
                for index in range(len(self.payload)):
                    if index and self._stop.wait(self.gap):
                        break
                    if self._stopping():
                        break
                    conn.sendall(self.payload[index:index + 1])
                    sent += 1
        except OSError:
            pass  # the client went away: nothing left to do
        finally:
            conn.close()
            with self._lock:
                self.bytes_sent.append(sent)


@dataclass(frozen=True)
class ReadReport:
    """What one client went through: how much it got, how long it took, and what ended the read."""

    server: str
    client: str
    received: int
    expected: int
    elapsed: float
    longest_wait: float
    outcome: str


def trickle_demo(
    *, gap: float = 0.1, read_timeout: float = 0.25, total_timeout: float = 0.8, payload_size: int = 15,
) -> list[ReadReport]:
    """Read from each kind of server with a read timeout only, and with a total deadline as well.

    The trickle sends a byte every ``gap`` seconds, just inside ``read_timeout``: the first client's
    read timeout never fires, so it waits ``(payload_size - 1) * gap`` seconds (for a large response
    that could be hours); the second stops at ``total_timeout``. The other two servers show that the
    deadline costs nothing when the server behaves, and that reading until EOF cannot tell a
    response cut short from a complete one. Takes about ``(payload_size - 1) * gap + total_timeout`` s.
    """
    if not (0 < gap < read_timeout and 0 < total_timeout < (payload_size - 1) * gap):
        raise ValueError(
            "the demo shows nothing unless the gap is inside the read timeout and the trickle outlasts "
            "the total: need 0 < gap < read_timeout and 0 < total_timeout < (payload_size - 1) * gap"
        )
    if (payload_size - 1) * gap > 10.0:
        raise ValueError("keep the trickle under 10 s: (payload_size - 1) * gap is too long")
    payload = bytes(ord("a") + i % 26 for i in range(payload_size))
    plans = [
        (TRICKLE, "read timeout only", None),
        (TRICKLE, "read timeout + total deadline", total_timeout),
        (ALL_AT_ONCE, "read timeout + total deadline", total_timeout),
        (CLOSE_EARLY, "read timeout + total deadline", total_timeout),
    ]
    lifetime = payload_size * gap + 5.0
    reports = []
    for mode, client, total in plans:
        with TrickleServer(payload, mode=mode, gap=gap, lifetime=lifetime) as server:
            with socket.create_connection(server.address, timeout=read_timeout) as sock:
                started = time.monotonic()
                data, outcome, longest = _read_until_eof(sock, read_timeout, total, time.monotonic)
                elapsed = time.monotonic() - started
        if outcome == COMPLETE and len(data) < payload_size:
            outcome = EOF_EARLY
        reports.append(ReadReport(mode, client, len(data), payload_size, elapsed, longest, outcome))
    return reports


def format_reports(reports: list[ReadReport]) -> str:
    """The demo's results as aligned text, for printing in a notebook."""
    lines = [f"{'server':<13}{'client':<32}{'bytes':>8}{'took':>9}{'longest wait':>14}  outcome"]
    for r in reports:
        lines.append(
            f"{r.server:<13}{r.client:<32}{f'{r.received}/{r.expected}':>8}{r.elapsed:>8.2f}s"
            f"{r.longest_wait:>13.2f}s  {r.outcome}"
        )
    return "\n".join(lines)


def _read_until_eof(sock: socket.socket, per_read: float, total: float | None, clock) -> tuple[bytes, str, float]:
    """The demo's reader: every wait is bounded by ``per_read`` and, if given, by what is left of ``total``."""
    chunks: list[bytes] = []
    ends_at = None if total is None else clock() + total
    longest = 0.0
    while True:
        limit, deadline_limits = per_read, False
        if ends_at is not None:
            left = ends_at - clock()
            if left <= 0:
                return b"".join(chunks), DEADLINE_EXCEEDED, longest
            if left < per_read:
                limit, deadline_limits = left, True
        sock.settimeout(limit)
        waited_from = clock()
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            longest = max(longest, clock() - waited_from)
            return b"".join(chunks), DEADLINE_EXCEEDED if deadline_limits else READ_TIMED_OUT, longest
        longest = max(longest, clock() - waited_from)
        if not chunk:
            return b"".join(chunks), COMPLETE, longest
        chunks.append(chunk)


# --- Deadline propagation -------------------------------------------------------------------------

CLIENT, SERVICE_A, SERVICE_B = "client", "service A", "service B"
HOPS = (CLIENT, SERVICE_A, SERVICE_B)


@dataclass(frozen=True)
class Span:
    """One hop's time on the request, in seconds since the client sent it.

    ``budget`` is the time the hop was told it had left (``None`` when nobody told it), and
    ``outcome`` how its part ended.
    """

    hop: str
    start: float
    end: float
    budget: float | None
    outcome: str


@dataclass
class PropagationTrace:
    """The timeline of one request down the chain, with the client's own deadline for reference."""

    propagate: bool
    client_deadline: float
    spans: list[Span] = field(default_factory=list)

    def span(self, hop: str) -> Span:
        return next(s for s in self.spans if s.hop == hop)

    @property
    def busy_after_deadline(self) -> float:
        """How long the services kept at the request after the client's deadline: work nobody will use."""
        ends = [s.end for s in self.spans if s.hop != CLIENT]
        return max(0.0, max(ends, default=0.0) - self.client_deadline)


def deadline_propagation_demo(
    *,
    propagate: bool = True,
    budget: float = 0.6,
    a_work: float = 0.15,
    b_work: float = 0.9,
    default_timeout: float = 2.0,
    margin: float = 0.02,
) -> PropagationTrace:
    """Send one request client → A → B over loopback and record who worked when.

    The client allows ``budget`` seconds. A works ``a_work`` s and then calls B, whose work takes
    ``b_work`` s: too long. With ``propagate`` each hop forwards the time it has left (minus a small
    ``margin`` for the trip back), as gRPC does with its ``grpc-timeout`` header; B stops when the
    budget runs out and everyone answers "deadline exceeded" in time. Without it, A and B only know
    their own ``default_timeout``, and B keeps working for a client that has already gone. The
    budget travels as a duration, not a clock time, because machines do not share a clock.
    """
    if not 0 < budget <= 2.0 or not 0 <= a_work <= 2.0 or not 0 <= b_work <= 2.0:
        raise ValueError("keep budget in (0, 2] s and the work in [0, 2] s so the demo stays short")
    if not 0 < default_timeout <= 5.0:
        raise ValueError("default_timeout must be in (0, 5] s")
    trace = PropagationTrace(propagate=propagate, client_deadline=budget)
    lock = threading.Lock()
    sent_at = time.monotonic()  # reset when the client sends; services only start after that

    def record(hop: str, start: float, budget_seen: float | None, outcome: str) -> None:
        with lock:
            trace.spans.append(Span(hop, start - sent_at, time.monotonic() - sent_at, budget_seen, outcome))

    def service_b(request: dict) -> dict:
        start = time.monotonic()
        seen = request.get("budget")
        limit = seen if seen is not None else default_timeout
        finished = _work(b_work, start + limit)
        record(SERVICE_B, start, seen, "finished" if finished else "stopped: deadline exceeded")
        return {"status": "ok" if finished else "deadline exceeded"}

    with _OneShotService(service_b) as b:
        def service_a(request: dict) -> dict:
            start = time.monotonic()
            seen = request.get("budget")
            ends_at = start + (seen if seen is not None else default_timeout)
            if not _work(a_work, ends_at):
                record(SERVICE_A, start, seen, "stopped: deadline exceeded")
                return {"status": "deadline exceeded"}
            left = ends_at - time.monotonic()
            downstream = {"budget": max(0.0, left - margin)} if propagate else {}
            try:
                reply = _call(b.address, downstream, timeout=max(left, 0.001))
                status = reply["status"]
            except (TimeoutError, OSError, ValueError):
                status = "deadline exceeded"
            record(SERVICE_A, start, seen, "B answered: " + status)
            return {"status": status}

        with _OneShotService(service_a) as a:
            sent_at = time.monotonic()
            try:
                reply = _call(a.address, {"budget": budget} if propagate else {}, timeout=budget)
                outcome = "answer: " + reply["status"]
            except (TimeoutError, OSError, ValueError):
                outcome = "gave up: its own deadline passed"
            record(CLIENT, sent_at, budget, outcome)
    trace.spans.sort(key=lambda s: HOPS.index(s.hop))
    return trace


def _work(seconds: float, ends_at: float) -> bool:
    """Busy for ``seconds`` in small slices, giving up at ``ends_at``; True if the work got done."""
    done_at = time.monotonic() + seconds
    while True:
        now = time.monotonic()
        if now >= done_at:
            return True
        if now >= ends_at:
            return False
        time.sleep(min(0.01, done_at - now, ends_at - now))


def _call(address: tuple[str, int], request: dict, *, timeout: float) -> dict:
    """One JSON line out, one JSON line back, all within ``timeout`` seconds."""
    ends_at = time.monotonic() + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            left = ends_at - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer within the deadline")
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                raise ValueError("connection closed before the answer")
            reply += chunk
    return json.loads(reply)


class _OneShotService:
    """A loopback server that handles exactly one JSON-line request with ``handler``, then ends."""

    def __init__(self, handler, lifetime: float = 10.0) -> None:
        self._handler = handler
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self._listener.settimeout(_POLL)
        self._stop = threading.Event()
        self._stops_at = time.monotonic() + lifetime
        self._thread = threading.Thread(target=self._run, name="deadline-demo-service", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.getsockname()

    def __enter__(self) -> _OneShotService:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        # Stop waiting for a caller that will not come, but let a request being handled finish: the
        # handler is bounded by its own work and timeouts.
        self._stop.set()
        self._thread.join(10.0)
        self._listener.close()

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._stops_at:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(2.0)
                    line = b""
                    while not line.endswith(b"\n") and len(line) < 4096:
                        chunk = conn.recv(4096)
                        if not chunk:
                            return
                        line += chunk
                    reply = self._handler(json.loads(line))
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except (OSError, ValueError):
                    pass  # the caller left, or sent nonsense: this demo has no one to tell
            return
