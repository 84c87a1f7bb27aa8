"""The instructor workflow of the README, run literally in a scratch checkout: the exchange is the
course's own (instructor/exchange, or DSP_EXCHANGE), a student works from their own folder, and the
feedback page names every graded cell, wraps its check lines and comes without warnings."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import venv_bin
from autograder.testkit import answer_cells
from autograder.exercises import ROOT
from test_grader_digest import scratch_checkout

NBGRADER_DEFAULT_EXCHANGE = Path("/usr/local/share/nbgrader/exchange")


def config(env: dict) -> dict:
    """The nbgrader configuration an instructor gets in the repository root."""
    script = ("import json, sys; from traitlets.config.loader import PyFileConfigLoader; "
              "c = PyFileConfigLoader('nbgrader_config.py', path=sys.argv[1]).load_config(); "
              "print(json.dumps({'exchange': c.Exchange.root}))")
    done = subprocess.run([sys.executable, "-c", script, str(ROOT)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_exchange_is_under_instructor_unless_overridden(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DSP_EXCHANGE"}
    assert config(env)["exchange"] == str(ROOT / "instructor" / "exchange")
    assert config(dict(env, DSP_EXCHANGE=str(tmp_path / "shared")))["exchange"] == \
        str(tmp_path / "shared")


def run(cwd: Path, *args: str, env: dict | None = None) -> str:
    full = {k: v for k, v in os.environ.items() if k != "DSP_EXCHANGE"}  # the default exchange
    full.update(PATH=venv_bin() + os.pathsep + os.environ.get("PATH", ""), **(env or {}))
    done = subprocess.run(list(args), cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}{done.stderr[-4000:]}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_readme_workflow_default_exchange_and_feedback_page(tmp_path):
    default_existed = NBGRADER_DEFAULT_EXCHANGE.exists()
    root = scratch_checkout(tmp_path / "checkout")
    py, nbgrader = sys.executable, [sys.executable, "-m", "nbgrader"]
    here = {"PYTHONPATH": str(root)}

    # 1. Release, from the repository root, exactly as the README says.
    run(root, *nbgrader, "generate_assignment", "resilience", "--force", env=here)
    run(root, *nbgrader, "release_assignment", "resilience", env=here)
    exchange = root / "instructor" / "exchange"
    assert (exchange / "dspatterns" / "outbound" / "resilience" / "circuit_breaker.ipynb").exists()
    if not default_existed:
        assert not NBGRADER_DEFAULT_EXCHANGE.exists(), "nbgrader's default exchange was used"

    # 2. A student, in their own folder (the README's student commands).
    home = tmp_path / "home-dana"
    home.mkdir()
    student = {"HOME": str(home), "USER": "dana", "LOGNAME": "dana"}
    for command in ("fetch_assignment", "submit"):
        if command == "submit":
            fetched = home / "resilience" / "circuit_breaker.ipynb"
            notebook = nbformat.read(fetched, 4)
            answer_cells(notebook)[0].source = "class CircuitBreaker:\n    pass\n"
            nbformat.write(notebook, fetched)
        run(home, *nbgrader, command, "resilience", "--course", "dspatterns",
            f"--Exchange.root={exchange}", "--CourseDirectory.student_id=dana", env=student)

    # 3-4. Collect, grade, feedback.
    run(root, *nbgrader, "collect", "resilience", env=here)
    graded = run(root, py, "-m", "autograder", "grade", "resilience", "--workers", "1", env=here)
    assert "submission_secret.txt" not in graded, graded
    assert re.search(r"\d+ distinct notebooks, \d+ identical to one already judged", graded), graded
    assert (root / "instructor" / "totals.csv").read_text().splitlines()[1].startswith("dana,")
    feedback = run(root, *nbgrader, "generate_feedback", "resilience", env=here)
    assert "display_data_priority" not in feedback and "not recognized" not in feedback, feedback
    assert "WARNING" not in feedback, feedback
    run(root, *nbgrader, "release_feedback", "resilience", env=here)
    run(home, *nbgrader, "fetch_feedback", "resilience", "--course", "dspatterns",
        f"--Exchange.root={exchange}", "--CourseDirectory.student_id=dana", env=student)

    pages = list((home / "resilience" / "feedback").rglob("circuit_breaker.html"))
    assert len(pages) == 1
    html = pages[0].read_text(encoding="utf-8")
    toc = html[html.index('<div id="toc">'):html.index("</div>", html.index('<div id="toc">'))]
    assert "Test cell" not in toc
    for grade_id in ("cb-closed", "cb-open", "cb-half-open", "cb-model", "cb-threads"):
        assert f"<code>{grade_id}</code>:" in toc, toc  # the name, then what it checks
    assert html.count('<div id="toc">') == 1
    assert "white-space: pre-wrap" in html and "overflow-wrap: anywhere" in html
    assert "✘" in html and "BEGIN HIDDEN TESTS" not in html and "DSP-CANARY" not in html
