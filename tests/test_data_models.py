"""The data family's course models: what the prose and the figures of course/03_data.ipynb claim.

Each expectation is computed here from first principles (a plain loop, a count), never read back from
the model it checks. Every run is seeded; a failing check names its seed and a one-line replay.
"""
from __future__ import annotations

import pytest

from dspatterns.data.event_log import (
    DEPOSITED,
    WITHDREW,
    balance_as_of,
    ledger_history,
    replay_cost,
    replay_with_snapshots,
)
from dspatterns.data.outbox_model import (
    AFTER_PUBLISH,
    BEFORE_PUBLISH,
    CRASH_POINTS,
    DUAL_WRITE,
    MID_BATCH,
    OUTBOX,
    crash_schedule,
    crash_study,
    run_trial,
)
from dspatterns.data.projection_lag import simulate_projection
from dspatterns.data.saga_model import (
    TRAVEL_BOOKING,
    choreography_trace,
    effects_of,
    orchestration_trace,
    saga_graph,
)

SEEDS = (1, 2, 3, 4, 5)


# --- saga ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fail_at", range(len(TRAVEL_BOOKING)))
def test_compensations_run_in_reverse_and_skip_the_failed_step(fail_at):
    trace = orchestration_trace(TRAVEL_BOOKING, fail_at)
    undone = [step for kind, step in trace if kind == "compensate"]
    assert undone == list(reversed(TRAVEL_BOOKING[:fail_at])), (
        f"orchestration_trace(TRAVEL_BOOKING, {fail_at}) compensated {undone}")
    assert TRAVEL_BOOKING[fail_at] not in undone
    assert [kind for kind, _ in trace].count("fail") == 1


def test_no_failure_runs_every_action_and_no_compensation():
    assert orchestration_trace(TRAVEL_BOOKING, None) == [("action", step) for step in TRAVEL_BOOKING]


@pytest.mark.parametrize("fail_at", [None, *range(len(TRAVEL_BOOKING))])
def test_choreography_has_the_orchestrations_effects_in_the_same_order(fail_at):
    messages = choreography_trace(TRAVEL_BOOKING, fail_at)
    assert effects_of(messages) == orchestration_trace(TRAVEL_BOOKING, fail_at), (
        f"replay: effects_of(choreography_trace(TRAVEL_BOOKING, {fail_at}))")
    assert [m.order for m in messages] == list(range(1, len(messages) + 1))


def test_a_bad_failing_step_is_refused():
    with pytest.raises(ValueError):
        orchestration_trace(TRAVEL_BOOKING, len(TRAVEL_BOOKING))


def test_saga_graph_lays_actions_left_to_right_with_compensations_below():
    graph, positions = saga_graph(TRAVEL_BOOKING)
    assert graph.number_of_nodes() == 2 * len(TRAVEL_BOOKING)
    columns = [positions[("action", step)][0] for step in TRAVEL_BOOKING]
    assert columns == sorted(columns) and len(set(columns)) == len(columns)
    for step in TRAVEL_BOOKING:
        assert positions[("compensate", step)][0] == positions[("action", step)][0]
        assert positions[("compensate", step)][1] < positions[("action", step)][1]


# --- event sourcing --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_temporal_replay_equals_the_running_balance_at_every_boundary(seed):
    history = ledger_history(seed, 60)
    running = 0
    for index, entry in enumerate(history):
        running += entry.amount if entry.kind == DEPOSITED else -entry.amount if entry.kind == WITHDREW else 0
        assert running >= 0, f"ledger_history({seed}, 60) overdraws at entry {entry}"
        # exactly at the event's time it counts; just before, it does not
        assert balance_as_of(history, entry.timestamp) == (running, index + 1), (
            f"replay: balance_as_of(ledger_history({seed}, 60), {entry.timestamp})")
        if index + 1 < len(history) and history[index + 1].timestamp > entry.timestamp:
            midway = (entry.timestamp + history[index + 1].timestamp) / 2
            assert balance_as_of(history, midway) == (running, index + 1)
    assert balance_as_of(history, None) == (running, len(history))
    assert balance_as_of(history, -1.0) == (0, 0)


@pytest.mark.parametrize("every", [1, 7, 50])
def test_snapshots_give_the_full_replays_balance_and_read_fewer_events_as_the_log_grows(every):
    history = ledger_history(3, 500)
    for length in (every + 1, 120, 500):
        prefix = history[:length]
        balance, read = replay_with_snapshots(prefix, every)
        assert balance == balance_as_of(prefix)[0]
        assert read <= every, f"replay_with_snapshots(ledger_history(3, 500)[:{length}], {every}) read {read}"
        assert read < length
    cost = replay_cost(range(100, 1001, 100), every=every)
    assert cost.full_replay == list(range(100, 1001, 100))
    assert max(cost.with_snapshots) <= every
    assert all(snap < full for snap, full in zip(cost.with_snapshots, cost.full_replay))


