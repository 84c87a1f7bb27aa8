"""Grades are recorded while the class is still being judged: nbgrader runs over batches of the
students whose notebooks are all judged, one run at a time, and the gradebook ends up the same as
with one run after judging."""
from __future__ import annotations

import io

import pytest

from autograder import classroom, recording
from autograder.exercises import EXERCISES
from autograder.testkit import ScratchCourse, filled_notebook

pytestmark = pytest.mark.slow


def test_students_are_recorded_in_batches_as_they_are_judged(tmp_path, monkeypatch):
    exercise = EXERCISES["circuit_breaker"]
    course = ScratchCourse.scratch(tmp_path / "course")
    course.generate("resilience")
    release = course.release_dir("resilience") / "circuit_breaker.ipynb"
    handed_in = {"right": filled_notebook(release, exercise.reference_code),
                 "buggy": filled_notebook(release, exercise.mutants[0].code),
                 "stub": release}
    for student, notebook in handed_in.items():
        course.submit(student, "resilience", {"circuit_breaker": notebook})
    monkeypatch.setattr(recording, "BATCH", 1)

    out = io.StringIO()
    assert classroom.grade(course, ["resilience"], workers=2, out=out) == 0
    said = out.getvalue()
    runs = int(said.split("recorded in ")[1].split("(")[1].split(" nbgrader run")[0])
    assert 2 <= runs <= 3, said  # a batch per student judged, or two judged together
    cb = {student: {cell: points for cell, points in course.scores("resilience", student).items()
                    if cell.startswith("circuit_breaker/")} for student in handed_in}
    full = {cell: best for cell, (_, best) in cb["right"].items()}
    assert {cell: score for cell, (score, _) in cb["right"].items()} == full
    assert sum(score for score, _ in cb["buggy"].values()) < sum(full.values())
    assert sum(score for score, _ in cb["stub"].values()) == 0
    log = recording.log_path(course, "resilience").read_text()
    assert all(f"/staged/{student}/" in log for student in handed_in)  # every batch's run logged
