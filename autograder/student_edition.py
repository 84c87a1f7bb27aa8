"""The student edition: what a student needs of this repository and nothing else, as a folder (or a git
repository of its own) ready to publish and to open on Binder.

This repository is the instructor's: ``solutions/``, ``autograder/`` (hidden suites, mutants,
alternatives, the review's answer key) and the instructor's state must never reach a student. So the
edition is built from an allow-list, ``MANIFEST`` below, the one place that says what goes in: a few
folders copied as they are, one file copied, and a few files written for the edition (its README,
its requirements without the instructor's and the tests' packages, its ``environment.yml``, Binder's
``apt.txt`` and ``start``, a ``run`` script, its own ``pyproject.toml`` packaging only ``dspatterns``).
Anything not listed is left out, whatever is added to the repository later.

``python -m autograder student-edition OUT [--git] [--force]``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .exercises import COURSE_NOTEBOOKS, EXERCISES
from .paths import ROOT

# -- what goes in -----------------------------------------------------------------------------------

# Folders copied as they are (less SKIPPED_NAMES), each with why a student needs it.
COPIED_TREES = {
    "course": "the course notebooks (00_index.ipynb first)",
    "exercises": "the released assignments, as nbgrader generated them (no solutions, no hidden tests)",
    "dspatterns": "the support package the notebooks import (simulations, widgets, FakeClock)",
    "jupyter-config/student": "JupyterLab config that shows nbgrader's student tools only",
}
# Files of the repository root copied as they are.
COPIED_FILES = {
    "requirements.lock": "every transitive pin, used as constraints (-c), so installs match the course's",
}
# Files written for the edition (see the writers below).
WRITTEN_FILES = {
    "README.md": "this course for students: opening it, fetch/validate/submit, the syllabus",
    "requirements.txt": "the course's pins less the instructor's and the tests' packages",
    "environment.yml": "Binder's (conda's) environment: requirements.txt's pins, the lock, -e .",
    "apt.txt": "Binder's Ubuntu packages: Redis, etcd, ZooKeeper and its Java runtime",
    "start": "Binder runs it before JupyterLab: puts jupyter-config/student on the config path",
    "run": "./run lab: a Python 3.11 .venv with the pins, then JupyterLab at the course index",
    "pyproject.toml": "packages dspatterns only (pip install -e .)",
    ".gitignore": "keeps .venv, compiled files and checkpoints out of the student's git",
}
MANIFEST = {**COPIED_TREES, **COPIED_FILES, **WRITTEN_FILES}
SKIPPED_NAMES = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".hypothesis")
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".egg-info")

# Pins of requirements.txt a student's environment does not get, and why. nbgrader stays: students
# validate with it, and its JupyterLab extensions fetch and submit.
INSTRUCTOR_ONLY_PACKAGES = {
    "dask": "runs the instructor's grading judges on a cluster",
    "distributed": "runs the instructor's grading judges on a cluster",
    "genanki": "builds the instructor's flashcards deck",
    "uhashring": "a benchmark's comparison library",
    "pytest": "runs the project's own tests and the hidden suites",
    "pytest-xdist": "runs the project's own tests in parallel",
    "hypothesis": "the hidden suites' property-based checks",
    "nbval": "runs the course notebooks as the project's tests",
    "playwright": "drives the browser in the project's tests",
    "pyyaml": "the project's tests read environment.yml with it (jupyter-events still brings it in)",
}

# Binder's apt.txt: Ubuntu's package names (the same as Debian's, which ./run installs). zookeeperd
# depends on a Java runtime; it is named too, as apt-get on Binder skips recommended packages.
APT_PACKAGES = ("redis-server", "etcd-server", "zookeeperd", "default-jre-headless")

BINDER_LINK = "https://mybinder.org/v2/gh/OWNER/REPO/HEAD?urlpath=lab/tree/course/00_index.ipynb"
STUDENT_CONFIG = "jupyter-config/student"


class EditionError(Exception):
    """The edition cannot be written (a non-empty OUT without --force, an OUT inside the course...)."""


# -- requirements ----------------------------------------------------------------------------------

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_pins(root: Path = ROOT) -> list[tuple[str, str]]:
    """requirements.txt's pins, in file order, as (name as written, version)."""
    pins = []
    for raw in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            match = PIN.match(line)
            if not match:
                raise EditionError(f"requirements.txt: {raw!r} is not a name==version pin")
            pins.append((match[1], match[2]))
    return pins


