"""Stores, in a course notebook, the outputs of its checked cells, and only theirs.

A cell tagged ``nbval-check-output`` prints something deterministic (a table from a seeded simulation,
a computed figure) that a reader should see without running a kernel; ``pytest`` runs the course
notebooks with ``--nbval-lax``, which compares exactly those cells' fresh outputs with the stored ones.
Every other cell is committed without outputs: widgets and plotly figures are large, hold random
model ids and are drawn again by the kernel anyway.

    python -m tests.store_outputs course/03_data.ipynb [...]     # after editing a notebook
    python -m tests.store_outputs course/02_resilience.ipynb --mark 1a2b3c4d,5e6f7a8b   # tag, then store

The notebook runs once, top to bottom, in a fresh kernel in its own folder (as JupyterLab and nbval
run it); if a cell fails nothing is written. Only the checked cells' outputs and execution counts
change in the file: the notebook's own metadata and every other cell are left as they were.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbval.plugin import find_comment_markers, find_metadata_tags

CHECK_TAG = "nbval-check-output"  # nbval's cell tag for "compare this cell's output" (also under --nbval-lax)
CELL_TIMEOUT_S = 300
KERNEL_START_TIMEOUT_S = 120


def is_checked(cell: nbformat.NotebookNode) -> bool:
    """Whether nbval compares this cell's output under ``--nbval-lax``: asked of nbval's own parsers of
    tags and ``# NBVAL_*`` comments, so this and the test run can never disagree on what is marked."""
    if cell.cell_type != "code":
        return False
    options = dict(find_metadata_tags(cell.metadata))
    options.update(find_comment_markers(cell.source))  # a comment wins over a tag, as in nbval
    return bool(options.get("check")) and not options.get("skip")


def executed_copy(path: Path) -> nbformat.NotebookNode:
    """The notebook run top to bottom in a fresh kernel (a failing cell raises ``CellExecutionError``)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                            startup_timeout=KERNEL_START_TIMEOUT_S, record_timing=False,
                            coalesce_streams=True, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def with_checked_outputs(original: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``original`` with the checked cells' outputs (and execution counts) taken from ``executed`` and
    every other code cell emptied."""
    assert [c.get("id") for c in original.cells] == [c.get("id") for c in executed.cells]
    for cell, ran in zip(original.cells, executed.cells):
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            if not ran.outputs:
                raise ValueError(f"cell {cell.get('id')} is tagged {CHECK_TAG} but printed nothing:\n{cell.source}")
            cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
        else:
            cell.outputs, cell.execution_count = [], None
    return original


def mark(notebook: nbformat.NotebookNode, cell_ids: list[str]) -> None:
    """Tags the code cells with these ids ``nbval-check-output``."""
    by_id = {cell.get("id"): cell for cell in notebook.cells}
    for cell_id in cell_ids:
        cell = by_id.get(cell_id)
        if cell is None or cell.cell_type != "code":
            raise SystemExit(f"no code cell with id {cell_id!r}")
        tags = cell.metadata.setdefault("tags", [])
        if CHECK_TAG not in tags:
            tags.append(CHECK_TAG)


def store(path: Path, mark_ids: list[str] = ()) -> int:
    """Runs ``path`` once and writes it back holding only its checked cells' outputs; returns how many."""
    notebook = nbformat.read(path, as_version=4)
    mark(notebook, list(mark_ids))
    executed = executed_copy(path)
    nbformat.write(with_checked_outputs(notebook, executed), path)
    return sum(is_checked(cell) for cell in notebook.cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.store_outputs", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--mark", default="", help="comma-separated cell ids to tag nbval-check-output first "
                                                   "(one notebook only)")
    args = parser.parse_args(argv)
    ids = [i for i in args.mark.split(",") if i]
    if ids and len(args.notebooks) != 1:
        parser.error("--mark takes one notebook")
    for path in args.notebooks:
        count = store(path, ids)
        print(f"{path}: stored the outputs of {count} checked cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
