"""Driving the real nbgrader CLI on a course folder: used by the project's tests, the benchmark and
the class-scale grading command.

A ``Course`` can point at the repository itself or at a scratch copy (tests use scratch copies, so
no test touches the instructor's real gradebook).
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .exercises import ROOT
from .submission import is_graded_test_cell


def venv_bin() -> str:
    return os.path.dirname(sys.executable)


class NbgraderFailed(RuntimeError):
    pass


@dataclass
class Course:
    root: Path

    @classmethod
    def scratch(cls, where: Path, *, with_release: bool = False) -> "Course":
        """A copy of the course's sources (and optionally its release) in ``where``."""
        where = Path(where)
        shutil.copytree(ROOT / "solutions", where / "solutions")
        if with_release:
            shutil.copytree(ROOT / "exercises", where / "exercises")
        return cls(where)

    @property
    def db_url(self) -> str:
        return "sqlite:///" + str(self.root / "instructor" / "gradebook.db")

    def nbgrader(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        (self.root / "instructor").mkdir(exist_ok=True)
        env = dict(os.environ)
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

    def submit(self, student: str, assignment: str, notebooks: dict[str, Path | dict]) -> None:
        """Place a student's notebooks where ``nbgrader collect`` would put them."""
        target = self.submission_dir(student, assignment)
        target.mkdir(parents=True, exist_ok=True)
        for name, notebook in notebooks.items():
            if isinstance(notebook, (str, Path)):
                shutil.copy(notebook, target / f"{name}.ipynb")
            else:
                nbformat.write(nbformat.from_dict(notebook), target / f"{name}.ipynb")
        (target / "timestamp.txt").write_text("2026-01-01 12:00:00.000000 UTC\n")

    def autograde(self, assignment: str, *students: str) -> subprocess.CompletedProcess:
        args = ["autograde", assignment, "--create", "--force"]
        for student in students:
            args.append(f"--student={student}")
        return self.nbgrader(*args)

    def scores(self, assignment: str, student: str) -> dict[str, tuple[float, float]]:
        """Points per graded cell, as the gradebook has them: {grade_id: (score, max_score)}."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gradebook:
            submission = gradebook.find_submission(assignment, student)
            found = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    found[f"{notebook.name}/{grade.name}"] = (grade.score, grade.max_score)
            return found

    def total(self, assignment: str, student: str) -> tuple[float, float]:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gradebook:
            submission = gradebook.find_submission(assignment, student)
            return submission.score, submission.max_score


def answer_cells(notebook) -> list:
    """The cells a student is meant to write in (nbgrader solution cells)."""
    return [cell for cell in notebook.cells
            if (cell.get("metadata", {}).get("nbgrader") or {}).get("solution")]


def filled_notebook(release_notebook: Path, code: str) -> dict:
    """The released notebook as a student would hand it in with ``code`` as their answer."""
    notebook = nbformat.read(release_notebook, as_version=4)
    answers = [cell for cell in answer_cells(notebook) if cell.cell_type == "code"]
    if len(answers) != 1:
        raise ValueError(f"{release_notebook.name} has {len(answers)} code answer cells, expected 1")
    answers[0].source = code
    return copy.deepcopy(notebook)


def solution_code(source_notebook: Path) -> str:
    """The reference answer of a source notebook, with nbgrader's region markers removed."""
    notebook = nbformat.read(source_notebook, as_version=4)
    answers = [cell for cell in answer_cells(notebook) if cell.cell_type == "code"]
    lines = answers[0].source.splitlines()
    return "\n".join(line for line in lines
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")) + "\n"


def graded_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code" and is_graded_test_cell(cell)]
