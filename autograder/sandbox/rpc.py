"""A symmetric object-RPC channel between the judge (trusted) and the sandbox (student code).

Why this exists: stock nbgrader runs hidden tests in the student's own kernel, where student code can
patch the checker, ``pytest``, builtins, or hand back objects whose ``__eq__`` is always true. Here the
student's code runs in a separate process and the hidden tests run in ours; the two talk only through
this channel, which carries JSON. The judge therefore only ever sees plain data (str, int, float,
bool, None, bytes, and lists, tuples, dicts and sets of them) or opaque references it can call but
never compare by value.

Objects that are not plain data travel by reference: the owner keeps the object in an export table
and sends a handle; the receiver gets a proxy whose attribute access and calls go back over the
channel. A reference that returns to its owner resolves to the original object, so an exception the
judge raised inside a callback comes back as *that same* exception object when student code lets it
propagate. Exception classes and instances are mirrored as real local exception types, so
``pytest.raises(impl.CircuitOpenError)`` and ``except failure_exceptions`` work on both sides.

This module is stdlib-only: it is copied into the sandbox, which must not import the autograder.
"""
from __future__ import annotations

import base64
import builtins
import collections
import hashlib
import itertools
import json
import os
import queue
import random
import socket
import struct
import threading
import time
import traceback
import types

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 1_000_000
_HEADER = struct.Struct("!I")
CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


class ChannelClosed(ConnectionError):
    """The other side went away (it exited, crashed or was killed)."""


class RemoteTimeout(TimeoutError):
    """The other side did not answer in time."""


class ProtocolError(RuntimeError):
    """The other side sent something that is not a valid message."""


def _marker_for(bases: tuple) -> tuple:
    """``RemoteException`` as a first base, unless a base is a mirror already (a chain such as
    sqlite3's ProgrammingError -> DatabaseError -> Error): listing it again would leave no
    consistent method resolution order."""
    return () if any(issubclass(base, RemoteException) for base in bases) else (RemoteException,)


class RemoteException(Exception):
    """Marker base of mirrored exception types whose class was defined on the other side."""

    _peer = None
    _handle = None
    _remote_str = ""

    def __str__(self) -> str:  # the message as the other side would print it
        return self._remote_str or super().__str__()

    def __getattr__(self, name):
        # Attributes the remote exception carries (e.g. SagaFailed.failed_step) are read on demand.
        if name.startswith("_") or self._peer is None:
            raise AttributeError(name)
        return self._peer.request("getattr", obj=self._handle, name=name)


def _is_builtin_type(cls) -> bool:
    return isinstance(cls, type) and getattr(builtins, cls.__name__, None) is cls


