"""Probe (a gap check, not a graded mutant): trial successes carry over from one half-open period to the next."""
import threading
import time


class CircuitOpenError(Exception):
    """Raised instead of calling the protected function while the breaker is open."""


class CircuitBreaker:
    """Stops calling a failing dependency for a while, then lets a few trial calls test it."""

    def __init__(self, failure_threshold=5, recovery_timeout=60.0, half_open_max_calls=1,
                 failure_exceptions=(Exception,), clock=time.monotonic):
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.half_open_max_calls = half_open_max_calls
        self.failure_exceptions = failure_exceptions
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._failures = 0          # consecutive failures while closed
        self._opened_at = 0.0
        self._trials_running = 0    # trial calls in flight while half-open
        self._trial_successes = 0

    @property
    def state(self):
        """"closed", "open" or "half_open"."""
        with self._lock:
            return self._refresh_state()

    def call(self, func, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` through the breaker, or raise CircuitOpenError."""
        with self._lock:
            state = self._refresh_state()
            if state == "open":
                raise CircuitOpenError("circuit open: failing fast")
            is_trial = state == "half_open"
            if is_trial:
                if self._trials_running >= self.half_open_max_calls:
                    raise CircuitOpenError("circuit half-open: enough trial calls already running")
                self._trials_running += 1
        try:
            result = func(*args, **kwargs)
        except self.failure_exceptions:
            with self._lock:
                if is_trial:
                    self._trials_running -= 1
                    if self._state == "half_open":
                        self._open()
                elif self._state == "closed":
                    self._failures += 1
                    if self._failures >= self.failure_threshold:
                        self._open()
            raise
        except BaseException:
            # Not a failure of the dependency (a bug in the caller, say): counts as neither.
            if is_trial:
                with self._lock:
                    self._trials_running -= 1
            raise
        with self._lock:
            if not is_trial:
                if self._state == "closed":
                    self._failures = 0
            else:
                self._trials_running -= 1
                if self._state == "half_open":
                    self._trial_successes += 1
                    if self._trial_successes >= self.half_open_max_calls:
                        self._state = "closed"
                        self._failures = 0
        return result

    # Helpers for the methods above: change or remove them as you like.
    def _refresh_state(self):
        """With the lock held: an open breaker whose timeout is up becomes half-open."""
        if self._state == "open" and self._clock() - self._opened_at >= self.recovery_timeout:
            self._state = "half_open"
        return self._state

    def _open(self):
        """With the lock held: open now, starting the recovery timer."""
        self._state = "open"
        self._opened_at = self._clock()
        self._failures = 0
