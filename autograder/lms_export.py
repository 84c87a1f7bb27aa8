"""``python -m autograder export-lms``: the gradebook's grades as files Canvas and Moodle import.

nbgrader knows students by its own ids (the login that submitted); a school's LMS knows them by
others. A roster file maps the one to the other, and its row order is the order of both files.
Each assignment is one column of points: the assignment's total in nbgrader's gradebook
(``instructor/gradebook.db``, the one ``python -m autograder grade`` fills).

**The roster** is a CSV with a header row. ``nbgrader_id`` is required; the rest as the LMS needs:
``name``, ``canvas_id`` (Canvas's numeric user id), ``sis_user_id``, ``sis_login_id``, ``section``
(Canvas), ``moodle_id`` (the Moodle user field chosen at import: email address by default, or
username or ID number, see ``--moodle-field``). Other columns are ignored.

**Canvas** ("How do I import grades in the Gradebook?",
https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807;
its rules checked in Canvas's own importer and exporter, instructure/canvas-lms
``lib/gradebook_importer.rb`` and ``lib/gradebook_exporter.rb``): the header row is
``Student, ID, SIS User ID, SIS Login ID, Section`` and then one column per assignment (the
importer checks that the first header holds "Student", the second "ID" and the last student
column "Section"). A row whose first cell holds "Points Possible" gives each assignment's maximum
(the exporter writes it second, as ``    Points Possible``, and so does this). Canvas finds the
student by ``ID``, then by SIS User ID, then by SIS Login ID, and only then by name. An
assignment column headed ``Name (id)`` goes to the existing assignment with that id, one headed
with an existing assignment's exact title goes to it, any other creates a new assignment (whose
points possible the Points Possible row gives; give ``--canvas-assignment NAME=ID`` to name
existing ones). A blank cell is "no score" (``no_score?``: blank or ``-``): where Canvas has no
score either, nothing changes, so a student without a submission gets no zero; where Canvas
already has a score, the review page shows the change before anything is saved.

**Moodle** ("Grade import", https://docs.moodle.org/311/en/Grade_import, and Moodle's own
``grade/import/csv/classes/load_data.php`` and ``grade/tests/behat/grade_import.feature`` in
moodle/moodle): one identifying column, mapped at import ("Map from" this column, "Map to" email
address, username or ID number), and one column per grade item, each mapped to its grade item
(or to a new one); a column left at its default mapping, "ignore", is not imported (the name
column; ``grade/import/grade_import_form.php``). Every row must name a user Moodle knows (an
unknown one aborts the whole import), so there is no Points Possible row, and a roster student
without ``moodle_id`` is left out (and named, and the exit code says so). A blank cell (or
``-``) imports as "no grade", never as 0. The maximum is the grade item's own maximum grade: a
value above it aborts the import ("larger than the allowed grade maximum"), as does one above the
site's grade point maximum (100 unless the site sets ``unlimitedgrades``), so the command prints
each assignment's maximum to set on its grade item.

A submission in the gradebook whose student is not in the roster is in neither file: the command
names those students and exits 1 (the files are still written, for everyone rostered). Not 0 with
a warning: a warning scrolls by, and a grade that never reaches the LMS is a student's grade lost;
a non-zero exit stops a script or a make target that would upload the files next.
"""
from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course, venv_bin

ROSTER_COLUMNS = ("nbgrader_id", "name", "canvas_id", "sis_user_id", "sis_login_id", "section",
                  "moodle_id")
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "    Points Possible"  # as Canvas's own export writes it
# --moodle-field -> Moodle's name for that user field: the identifying column's header here, and
# what to pick under "Map to" when importing.
MOODLE_FIELDS = {"email": "Email address", "username": "Username", "idnumber": "ID number"}
MOODLE_SITE_MAXIMUM = 100  # Moodle's default gradepointmax


class RosterError(ValueError):
    """The roster cannot be used: said in a sentence that names the file and the row."""


@dataclass(frozen=True)
class RosterEntry:
    nbgrader_id: str
    name: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    moodle_id: str = ""


@dataclass
class Roster:
    entries: list[RosterEntry]

    @classmethod
    def load(cls, path: Path) -> "Roster":
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                headers = [h.strip() for h in reader.fieldnames or []]
                if "nbgrader_id" not in headers:
                    raise RosterError(f"{path}: no nbgrader_id column (the header row must name "
                                      f"it; known columns: {', '.join(ROSTER_COLUMNS)})")
                entries, seen = [], {}
                for line, row in enumerate(reader, start=2):
                    values = {(k or "").strip(): (v or "").strip() for k, v in row.items()
                              if isinstance(v, str)}
                    if not any(values.values()):
                        continue  # a blank line
                    entry = RosterEntry(**{c: values.get(c, "") for c in ROSTER_COLUMNS})
                    if not entry.nbgrader_id:
                        raise RosterError(f"{path}, line {line}: no nbgrader_id")
                    if entry.nbgrader_id in seen:
                        raise RosterError(f"{path}, line {line}: {entry.nbgrader_id} is already on "
                                          f"line {seen[entry.nbgrader_id]}")
                    seen[entry.nbgrader_id] = line
                    entries.append(entry)
        except OSError as exc:
            raise RosterError(f"cannot read the roster {path}: {exc.strerror}") from exc
        return cls(entries)

    def ids(self) -> set[str]:
        return {entry.nbgrader_id for entry in self.entries}


