"""The ring explorer and the placement charts, built headless: sliders and buttons change the figure's data.

Every expectation is computed independently from the ring model (which ``test_scaling_models`` checks
against the published results), never read back from the widget: the moved keys, their colours, the
printed fraction, and for a ring class of your own, the first key on which it disagrees with the model.
"""
from __future__ import annotations

import bisect
import html
import json
import re

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants, only

from autograder.exercises import EXERCISES
from dspatterns.scaling.placement_study import (
    MODULO,
    RING,
    SCHEMES,
    lookup_cost_curve,
    resize_study,
    spread_against_vnodes,
)
from dspatterns.scaling.ring_model import (
    layout_ring,
    md5_position,
    moved_keys,
    ring_shares,
    sample_keys,
    sweep_owners,
)
from dspatterns.widgets.placement_charts import (
    EXPECTED_TRACE,
    IDEAL_TRACE,
    KEYS_TRACE,
    MODULO_EXPECTED_TRACE,
    load_spread_figure,
    lookup_cost_figure,
    resize_figure,
)
from dspatterns.widgets.ring_explorer import (
    DISAGREEMENT_TRACE,
    MODEL_PANEL,
    MOVED_TRACE,
    NODE_COLOURS,
    YOURS_PANEL,
    Panel,
    arc_trace,
    check_against_model,
    degrees,
    keys_trace,
    move_report,
    points_trace,
    ring_explorer,
    ring_figure,
    trace_names,
)

KEYS = sample_keys(100)  # the keys the explorer draws
CHECKED = sample_keys(2_000)  # the keys it counts loads and moves on, and compares a ring class on (drawn ones first)


def control(explorer, kind, description):
    found = [w for w in descendants(explorer) if isinstance(w, kind) and w.description == description]
    assert len(found) == 1, f"no single {kind.__name__} described {description!r}"
    return found[0]


def nodes_slider(explorer):
    return control(explorer, widgets.IntSlider, "nodes")


def vnodes_slider(explorer):
    return control(explorer, widgets.IntSlider, "virtual nodes per node")


def remove(explorer, node):
    control(explorer, widgets.Dropdown, "node to remove").value = node
    control(explorer, widgets.Button, "remove it").click()


def summary(explorer) -> str:
    """The summary as the student reads it (the widget holds HTML: ``->`` is escaped there)."""
    return html.unescape(only(explorer, widgets.HTML).value)


def traces(explorer, panel=MODEL_PANEL):
    return {t.name: t for t in only(explorer, go.FigureWidget).data if t.subplot == panel}


def keys_shown(panel_traces) -> dict[str, str]:
    """key -> node, read from the hover text of every "keys on X" trace."""
    shown = {}
    for name, trace in panel_traces.items():
        if name.startswith("keys on "):
            for text in trace.text:
                key, owner = text.split(" -> ")
                assert owner == name.removeprefix("keys on "), f"{key} drawn in {name} but labelled {owner}"
                shown[key] = owner
    return shown


def moved_shown(panel_traces) -> set[str]:
    return {text.split(" -> ")[0] for text in panel_traces[MOVED_TRACE].text}


def model_owners(nodes, vnodes, keys=KEYS):
    return dict(zip(keys, sweep_owners(layout_ring(nodes, vnodes), keys)))


def loads_printed(explorer) -> dict[str, int]:
    """The keys per node the summary states ("of 2,000 keys: A 143, B 764, ...")."""
    listed = re.search(r"of 2,000 keys: ([^.]*)\.", summary(explorer)).group(1)
    return {node: int(count.replace(",", "")) for node, count in (item.split() for item in listed.split(", "))}


# --- rings handed in by "students" ---------------------------------------------------------------------

class ModelBackedRing:
    """A correct ring for the tests, built over the course model: it lays the ring out again on every change
    and sweeps the whole ring for every lookup, right but O(points) per key (the exercise asks O(log points))."""

    def __init__(self, nodes=(), vnodes=100, hash_fn=None):
        self.hash_fn = hash_fn or md5_position
        self.vnodes = vnodes
        self.members = list(nodes)
        self.layout = layout_ring(self.members, vnodes, self.hash_fn)

    def add_node(self, node):
        if node in self.members:
            raise ValueError(node)
        self.members.append(node)
        self.layout = layout_ring(self.members, self.vnodes, self.hash_fn)

    def remove_node(self, node):
        self.members.remove(node)
        self.layout = layout_ring(self.members, self.vnodes, self.hash_fn)

    def get_node(self, key):
        return sweep_owners(self.layout, [key], self.hash_fn)[0]


