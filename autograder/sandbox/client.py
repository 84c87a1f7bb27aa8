"""Starting, talking to and stopping a sandbox process that holds one student's code."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import rpc
from .isolation import (SCRATCH, Walls, WallsUnavailable, inside_environment, make_preexec,
                        prepare_private_dir, refusal_message, unsafe_allowed, walls_problem)

HERE = Path(__file__).resolve().parent
# -I (isolated mode) would also ignore PYTHONHASHSEED, so its other two parts are spelled out: no
# user site-packages (-s), no script folder on sys.path (-P). The environment is an allow-list
# (``inside_environment``, or the instructor's without any PYTHON* variable), so -E adds nothing.
PYTHON_FLAGS = ("-s", "-P")


class SandboxError(Exception):
    """The student's code could not be loaded or stopped answering; the message says why."""


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class Limits:
    """How much one student's code may use. Generous for correct code, fatal for runaway code.
    Each can be changed with an environment variable (e.g. DSP_LIMIT_CALL_SECONDS=30)."""

    load_seconds: float = field(default_factory=lambda: _env_number("DSP_LIMIT_LOAD_SECONDS", 60))
    call_seconds: float = field(default_factory=lambda: _env_number("DSP_LIMIT_CALL_SECONDS", 10))
    total_seconds: float = field(default_factory=lambda: _env_number("DSP_LIMIT_TOTAL_SECONDS", 300))
    memory_bytes: int = field(default_factory=lambda: int(_env_number("DSP_LIMIT_MEMORY_MB", 3072)) * 1024**2)
    file_bytes: int = 64 * 1024**2
    # Processes and threads together: room for a threaded solution (the bulkhead exercise starts
    # dozens), none for a fork bomb. Counted inside the sandbox's own user namespace.
    processes: int = field(default_factory=lambda: int(_env_number("DSP_LIMIT_PROCESSES", 256)))
    isolate: bool = True  # walls (see isolation.py); off only where the instructor accepted that
    # PYTHONHASHSEED of the student's process: fixed, so that code iterating over a set of strings
    # behaves the same at every grading; a suite checking "the same in every process" starts a
    # second sandbox with another seed (``StudentProcess.another_process``).
    hash_seed: int = 0


@dataclass
class LoadReport:
    names: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


