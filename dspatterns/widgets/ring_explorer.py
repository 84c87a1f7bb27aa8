"""The hash ring drawn as a circle: which node owns which arc, where every key lands, which keys move.

The question the explorer answers is "when a node joins or leaves, which keys move, and how many?".
Each node's virtual points sit on the circle in the node's colour; the arc that ends at a point belongs
to that point's node; keys are dots just inside the circle, coloured by the node that owns them. Move
the nodes slider (or remove any node) and the keys that changed owner are ringed, with the moved fraction
printed against the ideal 1/(n + 1).

A hundred dots are enough to see which keys move, but far too few to measure: a node's count out of
100 swings by a few keys either way by chance alone, which can hide or even reverse what more virtual
points do. So every number printed (keys per node, keys moved) is counted over the 2,000 keys the
explorer also compares rings on, beside each node's exact share of the ring.

Handed a ring class of your own (``ring_explorer(ConsistentHashRing)``), it builds your ring beside the
course's model with the same nodes, virtual nodes and hash, applies the same joins and leaves through
your ``add_node`` and ``remove_node``, and marks the first key on which the two disagree.
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.scaling.ring_model import (
    HASH_SPACE,
    RingLayout,
    layout_ring,
    md5_position,
    moved_keys,
    ring_shares,
    sample_keys,
    sweep_owners,
)
from dspatterns.student_code import describe

NODE_NAMES = tuple("ABCDEFGHIJ")  # the explorer's nodes, in the order they join
NODE_COLOURS = dict(zip(NODE_NAMES, (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79",
)))
UNKNOWN_OWNER = "an unknown node"  # a key your ring gave to a name that is not one of the nodes
UNKNOWN_COLOUR = "#000000"
MOVED_TRACE = "moved keys"
DISAGREEMENT_TRACE = "first disagreement"
MODEL_PANEL, YOURS_PANEL = "polar", "polar2"
POINT_RADIUS, KEY_RADIUS = 1.0, 0.8
ARC_STEP_DEGREES = 2.0  # plotly joins polar points with straight lines, so arcs are drawn as short chords


def arc_trace(node: str) -> str:
    return f"ring owned by {node}"


def points_trace(node: str) -> str:
    return f"points of {node}"


def keys_trace(node: str) -> str:
    return f"keys on {node}"


def trace_names() -> list[str]:
    """Every trace of one panel, in drawing order; a node not in the ring has empty traces."""
    names = [arc_trace(node) for node in NODE_NAMES] + [points_trace(node) for node in NODE_NAMES]
    names += [keys_trace(node) for node in (*NODE_NAMES, UNKNOWN_OWNER)]
    return names + [MOVED_TRACE, DISAGREEMENT_TRACE]


def degrees(position: int) -> float:
    """A ring position as an angle: 0 at the top, growing clockwise like the ring's positions."""
    return position / HASH_SPACE * 360.0


# --- comparing a class with the model -----------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """What the explorer says about a ring class: it agrees, it disagrees on some key, or it broke."""

    keys: int
    disagreements: tuple[tuple[str, object, str], ...] = ()  # (key, yours, model), in key order
    error: str | None = None

    @property
    def agrees(self) -> bool:
        return self.error is None and not self.disagreements

    @property
    def text(self) -> str:
        if self.error is not None:
            return self.error
        if not self.disagreements:
            return f"all {self.keys} keys agree"
        key, yours, model = self.disagreements[0]
        return (f"first disagreement: key {key!r} -> yours {yours!r}, model {model!r} "
                f"({len(self.disagreements)} of {self.keys} keys disagree)")


