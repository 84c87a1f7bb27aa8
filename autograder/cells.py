"""Reading notebook cells as the autograder must: without trusting their shape.

A submitted cell may lack metadata, carry a forged or malformed ``nbgrader`` entry, or hold its
source as a list of lines (nbformat allows both). Every module reads cells through these two
functions, so each of those cases is handled once.
"""
from __future__ import annotations


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader settings, or {} when it has none or they are not a mapping."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def cell_source(cell) -> str:
    """The cell's source as one string."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(source) if isinstance(source, list) else str(source or "")


def is_answer_cell(cell) -> bool:
    """A cell a student is meant to write in (an nbgrader solution cell)."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_graded_test_cell(cell) -> bool:
    """A locked, graded test cell (not an answer cell): the grader's code, never the student's."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")
