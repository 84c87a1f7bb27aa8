"""Reports in words a student can act on: what each check checks, and for each failure, what was
expected, what happened, and the inputs (or seed) that show it. Never hidden test code."""
from __future__ import annotations

import textwrap

from .exercises import EXERCISES
from .results import JudgeReport, TestResult

PASS, FAIL = "✔", "✘"


def _indent(text: str, prefix: str = "      ") -> str:
    return textwrap.indent(text, prefix)


def format_result(result: TestResult) -> str:
    line = f"  {PASS if result.passed else FAIL} {result.checks}"
    if not result.passed and result.message:
        line += "\n" + _indent(result.message)
    return line


def format_load_errors(report: JudgeReport) -> list[str]:
    lines = []
    for error in report.load_errors:
        lines.append(f"note: {error['label']} raised an error while your code was loading: "
                     f"{error['error']}")
        lines.extend("      " + frame for frame in error.get("traceback", [])[-3:])
    return lines


def part_title(exercise: str, part: str) -> str:
    """What a graded part checks, in a student's words (from the registry), for headings."""
    found = EXERCISES.get(exercise)
    return found.parts.get(part, "") if found else ""


def format_check(report: JudgeReport) -> str:
    lines = [f"{report.exercise}: hidden checks"]
    if report.fatal:
        lines.append(f"{FAIL} could not grade: {report.fatal}")
    lines.extend(format_load_errors(report))
    current = None
    for result in report.results:
        if result.part != current:
            current = result.part
            lines.append(f"[{current}] {part_title(report.exercise, current)}".rstrip())
        lines.append(format_result(result))
    failed = report.failed if report.results else max(report.failed, 1)
    lines.append(f"{report.passed} passed, {failed} failed")
    return "\n".join(lines)


def format_part(report: JudgeReport, part: str) -> tuple[bool, str]:
    """The text shown under one graded cell, and whether the cell earns its points."""
    results = report.for_part(part)
    if report.fatal and not results:
        return False, f"{FAIL} could not grade this part: {report.fatal}"
    if not results:
        return False, f"{FAIL} no checks ran for part {part!r} (tell your instructor)"
    passed = sum(r.passed for r in results)
    ok = passed == len(results)
    title = part_title(report.exercise, part)
    head = f"{PASS if ok else FAIL} {title + ': ' if title else ''}{passed} of {len(results)} hidden checks passed"
    body = [format_result(r) for r in results]
    exercise = EXERCISES.get(report.exercise)
    if not ok and (exercise is None or exercise.replay_hint):
        body.append("  To reproduce a ✘: the inputs it names are enough to rebuild the case in a cell of "
                    "your own\n  (with FakeClock where time matters); this cell's visible checks "
                    "exercise the same rule.")
    notes = format_load_errors(report)
    return ok, "\n".join([head, *body, *notes])


def format_notes(notes: list[str]) -> str:
    """What had to be repaired in the notebook before grading, for the student and the instructor."""
    return "\n".join(f"note: {note}" for note in notes)
