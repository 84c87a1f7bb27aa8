"""A throw-away ZooKeeper for the course, and a demo of discovery by ephemeral znodes and a children watch.

ZooKeeper ties registration to a *session* rather than to a lease on each key. A client opens a session
with a timeout; its library pings the server every third of it; an *ephemeral* node the client creates
lives exactly as long as the session. Close the session and the node goes at once; let the process die
and the server keeps the session (and the node) until the timeout passes without a ping, then removes
both. So the registry's TTL rule is the session timeout, and the heartbeat is the client library's
ping, which the application never writes. A *children watch* on ``/services/NAME`` fires when an
instance comes or goes; kazoo's ``ChildrenWatch`` re-arms it each time, which keeps a client's copy of the
list current. Sequential nodes (``c-0000000002``) make names unique and record the order of arrival.

``ZooKeeperServer`` runs ZooKeeper 3.8 from Debian's ``zookeeperd`` package (the jars in ``/usr/share/java``;
``zookeeper.jar``'s manifest lists the rest) with the machine's ``java``, standalone, from a ``zoo.cfg`` in a
fresh temporary folder: a free client port on 127.0.0.1, the admin web server off, the ``ruok`` and
``srvr`` four-letter words allowed. It waits until ``srvr`` reports a mode (the server is serving, not
just up) within ``startup_timeout`` seconds, or raises ``ZooKeeperUnavailable`` with its log.
``startup_seconds`` records how long that took (0.2-0.4 s on an idle 2-core machine, about 1 s on a busy
one, in December 2026; etcd took 0.1-0.4 s on the same machine).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dspatterns.discovery.production_timeline import (
    CACHE_ADDED,
    CACHE_REMOVED,
    DEREGISTERED,
    KILLED,
    REGISTERED,
    ServerMissing,
    TimelineEvent,
    TimelineRecorder,
    WatchedCopy,
    discovery_figure,
    first,
    show_demo,
)
from dspatterns.local_server import LocalServer, port_is_open  # noqa: F401 (port_is_open is public here)

DEBIAN_JAR = Path("/usr/share/java/zookeeper.jar")
# Debian ships slf4j without a binding, so ZooKeeper logs nothing; the simple binding sends warnings
# and errors to stderr, which goes to the log that a failed start quotes.
DEBIAN_LOG_BINDING = Path("/usr/share/java/slf4j-simple.jar")
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
INSTALL_HINT = ("ZooKeeper is not installed: `sudo apt-get install zookeeperd` (Debian/Ubuntu, ZooKeeper 3.8, "
                "with a Java runtime) installs it, and `./run lab` run as root installs it too.")
# A small heap, one GC thread and no optimising compiler: this server lives for one demo on a shared machine.
JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
               "-Dzookeeper.admin.enableServer=false", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
CACHE_EVENTS = {"added": CACHE_ADDED, "removed": CACHE_REMOVED}


class ZooKeeperUnavailable(RuntimeError):
    """ZooKeeper could not be started here; the message says why and how to get it."""


def find_java() -> Path:
    found = shutil.which("java") or ("/usr/bin/java" if Path("/usr/bin/java").is_file() else None)
    if not found:
        raise ZooKeeperUnavailable("no `java` on the PATH. " + INSTALL_HINT)
    return Path(found)


def find_zookeeper_jar() -> Path:
    if DEBIAN_JAR.is_file():
        return DEBIAN_JAR
    raise ZooKeeperUnavailable(INSTALL_HINT)


class ZooKeeperServer(LocalServer):
    """A private standalone ZooKeeper: ``with ZooKeeperServer() as zk: client = zk.client(); client.start()``.

    ``tick_ms`` is ZooKeeper's time unit (sessions expire on tick boundaries); 200 ms instead of the
    usual 2 s lets a session time out in 1-2 s for the demo, and the allowed session timeouts are set
    explicitly to 0.4-60 s so that a client asking for one gets it.
    """

    unavailable = ZooKeeperUnavailable
    name = "zookeeper"
    poll_interval = 0.1
    log_characters = 1500
    not_ready = "not serving"

    def __init__(self, *, startup_timeout: float = 20.0, attempts: int = 2, tick_ms: int = 200):
        super().__init__(startup_timeout=startup_timeout, attempts=attempts)
        self.tick_ms = tick_ms

    @property
    def hosts(self) -> str:
        """The connection string kazoo (and zkCli.sh) take."""
        return self._address("with ZooKeeperServer() as zk:")

    def client(self, **options):
        """A ``kazoo.client.KazooClient`` for this server, not yet started (``.start()`` opens the session)."""
        from kazoo.client import KazooClient

        return KazooClient(hosts=self.hosts, **options)

    def stop(self) -> None:
        """Terminate the JVM (kill it if it lingers) and delete the folder with its data and config."""
        super().stop()

    def four_letter_word(self, word: str) -> str:
        """Send ``ruok``, ``srvr``... and return the answer ('' if the server does not answer)."""
        return _four_letter_word(self.port, word)

    def _find_programs(self) -> tuple[Path, Path]:
        return find_java(), find_zookeeper_jar()

    def _failure(self, java: Path, jar: Path) -> str:
        return f"ZooKeeper ({jar}, {java}) did not start"

    def _launch(self, java: Path, jar: Path) -> subprocess.Popen:
        config = self.folder / "zoo.cfg"
        config.write_text("\n".join([
            f"tickTime={self.tick_ms}",
            f"dataDir={self.folder / 'data'}",
            f"clientPort={self.port}",
            f"clientPortAddress={self.host}",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,srvr",
            f"minSessionTimeout={2 * self.tick_ms}",
            "maxSessionTimeout=60000",
            "maxClientCnxns=100",
        ]) + "\n")
        classpath = os.pathsep.join(str(p) for p in (jar, DEBIAN_LOG_BINDING) if p.is_file())
        return subprocess.Popen(
            [str(java), *JVM_OPTIONS, "-cp", classpath, MAIN_CLASS, str(config)],
            stdout=self._open_log(), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder,
        )

    def _ready(self) -> bool:
        """Once ``srvr`` names a mode (``ruok`` says imok before the server takes requests)."""
        return "Mode:" in _four_letter_word(self.port, "srvr")


def _four_letter_word(port: int | None, word: str) -> str:
    if port is None:
        return ""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as connection:
            connection.sendall(word.encode())
            chunks = []
            while chunk := connection.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


# --- a client's copy of the children of a path, kept current by a watch ---------------------------------


class ChildrenWatchCache(WatchedCopy):
    """The children of ``path`` and their data, as this client last heard, kept current by kazoo's ChildrenWatch.

    ``on_change(kind, child, data)`` is called after each change is applied (``"added"`` or ``"removed"``).
    A child that vanishes between the watch firing and its data being read is treated as gone: the next
    watch event will say so anyway.
    """

    def __init__(self, client, path: str, *, on_change: Callable[[str, str, str | None], None] | None = None):
        super().__init__(on_change=on_change)
        self._client = client
        self._path = path
        self._stopped = False

    def start(self) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        self._client.ensure_path(self._path)
        ChildrenWatch(self._client, self._path, self._children_changed)

    def stop(self) -> None:
        """The watch ends the next time it fires (a ChildrenWatch stops when its function returns False)."""
        self._stopped = True

    def _children_changed(self, children: list[str]) -> bool:
        from kazoo.exceptions import NoNodeError

        if self._stopped:
            return False
        current = set(children)
        with self._lock:
            gone = sorted(set(self._entries) - current)
            new = sorted(current - set(self._entries))
        added = {}
        for child in new:
            with contextlib.suppress(NoNodeError):
                added[child] = self._client.get(f"{self._path}/{child}")[0].decode()
        with self._changed:
            for child in gone:
                self._entries.pop(child, None)
            self._entries.update(added)
            self._changed.notify_all()
        for child in gone:
            self._notify("removed", child, None)
        for child, data in added.items():
            self._notify("added", child, data)
        return True

def instance_label(child: str) -> str:
    """``c-0000000002`` -> ``c``: the name an instance chose, without the sequence ZooKeeper appended."""
    return child.rsplit("-", 1)[0]


# --- an instance in its own process, so that it can really die --------------------------------------------

_INSTANCE_SCRIPT = """
import sys
from kazoo.client import KazooClient
hosts, path, address, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
client = KazooClient(hosts=hosts, timeout=timeout)
client.start(timeout=15)
print(client.create(path, address.encode(), ephemeral=True, sequence=True, makepath=True), flush=True)
sys.stdin.read()  # until the parent closes our stdin (a clean exit) or kills us (a crash)
client.stop()
client.close()
"""


class InstanceProcess:
    """An instance as a separate Python process holding its own session; ``kill()`` is a crash (SIGKILL)."""

    def __init__(self, hosts: str, path: str, address: str, *, session_timeout: float):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _INSTANCE_SCRIPT, hosts, path, address, str(session_timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.node = self.process.stdout.readline().strip()
        if not self.node:
            self.kill()
            raise RuntimeError(f"the instance process could not register {path} (exit {self.process.returncode})")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()


# --- the demo --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZooKeeperDemo:
    """The record of one run, the figure drawn from it, and the two numbers it is about."""

    events: list[TimelineEvent]
    figure: object
    session_timeout: float  # as asked for; the server grants it because zoo.cfg allows 2 ticks to 60 s
    silent_for: float  # from the kill to the cache dropping the instance
    goodbye_after: float  # from closing the session to the cache dropping the instance
    startup_seconds: float | None

    def _ipython_display_(self) -> None:
        started = "" if self.startup_seconds is None else f"ZooKeeper started in {self.startup_seconds:.2f} s; "
        show_demo(self.figure, self.events, (
            f"{started}session timeout {self.session_timeout:g} s: c left the cache {self.silent_for:.2f} s after "
            f"its process was killed, a {self.goodbye_after:.2f} s after closing its session"))


def try_zookeeper_ephemeral_demo(session_timeout: float = 2.0, **options) -> ZooKeeperDemo | ServerMissing:
    """``zookeeper_ephemeral_demo(...)``, or what to install when ZooKeeper cannot start: a cell never fails."""
    try:
        return zookeeper_ephemeral_demo(session_timeout, **options)
    except ZooKeeperUnavailable as missing:
        return ServerMissing("ZooKeeper", str(missing))


def zookeeper_ephemeral_demo(session_timeout: float = 2.0, *, service: str = "web",
                             server: ZooKeeperServer | None = None,
                             clock: Callable[[], float] = time.monotonic,
                             sleep: Callable[[float], None] = time.sleep) -> ZooKeeperDemo:
    """a, b and c register as ephemeral sequential znodes; c's process is killed, then a closes its session.

    a and b hold sessions in this process; c runs in its own process so that killing it is a real crash:
    its socket closes but its session, and so its node, lives until ``session_timeout`` passes without a
    ping. All three are left alone for 1.5 session timeouts first: the client library's pings alone keep
    them listed. Each step waits until the cache has seen the previous one. Raises ``ZooKeeperUnavailable``
    when no ZooKeeper can be started.
    """
    from kazoo.client import KazooClient

    limit = session_timeout + 10.0  # generous bound for "the session expired"; the wait ends when it has
    path = f"/services/{service}"
    with contextlib.ExitStack() as stack:
        zookeeper = server if server is not None else stack.enter_context(ZooKeeperServer())
        recorder = TimelineRecorder(clock=clock)
        caller = _started(stack, KazooClient(hosts=zookeeper.hosts, timeout=10.0))

        def cache_changed(kind: str, child: str, _data: str | None) -> None:
            recorder.record(CACHE_EVENTS[kind], instance_label(child))

        cache = ChildrenWatchCache(caller, path, on_change=cache_changed)
        recorder.watch_view(lambda: [instance_label(child) for child in cache.names()])
        stack.enter_context(cache)
        sessions = {}
        for name, address in (("a", "10.0.0.1:8080"), ("b", "10.0.0.2:8080")):
            recorder.record(REGISTERED, name)
            sessions[name] = _started(stack, KazooClient(hosts=zookeeper.hosts, timeout=session_timeout))
            sessions[name].create(f"{path}/{name}-", address.encode(), ephemeral=True, sequence=True, makepath=True)
        recorder.record(REGISTERED, "c")
        crashing = InstanceProcess(zookeeper.hosts, f"{path}/c-", "10.0.0.3:8080", session_timeout=session_timeout)
        stack.callback(crashing.kill)
        listed = lambda wanted: lambda seen: {instance_label(child) for child in seen} == wanted  # noqa: E731
        _expect(cache.wait_until(listed({"a", "b", "c"}), limit), "the cache to list a, b and c")
        sleep(session_timeout * 1.5)  # past the timeout: the library's pings alone keep the sessions alive
        recorder.record(KILLED, "c")
        crashing.kill()
        _expect(cache.wait_until(listed({"a", "b"}), limit), f"c's session ({session_timeout:g} s) to expire")
        sleep(session_timeout / 2)  # only so that the figure shows the two departures apart
        recorder.record(DEREGISTERED, "a")
        sessions["a"].stop()
        _expect(cache.wait_until(listed({"b"}), limit), "a's node to go when its session closed")
        events = recorder.events  # the record ends here: b's session closing on the way out is tidying
    silent_for = first(events, CACHE_REMOVED, "c").time - first(events, KILLED, "c").time
    goodbye_after = first(events, CACHE_REMOVED, "a").time - first(events, DEREGISTERED, "a").time
    figure = discovery_figure(events, title=(
        f"ZooKeeper ephemeral nodes, session timeout {session_timeout:g} s: c's process was killed and it left the "
        f"cache {silent_for:.1f} s later; a closed its session and left after {goodbye_after:.2f} s"))
    return ZooKeeperDemo(events, figure, session_timeout, silent_for, goodbye_after, zookeeper.startup_seconds)


def _started(stack: contextlib.ExitStack, client):
    """Start a kazoo client and arrange for it to stop and close when the demo ends, whatever happens."""
    client.start(timeout=15)
    stack.callback(client.close)
    stack.callback(client.stop)
    return client


def _expect(happened: bool, what: str) -> None:
    if not happened:
        raise TimeoutError(f"waited in vain for {what}")
