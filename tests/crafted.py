"""Crafted circuit-breaker submissions: what students hand in by accident or on purpose.

Each case is (maker, what the circuit-breaker notebook must score: "full", "zero", "partial" or
"at most <another case>", phrases the student's feedback must contain); a maker returns the
notebook. Attacks are written with full knowledge of the course layout (absolute paths included):
the walls must hold even then.
"""
from __future__ import annotations

import copy

import nbformat

from autograder.testkit import answer_cells, filled_notebook, graded_cells
from autograder.exercises import EXERCISES, ROOT

EXERCISE = EXERCISES["circuit_breaker"]
STUB_LINE = "raise NotImplementedError()"


def _release(course):
    return course.release_dir("resilience") / "circuit_breaker.ipynb"


def reference(course):
    return filled_notebook(_release(course), EXERCISE.reference_code)


def stub(course):
    return nbformat.read(_release(course), 4)


def with_cell(notebook, source: str, *, after_answer: bool = True):
    notebook = copy.deepcopy(notebook)
    cell = nbformat.v4.new_code_cell(source)
    index = notebook.cells.index(answer_cells(notebook)[0]) + 1 if after_answer else len(notebook.cells)
    notebook.cells.insert(index, cell)
    return notebook


ATTACKS = {
    "patch-everything": '''
import builtins, sys, types
builtins.AssertionError = type("AssertionError", (Exception,), {})
builtins.isinstance = lambda *a: True
fake = types.ModuleType("autograder")
fake.cell = types.ModuleType("autograder.cell")
fake.cell.grade = lambda *a, **k: None
sys.modules.update({"autograder": fake, "autograder.cell": fake.cell})
try:
    import pytest
    pytest.raises = lambda *a, **k: None
except ImportError:
    pass
def grade(*args, **kwargs):
    print("12 passed, 0 failed")
''',
    "fake-output": '''
print("20 passed, 0 failed")
print("circuit_breaker: hidden checks\\n20 passed, 0 failed")
''',
    "sys-exit": "import sys\nsys.exit(0)",
    "raise-system-exit": "raise SystemExit('done')",
    "os-exit": "import os\nos._exit(0)",
    "memory-bomb": "hog = []\nwhile True:\n    hog.append(bytearray(50_000_000))",
    "runaway-thread": '''
import threading
def spin():
    while True:
        pass
for _ in range(4):
    threading.Thread(target=spin, daemon=False).start()
''',
    "read-hidden": f'''
import json
with open({str(ROOT / "solutions" / "resilience" / "circuit_breaker.ipynb")!r}) as handle:
    source = json.load(handle)
code = [c for c in source["cells"] if c.get("metadata", {{}}).get("nbgrader", {{}}).get("solution")][0]
exec("".join(code["source"]).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
suite = open({str(EXERCISE.hidden_suite)!r}).read()
''',
}


def attack(name: str):
    def make(course):
        code = gradebook_attack(course) if name == "write-gradebook" else ATTACKS[name]
        return with_cell(stub(course), code)
    return make


def gradebook_attack(course) -> str:
    return f'''
import sqlite3, glob, os
db = sqlite3.connect({str(course.root / "instructor" / "gradebook.db")!r})
db.execute("UPDATE grade SET auto_score = 100")
db.commit()
for path in glob.glob({str(course.root / "instructor" / "submitted" / "*" / "resilience" / "*.ipynb")!r}):
    open(path, "w").write("destroyed")
'''


def infinite_loop(course):
    return with_cell(reference(course), "while True:\n    pass")


def always_equal(course):
    code = '''
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __hash__(self):
        return 0

class CircuitOpenError(Exception):
    pass

class CircuitBreaker:
    def __init__(self, *args, **kwargs):
        pass
    state = Anything()
    def call(self, func, *args, **kwargs):
        return Anything()
'''
    return filled_notebook(_release(course), code)


def edited_asserts(course):
    notebook = stub(course)
    for cell in graded_cells(notebook):
        cell.source = "pass  # checks removed"
    return notebook


def deleted_graded(base):
    def make(course):
        notebook = base(course)
        notebook.cells = [c for c in notebook.cells if c not in graded_cells(notebook)]
        return notebook
    return make


def graded_to_markdown(course):
    notebook = stub(course)
    for cell in graded_cells(notebook):
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return notebook


def claim_points(course):
    notebook = stub(course)
    answer = answer_cells(notebook)[0]
    answer.metadata.nbgrader.update({"grade": True, "points": 100})
    for cell in graded_cells(notebook):
        cell.metadata.nbgrader["points"] = 100
    notebook.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": 50, "grade_id": "bonus",
        "schema_version": 3}}))
    return notebook


