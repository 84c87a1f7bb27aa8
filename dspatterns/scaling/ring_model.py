"""A hash ring as plain data: sorted point positions, who owns each point, and which keys land where.

The course needs to *show* consistent hashing (which keys a new node takes, how even the load is, how
that changes with virtual nodes), so the ring here is a frozen snapshot, ``RingLayout``, and functions
that answer questions about a batch of keys at once. Changing membership means laying out a new
snapshot and comparing owners: that comparison is the picture of "which keys move".

It follows the exercise's placement rules (node ``n``'s i-th point at ``hash_fn(f"{n}#{i}")``, a key
owned by the first point at or after its hash, wrapping at the top), but it is deliberately not a ring,
and it has no lookup of one key: owners come from one sweep over the sorted keys and the sorted points
together (a merge walk), which costs a pass over the whole ring whether the batch holds 2,000 keys or
one. So a ``ConsistentHashRing`` built on it would be O(points) per lookup, not the O(log points) the
exercise asks for: the binary search, the wrap and the replica walk of a single key are the exercise.
"""
from __future__ import annotations

import bisect
import hashlib
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

HASH_BITS = 64
HASH_SPACE = 1 << HASH_BITS  # positions run from 0 to 2**64 - 1, and the top wraps to 0

HashFn = Callable[[str], int]


def md5_position(text: str) -> int:
    """The first 8 bytes of MD5 of the UTF-8 text, big-endian: stable across processes and machines.

    Python's ``hash()`` of a str is salted per process (PYTHONHASHSEED), so two servers using it would
    disagree about where every key lives. MD5 is no use for security any more, but it is stable, fast
    and spreads bits well, which is all placement asks of it.
    """
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "big")


def point_label(node: str, index: int) -> str:
    """The text hashed for a node's ``index``-th virtual point, as in the exercise."""
    return f"{node}#{index}"


@dataclass(frozen=True)
class RingLayout:
    """Where every virtual point sits, sorted clockwise, and the node each one belongs to.

    Points with equal positions (only crafted hashes produce them) are ordered by node name, so the same
    nodes always give the same layout whatever order they were listed in.
    """

    positions: tuple[int, ...]
    owners: tuple[str, ...]
    nodes: tuple[str, ...]
    vnodes: int

    def __len__(self) -> int:
        return len(self.positions)


def layout_ring(nodes: Iterable[str], vnodes: int = 100, hash_fn: HashFn = md5_position) -> RingLayout:
    """Hash ``vnodes`` points for every node and sort them clockwise."""
    nodes = tuple(nodes)
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"node names must be distinct, got {list(nodes)!r}")
    if vnodes < 1:
        raise ValueError(f"vnodes must be at least 1, got {vnodes!r}")
    points = sorted((hash_fn(point_label(node, i)), node) for node in nodes for i in range(vnodes))
    return RingLayout(
        positions=tuple(position for position, _ in points),
        owners=tuple(owner for _, owner in points),
        nodes=nodes,
        vnodes=vnodes,
    )


def sweep_owners(layout: RingLayout, keys: Iterable[str], hash_fn: HashFn = md5_position) -> list[str]:
    """The node that owns each key, in the order of ``keys``, found by one sweep round the ring.

    The course asks about many keys at once (which node owns each of 2,000 keys, which of them moved),
    so this answers for the whole batch together rather than key by key: see ``sweep_owners_at``.
    """
    return sweep_owners_at(layout, [hash_fn(key) for key in keys])


def sweep_owners_at(layout: RingLayout, positions: Sequence[int]) -> list[str]:
    """The owner of each hash position, in the order given: ``sweep_owners`` for hashes already computed."""
    return [layout.owners[index] for index in _sweep_point_indices(layout, positions)]


def replica_sets(layout: RingLayout, keys: Sequence[str], count: int, hash_fn: HashFn = md5_position
                 ) -> list[list[str]]:
    """For each key, the first ``count`` distinct nodes met walking clockwise from it: where its copies go.

    The walk starts at the key's owning point (from the sweep) and reads the point list onward, as far
    as it takes to meet ``count`` different nodes: plenty for the handful of keys a figure shows.
    """
    if not layout.positions:
        return [[] for _ in keys]
    size = len(layout.positions)
    sets = []
    for start in _sweep_point_indices(layout, [hash_fn(key) for key in keys]):
        found: list[str] = []
        for step in range(size):
            owner = layout.owners[(start + step) % size]
            if owner not in found:
                found.append(owner)
                if len(found) == count:
                    break
        sets.append(found)
    return sets


