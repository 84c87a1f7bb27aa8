"""Where a student stands: does each exercise notebook, as it is saved now, pass its visible checks?

Each notebook runs in a kernel of its own (started fresh, its own folder as the working directory, as
in JupyterLab), from a copy read into memory: the student's file is never written. A visible check is
an nbgrader test cell (``grade`` true, not a solution cell); in a released notebook it holds only the
visible asserts, so passing them says "ready to submit", not "full marks" (the hidden suite grades
more).

The exercises are found by scanning a folder for nbgrader notebooks, one subfolder per family
(``exercises/resilience/retry.ipynb``, or ``./resilience/retry.ipynb`` after ``nbgrader
fetch_assignment``). They are listed in the course syllabus's order: the order their links appear in
``course/00_index.ipynb`` when the course is there, then the rest by family and name.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import nbformat

PACKAGE_ROOT = Path(__file__).resolve().parent
COURSE_INDEX = PACKAGE_ROOT.parent / "course" / "00_index.ipynb"
CELL_TIMEOUT_S = 60.0  # an infinite loop in a visible check ends here, with a message saying so
KERNEL_START_TIMEOUT_S = 120.0

# What a notebook's check found (the first four), and the two states a row shows before and during its run.
COULD_NOT_RUN, NOT_STARTED, FAILING, PASSED = "could not run", "not started", "failing", "all visible checks pass"
PENDING, RUNNING = "not checked yet", "running"


def default_exercises_folder() -> Path:
    """The course's ``exercises/`` folder: beside the ``dspatterns`` package (the course checkout), or
    else beside or above the working directory (a notebook in ``course/`` runs in ``course/``)."""
    candidates = [PACKAGE_ROOT.parent / "exercises", Path.cwd().parent / "exercises", Path.cwd() / "exercises"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


@dataclass(frozen=True)
class ExerciseNotebook:
    family: str  # the folder it is in: nbgrader's assignment
    name: str  # the notebook's stem
    path: Path

    @property
    def label(self) -> str:
        return f"{self.family}/{self.name}"


@dataclass(frozen=True)
class NotebookProgress:
    """The outcome of running one notebook's visible checks."""

    exercise: ExerciseNotebook
    state: str
    passed: int = 0
    total: int = 0
    failing_check: str | None = None  # the first cell that failed: a check's grade_id (or an answer cell's)
    error: str | None = None  # the first line of its error (or why the notebook could not run)
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        if self.state == FAILING and self.failing_check:
            return f"{self.failing_check} fails: {self.error}"
        if self.state in (COULD_NOT_RUN, NOT_STARTED) and self.error:
            return f"{self.state}: {self.error}"
        return self.state


def _is_nbgrader_notebook(path: Path) -> bool:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return True  # unreadable: listed, and reported as "could not run" rather than silently dropped
    return any(isinstance(cell, dict) and "nbgrader" in (cell.get("metadata") or {}) for cell in cells)


def syllabus_order(index: Path = COURSE_INDEX) -> list[str]:
    """``family/name`` of every exercise the course index links to, in the order it links them."""
    try:
        text = index.read_text(encoding="utf-8")
    except OSError:
        return []
    found = re.findall(r"exercises/([\w-]+)/([\w-]+)\.ipynb", text)
    return list(dict.fromkeys(f"{family}/{name}" for family, name in found))