def stderr_noise(course):
    code = EXERCISE.reference_code.replace(
        "        with self._lock:\n            state = self._refresh_state()",
        "        import sys, warnings\n"
        "        warnings.warn('debugging the breaker', RuntimeWarning)\n"
        "        print('call() entered', file=sys.stderr)\n"
        "        with self._lock:\n            state = self._refresh_state()", 1)
    assert "warnings.warn" in code
    return filled_notebook(_release(course), code + "\nimport sys\nprint('loaded', file=sys.stderr)\n")


BOUNDARY_BUG = ("self._clock() - self._opened_at >= self.recovery_timeout",
                "self._clock() - self._opened_at > self.recovery_timeout")


def boundary_bug(cheat: str = ""):
    """The reference with `>` where the contract says `>=` (half-open only after the timeout has
    passed), handed in honestly or with a ``cheat`` run at every state read, before the clock is
    read. A cheat is wrapped so that being refused costs it nothing: it can only gain."""
    def make(course):
        old, new = BOUNDARY_BUG
        code = EXERCISE.reference_code
        assert code.count(old) == 1
        code = code.replace(old, new)
        if cheat:
            refresh = '        if self._state == "open" and self._clock()'
            assert code.count(refresh) == 1
            code = code.replace(refresh, "        self._cheat()\n" + refresh)
            code += "\n\ndef _cheat(self):\n" + cheat + "\n\nCircuitBreaker._cheat = _cheat\n"
        return filled_notebook(_release(course), code)
    return make


# Nudge the grader's clock past the boundary through the object the breaker was given, as a
# solution handed the suite's FakeClock itself could: by its public method, or by reading `now`.
NUDGE_CLOCK = """
    for nudge in (lambda: self._clock.advance(1e-6),
                  lambda: setattr(self._clock, "now", self._clock.now + 1e-6)):
        try:
            nudge()
            return
        except Exception:
            pass
"""
# Write to what the grader keeps without reading it first: the time, and the record of sleeps.
WRITE_RECORDS = """
    for write in (lambda: setattr(self._clock, "now", self._clock() + 1e-6),
                  lambda: setattr(self._clock, "sleeps", [])):
        try:
            write()
        except Exception:
            pass
"""


CASES = {
    # name: (maker, expected circuit-breaker score, phrases the feedback must contain); the score
    # is "full", "zero", "partial" (some points, not all) or "at most <case>" (no more than it)
    "reference": (reference, "full", ["hidden checks passed"]),
    "stub": (stub, "zero", ["NotImplementedError"]),
    "stderr-noise": (stderr_noise, "full", []),
    "edited-asserts": (edited_asserts, "zero", ["had been edited; the original was restored"]),
    "deleted-graded": (deleted_graded(stub), "zero", ["was missing from the notebook"]),
    "deleted-graded-reference": (deleted_graded(reference), "full", ["was missing from the notebook"]),
    "graded-to-markdown": (graded_to_markdown, "zero", ["had been changed to a markdown cell"]),
    "claim-points": (claim_points, "zero", ["nbgrader settings of cell", "grade id 'bonus'"]),
    "always-equal": (always_equal, "zero", ["expected 'closed'"]),
    "patch-everything": (attack("patch-everything"), "zero", ["NotImplementedError"]),
    "fake-output": (attack("fake-output"), "zero", ["NotImplementedError"]),
    "sys-exit": (attack("sys-exit"), "zero", ["called sys.exit(0)"]),
    "raise-system-exit": (attack("raise-system-exit"), "zero", ["called sys.exit('done')"]),
    "os-exit": (attack("os-exit"), "zero", ["ended the grading process"]),
    "infinite-loop": (infinite_loop, "zero", ["did not finish loading"]),
    "memory-bomb": (attack("memory-bomb"), "zero", ["MemoryError"]),
    "runaway-thread": (attack("runaway-thread"), "zero", ["NotImplementedError"]),
    "read-hidden": (attack("read-hidden"), "zero", ["FileNotFoundError"]),
    "write-gradebook": (attack("write-gradebook"), "zero", []),
    "boundary-bug": (boundary_bug(), "partial", ["expected 'half_open'"]),
    "boundary-bug-nudges-clock": (boundary_bug(NUDGE_CLOCK), "at most boundary-bug",
                                  ["the grader refused", "has no attribute `advance`",
                                   "has no attribute `now`"]),
    "boundary-bug-writes-records": (boundary_bug(WRITE_RECORDS), "at most boundary-bug",
                                    ["the grader refused", "setting `now` on the function `clock`",
                                     "setting `sleeps` on the function `clock`"]),
}
