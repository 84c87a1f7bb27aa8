"""Balancers under uneven request cost: how busy does the busiest instance get under each policy?

One seeded stream of requests (Poisson arrivals at 80% of the instances' capacity, costs of mean 1 s)
goes through random, round robin, least connections and power of two choices, each on exactly the same
requests; the bars are, per instance, the most requests it held at once. The "request cost" slider
moves from every request costing the same, through exponential costs, to heavy-tailed Pareto costs,
where one long request piles the next ones up behind it. The numbers come from
``dspatterns.discovery.load_balancing.compare_policies``.

Handed your balancer classes (``balancer_explorer(RoundRobinBalancer, LeastConnectionsBalancer,
registry_class=ServiceRegistry)``), it registers the instances in your registry (``ttl`` 1e9 s, on a
fake clock set to each arrival), builds ``RoundRobinBalancer(registry, "api")`` and
``LeastConnectionsBalancer(registry, "api")``, and sends the same requests through them: at every
arrival it first calls ``release(address)`` on the least-connections balancer for each request that has
finished by then (in finish order), then ``pick()``. Their peaks are drawn beside the model's. A pick
is marked where it breaks the exercise's rule, as the grader reads it: round robin does not fix who
goes first, but every ``n`` picks in a row (counted from the first, as the healthy list never changes
here) visit each of the ``n`` instances once; least connections picks an instance holding the fewest
open requests, and a tie goes to the one registered first. (The model breaks its ties round robin, as
nginx does, so a correct class may part from the model's picks without breaking the rule.)
"""
from __future__ import annotations

import heapq
import html
from dataclasses import dataclass

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.student_code import describe
from dspatterns.discovery.load_balancing import (
    LEAST_CONNECTIONS,
    POLICIES,
    ROUND_ROBIN,
    BalancingRun,
    compare_policies,
    request_stream,
)
from dspatterns.testing import FakeClock

SERVICE = "api"
REQUESTS, LOAD = 3_000, 0.8
COST_SKEWS = ("constant", "exponential", "pareto")
YOURS = {ROUND_ROBIN: "your RoundRobinBalancer", LEAST_CONNECTIONS: "your LeastConnectionsBalancer"}
FIRST_DIFFERENCE = "first pick that breaks the rule"
COLOURS = {"random": "#9e9e9e", ROUND_ROBIN: "#1565c0", LEAST_CONNECTIONS: "#2e7d32",
           "power of two choices": "#ef6c00", YOURS[ROUND_ROBIN]: "#7986cb", YOURS[LEAST_CONNECTIONS]: "#81c784"}


def address_of(index: int) -> str:
    return f"10.0.0.{index + 1}:8080"


class _Listing:
    """A fixed list of addresses, for balancers tried without a registry of your own (no ttl, no heartbeats)."""

    def __init__(self, addresses):
        self._addresses = list(addresses)

    def instances(self, service):
        return list(self._addresses)


@dataclass(frozen=True)
class BalancerVerdict:
    """Your balancer on the stream: its peak per instance, and the first pick that breaks its rule."""

    name: str
    policy: str
    max_load: tuple[int, ...] = ()
    first_break: tuple[int, int, str] | None = None  # (request number, instance index, what the rule wanted)
    breaks: int = 0
    problem: str | None = None
    first_other_pick: tuple[int, int, int] | None = None  # (request number, yours, the model's) where they part

    def _parting(self) -> str:
        """Where your picks and the model's part, which is no error when the rule allows both."""
        if self.first_other_pick is None:
            return f" Every pick is the model's {self.policy} pick."
        n, yours, model = self.first_other_pick
        if self.first_break is not None and self.first_break[0] == n:
            return ""
        allowed = ("a different start or order within a turn, which the rule allows" if self.policy == ROUND_ROBIN
                   else "a tie, which the model breaks round robin and the exercise gives to the first registered")
        return (f" Your picks follow the model's up to request #{n}, where yours chose {address_of(yours)} and "
                f"the model {address_of(model)}: {allowed}, so the loads differ from there on.")

    @property
    def text(self) -> str:
        head = f"<b>Your {html.escape(self.name)}:</b> "
        if self.problem is not None:
            return head + html.escape(self.problem, quote=False)
        peak = f"busiest instance held {max(self.max_load)} at once; "
        if self.first_break is None:
            return (head + peak + f"every one of its {REQUESTS:,} picks follows the {self.policy} rule."
                    + self._parting())
        n, index, wanted = self.first_break
        return head + peak + html.escape(
            f"request #{n} went to {address_of(index)}, but {wanted} ({self.breaks:,} of {REQUESTS:,} picks "
            "break the rule).", quote=False) + self._parting()