class Peer:
    """One end of the channel.

    ``side`` names this end ("judge" or "sandbox"). ``restricted`` limits what the other side may do
    with the objects this end exports: read public attributes and call, never an attribute whose
    name starts with an underscore, and never change them (set or delete an attribute or an item).
    The judge runs restricted, so student code holding a judge callback cannot walk to its globals,
    and student code handed the grader's clock cannot move the grader's time.
    """

    def __init__(self, sock: socket.socket, side: str, *, restricted: bool, default_timeout=None):
        self.sock = sock
        self.side = side
        self.restricted = restricted
        self.default_timeout = default_timeout
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, list] = {}
        self._pending_lock = threading.Lock()
        self._exports: dict[int, object] = {}
        self._export_ids: dict[int, int] = {}
        self._export_lock = threading.Lock()
        self._mirrors: dict[tuple, type] = {}  # (owner, handle) -> local mirror exception class
        self._mirror_origin: dict[type, tuple] = {}
        self._mirror_instances: dict[int, tuple] = {}  # id(exc) -> (owner, handle); keeps exc alive
        self.closed = threading.Event()
        self.on_message = None  # hook for non-RPC messages (e.g. load progress)
        self.on_timeout = None  # hook called when the other side does not answer in time
        # What a restricted end refused the other side: student code may swallow the error it
        # got, so the judge reads these to say in the feedback what was refused. ``refused``
        # counts every refusal; ``refusals`` keeps the latest ones as (number, message).
        self.refused = 0
        # Round trips, for the grading profile: requests this end sent, and requests it served.
        self.sent = 0
        self.served = 0
        self.refusals: collections.deque = collections.deque(maxlen=100)
        self._refusal_lock = threading.Lock()
        # Requests are served by a pool of worker threads that grows when all are busy: a request
        # may wait on a callback to the other side, which needs a free worker there and here.
        self._work = queue.SimpleQueue()
        self._idle_workers = 0
        self._idle_lock = threading.Lock()
        # Each thread of the other side that sends requests gets its own thread here (its lane),
        # so consecutive calls from one thread run on one thread, as they would in one process:
        # an sqlite3 connection made in one call is usable in the next. Concurrent callers still
        # run concurrently; a request whose lane is busy (a nested callback) goes to the pool.
        self._lanes: dict[int, _Lane] = {}
        self._reader = threading.Thread(target=self._read_loop, name=f"rpc-reader-{side}", daemon=True)

    # -- transport -------------------------------------------------------------------------------
    def start(self) -> "Peer":
        self._reader.start()
        return self

    def send(self, message: dict) -> None:
        data = json.dumps(message, separators=(",", ":")).encode()
        if len(data) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message of {len(data)} bytes is over the limit")
        # Sockets travel as file descriptors beside the bytes (SCM_RIGHTS), in the order their tags
        # appear in the message: a test's server connection becomes a real socket in the sandbox.
        fds = _socket_fds(message) if b'"$":"socket"' in data else []
        with self._send_lock:
            try:
                if fds:
                    header = _HEADER.pack(len(data))
                    socket.send_fds(self.sock, [header], fds)
                    self.sock.sendall(data)
                else:
                    self.sock.sendall(_HEADER.pack(len(data)) + data)
            except OSError as exc:
                raise ChannelClosed(str(exc)) from None

    def _recv_exact(self, n: int, fds: list) -> bytes:
        chunks = []
        while n:
            chunk, received, _, _ = socket.recv_fds(self.sock, min(n, 1 << 20), 16)
            fds.extend(received)
            if not chunk:
                raise ChannelClosed("the other side closed the channel")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_loop(self) -> None:
        try:
            while True:
                fds: list[int] = []
                (size,) = _HEADER.unpack(self._recv_exact(_HEADER.size, fds))
                if size > MAX_MESSAGE_BYTES:
                    raise ProtocolError(f"message of {size} bytes is over the limit")
                message = json.loads(self._recv_exact(size, fds))
                if not isinstance(message, dict):
                    raise ProtocolError("message is not an object")
                if fds:
                    _attach_fds(message, fds)
                kind = message.get("op")
                if kind == "req":
                    self._dispatch(message)
                elif kind in ("ok", "err"):
                    with self._pending_lock:
                        slot = self._pending.get(message.get("id"))
                    if slot is not None:
                        slot[1] = message
                        slot[0].set()
                elif kind == "tick":  # a batch still making progress: its wait starts again
                    with self._pending_lock:
                        slot = self._pending.get(message.get("id"))
                    if slot is not None:
                        slot[2] = time.monotonic()
                elif self.on_message is not None:
                    self.on_message(message)
        except (ChannelClosed, ProtocolError, OSError, ValueError, struct.error):
            pass
        finally:
            self.closed.set()
            with self._pending_lock:
                for slot in self._pending.values():
                    slot[0].set()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # -- requests --------------------------------------------------------------------------------
    def request(self, kind: str, timeout=None, *, longest=None, raw=False, **fields):
        """Ask the other side to do something with one of its objects; wait for the answer.

        ``timeout`` (default: the peer's) bounds the silence: a batch that reports progress
        ("tick") gets ``timeout`` again from each report, up to ``longest`` seconds in all.
        ``raw``: the answer is a list left in wire form (a batch's items, decoded one by one)."""
        if self.closed.is_set():
            raise ChannelClosed("the other side has gone away")
        request_id = next(self._ids)
        slot = [threading.Event(), None, None]  # answered, the answer, the latest progress report
        with self._pending_lock:
            self._pending[request_id] = slot
            self.sent += 1
        try:
            self.send({"op": "req", "id": request_id, "kind": kind, "lane": threading.get_ident(),
                       **fields})
            wait = self.default_timeout if timeout is None else timeout
            began = time.monotonic()
            patience = wait
            while not slot[0].wait(patience):
                now = time.monotonic()
                if slot[2] is not None and longest is not None and now - began < longest:
                    patience = min(wait - (now - slot[2]), longest - (now - began))
                    if patience > 0:
                        continue
                if self.on_timeout is not None:
                    self.on_timeout(wait)
                raise RemoteTimeout(f"no answer within {wait:g} s")
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        reply = slot[1]
        if reply is None:
            raise ChannelClosed("the other side has gone away")
        if reply["op"] == "ok":
            if raw:
                value = reply.get("value")
                return value.get("v") if isinstance(value, dict) and value.get("$") == "list" else None
            return self.decode(reply.get("value"))
        raise self._decode_exception(reply.get("error"))

    def _dispatch(self, message: dict) -> None:
        lane_id = message.get("lane")
        with self._idle_lock:
            self.served += 1
            lane = self._lanes.get(lane_id) if type(lane_id) is int else None
            if lane is not None and not lane.busy:
                lane.busy = True
                lane.inbox.put(message)
                return
            if lane is None and type(lane_id) is int and len(self._lanes) < MAX_LANES:
                lane = self._lanes[lane_id] = _Lane()
                threading.Thread(target=self._lane_worker, args=(lane_id, lane, message),
                                 name=f"rpc-lane-{self.side}", daemon=True).start()
                return
            spawn = self._idle_workers == 0
            if not spawn:
                self._idle_workers -= 1
        if spawn:
            threading.Thread(target=self._worker, args=(message,), name=f"rpc-worker-{self.side}",
                             daemon=True).start()
        else:
            self._work.put(message)

    def _lane_worker(self, lane_id: int, lane: "_Lane", message: dict) -> None:
        while True:
            reply = self._answer(message)
            with self._idle_lock:  # free before the answer leaves: the caller's next request is ours
                lane.busy = False
            self._reply(reply)
            try:
                message = lane.inbox.get(timeout=LANE_IDLE_SECONDS)
                continue
            except queue.Empty:
                pass
            with self._idle_lock:
                if not lane.busy:  # nothing was handed over meanwhile: this lane ends
                    self._lanes.pop(lane_id, None)
                    return
            message = lane.inbox.get()

    def _worker(self, message: dict) -> None:
        while True:
            self._serve(message)
            with self._idle_lock:
                self._idle_workers += 1
            message = self._work.get()

    def _serve(self, message: dict) -> None:
        self._reply(self._answer(message))

    def _answer(self, message: dict) -> dict:
        request_id = message.get("id")
        try:
            value = self._perform(message)
            handed_over = value if isinstance(value, HandOver) else None
            if handed_over is not None:
                value = handed_over.sock
            wire = value.wire if isinstance(value, _Encoded) else self.encode(value)
            reply = {"op": "ok", "id": request_id, "value": wire}
            if handed_over is not None:
                reply[_HANDED_OVER] = handed_over.sock  # closed here once the reply has left
            return reply
        except BaseException as exc:  # everything the other side caused goes back to it
            if isinstance(exc, (SystemExit, KeyboardInterrupt)) and self.side == "judge":
                exc = RuntimeError(f"{type(exc).__name__} refused")
            return {"op": "err", "id": request_id, "error": self._encode_exception(exc)}

    def _reply(self, reply: dict) -> None:
        handed_over = reply.pop(_HANDED_OVER, None)
        try:
            self.send(reply)
        except (ChannelClosed, ProtocolError):
            pass
        finally:
            if handed_over is not None:
                handed_over.close()

    def _perform(self, message: dict):
        handler = (_GUARDED if self.restricted else _SANDBOX).get(message.get("kind"))
        if handler is None:
            raise ProtocolError(f"unknown request {message.get('kind')!r}")
        if message.get("kind") in _UNBOUND:
            return handler(self, None, message)
        return handler(self, self._lookup(message.get("obj")), message)

    def _refuse(self, error: Exception) -> Exception:
        """Keep what the other side was refused, for the report, and return the error to send."""
        with self._refusal_lock:
            self.refused += 1
            self.refusals.append((self.refused, str(error)))
        return error

    def refusals_after(self, number: int) -> list[str]:
        """The distinct messages of the refusals counted after ``number`` (the latest ones)."""
        with self._refusal_lock:
            return list(dict.fromkeys(text for n, text in self.refusals if n > number))

    def _checked_name(self, name) -> str:
        if not isinstance(name, str):
            raise ProtocolError("attribute name must be a string")
        if self.restricted and name.startswith("_"):
            raise AttributeError(f"attribute {name!r} is not available here")
        return name

    def _lookup(self, handle):
        try:
            return self._exports[handle]
        except (KeyError, TypeError):
            raise ProtocolError(f"unknown object handle {handle!r}") from None

    # -- encoding --------------------------------------------------------------------------------
    def _export(self, obj) -> int:
        with self._export_lock:
            handle = self._export_ids.get(id(obj))
            if handle is None or self._exports.get(handle) is not obj:
                handle = len(self._exports) + 1
                self._exports[handle] = obj
                self._export_ids[id(obj)] = handle
            return handle

    def encode(self, value, depth: int = 0):
        if depth > 100:
            raise ValueError("value nested too deeply to send")
        if value is None or isinstance(value, bool):
            return value if value is None else bool(value)
        if isinstance(value, int):
            return int.__index__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, (bytes, bytearray)):
            return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode()}
        if isinstance(value, (list, tuple, set, frozenset)) and not isinstance(value, BaseException):
            kind = ("tuple" if isinstance(value, tuple) else "set" if isinstance(value, set)
                    else "frozenset" if isinstance(value, frozenset) else "list")
            items = list(itertools.islice(iter(value), MAX_ITEMS))
            return {"$": kind, "v": [self.encode(item, depth + 1) for item in items]}
        if isinstance(value, dict):
            pairs = list(itertools.islice(value.items(), MAX_ITEMS))
            return {"$": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in pairs]}
        if isinstance(value, BaseException):
            return self._encode_exception(value)
        if isinstance(value, socket.socket):
            return {"$": "socket", "fd": value.fileno()}
        if isinstance(value, type) and issubclass(value, BaseException):
            return self._encode_exception_class(value)
        if _is_builtin_type(value):
            return {"$": "builtin", "name": value.__name__}
        origin = self._origin_of(value)
        if origin is not None:
            return {"$": "ref", "owner": origin[0], "h": origin[1]}
        return {"$": "ref", "owner": self.side, "h": self._export(value),
                "type": type(value).__name__, "callable": callable(value)}

    def _origin_of(self, value):
        if isinstance(value, Proxy):
            return (value._owner, value._handle)
        return None

    def _encode_exception_class(self, cls):
        if _is_builtin_type(cls):
            return {"$": "builtin", "name": cls.__name__}
        if cls in self._mirror_origin:
            owner, handle = self._mirror_origin[cls]
            return {"$": "excclass", "owner": owner, "h": handle}
        bases = [b for b in cls.__bases__ if b is not RemoteException]
        return {"$": "excclass", "owner": self.side, "h": self._export(cls), "name": cls.__name__,
                "bases": [self._encode_exception_class(b) for b in bases
                          if isinstance(b, type) and issubclass(b, BaseException)]}

    def _encode_exception(self, exc: BaseException):
        origin = self._mirror_instances.get(id(exc))
        if origin is not None and origin[2] is exc:
            return {"$": "exc", "owner": origin[0], "h": origin[1]}
        try:
            args = [self.encode(a) for a in exc.args]
        except Exception:
            args = [str(a)[:2000] for a in exc.args]
        try:
            text = str(exc)[:5000]
        except Exception:
            text = f"<{type(exc).__name__} that cannot be printed>"
        record = {"$": "exc", "owner": self.side, "h": self._export(exc),
                  "cls": self._encode_exception_class(type(exc)), "args": args, "str": text}
        if self.side == "sandbox":
            record["tb"] = format_student_traceback(exc)
        return record

    def decode(self, value, plain: bool = False):
        """``plain``: accept plain data only; anything else (a reference to an object of the other
        side, an exception, a type, a socket) raises ``NotPlainData``."""
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list) and not plain:  # only inside tagged containers
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            raise ProtocolError("unexpected value")
        tag = value.get("$")
        if tag in CONTAINERS:
            return CONTAINERS[tag](self.decode(v, plain) for v in value.get("v", []))
        if tag == "dict":
            return {self.decode(k, plain): self.decode(v, plain) for k, v in value.get("v", [])}
        if tag == "bytes":
            return base64.b64decode(value.get("v", ""))
        if plain:
            kind = value.get("type") or value.get("name") or tag
            raise NotPlainData(f"returned a {kind} object where plain data (numbers, strings, "
                               "bytes, lists, tuples, dicts, sets) was expected")
        if tag == "socket":
            if not isinstance(value.get("local_fd"), int):
                raise ProtocolError("a socket arrived without its file descriptor")
            return socket.socket(fileno=value["local_fd"])
        if tag == "builtin":
            found = getattr(builtins, str(value.get("name")), None)
            if not isinstance(found, type):
                raise ProtocolError(f"unknown builtin {value.get('name')!r}")
            return found
        if tag == "ref":
            if value.get("owner") == self.side:
                return self._lookup(value.get("h"))
            return Proxy(self, value.get("owner"), value.get("h"), str(value.get("type", "object")),
                         bool(value.get("callable")))
        if tag == "excclass":
            return self._decode_exception_class(value)
        if tag == "exc":
            return self._decode_exception(value)
        raise ProtocolError(f"unknown tag {tag!r}")

    def _decode_item(self, item) -> "Outcome":
        """One item of a batch's answer: plain data, or the exception that call raised."""
        if not isinstance(item, dict) or not ({"ok", "err"} & item.keys()):
            raise ProtocolError("malformed batch item")
        if "err" in item:
            return Outcome(error=self._decode_exception(item["err"]))
        try:
            return Outcome(self.decode(item["ok"], plain=True))
        except NotPlainData as exc:
            return Outcome(error=exc)

    def new(self, factory: str, *args):
        """An object made by one of ``FACTORIES`` on the other side (the sandbox), as a proxy:
        e.g. a seeded ``random.Random`` whose draws need no round trip."""
        return self.request("new", factory=factory, args=[self.encode(a) for a in args])

    def _decode_exception_class(self, value) -> type:
        if value.get("$") == "builtin":
            return self.decode(value)
        owner, handle = value.get("owner"), value.get("h")
        if owner == self.side:
            return self._lookup(handle)
        key = (owner, handle)
        cls = self._mirrors.get(key)
        if cls is None:
            bases = tuple(self._decode_exception_class(b) for b in value.get("bases", [])) or (Exception,)
            name = str(value.get("name", "RemoteError"))
            try:
                cls = type(name, (*_marker_for(bases), *bases), {})
            except TypeError:  # incompatible layouts: keep the first base only
                cls = type(name, (*_marker_for(bases[:1]), bases[0]), {})
            self._mirrors[key] = cls
            self._mirror_origin[cls] = key
        return cls

    def _decode_exception(self, value) -> BaseException:
        if not isinstance(value, dict):
            return ProtocolError("malformed exception")
        owner, handle = value.get("owner"), value.get("h")
        if owner == self.side:
            return self._lookup(handle)
        cls = self._decode_exception_class(value.get("cls", {"$": "builtin", "name": "Exception"}))
        args = [self.decode(a) for a in value.get("args", [])]
        try:
            exc = cls(*args)
        except Exception:
            exc = cls.__new__(cls)
            exc.args = tuple(args)
        if isinstance(exc, RemoteException):
            exc._peer, exc._handle, exc._remote_str = self, handle, str(value.get("str", ""))
        try:
            exc.remote_traceback = [str(line) for line in value.get("tb", [])][:200]
        except Exception:
            pass
        self._mirror_instances[id(exc)] = (owner, handle, exc)
        return exc


