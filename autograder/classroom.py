"""``python -m autograder grade``: grade a whole class, in parallel, resumably.

Every submitted notebook is rebuilt from the instructor's cells and judged in a sandbox: these
jobs are independent, so they run on a pool of warm judge processes (as many at once as the cores
can keep busy, see ``concurrency.py``) or, given a scheduler address, on a Dask cluster; each
report is stored under a key that changes whenever the student's code or the grader changes.
Meanwhile ``nbgrader autograde`` records the grades in the gradebook, in batches of students whose
notebooks are all judged, finding every verdict already computed (``recording.py``). The grades
are the same whichever way the reports were computed, because the report depends only on the code
and the grader, never on where it ran.

A submission already graded under the same key is skipped unless ``--force``. A submission that
cannot be read is reported (student, notebook, problem) and left out; the rest of the class is
graded. Submitted files are never modified.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .concurrency import GUARD_SECONDS, JudgeConcurrency, cpu_times
from .course import Course, venv_bin
from .exercises import EXERCISES, get_exercise
from .grading_run import grader_digest
from .integrity import code_fingerprint, rebuild, source_cells_from_notebook
from .results import JudgeReport
from .sandbox.isolation import unsafe_allowed
from . import staging
from .recording import BATCH as RECORD_BATCH, Recorder, clear, log_path, staged_root


@dataclass
class Job:
    student: str
    assignment: str
    notebook: str
    exercise: str
    key: str = ""
    code: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass
class Problem:
    student: str
    assignment: str
    notebook: str
    message: str


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    students: dict[str, set[str]] = field(default_factory=dict)  # assignment -> students to autograde
    fingerprints: dict[str, str] = field(default_factory=dict)  # "assignment/student" -> what was graded
    unreadable: dict[str, set[str]] = field(default_factory=dict)  # assignment -> students nbgrader cannot read
    skipped: int = 0


def assignments_with_sources(course: Course) -> list[str]:
    return sorted(p.name for p in (course.root / "solutions").iterdir() if p.is_dir())


def plan(course: Course, assignments: list[str], force: bool, *, write_stage: bool = False) -> Plan:
    """Which notebooks need judging and which students need (re)autograding; with
    ``write_stage``, also the repaired copies nbgrader will read for them."""
    result = Plan()
    ledger = load_ledger(course)
    for assignment in assignments:
        sources = {p.stem: p for p in (course.root / "solutions" / assignment).glob("*.ipynb")
                   if p.stem in EXERCISES}
        trusted = {name: source_cells_from_notebook(json.loads(path.read_text(encoding="utf-8")))
                   for name, path in sources.items()}
        released = {name: staging.released_settings(course.release_dir(assignment) / f"{name}.ipynb")
                    for name in sources if (course.release_dir(assignment) / f"{name}.ipynb").exists()}
        release = course.release_dir(assignment)
        handed_out = {p.name for p in release.iterdir() if p.is_file()} if release.is_dir() else set()
        submitted_root = course.root / "instructor" / "submitted"
        for student_dir in sorted(p for p in submitted_root.glob("*") if (p / assignment).is_dir()):
            student, folder = student_dir.name, student_dir / assignment
            staged = staging.stage(folder, sorted(sources), released, handed_out)
            student_jobs = []
            for name, entry in sorted(staged.notebooks.items()):
                if entry.notebook is None:
                    continue
                rebuilt = rebuild(entry.notebook["cells"], trusted[name])
                exercise = get_exercise(name)
                key = code_fingerprint(exercise.name, grader_digest(exercise.name), rebuilt.student_code)
                student_jobs.append(Job(student, assignment, name, exercise.name, key,
                                        rebuilt.student_code, entry.notes + rebuilt.notes))
            problems = [Problem(student, assignment, name, message)
                        for name, message in staged.problems()]
            result.problems.extend(problems)
            if not staged.usable:
                result.unreadable.setdefault(assignment, set()).add(student)
                continue
            fingerprint = "|".join(sorted(j.key for j in student_jobs)) + "|" + ";".join(
                sorted(p.message for p in problems))
            done = ledger.get(f"{assignment}/{student}") == fingerprint
            if done and not force and course.autograded_dir(student, assignment).exists():
                result.skipped += 1
                continue
            result.jobs.extend(student_jobs)
            result.students.setdefault(assignment, set()).add(student)
            result.fingerprints[f"{assignment}/{student}"] = fingerprint
            if write_stage:
                staging.write(staged, folder, staged_root(course) / student / assignment)
    return result


def ledger_path(course: Course) -> Path:
    return course.root / "instructor" / "grading" / "ledger.json"


def load_ledger(course: Course) -> dict:
    try:
        return json.loads(ledger_path(course).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_ledger(course: Course, entries: dict) -> None:
    path = ledger_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


# -- phase 1: judging ------------------------------------------------------------------------
def run_job(exercise: str, code: list, unsafe_no_walls: bool = False) -> str:
    """One sandboxed judge run; a plain function of plain data, so any worker can run it (a Dask
    worker on another machine too: the instructor's --unsafe-no-walls travels with the job)."""
    from .judge import judge_cells
    from .sandbox.isolation import UNSAFE_ENV

    if unsafe_no_walls:
        os.environ[UNSAFE_ENV] = "1"
    return judge_cells(exercise, code).to_json()


class Progress:
    """A progress bar on a terminal, one line per finished job elsewhere (logs, CI). ``close``
    ends the bar's line, however the judging ended."""

    def __init__(self, total: int, stream=None):
        stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.stream, self.started = total, 0, stream, time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.open_line = False

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        if self.tty:
            filled = int(30 * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} "
                              f"{elapsed:5.0f}s, ~{eta:.0f}s left  {label[:40]:<40}")
            self.open_line = True
        else:
            self.stream.write(f"[{self.done}/{self.total}] {label} ({elapsed:.0f}s, ~{eta:.0f}s left)\n")
        self.stream.flush()

    def close(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def distinct_jobs(jobs: list[Job], cache: Path) -> tuple[dict[str, Job], dict[str, Job], str]:
    """The notebooks to judge (identical code is judged once, and a report already computed under
    the same grader is reused), and a line saying so, counting what the progress bar will count."""
    distinct: dict[str, Job] = {}
    for job in jobs:
        distinct.setdefault(job.key, job)
    todo = {key: job for key, job in distinct.items() if not (cache / f"{key}.json").exists()}
    line = (f"{len(distinct)} distinct notebooks, {len(jobs) - len(distinct)} identical to one "
            "already judged")
    if len(todo) < len(distinct):
        line += (f"; {len(distinct) - len(todo)} judged in an earlier run under the same grader "
                 f"(report reused): {len(todo)} to judge")
    return distinct, todo, line


def judge_all(jobs: list[Job], cache: Path, workers: int | None, scheduler: str | None, *,
              out=None, stream=None, on_judged=None) -> None:
    """``on_judged(key)`` is called as each report is stored (or found broken)."""
    _, todo, line = distinct_jobs(jobs, cache)
    print(line, file=out if out is not None else sys.stdout, flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    if not todo:
        return
    progress = Progress(len(todo), stream)
    cpu_spent = [0.0]

    def store(job: Job, text: str) -> JudgeReport:
        report = JudgeReport.from_json(text)
        cpu_spent[0] += cpu_of(report)
        if report.grader_error:  # not the student's verdict: never reused, judged again later
            progress.step(f"{job.student} {job.notebook}: {report.fatal[:60]}")
        else:
            (cache / f"{job.key}.json").write_text(text, encoding="utf-8")
            progress.step(f"{job.student} {job.notebook}: {report.passed}/{len(report.results)} checks")
        if on_judged is not None:
            on_judged(job.key)
        return report

    try:
        if scheduler:
            from distributed import Client, as_completed as dask_completed

            with Client(scheduler) as client:
                futures = {client.submit(run_job, job.exercise, job.code, unsafe_allowed(),
                                         key=f"judge-{job.key}", pure=True): job
                           for job in todo.values()}
                for future in dask_completed(futures):
                    store(futures[future], future.result())
            return
        concurrency = JudgeConcurrency.for_machine(workers)
        judge_locally(list(todo.values()), concurrency, store)
    finally:
        progress.close()
    elapsed = time.monotonic() - progress.started
    cores = concurrency.cores
    print(f"judged in {elapsed:.1f} s, using {cpu_spent[0]:.0f} CPU-seconds "
          f"({cpu_spent[0] / max(elapsed * cores, 1e-9):.0%} of {cores} cores); "
          f"{concurrency.describe(time.monotonic())}", file=out if out is not None else sys.stdout,
          flush=True)


class JobQueue:
    """Hands out the class a group of students at a time (``group`` students, in order), and
    within a group the jobs of the exercise whose judges take longest first (the mean wall time
    of its jobs judged so far). Longest first, so that a group, and the class, ends on short jobs
    rather than on a long one started last; the long ones mostly wait on real time (sockets,
    thread gates), so many of them run at once beside the few that compute. By groups, so that
    students are completely judged all along, and their grades recorded while the next group is
    judged (``recording.py``), not all at the end. Before anything of an exercise has been
    judged, it counts as the longest, so each kind is tried early."""

    def __init__(self, jobs: list[Job], group: int = 2 * RECORD_BATCH):
        students = list(dict.fromkeys(job.student for job in jobs))
        group_of = {student: n // group for n, student in enumerate(students)}
        self.groups: list[dict[str, list[Job]]] = [{} for _ in range(-(-len(students) // group))]
        for job in jobs:
            self.groups[group_of[job.student]].setdefault(job.exercise, []).append(job)
        self.walls: dict[str, list[float]] = {}

    @property
    def waiting(self) -> dict[str, list[Job]]:
        """The jobs of the first group not handed out yet, by exercise."""
        return next((g for g in self.groups if any(g.values())), {})

    def __bool__(self) -> bool:
        return any(self.waiting.values())

    def mean_wall(self, exercise: str) -> float:
        walls = self.walls.get(exercise)
        if walls:
            return sum(walls) / len(walls)
        known = [sum(w) / len(w) for w in self.walls.values() if w]
        return max(known, default=1.0) * 2  # not judged yet: assume it is the longest

    def pop(self) -> Job:
        waiting = self.waiting
        exercise = max((name for name, jobs in waiting.items() if jobs),
                       key=lambda name: (self.mean_wall(name), len(waiting[name])))
        return waiting[exercise].pop(0)

    def judged(self, exercise: str, wall: float) -> None:
        self.walls.setdefault(exercise, []).append(wall)


def cpu_of(report: JudgeReport) -> float:
    return report.profile.get("cpu_judge", 0.0) + report.profile.get("cpu_sandbox", 0.0)


def judge_locally(jobs: list[Job], concurrency: JudgeConcurrency, store) -> None:
    """Run the jobs on a pool of warm judge processes, keeping ``concurrency.target`` of them
    busy; the target is revised from what each finished judge spent (CPU against wall)."""
    pending = JobQueue(jobs)
    # Spawned, not forked: the recorder's thread is running, and a process forked from a process
    # with threads may inherit a lock some thread was holding.
    with ProcessPoolExecutor(max_workers=concurrency.ceiling,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        running: dict = {}
        concurrency.machine(time.monotonic(), cpu_times())
        while pending or running:
            while pending and len(running) < concurrency.target:
                job = pending.pop()
                running[pool.submit(run_job, job.exercise, job.code)] = job
            finished, _ = wait(running, return_when=FIRST_COMPLETED, timeout=GUARD_SECONDS)
            concurrency.machine(time.monotonic(), cpu_times())
            for future in finished:
                job = running.pop(future)
                report = store(job, future.result())
                wall = report.profile.get("wall", 0.0)
                pending.judged(job.exercise, wall)
                concurrency.finished(time.monotonic(), cpu_of(report), wall)


# -- reporting -------------------------------------------------------------------------------
def waiting_for(jobs: list[Job], students: dict[str, set[str]], cache: Path) -> dict:
    """assignment -> student -> the keys of reports not computed yet, for every student to record."""
    waiting = {a: {s: set() for s in names} for a, names in students.items()}
    for job in jobs:
        if not (cache / f"{job.key}.json").exists():
            waiting[job.assignment][job.student].add(job.key)
    return waiting


def export_csv(course: Course, path: Path) -> int:
    """Every grade, a row per student, notebook and graded cell. Returns the number of rows."""
    from nbgrader.api import Gradebook

    rows = 0
    with Gradebook(course.db_url) as gradebook, open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["assignment", "student", "notebook", "grade_id", "score", "max_score"])
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        writer.writerow([assignment.name, submission.student.id, notebook.name,
                                         grade.name, grade.score, grade.max_score])
                        rows += 1
    return rows


def export_totals(course: Course, path: Path) -> int:
    """A row per student: the score of each assignment and the total, each with its maximum
    (an assignment not handed in scores 0), to sort the class by. Returns the number of students."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url) as gradebook, open(path, "w", newline="", encoding="utf-8") as out:
        assignments = sorted(gradebook.assignments, key=lambda a: a.name)
        maxima = {a.name: float(a.max_score or 0) for a in assignments}
        writer = csv.writer(out)
        writer.writerow(["student"] + [column for a in assignments
                                       for column in (a.name, f"{a.name}_max")]
                        + ["total", "total_max"])
        students = sorted(s.id for s in gradebook.students)
        for student in students:
            scores = {}
            for a in assignments:
                try:
                    scores[a.name] = float(gradebook.find_submission(a.name, student).score or 0)
                except MissingEntry:
                    scores[a.name] = 0.0
            writer.writerow([student] + [value for a in assignments
                                         for value in (_num(scores[a.name]), _num(maxima[a.name]))]
                            + [_num(sum(scores.values())), _num(sum(maxima.values()))])
    return len(students)


def _num(value: float) -> str:
    return f"{value:g}"


def summary(course: Course, assignments: list[str], cache: Path, jobs: list[Job]) -> str:
    from nbgrader.api import Gradebook

    lines = []
    failed_checks: Counter = Counter()
    for job in jobs:
        path = cache / f"{job.key}.json"
        if path.exists():
            for result in JudgeReport.from_json(path.read_text(encoding="utf-8")).results:
                if not result.passed:
                    failed_checks[f"{job.exercise}: {result.checks}"] += 1
    with Gradebook(course.db_url) as gradebook:
        for assignment in assignments:
            try:
                subs = gradebook.assignment_submissions(assignment)
            except Exception:
                continue
            scores = [s.score for s in subs]
            if not scores:
                continue
            maximum = subs[0].max_score
            lines.append(f"{assignment}: {len(scores)} graded, mean {statistics.mean(scores):.1f} / "
                         f"{maximum:g}, median {statistics.median(scores):.1f}")
            per_cell: dict[str, list[float]] = {}
            for s in subs:
                for notebook in s.notebooks:
                    for grade in notebook.grades:
                        per_cell.setdefault(f"{notebook.name}/{grade.name}", []).append(
                            (grade.score or 0) / grade.max_score if grade.max_score else 0)
            for cell, fractions in sorted(per_cell.items()):
                full = sum(f >= 1 for f in fractions)
                lines.append(f"  {cell:<40} full marks {full:>4}/{len(fractions)}  "
                             + _bar(full / len(fractions)))
    if failed_checks:
        lines.append("most failed hidden checks:")
        for check, count in failed_checks.most_common(5):
            lines.append(f"  {count:>4} × {check}")
    return "\n".join(lines)


def _bar(fraction: float, width: int = 20) -> str:
    return "█" * round(fraction * width) + "·" * (width - round(fraction * width))


def missing_from_gradebook(course: Course, assignments: list[str]) -> list[str]:
    from nbgrader.api import Gradebook, MissingEntry

    missing = []
    with Gradebook(course.db_url) as gradebook:
        for assignment in assignments:
            try:
                if not gradebook.find_assignment(assignment).notebooks:
                    missing.append(assignment)
            except MissingEntry:
                missing.append(assignment)
    return missing


def grade(course: Course, assignments: list[str], *, workers: int | None = None,
          scheduler: str | None = None, force: bool = False, unsafe_no_walls: bool = False,
          out=sys.stdout) -> int:
    started = time.monotonic()
    (course.root / "instructor").mkdir(exist_ok=True)
    # The gradebook runs `alembic` from the venv, activated or not (`.venv/bin/python -m autograder`).
    os.environ["PATH"] = venv_bin() + os.pathsep + os.environ.get("PATH", "")
    from .sandbox.isolation import (NO_WALLS_LINE, UNSAFE_ENV, refusal_message, unsafe_allowed,
                                    walls_problem)
    if unsafe_no_walls:
        os.environ[UNSAFE_ENV] = "1"  # inherited by the local judges
    no_walls = walls_problem()
    if no_walls and not unsafe_allowed():
        print(refusal_message(no_walls), file=out)
        return 2
    missing = missing_from_gradebook(course, assignments)
    if missing:
        print(f"error: the gradebook has no record of {', '.join(missing)}: release it first with "
              f"`nbgrader generate_assignment {missing[0]}`", file=out)
        return 2
    clear(course)
    work = plan(course, assignments, force, write_stage=True)
    for problem in work.problems:
        print(f"problem: {problem.student} / {problem.assignment} / {problem.notebook}: "
              f"{problem.message}", file=out)
    print(f"{len(work.jobs)} notebooks to grade from "
          f"{sum(len(s) for s in work.students.values())} submissions "
          f"({work.skipped} already graded; --force regrades them)", file=out, flush=True)
    cache = course.root / "instructor" / "grading" / "reports"
    for assignment in work.students:
        log_path(course, assignment).unlink(missing_ok=True)
    for assignment, students in sorted(work.students.items()):
        print(f"recording grades for {assignment} ({len(students)} submissions) in the gradebook, "
              "as their notebooks are judged", file=out, flush=True)
    recorder = Recorder(course, waiting_for(work.jobs, work.students, cache), cache).start()
    try:
        if work.jobs:
            judge_all(work.jobs, cache, workers, scheduler, out=out, on_judged=recorder.judged)
    finally:
        failed = recorder.join()
    if work.students:
        print(recorder.describe(), file=out, flush=True)
    for assignment, students in sorted(work.unreadable.items()):
        print(f"not graded (unreadable, see the problems above): {', '.join(sorted(students))}",
              file=out)
    for assignment, student in failed:
        print(f"problem: {student} / {assignment}: nbgrader could not grade this submission "
              f"(see instructor/grading/nbgrader-autograde-{assignment}.log)", file=out)
        work.fingerprints.pop(f"{assignment}/{student}", None)
    ledger = load_ledger(course)
    ledger.update(work.fingerprints)
    save_ledger(course, ledger)
    export = course.root / "instructor" / "grades.csv"
    rows = export_csv(course, export)
    totals = course.root / "instructor" / "totals.csv"
    students = export_totals(course, totals)
    print(f"gradebook exported: {export} ({rows} grades), {totals} (a total per student and "
          f"assignment, {students} students)", file=out)
    all_jobs = plan(course, assignments, force=True).jobs
    print(summary(course, assignments, cache, all_jobs), file=out)
    if no_walls:
        print(NO_WALLS_LINE, file=out)
    print(f"done in {time.monotonic() - started:.1f} s", file=out)
    return 0
