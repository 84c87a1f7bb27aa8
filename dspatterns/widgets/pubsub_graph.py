"""Fan-out as a graph: which topic reached which pattern, and so which subscriber, in one real run.

The question: "who gets a message published on this topic, and does one broken subscriber stop the
rest?". Four columns, left to right: the publisher, the topics it published on, the subscribed
patterns, the subscribers. A topic-to-pattern edge is drawn only where a message on that topic really
reached a subscription to that pattern in the run (Redis pub/sub on a real server, or your ``Broker``),
never where some matcher says it should. The subscriber whose handler raises is drawn red; the others'
message counts show it took nothing from them.

``pattern_contrast_html`` is the table beside it: the same pattern and topic under Redis's glob and
under the exercise's dotted rules.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import networkx as nx
import plotly.graph_objects as go

from dspatterns.communication.pubsub_patterns import (
    BROKER_SUBSCRIPTIONS,
    DEFAULT_FAILING,
    REDIS_SUBSCRIPTIONS,
    TOPICS,
    ContrastRow,
    FanoutRun,
    broker_run,
    redis_fanout_run,
)

PUBLISHER = "publisher"
REDIS = "Redis pub/sub"
YOURS = "your Broker"
NOBODY = "nobody"
LAYERS = {"publisher": 0, "topic": 1, "pattern": 2, "subscriber": 3}


def match_trace(topic: str, pattern: str) -> str:
    return f"match {topic} -> {pattern}"


def fanout_graph(run: FanoutRun) -> nx.DiGraph:
    """Nodes are ``(kind, name)``; edges publisher -> topic -> pattern -> subscriber, as the run went."""
    graph = nx.DiGraph()
    graph.add_node(("publisher", PUBLISHER), layer=LAYERS["publisher"])
    for topic, _, count in run.published:
        graph.add_node(("topic", topic), layer=LAYERS["topic"], receivers=count)
        graph.add_edge(("publisher", PUBLISHER), ("topic", topic))
    for subscriber, pattern in run.subscriptions:
        graph.add_node(("pattern", pattern), layer=LAYERS["pattern"])
        graph.add_node(("subscriber", subscriber), layer=LAYERS["subscriber"],
                       received=len(run.received_by(subscriber)), failing=subscriber == run.failing)
        graph.add_edge(("pattern", pattern), ("subscriber", subscriber))
    for topic, pattern in sorted(run.matches()):
        graph.add_edge(("topic", topic), ("pattern", pattern))
    return graph


def layered_positions(graph: nx.DiGraph) -> dict:
    """Columns by ``layer``, nodes spread evenly down each column in the order they were added.

    networkx's ``multipartite_layout`` draws the same picture but needs numpy, which the course does
    not install for one figure.
    """
    columns: dict[int, list] = {}
    for node, layer in graph.nodes(data="layer"):
        columns.setdefault(layer, []).append(node)
    position = {}
    for layer, nodes in columns.items():
        for row, node in enumerate(nodes):
            position[node] = (layer - 1.5, 1.0 - 2.0 * (row + 0.5) / len(nodes))
    return position


def fanout_figure(run: FanoutRun) -> go.Figure:
    """A plain ``go.Figure`` of one run: ``redis_fanout_run(...)`` or ``broker_run(...)``."""
    graph = fanout_graph(run)
    position = layered_positions(graph)
    figure = go.Figure()
    for source, target in graph.edges:
        (x0, y0), (x1, y1) = position[source], position[target]
        is_match = source[0] == "topic" and target[0] == "pattern"
        meta = match_trace(source[1], target[1]) if is_match else f"edge {source[1]} -> {target[1]}"
        figure.add_trace(go.Scatter(
            x=[x0, x1], y=[y0, y1], mode="lines", meta=meta, name=meta, showlegend=False, hoverinfo="skip",
            line=dict(color="#1565c0" if is_match else "#bdbdbd", width=2.5 if is_match else 1.2)))
    for kind in LAYERS:
        nodes = [node for node in graph.nodes if node[0] == kind]
        figure.add_trace(go.Scatter(
            x=[position[n][0] for n in nodes], y=[position[n][1] for n in nodes], mode="markers+text",
            meta=f"{kind}s", name=f"{kind}s", showlegend=False,
            text=[_node_label(graph, n) for n in nodes],
            textposition="middle right" if kind == "subscriber" else "top center",
            marker=dict(size=18, symbol="circle", line=dict(width=1, color="#424242"),
                        color=[_node_colour(graph, n) for n in nodes]),
            hovertext=[_node_label(graph, n) for n in nodes], hoverinfo="text"))
    failing = f"; {run.failing}'s handler raises" if run.failing else ""
    figure.update_layout(
        title=f"{run.backend}: {sum(c for _, _, c in run.published)} deliveries from "
              f"{len(run.published)} publishes{failing}",
        height=430, template="plotly_white", margin=dict(l=20, r=140, t=60, b=20),
        xaxis=dict(visible=False, range=[-1.9, 2.4]), yaxis=dict(visible=False),
    )
    return figure


def _node_label(graph: nx.DiGraph, node) -> str:
    kind, name = node
    data = graph.nodes[node]
    if kind == "topic":
        return f"{name} ({data['receivers']})"
    if kind == "subscriber":
        note = ", raised" if data["failing"] else ""
        return f"{name}: {data['received']} msg{note}"
    return name


def _node_colour(graph: nx.DiGraph, node) -> str:
    kind = node[0]
    if kind == "subscriber":
        return "#c62828" if graph.nodes[node]["failing"] else "#2e7d32"
    return {"publisher": "#424242", "topic": "#1565c0", "pattern": "#ef6c00"}[kind]


def fanout_summary(run: FanoutRun) -> str:
    """Per subscriber, what it was given in order; the publishes' counts; the errors noted."""
    if run.problem:
        return f"<b>{html.escape(run.backend)}</b> stopped: {html.escape(run.problem)}"
    lines = [f"<b>{html.escape(run.backend)}</b>", "<ul>"]
    for subscriber, pattern in run.subscriptions:
        got = ", ".join(topic for topic, _ in run.received_by(subscriber)) or "nothing"
        lines.append(f"<li>{html.escape(subscriber)} (<code>{html.escape(pattern)}</code>): {html.escape(got)}</li>")
    lines.append("</ul>")
    counts = ", ".join(f"{topic} → {count}" for topic, _, count in run.published)
    lines.append(f"<p>publish counts: {html.escape(counts)}. Errors noted: {len(run.errors)}.</p>")
    return "".join(lines)


