"""A client retrying payments over a lossy link, with and without an idempotency key.

The client sends a charge, waits up to ``timeout`` seconds for the reply and tries again when none
came, up to ``max_attempts`` times. A lost request costs nothing: the server never saw it. A lost
*reply* is the dangerous case: the server charged the card and the client cannot tell that apart
from a lost request, so it retries, and without a key the server charges again. With a key the
server finds the reply it stored for that key and sends it again instead.

The server's effect is :class:`PaymentService` (a list of charges, the thing that must not happen
twice); in front of it sits :class:`StoredReplies`, the course's keyed store, or your class. Time is
virtual (the clock the server reads is the simulation's), so a run takes microseconds.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from dspatterns.idempotency.lossy_link import link_fates

DROP_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
MAX_ATTEMPTS = 5  # the client gives up after this many tries of one payment
NOT_REACHED, CHARGED, REPLAYED, RAISED = "not reached", "charged", "replayed", "raised"
DAY = 86400.0


class PaymentService:
    """The card network, as far as the simulation cares: every call to ``charge`` takes money once more."""

    def __init__(self) -> None:
        self.charges: list[dict] = []

    def charge(self, request: dict) -> dict:
        reply = {"charge_id": f"ch_{len(self.charges) + 1:04d}", "payment": request["payment"],
                 "amount": request["amount"]}
        self.charges.append(reply)
        return dict(reply)


class KeyReused(Exception):
    """The course model's answer to a key sent again with a different request (Stripe answers 422)."""


