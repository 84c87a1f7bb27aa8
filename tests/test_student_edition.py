"""The student edition (`python -m autograder student-edition OUT --git`) holds what a student needs and
nothing of the instructor's: no solution code, hidden test, mutant, alternative, canary, grading file,
graded review answer or instructor state; its environment files agree with the project's pins; and,
in a fresh venv made from its own files (slow), its packages install and import, `dspatterns` imports
without `autograder`, and every exercise notebook runs top to bottom.

The edition and its venv are built once per run (tests/student_edition_fixtures.py); the static site's
test executes the course notebooks with the same venv, so this file does not execute them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import student_leaks
from autograder import student_edition as edition_module
from autograder.exercises import EXERCISES, ROOT
from autograder.review.bank import graded, load, practice
from student_edition_fixtures import outside_environment
from test_environment import canonical, conda_pip_list, parse_pins
from test_student_extensions import INSTRUCTOR_PLUGINS, STUDENT_PLUGINS, served

# What git, pip and Python leave in the edition once it is a repository with a venv in it (never
# shipped: .git is the edition's own history, the rest is ignored by the edition's .gitignore).
LOCAL_STATE = {".git", ".venv", "dspatterns.egg-info", "__pycache__", ".ipynb_checkpoints"}
INSTRUCTOR_ONLY_PATHS = ("solutions", "autograder", "instructor", "tests", "benchmarks", ".ci",
                         "nbgrader_config.py", "requirements-test.txt", "gradebook.db", "submitted",
                         "autograded", "feedback", "release", "source", "submission_secret.txt")


def shipped_files(edition: Path) -> list[Path]:
    return sorted(p for p in edition.rglob("*") if p.is_file()
                  and not (set(p.relative_to(edition).parts) & LOCAL_STATE))


@pytest.fixture(scope="module")
def shipped_text(student_edition) -> dict[str, str]:
    """{path in the edition: its text} for every file the edition ships (all are text)."""
    return {p.relative_to(student_edition).as_posix(): p.read_text(encoding="utf-8")
            for p in shipped_files(student_edition)}


def _public_in_repo() -> str:
    """What the repository gives students anyway (course, released exercises, dspatterns)."""
    return "".join(p.read_text(encoding="utf-8") for tree in ("course", "exercises", "dspatterns")
                   for p in (ROOT / tree).rglob("*") if p.is_file() and p.suffix in (".py", ".ipynb", ".json"))


# -- what is in it ----------------------------------------------------------------------------------

def test_the_edition_holds_exactly_its_manifest(student_edition, shipped_text):
    top = {p.name for p in student_edition.iterdir()} - LOCAL_STATE
    assert top == {name.split("/")[0] for name in edition_module.MANIFEST}, top
    for relative in shipped_text:
        assert any(relative == name or relative.startswith(name + "/") for name in edition_module.MANIFEST), \
            f"{relative} is in the edition but not in its manifest"
    for name in edition_module.MANIFEST:
        assert (student_edition / name).exists(), f"the manifest's {name} is missing"


def test_copied_files_are_the_repositorys_own(student_edition, shipped_text):
    for tree in edition_module.COPIED_TREES:
        repo = {p.relative_to(ROOT).as_posix() for p in (ROOT / tree).rglob("*") if p.is_file()
                and "__pycache__" not in p.parts and p.suffix != ".pyc" and ".ipynb_checkpoints" not in p.parts}
        shipped = {name for name in shipped_text if name.startswith(tree + "/")}
        assert shipped == repo, f"{tree}/ differs: missing {sorted(repo - shipped)}, extra {sorted(shipped - repo)}"
        for name in shipped:
            assert shipped_text[name] == (ROOT / name).read_text(encoding="utf-8"), name
    assert shipped_text["requirements.lock"] == (ROOT / "requirements.lock").read_text()


def test_no_instructor_path_and_no_instructor_state(student_edition):
    for path in student_edition.rglob("*"):
        parts = set(path.relative_to(student_edition).parts)
        if parts & LOCAL_STATE:
            continue
        assert not parts & set(INSTRUCTOR_ONLY_PATHS), f"instructor-only {path.relative_to(student_edition)}"
        assert path.suffix not in (".db", ".sqlite"), path


def test_no_solution_code(shipped_text):
    """No reference solution's distinctive line anywhere in the edition, except the few idioms the
    course's own models in dspatterns/ share with the solutions (``self._lock = threading.Lock()``,
    ``if strategy not in STRATEGIES:``): dspatterns/ is kept from holding answers by name
    (tests/test_exercise_answers_not_shipped.py), and must stay a small exception here."""
    shared_idioms = "".join(p.read_text() for p in (ROOT / "dspatterns").rglob("*.py"))
    all_lines = student_leaks.solution_lines()
    solution_lines = {line for line in all_lines if line not in shared_idioms}
    assert len(solution_lines) > 400, "found too few solution lines to make this check meaningful"
    assert len(all_lines) - len(solution_lines) <= 25, \
        f"{len(all_lines) - len(solution_lines)} solution lines are also in dspatterns/: look at them"
    for name, text in shipped_text.items():
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{name} contains {marker!r}"
        for line in text.splitlines():
            for solution in solution_lines:
                assert solution not in line, f"{name} contains solution code: {solution}"


def test_no_hidden_test_canary_or_grader_file(shipped_text):
    """Nothing of autograder/ (hidden suites, their support and servers, the judge, the sandbox, the
    nbgrader configuration, mutants, alternatives, the question bank) is in the edition, byte for
    byte or line by line; no canary. The grader holds no key: what it keeps from students is
    autograder/ itself, whose digest decides when a class is regraded (grading_run.grader_digest)."""
    grader_files = [p for p in (ROOT / "autograder").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    grader_digests = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in grader_files
                      if p.stat().st_size > 200}
    assert len(grader_digests) > 50
    for name, text in shipped_text.items():
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert digest not in grader_digests, f"{name} is {grader_digests[digest].relative_to(ROOT)}"
    canaries = student_leaks.canaries()
    assert len(canaries) == len(EXERCISES)
    hidden_lines = student_leaks.hidden_suite_lines(_public_in_repo())
    assert len(hidden_lines) > 500
    for name, text in shipped_text.items():
        assert "DSP-CANARY" not in text, f"{name} carries a canary"
        for line in hidden_lines:
            assert line not in text, f"{name} holds hidden test code: {line}"


def test_no_mutant_or_alternative(shipped_text):
    public = _public_in_repo()
    everything = "\n".join(shipped_text.values())
    bugs, patched, alternative_lines = [], set(), set()
    for exercise in EXERCISES.values():
        for mutant in exercise.mutants:
            bugs.append(mutant.bug)
            for edit in mutant.edits:
                patched |= {line.strip() for line in edit.new.splitlines()
                            if len(line.strip()) >= 30 and line.strip() not in public}
        for path in exercise.alternatives:
            assert path.read_text() not in everything, f"{path.name} is in the edition"
            alternative_lines |= {line.strip() for line in path.read_text().splitlines()
                                  if len(line.strip()) >= 40 and line.strip() not in public}
    assert len(bugs) > 50 and len(patched) > 10 and len(alternative_lines) > 200
    for bug in bugs:
        assert bug not in everything, f"a mutant's description is in the edition: {bug}"
    for line in patched | alternative_lines:
        assert line not in everything, f"a mutant's or alternative's code is in the edition: {line}"


def test_no_graded_review_answer(shipped_text):
    """The graded questions are asked in exercises/review/review.ipynb (that is the assignment),
    never answered: no explanation, no answer assignment; the course's practice questions
    (dspatterns/review/practice.json) hold none of them."""
    questions = load()
    graded_questions = graded(questions)
    assert len(graded_questions) >= 21
    everything = "\n".join(shipped_text.values())
    for question in graded_questions:
        for lang, text in question.text.items():
            assert text.explanation not in everything, f"{question.id} ({lang}): its explanation is shipped"
        answer = re.escape(str(question.answer)).replace(r"\.0", r"(\.0)?")
        assert not re.search(rf"{question.variable}\s*=\s*['\"]?{answer}\b", everything), question.id
        prompt = question.text["en"].prompt
        holders = [name for name, text in shipped_text.items() if prompt in text]
        assert holders in ([], ["exercises/review/review.ipynb"]), (question.id, holders)
    shipped_practice = json.loads(shipped_text["dspatterns/review/practice.json"])
    shipped_ids = {q["id"] for q in shipped_practice["questions"]}
    assert shipped_ids == {q.id for q in practice(questions)}
    assert not shipped_ids & {q.id for q in graded_questions}


# -- the command ------------------------------------------------------------------------------------

def test_git_makes_a_repository_with_one_commit_and_a_clean_tree(student_edition):
    def git(*args):
        return subprocess.run(["git", *args], cwd=student_edition, capture_output=True, text=True,
                              check=True).stdout
    assert (student_edition / ".git").is_dir()
    assert git("rev-parse", "--show-toplevel").strip() == str(student_edition.resolve())
    assert git("rev-list", "--count", "HEAD").strip() == "1"
    assert git("status", "--porcelain", "--untracked-files=all") == "", "the work tree is not clean"
    tracked = set(git("ls-files").splitlines())
    assert tracked == {p.relative_to(student_edition).as_posix() for p in shipped_files(student_edition)}


def run_command(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", "student-edition", *map(str, args)], cwd=cwd,
                          env=dict(outside_environment(), PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=300)


def test_a_non_empty_out_is_refused_unless_force(tmp_path):
    out = tmp_path / "edition"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = run_command(out)
    assert refused.returncode == 2
    assert "is not empty" in refused.stderr and "--force" in refused.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"], "a refused run wrote something"
    forced = run_command(out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert not (out / "notes.txt").exists() and (out / "course" / "00_index.ipynb").is_file()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in files if "__pycache__" in p.parts or p.suffix == ".pyc"], "compiled files shipped"
    size = sum(p.stat().st_size for p in files)
    assert f"{len(files)} files, {size / 1e6:.1f} MB" in forced.stdout


def test_force_keeps_a_published_editions_history(tmp_path):
    """--force into an edition that is a git repository keeps its .git: the update is one more commit."""
    out = tmp_path / "published"
    first = run_command(out, "--git")
    assert first.returncode == 0 and "one commit" in first.stdout, first.stdout + first.stderr
    (out / "course" / "stale.txt").write_text("a file an older export had")
    subprocess.run(["git", "add", "course/stale.txt"], cwd=out, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "older"], cwd=out,
                   check=True)
    again = run_command(out, "--git", "--force")
    assert again.returncode == 0 and "3 commits" in again.stdout, again.stdout + again.stderr
    assert not (out / "course" / "stale.txt").exists()
    same = run_command(out, "--git", "--force")
    assert same.returncode == 0 and "3 commits" in same.stdout, "an unchanged export made a commit"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=out, capture_output=True, text=True).stdout
    assert status == ""


def test_an_out_inside_the_repository_copy_is_refused(tmp_path):
    refused = run_command(ROOT / "course" / "edition")
    assert refused.returncode == 2 and "inside course/" in refused.stderr
    assert not (ROOT / "course" / "edition").exists()


# -- environment files -------------------------------------------------------------------------------

def test_requirements_are_the_projects_pins_less_what_students_never_use(shipped_text):
    project = parse_pins((ROOT / "requirements.txt").read_text().splitlines(), "requirements.txt")
    edition = parse_pins(shipped_text["requirements.txt"].splitlines(), "edition requirements.txt")
    differ = {k: (project.get(k), v) for k, v in edition.items() if project.get(k) != v}
    assert not differ, f"edition pins differ from requirements.txt (project, edition): {differ}"
    left_out = set(project) - set(edition)
    assert left_out == set(edition_module.INSTRUCTOR_ONLY_PACKAGES)
    assert {"nbgrader", "jupyterlab", "ipywidgets", "plotly", "anywidget"} <= set(edition)
    test_only = parse_pins((ROOT / "requirements-test.txt").read_text().splitlines(), "requirements-test.txt")
    assert not set(test_only) & set(edition)


# The import names of the packages left out (pytest-xdist: xdist, PyYAML: yaml).
LEFT_OUT_IMPORTS = {"dask": "dask", "distributed": "distributed", "genanki": "genanki", "uhashring": "uhashring",
                    "pytest": "pytest", "pytest-xdist": "xdist", "hypothesis": "hypothesis", "nbval": "nbval",
                    "playwright": "playwright", "pyyaml": "yaml"}


def test_nothing_shipped_imports_a_package_left_out(shipped_text):
    assert set(LEFT_OUT_IMPORTS) == set(edition_module.INSTRUCTOR_ONLY_PACKAGES)
    for name, text in shipped_text.items():
        if not name.endswith((".py", ".ipynb")):
            continue
        code = text if name.endswith(".py") else "\n".join(
            "".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code")
        for module in LEFT_OUT_IMPORTS.values():
            assert not re.search(rf"^\s*(import|from)\s+{module}\b", code, re.M), f"{name} imports {module}"


def test_environment_yml_has_the_editions_pins_the_lock_and_the_project(shipped_text):
    environment = yaml.safe_load(shipped_text["environment.yml"])
    pip_list = conda_pip_list(environment)
    env_pins = parse_pins(pip_list, "edition environment.yml")
    edition = parse_pins(shipped_text["requirements.txt"].splitlines(), "edition requirements.txt")
    assert env_pins == edition
    assert {" ".join(x.split()) for x in pip_list} >= {"-c requirements.lock", "-e ."}
    assert [d for d in environment["dependencies"] if isinstance(d, str)] == ["python=3.11", "pip"]


def test_pyproject_packages_dspatterns_only(shipped_text):
    import tomllib
    project = tomllib.loads(shipped_text["pyproject.toml"])
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["dspatterns*"]
    assert project["project"]["requires-python"] == tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "project"]["requires-python"]
    assert "pytest" not in project.get("tool", {})


def test_binder_files(student_edition, shipped_text):
    """What of Binder can be checked without Binder: apt.txt names the servers' Debian/Ubuntu
    packages, start puts the student config first on the Jupyter config path and runs its command,
    and the READMEs give the link form. (repo2docker and mybinder.org themselves do not run here.)"""
    apt = [line for line in shipped_text["apt.txt"].splitlines() if line and not line.startswith("#")]
    assert {"redis-server", "etcd-server", "zookeeperd"} <= set(apt)
    start = student_edition / "start"
    assert start.stat().st_mode & 0o111 and shipped_text["start"].startswith("#!/bin/bash\n")
    shown = subprocess.run([str(start), "sh", "-c", 'echo "$JUPYTER_CONFIG_PATH"'], cwd="/",
                           env=dict(outside_environment(), JUPYTER_CONFIG_PATH="/elsewhere"),
                           capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert shown == f"{student_edition.resolve()}/jupyter-config/student:/elsewhere"
    link = edition_module.BINDER_LINK
    assert link.endswith("?urlpath=lab/tree/course/00_index.ipynb")
    assert link in shipped_text["README.md"] and link in (ROOT / "README.md").read_text()
    assert (student_edition / "course" / "00_index.ipynb").is_file()
    for script in ("run", "start"):
        check = subprocess.run(["bash", "-n", str(student_edition / script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def test_readme_has_the_syllabus_and_the_manifest(shipped_text):
    readme = shipped_text["README.md"]
    for exercise in EXERCISES.values():
        assert f"exercises/{exercise.assignment}/{exercise.name}.ipynb" in readme, exercise.name
    for name in edition_module.MANIFEST:
        assert f"`{name}`" in readme, name
    for command in ("./run lab", "nbgrader fetch_assignment", "nbgrader validate", "nbgrader submit"):
        assert command in readme
    for target in re.findall(r"\]\(((?:course|exercises)/[^)]+)\)", readme):
        assert target in shipped_text, f"the README links to {target}, which is not shipped"


# -- the fresh venv (slow) ---------------------------------------------------------------------------

def in_venv(python: Path, code: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=outside_environment(),
                          capture_output=True, text=True, timeout=timeout)


IMPORT_NAMES = {"jupyterlab": "jupyterlab", "ipykernel": "ipykernel", "ipywidgets": "ipywidgets", "plotly": "plotly",
                "anywidget": "anywidget", "nbgrader": "nbgrader", "networkx": "networkx", "simpy": "simpy",
                "cachetools": "cachetools", "redis": "redis", "etcd3gw": "etcd3gw", "kazoo": "kazoo",
                "nbclient": "nbclient", "nbformat": "nbformat", "nbconvert": "nbconvert"}


@pytest.mark.slow
def test_the_pinned_packages_install_and_import_in_a_fresh_venv(student_edition, edition_python, shipped_text):
    edition = parse_pins(shipped_text["requirements.txt"].splitlines(), "edition requirements.txt")
    assert set(IMPORT_NAMES) == set(edition), "name the import of every pinned package"
    lock = parse_pins(shipped_text["requirements.lock"].splitlines(), "requirements.lock")
    code = ("import importlib, importlib.metadata as m, json, sys\n"
            f"names = {IMPORT_NAMES!r}\n"
            "for module in names.values(): importlib.import_module(module)\n"
            "print(json.dumps({'prefix': sys.prefix, 'versions': {d.metadata['Name']: d.version "
            "for d in m.distributions()}, 'requires': {d.metadata['Name']: d.requires or [] "
            "for d in m.distributions()}}))")
    done = in_venv(edition_python, code, student_edition)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert Path(report["prefix"]) == student_edition / ".venv"
    installed = {canonical(k): v for k, v in report["versions"].items()}
    assert {k: installed.get(k) for k in edition} == edition
    unlocked = {k: v for k, v in installed.items() if k != "dspatterns" and lock.get(k) != v
                and k not in ("pip", "setuptools", "wheel")}
    assert not unlocked, f"installed outside the lock's versions (installed): {unlocked}"
    # A package left out of the pins comes in only as another installed package's dependency
    # (PyYAML: jupyter-events needs it); dask, pytest, hypothesis, playwright... do not come in at all.
    required = {canonical(re.match(r"[A-Za-z0-9._-]+", requirement)[0]) for requirements in report["requires"].values()
                for requirement in requirements if "extra ==" not in requirement}
    for left_out in edition_module.INSTRUCTOR_ONLY_PACKAGES:
        assert left_out not in installed or left_out in required, f"{left_out} was installed for students"
    assert not {"dask", "pytest", "hypothesis", "playwright", "nbval"} & installed.keys()
    check = subprocess.run([str(edition_python), "-m", "pip", "check"], env=outside_environment(),
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_dspatterns_imports_there_and_autograder_does_not(student_edition, edition_python):
    code = ("import importlib, pkgutil, dspatterns\n"
            "names = [m.name for m in pkgutil.walk_packages(dspatterns.__path__, 'dspatterns.')]\n"
            "for name in names: importlib.import_module(name)\n"
            "import sys; print(dspatterns.__file__); print(len(names))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'autograder'))\n"
            "try:\n    import autograder\nexcept ModuleNotFoundError:\n    print('no autograder')\n")
    done = in_venv(edition_python, code, student_edition)
    assert done.returncode == 0, done.stderr
    where, modules, loaded, autograder = done.stdout.splitlines()
    assert Path(where) == student_edition / "dspatterns" / "__init__.py"
    assert int(modules) > 40
    assert loaded == "[]" and autograder == "no autograder"


# Run inside the edition's venv: executes each notebook given with nbclient (kernel "python3", which
# jupyter_client starts with that venv's own python) and reports, per code cell, its nbgrader role and
# its error if any; a first cell added in memory reports the kernel's python.
EXECUTE_NOTEBOOKS = r"""
import json, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient

