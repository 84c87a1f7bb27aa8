"""A saga driven by an explicit state machine over a cursor: the orchestrator moves forward
through the steps while actions succeed, flips direction on the first failure and moves backward
over the completed ones, and halts when it runs out of steps or a compensation exhausts its
attempts. Everything that happened is kept as journal records; .log and .compensated are views
of the journal, computed after the run rather than appended to along the way."""
from dataclasses import dataclass, field


@dataclass
class SagaStep:
    name: str
    action: object
    compensation: object


class SagaFailed(Exception):
    def __init__(self, failed_step, compensated, cause):
        super().__init__(failed_step, compensated, cause)
        self.failed_step, self.compensated, self.cause = failed_step, compensated, cause


@dataclass
class _Record:
    kind: str  # "action" or "compensate"
    name: str
    ok: bool
    error: BaseException | None = None


@dataclass
class SagaOrchestrator:
    steps: list
    compensation_retries: int = 3
    _journal: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        if self.compensation_retries < 0:
            raise ValueError("compensation_retries must be >= 0")
        self.steps = list(self.steps)

    @property
    def log(self):
        return [(r.kind, r.name) for r in self._journal if r.ok]

    def _attempt(self, kind, step, context):
        function = step.action if kind == "action" else step.compensation
        try:
            function(context)
        except Exception as exc:  # noqa: BLE001 - any Exception is a failed step
            self._journal.append(_Record(kind, step.name, False, exc))
            return False
        self._journal.append(_Record(kind, step.name, True))
        return True

    def run(self, context):
        self._journal = []
        cursor, direction, failed, tries = 0, +1, None, 0
        while 0 <= cursor < len(self.steps):
            step = self.steps[cursor]
            if direction > 0:
                if self._attempt("action", step, context):
                    cursor += 1
                else:
                    failed, direction, cursor = step, -1, cursor - 1
            elif self._attempt("compensate", step, context):
                cursor, tries = cursor - 1, 0
            else:
                tries += 1
                if tries > self.compensation_retries:
                    break
        if failed is None:
            return context
        cause = next(r.error for r in self._journal if r.kind == "action" and not r.ok)
        done = [r.name for r in self._journal if r.kind == "compensate" and r.ok]
        raise SagaFailed(failed.name, done, cause) from cause
