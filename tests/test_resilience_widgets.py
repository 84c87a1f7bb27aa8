"""The retry, bulkhead and timeout views: explorers redraw one figure in place, figures carry the data."""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants, only

from dspatterns.resilience.backoff_curves import delay_schedule
from dspatterns.resilience.bulkhead_simulation import HEALTHY, compare_pools
from dspatterns.resilience.retry_storm import (
    EXPONENTIAL,
    FULL_JITTER,
    STRATEGIES,
    retry_storm_sweep,
    simulate_retry_storm,
)
from dspatterns.resilience.trickle_server import (
    CLIENT,
    SERVICE_A,
    SERVICE_B,
    PropagationTrace,
    Span,
)
from dspatterns.widgets.backoff_explorer import (
    PLAIN_RETRIES_TRACE,
    PLAIN_TRACE,
    RETRIES_TRACE,
    SAMPLES_TRACE,
    TRACE_NAMES,
    backoff_explorer,
    backoff_figure,
    backoff_summary,
)
from dspatterns.widgets.bulkhead_explorer import bulkhead_explorer, bulkhead_figure
from dspatterns.widgets.deadline_timeline import (
    IN_TIME,
    TOO_LATE,
    deadline_timeline_figure,
)
from dspatterns.widgets.retry_storm_chart import (
    attempt_histogram,
    retry_storm_figure,
    retry_waves_figure,
)


def control(explorer, word):
    matches = [w for w in descendants(explorer) if isinstance(w, widgets.ValueWidget) and word in (w.description or "")]
    assert len(matches) == 1, f"no single control mentions {word!r}"
    return matches[0]


def trace_data(figure):
    return [(trace.name, tuple(trace.x), tuple(trace.y)) for trace in figure.data]


# --- backoff explorer -----------------------------------------------------------------------------

@pytest.fixture
def backoff():
    return backoff_explorer(seed=0)


def test_backoff_explorer_holds_controls_and_one_figure_widget(backoff):
    figure = only(backoff, go.FigureWidget)
    assert tuple(t.name for t in figure.data) == TRACE_NAMES
    for word in ("base", "cap", "attempts", "strategy", "jitter"):
        control(backoff, word)


@pytest.mark.parametrize("word, value", [
    ("base", 2.0), ("cap", 5.0), ("attempts", 4), ("strategy", "linear"), ("jitter", "equal"), ("seed", 9),
])
def test_moving_a_backoff_control_redraws_the_same_figure(backoff, word, value):
    figure = only(backoff, go.FigureWidget)
    before = trace_data(figure)
    control(backoff, word).value = value
    assert only(backoff, go.FigureWidget) is figure
    after = trace_data(figure)
    assert after != before
    assert [name for name, _, _ in after] == list(TRACE_NAMES)


def test_without_jitter_every_client_sleeps_the_plain_schedule(backoff):
    figure = only(backoff, go.FigureWidget)
    control(backoff, "jitter").value = "none"
    by_name = {t.name: t for t in figure.data}
    assert set(by_name[SAMPLES_TRACE].y) == set(by_name[PLAIN_TRACE].y)
    assert "same instants" in only(backoff, widgets.HTML).value


def test_the_attempts_slider_sets_the_number_of_sleeps(backoff):
    figure = only(backoff, go.FigureWidget)
    control(backoff, "attempts").value = 5
    assert list(next(t for t in figure.data if t.name == PLAIN_TRACE).x) == [1, 2, 3, 4]


def test_static_backoff_figure_matches_the_schedule():
    figure = backoff_figure("exponential", "full", base=1.0, cap=8.0, attempts=6, samples=50)
    assert isinstance(figure, go.Figure) and not isinstance(figure, go.FigureWidget)
    by_name = {t.name: t for t in figure.data}
    assert list(by_name[PLAIN_TRACE].y) == delay_schedule("exponential", base=1.0, cap=8.0, attempts=6)
    assert len(by_name[SAMPLES_TRACE].y) == 50 * 5
    assert max(by_name[SAMPLES_TRACE].y) <= 8.0
    assert "between" in backoff_summary("exponential", "full", base=1.0, cap=8.0, attempts=6)


def test_the_bottom_panel_counts_every_retry_of_the_crowd_once():
    figure = backoff_figure("exponential", "full", base=1.0, cap=30.0, attempts=7, samples=200)
    by_name = {t.name: t for t in figure.data}
    crowd, plain = by_name[RETRIES_TRACE], by_name[PLAIN_RETRIES_TRACE]
    assert sum(crowd.y) == sum(plain.y) == 200 * 6
    # Without jitter the whole crowd comes back in one bin per retry; with full jitter it spreads out.
    assert list(plain.y) == [200] * 6 and len(crowd.x) > 20
    width = crowd.width[0]
    assert width in (0.5, 1.0, 2.0) and "per %g s" % width in figure.layout.annotations[1].text
    assert all(x % width == 0 for x in plain.x)


