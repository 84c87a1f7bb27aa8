"""A throw-away etcd for the course, and a demo of discovery by leases: the TTL rule as Kubernetes relies on it.

etcd does not know what a "service instance" is. It has keys, and *leases*: a lease is granted with a
TTL, a key written with that lease is deleted by the server when the lease expires, and a keep-alive
(``lease.refresh()``) pushes the expiry back to a full TTL. That is the registry rule of this notebook
(an instance is listed while it was last heard from less than ``ttl`` ago) enforced by the server, so
a client cannot get it wrong. A *watch* on a prefix streams every put and delete under it, which is how
a client keeps a local copy of the list current without polling. Kubernetes stores its endpoints and
its node leases in etcd this way.

``EtcdServer`` starts Debian's ``/usr/bin/etcd`` (3.4, package ``etcd-server``) as a one-member cluster
on two free local ports (client and peer) with its data in a fresh temporary folder, waits (bounded)
until ``/health`` answers, and on leaving the ``with`` block stops the process and deletes the folder.
The heartbeat and election intervals are shortened (50 ms / 500 ms instead of 100 ms / 1 s): etcd
refuses leases shorter than 1.5 election timeouts (it grants the minimum instead), so this brings the
shortest lease down from 2 s to 1 s, which keeps the demo and its test short. One member never holds
an election after it started, so nothing else changes.

``PrefixWatchCache`` is a client's copy of the keys under a prefix, kept current by one watch; it
lists, then watches from the revision after the list, so no change between the two is lost.
``LeasedInstance`` is one instance: a key under a lease and a thread that refreshes it.
``etcd_discovery_demo`` runs three of them, silences one and shows when the cache lets it go.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dspatterns.discovery.production_timeline import (
    CACHE_ADDED,
    CACHE_REMOVED,
    DEREGISTERED,
    HEARTBEAT,
    REGISTERED,
    SILENCED,
    ServerMissing,
    TimelineEvent,
    TimelineRecorder,
    WatchedCopy,
    discovery_figure,
    first,
    show_demo,
)
from dspatterns.local_server import LocalServer, find_program, port_is_open  # noqa: F401 (port_is_open is public here)

DEBIAN_BINARY = Path("/usr/bin/etcd")
INSTALL_HINT = ("etcd is not installed: `sudo apt-get install etcd-server` (Debian/Ubuntu, etcd 3.4) or "
                "`brew install etcd` (macOS) installs it, and `./run lab` run as root installs it too.")
# etcd 3.4 runs without complaint only on amd64 and ppc64le; elsewhere it wants this variable set to the
# architecture to show that the operator knows.
SUPPORTED_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "ppc64le": "ppc64le"}
GOARCH_NAMES = {"aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "i686": "386", "s390x": "s390x"}
# What the cache reports, as the timeline names it ("updated" is not drawn: an address change is not a come or go).
CACHE_EVENTS = {"added": CACHE_ADDED, "removed": CACHE_REMOVED}


class EtcdUnavailable(RuntimeError):
    """etcd could not be started here; the message says why and how to get it."""


def find_etcd_binary() -> Path:
    """Debian's binary, else whatever ``etcd`` is on the PATH; ``EtcdUnavailable`` if neither."""
    return find_program(DEBIAN_BINARY, "etcd", EtcdUnavailable(INSTALL_HINT))


