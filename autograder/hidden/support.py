"""Helpers shared by the hidden suites: checks whose failure messages a student can act on."""
from __future__ import annotations

import random
import threading
import time

from autograder.sandbox.rpc import STABLE_HASHES

# Real seconds a call that must not wait gets to return, in the suites that use real threads. A
# correct call needs milliseconds, even on a loaded machine (benchmarks/verdicts_under_load.py); a
# call that wrongly waits costs its check this long, so it bounds how long a buggy answer is graded.
SETTLE = 2.0

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


def returned(outcomes) -> list:
    """The values a batch of calls returned (``sandbox.batch``); the first exception raised, as
    calling one at a time would have, so its message and the student's traceback reach the report."""
    for outcome in outcomes:
        if outcome.raised:
            raise outcome.error
    return [outcome.value for outcome in outcomes]


def stable_hash(name: str = "md5"):
    """The judge's copy of the hash that ``sandbox.stable_hash(name)`` makes in the student's
    process, to predict where a ring built with it places keys."""
    return STABLE_HASHES[name]



def for_each_seed(seeds, check) -> None:
    """Run ``check(seed)`` for each seed and stop at the first that fails, naming it: one graded
    check per model run, so a buggy answer's feedback is one message, not one per seed."""
    for seed in seeds:
        try:
            check(seed)
        except AssertionError as failure:
            raise AssertionError(f"[seed={seed}] {failure}") from None


def wait_until(predicate, timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` real seconds pass (for thread tests only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


class Background:
    """Runs ``fn`` in a thread and keeps what it returned or raised, and when it finished."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self.started = time.monotonic()
        self.ended = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever came out
            self.error = exc
        finally:
            self.ended = time.monotonic()
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def join(self, timeout) -> bool:
        return self._done.wait(timeout)

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    still_running = "was still running"  # a suite may say more, e.g. how long it waited

    def describe(self) -> str:
        if not self.done:
            return self.still_running
        if self.error is not None:
            text = f"raised {type(self.error).__name__}({self.error})"
            where = getattr(self.error, "remote_traceback", None)  # raised by the student's code
            if where and type(self.error).__module__ == "builtins":  # e.g. a TypeError: say where
                text += f" at {where[-1]}"
            return text
        return f"returned {self.result!r}"


class Gate:
    """A function that blocks until released, counting how many callers got inside.

    Student code gets ``only_callable(gate)``: handed the gate itself, it could release it or reset
    ``inside``, the count the test reads.
    """

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


# -- what student code is handed ------------------------------------------------------------------
# Student code gets exactly the capability its contract names, never the suite's own object: handed
# a FakeClock, it could call advance() or set `now` and move the grader's time; handed a Gate or a
# meter, it could release the gate or reset the count the test reads. A plain function's proxy
# offers nothing but calling (every attribute of a function starts with an underscore), and the
# channel refuses any attempt to set or delete attributes or items on the grader's objects.

def contract_clock(fake):
    """The contract's ``clock``: a zero-argument callable reading ``fake``, and nothing more."""
    def clock():
        return fake()
    return clock


def only_callable(obj, name: str = "func"):
    """``obj``'s calls and nothing else of it (the student code sees a function named ``name``)."""
    def call(*args, **kwargs):
        return obj(*args, **kwargs)
    call.__name__ = call.__qualname__ = name
    return call


# random.Random's drawing methods, the ones a production library may call on any rng it is given.
# Left out: seed/setstate/getstate (they would reset or rewind the suite's seeded sequence) and
# shuffle (the list would cross the channel by value, so shuffling it would silently do nothing).
DRAWING_METHODS = tuple(name for name in (
    "random", "uniform", "randint", "randrange", "choice", "choices", "sample", "getrandbits",
    "randbytes", "triangular", "gauss", "normalvariate", "lognormvariate", "expovariate",
    "vonmisesvariate", "gammavariate", "betavariate", "paretovariate", "weibullvariate",
    "binomialvariate") if hasattr(random.Random, name))


class Random:
    """The contract's ``rng``: draws from the suite's seeded generator, with no way to reseed it."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random):
        self._rng = rng


def _drawing(name):
    def draw(self, *args, **kwargs):
        return getattr(self._rng, name)(*args, **kwargs)
    draw.__name__ = draw.__qualname__ = name
    return draw


for _name in DRAWING_METHODS:
    setattr(Random, _name, _drawing(_name))


def contract_rng(rng: random.Random | None):
    """``rng`` as the contract hands it to student code (``None`` stays ``None``)."""
    return None if rng is None else Random(rng)
