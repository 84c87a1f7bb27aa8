"""The course notebooks' stored outputs, and the nbval run that checks them.

pytest runs every course notebook under nbval (``course`` in testpaths, ``--nbval-lax`` in addopts,
tests/course_nbval.py): one item per code cell, an error in any cell fails, and the cells tagged
``nbval-check-output`` are also compared with the outputs stored in the notebook. These tests check what
is stored (only the tagged cells, each with an output nbval will compare) and that the run catches what
it should: an error in an untagged cell, and a stored number that the code no longer gives. The runs
below use this repository's pytest configuration (``-c pyproject.toml``) in a subprocess, on scratch
notebooks or copies in a temporary folder.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from tests.course_nbval import SANITIZE_RULES
from tests.store_outputs import CHECK_TAG, is_checked

REPO_ROOT = Path(__file__).resolve().parent.parent
COURSE_NOTEBOOKS = sorted((REPO_ROOT / "course").glob("*.ipynb"))
# Not tagged yet: other work was editing them. Tag and store with
#   python -m tests.store_outputs course/NAME.ipynb --mark CELL_ID,CELL_ID
# Notebooks with no deterministic printed output worth a reader's look: the index prints the installed
# versions (they move with every pin) beside the progress table; the review is quizzes, one widget each.
NOTHING_TO_CHECK = {"00_index", "08_review"}
# Output kinds never stored: big, holding random model ids, and drawn again by the kernel.
UNSTORED_MIME_TYPES = ("application/vnd.jupyter.widget-view+json", "application/vnd.plotly.v1+json")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def run_pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """pytest with this repository's configuration (addopts: --nbval-lax, tests.course_nbval) from ``cwd``."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO_ROOT / "pyproject.toml"),
                           "--rootdir", str(cwd), "-p", "no:cacheprovider", "-q", "--color=no", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    done.stdout = ANSI_ESCAPE.sub("", done.stdout)
    return done


def code_cells(path: Path) -> list:
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=[p.stem for p in COURSE_NOTEBOOKS])
def test_only_tagged_cells_hold_outputs_and_every_tagged_cell_holds_one(path):
    cells = code_cells(path)
    checked = [cell for cell in cells if is_checked(cell)]
    if path.stem not in NOTHING_TO_CHECK:
        assert checked, f"{path.name} has no cell tagged {CHECK_TAG}"
    for cell in cells:
        where = f"{path.name}, cell {cell.get('id')}:\n{cell.source[:200]}"
        if is_checked(cell):
            assert cell.outputs, f"tagged {CHECK_TAG} but no output stored ({where})"
            # nbval compares a cell only if it has an execution count ("unrun" cells are not compared).
            assert cell.execution_count is not None, f"tagged but stored without an execution count ({where})"
            stored = {mime for output in cell.outputs for mime in output.get("data", {})}
            assert not stored & set(UNSTORED_MIME_TYPES), f"a widget or plotly output is stored ({where})"
            assert all(output.output_type != "error" for output in cell.outputs), f"an error is stored ({where})"
        else:
            assert not cell.outputs and cell.execution_count is None, \
                f"an untagged cell holds an output: run python -m tests.store_outputs {path.relative_to(REPO_ROOT)} ({where})"


def test_the_readme_test_command_runs_the_course_notebooks_under_nbval_lax():
    """`./run test` is pytest with this configuration: course/ among testpaths, --nbval-lax in addopts."""
    options = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "course" in options["testpaths"]
    addopts = options["addopts"].split()
    assert {"--nbval-lax", "tests.course_nbval", "loadfile"} <= set(addopts), addopts


def test_nbval_collects_every_course_notebook_cell_and_no_solution_or_exercise_notebook():
    done = run_pytest("--collect-only", "course", "solutions", "exercises", cwd=REPO_ROOT)
    collected = [line for line in done.stdout.splitlines() if ".ipynb::" in line]
    expected = [f"course/{path.name}::Cell {i}" for path in COURSE_NOTEBOOKS for i in range(len(code_cells(path)))]
    assert sorted(collected) == sorted(expected), done.stdout[-3000:] + done.stderr[-3000:]


