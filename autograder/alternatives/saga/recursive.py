"""A saga as recursion: running step i means doing its action, then running the rest; when the rest
fails, the SagaFailed bubbles back up through the frames of the completed steps, and each frame
compensates its own step on the way out (newest first, because the innermost frame unwinds first).
A frame whose compensation gives up marks the error as stuck, so the outer frames leave theirs."""


class SagaStep:
    def __init__(self, name, action, compensation):
        self.name, self.action, self.compensation = name, action, compensation


class SagaFailed(Exception):
    def __init__(self, failed_step, compensated, cause):
        super().__init__(f"saga failed at {failed_step!r}: {cause!r}")
        self.failed_step = failed_step
        self.compensated = compensated
        self.cause = cause
        self.stuck = False


class SagaOrchestrator:
    def __init__(self, steps, compensation_retries=3):
        if compensation_retries < 0:
            raise ValueError("compensation_retries must be >= 0")
        self._steps = tuple(steps)
        self._retries = compensation_retries
        self.log = []

    def run(self, context):
        self.log = []
        self._run_from(0, context)
        return context

    def _run_from(self, index, context):
        if index == len(self._steps):
            return
        step = self._steps[index]
        try:
            step.action(context)
        except Exception as exc:
            raise SagaFailed(step.name, [], exc) from exc
        self.log.append(("action", step.name))
        try:
            self._run_from(index + 1, context)
        except SagaFailed as failure:
            if not failure.stuck:
                if self._undo(step, context, self._retries + 1):
                    failure.compensated.append(step.name)
                else:
                    failure.stuck = True
            raise

    def _undo(self, step, context, attempts_left):
        """Tries the compensation, recursing on the attempts left."""
        if attempts_left == 0:
            return False
        try:
            step.compensation(context)
        except Exception:  # noqa: BLE001 - any Exception is a failed step
            return self._undo(step, context, attempts_left - 1)
        self.log.append(("compensate", step.name))
        return True
