"""Preparing a readable copy of each submission for nbgrader, without touching the original.

nbgrader gives up on a whole submission when one notebook is not valid nbformat (a cell without
metadata, say), or is named differently from the release. Students do both by accident. So before
grading, each submission is copied into a staging folder: notebooks that can be repaired are
repaired, an unambiguous rename is undone, and whatever cannot be read is left out with a message
naming the student and the problem. The files the student handed in are never modified.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .cells import cell_source, nbgrader_meta
from .submission import SubmissionError, read_notebook

NOTES_FILE = ".dsp-notes.json"  # what staging did, for the feedback (students cannot write here)
# Files nbgrader itself puts in every submission: not the student's, so never "unexpected".
NBGRADER_FILES = frozenset({"timestamp.txt", "submission_secret.txt", NOTES_FILE})
_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[-_ ]?copy\d*|-Copy\d+)$", re.IGNORECASE)


@dataclass
class StagedNotebook:
    name: str
    notebook: dict | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class StagedSubmission:
    notebooks: dict[str, StagedNotebook] = field(default_factory=dict)
    extras: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return any(n.notebook is not None for n in self.notebooks.values())

    def problems(self) -> list[tuple[str, str]]:
        found = [(n.name, n.problem) for n in self.notebooks.values() if n.problem]
        found += [(extra, "an unexpected extra file; it was not graded") for extra in self.extras]
        return found


def repair(notebook: dict) -> tuple[dict, list[str]]:
    """Fill in what nbformat requires and students' editors sometimes drop."""
    notes = []
    if not isinstance(notebook.get("metadata"), dict):
        notebook["metadata"] = {}
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise SubmissionError("the notebook has no list of cells")
    bare = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise SubmissionError("the notebook has a cell that is not a code, markdown or raw cell")
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
            bare += 1
        cell["source"] = cell_source(cell)
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    if bare:
        notes.append(f"{bare} cell(s) had no metadata (was the notebook edited outside Jupyter?); "
                     "they were graded as ordinary cells")
    notebook.setdefault("nbformat", 4)
    notebook.setdefault("nbformat_minor", 5)
    node = nbformat.from_dict(notebook)
    try:
        nbformat.validate(node)
    except nbformat.ValidationError as exc:
        raise SubmissionError(f"not a valid notebook even after repair: {exc.message}") from None
    return notebook, notes


def restore_nbgrader_settings(notebook: dict, released: dict[str, dict]) -> list[str]:
    """Give every cell the nbgrader settings it was released with (matched by grade id).

    A student can edit cell metadata; nbgrader then crashes on a forged grade cell or scores a
    forged one. Settings are restored, unknown or repeated grade ids are dropped, and each repair is
    noted for the feedback.
    """
    notes, seen = [], set()
    for index, cell in enumerate(notebook["cells"], start=1):
        if "nbgrader" not in cell["metadata"]:
            continue
        meta = nbgrader_meta(cell)  # {} when forged into something that is not a mapping
        grade_id = meta.get("grade_id")
        if grade_id in released and grade_id not in seen:
            seen.add(grade_id)
            wanted = released[grade_id]
            if {k: meta.get(k) for k in ("grade", "solution", "locked", "points")} != \
                    {k: wanted.get(k) for k in ("grade", "solution", "locked", "points")}:
                notes.append(f"the nbgrader settings of cell {index} (grade id {grade_id!r}) had been "
                             "changed; the released settings were restored")
            cell["metadata"]["nbgrader"] = dict(wanted)
        else:
            why = "repeats an earlier cell's" if grade_id in seen else "is not one of this assignment's"
            notes.append(f"cell {index} claimed grade id {grade_id!r}, which {why}; it was treated "
                         "as an ordinary cell of yours")
            del cell["metadata"]["nbgrader"]
    return notes


def released_settings(release_notebook: Path) -> dict[str, dict]:
    settings = {}
    for cell in json.loads(release_notebook.read_text(encoding="utf-8")).get("cells", []):
        meta = nbgrader_meta(cell)
        if "grade_id" in meta:
            settings[meta["grade_id"]] = meta
    return settings


def _original_format(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("nbformat")
    except (OSError, ValueError, AttributeError):
        return None


def _copy_of(stem: str, expected: str) -> bool:
    return _COPY_SUFFIX.sub("", stem).strip().lower() == expected.lower()


def stage(folder: Path, expected: list[str], released: dict[str, dict[str, dict]],
          handed_out: frozenset[str] | set[str] = frozenset()) -> StagedSubmission:
    """``released``: for each expected notebook, its cells' nbgrader settings by grade id;
    ``handed_out``: the other files released with the assignment (not extras either)."""
    staged = StagedSubmission()
    present = {p.stem: p for p in folder.glob("*.ipynb")}
    unclaimed = [stem for stem in present if stem not in expected]
    for name in expected:
        entry = StagedNotebook(name)
        path = present.get(name)
        if path is None:
            copies = [stem for stem in unclaimed if _copy_of(stem, name)]
            if len(copies) == 1:
                path = present[copies[0]]
                unclaimed.remove(copies[0])
                entry.notes.append(f"graded {path.name} as {name}.ipynb (it had been renamed)")
            else:
                others = ", ".join(sorted(f"{s}.ipynb" for s in unclaimed))
                entry.problem = (f"{name}.ipynb is missing" + (f" (handed in: {others}; rename "
                                 f"the right one to {name}.ipynb and grade again)" if others else ""))
                staged.notebooks[name] = entry
                continue
        try:
            raw = read_notebook(path)
            if _original_format(path) == 3:
                entry.notes.append("converted from notebook format 3 (an old Jupyter) to format 4")
            entry.notebook, notes = repair(json.loads(json.dumps(raw)))
            entry.notes += notes
            entry.notes += restore_nbgrader_settings(entry.notebook, released.get(name, {}))
        except SubmissionError as exc:
            entry.problem = str(exc)
        staged.notebooks[name] = entry
    staged.extras = sorted(f"{stem}.ipynb" for stem in unclaimed) + sorted(
        p.name for p in folder.iterdir()
        if p.is_file() and p.suffix != ".ipynb" and p.name not in NBGRADER_FILES | set(handed_out))
    return staged


def write(staged: StagedSubmission, original: Path, dest: Path) -> None:
    """The staged copy nbgrader will read: repaired notebooks, the other files as they were, and
    the notes."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path in original.iterdir():  # timestamp.txt, submission_secret.txt (for feedback), extras
        if path.is_file() and path.suffix != ".ipynb" and path.name != NOTES_FILE:
            shutil.copy(path, dest / path.name)
    notes = {}
    for name, entry in staged.notebooks.items():
        if entry.notebook is not None:
            nbformat.write(nbformat.from_dict(entry.notebook), dest / f"{name}.ipynb")
        notes[name] = entry.notes + ([entry.problem] if entry.problem else [])
    (dest / NOTES_FILE).write_text(json.dumps(notes), encoding="utf-8")


def read_notes(folder: Path, notebook: str) -> list[str]:
    try:
        return list(json.loads((folder / NOTES_FILE).read_text(encoding="utf-8")).get(notebook, []))
    except (OSError, ValueError, AttributeError):
        return []
