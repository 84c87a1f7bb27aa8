"""Client-side against server-side discovery: the two shapes drawn, and what one crash costs in each.

``topology_figure`` draws who talks to whom (networkx graphs from ``discovery_topology``, numbered in
the order a request makes its calls). ``failover_explorer`` replays one seeded request stream through
both shapes while ``instance-1`` crashes at 10.3 s (``dspatterns.discovery.discovery_modes``): the two
step lines count the requests that failed so far, the vertical lines mark the crash and the moment the
registry drops the instance, and the ticks along the bottom mark when each client's cached copy (blue)
or the router's copy (orange) lost it. Between the first and the last blue tick the clients disagree.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.discovery.discovery_modes import (
    CLIENT_SIDE,
    MODES,
    SERVER_SIDE,
    compare_modes,
    discovery_topology,
    failover_report,
)

COLOURS = {CLIENT_SIDE: "#1565c0", SERVER_SIDE: "#ef6c00"}
NODE_COLOURS = {"client": "#6a1b9a", "router": "#ef6c00", "registry": "#2e7d32"}
CRASH, REGISTRY_DROP = "crash", "registry drops it"


def failures_trace(mode: str) -> str:
    return f"{mode}: failed requests so far"


def heals_trace(mode: str) -> str:
    return f"{mode}: a copy of the view drops it"


def topology_figure(instances: int = 3) -> go.Figure:
    """The two shapes side by side; each arrow is labelled with its step (0: registration, heartbeats)."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                           subplot_titles=("client-side: the client looks up and picks",
                                           "server-side: a router looks up and picks"))
    for column, mode in enumerate(MODES, start=1):
        graph, positions = discovery_topology(mode, instances)
        edge_x, edge_y, label_x, label_y, labels = [], [], [], [], []
        for a, b, data in graph.edges(data=True):
            (x0, y0), (x1, y1) = positions[a], positions[b]
            edge_x += [x0, x1, None]
            edge_y += [y0, y1, None]
            if data["step"] or a == "instance-0":  # one label for the heartbeats, not one per instance
                label_x.append((x0 + x1) / 2)
                label_y.append((y0 + y1) / 2)
                labels.append(f"{data['step']}. {data['label']}")
            figure.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref=f"x{column}", yref=f"y{column}",
                                  axref=f"x{column}", ayref=f"y{column}", showarrow=True, arrowhead=2,
                                  arrowsize=1.2, standoff=16, startstandoff=16, arrowcolor="#90a4ae", text="")
        figure.add_trace(go.Scatter(name=f"{mode} edges", meta=f"{mode} edges", x=edge_x, y=edge_y, mode="lines",
                                    line={"color": "#cfd8dc", "width": 1}, hoverinfo="skip", showlegend=False),
                         row=1, col=column)
        figure.add_trace(go.Scatter(name=f"{mode} steps", meta=f"{mode} steps", x=label_x, y=label_y, text=labels,
                                    mode="text", textfont={"size": 11}, hoverinfo="skip", showlegend=False),
                         row=1, col=column)
        nodes = list(graph.nodes)
        figure.add_trace(go.Scatter(
            name=f"{mode} nodes", meta=f"{mode} nodes", mode="markers+text", showlegend=False,
            x=[positions[n][0] for n in nodes], y=[positions[n][1] for n in nodes], text=nodes,
            textposition="bottom center", hovertext=nodes, hoverinfo="text",
            marker={"size": 26, "color": [NODE_COLOURS.get(n, "#1565c0") for n in nodes]}), row=1, col=column)
    figure.update_xaxes(visible=False, range=[-0.4, 2.4])
    figure.update_yaxes(visible=False, range=[-0.9, 1.6])
    figure.update_layout(height=380, template="plotly_white", margin={"l": 10, "r": 10, "t": 90, "b": 10},
                         title={"text": "Who asks the registry, and who picks the instance", "font": {"size": 14}})
    return figure


