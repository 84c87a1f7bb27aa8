"""Idempotency: models the course uses to show retried payments and redelivered messages at work.

A lossy link decides, from a seed, which requests and replies are lost; a client retries a payment
over it with and without an idempotency key; a queue redelivers messages whose acks were lost to a
consumer with and without a set of processed ids. Everything is virtual time and plain lists, so a
figure or a test can count double charges and duplicate effects directly. None of it is the handler
the exercise asks for: the course's keyed store is single-threaded and written for the simulation.
"""
from dspatterns.idempotency.delivery import DeliveryRun, redelivery_run
from dspatterns.idempotency.lossy_link import LinkFate, link_fates
from dspatterns.idempotency.payments import (
    DROP_RATES,
    KeyReused,
    PaymentRun,
    PaymentService,
    StoredReplies,
    double_charge_study,
    run_payments,
    run_with_class,
)

__all__ = [
    "DROP_RATES", "DeliveryRun", "KeyReused", "LinkFate", "PaymentRun", "PaymentService", "StoredReplies",
    "double_charge_study", "link_fates", "redelivery_run", "run_payments", "run_with_class",
]
