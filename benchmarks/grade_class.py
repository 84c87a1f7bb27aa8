"""Benchmark: grade a synthetic class with `python -m autograder grade` and with plain sequential
`nbgrader autograde`, in the same run, on copies of the same submissions.

    .venv/bin/python benchmarks/grade_class.py [--students 40] [--workers N]

Each student hands in every notebook of the `resilience` assignment; each notebook is, by a seeded
draw, the reference solution, one of the exercise's known-buggy implementations, or the untouched
stub. Every answer gets a comment naming its student, so no two submissions share code (the grading
command judges identical code once; a real class rarely hands in identical files). Prints both wall
times, the ratio, seconds per submission, and checks that both ways give the same grades.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.testkit import ScratchCourse, filled_notebook  # noqa: E402
from autograder.exercises import EXERCISES  # noqa: E402

ASSIGNMENT = "resilience"


def synthetic_class(course: ScratchCourse, students: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    exercises = [e for e in EXERCISES.values() if e.assignment == ASSIGNMENT]
    kinds = {}
    for number in range(students):
        student = f"student-{number:03d}"
        notebooks = {}
        for exercise in exercises:
            release = course.release_dir(ASSIGNMENT) / f"{exercise.name}.ipynb"
            kind = rng.choices(["reference", "mutant", "stub"], weights=[5, 4, 1])[0]
            if kind == "stub":
                notebooks[exercise.name] = release
                continue
            code = (exercise.reference_code if kind == "reference"
                    else rng.choice(exercise.mutants).code)
            notebooks[exercise.name] = filled_notebook(release, code + f"\n# {student}\n")
            kinds[f"{student}/{exercise.name}"] = kind
        course.submit(student, ASSIGNMENT, notebooks)
    return kinds


def grades_of(course: ScratchCourse) -> list[tuple]:
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(course.db_url) as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    rows.append((submission.student.id, notebook.name, grade.name, grade.score))
    return sorted(rows)


def timed(command: list[str], env: dict) -> float:
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="dsp-bench-") as tmp:
        ours, plain = (ScratchCourse.scratch(Path(tmp) / name) for name in ("ours", "plain"))
        for course in (ours, plain):
            course.generate(ASSIGNMENT)
            synthetic_class(course, args.students, args.seed)
        notebooks = args.students * sum(e.assignment == ASSIGNMENT for e in EXERCISES.values())
        print(f"class: {args.students} submissions of '{ASSIGNMENT}' ({notebooks} notebooks), "
              f"{os.cpu_count()} cores, {args.workers} workers")

        plain_seconds = timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--create",
                               f"--CourseDirectory.root={plain.root}",
                               f"--CourseDirectory.db_url={plain.db_url}"], env)
        print(f"plain sequential nbgrader autograde: {plain_seconds:7.1f} s "
              f"({plain_seconds / args.students:.2f} s per submission)", flush=True)
        ours_seconds = timed([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course",
                              str(ours.root), "--workers", str(args.workers)], env)
        print(f"python -m autograder grade:          {ours_seconds:7.1f} s "
              f"({ours_seconds / args.students:.2f} s per submission)")
        ratio = plain_seconds / ours_seconds
        print(f"throughput ratio (plain / ours):     {ratio:7.2f}x")
        print(f"a class of 300 on this machine: about {ours_seconds / args.students * 300 / 60:.0f} "
              f"min (plain nbgrader: {plain_seconds / args.students * 300 / 60:.0f} min)")
        same = grades_of(ours) == grades_of(plain)
        print(f"identical grades both ways: {'yes' if same else 'NO'}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
