"""The grading command gives the same grades on a Dask cluster (local worker processes) as on its
own process pool, and as plain nbgrader."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder.testkit import ScratchCourse, filled_notebook
from autograder.exercises import EXERCISES, ROOT

pytestmark = pytest.mark.slow


def make_class(course):
    course.generate("resilience")
    exercise = EXERCISES["circuit_breaker"]
    release = course.release_dir("resilience") / "circuit_breaker.ipynb"
    answers = {"ada": exercise.reference_code, "bo": exercise.mutants[0].code,
               "cy": exercise.mutants[5].code, "di": None}
    for student, code in answers.items():
        course.submit(student, "resilience",
                      {"circuit_breaker": release if code is None else filled_notebook(release, code)})


def grade(course, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "resilience", "--course",
                           str(course.root), *extra], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    return (course.root / "instructor" / "grades.csv").read_text()


def test_dask_cluster_pool_and_plain_nbgrader_agree(tmp_path):
    from distributed import LocalCluster

    on_dask, on_pool, plain = (ScratchCourse.scratch(tmp_path / n) for n in ("dask", "pool", "plain"))
    for course in (on_dask, on_pool, plain):
        make_class(course)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask_grades = grade(on_dask, "--scheduler", cluster.scheduler_address)
    pool_grades = grade(on_pool, "--workers", "2")
    assert dask_grades == pool_grades
    plain.autograde("resilience")
    for student in ("ada", "bo", "cy", "di"):
        assert plain.scores("resilience", student) == on_pool.scores("resilience", student), student
    scores = {s: on_pool.total("resilience", s)[0] for s in ("ada", "bo", "cy", "di")}
    assert scores["ada"] == 12 and scores["di"] == 0 and 0 < scores["bo"] < 12, scores