def _describe(obj) -> str:
    """How a student would name one of the judge's objects they were handed."""
    if isinstance(obj, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return f"the function `{getattr(obj, '__name__', 'function')}`"
    if isinstance(obj, type):
        return f"the class `{obj.__name__}`"
    return f"the {type(obj).__name__} object"


def _getattr(peer, obj, message):
    name = peer._checked_name(message.get("name"))
    try:
        return getattr(obj, name)
    except AttributeError:
        if not peer.restricted or isinstance(obj, BaseException) \
                or isinstance(obj, type) and issubclass(obj, BaseException):
            raise  # e.g. `getattr(error, "status", None)`: an ordinary question, not a reach
        raise peer._refuse(AttributeError(
            f"{_describe(obj)} you were given has no attribute `{name}`: your code is handed "
            "only what the contract names")) from None


def _setattr(peer, obj, message):
    setattr(obj, peer._checked_name(message.get("name")), peer.decode(message.get("value")))


def _setitem(peer, obj, message):
    obj[peer.decode(message.get("key"))] = peer.decode(message.get("value"))


def _delitem(peer, obj, message):
    del obj[peer.decode(message.get("key"))]


def _refuse_setattr(peer, obj, message):
    name = str(message.get("name"))[:100]
    raise peer._refuse(AttributeError(
        f"the grader's objects are read-only: setting `{name}` on {_describe(obj)} you were given "
        "was refused"))


def _refuse_item(verb):
    def refuse(peer, obj, message):
        key = message.get("key")
        which = f"[{key!r}]" if key is None or isinstance(key, (bool, int, float, str)) else "an item"
        raise peer._refuse(TypeError(f"the grader's objects are read-only: {verb} {which} of "
                                     f"{_describe(obj)} you were given was refused"))
    return refuse


def _call(peer, obj, message):
    args = [peer.decode(a) for a in message.get("args", [])]
    kwargs = {str(k): peer.decode(v) for k, v in message.get("kwargs", {}).items()}
    return obj(*args, **kwargs)


# What each side serves, by request kind: one entry per kind that Proxy or RemoteException sends.
# A restricted end (the judge) serves reads and calls; a request to change one of its objects is
# refused with a message the student can read, and kept in ``Peer.refusals``.
_SERVED = {
    "getattr": _getattr,
    "call": _call,
    "len": lambda peer, obj, message: len(obj),
    "bool": lambda peer, obj, message: bool(obj),
    "contains": lambda peer, obj, message: peer.decode(message.get("value")) in obj,
    "getitem": lambda peer, obj, message: obj[peer.decode(message.get("key"))],
    "iter": lambda peer, obj, message: list(itertools.islice(iter(obj), MAX_ITEMS)),
    "setattr": _setattr,
    "setitem": _setitem,
    "delitem": _delitem,
}


def _setitem_if_accepted(peer, obj, message):
    """An item set on a judge's object whose contract is to be written with ``obj[key] = value``
    (a store that a write-through cache writes): its class says ``_rpc_accepts_items = True``.
    Every other judge object stays read-only, so student code cannot rewrite what grades it."""
    if getattr(type(obj), "_rpc_accepts_items", False) is True:
        return _setitem(peer, obj, message)
    return _refuse_item("setting")(peer, obj, message)


_GUARDED = {**_SERVED, "setattr": _refuse_setattr, "setitem": _setitem_if_accepted,
            "delitem": _refuse_item("deleting")}


# -- batches ---------------------------------------------------------------------------------
# Served by the sandbox only, for the judge's property checks that call the student's code many
# times with plain data: one round trip for the lot instead of one per call.
TICK_SECONDS = 0.25  # how often a running batch says it is still making progress


def md5_hash(text: str) -> int:
    """The first 8 bytes of MD5 of ``text`` (UTF-8) as a big-endian int: a hash that is the same in
    every process (built-in ``hash`` of a str is not), for suites that need a known ``hash_fn``."""
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "big")


