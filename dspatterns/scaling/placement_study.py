"""Measurements behind the scaling figures: how even the load is, how many keys move, what a lookup costs.

Each study returns plain rows (frozen dataclasses of numbers) so that a figure draws them and a test
checks them against the published results: spread falling as 1/sqrt(virtual nodes), 1/(n + 1) of the
keys moving when a node joins a ring or a jump-hash cluster, n/(n + 1) under ``hash % n``, and O(log
points) against O(n) work per lookup. Everything is deterministic: a "seed" picks the node names (and
so the ring's layout), and the same arguments always give the same numbers, except for the wall-clock
timings, which are only ever compared with each other within one run.
"""
from __future__ import annotations

import bisect
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dspatterns.scaling.jump_hash import jump_bucket, jump_bucket_and_steps
from dspatterns.scaling.rendezvous import rendezvous_weight
from dspatterns.scaling.ring_model import (
    HashFn,
    RingLayout,
    Spread,
    keys_per_node,
    layout_ring,
    load_spread,
    md5_position,
    ring_shares,
    sample_keys,
    sorted_key_positions,
    sweep_owners_at,
)

DEFAULT_VNODE_COUNTS = (1, 2, 5, 10, 25, 50, 100, 200, 400, 1000)  # 25, 50 and 100 each have a 4x partner
RING, JUMP, RENDEZVOUS, MODULO = "hash ring", "jump hash", "rendezvous", "hash % n"
SCHEMES = (RING, JUMP, RENDEZVOUS, MODULO)


def study_nodes(count: int, seed: int = 0) -> list[str]:
    """Node names for one trial; another seed renames the nodes, which lays the ring out afresh."""
    return [f"node-{seed}-{i}" for i in range(count)]


def expected_ring_spread(nodes: int, vnodes: int) -> float:
    """The relative std of a node's ring share when all points fall at random: sqrt((n-1)/(n·v+1)).

    With ``n·v`` random points the arcs are Dirichlet distributed, and a node's share (the sum of ``v``
    of them) is Beta(v, (n-1)v): its standard deviation over its mean is this, about 1/sqrt(v).
    """
    return math.sqrt((nodes - 1) / (nodes * vnodes + 1))


# --- load spread against virtual nodes ---------------------------------------------------------------

@dataclass(frozen=True)
class SpreadRow:
    """One virtual-node count, measured over several seeds (one ring layout per seed)."""

    vnodes: int
    key_spreads: tuple[Spread, ...]  # of the keys each node got, one per seed
    share_spreads: tuple[Spread, ...]  # of each node's share of the ring (the limit of infinitely many keys)
    expected: float  # expected_ring_spread(nodes, vnodes)

    @property
    def relative_std(self) -> float:
        return statistics.fmean(s.relative_std for s in self.key_spreads)

    @property
    def max_over_mean(self) -> float:
        return statistics.fmean(s.max_over_mean for s in self.key_spreads)

    @property
    def share_relative_std(self) -> float:
        return statistics.fmean(s.relative_std for s in self.share_spreads)


@dataclass(frozen=True)
class SpreadStudy:
    nodes: int
    keys: int
    seeds: tuple[int, ...]
    rows: tuple[SpreadRow, ...]

    @property
    def key_noise_floor(self) -> float:
        """The spread that counting ``keys`` random keys adds on its own, even on a perfectly even ring."""
        return math.sqrt(self.nodes / self.keys)

    def row(self, vnodes: int) -> SpreadRow:
        return next(row for row in self.rows if row.vnodes == vnodes)


def spread_against_vnodes(
    vnode_counts: Sequence[int] = DEFAULT_VNODE_COUNTS,
    *,
    nodes: int = 8,
    keys: int = 20_000,
    seeds: Sequence[int] = range(10),
) -> SpreadStudy:
    """Lay out the ring for every virtual-node count and seed, and measure how uneven the load is."""
    if nodes < 2:
        raise ValueError(f"a spread needs at least two nodes, got {nodes!r}")
    key_positions = sorted_key_positions(sample_keys(keys))
    rows = []
    for vnodes in vnode_counts:
        key_spreads, share_spreads = [], []
        for seed in seeds:
            layout = layout_ring(study_nodes(nodes, seed), vnodes)
            key_spreads.append(load_spread(keys_per_node(layout, key_positions).values()))
            share_spreads.append(load_spread(ring_shares(layout).values()))
        rows.append(SpreadRow(vnodes, tuple(key_spreads), tuple(share_spreads),
                              expected_ring_spread(nodes, vnodes)))
    return SpreadStudy(nodes, keys, tuple(seeds), tuple(rows))


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of log(y) against log(x): -0.5 for a quantity falling as 1/sqrt(x)."""
    return statistics.linear_regression([math.log(x) for x in xs], [math.log(y) for y in ys]).slope


# --- keys moved when the cluster grows ----------------------------------------------------------------

@dataclass(frozen=True)
class ResizeRow:
    """Going from ``nodes`` to ``nodes + 1``: the fraction of keys each scheme moved."""

    nodes: int
    moved: dict[str, float]  # scheme -> fraction of the keys that changed owner

    @property
    def ideal(self) -> float:
        """The least any scheme can move and stay balanced: the new node's fair share, 1/(n + 1)."""
        return 1 / (self.nodes + 1)

    @property
    def modulo_expected(self) -> float:
        """``h % n`` and ``h % (n + 1)`` agree for only 1 in n + 1 hashes, so n/(n + 1) of the keys move."""
        return self.nodes / (self.nodes + 1)


