"""The hidden suites and the `python -m autograder check` command, run directly (no nbgrader)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


from autograder.exercises import EXERCISES, ROOT
from autograder.judge import judge, judge_cells

@pytest.fixture(scope="module")
def reference_files(tmp_path_factory):
    where = tmp_path_factory.mktemp("reference")
    files = {}
    for name, exercise in EXERCISES.items():
        files[name] = where / f"{name}.py"
        files[name].write_text(exercise.reference_code)
    return files


@pytest.fixture(scope="module")
def reference_reports(reference_files):
    """The reference's first verdicts in this process, judged once and shared: the full-marks test
    reads them and the determinism test compares a second run with them."""
    reports = {}

    def report(name):
        if name not in reports:
            reports[name] = judge(name, reference_files[name])
        return reports[name]
    return report


def check(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "autograder", "check", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes_every_hidden_check(reference_reports, name):
    report = reference_reports(name)
    assert not report.fatal, report.fatal
    assert len(report.results) >= 12, f"{name} has only {len(report.results)} hidden tests"
    failures = [f"{r.checks}: {r.message}" for r in report.results if not r.passed]
    assert not failures, "\n".join(failures)
    assert {r.part for r in report.results} == set(EXERCISES[name].parts)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_exercise_has_at_least_eight_documented_mutants(name):
    mutants = EXERCISES[name].mutants
    assert len(mutants) >= 8, f"{name} has {len(mutants)} mutants"
    for mutant in mutants:
        assert mutant.bug.strip() and "\n" not in mutant.bug, \
            f"{mutant.name} must say its bug in one non-empty line"


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_grades_do_not_vary_between_runs_in_one_process(reference_files, reference_reports, name):
    """A warm judge process (the grading command's workers) grades submission after submission:
    a later verdict must equal the first, for correct and for buggy code."""
    mutant = EXERCISES[name].mutants[0]

    def verdicts(report):
        return [(r.test, r.passed) for r in report.results]
    first = verdicts(reference_reports(name))
    assert verdicts(judge(name, reference_files[name])) == first, "reference: verdicts changed"
    runs = [verdicts(judge_cells(name, [{"label": "mutant", "source": mutant.code}]))
            for _ in range(2)]
    assert not all(passed for _, passed in runs[0]), f"mutant {mutant.name} passed every check"
    assert runs[0] == runs[1], f"mutant {mutant.name}: verdicts changed between runs"


def test_check_command_passes_reference_and_prints_summary(reference_files):
    done = check("circuit_breaker", "--impl", reference_files["circuit_breaker"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")


def test_check_command_grades_the_reference_when_given_no_implementation():
    done = check("read_replicas")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("the reference (the answer cell of read_replicas.ipynb)")
    assert re.search(r"^judged in \d+\.\d\d s \([\d,]+ round trips", done.stdout, re.M), done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")


def test_check_command_on_a_notebook(tmp_path):
    source = EXERCISES["circuit_breaker"].source_notebook
    done = check("circuit_breaker", "--impl", source)
    assert done.returncode == 0, done.stdout + done.stderr
    released = EXERCISES["circuit_breaker"].release_notebook
    done = check("circuit_breaker", "--impl", released)
    assert done.returncode == 1
    assert "NotImplementedError" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("0 passed, ")


def test_check_command_names_a_missing_class(tmp_path):
    impl = tmp_path / "nothing.py"
    impl.write_text("class CircuitOpenError(Exception):\n    pass\n")
    done = check("circuit_breaker", "--impl", impl)
    assert done.returncode == 1
    assert "your code does not define CircuitBreaker" in done.stdout
    assert "NameError" not in done.stdout and "Traceback" not in done.stdout


def test_check_command_refuses_unknown_exercise_listing_known_ones(tmp_path):
    impl = tmp_path / "x.py"
    impl.write_text("")
    done = check("circuit_breakr", "--impl", impl)
    assert done.returncode == 2
    assert "unknown exercise 'circuit_breakr'" in done.stderr
    for name in EXERCISES:
        assert name in done.stderr


def test_check_command_reports_unreadable_notebook(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    done = check("circuit_breaker", "--impl", broken)
    assert done.returncode == 1
    assert "not valid notebook JSON" in done.stdout


def test_student_code_that_exits_or_prints_fake_results_earns_nothing(tmp_path):
    impl = tmp_path / "cheat.py"
    impl.write_text("print('20 passed, 0 failed')\nimport os\nos._exit(0)\n")
    done = check("circuit_breaker", "--impl", impl)
    assert done.returncode == 1
    assert done.stdout.strip().splitlines()[-1].startswith("0 passed")
    assert "ended the grading process" in done.stdout


def test_always_equal_objects_do_not_fool_the_checks(tmp_path):
    impl = tmp_path / "eq.py"
    impl.write_text(
        "class Anything:\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "class CircuitOpenError(Exception):\n    pass\n"
        "class CircuitBreaker:\n"
        "    def __init__(self, *a, **k): pass\n"
        "    state = Anything()\n"
        "    def call(self, func, *a, **k): return Anything()\n")
    report = judge("circuit_breaker", impl)
    assert report.passed == 0, [r.checks for r in report.results if r.passed]
