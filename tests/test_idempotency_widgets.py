"""The idempotency explorers, built headless: a slider, a plotly figure, and moving the slider redraws it.

Expected counts come from the models (checked in ``test_idempotency_models``). Bring your own: a
small correct ``IdempotentHandler`` written here (or the exercise's reference, once its source
notebook exists) agrees with the course's model on every attempt; one that runs the handler again on a
repeat double-charges exactly as often as no key at all, and the first attempt where it differs is
named; a stub and a class that raises are reported in one line.
"""
from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import pytest
from widget_tree import figure_of, html_of, only, trace

from autograder.exercises import EXERCISES
from dspatterns.idempotency.payments import (
    DROP_RATES,
    first_difference,
    run_payments,
    run_with_class,
)
from dspatterns.widgets.delivery_demo import delivery_demo
from dspatterns.widgets.payment_demo import (
    FIRST_DIFFERENCE,
    LOST_REPLY,
    WITH,
    WITHOUT,
    YOURS,
    payment_demo,
)


# --- a student's classes ----------------------------------------------------------------------------

class IdempotencyMismatch(Exception):
    pass


class RequestInProgress(Exception):
    pass


class IdempotentHandler:
    """A small correct answer to the exercise's contract."""

    def __init__(self, handler, ttl=86400.0, clock=time.monotonic):
        self.handler, self.ttl, self.clock = handler, ttl, clock
        self.lock, self.done, self.running = threading.Lock(), {}, set()

    def handle(self, key, request):
        with self.lock:
            stored = self.done.get(key)
            if stored is not None and self.clock() - stored[2] >= self.ttl:
                del self.done[key]
                stored = None
            if stored is not None:
                if stored[0] != request:
                    raise IdempotencyMismatch(key)
                return stored[1]
            if key in self.running:
                raise RequestInProgress(key)
            self.running.add(key)
        try:
            response = self.handler(request)
        except BaseException:
            with self.lock:
                self.running.discard(key)
            raise
        with self.lock:
            self.running.discard(key)
            self.done[key] = (request, response, self.clock())
        return response


class RunsAgainOnRepeat(IdempotentHandler):
    """Stores the response, but calls the handler on a repeat before looking: every retry charges."""

    def handle(self, key, request):
        response = self.handler(request)
        with self.lock:
            self.done.setdefault(key, (request, response, self.clock()))
            return self.done[key][1]


class ForgetsAfterTheFirstPayment(IdempotentHandler):
    """A lookup that assumes one key: the second payment's first attempt raises KeyError."""

    def handle(self, key, request):
        if self.done and key not in self.done:
            raise KeyError(key)
        return super().handle(key, request)


class Stub:
    def __init__(self, handler, ttl=86400.0, clock=time.monotonic):
        pass

    def handle(self, key, request):
        raise NotImplementedError


class NoClock:
    def __init__(self, handler):
        self.handler = handler


def reference_class():
    exercise = EXERCISES["idempotency"]
    if not exercise.source_notebook.exists():
        pytest.skip(f"{exercise.source_notebook} is not written yet")
    namespace: dict = {}
    exec(compile(exercise.reference_code, "reference", "exec"), namespace)  # noqa: S102 - the course's own answer
    return namespace["IdempotentHandler"]


# --- the payment demo ---------------------------------------------------------------------------------

@pytest.fixture
def demo():
    return payment_demo()


def test_demo_holds_one_slider_and_one_figure(demo):
    slider = only(demo, widgets.FloatSlider)
    figure = figure_of(demo)
    assert slider.value == 0.3
    assert {t.meta for t in figure.data} >= {f"bars: {WITHOUT}", f"bars: {WITH}", f"{WITH}: replayed the stored reply"}


def test_bars_are_the_double_charges_of_the_model_at_every_rate(demo):
    figure = figure_of(demo)
    assert list(trace(figure, f"bars: {WITHOUT}").y) == [run_payments(seed=3, drop_rate=r, with_key=False).double_charges
                                                         for r in DROP_RATES]
    assert list(trace(figure, f"bars: {WITH}").y) == [0] * len(DROP_RATES)
    assert list(trace(figure, f"bars: {WITHOUT}").y)[3] == 13


def test_the_timeline_marks_every_attempt_and_the_double_charges(demo):
    figure = figure_of(demo)
    run = run_payments(seed=3, drop_rate=0.3, with_key=False)
    drawn = sum(len(t.x) for t in figure.data if t.meta.startswith(f"{WITHOUT}: ") and t.meta != f"{WITHOUT}: {LOST_REPLY}")
    assert drawn == len(run.attempts)
    crosses = trace(figure, f"{WITHOUT}: {LOST_REPLY}")
    lost = [(a.attempt, a.payment) for a in run.attempts if a.server != "not reached" and a.reply_lost]
    assert list(zip(crosses.x, crosses.y)) == lost and len(lost) > 13
    assert len(trace(figure, f"{WITHOUT}: charged again").x) == run.double_charges == 13
    assert len(trace(figure, f"{WITH}: charged again").x) == 0
    assert len(trace(figure, f"{WITH}: replayed the stored reply").x) == 13


