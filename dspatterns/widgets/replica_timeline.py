"""Read replicas over time: how far behind each replica is, who served each read, and who carried the load.

The timeline answers "what does replication lag do to reads?". Its top panel is the lag counted in
writes: how many writes the primary has that each replica has not applied yet (on average the write
rate times the lag), with every write marked. Below it, the same reads under two policies side by side,
one row per server: an orange tick per read that returned an older value than the primary holds, a red
cross when the value was older than the session's *own* last write, and the fresh reads as green shading,
counted per half second (the fresh reads are most of them, and shading 900 of them rather than drawing a
tick each is what lets the explorer redraw within 200 ms in the browser: ``benchmarks/widget_reaction.py``). The bar chart beside it is the
read share: how much of the read traffic each server carried under each policy.

The figure functions return plain ``go.Figure`` objects, so they render without a live kernel and can be
tested as data. The explorer re-runs the simulation and pours the new numbers into the traces of its
existing FigureWidgets, so the plots update in place instead of piling up.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.scaling.replication import (
    ANY_REPLICA,
    MONOTONIC_SESSIONS,
    PRIMARY,
    READ_YOUR_WRITES,
    Read,
    ReplicationRun,
    compare_policies,
    replica_name,
)

MAX_REPLICAS = 5  # the explorer's slider goes this far; the figures draw any number
WRITES_TRACE = "writes on the primary"
EVEN_SHARE_TRACE = "an even split over the replicas"
FRESH, STALE, MISSED_OWN = "fresh read", "stale read", "stale: missed the session's own write"
READ_OUTCOMES = (FRESH, STALE, MISSED_OWN)
OUTCOME_STYLE = {
    STALE: {"symbol": "line-ns-open", "size": 14, "color": "#ef6c00", "line": {"width": 2}},
    MISSED_OWN: {"symbol": "x-thin-open", "size": 11, "color": "#c62828", "line": {"width": 2}},
}
REPLICA_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#9e9d24", "#5d4037")
POLICY_COLOURS = {ANY_REPLICA: "#90a4ae", READ_YOUR_WRITES: "#1565c0", MONOTONIC_SESSIONS: "#6a1b9a"}
PANELS = ("left", "right")
FRESH_BIN = 0.5  # seconds: the fresh reads are shaded by how many a server served in each such bin
FRESH_SHADES = [[0.0, "#f1f8e9"], [1.0, "#81c784"]]


def replica_timeline_figure(left: ReplicationRun, right: ReplicationRun, *, title: str | None = None) -> go.Figure:
    """The backlog of every replica on top, then each run's reads per server, side by side.

    Both runs must replay the same workload on the same replicas (``compare_policies`` makes such a
    pair): the top panel is drawn once because replication does not depend on how reads are routed.
    """
    _check_pair(left, right)
    figure = make_subplots(
        rows=2, cols=2, shared_xaxes=True, row_heights=[0.4, 0.6], vertical_spacing=0.14,
        horizontal_spacing=0.04, specs=[[{"colspan": 2}, None], [{}, {}]],
        subplot_titles=(_backlog_title(left), _panel_title(left), _panel_title(right)),
    )
    series = _timeline_series(left, right)
    for index in range(max(MAX_REPLICAS, len(left.replica_lags))):
        name = replica_name(index)
        figure.add_trace(go.Scatter(
            name=name, meta=_backlog_key(index), mode="lines", line_shape="hv", legendgroup="backlog",
            legendgrouptitle_text="writes not yet applied",
            line={"color": REPLICA_COLOURS[index % len(REPLICA_COLOURS)], "width": 2},
            hovertemplate="t=%{x:.2f}s: %{y} writes behind<extra>" + name + "</extra>",
            **series[_backlog_key(index)],
        ), row=1, col=1)
    figure.add_trace(go.Scatter(
        name=WRITES_TRACE, meta=WRITES_TRACE, mode="markers", legendgroup="backlog",
        marker={"symbol": "triangle-up", "size": 8, "color": "#212121"},
        hovertemplate="%{text}<extra>write</extra>", **series[WRITES_TRACE],
    ), row=1, col=1)
    for column, panel in enumerate(PANELS, start=1):
        figure.add_trace(go.Heatmap(
            name=f"{FRESH}s (shaded by count per {FRESH_BIN:g} s)", meta=_read_key(panel, FRESH),
            legendgroup=FRESH, showlegend=column == 1, colorscale=FRESH_SHADES, showscale=False, zmin=0,
            xgap=1, hovertemplate="%{text}<extra>" + FRESH + "s</extra>", **series[_read_key(panel, FRESH)],
        ), row=2, col=column)
        for outcome in (STALE, MISSED_OWN):
            figure.add_trace(go.Scatter(
                name=outcome, meta=_read_key(panel, outcome), mode="markers", legendgroup=outcome,
                legendgrouptitle_text="stale reads" if outcome == STALE else None, showlegend=column == 1,
                marker=OUTCOME_STYLE[outcome], hovertemplate="%{text}<extra>" + outcome + "</extra>",
                **series[_read_key(panel, outcome)],
            ), row=2, col=column)
    figure.update_yaxes(title_text="writes behind", rangemode="tozero", row=1, col=1)
    for column in (1, 2):
        figure.update_yaxes(**_server_axis(left), showticklabels=column == 1, row=2, col=column)
        figure.update_xaxes(range=[0, left.duration], title_text="simulated time (s)", row=2, col=column)
    figure.update_xaxes(range=[0, left.duration], row=1, col=1)
    figure.update_layout(
        title=title or _title(left), height=620, template="plotly_white",
        margin={"l": 70, "r": 20, "t": 90, "b": 50}, legend={"groupclick": "toggleitem"},
    )
    figure.update_annotations(font_size=14)
    return figure


def read_share_figure(runs: tuple[ReplicationRun, ...] | list[ReplicationRun]) -> go.Figure:
    """Bars of each server's share of the reads, one colour per policy, and the even split to compare with."""
    if not runs:
        raise ValueError("pass at least one run")
    series = _share_series(runs)
    figure = go.Figure()
    for run in runs:
        figure.add_trace(go.Bar(
            name=run.policy, meta=run.policy, marker_color=POLICY_COLOURS.get(run.policy, "#455a64"),
            hovertemplate="%{x}: %{y:.1%} of the reads<extra>" + run.policy + "</extra>", **series[run.policy],
        ))
    figure.add_trace(go.Scatter(
        name=EVEN_SHARE_TRACE, meta=EVEN_SHARE_TRACE, mode="lines+markers",
        line={"color": "#212121", "dash": "dot", "width": 1}, marker={"symbol": "line-ew-open", "size": 16},
        hovertemplate="1/%{customdata} = %{y:.1%}<extra>even split</extra>", **series[EVEN_SHARE_TRACE],
    ))
    figure.update_layout(
        title="Who serves the reads?", barmode="group", height=360, template="plotly_white",
        yaxis={"title_text": "share of all reads", "tickformat": ".0%", "rangemode": "tozero"},
        margin={"l": 70, "r": 20, "t": 60, "b": 40}, legend={"title_text": "policy"},
    )
    return figure