def check_balancer(balancer_class: type, policy: str, instances: int, cost: str, *, seed: int = 0,
                   registry_class: type | None = None, model: BalancingRun | None = None) -> BalancerVerdict:
    """Send the explorer's requests through ``balancer_class(registry, "api")`` and check each pick.

    Beside the rule, it notes the first request where your pick and the model's (on the same requests)
    part: the same as a rule break, or no error (round robin's start, a tie the model breaks its own way).
    """
    if model is None:
        model = compare_policies(instances, REQUESTS, seed=seed, cost=cost, load=LOAD, policies=(policy,))[policy]
    model_picks = [request.instance for request in model.requests]
    name = getattr(balancer_class, "__name__", repr(balancer_class))
    addresses = [address_of(k) for k in range(instances)]
    index_of = {address: k for k, address in enumerate(addresses)}
    clock = FakeClock()
    if registry_class is None:
        registry = _Listing(addresses)
    else:
        try:
            registry = registry_class(ttl=1e9, clock=clock)
            for k, address in enumerate(addresses):
                registry.register(SERVICE, f"instance-{k}", address)
        except Exception as error:  # noqa: BLE001 - any failure of student code becomes one sentence
            return BalancerVerdict(name, policy, problem=f"setting up your {registry_class.__name__} raised "
                                                         f"{describe(error)}")
    try:
        balancer = balancer_class(registry, SERVICE)
    except Exception as error:  # noqa: BLE001
        return BalancerVerdict(name, policy, problem=f"{name}(registry, {SERVICE!r}) raised {describe(error)}")
    stream = request_stream(REQUESTS, LOAD * instances, seed=seed, cost=cost)
    pending: list[tuple[float, int]] = []  # (finish time, instance) of every open request
    free_at = [0.0] * instances
    outstanding = [0] * instances
    peaks = [0] * instances
    picks: list[int] = []
    first, breaks, parted = None, 0, None
    for n, (arrival, request_cost) in enumerate(stream):
        clock.now = arrival
        while pending and pending[0][0] <= arrival:
            _, done = heapq.heappop(pending)
            outstanding[done] -= 1
            if policy == LEAST_CONNECTIONS:
                try:
                    balancer.release(addresses[done])
                except Exception as error:  # noqa: BLE001
                    return BalancerVerdict(name, policy, problem=f"request #{n}: release({addresses[done]!r}) "
                                                                 f"raised {describe(error)}")
        try:
            picked = balancer.pick()
        except Exception as error:  # noqa: BLE001
            return BalancerVerdict(name, policy, problem=f"request #{n}: pick() raised {describe(error)}")
        if picked not in index_of:
            return BalancerVerdict(name, policy, problem=f"request #{n}: pick() returned {picked!r}, which is not "
                                                         "one of the registered addresses")
        target = index_of[picked]
        wanted = _rule_broken(policy, target, picks, outstanding)
        if wanted is not None:
            breaks += 1
            first = first or (n, target, wanted)
        picks.append(target)
        if parted is None and target != model_picks[n]:
            parted = (n, target, model_picks[n])
        finished = max(arrival, free_at[target]) + request_cost
        free_at[target] = finished
        heapq.heappush(pending, (finished, target))
        outstanding[target] += 1
        peaks[target] = max(peaks[target], outstanding[target])
    return BalancerVerdict(name, policy, tuple(peaks), first, breaks, first_other_pick=parted)


def _rule_broken(policy: str, target: int, picks: list[int], outstanding: list[int]) -> str | None:
    """What the rule wanted instead of ``target`` (``picks`` are the earlier ones), or None when it follows it."""
    if policy == ROUND_ROBIN:
        n = len(outstanding)
        start = len(picks) - len(picks) % n
        turn = picks[start:]
        if target in turn:
            due = ", ".join(address_of(k) for k in range(n) if k not in turn)
            return (f"every {n} picks in a row visit each instance once, and {address_of(target)} already had "
                    f"its turn in picks #{start}..#{len(picks) - 1}; still due: {due}")
        return None
    fewest = min(outstanding)
    first_registered = outstanding.index(fewest)
    if outstanding[target] != fewest:
        return f"it held {_open(outstanding[target])} while {address_of(first_registered)} held {fewest}"
    if target != first_registered:
        return (f"it tied {address_of(first_registered)} at {_open(fewest)}, and a tie goes to the one "
                f"registered first, {address_of(first_registered)}")
    return None


def _open(count: int) -> str:
    return f"{count} open request" + ("" if count == 1 else "s")


