"""What must never reach a student, read from the instructor's own files: the reference solutions'
distinctive lines, the hidden suites' canaries and code. Shared by every test that checks something
students receive (the release, feedback pages, autograded copies, the student edition), so that they
all look for the same things."""
from __future__ import annotations

import nbformat

from autograder.exercises import EXERCISES, ROOT


def solution_lines() -> set[str]:
    """Distinctive lines of every reference solution (inside BEGIN/END SOLUTION regions): long
    ones that appear nowhere outside a solution region (a line such as `except Exception as exc:`
    in one solution may also be in another notebook's visible checks, which students do get)."""
    found, shown = set(), set()
    for path in (ROOT / "solutions").rglob("*.ipynb"):
        for cell in nbformat.read(path, 4).cells:
            inside = hidden = False
            for line in cell.source.splitlines():
                marker = line.strip()
                if marker in ("### BEGIN SOLUTION", "### END SOLUTION"):
                    inside = marker == "### BEGIN SOLUTION"
                elif marker in ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
                    hidden = marker == "### BEGIN HIDDEN TESTS"
                elif inside and len(marker) >= 24 and not marker.startswith(("#", '"""')):
                    found.add(marker)
                elif not inside and not hidden:
                    shown.add(marker)
    return found - shown


def canaries() -> dict[str, str]:
    """{exercise: the canary string its hidden suite carries}; fails if a suite carries none."""
    found = {}
    for name, exercise in EXERCISES.items():
        words = [w for w in exercise.hidden_suite.read_text().split() if w.startswith("DSP-CANARY-")]
        assert words, f"{exercise.hidden_suite.name} carries no canary"
        found[name] = words[0].strip("\"':")
    return found


def hidden_suite_lines(public: str) -> set[str]:
    """The hidden suites' lines of 40 characters or more that are not in ``public`` (the text
    students are given anyway, such as the released notebooks' visible checks)."""
    return {line.strip() for exercise in EXERCISES.values()
            for line in exercise.hidden_suite.read_text().splitlines()
            if len(line.strip()) >= 40 and line.strip() not in public}
