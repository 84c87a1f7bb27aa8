"""The idempotency models: every number and relation course/07_idempotency.ipynb states, on fixed seeds.

A failing check names its seed and the one line that replays it. Expectations come from counting the
trace (which attempts reached the server, which replies were lost), never from the model's own totals.
"""
from __future__ import annotations

import pytest

from dspatterns.idempotency.delivery import amount_of, redelivery_run
from dspatterns.idempotency.lossy_link import link_fates
from dspatterns.idempotency.payments import (
    CHARGED,
    DROP_RATES,
    NOT_REACHED,
    REPLAYED,
    KeyReused,
    StoredReplies,
    describe_payment,
    double_charge_study,
    first_double_charge,
    run_payments,
)
from dspatterns.testing import FakeClock

SEEDS = range(12)
NONZERO_RATES = [rate for rate in DROP_RATES if rate > 0]


def replay(seed, rate, with_key):
    return f"replay: run_payments(seed={seed}, drop_rate={rate}, with_key={with_key})"


# --- the link ---------------------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_losses_and_another_seed_other_ones():
    first = link_fates(seed=1, payments=20, max_attempts=5, drop_rate=0.3)
    assert first == link_fates(seed=1, payments=20, max_attempts=5, drop_rate=0.3)
    assert first != link_fates(seed=2, payments=20, max_attempts=5, drop_rate=0.3)


def test_a_higher_rate_on_the_same_seed_only_adds_losses():
    low = link_fates(seed=4, payments=30, max_attempts=5, drop_rate=0.2)
    high = link_fates(seed=4, payments=30, max_attempts=5, drop_rate=0.4)
    pairs = [(a, b) for row_a, row_b in zip(low, high) for a, b in zip(row_a, row_b)]
    assert all(b.request_lost for a, b in pairs if a.request_lost)
    assert all(b.reply_lost for a, b in pairs if a.reply_lost)
    assert sum(b.request_lost + b.reply_lost for _, b in pairs) > sum(a.request_lost + a.reply_lost for a, _ in pairs)


def test_rate_zero_loses_nothing_and_rate_one_is_refused():
    fates = link_fates(seed=0, payments=10, max_attempts=3, drop_rate=0.0)
    assert not any(f.request_lost or f.reply_lost for row in fates for f in row)
    with pytest.raises(ValueError, match="drop_rate"):
        link_fates(seed=0, payments=1, max_attempts=1, drop_rate=1.0)


# --- payments ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_with_the_key_no_payment_is_charged_twice_at_any_rate_shown(seed):
    for rate in DROP_RATES:
        run = run_payments(seed=seed, drop_rate=rate, with_key=True)
        per_payment = [run.charges_of(p) for p in range(run.payments)]
        assert max(per_payment) <= 1 and run.double_charges == 0, (per_payment, replay(seed, rate, True))


@pytest.mark.parametrize("seed", SEEDS)
def test_with_the_key_every_payment_that_reached_the_server_is_charged_exactly_once(seed):
    run = run_payments(seed=seed, drop_rate=0.4, with_key=True)
    reached = {a.payment for a in run.attempts if a.server != NOT_REACHED}
    charged = {c["payment"] for c in run.charges}
    assert charged == reached and len(run.charges) == len(reached), replay(seed, 0.4, True)


@pytest.mark.parametrize("seed", SEEDS)
def test_without_a_key_every_request_that_arrives_is_a_charge(seed):
    run = run_payments(seed=seed, drop_rate=0.3, with_key=False)
    assert len(run.charges) == sum(1 for a in run.attempts if a.server != NOT_REACHED), replay(seed, 0.3, False)
    assert all(a.server in (NOT_REACHED, CHARGED) for a in run.attempts)


def test_without_a_key_some_payments_are_charged_twice_at_every_nonzero_rate_shown():
    for rate in NONZERO_RATES:
        total = sum(run_payments(seed=seed, drop_rate=rate, with_key=False).double_charges for seed in SEEDS)
        assert total > 0, f"no double charge at drop rate {rate} over seeds {SEEDS}"
    assert all(run_payments(seed=seed, drop_rate=rate, with_key=False).double_charges > 0
               for seed in SEEDS for rate in (0.3, 0.4, 0.5))


