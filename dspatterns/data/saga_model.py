"""A saga as a trace: which actions and compensations run, in which order, when one step fails.

Two shapes of the same saga. Orchestrated, one coordinator calls every step and unwinds on a failure.
Choreographed, every service listens on a small event bus for the event before its own and publishes
its result; a failure event travels back up the chain and each service that completed compensates
itself. Both traces are plain lists, so the course can show that they compensate in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

TRAVEL_BOOKING = ("reserve flight", "book hotel", "rent car", "charge card")


def orchestration_trace(steps: tuple[str, ...] | list[str], fail_at: int | None) -> list[tuple[str, str]]:
    """``(kind, step)`` pairs as a coordinator runs them: actions up to ``fail_at`` (0-based, ``None``
    for no failure), then the completed steps' compensations, last completed first.

    The failed step itself is not compensated: its action did not complete, so there is nothing to undo.
    """
    steps = list(steps)
    if fail_at is None:
        return [("action", step) for step in steps]
    if not 0 <= fail_at < len(steps):
        raise ValueError(f"fail_at must be None or 0..{len(steps) - 1}, got {fail_at}")
    done = [("action", step) for step in steps[:fail_at]]
    undo = [("compensate", step) for step in reversed(steps[:fail_at])]
    return done + [("fail", steps[fail_at])] + undo


@dataclass(frozen=True)
class BusMessage:
    """One event on the choreography's bus: who published it and who reacted."""

    order: int
    publisher: str
    topic: str
    reacting: str | None


def choreography_trace(steps: tuple[str, ...] | list[str], fail_at: int | None) -> list[BusMessage]:
    """The events a choreographed saga puts on its bus, in order, with the service that reacts to each.

    Each service subscribes to the previous one's ``done`` event; on ``failed`` or ``compensated`` from
    the next service it undoes its own work and publishes ``compensated``. The bus is a queue, so the
    order is the order of delivery.
    """
    steps = list(steps)
    if fail_at is not None and not 0 <= fail_at < len(steps):
        raise ValueError(f"fail_at must be None or 0..{len(steps) - 1}, got {fail_at}")
    subscribers: dict[str, str | None] = {"saga started": steps[0]}
    for index, step in enumerate(steps):
        subscribers[f"{step}: done"] = steps[index + 1] if index + 1 < len(steps) else None
        subscribers[f"{step}: failed"] = steps[index - 1] if index else None
        subscribers[f"{step}: compensated"] = steps[index - 1] if index else None
    queue = [("client", "saga started")]
    messages: list[BusMessage] = []
    while queue:
        publisher, topic = queue.pop(0)
        reacting = subscribers[topic]
        messages.append(BusMessage(len(messages) + 1, publisher, topic, reacting))
        if reacting is None:
            continue
        position = steps.index(reacting)
        if topic.endswith(": done") or topic == "saga started":
            outcome = "failed" if position == fail_at else "done"
            queue.append((reacting, f"{reacting}: {outcome}"))
        else:
            queue.append((reacting, f"{reacting}: compensated"))
    return messages


def effects_of(messages: list[BusMessage]) -> list[tuple[str, str]]:
    """The choreography's trace in the orchestrator's terms, to compare the two shapes step by step."""
    effects = []
    for message in messages:
        service, _, outcome = message.topic.partition(": ")
        if outcome == "done":
            effects.append(("action", service))
        elif outcome == "failed":
            effects.append(("fail", service))
        elif outcome == "compensated":
            effects.append(("compensate", service))
    return effects


def saga_graph(steps: tuple[str, ...] | list[str]) -> tuple[nx.DiGraph, dict]:
    """Actions in a row, each compensation under its action: forward edges on top, undo edges below.

    Returns the graph and positions: an action's column is its generation in the graph's topological
    order (networkx), so a saga given as any DAG of "then" edges lays out left to right.
    """
    graph = nx.DiGraph()
    for index, step in enumerate(steps):
        graph.add_node(("action", step), layer=index, row=0)
        graph.add_node(("compensate", step), layer=index, row=1)
        graph.add_edge(("action", step), ("compensate", step), kind="undoes")
        if index:
            graph.add_edge(("action", steps[index - 1]), ("action", step), kind="then")
            graph.add_edge(("compensate", step), ("compensate", steps[index - 1]), kind="unwinds to")
    forward = graph.edge_subgraph((a, b) for a, b, kind in graph.edges(data="kind") if kind == "then").copy()
    forward.add_nodes_from(("action", step) for step in steps)
    positions = {}
    for column, generation in enumerate(nx.topological_generations(forward)):
        for (_, step) in generation:
            positions[("action", step)] = (float(column), 0.0)
            positions[("compensate", step)] = (float(column), -1.0)
    return graph, positions


@dataclass(frozen=True)
class ClassRun:
    """Your orchestrator's log against the model's trace for one failing step."""

    fail_at: int | None
    expected: list[tuple[str, str]]
    observed: list[tuple[str, str]]
    problem: str | None = None

    @property
    def divergence(self) -> int | None:
        """Index of the first entry where your log and the model's differ (``None`` when they agree)."""
        if self.problem:
            return 0
        for index, (want, got) in enumerate(zip(self.expected, self.observed)):
            if want != got:
                return index
        if len(self.expected) != len(self.observed):
            return min(len(self.expected), len(self.observed))
        return None


class _StepFailed(RuntimeError):
    """The injected failure of the chosen step's action."""


def run_with_classes(step_cls, orchestrator_cls, failed_cls, steps, fail_at: int | None) -> ClassRun:
    """Run your ``SagaOrchestrator`` on the same steps and failure; its ``.log`` against the model.

    The model's ``("fail", step)`` entry is not logged by an orchestrator (the contract logs completed
    actions and compensations only), so it is left out of the expected log.
    """
    expected = [entry for entry in orchestration_trace(steps, fail_at) if entry[0] != "fail"]

    def action_for(index, name):
        def action(context):
            if index == fail_at:
                raise _StepFailed(f"{name} failed")
            context.setdefault("done", []).append(name)
        return action

    def undo_for(name):
        return lambda context: context.setdefault("undone", []).append(name)

    try:
        saga = orchestrator_cls([step_cls(name, action_for(index, name), undo_for(name))
                                 for index, name in enumerate(steps)])
        try:
            saga.run({})
        except failed_cls:
            pass
        observed = [tuple(entry) for entry in saga.log]
    except Exception as exc:  # noqa: BLE001 - a student's class: report it in one line
        line = ("raises NotImplementedError: still the stub" if isinstance(exc, NotImplementedError)
                else f"raised {type(exc).__name__}: {exc}")
        return ClassRun(fail_at, expected, [], f"your saga {line}")
    return ClassRun(fail_at, expected, observed)
