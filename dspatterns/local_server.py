"""A private server process for a demo: free local ports, a temporary folder, a bounded start, a sure stop.

The course runs real Redis, etcd and ZooKeeper rather than models of them, and each must neither touch a
server the reader already runs nor outlive the cell that started it. The three starters differ only in
how they launch their program and how they tell it is ready; what they share lives here, once:

* ``LocalServer`` picks ports the OS called free a moment before (and tries again on fresh ones if
  someone took them in between), gives the process a fresh temporary folder, waits a bounded time for it
  to be ready (noticing at once if it exits), and on ``stop()`` terminates it, kills it if it lingers,
  reaps it, closes its log and removes the folder. A start that fails quotes the end of the log, since
  that is where the program says why.
* ``find_program`` prefers Debian's binary and falls back to the PATH, so that a missing server is an
  error with the install command in it rather than a ``FileNotFoundError``.
* ``port_is_open`` lets a test or a report check that nothing listens after the stop.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"


def find_program(debian_path: Path, name: str, missing: Exception) -> Path:
    """``debian_path`` if it exists, else ``name`` on the PATH; raise ``missing`` (which says how to install) if neither."""
    if debian_path.is_file():
        return debian_path
    found = shutil.which(name)
    if found:
        return Path(found)
    raise missing


def free_ports(count: int = 1, host: str = HOST) -> list[int]:
    """``count`` distinct ports the OS considers free now (held open together so that they differ)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]


def port_is_open(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections there: after the server stops, nothing should."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


class LocalServer:
    """One private server process; a subclass says how to find, launch and probe its program.

    A subclass sets ``unavailable`` (the error a notebook catches to print an install hint instead of
    failing), ``name`` (the folder prefix and the log's name), and implements ``_find_programs``,
    ``_failure`` (what did not work, for the error), ``_launch`` and ``_ready``. ``startup_seconds`` is
    how long the last start took until ready, for reports; nothing depends on it.
    """

    unavailable: type[Exception] = RuntimeError
    name = "server"
    port_count = 1
    poll_interval = 0.05
    stop_grace = 5.0  # seconds to wait after each step of the stop before the next, harsher one
    log_characters = 1200
    not_ready = "not ready"

    def __init__(self, *, startup_timeout: float, attempts: int):
        self.startup_timeout = startup_timeout
        self.attempts = attempts
        self.host = HOST
        self.ports: list[int] = []
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None
        self.startup_seconds: float | None = None
        self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int | None:
        """The first (for most servers the only) port, None while not running."""
        return self.ports[0] if self.ports else None

    def _address(self, usage: str) -> str:
        """``host:port`` to connect to; a clear error, with the right ``with`` line, while not running."""
        if self.port is None:
            raise RuntimeError(f"the server is not running: use it inside `{usage}`")
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        return self.folder / f"{self.name}.log" if self.folder else None

    def start(self) -> None:
        """Launch on fresh ports up to ``attempts`` times; raise ``unavailable`` with the log if none got ready."""
        programs = self._find_programs()
        self.folder = Path(tempfile.mkdtemp(prefix=f"dspatterns-{self.name}-"))
        errors = []
        try:
            for _ in range(self.attempts):
                began = time.monotonic()
                self.ports = free_ports(self.port_count, self.host)
                self.process = self._launch(*programs)
                error = self._wait_until_ready()
                if error is None:
                    self.startup_seconds = time.monotonic() - began
                    return
                errors.append(error)
                self._terminate()
            raise self.unavailable(f"{self._failure(*programs)}: {'; '.join(errors)}\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the process (terminate, then kill if it lingers) and delete its folder; safe to call twice."""
        self._terminate()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self.ports = []

    def log_tail(self, characters: int | None = None) -> str:
        log = self.log_path
        characters = self.log_characters if characters is None else characters
        return log.read_text(errors="replace")[-characters:] if log and log.exists() else ""

    def _open_log(self):
        """The log file for a process that writes to stdout and stderr; closed when the process is stopped."""
        self._log = open(self.log_path, "ab")
        return self._log

    def _find_programs(self) -> tuple:
        raise NotImplementedError

    def _failure(self, *programs) -> str:
        raise NotImplementedError

    def _launch(self, *programs) -> subprocess.Popen:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _where(self) -> str:
        return f"on port {self.ports[0]}"

    def _exited(self) -> str:
        return f"it exited with status {self.process.returncode} {self._where()}"

    def _ask_to_stop(self) -> bool:
        """Ask the server to shut down by its own protocol before any signal; True if it was asked."""
        return False

    def _wait_until_ready(self) -> str | None:
        """None once ``_ready()``; otherwise why not (it exited, or the time ran out)."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return self._exited()
            if self._ready():
                return None
            time.sleep(self.poll_interval)
        return f"{self.not_ready} on port {self.ports[0]} within {self.startup_timeout:g} s"

    def _terminate(self) -> None:
        """Wait (if asked politely), then terminate, then kill, each for ``stop_grace``; always reap and close the log."""
        process = self.process
        if process is not None:
            asked = process.poll() is None and self._ask_to_stop()
            for signal_it in ((None,) if asked else ()) + (process.terminate, process.kill):
                if signal_it is not None and process.poll() is None:
                    signal_it()
                try:
                    process.wait(timeout=self.stop_grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if process.stderr:
                process.stderr.close()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
