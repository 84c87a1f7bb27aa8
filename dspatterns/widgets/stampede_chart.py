"""The load on the database over time when hot keys expire: no protection, single flight, XFetch.

The question the chart answers is "what reaches the database at the moment a hot key expires?". The
top panel counts the queries started in each quarter second, one line per strategy, on the same seeded
requests; the bottom one counts the requests that found no fresh value (they queried, or waited for
someone else's query). Sliders set the traffic (clients and each client's request rate), how long one
recomputation takes, XFetch's beta and the TTL jitter; the ten keys are all written at t = 0 with a
10 s TTL.

Handed your classes (``stampede_chart(CacheAside, TTLCache)``), it also runs 16 real threads that miss
one key at once on your ``CacheAside`` (the load blocks until all of them have arrived) and prints how
many times your class called the load, beside single flight's 1; a class that raises is reported in
one line.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.caching.stampede import (
    NO_PROTECTION,
    SINGLE_FLIGHT,
    XFETCH,
    compare_strategies,
    threaded_stampede,
)

BIN = 0.25  # seconds per bar of the load
COLOURS = {NO_PROTECTION: "#c62828", SINGLE_FLIGHT: "#1565c0", XFETCH: "#2e7d32"}
CALLERS = 16


def load_trace(strategy: str) -> str:
    return f"queries: {strategy}"


def miss_trace(strategy: str) -> str:
    return f"misses: {strategy}"


def _series(runs) -> dict[str, dict]:
    series = {}
    for strategy, run in runs.items():
        times = [BIN * i for i in range(len(run.load_per_bin(BIN)))]
        series[load_trace(strategy)] = {"x": times, "y": run.load_per_bin(BIN)}
        series[miss_trace(strategy)] = {"x": times, "y": run.per_bin(run.miss_times, BIN)}
    return series


def _title(runs) -> str:
    parts = [f"{strategy} {len(run.queries)} queries (peak {run.peak_load(BIN)})" for strategy, run in runs.items()]
    return "Queries reaching the database in 40 s: " + ", ".join(parts)


def stampede_figure(runs) -> go.Figure:
    """A plain ``go.Figure`` of one comparison (``compare_strategies(...)``)."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, row_heights=[0.6, 0.4],
                           subplot_titles=(f"queries started per {BIN:g} s (the database's load)",
                                           f"requests that found no fresh value, per {BIN:g} s"))
    series = _series(runs)
    for strategy in runs:
        colour = COLOURS[strategy]
        figure.add_trace(go.Scatter(name=load_trace(strategy), legendgroup=strategy, mode="lines",
                                    line={"color": colour, "shape": "hv", "width": 1.5},
                                    hovertemplate="t=%{x:.2f} s: %{y} queries<extra>" + strategy + "</extra>",
                                    **series[load_trace(strategy)]), row=1, col=1)
        figure.add_trace(go.Scatter(name=miss_trace(strategy), legendgroup=strategy, showlegend=False, mode="lines",
                                    line={"color": colour, "shape": "hv", "width": 1.5},
                                    hovertemplate="t=%{x:.2f} s: %{y} misses<extra>" + strategy + "</extra>",
                                    **series[miss_trace(strategy)]), row=2, col=1)
    figure.update_xaxes(title_text="simulated time (s)", row=2, col=1)
    figure.update_yaxes(title_text="queries", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="misses", rangemode="tozero", row=2, col=1)
    figure.update_layout(title={"text": _title(runs), "font": {"size": 13}}, height=560, template="plotly_white",
                         margin={"l": 60, "r": 20, "t": 80, "b": 50})
    return figure


def your_classes_html(result) -> str:
    if result is None:
        return ""
    if result.problem is not None:
        return f"<b>Your classes:</b> {html.escape(result.problem)}"
    return (f"<b>Your classes:</b> {html.escape(result.text)}. Without single flight it would be "
            f"{result.callers}.")


def stampede_chart(cache_aside_class: type | None = None, ttl_cache_class: type | None = None, *,
                   seed: int = 0) -> widgets.VBox:
    """Sliders over the traffic and the defences, one figure; pass your classes to add the threaded check."""
    style = {"description_width": "initial"}
    clients = widgets.IntSlider(value=200, min=10, max=500, step=10, description="clients",
                                continuous_update=False, style=style)
    rate = widgets.FloatSlider(value=1.0, min=0.1, max=2.0, step=0.1, description="requests/s per client",
                               continuous_update=False, style=style)
    recompute = widgets.FloatSlider(value=0.5, min=0.05, max=2.0, step=0.05, description="recompute time (s)",
                                    continuous_update=False, style=style)
    beta = widgets.FloatSlider(value=1.0, min=0.0, max=4.0, step=0.25, description="XFetch beta",
                               continuous_update=False, style=style)
    jitter = widgets.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.05, description="TTL jitter",
                                 continuous_update=False, style=style)

    def runs_now():
        return compare_strategies(clients=clients.value, rate=rate.value, recompute=recompute.value,
                                  beta=beta.value, jitter=jitter.value, seed=seed)

    figure = go.FigureWidget(stampede_figure(runs_now()))
    yours = None
    if cache_aside_class is not None:
        yours = threaded_stampede(cache_aside_class, ttl_cache_class, callers=CALLERS)
    summary = widgets.HTML(your_classes_html(yours))

    def redraw(_change=None) -> None:
        runs = runs_now()
        series = _series(runs)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.name])
            figure.layout.title.text = _title(runs)

    for control in (clients, rate, recompute, beta, jitter):
        control.observe(redraw, names="value")
    controls = widgets.GridBox([clients, rate, recompute, beta, jitter],
                               layout=widgets.Layout(grid_template_columns="repeat(3, minmax(240px, 1fr))"))
    return widgets.VBox([controls, figure, summary])