def replica_summary(runs: tuple[ReplicationRun, ...] | list[ReplicationRun]) -> str:
    """One HTML line per run with the counts the figures show: stale reads, own writes missed, primary share."""
    lines = []
    for run in runs:
        total = len(run.reads)
        primary = run.reads_by_server()[PRIMARY]
        lines.append(
            f"<b>{run.policy}</b>: {total:,} reads, <b>{run.stale_reads:,}</b> stale "
            f"({run.stale_reads / max(total, 1):.0%}), <b>{run.missed_own_writes:,}</b> missed the session's "
            f"own write, <b>{run.went_back:,}</b> went back in time; the primary served "
            f"<b>{primary:,}</b> ({primary / max(total, 1):.0%})."
        )
    return "<br>".join(lines)


def replica_explorer(
    seed: int = 11,
    *,
    lag: float = 1.0,
    replicas: int = 3,
    write_rate: float = 2.0,
    read_rate: float = 20.0,
    duration: float = 30.0,
    lag_spread: float = 0.5,
    jitter: float = 0.3,
) -> widgets.VBox:
    """Sliders for the lag, the replicas and the write rate over two FigureWidgets redrawn in place.

    The left panel always lets any replica answer; the toggle picks the session policy on the right.
    The workload is fixed by the seed ("new traffic" draws another), so a slider changes only what it
    names: the lag and the number of replicas replay exactly the same requests.
    """
    style = {"description_width": "initial"}
    lag_slider = widgets.FloatSlider(value=lag, min=0.0, max=5.0, step=0.1, description="replication lag (s)",
                                     continuous_update=False, style=style)
    replica_slider = widgets.IntSlider(value=replicas, min=1, max=MAX_REPLICAS, description="replicas",
                                       continuous_update=False, style=style)
    write_slider = widgets.FloatSlider(value=write_rate, min=0.5, max=10.0, step=0.5,
                                       description="writes per second", continuous_update=False, style=style)
    policy_toggle = widgets.ToggleButtons(options=[READ_YOUR_WRITES, MONOTONIC_SESSIONS], value=READ_YOUR_WRITES,
                                          description="session policy", style=style)
    seed_box = widgets.IntText(value=seed, description="seed", layout={"width": "150px"})
    new_traffic = widgets.Button(description="new traffic", icon="refresh", layout={"width": "120px"})

    def run_now() -> tuple[ReplicationRun, ReplicationRun]:
        return compare_policies(
            (ANY_REPLICA, policy_toggle.value), seed=seed_box.value, lag=lag_slider.value,
            replicas=replica_slider.value, write_rate=write_slider.value, read_rate=read_rate,
            duration=duration, lag_spread=lag_spread, jitter=jitter,
        )

    first = run_now()
    timeline = go.FigureWidget(replica_timeline_figure(*first))
    shares = go.FigureWidget(read_share_figure(first))
    summary = widgets.HTML(replica_summary(first))

    def redraw(_change=None) -> None:
        left, right = run_now()
        series = _timeline_series(left, right)
        with timeline.batch_update():
            for trace in timeline.data:
                trace.update(series[trace.meta])
            titles = (_backlog_title(left), _panel_title(left), _panel_title(right))
            for annotation, text in zip(timeline.layout.annotations, titles):
                annotation.text = text
            timeline.layout.title.text = _title(left)
            timeline.layout.yaxis2.update(_server_axis(left))
            timeline.layout.yaxis3.update(_server_axis(left))
        share_series = _share_series((left, right))
        with shares.batch_update():
            shares.data[0].update(share_series[left.policy])
            shares.data[1].update(name=right.policy, meta=right.policy,
                                  marker_color=POLICY_COLOURS[right.policy], **share_series[right.policy])
            shares.data[2].update(share_series[EVEN_SHARE_TRACE])
        summary.value = replica_summary((left, right))

    for control in (lag_slider, replica_slider, write_slider, policy_toggle, seed_box):
        control.observe(redraw, names="value")
    new_traffic.on_click(lambda _button: setattr(seed_box, "value", seed_box.value + 1))

    controls = widgets.GridBox(
        [lag_slider, replica_slider, write_slider, policy_toggle],
        layout=widgets.Layout(grid_template_columns="repeat(2, minmax(300px, 1fr))"),
    )
    return widgets.VBox([controls, widgets.HBox([seed_box, new_traffic]), summary, timeline, shares])