STABLE_HASHES = {"md5": md5_hash}


class HandOver:
    """A socket this side gives away: it leaves as a file descriptor with the reply, and this
    side's copy is closed once the reply has gone, so nothing here can use it afterwards."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket):
        self.sock = sock


_HANDED_OVER = "handed_over"  # the reply's key for it, taken out before the reply is encoded


def loopback_listener() -> HandOver:
    """A listening TCP socket on 127.0.0.1 of this process's network: in a sandbox, its own
    namespace, which nothing on the host can reach. A suite's server accepts on it (in the judge)
    and the student's code connects to its port, so that server is on no network but the sandbox's."""
    return HandOver(socket.create_server(("127.0.0.1", 0), backlog=128))


def _event_loop():
    if __package__:
        from .event_loop import EventLoopThread
    else:  # in a sandbox, copied beside the runner and this module
        from event_loop import EventLoopThread
    return EventLoopThread()


# What the judge may make in the student's process.
FACTORIES = {"random": random.Random, "hash": STABLE_HASHES.__getitem__,
             "listener": loopback_listener, "event_loop": _event_loop}


def _batch(peer, obj, message):
    """Each call in order; an item is its plain result or the exception it raised."""
    request_id, last_tick, items = message.get("id"), time.monotonic(), []
    for call in message.get("calls", []):
        try:
            handle, args, kwargs = call
            function = peer._lookup(handle)
            args = [peer.decode(a) for a in args]
            kwargs = {str(k): peer.decode(v) for k, v in kwargs.items()}
            items.append({"ok": peer.encode(function(*args, **kwargs))})
        except BaseException as exc:  # noqa: BLE001 - kept per item, as a single call would
            items.append({"err": peer._encode_exception(exc)})
        if time.monotonic() - last_tick >= TICK_SECONDS:
            last_tick = time.monotonic()
            peer.send({"op": "tick", "id": request_id})
    return _Encoded({"$": "list", "v": items})


def _new(peer, obj, message):
    factory = FACTORIES.get(message.get("factory"))
    if factory is None:
        raise ProtocolError(f"unknown factory {message.get('factory')!r}")
    return factory(*[peer.decode(a) for a in message.get("args", [])])


class _Encoded:
    """A reply already in wire form (a batch encodes each item itself, exceptions included)."""

    __slots__ = ("wire",)

    def __init__(self, wire):
        self.wire = wire


_UNBOUND = {"batch", "new"}  # kinds that name no object of the receiver's
_SANDBOX = {**_SERVED, "batch": _batch, "new": _new}


# A lane ends when its thread on the other side has sent nothing for this long (threads of thread
# tests come and go); at most this many lanes at once (the sandbox's thread limit stays for the
# student's own threads; beyond it, requests go to the shared pool).
LANE_IDLE_SECONDS = 10.0
MAX_LANES = 48


class _Lane:
    __slots__ = ("busy", "inbox")

    def __init__(self):
        self.busy = True
        self.inbox = queue.SimpleQueue()


class NotPlainData(TypeError):
    """A batch item came back as something other than plain data."""


class Outcome:
    """What one call of a batch did: returned ``value``, or raised ``error``."""

    __slots__ = ("value", "error")

    def __init__(self, value=None, error: BaseException | None = None):
        self.value, self.error = value, error

    @property
    def raised(self) -> bool:
        return self.error is not None

    def result(self):
        """The value, or the exception raised again (as a single call would have)."""
        if self.error is not None:
            raise self.error
        return self.value

    def __repr__(self):
        return f"Outcome(raised {self.error!r})" if self.raised else f"Outcome({self.value!r})"


def call_each(calls, *, timeout=None) -> list[Outcome]:
    """Run ``calls`` - ``(function, args)`` or ``(function, args, kwargs)``, each function a proxy
    of the other side - in one round trip, in order. Same guarantees as one call at a time:
    arguments and results travel as plain data (a result that is anything else becomes a
    ``NotPlainData`` error for that item, so nothing is ever compared by the other side's
    ``__eq__``), an exception stays with its item, and each call gets ``timeout`` seconds (the
    peer's call limit by default). Functions given here that are not proxies run here, the same way."""
    calls = [(c[0], tuple(c[1]) if len(c) > 1 else (), dict(c[2]) if len(c) > 2 else {})
             for c in calls]
    remote = [c for c in calls if isinstance(c[0], Proxy)]
    if not remote:
        return [_local(function, args, kwargs) for function, args, kwargs in calls]
    peer = remote[0][0]._peer
    if len(remote) != len(calls) or any(c[0]._peer is not peer for c in remote):
        raise ValueError("call_each: every function of a batch must come from the same other side")
    wire = [[function._handle, [peer.encode(a) for a in args],
             {k: peer.encode(v) for k, v in kwargs.items()}] for function, args, kwargs in calls]
    per_call = peer.default_timeout if timeout is None else timeout
    items = peer.request("batch", timeout=per_call, calls=wire, raw=True,
                         longest=None if per_call is None else per_call * max(1, len(calls)))
    if not isinstance(items, list) or len(items) != len(calls):
        raise ProtocolError("a batch came back with the wrong number of items")
    return [peer._decode_item(item) for item in items]


def _local(function, args, kwargs) -> Outcome:
    try:
        return Outcome(function(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001
        return Outcome(error=exc)


def _walk_socket_tags(value, visit) -> None:
    if isinstance(value, dict):
        if value.get("$") == "socket":
            visit(value)
            return
        for item in value.values():
            _walk_socket_tags(item, visit)
    elif isinstance(value, list):
        for item in value:
            _walk_socket_tags(item, visit)


def _socket_fds(message: dict) -> list[int]:
    fds: list[int] = []
    _walk_socket_tags(message, lambda tag: fds.append(tag["fd"]))
    return fds


def _attach_fds(message: dict, fds: list[int]) -> None:
    queue_ = list(fds)

    def attach(tag):
        tag["local_fd"] = queue_.pop(0) if queue_ else None
    _walk_socket_tags(message, attach)
    for extra in queue_:  # descriptors nobody asked for are closed, not leaked
        os.close(extra)


class Proxy:
    """A local stand-in for an object that lives on the other side of the channel.

    Equality and hashing are by identity of the remote object: a proxy never asks the other side
    whether two things are equal, so a student object cannot claim to equal whatever it is compared
    with.
    """

    __slots__ = ("_peer", "_owner", "_handle", "_type_name", "_callable")

    def __init__(self, peer, owner, handle, type_name, is_callable):
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_callable", is_callable)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._peer.request("getattr", obj=self._handle, name=name)

    def __setattr__(self, name, value):
        self._peer.request("setattr", obj=self._handle, name=name, value=self._peer.encode(value))

    def __call__(self, *args, **kwargs):
        return self._peer.request("call", obj=self._handle,
                                  args=[self._peer.encode(a) for a in args],
                                  kwargs={k: self._peer.encode(v) for k, v in kwargs.items()})

    def __len__(self):
        return self._peer.request("len", obj=self._handle)

    def __bool__(self):  # `rng or random.Random()` must ask the object, not its length
        return bool(self._peer.request("bool", obj=self._handle))

    def __contains__(self, item):
        return self._peer.request("contains", obj=self._handle, value=self._peer.encode(item))

    def __getitem__(self, key):
        return self._peer.request("getitem", obj=self._handle, key=self._peer.encode(key))

    def __setitem__(self, key, value):
        self._peer.request("setitem", obj=self._handle, key=self._peer.encode(key),
                           value=self._peer.encode(value))

    def __delitem__(self, key):
        self._peer.request("delitem", obj=self._handle, key=self._peer.encode(key))

    def __iter__(self):
        return iter(self._peer.request("iter", obj=self._handle))

    def __eq__(self, other):
        return isinstance(other, Proxy) and (other._owner, other._handle) == (self._owner, self._handle)

    def __hash__(self):
        return hash((self._owner, self._handle))

    def __repr__(self):
        return f"<{self._type_name} from the {self._owner}>"


def format_student_traceback(exc: BaseException, limit: int = 30) -> list[str]:
    """The traceback lines that point into the student's own code, newest last.

    Frames from the sandbox machinery and the standard library are left out: they are noise to a
    student, and they would tell nothing about what to fix.
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith("<cell") or f.filename.startswith("<your")]
    lines = []
    for frame in frames[-limit:]:
        where = frame.filename.strip("<>")
        lines.append(f"{where}, line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}")
    return lines