# --- retry storm figures ---------------------------------------------------------------------------

def test_retry_storm_figure_has_two_panels_with_a_line_per_strategy():
    rows = retry_storm_sweep(clients=[1, 5, 10], repeats=1)
    figure = retry_storm_figure(rows)
    assert len(figure.data) == 2 * len(STRATEGIES)
    calls = {t.name: list(t.y) for t in figure.data if t.xaxis == "x"}
    times = {t.name: list(t.y) for t in figure.data if t.xaxis == "x2"}
    assert set(calls) == set(times) == set(STRATEGIES)
    first = next(r for r in rows if r.strategy == FULL_JITTER and r.clients == 10)
    assert calls[FULL_JITTER][-1] == first.calls and times[FULL_JITTER][-1] == first.completion_time
    assert figure.layout.yaxis2.type == "log"


def test_retry_waves_show_every_early_call():
    runs = [simulate_retry_storm(20, EXPONENTIAL, seed=1), simulate_retry_storm(20, FULL_JITTER, seed=1)]
    figure = retry_waves_figure(runs, until=1.0, bin_width=0.05)
    assert len(figure.data) == 2
    for run, bars in zip(runs, figure.data):
        assert sum(bars.y) == sum(t < 1.0 for t in run.attempt_times)
    starts, counts = attempt_histogram(runs[0], until=1.0, bin_width=0.05)
    assert len(starts) == len(counts) == 20 and counts[0] == 20  # every first write lands within 50 ms


# --- bulkhead explorer ----------------------------------------------------------------------------

def test_bulkhead_figure_draws_each_service_in_each_setup():
    shared, split = compare_pools()
    figure = bulkhead_figure(shared, split)
    assert len(figure.data) == 4
    catalog_shared = next(t for t in figure.data if t.meta == f"{HEALTHY} (shared)")
    catalog_split = next(t for t in figure.data if t.meta == f"{HEALTHY} (bulkheads)")
    start, end = shared.slow_window
    assert sum(catalog_split.y[int(start):int(end)]) > 2 * sum(catalog_shared.y[int(start):int(end)])
    with pytest.raises(ValueError):
        bulkhead_figure(split, shared)


@pytest.mark.parametrize("word, value", [("pool size", 20), ("payments' slots", 2), ("timeout", 1.0),
                                         ("calls/s", 30.0)])
def test_moving_a_bulkhead_slider_redraws_the_same_figure(word, value):
    explorer = bulkhead_explorer()
    figure = only(explorer, go.FigureWidget)
    before = trace_data(figure)
    control(explorer, word).value = value
    assert only(explorer, go.FigureWidget) is figure
    assert trace_data(figure) != before


def test_a_smaller_pool_shrinks_the_bulkhead_slider_and_the_titles_follow():
    explorer = bulkhead_explorer()
    figure = only(explorer, go.FigureWidget)
    pool, split = control(explorer, "pool size"), control(explorer, "payments' slots")
    pool.value = 4
    assert split.max == 3 and split.value <= 3
    assert "one shared pool of 4" in figure.layout.annotations[0].text
    assert "catalog calls served" in only(explorer, widgets.HTML).value


# --- deadline timeline ----------------------------------------------------------------------------

def synthetic_trace(b_end):
    trace = PropagationTrace(propagate=False, client_deadline=0.5)
    trace.spans += [
        Span(CLIENT, 0.0, 0.5, 0.5, "gave up"),
        Span(SERVICE_A, 0.01, b_end, None, "B answered: ok"),
        Span(SERVICE_B, 0.2, b_end, None, "finished"),
    ]
    return trace


def test_deadline_timeline_paints_only_late_work_red():
    late, prompt = synthetic_trace(b_end=1.1), synthetic_trace(b_end=0.4)
    figure = deadline_timeline_figure([late, prompt])
    bars = {(t.name, t.yaxis): t for t in figure.data}
    too_late = bars[TOO_LATE, "y"]
    assert sorted(too_late.y) == [SERVICE_A, SERVICE_B]
    assert list(too_late.base) == [0.5, 0.5] and list(too_late.x) == pytest.approx([0.6, 0.6])
    assert len(bars[TOO_LATE, "y2"].y) == 0
    assert len(bars[IN_TIME, "y2"].y) == 3
    assert late.busy_after_deadline == pytest.approx(0.6) and prompt.busy_after_deadline == 0.0