def resize_study(
    node_counts: Sequence[int] = tuple(range(1, 11)),
    *,
    keys: int = 4_000,
    vnodes: int = 100,
    seeds: Sequence[int] = range(3),
    hash_fn: HashFn = md5_position,
) -> list[ResizeRow]:
    """Add one node to clusters of each size and count the keys that change owner, under every scheme.

    Every count compares owners before and after the change, key by key; nothing assumes which keys
    ought to move. The ring's fraction is averaged over ``seeds`` layouts (one layout's new node gets
    its share give or take about 1/sqrt(vnodes)); the other schemes do not depend on node names.
    """
    key_names = sample_keys(keys)
    hashes = [hash_fn(key) for key in key_names]
    largest = max(node_counts) + 1
    names = study_nodes(largest, seed=0)
    # Rendezvous: every key's weight on every node, computed once; owners for n nodes = argmax of the first n.
    weights = [[rendezvous_weight(node, key, hash_fn) for node in names] for key in key_names]
    rows = []
    for n in node_counts:
        if n < 1:
            raise ValueError(f"node counts must be at least 1, got {n!r}")
        ring_fractions = []
        for seed in seeds:
            before_nodes, after_nodes = study_nodes(n, seed), study_nodes(n + 1, seed)
            before = sweep_owners_at(layout_ring(before_nodes, vnodes, hash_fn), hashes)
            after = sweep_owners_at(layout_ring(after_nodes, vnodes, hash_fn), hashes)
            ring_fractions.append(_changed(before, after))
        moved = {
            RING: statistics.fmean(ring_fractions),
            JUMP: _changed([jump_bucket(h, n) for h in hashes], [jump_bucket(h, n + 1) for h in hashes]),
            RENDEZVOUS: _changed([_argmax(row[:n]) for row in weights], [_argmax(row[:n + 1]) for row in weights]),
            MODULO: _changed([h % n for h in hashes], [h % (n + 1) for h in hashes]),
        }
        rows.append(ResizeRow(n, moved))
    return rows


# --- the three schemes side by side -----------------------------------------------------------------

@dataclass(frozen=True)
class SchemeReport:
    """One placement scheme on one cluster, measured on the same keys as the others."""

    scheme: str
    balance: Spread  # of keys per node
    moved_on_add: float  # fraction of keys moved when node n + 1 joins
    moved_on_remove: float | None  # when a node from the middle leaves; None if the scheme cannot do that
    hashes_per_lookup: float  # hash function calls, counted
    steps_per_lookup: float  # binary-search probes, jump rounds or weights compared, counted
    seconds_per_lookup: float  # wall clock in this run: compare schemes with each other only
    state_size: int  # entries the scheme keeps: ring points, node names, nothing