class NoWrapRing(ModelBackedRing):
    """The classic bug: a key past the last point is given to the last point instead of wrapping to the first."""

    def get_node(self, key):
        index = bisect.bisect_left(self.layout.positions, self.hash_fn(key))
        return self.layout.owners[min(index, len(self.layout.positions) - 1)]


class StubRing:
    """The untouched exercise: every method raises NotImplementedError."""

    def __init__(self, nodes=(), vnodes=100, hash_fn=None):
        pass

    def get_node(self, key):
        raise NotImplementedError

    def add_node(self, node):
        raise NotImplementedError

    def remove_node(self, node):
        raise NotImplementedError


class ConstructorStub:
    def __init__(self, nodes=(), vnodes=100, hash_fn=None):
        raise NotImplementedError("replace this with your ring")


class NoLookup:
    def __init__(self, nodes=(), vnodes=100, hash_fn=None):
        pass


def first_wrap_disagreement(nodes, vnodes):
    """The first key (in key order) that hashes past the last point, where the last and first owners differ."""
    layout = layout_ring(nodes, vnodes)
    if layout.owners[0] == layout.owners[-1]:
        return None
    past = [key for key in CHECKED if md5_position(key) > layout.positions[-1]]
    return (past[0], layout.owners[-1], layout.owners[0]) if past else None


def wrap_case():
    """Nodes and vnodes for which the no-wrap bug shows on the explorer's keys (found, not assumed)."""
    for count in range(2, 11):
        for vnodes in (1, 2, 3, 5):
            nodes = list("ABCDEFGHIJ"[:count])
            if first_wrap_disagreement(nodes, vnodes):
                return nodes, vnodes
    raise AssertionError("no layout puts a key past the last point with differing owners")


# --- the explorer on its own -----------------------------------------------------------------------------

@pytest.fixture
def explorer():
    return ring_explorer()


def test_explorer_holds_two_sliders_the_buttons_and_one_figure(explorer):
    assert isinstance(explorer, widgets.Box)
    figure = only(explorer, go.FigureWidget)
    assert [t.name for t in figure.data] == trace_names()
    assert {t.subplot for t in figure.data} == {MODEL_PANEL}
    assert nodes_slider(explorer).value == 4 and vnodes_slider(explorer).value == 5
    control(explorer, widgets.Button, "add a node")


def test_points_and_keys_are_drawn_where_the_model_puts_them(explorer):
    data = traces(explorer)
    layout = layout_ring(list("ABCD"), 5)
    for node in "ABCD":
        angles = sorted(data[points_trace(node)].theta)
        expected = sorted(degrees(p) for p, owner in zip(layout.positions, layout.owners) if owner == node)
        assert angles == pytest.approx(expected), f"points of {node}"
    for node in "EFGHIJ":
        assert len(data[points_trace(node)].theta) == 0 and len(data[keys_trace(node)].theta) == 0
    assert keys_shown(data) == model_owners(list("ABCD"), 5)


def test_arcs_cover_the_whole_circle_once(explorer):
    data = traces(explorer)
    total = 0.0
    for node in "ABCD":
        thetas = list(data[arc_trace(node)].theta)
        segments, current = [], []
        for theta in [*thetas, None]:
            if theta is None:
                if current:
                    segments.append(current[-1] - current[0])
                current = []
            else:
                current.append(theta)
        total += sum(segments)
    assert total == pytest.approx(360.0)


def test_keys_take_their_nodes_colour(explorer):
    data = traces(explorer)
    for node, colour in NODE_COLOURS.items():
        assert data[keys_trace(node)].marker.color == colour
        assert data[points_trace(node)].marker.color == colour
        assert data[arc_trace(node)].line.color == colour


