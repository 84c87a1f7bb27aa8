"""Replay the course's redelivery model on a student's ``WorkQueue``, on a fake clock, step by step.

``redelivery_run`` (the course's SimPy model) logs every receive, ack, crash, timeout and dead letter.
``replay_on`` sends the same messages at the same instants to ``queue_class(visibility_timeout,
max_deliveries, clock)`` and, at each logged instant, sets the fake clock there and does what the
model's consumers did: a receive calls ``receive(1)``, an ack calls ``ack(id)``. After each instant it
checks what the contract pins down against the model: the message received and its ``.deliveries``,
``len(queue)``, and ``.dead_letters``. It stops at the first difference and says where.

Two things are not held against a queue:

* **Where a timed-out message rejoins.** Fresh messages come out in send order; a message that timed
  out may rejoin at the back (the model's default) or keep its send-order place (the reference's
  choice): both are correct. So if the queue hands out another message the model also had visible, and
  the queue's visible messages are the model's, the replay starts again on a fresh queue against the
  same scenario run with the model's other rejoin rule, and the queue agrees if either run agrees. Only
  a different set of messages handed out, different counts or different dead letters are differences;
  a queue that follows neither rule (the replay cannot follow it) is told it chose another order.
* **A late ack** (after the visibility timeout passed) is not replayed: the model ignores it, while
  the exercise's ``ack`` removes any message that is not dead, also one whose lease ran out and that
  nobody received again (after the last timeout the message is dead and the ack is too late).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import groupby

from dspatterns.communication.queue_levelling import (
    ACKED,
    DEAD_LETTERED,
    RECEIVED,
    TIMED_OUT,
    RedeliveryRun,
    redelivery_run,
)
from dspatterns.student_code import describe

SAME = "same"
# The fake clock reads each instant rounded to a multiple of 2**-20 s. The model schedules a timeout at
# ``received + visibility_timeout`` in floating point, and a queue that computes ``now - received``
# could see 4.999999999 where the model saw 5: a rounding difference no one should be told about. On
# this grid (times below 1024 s) every difference is exact, so the timeout lands where the model's did.
_GRID = 2.0 ** 20


def _on_grid(time: float) -> float:
    return round(time * _GRID) / _GRID
DIFFERENT = "different"
ORDER = "order"  # a different but allowed choice: the replay cannot go on comparing
BROKE = "broke"


@dataclass(frozen=True)
class ReplayResult:
    """How far the queue kept step with the model, and the first place it did not (if any)."""

    verdict: str
    checked_instants: int
    total_instants: int
    at_time: float | None = None
    detail: str = ""
    dead_letters: tuple[int, ...] = ()  # the model's message numbers the queue dead-lettered

    @property
    def agrees(self) -> bool:
        return self.verdict == SAME


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def replay_on(queue_class: type, run: RedeliveryRun, *, send_interval: float = 1.0) -> ReplayResult:
    """Drive ``queue_class`` through ``run``'s events (``run`` from ``redelivery_run(send_interval=...)``).

    If the queue keeps to the model until it hands out another visible message, the same scenario is run
    with the model's other rejoin rule and replayed on a fresh queue: that run's verdict is the answer,
    unless it too stops at an order choice (then the first run's, which got further, is kept).
    """
    first = _replay_one(queue_class, run, send_interval)
    if first.verdict != ORDER or not run.rerun:
        return first
    other = "in_place" if run.rerun.get("rejoin", "back") == "back" else "back"
    second = _replay_one(queue_class, redelivery_run(**{**run.rerun, "rejoin": other}), send_interval)
    if second.verdict == SAME:
        place = "keeps its send-order place" if other == "in_place" else "rejoins at the back"
        return replace(second, detail=f"every instant agreed with the model run where a timed-out message {place}")
    if second.verdict == ORDER:
        return first
    return second


def _replay_one(queue_class: type, run: RedeliveryRun, send_interval: float) -> ReplayResult:
    clock = _Clock()
    instants = [(time, list(events)) for time, events in groupby(run.events, key=lambda e: e.time)]
    total = len(instants)
    try:
        queue = queue_class(visibility_timeout=run.visibility_timeout, max_deliveries=run.max_deliveries,
                            clock=clock)
    except Exception as exc:
        return ReplayResult(BROKE, 0, total, 0.0, f"WorkQueue(...) raised {describe(exc)}")
    ids: dict[int, object] = {}  # the model's message number -> the queue's id
    sent = 0
    model_visible: list[int] = []  # the model's view, to tell an allowed order choice from a bug
    acked: set[int] = set()
    dead: set[int] = set()

    def send_until(time: float) -> None:
        nonlocal sent
        while sent < run.messages and sent * send_interval <= time:
            clock.now = _on_grid(sent * send_interval)
            # Asking the length first lets a queue that times messages out lazily do it now: in the model a
            # timeout due at this instant was scheduled before this send, so it rejoins the queue first.
            len(queue)
            ids[sent] = queue.send(f"job {sent}")
            model_visible.append(sent)
            sent += 1

    for checked, (time, events) in enumerate(instants):
        try:
            send_until(time)
            clock.now = _on_grid(time)
            for event in events:
                if event.kind == RECEIVED:
                    problem = _check_receive(queue, ids, event, model_visible)
                    if problem is not None:
                        verdict, detail = problem
                        return ReplayResult(verdict, checked, total, time, detail, _dead(queue, ids))
                    model_visible.remove(event.message)
                elif event.kind == ACKED:
                    queue.ack(ids[event.message])
                    acked.add(event.message)
                elif event.kind == DEAD_LETTERED:
                    dead.add(event.message)
                elif event.kind == TIMED_OUT and event.delivery < run.max_deliveries:
                    model_visible.append(event.message)
            problem = _check_state(queue, ids, sent, acked, dead)
        except Exception as exc:
            return ReplayResult(BROKE, checked, total, time, f"your queue raised {describe(exc)}", ())
        if problem is not None:
            return ReplayResult(DIFFERENT, checked, total, time, problem, _dead(queue, ids))
    return ReplayResult(SAME, total, total, None, "every instant agreed with the model", _dead(queue, ids))


def _check_receive(queue, ids, event, model_visible) -> tuple[str, str] | None:
    got = queue.receive(1)
    expected = f"message {event.message} (delivery {event.delivery})"
    if not got:
        return DIFFERENT, f"the model handed out {expected}; receive(1) returned nothing"
    if len(got) != 1:
        return DIFFERENT, f"receive(1) returned {len(got)} messages"
    message = got[0]
    number = _number(ids, message.id)
    if number != event.message:
        if number not in model_visible:
            return DIFFERENT, f"the model handed out {expected}, yours message {number}, which the model held invisible"
        # Another visible message: an allowed choice if the queue holds the same visible messages as the
        # model. The replay ends here either way, so it may ask for all of them to see.
        rest = [_number(ids, m.id) for m in queue.receive(len(model_visible))]
        yours, models = sorted([number, *rest], key=repr), sorted(model_visible, key=repr)
        if yours != models:
            return DIFFERENT, (f"the model had messages {sorted(model_visible)} visible and handed out "
                               f"{expected}; yours handed out {number}, and then had only {rest} visible")
        return ORDER, (f"the model handed out {expected}, yours message {number}: both were visible, and "
                       "your queue follows neither the model's back-of-the-line rule nor send order, so "
                       "the replay cannot follow it")
    if message.deliveries != event.delivery:
        return DIFFERENT, f"{expected}: yours says .deliveries == {message.deliveries}"
    return None


def _check_state(queue, ids, sent, acked, dead) -> str | None:
    expected_len = sent - len(acked) - len(dead)
    if len(queue) != expected_len:
        return (f"len(queue) is {len(queue)}, the model has {expected_len} "
                f"(sent {sent}, acked {len(acked)}, dead {len(dead)})")
    yours = set(_dead(queue, ids))
    if yours != dead:
        return f"dead letters: yours {sorted(yours)}, the model's {sorted(dead)}"
    return None


def _dead(queue, ids) -> tuple[int, ...]:
    try:
        return tuple(_number(ids, message.id) for message in queue.dead_letters)
    except Exception:
        return ()


def _number(ids: dict[int, object], queue_id: object) -> int | None:
    return next((number for number, known in ids.items() if known == queue_id), None)


Replayer = Callable[[type, RedeliveryRun], ReplayResult]
