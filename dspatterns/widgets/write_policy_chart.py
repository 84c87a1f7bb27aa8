"""Write-through against write-behind on the same writes: store load, the writer's wait, and a crash's cost.

The figure answers three questions at once, on one seeded stream of writes. Top: how many writes reach
the store over time (write-through: one per set, on the dotted line of acknowledged sets; write-behind:
steps at each flush, lower because a key set several times between flushes is written once). Bottom
left: write-behind's dirty keys, the acknowledged updates that exist only in the cache's memory, rising
between flushes and dropping to zero at each one; a crash (red line) loses exactly those. Bottom right:
what the writer waits for, per set, on a log scale: the store's latency, or only the cache's.

The figure functions return plain ``go.Figure`` objects (testable as data, drawn without a kernel); the
explorer pours new runs into the traces of its FigureWidget by their ``meta`` keys, in place.
"""
from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.caching.write_policy_model import (
    WRITE_BEHIND,
    WRITE_THROUGH,
    PolicyRun,
    compare_write_policies,
)

SETS_TRACE = "acknowledged sets"
DIRTY_TRACE = "dirty keys (write-behind)"
CRASH_TRACE = "crash"
COLOURS = {WRITE_THROUGH: "#1565c0", WRITE_BEHIND: "#ef6c00", SETS_TRACE: "#212121", CRASH_TRACE: "#c62828"}


def store_trace_key(policy: str) -> str:
    return f"store writes: {policy}"


def latency_trace_key(policy: str) -> str:
    return f"writer latency: {policy}"


def write_policy_figure(through: PolicyRun, behind: PolicyRun) -> go.Figure:
    """Both policies on the same sets (``compare_write_policies`` makes the pair)."""
    _check_pair(through, behind)
    figure = make_subplots(
        rows=2, cols=2, specs=[[{"colspan": 2}, None], [{}, {}]], row_heights=[0.55, 0.45],
        vertical_spacing=0.16, horizontal_spacing=0.1,
        subplot_titles=("Writes reaching the store", "Write-behind: updates only in the cache's memory",
                        "What the writer waits for (per set)"),
    )
    series = _series(through, behind)
    figure.add_trace(go.Scatter(name=SETS_TRACE, meta=SETS_TRACE, mode="lines", line_shape="hv",
                                line={"color": COLOURS[SETS_TRACE], "dash": "dot", "width": 2},
                                hovertemplate="t=%{x:.2f}s: %{y} sets acknowledged<extra></extra>",
                                **series[SETS_TRACE]), row=1, col=1)
    for run in (through, behind):
        figure.add_trace(go.Scatter(name=f"store writes, {run.policy}", meta=store_trace_key(run.policy),
                                    mode="lines", line_shape="hv", line={"color": COLOURS[run.policy], "width": 2},
                                    hovertemplate="t=%{x:.2f}s: %{y} store writes<extra>" + run.policy + "</extra>",
                                    **series[store_trace_key(run.policy)]), row=1, col=1)
    figure.add_trace(go.Scatter(name=DIRTY_TRACE, meta=DIRTY_TRACE, mode="lines", line_shape="hv", fill="tozeroy",
                                line={"color": COLOURS[WRITE_BEHIND], "width": 1},
                                hovertemplate="t=%{x:.2f}s: %{y} dirty keys<extra></extra>", **series[DIRTY_TRACE]),
                     row=2, col=1)
    figure.add_trace(go.Scatter(name=CRASH_TRACE, meta=CRASH_TRACE, mode="lines+text", textposition="top right",
                                line={"color": COLOURS[CRASH_TRACE], "width": 2, "dash": "dash"},
                                hoverinfo="skip", **series[CRASH_TRACE]), row=2, col=1)
    for run in (through, behind):
        figure.add_trace(go.Box(name=run.policy, meta=latency_trace_key(run.policy), marker_color=COLOURS[run.policy],
                                boxpoints=False, showlegend=False, **series[latency_trace_key(run.policy)]),
                         row=2, col=2)
    figure.update_xaxes(title_text="simulated time (s)", range=[0, through.duration], row=1, col=1)
    figure.update_xaxes(title_text="simulated time (s)", range=[0, through.duration], row=2, col=1)
    figure.update_yaxes(title_text="writes so far", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="dirty keys", rangemode="tozero", row=2, col=1)
    figure.update_yaxes(title_text="ms (log scale)", type="log", row=2, col=2)
    figure.update_layout(title=_title(through, behind), height=640, template="plotly_white",
                         margin={"l": 70, "r": 20, "t": 90, "b": 50})
    figure.update_annotations(font_size=14)
    return figure


def write_policy_summary(through: PolicyRun, behind: PolicyRun) -> str:
    """The numbers the figure shows, one HTML line per policy."""
    lines = []
    for run in (through, behind):
        crash = ""
        if run.crash_at is not None:
            crash = (f"; the crash at {run.crash_at:g} s lost <b>{len(run.lost_updates)}</b> acknowledged updates "
                     f"of <b>{len(run.dirty_at_end)}</b> keys")
        lines.append(f"<b>{run.policy}</b>: {len(run.sets):,} sets, <b>{len(run.store_writes):,}</b> store writes "
                     f"({run.coalescing:.1f} sets per store write), writer waits {run.mean_writer_latency() * 1000:.2f} ms "
                     f"on average, p99 {run.writer_latency_quantile(0.99) * 1000:.2f} ms{crash}")
    return "<br>".join(lines)


