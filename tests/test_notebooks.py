"""Every notebook under solutions/ runs top to bottom in a fresh kernel without an error, and a kernel
imports the course's packages.

The course/ notebooks are not run here: pytest runs them under nbval (``course`` is in testpaths, with
``--nbval-lax``; see tests/course_nbval.py and tests/test_stored_outputs.py), which fails on an error in
any cell and also compares the outputs stored for the cells tagged ``nbval-check-output``. The solution
notebooks' outputs are not stored, so they execute with nbclient. Each notebook runs with its own folder
as the working directory, as in JupyterLab.
"""
from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDERS = ("solutions",)
CELL_TIMEOUT_S = 300
KERNEL_START_TIMEOUT_S = 120
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def find_notebooks(folder: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


NOTEBOOKS = [nb for folder in NOTEBOOK_FOLDERS for nb in find_notebooks(folder)]


def test_there_are_solution_notebooks_to_run():
    """Guards the parametrised test below: an empty solutions/ must fail, not pass by running nothing."""
    assert find_notebooks("solutions"), f"no notebooks found under {REPO_ROOT / 'solutions'}"


def test_kernel_can_import_dspatterns_and_autograder(tmp_path):
    """A kernel started from an unrelated folder imports both packages from this checkout.

    `dspatterns` comes from the editable install, `autograder` from the .pth file ./run writes into the
    venv (for a run outside ./run, PYTHONPATH=<repo root> does the same).
    """
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent("""\
        import sys, dspatterns, autograder
        print(sys.prefix)
        print(dspatterns.__path__[0])
        print(list(autograder.__path__)[0])
    """))])
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                            startup_timeout=KERNEL_START_TIMEOUT_S, resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"the kernel cannot import the course packages:\n{exc}")
    prefix, dsp_path, ag_path = nb.cells[0].outputs[0]["text"].split()
    assert prefix == sys.prefix, f"the kernel runs in {prefix}, not in the test's environment {sys.prefix}"
    assert Path(dsp_path) == REPO_ROOT / "dspatterns", f"dspatterns imported from {dsp_path}"
    assert Path(ag_path) == REPO_ROOT / "autograder", f"autograder imported from {ag_path}"


def describe_failure(nb_path: Path, index: int, cell, exc: Exception) -> str:
    lines = cell.source.splitlines()
    source = "\n".join(f"    | {line}" for line in lines[:15]) + ("\n    | ..." if len(lines) > 15 else "")
    error = ANSI_ESCAPE.sub("", str(exc))
    return (f"{nb_path.relative_to(REPO_ROOT)}: cell at index {index} failed ({type(exc).__name__}).\n"
            f"  cell source:\n{source}\n\n{error}")


@pytest.mark.slow
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[str(p.relative_to(REPO_ROOT)) for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(nb_path: Path):
    nb = nbformat.read(nb_path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    assert code_cells, f"{nb_path.relative_to(REPO_ROOT)} has no code to run"

    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=KERNEL_START_TIMEOUT_S,
        resources={"metadata": {"path": str(nb_path.parent)}},
    )
    executed, failure = 0, None
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            try:
                client.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError) as exc:
                failure = describe_failure(nb_path, index, cell, exc)
                break
            if cell.cell_type == "code" and cell.source.strip():
                executed += 1
    if failure:  # failed outside the except block, so the report holds the traceback once
        pytest.fail(failure, pytrace=False)
    assert executed == len(code_cells)
