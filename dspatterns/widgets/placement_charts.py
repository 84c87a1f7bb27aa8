"""Figures for the placement studies: load spread against virtual nodes, keys moved on resize, lookup cost.

Each figure answers one question and takes the rows a study in ``dspatterns.scaling.placement_study``
returned, so what is drawn is exactly what was measured (and what the tests check).
"""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.scaling.placement_study import (
    JUMP,
    MODULO,
    RENDEZVOUS,
    RING,
    SCHEMES,
    CostRow,
    ResizeRow,
    SpreadStudy,
)

SCHEME_COLOURS = {RING: "#1f77b4", JUMP: "#2ca02c", RENDEZVOUS: "#9467bd", MODULO: "#d62728"}
KEYS_TRACE = "keys per node (mean of layouts)"
SEEDS_TRACE = "keys per node (each layout)"
SHARE_TRACE = "ring share (infinitely many keys)"
EXPECTED_TRACE = "expected: √((n−1)/(n·v+1)) ≈ 1/√v"
FLOOR_TRACE = "noise of counting the keys alone"
MAX_TRACE = "busiest node / mean"
IDEAL_TRACE = "ideal: 1/(n+1)"
MODULO_EXPECTED_TRACE = "hash % n expected: n/(n+1)"


def load_spread_figure(study: SpreadStudy) -> go.Figure:
    """How uneven is the load, and how fast do virtual nodes even it out? (log-log: a slope of -1/2)"""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "relative standard deviation of keys per node", "the busiest node against the mean"))
    vnodes = [row.vnodes for row in study.rows]
    seeds_x = [row.vnodes for row in study.rows for _ in row.key_spreads]
    seeds_y = [s.relative_std for row in study.rows for s in row.key_spreads]
    figure.add_trace(go.Scatter(name=SEEDS_TRACE, x=seeds_x, y=seeds_y, mode="markers",
                                marker={"color": SCHEME_COLOURS[RING], "size": 5, "opacity": 0.3},
                                hovertemplate="v=%{x}: %{y:.1%}<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(name=KEYS_TRACE, x=vnodes, y=[row.relative_std for row in study.rows],
                                mode="lines+markers", line={"color": SCHEME_COLOURS[RING], "width": 2},
                                hovertemplate="v=%{x}: %{y:.1%}<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(name=SHARE_TRACE, x=vnodes, y=[row.share_relative_std for row in study.rows],
                                mode="lines", line={"color": "#ff7f0e", "width": 2},
                                hovertemplate="v=%{x}: %{y:.1%}<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(name=EXPECTED_TRACE, x=vnodes, y=[row.expected for row in study.rows],
                                mode="lines", line={"color": "#555", "dash": "dash"},
                                hovertemplate="v=%{x}: %{y:.1%}<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(name=FLOOR_TRACE, x=[vnodes[0], vnodes[-1]], y=[study.key_noise_floor] * 2,
                                mode="lines", line={"color": "#999", "dash": "dot"},
                                hovertemplate="√(nodes/keys) = %{y:.1%}<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(name=MAX_TRACE, x=vnodes, y=[row.max_over_mean for row in study.rows],
                                mode="lines+markers", line={"color": "#c62828", "width": 2},
                                hovertemplate="v=%{x}: %{y:.2f}× the mean<extra></extra>"), row=1, col=2)
    figure.update_xaxes(type="log", title_text="virtual nodes per node (v)")
    figure.update_yaxes(type="log", tickformat=".0%", title_text="std / mean", row=1, col=1)
    figure.update_yaxes(title_text="max / mean", row=1, col=2)
    figure.update_layout(template="plotly_white", height=430, margin={"l": 60, "r": 20, "t": 80, "b": 50},
                         title=f"{study.nodes} nodes, {study.keys:,} keys, {len(study.seeds)} ring layouts",
                         legend={"orientation": "h", "y": -0.22})
    return figure


def resize_figure(rows: Sequence[ResizeRow], schemes: Sequence[str] = SCHEMES) -> go.Figure:
    """What fraction of the keys moves when an n-node cluster gets one more node?

    ``schemes`` picks the bars (the sharding section shows only ``hash % n`` against the ring); the
    two expectations are always drawn, as short horizontal marks over each group.
    """
    labels = [f"{row.nodes}→{row.nodes + 1}" for row in rows]
    figure = go.Figure()
    for scheme in schemes:
        figure.add_trace(go.Bar(name=scheme, x=labels, y=[row.moved[scheme] for row in rows],
                                marker_color=SCHEME_COLOURS[scheme],
                                hovertemplate="%{x}: %{y:.1%} moved<extra>" + scheme + "</extra>"))
    figure.add_trace(go.Scatter(name=IDEAL_TRACE, x=labels, y=[row.ideal for row in rows], mode="markers",
                                marker={"symbol": "line-ew-open", "size": 40, "color": "#111", "line": {"width": 2}},
                                hovertemplate="1/(n+1) = %{y:.1%}<extra></extra>"))
    figure.add_trace(go.Scatter(name=MODULO_EXPECTED_TRACE, x=labels, y=[row.modulo_expected for row in rows],
                                mode="markers", marker={"symbol": "line-ew-open", "size": 40, "color": "#c62828",
                                                        "line": {"width": 2}},
                                hovertemplate="n/(n+1) = %{y:.1%}<extra></extra>"))
    figure.update_layout(barmode="group", template="plotly_white", height=420, yaxis_tickformat=".0%",
                         yaxis_title="keys that change node", xaxis_title="nodes before → after",
                         title="Adding one node: what fraction of the keys has to move?",
                         margin={"l": 60, "r": 20, "t": 70, "b": 50})
    return figure


def lookup_cost_figure(rows: Sequence[CostRow]) -> go.Figure:
    """How much work does one lookup take as the cluster grows? (counted, not timed)"""
    nodes = [row.nodes for row in rows]
    figure = go.Figure()
    series = [
        (RING, [row.ring_probes for row in rows], "binary-search probes over n·v points"),
        (JUMP, [row.jump_rounds for row in rows], "rounds of the jump loop"),
        (RENDEZVOUS, [row.rendezvous_hashes for row in rows], "hashes (one per node)"),
    ]
    for scheme, values, what in series:
        figure.add_trace(go.Scatter(name=f"{scheme}: {what}", x=nodes, y=values, mode="lines+markers",
                                    line={"color": SCHEME_COLOURS[scheme], "width": 2},
                                    hovertemplate="n=%{x}: %{y:.1f} per lookup<extra>" + scheme + "</extra>"))
    figure.update_xaxes(type="log", title_text="nodes (n)")
    figure.update_yaxes(type="log", title_text="work per lookup")
    figure.update_layout(template="plotly_white", height=400, title="Work per lookup: log(points), log(n) or n",
                         margin={"l": 60, "r": 20, "t": 70, "b": 50}, legend={"orientation": "h", "y": -0.25})
    return figure
