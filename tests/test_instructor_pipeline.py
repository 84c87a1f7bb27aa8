"""A class graded with `python -m autograder grade`: crafted attacks, accidents and honest work.

One scratch course, every crafted submission from tests/crafted.py plus broken files, graded once;
then feedback is generated and every student's result is checked: nobody earns a point they did
not earn, correct work keeps every point, the rest of the class is graded, each problem is named,
and no submitted file is changed.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.testkit import ScratchCourse
from autograder.exercises import EXERCISES, ROOT
from crafted import CASES, reference
import student_leaks

pytestmark = pytest.mark.slow

# Runaway code is stopped sooner than by default (an infinite loop costs the load limit once);
# the call and whole-submission limits stay at their defaults so correct code on a loaded machine
# is never cut short.
LIMITS = {"DSP_LIMIT_LOAD_SECONDS": "20", "DSP_LIMIT_MEMORY_MB": "2048"}
CB_MAX = 12.0


def broken_submissions(course):
    """(student, writer) pairs: each writes its files into the student's submission folder."""
    good = reference(course)

    def raw(text):
        return lambda folder: (folder / "circuit_breaker.ipynb").write_text(text)

    def old_format(folder):
        nbformat.write(nbformat.convert(nbformat.from_dict(good), 3), folder / "circuit_breaker.ipynb")

    def no_metadata(folder):
        data = json.loads(nbformat.writes(good))
        for cell in data["cells"]:
            cell.pop("metadata")
        (folder / "circuit_breaker.ipynb").write_text(json.dumps(data))

    def renamed(folder):
        nbformat.write(good, folder / "circuit_breaker (1).ipynb")

    def extra_file(folder):
        nbformat.write(good, folder / "circuit_breaker.ipynb")
        (folder / "scratch-notes.txt").write_text("things to ask")

    return {"bad-json": raw('{"cells": [ {"cell_type": '), "empty-file": raw(""),
            "old-format": old_format, "no-metadata": no_metadata, "renamed": renamed,
            "extra-file": extra_file}


def digest_tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_grade(course, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **LIMITS)
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "resilience", "--course",
                           str(course.root), "--workers", "2", *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr[-5000:]
    return done.stdout


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    course = ScratchCourse.scratch(tmp_path_factory.mktemp("class"))
    course.generate("resilience")
    for student, (make, _, _) in CASES.items():
        course.submit(student, "resilience", {"circuit_breaker": make(course)})
    for student, write in broken_submissions(course).items():
        course.submit(student, "resilience", {})
        write(course.submission_dir(student, "resilience"))
    before = digest_tree(course.root / "instructor" / "submitted")
    first = run_grade(course)
    course.nbgrader("generate_feedback", "resilience", "--force")
    after = digest_tree(course.root / "instructor" / "submitted")
    return course, first, before, after


def cb_score(course, student):
    scores = course.scores("resilience", student)
    mine = {k: v for k, v in scores.items() if k.startswith("circuit_breaker/")}
    return sum(s or 0 for s, _ in mine.values()), sum(m for _, m in mine.values())


def feedback_text(course, student) -> str:
    path = course.root / "instructor" / "feedback" / student / "resilience" / "circuit_breaker.html"
    assert path.exists(), f"no feedback for {student}"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("student", sorted(CASES))
def test_crafted_submission_earns_exactly_what_its_code_earns(graded_class, student):
    course, *_ = graded_class
    score, maximum = cb_score(course, student)
    assert maximum == CB_MAX, f"{student}: the circuit breaker is worth {maximum}, not {CB_MAX}"
    expected = CASES[student][1]
    if expected == "partial":
        assert 0 < score < CB_MAX, f"{student} scored {score}/{maximum}, expected some points, not all"
    elif expected.startswith("at most "):  # a trick on top of another case's code gains nothing
        honest = expected.removeprefix("at most ")
        honest_score, _ = cb_score(course, honest)
        assert score <= honest_score, f"{student} scored {score}/{maximum}, more than {honest} " \
                                      f"({honest_score}) with the same bug"
    else:
        expected = CB_MAX if expected == "full" else 0.0
        assert score == expected, f"{student} scored {score}/{maximum}, expected {expected}"