class TheirRing:
    """A student's ring class driven through its contract only, every failure turned into one sentence.

    Once a call has failed the ring is "broken" and stays so until it is rebuilt: the explorer then
    shows the model alone and repeats the sentence, instead of a traceback.
    """

    def __init__(self, ring_class: type, hash_fn: Callable[[str], int] = md5_position):
        self.ring_class = ring_class
        self.name = getattr(ring_class, "__name__", repr(ring_class))
        self.hash_fn = hash_fn
        self.ring = None
        self.error: str | None = None

    def rebuild(self, nodes: Sequence[str], vnodes: int) -> None:
        self.error = None
        call = f"{self.name}({list(nodes)!r}, vnodes={vnodes}, hash_fn={self.hash_fn.__name__})"
        try:
            self.ring = self.ring_class(list(nodes), vnodes=vnodes, hash_fn=self.hash_fn)
        except Exception as error:  # noqa: BLE001 - any failure of student code becomes a sentence
            self.ring, self.error = None, f"your {call} raised {describe(error)}"

    def add(self, node: str) -> None:
        self._call("add_node", node)

    def remove(self, node: str) -> None:
        self._call("remove_node", node)

    def owners(self, keys: Sequence[str]) -> list[object] | None:
        owners = []
        for key in keys:
            owner = self._call("get_node", key)
            if self.error is not None:
                return None
            owners.append(owner)
        return owners

    def _call(self, method: str, argument: str):
        if self.error is not None or self.ring is None:
            return None
        function = getattr(self.ring, method, None)
        if not callable(function):
            self.error = f"your {self.name} has no method {method}()"
            return None
        try:
            return function(argument)
        except Exception as error:  # noqa: BLE001 - any failure of student code becomes a sentence
            self.error = f"your {self.name}.{method}({argument!r}) raised {describe(error)}"
            return None


def compare(keys: Sequence[str], yours: Sequence[object] | None, model: Sequence[str],
            error: str | None = None) -> Verdict:
    if error is not None or yours is None:
        return Verdict(len(keys), error=error or "your ring gave no owners")
    return Verdict(len(keys), tuple((key, mine, theirs) for key, mine, theirs in zip(keys, yours, model)
                                    if mine != theirs))


CHECKED_KEYS = 2_000  # counted and compared with the model; more than are drawn, so that the printed loads
# and moved fractions are not at the mercy of chance (100 keys swing a node's count by ~20%), and so that
# rare cases (a key past the last point, when the last point sits near the top) are met on every layout


def check_against_model(
    ring_class: type, nodes: Sequence[str] = NODE_NAMES[:4], *, vnodes: int = 5, keys: int = CHECKED_KEYS,
    hash_fn: Callable[[str], int] = md5_position,
) -> Verdict:
    """Build ``ring_class`` and the model on the same nodes and compare the owner of every sample key."""
    key_names = sample_keys(keys)
    theirs = TheirRing(ring_class, hash_fn)
    theirs.rebuild(nodes, vnodes)
    model = sweep_owners(layout_ring(nodes, vnodes, hash_fn), key_names, hash_fn)
    yours = theirs.owners(key_names) if theirs.error is None else None
    return compare(key_names, yours, model, theirs.error)


# --- the figure ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Panel:
    """What one circle shows: a layout, the keys and their owners, the keys that just moved."""

    layout: RingLayout | None  # None: nothing to draw (a ring that failed)
    keys: tuple[str, ...]
    key_positions: tuple[int, ...]
    owners: tuple[object, ...]
    moved: frozenset[str] = frozenset()
    highlight: tuple[str, int, object] | None = None  # the first key the rings disagree on: key, position, owner


def ring_figure(model: Panel, yours: Panel | None = None, *, title: str = "", your_title: str = "yours"
                ) -> go.Figure:
    """A plain ``go.Figure``: one circle for the model, and a second one for your ring if given."""
    panels = [(MODEL_PANEL, model)] + ([(YOURS_PANEL, yours)] if yours is not None else [])
    if yours is None:
        figure = go.Figure()
    else:
        figure = make_subplots(rows=1, cols=2, specs=[[{"type": "polar"}, {"type": "polar"}]],
                               subplot_titles=("course model", your_title), horizontal_spacing=0.12)
    for subplot, panel in panels:
        series = panel_series(panel)
        first = subplot == MODEL_PANEL
        for name in trace_names():
            figure.add_trace(_empty_trace(name, subplot, show_legend=first), row=None if yours is None else 1,
                             col=None if yours is None else (1 if first else 2))
        _fill(figure, subplot, series)
    polar = {
        "radialaxis": {"range": [0, 1.12], "visible": False},
        "angularaxis": {"direction": "clockwise", "rotation": 90, "showticklabels": False, "showgrid": False,
                        "ticks": ""},
        "bgcolor": "white",
    }
    figure.update_layout(polar=polar, template="plotly_white", height=480 if yours is None else 470,
                         title=title, margin={"l": 30, "r": 30, "t": 80, "b": 30},
                         legend={"itemsizing": "constant"})
    if yours is not None:
        figure.update_layout(polar2=polar)
    return figure