@dataclass
class ClassGrades:
    """What the gradebook holds: each assignment's maximum, and each submission's points."""
    maxima: dict[str, float]  # assignment -> max points, in column order
    # student -> assignment -> points, for the submissions there are
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def read(cls, course: Course) -> "ClassGrades":
        from nbgrader.api import Gradebook

        with Gradebook(course.db_url) as gradebook:
            assignments = sorted(gradebook.assignments, key=lambda a: a.name)
            grades = cls({a.name: float(a.max_score or 0) for a in assignments})
            for assignment in assignments:
                for submission in assignment.submissions:
                    grades.scores.setdefault(submission.student.id, {})[assignment.name] = \
                        float(submission.score or 0)
        return grades

    def score(self, student: str, assignment: str) -> str:
        """The cell: points, or empty where there is no submission (never a zero)."""
        points = self.scores.get(student, {}).get(assignment)
        return "" if points is None else points_text(points)

    def not_in(self, roster: Roster) -> list[str]:
        """The students with a submission whom the roster does not name."""
        return sorted(set(self.scores) - roster.ids())


def points_text(value: float) -> str:
    """At most two decimals, as Canvas's export writes points, without trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def canvas_table(roster: Roster, grades: ClassGrades,
                 assignment_ids: dict[str, str] | None = None) -> list[list[str]]:
    ids = assignment_ids or {}
    headers = [f"{name} ({ids[name]})" if name in ids else name for name in grades.maxima]
    rows = [CANVAS_STUDENT_COLUMNS + headers,
            [CANVAS_POINTS_POSSIBLE, "", "", "", ""]
            + [points_text(m) for m in grades.maxima.values()]]
    for entry in roster.entries:
        rows.append([entry.name, entry.canvas_id, entry.sis_user_id, entry.sis_login_id,
                     entry.section] + [grades.score(entry.nbgrader_id, name) for name in grades.maxima])
    return rows


def moodle_table(roster: Roster, grades: ClassGrades,
                 moodle_field: str = "email") -> tuple[list[list[str]], list[str]]:
    """The rows, and the roster students left out for want of a ``moodle_id``."""
    rows = [[MOODLE_FIELDS[moodle_field], "Full name"] + list(grades.maxima)]
    left_out = []
    for entry in roster.entries:
        if not entry.moodle_id:
            left_out.append(entry.nbgrader_id)
            continue
        rows.append([entry.moodle_id, entry.name]
                    + [grades.score(entry.nbgrader_id, name) for name in grades.maxima])
    return rows, left_out


def write_table(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)


def parse_assignment_ids(pairs: list[str] | None) -> dict[str, str]:
    ids = {}
    for pair in pairs or []:
        name, sep, number = pair.partition("=")
        if not sep or not name.strip() or not number.strip().isdigit():
            raise RosterError(f"--canvas-assignment {pair!r}: give NAME=ID, ID being the number in "
                              "the assignment's Canvas address (.../assignments/ID)")
        ids[name.strip()] = number.strip()
    return ids


def export(course: Course, roster_path: Path, *, canvas: Path | None = None,
           moodle: Path | None = None, moodle_field: str = "email",
           canvas_assignments: list[str] | None = None, out=None, err=None) -> int:
    """Write the files asked for. 0: every submission is in them; 1: written, but some
    submissions are not (their students named on ``err``: not in the roster, or without a
    ``moodle_id`` for the Moodle file); 2: nothing written."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    gradebook = course.root / "instructor" / "gradebook.db"
    if not gradebook.exists():
        print(f"error: no gradebook at {gradebook}: grade first (python -m autograder grade)",
              file=err)
        return 2
    try:
        roster = Roster.load(roster_path)
        assignment_ids = parse_assignment_ids(canvas_assignments)
    except RosterError as exc:
        print(f"error: {exc}", file=err)
        return 2
    os.environ["PATH"] = venv_bin() + os.pathsep + os.environ.get("PATH", "")  # nbgrader's alembic
    grades = ClassGrades.read(course)
    unknown = sorted(set(assignment_ids) - set(grades.maxima))
    if unknown:
        print(f"error: --canvas-assignment names {', '.join(unknown)}, not in the gradebook "
              f"(it has {', '.join(grades.maxima) or 'no assignment'})", file=err)
        return 2
    incomplete = False
    maxima = ", ".join(f"{name} {points_text(m)}" for name, m in grades.maxima.items())
    submitted = sum(1 for entry in roster.entries if entry.nbgrader_id in grades.scores)
    if canvas:
        write_table(canvas, canvas_table(roster, grades, assignment_ids))
        print(f"Canvas: {canvas} ({len(roster.entries)} students, {submitted} with a submission; "
              f"Points Possible: {maxima})", file=out)
    if moodle:
        rows, left_out = moodle_table(roster, grades, moodle_field)
        write_table(moodle, rows)
        label = MOODLE_FIELDS[moodle_field]
        print(f"Moodle: {moodle} ({len(rows) - 1} students); on import map from \"{label}\" to "
              f"\"{label}\", and give each grade item its maximum grade: {maxima}", file=out)
        if left_out:
            print(f"not in the Moodle file (no moodle_id in the roster): {', '.join(left_out)}",
                  file=err)
            incomplete = incomplete or any(student in grades.scores for student in left_out)
        over = [name for name, m in grades.maxima.items() if m > MOODLE_SITE_MAXIMUM]
        if over:
            print(f"note: {', '.join(over)} can score over {MOODLE_SITE_MAXIMUM}, which Moodle "
                  "refuses unless the site allows unlimited grades (unlimitedgrades, "
                  "gradepointmax)",
                  file=err)
    missing = grades.not_in(roster)
    if missing:
        print(f"not in the roster: {', '.join(missing)} (their submissions are in neither file; "
              f"add them to {roster_path} and export again)", file=err)
        incomplete = True
    return 1 if incomplete else 0
