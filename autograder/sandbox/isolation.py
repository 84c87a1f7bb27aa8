"""Walls around the sandbox process, raised in the child between fork and exec (Linux, as root).

Why: the student's code runs on the instructor's machine. Without walls it could read the hidden
suites or the reference solutions, or write to the gradebook or to another student's files. With
them, the process sees the course's secret folders as empty, sees every other file read-only except
its own scratch folder, and holds no capabilities, so it cannot undo any of this.

Where that is not possible (not root, or the kernel refuses a private mount namespace) the sandbox
still runs in its own process under resource limits (what the channel and the judge guarantee
still holds: student code cannot reach the checker); ``isolation_available()`` tells which.
"""
from __future__ import annotations

import ctypes
import os
import resource
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
LAST_CAPABILITY = 63

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       flags, data and data.encode()), f"mount {target}")


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            points.append(line.split()[4].replace("\\040", " "))
    return points


def _drop_capabilities() -> None:
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    for cap in range(LAST_CAPABILITY + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last real one: fine
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def wall_off(hidden: list[Path], scratch: Path) -> None:
    """Private mount namespace: ``hidden`` folders emptied, everything read-only but ``scratch``,
    then every capability dropped. Runs in the child; raises if any step fails."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for folder in hidden:
        if folder.is_dir():
            _mount("tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=0555")
    _mount(str(scratch), str(scratch), None, MS_BIND)
    keep_writable = {str(scratch)} | {str(f) for f in hidden}
    for point in _mount_points():
        if point in keep_writable or point.startswith(("/proc", "/sys", "/dev")):
            continue
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
        except OSError:
            pass  # a mount we cannot remount is one we could not have written either
    os.chdir(scratch)  # the working directory was entered before the bind mount covered it
    _drop_capabilities()


def isolation_available() -> bool:
    return os.geteuid() == 0 and os.path.exists("/proc/self/mountinfo")


def make_preexec(limits, hidden: list[Path], scratch: Path, isolate: bool):
    """The function subprocess runs in the child before exec: limits first, then the walls."""

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if isolate:
            wall_off(hidden, scratch)

    return preexec
