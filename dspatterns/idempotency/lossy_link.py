"""A network link that loses messages: which request and which reply of each attempt never arrive.

The fates are drawn once from a seed, before anyone sends anything, so the same seed gives the same
losses to a client with a key and to one without, and to the course's handler and to yours: every
difference between two runs comes from the server, not from the network. Each attempt draws two
uniform numbers and a message is lost when its number is below the drop rate, so raising the rate
on the same seed only adds losses (what was lost at 0.2 is still lost at 0.3).
"""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class LinkFate:
    """What the link does to one attempt: the request may be lost on the way, or the reply on the way back."""

    request_lost: bool
    reply_lost: bool


def link_fates(*, seed: int, payments: int, max_attempts: int, drop_rate: float) -> list[list[LinkFate]]:
    """``fates[payment][attempt]`` for every attempt a client may make; each message lost at ``drop_rate``."""
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"drop_rate must be in [0, 1) so that a message can get through (got {drop_rate!r})")
    rng = random.Random(seed)
    fates = []
    for _ in range(payments):
        row = []
        for _ in range(max_attempts):
            request_draw, reply_draw = rng.random(), rng.random()
            row.append(LinkFate(request_lost=request_draw < drop_rate, reply_lost=reply_draw < drop_rate))
        fates.append(row)
    return fates