def panel_series(panel: Panel) -> dict[str, dict[str, list]]:
    """The r/theta/text of every trace of one panel, by trace name: shared by drawing and redrawing."""
    series = {name: {"r": [], "theta": [], "text": []} for name in trace_names()}
    layout = panel.layout
    if layout is not None and layout.positions:
        positions = layout.positions
        for index, (position, owner) in enumerate(zip(positions, layout.owners)):
            start = positions[index - 1] if index else positions[-1] - HASH_SPACE
            arc = series[arc_trace(owner)]
            thetas = _arc_angles(degrees(start), degrees(position))
            arc["theta"] += [*thetas, None]
            arc["r"] += [POINT_RADIUS] * len(thetas) + [None]
            arc["text"] += [owner] * len(thetas) + [None]
            point = series[points_trace(owner)]
            point["theta"].append(degrees(position))
            point["r"].append(POINT_RADIUS)
            point["text"].append(f"a point of {owner} at {position:,}")
    for key, position, owner in zip(panel.keys, panel.key_positions, panel.owners):
        known = isinstance(owner, str) and owner in NODE_COLOURS  # a ring may answer anything, even a list
        target = series[keys_trace(owner) if known else keys_trace(UNKNOWN_OWNER)]
        _add_key(target, key, position, owner)
        if key in panel.moved:
            _add_key(series[MOVED_TRACE], key, position, owner)
    if panel.highlight is not None:  # it may be one of the checked keys that is not drawn
        _add_key(series[DISAGREEMENT_TRACE], *panel.highlight)
    return series


def _add_key(target: dict[str, list], key: str, position: int, owner: object) -> None:
    target["theta"].append(degrees(position))
    target["r"].append(KEY_RADIUS)
    target["text"].append(f"{key} -> {owner}")


def _arc_angles(start: float, end: float) -> list[float]:
    steps = max(1, math.ceil((end - start) / ARC_STEP_DEGREES))
    return [start + (end - start) * k / steps for k in range(steps + 1)]


def _empty_trace(name: str, subplot: str, *, show_legend: bool) -> go.Scatterpolar:
    common = {"name": name, "subplot": subplot, "r": [], "theta": [], "text": []}
    node = next((n for n in NODE_NAMES if name in (arc_trace(n), points_trace(n), keys_trace(n))), None)
    if name == MOVED_TRACE:
        return go.Scatterpolar(**common, mode="markers", showlegend=show_legend, hoverinfo="skip",
                               marker={"symbol": "circle-open", "size": 15, "color": "#111",
                                       "line": {"width": 2}})
    if name == DISAGREEMENT_TRACE:
        return go.Scatterpolar(**common, mode="markers", showlegend=show_legend,
                               hovertemplate="%{text}<extra>first disagreement</extra>",
                               marker={"symbol": "x", "size": 18, "color": "#c62828",
                                       "line": {"width": 1, "color": "white"}})
    if name == keys_trace(UNKNOWN_OWNER):
        return go.Scatterpolar(**common, mode="markers", showlegend=False, hovertemplate="%{text}<extra></extra>",
                               marker={"size": 8, "color": UNKNOWN_COLOUR, "symbol": "circle"})
    colour = NODE_COLOURS[node]
    if name == arc_trace(node):
        return go.Scatterpolar(**common, mode="lines", legendgroup=node, showlegend=False, hoverinfo="skip",
                               line={"color": colour, "width": 7})
    if name == points_trace(node):
        return go.Scatterpolar(**common, mode="markers", legendgroup=node, showlegend=False,
                               hovertemplate="%{text}<extra></extra>",
                               marker={"symbol": "diamond", "size": 9, "color": colour,
                                       "line": {"width": 1, "color": "white"}})
    return go.Scatterpolar(**common, mode="markers", legendgroup=node, showlegend=False,
                           hovertemplate="%{text}<extra></extra>", marker={"size": 8, "color": colour})