def pattern_contrast_html(rows: list[ContrastRow]) -> str:
    """The contrast table: dotted (exercise) rule, Redis's glob (port), and a real Redis where it ran."""
    real = any(row.redis_server is not None for row in rows)
    tick = lambda value: "—" if value is None else ("yes" if value else "no")  # noqa: E731
    head = "<tr><th>pattern</th><th>topic</th><th>dotted (* one segment, # any)</th><th>Redis glob</th>"
    head += "<th>real Redis PSUBSCRIBE</th>" if real else ""
    head += "<th>why (dotted)</th></tr>"
    body = []
    for row in rows:
        e = row.example
        cells = [f"<code>{html.escape(e.pattern)}</code>", f"<code>{html.escape(e.topic)}</code>",
                 tick(e.dotted), tick(row.redis_glob)]
        cells += ([tick(row.redis_server)] if real else []) + [html.escape(e.why)]
        style = ' style="background:#fff3e0"' if e.dotted != row.redis_glob else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


REDIS_STOPPED = ("Redis is not running any more (the notebook's <code>redis.stop()</code> cell stopped it): run "
                 "<code>redis = start_redis()</code> and this explorer's cell again to draw real runs.")


def pubsub_explorer(server=None, broker_class: type | None = None) -> widgets.VBox:
    """Pick whose handler fails (and, given both, Redis or your Broker); the graph is a fresh run each time.

    ``server`` is a running Redis (``redis_server()``); without one only your Broker can be drawn.
    """
    backends = ([REDIS] if server is not None else []) + ([YOURS] if broker_class is not None else [])
    if not backends:
        return widgets.VBox([widgets.HTML("Nothing to run: give a running Redis (<code>server=</code>) or your "
                                          "<code>Broker</code> class (<code>broker_class=</code>).")])
    backend = widgets.ToggleButtons(options=backends, value=backends[0], description="run on")
    subscribers = sorted({name for name, _ in REDIS_SUBSCRIPTIONS + BROKER_SUBSCRIPTIONS})
    failing = widgets.Dropdown(options=[NOBODY] + subscribers, value=DEFAULT_FAILING,
                               description="handler that raises", style={"description_width": "initial"})
    figure = go.FigureWidget()
    summary = widgets.HTML()

    def redraw(_=None) -> None:
        who = None if failing.value == NOBODY else failing.value
        if backend.value == REDIS and server.process.poll() is not None:
            # The notebook's last Redis cell stops the server: after "Run All", say so rather than
            # fail in a callback the reader never sees.
            with figure.batch_update():
                figure.data = ()
                figure.layout.title.text = f"Redis has stopped: no run with {failing.value} failing"
            summary.value = REDIS_STOPPED
            return
        if backend.value == REDIS:
            run = redis_fanout_run(server, REDIS_SUBSCRIPTIONS, TOPICS, failing=who)
        else:
            run = broker_run(broker_class, BROKER_SUBSCRIPTIONS, TOPICS, failing=who)
        fresh = fanout_figure(run)
        with figure.batch_update():
            figure.data = ()
            figure.add_traces(list(fresh.data))
            figure.layout = fresh.layout
        summary.value = fanout_summary(run)

    redraw()
    backend.observe(redraw, names="value")
    failing.observe(redraw, names="value")
    controls = [failing] + ([backend] if len(backends) > 1 else [])
    return widgets.VBox([widgets.HBox(controls), figure, summary])
