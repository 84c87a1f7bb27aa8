"""Walls around the sandbox process: an allow-list built with bubblewrap (``bwrap``).

Why: the student's code runs on the instructor's machine, which holds things it must never read:
``/etc/shadow``, the instructor's home, this course's hidden suites and reference solutions, other
copies of the course, other students' submissions, servers on localhost. A deny-list (hide these
folders) always forgets one, so the sandbox instead starts in a fresh, empty root that holds only
what running Python needs, read-only (the interpreter, the venv's packages, ``dspatterns``), plus
its own scratch folder and a private ``/tmp``. It also gets its own network namespace (only a
loopback nobody listens on; sockets a hidden suite hands over still cross as file descriptors), its
own PID namespace (everything it starts dies with it), and an unprivileged uid with no capabilities.

bwrap builds this from unprivileged user namespaces, so an instructor who is not root gets the same
walls as root. As root, bwrap itself runs as an unprivileged uid (``DSP_SANDBOX_UID``, default
``nobody``): the kernel does not enforce a process limit on uid 0, and a process owned by uid 0
owns every root-owned file it can reach. That uid may have no right to walk to the interpreter
(pyenv's lives under ``/root``, mode 700), so the child first bind-mounts the folders bwrap needs
into a staging folder of the sandbox's private temp dir, in a mount namespace of its own, and only
then gives up root.

Where no namespace can be made, grading refuses to start (``walls_problem()`` says why) unless the
instructor explicitly accepts running without walls (``--unsafe-no-walls``, or ``DSP_UNSAFE_NO_WALLS=1``
for the ``nbgrader autograde`` path).
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import pwd
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from ..paths import ROOT

BWRAP_ENV = "DSP_SANDBOX_BWRAP"      # which bwrap to use (tests point it at a missing one)
UID_ENV = "DSP_SANDBOX_UID"          # as root: the unprivileged uid the sandbox runs as
UNSAFE_ENV = "DSP_UNSAFE_NO_WALLS"   # "1": grade even where no walls can be built
SCRATCH = "/scratch"                 # the sandbox's own folder, as it sees it
INSIDE_ID = 65534                    # uid and gid inside the sandbox's user namespace

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) and allow "
                "unprivileged user namespaces (`sysctl kernel.unprivileged_userns_clone=1`, "
                "`user.max_user_namespaces` above 0, or the distribution's AppArmor setting)")
NO_WALLS_LINE = ("WARNING: graded without walls (--unsafe-no-walls): student code could read "
                 "everything this user can read on the machine and reach its network")


class WallsUnavailable(RuntimeError):
    """No walls can be built here and the instructor did not accept grading without them."""


def unsafe_allowed() -> bool:
    return os.environ.get(UNSAFE_ENV, "") not in ("", "0")


def bwrap_path() -> str | None:
    chosen = os.environ.get(BWRAP_ENV)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap")


def sandbox_uid() -> tuple[int, int]:
    """The (uid, gid) bwrap runs as: the caller's own, or as root an unprivileged one."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    wanted = os.environ.get(UID_ENV, "nobody")
    try:
        uid = int(wanted)
        gid = uid
    except ValueError:
        entry = pwd.getpwnam(wanted)
        uid, gid = entry.pw_uid, entry.pw_gid
    if uid == 0:
        raise WallsUnavailable(f"{UID_ENV} must name an unprivileged user, not root")
    return uid, gid


def _python_roots() -> list[Path]:
    """What the student's code may read: the interpreter, the venv and the ``dspatterns`` package
    (never the course folder around them, where the hidden suites and solutions live)."""
    roots = [Path(sys.base_prefix), Path(sys.prefix)]
    spec = importlib.util.find_spec("dspatterns")
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    roots = [r.resolve() for r in roots if r.is_dir()]
    unique = []
    for root in sorted(set(roots), key=lambda p: len(p.parts)):
        if not any(root.is_relative_to(u) for u in unique):
            unique.append(root)
    return unique


def _system_binds() -> tuple[list[str], list[Path]]:
    """The merged-/usr layout (``/lib`` -> ``usr/lib`` as symlinks) and the few files of ``/etc``
    that loading shared libraries and telling the time need."""
    args, binds = [], [Path("/usr")]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            binds.append(Path(top))
    for name in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(name):
            binds.append(Path(os.path.realpath(name)) if name == "/etc/localtime" else Path(name))
    return args, binds


def prepare_private_dir(private: Path, scratch: Path) -> tuple[int, int] | None:
    """As root: let the sandbox's uid walk ``private`` (not list it) and own ``scratch``; the
    (uid, gid) to become. Otherwise None: bwrap runs as the caller, who owns both already."""
    if os.geteuid() != 0:
        return None
    uid, gid = sandbox_uid()
    os.chmod(private, 0o711)
    os.chown(scratch, uid, gid)
    return uid, gid