def test_moving_the_slider_redraws_the_timelines_the_outline_and_the_title(demo):
    slider, figure = only(demo, widgets.FloatSlider), figure_of(demo)
    before = list(trace(figure, f"{WITHOUT}: charged again").x)
    slider.value = 0.5
    after = run_payments(seed=3, drop_rate=0.5, with_key=False)
    assert len(trace(figure, f"{WITHOUT}: charged again").x) == after.double_charges == 29 != len(before)
    assert list(trace(figure, f"bars: {WITH}").marker.line.width) == [0, 0, 0, 0, 0, 3]
    assert "Drop rate 0.5" in figure.layout.title.text and "29 double charges" in figure.layout.title.text
    assert "29 double charges" in html_of(demo)


def test_a_correct_class_agrees_with_the_model_on_every_attempt():
    demo = payment_demo(IdempotentHandler)
    figure = figure_of(demo)
    assert list(trace(figure, f"bars: {YOURS}").y) == [0] * len(DROP_RATES)
    assert "Your class:</b> 0 double charges; does what the model does on every attempt" in html_of(demo)
    only(demo, widgets.FloatSlider).value = 0.5
    assert "does what the model does on every attempt" in html_of(demo)
    assert len(trace(figure, f"{YOURS}: {FIRST_DIFFERENCE}").x) == 0


def test_the_exercise_reference_agrees_with_the_model():
    cls = reference_class()
    for rate in DROP_RATES:
        yours = run_with_class(cls, seed=3, drop_rate=rate)
        assert yours.problem is None and yours.double_charges == 0, (rate, yours.problem)
        assert first_difference(run_payments(seed=3, drop_rate=rate), yours) is None


def test_a_class_that_runs_the_handler_on_a_repeat_charges_as_often_as_no_key_and_is_named():
    for rate in DROP_RATES:
        yours = run_with_class(RunsAgainOnRepeat, seed=3, drop_rate=rate)
        assert yours.double_charges == run_payments(seed=3, drop_rate=rate, with_key=False).double_charges
    demo = payment_demo(RunsAgainOnRepeat)
    text = html_of(demo)
    course = run_payments(seed=3, drop_rate=0.3)
    first_replay = next(a for a in course.attempts if a.server == "replayed")
    assert "Your class:</b> 13 double charges" in text
    assert (f"payment {first_replay.payment}, attempt {first_replay.attempt} "
            f"(sent at {first_replay.sent_at:.1f} s): the model replayed, yours charged") in text
    star = trace(figure_of(demo), f"{YOURS}: {FIRST_DIFFERENCE}")
    assert (list(star.x), list(star.y)) == ([first_replay.attempt], [first_replay.payment])
    assert len(trace(figure_of(demo), f"{WITH}: {FIRST_DIFFERENCE}").x) == 0


def test_a_class_that_raises_midway_is_named_in_one_line_at_the_attempt_it_raised():
    text = html_of(payment_demo(ForgetsAfterTheFirstPayment))
    second = next(a for a in run_payments(seed=3, drop_rate=0.3).attempts if a.payment == 1 and a.server != "not reached")
    assert f"Your class:</b> payment 1, attempt {second.attempt}: handle raised KeyError: 'pay-3-1'" in text
    assert "Traceback" not in text


def test_a_stub_and_a_constructor_that_does_not_take_the_contracts_arguments_are_one_line():
    text = html_of(payment_demo(Stub))
    first = next(a for a in run_payments(seed=3, drop_rate=0.3).attempts if a.server != "not reached")
    assert (f"Your class:</b> payment {first.payment}, attempt {first.attempt}: handle raises NotImplementedError: "
            "still the stub") in text
    assert "Traceback" not in text
    text = html_of(payment_demo(NoClock))
    assert "Your class:</b> constructing your class raised TypeError" in text


# --- the delivery demo --------------------------------------------------------------------------------

def test_delivery_demo_redraws_when_the_ack_loss_moves():
    demo = delivery_demo()
    slider, figure = only(demo, widgets.FloatSlider), figure_of(demo)
    assert sum(trace(figure, "deliveries").y) == 48 and sum(trace(figure, "applied: no dedup").y) == 48
    assert list(trace(figure, "applied: processed-id set").y) == [1] * 30
    slider.value = 0.0
    assert list(trace(figure, "applied: no dedup").y) == [1] * 30
    assert "Ack loss 0.0: 30 deliveries" in figure.layout.title.text
    slider.value = 0.6
    assert sum(trace(figure, "deliveries").y) == 64 and list(trace(figure, "applied: processed-id set").y) == [1] * 30