def compare_schemes(
    nodes: int = 10,
    *,
    keys: int = 4_000,
    vnodes: int = 100,
    seed: int = 0,
    hash_fn: HashFn = md5_position,
) -> list[SchemeReport]:
    """Ring, jump, rendezvous and modulo on the same ``nodes`` nodes and the same keys.

    Removal takes out the node in the middle of the list (jump hash can only drop the last bucket, so it
    reports None there). Lookup costs are counted by wrapping the hash and the search, and timed over
    every key with the plain, uncounted functions.
    """
    if nodes < 3:
        raise ValueError(f"compare at least 3 nodes (one to remove from the middle), got {nodes!r}")
    key_names = sample_keys(keys, seed)
    hashes = [hash_fn(key) for key in key_names]
    names = study_nodes(nodes + 1, seed)
    current, grown = names[:nodes], names
    leaving = current[nodes // 2]
    shrunk = [name for name in current if name != leaving]
    reports = []

    layout = layout_ring(current, vnodes, hash_fn)
    owners = sweep_owners_at(layout, hashes)
    hashes_used, probes = _count_ring_lookup(layout, key_names[:500], hash_fn)
    reports.append(SchemeReport(
        RING, _spread_of(owners, current),
        _changed(owners, sweep_owners_at(layout_ring(grown, vnodes, hash_fn), hashes)),
        _changed(owners, sweep_owners_at(layout_ring(shrunk, vnodes, hash_fn), hashes)),
        hashes_used, probes, _time_ring_lookups(layout, key_names, hash_fn), len(layout),
    ))

    buckets = [jump_bucket(h, nodes) for h in hashes]
    rounds = statistics.fmean(jump_bucket_and_steps(h, nodes)[1] for h in hashes[:500])
    reports.append(SchemeReport(
        JUMP, _spread_of(buckets, range(nodes)),
        _changed(buckets, [jump_bucket(h, nodes + 1) for h in hashes]), None,
        1.0, rounds, _time_per_lookup(lambda key: jump_bucket(hash_fn(key), nodes), key_names), 0,
    ))

    weights = [[rendezvous_weight(node, key, hash_fn) for node in grown] for key in key_names]
    winners = [current[_argmax(row[:nodes])] for row in weights]
    after_add = [grown[_argmax(row)] for row in weights]
    shrunk_columns = [i for i, name in enumerate(current) if name != leaving]
    after_remove = [current[max(shrunk_columns, key=lambda i, row=row: (row[i], current[i]))] for row in weights]
    reports.append(SchemeReport(
        RENDEZVOUS, _spread_of(winners, current), _changed(winners, after_add), _changed(winners, after_remove),
        float(nodes), float(nodes),
        _time_per_lookup(lambda key: max(current, key=lambda node: (rendezvous_weight(node, key, hash_fn), node)),
                         key_names),
        nodes,
    ))

    slots = [h % nodes for h in hashes]
    survivors = [i for i in range(nodes) if current[i] != leaving]
    # Removing a node renumbers the rest: slot i now means survivors[i]. A key moves if its node changes.
    after_remove_mod = [survivors[h % (nodes - 1)] for h in hashes]
    reports.append(SchemeReport(
        MODULO, _spread_of(slots, range(nodes)),
        _changed(slots, [h % (nodes + 1) for h in hashes]), _changed(slots, after_remove_mod),
        1.0, 1.0, _time_per_lookup(lambda key: hash_fn(key) % nodes, key_names), 0,
    ))
    return reports


@dataclass(frozen=True)
class CostRow:
    """Counted work per lookup for one cluster size."""

    nodes: int
    ring_probes: float  # binary-search probes over nodes * vnodes points
    ring_points: int
    jump_rounds: float
    rendezvous_hashes: float


def lookup_cost_curve(
    node_counts: Sequence[int] = (10, 100, 1000),
    *,
    vnodes: int = 100,
    keys: int = 200,
    hash_fn: HashFn = md5_position,
) -> list[CostRow]:
    """How the work per lookup grows with the cluster: log2(points) probes, ln(n) jumps, n hashes."""
    key_names = sample_keys(keys, seed=1)
    rows = []
    for n in node_counts:
        layout = layout_ring(study_nodes(n), vnodes, hash_fn)
        _, probes = _count_ring_lookup(layout, key_names, hash_fn)
        rounds = statistics.fmean(jump_bucket_and_steps(hash_fn(key), n)[1] for key in key_names)
        counter = _CountingHash(hash_fn)
        names = study_nodes(n)
        for key in key_names:
            max(names, key=lambda node, key=key: rendezvous_weight(node, key, counter))
        rows.append(CostRow(n, probes, len(layout), rounds, counter.calls / len(key_names)))
    return rows


# --- helpers -----------------------------------------------------------------------------------------

class _CountingHash:
    """A hash function that counts its calls, so a cost is a measured number, not a formula."""

    def __init__(self, hash_fn: HashFn):
        self._hash_fn = hash_fn
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return self._hash_fn(text)


def _count_ring_lookup(layout: RingLayout, key_names: Sequence[str], hash_fn: HashFn) -> tuple[float, float]:
    """Hash calls and binary-search probes per lookup, counted (bisect calls ``key`` once per probe)."""
    counter = _CountingHash(hash_fn)
    probes = 0

    def probe(position: int) -> int:
        nonlocal probes
        probes += 1
        return position

    for key in key_names:
        bisect.bisect_left(layout.positions, counter(key), key=probe)
    return counter.calls / len(key_names), probes / len(key_names)


def _time_ring_lookups(layout: RingLayout, key_names: Sequence[str], hash_fn: HashFn) -> float:
    """Seconds per lookup of a ring written the way the course recommends, timed over every key.

    One hash, a binary search over the sorted positions, the wrap and a read of the parallel owners
    array: the work of one ring lookup, so its time compares fairly with a jump or rendezvous lookup.
    The owners found are thrown away; only the time comes back.
    """
    positions, owners, size = layout.positions, layout.owners, len(layout)
    started = time.perf_counter()
    for key in key_names:
        index = bisect.bisect_left(positions, hash_fn(key))
        _ = owners[index if index < size else 0]
    return (time.perf_counter() - started) / len(key_names)


def _time_per_lookup(lookup: Callable[[str], object], key_names: Sequence[str]) -> float:
    started = time.perf_counter()
    for key in key_names:
        lookup(key)
    return (time.perf_counter() - started) / len(key_names)


def _argmax(weights: Sequence[int]) -> int:
    return max(range(len(weights)), key=weights.__getitem__)


def _changed(before: Sequence, after: Sequence) -> float:
    return sum(old != new for old, new in zip(before, after, strict=True)) / len(before)


def _spread_of(owners: Sequence, nodes) -> Spread:
    counts = dict.fromkeys(nodes, 0)
    for owner in owners:
        counts[owner] += 1
    return load_spread(counts.values())


# --- tables for a notebook without a live kernel ------------------------------------------------------

def spread_table(study: SpreadStudy) -> str:
    """The spread study as aligned text: measured against the 1/sqrt(v) expectation, per virtual-node count."""
    lines = [f"{study.nodes} nodes, {study.keys:,} keys, mean of {len(study.seeds)} layouts",
             f"{'vnodes':>7} {'rel. std (keys)':>16} {'max/mean':>9} {'rel. std (ring share)':>22} {'expected':>9}"]
    for row in study.rows:
        lines.append(f"{row.vnodes:>7} {row.relative_std:>16.1%} {row.max_over_mean:>9.2f} "
                     f"{row.share_relative_std:>22.1%} {row.expected:>9.1%}")
    return "\n".join(lines)


def scheme_table(reports: Sequence[SchemeReport]) -> str:
    """Ring, jump, rendezvous and modulo in one table; the lookup time is relative to the ring's."""
    ring_time = next(r.seconds_per_lookup for r in reports if r.scheme == RING)
    header = (f"{'scheme':>11} {'rel. std':>9} {'max/mean':>9} {'moved: add':>11} {'moved: remove':>14} "
              f"{'hashes':>7} {'steps':>6} {'time vs ring':>13} {'state':>6}")
    lines = [header]
    for r in reports:
        removed = "n/a" if r.moved_on_remove is None else f"{r.moved_on_remove:.1%}"
        lines.append(f"{r.scheme:>11} {r.balance.relative_std:>9.1%} {r.balance.max_over_mean:>9.2f} "
                     f"{r.moved_on_add:>11.1%} {removed:>14} {r.hashes_per_lookup:>7.0f} {r.steps_per_lookup:>6.1f} "
                     f"{r.seconds_per_lookup / ring_time:>12.1f}x {r.state_size:>6,}")
    return "\n".join(lines)


# --- is a router uniform? ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BalanceCheck:
    """Pearson's chi-square test of "every shard is equally likely" on the keys counted per shard."""

    counts: tuple[int, ...]
    statistic: float
    degrees_of_freedom: int

    @property
    def z_score(self) -> float:
        """How many standard deviations the statistic sits above its mean under a uniform router.

        Under uniformity the statistic has mean ``df`` and variance ``2·df``; beyond about 3 the router
        is not uniform (for df of a few or more, the normal approximation is close enough to say that).
        """
        return (self.statistic - self.degrees_of_freedom) / math.sqrt(2 * self.degrees_of_freedom)


def chi_square_balance(router: Callable[[str, int], int], keys: Sequence[str], num_shards: int) -> BalanceCheck:
    """Route every key, count keys per shard, and compare the counts with an even split."""
    if num_shards < 2:
        raise ValueError(f"a balance check needs at least 2 shards, got {num_shards!r}")
    counts = [0] * num_shards
    for key in keys:
        counts[router(key, num_shards)] += 1
    expected = len(keys) / num_shards
    statistic = sum((count - expected) ** 2 / expected for count in counts)
    return BalanceCheck(tuple(counts), statistic, num_shards - 1)


def md5_modulo(key: str, num_shards: int) -> int:
    """``hash % n`` with the course's stable hash: the router the sharding section measures."""
    return md5_position(key) % num_shards