class Walls:
    """The bwrap command line for one sandbox. ``staging`` (as root): where the child mounts the
    folders bwrap is to bind, so the unprivileged uid bwrap runs as can reach them."""

    def __init__(self, scratch: Path, processes: int, staging: Path | None = None):
        self.staging = staging
        self.staged: list[tuple[str, str]] = []
        links, system = _system_binds()
        args = [bwrap_path() or "bwrap", "--unshare-user", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--disable-userns",
                "--uid", str(INSIDE_ID), "--gid", str(INSIDE_ID), "--hostname", "sandbox",
                "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
        python_roots = _python_roots()
        outside_course = [r for r in python_roots
                          if not _inside_any(r, system) and not r.is_relative_to(ROOT)]
        for path in system + outside_course:
            args += self._bind(path, stage=path in outside_course)
            if path.is_dir() and ROOT.is_relative_to(path):
                # The course sits inside something the sandbox needs (e.g. under /usr/local):
                # cover it with an empty folder before the venv comes back.
                args += ["--tmpfs", str(ROOT)]
        for root in python_roots:
            if root.is_relative_to(ROOT):
                args += self._bind(root, stage=True)
        args += links
        args += ["--size", str(256 * 1024**2), "--tmpfs", "/tmp",
                 "--size", str(64 * 1024**2), "--tmpfs", "/dev/shm"]
        args += ["--bind", str(scratch), SCRATCH]
        args += ["--remount-ro", "/", "--chdir", SCRATCH, "--setenv", "DSP_SANDBOX_PROCESSES",
                 str(processes), "--"]
        self.args = args

    def _bind(self, source: Path, stage: bool) -> list[str]:
        found_at = str(source)
        if stage and self.staging is not None:
            staged = self.staging / str(len(self.staged))
            staged.mkdir(parents=True)
            self.staged.append((str(source), str(staged)))
            found_at = str(staged)
        return ["--ro-bind", found_at, str(source)]


def _inside_any(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(r) for r in roots)


def inside_environment() -> dict[str, str]:
    """An allow-list too: the instructor's environment (tokens, paths) stays outside."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": SCRATCH, "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            "MPLBACKEND": "Agg",
            # glibc gives each thread its own 64 MB malloc arena; under an address-space limit
            # that would make a correct, threaded solution run out of "memory" it never used.
            "MALLOC_ARENA_MAX": "2"}


@functools.lru_cache(maxsize=None)
def _probe(bwrap: str | None, uid: int, environ_key: str) -> str | None:
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed" + (
            f" at {os.environ[BWRAP_ENV]}" if os.environ.get(BWRAP_ENV) else "")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dsp-walls-probe-") as tmp:
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        try:
            become = prepare_private_dir(Path(tmp), scratch)
            walls = Walls(scratch, 64, Path(tmp) / "staging" if become else None)
            done = subprocess.run(walls.args + [sys.executable, "-I", "-c", "pass"],
                                  env=inside_environment(), cwd="/", capture_output=True,
                                  text=True, timeout=60, preexec_fn=enter_walls(walls, become))
        except (OSError, KeyError, WallsUnavailable, subprocess.SubprocessError) as exc:
            return f"bwrap could not be started ({exc})"
    if done.returncode != 0:
        return f"bwrap could not build the walls: {(done.stderr or done.stdout).strip()[:300]}"
    return None


def walls_problem() -> str | None:
    """Why no walls can be built on this machine (None: they can). Tried once per process."""
    return _probe(bwrap_path(), os.geteuid(), os.environ.get(UID_ENV, ""))


def refusal_message(problem: str) -> str:
    return (f"error: refusing to run student code without walls: {problem}. To fix it, "
            f"{INSTALL_HINT}. To grade anyway, knowing that student code could then read this "
            "machine, pass --unsafe-no-walls (or set DSP_UNSAFE_NO_WALLS=1).")


CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x00020000, 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def enter_walls(walls: Walls | None, become: tuple[int, int] | None):
    """What the child does before exec'ing bwrap: as root, stage the folders bwrap binds (in a
    mount namespace of its own, so the machine never sees them) and become the unprivileged uid."""

    def preexec() -> None:
        if walls is not None and walls.staged:
            _check(_libc.unshare(CLONE_NEWNS), "unshare")
            _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate")
            for source, staged in walls.staged:
                _check(_libc.mount(source.encode(), staged.encode(), None, MS_BIND | MS_REC, None),
                       f"bind {source}")
        if become is not None:
            uid, gid = become
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)  # from root to non-root: every capability goes too

    return preexec


def make_preexec(limits, walls: Walls | None = None, become: tuple[int, int] | None = None):
    """Limits set in the child before exec (bwrap and everything it starts inherit them), then
    the steps into the walls. The process limit is set inside, by the runner: only there is it
    counted per sandbox."""
    enter = enter_walls(walls, become)

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        enter()

    return preexec
