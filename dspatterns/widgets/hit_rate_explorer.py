"""Hit rate against cache size and TTL on a Zipf workload: LRU, no eviction, and Che's approximation.

The question the explorer answers is "how big must the cache be, and how long may entries live, for
most requests to hit?". The curves are simulated on one seeded trace of 8,000 requests over 1,000 keys
(the first 1,000 requests warm the cache up and are not counted), at the sizes on the x axis, with
Che's formula for LRU beside them; the big markers are the size the slider picks. Skew is Zipf's
exponent: the higher it is, the more the few top keys dominate.

Handed a ``TTLCache`` class of your own (``hit_rate_explorer(TTLCache)``), it replays the same trace
through your class at the slider's size and TTL, with a fake clock that moves 1/128 s per request (a
miss is followed by ``set``, as cache-aside does), and marks the first request on which your cache and
the course's LRU model disagree (a hit against a miss); a class that raises is reported in one line.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.caching.hit_rate import (
    LRU,
    NO_EVICTION,
    NO_TTL,
    NOTEBOOK_SIZES,
    hit_rate,
    hit_rate_curve,
    replay,
    zipf_trace,
)
from dspatterns.student_code import describe
from dspatterns.testing import FakeClock

KEYS, REQUESTS, WARMUP, RATE = 1_000, 8_000, 1_000, 128.0  # 128 a second: exact times (see hit_rate)
THEIR_NO_TTL = 1e9  # what your class is given for "no TTL": a billion seconds, far beyond the trace
LRU_TRACE, NO_EVICTION_TRACE, CHE_TRACE = "LRU (simulated)", "no eviction (simulated)", "Che's approximation (LRU)"
CHOSEN_TRACE, YOURS_TRACE = "the slider's size", "your TTLCache"
COLOURS = {LRU_TRACE: "#1565c0", NO_EVICTION_TRACE: "#c62828", CHE_TRACE: "#2e7d32", YOURS_TRACE: "#6a1b9a"}


@dataclass(frozen=True)
class CacheVerdict:
    """How a student's cache did on the trace: its hit rate, and the first request it disagrees on."""

    name: str
    hit_rate: float | None = None
    first_disagreement: tuple[int, int, bool, bool] | None = None  # (request, key rank, yours hit, model hit)
    disagreements: int = 0
    problem: str | None = None

    @property
    def text(self) -> str:
        if self.problem is not None:
            return f"<b>Your {html.escape(self.name)}:</b> {html.escape(self.problem)}"
        text = f"<b>Your {html.escape(self.name)}:</b> hit rate {self.hit_rate:.1%}; "
        if self.first_disagreement is None:
            return text + f"hit or miss exactly as the LRU model on all {REQUESTS:,} requests."
        n, key, yours, model = self.first_disagreement
        word = {True: "hit", False: "miss"}
        return text + (f"first disagreement at request #{n} (key of rank {key + 1}, t = {n / RATE:.2f} s): "
                       f"yours {word[yours]}, the model {word[model]} ({self.disagreements:,} of "
                       f"{REQUESTS:,} requests disagree).")


def check_cache_class(cache_class: type, trace: Sequence[int], size: int, ttl: float = NO_TTL,
                      rate: float = RATE) -> CacheVerdict:
    """Replay ``trace`` through ``cache_class(size, ttl, clock=FakeClock())`` and compare with the LRU model."""
    name = getattr(cache_class, "__name__", repr(cache_class))
    given_ttl = THEIR_NO_TTL if ttl == NO_TTL else ttl
    clock = FakeClock()
    try:
        cache = cache_class(size, given_ttl, clock=clock)
    except Exception as error:  # noqa: BLE001 - any failure of student code becomes a sentence
        return CacheVerdict(name, problem=f"{name}({size}, {given_ttl:g}, clock=FakeClock()) raised {describe(error)}")
    outcomes = []
    for n, key in enumerate(trace):
        clock.now = n / rate
        value = f"value {key}"
        try:
            found = cache.get(key)
        except Exception as error:  # noqa: BLE001
            return CacheVerdict(name, problem=f"request #{n}: get({key}) raised {describe(error)}")
        if found is not None and found != value:
            return CacheVerdict(name, problem=f"request #{n}: get({key}) returned {found!r}, "
                                              f"but the value stored for it was {value!r}")
        if found is None:
            try:
                cache.set(key, value)
            except Exception as error:  # noqa: BLE001
                return CacheVerdict(name, problem=f"request #{n}: set({key}, {value!r}) raised {describe(error)}")
        outcomes.append(found is not None)
    model = replay(trace, size, ttl=ttl, rate=rate, policy=LRU)
    differing = [n for n, (yours, theirs) in enumerate(zip(outcomes, model)) if yours != theirs]
    first = None if not differing else (differing[0], trace[differing[0]], outcomes[differing[0]],
                                        model[differing[0]])
    return CacheVerdict(name, hit_rate(outcomes, WARMUP), first, len(differing))


def _ttl_value(ttl_seconds: float) -> float:
    return NO_TTL if ttl_seconds <= 0 else float(ttl_seconds)


def _state(skew: float, size: int, ttl_seconds: float, seed: int, cache_class: type | None):
    ttl = _ttl_value(ttl_seconds)
    curve = hit_rate_curve(skew=skew, keys=KEYS, sizes=NOTEBOOK_SIZES, ttl=ttl, rate=RATE, requests=REQUESTS,
                           warmup=WARMUP, seed=seed)
    chosen = hit_rate_curve(skew=skew, keys=KEYS, sizes=(size,), ttl=ttl, rate=RATE, requests=REQUESTS,
                            warmup=WARMUP, seed=seed)
    verdict = None
    if cache_class is not None:
        verdict = check_cache_class(cache_class, zipf_trace(REQUESTS, KEYS, skew, seed=seed), size, ttl)
    return curve, chosen, verdict


