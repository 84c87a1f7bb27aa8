"""At-least-once delivery to a consumer with and without a set of processed ids.

A queue hands a message to the consumer and keeps it until the consumer's ack arrives; when the ack
is lost the queue cannot tell a lost ack from a consumer that died before finishing, so it delivers
the message again. The consumer acks every delivery. One that applies every delivery applies some
messages twice; one that remembers the ids it has applied, and only acks a repeat, applies each
message exactly once. The acks' fates come from a seed and do not depend on the consumer, so both
consumers see the same deliveries.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Delivery:
    message: int
    number: int  # 1 for the first delivery of this message
    ack_lost: bool
    applied: bool


@dataclass
class DeliveryRun:
    messages: int
    ack_loss: float
    dedup: bool
    deliveries: list[Delivery] = field(default_factory=list)
    balance: int = 0  # the effect: every applied message adds its amount

    @property
    def lost_acks(self) -> int:
        return sum(1 for d in self.deliveries if d.ack_lost)

    @property
    def effects(self) -> int:
        return sum(1 for d in self.deliveries if d.applied)

    def effects_of(self, message: int) -> int:
        return sum(1 for d in self.deliveries if d.message == message and d.applied)

    def deliveries_of(self, message: int) -> int:
        return sum(1 for d in self.deliveries if d.message == message)


def amount_of(message: int) -> int:
    return 10 + message


def redelivery_run(*, seed: int = 5, messages: int = 30, ack_loss: float = 0.3, dedup: bool = True,
                   max_deliveries: int = 100) -> DeliveryRun:
    """Deliver every message until one of its acks arrives (at most ``max_deliveries`` times)."""
    if not 0.0 <= ack_loss < 1.0:
        raise ValueError(f"ack_loss must be in [0, 1) so that an ack can get through (got {ack_loss!r})")
    rng = random.Random(seed)
    run = DeliveryRun(messages, ack_loss, dedup)
    processed: set[int] = set()
    for message in range(messages):
        for number in range(1, max_deliveries + 1):
            repeat = dedup and message in processed
            if not repeat:
                run.balance += amount_of(message)
                processed.add(message)
            ack_lost = rng.random() < ack_loss
            run.deliveries.append(Delivery(message, number, ack_lost, applied=not repeat))
            if not ack_lost:
                break
    return run
