"""The invalidation model behind section 4 of ``course/05_caching.ipynb``: stale reads counted, and why.

The scripted race is checked read by read; the seeded workloads are checked against counts made here
from the requests themselves (which reads fall into a delete gap, which slow readers straddle a write).
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
from widget_tree import descendants

from dspatterns.caching.invalidation import (
    DELETE_THEN_WRITE,
    HIT,
    MISS,
    NOT_INVALIDATED,
    REPOPULATED,
    STRATEGIES,
    TTL_ONLY,
    VERSIONED_KEYS,
    WRITE_THEN_DELETE,
    ReadRequest,
    WriteRequest,
    classic_race,
    compare_strategies,
    replay,
    simulate_invalidation,
)
from dspatterns.widgets.invalidation_demo import (
    FRESH_HIT,
    MISS_READ,
    STALE_OLD,
    STALE_RACE,
    invalidation_explorer,
    race_figure,
    read_category,
    stale_counts_figure,
    stale_read_figure,
)

SEEDS = (3, 8, 21)


def replay_line(**settings) -> str:
    return "replay: compare_strategies(" + ", ".join(f"{k}={v!r}" for k, v in settings.items()) + ")"


def test_the_classic_race_puts_version_1_back_for_a_whole_ttl_unless_keys_are_versioned():
    """Reads every 0.5 s from 2.0 s; A stores v1 at 3.0 s; ttl 6 s: reads at 3.0, 3.5, ..., 8.5 are stale (12)."""
    expected_stale_times = [3.0 + 0.5 * n for n in range(12)]
    for strategy in (TTL_ONLY, DELETE_THEN_WRITE, WRITE_THEN_DELETE):
        run = classic_race(strategy, ttl=6.0, pause=2.0)
        stale = [read.time for read in run.reads if read.stale]
        assert stale == pytest.approx(expected_stale_times), f"{strategy}: stale reads at {stale}; replay: classic_race({strategy!r})"
        assert all(read.version == 1 and read.committed == 2 for read in run.reads if read.stale)
        at_nine = next(read for read in run.reads if read.time == 9.0)
        assert at_nine.outcome == MISS and at_nine.version == 2, "the ttl ends the staleness at 9.0 s"
    causes = {strategy: classic_race(strategy).stale_by_cause() for strategy in STRATEGIES}
    assert causes[TTL_ONLY] == {NOT_INVALIDATED: 12, REPOPULATED: 0}
    assert causes[WRITE_THEN_DELETE] == {NOT_INVALIDATED: 0, REPOPULATED: 12}
    assert classic_race(VERSIONED_KEYS).stale_reads == 0


def test_a_pause_shorter_than_the_gap_to_the_write_is_no_race():
    """Reader A stores v1 at 1.4 s, before the write at 1.5 s: write-then-delete removes it, no stale read."""
    run = classic_race(WRITE_THEN_DELETE, pause=0.4)
    assert run.stale_reads == 0, [r for r in run.reads if r.stale]
    assert classic_race(TTL_ONLY, pause=0.4).stale_reads > 0, "without invalidation the old entry stays"


def test_write_then_delete_is_stale_only_inside_the_gap_when_readers_store_at_once():
    """Readers that store what they read at once (load_time 0) cannot race: every stale read is a hit
    inside a (commit, delete) window of its key; with no gap there is none at all."""
    for seed in SEEDS:
        settings = dict(seed=seed, slow_share=0.0, load_time=0.0, delete_gap=0.2, write_rate=2.0)
        run = simulate_invalidation(WRITE_THEN_DELETE, **settings)
        windows = [(w.key, w.time, w.time + 0.2) for w in run.writes]

        def in_window(read):
            return any(key == read.key and start <= read.time < end for key, start, end in windows)

        in_gap_hits = [read for read in run.reads if read.outcome == HIT and in_window(read)]
        stale = [read for read in run.reads if read.stale]
        assert stale, f"seed {seed}: a 0.2 s gap at 2 writes/s should catch some hits; {replay_line(**settings)}"
        assert all(in_window(read) for read in stale), replay_line(**settings)
        # a hit in the gap is stale unless the entry was stored after the commit (from the new row)
        assert len(stale) <= len(in_gap_hits), replay_line(**settings)
        assert run.stale_by_cause()[REPOPULATED] == 0, replay_line(**settings)
        assert simulate_invalidation(WRITE_THEN_DELETE, **{**settings, "delete_gap": 0.0}).stale_reads == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_the_strategies_rank_as_the_section_says(seed):
    """TTL only > delete-then-write > write-then-delete > versioned keys = 0, on the same requests."""
    runs = {run.strategy: run for run in compare_strategies(seed=seed)}
    counts = {name: run.stale_reads for name, run in runs.items()}
    assert counts[TTL_ONLY] > counts[DELETE_THEN_WRITE] > counts[WRITE_THEN_DELETE] > counts[VERSIONED_KEYS] == 0, \
        f"{counts}; {replay_line(seed=seed)}"
    assert runs[DELETE_THEN_WRITE].stale_by_cause()[NOT_INVALIDATED] == 0, "deleting first leaves only re-populated entries"
    assert runs[WRITE_THEN_DELETE].stale_by_cause()[REPOPULATED] > 0, f"the slow readers' race; {replay_line(seed=seed)}"
    assert runs[VERSIONED_KEYS].version_reads == len(runs[VERSIONED_KEYS].reads)
    assert all(run.version_reads == 0 for name, run in runs.items() if name != VERSIONED_KEYS)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_race_needs_a_reader_whose_load_straddled_a_write(seed):
    """Each entry that came back after a delete was stored by a reader whose database read preceded a
    write of that key and whose store followed it. Slow readers (1 s) straddle writes most often, but
    an ordinary 5 ms loader can too: the race needs only a reader slower than the write."""
    settings = dict(seed=seed, slow_share=0.1, delete_gap=0.0)
    run = simulate_invalidation(WRITE_THEN_DELETE, **settings)
    raced_keys = {read.key for read in run.reads if read.stale_cause == REPOPULATED}
    straddlers = {read.key for read in run.reads if read.outcome == MISS
                  and any(w.key == read.key and read.time < w.time < read.time + (1.0 if read.slow else 0.005)
                          for w in run.writes)}
    assert raced_keys and raced_keys <= straddlers, f"{raced_keys} vs {straddlers}; {replay_line(**settings)}"
    assert all(read.stale_cause == REPOPULATED for read in run.reads if read.stale), "no gap: every stale read is a race"
    assert simulate_invalidation(WRITE_THEN_DELETE, seed=seed, load_time=0.0, slow_share=0.0,
                                 delete_gap=0.0).stale_reads == 0


def test_a_shorter_ttl_bounds_the_staleness_of_ttl_only():
    short, long = (simulate_invalidation(TTL_ONLY, seed=3, ttl=ttl).stale_reads for ttl in (1.0, 10.0))
    assert short < long / 3, (short, long)


def test_replay_refuses_an_unknown_strategy():
    with pytest.raises(ValueError):
        replay("delete twice", [ReadRequest(0.0, "k", 0.01)], [WriteRequest(1.0, "k")], ttl=1.0)


def test_compare_strategies_replays_what_each_strategy_alone_would_draw():
    settings = dict(seed=8, ttl=4.0, write_rate=3.0, slow_share=0.2, delete_gap=0.1)
    runs = compare_strategies(**settings)
    assert [run.strategy for run in runs] == list(STRATEGIES)
    assert runs == tuple(simulate_invalidation(strategy, **settings) for strategy in STRATEGIES)


def test_the_figures_draw_the_model_s_reads():
    runs = compare_strategies(seed=3)
    timeline = stale_read_figure(runs, key="k0")
    stale_old = next(t for t in timeline.data if t.meta == STALE_OLD)
    stale_race = next(t for t in timeline.data if t.meta == STALE_RACE)
    expected = sum(1 for run in runs for read in run.reads if read.key == "k0" and read.stale)
    assert len(stale_old.x) + len(stale_race.x) == expected
    # Every other read of k0 is drawn once: a grey mark per miss, the fresh hits as counts per bin and row.
    misses, fresh = (next(t for t in timeline.data if t.meta == name) for name in (MISS_READ, FRESH_HIT))
    for row, run in enumerate(runs, start=1):
        reads = [read for read in run.reads if read.key == "k0" and not read.stale]
        assert sum(n or 0 for n in fresh.z[row - 1]) + list(misses.y).count(row) == len(reads)
        assert sum(n or 0 for n in fresh.z[row - 1]) == sum(read_category(read) == FRESH_HIT for read in reads)
    counts = stale_counts_figure(runs)
    assert [sum(pair) for pair in zip(*(trace.y for trace in counts.data))] == [run.stale_reads for run in runs]
    race = race_figure()
    assert len(next(t for t in race.data if t.meta == STALE_RACE).x) == 24  # 12 in each of the two deleting rows
    assert len(next(t for t in race.data if t.meta == STALE_OLD).x) == 12  # TTL only: never deleted


def test_the_explorer_redraws_when_the_ttl_moves():
    explorer = invalidation_explorer()
    counts = [w for w in descendants(explorer) if isinstance(w, go.FigureWidget)][1]
    ttl = next(w for w in descendants(explorer) if isinstance(w, widgets.FloatSlider) and w.description == "ttl (s)")
    before = list(counts.data[0].y)
    ttl.value = 2.0
    expected = [run.stale_by_cause()[NOT_INVALIDATED] for run in compare_strategies(seed=3, ttl=2.0)]
    assert list(counts.data[0].y) == expected != before