@pytest.mark.parametrize("seed", SEEDS)
def test_double_charges_without_a_key_are_the_lost_replies_followed_by_a_retry_that_arrived(seed):
    """The exact relation the notebook states, and the keyed run replays exactly those retries."""
    for rate in DROP_RATES:
        without = run_payments(seed=seed, drop_rate=rate, with_key=False)
        keyed = run_payments(seed=seed, drop_rate=rate, with_key=True)
        counted = 0  # from the link alone: a lost reply, then a later attempt of the same payment that arrived
        fates = link_fates(seed=seed, payments=40, max_attempts=5, drop_rate=rate)
        for row in fates:
            arrived = [f for f in row if not f.request_lost]
            # the client stops at the first arrival whose reply came back
            stop = next((i for i, f in enumerate(arrived) if not f.reply_lost), len(arrived) - 1)
            counted += max(stop, 0)  # arrivals before the one that was answered (or the last one)
        assert without.double_charges == without.retried_lost_replies == keyed.replays == counted, (
            without.double_charges, without.retried_lost_replies, keyed.replays, counted, replay(seed, rate, False))


def test_the_notebooks_numbers_on_seed_3():
    assert double_charge_study(seed=3) == [(0.0, 0, 0), (0.1, 2, 0), (0.2, 7, 0), (0.3, 13, 0), (0.4, 14, 0),
                                           (0.5, 29, 0)]
    run = run_payments(seed=3, drop_rate=0.3, with_key=False)
    assert (len(run.attempts), run.confirmed) == (74, 39)


def test_at_rate_zero_every_payment_takes_one_attempt_and_one_charge():
    for with_key in (False, True):
        run = run_payments(seed=3, drop_rate=0.0, with_key=with_key)
        assert [a.attempt for a in run.attempts] == [1] * 40 and len(run.charges) == 40


def test_an_unconfirmed_payment_is_one_whose_every_attempt_went_unanswered():
    run = run_payments(seed=3, drop_rate=0.5, with_key=True)
    unanswered = [p for p in range(40) if not any(a.answered for a in run.attempts if a.payment == p)]
    assert run.confirmed == 40 - len(unanswered) and unanswered
    assert all(sum(1 for a in run.attempts if a.payment == p) == 5 for p in unanswered)


def test_a_replayed_attempt_gets_the_reply_of_the_first_charge():
    run = run_payments(seed=3, drop_rate=0.3, with_key=True)
    first = {}
    for attempt in run.attempts:
        if attempt.server == CHARGED:
            first[attempt.payment] = attempt.reply
        if attempt.server == REPLAYED:
            assert attempt.reply == first[attempt.payment]


# --- the course's keyed store --------------------------------------------------------------------------

def counting_handler():
    calls = []

    def handler(request):
        calls.append(request)
        return {"n": len(calls), "echo": request}
    return handler, calls


def test_stored_replies_replays_without_running_the_handler_and_refuses_another_request():
    handler, calls = counting_handler()
    store = StoredReplies(handler, clock=FakeClock())
    assert store.handle("k", {"a": 1}) == store.handle("k", {"a": 1}) == {"n": 1, "echo": {"a": 1}}
    assert len(calls) == 1
    with pytest.raises(KeyReused):
        store.handle("k", {"a": 2})
    assert len(calls) == 1


def test_stored_replies_forgets_a_key_keep_for_seconds_after_storing_it():
    handler, calls = counting_handler()
    clock = FakeClock()
    store = StoredReplies(handler, keep_for=10.0, clock=clock)
    store.handle("k", {"a": 1})
    clock.advance(9.999)
    store.handle("k", {"a": 1})
    assert len(calls) == 1
    clock.advance(0.001)
    assert store.handle("k", {"a": 1})["n"] == 2


