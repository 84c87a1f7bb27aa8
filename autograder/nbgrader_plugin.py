"""An nbgrader preprocessor that grades graded cells in a sandbox instead of the student's kernel.

It replaces nbgrader's ``Execute`` step during ``nbgrader autograde`` (see nbgrader_config.py).
Stock nbgrader runs the hidden tests inside the kernel that has just run the student's code, where
that code can patch the tests, ``pytest`` or builtins; and it zeroes any graded cell that wrote to
stderr. Here the student's code runs in its own sandbox process and the hidden suite in the judge
process, and each graded cell receives the judge's verdict as its output: a plain report when it
passed, an error output (which nbgrader scores as zero) listing the failed checks when it did not.
By the time this runs, nbgrader's ``OverwriteCells`` has restored every graded cell from the
gradebook, so the cells and the parts they name are the instructor's, not the student's.
"""
from __future__ import annotations

import os
import tempfile

import nbformat
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader import utils

from .exercises import EXERCISES
from .grading_run import part_of_cell, run_judge
from .report import format_part


def cell_outputs(ok: bool, text: str) -> list:
    if ok:
        return [new_output("stream", name="stdout", text=text + "\n")]
    head, *rest = text.splitlines() or ["failed"]
    return [new_output("error", ename="ChecksFailed", evalue=head, traceback=[text])]


class SandboxGrading(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        graded = [cell for cell in nb.cells if cell.cell_type == "code" and utils.is_grade(cell)
                  and not utils.is_solution(cell)]
        wanted = {}
        for cell in graded:
            wanted[id(cell)] = part_of_cell(cell.source)
        exercises = {found[0] for found in wanted.values() if found}
        reports = {}
        with tempfile.TemporaryDirectory(prefix="dsp-autograde-") as tmp:
            path = os.path.join(tmp, "submission.ipynb")
            nbformat.write(nb, path)
            for exercise in exercises:
                if exercise in EXERCISES:
                    parts = {found[1] for found in wanted.values() if found and found[0] == exercise}
                    reports[exercise] = run_judge(exercise, path, parts)
        for cell in graded:
            found = wanted[id(cell)]
            if found is None or found[0] not in reports:
                cell.outputs = cell_outputs(False, "✘ this graded cell names no hidden check "
                                                   "(instructor: its hidden region must call grade())")
            else:
                report = reports[found[0]]
                ok, text = format_part(report, found[1])
                cell.outputs = cell_outputs(ok, text)
                self.log.info("%s/%s: %s", found[0], found[1], "passed" if ok else "failed")
            cell.execution_count = None
        return nb, resources