def _sweep_point_indices(layout: RingLayout, positions: Sequence[int]) -> list[int]:
    """For each position, the index of the first point at or after it, by a merge walk of two sorted lists.

    The positions are sorted once, then the points and the positions are walked together clockwise:
    each point claims the positions not yet claimed that are at or below it. Whatever is left when the
    points run out lies past the last point and wraps to point 0, settled once at the end. The walk
    always reads every point, so its cost is O(keys · log keys + points) for the whole batch: cheap for
    thousands of keys, and no help to a lookup of one key, which would pay for the entire ring.
    """
    if not layout.positions:
        raise LookupError("an empty ring owns no keys")
    order = sorted(range(len(positions)), key=positions.__getitem__)
    indices = [0] * len(positions)
    waiting = 0  # how many of the sorted positions have been claimed so far
    for index, point in enumerate(layout.positions):
        while waiting < len(order) and positions[order[waiting]] <= point:
            indices[order[waiting]] = index
            waiting += 1
    for unclaimed in order[waiting:]:  # past the last point: the wrap, handled once
        indices[unclaimed] = 0
    return indices


def ring_shares(layout: RingLayout) -> dict[str, float]:
    """The fraction of the ring each node owns: the load it would get from infinitely many keys.

    A point owns the arc from the previous point (exclusive) up to itself; point 0 also owns the arc
    that wraps past the top.
    """
    shares = dict.fromkeys(layout.nodes, 0.0)
    positions = layout.positions
    for index, (position, owner) in enumerate(zip(positions, layout.owners)):
        arc = position - positions[index - 1] if index else position + HASH_SPACE - positions[-1]
        shares[owner] += arc / HASH_SPACE
    return shares


def sorted_key_positions(keys: Iterable[str], hash_fn: HashFn = md5_position) -> list[int]:
    """Hash the keys once and sort them, so many layouts can be counted against them cheaply."""
    return sorted(hash_fn(key) for key in keys)


def keys_per_node(layout: RingLayout, key_positions: Sequence[int]) -> dict[str, int]:
    """How many of the (sorted) key positions each node owns.

    Counts arcs instead of looking keys up one by one: one binary search per point, so a study over
    many layouts costs O(points · log keys) each instead of O(keys · log points).
    """
    counts = dict.fromkeys(layout.nodes, 0)
    positions = layout.positions
    if not positions:
        return counts
    total = len(key_positions)
    below = [bisect.bisect_right(key_positions, position) for position in positions]
    for index, owner in enumerate(layout.owners):
        counts[owner] += below[index] - below[index - 1] if index else below[0] + total - below[-1]
    return counts


@dataclass(frozen=True)
class Spread:
    """How uneven a load is: the relative standard deviation and the busiest node against the mean."""

    relative_std: float
    max_over_mean: float


def load_spread(loads: Iterable[float]) -> Spread:
    """Sample standard deviation over the mean (the usual "coefficient of variation"), and max/mean.

    The sample (n - 1) form estimates the spread of a node's share, not just of these few numbers.
    """
    values = list(loads)
    if len(values) < 2:
        raise ValueError(f"a spread needs at least two loads, got {values!r}")
    mean = statistics.fmean(values)
    if mean <= 0:
        raise ValueError(f"the loads must have a positive mean, got {values!r}")
    return Spread(statistics.stdev(values) / mean, max(values) / mean)


@dataclass(frozen=True)
class Move:
    key: str
    before: str
    after: str


def moved_keys(keys: Sequence[str], before: Sequence[str], after: Sequence[str]) -> list[Move]:
    """The keys whose owner differs between two owner lists (in key order), with where they went."""
    if not len(keys) == len(before) == len(after):
        raise ValueError(f"need one owner per key: {len(keys)} keys, {len(before)} and {len(after)} owners")
    return [Move(key, old, new) for key, old, new in zip(keys, before, after) if old != new]


def sample_keys(count: int, seed: int = 0) -> list[str]:
    """Distinct, deterministic key names such as ``user:0-17``; another seed gives another set."""
    return [f"user:{seed}-{i}" for i in range(count)]


def builtin_hash_in_new_process(text: str, hash_seed: int | str = "random") -> int:
    """Python's own ``hash(text)`` as computed by a fresh interpreter with that PYTHONHASHSEED.

    Shows why placement must never use ``hash()`` of a str: each process salts it differently unless
    PYTHONHASHSEED is fixed, so two servers (or one server after a restart) disagree about every key.
    """
    import os
    import subprocess
    import sys

    environment = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
    result = subprocess.run([sys.executable, "-c", f"print(hash({text!r}))"], env=environment,
                            capture_output=True, text=True, check=True, timeout=30)
    return int(result.stdout)