def _fill(figure: go.Figure, subplot: str, series: dict[str, dict[str, list]]) -> None:
    """Pour one panel's series into its traces, and show in the legend only the nodes that hold keys."""
    for trace in figure.data:
        if trace.subplot == subplot and trace.name in series:
            trace.update(series[trace.name])
            if subplot == MODEL_PANEL and trace.name.startswith("keys on ") and trace.name != keys_trace(
                    UNKNOWN_OWNER):
                trace.showlegend = bool(series[arc_trace(trace.name.removeprefix("keys on "))]["theta"])


# --- the explorer --------------------------------------------------------------------------------------

class _Membership:
    """The explorer's nodes in the order they joined: the slider adds the first unused names and
    takes away the latest arrivals; the remove button takes any node."""

    def __init__(self, count: int):
        self.nodes = list(NODE_NAMES[:count])

    def resize(self, count: int) -> tuple[list[str], list[str]]:
        added, removed = [], []
        while len(self.nodes) < count:
            node = next(name for name in NODE_NAMES if name not in self.nodes)
            self.nodes.append(node)
            added.append(node)
        while len(self.nodes) > count:
            removed.append(self.nodes.pop())
        return added, removed

    def remove(self, node: str) -> None:
        self.nodes.remove(node)


def move_report(keys: Sequence[str], before: Sequence[str], after: Sequence[str], added: Sequence[str],
                removed: Sequence[str], nodes_before: int, drawn: int = 0) -> str:
    """One sentence on a membership change: how many keys moved, where, and the ideal fraction.

    ``keys`` are all the keys counted; the first ``drawn`` of them are the ones on the circle, whose
    count is given too, so that the sentence matches the ringed dots.
    """
    moves = moved_keys(keys, before, after)
    total = len(keys)
    fraction = len(moves) / total if total else 0.0
    drawn_part = ""
    if drawn:
        on_circle = set(keys[:drawn])
        shown = sum(move.key in on_circle for move in moves)
        drawn_part = f"; {shown} of the {drawn} drawn"
    moved = f"moved {len(moves):,} of {total:,} keys ({fraction:.1%}{drawn_part})"
    if added:
        joined = set(added)
        stray = sum(move.after not in joined for move in moves)
        where = (f"every one of them to {_names(added)}" if not stray
                 else f"{stray} of them to nodes that were already there")
        nodes_after = nodes_before + len(added)
        ideal = f"{len(added)}/{nodes_after}" if len(added) > 1 else f"1/(n+1) = 1/{nodes_after}"
        return (f"Adding {_names(added)} {moved}, {where}; the ideal is {ideal} = "
                f"{len(added) / nodes_after:.1%}.")
    left = set(removed)
    held = sum(old in left for old in before)
    exact = "exactly the keys" if held == len(moves) and all(m.before in left for m in moves) else "not only the keys"
    ideal = f"{len(removed)}/{nodes_before}" if len(removed) > 1 else f"1/n = 1/{nodes_before}"
    return (f"Removing {_names(removed)} {moved}, {exact} {_names(removed)} held; the ideal is {ideal} = "
            f"{len(removed) / nodes_before:.1%}.")


def _names(nodes: Sequence[str]) -> str:
    return ", ".join(nodes)


