"""Runs an exercise's hidden suite (pytest, in this trusted process) against a student's code (in a
sandbox process) and returns one plain result per test.

The hidden tests receive an ``impl`` fixture: the student's module, seen through the RPC channel.
Everything a test learns from it is plain data, so what the student's code does to its own process
(patching builtins, pytest or this module, exiting, printing fake results) cannot change a verdict.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import resource
import socket
import sys
import time
from pathlib import Path

import pytest

from .exercises import Exercise, get_exercise
from .results import JudgeReport, TestResult
from .sandbox import rpc
from .sandbox.client import Limits, Sandbox, SandboxError
from .sandbox.isolation import refusal_message, unsafe_allowed, walls_problem
from .submission import SubmissionError, student_code


class MissingName(AssertionError):
    """A name the contract requires is not defined by the student's code."""


class StudentModule:
    """The student's module as the hidden tests see it: contract names, or a clear message."""

    def __init__(self, sandbox: Sandbox, exercise: Exercise):
        self._sandbox = sandbox
        self._exercise = exercise

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._sandbox.report.names:
            raise MissingName(missing_names_message(self._exercise, self._sandbox.report, name))
        return getattr(self._sandbox.module, name)


def missing_names_message(exercise: Exercise, loaded, asked: str) -> str:
    """Why a contract name is missing, naming every required name the code lacks, so a student
    fixes them all at once (a typo in one class name otherwise shows up as a dozen failures)."""
    missing = [n for n in exercise.required_names if n not in loaded.names] or [asked]
    text = (f"your code does not define {', '.join(missing)} (the {exercise.name} exercise asks "
            f"for {', '.join(exercise.required_names)})")
    if loaded.errors:
        first = loaded.errors[0]
        text += f"; {first['label']} raised {first['error']} while loading, which may be why"
    return text


# A wait in the student's event loop must end before the channel's own call limit (10 s by
# default) gives up on the answer.
MAX_ASYNC_WAIT = 8.0


class AsyncDriver:
    """The judge's end of ``sandbox/event_loop.EventLoopThread``: calls given as ``(function, args, kwargs)`` with the
    functions taken from the student's module (proxies), outcomes as ``rpc.Outcome``."""

    def __init__(self, remote):
        self._remote = remote

    def run(self, function, *args, timeout: float = 5.0, **kwargs) -> rpc.Outcome:
        """One call, awaited in the loop: ``loop.run(client.connect).result()``."""
        return self.gather([(function, args, kwargs)], timeout=timeout)[0]

    def gather(self, calls, timeout: float = 5.0) -> list[rpc.Outcome]:
        """All ``calls`` started at once, in order; waits for every one (at most ``timeout``)."""
        return self.start(calls, timeout=timeout).wait()

    def start(self, calls, timeout: float = 5.0) -> "RunningCalls":
        """The calls started, without waiting: for arranging what the server does meanwhile."""
        if not 0 < timeout <= MAX_ASYNC_WAIT:
            raise ValueError(f"timeout must be in (0, {MAX_ASYNC_WAIT:g}] seconds, got {timeout!r}")
        calls = [(c[0], list(c[1]) if len(c) > 1 else [], dict(c[2]) if len(c) > 2 else {})
                 for c in calls]
        return RunningCalls(self._remote.start(calls, timeout))


class RunningCalls:
    def __init__(self, remote):
        self._remote = remote

    def done(self) -> list[bool]:
        return list(self._remote.done())

    def wait(self, timeout: float | None = None) -> list[rpc.Outcome]:
        """Every call's outcome, once all are done or the start's timeout (or this ``timeout``,
        if sooner) has passed; a call still running then is cancelled (a ``RuntimeError``)."""
        return [_outcome(ok, value) for ok, value in self._remote.wait(timeout)]


def _outcome(ok, value) -> rpc.Outcome:
    if not ok:
        return rpc.Outcome(error=value)
    if isinstance(value, rpc.Proxy):
        return rpc.Outcome(error=rpc.NotPlainData(
            f"returned a {value._type_name} object where plain data was expected"))
    return rpc.Outcome(value)


