"""The discovery widgets, built headless: a slider changes the figure, and the figure shows what it claims.

Expectations come from the models (``dspatterns.discovery``), which ``test_discovery_models`` and
``test_discovery_modes`` check from first principles, or from the settings themselves (a crash is
dropped ``ttl`` after its last heartbeat), never from the widget. Bring your own: the small registry
and balancers below honour the contract in ``exercises/discovery/service_discovery.ipynb``; written
here, in the test, because ``dspatterns`` must never contain one. The correct ones agree with the
model everywhere, the buggy ones are shown the first point where they differ.

The explorers check the rules as the grader reads them: round robin may start at any instance and go
in any order, as long as every ``n`` picks in a row visit each of the ``n`` instances once; least
connections gives a tie to the instance registered first (the model goes round robin among tied
instances, as nginx does, so a correct class parts from the model's picks there, unmarked, while a
class that breaks ties another way is marked). The registry's order is not silent either: the
contract says registration order, so a different order is marked.
"""
from __future__ import annotations

import ipywidgets as widgets
import pytest
from widget_tree import descendants, figure_of, html_of, trace

from dspatterns.discovery.discovery_modes import CLIENT_SIDE, SERVER_SIDE, compare_modes
from dspatterns.discovery.load_balancing import LEAST_CONNECTIONS, POLICIES, ROUND_ROBIN, compare_policies
from dspatterns.widgets.balancer_explorer import (
    FIRST_DIFFERENCE as BALANCER_DIFFERENCE,
)
from dspatterns.widgets.balancer_explorer import (
    REQUESTS,
    YOURS,
    balancer_explorer,
    balancer_figure,
    check_balancer,
)
from dspatterns.widgets.discovery_view import (
    CRASH,
    REGISTRY_DROP,
    failover_explorer,
    failover_figure,
    failures_trace,
    heals_trace,
    topology_figure,
)
from dspatterns.widgets.registry_view import (
    DELAYS,
    FIRST_DIFFERENCE,
    HEARTBEATS,
    LISTED,
    STOPPED,
    VANISHED,
    YOURS as YOUR_LANES,
    check_registry_class,
    registry_view_explorer,
    registry_view_figure,
    scenario,
)


def _slider(widget, description):
    found = [w for w in descendants(widget) if isinstance(w, (widgets.IntSlider, widgets.FloatSlider,
                                                              widgets.SelectionSlider))
             and w.description == description]
    assert len(found) == 1, f"expected one slider {description!r}, found {len(found)}"
    return found[0]


# --- small classes that honour the exercise's contract, for bring-your-own ----------------------------

class Registry:
    """Correct: listed while ``clock() - last_seen < ttl``, in registration order."""

    def __init__(self, ttl=10.0, clock=None):
        self.ttl, self.clock, self.entries = ttl, clock, {}

    def register(self, service, instance_id, address):
        self.entries[(service, instance_id)] = [address, self.clock()]

    def heartbeat(self, service, instance_id):
        if (service, instance_id) not in self.entries:
            raise KeyError(instance_id)
        self.entries[(service, instance_id)][1] = self.clock()

    def deregister(self, service, instance_id):
        self.entries.pop((service, instance_id), None)

    def instances(self, service):
        now = self.clock()
        return [address for (s, _), (address, seen) in self.entries.items() if s == service and now - seen < self.ttl]


class InclusiveTtlRegistry(Registry):
    """The bug: ``<=`` keeps an instance listed at the very moment its ttl runs out."""

    def instances(self, service):
        now = self.clock()
        return [address for (s, _), (address, seen) in self.entries.items()
                if s == service and now - seen <= self.ttl]


class IgnoresDeregistration(Registry):
    """The bug: a clean shutdown is treated like a crash, so it lingers for a ttl."""

    def deregister(self, service, instance_id):
        pass


class NewestFirstRegistry(Registry):
    """The bug: the right addresses, but the newest registration first."""

    def instances(self, service):
        return list(reversed(super().instances(service)))