def test_adding_a_node_rings_exactly_the_keys_that_moved_and_prints_the_fraction(explorer):
    nodes_slider(explorer).value = 5
    before, after = model_owners(list("ABCD"), 5), model_owners(list("ABCDE"), 5)
    moved = {key for key in KEYS if before[key] != after[key]}
    data = traces(explorer)
    assert moved and moved_shown(data) == moved
    assert all(keys_shown(data)[key] == "E" for key in moved)
    assert keys_shown(data) == after
    many_before, many_after = model_owners(list("ABCD"), 5, CHECKED), model_owners(list("ABCDE"), 5, CHECKED)
    moved_many = sum(many_before[key] != many_after[key] for key in CHECKED)
    assert (f"Adding E moved {moved_many:,} of 2,000 keys ({moved_many / 2_000:.1%}; {len(moved)} of the 100 "
            f"drawn), every one of them to E; the ideal is 1/(n+1) = 1/5 = 20.0%.") in summary(explorer)


def test_removing_any_node_moves_exactly_its_keys_and_adding_it_back_restores_them(explorer):
    before = model_owners(list("ABCD"), 5)
    held = {key for key, owner in before.items() if owner == "B"}
    remove(explorer, "B")
    assert nodes_slider(explorer).value == 3
    assert control(explorer, widgets.Dropdown, "node to remove").options == ("A", "C", "D")
    assert moved_shown(traces(explorer)) == held
    held_many = sum(owner == "B" for owner in model_owners(list("ABCD"), 5, CHECKED).values())
    assert f"Removing B moved {held_many:,} of 2,000 keys ({held_many / 2_000:.1%}; {len(held)} of the 100 drawn)" in (
        summary(explorer))
    assert "exactly the keys B held; the ideal is 1/n = 1/4 = 25.0%." in summary(explorer)
    nodes_slider(explorer).value = 4  # the first unused name comes back: B
    assert moved_shown(traces(explorer)) == held
    assert keys_shown(traces(explorer)) == before


def test_the_load_is_stated_over_2000_keys_and_the_ring_shares_not_the_100_drawn(explorer):
    layout = layout_ring(list("ABCD"), 5)
    shares = ", ".join(f"{node} {share:.0%}" for node, share in ring_shares(layout).items())
    assert f"4 nodes × 5 virtual points = 20 points; share of the ring: {shares}; of 2,000 keys:" in summary(explorer)
    counted = model_owners(list("ABCD"), 5, CHECKED)
    assert loads_printed(explorer) == {node: list(counted.values()).count(node) for node in "ABCD"}
    nodes_slider(explorer).value = 5  # after a join the load is still there, above the sentence on the move
    assert "5 nodes × 5 virtual points = 25 points; share of the ring:" in summary(explorer)
    assert sum(loads_printed(explorer).values()) == 2_000


def test_more_virtual_nodes_even_out_the_printed_load(explorer):
    """Step 3 of the notebook: at 5 nodes, 100 virtual points leave the busiest node with fewer keys than 5 do.
    (Out of the 100 drawn keys it went from 31 to 35: chance, the opposite of the lesson.)"""
    nodes_slider(explorer).value = 5
    coarse = loads_printed(explorer)
    vnodes_slider(explorer).value = 100
    fine = loads_printed(explorer)
    assert max(fine.values()) < max(coarse.values()), f"busiest node: {coarse} at 5 vnodes, {fine} at 100"
    assert max(fine.values()) < 1.25 * 2_000 / 5, f"at 100 vnodes the busiest of 5 nodes got {fine}"


def test_more_virtual_nodes_redraw_the_points_and_clear_the_moves(explorer):
    nodes_slider(explorer).value = 5
    vnodes_slider(explorer).value = 40
    data = traces(explorer)
    assert all(len(data[points_trace(node)].theta) == 40 for node in "ABCDE")
    assert len(data[MOVED_TRACE].theta) == 0
    assert keys_shown(data) == model_owners(list("ABCDE"), 40)
    assert "5 nodes × 40 virtual points = 200 points" in summary(explorer)


def test_several_nodes_at_once_and_the_last_node_cannot_be_removed(explorer):
    nodes_slider(explorer).value = 7
    assert "Adding E, F, G moved" in summary(explorer) and "the ideal is 3/7 = 42.9%." in summary(explorer)
    nodes_slider(explorer).value = 1
    assert control(explorer, widgets.Button, "remove it").disabled
    assert set(keys_shown(traces(explorer)).values()) == {"A"}


def test_move_report_says_when_keys_moved_between_old_nodes():
    text = move_report(["k1", "k2"], ["A", "B"], ["C", "A"], ["C"], [], 2)
    assert "moved 2 of 2 keys (100.0%), 1 of them to nodes that were already there" in text


