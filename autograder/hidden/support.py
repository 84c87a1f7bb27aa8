"""Helpers shared by the hidden suites: checks whose failure messages a student can act on."""
from __future__ import annotations

import threading
import time


class Boom(Exception):
    """The failure the tests' fake dependency raises."""


class Unrelated(Exception):
    """An exception that is not among the breaker's ``failure_exceptions`` in the tests that use it."""


def expect_equal(actual, expected, what: str) -> None:
    if actual != expected or type(actual) is not type(expected) and not _same_number(actual, expected):
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def _same_number(a, b) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
        and not isinstance(b, bool) and a == b


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def wait_until(predicate, timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` real seconds pass (for thread tests only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


class Gate:
    """A function that blocks until released, counting how many callers got inside."""

    def __init__(self):
        self.inside = 0
        self._lock = threading.Lock()
        self._open = threading.Event()

    def __call__(self):
        with self._lock:
            self.inside += 1
        if not self._open.wait(30):
            raise RuntimeError("gate never opened")
        return "through the gate"

    def release(self):
        self._open.set()
