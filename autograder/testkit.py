"""Helpers for the project's own tests and benchmarks: never used when grading a real class.

They make scratch courses, hand in synthetic submissions (a released notebook with given code as
its answer) and read the scores back from the gradebook. Grading itself lives in ``course.py``
(the nbgrader driver), ``classroom.py`` and the sandbox; nothing there imports this module.
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from .cells import is_answer_cell, is_graded_test_cell
from .course import Course
from .paths import RELEASE, SOLUTIONS


class ScratchCourse(Course):
    """A course in a scratch folder that tests can hand work in to and read grades from."""

    @classmethod
    def scratch(cls, where: Path, *, with_release: bool = False) -> "ScratchCourse":
        """A copy of the course's sources (and optionally its release) in ``where``."""
        where = Path(where)
        shutil.copytree(SOLUTIONS, where / "solutions")
        if with_release:
            shutil.copytree(RELEASE, where / "exercises")
        return cls(where)

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

    def scores(self, assignment: str, student: str) -> dict[str, tuple[float, float]]:
        """Points per graded cell, as the gradebook has them: {"notebook/grade_id": (score, max)}."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gradebook:
            submission = gradebook.find_submission(assignment, student)
            return {f"{notebook.name}/{grade.name}": (grade.score, grade.max_score)
                    for notebook in submission.notebooks for grade in notebook.grades}

    def total(self, assignment: str, student: str) -> tuple[float, float]:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gradebook:
            submission = gradebook.find_submission(assignment, student)
            return submission.score, submission.max_score


def answer_cells(notebook) -> list:
    """The cells a student is meant to write in (nbgrader solution cells)."""
    return [cell for cell in notebook.cells if is_answer_cell(cell)]


def graded_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code" and is_graded_test_cell(cell)]


def filled_notebook(release_notebook: Path, code: str) -> dict:
    """The released notebook as a student would hand it in with ``code`` as their answer. Where
    the notebook has several answer cells (the review: one per question), ``code`` goes in the
    first and the others are left empty, as a student who answers everything in one cell would."""
    notebook = nbformat.read(release_notebook, as_version=4)
    answers = [cell for cell in answer_cells(notebook) if cell.cell_type == "code"]
    if not answers:
        raise ValueError(f"{release_notebook.name} has no code answer cell")
    answers[0].source = code
    for cell in answers[1:]:
        cell.source = ""
    return copy.deepcopy(notebook)
