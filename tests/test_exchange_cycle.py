"""The whole nbgrader exchange cycle, as an instructor and three students would run it.

Release, fetch, fill in (reference / partly correct / untouched), submit, collect, grade with
`python -m autograder grade`, generate and release feedback, fetch feedback. The scores students
read in their feedback must be exactly what the gradebook holds.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import venv_bin
from autograder.testkit import ScratchCourse, answer_cells
from autograder.exercises import EXERCISES, ROOT

pytestmark = pytest.mark.slow
COURSE_ID = "dspatterns"


def student_nbgrader(home: Path, user: str, exchange: Path, *args: str) -> str:
    """An nbgrader command run by a student in their own folder. All students here share one OS
    account, so each names itself (as on a JupyterHub, where the account is the student)."""
    env = {"PATH": venv_bin() + os.pathsep + "/usr/bin:/bin", "HOME": str(home), "USER": user,
           "LOGNAME": user, "LANG": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--course={COURSE_ID}",
                           f"--Exchange.root={exchange}", f"--CourseDirectory.student_id={user}"], cwd=home, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{user}: nbgrader {' '.join(args)}\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def fill(notebook_path: Path, code: str) -> None:
    notebook = nbformat.read(notebook_path, 4)
    answer_cells(notebook)[0].source = code
    nbformat.write(notebook, notebook_path)


def test_release_fetch_submit_collect_grade_feedback(tmp_path):
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    course = ScratchCourse.scratch(tmp_path / "course")
    instructor = lambda *args: course.nbgrader(*args, f"--Exchange.root={exchange}",  # noqa: E731
                                               f"--CourseDirectory.course_id={COURSE_ID}")
    instructor("generate_assignment", "resilience", "--force")
    instructor("release_assignment", "resilience", "--force")

    exercise = EXERCISES["circuit_breaker"]
    answers = {"alice": exercise.reference_code,
               "bob": exercise.mutants[0].code,  # partly correct: one known bug
               "carol": None}  # hands in the release untouched
    for user, code in answers.items():
        home = tmp_path / f"home-{user}"
        home.mkdir()
        student_nbgrader(home, user, exchange, "fetch_assignment", "resilience")
        fetched = home / "resilience" / "circuit_breaker.ipynb"
        assert fetched.exists(), f"{user} did not receive the notebook"
        assert "BEGIN SOLUTION" not in fetched.read_text()
        if code is not None:
            fill(fetched, code)
        student_nbgrader(home, user, exchange, "submit", "resilience")

    instructor("collect", "resilience")
    for user in answers:
        assert course.submission_dir(user, "resilience").exists(), f"{user}'s work was not collected"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    graded = subprocess.run([sys.executable, "-m", "autograder", "grade", "resilience", "--course",
                             str(course.root)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=1800)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    # nbgrader's own files in every submission are not a student's extra files.
    assert "submission_secret.txt" not in graded.stdout and "problem:" not in graded.stdout, \
        graded.stdout
    assert "12 notebooks to grade from 3 submissions" in graded.stdout, graded.stdout
    # four notebooks each; the three left untouched are the same for everyone
    assert "6 distinct notebooks, 6 identical to one already judged" in graded.stdout, graded.stdout
    instructor("generate_feedback", "resilience")
    instructor("release_feedback", "resilience")

    cb = {user: sum(s for s, _ in (v for k, v in course.scores("resilience", user).items()
                                   if k.startswith("circuit_breaker/"))) for user in answers}
    assert cb["alice"] == 12 and 0 < cb["bob"] < 12 and cb["carol"] == 0, cb

    for user in answers:
        home = tmp_path / f"home-{user}"
        student_nbgrader(home, user, exchange, "fetch_feedback", "resilience")
        pages = list((home / "resilience" / "feedback").rglob("circuit_breaker.html"))
        assert len(pages) == 1, f"{user} received {len(pages)} feedback pages"
        html = pages[0].read_text()
        shown = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", html)
        assert shown, f"{user}'s feedback shows no score"
        assert (float(shown[1]), float(shown[2])) == (cb[user], 12.0), \
            f"{user}: feedback says {shown[1]}/{shown[2]}, gradebook says {cb[user]}/12"
        assert "BEGIN HIDDEN TESTS" not in html and "DSP-CANARY" not in html
        if user == "bob":
            assert "✘" in html and "expected" in html, "bob's feedback should say what failed"
