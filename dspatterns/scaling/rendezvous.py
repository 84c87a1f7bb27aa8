"""Rendezvous (highest random weight) hashing, Thaler and Ravishankar, 1996.

Every node scores every key with a hash of the pair, and the key goes to the highest score. When a node
leaves, only the keys it won move, each to its runner-up; when a node joins, it takes exactly the keys
where it now scores highest. No ring, no virtual nodes, any node may leave, and the runners-up are a
ready-made replica list. The price: scoring all n nodes on every lookup, O(n) where a ring is O(log points).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from dspatterns.scaling.ring_model import HashFn, md5_position


def rendezvous_weight(node: str, key: str, hash_fn: HashFn = md5_position) -> int:
    """The score of one (node, key) pair."""
    return hash_fn(f"{node}|{key}")


def rendezvous_owner(key: str, nodes: Sequence[str], hash_fn: HashFn = md5_position) -> str:
    """The node with the highest weight for ``key`` (ties, which only crafted hashes make, go to the larger name)."""
    if not nodes:
        raise LookupError("no nodes to choose from")
    return max(nodes, key=lambda node: (rendezvous_weight(node, key, hash_fn), node))


def rendezvous_owners(keys: Iterable[str], nodes: Sequence[str], hash_fn: HashFn = md5_position) -> list[str]:
    return [rendezvous_owner(key, nodes, hash_fn) for key in keys]


def rendezvous_ranking(key: str, nodes: Sequence[str], hash_fn: HashFn = md5_position) -> list[str]:
    """All nodes from the highest weight down: the first ``r`` are the key's replica set."""
    return sorted(nodes, key=lambda node: (rendezvous_weight(node, key, hash_fn), node), reverse=True)
