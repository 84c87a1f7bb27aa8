"""The progress widget's checker, with real kernels: each notebook runs in a fresh kernel in its own folder.

Few kernels (the machine is shared): the released retry notebook as a stub, filled with the reference,
with a known bug; one small crafted nbgrader notebook for the working directory and an endless loop;
and a folder run through the widget, with a corrupted notebook next to a stub.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from widget_tree import html_of

from autograder.exercises import COURSE_NOTEBOOKS, EXERCISES
from autograder.mutation import find_mutant
from autograder.testkit import filled_notebook
from dspatterns.progress import (
    COULD_NOT_RUN,
    FAILING,
    NOT_STARTED,
    PASSED,
    ExerciseNotebook,
    check_notebook,
    default_exercises_folder,
    find_exercise_notebooks,
)
from dspatterns.widgets.progress_view import progress_view

ROOT = Path(__file__).resolve().parent.parent
RETRY = EXERCISES["retry"]
RETRY_CHECKS = ["retry-delays", "retry-jitter", "retry-attempts", "retry-sleeps"]


def student_copy(folder: Path, family: str, name: str, notebook=None) -> ExerciseNotebook:
    path = folder / family / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if notebook is None:
        shutil.copy(ROOT / "exercises" / family / f"{name}.ipynb", path)
    else:
        nbformat.write(nbformat.from_dict(notebook), path)
    return ExerciseNotebook(family, name, path)


def test_the_exercises_are_listed_in_the_registry_order():
    """The scan of exercises/ (dspatterns may not import the registry) finds every registered exercise, in the
    order they are taught: the families as the registry numbers their course notebooks, and within a family
    the order of the sections that teach them (the registry's ``section``) in that notebook."""
    assert default_exercises_folder() == ROOT / "exercises"
    found = [exercise.label for exercise in find_exercise_notebooks()]
    families = list(COURSE_NOTEBOOKS)

    def taught(exercise):
        text = exercise.course_notebook.read_text()
        assert f". {exercise.section}" in text, f"{exercise.section!r} is not a section of {exercise.course_notebook.name}"
        return families.index(exercise.assignment), text.index(f". {exercise.section}")
    expected = sorted(EXERCISES.values(), key=taught)
    assert found == [f"{exercise.assignment}/{exercise.name}" for exercise in expected]


def test_a_stub_is_not_started_and_its_file_is_left_alone(tmp_path):
    exercise = student_copy(tmp_path, "resilience", "retry")
    before = (exercise.path.read_bytes(), exercise.path.stat().st_mtime_ns)
    result = check_notebook(exercise, cell_timeout=60)
    assert (result.state, result.passed, result.total) == (NOT_STARTED, 0, len(RETRY_CHECKS)), result
    assert "NotImplementedError" in result.summary
    assert (exercise.path.read_bytes(), exercise.path.stat().st_mtime_ns) == before, "the student's file changed"
    assert sorted(p.name for p in exercise.path.parent.iterdir()) == ["retry.ipynb"], "files were written beside it"


def test_the_reference_passes_every_visible_check(tmp_path):
    exercise = student_copy(tmp_path, "resilience", "retry", filled_notebook(RETRY.release_notebook, RETRY.reference_code))
    result = check_notebook(exercise, cell_timeout=60)
    assert (result.state, result.passed, result.total) == (PASSED, 4, 4), result.summary


def test_a_bug_is_named_by_its_first_failing_check(tmp_path):
    """max_attempts read as retries: the attempts check fails first, and its first line says why."""
    mutant = find_mutant("retry", "one_attempt_too_many")
    exercise = student_copy(tmp_path, "resilience", "retry", filled_notebook(RETRY.release_notebook, mutant.code))
    result = check_notebook(exercise, cell_timeout=60)
    assert result.state == FAILING and result.failing_check == "retry-attempts", result
    assert result.passed == 2, result  # delays and jitter still pass; the sleeps check fails too
    assert result.error.startswith("AssertionError: max_attempts=4 means 4 calls in all"), result.error
    assert "\n" not in result.error


def crafted(checks: list[str]) -> dict:
    """A small nbgrader notebook: an answer cell, then one visible check per source."""
    def cell(source, **nbgrader):
        made = nbformat.v4.new_code_cell(source)
        made.metadata["nbgrader"] = {"schema_version": 3, "locked": not nbgrader.get("solution"),
                                     "task": False, "solution": False, "grade": False, **nbgrader}
        return made
    cells = [cell("import os\nhere = os.getcwd()", solution=True, grade_id="answer")]
    cells += [cell(source, grade=True, points=1, grade_id=f"check-{n}") for n, source in enumerate(checks, 1)]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return notebook


def test_an_endless_loop_is_cut_off_with_a_message_and_the_folder_is_the_working_directory(tmp_path):
    exercise = student_copy(tmp_path, "loops", "forever", crafted([
        f"assert here == {str(tmp_path / 'loops')!r}, here",
        "assert 1 + 1 == 2",
        "while True:\n    pass",
        "assert True  # never reached",
    ]))
    result = check_notebook(exercise, cell_timeout=3)
    assert (result.state, result.passed, result.total) == (FAILING, 2, 4), result
    assert result.failing_check == "check-3", result
    assert "still running after 3 s" in result.error and "endless loop" in result.error, result.error
    assert result.seconds < 60, result.seconds


def test_the_widget_reports_a_corrupted_notebook_and_still_checks_the_others(tmp_path):
    stub = student_copy(tmp_path, "resilience", "retry")
    corrupted = tmp_path / "data" / "saga.ipynb"
    corrupted.parent.mkdir()
    text = (ROOT / "exercises" / "data" / "saga.ipynb").read_text()
    corrupted.write_text(text[: len(text) // 2])  # cut off mid-save
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "scratch.ipynb").write_text(json.dumps(nbformat.v4.new_notebook()))  # not an exercise

    view = progress_view(tmp_path, cell_timeout=60)
    assert list(view.rows) == ["resilience/retry", "data/saga"], "exercises in the syllabus order, scratch left out"
    assert str(tmp_path) in html_of(view), "the view says which folder it checks"
    view.check_all.click()
    assert view.check_all.disabled, "the button is off while a run is going on"
    view.thread.join(timeout=180)
    assert not view.running

    saga, retry = view.rows["data/saga"].result, view.rows["resilience/retry"].result
    assert saga.state == COULD_NOT_RUN and "not a readable notebook" in saga.error, saga
    assert retry.state == NOT_STARTED and retry.total == 4, retry
    assert view.rows["resilience/retry"].bar.bar_style == "warning"
    assert view.progress.value == 2 and "0 of 2" in view.line.value, view.line.value
    assert "could not run" in html_of(view) and "not started" in html_of(view)
    assert stub.path.read_text() == (ROOT / "exercises" / "resilience" / "retry.ipynb").read_text()
    assert not view.check_all.disabled


def test_a_missing_notebook_could_not_run(tmp_path):
    result = check_notebook(ExerciseNotebook("resilience", "retry", tmp_path / "resilience" / "retry.ipynb"))
    assert result.state == COULD_NOT_RUN and "missing" in result.error, result


def test_check_this_one_runs_only_the_chosen_exercise(tmp_path):
    student_copy(tmp_path, "resilience", "retry")
    (tmp_path / "resilience" / "timeout.ipynb").write_text("{")
    view = progress_view(tmp_path, cell_timeout=60)
    view.choice.value = "resilience/timeout"
    view.check_one.click()
    view.thread.join(timeout=60)
    assert view.rows["resilience/timeout"].result.state == COULD_NOT_RUN
    assert view.rows["resilience/retry"].result is None, "the other exercise was not checked"
    assert view.progress.value == 1 and view.progress.max == 1
    assert view.families["resilience"].count.value == "<b>0/2</b>"
