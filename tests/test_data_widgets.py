"""The data family's explorers, built headless: moving a slider changes the figure's data.

Expectations come from the models (checked in ``test_data_models``) or from counting, never from the
widget itself. Bring-your-own runs get a small correct class written here, a buggy one (the first lost,
duplicated or out-of-order entry must be named) and a stub (one line saying so).
"""
from __future__ import annotations

import sqlite3

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants, figure_of, html_of, only, trace

from dspatterns.data.event_log import balance_as_of, ledger_history, replay_cost
from dspatterns.data.outbox_model import (
    AFTER_PUBLISH,
    BEFORE_PUBLISH,
    CRASH_POINTS,
    MID_BATCH,
    crash_study,
    trial_with_classes,
)
from dspatterns.data.projection_lag import simulate_projection
from dspatterns.data.saga_model import (
    TRAVEL_BOOKING,
    orchestration_trace,
    run_with_classes,
)
from dspatterns.widgets.event_log_explorer import event_log_explorer
from dspatterns.widgets.outbox_explorer import outbox_explorer
from dspatterns.widgets.projection_lag import projection_explorer
from dspatterns.widgets.saga_graph import saga_explorer


# --- small saga classes of a student's ------------------------------------------------------------

class Step:
    def __init__(self, name, action, compensation):
        self.name, self.action, self.compensation = name, action, compensation


class Failed(Exception):
    def __init__(self, failed_step, compensated, cause):
        super().__init__(failed_step)
        self.failed_step, self.compensated, self.cause = failed_step, compensated, cause


class Orchestrator:
    def __init__(self, steps, compensation_retries=3):
        self.steps, self.log = list(steps), []

    def run(self, context):
        done = []
        for step in self.steps:
            try:
                step.action(context)
            except Exception as exc:
                compensated = []
                for earlier in reversed(done):
                    earlier.compensation(context)
                    self.log.append(("compensate", earlier.name))
                    compensated.append(earlier.name)
                raise Failed(step.name, compensated, exc) from exc
            done.append(step)
            self.log.append(("action", step.name))
        return context


class ForwardOrchestrator(Orchestrator):
    """The bug: compensates in the order the steps ran instead of in reverse."""

    def run(self, context):
        done = []
        for step in self.steps:
            try:
                step.action(context)
            except Exception as exc:
                for earlier in done:
                    earlier.compensation(context)
                    self.log.append(("compensate", earlier.name))
                raise Failed(step.name, [], exc) from exc
            done.append(step)
            self.log.append(("action", step.name))
        return context


class StubOrchestrator:
    def __init__(self, steps, compensation_retries=3):
        raise NotImplementedError


# --- small outbox classes of a student's ----------------------------------------------------------

class Service:
    def __init__(self, path):
        self.path = path
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, amount INTEGER)")
            db.execute("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, id TEXT, sent INTEGER DEFAULT 0)")
        db.close()

    def place_order(self, order_id, amount):
        db = sqlite3.connect(self.path)
        try:
            with db:
                db.execute("INSERT INTO orders VALUES (?, ?)", (order_id, amount))
                db.execute("INSERT INTO outbox (id) VALUES (?)", (f"msg-{order_id}",))
        finally:
            db.close()


class Relay:
    mark_first = False

    def __init__(self, path, publish):
        self.path, self.publish = path, publish

    def run_once(self, batch_size=100):
        db = sqlite3.connect(self.path)
        try:
            rows = db.execute("SELECT seq, id FROM outbox WHERE sent = 0 ORDER BY seq LIMIT ?", (batch_size,)).fetchall()
            for count, (seq, message_id) in enumerate(rows):
                if self.mark_first:
                    with db:
                        db.execute("UPDATE outbox SET sent = 1 WHERE seq = ?", (seq,))
                try:
                    self.publish({"id": message_id})
                except Exception:  # noqa: BLE001 - the contract: any failure of publish stops the run
                    return count
                with db:
                    db.execute("UPDATE outbox SET sent = 1 WHERE seq = ?", (seq,))
            return len(rows)
        finally:
            db.close()


class MarkFirstRelay(Relay):
    """The bug: marks a message sent before publishing it, so a crash in between loses it."""

    mark_first = True


class Consumer:
    def __init__(self, handle):
        self.handle, self.seen = handle, set()

    def __call__(self, message):
        if message["id"] not in self.seen:
            self.seen.add(message["id"])
            self.handle(message["id"])


class MessageConsumer(Consumer):
    """Correct too: passes the whole message on, not just its id (the contract allows either reading)."""

    def __call__(self, message):
        if message["id"] not in self.seen:
            self.seen.add(message["id"])
            self.handle(message)


class ForgetfulConsumer(Consumer):
    """The bug: passes every delivery on, duplicates included."""

    def __call__(self, message):
        self.handle(message["id"])


class StubService:
    def __init__(self, path):
        pass

    def place_order(self, order_id, amount):
        raise NotImplementedError


# --- saga explorer ---------------------------------------------------------------------------------

def test_saga_slider_redraws_which_steps_are_compensated_and_in_what_order():
    explorer = saga_explorer()
    slider, figure = only(explorer, widgets.IntSlider), figure_of(explorer)
    for value in (0, 1, 3, 2):
        slider.value = value
        expected = orchestration_trace(TRAVEL_BOOKING, value)
        labels = list(trace(figure, "orchestration steps").hovertext)
        undone = [step for kind, step in expected if kind == "compensate"]
        for order, (kind, step) in enumerate(expected, start=1):
            label = f"{order}. {'undo ' if kind == 'compensate' else ''}{step}"
            assert label in labels, f"failing step {value}: {label!r} not among {labels}"
        assert " → ".join(undone) in figure.layout.title.text
        events = list(trace(figure, "choreography events").text)
        assert events[-1].endswith("compensated") or value == 0
        assert len([e for e in events if e.endswith("compensated")]) == len(undone)
    slider.value = len(TRAVEL_BOOKING)
    assert "No step fails" in figure.layout.title.text


