"""The write-policy simulation behind section 3 of ``course/05_caching.ipynb``, claim by claim, on fixed seeds.

Every expectation is counted independently from the sets the workload drew (never read back from the
model's own totals), and every failure message carries the one-line call that replays the run.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants, only

from dspatterns.caching.write_policy_model import (
    WRITE_BEHIND,
    WRITE_THROUGH,
    coalescing_sweep,
    compare_write_policies,
    draw_sets,
    simulate_write_policy,
)
from dspatterns.widgets.write_policy_chart import (
    CRASH_TRACE,
    DIRTY_TRACE,
    SETS_TRACE,
    store_trace_key,
    write_policy_explorer,
    write_policy_figure,
)

SEEDS = (1, 5, 23)


def replay(policy: str, **settings) -> str:
    arguments = ", ".join(f"{name}={value!r}" for name, value in settings.items())
    return f"replay: simulate_write_policy({policy!r}, {arguments})"


@pytest.mark.parametrize("seed", SEEDS)
def test_write_through_writes_the_store_once_per_set_with_the_set_s_version(seed):
    run = simulate_write_policy(WRITE_THROUGH, seed=seed)
    drawn = draw_sets(seed=seed, duration=run.duration, write_rate=run.write_rate, keys=run.keys, skew=run.skew)
    assert len(run.store_writes) == len(drawn) == len(run.sets), replay(WRITE_THROUGH, seed=seed)
    assert [(w.key, w.version) for w in run.store_writes] == [(op.key, op.version) for op in drawn], \
        replay(WRITE_THROUGH, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_write_behind_writes_each_dirty_key_once_per_flush(seed):
    """Store writes = the distinct keys set between consecutive flush starts, summed over the flushes."""
    run = simulate_write_policy(WRITE_BEHIND, seed=seed, flush_interval=1.0)
    starts = list(run.flush_times)
    assert starts == [float(n) for n in range(1, 21)], replay(WRITE_BEHIND, seed=seed, flush_interval=1.0)
    expected, previous = 0, 0.0
    for start in starts:
        expected += len({op.key for op in run.sets if previous < op.time <= start})
        previous = start
    assert len(run.store_writes) == expected, replay(WRITE_BEHIND, seed=seed, flush_interval=1.0)
    assert len(run.store_writes) < len(run.sets) / 2, (
        f"{len(run.store_writes)} store writes for {len(run.sets)} sets: coalescing should at least halve them; "
        + replay(WRITE_BEHIND, seed=seed, flush_interval=1.0))


@pytest.mark.parametrize("seed", SEEDS)
def test_without_a_crash_both_policies_end_with_every_acknowledged_version_in_the_store(seed):
    for run in compare_write_policies(seed=seed):
        assert run.store_versions() == run.acknowledged_versions(), replay(run.policy, seed=seed)
        assert run.lost_updates == () and run.dirty_at_end == frozenset(), replay(run.policy, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_writer_waits_for_the_store_only_under_write_through(seed):
    through, behind = compare_write_policies(seed=seed, store_latency=0.005, cache_latency=0.0002)
    assert len(through.writer_latencies) == len(through.sets)
    assert max(behind.writer_latencies) < 0.0002 * 1.5 <= 0.005 * 0.5 < min(through.writer_latencies), \
        replay(WRITE_BEHIND, seed=seed)
    assert through.mean_writer_latency() / behind.mean_writer_latency() > 15, replay(WRITE_THROUGH, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_crash_between_flushes_loses_exactly_the_updates_since_the_last_flush(seed):
    """With a fast store the flush at 12 s is over within milliseconds, so at 12.6 s everything set after
    12 s exists only in the cache: those sets are lost, on exactly the keys they touched, and every key
    they touched holds in the store the version it had at 12 s."""
    settings = dict(seed=seed, crash_at=12.6, flush_interval=1.0, store_latency=0.0001)
    run = simulate_write_policy(WRITE_BEHIND, **settings)
    unflushed = [op for op in run.sets if 12.0 < op.time < 12.6]
    assert unflushed, "the workload should set something between 12 s and 12.6 s"
    assert list(run.lost_updates) == unflushed, replay(WRITE_BEHIND, **settings)
    assert run.dirty_at_end == frozenset(op.key for op in unflushed), replay(WRITE_BEHIND, **settings)
    at_flush = {}
    for op in run.sets:
        if op.time <= 12.0:
            at_flush[op.key] = op.version
    stored = run.store_versions()
    for key in run.dirty_at_end:
        assert stored.get(key, 0) == at_flush.get(key, 0), f"{key}: {replay(WRITE_BEHIND, **settings)}"
    assert run.dirty_steps[-1][1] == len(run.dirty_at_end)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_crash_costs_write_through_no_acknowledged_update(seed):
    run = simulate_write_policy(WRITE_THROUGH, seed=seed, crash_at=12.6)
    assert run.lost_updates == () and run.dirty_at_end == frozenset(), replay(WRITE_THROUGH, seed=seed, crash_at=12.6)
    assert all(write.time <= 12.6 for write in run.store_writes)


def test_a_crash_mid_flush_loses_the_keys_the_flush_had_not_reached():
    """A slow store (50 ms a key) is still flushing when the crash comes: the keys already written are safe."""
    settings = dict(seed=5, crash_at=12.3, flush_interval=1.0, store_latency=0.05)
    run = simulate_write_policy(WRITE_BEHIND, **settings)
    in_flush_12 = {w.key for w in run.store_writes if w.flush == 12}
    batch = {op.key for op in run.sets if 11.0 < op.time <= 12.0}
    assert in_flush_12 and in_flush_12 < batch, replay(WRITE_BEHIND, **settings)
    set_after = {op.key for op in run.sets if 12.0 < op.time < 12.3}
    assert run.dirty_at_end == (batch - in_flush_12) | set_after, replay(WRITE_BEHIND, **settings)


def test_coalescing_grows_with_the_flush_interval_and_the_key_skew():
    intervals = (0.1, 0.5, 1.0, 5.0)
    sweep = coalescing_sweep(intervals, skews=(0.0, 1.2), seed=5)
    for skew, ratios in sweep.items():
        assert ratios == sorted(ratios, reverse=True), f"skew {skew}: {ratios}; replay: coalescing_sweep({intervals}, seed=5)"
        assert all(0 < ratio <= 1 for ratio in ratios)
    assert all(hot < flat for hot, flat in zip(sweep[1.2], sweep[0.0])), sweep


def test_the_same_seed_replays_the_same_sets_whatever_the_flush_interval():
    first = simulate_write_policy(WRITE_BEHIND, seed=9, flush_interval=0.5)
    second = simulate_write_policy(WRITE_BEHIND, seed=9, flush_interval=2.0)
    assert first.sets == second.sets and first.writer_latencies == second.writer_latencies
    assert simulate_write_policy(WRITE_BEHIND, seed=9, flush_interval=0.5) == first
    assert simulate_write_policy(WRITE_BEHIND, seed=10).sets != first.sets


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        simulate_write_policy("write-around")
    with pytest.raises(ValueError):
        simulate_write_policy(WRITE_BEHIND, flush_interval=0)
    with pytest.raises(ValueError):
        simulate_write_policy(WRITE_BEHIND, crash_at=99.0)


def _trace(figure, meta):
    found = [t for t in figure.data if t.meta == meta]
    assert len(found) == 1, [t.meta for t in figure.data]
    return found[0]


def test_the_figure_draws_the_model_s_counts():
    through, behind = compare_write_policies(seed=5, crash_at=12.6)
    figure = write_policy_figure(through, behind)
    assert _trace(figure, store_trace_key(WRITE_THROUGH)).y[-1] == len(through.store_writes)
    assert _trace(figure, store_trace_key(WRITE_BEHIND)).y[-1] == len(behind.store_writes)
    assert _trace(figure, SETS_TRACE).y[-1] == len(behind.sets)
    assert _trace(figure, DIRTY_TRACE).y[-1] == len(behind.dirty_at_end)
    crash = _trace(figure, CRASH_TRACE)
    assert list(crash.x) == [12.6, 12.6] and f"{len(behind.lost_updates)} updates" in crash.text[1]


def test_the_explorer_redraws_in_place_when_the_flush_interval_moves():
    explorer = write_policy_explorer()
    figure = only(explorer, go.FigureWidget)
    flush = next(w for w in descendants(explorer) if isinstance(w, widgets.FloatSlider)
                 and w.description.startswith("flush interval"))
    before = _trace(figure, store_trace_key(WRITE_BEHIND)).y[-1]
    flush.value = 4.0
    after = _trace(figure, store_trace_key(WRITE_BEHIND)).y[-1]
    expected = len(simulate_write_policy(WRITE_BEHIND, seed=5, flush_interval=4.0, crash_at=12.6).store_writes)
    assert after == expected < before
