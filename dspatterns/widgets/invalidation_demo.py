"""Stale reads under four invalidation strategies, on the same requests, and the classic cache-aside race.

``stale_read_figure`` answers "which reads return an old value, and when?": one row per strategy, a
mark per read of one key (grey: a miss that read the database, orange: a hit on an entry that a write
made old and nothing has removed yet, red: a hit on an old value that came back *after* the delete, the
race), with the key's writes marked on top. The fresh hits, most of the reads, are green shading counted
per half second (``fresh_bin``): a minute of reads is some 1,400 of them, and shading instead of a tick
each is what lets the explorer redraw within 200 ms in the browser (``benchmarks/widget_reaction.py``).
The scripted race, a few reads, draws a tick per fresh hit (``fresh_bin=None``). ``stale_counts_figure`` counts the
stale reads of every key by cause. ``race_figure`` draws the scripted race of ``classic_race``, where
one slow reader puts version 1 back after the writer's delete, and versioned keys shrug it off.

The figure functions return plain ``go.Figure`` objects; the explorer updates its FigureWidgets in place
by trace ``meta`` keys.
"""
from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.caching.invalidation import (
    HIT,
    NOT_INVALIDATED,
    REPOPULATED,
    STRATEGIES,
    InvalidationRun,
    ReadResult,
    classic_race,
    compare_strategies,
)

FRESH_HIT, MISS_READ = "fresh hit", "miss (database read)"
STALE_OLD, STALE_RACE = "stale: not yet removed", "stale: came back after the delete"
OUTCOMES = (FRESH_HIT, MISS_READ, STALE_OLD, STALE_RACE)
WRITES_TRACE = "writes of the key"
STYLE = {
    FRESH_HIT: {"symbol": "line-ns-open", "size": 8, "color": "#2e7d32", "line": {"width": 1}},
    MISS_READ: {"symbol": "circle-open", "size": 7, "color": "#757575", "line": {"width": 1}},
    STALE_OLD: {"symbol": "line-ns-open", "size": 14, "color": "#ef6c00", "line": {"width": 2}},
    STALE_RACE: {"symbol": "x-thin-open", "size": 11, "color": "#c62828", "line": {"width": 2}},
}
CAUSE_COLOURS = {NOT_INVALIDATED: "#ef6c00", REPOPULATED: "#c62828"}
FRESH_BIN = 0.5  # seconds: on a workload, fresh hits are shaded by how many fell in each such bin
FRESH_SHADES = [[0.0, "#f1f8e9"], [1.0, "#81c784"]]


def read_category(read: ReadResult) -> str:
    if read.stale:
        return STALE_RACE if read.stale_cause == REPOPULATED else STALE_OLD
    return FRESH_HIT if read.outcome == HIT else MISS_READ


def stale_read_figure(runs: Sequence[InvalidationRun], *, key: str = "k0", title: str | None = None,
                      fresh_bin: float | None = FRESH_BIN) -> go.Figure:
    """A row per strategy with every read of ``key``; the runs must replay the same requests.

    ``fresh_bin``: shade the fresh hits by their count per bin of that many seconds (None: a tick each).
    """
    _check_same_requests(runs)
    figure = go.Figure()
    series = _timeline_series(runs, key, fresh_bin)
    for outcome in OUTCOMES:
        if outcome == FRESH_HIT and fresh_bin is not None:
            figure.add_trace(go.Heatmap(
                name=f"{FRESH_HIT}s (shaded by count per {fresh_bin:g} s)", meta=FRESH_HIT, showlegend=True,
                colorscale=FRESH_SHADES, showscale=False, zmin=0, xgap=1,
                hovertemplate="%{text}<extra>" + FRESH_HIT + "s</extra>", **series[FRESH_HIT]))
            continue
        figure.add_trace(go.Scatter(name=outcome, meta=outcome, mode="markers", marker=STYLE[outcome],
                                    hovertemplate="%{text}<extra>" + outcome + "</extra>", **series[outcome]))
    figure.add_trace(go.Scatter(name=WRITES_TRACE, meta=WRITES_TRACE, mode="markers",
                                marker={"symbol": "triangle-down", "size": 10, "color": "#212121"},
                                hovertemplate="t=%{x:.2f}s: a write<extra></extra>", **series[WRITES_TRACE]))
    figure.update_layout(
        title=title or _timeline_title(runs, key), height=120 + 70 * (len(runs) + 1), template="plotly_white",
        xaxis={"title_text": "simulated time (s)", "range": [0, runs[0].duration]},
        yaxis=_row_axis(runs), margin={"l": 150, "r": 20, "t": 60, "b": 50},
    )
    return figure


