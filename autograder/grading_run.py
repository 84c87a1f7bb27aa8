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
def grader_digest(exercise: str) -> str:
    """Changes whenever anything that decides a grade changes: the hidden suites, the sandbox,
    the judge. A cached report is only reused under the same digest."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(exercise.encode())
    for folder in ("hidden", "sandbox"):
        for path in sorted((package / folder).glob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    for name in ("judge.py", "report.py", "integrity.py"):
        digest.update((package / name).read_bytes())
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
