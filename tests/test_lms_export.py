"""``python -m autograder export-lms``: a real nbgrader gradebook, exported through a roster, read
back as Canvas's and Moodle's importers read their CSV files (the columns each documents; see the
sources cited in ``autograder/lms_export.py``)."""
from __future__ import annotations

import csv
import os
import shutil

import pytest

from autograder.__main__ import main
from autograder.course import Course, venv_bin

# Canvas's importer: "Student" and "ID" first, SIS User ID and SIS Login ID, then "Section" as the
# last student column; assignments after it.
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]

ROSTER = [  # not in nbgrader's order, to see that the files keep the roster's
    {"nbgrader_id": "carol", "name": "Carol Chen", "canvas_id": "303", "sis_user_id": "S3",
     "sis_login_id": "cchen", "section": "Tue", "moodle_id": "carol@school.example"},
    {"nbgrader_id": "alice", "name": "Alice Ames", "canvas_id": "101", "sis_user_id": "S1",
     "sis_login_id": "aames", "section": "Mon", "moodle_id": "alice@school.example"},
    {"nbgrader_id": "bob", "name": "Bob Berg", "canvas_id": "202", "sis_user_id": "S2",
     "sis_login_id": "bberg", "section": "Mon", "moodle_id": "bob@school.example"},
]


@pytest.fixture(scope="module")
def gradebook_db(tmp_path_factory):
    """A gradebook as ``grade`` leaves it: resilience out of 12 (two graded cells, 7 + 5),
    caching out of 8; alice handed in both, bob resilience only (scoring 0), carol nothing, dave
    (not rostered) caching, erin is known to nbgrader but handed in nothing. Made once (nbgrader
    migrates a new database for seconds), copied for each test."""
    from nbgrader.api import Gradebook

    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    saved_path = os.environ.get("PATH", "")
    os.environ["PATH"] = venv_bin() + os.pathsep + saved_path  # nbgrader runs alembic
    try:
        with Gradebook("sqlite:///" + str(path)) as gradebook:
            for assignment, cells in (("resilience", {"cb-closed": 7, "cb-open": 5}),
                                      ("caching", {"ca-hit": 8})):
                gradebook.add_assignment(assignment)
                gradebook.add_notebook("nb", assignment)
                for cell, points in cells.items():
                    gradebook.add_grade_cell(cell, "nb", assignment, max_score=points,
                                             cell_type="code")
            for student in ("alice", "bob", "carol", "dave", "erin"):
                gradebook.add_student(student)
            for assignment, student, scores in (
                    ("resilience", "alice", {"cb-closed": 7, "cb-open": 3.5}),
                    ("caching", "alice", {"ca-hit": 8}),
                    ("resilience", "bob", {"cb-closed": 0, "cb-open": 0}),
                    ("caching", "dave", {"ca-hit": 6.25})):
                gradebook.add_submission(assignment, student)
                for cell, score in scores.items():
                    gradebook.find_grade(cell, "nb", assignment, student).auto_score = score
            gradebook.db.commit()
    finally:
        os.environ["PATH"] = saved_path
    return path


@pytest.fixture
def course(gradebook_db, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))  # the command prepends the venv's bin
    course = Course(tmp_path / "course")
    (course.root / "instructor").mkdir(parents=True)
    shutil.copy(gradebook_db, course.root / "instructor" / "gradebook.db")
    return course


def write_roster(path, entries, columns=None):
    columns = columns or list(entries[0])
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(entries)
    return path


def export(course, roster, *extra):
    return main(["export-lms", "--roster", str(roster), "--course", str(course.root), *extra])


def read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_canvas_file_has_the_documented_columns_points_possible_and_empty_cells(course, tmp_path,
                                                                                capsys):
    roster = write_roster(tmp_path / "roster.csv", ROSTER)
    out = tmp_path / "canvas.csv"
    code = export(course, roster, "--canvas", str(out), "--canvas-assignment", "resilience=4711")
    rows = read(out)
    header, points_possible, students = rows[0], rows[1], rows[2:]
    assert header == CANVAS_STUDENT_COLUMNS + ["caching", "resilience (4711)"], header
    assert "Points Possible" in points_possible[0] and points_possible[1:5] == ["", "", "", ""]
    assert points_possible[5:] == ["8", "12"], points_possible
    assert [row[:5] for row in students] == [
        ["Carol Chen", "303", "S3", "cchen", "Tue"],
        ["Alice Ames", "101", "S1", "aames", "Mon"],
        ["Bob Berg", "202", "S2", "bberg", "Mon"]], "rows in the roster's order, with its ids"
    scores = {row[0]: row[5:] for row in students}
    assert scores["Alice Ames"] == ["8", "10.5"]
    assert scores["Bob Berg"] == ["", "0"], "no caching submission: empty; resilience scored 0: 0"
    assert scores["Carol Chen"] == ["", ""], "handed nothing in: empty cells, never zeros"
    assert all(len(row) == len(header) for row in rows)
    assert code == 1  # dave's submission is in no file
    assert "Points Possible: caching 8, resilience 12" in capsys.readouterr().out