def _state(instances: int, cost: str, seed: int, classes: dict[str, type], registry_class: type | None):
    runs = compare_policies(instances, REQUESTS, seed=seed, cost=cost, load=LOAD)
    verdicts = {policy: check_balancer(cls, policy, instances, cost, seed=seed, registry_class=registry_class,
                                       model=runs[policy])
                for policy, cls in classes.items()}
    return runs, verdicts


def _series(runs, verdicts) -> dict[str, dict]:
    instances = len(next(iter(runs.values())).instances)
    labels = [address_of(k) for k in range(instances)]
    series = {policy: {"x": labels, "y": list(run.max_load)} for policy, run in runs.items()}
    for policy, trace in YOURS.items():
        verdict = verdicts.get(policy)
        good = verdict is not None and verdict.problem is None
        series[trace] = {"x": labels if good else [], "y": list(verdict.max_load) if good else []}
    marks = [v for v in verdicts.values() if v.problem is None and v.first_break is not None]
    series[FIRST_DIFFERENCE] = {
        "x": [address_of(v.first_break[1]) for v in marks], "y": [max(v.max_load) + 0.5 for v in marks],
        "text": [f"{v.name}: request #{v.first_break[0]}" for v in marks],
    }
    return series


def _title(runs) -> str:
    run = next(iter(runs.values()))
    peaks = ", ".join(f"{policy} {r.peak}" for policy, r in runs.items())
    return f"{len(run.instances)} instances, {run.cost} request cost, 80% busy: the busiest instance held {peaks}"


def balancer_figure(instances: int = 8, cost: str = "exponential", *, seed: int = 0) -> go.Figure:
    """A plain ``go.Figure`` of the four policies' peaks per instance (renders without a kernel)."""
    runs, verdicts = _state(instances, cost, seed, {}, None)
    return _figure(runs, verdicts)


def _figure(runs, verdicts) -> go.Figure:
    series = _series(runs, verdicts)
    figure = go.Figure()
    for name in (*POLICIES, *YOURS.values()):
        pattern = {"shape": "/"} if name in YOURS.values() else {}
        figure.add_trace(go.Bar(name=name, meta=name, marker={"color": COLOURS[name], "pattern": pattern},
                                hovertemplate="%{x}: held up to %{y} at once<extra>" + name + "</extra>",
                                **series[name]))
    figure.add_trace(go.Scatter(name=FIRST_DIFFERENCE, meta=FIRST_DIFFERENCE, mode="markers",
                                marker={"symbol": "star", "size": 16, "color": "#d50000"},
                                hovertemplate="%{text}<extra>first pick that breaks the rule</extra>",
                                **series[FIRST_DIFFERENCE]))
    figure.update_xaxes(title_text="instance")
    figure.update_yaxes(title_text="most requests held at once")
    figure.update_layout(barmode="group", title={"text": _title(runs), "font": {"size": 14}}, height=420,
                         template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 50},
                         legend={"orientation": "h", "y": -0.25})
    return figure


def summary_html(runs, verdicts) -> str:
    lines = [f"{policy}: peak {run.peak}, p99 response {run.response_quantile(0.99):.1f} s, handed out "
             f"{min(run.handed_out)} to {max(run.handed_out)} requests per instance" for policy, run in runs.items()]
    lines += [verdict.text for verdict in verdicts.values()]
    return "<br>".join(lines)


def balancer_explorer(round_robin: type | None = None, least_connections: type | None = None, *,
                      registry_class: type | None = None, seed: int = 0) -> widgets.VBox:
    """Sliders for instance count and cost skew over the peaks; pass your balancer classes to add them."""
    classes = {policy: cls for policy, cls in ((ROUND_ROBIN, round_robin), (LEAST_CONNECTIONS, least_connections))
               if cls is not None}
    style = {"description_width": "initial"}
    instances = widgets.IntSlider(value=8, min=2, max=16, description="instances", continuous_update=False,
                                  style=style)
    cost = widgets.SelectionSlider(options=COST_SKEWS, value="exponential", description="request cost",
                                   continuous_update=False, style=style)
    runs, verdicts = _state(instances.value, cost.value, seed, classes, registry_class)
    figure = go.FigureWidget(_figure(runs, verdicts))
    summary = widgets.HTML(summary_html(runs, verdicts))

    def redraw(_change=None) -> None:
        runs, verdicts = _state(instances.value, cost.value, seed, classes, registry_class)
        series = _series(runs, verdicts)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(runs)
        summary.value = summary_html(runs, verdicts)

    for control in (instances, cost):
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([instances, cost]), figure, summary])
