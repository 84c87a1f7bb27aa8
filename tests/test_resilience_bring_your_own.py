"""The breaker, backoff and retry-storm explorers run a student's own class or functions beside the model.

The model agrees with itself; the exercises' references agree with the model; known bugs (the
exercises' mutants) are caught at the right call or sleep; broken code gives one sentence.
"""
from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants, only

from autograder.exercises import EXERCISES
from autograder.mutation import find_mutant
from dspatterns.resilience.breaker_replay import compare_breaker
from dspatterns.resilience.retry_storm import STRATEGIES, compare_retry_storm, simulate_retry_storm
from dspatterns.resilience.your_backoff import YourFunctions, compare_backoff
from dspatterns.widgets import breaker_explorer
from dspatterns.widgets.backoff_explorer import DIFFERENCE_TRACE, backoff_explorer
from dspatterns.widgets.retry_storm_chart import retry_storm_explorer

JITTERS = ("full", "equal", "decorrelated")


def namespace(code: str) -> dict:
    found: dict = {}
    exec(compile(code, "student", "exec"), found)  # noqa: S102
    return found


def reference(exercise: str) -> dict:
    return namespace(EXERCISES[exercise].reference_code)


def mutant(exercise: str, name: str) -> dict:
    return namespace(find_mutant(exercise, name).code)


def functions(found: dict) -> YourFunctions:
    return YourFunctions(found["backoff_delay"], {kind: found[f"{kind}_jitter"] for kind in JITTERS})


def summary(explorer) -> str:
    return " ".join(w.value for w in descendants(explorer) if isinstance(w, widgets.HTML))


# --- breaker -------------------------------------------------------------------------------------

class ModelBreaker:
    """Not a breaker: a class that always lets calls through, to show a difference on purpose."""

    def __init__(self, **settings):
        self.state = "closed"

    def call(self, func, *args, **kwargs):
        return func(*args, **kwargs)


def test_the_reference_breaker_agrees_with_the_model_on_every_call():
    comparison = compare_breaker(reference("circuit_breaker")["CircuitBreaker"], half_open_max_calls=2)
    assert comparison.problem is None and comparison.first_difference is None, comparison.text
    assert len(comparison.yours.calls) == len(comparison.model.calls) > 1000
    assert comparison.yours.intervals == comparison.model.intervals
    assert "agrees with the model" in comparison.text


@pytest.mark.parametrize("name, settings, number, sentence", [
    ("threshold_strictly_greater", {}, 330, "after the answer to call 330: the model was open, yours closed"),
    ("timer_from_call_start", {}, 426, "call 426: the model refused it (open), yours let it through (half-open)"),
    ("unlimited_trials", {}, 428, "call 428: the model refused it (half-open), yours let it through (half-open)"),
])
def test_a_known_breaker_bug_is_marked_at_its_first_call(name, settings, number, sentence):
    comparison = compare_breaker(mutant("circuit_breaker", name)["CircuitBreaker"], **settings)
    assert comparison.problem is None
    first = comparison.first_difference
    assert first is not None and first.number == number, comparison.text
    assert sentence in comparison.text
    model_call = comparison.model.calls[number - 1]
    assert first.time >= model_call.time  # an answer comes after its call's arrival


def test_the_explorer_draws_yours_under_the_model_and_crosses_the_first_difference():
    explorer = breaker_explorer(mutant("circuit_breaker", "timer_from_call_start")["CircuitBreaker"])
    figure = only(explorer, go.FigureWidget)
    by_name = {trace.name: trace for trace in figure.data}
    assert by_name["first difference"].x == by_name["yours: first difference"].x
    assert by_name["first difference"].x[0] == pytest.approx(20.46, abs=0.01)
    assert "Your CircuitBreaker:" in summary(explorer) and "call 426" in summary(explorer)
    before = (by_name["yours: rejected fast"].x, by_name["rejected fast"].x, summary(explorer))
    slider = next(w for w in descendants(explorer) if getattr(w, "description", "") == "recovery timeout (s)")
    slider.value = 2.5
    assert only(explorer, go.FigureWidget) is figure
    after = (by_name["yours: rejected fast"].x, by_name["rejected fast"].x, summary(explorer))
    assert all(old != new for old, new in zip(before, after))


