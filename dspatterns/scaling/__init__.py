"""Scaling patterns: models the course uses to show how data is spread over nodes and replicas.

Everything here works on plain data (sorted arrays of ring points, lists of keys, counts per node) so that
a figure or a test can ask "which keys moved?" or "how even is the load?" directly. None of it is a ring,
a sharded store or a replicated store you could use in a service: writing those is the exercise.
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
    owners_of,
    sample_keys,
)

__all__ = [
    "RingLayout", "compare_schemes", "jump_bucket", "layout_ring", "md5_position", "moved_keys", "owners_of",
    "rendezvous_owner", "resize_study", "sample_keys", "spread_against_vnodes",
]