class StudentProcess:
    """The hidden suites' ``sandbox`` fixture: what a suite may do in the student's process
    besides using the contract's names, so that checks calling the code many times with plain data
    cost one round trip instead of one per call."""

    def __init__(self, session: "SandboxSession"):
        self._session = session

    def _peer(self) -> rpc.Peer:
        self._session.module()  # started (or restarted) as the ``impl`` fixture would
        return self._session.sandbox.peer

    def random(self, seed: int):
        """``random.Random(seed)`` made in the student's process, so the code under test draws
        from it without a round trip per draw. Only for checks of outputs against the suite's
        own expectations: the student's code can reseed it, which changes nothing but its own
        outputs (a check of what was drawn needs ``support.contract_rng``)."""
        return self._peer().new("random", seed)

    def stable_hash(self, name: str = "md5"):
        """``rpc.STABLE_HASHES[name]`` made in the student's process: a known ``hash_fn`` that
        costs no round trip per call (the suite computes the same values with its own copy)."""
        return self._peer().new("hash", name)

    def listener(self) -> socket.socket:
        """A listening TCP socket on 127.0.0.1 made inside the student's network namespace and
        handed over as a file descriptor: a suite's server accepts on it here, the student's code
        connects to ``listener.getsockname()`` there, and no port opens on the host's network,
        where student code could not reach it anyway and anything else could."""
        sock = self._peer().new("listener")
        if not isinstance(sock, socket.socket):
            raise rpc.ProtocolError("the sandbox answered a listener request without a socket")
        return sock

    def event_loop(self) -> AsyncDriver:
        """An asyncio loop in a thread of the student's process, to run their coroutines there
        (see ``sandbox/event_loop.py``): ``loop.run(client.connect).result()``,
        ``loop.gather([(client.call, args, kwargs), ...])``."""
        return AsyncDriver(self._peer().new("event_loop"))

    @contextlib.contextmanager
    def another_process(self, hash_seed: int):
        """The student's code loaded again in a fresh sandbox whose PYTHONHASHSEED is
        ``hash_seed``, as a module like ``impl``: for checks that something is "the same in every
        process". Compare plain data only (objects of the two processes cannot meet)."""
        session = self._session
        session.module()  # the main sandbox first: a load failure is reported as usual
        limits = dataclasses.replace(session.limits, hash_seed=hash_seed)
        begun = time.monotonic()
        session.starts += 1
        other = Sandbox(session.cells, limits)
        try:
            other.start()
            session.start_seconds += time.monotonic() - begun
            yield StudentModule(other, session.exercise)
        finally:
            other.stop()
            session.past_round_trips += (other.peer.sent + other.peer.served) if other.peer else 0
            session.past_cpu += other.cpu_seconds

    def batch(self, function, argument_lists, kwargs: dict | None = None) -> list[rpc.Outcome]:
        """``function(*args, **kwargs)`` for each ``args`` of ``argument_lists``, in one round trip
        (see ``rpc.call_each``): a list of outcomes, each a plain value or an exception."""
        return rpc.call_each([(function, args, kwargs or {}) for args in argument_lists])

    def call_each(self, calls) -> list[rpc.Outcome]:
        """Different functions (or methods of one object) in one round trip, in order."""
        return rpc.call_each(calls)


