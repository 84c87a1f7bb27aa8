"""Adding an exercise is "add its registry entry and make this test pass".

For every exercise in ``autograder/exercises.py`` this names each part that is missing or breaks a
convention (see autograder/README.md, "Adding an exercise"): the source notebook and its graded
cells, the released notebook, the hidden suite (canary, at least 12 tests, each with a docstring
and a known part), the mutants, the alternatives and the section of the course notebook that
teaches it. Nothing here runs student code: it is all read from the files, so it is fast.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from autograder.cells import cell_source, is_answer_cell, is_graded_test_cell, nbgrader_meta
from autograder.exercises import EXERCISES, ROOT
from autograder.grading_run import part_of_cell

MIN_HIDDEN_TESTS, MIN_MUTANTS, MIN_ALTERNATIVES = 12, 8, 2
GRADED_FIRST_LINE = re.compile(r"# Graded, (?P<points>\d+(\.\d+)?) points? — \S")


@pytest.fixture(scope="module")
def collected() -> Counter:
    """Hidden tests per suite, as pytest collects them (parametrized cases counted one by one)."""
    suites = [str(e.hidden_suite) for e in EXERCISES.values() if e.hidden_suite.exists()]
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "_hypothesis_pytestplugin", "--rootdir", str(ROOT / "autograder" / "hidden"),
         "-c", os.devnull, *suites], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    counts = Counter(line.split("::")[0].rsplit("/", 1)[-1] for line in done.stdout.splitlines()
                     if "::" in line)
    assert counts or not suites, done.stdout + done.stderr
    return counts


def _notebook(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _defined_names(code: str) -> set[str]:
    tree = ast.parse(code)
    return {node.name for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))} | {
        target.id for node in tree.body if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name)}


def source_notebook_problems(exercise) -> list[str]:
    if not exercise.source_notebook.exists():
        return [f"source notebook {exercise.source_notebook.relative_to(ROOT)}"]
    problems = []
    cells = _notebook(exercise.source_notebook)["cells"]
    answers = [c for c in cells if c["cell_type"] == "code" and is_answer_cell(c)]
    if not answers:
        problems.append("a code answer cell in the source notebook (found none)")
    else:
        missing = set(exercise.required_names) - _defined_names(exercise.reference_code)
        if missing:
            problems.append(f"the reference answer defining {sorted(missing)}")
    graded = [c for c in cells if c["cell_type"] == "code" and is_graded_test_cell(c)]
    if len(graded) < 3:
        problems.append(f"at least 3 graded cells (found {len(graded)})")
    points = sum(float(nbgrader_meta(c).get("points", 0)) for c in graded)
    if points < 10:
        problems.append(f"at least 10 points in graded cells (found {points:g})")
    parts = []
    for cell in graded:
        grade_id = nbgrader_meta(cell).get("grade_id")
        source = cell_source(cell)
        first = source.splitlines()[0] if source else ""
        match = GRADED_FIRST_LINE.match(first)
        if not match or float(match["points"]) != float(nbgrader_meta(cell).get("points", -1)):
            problems.append(f"graded cell {grade_id} starting '# Graded, N points — what it checks' "
                            f"with its own points (it starts {first!r})")
        found = part_of_cell(source)
        if found is None or found[0] != exercise.name:
            problems.append(f"graded cell {grade_id} calling grade({exercise.name!r}, PART) in its "
                            "hidden-tests region")
        else:
            parts.append(found[1])
    if sorted(parts) != sorted(exercise.parts):
        problems.append(f"one graded cell per registry part {sorted(exercise.parts)} (the graded "
                        f"cells name {sorted(parts)})")
    return problems


def release_problems(exercise) -> list[str]:
    if not exercise.release_notebook.exists():
        return [f"released notebook {exercise.release_notebook.relative_to(ROOT)} (run `nbgrader "
                f"generate_assignment {exercise.assignment} --force`)"]
    return []


def hidden_suite_problems(exercise, collected: Counter) -> list[str]:
    suite = exercise.hidden_suite
    if not suite.exists():
        return [f"hidden suite {suite.relative_to(ROOT)}"]
    text = suite.read_text(encoding="utf-8")
    problems = []
    if exercise.canary not in text:
        problems.append(f"the canary {exercise.canary} in the hidden suite")
    if collected[suite.name] < MIN_HIDDEN_TESTS:
        problems.append(f"at least {MIN_HIDDEN_TESTS} hidden tests (pytest collects "
                        f"{collected[suite.name]})")
    for name, doc, part in _hidden_tests(ast.parse(text)):
        if not doc:
            problems.append(f"a docstring on hidden test {name} (its first line is what a student "
                            "reads as 'what this checks')")
        if part not in exercise.parts:
            problems.append(f"hidden test {name} marked with one of the parts {sorted(exercise.parts)} "
                            f"(@pytest.mark.part; it has {part!r})")
    return problems


def _part_marker(node) -> str | None:
    for decorator in getattr(node, "decorator_list", []):
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "part" and decorator.args
                and isinstance(decorator.args[0], ast.Constant)):
            return decorator.args[0].value
    return None


def _hidden_tests(tree):
    """(name, docstring, part) of each test function, the part taken from it or its class."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test_"):
                    yield (f"{node.name}::{item.name}", ast.get_docstring(item),
                           _part_marker(item) or _part_marker(node))
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            yield node.name, ast.get_docstring(node), _part_marker(node)


