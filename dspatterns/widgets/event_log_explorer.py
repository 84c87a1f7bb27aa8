"""An account's event log with a time slider: the balance as of any moment, rebuilt by replay.

The top figure is the balance the log implies over time with every event marked; the slider picks a
moment, and the marker and the caption show the state a replay of the events up to then gives (a
temporal query: the past is still in the log). The second figure counts the events one load reads,
full replay against a snapshot every ``every`` events, as the log grows.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.data.event_log import (
    DEPOSITED,
    WITHDREW,
    balance_as_of,
    ledger_history,
    replay_cost,
)


def balance_figure(history, as_of: float) -> go.Figure:
    figure = go.Figure()
    for key, series in _series(history, as_of).items():
        figure.add_trace(go.Scatter(name=key, meta=key, **series))
    figure.update_layout(title=_title(history, as_of), height=380, template="plotly_white",
                         xaxis_title="time (s)", yaxis_title="balance", margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return figure


def _series(history, as_of: float) -> dict[str, dict]:
    times, balances = [], []
    for entry in history:
        times.append(entry.timestamp)
        balances.append(balance_as_of(history, entry.timestamp)[0])
    series = {"balance": {"x": times, "y": balances, "mode": "lines", "line_shape": "hv",
                          "line": {"color": "#90a4ae"}}}
    for kind, colour in ((DEPOSITED, "#2e7d32"), (WITHDREW, "#c62828")):
        chosen = [(e, b) for e, b in zip(history, balances) if e.kind == kind]
        series[kind] = {"x": [e.timestamp for e, _ in chosen], "y": [b for _, b in chosen], "mode": "markers",
                        "marker": {"color": colour, "size": 7},
                        "text": [f"#{e.number} {e.kind} {e.amount}" for e, _ in chosen], "hoverinfo": "text"}
    balance, _ = balance_as_of(history, as_of)
    series["as of"] = {"x": [as_of, as_of], "y": [0, max(balances) or 1], "mode": "lines",
                       "line": {"color": "#1565c0", "dash": "dot"}}
    series["replayed state"] = {"x": [as_of], "y": [balance], "mode": "markers",
                                "marker": {"color": "#1565c0", "size": 14, "symbol": "diamond"}}
    return series


def _title(history, as_of: float) -> str:
    balance, applied = balance_as_of(history, as_of)
    return f"As of t={as_of:.1f} s: {applied} of {len(history)} events replayed, balance {balance}"


def replay_cost_figure(cost) -> go.Figure:
    figure = go.Figure([
        go.Scatter(name="full replay", meta="full replay", x=cost.log_lengths, y=cost.full_replay, mode="lines"),
        go.Scatter(name=f"snapshot every {cost.every}", meta="snapshots", x=cost.log_lengths,
                   y=cost.with_snapshots, mode="lines"),
    ])
    figure.update_layout(title="Events read per load as the log grows", height=340, template="plotly_white",
                         xaxis_title="events in the stream", yaxis_title="events read by one load",
                         margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return figure


def event_log_explorer(seed: int = 3, events: int = 40) -> widgets.VBox:
    """A time slider over the balance figure and a snapshot-interval slider over the cost figure."""
    history = ledger_history(seed, events)
    end = history[-1].timestamp
    style = {"description_width": "initial"}
    time_slider = widgets.FloatSlider(value=round(end / 2, 1), min=0.0, max=round(end + 0.1, 1), step=0.1,
                                      description="as of (s)", continuous_update=False, style=style)
    every_slider = widgets.IntSlider(value=50, min=5, max=200, step=5, description="snapshot every",
                                     continuous_update=False, style=style)
    lengths = list(range(10, 1001, 10))
    balance = go.FigureWidget(balance_figure(history, time_slider.value))
    cost = go.FigureWidget(replay_cost_figure(replay_cost(lengths, every_slider.value, seed)))

    def redraw_balance(_change=None) -> None:
        series = _series(history, time_slider.value)
        with balance.batch_update():
            for trace in balance.data:
                trace.update(series[trace.meta])
            balance.layout.title.text = _title(history, time_slider.value)

    def redraw_cost(_change=None) -> None:
        study = replay_cost(lengths, every_slider.value, seed)
        with cost.batch_update():
            cost.data[1].update(y=study.with_snapshots, name=f"snapshot every {study.every}")

    time_slider.observe(redraw_balance, names="value")
    every_slider.observe(redraw_cost, names="value")
    return widgets.VBox([time_slider, balance, every_slider, cost])
