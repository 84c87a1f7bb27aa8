"""The walls around student code (autograder/sandbox/isolation.py), tried by crafted code.

Each attempt a hostile solution could make is made: read /etc/shadow, the instructor's home,
another copy of the course, another student's submission and the hidden suites; connect to a
server on localhost; fork without end. Each must fail, what it read must never reach any output,
and the rest of the class must still be graded: as root, and as an ordinary user.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autograder.testkit import ScratchCourse, filled_notebook
from autograder.exercises import EXERCISES
from autograder.paths import ROOT
from autograder.sandbox.client import Limits, Sandbox
from autograder.sandbox.isolation import (BWRAP_ENV, NO_WALLS_LINE, WallsUnavailable,
                                          walls_problem)

needs_walls = pytest.mark.skipif(walls_problem() is not None,
                                 reason=f"no walls here: {walls_problem()}")
CANARY = "canary-7f3a9c-not-for-students"


def probe_code(targets: dict[str, str], port: int) -> str:
    """Student code that tries each target and keeps what it got (text if it read anything)."""
    return textwrap.dedent(f'''
        import os, socket
        def _attempt(what, read):
            try:
                return f"{{what}}=read:{{read()}}"
            except Exception as exc:
                return f"{{what}}={{type(exc).__name__}}"
        def _connect():
            with socket.create_connection(("127.0.0.1", {port}), timeout=2) as s:
                return s.recv(200).decode()
        STOLEN = "; ".join([_attempt(what, lambda p=p: open(p).read()) for what, p in {targets!r}.items()]
                           + [_attempt("localhost", _connect)])
        ''')


@pytest.fixture
def planted(tmp_path_factory):
    """Secrets where a solution might look: the home, another course copy, another submission."""
    home = Path(tempfile.mkdtemp(prefix="dsp-walls-home-", dir=Path.home()))
    elsewhere = Path(tempfile.mkdtemp(prefix="dsp-walls-other-", dir="/var/tmp"))
    other_course = elsewhere / "course" / "solutions" / "resilience" / "circuit_breaker.ipynb"
    other_sub = elsewhere / "class" / "instructor" / "submitted" / "bob" / "resilience" / "x.ipynb"
    for path in (other_course, other_sub):
        path.parent.mkdir(parents=True)
        path.write_text(CANARY)
    (home / "notes.txt").write_text(CANARY)
    yield {"shadow": "/etc/shadow", "home": str(home / "notes.txt"),
           "other course": str(other_course), "other submission": str(other_sub),
           "hidden suite": str(ROOT / "autograder" / "hidden" / "conftest.py")}
    shutil.rmtree(home)
    shutil.rmtree(elsewhere)


@pytest.fixture
def banner_server():
    """A server on localhost that greets whoever connects with the canary."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(CANARY.encode())
            conn.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def run_code(source: str, limits: Limits | None = None) -> Sandbox:
    return Sandbox([{"label": "cell 1", "source": source}], limits)


@needs_walls
def test_every_secret_and_localhost_are_out_of_reach(planted, banner_server):
    with run_code(probe_code(planted, banner_server)) as box:
        stolen = box.module.STOLEN
    assert CANARY not in stolen and "root:" not in stolen, stolen
    for what in list(planted) + ["localhost"]:
        assert f"{what}=" in stolen and f"{what}=read" not in stolen, stolen


@needs_walls
def test_student_code_runs_as_an_unprivileged_uid_on_the_machine():
    """Seen from the machine, not from inside (bwrap nests user namespaces, so the sandbox's own
    uid_map shows the uid of the level above, not the machine's)."""
    with run_code('import os\nnamespace = os.readlink("/proc/self/ns/pid")') as box:
        pids = _processes_in(box.module.namespace)
        uids = {_real_uid(pid) for pid in pids}
    assert pids and 0 not in uids, "uid 0 escapes the process limit and owns every root-owned file"


def _real_uid(pid: str) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("Uid:"))


