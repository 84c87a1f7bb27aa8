"""Mutants are named patches of a base implementation (autograder/mutation.py): each applies to the
code it patches, fails loudly once that code has moved under it, and can be listed and graded from
the command line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder.exercises import EXERCISES, ROOT
from autograder.mutation import (REFERENCE, BadMutantFile, Edit, Mutant, StaleMutant, UnknownMutant,
                                 find_mutant, load_mutants)
from autograder.paths import MUTANTS, PACKAGE

ALL = [mutant for _, exercise in sorted(EXERCISES.items()) for mutant in exercise.mutants]
IDS = [f"{m.exercise}/{m.name}" for m in ALL]


def run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("mutant", ALL, ids=IDS)
def test_every_mutant_applies_and_is_valid_python_that_differs_from_its_base(mutant):
    code = mutant.code  # raises StaleMutant if its base moved
    assert code != mutant.base_code, f"{mutant.name} changes nothing"
    compile(code, f"<mutant {mutant.name}>", "exec")
    assert mutant.bug and "\n" not in mutant.bug


@pytest.mark.parametrize("mutant", ALL, ids=IDS)
def test_a_mutant_fails_loudly_on_a_base_it_no_longer_matches(mutant):
    old = mutant.edits[0].old
    moved = mutant.base_code.replace(old, "# (someone rewrote this part of the base)\n", 1)
    with pytest.raises(StaleMutant, match=mutant.name) as raised:
        mutant.apply(moved)
    assert old.strip().splitlines()[0] in str(raised.value), "the error names the text not found"


def test_mutant_bases_are_the_reference_or_a_committed_file():
    for mutant in ALL:
        if mutant.base == REFERENCE:
            assert mutant.base_code == EXERCISES[mutant.exercise].reference_code
        else:
            assert (PACKAGE / mutant.base).is_file(), f"{mutant.name}: no base {mutant.base}"
    assert any(m.base == "alternatives/bulkhead/condition.py" for m in ALL)


def test_every_exercise_has_one_mutants_file_and_no_full_copies_remain():
    files = sorted(MUTANTS.rglob("*"))
    assert [f for f in files if f.is_file()] == sorted(MUTANTS / f"{name}.toml" for name in EXERCISES)
    for name, exercise in EXERCISES.items():
        names = [m.name for m in exercise.mutants]
        assert len(names) == len(set(names)) >= 8, name


def test_an_ambiguous_or_overlapping_patch_is_stale():
    base = "a = 1\nb = 2\na = 1\n"
    twice = Mutant("demo", "twice", "bug", (Edit("a = 1\n", "a = 0\n"),))
    with pytest.raises(StaleMutant, match="twice.*2 times"):
        twice.apply(base)
    overlapping = Mutant("demo", "overlap", "bug", (Edit("b = 2\n", "b = 3\n"),
                                                    Edit("1\nb", "0\nb")))
    with pytest.raises(StaleMutant, match="overlap"):
        overlapping.apply(base)
    ok = Mutant("demo", "ok", "bug", (Edit("b = 2\n", "b = 3\n"),))
    assert ok.apply(base) == "a = 1\nb = 3\na = 1\n"


@pytest.mark.parametrize("text, problem", [
    ('[[mutant]]\nname = "x"\nbug = "one\\ntwo"\n[[mutant.replace]]\nold = "a"\nnew = "b"\n', "one"),
    ('[[mutant]]\nname = "x"\nbug = "b"\n', "no replace"),
    ('[[mutant]]\nname = "x"\nbug = "b"\nreplce = 1\n', "unknown keys"),
    ('[[mutant]]\nname = "x y"\nbug = "b"\n[[mutant.replace]]\nold = "a"\nnew = "b"\n', "name"),
    ('[[mutant]]\nname = "x"\nbug = "b"\n[[mutant.replace]]\nold = ""\nnew = "b"\n', "non-empty"),
    ('[[mutant]]\nname = "x"\nbug = "b"\n[[mutant.replace]]\nold = "a"\nnew = "b"\n' * 2, "twice"),
])
def test_a_malformed_mutants_file_is_refused(tmp_path, text, problem):
    path = tmp_path / "demo.toml"
    path.write_text(text)
    with pytest.raises(BadMutantFile, match=problem):
        load_mutants("demo", path)


def test_unknown_mutant_names_the_known_ones():
    with pytest.raises(UnknownMutant, match="never_waits"):
        find_mutant("bulkhead", "no_such_bug")


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_mutants_command_lists_every_name_with_its_bug(name):
    done = run("mutants", name)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    mutants = EXERCISES[name].mutants
    assert len(lines) == len(mutants)
    for line, mutant in zip(lines, mutants):
        assert line.split()[0] == mutant.name and line.endswith(mutant.bug), line


def test_check_command_grades_one_mutant():
    done = run("check", "bulkhead", "--mutant", "off_by_one_limit")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "off_by_one_limit" in done.stdout
    passed, failed = done.stdout.strip().splitlines()[-1].split(" passed, ")
    assert int(failed.split()[0]) >= 1, done.stdout


def test_check_command_refuses_an_unknown_mutant_or_both_impl_and_mutant(tmp_path):
    done = run("check", "retry", "--mutant", "no_such_bug")
    assert done.returncode == 2 and "cap_ignored" in done.stderr, done.stderr
    impl = tmp_path / "impl.py"
    impl.write_text(EXERCISES["retry"].reference_code)
    done = run("check", "retry", "--impl", impl, "--mutant", "cap_ignored")
    assert done.returncode == 2 and "not allowed with" in done.stderr, done.stderr