def read_outcome(read: Read) -> str:
    """The category a read is drawn in: a missed own write is the worst kind of stale read."""
    if read.missed_own_write:
        return MISSED_OWN
    return STALE if read.stale else FRESH


def _timeline_series(left: ReplicationRun, right: ReplicationRun) -> dict[str, dict]:
    """Every trace's data by its ``meta`` key: shared by the static figure and the in-place redraw."""
    series: dict[str, dict] = {}
    for index in range(max(MAX_REPLICAS, len(left.replica_lags))):
        if index < len(left.replica_lags):
            times, backlog = left.backlog(index)
            series[_backlog_key(index)] = {"x": times, "y": backlog, "visible": True}
        else:
            series[_backlog_key(index)] = {"x": [], "y": [], "visible": False}
    series[WRITES_TRACE] = {
        "x": [write.time for write in left.writes], "y": [0] * len(left.writes),
        "text": [f"t={w.time:.2f}s, position {w.position}: {w.value} by session {w.session}" for w in left.writes],
    }
    rows = {server: row for row, server in enumerate(left.servers)}
    for panel, run in zip(PANELS, (left, right)):
        series[_read_key(panel, FRESH)] = _fresh_shading(run, rows)
        for outcome in (STALE, MISSED_OWN):
            reads = [read for read in run.reads if read_outcome(read) == outcome]
            series[_read_key(panel, outcome)] = {
                "x": [read.time for read in reads], "y": [rows[read.server] for read in reads],
                "text": [_read_hover(read, run) for read in reads],
            }
    return series