class EtcdServer(LocalServer):
    """A private one-member etcd: ``with EtcdServer() as etcd: etcd.client().put(...)``.

    ``startup_seconds`` is how long the last start took until ``/health`` said true, for the report
    and the notebook; nothing depends on it.
    """

    unavailable = EtcdUnavailable
    name = "etcd"
    port_count = 2  # client and peer
    not_ready = "not healthy"

    def __init__(self, *, startup_timeout: float = 20.0, attempts: int = 3,
                 heartbeat_ms: int = 50, election_ms: int = 500):
        super().__init__(startup_timeout=startup_timeout, attempts=attempts)
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms

    @property
    def client_port(self) -> int | None:
        return self.port

    @property
    def peer_port(self) -> int | None:
        return self.ports[1] if self.ports else None

    @property
    def url(self) -> str:
        return f"http://{self._address('with EtcdServer() as etcd:')}"

    def client(self, **options):
        """An ``etcd3gw.client.Etcd3Client`` (etcd's HTTP/JSON gateway, API path ``/v3/``) for this server."""
        import etcd3gw

        options.setdefault("timeout", 10)
        return etcd3gw.client(host=self.host, port=self.client_port, api_path="/v3/", **options)

    def stop(self) -> None:
        """Terminate (etcd shuts down cleanly on SIGTERM), kill if it lingers, and delete the data folder."""
        super().stop()

    def _find_programs(self) -> tuple[Path]:
        return (find_etcd_binary(),)

    def _failure(self, binary: Path) -> str:
        return f"etcd ({binary}) did not become healthy"

    def _launch(self, binary: Path) -> subprocess.Popen:
        client_url = f"http://{self.host}:{self.client_port}"
        peer_url = f"http://{self.host}:{self.peer_port}"
        return subprocess.Popen(
            [str(binary), "--name", "dspatterns", "--data-dir", str(self.folder / "data"),
             "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"dspatterns={peer_url}", "--initial-cluster-state", "new",
             "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms)],
            stdout=self._open_log(), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder,
            env=_etcd_environment(),
        )

    def _where(self) -> str:
        return f"(ports {self.client_port}, {self.peer_port})"

    def _ready(self) -> bool:
        return _healthy(self.url)


def _etcd_environment() -> dict[str, str]:
    """The caller's environment without ETCD_* settings (flags say everything), plus the arch switch if needed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    machine = platform.machine().lower()
    if machine not in SUPPORTED_ARCHES:
        env["ETCD_UNSUPPORTED_ARCH"] = GOARCH_NAMES.get(machine, machine)
    return env


def _healthy(url: str) -> bool:
    """etcd's own health endpoint, read with the standard library so that starting does not need the client."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=1.0) as response:
            return json.loads(response.read()).get("health") == "true"
    except (OSError, ValueError, urllib.error.URLError):
        return False


# --- a client's copy of a prefix, kept current by a watch ------------------------------------------------


class PrefixWatchCache(WatchedCopy):
    """The keys under ``prefix`` and their values, as this client last heard: list once, then follow a watch.

    Keys are reported without the prefix (``/services/web/a`` under ``/services/web/`` is ``a``).
    ``on_change(kind, name, value)`` is called from the watch thread after each change is applied, with
    ``kind`` ``"added"``, ``"updated"`` or ``"removed"``. The copy can be behind the server by the time a
    watch event takes to arrive, never ahead, and it never misses a change: the watch starts at the
    revision right after the list.
    """

    def __init__(self, client, prefix: str, *, on_change: Callable[[str, str, str | None], None] | None = None):
        super().__init__(on_change=on_change)
        self._client = client
        self._prefix = prefix
        self._cancel: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        revision, entries = self._list()
        with self._lock:
            self._entries = entries
        for name, value in sorted(entries.items()):
            self._notify("added", name, value)
        events, self._cancel = self._client.watch_prefix(self._prefix, start_revision=revision + 1)
        self._thread = threading.Thread(target=self._follow, args=(events,), name=f"watch {self._prefix}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel()
            self._cancel = None
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _list(self) -> tuple[int, dict[str, str]]:
        """The values under the prefix and the store's revision at that moment (the gateway's header)."""
        prefix = self._prefix.encode()
        response = self._client.post(self._client.get_url("/kv/range"), json={
            "key": _b64(prefix), "range_end": _b64(_prefix_end(prefix))})
        entries = {base64.b64decode(kv["key"]).decode()[len(self._prefix):]:
                   base64.b64decode(kv.get("value", "")).decode() for kv in response.get("kvs", [])}
        return int(response["header"]["revision"]), entries

    def _follow(self, events) -> None:
        for event in events:
            key = event["kv"]["key"].decode()
            name = key[len(self._prefix):]
            with self._changed:
                if event.get("type") == "DELETE":
                    known = self._entries.pop(name, None) is not None
                    kind, value = ("removed" if known else None), None
                else:  # PUT is the default and the gateway leaves it out
                    value = event["kv"].get("value", b"").decode()
                    kind = "updated" if name in self._entries else "added"
                    self._entries[name] = value
                self._changed.notify_all()
            if kind is not None:
                self._notify(kind, name, value)

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with ``prefix`` (etcd's range_end for a prefix)."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1]) if stripped else b"\0"


# --- one instance: a key under a lease, and its heartbeat ------------------------------------------------


class LeasedInstance:
    """An instance registered as ``key = address`` under its own lease, refreshed by a thread until told to stop.

    ``silence()`` stops the refreshes and nothing else, which is what the server sees when the process
    crashes or its network goes: the key stays until the lease runs out. ``deregister()`` is the clean
    goodbye: revoking the lease deletes the key at once.
    """

    def __init__(self, client, key: str, address: str, *, ttl: int, refresh_every: float | None = None,
                 on_heartbeat: Callable[[], None] | None = None):
        self._client = client
        self.key = key
        self.address = address
        self.ttl = ttl
        self.refresh_every = ttl / 4 if refresh_every is None else refresh_every
        self._on_heartbeat = on_heartbeat
        self._lease = None
        self._quiet = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self) -> None:
        self._lease = self._client.lease(self.ttl)
        self._client.put(self.key, self.address, lease=self._lease)
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.key}", daemon=True)
        self._thread.start()

    def silence(self) -> None:
        self._quiet.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def deregister(self) -> None:
        self.silence()
        if self._lease is not None:
            self._lease.revoke()

    def leave_quietly(self) -> None:
        """Deregister if the lease still exists; an expired or already revoked one is what we wanted anyway."""
        from etcd3gw.exceptions import Etcd3Exception

        self.silence()
        with contextlib.suppress(Etcd3Exception):
            if self._lease is not None:
                self._lease.revoke()

    def _beat(self) -> None:
        while not self._quiet.wait(self.refresh_every):
            self._lease.refresh()
            if self._on_heartbeat is not None:
                self._on_heartbeat()


# --- the demo --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EtcdDemo:
    """The record of one run, the figure drawn from it, and the two numbers it is about."""

    events: list[TimelineEvent]
    figure: object
    ttl: int
    silent_for: float  # from the last refresh of the silenced instance to the cache dropping it
    goodbye_after: float  # from revoking the deregistering instance's lease to the cache dropping it
    startup_seconds: float | None

    def _ipython_display_(self) -> None:
        started = "" if self.startup_seconds is None else f"etcd started in {self.startup_seconds:.2f} s; "
        show_demo(self.figure, self.events, (
            f"{started}lease ttl {self.ttl} s: c left the cache {self.silent_for:.2f} s after its last keep-alive, "
            f"b {self.goodbye_after:.2f} s after revoking its lease"))


def try_etcd_discovery_demo(**options) -> EtcdDemo | ServerMissing:
    """``etcd_discovery_demo(**options)``, or what to install when etcd cannot start: a notebook cell never fails."""
    try:
        return etcd_discovery_demo(**options)
    except EtcdUnavailable as missing:
        return ServerMissing("etcd", str(missing))


def etcd_discovery_demo(ttl: int = 2, *, service: str = "web", keep_beating: float | None = None,
                        server: EtcdServer | None = None, clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep) -> EtcdDemo:
    """Three instances of ``service`` under ``ttl``-second leases; ``c`` goes silent, then ``b`` says goodbye.

    The order is arranged, not timed: every step waits until the cache has seen the previous one.
    ``keep_beating`` (default ``2 * ttl``) is how long all three beat before ``c`` stops, to show that
    refreshed keys outlive their TTL. Raises ``EtcdUnavailable`` when no etcd can be started.
    """
    keep_beating = 2 * ttl if keep_beating is None else keep_beating
    limit = ttl + 5.0  # generous bound for "the server expired the lease"; the wait ends as soon as it has
    with contextlib.ExitStack() as stack:
        etcd = server if server is not None else stack.enter_context(EtcdServer())
        caller = etcd.client()  # the caller and each instance have their own client, as separate processes would
        stack.callback(caller.session.close)
        prefix = f"/services/{service}/"
        recorder = TimelineRecorder(clock=clock)

        def cache_changed(kind: str, name: str, _value: str | None) -> None:
            if kind in CACHE_EVENTS:
                recorder.record(CACHE_EVENTS[kind], name)

        cache = PrefixWatchCache(caller, prefix, on_change=cache_changed)
        recorder.watch_view(cache.names)
        stack.enter_context(cache)
        instances = {}
        for number, name in enumerate("abc", start=1):
            own_client = etcd.client()
            stack.callback(own_client.session.close)
            instance = LeasedInstance(own_client, prefix + name, f"10.0.0.{number}:8080", ttl=ttl,
                                      on_heartbeat=lambda name=name: recorder.record(HEARTBEAT, name))
            stack.callback(instance.leave_quietly)  # nothing of the demo outlives it on a shared server
            recorder.record(REGISTERED, name)  # before the put, so that it precedes the cache's "added"
            instance.register()
            instances[name] = instance
        _expect(cache.wait_until(lambda seen: seen.keys() == set("abc"), limit), "the cache to list a, b and c")
        sleep(keep_beating)
        instances["c"].silence()
        recorder.record(SILENCED, "c")
        _expect(cache.wait_until(lambda seen: "c" not in seen, limit), f"c's lease ({ttl} s) to expire")
        sleep(ttl / 2)  # only so that the figure shows the two departures apart; the order is already fixed
        recorder.record(DEREGISTERED, "b")  # before the revoke, so that it precedes the cache's "removed"
        instances["b"].deregister()
        _expect(cache.wait_until(lambda seen: "b" not in seen, limit), "b's key to go when its lease was revoked")
        events = recorder.events  # the record ends here: a's goodbye on the way out is tidying, not the demo
    last_beat = max((e.time for e in events if e.instance == "c" and e.event in (HEARTBEAT, REGISTERED)))
    silent_for = first(events, CACHE_REMOVED, "c").time - last_beat
    goodbye_after = first(events, CACHE_REMOVED, "b").time - first(events, DEREGISTERED, "b").time
    figure = discovery_figure(events, title=(
        f"etcd leases, ttl {ttl} s: c fell silent and left the cache {silent_for:.1f} s after its last "
        f"keep-alive; b revoked its lease and left after {goodbye_after:.2f} s"))
    return EtcdDemo(events, figure, ttl, silent_for, goodbye_after, etcd.startup_seconds)


def _expect(happened: bool, what: str) -> None:
    if not happened:
        raise TimeoutError(f"waited in vain for {what}")
