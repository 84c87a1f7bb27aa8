"""Turning what a student handed in (a notebook or a .py file) into the code the sandbox runs."""
from __future__ import annotations

import json
from pathlib import Path

from .cells import cell_source, is_graded_test_cell


class SubmissionError(Exception):
    """The submission cannot be read as code; the message says what is wrong and how to fix it."""


def notebook_cells(notebook: dict) -> list[dict]:
    """The student's code from a notebook: every code cell except graded test cells, in order."""
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise SubmissionError("the notebook has no list of cells (is it an nbformat 4 notebook?)")
    code = []
    for index, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            raise SubmissionError(f"cell {index} of the notebook is not a cell object")
        if cell.get("cell_type") == "code" and not is_graded_test_cell(cell):
            code.append({"label": f"cell {index}", "source": cell_source(cell)})
    return code


def read_notebook(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(f"{path.name} is not a text file (UTF-8)") from None
    if not text.strip():
        raise SubmissionError(f"{path.name} is empty")
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"{path.name} is not valid notebook JSON (line {exc.lineno}, column "
                              f"{exc.colno}: {exc.msg}); open it in JupyterLab to repair it, or "
                              "fetch a fresh copy of the assignment") from None
    if not isinstance(notebook, dict):
        raise SubmissionError(f"{path.name} is not a notebook (its JSON is not an object)")
    if notebook.get("nbformat") in (3,):
        import nbformat  # an old Jupyter's format: convert it, as nbgrader does
        return nbformat.reads(text, as_version=4)
    if notebook.get("nbformat") != 4:
        raise SubmissionError(f"{path.name} is in notebook format {notebook.get('nbformat')!r}; "
                              "this course needs format 4 (JupyterLab 4 saves it)")
    return notebook


def student_code(path: str | Path) -> list[dict]:
    """The pieces of code to run, each with a label that error messages use to point at it."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    if path.suffix == ".py":
        return [{"label": f"your file {path.name}", "source": path.read_text(encoding="utf-8")}]
    if path.suffix == ".ipynb":
        return notebook_cells(read_notebook(path))
    if path.suffix == ".json":  # cells already extracted (by integrity.rebuild)
        cells = json.loads(path.read_text(encoding="utf-8"))
        if not all(isinstance(c, dict) and {"label", "source"} <= set(c) for c in cells):
            raise SubmissionError(f"{path.name} is not a list of code cells")
        return cells
    raise SubmissionError(f"{path.name}: expected a .py file or a .ipynb notebook")