# --- bring your own ring ---------------------------------------------------------------------------------

def test_a_correct_class_agrees_and_keeps_agreeing_through_joins_and_leaves():
    explorer = ring_explorer(ModelBackedRing)
    assert {t.subplot for t in only(explorer, go.FigureWidget).data} == {MODEL_PANEL, YOURS_PANEL}
    assert "Your ring:</b> all 2000 keys agree" in summary(explorer)
    nodes_slider(explorer).value = 6
    remove(explorer, "C")
    vnodes_slider(explorer).value = 12
    assert "all 2000 keys agree" in summary(explorer)
    assert keys_shown(traces(explorer, YOURS_PANEL)) == keys_shown(traces(explorer, MODEL_PANEL))
    assert len(traces(explorer)[DISAGREEMENT_TRACE].theta) == 0


def test_the_exercise_reference_agrees_with_the_model():
    namespace: dict = {}
    exec(compile(EXERCISES["consistent_hashing"].reference_code, "reference", "exec"), namespace)  # noqa: S102
    reference = namespace["ConsistentHashRing"]
    assert check_against_model(reference).text == "all 2000 keys agree"
    assert check_against_model(reference, list("ABCDEFG"), vnodes=1, keys=500).agrees
    explorer = ring_explorer(reference)
    nodes_slider(explorer).value = 8
    remove(explorer, "A")
    assert "all 2000 keys agree" in summary(explorer)


def test_a_ring_that_forgets_to_wrap_is_caught_at_the_first_key_past_the_last_point():
    nodes, vnodes = wrap_case()
    key, yours, model = first_wrap_disagreement(nodes, vnodes)
    verdict = check_against_model(NoWrapRing, nodes, vnodes=vnodes)
    assert not verdict.agrees
    assert verdict.text.startswith(f"first disagreement: key {key!r} -> yours {yours!r}, model {model!r}")
    explorer = ring_explorer(NoWrapRing, nodes=len(nodes), vnodes=vnodes)
    assert f"first disagreement: key {key!r} -> yours {yours!r}, model {model!r}" in summary(explorer)
    for panel in (MODEL_PANEL, YOURS_PANEL):
        cross = traces(explorer, panel)[DISAGREEMENT_TRACE]
        assert list(cross.theta) == pytest.approx([degrees(md5_position(key))]), panel
    assert list(traces(explorer, YOURS_PANEL)[DISAGREEMENT_TRACE].text) == [f"{key} -> {yours}"]


def test_a_stub_raising_not_implemented_is_reported_in_one_line():
    explorer = ring_explorer(StubRing)
    text = summary(explorer)
    line = text.split("<b>Your ring:</b> ")[1]
    assert line == "your StubRing.get_node('user:0-0') raised NotImplementedError"
    assert "Traceback" not in text and "\n" not in text
    assert len(traces(explorer, YOURS_PANEL)[keys_trace("A")].theta) == 0  # nothing drawn for a broken ring
    nodes_slider(explorer).value = 5  # the model keeps working; the sentence stays
    assert "Adding E moved" in summary(explorer) and "raised NotImplementedError" in summary(explorer)


def test_a_constructor_that_raises_and_a_missing_method_are_named():
    assert check_against_model(ConstructorStub).text == (
        "your ConstructorStub(['A', 'B', 'C', 'D'], vnodes=5, hash_fn=md5_position) raised "
        "NotImplementedError: replace this with your ring")
    assert check_against_model(NoLookup).text == "your NoLookup has no method get_node()"
    assert "has no method get_node()" in summary(ring_explorer(NoLookup))


def test_the_static_figure_is_a_plain_figure_with_one_or_two_circles():
    layout = layout_ring(list("AB"), 3)
    positions = tuple(md5_position(key) for key in KEYS)
    panel = Panel(layout, tuple(KEYS), positions, tuple(sweep_owners(layout, KEYS)), frozenset(KEYS[:2]))
    single = ring_figure(panel)
    assert isinstance(single, go.Figure) and not isinstance(single, go.FigureWidget)
    assert len(single.data) == len(trace_names())
    assert len(next(t for t in single.data if t.name == MOVED_TRACE).theta) == 2
    double = ring_figure(panel, panel, your_title="your ring")
    assert len(double.data) == 2 * len(trace_names())
    assert double.layout.polar.angularaxis.direction == "clockwise"


