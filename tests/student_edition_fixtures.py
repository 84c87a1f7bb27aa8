"""Session fixtures that share one student edition, and one fresh virtual environment made from it, with
every test that needs them (tests/test_student_edition.py, the static site's test).

``student_edition``: the Path of an edition built by the real command, ``python -m autograder
student-edition OUT --git``, in a subprocess. ``edition_python``: the Path of the python of a fresh
venv (``python3.11 -m venv``) inside that edition, made from the edition's own files only:
``pip install -r requirements.txt -c requirements.lock -e .`` run in the edition's folder, with no
PYTHONPATH, so nothing of the instructor's repository is importable there.

Under pytest-xdist each worker has its own session: both are built once per run all the same, by
the first worker that asks, under a file lock in the run's shared temporary folder; the others wait
and reuse them. The venv takes 70 to 110 s to build on 2 cores (pip, from the registry).
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = "python3.11"


def outside_environment() -> dict[str, str]:
    """The environment for commands run in the edition: no PYTHONPATH (the instructor's venv would
    otherwise lend the repository, autograder included) and no active venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(Path(sys.prefix))))
    return env


def _shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is <run>/popen-gw<N>: its parent is shared by the workers.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _locked(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def student_edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student edition, built once per run by ``python -m autograder student-edition OUT --git``."""
    shared = _shared_folder(tmp_path_factory)
    out = shared / "student-edition"
    with _locked(shared / "student-edition.lock"):
        if not (shared / "student-edition.built").is_file():
            done = subprocess.run([sys.executable, "-m", "autograder", "student-edition", str(out), "--git",
                                   "--force"], cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"student-edition failed:\n{done.stdout}\n{done.stderr}"
            (shared / "student-edition.built").write_text(done.stdout)  # the command's summary
    return out


@pytest.fixture(scope="session")
def edition_python(student_edition: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv made from the edition's own files (built once per run)."""
    shared = _shared_folder(tmp_path_factory)
    venv = student_edition / ".venv"
    python = venv / "bin" / "python"
    with _locked(shared / "edition-venv.lock"):
        if not (shared / "edition-venv.built").is_file():
            started = time.monotonic()
            env = outside_environment()
            subprocess.run([VENV_PYTHON, "-m", "venv", str(venv)], cwd=student_edition, env=env, check=True,
                           timeout=300)
            done = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                                   "-r", "requirements.txt", "-c", "requirements.lock", "-e", "."],
                                  cwd=student_edition, env=env, capture_output=True, text=True, timeout=1800)
            assert done.returncode == 0, f"pip install in the edition failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            (shared / "edition-venv.built").write_text(f"{time.monotonic() - started:.0f} s\n")
    return python