def fingerprint(request: dict) -> str:
    """A digest of the request's content, stored with the reply, so that a reused key with other content is caught."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=repr).encode()).hexdigest()


class StoredReplies:
    """The course's keyed store of replies: run the handler for a new key, send the stored reply for a known one.

    It is written for the single-threaded simulation: the client here never sends an attempt while an
    earlier one is still on the server, so there is no in-flight state. A real server must have one (a
    second request that arrives while the first is running must be refused, Stripe's 409), and so does
    the exercise's handler, which is tested with real threads.
    """

    def __init__(self, handler: Callable[[dict], dict], keep_for: float = DAY,
                 clock: Callable[[], float] = lambda: 0.0) -> None:
        self.handler, self.keep_for, self.clock = handler, keep_for, clock
        self.replies: dict[str, tuple[str, float, dict]] = {}

    def handle(self, key: str, request: dict) -> dict:
        stored = self.replies.get(key)
        if stored is not None and self.clock() - stored[1] >= self.keep_for:
            del self.replies[key]  # kept long enough: the key is new again
            stored = None
        if stored is not None:
            if stored[0] != fingerprint(request):
                raise KeyReused(f"key {key!r} was first used for another request")
            return dict(stored[2])
        reply = self.handler(request)
        self.replies[key] = (fingerprint(request), self.clock(), dict(reply))
        return reply


@dataclass(frozen=True)
class Attempt:
    """One try of one payment: when it was sent, what the link lost and what the server did with it."""

    payment: int
    attempt: int  # 1 for the first try
    sent_at: float
    request_lost: bool
    server: str  # NOT_REACHED, CHARGED, REPLAYED or RAISED
    reply_lost: bool  # only meaningful when the server was reached
    reply: dict | None = None

    @property
    def answered(self) -> bool:
        return self.server != NOT_REACHED and not self.reply_lost


@dataclass
class PaymentRun:
    """Every attempt of one run, and the counts the course's figures and claims are made of."""

    drop_rate: float
    with_key: bool
    payments: int
    attempts: list[Attempt] = field(default_factory=list)
    charges: list[dict] = field(default_factory=list)
    problem: str | None = None  # one line when your class raised instead of answering

    def charges_of(self, payment: int) -> int:
        return sum(1 for charge in self.charges if charge["payment"] == payment)

    @property
    def double_charges(self) -> int:
        """Charges beyond the first of each payment: money taken twice (or more) for one purchase."""
        return sum(max(self.charges_of(p) - 1, 0) for p in range(self.payments))

    @property
    def replays(self) -> int:
        return sum(1 for a in self.attempts if a.server == REPLAYED)

    @property
    def confirmed(self) -> int:
        """Payments whose client got a reply: the others gave up after ``max_attempts`` and do not know."""
        return len({a.payment for a in self.attempts if a.answered})

    @property
    def retried_lost_replies(self) -> int:
        """Lost replies after which a later attempt of the same payment reached the server (a link property)."""
        count = 0
        for a in self.attempts:
            if a.server != NOT_REACHED and a.reply_lost and any(
                    b.payment == a.payment and b.attempt > a.attempt and b.server != NOT_REACHED
                    for b in self.attempts):
                count += 1
        return count


def payment_requests(payments: int) -> list[dict]:
    return [{"payment": p, "amount": 1000 + 25 * p, "currency": "eur", "card": "tok_visa"} for p in range(payments)]


def run_payments(*, seed: int = 3, drop_rate: float = 0.3, with_key: bool = True, payments: int = 40,
                 max_attempts: int = MAX_ATTEMPTS, timeout: float = 1.0, round_trip: float = 0.1,
                 front: Callable | None = None) -> PaymentRun:
    """One client paying ``payments`` times over the seeded link; ``front(handler, clock)`` builds the keyed side.

    Each attempt starts when the previous one ended: ``round_trip`` after it was sent if the reply
    came, ``timeout`` after it if not. The server is reached half a round trip after sending, and that
    is the time its clock reads. Without a key the request goes straight to the card network.
    """
    fates = link_fates(seed=seed, payments=payments, max_attempts=max_attempts, drop_rate=drop_rate)
    service = PaymentService()
    now = [0.0]

    def clock() -> float:
        return now[0]

    make_front = front or (lambda handler, clock: StoredReplies(handler, clock=clock))
    keyed = make_front(service.charge, clock) if with_key else None
    run = PaymentRun(drop_rate, with_key, payments, charges=service.charges)
    sent_at = 0.0
    for request, fates_of_payment in zip(payment_requests(payments), fates):
        key = f"pay-{seed}-{request['payment']}"
        for number, fate in enumerate(fates_of_payment, start=1):
            if fate.request_lost:
                run.attempts.append(Attempt(request["payment"], number, sent_at, True, NOT_REACHED, False))
                sent_at += timeout
                continue
            now[0] = sent_at + round_trip / 2
            before = len(service.charges)
            try:
                reply = keyed.handle(key, dict(request)) if keyed is not None else service.charge(dict(request))
            except Exception as exc:  # noqa: BLE001 - your class: one line, and the run stops here
                run.attempts.append(Attempt(request["payment"], number, sent_at, False, RAISED, False))
                run.problem = _failure_line(f"payment {request['payment']}, attempt {number}: handle", exc)
                return run
            server = CHARGED if len(service.charges) > before else REPLAYED
            run.attempts.append(Attempt(request["payment"], number, sent_at, False, server, fate.reply_lost, reply))
            if fate.reply_lost:
                sent_at += timeout
                continue
            sent_at += round_trip
            break
    return run


def double_charge_study(*, seed: int = 3, drop_rates=DROP_RATES, **options) -> list[tuple[float, int, int]]:
    """``(drop_rate, double charges without a key, with the key)`` for each rate, on the same seed."""
    return [(rate, run_payments(seed=seed, drop_rate=rate, with_key=False, **options).double_charges,
             run_payments(seed=seed, drop_rate=rate, with_key=True, **options).double_charges)
            for rate in drop_rates]


def _failure_line(where: str, exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return f"{where} raises NotImplementedError: still the stub"
    return f"{where} raised {type(exc).__name__}: {exc}"


def run_with_class(handler_cls, *, seed: int = 3, drop_rate: float = 0.3, **options) -> PaymentRun:
    """Your ``IdempotentHandler`` class as the keyed side, on the same link as the course's model.

    It is built as ``handler_cls(charge, ttl=86400.0, clock=clock)`` with the simulation's clock. A
    constructor or a ``handle`` that raises ends the run with ``problem`` set to one line.
    """
    def front(handler, clock):
        return handler_cls(handler, ttl=DAY, clock=clock)

    try:
        return run_payments(seed=seed, drop_rate=drop_rate, with_key=True, front=front, **options)
    except Exception as exc:  # noqa: BLE001 - only the constructor can raise out of run_payments
        run = PaymentRun(drop_rate, True, options.get("payments", 40))
        run.problem = _failure_line("constructing your class", exc)
        return run


def first_different_index(course: PaymentRun, yours: PaymentRun) -> int | None:
    """The index of the first attempt where your class did something other than the course's model."""
    for index, (mine, theirs) in enumerate(zip(course.attempts, yours.attempts)):
        if (mine.server, mine.reply) != (theirs.server, theirs.reply):
            return index
    shorter = min(len(course.attempts), len(yours.attempts))
    return shorter if len(course.attempts) != len(yours.attempts) else None


def first_difference(course: PaymentRun, yours: PaymentRun) -> str | None:
    """That first attempt in one line: where it was and what each side did."""
    index = first_different_index(course, yours)
    if index is None:
        return None
    if index >= min(len(course.attempts), len(yours.attempts)):
        return f"the model made {len(course.attempts)} attempts, yours {len(yours.attempts)}"
    mine, theirs = course.attempts[index], yours.attempts[index]
    where = f"payment {mine.payment}, attempt {mine.attempt} (sent at {mine.sent_at:.1f} s)"
    if mine.server != theirs.server:
        return f"{where}: the model {mine.server}, yours {theirs.server}"
    return f"{where}: the model replied {mine.reply}, yours {theirs.reply}"


def describe_payment(run: PaymentRun, payment: int) -> str:
    """Every attempt of one payment in words, one line each, as the client and the server saw it."""
    lines = []
    for a in (a for a in run.attempts if a.payment == payment):
        if a.server == NOT_REACHED:
            what = "request lost on the way; no reply within the timeout"
        else:
            done = {CHARGED: f"server charged the card ({a.reply['charge_id']})",
                    REPLAYED: f"server sent the stored reply again ({a.reply['charge_id']})"}.get(a.server, a.server)
            what = f"{done}; " + ("reply lost, the client times out" if a.reply_lost else "the client gets the reply")
        lines.append(f"  attempt {a.attempt} at {a.sent_at:4.1f} s: {what}")
    charges = run.charges_of(payment)
    return (f"payment {payment} ({'with' if run.with_key else 'without'} a key): charged {charges} "
            f"time{'s' if charges != 1 else ''}\n" + "\n".join(lines))


def first_double_charge(run: PaymentRun) -> int | None:
    """The first payment charged more than once, or None."""
    return next((p for p in range(run.payments) if run.charges_of(p) > 1), None)


def study_table(rows: list[tuple[float, int, int]]) -> str:
    lines = [f"{'drop rate':>9}  {'double charges without a key':>28}  {'with the key':>12}"]
    lines += [f"{rate:>9.1f}  {without:>28}  {keyed:>12}" for rate, without, keyed in rows]
    return "\n".join(lines)