class RoundRobin:
    def __init__(self, registry, service):
        self.registry, self.service, self.turn = registry, service, 0

    def pick(self):
        addresses = self.registry.instances(self.service)
        if not addresses:
            raise LookupError(self.service)
        address = addresses[self.turn % len(addresses)]
        self.turn += 1
        return address


class RoundRobinFromTheThird(RoundRobin):
    """Correct: the contract does not say where the turn starts."""

    def __init__(self, registry, service):
        super().__init__(registry, service)
        self.turn = 2


class BackwardsRoundRobin(RoundRobin):
    """Correct: each instance once per turn, in reverse registration order (the rule fixes no order)."""

    def pick(self):
        addresses = self.registry.instances(self.service)
        self.turn -= 1
        return addresses[self.turn % len(addresses)]


class SkippingRoundRobin(RoundRobin):
    """The bug: the turn advances twice, so every other instance is never picked."""

    def pick(self):
        address = super().pick()
        self.turn += 1
        return address


class LeastConnections:
    """Correct, with the production tie-break: the first of the least loaded in registration order."""

    def __init__(self, registry, service):
        self.registry, self.service, self.open = registry, service, {}

    def pick(self):
        addresses = self.registry.instances(self.service)
        if not addresses:
            raise LookupError(self.service)
        address = min(addresses, key=lambda a: self.open.get(a, 0))
        self.open[address] = self.open.get(address, 0) + 1
        return address

    def release(self, address):
        self.open[address] -= 1


class TiesRoundRobin(LeastConnections):
    """The bug, for the exercise: the model's (and nginx's) tie-break, round robin among the tied, where the
    grader gives a tie to the instance registered first."""

    def __init__(self, registry, service):
        super().__init__(registry, service)
        self.cursor = 0

    def pick(self):
        addresses = self.registry.instances(self.service)
        fewest = min(self.open.get(a, 0) for a in addresses)
        count = len(addresses)
        index = next(i % count for i in range(self.cursor, self.cursor + count)
                     if self.open.get(addresses[i % count], 0) == fewest)
        self.cursor = (index + 1) % count
        address = addresses[index]
        self.open[address] = self.open.get(address, 0) + 1
        return address


class NeverReleases(LeastConnections):
    """The bug: ``release`` does nothing, so it balances requests handed out, not requests open."""

    def release(self, address):
        pass


# --- 1. the registry's view over time -------------------------------------------------------------------

def test_the_lanes_show_each_instance_dropping_out_ttl_after_its_last_heartbeat():
    figure = registry_view_figure(ttl=3.0, heartbeat_interval=1.0)
    # api-2 crashes at 6.6 after its heartbeat at 6.0: gone at 9.0; api-4 at 17.1 after 17.0: gone at 20.0;
    # api-3 deregisters at 12.4 and is gone at once
    assert sorted(trace(figure, VANISHED).x) == [9.0, 12.4, 20.0]
    assert sorted(trace(figure, STOPPED).x) == [6.6, 12.4, 17.1]
    bracket = [x for x in trace(figure, DELAYS).x if x is not None]
    assert bracket == [6.6, 9.0, 17.1, 20.0]
    beats = trace(figure, HEARTBEATS)
    assert sum(1 for x in beats.x if x <= 6.6 and x == int(x)) >= 7  # 0..6 for api-2, and the others
    assert "2.40 s and 2.90 s" in figure.layout.title.text


def test_every_crash_delay_drawn_lies_between_ttl_minus_interval_and_ttl():
    for ttl, interval in ((3.0, 1.0), (5.0, 2.0), (2.5, 0.75), (8.0, 4.0)):
        figure = registry_view_figure(ttl=ttl, heartbeat_interval=interval)
        xs = [x for x in trace(figure, DELAYS).x if x is not None]
        delays = [end - start for start, end in zip(xs[::2], xs[1::2])]
        assert delays and all(ttl - interval < d <= ttl for d in delays), (ttl, interval, delays)