def coalescing_figure(sweep: dict[float, list[float]], flush_intervals: Sequence[float]) -> go.Figure:
    """Store writes per set against the flush interval, a line per key skew; write-through is 1 everywhere."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(name=WRITE_THROUGH, meta=WRITE_THROUGH, x=list(flush_intervals),
                                y=[1.0] * len(flush_intervals), mode="lines",
                                line={"color": COLOURS[WRITE_THROUGH], "dash": "dot"}))
    for skew, ratios in sweep.items():
        figure.add_trace(go.Scatter(name=f"write-behind, skew {skew:g}", meta=f"skew {skew:g}", x=list(flush_intervals),
                                    y=ratios, mode="lines+markers",
                                    hovertemplate="flush every %{x:g} s: %{y:.0%} of the sets reach the store<extra></extra>"))
    figure.update_layout(title="How much of the write load coalescing removes", height=380, template="plotly_white",
                         xaxis={"title_text": "flush interval (s, log scale)", "type": "log"},
                         yaxis={"title_text": "store writes per set", "tickformat": ".0%", "rangemode": "tozero"},
                         margin={"l": 70, "r": 20, "t": 60, "b": 50})
    return figure


def write_policy_explorer(
    seed: int = 5,
    *,
    write_rate: float = 50.0,
    skew: float = 1.0,
    flush_interval: float = 1.0,
    store_latency_ms: float = 5.0,
    crash_at: float = 12.6,
    duration: float = 20.0,
    keys: int = 50,
) -> widgets.VBox:
    """Sliders for the write rate, the key skew, the flush interval, the store's latency and the crash time.

    The writes are fixed by the seed: the flush interval and the store latency replay the same sets with
    the same latency draws, so a change in the figure comes from the setting moved. A crash time of 0
    means no crash (the run ends with ``close()``).
    """
    style = {"description_width": "initial"}
    rate_slider = widgets.FloatSlider(value=write_rate, min=5, max=200, step=5, description="writes per second",
                                      continuous_update=False, style=style)
    skew_slider = widgets.FloatSlider(value=skew, min=0.0, max=1.6, step=0.1, description="key skew (Zipf)",
                                      continuous_update=False, style=style)
    flush_slider = widgets.FloatSlider(value=flush_interval, min=0.1, max=5.0, step=0.1,
                                       description="flush interval (s)", continuous_update=False, style=style)
    latency_slider = widgets.FloatSlider(value=store_latency_ms, min=0.5, max=50.0, step=0.5,
                                         description="store latency (ms)", continuous_update=False, style=style)
    crash_slider = widgets.FloatSlider(value=crash_at, min=0.0, max=duration, step=0.1,
                                       description="crash at (s, 0: none)", continuous_update=False, style=style)
    seed_box = widgets.IntText(value=seed, description="seed", layout={"width": "150px"})

    def run_now() -> tuple[PolicyRun, PolicyRun]:
        return compare_write_policies(
            seed=seed_box.value, duration=duration, write_rate=rate_slider.value, keys=keys, skew=skew_slider.value,
            flush_interval=flush_slider.value, store_latency=latency_slider.value / 1000,
            crash_at=crash_slider.value or None,
        )

    first = run_now()
    figure = go.FigureWidget(write_policy_figure(*first))
    summary = widgets.HTML(write_policy_summary(*first))

    def redraw(_change=None) -> None:
        through, behind = run_now()
        series = _series(through, behind)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(through, behind)
        summary.value = write_policy_summary(through, behind)

    for control in (rate_slider, skew_slider, flush_slider, latency_slider, crash_slider, seed_box):
        control.observe(redraw, names="value")
    controls = widgets.GridBox([rate_slider, skew_slider, flush_slider, latency_slider, crash_slider, seed_box],
                               layout=widgets.Layout(grid_template_columns="repeat(2, minmax(300px, 1fr))"))
    return widgets.VBox([controls, summary, figure])


def _series(through: PolicyRun, behind: PolicyRun) -> dict[str, dict]:
    """Every trace's data by its ``meta`` key: shared by the static figure and the in-place redraw."""
    series = {SETS_TRACE: _cumulative([op.time for op in behind.sets], through.duration)}
    for run in (through, behind):
        series[store_trace_key(run.policy)] = _cumulative([write.time for write in run.store_writes],
                                                          run.ended_at if run.crash_at is not None else run.duration)
        series[latency_trace_key(run.policy)] = {"y": [latency * 1000 for latency in run.writer_latencies]}
    times = [time for time, _ in behind.dirty_steps]
    values = [value for _, value in behind.dirty_steps]
    series[DIRTY_TRACE] = {"x": times + [behind.ended_at], "y": values + [values[-1]]}
    if behind.crash_at is None:
        series[CRASH_TRACE] = {"x": [], "y": [], "text": [], "visible": False}
    else:
        top = max(values) if values else 1
        label = f"crash: {len(behind.lost_updates)} updates of {len(behind.dirty_at_end)} keys lost"
        series[CRASH_TRACE] = {"x": [behind.crash_at, behind.crash_at], "y": [0, top], "text": ["", label],
                               "visible": True}
    return series


def _cumulative(times: list[float], end: float) -> dict:
    ordered = sorted(times)
    return {"x": [0.0, *ordered, max([end, *ordered])], "y": [0, *range(1, len(ordered) + 1), len(ordered)]}


def _title(through: PolicyRun, behind: PolicyRun) -> str:
    return (f"{through.write_rate:g} writes/s on {through.keys} keys (skew {through.skew:g}), store latency "
            f"{through.store_latency * 1000:g} ms, write-behind flushes every {behind.flush_interval:g} s")


def _check_pair(through: PolicyRun, behind: PolicyRun) -> None:
    if through.policy != WRITE_THROUGH or behind.policy != WRITE_BEHIND:
        raise ValueError("pass the write-through run first, then the write-behind run: use compare_write_policies")
    if through.seed != behind.seed or through.write_rate != behind.write_rate or through.skew != behind.skew:
        raise ValueError("both runs must replay the same writes: use compare_write_policies")
