"""Check: for each known bug, which visible check a student sees fail first, and what it says.

    .venv/bin/python benchmarks/first_visible_failure.py [EXERCISE...] [--timeout S]

A student fixes the first failure the notebook shows, so the first assert that fires should name the
rule that broke, not a later symptom of it. For every mutant of each exercise (autograder/mutants/),
this runs the released notebook's cells (exercises/: visible checks only) with the mutant as the
answer, in a fresh namespace, and prints the mutant's bug beside the first failing check's name, the
assert's line and the first line of its message. Read the two side by side: where the message
describes a consequence rather than the bug, reorder the cell's asserts (the cause first) in
solutions/ and regenerate exercises/. Mutants the visible checks do not catch print "(no visible
check fails)": only the hidden suite catches those, which is expected for many.

One Python process per exercise (the notebook's own folder as the working directory; and CPython
3.11's ast module is not safe when threads a notebook leaves behind print tracebacks while another
thread parses, so nothing else runs in that process); a mutant that runs past --timeout seconds is
reported as such. The reference runs first and must pass everything.
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.cells import cell_source, is_answer_cell, is_graded_test_cell, nbgrader_meta  # noqa: E402
from autograder.exercises import EXERCISES, get_exercise  # noqa: E402


class Overtime(BaseException):
    """Raised by the alarm: a BaseException, so a mutant's `except Exception` cannot swallow it."""


def first_failure(notebook: dict, code: str, timeout: float) -> dict:
    """Runs the notebook's code cells with ``code`` as the answer; the first failing cell and why."""
    namespace: dict = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()  # cells may `await` at top level, as IPython allows
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Overtime()))
    for index, cell in enumerate(c for c in notebook["cells"] if c.get("cell_type") == "code"):
        source = code if is_answer_cell(cell) else cell_source(cell)
        name = nbgrader_meta(cell).get("grade_id") or f"code cell {index + 1}"
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            result = eval(compile(source, f"<{name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), namespace)
            if inspect.iscoroutine(result):
                loop.run_until_complete(result)
        except Overtime:
            return {"cell": name, "error": f"still running after {timeout:g} s", "line": ""}
        except BaseException as exc:  # noqa: BLE001  (a mutant may raise anything)
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == f"<{name}>"]
            line = source.splitlines()[frames[-1].lineno - 1].strip() if frames else ""
            message = (str(exc).strip().splitlines() or [""])[0]
            return {"cell": name, "graded": is_graded_test_cell(cell), "error": f"{type(exc).__name__}: {message}",
                    "line": line}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    loop.close()
    return {}


def worker(name: str, timeout: float, only: list[str] | None = None) -> None:
    """Prints one JSON line per candidate: the reference, then every mutant (or those in ``only``)."""
    exercise = get_exercise(name)
    notebook = json.loads(exercise.release_notebook.read_text(encoding="utf-8"))
    os.chdir(exercise.release_notebook.parent)
    candidates = [("(reference)", "", exercise.reference_code)]
    candidates += [(mutant.name, mutant.bug, mutant.code) for mutant in exercise.mutants
                   if only is None or mutant.name in only]
    for label, bug, code in candidates:
        found = first_failure(notebook, code, timeout)
        print(json.dumps({"mutant": label, "bug": bug, **found}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="*", help="exercise names (default: every exercise)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per cell before it counts as hung")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one exercise, JSON lines (tests use it too)
    parser.add_argument("--only", help=argparse.SUPPRESS)  # with --worker: these mutants only, comma-separated
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.timeout, args.only.split(",") if args.only else None)
        return 0
    broken = 0
    for name in args.exercises or list(EXERCISES):
        print(f"\n== {name}")
        run = subprocess.run([sys.executable, __file__, "--worker", name, "--timeout", str(args.timeout)],
                             capture_output=True, text=True, timeout=3600)
        for line in run.stdout.splitlines():
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if row["mutant"] == "(reference)":
                if row.get("cell"):
                    broken += 1
                    print(f"  THE REFERENCE FAILS {row['cell']}: {row['error']}")
                continue
            print(f"  {row['mutant']}: {row['bug']}")
            if row.get("cell"):
                print(textwrap.indent(f"first fails {row['cell']}: {row['error']}\n  at: {row['line']}", "      "))
            else:
                print("      (no visible check fails)")
        if run.returncode:
            broken += 1
            print(f"  the worker exited with {run.returncode}: {run.stderr.strip()[-2000:]}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
