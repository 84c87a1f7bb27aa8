"""A saga drawn as a graph: pick the step that fails and watch the compensations run back.

Left, the orchestrated saga: actions along the top, each one's compensation under it, numbered in the
order they ran (green done, red failed, orange undone, grey never reached). Right, the same saga
choreographed: the services on a line and every event on the bus as a numbered arrow from the
publisher to the service that reacted. Both come from the model in ``dspatterns.data.saga_model``;
with your own classes, a third line compares your orchestrator's ``.log`` with the model.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.data.saga_model import (
    TRAVEL_BOOKING,
    choreography_trace,
    effects_of,
    orchestration_trace,
    run_with_classes,
    saga_graph,
)

STATE_COLOURS = {"done": "#2e7d32", "failed": "#c62828", "undone": "#ef6c00", "idle": "#b0bec5"}
NO_FAILURE = "none"


def saga_figure(steps=TRAVEL_BOOKING, fail_at: int | None = 2) -> go.Figure:
    """Orchestration (left) and choreography (right) for one failing step, as a plain figure."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.06,
                           subplot_titles=("orchestration: one coordinator", "choreography: events on a bus"))
    for key, series in _series(steps, fail_at).items():
        column = 1 if key.startswith("orchestration") else 2
        mode = "lines" if key.endswith("edges") else "markers+text"
        hover = "none" if key.endswith("edges") else "text"
        figure.add_trace(go.Scatter(name=key, meta=key, mode=mode, showlegend=False, hoverinfo=hover, **series),
                         row=1, col=column)
    names = [step.replace(" ", "<br>", 1) for step in steps]
    figure.update_xaxes(range=[-0.6, len(steps) - 0.4], tickvals=list(range(len(steps))), ticktext=names,
                        showgrid=False, zeroline=False, side="top", row=1, col=1)
    figure.update_xaxes(range=[-1.6, len(steps) + 0.2], tickvals=[-1.0, *range(len(steps))],
                        ticktext=["client", *names], showgrid=False, zeroline=False, side="top", row=1, col=2)
    figure.update_yaxes(range=[-1.5, 0.5], tickvals=[0, -1], ticktext=["action", "compensation"], showgrid=False,
                        zeroline=False, row=1, col=1)
    figure.update_yaxes(visible=False, range=[len(choreography_trace(steps, fail_at)) + 0.2, -1.0], row=1, col=2)
    figure.update_layout(title=_title(steps, fail_at), height=460, template="plotly_white",
                         margin={"l": 90, "r": 20, "t": 130, "b": 20})
    figure.update_annotations(yshift=40)
    return figure


def _series(steps, fail_at) -> dict[str, dict]:
    graph, positions = saga_graph(steps)
    trace = orchestration_trace(steps, fail_at)
    order = {(kind if kind != "fail" else "action", step): index + 1 for index, (kind, step) in enumerate(trace)}
    state = {}
    for kind, step in trace:
        state[("action", step)] = {"action": "done", "fail": "failed"}.get(kind, state.get(("action", step)))
        if kind == "compensate":
            state[("compensate", step)] = "undone"
    edge_x, edge_y = [], []
    for a, b in graph.edges:
        edge_x += [positions[a][0], positions[b][0], None]
        edge_y += [positions[a][1], positions[b][1], None]
    nodes = list(graph.nodes)
    series = {
        "orchestration edges": {"x": edge_x, "y": edge_y, "line": {"color": "#cfd8dc", "width": 2}},
        "orchestration steps": {
            "x": [positions[n][0] for n in nodes], "y": [positions[n][1] for n in nodes],
            "text": [str(order[n]) if n in order else "" for n in nodes],
            "hovertext": [(f"{order[n]}. " if n in order else "") + ("undo " if n[0] == "compensate" else "")
                          + n[1] for n in nodes],
            "textposition": "middle center", "textfont": {"color": "white", "size": 13},
            "marker": {"size": 30, "symbol": ["circle" if n[0] == "action" else "square" for n in nodes],
                       "color": [STATE_COLOURS[state.get(n) or "idle"] for n in nodes]},
        },
    }
    messages = choreography_trace(steps, fail_at)
    column = {step: index for index, step in enumerate(steps)}
    bus_x, bus_y, text_x, text_y, texts = [], [], [], [], []
    for row, message in enumerate(messages):
        start = column.get(message.publisher, -1.0)
        end = column.get(message.reacting, start) if message.reacting else start
        bus_x += [start, end, None]
        bus_y += [row, row, None]
        text_x.append((start + end) / 2)
        text_y.append(row)
        texts.append(f"{message.order}. {message.topic}")
    colour = [STATE_COLOURS["failed"] if t.endswith("failed") else STATE_COLOURS["undone"]
              if t.endswith("compensated") else STATE_COLOURS["done"] for t in texts]
    series["choreography edges"] = {"x": bus_x, "y": bus_y, "line": {"color": "#90a4ae", "width": 2}}
    series["choreography events"] = {"x": text_x, "y": text_y, "text": texts, "textposition": "top center",
                                     "textfont": {"size": 11}, "marker": {"size": 10, "color": colour}}
    return series


def _title(steps, fail_at) -> str:
    if fail_at is None:
        return f"No step fails: {len(steps)} actions, no compensation"
    undone = [step for kind, step in orchestration_trace(steps, fail_at) if kind == "compensate"]
    same = effects_of(choreography_trace(steps, fail_at)) == orchestration_trace(steps, fail_at)
    return (f"'{steps[fail_at]}' fails: compensations run {' → '.join(undone) or 'none (nothing completed)'}"
            f"; both shapes agree: {'yes' if same else 'NO'}")


def saga_explorer(step_cls=None, orchestrator_cls=None, failed_cls=None, *, steps=TRAVEL_BOOKING) -> widgets.VBox:
    """A slider for the failing step over the two drawings; pass your three saga classes to check them too.

    Call it as ``saga_explorer(SagaStep, SagaOrchestrator, SagaFailed)``.
    """
    steps = tuple(steps)
    slider = widgets.IntSlider(value=min(2, len(steps)), min=0, max=len(steps), description="failing step",
                               continuous_update=False, style={"description_width": "initial"})
    caption = widgets.HTML()
    yours = widgets.HTML()
    figure = go.FigureWidget(saga_figure(steps, _fail_at(slider.value, steps)))

    def redraw(_change=None) -> None:
        fail_at = _fail_at(slider.value, steps)
        caption.value = (f"step {slider.value}: " + (f"<b>{steps[fail_at]}</b> fails" if fail_at is not None
                                                      else "no step fails (the last position)"))
        series = _series(steps, fail_at)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(steps, fail_at)
            figure.layout.yaxis2.range = [len(choreography_trace(steps, fail_at)) + 0.2, -1.0]
        if orchestrator_cls is not None:
            yours.value = class_verdict(run_with_classes(step_cls, orchestrator_cls, failed_cls, steps, fail_at))

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, caption, figure, yours])


def _fail_at(value: int, steps) -> int | None:
    return value if value < len(steps) else None


def class_verdict(run) -> str:
    """One line: your log matches the model, or the first entry where it does not, or why it could not run."""
    if run.problem:
        return f"<b>Your classes:</b> {run.problem}"
    where = run.divergence
    if where is None:
        return f"<b>Your classes:</b> log matches the model ({len(run.observed)} entries)."
    want = run.expected[where] if where < len(run.expected) else "nothing more"
    got = run.observed[where] if where < len(run.observed) else "nothing more"
    return f"<b>Your classes:</b> first divergence at log entry {where}: expected {want}, got {got}."