def stale_counts_figure(runs: Sequence[InvalidationRun]) -> go.Figure:
    """Stale reads of every key, stacked by cause, one bar per strategy."""
    figure = go.Figure()
    series = _count_series(runs)
    for cause in (NOT_INVALIDATED, REPOPULATED):
        figure.add_trace(go.Bar(name=cause, meta=cause, marker_color=CAUSE_COLOURS[cause],
                                hovertemplate="%{x}: %{y} stale reads<extra>" + cause + "</extra>", **series[cause]))
    figure.update_layout(title="Stale reads, all keys", barmode="stack", height=340, template="plotly_white",
                         yaxis={"title_text": "stale reads", "rangemode": "tozero"},
                         margin={"l": 70, "r": 20, "t": 60, "b": 40})
    return figure


def invalidation_summary(runs: Sequence[InvalidationRun]) -> str:
    lines = []
    for run in runs:
        causes = run.stale_by_cause()
        versions = f", {run.version_reads:,} version reads" if run.version_reads else ""
        lines.append(f"<b>{run.strategy}</b>: <b>{run.stale_reads:,}</b> stale reads of {len(run.reads):,} "
                     f"({causes[NOT_INVALIDATED]:,} not yet removed, {causes[REPOPULATED]:,} came back after the delete); "
                     f"{run.db_reads:,} database reads{versions}")
    return "<br>".join(lines)


def race_figure(strategies: Sequence[str] = STRATEGIES, *, ttl: float = 6.0, pause: float = 2.0) -> go.Figure:
    """The scripted race of ``classic_race`` under each strategy, with its three moments marked."""
    runs = [classic_race(strategy, ttl=ttl, pause=pause) for strategy in strategies]
    figure = stale_read_figure(runs, key="k", fresh_bin=None, title=(
        f"The cache-aside race: reader A misses at 1.0 s, the write commits at 1.5 s, A stores version 1 "
        f"at {1.0 + pause:g} s; ttl {ttl:g} s"))
    for time, text in ((1.0, "A misses, reads v1"), (1.5, "write v2, delete"), (1.0 + pause, "A stores v1")):
        figure.add_vline(x=time, line={"color": "#9e9e9e", "dash": "dot", "width": 1})
        figure.add_annotation(x=time, y=1.02, yref="paper", text=text, showarrow=False, yanchor="bottom",
                              font={"size": 11})
    figure.update_layout(margin={"t": 100})
    return figure


def invalidation_explorer(
    seed: int = 3,
    *,
    ttl: float = 10.0,
    write_rate: float = 2.0,
    slow_share: float = 0.1,
    slow_load_time: float = 1.0,
    delete_gap_ms: float = 50.0,
    duration: float = 60.0,
) -> widgets.VBox:
    """Sliders for the ttl, the write rate, the share and pause of slow readers, and the delete's delay.

    Every strategy replays the same requests (fixed by the seed), so the rows differ only by strategy.
    """
    style = {"description_width": "initial"}
    ttl_slider = widgets.FloatSlider(value=ttl, min=0.5, max=30.0, step=0.5, description="ttl (s)",
                                     continuous_update=False, style=style)
    write_slider = widgets.FloatSlider(value=write_rate, min=0.0, max=10.0, step=0.5, description="writes per second",
                                       continuous_update=False, style=style)
    slow_slider = widgets.FloatSlider(value=slow_share, min=0.0, max=0.5, step=0.01, description="slow readers (share)",
                                      continuous_update=False, style=style, readout_format=".0%")
    pause_slider = widgets.FloatSlider(value=slow_load_time, min=0.05, max=5.0, step=0.05,
                                       description="slow reader's pause (s)", continuous_update=False, style=style)
    gap_slider = widgets.FloatSlider(value=delete_gap_ms, min=0.0, max=500.0, step=5.0,
                                     description="delete ↔ commit gap (ms)", continuous_update=False, style=style)
    seed_box = widgets.IntText(value=seed, description="seed", layout={"width": "150px"})

    def run_now() -> tuple[InvalidationRun, ...]:
        return compare_strategies(seed=seed_box.value, duration=duration, ttl=ttl_slider.value,
                                  write_rate=write_slider.value, slow_share=slow_slider.value,
                                  slow_load_time=pause_slider.value, delete_gap=gap_slider.value / 1000)

    first = run_now()
    timeline = go.FigureWidget(stale_read_figure(first))
    counts = go.FigureWidget(stale_counts_figure(first))
    summary = widgets.HTML(invalidation_summary(first))

    def redraw(_change=None) -> None:
        runs = run_now()
        series, count_series = _timeline_series(runs, "k0"), _count_series(runs)
        with timeline.batch_update():
            for trace in timeline.data:
                trace.update(series[trace.meta])
            timeline.layout.title.text = _timeline_title(runs, "k0")
        with counts.batch_update():
            for trace in counts.data:
                trace.update(count_series[trace.meta])
        summary.value = invalidation_summary(runs)

    for control in (ttl_slider, write_slider, slow_slider, pause_slider, gap_slider, seed_box):
        control.observe(redraw, names="value")
    controls = widgets.GridBox([ttl_slider, write_slider, slow_slider, pause_slider, gap_slider, seed_box],
                               layout=widgets.Layout(grid_template_columns="repeat(2, minmax(300px, 1fr))"))
    return widgets.VBox([controls, summary, timeline, counts])


