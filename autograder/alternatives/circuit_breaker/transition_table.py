"""Circuit breaker as a finite-state machine driven by a transition table: an Enum of states, a
dict mapping (state, event) to a handler, and a bounded deque of recent outcomes whose being all
failures (of length failure_threshold) is what "threshold consecutive failures" means.
A generation number, bumped on every transition, discards outcomes of calls admitted earlier."""
import collections
import enum
import threading
import time


class CircuitOpenError(Exception):
    """The breaker refused the call without running it."""


class S(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, failure_threshold=5, recovery_timeout=60.0, half_open_max_calls=1,
                 failure_exceptions=(Exception,), clock=time.monotonic):
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.half_open_max_calls = half_open_max_calls
        self.failure_exceptions = failure_exceptions
        self._clock = clock
        self._guard = threading.Lock()
        self._s = S.CLOSED
        self._generation = 0
        self._window = collections.deque(maxlen=max(1, failure_threshold))  # True = success
        self._opened_at = None
        self._trials = 0
        self._trial_wins = 0
        self._table = {
            (S.CLOSED, "admit"): lambda: None,
            (S.CLOSED, "success"): lambda: self._window.append(True),
            (S.CLOSED, "failure"): self._closed_failure,
            (S.CLOSED, "other"): lambda: None,
            (S.OPEN, "admit"): self._refuse,
            (S.HALF_OPEN, "admit"): self._admit_trial,
            (S.HALF_OPEN, "success"): self._trial_success,
            (S.HALF_OPEN, "failure"): lambda: self._go(S.OPEN),
            (S.HALF_OPEN, "other"): self._free_trial,
        }

    # -- transitions ---------------------------------------------------------------------------
    def _go(self, target):
        self._s = target
        self._generation += 1
        if target is S.OPEN:
            self._opened_at = self._clock()
        elif target is S.HALF_OPEN:
            self._trials = self._trial_wins = 0
        else:
            self._window.clear()

    def _tick(self):
        if self._s is S.OPEN and self._clock() - self._opened_at >= self.recovery_timeout:
            self._go(S.HALF_OPEN)

    def _closed_failure(self):
        self._window.append(False)
        if len(self._window) == self._window.maxlen and not any(self._window):
            self._go(S.OPEN)

    def _refuse(self):
        raise CircuitOpenError("circuit open")

    def _admit_trial(self):
        if self._trials >= self.half_open_max_calls:
            raise CircuitOpenError("circuit half-open and its trial calls are all running")
        self._trials += 1

    def _free_trial(self):
        self._trials -= 1

    def _trial_success(self):
        self._trials -= 1
        self._trial_wins += 1
        if self._trial_wins >= self.half_open_max_calls:
            self._go(S.CLOSED)

    # -- public --------------------------------------------------------------------------------
    @property
    def state(self):
        with self._guard:
            self._tick()
            return self._s.value

    def call(self, func, *args, **kwargs):
        with self._guard:
            self._tick()
            self._table[(self._s, "admit")]()
            ticket = (self._s, self._generation)
        try:
            result = func(*args, **kwargs)
        except self.failure_exceptions:
            self._fire(ticket, "failure")
            raise
        except BaseException:
            self._fire(ticket, "other")
            raise
        self._fire(ticket, "success")
        return result

    def _fire(self, ticket, event):
        with self._guard:
            state, generation = ticket
            if generation == self._generation:
                self._table[(state, event)]()