class SandboxSession:
    """Keeps one sandbox for a run and starts a fresh one after the student's code killed or hung
    the last one, so one runaway test does not cost every later test its chance."""

    def __init__(self, exercise: Exercise, cells, limits: Limits):
        self.exercise, self.cells, self.limits = exercise, cells, limits
        self.sandbox: Sandbox | None = None
        self.load_failure: str | None = None
        self.load_errors: list[dict] = []
        self.last_death: str | None = None
        self.started = time.monotonic()
        # For the grading profile: sandboxes started, seconds spent starting them (process, walls,
        # loading the student's code), and channel round trips of the sandboxes already stopped.
        self.starts, self.start_seconds, self.past_round_trips, self.past_cpu = 0, 0.0, 0, 0.0

    def module(self) -> StudentModule:
        if self.load_failure:
            raise SandboxError(self.load_failure)
        if time.monotonic() - self.started > self.limits.total_seconds:
            raise SandboxError(f"grading this submission took longer than its budget of "
                               f"{self.limits.total_seconds:g} s; the remaining checks were not run")
        if self.sandbox is not None and not self.sandbox.alive:
            self.last_death = self.sandbox.why_dead()
            self._retire()
        if self.sandbox is None:
            begun = time.monotonic()
            self.starts += 1
            try:
                self.sandbox = Sandbox(self.cells, self.limits).start()
            except SandboxError as exc:
                self.load_failure = str(exc)
                raise
            finally:
                self.start_seconds += time.monotonic() - begun
            self.load_errors = self.sandbox.report.errors
        return StudentModule(self.sandbox, self.exercise)

    def death_reason(self) -> str:
        if self.sandbox is not None and not self.sandbox.alive:
            return self.sandbox.why_dead()
        return self.last_death or "the process running your code stopped"

    def round_trips(self) -> int:
        peer = self.sandbox.peer if self.sandbox is not None else None
        return self.past_round_trips + (peer.sent + peer.served if peer is not None else 0)

    def _retire(self) -> None:
        self.past_round_trips = self.round_trips()
        self.sandbox.stop()
        self.past_cpu += self.sandbox.cpu_seconds
        self.sandbox = None

    def close(self) -> None:
        if self.sandbox is not None:
            self._retire()


def describe_failure(exc: BaseException, session: SandboxSession) -> str:
    """One short paragraph a student can act on: no traceback soup, no hidden test code."""
    if isinstance(exc, (SandboxError, MissingName)):
        text = str(exc)
    elif isinstance(exc, (rpc.RemoteTimeout, rpc.ChannelClosed)):
        text = session.death_reason()
    elif isinstance(exc, AssertionError):
        text = str(exc) or "a check failed"
    elif getattr(exc, "remote_traceback", None) is not None:
        where = exc.remote_traceback
        text = f"your code raised {type(exc).__name__}: {exc}"
        if where:
            text += "\n  " + "\n  ".join(where[-5:])
    else:
        text = f"{type(exc).__name__}: {exc}"
    notes = [n for n in getattr(exc, "__notes__", []) if n.startswith(("Falsifying", "seed", "Replay"))]
    if notes:
        text += "\n" + "\n".join(notes)
    return text


class JudgePlugin:
    """pytest plugin: provides ``impl`` and records each hidden test's outcome."""

    def __init__(self, exercise: Exercise, session: SandboxSession, parts: set[str] | None):
        self.exercise, self.session, self.parts = exercise, session, parts
        self.results: list[TestResult] = []
        self._refused: list[str] = []  # what the channel refused the student's code in this test
        self.began = time.monotonic()
        self.collection_seconds = 0.0
        self.test_seconds: dict[str, float] = {}

    def pytest_collection_finish(self, session):
        self.collection_seconds = time.monotonic() - self.began

    @pytest.fixture
    def impl(self) -> StudentModule:
        return self.session.module()

    @pytest.fixture
    def sandbox(self) -> StudentProcess:
        return StudentProcess(self.session)

    def pytest_collection_modifyitems(self, config, items):
        if self.parts:
            items[:] = [item for item in items if _part_of(item) in self.parts]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        """Note what the grader refused while the test ran: code that swallows the refusal (to
        nudge the clock or edit a record only where it can) would otherwise fail with no word of
        why its trick made no difference."""
        peer = self.session.sandbox.peer if self.session.sandbox is not None else None
        seen = peer.refused if peer is not None else 0
        yield
        self._refused = peer.refusals_after(seen) if peer is not None else []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        self.test_seconds[item.name] = self.test_seconds.get(item.name, 0.0) + report.duration
        if report.when == "call" or (report.when == "setup" and report.failed):
            message = ""
            if call.excinfo is not None and report.failed:
                message = describe_failure(call.excinfo.value, self.session)
                if report.when == "call" and self._refused:
                    message += "\nwhile this check ran, the grader refused: " + "; ".join(
                        self._refused[:3]) + (f" (and {len(self._refused) - 3} more)"
                                              if len(self._refused) > 3 else "")
            doc = (item.function.__doc__ or item.name).strip().splitlines()[0]
            callspec = getattr(item, "callspec", None)
            if callspec is not None:
                doc += " [" + ", ".join(f"{k}={v!r}" for k, v in callspec.params.items()) + "]"
            self.results.append(TestResult(test=item.name, part=_part_of(item), checks=doc,
                                           passed=report.passed, message=message))


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)  # this process (a warm judge runs one submission at a time)
    return usage.ru_utime + usage.ru_stime