def test_moodle_file_has_one_identifying_column_and_a_column_per_grade_item(course, tmp_path,
                                                                             capsys):
    roster = write_roster(tmp_path / "roster.csv", ROSTER)
    out = tmp_path / "moodle.csv"
    code = export(course, roster, "--moodle", str(out))
    rows = read(out)
    assert rows[0] == ["Email address", "Full name", "caching", "resilience"], rows[0]
    # Every row after the header must name a Moodle user (an unknown one aborts the import), so
    # there is no Points Possible row: the maxima are the grade items' own.
    assert [row[0] for row in rows[1:]] == [e["moodle_id"] for e in ROSTER]
    assert [row[2:] for row in rows[1:]] == [["", ""], ["8", "10.5"], ["", "0"]]
    printed = capsys.readouterr().out
    assert 'map from "Email address" to "Email address"' in printed
    assert "maximum grade: caching 8, resilience 12" in printed
    assert code == 1


def test_moodle_header_follows_the_user_field_chosen(course, tmp_path):
    roster = write_roster(tmp_path / "roster.csv",
                          [dict(e, moodle_id=e["nbgrader_id"]) for e in ROSTER])
    out = tmp_path / "moodle.csv"
    export(course, roster, "--moodle", str(out), "--moodle-field", "username")
    rows = read(out)
    assert rows[0][0] == "Username" and [row[0] for row in rows[1:]] == ["carol", "alice", "bob"]


def test_a_submission_not_in_the_roster_is_named_and_the_exit_code_says_so(course, tmp_path,
                                                                          capsys):
    canvas, moodle = tmp_path / "canvas.csv", tmp_path / "moodle.csv"
    partial = write_roster(tmp_path / "partial.csv", ROSTER)
    assert export(course, partial, "--canvas", str(canvas), "--moodle", str(moodle)) == 1
    err = capsys.readouterr().err
    assert "not in the roster: dave" in err
    assert "erin" not in err  # known to nbgrader, but no submission: nothing to lose
    assert canvas.exists() and moodle.exists()  # written for everyone rostered

    dave = {"nbgrader_id": "dave", "name": "Dave Diaz", "canvas_id": "404", "sis_user_id": "S4",
            "sis_login_id": "ddiaz", "section": "Tue", "moodle_id": "dave@school.example"}
    full = write_roster(tmp_path / "full.csv", ROSTER + [dave])
    assert export(course, full, "--canvas", str(canvas), "--moodle", str(moodle)) == 0
    assert "not in the roster" not in capsys.readouterr().err
    assert read(canvas)[-1][5:] == ["6.25", ""]
    assert read(moodle)[-1] == ["dave@school.example", "Dave Diaz", "6.25", ""]


def test_a_roster_student_without_a_moodle_id_is_left_out_of_moodle_and_named(course, tmp_path,
                                                                              capsys):
    entries = [dict(e, moodle_id="") if e["nbgrader_id"] == "alice" else e for e in ROSTER]
    entries.append({"nbgrader_id": "dave", "name": "Dave Diaz", "moodle_id": "dave@school.example"})
    roster = write_roster(tmp_path / "roster.csv", entries)
    out = tmp_path / "moodle.csv"
    assert export(course, roster, "--moodle", str(out)) == 1  # alice's grades would be lost
    assert [row[0] for row in read(out)[1:]] == ["carol@school.example", "bob@school.example",
                                                 "dave@school.example"]
    assert "no moodle_id in the roster): alice" in capsys.readouterr().err


def test_only_the_roster_columns_canvas_needs_are_required(course, tmp_path):
    roster = write_roster(tmp_path / "roster.csv", ROSTER + [{"nbgrader_id": "dave"}],
                          columns=["nbgrader_id", "sis_login_id"])
    out = tmp_path / "canvas.csv"
    assert export(course, roster, "--canvas", str(out)) == 0
    assert [row[:5] for row in read(out)[2:]] == [["", "", "", login, ""] for login in
                                                  ("cchen", "aames", "bberg", "")]


@pytest.mark.parametrize("text, complaint", [
    ("name,canvas_id\nAlice,1\n", "no nbgrader_id column"),
    ("nbgrader_id,name\nalice,A\nbob,B\nalice,A again\n", "line 4: alice is already on line 2"),
    ("nbgrader_id,name\n,Nobody\n", "line 2: no nbgrader_id"),
])
def test_an_unusable_roster_writes_nothing(course, tmp_path, capsys, text, complaint):
    roster = tmp_path / "roster.csv"
    roster.write_text(text, encoding="utf-8")
    out = tmp_path / "canvas.csv"
    assert export(course, roster, "--canvas", str(out)) == 2
    assert complaint in capsys.readouterr().err and not out.exists()


def test_no_gradebook_is_an_error_and_none_is_created(tmp_path, capsys):
    course = Course(tmp_path / "empty")
    (course.root / "instructor").mkdir(parents=True)
    roster = write_roster(tmp_path / "roster.csv", ROSTER)
    assert export(course, roster, "--canvas", str(tmp_path / "c.csv")) == 2
    assert "no gradebook" in capsys.readouterr().err
    assert not (course.root / "instructor" / "gradebook.db").exists()


def test_an_output_must_be_named(tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["export-lms", "--roster", str(tmp_path / "roster.csv")])
    assert exit_.value.code == 2