def test_the_courses_replay_cost_lengths_show_one_snapshot_plus_the_events_after_it():
    # course/03_data.ipynb prints these and its prose quotes them
    cost = replay_cost([120, 430, 745, 999], every=50)
    assert cost.with_snapshots == [21, 31, 46, 50]


# --- CQRS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch_limit", [1, 4, 20])
def test_projection_lag_goes_to_zero_after_the_writes_stop(seed, batch_limit):
    run = simulate_projection(seed, write_rate=5.0, catch_up_every=1.0, batch_limit=batch_limit)
    assert all(0 <= lag for lag in run.lag)
    assert all(b - a <= batch_limit for a, b in zip(run.applied, run.applied[1:]))
    assert run.lag[-1] == 0 and run.applied[-1] == len(run.write_times), (
        f"replay: simulate_projection({seed}, batch_limit={batch_limit}).lag[-1] == {run.lag[-1]}")
    assert run.caught_up_at is not None and run.caught_up_at >= run.duration


def test_a_projector_slower_than_the_writes_falls_behind_and_a_faster_one_does_not():
    slow = simulate_projection(7, write_rate=5.0, batch_limit=2)
    fast = simulate_projection(7, write_rate=5.0, batch_limit=20)
    assert max(slow.lag) > 10 * max(max(fast.lag), 1) / 2, (max(slow.lag), max(fast.lag))
    assert slow.caught_up_at > fast.caught_up_at


# --- outbox ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("crash_point", CRASH_POINTS)
def test_the_outbox_loses_no_message_and_its_consumer_removes_exactly_the_duplicates(seed, crash_point):
    trial = run_trial(OUTBOX, crash_point, seed=seed)
    replay = f"replay: run_trial({OUTBOX!r}, {crash_point!r}, seed={seed})"
    assert trial.crashes > 0, f"no crash was injected; {replay}"
    assert trial.lost == [], f"lost {trial.lost[:5]}; {replay}"
    assert sorted(trial.handled) == sorted(trial.orders), replay
    assert trial.duplicates_removed == trial.duplicates_delivered, replay
    if crash_point == BEFORE_PUBLISH:
        assert trial.duplicates_delivered == 0, replay
    else:
        assert trial.duplicates_delivered > 0, f"a crash after publishing must resend; {replay}"


@pytest.mark.parametrize("seed", SEEDS)
def test_the_dual_write_loses_messages_under_the_same_crashes(seed):
    before = run_trial(DUAL_WRITE, BEFORE_PUBLISH, seed=seed)
    middle = run_trial(DUAL_WRITE, MID_BATCH, seed=seed)
    after = run_trial(DUAL_WRITE, AFTER_PUBLISH, seed=seed)
    schedule = crash_schedule(seed, 30, 5, 0.3)
    crashes = sum(crash is not None for crash in schedule)
    # a crash before publishing loses the whole wave of 5; mid-batch loses the wave's unsent rest
    assert len(before.lost) == 5 * crashes, f"replay: run_trial({DUAL_WRITE!r}, {BEFORE_PUBLISH!r}, seed={seed})"
    assert len(middle.lost) == sum(5 - crash for crash in schedule if crash is not None) > 0
    assert after.lost == []
    for trial in (before, middle, after):
        assert trial.duplicates_delivered == 0


def test_crash_study_rates_on_fixed_seeds():
    """The figures the notebook prints (seed 1, crash rate 0.3, 150 orders per run)."""
    rows = {(row.crash_point, row.design): row for row in crash_study(seed=1, crash_rate=0.3)}
    assert all(rows[(point, OUTBOX)].lost == 0 for point in CRASH_POINTS)
    assert [rows[(point, DUAL_WRITE)].lost for point in CRASH_POINTS] == [45, 0, 18]
    assert [rows[(point, OUTBOX)].duplicates_delivered for point in CRASH_POINTS] == [0, 45, 27]
    assert all(row.duplicates_removed == row.duplicates_delivered for row in rows.values())


def test_the_dual_write_loss_rate_grows_with_the_crash_rate():
    rates = [sum(run_trial(DUAL_WRITE, BEFORE_PUBLISH, seed=s, crash_rate=r).loss_rate for s in SEEDS)
             for r in (0.1, 0.3, 0.6)]
    assert rates == sorted(rates) and rates[0] > 0, rates
