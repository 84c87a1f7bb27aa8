"""Cached grades never go stale: the grader digest changes with every file that can change a grade.

The digest is the part of a judge report's cache key (and of the ledger's record of a graded
submission) that stands for the grader. These tests hash a scratch copy of the grader, edit each
file of it in turn and check that the digest changes; ``test_grade_command_regrades_after_grader_edit``
checks the same thing end to end with ``python -m autograder grade``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.testkit import ScratchCourse
from autograder.exercises import ROOT
from autograder.grading_run import grader_digest

CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
# Outside autograder/: what the hidden suites import, the pinned versions, the nbgrader entry config.
OUTSIDE = ("dspatterns/testing.py", "requirements.lock", "nbgrader_config.py")


def copy_grader(where: Path) -> Path:
    shutil.copytree(ROOT / "autograder", where / "autograder", ignore=CACHES)
    for name in OUTSIDE:
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, where / name)
    return where


def scratch_checkout(root: Path) -> Path:
    """What an instructor's checkout needs to grade: the code, the sources and the release."""
    for name in ("autograder", "dspatterns", "solutions", "exercises"):
        shutil.copytree(ROOT / name, root / name, ignore=CACHES)
    for name in ("requirements.lock", "nbgrader_config.py"):
        shutil.copy(ROOT / name, root / name)
    return root


def digest(root: Path, exercise: str = "circuit_breaker") -> str:
    grader_digest.cache_clear()  # the digest is cached per process; these tests edit files under it
    return grader_digest(exercise, root)


def grader_files(root: Path) -> list[Path]:
    return sorted([p for p in (root / "autograder").rglob("*") if p.is_file() and p.suffix != ".md"]
                  + [root / name for name in OUTSIDE])


def test_a_copy_of_the_grader_has_the_repositorys_digest(tmp_path):
    root = copy_grader(tmp_path)
    assert digest(root) == digest(ROOT)
    assert digest(root, "retry") != digest(root, "circuit_breaker")


def test_editing_any_file_that_decides_grades_changes_the_digest(tmp_path):
    root = copy_grader(tmp_path)
    original = digest(root)
    files = grader_files(root)
    names = {p.relative_to(root).as_posix() for p in files}
    # The ones the issue named, so a narrower digest cannot pass by hashing fewer files.
    for expected in ("autograder/exercises.py", "autograder/staging.py", "autograder/submission.py",
                     "autograder/classroom.py", "autograder/nbgrader_config.py",
                     "autograder/nbgrader_plugin.py", "autograder/judge.py",
                     "autograder/hidden/test_circuit_breaker.py", "autograder/sandbox/runner.py",
                     *OUTSIDE):
        assert expected in names
    unchanged = []
    for path in files:
        before = path.read_bytes()
        path.write_bytes(before + b"\n# edited\n")
        if digest(root) == original:
            unchanged.append(path.relative_to(root).as_posix())
        path.write_bytes(before)
    assert not unchanged, f"editing these did not change the grader digest: {unchanged}"
    assert digest(root) == original


def test_new_and_removed_grader_files_change_the_digest_caches_do_not(tmp_path):
    root = copy_grader(tmp_path)
    original = digest(root)
    added = root / "autograder" / "hidden" / "extra_support.py"
    added.write_text("VALUE = 1\n")
    assert digest(root) != original
    added.unlink()
    assert digest(root) == original
    (root / "autograder" / "judge.py").rename(root / "autograder" / "judge_renamed.py")
    assert digest(root) != original
    (root / "autograder" / "judge_renamed.py").rename(root / "autograder" / "judge.py")
    (root / "dspatterns" / "testing.py").unlink()
    assert digest(root) != original
    shutil.copy(ROOT / "dspatterns" / "testing.py", root / "dspatterns" / "testing.py")
    (root / "autograder" / "__pycache__").mkdir()
    (root / "autograder" / "__pycache__" / "judge.cpython-311.pyc").write_bytes(b"compiled")
    assert digest(root) == original


@pytest.mark.slow
def test_grade_command_regrades_after_grader_edit(tmp_path):
    """A whole checkout in a scratch folder, one student who handed in the release untouched
    (cheap to judge): graded, skipped on a second run, regraded once dspatterns/testing.py changes."""
    root = scratch_checkout(tmp_path / "checkout")
    course = ScratchCourse(root)
    course.generate("resilience")
    course.submit("stub", "resilience", {"circuit_breaker": root / "exercises" / "resilience" /
                                         "circuit_breaker.ipynb"})

    def grade() -> str:
        env = dict(os.environ, PYTHONPATH=str(root))
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", "resilience",
                               "--workers", "1"], cwd=root, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        return done.stdout

    first = grade()
    assert "1 notebooks to grade from 1 submissions" in first, first
    again = grade()
    assert "0 notebooks to grade" in again and "(1 already graded" in again, again
    testing = root / "dspatterns" / "testing.py"
    testing.write_text(testing.read_text() + "\n# a change to what the hidden suites import\n")
    regraded = grade()
    assert "1 notebooks to grade from 1 submissions (0 already graded" in regraded, regraded


def test_documentation_does_not_change_the_digest(tmp_path):
    """Editing autograder/README.md or a coverage table must not regrade a whole class."""
    root = copy_grader(tmp_path)
    before = digest(root)
    docs = sorted((root / "autograder").rglob("*.md"))
    assert docs, "expected autograder/README.md and the coverage tables"
    for doc in docs:
        doc.write_text(doc.read_text() + "\nan edit\n")
    assert digest(root) == before
