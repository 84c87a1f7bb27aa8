"""CQRS: the write model's log and a projection catching up, the read model's lag over time.

The projector wakes every ``catch up every`` seconds and applies at most ``batch`` events. When it
applies fewer per second than are written, the lag grows; once the writes stop it drains to zero. The
sliders change only the projector: the writes are the same seeded stream.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.data.projection_lag import simulate_projection


def projection_figure(run) -> go.Figure:
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08)
    for key, series in _series(run).items():
        figure.add_trace(go.Scatter(name=key, meta=key, mode="lines", line_shape="hv", **series),
                         row=2 if key == "lag" else 1, col=1)
    figure.update_yaxes(title_text="log position", row=1, col=1)
    figure.update_yaxes(title_text="lag (events)", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text="time (s)", row=2, col=1)
    figure.update_layout(title=_title(run), height=480, template="plotly_white",
                         margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return figure


def _series(run) -> dict[str, dict]:
    return {
        "write model (events written)": {"x": run.times, "y": run.head, "line": {"color": "#212121"}},
        "read model (events applied)": {"x": run.times, "y": run.applied, "line": {"color": "#1565c0"}},
        "lag": {"x": run.times, "y": run.lag, "line": {"color": "#ef6c00"}},
    }


def _title(run) -> str:
    done = run.caught_up_at
    rate = run.batch_limit / run.catch_up_every
    caught = f"caught up at t={done:g} s" if done is not None else "not caught up by the end"
    return (f"{len(run.write_times)} writes in {run.duration:g} s; projector applies up to {rate:.1f}/s; "
            f"max lag {max(run.lag)}; {caught}")


def projection_explorer(seed: int = 7, write_rate: float = 5.0) -> widgets.VBox:
    style = {"description_width": "initial"}
    every = widgets.FloatSlider(value=1.0, min=0.2, max=5.0, step=0.2, description="catch up every (s)",
                                continuous_update=False, style=style)
    batch = widgets.IntSlider(value=4, min=1, max=20, description="batch limit", continuous_update=False,
                              style=style)

    def run_now():
        return simulate_projection(seed, write_rate=write_rate, catch_up_every=every.value, batch_limit=batch.value)

    figure = go.FigureWidget(projection_figure(run_now()))

    def redraw(_change=None) -> None:
        run = run_now()
        series = _series(run)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(run)

    every.observe(redraw, names="value")
    batch.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([every, batch]), figure])
