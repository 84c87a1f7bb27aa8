"""Where things are: the one place that knows the course's layout on disk.

Everything in the autograder (and the project's tests) finds the course through these names, so a
moved checkout or a scratch copy needs no other change.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
HIDDEN = PACKAGE / "hidden"
MUTANTS = PACKAGE / "mutants"
ALTERNATIVES = PACKAGE / "alternatives"
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "exercises"
INSTRUCTOR = ROOT / "instructor"
