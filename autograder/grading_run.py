"""Running the judge in a separate process and mapping its report onto graded cells.

Both the nbgrader preprocessor and the in-notebook ``grade()`` call go through here, so a graded
cell shows the same verdict however it was graded.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .results import JudgeReport
from .paths import ROOT
PART_CALL = re.compile(r"""grade\(\s*["'](?P<exercise>\w+)["']\s*,\s*["'](?P<part>\w+)["']\s*\)""")
JUDGE_TIMEOUT = 20 * 60


@functools.lru_cache(maxsize=None)
def grader_digest(exercise: str, root: str | Path | None = None) -> str:
    """Changes whenever anything that can change a grade changes: every file of the ``autograder``
    package (hidden suites, sandbox, judge, registry, submission handling, nbgrader configuration,
    data), ``dspatterns/testing.py`` (which the hidden suites import), the pinned versions in
    ``requirements.lock``, the root ``nbgrader_config.py`` and the Python version. A cached report
    is only reused, and a graded submission only skipped, under the same digest. ``root``: the
    checkout to hash (default: the one this module belongs to). Prose (``*.md``: the README, the
    coverage tables) is left out: editing the documentation must not regrade a class."""
    root = Path(root).resolve() if root is not None else ROOT
    caches = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".hypothesis")
    digest = hashlib.sha256(exercise.encode() + b"\0" + sys.version.encode() + b"\0")
    files = [path for path in (root / "autograder").rglob("*")
             if path.is_file() and not path.name.endswith((".pyc", ".pyo", ".md"))
             and not any(part in caches for part in path.relative_to(root).parts)]
    files += [root / "dspatterns" / "testing.py", root / "requirements.lock", root / "nbgrader_config.py"]
    for path in sorted(files):
        name = path.relative_to(root).as_posix().encode()
        content = path.read_bytes() if path.exists() else b"<missing>"
        digest.update(len(name).to_bytes(8, "big") + name + len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()[:16]


def part_of_cell(source: str) -> tuple[str, str] | None:
    """The (exercise, part) a graded cell's hidden region asks for, if it asks for one."""
    match = PART_CALL.search(source)
    return (match["exercise"], match["part"]) if match else None


def run_judge(exercise: str, impl_path: str | Path, parts: set[str] | None = None,
              timeout: float = JUDGE_TIMEOUT) -> JudgeReport:
    """Judge ``impl_path`` in a fresh process: the caller's process may hold student code."""
    with tempfile.TemporaryDirectory(prefix="dsp-judge-") as tmp:
        out = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "autograder", "judge", exercise, "--impl", str(impl_path),
                   "--json", str(out)]
        for part in sorted(parts or ()):
            command += ["--part", part]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return JudgeReport.broken_grader(exercise, f"the judge took longer than {timeout:g} s")
        if done.returncode != 0 or not out.exists():
            return JudgeReport.broken_grader(exercise, done.stderr[-2000:])
        return JudgeReport.from_json(out.read_text(encoding="utf-8"))
