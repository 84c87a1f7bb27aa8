"""Who is still working on a request after its caller gave up? A timeline per hop answers it.

Each panel is one run of ``deadline_propagation_demo``: a bar per hop (client, service A, service B)
from when it got the request to when it was done with it, cut at the client's deadline. The part past
the deadline is drawn in red: time spent on an answer nobody is waiting for.
"""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.resilience.trickle_server import CLIENT, HOPS, PropagationTrace

IN_TIME = "before the client's deadline"
TOO_LATE = "after the client gave up"
COLOURS = {IN_TIME: "#1f77b4", TOO_LATE: "#d62728"}


def deadline_timeline_figure(traces: Sequence[PropagationTrace]) -> go.Figure:
    """One panel per trace, stacked, with a shared time axis so the runs compare at a glance."""
    if not traces:
        raise ValueError("no traces to draw")
    figure = make_subplots(
        rows=len(traces), cols=1, shared_xaxes=True, vertical_spacing=0.18,
        subplot_titles=[_panel_title(trace) for trace in traces],
    )
    for row, trace in enumerate(traces, start=1):
        for part in (IN_TIME, TOO_LATE):
            bars = _bars(trace, part)
            figure.add_trace(go.Bar(
                name=part, legendgroup=part, showlegend=row == 1, orientation="h",
                y=bars["hop"], x=bars["length"], base=bars["start"], text=bars["label"],
                textposition="inside", insidetextanchor="start", marker={"color": COLOURS[part]},
                hovertemplate="%{y}: %{base:.2f} s to %{x:.2f} s more<extra>" + part + "</extra>",
            ), row=row, col=1)
        figure.add_vline(x=trace.client_deadline, line={"dash": "dash", "color": "#333"}, row=row, col=1)
        figure.update_yaxes(categoryorder="array", categoryarray=list(HOPS)[::-1], row=row, col=1)
    end = max(s.end for trace in traces for s in trace.spans)
    figure.update_xaxes(range=[0, end * 1.05], title_text="seconds since the client sent the request",
                        row=len(traces), col=1)
    figure.update_layout(
        barmode="overlay", height=180 + 150 * len(traces), template="plotly_white",
        title="Deadline propagation: the dashed line is the client's deadline",
        margin={"l": 80, "r": 20, "t": 90, "b": 50}, legend={"orientation": "h", "y": -0.25},
    )
    return figure


def _bars(trace: PropagationTrace, part: str) -> dict[str, list]:
    bars: dict[str, list] = {"hop": [], "start": [], "length": [], "label": []}
    for span in trace.spans:
        if span.hop == CLIENT:  # the client stops at its deadline by definition; a few ms over is the OS
            cut = span.end
        else:
            cut = trace.client_deadline
        start, end = (span.start, min(span.end, cut)) if part == IN_TIME else (max(span.start, cut), span.end)
        if end <= start:
            continue
        bars["hop"].append(span.hop)
        bars["start"].append(start)
        bars["length"].append(end - start)
        told = "no budget given" if span.budget is None else f"budget {span.budget:.2f} s"
        if part == IN_TIME:
            bars["label"].append(told if span.end > cut else f"{told}; {span.outcome}")
        else:
            bars["label"].append(span.outcome if end - start > 0.1 else "")
    return bars


def _panel_title(trace: PropagationTrace) -> str:
    if trace.propagate:
        return f"Budget passed down: the work stops with the deadline ({trace.busy_after_deadline:.2f} s after it)"
    return f"No budget passed down: B keeps working {trace.busy_after_deadline:.2f} s after the client left"
