"""Jump consistent hash (Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm", 2014).

The course puts it beside the ring because it makes the opposite trade: no table at all, a perfectly
even split and a handful of arithmetic steps per lookup, but buckets are only the numbers 0 to n - 1,
so a cluster can grow or shrink only at the end. This is the paper's published C++ function,
transcribed with 64-bit wrap-around where C++ gets it from ``uint64_t``.
"""
from __future__ import annotations

from collections.abc import Iterable

from dspatterns.scaling.ring_model import HashFn, md5_position

LCG_MULTIPLIER = 2862933555777941757  # the paper's 64-bit linear congruential generator
UINT64_MASK = (1 << 64) - 1


def jump_bucket(key: int, num_buckets: int) -> int:
    """The bucket in ``[0, num_buckets)`` of a 64-bit integer key."""
    return jump_bucket_and_steps(key, num_buckets)[0]


def jump_bucket_and_steps(key: int, num_buckets: int) -> tuple[int, int]:
    """The bucket and how many times the loop ran: the algorithm's cost, about ln(num_buckets) + 1.

    Each round draws the next bucket the key would jump to as buckets are added; the last jump below
    ``num_buckets`` is the answer. Only a key whose jump lands exactly on the new bucket moves when
    one is added, which is why 1/(n + 1) of the keys move and no more.
    """
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be at least 1, got {num_buckets!r}")
    if not 0 <= key <= UINT64_MASK:
        raise ValueError(f"key must be an unsigned 64-bit integer, got {key!r}")
    bucket, jump, steps = -1, 0, 0
    while jump < num_buckets:
        bucket = jump
        key = (key * LCG_MULTIPLIER + 1) & UINT64_MASK
        jump = int((bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
        steps += 1
    return bucket, steps


def jump_owners(keys: Iterable[str], num_buckets: int, hash_fn: HashFn = md5_position) -> list[int]:
    """The bucket of each string key, hashed to 64 bits first (jump hash only takes integers)."""
    return [jump_bucket(hash_fn(key), num_buckets) for key in keys]
