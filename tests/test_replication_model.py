"""The read-replica model must show what lag does on fixed seeds, and its explorer must redraw in place.

Each claim the course makes about replicas is checked here on seeded workloads, where a wrong model
would make it fail: no stale read without lag, more of them with more lag, sessions that always see their
own writes (and push reads to the primary as lag grows), round robin that splits reads evenly.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants

from dspatterns.scaling.replication import (
    ANY_REPLICA,
    MONOTONIC_SESSIONS,
    POLICIES,
    PRIMARY,
    READ,
    READ_YOUR_WRITES,
    WRITE,
    compare_policies,
    draw_workload,
    lag_sweep,
    replica_name,
    replication_report,
    simulate_replication,
)
from dspatterns.widgets.replica_timeline import (
    EVEN_SHARE_TRACE,
    FRESH,
    MISSED_OWN,
    STALE,
    WRITES_TRACE,
    read_outcome,
    read_share_figure,
    replica_explorer,
    replica_summary,
    replica_timeline_figure,
)

SEEDS = (1, 11, 23)
LAGS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def replay(seed: int, **settings) -> str:
    """The one-line call that redraws a failing run, for the assertion messages."""
    arguments = ", ".join(f"{name}={value!r}" for name, value in {"seed": seed, **settings}.items())
    return f"simulate_replication({arguments})"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("seed", SEEDS)
def test_without_lag_no_read_is_stale_and_none_falls_back(seed, policy):
    run = simulate_replication(seed=seed, policy=policy, lag=0.0)
    stale = [read for read in run.reads if read.stale]
    assert not stale, f"{len(stale)} stale reads with lag 0, first {stale[0]}; replay: {replay(seed, policy=policy, lag=0.0)}"
    assert run.reads_by_server()[PRIMARY] == 0, f"a caught-up replica was passed over: {replay(seed, policy=policy, lag=0.0)}"


@pytest.mark.parametrize("seed", SEEDS)
def test_stale_reads_grow_with_lag(seed):
    counts = [simulate_replication(seed=seed, lag=lag).stale_reads for lag in LAGS]
    assert counts == sorted(counts), f"stale reads per lag {dict(zip(LAGS, counts))}; replay: {replay(seed, lag=LAGS[-1])}"
    assert counts[0] == 0 and counts[-1] > 3 * counts[1] > 0, dict(zip(LAGS, counts))


@pytest.mark.parametrize("lag", (0.5, 1.0, 3.0))
@pytest.mark.parametrize("seed", SEEDS)
def test_sessions_never_read_older_than_their_own_writes(seed, lag):
    anyone, sessions, monotonic = compare_policies(POLICIES, seed=seed, lag=lag)
    assert anyone.missed_own_writes > 0, f"the check is empty: any-replica reads never missed a write ({replay(seed, lag=lag)})"
    for run in (sessions, monotonic):
        missed = [read for read in run.reads if read.missed_own_write or read.applied < read.min_position]
        assert not missed, f"{run.policy}: {len(missed)} reads older than the session's own write, first {missed[0]}; " \
                           f"replay: {replay(seed, lag=lag, policy=run.policy)}"
        for read in run.reads:
            if read.server != PRIMARY:
                assert read.min_position <= read.applied, read


@pytest.mark.parametrize("seed", SEEDS)
def test_monotonic_sessions_never_go_back_in_time(seed):
    anyone, _, monotonic = compare_policies(POLICIES, seed=seed, lag=2.0, lag_spread=1.0)
    assert anyone.went_back > 0, f"no read went back even with unequal replicas: {replay(seed, lag=2.0, lag_spread=1.0)}"
    assert monotonic.went_back == 0, [read for read in monotonic.reads if read.went_back][:3]


@pytest.mark.parametrize("seed", SEEDS)
def test_sessions_shift_load_to_the_primary_as_lag_grows(seed):
    shares = [simulate_replication(seed=seed, policy=READ_YOUR_WRITES, lag=lag).read_share()[PRIMARY] for lag in LAGS]
    assert shares == sorted(shares), f"primary share per lag {dict(zip(LAGS, shares))}; " \
                                     f"replay: {replay(seed, policy=READ_YOUR_WRITES, lag=LAGS[-1])}"
    assert shares[0] == 0.0 and shares[-1] > 0.4, dict(zip(LAGS, shares))
    anyone = simulate_replication(seed=seed, policy=ANY_REPLICA, lag=LAGS[-1])
    assert anyone.read_share()[PRIMARY] == 0.0, "reads that ask for nothing never need the primary"


@pytest.mark.parametrize("replicas", (1, 2, 3, 5))
@pytest.mark.parametrize("seed", SEEDS)
def test_round_robin_splits_reads_evenly_over_caught_up_replicas(seed, replicas):
    anyone = simulate_replication(seed=seed, replicas=replicas)
    served = [anyone.reads_by_server()[replica_name(i)] for i in range(replicas)]
    assert max(served) - min(served) <= 1, f"any replica: {served}; replay: {replay(seed, replicas=replicas)}"
    # Identical replicas are caught up together, so the sessions' replica reads split evenly as well.
    settings = {"replicas": replicas, "lag_spread": 0.0, "jitter": 0.0, "policy": READ_YOUR_WRITES}
    sessions = simulate_replication(seed=seed, **settings)
    counts = sessions.reads_by_server()
    served = [counts[replica_name(i)] for i in range(replicas)]
    assert counts[PRIMARY] > 0 and max(served) - min(served) <= 1, f"{counts}; replay: {replay(seed, **settings)}"


def test_a_lagging_replica_serves_fewer_session_reads():
    counts = simulate_replication(seed=11, policy=READ_YOUR_WRITES, lag=1.0, lag_spread=1.0).reads_by_server()
    served = [counts[replica_name(i)] for i in range(3)]
    assert served == sorted(served, reverse=True) and served[0] > served[-1], counts


def test_replica_with_exact_lag_applies_a_write_lag_seconds_after_it():
    """With no spread and no jitter, the model is the exercise's rule: applied once ``lag`` has passed (>=)."""
    run = simulate_replication(seed=5, lag=1.5, lag_spread=0.0, jitter=0.0)
    write = run.writes[3]
    for replica in run.servers[1:]:
        assert run.applied_position(replica, write.time + 1.5) >= write.position
        assert run.applied_position(replica, write.time + 1.4999) < write.position
    assert run.applied_position(PRIMARY, write.time) == write.position


