"""Scaling patterns: models the course uses to show how data is spread over nodes and replicas.

Everything here works on plain data (sorted arrays of ring points, lists of keys, counts per node) so that
a figure or a test can ask "which keys moved?" or "how even is the load?" directly. None of it is a ring,
a sharded store or a replicated store you could use in a service: writing those is the exercise.
"""