results = []
for path in map(Path, sys.argv[1:]):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    NotebookClient(notebook, timeout=180, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    cells = []
    for cell in notebook.cells[1:]:
        if cell.cell_type != "code":
            continue
        role = cell.metadata.get("nbgrader", {})
        kind = "answer" if role.get("solution") else "test" if role.get("grade") else "other"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        cells.append({"id": role.get("grade_id"), "kind": kind,
                      "error": [errors[0].ename, errors[0].evalue] if errors else None})
    kernel = "".join(o.get("text", "") for o in notebook.cells[0].outputs).strip()
    results.append({"notebook": path.as_posix(), "kernel": kernel, "cells": cells})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def executed_exercises(student_edition, edition_python):
    notebooks = sorted(p.relative_to(student_edition).as_posix()
                       for p in (student_edition / "exercises").rglob("*.ipynb"))
    done = subprocess.run([str(edition_python), "-c", EXECUTE_NOTEBOOKS, *notebooks], cwd=student_edition,
                          env=outside_environment(), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    return {result["notebook"]: result for result in json.loads(done.stdout)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_exercise_notebook_runs_top_to_bottom_in_the_venv(name, executed_exercises, edition_python):
    """"Runs" for a released notebook, whose answer cells are nbgrader's stubs: every cell that is
    neither an answer nor a test runs cleanly; an answer cell runs or raises the stub's
    NotImplementedError; a test cell passes, or fails on the stub: NotImplementedError, or a NameError
    for a name the exercise's answer must define (the review's stubs raise before assigning
    `answer_...`). Any other error (ImportError, a NameError for anything else, a TypeError...) fails."""
    exercise = EXERCISES[name]
    result = executed_exercises[f"exercises/{exercise.assignment}/{name}.ipynb"]
    assert result["kernel"] == str(edition_python), "the kernel did not run the edition's python"
    kinds = [cell["kind"] for cell in result["cells"]]
    assert "answer" in kinds and "test" in kinds, kinds
    stub_failures = 0
    for cell in result["cells"]:
        error = cell["error"]
        where = f"{name} cell {cell['id']} ({cell['kind']}): {error}"
        if cell["kind"] == "other":
            assert error is None, where
        elif cell["kind"] == "answer":
            assert error is None or error[0] == "NotImplementedError", where
        elif error is not None:
            missing = re.fullmatch(r"name '(\w+)' is not defined", error[1]) if error[0] == "NameError" else None
            assert error[0] == "NotImplementedError" or (missing and missing[1] in exercise.required_names), where
            stub_failures += 1
    assert stub_failures >= 1, f"{name}: no visible check failed on the stub"


@pytest.mark.slow
def test_binder_start_serves_the_student_lab_at_the_course_index(student_edition, edition_python, tmp_path):
    """What Binder does after its build, as far as it can be done here: the edition's `start` runs the
    edition venv's `jupyter lab`; the lab it serves has nbgrader's student tools only, the widget
    managers' prebuilt extensions (ipywidgets' and anywidget's, which plotly's figures use), and the
    Binder link's urlpath, lab/tree/course/00_index.ipynb, opens."""
    env = outside_environment()
    env["PATH"] = f"{edition_python.parent}{os.pathsep}{env['PATH']}"
    found = served(tmp_path, [], launcher=(str(student_edition / "start"),), jupyter=edition_python.with_name("jupyter"),
                   root=student_edition, base_env=env,
                   extra_urls=("lab/tree/course/00_index.ipynb", "api/contents/course/00_index.ipynb"))
    disabled = set(found["page_config"].get("disabledExtensions", []))
    assert set(INSTRUCTOR_PLUGINS) <= disabled and not set(STUDENT_PLUGINS) & disabled, sorted(disabled)
    urls = found["urls"]
    assert urls["formgrader"] == 404 and urls["assignments"] != 404, urls
    assert urls["lab/tree/course/00_index.ipynb"] == 200 and urls["api/contents/course/00_index.ipynb"] == 200, urls
    prebuilt = {extension["name"] for extension in found["page_config"].get("federated_extensions", [])}
    assert {"@jupyter-widgets/jupyterlab-manager", "anywidget", "@jupyter/nbgrader"} <= prebuilt, sorted(prebuilt)


@pytest.mark.slow
def test_the_work_tree_stays_clean_with_a_venv_and_after_the_runs(student_edition, executed_exercises):
    """The venv, pip's egg-info, Python's caches and the exercise runs leave nothing git would commit:
    the edition's .gitignore covers them and no notebook writes into the edition."""
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=student_edition,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", status
    assert (student_edition / ".venv").is_dir()


@pytest.mark.slow
def test_students_validate_with_nbgrader_in_the_venv(student_edition, edition_python, tmp_path):
    """nbgrader stays in the student pins because students validate with it: in the edition's venv,
    `nbgrader validate` fails the released stub on its NotImplementedError and passes a notebook
    answered with the reference (written to a folder outside the edition)."""
    from autograder.testkit import filled_notebook
    import nbformat

    exercise = EXERCISES["circuit_breaker"]
    answered = tmp_path / f"{exercise.name}.ipynb"
    nbformat.write(nbformat.from_dict(filled_notebook(exercise.release_notebook, exercise.reference_code)), answered)
    stub = student_edition / "exercises" / exercise.assignment / f"{exercise.name}.ipynb"
    outputs = {}
    for label, notebook in (("stub", stub), ("answered", answered)):
        done = subprocess.run([str(edition_python), "-m", "nbgrader", "validate", str(notebook)], cwd=notebook.parent,
                              env=outside_environment(), capture_output=True, text=True, timeout=300)
        outputs[label] = done.stdout + done.stderr
    assert "VALIDATION FAILED" in outputs["stub"] and "NotImplementedError" in outputs["stub"], outputs["stub"][-2000:]
    assert "Success! Your notebook passes all the tests." in outputs["answered"], outputs["answered"][-2000:]