@pytest.mark.parametrize("seed", SEEDS)
def test_replicas_apply_the_log_in_order_within_their_jitter(seed):
    """A replica never shows a write before the ones logged earlier, nor before its delivery could arrive."""
    run = simulate_replication(seed=seed, lag=1.0, lag_spread=0.5, jitter=0.4)
    for index, (mean_lag, applied) in enumerate(zip(run.replica_lags, run.apply_times)):
        assert list(applied) == sorted(applied), f"replica {index} applies out of log order: {replay(seed)}"
        delays = [time - write.time for time, write in zip(applied, run.writes)]
        assert min(delays) >= mean_lag * 0.6 - 1e-9, f"replica {index} applied a write too early: {min(delays)}"
        assert min(delays) < mean_lag * 0.8, f"replica {index}: no write came early, so jitter is one-sided"
        assert max(delays) > mean_lag * 1.2, f"replica {index}: no write came late, so jitter is one-sided"


def test_every_read_returns_the_value_its_server_had_applied():
    run = simulate_replication(seed=3, lag=2.0)
    values = {write.position: write for write in run.writes}
    for read in run.reads:
        assert read.applied == run.applied_position(read.server, read.time), read
        if read.version:
            write = values[read.version]
            assert (write.key, write.value) == (read.key, read.value) and read.version <= read.applied, read
            newer = [w for w in run.writes if w.key == read.key and read.version < w.position <= read.applied]
            assert not newer, f"{read} skipped {newer[0]}"
        else:
            assert read.value is None
        assert read.stale == (read.version < read.latest)


def test_backlog_is_the_lag_counted_in_writes():
    run = simulate_replication(seed=11, duration=200.0, write_rate=4.0, lag=2.0, lag_spread=0.0, jitter=0.0)
    times, backlog = run.backlog(0)
    assert min(backlog) >= 0 and times[0] == 0.0 and times[-1] == run.duration
    area = sum(value * (end - start) for start, end, value in zip(times, times[1:], backlog))
    assert area / run.duration == pytest.approx(4.0 * 2.0, rel=0.15), "Little's law: backlog = write rate x lag"


def test_the_workload_does_not_depend_on_the_servers():
    base = compare_policies(POLICIES, seed=7, lag=0.5, replicas=2)
    other = compare_policies(POLICIES, seed=7, lag=3.0, replicas=4)
    for run in (*base, *other):
        assert [(r.time, r.session, r.key) for r in run.reads] == [(r.time, r.session, r.key) for r in base[0].reads]
        assert run.writes == base[0].writes
    faster = draw_workload(seed=7, write_rate=6.0)
    reads_of = lambda operations: [(op.time, op.session) for op in operations if op.kind == READ]
    assert reads_of(faster) == reads_of(draw_workload(seed=7)), "a new write rate moved the reads"
    assert sum(op.kind == WRITE for op in faster) > 2 * sum(op.kind == WRITE for op in draw_workload(seed=7))
    assert draw_workload(seed=7) != draw_workload(seed=8)


