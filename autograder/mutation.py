r"""Known bugs as small named patches: a mutant is the bug, not a copy of the solution.

Each exercise's mutants live in one data file, ``autograder/mutants/<exercise>.toml``::

    [[mutant]]
    name = "cap_ignored"
    bug = "backoff_delay ignores cap; the loop caps only the final sleep, so ..."
    # base = "alternatives/bulkhead/condition.py"   (default: the reference solution)
    [[mutant.replace]]
    old = "    return min(cap, delay)\n"
    new = "    return delay\n"

(a text of several lines is a literal ``'''`` string, whose first newline TOML drops).
``name`` is how tests and the command line (``python -m autograder check EX --mutant NAME``) refer to
it; ``bug`` is one line, the mistake a student could make; ``base`` is the code the patch applies to:
the reference answer extracted from the exercise's source notebook, or a file under ``autograder/``
(a correct implementation in another design, for bugs that only make sense there). Each ``replace``
is an exact text replacement; its ``old`` text must occur exactly once in the base (and no two
overlap), otherwise ``Mutant.code`` raises ``StaleMutant``: a mutant whose base has changed
under it fails loudly instead of silently testing something else.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .paths import MUTANTS, PACKAGE

REFERENCE = "reference"


class StaleMutant(ValueError):
    """A mutant's patch no longer matches the code it is meant to patch."""


class UnknownMutant(KeyError):
    def __str__(self) -> str:
        return self.args[0]


class BadMutantFile(ValueError):
    """A mutants data file that does not say what a mutant must say."""


@dataclass(frozen=True)
class Edit:
    """Replace the one occurrence of ``old`` in the base with ``new``."""
    old: str
    new: str

    def locate(self, base_code: str, mutant: str) -> int:
        """Where ``old`` starts in the base; StaleMutant unless it occurs there exactly once."""
        found = base_code.count(self.old)
        if found != 1:
            how = "not found" if found == 0 else f"found {found} times, not once"
            raise StaleMutant(f"mutant {mutant!r} is stale: the text it replaces was {how} in its "
                              f"base (regenerate the patch); the text:\n{self.old}")
        return base_code.index(self.old)


@dataclass(frozen=True)
class Mutant:
    """One known bug of one exercise: a named patch of a base implementation."""
    exercise: str
    name: str
    bug: str  # one line, in a student's words
    edits: tuple[Edit, ...]
    base: str = REFERENCE  # "reference" or a path relative to autograder/

    @property
    def base_code(self) -> str:
        if self.base == REFERENCE:
            from .exercises import get_exercise  # (exercises imports this module)
            return get_exercise(self.exercise).reference_code
        return (PACKAGE / self.base).read_text(encoding="utf-8")

    @property
    def code(self) -> str:
        """The buggy implementation: the edits applied to the base as it is now."""
        return self.apply(self.base_code)

    def apply(self, base_code: str) -> str:
        """The edits applied to ``base_code``: each ``old`` is found in the base itself (exactly
        once, no two overlapping), so the order of the edits does not matter."""
        if not self.edits:
            raise StaleMutant(f"mutant {self.name!r} has no edits: it would be its base unchanged")
        spans = sorted(((edit.locate(base_code, self.name), edit) for edit in self.edits),
                       key=lambda span: span[0])
        pieces, done = [], 0
        for start, edit in spans:
            if start < done:
                raise StaleMutant(f"mutant {self.name!r}: two of its edits overlap at:\n{edit.old}")
            pieces += [base_code[done:start], edit.new]
            done = start + len(edit.old)
        return "".join(pieces) + base_code[done:]

    @property
    def label(self) -> str:
        """How a report names the code it ran."""
        return f"mutant {self.exercise}/{self.name}"

    def __str__(self) -> str:
        return f"{self.name}: {self.bug}"


def mutants_file(exercise: str) -> Path:
    return MUTANTS / f"{exercise}.toml"


def load_mutants(exercise: str, path: Path | None = None) -> list[Mutant]:
    """The exercise's mutants, in the order of its data file (none if it has no file)."""
    path = path or mutants_file(exercise)
    if not path.exists():
        return []
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    unknown = set(data) - {"mutant"}
    if unknown:
        raise BadMutantFile(f"{path.name}: unknown top-level keys {sorted(unknown)}")
    mutants = [_mutant(exercise, entry, path) for entry in data.get("mutant", [])]
    names = [m.name for m in mutants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadMutantFile(f"{path.name}: mutant names used twice: {', '.join(duplicates)}")
    return mutants


def _mutant(exercise: str, entry: dict, path: Path) -> Mutant:
    name = entry.get("name")
    where = f"{path.name}: mutant {name!r}"
    unknown = set(entry) - {"name", "bug", "base", "replace"}
    if unknown:
        raise BadMutantFile(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(name, str) or not name.isidentifier():
        raise BadMutantFile(f"{where}: name must be a word (letters, digits, _)")
    bug = entry.get("bug")
    if not isinstance(bug, str) or not bug.strip() or "\n" in bug.strip():
        raise BadMutantFile(f"{where}: bug must be one non-empty line")
    edits = []
    for replace in entry.get("replace", []):
        if set(replace) != {"old", "new"} or not isinstance(replace["old"], str) \
                or not isinstance(replace["new"], str) or not replace["old"]:
            raise BadMutantFile(f"{where}: each replace needs a non-empty old and a new text")
        edits.append(Edit(replace["old"], replace["new"]))
    if not edits:
        raise BadMutantFile(f"{where}: no replace entries")
    return Mutant(exercise=exercise, name=name, bug=bug.strip(), edits=tuple(edits),
                  base=entry.get("base", REFERENCE))


def find_mutant(exercise: str, name: str) -> Mutant:
    for mutant in load_mutants(exercise):
        if mutant.name == name:
            return mutant
    known = ", ".join(m.name for m in load_mutants(exercise)) or "none"
    raise UnknownMutant(f"{exercise} has no mutant {name!r}; its mutants: {known}")