def test_the_listed_bar_ends_at_the_first_sample_the_instance_is_gone():
    timeline = scenario(3.0, 1.0)
    figure = registry_view_figure(3.0, 1.0)
    listed = trace(figure, LISTED)
    lane_of_api2 = 2  # lanes run bottom to top: api-4 at 0, ..., api-1 at 3
    segments = [(x0, x1) for x0, x1, y in zip(listed.x[::3], listed.x[1::3], listed.y[::3]) if y == lane_of_api2]
    assert segments == [(0.0, 9.0)]
    assert timeline.listed("api-2")[timeline.times.index(8.75)] and not timeline.listed("api-2")[timeline.times.index(9.0)]


def test_moving_the_ttl_and_interval_sliders_moves_the_drop_outs():
    explorer = registry_view_explorer()
    figure = figure_of(explorer)
    _slider(explorer, "ttl (s)").value = 5.0
    assert sorted(trace(figure, VANISHED).x) == [11.0, 12.4, 22.0]
    assert "4.40 s and 4.90 s" in figure.layout.title.text
    _slider(explorer, "heartbeat interval (s)").value = 2.0
    # heartbeats at 0, 2, 4, 6: api-2's last is 6.0 -> 11.0; api-4's (registered at 4) at 4, ..., 16 -> 21.0
    assert sorted(trace(figure, VANISHED).x) == [11.0, 12.4, 21.0]
    assert "3 &lt; 4.40 &le; 5" in html_of(explorer)


def test_a_ttl_no_longer_than_the_interval_is_called_out_as_flapping():
    figure = registry_view_figure(ttl=1.0, heartbeat_interval=2.0)
    assert "flap" in figure.layout.title.text
    assert trace(figure, LISTED).x.count(None) > 8, "live instances drop out between heartbeats"


def test_a_correct_registry_agrees_with_the_model_at_every_sample():
    explorer = registry_view_explorer(Registry)
    assert "listed exactly what the model lists at all 97 sample times" in html_of(explorer), html_of(explorer)
    figure = figure_of(explorer)
    assert trace(figure, FIRST_DIFFERENCE).x == ()
    assert [x for x in trace(figure, YOUR_LANES).x] == [x for x in trace(figure, LISTED).x]
    _slider(explorer, "ttl (s)").value = 0.5
    assert "listed exactly what the model lists" in html_of(explorer)


def test_an_inclusive_ttl_is_marked_where_the_crash_should_have_dropped_out():
    verdict = check_registry_class(InclusiveTtlRegistry, scenario(3.0, 1.0))
    assert verdict.first_difference[0] == 9.0, verdict.text  # 9.0 - 6.0 == ttl: gone, but <= keeps it
    assert "api-2" in verdict.first_difference[1] and "api-2" not in verdict.first_difference[2]
    explorer = registry_view_explorer(InclusiveTtlRegistry)
    marked = trace(figure_of(explorer), FIRST_DIFFERENCE)
    assert marked.x == (9.0,) and round(marked.y[0]) == 2, "the star sits on api-2's lane at 9.0 s"
    assert "first difference at t = 9.00 s" in html_of(explorer)
    _slider(explorer, "ttl (s)").value = 4.0
    assert trace(figure_of(explorer), FIRST_DIFFERENCE).x == (10.0,)


def test_a_registry_that_ignores_deregistration_is_marked_at_the_clean_shutdown():
    verdict = check_registry_class(IgnoresDeregistration, scenario(3.0, 1.0))
    assert verdict.first_difference[0] == 12.5, verdict.text  # the first sample after 12.4


def test_a_registry_out_of_registration_order_is_marked_at_the_first_sample():
    verdict = check_registry_class(NewestFirstRegistry, scenario(3.0, 1.0))
    assert verdict.first_difference == (0.0, ("api-3", "api-2", "api-1"), ("api-1", "api-2", "api-3")), verdict.text
    # from 20.0 s (api-4 dropped) only api-1 is left, and one address has one order: 17 samples agree
    assert verdict.differences == 97 - 17


def test_a_stub_registry_is_reported_in_one_line():
    class Stub:
        def __init__(self, ttl=10.0, clock=None):
            pass

        def register(self, service, instance_id, address):
            raise NotImplementedError

    text = html_of(registry_view_explorer(Stub))
    assert "at t = 0.00 s register('api', 'api-1', 'api-1.internal:8080') raised NotImplementedError" in text, text
    assert "Traceback" not in text


