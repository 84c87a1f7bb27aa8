"""Benchmark: lookups per second of the consistent_hashing reference ring against uhashring's, in one run.

    .venv/bin/python benchmarks/ring_lookups.py [--nodes 50] [--vnodes 160] [--keys 100000] [--rounds 7]

The reference is the answer cell of ``solutions/scaling/consistent_hashing.ipynb``, read through the
registry exactly as the grader reads it; uhashring is the pinned library (2.5) a student would reach
for instead. Both rings get the same node names, the same number of virtual nodes per node and the same
keys, and both are built before any timing starts. A timed pass is one ``get_node(key)`` per key and
nothing else: the bound method and the key list are looked up beforehand, and no result is kept.

Each round times both rings over all the keys, taking turns every 10,000 keys (who goes first
alternates from slice to slice and from round to round), so a machine that speeds up or slows down
during the run tilts neither side. Each side's rate is the median over the rounds; the ratio is
reference ÷ uhashring (above 1: the reference is faster), and the median of the ratios within each
round is printed beside it, as a check on a busy machine. The two rings hash differently, so they place keys differently: the script says what each
hash is, checks that both cover every node with the same number of points, and prints how evenly each
spreads the keys, so the comparison is between two rings doing the same job.

A second table times uhashring again with the reference's hash function passed as its ``hash_fn``,
which separates the cost of the hash from the cost of the ring's own lookup.
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uhashring
from uhashring import HashRing

from autograder.exercises import EXERCISES

REFERENCE_HASH = ('MD5 of the UTF-8 string, first 8 bytes big-endian (a 64-bit int); node n\'s point i at '
                  'hash("n#i"); a key goes to the first point at or after its hash (bisect_left)')
UHASHRING_HASH = ('uhashring\'s default ring (not its "ketama" mode): int(md5(key).hexdigest(), 16), '
                  'the whole 128-bit digest; node n\'s point i at hash("n-i"); a key goes to the first '
                  'point strictly after its hash (bisect_right), then a dict from point to node')


def reference_ring_class():
    """``ConsistentHashRing`` from the reference answer cell, as the registry hands it to the grader."""
    namespace: dict = {"__name__": "consistent_hashing_reference"}
    exec(EXERCISES["consistent_hashing"].reference_code, namespace)  # noqa: S102 - the project's own reference
    return namespace["ConsistentHashRing"], namespace.get("md5_64")


def workload(nodes: int, keys: int, seed: int) -> tuple[list[str], list[str]]:
    """Node names like a fleet's hosts, and keys like a cache's: both the same for the two rings."""
    rng = random.Random(seed)
    node_names = [f"cache-{index:02d}.internal:11211" for index in range(nodes)]
    key_names = [f"user:{rng.getrandbits(40):010x}:profile" for _ in range(keys)]
    return node_names, key_names


CHUNK = 10_000  # keys per timed slice: both rings take turns every slice, so both see the same load


def timed_pass(get_node, keys: list[str]) -> float:
    """Seconds for one ``get_node`` per key, nothing else in the loop."""
    started = time.perf_counter()
    for key in keys:
        get_node(key)
    return time.perf_counter() - started


def alternate(contenders: dict[str, object], keys: list[str], rounds: int) -> dict[str, list[float]]:
    """Lookups per second of every contender in each round, over all the keys.

    A round goes through the keys in slices of ``CHUNK``; every contender does each slice in turn,
    and who goes first turns over from slice to slice and from round to round. So a burst of other
    work on the machine lands on both sides alike instead of on whichever ran at that moment. The
    collector runs between rounds, never during a timed slice.
    """
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    slices = [keys[start:start + CHUNK] for start in range(0, len(keys), CHUNK)]
    for round_number in range(rounds):
        seconds = dict.fromkeys(names, 0.0)
        gc.collect()
        gc.disable()
        try:
            for index, chunk in enumerate(slices):
                order = names if (round_number + index) % 2 == 0 else names[::-1]
                for name in order:
                    seconds[name] += timed_pass(contenders[name], chunk)
        finally:
            gc.enable()
        for name in names:
            rates[name].append(len(keys) / seconds[name])
    return rates


def spread(get_node, keys: list[str], nodes: list[str]) -> str:
    """How evenly a ring spreads the keys: the most and fewest keys on one node, against the mean."""
    counts = Counter(get_node(key) for key in keys)
    missing = [node for node in nodes if node not in counts]
    if missing:
        return f"{len(missing)} nodes got no key"
    mean = len(keys) / len(nodes)
    return f"keys per node {min(counts.values()):,} to {max(counts.values()):,} (max/mean {max(counts.values()) / mean:.2f})"


def print_rates(title: str, rates: dict[str, list[float]]) -> dict[str, float]:
    print(f"\n{title}")
    print(f"  {'ring':<34}{'median lookups/s':>18}{'min':>12}{'max':>12}")
    medians = {}
    for name, values in rates.items():
        medians[name] = statistics.median(values)
        print(f"  {name:<34}{medians[name]:>18,.0f}{min(values):>12,.0f}{max(values):>12,.0f}")
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--vnodes", type=int, default=160)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    ring_class, reference_hash = reference_ring_class()
    nodes, keys = workload(args.nodes, args.keys, args.seed)
    reference = ring_class(nodes, vnodes=args.vnodes)
    library = HashRing(nodes=nodes, vnodes=args.vnodes)
    # A hash collision would drop a point: say so rather than hide it. The contract gives the reference no
    # way to count its points, so this looks at its list of points if it has one by that name.
    counted = {"reference": len(getattr(reference, "_points", ())) or None, "uhashring": len(library.get_points())}
    for name, points in counted.items():
        if points is not None and points != args.nodes * args.vnodes:
            print(f"warning: the {name} ring has {points:,} points, not {args.nodes * args.vnodes:,}")

    print(f"{args.nodes} nodes x {args.vnodes} virtual nodes = {args.nodes * args.vnodes:,} points per ring, "
          f"{args.keys:,} keys, {args.rounds} rounds, Python {sys.version.split()[0]}, "
          f"uhashring {uhashring.__version__}")
    print(f"  reference hash: {REFERENCE_HASH}")
    print(f"  uhashring hash: {UHASHRING_HASH}")
    print(f"  reference: {spread(reference.get_node, keys, nodes)}")
    print(f"  uhashring: {spread(library.get_node, keys, nodes)}")

    labels = {"reference ConsistentHashRing": reference.get_node, "uhashring HashRing": library.get_node}
    rates = alternate(labels, keys, args.rounds)
    medians = print_rates("get_node(key), each with its own default hash:", rates)
    ours, theirs = medians["reference ConsistentHashRing"], medians["uhashring HashRing"]
    # The two passes of one round run back to back, so their ratio is the least disturbed by other load.
    per_round = [a / b for a, b in zip(rates["reference ConsistentHashRing"], rates["uhashring HashRing"])]
    print(f"  reference / uhashring within each round: median {statistics.median(per_round):.2f} "
          f"(from {min(per_round):.2f} to {max(per_round):.2f})")

    if reference_hash is not None:
        same_hash = HashRing(nodes=nodes, vnodes=args.vnodes, hash_fn=reference_hash)
        contenders = {"reference ConsistentHashRing": reference.get_node,
                      "uhashring with the reference's hash": same_hash.get_node,
                      "the hash alone (reference md5_64)": reference_hash}
        print_rates("the same hash for both (what the ring itself costs):", alternate(contenders, keys, args.rounds))

    print(f"\nreference {ours:,.0f} lookups/s, uhashring {theirs:,.0f} lookups/s, ratio {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