class Raising(ModelBreaker):
    def call(self, func, *args, **kwargs):
        raise KeyError("state")


class WrongState(ModelBreaker):
    def __init__(self, **settings):
        self.state = "OPEN"


class Swallowing(ModelBreaker):
    def call(self, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the bug on purpose
            return None


class Unbuildable:
    def __init__(self, threshold):
        pass


@pytest.mark.parametrize("breaker_class, words", [
    (Raising, "call 1: your Raising.call(service) raised KeyError: 'state' without calling the service"),
    (WrongState, "your WrongState.state read 'OPEN'"),
    (Swallowing, "the service raised ServiceFailure, but your Swallowing.call(service) returned None"),
    (Unbuildable, "your Unbuildable(failure_threshold=5, recovery_timeout=5, half_open_max_calls=1, "
                  "clock=FakeClock()) raised TypeError"),
])
def test_a_broken_breaker_gives_one_sentence(breaker_class, words):
    explorer = breaker_explorer(breaker_class)
    text = summary(explorer)
    assert words in text and "Traceback" not in text
    assert len([line for line in text.split("<br>") if "Your " in line]) == 1


class HoldsItsLock(ModelBreaker):
    """Holds one lock across the service, so a second call that overlaps the first waits on it."""

    def __init__(self, **settings):
        super().__init__(**settings)
        self.lock = threading.Lock()

    def call(self, func, *args, **kwargs):
        with self.lock:
            return func(*args, **kwargs)


class Dawdles(ModelBreaker):
    def call(self, func, *args, **kwargs):
        result = func(*args, **kwargs)
        threading.Event().wait(1.0)  # four times the patience below
        return result


class CallsTwice(ModelBreaker):
    def call(self, func, *args, **kwargs):
        func(*args, **kwargs)
        return func(*args, **kwargs)


class ReturnsItsOwn(ModelBreaker):
    def call(self, func, *args, **kwargs):
        func(*args, **kwargs)
        return "ok"


@pytest.mark.parametrize("breaker_class, words", [
    (HoldsItsLock, "call 2: your HoldsItsLock.call(service) neither called the service nor returned within 0.25 s "
                   "(does it hold a lock while another call is in the service?)"),
    (Dawdles, "the answer to call 1: your Dawdles.call(service) had not returned 0.25 s after the service answered"),
    (CallsTwice, "the answer to call 1: your CallsTwice.call(service) called the service 2 times for one call"),
    (ReturnsItsOwn, "your ReturnsItsOwn.call(service) returned 'ok', not the service's 'reply to call 1'"),
])
def test_a_call_that_hangs_or_misuses_the_service_ends_the_replay_with_one_sentence(breaker_class, words):
    comparison = compare_breaker(breaker_class, patience=0.25)
    assert comparison.problem is not None and words in comparison.problem, comparison.text


def replay_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("breaker replay")]


@pytest.mark.parametrize("breaker_class", [HoldsItsLock, "unlimited_trials"])
def test_a_replay_is_repeatable_and_leaves_no_thread_behind(breaker_class):
    if isinstance(breaker_class, str):
        breaker_class = mutant("circuit_breaker", breaker_class)["CircuitBreaker"]
    first, second = (compare_breaker(breaker_class, patience=0.25) for _ in range(2))
    assert (first.yours, first.differences, first.text) == (second.yours, second.differences, second.text)
    deadline = time.monotonic() + 5.0  # the workers end once their last call has; a stuck one once it is let go
    while replay_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert replay_threads() == []


def test_a_breaker_that_lets_everything_through_differs_when_the_model_first_opens():
    comparison = compare_breaker(ModelBreaker)
    opened = comparison.model.intervals[1].start
    assert comparison.first_difference.time == pytest.approx(opened)


# --- backoff -------------------------------------------------------------------------------------

def test_the_course_functions_and_the_reference_draw_the_models_sleeps():
    for yours in (YourFunctions(), functions(reference("retry"))):
        for jitter in ("none", *JITTERS):
            for strategy in ("fixed", "linear", "exponential"):
                comparison = compare_backoff(yours, strategy, jitter, cap=10.0)
                assert comparison.problem is None and comparison.first_difference is None, comparison.text


