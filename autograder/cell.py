"""``grade(exercise, part)``: what a graded cell's hidden region calls when a notebook is run in a
kernel (an instructor validating a source notebook, or a test executing it top to bottom).

It grades the notebook file in the kernel's working directory in a separate judge process and
raises if any check failed, so the cell errors exactly when ``nbgrader autograde`` would score it
zero. ``nbgrader autograde`` itself never runs this in the student's kernel: its sandboxed
preprocessor reads the same call and grades outside the kernel.
"""
from __future__ import annotations

from pathlib import Path

from .grading_run import run_judge
from .report import format_part


class ChecksFailed(AssertionError):
    pass


def grade(exercise: str, part: str, notebook: str | None = None) -> None:
    path = Path(notebook or f"{exercise}.ipynb").resolve()
    report = run_judge(exercise, path, {part})
    ok, text = format_part(report, part)
    print(text)
    if not ok:
        raise ChecksFailed(text.splitlines()[0])