def test_stored_replies_stores_nothing_when_the_handler_raises():
    attempts = []

    def flaky(request):
        attempts.append(request)
        if len(attempts) == 1:
            raise ConnectionError("card network down")
        return {"ok": True}

    store = StoredReplies(flaky)
    with pytest.raises(ConnectionError):
        store.handle("k", {"a": 1})
    assert store.handle("k", {"a": 1}) == {"ok": True} and len(attempts) == 2


# --- at-least-once delivery ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_every_lost_ack_is_one_more_delivery_and_dedup_applies_each_message_once(seed):
    for loss in (0.0, 0.2, 0.5, 0.8):
        naive = redelivery_run(seed=seed, ack_loss=loss, dedup=False)
        dedup = redelivery_run(seed=seed, ack_loss=loss, dedup=True)
        where = f"replay: redelivery_run(seed={seed}, ack_loss={loss}, dedup=...)"
        assert [(d.message, d.number, d.ack_lost) for d in naive.deliveries] == \
               [(d.message, d.number, d.ack_lost) for d in dedup.deliveries], where
        assert len(naive.deliveries) == naive.messages + naive.lost_acks, where
        assert naive.effects == len(naive.deliveries), where
        assert [dedup.effects_of(m) for m in range(dedup.messages)] == [1] * dedup.messages, where
        assert dedup.balance == sum(amount_of(m) for m in range(dedup.messages)), where
        assert naive.balance - dedup.balance == sum(amount_of(d.message) for d in naive.deliveries if d.number > 1)


def test_the_notebooks_delivery_numbers_on_seed_5():
    naive = redelivery_run(seed=5, ack_loss=0.3, dedup=False)
    dedup = redelivery_run(seed=5, ack_loss=0.3, dedup=True)
    assert (len(naive.deliveries), naive.lost_acks, naive.effects, dedup.effects) == (48, 18, 48, 30)
    assert (naive.balance, dedup.balance) == (1236, 735)
    assert redelivery_run(seed=5, ack_loss=0.0, dedup=False).effects == 30


def test_ack_loss_one_is_refused():
    with pytest.raises(ValueError, match="ack_loss"):
        redelivery_run(ack_loss=1.0)


def test_the_notebooks_first_double_charge_is_payment_2_charged_on_both_attempts():
    without = run_payments(seed=3, drop_rate=0.3, with_key=False)
    keyed = run_payments(seed=3, drop_rate=0.3, with_key=True)
    assert first_double_charge(without) == 2 and first_double_charge(keyed) is None
    assert describe_payment(without, 2).splitlines() == [
        "payment 2 (without a key): charged 2 times",
        "  attempt 1 at  1.2 s: server charged the card (ch_0003); reply lost, the client times out",
        "  attempt 2 at  2.2 s: server charged the card (ch_0004); the client gets the reply"]
    assert describe_payment(keyed, 2).splitlines()[2] == (
        "  attempt 2 at  2.2 s: server sent the stored reply again (ch_0003); the client gets the reply")


def test_at_rate_half_ten_payments_get_no_reply_in_five_attempts_though_the_server_charged_them():
    """Question 3 of the notebook: the client knows nothing, yet here every one of them was charged."""
    run = run_payments(seed=3, drop_rate=0.5, with_key=True)
    unanswered = [p for p in range(40) if not any(a.answered for a in run.attempts if a.payment == p)]
    assert len(unanswered) == 10
    assert [run.charges_of(p) for p in unanswered] == [1] * 10


def test_the_seed_averages_stay_below_the_never_give_up_guess_at_high_rates():
    for rate in (0.3, 0.4, 0.5):
        mean = sum(run_payments(seed=s, drop_rate=rate, with_key=False).double_charges for s in range(20)) / 20
        assert mean < 40 * rate / (1 - rate), rate
    assert round(sum(run_payments(seed=s, drop_rate=0.5, with_key=False).double_charges
                     for s in range(20)) / 20, 1) == 23.5