def ring_explorer(ring_class: type | None = None, *, nodes: int = 4, vnodes: int = 5, keys: int = 100,
                  checked_keys: int = CHECKED_KEYS, hash_fn: Callable[[str], int] = md5_position) -> widgets.VBox:
    """Sliders for nodes and virtual nodes, a remove button, a summary and one FigureWidget redrawn in place.

    ``ring_class`` is any class honouring the exercise's contract; it is built as
    ``ring_class(nodes, vnodes=v, hash_fn=hash_fn)`` (the course's MD5 hash unless you pass another),
    so a disagreement is about placement, not about which hash was chosen. ``keys`` are drawn; the
    loads and moves printed are counted over ``checked_keys`` (the drawn ones first), and your ring is
    compared with the model on those same keys.
    """
    if not 1 <= nodes <= len(NODE_NAMES):
        raise ValueError(f"nodes must be between 1 and {len(NODE_NAMES)}, got {nodes!r}")
    style = {"description_width": "initial"}
    node_slider = widgets.IntSlider(value=nodes, min=1, max=len(NODE_NAMES), description="nodes",
                                    continuous_update=False, style=style)
    vnode_slider = widgets.IntSlider(value=vnodes, min=1, max=100, description="virtual nodes per node",
                                     continuous_update=False, style=style)
    leaving = widgets.Dropdown(description="node to remove", options=NODE_NAMES[:nodes], style=style,
                               layout={"width": "200px"})
    remove_button = widgets.Button(description="remove it", icon="minus", layout={"width": "110px"})
    add_button = widgets.Button(description="add a node", icon="plus", layout={"width": "120px"})

    checked = tuple(sample_keys(max(keys, checked_keys)))  # sample_keys(keys) is a prefix of it
    key_names = checked[:keys]
    key_positions = tuple(hash_fn(key) for key in key_names)
    membership = _Membership(nodes)
    theirs = TheirRing(ring_class, hash_fn) if ring_class is not None else None
    state: dict = {"syncing": False}

    def model_layout() -> RingLayout:
        return layout_ring(membership.nodes, vnode_slider.value, hash_fn)

    def rebuild_theirs() -> None:
        if theirs is not None:
            theirs.rebuild(membership.nodes, vnode_slider.value)

    def panels(moved_model: frozenset[str], their_before: Sequence[object] | None
               ) -> tuple[Panel, Panel | None, str | None]:
        layout = model_layout()
        model_checked = sweep_owners(layout, checked, hash_fn)
        state["model_owners"] = model_checked
        model_owners = model_checked[:len(key_names)]
        model_panel = Panel(layout, key_names, key_positions, tuple(model_owners), moved_model)
        if theirs is None:
            return model_panel, None, None
        their_checked = theirs.owners(checked)
        verdict = compare(checked, their_checked, model_checked, theirs.error)
        their_owners = None if their_checked is None else their_checked[:len(key_names)]
        state["their_owners"] = their_owners
        if their_owners is None:
            return model_panel, Panel(None, (), (), ()), verdict.text
        their_moved = frozenset() if their_before is None else frozenset(
            key for key, old, new in zip(key_names, their_before, their_owners) if old != new)
        model_highlight = your_highlight = None
        if verdict.disagreements:
            key, yours, model = verdict.disagreements[0]
            model_highlight, your_highlight = (key, hash_fn(key), model), (key, hash_fn(key), yours)
        model_panel = Panel(layout, key_names, key_positions, tuple(model_owners), moved_model, model_highlight)
        # Your circle shows the model's points (your ring's points are not part of the contract) and your owners.
        your_panel = Panel(layout, key_names, key_positions, tuple(their_owners), their_moved, your_highlight)
        return model_panel, your_panel, verdict.text

    rebuild_theirs()
    model_panel, your_panel, verdict_text = panels(frozenset(), None)
    figure = go.FigureWidget(ring_figure(model_panel, your_panel, title=_title(membership.nodes, vnode_slider.value),
                                         your_title=f"your {theirs.name}" if theirs else "yours"))
    summary = widgets.HTML(_summary([_load_line(model_panel.layout, state["model_owners"])], verdict_text))

    def redraw(change_text: str, moved_model: frozenset[str], their_before: Sequence[object] | None) -> None:
        model_panel, your_panel, verdict_text = panels(moved_model, their_before)
        with figure.batch_update():
            _fill(figure, MODEL_PANEL, panel_series(model_panel))
            if your_panel is not None:
                _fill(figure, YOURS_PANEL, panel_series(your_panel))
            figure.layout.title.text = _title(membership.nodes, vnode_slider.value)
        # The load always shows, so a question about it can be answered right after a join or a leave.
        summary.value = _summary([_load_line(model_panel.layout, state["model_owners"]), change_text], verdict_text)
        state["syncing"] = True
        try:
            leaving.options = tuple(membership.nodes)
            node_slider.value = len(membership.nodes)
            remove_button.disabled = len(membership.nodes) < 2
            add_button.disabled = len(membership.nodes) >= len(NODE_NAMES)
        finally:
            state["syncing"] = False

    def change_membership(apply: Callable[[], tuple[list[str], list[str]]]) -> None:
        before, count_before = state["model_owners"], len(membership.nodes)
        their_before = state.get("their_owners")
        added, removed = apply()
        if theirs is not None:
            for node in added:
                theirs.add(node)
            for node in removed:
                theirs.remove(node)
        after = sweep_owners(model_layout(), checked, hash_fn)
        moved = frozenset(move.key for move in moved_keys(key_names, before[:len(key_names)], after[:len(key_names)]))
        text = (move_report(checked, before, after, added, removed, count_before, drawn=len(key_names))
                if added or removed else "")
        redraw(text, moved, their_before)

    def on_nodes(change) -> None:
        if not state["syncing"]:
            change_membership(lambda: membership.resize(change["new"]))

    def on_vnodes(_change) -> None:
        rebuild_theirs()
        redraw("", frozenset(), None)

    def on_remove(_button) -> None:
        node = leaving.value
        if node in membership.nodes and len(membership.nodes) > 1:
            def take_out() -> tuple[list[str], list[str]]:
                membership.remove(node)
                return [], [node]
            change_membership(take_out)

    node_slider.observe(on_nodes, names="value")
    vnode_slider.observe(on_vnodes, names="value")
    remove_button.on_click(on_remove)
    add_button.on_click(lambda _button: setattr(node_slider, "value", min(node_slider.value + 1, len(NODE_NAMES))))
    remove_button.disabled = nodes < 2

    controls = widgets.GridBox(
        [node_slider, vnode_slider], layout=widgets.Layout(grid_template_columns="repeat(2, minmax(260px, 1fr))"),
    )
    return widgets.VBox([controls, widgets.HBox([add_button, leaving, remove_button]), summary, figure])