# --- 2. client-side against server-side -----------------------------------------------------------------

def test_the_topologies_show_who_looks_up():
    figure = topology_figure()
    client_steps = trace(figure, f"{CLIENT_SIDE} steps").text
    server_steps = trace(figure, f"{SERVER_SIDE} steps").text
    assert "1. look up (cached)" in client_steps and "2. call the chosen instance" in client_steps
    assert "1. call one address" in server_steps and "2. look up (watched)" in server_steps
    assert "router" in trace(figure, f"{SERVER_SIDE} nodes").text
    assert "router" not in trace(figure, f"{CLIENT_SIDE} nodes").text


def test_the_failover_figure_counts_the_models_failures():
    runs = compare_modes(client_refresh=10.0)
    figure = failover_figure(runs)
    for mode in (CLIENT_SIDE, SERVER_SIDE):
        line = trace(figure, failures_trace(mode))
        assert line.y[-1] == runs[mode].failures
        assert list(line.x[1:-1]) == runs[mode].failure_times
        assert sorted(trace(figure, heals_trace(mode)).x) == sorted(runs[mode].drops_at.values())
    assert trace(figure, CRASH).x[0] == 10.3 and trace(figure, REGISTRY_DROP).x[0] == 13.0
    assert runs[CLIENT_SIDE].failures > runs[SERVER_SIDE].failures


def test_a_shorter_client_refresh_lowers_the_client_side_failures_only():
    explorer = failover_explorer()
    figure = figure_of(explorer)
    # it opens where the notebook's figure is drawn (Eureka's 30 s), so explore question 2 moves it to 5 s
    assert "refreshed every 30 s" in figure.layout.title.text
    client_before = trace(figure, failures_trace(CLIENT_SIDE)).y[-1]
    assert client_before == compare_modes(client_refresh=30.0)[CLIENT_SIDE].failures
    server_before = trace(figure, failures_trace(SERVER_SIDE)).y[-1]
    _slider(explorer, "client refresh (s)").value = 5.0
    assert trace(figure, failures_trace(CLIENT_SIDE)).y[-1] == compare_modes(client_refresh=5.0)[CLIENT_SIDE].failures
    assert trace(figure, failures_trace(CLIENT_SIDE)).y[-1] < client_before
    assert trace(figure, failures_trace(SERVER_SIDE)).y[-1] == server_before
    assert "refreshed every 5 s" in figure.layout.title.text


def test_the_ttl_and_router_sliders_change_the_figure():
    explorer = failover_explorer()
    figure = figure_of(explorer)
    _slider(explorer, "ttl (s)").value = 6.0
    assert trace(figure, REGISTRY_DROP).x[0] == 16.0  # last heartbeat 10.0 + 6
    before = trace(figure, failures_trace(SERVER_SIDE)).y[-1]
    _slider(explorer, "router refresh (s)").value = 5.0
    assert trace(figure, failures_trace(SERVER_SIDE)).y[-1] > before
    assert "refreshes every 5 s" in html_of(explorer)


# --- 3. balancers under uneven request cost -------------------------------------------------------------

def test_the_balancer_figure_draws_every_policys_peaks():
    figure = balancer_figure(8, "exponential")
    runs = compare_policies(8, REQUESTS, seed=0, cost="exponential", load=0.8)
    for policy in POLICIES:
        assert tuple(trace(figure, policy).y) == runs[policy].max_load
    assert trace(figure, YOURS[ROUND_ROBIN]).y == ()


def test_the_sliders_redraw_the_peaks_and_heavy_tails_hurt_the_blind_policies():
    explorer = balancer_explorer()
    figure = figure_of(explorer)
    _slider(explorer, "request cost").value = "pareto"
    runs = compare_policies(8, REQUESTS, seed=0, cost="pareto", load=0.8)
    assert tuple(trace(figure, ROUND_ROBIN).y) == runs[ROUND_ROBIN].max_load
    assert max(trace(figure, ROUND_ROBIN).y) > 4 * max(trace(figure, LEAST_CONNECTIONS).y)
    _slider(explorer, "instances").value = 4
    assert len(trace(figure, LEAST_CONNECTIONS).y) == 4
    assert "4 instances, pareto request cost" in figure.layout.title.text


