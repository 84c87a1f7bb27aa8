"""The hit-rate explorer and the stampede chart, built headless: a slider changes the figure's data.

Expectations come from the models (``dspatterns.caching``), which ``test_caching_models`` checks
against the notebook's claims, never from the widget itself. Bring your own: the registry's reference
answer agrees with the model everywhere, a buggy class is shown its first disagreement (or its load
count), and a stub is reported in one line instead of a traceback.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from test_caching_models import NoSingleFlight
from widget_tree import descendants, only

from autograder.exercises import EXERCISES
from dspatterns.caching.hit_rate import LRU, NO_EVICTION, NOTEBOOK_SIZES, hit_rate_curve
from dspatterns.caching.stampede import (
    NO_PROTECTION,
    SINGLE_FLIGHT,
    XFETCH,
    compare_strategies,
)
from dspatterns.widgets.hit_rate_explorer import (
    CHE_TRACE,
    CHOSEN_TRACE,
    LRU_TRACE,
    NO_EVICTION_TRACE,
    YOURS_TRACE,
    hit_rate_explorer,
    hit_rate_figure,
)
from dspatterns.widgets.stampede_chart import (
    load_trace,
    miss_trace,
    stampede_chart,
    stampede_figure,
)


def _reference():
    namespace: dict = {}
    exec(compile(EXERCISES["cache_aside"].reference_code, "reference", "exec"), namespace)  # noqa: S102
    return namespace


def _slider(widget, description):
    found = [w for w in descendants(widget) if isinstance(w, (widgets.IntSlider, widgets.FloatSlider))
             and w.description == description]
    assert len(found) == 1, f"expected one slider {description!r}, found {len(found)}"
    return found[0]


def _trace(figure, name):
    found = [trace for trace in figure.data if trace.name == name]
    assert len(found) == 1, f"expected one trace {name!r}, found {len(found)}"
    return found[0]


# --- the hit-rate explorer ------------------------------------------------------------------------------

def test_the_hit_rate_figure_draws_the_models_curves():
    figure = hit_rate_figure(skew=0.8, size=100)
    curve = hit_rate_curve(skew=0.8, sizes=NOTEBOOK_SIZES)
    assert isinstance(figure, go.Figure)
    assert tuple(_trace(figure, LRU_TRACE).y) == curve.simulated[LRU]
    assert tuple(_trace(figure, NO_EVICTION_TRACE).y) == curve.simulated[NO_EVICTION]
    assert tuple(_trace(figure, CHE_TRACE).y) == curve.che
    assert tuple(_trace(figure, LRU_TRACE).x) == NOTEBOOK_SIZES
    assert _trace(figure, YOURS_TRACE).x == ()


def test_moving_the_ttl_slider_redraws_the_curves_and_the_title():
    explorer = hit_rate_explorer()
    figure = only(explorer, go.FigureWidget)
    before = tuple(_trace(figure, LRU_TRACE).y)
    _slider(explorer, "TTL (s, 0 = none)").value = 5.0
    after = tuple(_trace(figure, LRU_TRACE).y)
    assert after == hit_rate_curve(skew=0.8, ttl=5.0).simulated[LRU]
    assert after != before
    assert "TTL 5 s" in figure.layout.title.text
    assert tuple(_trace(figure, CHE_TRACE).y) == hit_rate_curve(skew=0.8).che  # Che has no TTL in it


def test_moving_the_size_slider_moves_the_markers_and_the_skew_slider_the_curves():
    explorer = hit_rate_explorer()
    figure = only(explorer, go.FigureWidget)
    _slider(explorer, "cache size").value = 250
    chosen = hit_rate_curve(skew=0.8, sizes=(250,))
    assert tuple(_trace(figure, CHOSEN_TRACE).x) == (250, 250, 250)
    assert tuple(_trace(figure, CHOSEN_TRACE).y) == (chosen.simulated[LRU][0], chosen.simulated[NO_EVICTION][0],
                                                      chosen.che[0])
    _slider(explorer, "Zipf skew").value = 1.2
    assert tuple(_trace(figure, LRU_TRACE).y) == hit_rate_curve(skew=1.2).simulated[LRU]


def test_your_ttl_cache_agrees_with_the_model_and_is_drawn():
    explorer = hit_rate_explorer(_reference()["TTLCache"])
    figure = only(explorer, go.FigureWidget)
    summary = only(explorer, widgets.HTML).value
    assert "exactly as the LRU model on all 8,000 requests" in summary, summary
    chosen = hit_rate_curve(skew=0.8, sizes=(100,))
    assert tuple(_trace(figure, YOURS_TRACE).y) == (chosen.simulated[LRU][0],)
    _slider(explorer, "TTL (s, 0 = none)").value = 3.0
    assert "exactly as the LRU model" in only(explorer, widgets.HTML).value


class FirstInFirstOut:
    """The bug: a hit is not a use, so the oldest stored entry goes, however popular it is."""

    def __init__(self, capacity, ttl, clock):
        self.capacity, self.ttl, self.clock, self.entries = capacity, ttl, clock, {}

    def get(self, key, default=None):
        entry = self.entries.get(key)
        if entry is None or self.clock() >= entry[1]:
            return default
        return entry[0]

    def set(self, key, value, ttl=None):
        now = self.clock()
        self.entries.pop(key, None)
        for old in [old for old, (_, expires) in self.entries.items() if now >= expires]:
            del self.entries[old]
        while len(self.entries) >= self.capacity:
            del self.entries[next(iter(self.entries))]
        self.entries[key] = (value, now + self.ttl)


def test_a_ttl_cache_that_forgets_recency_is_shown_its_first_disagreement():
    explorer = hit_rate_explorer(FirstInFirstOut)
    summary = only(explorer, widgets.HTML).value
    assert "first disagreement at request #" in summary and "yours miss, the model hit" in summary, summary
    lru = hit_rate_curve(skew=0.8, sizes=(100,)).simulated[LRU][0]
    assert _trace(only(explorer, go.FigureWidget), YOURS_TRACE).y[0] < lru


def test_a_stub_ttl_cache_is_reported_in_one_line():
    class TTLStub:
        def __init__(self, capacity, ttl, clock=None):
            pass

        def get(self, key, default=None):
            raise NotImplementedError

    explorer = hit_rate_explorer(TTLStub)
    summary = only(explorer, widgets.HTML).value
    assert "request #0: get(" in summary and "raised NotImplementedError" in summary, summary
    assert "Traceback" not in summary
    assert _trace(only(explorer, go.FigureWidget), YOURS_TRACE).x == ()


# --- the stampede chart ---------------------------------------------------------------------------------

def test_the_stampede_figure_draws_every_strategys_load_and_misses():
    runs = compare_strategies(seed=0)
    figure = stampede_figure(runs)
    for strategy in (NO_PROTECTION, SINGLE_FLIGHT, XFETCH):
        assert list(_trace(figure, load_trace(strategy)).y) == runs[strategy].load_per_bin(0.25)
        assert sum(_trace(figure, miss_trace(strategy)).y) == len(runs[strategy].miss_times)
    assert max(_trace(figure, load_trace(SINGLE_FLIGHT)).y) == 10


def test_moving_the_jitter_slider_lowers_the_peak_drawn():
    chart = stampede_chart()
    figure = only(chart, go.FigureWidget)
    before = max(_trace(figure, load_trace(SINGLE_FLIGHT)).y)
    _slider(chart, "TTL jitter").value = 0.2
    after = list(_trace(figure, load_trace(SINGLE_FLIGHT)).y)
    assert after == compare_strategies(jitter=0.2, seed=0)[SINGLE_FLIGHT].load_per_bin(0.25)
    assert max(after) < before
    _slider(chart, "XFetch beta").value = 2.0
    assert sum(_trace(figure, miss_trace(XFETCH)).y) == 0


def test_every_slider_of_the_stampede_chart_changes_the_figure():
    chart = stampede_chart()
    figure = only(chart, go.FigureWidget)
    for description, value in (("clients", 100), ("requests/s per client", 1.5), ("recompute time (s)", 1.0)):
        before = [list(trace.y) for trace in figure.data]
        _slider(chart, description).value = value
        assert [list(trace.y) for trace in figure.data] != before, description


def test_your_cache_aside_is_counted_beside_single_flight():
    reference = _reference()
    text = only(stampede_chart(reference["CacheAside"], reference["TTLCache"]), widgets.HTML).value
    assert "called load 1 time(s), as single flight should" in text, text


def test_a_cache_aside_without_single_flight_shows_its_load_count():
    text = only(stampede_chart(NoSingleFlight, _reference()["TTLCache"]), widgets.HTML).value
    assert "called load 16 time(s) (single flight: 1)" in text, text


def test_a_stub_cache_aside_is_reported_in_one_line():
    class CacheAsideStub:
        def __init__(self, cache, load):
            raise NotImplementedError

    text = only(stampede_chart(CacheAsideStub), widgets.HTML).value
    assert text == "<b>Your classes:</b> your CacheAsideStub(cache, load) raised NotImplementedError"
