"""Rebuilding a submitted notebook from what can be trusted, and saying what had to be repaired.

A submission is the student's file: every graded cell, every locked cell and every piece of nbgrader
metadata in it may have been edited, deleted or forged. Grading therefore starts from the source
notebook's cells (the instructor's), matched by grade id, and takes only the student's own cells from
the submission. The same function runs before grading (to prepare sandbox jobs) and inside
``nbgrader autograde`` (after nbgrader's own sanitizing), so both see the same student code.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field

from .cells import cell_source, nbgrader_meta

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass
class SourceCell:
    grade_id: str
    cell_type: str
    source: str
    locked: bool
    graded: bool
    points: float = 0.0


@dataclass
class Rebuilt:
    cells: list[dict]  # the notebook's cells, repaired
    student_code: list[dict]  # what the sandbox runs: {"label", "source"}
    graded: dict[str, dict] = field(default_factory=dict)  # grade_id -> the (repaired) cell
    notes: list[str] = field(default_factory=list)  # what was repaired, in words


def without_hidden_tests(source: str) -> str:
    """A graded cell's source as students received it (nbgrader removes hidden-test regions)."""
    kept, hiding = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            hiding = True
        elif line.strip() == HIDDEN_END:
            hiding = False
        elif not hiding:
            kept.append(line)
    return "\n".join(kept).rstrip("\n")


def rebuild(cells: list[dict], source_cells: dict[str, SourceCell]) -> Rebuilt:
    """Repair ``cells`` against the instructor's ``source_cells`` (by grade id)."""
    notes: list[str] = []
    repaired: list[dict] = []
    seen: set[str] = set()
    graded: dict[str, dict] = {}
    for index, original in enumerate(cells, start=1):
        if not isinstance(original, dict):
            notes.append(f"cell {index} is not a notebook cell and was ignored")
            continue
        cell = copy.deepcopy(original)
        cell["source"] = cell_source(cell)
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if grade_id is not None and (grade_id in seen or grade_id not in source_cells):
            why = "repeats" if grade_id in seen else "is not one of this assignment's"
            notes.append(f"cell {index} claimed grade id {grade_id!r}, which {why}; it was treated "
                         "as an ordinary cell of yours")
            cell.setdefault("metadata", {}).pop("nbgrader", None)
            grade_id = None
        elif grade_id is None and (meta.get("grade") or meta.get("points")):
            cell.setdefault("metadata", {}).pop("nbgrader", None)
            notes.append(f"cell {index} claimed points without a grade id; it was treated as an "
                         "ordinary cell of yours")
        if grade_id is not None:
            seen.add(grade_id)
            trusted = source_cells[grade_id]
            if trusted.locked or trusted.graded:
                if cell.get("cell_type") != trusted.cell_type:
                    notes.append(f"the {_describe(trusted)} {grade_id!r} had been changed to a "
                                 f"{cell.get('cell_type')} cell; it was restored")
                elif trusted.graded and cell_source(cell) not in (
                        without_hidden_tests(trusted.source), trusted.source):
                    notes.append(f"the graded cell {grade_id!r} had been edited; the original was "
                                 "restored before grading")
                elif not trusted.graded and cell_source(cell).rstrip("\n") != trusted.source.rstrip("\n"):
                    notes.append(f"the read-only cell {grade_id!r} had been edited; the original "
                                 "was restored")
                if trusted.graded and (not meta.get("grade") or meta.get("solution")
                                       or float(meta.get("points", -1)) != trusted.points):
                    notes.append(f"the nbgrader settings of graded cell {grade_id!r} had been "
                                 "changed; the originals were restored")
                cell = _restored(cell, trusted)
            if trusted.graded:
                graded[grade_id] = cell
        repaired.append(cell)
    for grade_id, trusted in source_cells.items():
        if trusted.graded and grade_id not in seen:
            notes.append(f"the graded cell {grade_id!r} was missing from the notebook; it was "
                         "restored, and your code was graded as usual")
            cell = _restored({"cell_type": "code", "metadata": {}, "outputs": [], "source": ""},
                             trusted)
            graded[grade_id] = cell
            repaired.append(cell)
    code = []
    for index, cell in enumerate(repaired, start=1):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "code" and meta.get("grade_id") not in graded:
            code.append({"label": f"cell {index}", "source": cell_source(cell)})
    return Rebuilt(cells=repaired, student_code=code, graded=graded, notes=notes)


def _describe(trusted: SourceCell) -> str:
    return "graded cell" if trusted.graded else "read-only cell"


def _restored(cell: dict, trusted: SourceCell) -> dict:
    cell["cell_type"] = trusted.cell_type
    cell["source"] = trusted.source
    meta = cell.setdefault("metadata", {}).setdefault("nbgrader", {})
    meta.update({"grade_id": trusted.grade_id, "locked": trusted.locked, "grade": trusted.graded,
                 "solution": False, "schema_version": 3, "task": False})
    if trusted.graded:
        meta["points"] = trusted.points
    else:
        meta.pop("points", None)
    if trusted.cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return cell


def source_cells_from_notebook(notebook: dict) -> dict[str, SourceCell]:
    """The instructor's cells, read from a source notebook (solutions/...)."""
    found = {}
    for cell in notebook.get("cells", []):
        meta = nbgrader_meta(cell)
        if "grade_id" in meta and (meta.get("locked") or meta.get("grade")) and not meta.get("solution"):
            found[meta["grade_id"]] = SourceCell(
                grade_id=meta["grade_id"], cell_type=cell["cell_type"], source=cell_source(cell),
                locked=bool(meta.get("locked")), graded=bool(meta.get("grade")),
                points=float(meta.get("points", 0) or 0))
    return found


def code_fingerprint(exercise: str, suite_digest: str, code: list[dict]) -> str:
    """The key under which a judge report for this code can be reused."""
    blob = json.dumps([exercise, suite_digest, code], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