def find_exercise_notebooks(folder: Path | str | None = None, index: Path = COURSE_INDEX) -> list[ExerciseNotebook]:
    """Every nbgrader notebook in ``folder``'s subfolders, in the syllabus's order."""
    folder = Path(folder) if folder is not None else default_exercises_folder()
    found = [ExerciseNotebook(path.parent.name, path.stem, path) for path in sorted(folder.glob("*/*.ipynb"))
             if ".ipynb_checkpoints" not in path.parts and _is_nbgrader_notebook(path)]
    ranks = {label: rank for rank, label in enumerate(syllabus_order(index))}
    return sorted(found, key=lambda ex: (ranks.get(ex.label, len(ranks)), ex.family, ex.name))


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _is_visible_check(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _error_line(ename: str, evalue: str) -> str:
    line = _first_line(evalue)
    return f"{ename}: {line}" if line else ename


def check_notebook(exercise: ExerciseNotebook, *, cell_timeout: float = CELL_TIMEOUT_S,
                   kernel_name: str | None = None, clock: Callable[[], float] | None = None) -> NotebookProgress:
    """Runs ``exercise``'s notebook top to bottom in a fresh kernel and counts its visible checks.

    Every cell runs, so one failing check does not hide the others; a cell that runs past
    ``cell_timeout`` ends the run (the kernel is stopped), and the checks not reached count as not
    passed. "Not started" means no check passes and every failure is the stub's
    ``NotImplementedError`` (the answer cell raising it, or the functions it defines).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    clock = clock or time.monotonic
    started = clock()

    def outcome(state: str, **found) -> NotebookProgress:
        return NotebookProgress(exercise, state, seconds=clock() - started, **found)

    try:
        notebook = nbformat.read(exercise.path, as_version=4)
    except FileNotFoundError:
        return outcome(COULD_NOT_RUN, error="the notebook is missing")
    except Exception as unreadable:  # not JSON, or not a notebook
        return outcome(COULD_NOT_RUN, error=f"not a readable notebook ({_first_line(unreadable) or type(unreadable).__name__})")
    checks = [index for index, cell in enumerate(notebook.cells) if _is_visible_check(cell)]
    if not checks:
        return outcome(COULD_NOT_RUN, error="no visible checks found (not an exercise notebook?)")

    kernel = kernel_name or notebook.metadata.get("kernelspec", {}).get("name") or "python3"
    client = NotebookClient(notebook, kernel_name=kernel, timeout=cell_timeout, startup_timeout=KERNEL_START_TIMEOUT_S,
                            allow_errors=False, resources={"metadata": {"path": str(exercise.path.parent)}})
    passed, first_failure, unwritten, other_errors = 0, None, [], 0
    try:
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):  # not into this kernel's output
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                name = _nbgrader(cell).get("grade_id") or f"cell {index + 1}"
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    message = (f"still running after {cell_timeout:g} s (an endless loop, or a wait that never "
                               f"ends?); the kernel was stopped and the checks after it did not run")
                    first_failure = first_failure or (name, message)
                    other_errors += 1
                    break
                except DeadKernelError as died:
                    first_failure = first_failure or (name, f"the kernel died ({_first_line(died)})")
                    other_errors += 1
                    break
                except CellExecutionError as failed:
                    first_failure = first_failure or (name, _error_line(failed.ename, failed.evalue))
                    if failed.ename == "NotImplementedError":
                        unwritten.append(name)
                    else:
                        other_errors += 1
                    continue
                if index in checks:
                    passed += 1
    except Exception as broken:  # the kernel would not start, or nbclient gave up on it
        return outcome(COULD_NOT_RUN, total=len(checks), error=_error_line(type(broken).__name__, str(broken)))

    if passed == len(checks):
        return outcome(PASSED, passed=passed, total=len(checks))
    if passed == 0 and unwritten and not other_errors:
        return outcome(NOT_STARTED, total=len(checks), error="the answer still raises NotImplementedError")
    failing, error = first_failure or (None, None)
    return outcome(FAILING, passed=passed, total=len(checks), failing_check=failing, error=error)


@dataclass
class ProgressRun:
    """Checks notebooks one after another, telling ``on_result`` about each as soon as it is done."""

    exercises: list[ExerciseNotebook]
    cell_timeout: float = CELL_TIMEOUT_S
    results: dict[str, NotebookProgress] = field(default_factory=dict)

    def run(self, on_start: Callable[[ExerciseNotebook], None] | None = None,
            on_result: Callable[[NotebookProgress], None] | None = None,
            only: Iterable[str] | None = None) -> list[NotebookProgress]:
        chosen = set(only) if only is not None else None
        finished = []
        for exercise in self.exercises:
            if chosen is not None and exercise.label not in chosen:
                continue
            if on_start:
                on_start(exercise)
            result = check_notebook(exercise, cell_timeout=self.cell_timeout)
            self.results[exercise.label] = result
            finished.append(result)
            if on_result:
                on_result(result)
        return finished


def check_folder(folder: Path | str | None = None, *, cell_timeout: float = CELL_TIMEOUT_S,
                 on_result: Callable[[NotebookProgress], None] | None = None) -> list[NotebookProgress]:
    """Every exercise notebook in ``folder`` (default: the course's exercises/), checked in order."""
    return ProgressRun(find_exercise_notebooks(folder), cell_timeout).run(on_result=on_result)


__all__ = ["COULD_NOT_RUN", "FAILING", "NOT_STARTED", "PASSED", "ExerciseNotebook", "NotebookProgress",
           "ProgressRun", "check_folder", "check_notebook", "default_exercises_folder", "find_exercise_notebooks"]