@pytest.mark.parametrize("registry_class", [None, Registry])
def test_correct_balancers_follow_their_rules_and_round_robin_matches_the_model(registry_class):
    explorer = balancer_explorer(RoundRobin, LeastConnections, registry_class=registry_class)
    figure = figure_of(explorer)
    text = html_of(explorer)
    assert "follows the round robin rule" in text and "follows the least connections rule" in text, text
    assert trace(figure, BALANCER_DIFFERENCE).x == ()
    # the model's round robin starts at the first instance too, so the loads are the same to the request
    assert trace(figure, YOURS[ROUND_ROBIN]).y == trace(figure, ROUND_ROBIN).y


def test_a_least_connections_balancer_that_never_releases_is_marked():
    verdict = check_balancer(NeverReleases, LEAST_CONNECTIONS, 8, "pareto")
    assert verdict.first_break is not None and verdict.breaks > 100, verdict.text
    explorer = balancer_explorer(least_connections=NeverReleases)
    _slider(explorer, "request cost").value = "pareto"
    figure = figure_of(explorer)
    marked = trace(figure, BALANCER_DIFFERENCE)
    assert len(marked.x) == 1 and f"request #{verdict.first_break[0]}" in marked.text[0]
    assert max(trace(figure, YOURS[LEAST_CONNECTIONS]).y) > 4 * max(trace(figure, LEAST_CONNECTIONS).y)
    assert f"request #{verdict.first_break[0]} went to" in html_of(explorer)


def test_a_round_robin_that_skips_is_marked_where_a_turn_repeats_an_instance():
    verdict = check_balancer(SkippingRoundRobin, ROUND_ROBIN, 8, "exponential")
    # picks 10.0.0.1, .3, .5, .7, then .1 again: the fifth pick of the first 8 repeats one
    assert verdict.first_break[:2] == (4, 0), verdict.text
    assert "10.0.0.1:8080 already had its turn in picks #0..#3; still due: 10.0.0.2:8080" in verdict.text, \
        verdict.text


def test_a_least_connections_that_breaks_ties_round_robin_is_marked():
    verdict = check_balancer(TiesRoundRobin, LEAST_CONNECTIONS, 8, "exponential")
    assert verdict.first_break is not None, verdict.text
    assert "a tie goes to the one registered first" in verdict.text, verdict.text
    assert verdict.first_other_pick is None, "this class breaks ties as the model does: it should follow it"


def test_choices_the_rule_allows_are_named_but_not_marked():
    start = check_balancer(RoundRobinFromTheThird, ROUND_ROBIN, 8, "exponential")
    assert start.first_break is None and start.first_other_pick == (0, 2, 0), start.text
    assert "up to request #0, where yours chose 10.0.0.3:8080 and the model 10.0.0.1:8080: a different start" \
        in start.text
    backwards = check_balancer(BackwardsRoundRobin, ROUND_ROBIN, 8, "exponential")
    assert backwards.first_break is None and "a different start or order within a turn" in backwards.text, \
        backwards.text
    tie = check_balancer(LeastConnections, LEAST_CONNECTIONS, 8, "exponential")
    assert tie.first_break is None and "the exercise gives to the first registered" in tie.text, tie.text
    explorer = balancer_explorer(RoundRobinFromTheThird, LeastConnections)
    assert trace(figure_of(explorer), BALANCER_DIFFERENCE).x == ()


def test_a_stub_balancer_is_reported_in_one_line():
    class Stub:
        def __init__(self, registry, service):
            pass

        def pick(self):
            raise NotImplementedError

    text = html_of(balancer_explorer(Stub))
    assert "<b>Your Stub:</b> request #0: pick() raised NotImplementedError" in text, text
