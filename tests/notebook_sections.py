"""Running one section of a course notebook on its own, for tests of what it shows.

pytest runs every course notebook top to bottom under nbval, which fails on an error and compares the
stored outputs of the tagged cells only (tests/course_nbval.py); no cell that talks to a server is
tagged. A section that talks to a real server (Redis, etcd, ZooKeeper) also prints a fallback instead
of its figures when the server is missing, which that run cannot tell from success; the tests of those
sections run just the section's cells (and any cells they depend on) and read what they printed.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError


def section_cells(notebook: nbformat.NotebookNode, heading: str) -> list:
    """The cells from the markdown cell starting with ``heading`` (e.g. ``"## 5."``) up to the next
    ``## `` heading."""
    cells = notebook.cells
    starts = [i for i, cell in enumerate(cells)
              if cell.cell_type == "markdown" and cell.source.lstrip().startswith(heading)]
    assert len(starts) == 1, f"expected one {heading!r} heading, found {len(starts)}"
    end = next((i for i in range(starts[0] + 1, len(cells))
                if cells[i].cell_type == "markdown" and cells[i].source.lstrip().startswith("## ")),
               len(cells))
    return cells[starts[0]:end]


def run_cells(path: Path, cells: list, timeout: int = 120) -> nbformat.NotebookNode:
    """``cells`` executed in a fresh kernel whose working folder is the notebook's own; a failing
    cell fails the test with its error."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(cell)) for cell in cells])
    client = NotebookClient(notebook, kernel_name="python3", timeout=timeout, startup_timeout=120,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as error:
        pytest.fail(f"a cell of {path.name} failed:\n{error}", pytrace=False)
    return notebook


def printed_text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream")


def plotly_figures(notebook: nbformat.NotebookNode) -> list:
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs if "application/vnd.plotly.v1+json" in output.get("data", {})]
