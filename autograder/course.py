"""Driving the real nbgrader CLI on a course folder: what the class-scale grading command uses.

A ``Course`` can point at the repository itself or at a scratch copy (the project's tests use
``testkit.ScratchCourse``, so no test touches the instructor's real gradebook).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .paths import ROOT


def venv_bin() -> str:
    return os.path.dirname(sys.executable)


class NbgraderFailed(RuntimeError):
    pass


@dataclass
class Course:
    root: Path

    @property
    def db_url(self) -> str:
        return "sqlite:///" + str(self.root / "instructor" / "gradebook.db")

    def nbgrader(self, *args: str, timeout: float = 1800,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``env``: variables to set for this run only, on top of this process's."""
        (self.root / "instructor").mkdir(exist_ok=True)
        env = dict(os.environ, **(env or {}))
        env["PATH"] = venv_bin() + os.pathsep + env.get("PATH", "")  # nbgrader runs `alembic`
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        command = [sys.executable, "-m", "nbgrader", *args,
                   f"--CourseDirectory.root={self.root}", f"--CourseDirectory.db_url={self.db_url}"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise NbgraderFailed(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n"
                                 + done.stdout + done.stderr)
        return done

    def release_dir(self, assignment: str) -> Path:
        return self.root / "exercises" / assignment

    def submission_dir(self, student: str, assignment: str) -> Path:
        return self.root / "instructor" / "submitted" / student / assignment

    def autograded_dir(self, student: str, assignment: str) -> Path:
        return self.root / "instructor" / "autograded" / student / assignment

    def generate(self, assignment: str) -> None:
        self.nbgrader("generate_assignment", assignment, "--force")

    def autograde(self, assignment: str, *students: str) -> subprocess.CompletedProcess:
        args = ["autograde", assignment, "--create", "--force"]
        for student in students:
            args.append(f"--student={student}")
        return self.nbgrader(*args)
