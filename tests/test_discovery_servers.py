"""Discovery on real servers: Debian's etcd 3.4 (leases, prefix watches) and ZooKeeper 3.8 (ephemeral znodes).

The production section of the discovery notebook claims what the servers do: a key under a lease
vanishes when the lease is not refreshed and stays while it is; a watch-fed client cache follows
registrations and expiries; an ephemeral node goes with its session, at once when the session is closed
and after the session timeout when its process dies. These tests check the claims against the servers.

Nothing here measures speed. Waits end as soon as the outcome is seen and are bounded generously
(``SLACK_S`` past the TTL); the only lower bounds are ones slowness cannot break (a key cannot vanish
before its lease could have run out, since the clock starts before the lease is granted). A test skips
only when a server's binary is missing; a server that is installed and fails to start is an error.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import nbformat
import pytest

from dspatterns.discovery import etcd as etcd_module
from dspatterns.discovery import zookeeper as zookeeper_module
from dspatterns.discovery.etcd import (
    EtcdServer,
    EtcdUnavailable,
    LeasedInstance,
    PrefixWatchCache,
    etcd_discovery_demo,
    find_etcd_binary,
    try_etcd_discovery_demo,
)
from dspatterns.discovery.production_timeline import (
    CACHE_ADDED,
    CACHE_REMOVED,
    DEREGISTERED,
    HEARTBEAT,
    KILLED,
    REGISTERED,
    SILENCED,
    ServerMissing,
    first,
)
from dspatterns.discovery.zookeeper import (
    ChildrenWatchCache,
    InstanceProcess,
    ZooKeeperServer,
    ZooKeeperUnavailable,
    find_java,
    find_zookeeper_jar,
    try_zookeeper_ephemeral_demo,
    zookeeper_ephemeral_demo,
)
from notebook_sections import plotly_figures, printed_text, run_cells, section_cells

NOTEBOOK = Path(__file__).resolve().parent.parent / "course" / "06_discovery.ipynb"
PRODUCTION_HEADING = "## 4. In production"
SLACK_S = 8.0  # generous bound past a TTL for "the server removed it"; every wait ends as soon as it has


def wait_until(condition, *, limit: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


class Changes:
    """Every on_change call a cache makes, in order, and a way to wait for one."""

    def __init__(self):
        self.calls: list[tuple[str, str, str | None]] = []
        self._changed = threading.Condition()

    def __call__(self, kind, name, value):
        with self._changed:
            self.calls.append((kind, name, value))
            self._changed.notify_all()

    def wait_for(self, call, limit: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: call in self.calls, timeout=limit)


# --- etcd -------------------------------------------------------------------------------------------------


def _etcd_or_skip():
    try:
        find_etcd_binary()
    except EtcdUnavailable as missing:  # only a missing binary skips; a server that fails to start is an error
        pytest.skip(f"no etcd binary: {missing}")


@pytest.fixture(scope="module")
def etcd():
    _etcd_or_skip()
    with EtcdServer() as server:
        yield server


def test_etcd_starts_healthy_and_leaves_nothing_behind():
    _etcd_or_skip()
    with EtcdServer() as server:
        client = server.client()
        assert client.status()["version"].startswith("3."), client.status()
        assert server.url == f"http://127.0.0.1:{server.client_port}"
        assert etcd_module.port_is_open(server.client_port) and etcd_module.port_is_open(server.peer_port)
        assert server.folder.is_dir() and (server.folder / "data").is_dir()
        process, folder, ports = server.process, server.folder, (server.client_port, server.peer_port)
        assert process.poll() is None, "etcd exited while the with block was running"
        assert server.startup_seconds is not None and server.startup_seconds < server.startup_timeout
    assert process.returncode is not None, "etcd still runs after the with block"
    assert not any(etcd_module.port_is_open(port) for port in ports), f"ports {ports} still accept connections"
    assert not folder.exists(), f"{folder} was not removed"


def test_etcd_missing_binary_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(etcd_module, "DEBIAN_BINARY", tmp_path / "no-etcd")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EtcdUnavailable, match="apt-get install etcd-server"):
        EtcdServer().start()


def test_lease_expiry_removes_the_key_within_ttl_plus_slack(etcd):
    client = etcd.client()
    ttl = 1  # the shortest lease this server grants (its election timeout is 0.5 s)
    began = time.monotonic()
    lease = client.lease(ttl)
    client.put("/test/expiry/a", "10.0.0.1:80", lease=lease)
    granted = client.post(client.get_url("/kv/lease/timetolive"), json={"ID": lease.id})
    assert int(granted["grantedTTL"]) == ttl, f"etcd granted {granted} for a {ttl} s lease (its minimum is higher?)"
    assert wait_until(lambda: not client.get("/test/expiry/a"), limit=ttl + SLACK_S), (
        f"/test/expiry/a still exists {ttl + SLACK_S:g} s after its {ttl} s lease was granted and never refreshed")
    gone_after = time.monotonic() - began
    assert gone_after >= ttl - 0.1, f"the key vanished {gone_after:.2f} s after the lease, before its {ttl} s TTL"
    assert lease.refresh() == -1, "refreshing an expired lease should report it gone (TTL -1)"


def test_refreshed_lease_keeps_its_key_past_the_ttl_then_expires_when_silenced(etcd):
    client = etcd.client()
    ttl = 2
    instance = LeasedInstance(client, "/test/refresh/a", "10.0.0.1:80", ttl=ttl, refresh_every=0.2)
    began = time.monotonic()
    instance.register()
    try:
        missing_at = None
        while time.monotonic() - began < 2 * ttl:  # twice its TTL: without refreshes it would be gone
            if not client.get("/test/refresh/a"):
                missing_at = time.monotonic() - began
                break
            time.sleep(0.1)
        assert missing_at is None, f"a key refreshed every 0.2 s under a {ttl} s lease vanished at {missing_at:.2f} s"
    finally:
        instance.silence()
    assert wait_until(lambda: not client.get("/test/refresh/a"), limit=ttl + SLACK_S), (
        f"the key outlived its silenced lease by more than {SLACK_S:g} s")


def test_revoked_lease_deletes_its_key(etcd):
    client = etcd.client()
    instance = LeasedInstance(client, "/test/revoke/a", "10.0.0.1:80", ttl=30)
    instance.register()
    assert client.get("/test/revoke/a") == [b"10.0.0.1:80"]
    instance.deregister()
    assert client.get("/test/revoke/a") == [], "revoking the lease must delete the key at once"


def test_prefix_watch_cache_lists_then_follows_registration_update_and_expiry(etcd):
    client = etcd.client()
    prefix = "/test/cache/web/"
    client.put("/test/cache/webx/other", "not under the prefix")
    client.put(prefix + "early", "10.0.0.9:80")  # the last write before the list: a watch from it would replay it
    changes = Changes()
    with PrefixWatchCache(client, prefix, on_change=changes) as cache:
        assert cache.snapshot() == {"early": "10.0.0.9:80"}
        lease = client.lease(1)
        client.put(prefix + "a", "10.0.0.1:80", lease=lease)
        assert changes.wait_for(("added", "a", "10.0.0.1:80"), SLACK_S), f"the cache never saw a: {changes.calls}"
        client.put(prefix + "early", "10.0.0.10:80")
        assert changes.wait_for(("updated", "early", "10.0.0.10:80"), SLACK_S), changes.calls
        assert changes.wait_for(("removed", "a", None), 1 + SLACK_S), (
            f"a's expiry never reached the cache: {changes.calls}")
        assert cache.snapshot() == {"early": "10.0.0.10:80"}
    assert changes.calls == [("added", "early", "10.0.0.9:80"), ("added", "a", "10.0.0.1:80"),
                             ("updated", "early", "10.0.0.10:80"), ("removed", "a", None)], (
        "each change exactly once, in order; a second ('added'/'updated', 'early') would mean the watch "
        f"replayed history from before the list: {changes.calls}")
    client.delete_prefix("/test/cache/")


def test_etcd_demo_silenced_instance_leaves_after_its_lease_and_revoked_one_at_once(etcd):
    ttl = 2
    demo = etcd_discovery_demo(ttl=ttl, keep_beating=ttl + 0.5, server=etcd)
    events = demo.events
    kinds = [(e.event, e.instance) for e in events if e.event != HEARTBEAT]
    for name in "abc":
        assert kinds.index((REGISTERED, name)) < kinds.index((CACHE_ADDED, name)), kinds
    assert first(events, SILENCED, "c").cache_sees == ("a", "b", "c"), "c must still be listed when it falls silent"
    beats_before = [e for e in events if e.event == HEARTBEAT and e.instance == "c"]
    assert beats_before and beats_before[-1].time - first(events, REGISTERED, "c").time > ttl, (
        f"c kept beating past its {ttl} s TTL and must have stayed listed: {beats_before[-3:]}")
    assert first(events, CACHE_REMOVED, "c").time > first(events, SILENCED, "c").time
    assert kinds.index((SILENCED, "c")) < kinds.index((CACHE_REMOVED, "c")) < kinds.index((DEREGISTERED, "b"))
    assert kinds.index((DEREGISTERED, "b")) < kinds.index((CACHE_REMOVED, "b"))
    assert 0 < demo.silent_for <= ttl + SLACK_S, f"c left {demo.silent_for:.2f} s after its last keep-alive"
    assert demo.goodbye_after < ttl, f"a revoked lease should end the listing at once, took {demo.goodbye_after:.2f} s"
    assert events[-1].cache_sees == ("a",), f"only a should be left: {events[-1]}"
    assert [e for e in events if e.instance == "a" and e.event == CACHE_REMOVED] == []
    assert len(demo.figure.data) >= 4, "the figure should draw swimlanes, markers and the count"


# --- ZooKeeper --------------------------------------------------------------------------------------------


def _zookeeper_or_skip():
    try:
        find_java()
        find_zookeeper_jar()
    except ZooKeeperUnavailable as missing:  # only a missing install skips; a failed start is an error
        pytest.skip(f"no ZooKeeper: {missing}")


@pytest.fixture(scope="module")
def zookeeper():
    _zookeeper_or_skip()
    with ZooKeeperServer() as server:
        yield server


@pytest.fixture
def kazoo_clients(zookeeper):
    """A factory of started kazoo clients (``timeout`` = session timeout), all stopped after the test."""
    started = []

    def make(timeout: float = 10.0):
        client = zookeeper.client(timeout=timeout)
        client.start(timeout=15)
        started.append(client)
        return client

    yield make
    for client in started:
        client.stop()
        client.close()


def test_zookeeper_starts_serving_and_leaves_nothing_behind():
    _zookeeper_or_skip()
    with ZooKeeperServer() as server:
        assert server.four_letter_word("ruok") == "imok"
        assert "Mode: standalone" in server.four_letter_word("srvr")
        assert "Zookeeper version: 3." in server.four_letter_word("srvr")
        process, folder, port = server.process, server.folder, server.port
        assert (folder / "zoo.cfg").read_text().count(f"clientPort={port}") == 1
        assert "admin.enableServer=false" in (folder / "zoo.cfg").read_text()
        assert server.startup_seconds is not None and server.startup_seconds < server.startup_timeout
    assert process.returncode is not None, "the JVM still runs after the with block"
    assert not zookeeper_module.port_is_open(port), f"port {port} still accepts connections"
    assert not folder.exists(), f"{folder} was not removed"


def test_zookeeper_missing_jar_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(zookeeper_module, "DEBIAN_JAR", tmp_path / "no-zookeeper.jar")
    with pytest.raises(ZooKeeperUnavailable, match="apt-get install zookeeperd"):
        ZooKeeperServer().start()


def test_zookeeper_that_cannot_start_in_time_raises_a_clear_error():
    _zookeeper_or_skip()
    with pytest.raises(ZooKeeperUnavailable, match="did not start: not serving on port .* within 0.01 s"):
        ZooKeeperServer(startup_timeout=0.01, attempts=1).start()


def test_ephemeral_node_vanishes_when_its_session_closes_and_a_persistent_one_stays(kazoo_clients):
    instance, observer = kazoo_clients(), kazoo_clients()
    ephemeral = instance.create("/test/close/web/a-", b"10.0.0.1:80", ephemeral=True, sequence=True, makepath=True)
    instance.create("/test/close/config", b"kept", makepath=True)
    assert ephemeral.startswith("/test/close/web/a-") and ephemeral[-10:].isdigit(), ephemeral
    assert observer.get(ephemeral)[0] == b"10.0.0.1:80"
    instance.stop()
    assert wait_until(lambda: observer.exists(ephemeral) is None, limit=SLACK_S), (
        f"{ephemeral} still exists {SLACK_S:g} s after its session was closed")
    assert observer.get("/test/close/config")[0] == b"kept", "a persistent node must outlive its creator's session"
    observer.delete("/test/close", recursive=True)


def test_ephemeral_node_of_a_killed_process_lives_until_its_session_times_out(zookeeper, kazoo_clients):
    session_timeout = 4.0
    observer = kazoo_clients()
    crashing = InstanceProcess(zookeeper.hosts, "/test/crash/web/c-", "10.0.0.3:80", session_timeout=session_timeout)
    try:
        assert observer.get(crashing.node)[0] == b"10.0.0.3:80"
        killed_at = time.monotonic()
        crashing.kill()
        assert observer.exists(crashing.node) is not None, (
            "the node vanished at once: a killed process closes no session, its node must wait for the timeout")
        assert wait_until(lambda: observer.exists(crashing.node) is None, limit=session_timeout + SLACK_S), (
            f"{crashing.node} still exists {session_timeout + SLACK_S:g} s after its process was killed")
        gone_after = time.monotonic() - killed_at
        # the last ping can precede the kill by a third of the timeout, so the node may go that much early
        assert gone_after >= session_timeout / 2, f"the node vanished {gone_after:.2f} s after the kill"
    finally:
        crashing.kill()
    observer.delete("/test/crash", recursive=True)


def test_children_watch_cache_sees_registration_and_removal(kazoo_clients):
    observer, early, late = kazoo_clients(), kazoo_clients(), kazoo_clients()
    early_node = early.create("/test/watch/web/early-", b"10.0.0.9:80", ephemeral=True, sequence=True, makepath=True)
    early_child = early_node.rsplit("/", 1)[1]
    changes = Changes()
    with ChildrenWatchCache(observer, "/test/watch/web", on_change=changes) as cache:
        assert changes.wait_for(("added", early_child, "10.0.0.9:80"), SLACK_S), changes.calls
        late_child = late.create("/test/watch/web/late-", b"10.0.0.1:80", ephemeral=True,
                                 sequence=True).rsplit("/", 1)[1]
        assert changes.wait_for(("added", late_child, "10.0.0.1:80"), SLACK_S), changes.calls
        assert cache.snapshot() == {early_child: "10.0.0.9:80", late_child: "10.0.0.1:80"}
        early.stop()
        assert changes.wait_for(("removed", early_child, None), SLACK_S), (
            f"the cache kept {early_child} after its session closed: {changes.calls}")
        assert cache.snapshot() == {late_child: "10.0.0.1:80"}
    assert changes.calls == [("added", early_child, "10.0.0.9:80"), ("added", late_child, "10.0.0.1:80"),
                             ("removed", early_child, None)], changes.calls
    assert int(late_child[-10:]) > int(early_child[-10:]), "sequence numbers record the order of arrival"


def test_try_demos_explain_how_to_install_when_the_servers_are_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(etcd_module, "DEBIAN_BINARY", tmp_path / "no-etcd")
    monkeypatch.setattr(zookeeper_module, "DEBIAN_JAR", tmp_path / "no-zookeeper.jar")
    monkeypatch.setenv("PATH", str(tmp_path))
    for missing, install in ((try_etcd_discovery_demo(ttl=1), "apt-get install etcd-server"),
                             (try_zookeeper_ephemeral_demo(1.0), "apt-get install zookeeperd")):
        assert isinstance(missing, ServerMissing), f"expected an explanation, got {missing!r}"
        assert install in str(missing) and install in missing._repr_markdown_()


def test_zookeeper_demo_killed_instance_leaves_after_the_timeout_and_closed_one_at_once(zookeeper):
    session_timeout = 2.0
    demo = zookeeper_ephemeral_demo(session_timeout, server=zookeeper)
    events = demo.events
    kinds = [(e.event, e.instance) for e in events]
    for name in "abc":
        assert kinds.index((REGISTERED, name)) < kinds.index((CACHE_ADDED, name)), kinds
    assert first(events, KILLED, "c").cache_sees == ("a", "b", "c"), "c must be listed when it is killed"
    assert first(events, KILLED, "c").time - first(events, CACHE_ADDED, "c").time > session_timeout, (
        "c should have stayed listed past its session timeout on the library's pings alone")
    assert kinds.index((KILLED, "c")) < kinds.index((CACHE_REMOVED, "c")) < kinds.index((DEREGISTERED, "a"))
    assert kinds.index((DEREGISTERED, "a")) < kinds.index((CACHE_REMOVED, "a"))
    assert session_timeout / 2 <= demo.silent_for <= session_timeout + SLACK_S, (
        f"c left the cache {demo.silent_for:.2f} s after the kill; its session timeout is {session_timeout:g} s")
    assert demo.goodbye_after < session_timeout, (
        f"a closed session should end the listing at once, took {demo.goodbye_after:.2f} s")
    assert events[-1].cache_sees == ("b",), f"only b should be left: {events[-1]}"
    assert len(demo.figure.data) >= 4


def test_both_servers_run_side_by_side(etcd, zookeeper):
    """The notebook starts one of each; they must not collide on ports or folders."""
    assert etcd.client_port != zookeeper.port and etcd.folder != zookeeper.folder
    assert etcd.client().status() and zookeeper.four_letter_word("ruok") == "imok"


# --- the notebook cells -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_notebook_cells_show_the_real_servers_not_the_fallback():
    """The notebook's production section runs in a fresh kernel against both servers and prints
    their numbers and figures, not the fallback."""
    _etcd_or_skip()
    _zookeeper_or_skip()
    notebook = run_cells(NOTEBOOK, section_cells(nbformat.read(NOTEBOOK, as_version=4), PRODUCTION_HEADING))
    printed = "".join(printed_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    figures = plotly_figures(notebook)
    assert "not available here" not in printed, f"a cell fell back although the server is installed:\n{printed}"
    assert "etcd started in" in printed and "c left the cache" in printed, printed
    assert "ZooKeeper started in" in printed, printed
    assert len(figures) == 2, f"expected the etcd and the ZooKeeper figure, got {len(figures)}"
