"""Circuit breaker in the State pattern: each state is an object (Closed, Open, HalfOpen) with
its own admit/on_success/on_failure/on_other, and the breaker only swaps which object is current.
A call remembers the state object that admitted it, so an outcome arriving after the breaker has
moved on is recognised by identity and ignored; one lock serialises every transition."""
import threading
import time


class CircuitOpenError(Exception):
    """Raised instead of calling the function while the breaker is open (or its trials are busy)."""


class _Closed:
    name = "closed"

    def __init__(self, breaker):
        self.breaker = breaker
        self.consecutive_failures = 0

    def admit(self):
        return self

    def on_success(self):
        self.consecutive_failures = 0

    def on_failure(self):
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.breaker.failure_threshold:
            self.breaker._become(_Open(self.breaker))

    def on_other(self):
        pass  # not a failure of the dependency: the count stays as it was


class _Open:
    name = "open"

    def __init__(self, breaker):
        self.breaker = breaker
        self.opened_at = breaker._clock()

    def current(self):
        """What this state has become by now: a half-open one once the recovery time is up."""
        if self.breaker._clock() - self.opened_at >= self.breaker.recovery_timeout:
            return self.breaker._become(_HalfOpen(self.breaker))
        return self

    def admit(self):
        raise CircuitOpenError("circuit open: failing fast")


class _HalfOpen:
    name = "half_open"

    def __init__(self, breaker):
        self.breaker = breaker
        self.in_flight = 0
        self.successes = 0

    def admit(self):
        if self.in_flight >= self.breaker.half_open_max_calls:
            raise CircuitOpenError("circuit half-open: all trial slots are taken")
        self.in_flight += 1
        return self

    def on_success(self):
        self.in_flight -= 1
        self.successes += 1
        if self.successes >= self.breaker.half_open_max_calls:
            self.breaker._become(_Closed(self.breaker))

    def on_failure(self):
        self.in_flight -= 1
        self.breaker._become(_Open(self.breaker))

    def on_other(self):
        self.in_flight -= 1


class CircuitBreaker:
    def __init__(self, failure_threshold=5, recovery_timeout=60.0, half_open_max_calls=1,
                 failure_exceptions=(Exception,), clock=time.monotonic):
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.half_open_max_calls = half_open_max_calls
        self.failure_exceptions = failure_exceptions
        self._clock = clock
        self._mutex = threading.RLock()
        self._current = _Closed(self)

    def _become(self, state):
        self._current = state
        return state

    def _now_state(self):
        state = self._current
        return state.current() if isinstance(state, _Open) else state

    @property
    def state(self):
        with self._mutex:
            return self._now_state().name

    def call(self, func, *args, **kwargs):
        with self._mutex:
            admitted_by = self._now_state().admit()
        try:
            result = func(*args, **kwargs)
        except self.failure_exceptions:
            self._report(admitted_by, "on_failure")
            raise
        except BaseException:
            self._report(admitted_by, "on_other")
            raise
        self._report(admitted_by, "on_success")
        return result

    def _report(self, admitted_by, event):
        with self._mutex:
            # Only the state that admitted the call hears its outcome; a stale one is dropped.
            if self._current is admitted_by:
                getattr(admitted_by, event)()