def _series(runs) -> dict[str, dict]:
    client = runs[CLIENT_SIDE]
    top = max(1, *(run.failures for run in runs.values()))
    series = {
        CRASH: {"x": [client.crash_at, client.crash_at], "y": [0, top]},
        REGISTRY_DROP: {"x": [client.registry_drops_at, client.registry_drops_at], "y": [0, top]},
    }
    for mode, run in runs.items():
        times = run.failure_times
        series[failures_trace(mode)] = {"x": [run.crash_at, *times, run.healed_at],
                                        "y": [0, *range(1, len(times) + 1), len(times)]}
        heals = sorted(run.drops_at.values())
        series[heals_trace(mode)] = {"x": heals, "y": [-0.03 * top * (1 if mode == CLIENT_SIDE else 2)] * len(heals)}
    return series


def _title(runs) -> str:
    client, server = runs[CLIENT_SIDE], runs[SERVER_SIDE]
    return (f"One crash: {client.failures} requests fail with client-side caches "
            f"(refreshed every {client.refresh:g} s), {server.failures} behind a router "
            + ("watching the registry" if server.refresh == 0 else f"refreshing every {server.refresh:g} s"))


def failover_figure(runs) -> go.Figure:
    """A plain ``go.Figure`` of ``compare_modes(...)``'s runs (renders without a kernel)."""
    series = _series(runs)
    figure = go.Figure()
    for name, colour in ((CRASH, "#c62828"), (REGISTRY_DROP, "#2e7d32")):
        figure.add_trace(go.Scatter(name=name, meta=name, mode="lines", line={"color": colour, "dash": "dot"},
                                    hovertemplate=name + " at %{x:.2f} s<extra></extra>", **series[name]))
    for mode in MODES:
        figure.add_trace(go.Scatter(name=failures_trace(mode), meta=failures_trace(mode), mode="lines",
                                    line={"color": COLOURS[mode], "shape": "hv", "width": 2},
                                    hovertemplate="%{y} failed by %{x:.2f} s<extra>" + mode + "</extra>",
                                    **series[failures_trace(mode)]))
        figure.add_trace(go.Scatter(name=heals_trace(mode), meta=heals_trace(mode), mode="markers",
                                    marker={"symbol": "line-ns-open", "size": 12, "color": COLOURS[mode]},
                                    hovertemplate="copy updated at %{x:.2f} s<extra>" + mode + "</extra>",
                                    **series[heals_trace(mode)]))
    figure.update_xaxes(title_text="time (s)")
    figure.update_yaxes(title_text="requests failed so far")
    figure.update_layout(title={"text": _title(runs), "font": {"size": 14}}, height=420, template="plotly_white",
                         margin={"l": 60, "r": 20, "t": 60, "b": 50}, legend={"orientation": "h", "y": -0.25})
    return figure


def failover_explorer(*, seed: int = 0) -> widgets.VBox:
    """Sliders for the clients' refresh period, the router's, and the registry's ttl over one figure."""
    style = {"description_width": "initial"}
    client_refresh = widgets.FloatSlider(value=30.0, min=0.0, max=30.0, step=1.0, description="client refresh (s)",
                                         continuous_update=False, style=style)
    router_refresh = widgets.FloatSlider(value=0.0, min=0.0, max=5.0, step=0.5, description="router refresh (s)",
                                         continuous_update=False, style=style)
    ttl = widgets.FloatSlider(value=3.0, min=1.5, max=10.0, step=0.5, description="ttl (s)",
                              continuous_update=False, style=style)

    def state():
        return compare_modes(client_refresh=client_refresh.value, router_refresh=router_refresh.value,
                             ttl=ttl.value, seed=seed)

    runs = state()
    figure = go.FigureWidget(failover_figure(runs))
    summary = widgets.HTML("<br>".join(failover_report(runs).splitlines()))

    def redraw(_change=None) -> None:
        runs = state()
        series = _series(runs)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(runs)
        summary.value = "<br>".join(failover_report(runs).splitlines())

    for control in (client_refresh, router_refresh, ttl):
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([client_refresh, router_refresh, ttl]), figure, summary])
