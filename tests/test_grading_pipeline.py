"""Graded work is proven: for every exercise, through the real nbgrader CLI, the reference scores full
marks, the untouched stub scores zero, every known-buggy implementation loses points and every
alternative scores full marks; the committed release equals what nbgrader generates now and carries
no solution or hidden-test code."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from autograder.testkit import ScratchCourse, filled_notebook, graded_cells
from autograder.exercises import EXERCISES, ROOT
import student_leaks

ASSIGNMENTS = sorted({exercise.assignment for exercise in EXERCISES.values()})
MUTANTS = [(name, mutant) for name, exercise in sorted(EXERCISES.items())
           for mutant in exercise.mutants]
# Correct implementations in other styles (autograder/alternatives/<exercise>/*.py): what exists now.
ALTERNATIVES = [(name, path) for name, exercise in sorted(EXERCISES.items())
                for path in exercise.alternatives]


def grade_with_command(course):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for assignment in ASSIGNMENTS:
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", assignment, "--course",
                               str(course.root)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=3000)
        assert done.returncode == 0, done.stdout + done.stderr[-5000:]


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """One scratch course per test module: every assignment generated, and for every exercise a
    reference, a stub, each mutant (its patch applied to its base) and each alternative submitted
    as a separate student, graded in one run of
    `python -m autograder grade` (whose gradebook step is a real `nbgrader autograde`)."""
    course = ScratchCourse.scratch(tmp_path_factory.mktemp("course"))
    for assignment in ASSIGNMENTS:
        course.generate(assignment)
    students = {}
    for name, exercise in EXERCISES.items():
        release = course.release_dir(exercise.assignment) / f"{name}.ipynb"
        variants = {"reference": filled_notebook(release, exercise.reference_code),
                    "stub": release}
        variants.update({f"mutant-{m.name}": filled_notebook(release, m.code)
                         for m in exercise.mutants})
        variants.update({f"alternative-{path.stem}": filled_notebook(release, path.read_text())
                         for path in exercise.alternatives})
        for label, notebook in variants.items():
            student = f"{name}--{label}".replace("_", "-")
            course.submit(student, exercise.assignment, {name: notebook})
            students[(name, label)] = student
    grade_with_command(course)
    return course, students


@pytest.mark.slow
def test_plain_nbgrader_autograde_gives_reference_full_marks_and_stub_zero(tmp_path):
    """The same verdicts through plain `nbgrader autograde`, one submission at a time, no cache."""
    course = ScratchCourse.scratch(tmp_path)
    for assignment in ASSIGNMENTS:
        course.generate(assignment)
    for name, exercise in EXERCISES.items():
        release = course.release_dir(exercise.assignment) / f"{name}.ipynb"
        course.submit(f"ref-{name}", exercise.assignment,
                      {name: filled_notebook(release, exercise.reference_code)})
        course.submit(f"stub-{name}", exercise.assignment, {name: release})
    for assignment in ASSIGNMENTS:
        course.autograde(assignment)
    for name, exercise in EXERCISES.items():
        score, maximum, cells = exercise_total(course, f"ref-{name}", exercise)
        assert score == maximum, f"{name} reference: {cells}"
        score, maximum, cells = exercise_total(course, f"stub-{name}", exercise)
        assert score == 0, f"{name} stub: {cells}"


def exercise_total(course, student, exercise):
    scores = course.scores(exercise.assignment, student)
    mine = {k: v for k, v in scores.items() if k.startswith(f"{exercise.name}/")}
    assert mine, f"the gradebook has no grades for {exercise.name} of {student}"
    return sum(s for s, _ in mine.values()), sum(m for _, m in mine.values()), mine


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_scores_full_marks(graded_course, name):
    course, students = graded_course
    score, maximum, per_cell = exercise_total(course, students[(name, "reference")], EXERCISES[name])
    assert maximum >= 10, f"{name} is worth {maximum} points; every exercise is worth at least 10"
    assert score == maximum, f"reference solution of {name} scored {score}/{maximum}: {per_cell}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_untouched_stub_scores_zero(graded_course, name):
    course, students = graded_course
    score, maximum, per_cell = exercise_total(course, students[(name, "stub")], EXERCISES[name])
    assert score == 0, f"the released stub of {name} scored {score}/{maximum}: {per_cell}"


@pytest.mark.slow
@pytest.mark.parametrize("name,mutant", MUTANTS, ids=[f"{n}/{m.name}" for n, m in MUTANTS])
def test_every_mutant_loses_points(graded_course, name, mutant):
    course, students = graded_course
    student = students[(name, f"mutant-{mutant.name}")]
    score, maximum, per_cell = exercise_total(course, student, EXERCISES[name])
    assert score < maximum, f"known-buggy {mutant.name} scored full marks ({per_cell})"
    notebook = nbformat.read(course.autograded_dir(student, EXERCISES[name].assignment)
                             / f"{name}.ipynb", 4)
    for cell in graded_cells(notebook):
        lines = "\n".join("\n".join(o.get("traceback", [])) + o.get("text", "")
                          for o in cell.outputs).splitlines()
        for index, line in enumerate(lines):
            if line.lstrip().startswith("✘ ") and "hidden checks passed" not in line:
                said = lines[index + 1] if index + 1 < len(lines) else ""
                assert said.startswith("      ") and said.strip(), \
                    f"{mutant.name}: '{line.strip()}' failed without saying why"


@pytest.mark.slow
@pytest.mark.parametrize("name,path", ALTERNATIVES, ids=[f"{n}/{p.stem}" for n, p in ALTERNATIVES])
def test_every_alternative_scores_full_marks(graded_course, name, path):
    course, students = graded_course
    student = students[(name, f"alternative-{path.stem}")]
    score, maximum, per_cell = exercise_total(course, student, EXERCISES[name])
    assert score == maximum, f"alternative {name}/{path.name} scored {score}/{maximum}: {per_cell}"


@pytest.mark.slow
def test_feedback_cells_name_failed_checks_without_hidden_code(graded_course):
    """An autograded graded cell shows the judge's words, not hidden test code or tracebacks."""
    course, students = graded_course
    name, exercise = "circuit_breaker", EXERCISES["circuit_breaker"]
    student = students[(name, "mutant-total_failures")]
    notebook = nbformat.read(course.autograded_dir(student, exercise.assignment) / f"{name}.ipynb", 4)
    texts = {cell.metadata.nbgrader.grade_id: "".join(
        out.get("text", "") + "".join(out.get("traceback", [])) for out in cell.outputs)
        for cell in graded_cells(notebook)}
    assert "✘" in texts["cb-closed"] and "consecutive" in texts["cb-closed"], texts["cb-closed"]
    assert "✔" in texts["cb-open"], texts["cb-open"]
    hidden_source = exercise.hidden_suite.read_text()
    for text in texts.values():
        assert "def test_" not in text and "Traceback" not in text, text
        for line in hidden_source.splitlines():
            if len(line.strip()) > 40 and line.strip().startswith(("expect", "breaker", "def ")):
                assert line.strip() not in text, f"hidden test code leaked into feedback: {line}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_matches_nbgrader_generate(graded_course, assignment):
    """exercises/ is exactly what `nbgrader generate_assignment` produces from solutions/ now."""
    course, _ = graded_course
    generated = sorted(p.relative_to(course.release_dir(assignment))
                       for p in course.release_dir(assignment).rglob("*") if p.is_file())
    committed = sorted(p.relative_to(ROOT / "exercises" / assignment)
                       for p in (ROOT / "exercises" / assignment).rglob("*") if p.is_file())
    assert committed == generated, "exercises/ has different files than nbgrader generates"
    for relative in generated:
        fresh = (course.release_dir(assignment) / relative).read_text()
        kept = (ROOT / "exercises" / assignment / relative).read_text()
        assert kept == fresh, (f"exercises/{assignment}/{relative} is out of date: run "
                               f"`nbgrader generate_assignment {assignment} --force` and commit")


def test_release_carries_no_solution_or_hidden_tests():
    files = [p for p in (ROOT / "exercises").rglob("*") if p.is_file()]
    assert files, "exercises/ is empty"
    solution_lines = student_leaks.solution_lines()
    assert len(solution_lines) > 20, "found too few solution lines to make this check meaningful"
    for path in files:
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                       "autograder", "grade("):
            assert marker not in text, f"{path.relative_to(ROOT)} contains {marker!r}"
        for notebook_line in text.splitlines():
            for line in solution_lines:
                assert line not in notebook_line, \
                    f"{path.relative_to(ROOT)} contains solution code: {line}"
