"""The environment files agree: requirements.txt (source of truth), environment.yml (Binder), requirements.lock."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# One requirement line: name, operator, version (extras and markers are not used in this project).
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<op>==|===|~=|!=|>=|<=|>|<)?\s*(?P<version>\S+)?$")
DIRECT = {
    "jupyterlab", "nbgrader", "ipywidgets", "plotly", "anywidget", "networkx", "pytest", "nbval",
    "hypothesis", "simpy", "playwright", "nbclient", "nbformat", "ipykernel", "pytest-xdist",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines: list[str], source: str) -> dict[str, str]:
    """{canonical name: version} for requirement lines; fails on anything not pinned with ==."""
    pins: dict[str, str] = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):  # blank, comment, or a pip option such as -e . / -c file
            continue
        m = PIN.match(line)
        assert m, f"{source}: cannot parse requirement {raw!r}"
        assert m["op"] == "==" and m["version"], f"{source}: {raw!r} is not pinned with =="
        name = canonical(m["name"])
        assert name not in pins, f"{source}: {m['name']} is listed twice"
        pins[name] = m["version"]
    return pins


@pytest.fixture(scope="module")
def requirements(repo_root: Path) -> dict[str, str]:
    return parse_pins((repo_root / "requirements.txt").read_text().splitlines(), "requirements.txt")


@pytest.fixture(scope="module")
def environment(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "environment.yml").read_text())


def conda_pip_list(environment: dict) -> list[str]:
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml must have exactly one `pip:` section"
    return [str(x) for x in pip_sections[0]]


def test_requirements_pins_every_direct_dependency_with_double_equals(requirements):
    missing = DIRECT - requirements.keys()
    assert not missing, f"requirements.txt lacks direct dependencies: {sorted(missing)}"


def test_environment_yml_pins_match_requirements_exactly(requirements, environment):
    env_pins = parse_pins(conda_pip_list(environment), "environment.yml pip:")
    only_req = {k: v for k, v in requirements.items() if k not in env_pins}
    only_env = {k: v for k, v in env_pins.items() if k not in requirements}
    differ = {k: (requirements[k], env_pins[k]) for k in requirements.keys() & env_pins.keys()
              if requirements[k] != env_pins[k]}
    assert not (only_req or only_env or differ), (
        f"environment.yml and requirements.txt disagree:\n  only in requirements.txt: {only_req}\n"
        f"  only in environment.yml: {only_env}\n  versions differ (txt, yml): {differ}")


def test_environment_yml_installs_the_project_and_the_lock(environment):
    pip_list = [" ".join(x.split()) for x in conda_pip_list(environment)]
    assert "-e ." in pip_list, "environment.yml's pip: section must install the project (`-e .`)"
    assert "-c requirements.lock" in pip_list, "environment.yml should use the lock as constraints"


def test_environment_yml_python_is_3_11_and_conda_entries_are_exact(environment):
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pythons = [d for d in conda if re.match(r"python\b", d)]
    assert pythons == ["python=3.11"], f"expected exactly `python=3.11`, got {pythons}"
    for dep in conda:
        assert re.fullmatch(r"python=3\.11|pip", dep), f"unexpected conda dependency {dep!r}: pin it with pip"


def test_lock_agrees_with_requirements(repo_root, requirements):
    lines = (repo_root / "requirements.lock").read_text().splitlines()
    options = [x for x in lines if x.strip().startswith("-")]
    assert not options, f"requirements.lock is a constraints file: pins only, no options or editables: {options}"
    lock = parse_pins(lines, "requirements.lock")
    assert "dspatterns" not in lock, "requirements.lock must not list the project itself (use --exclude-editable)"
    differ = {k: (v, lock.get(k)) for k, v in requirements.items() if lock.get(k) != v}
    assert not differ, f"requirements.lock disagrees with requirements.txt (txt, lock): {differ}"


def test_test_only_tools_are_pinned_in_the_lock_and_kept_out_of_the_students_environment(repo_root, requirements,
                                                                                       environment):
    tools = parse_pins((repo_root / "requirements-test.txt").read_text().splitlines(), "requirements-test.txt")
    lock = parse_pins((repo_root / "requirements.lock").read_text().splitlines(), "requirements.lock")
    differ = {k: (v, lock.get(k)) for k, v in tools.items() if lock.get(k) != v}
    assert not differ, f"requirements.lock disagrees with requirements-test.txt (test, lock): {differ}"
    env_pins = parse_pins(conda_pip_list(environment), "environment.yml pip:")
    leaked = sorted(tools.keys() & (requirements.keys() | env_pins.keys()))
    assert not leaked, f"test-only tools also in requirements.txt or environment.yml: {leaked}"


def test_this_interpreter_matches_the_pinned_python():
    assert sys.version_info[:2] == (3, 11), f"tests run on Python {sys.version.split()[0]}, the course pins 3.11"


def test_installed_versions_match_the_lock(repo_root):
    """The environment running the tests is the locked one (catches a stale or hand-modified venv)."""
    from importlib.metadata import PackageNotFoundError, version

    lock = parse_pins((repo_root / "requirements.lock").read_text().splitlines(), "requirements.lock")
    wrong = {}
    for name, pinned in lock.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (pinned, installed)
    assert not wrong, f"installed versions differ from requirements.lock (locked, installed): {wrong}"


@pytest.mark.parametrize("script", ["run", ".ci/run"])
def test_entry_scripts_are_executable_bash(repo_root, script):
    path = repo_root / script
    assert path.is_file() and os.access(path, os.X_OK), f"{script} must exist and be executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n"), f"{script} must start with #!/usr/bin/env bash"
    assert "set -euo pipefail" in text, f"{script} must use set -euo pipefail"
    check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, f"{script} has a bash syntax error:\n{check.stderr}"


def test_run_without_a_subcommand_prints_usage_and_fails(repo_root):
    result = subprocess.run([str(repo_root / "run")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "./run lab" in result.stderr and "./run test" in result.stderr