def _part_of(item) -> str:
    marker = item.get_closest_marker("part")
    return marker.args[0] if marker else "other"


def judge(exercise_name: str, impl_path: str | Path, parts: set[str] | None = None,
          limits: Limits | None = None) -> JudgeReport:
    """Judge a .py file or a notebook (its code cells except graded test cells)."""
    try:
        cells = student_code(impl_path)
    except SubmissionError as exc:
        return JudgeReport(exercise=get_exercise(exercise_name).name, fatal=str(exc))
    return judge_cells(exercise_name, cells, parts, limits)


def judge_cells(exercise_name: str, cells: list[dict], parts: set[str] | None = None,
                limits: Limits | None = None) -> JudgeReport:
    exercise = get_exercise(exercise_name)
    problem = walls_problem()
    if problem and not unsafe_allowed():  # the grader's set-up, not the student's code, is at fault
        return JudgeReport.broken_grader(exercise.name, refusal_message(problem))
    report = JudgeReport(exercise=exercise.name)
    began, own = time.monotonic(), _cpu(resource.RUSAGE_SELF)
    session = SandboxSession(exercise, cells, limits or Limits())
    plugin = JudgePlugin(exercise, session, parts)
    args = [str(exercise.hidden_suite), "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--assert=plain", "--tb=no", "--no-header", "-o", "console_output_style=classic",
            "--rootdir", str(exercise.hidden_suite.parent), "-c", os.devnull,
            "-p", "_hypothesis_pytestplugin",
            # pytest's unraisable-exception and thread-exception plugins only turn such exceptions
            # into warnings, and collect garbage twice at the end of every session to find them:
            # about 0.16 s per notebook in a warm judge, a tenth of a whole suite's CPU.
            "-p", "no:unraisableexception", "-p", "no:threadexception",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    captured = io.StringIO()
    old_stdout = sys.stdout
    old_autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    # The hidden suites need pytest and hypothesis only; loading every installed plugin (nbval,
    # xdist, ...) would cost seconds per submission and let them change how tests run.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    sys.stdout = captured  # pytest's own chatter is not part of a report
    try:
        code = pytest.main(args, plugins=[plugin])
    finally:
        sys.stdout = old_stdout
        if old_autoload is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = old_autoload
        session.close()
    report.results = plugin.results
    report.profile = {
        "wall": time.monotonic() - began, "cpu_judge": _cpu(resource.RUSAGE_SELF) - own,
        "cpu_sandbox": session.past_cpu,
        "round_trips": session.round_trips(), "sandboxes": session.starts,
        "sandbox_start": session.start_seconds, "collection": plugin.collection_seconds,
        "tests": plugin.test_seconds}
    report.load_errors = session.load_errors
    if session.load_failure:
        report.fatal = session.load_failure
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not report.results:
        # Only the instructor's log gets pytest's words: they may quote hidden test code.
        sys.stderr.write(captured.getvalue()[-5000:])
        if not report.fatal:
            report.fatal = (f"the hidden suite for {exercise.name} could not run "
                            f"(pytest exit {int(code)}); tell your instructor")
            report.grader_error = True
    return report