@pytest.mark.parametrize("name, strategy, jitter, client, attempt, inside", [
    ("exponent_off_by_one", "exponential", "full", 0, 1, None),
    ("cap_ignored", "exponential", "full", 0, 5, None),
    ("equal_jitter_wrong_half", "exponential", "equal", 1, 1, False),
    ("decorrelated_narrows_range", "exponential", "decorrelated", 1, 3, True),
])
def test_a_known_retry_bug_is_marked_at_its_first_sleep(name, strategy, jitter, client, attempt, inside):
    comparison = compare_backoff(functions(mutant("retry", name)), strategy, jitter, cap=10.0)
    first = comparison.first_difference
    assert (first.client, first.attempt) == (client, attempt), comparison.text
    if inside is not None:
        assert ("inside the contract's range" in comparison.text) is inside


def test_the_backoff_explorer_draws_yours_and_redraws_both():
    found = mutant("retry", "equal_jitter_wrong_half")
    explorer = backoff_explorer(delay=found["backoff_delay"], jitters={kind: found[f"{kind}_jitter"] for kind in JITTERS})
    figure = only(explorer, go.FigureWidget)
    cross = next(t for t in figure.data if t.name == DIFFERENCE_TRACE)
    assert len(cross.x) == 0 and "every one of the" in summary(explorer)  # full jitter: no bug there
    mine = next(t for t in figure.data if t.name == "your sleeps")
    model = next(t for t in figure.data if t.name == "each client's sleep")
    before = (tuple(mine.y), tuple(model.y))
    next(w for w in descendants(explorer) if getattr(w, "description", "") == "jitter").value = "equal"
    assert tuple(mine.y) != before[0] and tuple(model.y) != before[1]
    assert len(cross.x) == 1 and "outside the contract's range" in summary(explorer)


def test_a_jitter_that_returns_garbage_gives_one_sentence():
    explorer = backoff_explorer(jitters={"full": lambda delay, rng: "soon"})
    assert "returned 'soon', not a number of seconds" in summary(explorer)


# --- retry storm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_reference_drives_the_storm_exactly_as_the_model(strategy):
    for yours in (YourFunctions(), functions(reference("retry"))):
        comparison = compare_retry_storm(yours, 40, strategy, seed=3)
        assert comparison.first_difference is None and comparison.yours == comparison.model


def test_a_jitter_on_the_global_random_parts_at_the_first_retry():
    comparison = compare_retry_storm(functions(mutant("retry", "global_random")), 50, "full jitter", seed=1)
    first_retry = 50  # every client's first write comes before any sleep, so writes 1-50 agree
    assert comparison.first_difference == first_retry, comparison.text
    assert comparison.yours.attempt_times[:first_retry] == comparison.model.attempt_times[:first_retry]


def test_the_storm_explorer_marks_the_difference_and_redraws_both():
    found = mutant("retry", "exponent_off_by_one")
    explorer = retry_storm_explorer(delay=found["backoff_delay"], strategy="exponential", clients=30)
    figure = only(explorer, go.FigureWidget)
    crosses = [t for t in figure.data if t.name.startswith("first difference")]
    assert all(len(t.x) == 1 for t in crosses) and "is the first to differ" in summary(explorer)
    bars = [t for t in figure.data if t.type == "bar"]
    before = [tuple(t.y) for t in bars]
    next(w for w in descendants(explorer) if getattr(w, "description", "") == "clients").value = 60
    assert all(tuple(t.y) != old for t, old in zip(bars, before))
    model = simulate_retry_storm(60, "exponential", seed=1)
    assert f"the model {model.calls:,}" in summary(explorer)


def test_a_raising_jitter_stops_the_storm_with_one_sentence():
    def broken(delay, rng):
        raise ZeroDivisionError("no\nsecond line")
    explorer = retry_storm_explorer(jitters={"full": broken})
    assert "your broken(" in summary(explorer) and "raised ZeroDivisionError: no." in summary(explorer)
    assert "second line" not in summary(explorer)
