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
import socket
import subprocess
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dspatterns.local_server import LocalServer, find_program, port_is_open  # noqa: F401 (port_is_open is public here)

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

    def stopped_report(self) -> str:
        """After the stop: whether the port, the process and the folder are really gone (what a notebook shows)."""
        return (f"Redis stopped: port {self.port} {'still open!' if port_is_open(self.port) else 'closed'}, "
                f"process exited with status {self.process.returncode}, "
                f"folder {'still there!' if self.folder.exists() else 'removed'}")


def find_redis_binary() -> Path:
    """Debian's binary, else whatever ``redis-server`` is on the PATH; ``RedisUnavailable`` if neither."""
    return find_program(DEBIAN_BINARY, "redis-server", RedisUnavailable(INSTALL_HINT))


@contextlib.contextmanager
def redis_server(*, startup_timeout: float = 10.0, attempts: int = 3) -> Iterator[RunningRedis]:
    """Start a private Redis, yield it once it answers PING, and stop it and delete its folder afterwards."""
    with _RedisProcess(startup_timeout=startup_timeout, attempts=attempts) as server:
        yield RunningRedis(server.host, server.ports[0], server.process, server.folder)


class RedisOwner:
    """The part of a notebook lab that owns its private Redis: started with the lab, gone after ``stop()``.

    A kernel shut down without ``stop()`` still stops the server (a weakref finalizer runs at exit or when
    the lab is collected), so a notebook never leaves a ``redis-server`` behind. ``start_server`` is
    passed in, not looked up here, so that each lab module's own ``redis_server`` name is the one used.
    """

    def _own_redis(self, start_server: Callable[[], contextlib.AbstractContextManager[RunningRedis]],
                   prepare: Callable[[], None] | None = None) -> None:
        """Start the server and a client; ``prepare()`` sets up the rest, and if anything fails all is stopped."""
        self._stack = contextlib.ExitStack()
        try:
            self.server = self._stack.enter_context(start_server())
            self.client = self.server.client()
            self._stack.callback(self.client.close)
            if prepare is not None:
                prepare()
        except BaseException:
            self._stack.close()
            raise
        self._finalizer = weakref.finalize(self, self._stack.close)
        self.stopped = False

    def stop(self) -> str:
        """Stop the server once, and say whether its port, process and folder are really gone."""
        if self.stopped:
            return "already stopped"
        self._finalizer()
        self.stopped = True
        return self.server.stopped_report()


class _RedisProcess(LocalServer):
    """redis-server with persistence off, its own log file, ready once it answers PING, stopped by SHUTDOWN NOSAVE."""

    unavailable = RedisUnavailable
    name = "redis"
    poll_interval = 0.02
    stop_grace = 3.0
    log_characters = 800
    not_ready = "no answer"

    def _find_programs(self) -> tuple[Path]:
        return (find_redis_binary(),)

    def _failure(self, binary: Path) -> str:
        return f"redis-server ({binary}) did not answer PING"

    def _launch(self, binary: Path) -> subprocess.Popen:
        # Redis writes its log itself; stderr is kept for what it says before it can open the log.
        return subprocess.Popen(
            [str(binary), "--port", str(self.ports[0]), "--bind", self.host, "--dir", str(self.folder),
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
             "--logfile", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.folder,
        )

    def _exited(self) -> str:
        stderr = self.process.stderr.read().decode(errors="replace").strip() if self.process.stderr else ""
        return f"{super()._exited()} {stderr}".strip()

    def _ready(self) -> bool:
        """A raw RESP PING, so that starting the server does not depend on the client library."""
        try:
            with socket.create_connection((self.host, self.ports[0]), timeout=0.5) as connection:
                connection.sendall(b"*1\r\n$4\r\nPING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _ask_to_stop(self) -> bool:
        """SHUTDOWN NOSAVE: Redis exits at once without writing a snapshot."""
        with contextlib.suppress(OSError):
            with socket.create_connection((self.host, self.ports[0]), timeout=0.5) as connection:
                connection.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                connection.recv(64)
        return True
