"""Benchmark: grade a synthetic class with `python -m autograder grade` and with plain sequential
`nbgrader autograde`, in the same run, on copies of the same submissions.

    .venv/bin/python benchmarks/grade_class.py [--students 40] [--workers N]
    .venv/bin/python benchmarks/grade_class.py --profile-only [--assignment scaling]

Each student hands in every notebook of one assignment (`--assignment`, default `resilience`); each
notebook is, by a seeded draw, the reference solution, one of the exercise's known-buggy
implementations, or the untouched stub. Every answer gets a comment naming its student, so no two submissions share code (the grading
command judges identical code once; a real class rarely hands in identical files). Prints both wall
times, the ratio, seconds per submission, and checks that both ways give the same grades; then
where the time went, per exercise, from the judges' own profiles (wall, CPU and channel round
trips per notebook; sandbox start, pytest collection) and the fixed start-up costs (a judge
process, nbgrader's recording runs). ``--profile-only`` prints that profile for each exercise's
reference and stub, judged one after the other in one warm judge, without grading a class.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.testkit import ScratchCourse, filled_notebook  # noqa: E402
from autograder.exercises import EXERCISES  # noqa: E402

ASSIGNMENTS = sorted({exercise.assignment for exercise in EXERCISES.values()})


def synthetic_class(course: ScratchCourse, assignment: str, students: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    exercises = [e for e in EXERCISES.values() if e.assignment == assignment]
    kinds = {}
    for number in range(students):
        student = f"student-{number:03d}"
        notebooks = {}
        for exercise in exercises:
            release = course.release_dir(assignment) / f"{exercise.name}.ipynb"
            kind = rng.choices(["reference", "mutant", "stub"], weights=[5, 4, 1])[0]
            if kind == "stub":
                notebooks[exercise.name] = release
                continue
            code = (exercise.reference_code if kind == "reference"
                    else rng.choice(exercise.mutants).code)
            notebooks[exercise.name] = filled_notebook(release, code + f"\n# {student}\n")
            kinds[f"{student}/{exercise.name}"] = kind
        course.submit(student, assignment, notebooks)
    return kinds


def grades_of(course: ScratchCourse, assignment: str) -> list[tuple]:
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(course.db_url) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    rows.append((submission.student.id, notebook.name, grade.name, grade.score))
    return sorted(rows)


def timed(command: list[str], env: dict) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.monotonic() - started, done.stdout


# -- where the time goes -------------------------------------------------------------------------
def profile_row(profiles: list[dict]) -> dict:
    """Means per notebook of what the judges measured (see ``judge.judge_cells``)."""
    def mean(key):
        return statistics.mean(p.get(key, 0.0) for p in profiles)
    return {"notebooks": len(profiles), "wall": mean("wall"),
            "cpu": statistics.mean(p.get("cpu_judge", 0) + p.get("cpu_sandbox", 0) for p in profiles),
            "round_trips": mean("round_trips"), "sandbox_start": mean("sandbox_start"),
            "collection": mean("collection")}


def print_profile(rows: dict[str, dict], title: str) -> None:
    print(f"\n{title}")
    width = max([26, *(len(name) + 2 for name in rows)])
    print(f"  {'exercise':<{width}}{'notebooks':>10}{'wall s':>9}{'CPU s':>8}{'CPU/wall':>9}"
          f"{'round trips':>13}{'sandbox start s':>17}{'collection s':>14}")
    for name, row in rows.items():
        print(f"  {name:<{width}}{row['notebooks']:>10}{row['wall']:>9.2f}{row['cpu']:>8.2f}"
              f"{row['cpu'] / max(row['wall'], 1e-9):>9.0%}{row['round_trips']:>13.0f}"
              f"{row['sandbox_start']:>17.3f}{row['collection']:>14.3f}")


def class_profile(course: ScratchCourse) -> dict[str, dict]:
    """Per exercise, from the reports the grading command cached for this class."""
    by_exercise: dict[str, list[dict]] = {}
    for path in (course.root / "instructor" / "grading" / "reports").glob("*.json"):
        report = json.loads(path.read_text(encoding="utf-8"))
        if report.get("profile"):
            by_exercise.setdefault(report["exercise"], []).append(report["profile"])
    return {name: profile_row(profiles) for name, profiles in sorted(by_exercise.items())}


def judge_process_start(env: dict, runs: int = 3) -> float:
    """Seconds for a new judge process to start and import what judging needs."""
    command = [sys.executable, "-c", "import autograder.judge, hypothesis, _hypothesis_pytestplugin"]
    return statistics.median(timed(command, env)[0] for _ in range(runs))


def reference_and_stub_profile(assignment: str) -> None:
    """Each exercise's reference and stub, judged in turn in this (warm) process."""
    from autograder.judge import judge_cells
    from autograder.submission import student_code

    rows, slowest = {}, {}
    for exercise in (e for e in EXERCISES.values() if e.assignment == assignment):
        stub = student_code(exercise.release_notebook)
        for kind, cells in (("reference", [{"label": "answer", "source": exercise.reference_code}]),
                            ("stub", stub)):
            report = judge_cells(exercise.name, cells)
            rows[f"{exercise.name} {kind}"] = profile_row([report.profile])
            if kind == "reference":
                tests = sorted(report.profile["tests"].items(), key=lambda kv: -kv[1])[:3]
                slowest[exercise.name] = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in tests)
    print_profile(rows, "per notebook, judged alone in a warm judge (the first includes imports):")
    print("  slowest checks of each reference:")
    for name, text in slowest.items():
        print(f"    {name}: {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=None,
                        help="judges at once (default: the grading command chooses)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile-only", action="store_true",
                        help="profile each exercise's reference and stub; grade no class")
    parser.add_argument("--skip-plain", action="store_true",
                        help="time only the grading command (no ratio, no comparison of grades)")
    parser.add_argument("--assignment", default="resilience", choices=ASSIGNMENTS,
                        help="the family whose notebooks each student hands in (default: resilience)")
    args = parser.parse_args()
    assignment = args.assignment

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    if args.profile_only:
        print(f"a judge process starts in {judge_process_start(env):.2f} s (Python, pytest, "
              "hypothesis, the autograder)")
        reference_and_stub_profile(assignment)
        return 0
    with tempfile.TemporaryDirectory(prefix="dsp-bench-") as tmp:
        ours, plain = (ScratchCourse.scratch(Path(tmp) / name) for name in ("ours", "plain"))
        for course in (ours, plain):
            course.generate(assignment)
            synthetic_class(course, assignment, args.students, args.seed)
        notebooks = args.students * sum(e.assignment == assignment for e in EXERCISES.values())
        print(f"class: {args.students} submissions of '{assignment}' ({notebooks} notebooks), "
              f"{os.cpu_count()} cores, {args.workers or 'automatic'} workers")

        if args.skip_plain:
            ours_seconds, output = grade_with_ours(ours, assignment, args.workers, env)
            print(f"python -m autograder grade: {ours_seconds:7.1f} s "
                  f"({ours_seconds / args.students:.2f} s per submission)")
            report_profile(ours, output, args.students, env)
            return 0
        plain_seconds, _ = timed([sys.executable, "-m", "nbgrader", "autograde", assignment, "--create",
                               f"--CourseDirectory.root={plain.root}",
                               f"--CourseDirectory.db_url={plain.db_url}"], env)
        print(f"plain sequential nbgrader autograde: {plain_seconds:7.1f} s "
              f"({plain_seconds / args.students:.2f} s per submission)", flush=True)
        ours_seconds, output = grade_with_ours(ours, assignment, args.workers, env)
        print(f"python -m autograder grade:          {ours_seconds:7.1f} s "
              f"({ours_seconds / args.students:.2f} s per submission)")
        ratio = plain_seconds / ours_seconds
        print(f"throughput ratio (plain / ours):     {ratio:7.2f}x")
        print(f"a class of 300 on this machine: about {ours_seconds / args.students * 300 / 60:.0f} "
              f"min (plain nbgrader: {plain_seconds / args.students * 300 / 60:.0f} min)")
        same = grades_of(ours, assignment) == grades_of(plain, assignment)
        print(f"identical grades both ways: {'yes' if same else 'NO'}")

        report_profile(ours, output, args.students, env)
        return 0 if same else 1


def grade_with_ours(course: ScratchCourse, assignment: str, workers: int | None,
                    env: dict) -> tuple[float, str]:
    command = [sys.executable, "-m", "autograder", "grade", assignment, "--course", str(course.root)]
    return timed(command + (["--workers", str(workers)] if workers else []), env)


def report_profile(course: ScratchCourse, output: str, students: int, env: dict) -> None:
    print("\nthe grading command said:")
    for line in output.splitlines():
        if re.match(r"(judged in|recorded in|\d+ distinct notebooks)", line):
            print(f"  {line}")
    recorded = re.search(r"recorded in ([\d.]+) s \((\d+) nbgrader runs?, ([\d.]+) s of it", output)
    if recorded:
        print(f"  nbgrader's recording: {float(recorded[1]) / students:.2f} s per submission, in "
              f"{recorded[2]} runs, {float(recorded[3]) / float(recorded[1]):.0%} of it while "
              "judging went on")
    print(f"  a judge process starts in {judge_process_start(env):.2f} s (once per worker: "
          "judges stay warm)")
    print_profile(class_profile(course), "per notebook, over this class (means):")


if __name__ == "__main__":
    sys.exit(main())