def test_adding_a_replica_leaves_the_others_timing_alone():
    two, three = simulate_replication(seed=4, replicas=2), simulate_replication(seed=4, replicas=3)
    assert three.apply_times[:2] == two.apply_times


@pytest.mark.parametrize("bad", [
    {"policy": "nearest"}, {"replicas": 0}, {"lag": -1.0}, {"jitter": 1.5}, {"write_rate": 0.0}, {"sessions": 0},
])
def test_settings_outside_the_model_are_refused(bad):
    with pytest.raises(ValueError):
        simulate_replication(**bad)


def test_reports_name_the_counts():
    runs = compare_policies(POLICIES, seed=11)
    report = replication_report(runs)
    for run in runs:
        assert run.policy in report and f"{run.stale_reads:4,} stale" in report
    table = lag_sweep((0.0, 2.0), seeds=range(2))
    rows = table.splitlines()
    assert len(rows) == 3 and rows[1].split()[1:] == ["0.0%", "0.0%", "0.0%"], table
    assert all(float(cell.rstrip("%")) > 0 for cell in rows[2].split()[1:]), table


# --- the figures and the explorer ------------------------------------------------------------------

def control(explorer, word):
    matches = [w for w in descendants(explorer) if isinstance(w, widgets.ValueWidget) and word in (w.description or "")]
    assert len(matches) == 1, f"no single control mentions {word!r}"
    return matches[0]


def figures(explorer):
    found = [w for w in descendants(explorer) if isinstance(w, go.FigureWidget)]
    assert len(found) == 2, f"expected the timeline and the read-share chart, found {len(found)} figures"
    return found


def trace_data(figure):
    return [(trace.meta, trace.visible, tuple(trace.x), tuple(trace.y)) for trace in figure.data]


def by_meta(figure, meta):
    return next(trace for trace in figure.data if trace.meta == meta)


@pytest.fixture
def explorer():
    return replica_explorer(seed=11)


def test_static_timeline_carries_every_read_and_write():
    left, right = compare_policies((ANY_REPLICA, READ_YOUR_WRITES), seed=11)
    figure = replica_timeline_figure(left, right)
    assert isinstance(figure, go.Figure) and not isinstance(figure, go.FigureWidget)
    assert len(by_meta(figure, WRITES_TRACE).x) == len(left.writes)
    for panel, run in (("left", left), ("right", right)):
        fresh = by_meta(figure, f"{panel}: {FRESH}")  # shaded: fresh reads counted per server and bin
        assert sum(n or 0 for row in fresh.z for n in row) == len(run.reads) - run.stale_reads
        assert len(fresh.z) == len(run.servers)
        assert len(by_meta(figure, f"{panel}: {STALE}").x) + len(by_meta(figure, f"{panel}: {MISSED_OWN}").x) \
            == run.stale_reads
    assert len(by_meta(figure, f"left: {MISSED_OWN}").x) == left.missed_own_writes > 0
    assert len(by_meta(figure, f"right: {MISSED_OWN}").x) == 0
    visible = [t.name for t in figure.data if t.meta.startswith("backlog") and t.visible]
    assert visible == [replica_name(i) for i in range(3)]
    assert list(figure.layout.yaxis2.ticktext) == list(left.servers)


def test_the_timeline_refuses_runs_of_different_workloads():
    with pytest.raises(ValueError, match="same workload"):
        replica_timeline_figure(simulate_replication(seed=1), simulate_replication(seed=2, policy=READ_YOUR_WRITES))


def test_read_share_bars_sum_to_one_per_policy():
    runs = compare_policies(POLICIES, seed=11, replicas=4)
    figure = read_share_figure(runs)
    bars = [t for t in figure.data if isinstance(t, go.Bar)]
    assert [t.name for t in bars] == list(POLICIES)
    for trace, run in zip(bars, runs):
        assert list(trace.x) == list(run.servers) and sum(trace.y) == pytest.approx(1.0)
        assert trace.y[0] == run.read_share()[PRIMARY]
    assert list(by_meta(figure, EVEN_SHARE_TRACE).y) == [0.25] * 4


def test_explorer_builds_headless_with_its_controls(explorer):
    timeline, shares = figures(explorer)
    for word in ("lag", "replicas", "writes per second", "session policy", "seed"):
        control(explorer, word)
    left, right = compare_policies((ANY_REPLICA, READ_YOUR_WRITES), seed=11)
    assert len(by_meta(timeline, f"left: {MISSED_OWN}").x) == left.missed_own_writes
    assert list(shares.data[1].y) == list(right.read_share().values())