def _series(curve, chosen, verdict) -> dict[str, dict]:
    size = chosen.sizes[0]
    series = {
        LRU_TRACE: {"x": list(curve.sizes), "y": list(curve.simulated[LRU])},
        NO_EVICTION_TRACE: {"x": list(curve.sizes), "y": list(curve.simulated[NO_EVICTION])},
        CHE_TRACE: {"x": list(curve.sizes), "y": list(curve.che)},
        CHOSEN_TRACE: {"x": [size, size, size],
                       "y": [chosen.simulated[LRU][0], chosen.simulated[NO_EVICTION][0], chosen.che[0]]},
        YOURS_TRACE: {"x": [], "y": []},
    }
    if verdict is not None and verdict.hit_rate is not None:
        series[YOURS_TRACE] = {"x": [size], "y": [verdict.hit_rate]}
    return series


def _title(curve, chosen) -> str:
    ttl = "no TTL" if curve.ttl == NO_TTL else f"TTL {curve.ttl:g} s"
    return (f"Zipf skew {curve.skew:g}, {curve.keys:,} keys, {ttl}: at size {chosen.sizes[0]} LRU hits "
            f"{chosen.simulated[LRU][0]:.1%}, no eviction {chosen.simulated[NO_EVICTION][0]:.1%}, "
            f"Che {chosen.che[0]:.1%}")


def hit_rate_figure(skew: float = 0.8, size: int = 100, ttl_seconds: float = 0.0, *, seed: int = 0,
                    cache_class: type | None = None) -> go.Figure:
    """A plain ``go.Figure`` of the curves (renders without a kernel)."""
    curve, chosen, verdict = _state(skew, size, ttl_seconds, seed, cache_class)
    return _figure(curve, chosen, verdict)


def _figure(curve, chosen, verdict) -> go.Figure:
    series = _series(curve, chosen, verdict)
    figure = go.Figure()
    for name in (LRU_TRACE, NO_EVICTION_TRACE):
        figure.add_trace(go.Scatter(name=name, mode="lines+markers", line={"color": COLOURS[name]},
                                    hovertemplate="size %{x}: %{y:.1%}<extra>" + name + "</extra>", **series[name]))
    figure.add_trace(go.Scatter(name=CHE_TRACE, mode="lines", line={"color": COLOURS[CHE_TRACE], "dash": "dash"},
                                hovertemplate="size %{x}: %{y:.1%}<extra>Che, no TTL</extra>", **series[CHE_TRACE]))
    figure.add_trace(go.Scatter(name=CHOSEN_TRACE, mode="markers", showlegend=False,
                                marker={"size": 13, "symbol": "circle-open", "line": {"width": 2},
                                        "color": [COLOURS[LRU_TRACE], COLOURS[NO_EVICTION_TRACE], COLOURS[CHE_TRACE]]},
                                hovertemplate="size %{x}: %{y:.1%}<extra></extra>", **series[CHOSEN_TRACE]))
    figure.add_trace(go.Scatter(name=YOURS_TRACE, mode="markers",
                                marker={"size": 12, "symbol": "x", "color": COLOURS[YOURS_TRACE]},
                                hovertemplate="your TTLCache at size %{x}: %{y:.1%}<extra></extra>",
                                **series[YOURS_TRACE]))
    figure.update_xaxes(title_text="cache size (entries, log scale)", type="log")
    figure.update_yaxes(title_text="hit rate", tickformat=".0%", range=[0, 1])
    figure.update_layout(title={"text": _title(curve, chosen), "font": {"size": 14}}, height=440,
                         template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 50},
                         legend={"x": 0.01, "y": 0.99})
    return figure


def summary_html(curve, chosen, verdict) -> str:
    errors = ", ".join(f"{size}: {error:.1%}" for size, error in zip(curve.sizes, curve.relative_errors()))
    text = (f"Che against the simulated LRU (relative difference, by size): {errors}."
            + (" Che's formula has no TTL: with one, the simulated curves fall below it." if curve.ttl != NO_TTL
               else ""))
    if verdict is not None:
        text += "<br>" + verdict.text
    return text


def hit_rate_explorer(cache_class: type | None = None, *, seed: int = 0) -> widgets.VBox:
    """Sliders for skew, size and TTL over one figure; ``hit_rate_explorer(TTLCache)`` adds your class."""
    style = {"description_width": "initial"}
    skew = widgets.FloatSlider(value=0.8, min=0.5, max=1.4, step=0.1, description="Zipf skew",
                               continuous_update=False, style=style)
    size = widgets.IntSlider(value=100, min=10, max=400, step=10, description="cache size",
                             continuous_update=False, style=style)
    ttl = widgets.FloatSlider(value=0.0, min=0.0, max=60.0, step=1.0, description="TTL (s, 0 = none)",
                              continuous_update=False, style=style)
    curve, chosen, verdict = _state(skew.value, size.value, ttl.value, seed, cache_class)
    figure = go.FigureWidget(_figure(curve, chosen, verdict))
    summary = widgets.HTML(summary_html(curve, chosen, verdict))

    def redraw(_change=None) -> None:
        curve, chosen, verdict = _state(skew.value, size.value, ttl.value, seed, cache_class)
        series = _series(curve, chosen, verdict)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.name])
            figure.layout.title.text = _title(curve, chosen)
        summary.value = summary_html(curve, chosen, verdict)

    for control in (skew, size, ttl):
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([skew, size, ttl]), figure, summary])