# --- placement charts ------------------------------------------------------------------------------------

def test_spread_figure_draws_the_study_and_the_expectation():
    study = spread_against_vnodes((1, 10, 100), nodes=4, keys=2_000, seeds=range(3))
    figure = load_spread_figure(study)
    by_name = {t.name: t for t in figure.data}
    assert list(by_name[KEYS_TRACE].y) == [row.relative_std for row in study.rows]
    assert list(by_name[EXPECTED_TRACE].y) == [row.expected for row in study.rows]
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"


def test_resize_figure_shows_the_chosen_schemes_and_both_expectations():
    rows = resize_study([2, 5], keys=500, seeds=range(1))
    full = resize_figure(rows)
    assert [t.name for t in full.data] == [*SCHEMES, IDEAL_TRACE, MODULO_EXPECTED_TRACE]
    subset = {t.name: t for t in resize_figure(rows, schemes=(MODULO, RING)).data}
    assert set(subset) == {MODULO, RING, IDEAL_TRACE, MODULO_EXPECTED_TRACE}
    assert list(subset[MODULO].y) == [row.moved[MODULO] for row in rows]
    assert list(subset[IDEAL_TRACE].y) == pytest.approx([1 / 3, 1 / 6])
    assert list(subset[MODULO].x) == ["2→3", "5→6"]


def test_lookup_cost_figure_plots_the_counted_work():
    rows = lookup_cost_curve(node_counts=(10, 30), keys=50)
    figure = lookup_cost_figure(rows)
    assert len(figure.data) == 3
    rendezvous = next(t for t in figure.data if t.name.startswith("rendezvous"))
    assert list(rendezvous.y) == [10.0, 30.0]


def test_the_summary_numbers_match_the_ringed_keys(explorer):
    """The printed count is the number of ringed keys, whatever the move."""
    for value in (6, 3, 9):
        nodes_slider(explorer).value = value
        count = int(re.search(r"; (\d+) of the 100 drawn\)", summary(explorer)).group(1))
        assert count == len(moved_shown(traces(explorer)))


def test_moved_keys_lists_changes_in_key_order():
    moves = moved_keys(["a", "b", "c"], ["X", "Y", "Z"], ["X", "Q", "W"])
    assert [(m.key, m.before, m.after) for m in moves] == [("b", "Y", "Q"), ("c", "Z", "W")]
    with pytest.raises(ValueError):
        moved_keys(["a"], ["X"], [])


# --- the course notebook ---------------------------------------------------------------------------------

def test_the_course_notebook_uses_these_views_and_links_every_scaling_exercise():
    notebook = EXERCISES["consistent_hashing"].course_notebook
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    text = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    for call in ("ring_explorer()", "load_spread_figure(", "resize_figure(", "lookup_cost_figure(", "replica_explorer()"):
        assert call in code, f"{notebook.name} never calls {call}"
    for exercise in EXERCISES.values():
        if exercise.assignment == "scaling":
            link = f"../exercises/scaling/{exercise.name}.ipynb"
            assert link in text, f"{notebook.name} does not link {link}"
            assert (notebook.parent / link).resolve() == exercise.release_notebook.resolve()
            assert exercise.release_notebook.exists(), f"{link} is linked but not released"
    # Which cells hold stored outputs (only those tagged nbval-check-output): tests/test_stored_outputs.py.


class LowercaseRing(ModelBackedRing):
    """Answers with names that are not the ring's nodes (and, for one key, with something unhashable)."""

    def get_node(self, key):
        owner = super().get_node(key)
        return [owner] if key == "user:0-3" else owner.lower()


def test_owners_that_are_not_nodes_are_drawn_apart_and_reported():
    explorer = ring_explorer(LowercaseRing)
    model = model_owners(list("ABCD"), 5)
    assert f"first disagreement: key 'user:0-0' -> yours {model['user:0-0'].lower()!r}" in summary(explorer)
    assert "(2000 of 2000 keys disagree)" in summary(explorer)
    unknown = traces(explorer, YOURS_PANEL)[keys_trace("an unknown node")]
    assert len(unknown.theta) == 100 and unknown.marker.color == "#000000"