@pytest.mark.parametrize("student", sorted(CASES))
def test_feedback_names_what_happened(graded_class, student):
    course, *_ = graded_class
    text = feedback_text(course, student)
    remarks = [line.strip() for line in html.unescape(re.sub(r"<[^>]+>", "", text)).splitlines()
               if line.strip().startswith(("note:", "your ", "problem"))]
    for phrase in CASES[student][2]:
        assert phrase in text, f"{student}'s feedback should say {phrase!r}; its remarks: {remarks[:8]}"
    assert "BEGIN HIDDEN TESTS" not in text and "grade(" not in text


def test_broken_files_are_named_and_the_rest_graded(graded_class):
    course, output, *_ = graded_class
    assert "problem: bad-json / resilience / circuit_breaker: circuit_breaker.ipynb is not valid " \
           "notebook JSON" in output, output
    assert "problem: empty-file / resilience / circuit_breaker: circuit_breaker.ipynb is empty" in output
    assert "problem: extra-file / resilience / scratch-notes.txt: an unexpected extra file" in output
    assert "not graded (unreadable, see the problems above): bad-json, empty-file" in output
    for student in ("old-format", "no-metadata", "renamed", "extra-file"):
        assert cb_score(course, student) == (CB_MAX, CB_MAX), f"{student} should keep full marks"
    assert "converted from notebook format 3" in feedback_text(course, "old-format")
    assert "had no metadata" in feedback_text(course, "no-metadata")
    assert "graded circuit_breaker (1).ipynb as circuit_breaker.ipynb" in feedback_text(course, "renamed")


def test_no_submitted_file_is_changed(graded_class):
    _, _, before, after = graded_class
    assert before == after


def test_only_real_edits_are_reported_as_changed_cells(graded_class):
    course, *_ = graded_class
    log = (course.root / "instructor" / "grading" / "nbgrader-autograde-resilience.log").read_text()
    warnings_by_student: dict[str, list[str]] = {}
    student = None
    for line in log.splitlines():
        if "/staged/" in line:
            student = line.split("/staged/")[1].split("/")[0]
        elif "WARNING" in line and student:
            warnings_by_student.setdefault(student, []).append(line)
    assert not warnings_by_student.get("reference"), warnings_by_student.get("reference")
    assert not warnings_by_student.get("stderr-noise"), warnings_by_student.get("stderr-noise")
    assert any("has changed" in w for w in warnings_by_student.get("edited-asserts", []))


def test_canary_in_hidden_suites_never_reaches_students(graded_class):
    course, output, *_ = graded_class
    canaries = student_leaks.canaries()
    public = "".join(p.read_text() for p in (ROOT / "exercises").rglob("*.ipynb"))
    hidden_lines = student_leaks.hidden_suite_lines(public)
    received = [output]
    received += [p.read_text() for p in (course.root / "instructor" / "feedback").rglob("*.html")]
    received += [p.read_text() for p in (course.root / "instructor" / "autograded").rglob("*.ipynb")]
    assert len(received) > len(CASES)
    for text in received:
        for canary in canaries.values():
            assert canary not in text
        for line in hidden_lines:
            assert line not in text, f"hidden test code reached a student: {line}"


def test_regrading_is_resumable_and_gives_the_same_grades(graded_class):
    course, *_ = graded_class
    before = (course.root / "instructor" / "grades.csv").read_text()
    again = run_grade(course)
    assert "0 notebooks to grade" in again and f"({len(CASES) + 4} already graded" in again, again
    forced = run_grade(course, "--force")
    assert f"from {len(CASES) + 4} submissions" in forced
    assert (course.root / "instructor" / "grades.csv").read_text() == before
