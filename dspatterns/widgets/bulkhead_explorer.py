"""Shared pool versus bulkheads, side by side: does the healthy service keep serving while the other hangs?

Both panels replay the same traffic; the top one sends it through one shared pool, the bottom one
through a bulkhead per service. Each line is a service's completed calls per second; the shaded span
is when payments hangs. The explorer re-runs both and pours the new numbers into the same
FigureWidget, so you can watch the gap open and close as you change the pool or the timeout.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.resilience.bulkhead_simulation import (
    HEALTHY,
    SERVED,
    SERVICES,
    SICK,
    PoolRun,
    compare_pools,
)

SERVICE_COLOURS = {HEALTHY: "#2e7d32", SICK: "#c62828"}
PANELS = ("shared", "bulkheads")


def bulkhead_figure(shared: PoolRun, split: PoolRun) -> go.Figure:
    """Two stacked panels (shared pool, then bulkheads), one line per service: calls completed per second."""
    if shared.bulkheads or not split.bulkheads:
        raise ValueError("pass the shared-pool run first and the bulkhead run second")
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
        subplot_titles=(_panel_title(shared), _panel_title(split)),
    )
    series = _series(shared, split)
    for row, panel in enumerate(PANELS, start=1):
        for service in SERVICES:
            figure.add_trace(go.Scatter(
                name=service, meta=_trace_name(panel, service), legendgroup=service, showlegend=row == 1,
                mode="lines", line={"color": SERVICE_COLOURS[service], "width": 2, "shape": "hv"},
                hovertemplate="%{y:.0f} calls/s from t=%{x:.0f} s<extra>" + service + "</extra>",
                **series[_trace_name(panel, service)],
            ), row=row, col=1)
        start, end = shared.slow_window
        label = {"annotation_text": "payments hangs", "annotation_position": "top left"} if row == 1 else {}
        figure.add_vrect(
            x0=start, x1=end, fillcolor="rgba(198, 40, 40, 0.08)", line_width=0, row=row, col=1, **label,
        )
        figure.update_yaxes(title_text="calls served / s", range=[0, _top(series)], row=row, col=1)
    figure.update_xaxes(range=[0, shared.duration], row=1, col=1)
    figure.update_xaxes(range=[0, shared.duration], title_text="simulated time (s)", row=2, col=1)
    figure.update_layout(
        title=_title(shared), height=520, template="plotly_white", legend={"title_text": "service"},
        margin={"l": 60, "r": 20, "t": 90, "b": 50},
    )
    return figure


def bulkhead_explorer(
    seed: int = 3, *, pool_size: int = 10, sick_slots: int | None = None, timeout: float = 3.0, rate: float = 15.0,
) -> widgets.VBox:
    """Sliders for the pool, the split and the timeout over one FigureWidget that is redrawn in place."""
    style = {"description_width": "initial"}
    pool = widgets.IntSlider(value=pool_size, min=2, max=40, description="pool size",
                             continuous_update=False, style=style)
    split = widgets.IntSlider(value=sick_slots if sick_slots is not None else pool_size // 2, min=1,
                              max=pool_size - 1, description="payments' slots",
                              continuous_update=False, style=style)
    hang = widgets.FloatSlider(value=timeout, min=0.2, max=10.0, step=0.2, description="timeout (s)",
                               continuous_update=False, style=style)
    load = widgets.FloatSlider(value=rate, min=1.0, max=40.0, step=1.0, description="calls/s each",
                               continuous_update=False, style=style)

    def run_now() -> tuple[PoolRun, PoolRun]:
        return compare_pools(seed=seed, pool_size=pool.value, sick_slots=split.value, timeout=hang.value,
                             rate=load.value)

    figure = go.FigureWidget(bulkhead_figure(*run_now()))
    summary = widgets.HTML(_summary(*run_now()))

    def redraw(_change=None) -> None:
        split.max = pool.value - 1  # clamps split.value too, which triggers one more (harmless) redraw
        shared, isolated = run_now()
        series = _series(shared, isolated)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.annotations[0].text = _panel_title(shared)
            figure.layout.annotations[1].text = _panel_title(isolated)
            figure.layout.title.text = _title(shared)
            figure.layout.yaxis.range = figure.layout.yaxis2.range = [0, _top(series)]
        summary.value = _summary(shared, isolated)

    for control in (pool, split, hang, load):
        control.observe(redraw, names="value")
    controls = widgets.GridBox(
        [pool, split, hang, load], layout=widgets.Layout(grid_template_columns="repeat(2, minmax(280px, 1fr))"),
    )
    return widgets.VBox([controls, summary, figure])


def _series(shared: PoolRun, split: PoolRun) -> dict[str, dict[str, list]]:
    series = {}
    for panel, run in zip(PANELS, (shared, split)):
        for service in SERVICES:
            x, y = run.served_per_second(service)
            series[_trace_name(panel, service)] = {"x": x + [run.duration], "y": y + y[-1:]}
    return series


def _top(series: dict[str, dict[str, list]]) -> float:
    """One y scale for both panels, so that the heights of their lines compare."""
    return 1.1 * max((max(s["y"], default=0.0) for s in series.values()), default=0.0) or 1.0


def _trace_name(panel: str, service: str) -> str:
    return f"{service} ({panel})"


def _panel_title(run: PoolRun) -> str:
    start, end = run.slow_window
    served = run.count(HEALTHY, SERVED, start, end)
    arrived = sum(r.service == HEALTHY and start <= r.arrival < end for r in run.requests)
    share = served / arrived if arrived else 1.0
    return f"{_short_label(run)}: catalog served {share:.0%} while payments hung"


def _short_label(run: PoolRun) -> str:
    if not run.bulkheads:
        return f"one shared pool of {run.pool_sizes['shared']}"
    return f"bulkheads of {run.pool_sizes[HEALTHY]} + {run.pool_sizes[SICK]}"


def _title(run: PoolRun) -> str:
    return f"Payments hangs for {run.slow_window[1] - run.slow_window[0]:g} s (calls time out after {run.timeout:g} s)"


def _summary(shared: PoolRun, split: PoolRun) -> str:
    start, end = shared.slow_window
    parts = []
    for run in (shared, split):
        served = run.count(HEALTHY, SERVED, start, end)
        parts.append(f"{_short_label(run)}: <b>{served:,}</b> catalog calls served")
    return "While payments hangs: " + "; ".join(parts) + "."
