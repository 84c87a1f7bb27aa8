"""nbgrader preprocessors that grade outside the student's kernel (see nbgrader_config.py).

``SandboxGrading`` takes the place of nbgrader's ``Execute`` during ``nbgrader autograde``. Stock
nbgrader runs the hidden tests inside the kernel that has just run the student's code, where that
code can patch the tests, ``pytest`` or builtins; and it zeroes any graded cell that wrote to
stderr. Here the notebook is rebuilt from the instructor's cells (``integrity.rebuild``), the
student's code runs in a walled sandbox process and the hidden suite in a judge process, and each
graded cell receives the judge's verdict as its output: a plain report when every check passed, an
error output (which nbgrader scores as zero) listing the failed checks when one did not.

``QuietOverwriteCells`` is nbgrader's ``OverwriteCells`` without the false alarm: a graded cell with
hidden tests never matches its gradebook checksum, because students receive it without them, so
stock nbgrader warns "checksum has changed" for every graded cell of every submission, drowning the
warnings that mean something. This one warns only when the cell differs from what was released.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from nbformat import from_dict
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells

from . import staging
from .cells import cell_source, nbgrader_meta
from .exercises import EXERCISES
from .grading_run import part_of_cell, run_judge
from .integrity import SourceCell, code_fingerprint, rebuild, without_hidden_tests
from .results import JudgeReport
from .report import format_notes, format_part
from .submission import SubmissionError, read_notebook

CACHE_ENV = "DSP_JUDGE_CACHE"  # folder of judge reports computed ahead (python -m autograder grade)


def cell_outputs(ok: bool, text: str, partial: float | None = None) -> list:
    """A graded cell's outputs, as nbgrader scores them: text alone is full marks, an error is
    zero, and text followed by a number (``partial`` > 0) is that many points."""
    if ok:
        return [new_output("stream", name="stdout", text=text + "\n")]
    if partial:
        return [new_output("stream", name="stdout", text=text + "\n"),
                new_output("execute_result", data={"text/plain": f"{partial:g}"}, execution_count=None)]
    head = (text.splitlines() or ["failed"])[0]
    return [new_output("error", ename="ChecksFailed", evalue=head, traceback=text.splitlines())]


def partial_points(report: JudgeReport, part: str, points: float) -> float:
    """A part's points shared equally among its hidden checks, for the checks that passed."""
    results = report.for_part(part)
    if not results:
        return 0.0
    return round(points * sum(r.passed for r in results) / len(results), 2)


def gradebook_source_cells(gradebook: Gradebook, notebook_id: str, assignment_id: str) -> dict:
    notebook = gradebook.find_notebook(notebook_id, assignment_id)
    points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
    return {cell.name: SourceCell(grade_id=cell.name, cell_type=cell.cell_type, source=cell.source,
                                  locked=bool(cell.locked), graded=cell.name in points,
                                  points=points.get(cell.name, 0.0))
            for cell in notebook.source_cells}


def suite_digest(exercise: str) -> str:
    from .grading_run import grader_digest
    return grader_digest(exercise)


class WallsRefused(RuntimeError):
    """No walls can be built and the instructor did not accept grading without them. Raised
    before any student code runs, so nbgrader records no grade rather than a wrong zero."""


class SandboxGrading(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        from .sandbox.isolation import refusal_message, unsafe_allowed, walls_problem

        problem = walls_problem()
        if problem and not unsafe_allowed():
            raise WallsRefused(refusal_message(problem))
        info = resources["nbgrader"]
        notebook_id, assignment_id, student_id = info["notebook"], info["assignment"], info["student"]
        with Gradebook(info["db_url"]) as gradebook:
            trusted = gradebook_source_cells(gradebook, notebook_id, assignment_id)
        submitted, staging_notes = self._submitted_cells(assignment_id, student_id, notebook_id, nb)
        rebuilt = rebuild(submitted, trusted)
        rebuilt.notes[:0] = staging_notes

        parts = {gid: part_of_cell(cell_source(cell)) for gid, cell in rebuilt.graded.items()}
        exercises = {found[0] for found in parts.values() if found}
        reports: dict[str, JudgeReport] = {}
        for exercise in exercises:
            if exercise in EXERCISES:
                reports[exercise] = self._judge(exercise, rebuilt.student_code)

        # The notebook written out is the rebuilt one: restored graded cells carry the verdicts.
        nb.cells = [from_dict(cell) for cell in rebuilt.cells]
        notes = format_notes(rebuilt.notes)
        first = True
        for cell in nb.cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id not in rebuilt.graded:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
                continue
            found = parts.get(grade_id)
            if found is None or found[0] not in reports:
                ok, text = False, ("✘ this graded cell names no hidden check (instructor: its hidden "
                                   "region must call grade())")
            else:
                ok, text = format_part(reports[found[0]], found[1])
            partial = None
            if not ok and found is not None and found[0] in reports and EXERCISES[found[0]].partial_credit:
                partial = partial_points(reports[found[0]], found[1], float(nbgrader_meta(cell)["points"]))
                text += f"\n{partial:g} of {float(nbgrader_meta(cell)['points']):g} points: a share for each check passed"
            if first and notes:
                text += "\n" + notes
            first = False
            cell.outputs = cell_outputs(ok, text, partial)
            cell.execution_count = None
            self.log.info("%s %s/%s: %s", student_id, notebook_id, grade_id, "passed" if ok else "failed")
        for note in rebuilt.notes:
            self.log.warning("%s %s: %s", student_id, notebook_id, note)
        return nb, resources

    def _submitted_cells(self, assignment_id, student_id, notebook_id, nb) -> tuple[list, list]:
        """The cells as the student handed them in (before nbgrader's sanitizing repaired them),
        and what staging (python -m autograder grade) had to do to make them readable."""
        coursedir = CourseDirectory(config=self.config)
        folder = Path(coursedir.format_path(coursedir.submitted_directory, student_id, assignment_id))
        notes = staging.read_notes(folder, notebook_id)
        try:
            return read_notebook(folder / f"{notebook_id}.ipynb")["cells"], notes
        except (SubmissionError, KeyError, TypeError):
            return [dict(cell) for cell in nb.cells], notes

    def _judge(self, exercise: str, code: list[dict]) -> JudgeReport:
        key = code_fingerprint(exercise, suite_digest(exercise), code)
        cache = os.environ.get(CACHE_ENV)
        if cache:
            cached = Path(cache) / f"{key}.json"
            if cached.exists():
                return JudgeReport.from_json(cached.read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory(prefix="dsp-autograde-") as tmp:
            path = Path(tmp) / "code.json"
            path.write_text(json.dumps(code), encoding="utf-8")
            report = run_judge(exercise, path)
        if cache and not report.grader_error:
            Path(cache).mkdir(parents=True, exist_ok=True)
            (Path(cache) / f"{key}.json").write_text(report.to_json(), encoding="utf-8")
        return report


class QuietOverwriteCells(OverwriteCells):
    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id is not None and utils.is_grade(cell):
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source = None
            if source is not None and cell.source == without_hidden_tests(source.source):
                cell.source = source.source  # exactly what was released: nothing to warn about
        return super().preprocess_cell(cell, resources, cell_index)
