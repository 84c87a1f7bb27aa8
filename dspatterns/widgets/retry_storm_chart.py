"""Figures of the retry storm: what each backoff strategy costs the resource, and why.

``retry_storm_figure`` redraws the two charts of the AWS backoff post from a sweep: the work (calls the
contended resource must judge) and the time until every client is done, against the number of
clients. ``retry_waves_figure`` looks inside single storms to answer the obvious follow-up: why does
plain exponential backoff cost so much work? Because its clients back off in lockstep, and every
wave of retries collides again.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.resilience.retry_storm import (
    DECORRELATED_JITTER,
    EQUAL_JITTER,
    EXPONENTIAL,
    FULL_JITTER,
    NO_BACKOFF,
    StormResult,
    StormRun,
)

STRATEGY_COLOURS = {
    NO_BACKOFF: "#7f7f7f",
    EXPONENTIAL: "#d62728",
    FULL_JITTER: "#1f77b4",
    EQUAL_JITTER: "#2ca02c",
    DECORRELATED_JITTER: "#9467bd",
}


def retry_storm_figure(results: Sequence[StormResult], *, title: str | None = None) -> go.Figure:
    """Two panels, one line per strategy: total calls and completion time against the number of clients.

    Completion time uses a logarithmic axis: unjittered exponential backoff takes ten times longer
    than the rest, and on a linear axis it would flatten the differences between the jittered ones.
    """
    if not results:
        raise ValueError("no results to draw")
    figure = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.1,
        subplot_titles=("Work: calls the resource had to judge", "Time until every client has written"),
    )
    for strategy in dict.fromkeys(r.strategy for r in results):
        rows = sorted((r for r in results if r.strategy == strategy), key=lambda r: r.clients)
        style = {"color": STRATEGY_COLOURS.get(strategy), "width": 2.5 if strategy != NO_BACKOFF else 1.5}
        if strategy == NO_BACKOFF:
            style["dash"] = "dot"
        clients = [r.clients for r in rows]
        figure.add_trace(go.Scatter(
            name=strategy, legendgroup=strategy, x=clients, y=[r.calls for r in rows], mode="lines+markers",
            line=style, hovertemplate="%{x} clients: %{y:,.0f} calls<extra>" + strategy + "</extra>",
        ), row=1, col=1)
        figure.add_trace(go.Scatter(
            name=strategy, legendgroup=strategy, showlegend=False, x=clients,
            y=[r.completion_time for r in rows], mode="lines+markers", line=style,
            hovertemplate="%{x} clients: %{y:.2f} s<extra>" + strategy + "</extra>",
        ), row=1, col=2)
    repeats = results[0].repeats
    figure.update_xaxes(title_text="clients", rangemode="tozero")
    figure.update_yaxes(title_text="calls (mean)", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="seconds (mean, log scale)", type="log", dtick=1, row=1, col=2)
    figure.update_layout(
        title=title or f"Retry storm: every client writes once to one row (mean of {repeats} runs per point)",
        height=440, template="plotly_white", margin={"l": 60, "r": 20, "t": 80, "b": 50},
        legend={"orientation": "h", "y": -0.18},
    )
    return figure


def retry_waves_figure(runs: Sequence[StormRun], *, until: float = 3.0, bin_width: float = 0.02) -> go.Figure:
    """Calls reaching the resource per ``bin_width`` seconds, one panel per storm, over the first ``until`` s.

    Spikes mean synchronised clients: many writes in the same instant, of which at most one can win.
    """
    if not runs:
        raise ValueError("no runs to draw")
    if not (until > 0 and bin_width > 0):
        raise ValueError("until and bin_width must be positive")
    figure = make_subplots(
        rows=len(runs), cols=1, shared_xaxes=True, vertical_spacing=0.08,
        subplot_titles=[f"{run.strategy}: {run.calls:,} calls, {run.clients} clients" for run in runs],
    )
    for index, run in enumerate(runs, start=1):
        starts, counts = attempt_histogram(run, until=until, bin_width=bin_width)
        figure.add_trace(go.Bar(
            name=run.strategy, x=starts, y=counts, width=bin_width, offset=0,
            marker={"color": STRATEGY_COLOURS.get(run.strategy), "line": {"width": 0}}, showlegend=False,
            hovertemplate="%{y} calls from t=%{x:.2f} s<extra>" + run.strategy + "</extra>",
        ), row=index, col=1)
        figure.update_yaxes(title_text="calls", row=index, col=1)
    figure.update_xaxes(title_text="simulated time (s)", range=[0, until], row=len(runs), col=1)
    figure.update_layout(
        title=f"When do the calls arrive? (calls per {bin_width * 1000:g} ms)", bargap=0,
        height=170 + 170 * len(runs), template="plotly_white", margin={"l": 60, "r": 20, "t": 80, "b": 50},
    )
    return figure


def attempt_histogram(run: StormRun, *, until: float, bin_width: float) -> tuple[list[float], list[int]]:
    """Bin starts and call counts over ``[0, until)``: the bars of ``retry_waves_figure``."""
    bins = math.ceil(until / bin_width)
    counts = [0] * bins
    for time in run.attempt_times:
        index = int(time // bin_width)
        if 0 <= index < bins:
            counts[index] += 1
    return [i * bin_width for i in range(bins)], counts