def _timeline_series(runs: Sequence[InvalidationRun], key: str, fresh_bin: float | None = FRESH_BIN
                     ) -> dict[str, dict]:
    series = {outcome: {"x": [], "y": [], "text": []} for outcome in OUTCOMES}
    if fresh_bin is not None:
        series[FRESH_HIT] = _fresh_shading(runs, key, fresh_bin)
    for row, run in enumerate(runs, start=1):
        for read in run.reads:
            if read.key != key or (fresh_bin is not None and read_category(read) == FRESH_HIT):
                continue
            data = series[read_category(read)]
            data["x"].append(read.time)
            data["y"].append(row)
            data["text"].append(f"t={read.time:.2f}s {run.strategy}: {read.outcome}, got v{read.version}, "
                                f"database had v{read.committed}" + (" (slow reader)" if read.slow else ""))
    writes = [write.time for write in runs[0].writes if write.key == key]
    series[WRITES_TRACE] = {"x": writes, "y": [0] * len(writes)}
    return series


def _fresh_shading(runs: Sequence[InvalidationRun], key: str, width: float) -> dict:
    """Fresh hits of ``key`` per strategy row and bin of ``width`` seconds, as a heatmap (None: none)."""
    bins = max(1, round(runs[0].duration / width))
    counts = [[0] * bins for _ in runs]
    for row, run in enumerate(runs):
        for read in run.reads:
            if read.key == key and read_category(read) == FRESH_HIT:
                counts[row][min(int(read.time // width), bins - 1)] += 1
    starts = [i * width for i in range(bins)]
    return {
        "x": [start + width / 2 for start in starts], "y": list(range(1, len(runs) + 1)),
        "z": [[n or None for n in row] for row in counts],
        "text": [[f"{run.strategy}: {n} fresh hit{'s' * (n != 1)}, t={start:g}-{start + width:g} s"
                  for n, start in zip(row, starts)] for run, row in zip(runs, counts)],
    }


def _count_series(runs: Sequence[InvalidationRun]) -> dict[str, dict]:
    names = [run.strategy for run in runs]
    return {cause: {"x": names, "y": [run.stale_by_cause()[cause] for run in runs]}
            for cause in (NOT_INVALIDATED, REPOPULATED)}


def _row_axis(runs: Sequence[InvalidationRun]) -> dict:
    labels = ["writes", *(run.strategy for run in runs)]
    return {"tickvals": list(range(len(labels))), "ticktext": labels, "range": [len(labels) - 0.5, -0.5],
            "fixedrange": True}


def _timeline_title(runs: Sequence[InvalidationRun], key: str) -> str:
    return (f"Reads of {key} under each strategy: ttl {runs[0].ttl:g} s, delete ↔ commit gap "
            f"{runs[0].delete_gap * 1000:g} ms")


def _check_same_requests(runs: Sequence[InvalidationRun]) -> None:
    if not runs:
        raise ValueError("pass at least one run")
    first = runs[0]
    for run in runs[1:]:
        if run.writes != first.writes or [r.time for r in run.reads] != [r.time for r in first.reads]:
            raise ValueError("every run must replay the same requests: use compare_strategies")
