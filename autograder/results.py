"""What a judge run found, as plain data: the one format every reader of a verdict shares.

Kept apart from ``judge.py`` (which drives pytest) so that the nbgrader preprocessor, the class
grading command and the report formatter read verdicts without importing pytest.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class TestResult:
    __test__ = False  # a record of a hidden test, not a test class for pytest to collect

    test: str
    part: str
    checks: str
    passed: bool
    message: str = ""


@dataclass
class JudgeReport:
    """One implementation judged against one exercise's hidden suite.

    ``fatal`` says, in a student's words, why checks could not run. ``grader_error`` says whose
    fault that was: True when the grader itself broke (a crash, a time-out of the judge), so the
    verdict is not cached and the instructor is told; False when the student's code was the cause.
    """

    exercise: str
    results: list[TestResult] = field(default_factory=list)
    load_errors: list[dict] = field(default_factory=list)
    fatal: str = ""
    grader_error: bool = False
    # Where the judging time went (seconds, round trips); not part of the verdict.
    profile: dict = field(default_factory=dict, compare=False)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    def for_part(self, part: str) -> list[TestResult]:
        return [r for r in self.results if r.part == part]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "JudgeReport":
        data = json.loads(text)
        data["results"] = [TestResult(**r) for r in data["results"]]
        return cls(**data)

    @classmethod
    def broken_grader(cls, exercise: str, what: str) -> "JudgeReport":
        return cls(exercise=exercise, grader_error=True,
                   fatal=f"the grader failed (tell your instructor): {what}")