def student_pins(root: Path = ROOT) -> list[tuple[str, str]]:
    """The pins a student's environment gets: requirements.txt's less INSTRUCTOR_ONLY_PACKAGES."""
    pins = project_pins(root)
    names = {canonical(name) for name, _ in pins}
    stale = sorted(set(INSTRUCTOR_ONLY_PACKAGES) - names)
    if stale:
        raise EditionError(f"INSTRUCTOR_ONLY_PACKAGES names packages requirements.txt no longer has: {stale}")
    return [(name, version) for name, version in pins if canonical(name) not in INSTRUCTOR_ONLY_PACKAGES]


def requirements_text(root: Path = ROOT) -> str:
    left_out = ", ".join(sorted(INSTRUCTOR_ONLY_PACKAGES))
    lines = [
        "# The dspatterns course's direct dependencies, each pinned with == (the instructor's",
        "# requirements.txt less what only grading, benchmarks and the project's tests use:",
        f"# {left_out}).",
        "# environment.yml (Binder) has the same pins.",
        "# Install: python3.11 -m pip install -r requirements.txt -c requirements.lock -e .",
        "",
    ]
    lines += [f"{name}=={version}" for name, version in student_pins(root)]
    return "\n".join(lines) + "\n"


def environment_text(root: Path = ROOT) -> str:
    pins = "".join(f"      - {name}=={version}\n" for name, version in student_pins(root))
    return ("# Binder / conda environment of the dspatterns course (student edition).\n"
            "# The pip pins are requirements.txt's; `-c requirements.lock` pins every transitive\n"
            "# dependency too; `-e .` installs dspatterns. Binder also reads apt.txt and start.\n"
            "name: dspatterns\n"
            "channels:\n"
            "  - conda-forge\n"
            "dependencies:\n"
            "  - python=3.11\n"
            "  - pip\n"
            "  - pip:\n"
            f"{pins}"
            "      - -c requirements.lock\n"
            "      - -e .\n")


def pyproject_text(root: Path = ROOT) -> str:
    """The project's own packaging (name, version, Python, package data), without its test config."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    data = project["tool"]["setuptools"].get("package-data", {}).get("dspatterns", [])
    return ('[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
            "[project]\n"
            f"name = {json.dumps(meta['name'])}\n"
            f"version = {json.dumps(meta['version'])}\n"
            f"description = {json.dumps(meta['description'])}\n"
            f"requires-python = {json.dumps(meta['requires-python'])}\n"
            "# Versions are pinned in requirements.txt; environment.yml has the same pins.\n\n"
            '[tool.setuptools.packages.find]\ninclude = ["dspatterns*"]\n\n'
            "[tool.setuptools.package-data]\n"
            f"dspatterns = {json.dumps(data)}\n")


# -- Binder and the run script ----------------------------------------------------------------------

def apt_text() -> str:
    return ("# Binder installs these Ubuntu packages (apt-get, no recommends). The course starts private\n"
            "# instances of them on free ports; their own services are not used.\n"
            + "".join(f"{name}\n" for name in APT_PACKAGES))


START_SCRIPT = f"""#!/bin/bash
# Binder (repo2docker) runs this before the Jupyter server, with the server's command as arguments.
# It puts {STUDENT_CONFIG} ahead on the Jupyter config path: JupyterLab then shows nbgrader's student
# tools only (the assignment list and validate), not the formgrader, Create Assignment or course list.
set -e
here="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
export JUPYTER_CONFIG_PATH="$here/{STUDENT_CONFIG}${{JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}}"
exec "$@"
"""

RUN_SCRIPT = f"""#!/usr/bin/env bash
# dspatterns course (student edition): set up the environment, then open the course.
#
#   ./run lab                  set up .venv if needed, then open JupyterLab at course/00_index.ipynb
#                              with nbgrader's student tools (assignment list, validate)
#   ./run validate NOTEBOOK..  nbgrader's validate on your notebooks (the visible checks)
#
# Set-up: creates .venv with python3.11 and installs requirements.txt with requirements.lock as
# constraints, and dspatterns in editable mode; again only when one of them changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON="${{PYTHON:-python3.11}}"
STAMP="$VENV/.dspatterns-setup-stamp"