@needs_walls
def test_a_sandbox_has_room_for_two_hundred_threads():
    code = textwrap.dedent('''
        import threading
        release = threading.Event()
        threads = [threading.Thread(target=release.wait) for _ in range(200)]
        for t in threads:
            t.start()
        release.set()
        for t in threads:
            t.join()
        started = len(threads)
        ''')
    with run_code(code) as box:
        assert box.module.started == 200


@needs_walls
def test_the_process_limit_stops_forking_and_dies_with_the_sandbox():
    """The limit counts this sandbox's processes only (its own user namespace), and the PID
    namespace takes every process the code started with it when the sandbox stops."""
    code = textwrap.dedent('''
        import os, time
        pid_namespace = os.readlink("/proc/self/ns/pid")
        children, error = [], None
        try:
            while True:
                pid = os.fork()
                if pid == 0:
                    time.sleep(120)
                    os._exit(0)
                children.append(pid)
        except OSError as exc:
            error = type(exc).__name__
        forked = len(children)
        for pid in children[5:]:  # room again for the threads that answer the judge
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        ''')
    limits = Limits(processes=64)
    box = run_code(code, limits).start()
    try:
        forked, error, namespace = box.module.forked, box.module.error, box.module.pid_namespace
    finally:
        box.stop()
    assert error == "BlockingIOError" and 0 < forked < 64
    deadline = time.monotonic() + 5
    while _processes_in(namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_in(namespace), "processes outlived their sandbox"


def _processes_in(namespace: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == namespace:
                found.append(pid)
        except OSError:
            pass
    return found


@needs_walls
def test_a_fork_bomb_is_cut_off_at_the_load_limit(tmp_path):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    from autograder.sandbox.client import SandboxError
    with pytest.raises(SandboxError, match="did not finish loading"):
        run_code(bomb, Limits(load_seconds=3, processes=64)).start()
    with run_code("x = 1") as box:  # and the next student's code still runs
        assert box.module.x == 1


def test_without_walls_student_code_is_refused(monkeypatch):
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    monkeypatch.delenv("DSP_UNSAFE_NO_WALLS", raising=False)
    with pytest.raises(WallsUnavailable, match="install bubblewrap"):
        run_code("x = 1").start()


def test_check_refuses_without_walls_unless_told(tmp_path):
    impl = tmp_path / "cb.py"
    impl.write_text(EXERCISES["circuit_breaker"].reference_code)
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{BWRAP_ENV: "/nonexistent/bwrap"})
    env.pop("DSP_UNSAFE_NO_WALLS", None)
    command = [sys.executable, "-m", "autograder", "check", "circuit_breaker", "--impl", str(impl)]
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "install bubblewrap" in refused.stderr
    assert "passed" not in refused.stdout
    allowed = subprocess.run(command + ["--unsafe-no-walls"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert allowed.stdout.strip().splitlines()[-1] == NO_WALLS_LINE


# -- a class graded end to end --------------------------------------------------------------------

CLASS_LIMITS = {"DSP_LIMIT_LOAD_SECONDS": "8", "DSP_LIMIT_MEMORY_MB": "2048"}


def crafted_class(course: ScratchCourse, targets: dict[str, str], port: int) -> None:
    """A thief (raises what it read in every check), a fork bomb and two honest students."""
    course.generate("resilience")
    release = course.release_dir("resilience") / "circuit_breaker.ipynb"
    honest = EXERCISES["circuit_breaker"].reference_code
    thief = probe_code(targets, port) + textwrap.dedent('''
        class CircuitOpenError(Exception):
            pass
        class CircuitBreaker:
            def __init__(self, *args, **kwargs):
                raise RuntimeError("STOLEN " + STOLEN)
        ''')
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    for student, code in {"thief": thief, "bomber": bomb, "alice": honest, "zoe": honest}.items():
        course.submit(student, "resilience", {"circuit_breaker": filled_notebook(release, code)})


def grade_class(course: ScratchCourse, as_user: list[str] | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", **CLASS_LIMITS)
    command = [sys.executable, "-m", "autograder", "grade", "resilience", "--course",
               str(course.root), "--workers", "2"]
    done = subprocess.run((as_user or []) + command, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr[-5000:]
    return done.stdout + done.stderr


def check_class(course: ScratchCourse, output: str, targets: dict[str, str]) -> None:
    course.nbgrader("generate_feedback", "resilience", "--force")
    feedback = (course.root / "instructor" / "feedback" / "thief" / "resilience"
                / "circuit_breaker.html").read_text(encoding="utf-8")
    reports = "".join(p.read_text() for p in (course.root / "instructor").rglob("*.json"))
    everything = output + feedback + reports + (course.root / "instructor" / "grades.csv").read_text()
    assert "STOLEN" in feedback, "the thief's code did not run"
    for what in list(targets) + ["localhost"]:
        assert f"{what}=read" not in feedback and f"{what}=" in feedback, what
    assert CANARY not in everything
    shadow_line = Path("/etc/shadow").read_text().splitlines()[0] if os.geteuid() == 0 else "root:$"
    assert shadow_line not in everything
    for honest in ("alice", "zoe"):
        assert course.total("resilience", honest)[0] > 0, f"{honest} was not graded"
    cb = {k: v for k, v in course.scores("resilience", "alice").items() if k.startswith("circuit")}
    assert all(score == maximum for score, maximum in cb.values()), cb
    assert course.total("resilience", "bomber")[0] == 0 and course.total("resilience", "thief")[0] == 0


@pytest.mark.slow
@needs_walls
def test_a_class_with_a_thief_and_a_fork_bomb_is_graded(tmp_path, planted, banner_server):
    course = ScratchCourse.scratch(tmp_path / "course")
    targets = dict(planted, **{"other student": str(course.submission_dir("alice", "resilience")
                                                    / "circuit_breaker.ipynb")})
    crafted_class(course, targets, banner_server)
    check_class(course, grade_class(course), targets)


@pytest.fixture
def throwaway_user():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root to make a throwaway user")
    name = f"dspw{os.getpid() % 100000}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    yield pwd.getpwnam(name)
    subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


@pytest.mark.slow
@needs_walls
def test_an_ordinary_user_gets_the_same_walls(tmp_path, throwaway_user, banner_server):
    """An instructor on a shared server is not root. Here the throwaway user sees the machine as
    such an instructor would: /root is an empty, walkable folder holding only the interpreter."""
    user = throwaway_user
    home = Path(user.pw_dir)
    (home / "notes.txt").write_text(CANARY)
    base = Path(tempfile.mkdtemp(prefix="dsp-walls-user-", dir="/var/tmp"))
    try:
        course = ScratchCourse.scratch(base / "course")
        other = base / "other" / "solutions" / "circuit_breaker.ipynb"
        other.parent.mkdir(parents=True)
        other.write_text(CANARY)
        targets = {"shadow": "/etc/shadow", "home": str(home / "notes.txt"),
                   "other course": str(other),
                   "other student": str(course.submission_dir("alice", "resilience")
                                         / "circuit_breaker.ipynb")}
        crafted_class(course, targets, banner_server)
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(base)], check=True)
        python_home = Path(sys.base_prefix).resolve()
        shown = base / "python"
        shown.mkdir()
        setup = (f"mount --rbind {python_home} {shown} && mount -t tmpfs -o mode=755 tmpfs /root && "
                 f"mkdir -p {python_home} && mount --rbind {shown} {python_home} && "
                 f"mount -o remount,bind,ro {python_home} && exec \"$@\"")
        as_user = ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, "sh",
                   "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                   "--inh-caps=-all", "env", f"HOME={home}", f"USER={user.pw_name}"]
        if not str(python_home).startswith("/root/"):
            as_user = as_user[as_user.index("setpriv"):]
        output = grade_class(course, as_user)
        check_class(course, output, targets)
    finally:
        shutil.rmtree(base, ignore_errors=True)