def _load_line(layout: RingLayout | None, owners: Sequence[str]) -> str:
    """The load of every node twice over: its exact share of the ring, and its count of the counted keys.

    Both, not the 100 drawn keys: out of 100, chance alone moves a node's count by a few keys each way.
    """
    if layout is None or not layout.positions:
        return ""
    nodes = sorted(layout.nodes)  # by name, whatever order they joined in, so that lines compare at a glance
    share = ring_shares(layout)
    counts = dict.fromkeys(nodes, 0)
    for owner in owners:
        counts[owner] += 1
    shares = ", ".join(f"{node} {share[node]:.0%}" for node in nodes)
    loads = ", ".join(f"{node} {counts[node]:,}" for node in nodes)
    return (f"{_count(len(layout.nodes), 'node')} × {_count(layout.vnodes, 'virtual point')} = "
            f"{_count(len(layout), 'point')}; share of the ring: {shares}; "
            f"of {len(owners):,} keys: {loads}.")


def _summary(model_lines: Sequence[str], verdict_text: str | None) -> str:
    lines = [html.escape(line, quote=False) for line in model_lines]
    if verdict_text is not None:
        lines.append(f"<b>Your ring:</b> {html.escape(verdict_text, quote=False)}")
    return "<br>".join(line for line in lines if line)


def _title(nodes: Sequence[str], vnodes: int) -> str:
    return f"{_count(len(nodes), 'node')} ({', '.join(nodes)}), {_count(vnodes, 'virtual point')} each"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
