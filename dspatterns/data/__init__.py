"""Data patterns: models the course uses to show sagas, event logs, projections and the outbox at work.

Everything here is a function over plain lists (step names, ledger entries, delivery traces) or a
simulation that records a trace, so a figure or a test can ask "what ran, in which order?" directly.
None of it is an orchestrator, an event store, a projection or a relay you could submit: those are the
exercises, and they are written against the contracts in the exercise notebooks.
"""
from dspatterns.data.event_log import (
    balance_as_of,
    ledger_history,
    replay_cost,
    replay_with_snapshots,
)
from dspatterns.data.outbox_model import CRASH_POINTS, crash_study, run_trial
from dspatterns.data.projection_lag import simulate_projection
from dspatterns.data.saga_model import (
    choreography_trace,
    orchestration_trace,
    saga_graph,
)

__all__ = [
    "CRASH_POINTS", "balance_as_of", "choreography_trace", "crash_study", "ledger_history",
    "orchestration_trace", "replay_cost", "replay_with_snapshots", "run_trial", "saga_graph",
    "simulate_projection",
]
