"""Scaling patterns: models the course uses to show how data is spread over nodes and replicas.

Everything here works on plain data (sorted arrays of ring points, batches of keys, counts per node) so
that a figure or a test can ask "which keys moved?" or "how even is the load?" directly. None of it is a
ring, a sharded store or a replicated store you could use in a service: the ring answers for a batch of
keys by one sweep over all its points, never one key by binary search, and writing that is the exercise.
"""
from dspatterns.scaling.jump_hash import jump_bucket
from dspatterns.scaling.placement_study import (
    compare_schemes,
    resize_study,
    spread_against_vnodes,
)
from dspatterns.scaling.rendezvous import rendezvous_owner
from dspatterns.scaling.ring_model import (
    RingLayout,
    layout_ring,
    md5_position,
    moved_keys,
    replica_sets,
    sample_keys,
    sweep_owners,
)

__all__ = [
    "RingLayout", "compare_schemes", "jump_bucket", "layout_ring", "md5_position", "moved_keys", "rendezvous_owner",
    "replica_sets", "resize_study", "sample_keys", "spread_against_vnodes", "sweep_owners",
]