def _fresh_shading(run: ReplicationRun, rows: dict[str, int]) -> dict:
    """The fresh reads per server and bin of ``FRESH_BIN`` seconds, as a heatmap's z (None: no fresh read)."""
    bins = max(1, round(run.duration / FRESH_BIN))
    counts = [[0] * bins for _ in rows]
    for read in run.reads:
        if read_outcome(read) == FRESH:
            counts[rows[read.server]][min(int(read.time // FRESH_BIN), bins - 1)] += 1
    starts = [i * FRESH_BIN for i in range(bins)]
    return {
        "x": [start + FRESH_BIN / 2 for start in starts], "y": list(range(len(rows))),
        "z": [[n or None for n in row] for row in counts],
        "text": [[f"{n} fresh read{'s' * (n != 1)} from {server}, t={start:g}-{start + FRESH_BIN:g} s"
                  for n, start in zip(row, starts)] for server, row in zip(rows, counts)],
    }


def _share_series(runs) -> dict[str, dict]:
    series = {}
    for run in runs:
        share = run.read_share()
        series[run.policy] = {"x": list(share), "y": list(share.values())}
    replicas = len(runs[0].replica_lags)
    names = [replica_name(index) for index in range(replicas)]
    series[EVEN_SHARE_TRACE] = {"x": names, "y": [1.0 / replicas] * replicas, "customdata": [replicas] * replicas}
    return series


def _read_hover(read: Read, run: ReplicationRun) -> str:
    returned = read.value if read.value is not None else "nothing (absent)"
    latest = run.writes[read.latest - 1].value if read.latest else "absent"
    return (f"t={read.time:.2f}s, session {read.session} read {read.key} from {read.server}: {returned}"
            f" (primary: {latest}; server at position {read.applied}, asked for {read.min_position})")


def _server_axis(run: ReplicationRun) -> dict:
    servers = run.servers
    return {"tickvals": list(range(len(servers))), "ticktext": list(servers),
            "range": [len(servers) - 0.5, -0.5], "fixedrange": True}


def _check_pair(left: ReplicationRun, right: ReplicationRun) -> None:
    if left.writes != right.writes or left.replica_lags != right.replica_lags or left.apply_times != right.apply_times:
        raise ValueError("both runs must replay the same workload on the same replicas: use compare_policies")


def _backlog_key(index: int) -> str:
    return f"backlog of {replica_name(index)}"


def _read_key(panel: str, outcome: str) -> str:
    return f"{panel}: {outcome}"


def _backlog_title(run: ReplicationRun) -> str:
    """Little's law with the rate this run actually drew (Poisson writes stray from the nominal rate),
    so the title agrees with the curve under it and with the prose that reads the curve."""
    rate = len(run.writes) / run.duration
    return (f"Replication lag counted in writes: {len(run.writes)} writes in {run.duration:g} s = "
            f"{rate:.1f} writes/s × {run.lag:g} s ≈ {rate * run.lag:.1f} writes behind on average (replica 0)")


def _panel_title(run: ReplicationRun) -> str:
    total = len(run.reads)
    primary = run.reads_by_server()[PRIMARY]
    return (f"{run.policy}: {run.stale_reads / max(total, 1):.0%} stale, "
            f"primary serves {primary / max(total, 1):.0%}")


def _title(run: ReplicationRun) -> str:
    lags = ", ".join(f"{lag:g}" for lag in run.replica_lags)
    return (f"{len(run.replica_lags)} replicas lagging {lags} s on average; "
            f"{run.write_rate:g} writes/s and {run.read_rate:g} reads/s")
