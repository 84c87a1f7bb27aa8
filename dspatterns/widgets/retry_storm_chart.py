"""Figures of the retry storm: what each backoff strategy costs the resource, and why.

``retry_storm_figure`` redraws the two charts of the AWS backoff post from a sweep: the work (calls the
contended resource must judge) and the time until every client is done, against the number of
clients. ``retry_waves_figure`` looks inside single storms to answer the obvious follow-up: why does
plain exponential backoff cost so much work? Because its clients back off in lockstep, and every
wave of retries collides again.

``retry_storm_explorer`` runs one storm twice on one seed, with the model's sleeps and with your
``backoff_delay`` and jitter functions, and marks the first write whose time differs.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.resilience.retry_storm import (
    DECORRELATED_JITTER,
    EQUAL_JITTER,
    EXPONENTIAL,
    FULL_JITTER,
    NO_BACKOFF,
    STRATEGIES,
    StormComparison,
    StormResult,
    StormRun,
    compare_retry_storm,
)
from dspatterns.resilience.your_backoff import YourFunctions

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


# --- bring your own: the same storm with your functions ---------------------------------------------

YOUR_COLOUR = "#6a1b9a"


def retry_storm_comparison_figure(comparison: StormComparison, *, until: float = 3.0, bin_width: float = 0.02
                                  ) -> go.Figure:
    """Calls per bin of the model's storm above yours, the first write that differs marked on both."""
    runs = [("the course's model", comparison.model, STRATEGY_COLOURS.get(comparison.model.strategy)),
            (f"yours ({comparison.given})", comparison.yours, YOUR_COLOUR)]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                           subplot_titles=[_storm_title(label, run) for label, run, _ in runs])
    for row, (label, run, colour) in enumerate(runs, start=1):
        starts, counts = attempt_histogram(run, until=until, bin_width=bin_width) if run else ([], [])
        figure.add_trace(go.Bar(name=label, x=starts, y=counts, width=bin_width, offset=0, showlegend=False,
                                marker={"color": colour, "line": {"width": 0}},
                                hovertemplate="%{y} calls from t=%{x:.2f} s<extra>" + label + "</extra>"),
                         row=row, col=1)
        figure.add_trace(go.Scatter(name=f"first difference ({label})", mode="markers", showlegend=False,
                                    marker={"symbol": "x", "size": 15, "color": "#c62828"},
                                    hovertemplate="%{text}<extra>first difference</extra>",
                                    **_difference_marker(comparison, run)), row=row, col=1)
        figure.update_yaxes(title_text="calls", row=row, col=1)
    figure.update_xaxes(title_text="simulated time (s)", range=[0, until], row=2, col=1)
    figure.update_layout(title=f"{comparison.model.strategy}, {comparison.model.clients} clients: "
                               f"calls per {bin_width * 1000:g} ms", bargap=0, height=520,
                         template="plotly_white", margin={"l": 60, "r": 20, "t": 80, "b": 50})
    return figure


def _storm_title(label: str, run: StormRun | None) -> str:
    if run is None:
        return f"{label}: stopped"
    return f"{label}: {run.calls:,} calls, done at {run.completion_time:.2f} s"


def _difference_marker(comparison: StormComparison, run: StormRun | None) -> dict[str, list]:
    """A cross at the first differing write's time, at the height of that moment's bar."""
    k = comparison.first_difference
    if k is None or run is None or k >= len(run.attempt_times):
        return {"x": [], "y": [], "text": []}
    return {"x": [run.attempt_times[k]], "y": [0], "text": [comparison.text]}


def retry_storm_explorer(delay=None, jitters=None, *, strategy: str = FULL_JITTER, clients: int = 100,
                         seed: int = 1, until: float = 3.0) -> widgets.VBox:
    """One storm with the model's sleeps above the same storm with yours; controls redraw both.

    ``delay`` is your ``backoff_delay`` and ``jitters`` maps ``"full"``, ``"equal"`` and
    ``"decorrelated"`` to your jitter functions (whatever you leave out is the course's own). Both
    storms draw from the same seeded rng, so the line under the figure names the first write (in the
    order writes reach the resource) whose time differs beyond float rounding.
    """
    functions = YourFunctions(delay, jitters)
    style = {"description_width": "initial"}
    strategy_box = widgets.Dropdown(options=STRATEGIES, value=strategy, description="strategy", style=style)
    clients_slider = widgets.IntSlider(value=clients, min=1, max=200, description="clients",
                                       continuous_update=False, style=style)
    seed_box = widgets.IntText(value=seed, description="seed", layout={"width": "150px"})

    def compared() -> StormComparison:
        return compare_retry_storm(functions, clients_slider.value, strategy_box.value, seed=seed_box.value)

    comparison = compared()
    figure = go.FigureWidget(retry_storm_comparison_figure(comparison, until=until))
    summary = widgets.HTML(_storm_summary(comparison))

    def redraw(_change=None) -> None:
        comparison = compared()
        fresh = retry_storm_comparison_figure(comparison, until=until)
        with figure.batch_update():
            for trace, new in zip(figure.data, fresh.data):
                trace.update(x=new.x, y=new.y, **({"text": new.text} if new.type == "scatter" else {}))
            figure.layout.title.text = fresh.layout.title.text
            for annotation, new in zip(figure.layout.annotations, fresh.layout.annotations):
                annotation.text = new.text
        summary.value = _storm_summary(comparison)

    for control in (strategy_box, clients_slider, seed_box):
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([strategy_box, clients_slider, seed_box]), summary, figure])


def _storm_summary(comparison: StormComparison) -> str:
    who = f"<b>Yours ({html.escape(comparison.given)}):</b> " if comparison.given else "<b>Yours:</b> "
    return who + html.escape(comparison.text, quote=False)