def test_saga_byo_correct_buggy_and_stub():
    for fail_at in (None, 0, 1, 2, 3):
        assert run_with_classes(Step, Orchestrator, Failed, TRAVEL_BOOKING, fail_at).divergence is None
    buggy = run_with_classes(Step, ForwardOrchestrator, Failed, TRAVEL_BOOKING, 3)
    # actions 0..2 agree; the first compensation should undo 'rent car' and undoes 'reserve flight'
    assert buggy.divergence == 3 and buggy.observed[3] == ("compensate", "reserve flight")
    explorer = saga_explorer(Step, ForwardOrchestrator, Failed)
    only(explorer, widgets.IntSlider).value = 3
    assert "first divergence at log entry 3" in html_of(explorer)
    assert "log matches the model" in html_of(saga_explorer(Step, Orchestrator, Failed))
    stub = html_of(saga_explorer(Step, StubOrchestrator, Failed))
    assert "still the stub" in stub and stub.count("<br>") == 0


# --- event log explorer ----------------------------------------------------------------------------

def test_time_slider_rebuilds_the_balance_as_of_the_chosen_moment():
    explorer = event_log_explorer(seed=3, events=40)
    history = ledger_history(3, 40)
    time_slider = only(explorer, widgets.FloatSlider)
    balance_figure = next(f for f in descendants(explorer) if isinstance(f, go.FigureWidget))
    for moment in (0.0, 5.0, 12.3, history[-1].timestamp):
        time_slider.value = round(moment, 1)
        balance, applied = balance_as_of(history, time_slider.value)
        marker = trace(balance_figure, "replayed state")
        assert list(marker.y) == [balance] and list(marker.x) == [time_slider.value]
        assert f"{applied} of 40 events replayed, balance {balance}" in balance_figure.layout.title.text


def test_snapshot_slider_redraws_the_events_read_per_load():
    explorer = event_log_explorer()
    every = only(explorer, widgets.IntSlider)
    cost_figure = [f for f in descendants(explorer) if isinstance(f, go.FigureWidget)][1]
    every.value = 20
    expected = replay_cost(range(10, 1001, 10), 20, 3)
    assert list(trace(cost_figure, "snapshots").y) == expected.with_snapshots
    assert max(trace(cost_figure, "snapshots").y) < max(trace(cost_figure, "full replay").y)


# --- projection explorer ---------------------------------------------------------------------------

def test_batch_slider_redraws_the_lag_and_it_ends_at_zero():
    explorer = projection_explorer(seed=7)
    batch = only(explorer, widgets.IntSlider)
    figure = figure_of(explorer)
    for limit in (2, 10):
        batch.value = limit
        run = simulate_projection(7, write_rate=5.0, catch_up_every=1.0, batch_limit=limit)
        assert list(trace(figure, "lag").y) == run.lag
        assert trace(figure, "lag").y[-1] == 0
        assert f"max lag {max(run.lag)}" in figure.layout.title.text


# --- outbox explorer -------------------------------------------------------------------------------

def test_crash_rate_slider_redraws_lost_and_duplicated_messages():
    explorer = outbox_explorer()
    rate = only(explorer, widgets.FloatSlider)
    figure = figure_of(explorer)
    for value in (0.6, 0.1):
        rate.value = value
        rows = crash_study(seed=1, crash_rate=value)
        dual = [row.lost for row in rows if row.design == "dual write"]
        assert list(trace(figure, "dual write: lost").y) == dual and sum(dual) > 0
        assert list(trace(figure, "outbox: lost").y) == [0, 0, 0]
        assert "outbox lost 0" in figure.layout.title.text


@pytest.mark.parametrize("consumer", [Consumer, MessageConsumer])
@pytest.mark.parametrize("crash_point", CRASH_POINTS)
def test_outbox_byo_correct_classes_lose_nothing_and_handle_each_once(crash_point, consumer):
    trial = trial_with_classes(Service, Relay, consumer, crash_point, seed=1)
    assert trial.problem is None and trial.crashes > 0
    assert trial.first_bad is None and trial.lost == 0 and trial.duplicates_handled == 0
    assert (trial.duplicates_delivered > 0) == (crash_point != BEFORE_PUBLISH)


def test_outbox_byo_marks_the_first_lost_and_the_first_duplicated_message():
    lost = trial_with_classes(Service, MarkFirstRelay, Consumer, BEFORE_PUBLISH, seed=1)
    assert lost.lost > 0 and "never handled" in lost.first_bad and "first missing: order-" in lost.first_bad
    duplicated = trial_with_classes(Service, Relay, ForgetfulConsumer, AFTER_PUBLISH, seed=1)
    first = duplicated.handled[[duplicated.handled[:i].count(m) for i, m in enumerate(duplicated.handled)].index(1)]
    assert duplicated.first_bad.startswith(f"{first!r} handled twice")
    explorer = outbox_explorer(Service, Relay, ForgetfulConsumer)
    page = html_of(explorer)
    assert f"<b>{MID_BATCH}</b>: " in page and "handled twice" in page
    bars = trace(figure_of(explorer), "your classes: duplicates handled")
    assert all(count > 0 for count in bars.y[1:]) and "handled twice" in bars.hovertext[1]


def test_outbox_byo_stub_is_reported_in_one_line():
    page = html_of(outbox_explorer(StubService, Relay, Consumer))
    verdict = page.split("</table>")[1]
    assert "still the stub" in verdict and "<br>" not in verdict