step() {{ printf '\\n==> %s\\n' "$*"; }}
die() {{ printf '\\nerror: %s\\n' "$*" >&2; exit 1; }}
usage() {{ sed -n '2,7p' "$0" | sed 's/^# \\{{0,1\\}}//'; }}

setup_venv() {{
    if [[ ! -x "$VENV/bin/python" ]]; then
        command -v "$PYTHON" >/dev/null || die "$PYTHON not found on PATH: install Python 3.11 first"
        step "Creating .venv with $("$PYTHON" --version)"
        "$PYTHON" -m venv "$VENV"
    fi
    local want
    want="$(cat requirements.txt requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
        step "Installing the pinned dependencies and dspatterns (editable) into .venv"
        rm -f "$STAMP"
        "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \\
            -r requirements.txt -c requirements.lock -e .
        echo "$want" > "$STAMP"
    fi
}}

hint_servers() {{
    command -v redis-server >/dev/null || echo "note: no redis-server: course/05_caching's production section needs it (sudo apt-get install redis-server)"
    [[ -x /usr/bin/etcd ]] || command -v etcd >/dev/null || echo "note: no etcd: course/06_discovery's production section needs it (sudo apt-get install etcd-server)"
    [[ -f /usr/share/java/zookeeper.jar ]] || echo "note: no ZooKeeper: course/06_discovery's production section needs it (sudo apt-get install zookeeperd)"
}}

