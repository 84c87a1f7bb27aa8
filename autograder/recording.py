"""Recording grades in the gradebook while the class is still being judged.

``nbgrader autograde`` writes the gradebook and each student's graded notebooks, finding every
verdict already computed (the judges' reports, by key). It is one process at a time on one
SQLite gradebook, and about half a second of CPU per submission. Run once after judging, that
comes on top of the judging; run here, it records students in batches as soon as all of a
student's notebooks are judged, on cores the judges leave idle while they wait (and during the
last, longest judges). The grades are the same: each batch is a plain ``nbgrader autograde`` over
the staged copies of its students' submissions.
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from .course import Course, NbgraderFailed

BATCH = 10  # students per nbgrader run while judging goes on: each run takes a few seconds to start


def staged_root(course: Course) -> Path:
    return course.root / "instructor" / "grading" / "staged"


def batches_root(course: Course) -> Path:
    return course.root / "instructor" / "grading" / "batches"


def log_path(course: Course, assignment: str) -> Path:
    return course.root / "instructor" / "grading" / f"nbgrader-autograde-{assignment}.log"


def autograde(course: Course, assignment: str, students: set[str], cache: Path,
              staged: Path | None = None) -> list[str]:
    """One nbgrader run over the staged copies of ``students``' submissions (found in
    ``staged``, by default the staging folder), appending to the assignment's log. Returns the
    students nbgrader still could not grade (with its reason in the log)."""
    staged = staged if staged is not None else staged_root(course)
    args = ["autograde", assignment, "--create", "--force",
            f"--CourseDirectory.submitted_directory={staged.relative_to(course.root)}"]
    log = log_path(course, assignment)
    try:
        done = course.nbgrader(*args, env={"DSP_JUDGE_CACHE": str(cache)})
        _append(log, done.stdout + done.stderr)
    except NbgraderFailed as exc:
        _append(log, str(exc))
        failed = sorted(s for s in students if not course.autograded_dir(s, assignment).exists())
        if not failed:
            raise
        return failed
    return []


def _append(log: Path, text: str) -> None:
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(text)


class Recorder:
    """Records students as their notebooks are judged, in batches, on a thread of its own.

    ``waiting``: assignment -> student -> keys of the reports the student still waits for. Call
    ``judged(key)`` as each report is stored (or found broken: nbgrader then judges that notebook
    itself), ``judging_done()`` when no more will come, then ``join()``.
    """

    def __init__(self, course: Course, waiting: dict[str, dict[str, set[str]]], cache: Path,
                 batch: int | None = None):
        self.course, self.cache, self.batch = course, cache, batch or BATCH
        self.waiting = {a: {s: set(keys) for s, keys in students.items()}
                        for a, students in waiting.items()}
        self.ready: dict[str, list[str]] = {a: [] for a in waiting}
        self.failed: list[tuple[str, str]] = []
        self.runs, self.seconds, self.overlapped = 0, 0.0, 0.0
        self.judging_ended: float | None = None
        self._error: BaseException | None = None
        self._done = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="recorder", daemon=True)
        for assignment, students in self.waiting.items():
            for student in [s for s, keys in students.items() if not keys]:
                del students[student]
                self.ready[assignment].append(student)
        batches_root(course).mkdir(parents=True, exist_ok=True)

    def start(self) -> "Recorder":
        self._thread.start()
        return self

    def judged(self, key: str) -> None:
        with self._changed:
            for assignment, students in self.waiting.items():
                for student in [s for s, keys in students.items() if key in keys]:
                    students[student].discard(key)
                    if not students[student]:
                        del students[student]
                        self.ready[assignment].append(student)
            self._changed.notify()

    def judging_done(self) -> None:
        with self._changed:
            self._done = True
            self.judging_ended = time.monotonic()
            self._changed.notify()

    def join(self) -> list[tuple[str, str]]:
        """Waits for the last batch; the (assignment, student) pairs nbgrader could not grade."""
        self.judging_done()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.failed

    def _next_batch(self) -> tuple[str, list[str]] | None:
        with self._changed:
            while True:
                for assignment, students in self.ready.items():
                    if students and (self._done or len(students) >= self.batch):
                        taken, self.ready[assignment] = students[:], []
                        return assignment, taken
                if self._done:
                    return None
                self._changed.wait()

    def _work(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                self._record(*batch)
        except BaseException as exc:  # noqa: BLE001 - raised again by join(), in the caller
            self._error = exc

    def _record(self, assignment: str, students: list[str]) -> None:
        self.runs += 1
        folder = batches_root(self.course) / str(self.runs) / "staged"
        for student in students:
            source = staged_root(self.course) / student / assignment
            if source.exists():
                (folder / student).mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), folder / student / assignment)
        began = time.monotonic()
        failed = autograde(self.course, assignment, set(students), self.cache, folder)
        ended = time.monotonic()
        self.seconds += ended - began
        if self.judging_ended is None:
            self.overlapped += ended - began
        elif self.judging_ended > began:
            self.overlapped += self.judging_ended - began
        self.failed.extend((assignment, student) for student in failed)

    def describe(self) -> str:
        return (f"recorded in {self.seconds:.1f} s ({self.runs} nbgrader run"
                f"{'s' if self.runs != 1 else ''}, {self.overlapped:.1f} s of it while judging)")


def clear(course: Course) -> None:
    """Remove the staged copies and batches of an earlier run."""
    for folder in (staged_root(course), batches_root(course)):
        if folder.exists():
            shutil.rmtree(folder)
