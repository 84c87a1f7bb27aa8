"""The breaker explorer must redraw its one figure in place, and the static figure must carry every layer."""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants, only

from dspatterns.resilience import FailureProfile, simulate_breaker
from dspatterns.widgets import (
    breaker_explorer,
    breaker_summary,
    breaker_timeline_figure,
)

EXPECTED_TRACES = [
    "service failure probability", "closed", "open", "half-open", "success", "failure", "rejected fast",
]


def slider(explorer, word):
    matches = [
        w for w in descendants(explorer)
        if isinstance(w, (widgets.IntSlider, widgets.FloatSlider)) and word in w.description
    ]
    assert len(matches) == 1, f"no single slider mentions {word!r}"
    return matches[0]


def trace_data(figure):
    return {trace.name: (tuple(trace.x), tuple(trace.y)) for trace in figure.data}


@pytest.fixture
def explorer():
    return breaker_explorer(seed=7)


def test_explorer_is_a_container_of_sliders_and_one_figure_widget(explorer):
    assert isinstance(explorer, widgets.Box)
    figure = only(explorer, go.FigureWidget)
    assert [t.name for t in figure.data] == EXPECTED_TRACES
    for word in ("failure rate", "threshold", "recovery timeout"):
        slider(explorer, word)


def test_initial_figure_matches_a_direct_simulation(explorer):
    figure = only(explorer, go.FigureWidget)
    run = simulate_breaker(seed=7, failure_profile=FailureProfile.outage(15.0, 37.0, 0.9, baseline=0.02))
    rejected = next(t for t in figure.data if t.name == "rejected fast")
    assert len(rejected.x) == run.rejected > 0


@pytest.mark.parametrize(
    "word, new_value", [("failure rate", 0.3), ("threshold", 2), ("recovery timeout", 1.5), ("trial", 3)],
)
def test_moving_a_slider_updates_the_same_figure_in_place(explorer, word, new_value):
    figure = only(explorer, go.FigureWidget)
    before = trace_data(figure)
    slider(explorer, word).value = new_value
    assert only(explorer, go.FigureWidget) is figure
    after = trace_data(figure)
    assert after != before
    assert list(after) == EXPECTED_TRACES


def test_the_summary_follows_the_sliders(explorer):
    summary = only(explorer, widgets.HTML)
    before = summary.value
    slider(explorer, "recovery timeout").value = 20.0
    assert summary.value != before
    assert "rejected fast" in summary.value


def test_a_healthy_outage_leaves_nothing_to_reject(explorer):
    figure = only(explorer, go.FigureWidget)
    slider(explorer, "failure rate").value = 0.0
    rejected = next(t for t in figure.data if t.name == "rejected fast")
    open_band = next(t for t in figure.data if t.name == "open")
    assert len(rejected.x) == 0 and len(open_band.x) == 0


def test_new_traffic_button_changes_the_calls(explorer):
    figure = only(explorer, go.FigureWidget)
    before = trace_data(figure)["success"]
    only(explorer, widgets.Button).click()
    assert trace_data(figure)["success"] != before


def test_static_figure_has_a_trace_per_state_and_outcome():
    run = simulate_breaker(seed=2)
    figure = breaker_timeline_figure(run)
    assert isinstance(figure, go.Figure) and not isinstance(figure, go.FigureWidget)
    by_name = {t.name: t for t in figure.data}
    assert list(by_name) == EXPECTED_TRACES
    assert len(by_name["success"].x) == run.successes
    assert len(by_name["failure"].x) == run.failures
    assert len(by_name["rejected fast"].x) == run.rejected
    rectangles = sum(x is None for x in by_name["open"].x)
    assert rectangles == run.times_opened
    assert max(by_name["service failure probability"].y) == pytest.approx(0.9)


def test_summary_counts_read_like_a_sentence():
    run = simulate_breaker(seed=1, duration=120.0, rate=50.0)
    text = breaker_summary(run)
    assert f"{run.reached_service:,}" in text and f"{run.rejected:,}" in text
    assert "," in f"{len(run.calls):,}" and f"{len(run.calls):,}" in text