class Sandbox:
    """One running student process. Use as a context manager; ``module`` is the student's module."""

    def __init__(self, cells: list[dict], limits: Limits | None = None):
        self.cells = cells
        self.limits = limits or Limits()
        self.process: subprocess.Popen | None = None
        self.peer: rpc.Peer | None = None
        self.module = None
        self.report = LoadReport()
        self.dead_reason: str | None = None
        self.cpu_seconds = 0.0  # CPU the sandbox's processes used, read as it stops (for profiles)
        self._workdir: str | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def _environment(self, base: dict[str, str]) -> dict[str, str]:
        return dict(base, PYTHONHASHSEED=str(self.limits.hash_seed))

    def start(self) -> "Sandbox":
        limits = self.limits
        problem = walls_problem() if limits.isolate else "turned off"
        if problem and not unsafe_allowed():
            raise WallsUnavailable(refusal_message(problem))
        self.isolated = problem is None
        # The log stays in a private folder beside the scratch folder: the sandbox sees only the
        # latter, so it can neither read nor rewrite what the instructor reads afterwards.
        self._workdir = tempfile.mkdtemp(prefix="dsp-sandbox-")
        scratch = Path(self._workdir) / "scratch"
        scratch.mkdir()
        for name in ("runner.py", "rpc.py", "event_loop.py"):
            shutil.copy(HERE / name, scratch)
        with open(scratch / "code.json", "w", encoding="utf-8") as handle:
            json.dump(self.cells, handle)
        judge_end, sandbox_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._log = open(os.path.join(self._workdir, "output.log"), "wb")
        fd = str(sandbox_end.fileno())
        if self.isolated:
            become = prepare_private_dir(Path(self._workdir), scratch)
            walls = Walls(scratch, limits.processes,
                          Path(self._workdir) / "staging" if become else None)
            self.process = subprocess.Popen(
                walls.args + [sys.executable, *PYTHON_FLAGS, f"{SCRATCH}/runner.py", fd,
                              f"{SCRATCH}/code.json"],
                pass_fds=[sandbox_end.fileno()], stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT, cwd="/", env=self._environment(inside_environment()),
                start_new_session=True, preexec_fn=make_preexec(limits, walls, become))
        else:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("JPY_", "JUPYTER_", "PYTHON"))}
            env.update({k: v for k, v in inside_environment().items()
                        if k in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "MALLOC_ARENA_MAX")})
            self.process = subprocess.Popen(
                [sys.executable, *PYTHON_FLAGS, str(scratch / "runner.py"), fd,
                 str(scratch / "code.json")],
                pass_fds=[sandbox_end.fileno()], stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT, cwd=scratch, env=self._environment(env),
                start_new_session=True,
                preexec_fn=make_preexec(limits))
        sandbox_end.close()

        loaded = threading.Event()
        progress = {"label": None}
        result = {}

        def on_message(message):
            if message.get("op") == "progress":
                progress["label"] = message.get("label")
            elif message.get("op") == "loaded":
                result.update(message)
                loaded.set()

        self.peer = rpc.Peer(judge_end, "judge", restricted=True,
                             default_timeout=limits.call_seconds)
        self.peer.on_message = on_message
        self.peer.on_timeout = lambda seconds: self.stop(
            f"your code did not return within {seconds:g} s (an infinite loop, a deadlock, or a "
            "sleep that should have used the `sleep` you were given?)")
        self.peer.start()
        deadline = time.monotonic() + limits.load_seconds
        while not loaded.wait(0.05):
            if self.peer.closed.is_set():
                self._fail_load(f"your code ended the grading process while loading "
                                f"({self._exit_description()}) in {progress['label'] or 'an early cell'}")
            if time.monotonic() > deadline:
                self._fail_load(f"your code did not finish loading within {limits.load_seconds:g} s: "
                                f"{progress['label'] or 'a cell'} was still running (an infinite loop, "
                                "or a long experiment left in the notebook?)")
        self.module = self.peer.decode(result["module"])
        self.report = LoadReport(names=[str(n) for n in result.get("names", [])],
                                 errors=list(result.get("errors", [])))
        return self

    def _fail_load(self, reason: str):
        self.stop(reason)
        raise SandboxError(reason)

    def _exit_description(self) -> str:
        if self.process is None:
            return "it did not start"
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "it closed its channel"
        if code < 0:
            name = signal.Signals(-code).name
            hint = " - out of memory?" if name in ("SIGKILL", "SIGSEGV", "SIGABRT") else ""
            return f"killed by {name}{hint}"
        return f"exit code {code}: os._exit() or a crash"

    @property
    def alive(self) -> bool:
        return (self.dead_reason is None and self.process is not None and self.process.poll() is None
                and self.peer is not None and not self.peer.closed.is_set())

    def why_dead(self) -> str:
        if self.dead_reason:
            return self.dead_reason
        return f"the process running your code stopped ({self._exit_description()})"

    def stop(self, reason: str | None = None) -> None:
        if reason and not self.dead_reason:
            self.dead_reason = reason
        if self.process is not None and self.process.poll() is None:
            self.cpu_seconds = max(self.cpu_seconds, _tree_cpu_seconds(self.process.pid))
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
        if self.peer is not None:
            self.peer.close()
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def output_tail(self, max_bytes: int = 4000) -> str:
        """The last of what the student's code printed (for reports on crashes)."""
        if not self._workdir:
            return ""
        try:
            with open(os.path.join(self._workdir, "output.log"), "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - max_bytes))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its descendants (bwrap's child included), from /proc:
    the sandbox is killed rather than reaped in order, so the kernel's own child accounting would
    miss the student's process."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total