def test_every_sanitize_rule_covers_a_stored_output():
    """A sanitize rule blinds the check to what it matches: each must match some checked output, or go."""
    from nbval.plugin import get_sanitize_patterns

    rules = get_sanitize_patterns(SANITIZE_RULES.read_text())
    assert rules, f"no rules read from {SANITIZE_RULES}"
    # nbval sanitizes each stream's text and each value under an output's "data", one string at a time
    stored = [text for path in COURSE_NOTEBOOKS for cell in code_cells(path) if is_checked(cell)
              for output in cell.outputs for text in [output.get("text", ""), *output.get("data", {}).values()]
              if isinstance(text, str)]
    for regex, _ in rules:
        assert any(re.search(regex, text) for text in stored), f"the rule {regex!r} matches no stored output"


def scratch_notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), path)
    return path


@pytest.mark.slow
def test_an_error_in_an_untagged_cell_fails_and_each_notebook_keeps_one_kernel_under_xdist(tmp_path):
    """Two notebooks on two xdist workers (--dist loadfile, from addopts): the one raising in an untagged
    cell fails that cell; the other passes, its cells using each other's names, so each ran in one kernel
    in order, and its tagged cell matched the stored output."""
    cell = nbformat.v4.new_code_cell
    scratch_notebook(tmp_path / "fine.ipynb", cell("x = 21"),
                     cell("print(x * 2)", metadata={"tags": [CHECK_TAG]}, execution_count=2,
                          outputs=[nbformat.v4.new_output("stream", name="stdout", text="42\n")]),
                     cell("assert x == 21"))
    scratch_notebook(tmp_path / "broken.ipynb", cell("y = 1"), cell("raise ValueError('broken on purpose')"),
                     cell("print(y)"))
    done = run_pytest("-n", "2", "-rfE", ".", cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAILED broken.ipynb::Cell 1" in done.stdout and "ValueError: broken on purpose" in done.stdout
    assert re.search(r"^1 failed, 5 passed", done.stdout, re.MULTILINE), done.stdout[-3000:]


@pytest.mark.slow
def test_a_changed_stored_number_fails_the_run_naming_its_cell(tmp_path):
    """A copy of course/07 with one stored number changed fails on that cell and no other; an unchanged
    copy beside it passes, so the failure is the number's."""
    original = REPO_ROOT / "course" / "07_idempotency.ipynb"
    shutil.copy(original, tmp_path / "unchanged.ipynb")
    notebook = nbformat.read(original, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    index, target = next((i, c) for i, c in enumerate(code) if is_checked(c) and re.search(r"\d", c.outputs[0].text))
    number = re.search(r"\d+", target.outputs[0].text)
    changed = str(int(number.group()) + 1)
    target.outputs[0].text = target.outputs[0].text[:number.start()] + changed + target.outputs[0].text[number.end():]
    nbformat.write(notebook, tmp_path / "changed.ipynb")

    done = run_pytest("-rfE", ".", cwd=tmp_path)
    report = done.stdout
    assert done.returncode == 1, report[-3000:] + done.stderr[-3000:]
    assert re.findall(r"^FAILED (.+?) - ", report, re.MULTILINE) == [f"changed.ipynb::Cell {index}"], report[-3000:]
    assert f"Cell {index}: Cell outputs differ" in report, report[-3000:]
    for shown in (changed, number.group()):  # the diff shows the stored number against the computed one
        assert re.search(rf"^\s*[-+] .*(?<!\d){shown}(?!\d)", report, re.MULTILINE), report[-3000:]
    assert re.search(rf"^1 failed, {2 * len(code) - 1} passed", report, re.MULTILINE), report[-3000:]