@pytest.mark.parametrize("word, value", [
    ("lag", 3.0), ("replicas", 5), ("writes per second", 6.0), ("session policy", MONOTONIC_SESSIONS), ("seed", 12),
])
def test_moving_a_control_redraws_the_same_figures(explorer, word, value):
    timeline, shares = figures(explorer)
    before = trace_data(timeline), trace_data(shares)
    control(explorer, word).value = value
    after_figures = figures(explorer)
    assert after_figures[0] is timeline and after_figures[1] is shares
    after = trace_data(timeline), trace_data(shares)
    assert after[0] != before[0] and after[1] != before[1]
    assert [t[0] for t in after[0]] == [t[0] for t in before[0]]


def test_more_lag_means_more_stale_ticks_and_more_primary_reads(explorer):
    timeline, shares = figures(explorer)
    stale_before = len(by_meta(timeline, f"left: {STALE}").x) + len(by_meta(timeline, f"left: {MISSED_OWN}").x)
    primary_before = shares.data[1].y[0]
    control(explorer, "lag").value = 4.0
    stale_after = len(by_meta(timeline, f"left: {STALE}").x) + len(by_meta(timeline, f"left: {MISSED_OWN}").x)
    assert stale_after > stale_before and shares.data[1].y[0] > primary_before
    control(explorer, "lag").value = 0.0
    assert all(len(by_meta(timeline, f"{panel}: {outcome}").x) == 0
               for panel in ("left", "right") for outcome in (STALE, MISSED_OWN))
    assert shares.data[1].y[0] == 0.0


def test_the_replica_slider_shows_one_backlog_line_and_one_row_per_replica(explorer):
    timeline, shares = figures(explorer)
    control(explorer, "replicas").value = 1
    lines = [t for t in timeline.data if t.meta.startswith("backlog") and t.visible]
    assert [t.name for t in lines] == [replica_name(0)]
    assert list(timeline.layout.yaxis3.ticktext) == [PRIMARY, replica_name(0)]
    assert list(shares.data[0].x) == [PRIMARY, replica_name(0)] and shares.data[0].y[1] == 1.0
    assert max(by_meta(timeline, f"left: {STALE}").y, default=1) == 1


def test_the_policy_toggle_renames_the_right_panel_and_its_bars(explorer):
    timeline, shares = figures(explorer)
    control(explorer, "session policy").value = MONOTONIC_SESSIONS
    assert shares.data[1].name == MONOTONIC_SESSIONS
    assert timeline.layout.annotations[2].text.startswith(MONOTONIC_SESSIONS)
    summary = next(w for w in descendants(explorer) if isinstance(w, widgets.HTML))
    assert MONOTONIC_SESSIONS in summary.value and ANY_REPLICA in summary.value


def test_new_traffic_button_draws_other_reads(explorer):
    timeline, _ = figures(explorer)
    before = tuple(by_meta(timeline, WRITES_TRACE).x)
    next(w for w in descendants(explorer) if isinstance(w, widgets.Button)).click()
    assert tuple(by_meta(timeline, WRITES_TRACE).x) != before


def test_summary_and_outcomes_agree_with_the_counts():
    runs = compare_policies(POLICIES, seed=2)
    text = replica_summary(runs)
    for run in runs:
        assert f"<b>{run.stale_reads:,}</b> stale" in text
        assert sum(read_outcome(r) == MISSED_OWN for r in run.reads) == run.missed_own_writes


def test_the_backlog_title_uses_the_write_rate_the_run_drew():
    """The course's run (seed 11) draws 71 writes in 30 s, not the nominal 60: the title must say 2.4 writes
    behind, as the curve under it and the notebook's prose do, not 2 writes/s × 1 s = 2.0."""
    left, right = compare_policies((ANY_REPLICA, READ_YOUR_WRITES), seed=11)
    title = replica_timeline_figure(left, right).layout.annotations[0].text
    drawn = len(left.writes) / left.duration
    assert len(left.writes) != left.write_rate * left.duration, "this run drew the nominal count: the test shows nothing"
    assert f"{len(left.writes)} writes in 30 s = {drawn:.1f} writes/s × 1 s ≈ {drawn * left.lag:.1f} writes behind" in title
    times, backlog = left.backlog(0)
    measured = sum(value * (end - start) for start, end, value in zip(times, times[1:], backlog)) / left.duration
    # Little's law on one 30 s run: the title's estimate and the measured mean agree to within a few tenths.
    assert drawn * left.lag == pytest.approx(measured, abs=0.3), f"title {drawn * left.lag:.2f}, measured {measured:.2f}"
