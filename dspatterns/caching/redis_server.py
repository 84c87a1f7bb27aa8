"""A throw-away Redis server for the course: started on a free local port in a temporary folder, then gone.

Section 5 of the caching notebook, and its test, run cache-aside against a *real* Redis rather than a
model, so that ``EXPIRE``, ``DEL`` and ``SET NX PX`` behave as they do in production. Nothing here may
touch a Redis the reader already runs, or leave one behind, so ``redis_server()`` starts its own:

* Debian's ``redis-server`` binary (``/usr/bin/redis-server``, or ``redis-server`` on the PATH), on
  127.0.0.1 and a port the OS picked a moment before (tried again on another port if someone took it
  in between), with its working folder a fresh temporary directory and persistence off (no RDB
  snapshots, no append-only file): the data is meant to vanish.
* It waits until the server answers ``PING`` (bounded), and on leaving the ``with`` block, even after an
  error, it stops the process (``SHUTDOWN NOSAVE``, then terminate, then kill) and removes the folder.
* Where the binary is missing it raises ``RedisUnavailable`` with the command that installs it, which
  the notebook prints instead of failing.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEBIAN_BINARY = Path("/usr/bin/redis-server")
INSTALL_HINT = ("Redis is not installed: `sudo apt-get install redis-server` (Debian/Ubuntu) or "
                "`brew install redis` (macOS) installs it, and `./run lab` run as root installs it too.")


class RedisUnavailable(RuntimeError):
    """Redis could not be started here; the message says why and how to get it."""


@dataclass(frozen=True)
class RunningRedis:
    """Where the server listens, its process and its folder: enough to connect, and to check it is gone."""

    host: str
    port: int
    process: subprocess.Popen
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self, **options):
        """A ``redis.Redis`` client for this server, answering ``str`` rather than ``bytes``."""
        import redis

        return redis.Redis(host=self.host, port=self.port, decode_responses=True, **options)


def find_redis_binary() -> Path:
    """Debian's binary, else whatever ``redis-server`` is on the PATH; ``RedisUnavailable`` if neither."""
    if DEBIAN_BINARY.is_file():
        return DEBIAN_BINARY
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise RedisUnavailable(INSTALL_HINT)


@contextlib.contextmanager
def redis_server(*, startup_timeout: float = 10.0, attempts: int = 3) -> Iterator[RunningRedis]:
    """Start a private Redis, yield it once it answers PING, and stop it and delete its folder afterwards."""
    binary = find_redis_binary()
    folder = Path(tempfile.mkdtemp(prefix="dspatterns-redis-"))
    process = None
    try:
        errors = []
        for _ in range(attempts):
            port = _free_port()
            process = subprocess.Popen(
                [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                 "--logfile", str(folder / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder,
            )
            error = _wait_for_ping(process, port, startup_timeout)
            if error is None:
                break
            errors.append(error)
            _stop(process, port)
            process = None
        if process is None:
            log = folder / "redis.log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RedisUnavailable(f"redis-server ({binary}) did not answer PING: {'; '.join(errors)}\n{tail}")
        yield RunningRedis("127.0.0.1", port, process, folder)
    finally:
        if process is not None:
            _stop(process, port)
        shutil.rmtree(folder, ignore_errors=True)


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections there: after the server stops, nothing should."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_ping(process: subprocess.Popen, port: int, timeout: float) -> str | None:
    """None once the server answers PING; otherwise why not (it exited, or the time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            return f"it exited with status {process.returncode} on port {port} {stderr}".strip()
        if _ping(port):
            return None
        time.sleep(0.02)
    return f"no answer on port {port} within {timeout:g} s"


def _ping(port: int) -> bool:
    """A raw RESP PING, so that starting the server does not depend on the client library."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen, port: int) -> None:
    """Ask politely (SHUTDOWN NOSAVE), then terminate, then kill; always reap the process."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
                connection.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                connection.recv(64)
    for signal_it in (None, process.terminate, process.kill):
        if signal_it is not None and process.poll() is None:
            signal_it()
        try:
            process.wait(timeout=3.0)
            break
        except subprocess.TimeoutExpired:
            continue
    if process.stderr:
        process.stderr.close()