case "${{1:-}}" in
    lab)
        shift
        setup_venv
        hint_servers
        export JUPYTER_CONFIG_PATH="$ROOT/{STUDENT_CONFIG}${{JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}}"
        extra=()
        if [[ "$(id -u)" -eq 0 ]]; then extra+=(--allow-root); fi
        step "Starting JupyterLab (Ctrl+C to stop)"
        exec "$VENV/bin/jupyter" lab course/00_index.ipynb --ServerApp.root_dir="$ROOT" "${{extra[@]}}" "$@"
        ;;
    validate)
        shift
        [[ $# -gt 0 ]] || die "name the notebooks to validate, e.g. ./run validate exercises/resilience/retry.ipynb"
        setup_venv
        exec "$VENV/bin/nbgrader" validate "$@"
        ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
"""

GITIGNORE = """.venv/
__pycache__/
*.py[cod]
*.egg-info/
.ipynb_checkpoints/
build/
"""


# -- the README -----------------------------------------------------------------------------------

def notebook_title(path: Path) -> str:
    """The first heading of a notebook's first markdown cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def syllabus_rows(root: Path = ROOT) -> list[str]:
    rows = ["| family | course notebook | exercises (assignment) |", "|---|---|---|"]
    for assignment, notebook in sorted(COURSE_NOTEBOOKS.items(), key=lambda item: item[1]):
        exercises = [e.name for e in EXERCISES.values() if e.assignment == assignment]
        links = ", ".join(f"[`{name}`](exercises/{assignment}/{name}.ipynb)" for name in exercises)
        title = notebook_title(root / "course" / notebook)
        rows.append(f"| {title} | [`course/{notebook}`](course/{notebook}) | `{assignment}`: {links} |")
    return rows


def readme_text(root: Path = ROOT) -> str:
    contents = "\n".join(f"- `{name}`: {why}" for name, why in MANIFEST.items())
    first = next(iter(sorted(EXERCISES.values(), key=lambda e: COURSE_NOTEBOOKS[e.assignment])))
    example = f"exercises/{first.assignment}/{first.name}.ipynb"
    return f"""# dspatterns: distributed-systems design patterns, in Jupyter

A hands-on course on the patterns that keep distributed systems working when networks are slow,
machines fail and traffic spikes: request-response, publish-subscribe and queues, circuit breakers and
retries, sagas and outboxes, consistent hashing and sharding, caches, service discovery, idempotency.
Each family has a **course notebook** (`course/`) that explains the patterns with interactive figures,
and an **assignment** (`exercises/`, one notebook per exercise) where you implement the pattern, check
yourself against the visible tests, and submit it for grading. The grader's tests are more thorough
than the visible ones; your feedback says what failed and how to reproduce it.

For anyone preparing for system-design work or interviews, comfortable with Python classes,
exceptions and threads; no distributed-systems background is assumed. Start at
[`course/00_index.ipynb`](course/00_index.ipynb): it has the syllabus and a progress table (which
exercises pass their visible checks now).

## Open it on Binder

[Binder](https://mybinder.org) builds this repository's environment (`environment.yml`, `apt.txt`,
`start`) and opens JupyterLab at the course index, with nbgrader's student tools. Once this folder is a
public GitHub repository, the link is

```
{BINDER_LINK}
```

with `OWNER/REPO` replaced by the repository's. A Binder session is temporary: download your notebooks
before you close it.

## Open it on your machine

With Python 3.11 (`python3.11` on the PATH), on Linux or macOS:

```bash
./run lab        # creates .venv, installs the pinned packages, opens course/00_index.ipynb
```

or by hand: `python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt -c requirements.lock -e .`,
then `JUPYTER_CONFIG_PATH=$PWD/{STUDENT_CONFIG} .venv/bin/jupyter lab course/00_index.ipynb`.
With conda: `conda env create -f environment.yml`.

Three sections of the course run real servers: course/05_caching a Redis, course/06_discovery an etcd
and a ZooKeeper (`sudo apt-get install redis-server etcd-server zookeeperd` on Debian or Ubuntu). The
course starts private instances of them itself; without them those sections say how to get them and
the rest of the course runs.

## Fetch, validate, submit

The notebooks in `exercises/` are the assignments as released. Work in a copy of the ones your
instructor releases to you: with nbgrader (installed here), in a folder of your own, with the exchange
path your instructor gives out:

```bash
cd ~/my-dspatterns-work
nbgrader fetch_assignment resilience --course dspatterns --Exchange.root=/path/the/instructor/gives
#    ... work in ./resilience/*.ipynb, then check it:
nbgrader validate resilience/circuit_breaker.ipynb
nbgrader submit resilience --course dspatterns --Exchange.root=/path/the/instructor/gives
```

In JupyterLab the Assignments tab fetches and submits, and the Validate button validates the open
notebook; `./run validate {example}` validates a notebook of this folder.
Validating runs the visible checks only; your grade comes from the instructor's tests. Where your
course hands work in another way (an LMS upload, a git repository), submit the notebooks as it says.

## Syllabus

{chr(10).join(syllabus_rows(root))}

## What this folder holds

Written by `python -m autograder student-edition` from the instructor's repository; this list is its
manifest, and nothing else is here:

{contents}
"""


# -- building ---------------------------------------------------------------------------------------

@dataclass
class Edition:
    out: Path
    files: int
    size: int
    commit: str | None = None
    commits: int = 0

    def summary(self) -> str:
        line = f"student edition: {self.files} files, {self.size / 1e6:.1f} MB, in {self.out}"
        if self.commit:
            history = "one commit" if self.commits == 1 else f"{self.commits} commits, the newest"
            line += f"\ngit repository with {history} {self.commit[:12]}: ready to push"
        return line


def _skipped(path: Path) -> bool:
    return any(part in SKIPPED_NAMES or part.endswith(SKIPPED_SUFFIXES) for part in path.parts)


def edition_sources(root: Path = ROOT) -> dict[str, Path]:
    """{path in the edition: file of the repository} for everything copied, from COPIED_TREES and
    COPIED_FILES only."""
    found = {}
    for tree in COPIED_TREES:
        base = root / tree
        if not base.is_dir():
            raise EditionError(f"{tree}/ is missing from {root}")
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not _skipped(relative):
                found[relative.as_posix()] = path
    for name in COPIED_FILES:
        found[name] = root / name
    return found


def written_files(root: Path = ROOT) -> dict[str, str]:
    texts = {
        "README.md": readme_text(root),
        "requirements.txt": requirements_text(root),
        "environment.yml": environment_text(root),
        "apt.txt": apt_text(),
        "start": START_SCRIPT,
        "run": RUN_SCRIPT,
        "pyproject.toml": pyproject_text(root),
        ".gitignore": GITIGNORE,
    }
    assert texts.keys() == WRITTEN_FILES.keys(), "WRITTEN_FILES and the writers disagree"
    return texts


EXECUTABLE = ("start", "run")


def _check_out(out: Path, root: Path, force: bool) -> None:
    resolved, root = out.resolve(), root.resolve()
    if resolved == root or resolved in root.parents:
        raise EditionError(f"{out} is the course repository or holds it: give an empty folder elsewhere")
    for tree in COPIED_TREES:
        if resolved == root / tree or (root / tree) in resolved.parents:
            raise EditionError(f"{out} is inside {tree}/, which the edition copies: give a folder elsewhere")
    if out.exists() and not out.is_dir():
        raise EditionError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        entries = len(list(out.iterdir()))
        raise EditionError(f"{out} is not empty ({entries} entries): refusing to write into it. Give an "
                           "empty or new folder, or --force to delete its contents (all but .git) and write "
                           "the edition there")


def build(out: Path | str, *, git: bool = False, force: bool = False, root: Path = ROOT) -> Edition:
    out = Path(out)
    _check_out(out, root, force)
    sources, texts = edition_sources(root), written_files(root)
    if out.is_dir():
        # --force: everything goes but an existing .git, so a published edition is updated by one
        # more commit (with --git) and a push, not replaced by an unrelated history.
        for child in out.iterdir():
            if child.name == ".git":
                continue
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for relative, source in sources.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for relative, text in texts.items():
        target = out / relative
        target.write_text(text, encoding="utf-8")
        if relative in EXECUTABLE:
            target.chmod(0o755)
    files = [p for p in out.rglob("*") if p.is_file() and ".git" not in p.relative_to(out).parts]
    edition = Edition(out=out, files=len(files), size=sum(p.stat().st_size for p in files))
    if git:
        edition.commit, edition.commits = _make_repository(out)
    return edition


def _make_repository(out: Path) -> tuple[str, int]:
    """OUT as a git repository of its own: branch main, one commit of every file (or, in a repository
    kept by --force, one more commit if anything changed). Its HEAD and number of commits."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=out, capture_output=True, text=True)
        if done.returncode != 0:
            raise EditionError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    git("init", "--quiet", "--initial-branch=main")
    git("add", "--all")
    identity = []
    configured = subprocess.run(["git", "config", "user.email"], cwd=out, capture_output=True, text=True)
    if not configured.stdout.strip():
        identity = ["-c", "user.name=dspatterns", "-c", "user.email=dspatterns@localhost"]
    fresh = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=out,
                           capture_output=True).returncode != 0
    if fresh or git("status", "--porcelain"):
        git(*identity, "commit", "--quiet", "-m", "dspatterns course, student edition")
    return git("rev-parse", "HEAD"), int(git("rev-list", "--count", "HEAD"))


def run(out: str, git: bool, force: bool) -> int:
    try:
        edition = build(out, git=git, force=force)
    except EditionError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(edition.summary())
    return 0


__all__ = ["APT_PACKAGES", "BINDER_LINK", "COPIED_FILES", "COPIED_TREES", "Edition", "EditionError",
           "INSTRUCTOR_ONLY_PACKAGES", "MANIFEST", "WRITTEN_FILES", "build", "run", "student_pins"]
