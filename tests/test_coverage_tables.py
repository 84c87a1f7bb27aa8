"""Every hidden suite carries a coverage table (autograder/hidden/coverage/<exercise>.md): each clause
of the exercise's contract, quoted exactly, and the hidden tests that check it.

Checked mechanically: the clauses are cut from the contract file itself, so a contract sentence
added later without a row fails here; every test a row names exists in the suite; and every hidden
test is in some row, or in a "no clause: <why it is there>" row.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from autograder.exercises import EXERCISES, HIDDEN

CONTRACTS = Path(__file__).resolve().parent.parent.parent / "shared" / "exercise-contracts.md"
COVERAGE = HIDDEN / "coverage"
# The review has no contract: its "clauses" are the bank's graded questions, and
# tests/test_interview_review.py checks that the suite has one test per question, in its family's part.
TABLED = sorted(name for name in EXERCISES if name != "review")
NO_CLAUSE = "no clause:"


def contract_text() -> str:
    if not CONTRACTS.is_file():
        pytest.skip(f"the contracts file is not here: {CONTRACTS}")
    return CONTRACTS.read_text(encoding="utf-8")


def exercise_section(text: str, name: str) -> str:
    found = re.search(r"^### `" + re.escape(name) + r"`\n(.*?)(?=^##|\Z)", text, re.S | re.M)
    assert found, f"no section ### `{name}` in {CONTRACTS}"
    return found.group(1)


def conventions_text(text: str) -> str:
    found = re.search(r"^Conventions for all exercises\n(.*?)(?=^##|\Z)", text, re.S | re.M)
    assert found, f"no 'Conventions for all exercises' in {CONTRACTS}"
    return " ".join(line.strip().removeprefix("- ") for line in found.group(1).splitlines())


def clauses(section: str) -> list[str]:
    """The section's clauses: each bullet (or the paragraph before the bullets) cut at every '.'
    or ';' that ends a clause, i.e. one followed by a space or the end, outside (), [] and code."""
    items, current = [], []
    for line in section.strip().splitlines():
        if line.startswith("- "):
            if current:
                items.append(" ".join(current))
            current = [line[2:].strip()]
        elif line.strip():
            current.append(line.strip())
    if current:
        items.append(" ".join(current))
    found = []
    for item in items:
        depth, code, start = 0, False, 0
        for i, ch in enumerate(item):
            if ch == "`":
                code = not code
            elif not code and ch in "([":
                depth += 1
            elif not code and ch in ")]":
                depth -= 1
            elif not code and depth == 0 and ch in ".;" and (i + 1 == len(item) or item[i + 1] == " "):
                found.append(item[start:i + 1].strip())
                start = i + 1
        if item[start:].strip():
            found.append(item[start:].strip())
    return found


def table_rows(path: Path) -> list[tuple[str, list[str]]]:
    """(clause cell, test names) for each row of the markdown tables in ``path``."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) != 2 or cells[0].lower() == "clause":
            continue
        clause, tests = cells
        rows.append((clause, re.findall(r"`(Test\w+::test_\w+|test_\w+)`", tests)))
    return rows


def hidden_tests(suite: Path) -> set[str]:
    """``Class::test`` (or ``test`` at module level) for every test function in the suite."""
    tree = ast.parse(suite.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names |= {f"{node.name}::{item.name}" for item in node.body
                      if isinstance(item, ast.FunctionDef) and item.name.startswith("test_")}
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            names.add(node.name)
    return names


@pytest.fixture(scope="module")
def contract():
    return contract_text()


def test_clause_splitting_keeps_sentences_whole():
    section = "`f(x)` → y (a; b). Second clause; third.\n- item one (x. y); item two.\n"
    assert clauses(section) == ["`f(x)` → y (a; b).", "Second clause;", "third.",
                                "item one (x. y);", "item two."]


@pytest.mark.parametrize("name", TABLED)
def test_every_contract_clause_has_a_row(contract, name):
    path = COVERAGE / f"{name}.md"
    assert path.is_file(), f"{name}: no coverage table at {path}"
    rows = {clause for clause, _ in table_rows(path)}
    missing = [c for c in clauses(exercise_section(contract, name)) if c not in rows]
    assert not missing, (f"{path.name}: contract clauses with no row (quote them exactly): "
                         + " / ".join(missing))


@pytest.mark.parametrize("name", TABLED)
def test_every_row_is_a_clause_or_says_why(contract, name):
    path = COVERAGE / f"{name}.md"
    own = set(clauses(exercise_section(contract, name)))
    conventions = conventions_text(contract)
    problems = []
    for clause, tests in table_rows(path):
        if clause.lower().startswith(NO_CLAUSE):
            if len(clause) <= len(NO_CLAUSE) + 10:
                problems.append(f"{clause!r}: say why these tests are there")
        elif clause not in own and clause not in conventions:
            problems.append(f"{clause!r} is neither a clause of `{name}` nor a convention sentence")
        if not tests:
            problems.append(f"{clause!r}: no test checks it (a gap to close)")
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", TABLED)
def test_named_tests_exist_and_every_test_has_a_row(name):
    path = COVERAGE / f"{name}.md"
    suite = EXERCISES[name].hidden_suite
    existing = hidden_tests(suite)
    named = {test for _, tests in table_rows(path) for test in tests}
    unknown = sorted(named - existing)
    assert not unknown, f"{path.name} names tests that {suite.name} does not have: {unknown}"
    unlisted = sorted(existing - named)
    assert not unlisted, (f"{suite.name} has tests in no row of {path.name} (give each its clause, "
                          f"or a 'no clause: why' row): {unlisted}")