def implementation_problems(exercise) -> list[str]:
    problems = []
    if len(exercise.mutants) < MIN_MUTANTS:
        problems.append(f"at least {MIN_MUTANTS} mutants (has {len(exercise.mutants)})")
    if len(exercise.alternatives) < MIN_ALTERNATIVES:
        problems.append(f"at least {MIN_ALTERNATIVES} alternatives in autograder/alternatives/"
                        f"{exercise.name}/ (has {len(exercise.alternatives)})")
    return problems


def course_problems(exercise) -> list[str]:
    notebook = exercise.course_notebook
    if not notebook.exists():
        return [f"course notebook {notebook.relative_to(ROOT)}"]
    headings = [line.lstrip("#").strip() for cell in _notebook(notebook)["cells"]
                if cell["cell_type"] == "markdown" for line in cell_source(cell).splitlines()
                if line.startswith("## ")]
    if not any(re.sub(r"^\d+\.\s*", "", h) == exercise.section for h in headings):
        return [f"a section '## N. {exercise.section}' in {notebook.relative_to(ROOT)}"]
    return []


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_exercise_has_every_part(name, collected):
    exercise = EXERCISES[name]
    missing = (source_notebook_problems(exercise) + release_problems(exercise)
               + hidden_suite_problems(exercise, collected) + implementation_problems(exercise)
               + course_problems(exercise))
    assert not missing, f"{exercise.assignment}/{name} still needs:\n  - " + "\n  - ".join(missing)


def test_problems_are_found():
    """The checks above can fail: an exercise registered with nothing behind it is missing every part."""
    from autograder.exercises import Exercise

    ghost = Exercise(name="ghost", assignment="resilience", required_names=("Ghost",),
                     parts={"only": "nothing"}, section="Ghosts")
    found = (source_notebook_problems(ghost) + release_problems(ghost)
             + hidden_suite_problems(ghost, Counter()) + implementation_problems(ghost)
             + course_problems(ghost))
    assert len(found) == 6, found


def test_every_assignment_folder_is_registered():
    on_disk = {(p.parent.name, p.stem) for p in (ROOT / "solutions").glob("*/*.ipynb")}
    registered = {(e.assignment, e.name) for e in EXERCISES.values()}
    assert on_disk == registered, f"notebooks without a registry entry: {sorted(on_disk - registered)}"
