"""What `python -m autograder grade` tells the instructor: only real problems, a progress count that
matches what is judged, a finished last line, and totals to sort the class by. Fast: no judging."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import nbformat
import pytest

from autograder import staging
from autograder.classroom import Job, Progress, distinct_jobs, export_totals, judge_all
from autograder.course import Course, venv_bin
from autograder.exercises import ROOT


def submission(folder: Path, *extra: str) -> Path:
    folder.mkdir(parents=True)
    release = ROOT / "exercises" / "resilience" / "circuit_breaker.ipynb"
    nbformat.write(nbformat.read(release, 4), folder / "circuit_breaker.ipynb")
    for name in ("timestamp.txt", "submission_secret.txt", *extra):
        (folder / name).write_text("x")
    return folder


def test_nbgraders_own_files_are_not_problems_a_students_extra_file_is(tmp_path):
    released = {"circuit_breaker": staging.released_settings(
        ROOT / "exercises" / "resilience" / "circuit_breaker.ipynb")}
    clean = staging.stage(submission(tmp_path / "clean"), ["circuit_breaker"], released)
    assert clean.problems() == []
    extra = staging.stage(submission(tmp_path / "extra", "scratch-notes.txt"), ["circuit_breaker"],
                          released)
    assert extra.problems() == [("scratch-notes.txt", "an unexpected extra file; it was not graded")]
    handed_out = staging.stage(submission(tmp_path / "data", "data.csv"), ["circuit_breaker"],
                               released, {"data.csv"})
    assert handed_out.problems() == []  # released with the assignment: not the student's


def jobs(keys: list[str]) -> list[Job]:
    return [Job(f"s{i}", "resilience", "circuit_breaker", "circuit_breaker", key)
            for i, key in enumerate(keys)]


def test_the_count_says_how_many_distinct_notebooks_are_judged(tmp_path):
    work = jobs(["a", "b", "a", "c", "a", "d", "b", "e"])  # 8 notebooks, 5 distinct
    distinct, todo, line = distinct_jobs(work, tmp_path)
    assert (len(distinct), len(todo)) == (5, 5)
    assert line == "5 distinct notebooks, 3 identical to one already judged"
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    _, todo, line = distinct_jobs(work, tmp_path)
    assert len(todo) == 3
    assert line == ("5 distinct notebooks, 3 identical to one already judged; 2 judged in an "
                    "earlier run under the same grader (report reused): 3 to judge")


def test_nothing_to_judge_says_so_and_draws_no_bar(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    out, err = io.StringIO(), io.StringIO()
    judge_all(jobs(["a", "a"]), tmp_path, 1, None, out=out, stream=err)
    assert out.getvalue() == ("1 distinct notebooks, 1 identical to one already judged; 1 judged in "
                              "an earlier run under the same grader (report reused): 0 to judge\n")
    assert err.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream_type", [Terminal, io.StringIO])
def test_the_progress_bar_counts_to_its_total_and_ends_its_line(stream_type):
    stream = stream_type()
    progress = Progress(3, stream)
    for label in ("alice circuit_breaker: 3/9 checks", "bob retry: 9/9 checks", "carol timeout"):
        progress.step(label)
    progress.close()
    text = stream.getvalue()
    assert "3/3" in text and "4/3" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_a_bar_cut_short_still_ends_its_line():
    stream = Terminal()
    progress = Progress(5, stream)
    progress.step("alice circuit_breaker")
    progress.close()  # what judge_all does when a judge raised
    assert stream.getvalue().endswith("\n")


def test_totals_per_student_and_assignment(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", venv_bin() + os.pathsep + os.environ.get("PATH", ""))  # alembic
    course = Course(tmp_path)
    (tmp_path / "instructor").mkdir()
    with Gradebook(course.db_url) as gradebook:
        for assignment, points in (("resilience", 12), ("caching", 8)):
            gradebook.add_assignment(assignment)
            gradebook.add_notebook("nb", assignment)
            gradebook.add_grade_cell("cell", "nb", assignment, max_score=points, cell_type="code")
        for student in ("alice", "bob", "carol"):
            gradebook.add_student(student)
        for assignment, student, score in (("resilience", "alice", 12), ("caching", "alice", 4.5),
                                           ("resilience", "bob", 7)):
            gradebook.add_submission(assignment, student)
            gradebook.find_grade("cell", "nb", assignment, student).auto_score = score
        gradebook.db.commit()
    path = tmp_path / "instructor" / "totals.csv"
    assert export_totals(course, path) == 3
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == ["student", "caching", "caching_max", "resilience", "resilience_max",
                             "total", "total_max"]
    by_student = {row["student"]: row for row in rows}
    assert by_student["alice"]["total"] == "16.5" and by_student["alice"]["total_max"] == "20"
    assert by_student["bob"]["resilience"] == "7" and by_student["bob"]["caching"] == "0"
    assert by_student["carol"]["total"] == "0"  # handed nothing in
    ranked = sorted(rows, key=lambda row: float(row["total"]), reverse=True)
    assert [row["student"] for row in ranked] == ["alice", "bob", "carol"]
