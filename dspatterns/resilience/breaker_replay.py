"""Your ``CircuitBreaker`` on the course's script: the same calls at the same times, beside the model.

The breaker explorer draws the course's simulation (``simulate_breaker``). Handed a class of yours,
it replays that very traffic through it, using only the exercise's contract:
``CircuitBreaker(failure_threshold=..., recovery_timeout=..., half_open_max_calls=..., clock=clock)``,
its ``.state`` and its ``.call(func)``, on a ``FakeClock`` set to each event's time.

Calls overlap in the simulation (each keeps the service busy for ``service_time``), and a breaker
judges a call when it ends. So each call runs on a worker thread, inside a service function that
holds it until the driver says its time is up; the driver moves one thing at a time (it waits until a
call has either entered the service or returned before it goes on), so the run is as repeatable as the
model's. A worker takes the next call once its call has returned: only a handful overlap at any
moment, and starting a fresh thread for each of the ~1,300 calls cost more than all the rest of the
replay (``benchmarks/breaker_replay.py``). At each arrival the driver reads ``.state``, then calls;
after each call ends it reads ``.state`` again, and it also reads it at the instants where the model
changes state, so that your timeline is drawn as finely as the model's.

The comparison is per call: the state your breaker reported when the call arrived, and whether it let
the call through or refused it (with ``CircuitOpenError``), against the model's. Anything outside the
contract (a constructor or ``.state`` that raises, a refusal that is not a ``CircuitOpenError``, a
service error swallowed, a call that never returns) ends the replay with one sentence.
"""
from __future__ import annotations

import heapq
import itertools
import queue
import threading
from dataclasses import dataclass, replace

from dspatterns.resilience.breaker_simulation import (
    CLOSED,
    FAILURE,
    HALF_OPEN,
    OPEN,
    REJECTED,
    SUCCESS,
    BreakerRun,
    Call,
    FailureProfile,
    StateInterval,
    scripted_calls,
    simulate_breaker,
)
from dspatterns.student_code import describe, name_of
from dspatterns.testing import FakeClock

STATES = (CLOSED, OPEN, HALF_OPEN)
ARRIVAL, ANSWER = "arrival", "answer"
LET_THROUGH, REFUSED = "let it through", "refused it"
STATE_WORDS = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half-open"}
PATIENCE = 2.0  # seconds of real time a call may take to enter the service or return before it counts as stuck
OPEN_ERROR_NAME = "CircuitOpenError"  # a refusal is recognised by name: your module defines it, not ours


class ServiceFailure(Exception):
    """What the simulated service raises for a call that fails (the default ``failure_exceptions`` catch it)."""


@dataclass(frozen=True)
class Moment:
    """A moment your breaker was read, beside the model at the same moment.

    ``kind`` is ``"arrival"`` (a call arrives: the state, then whether it was let through) or
    ``"answer"`` (the service answered a call: the state after your breaker judged the answer).
    """

    time: float
    number: int  # the call's number, 1 for the first call of the run
    kind: str
    model_state: str
    your_state: str
    model_did: str | None = None  # for arrivals: "let it through" or "refused it"
    you_did: str | None = None

    @property
    def differs(self) -> bool:
        return (self.model_state, self.model_did) != (self.your_state, self.you_did)

    @property
    def text(self) -> str:
        """"at t=12.03 s, call 241: the model refused it (open), yours let it through (closed)"."""
        model_state, your_state = STATE_WORDS[self.model_state], STATE_WORDS[self.your_state]
        if self.kind == ANSWER:
            return (f"at t={self.time:.2f} s, after the answer to call {self.number}: the model was "
                    f"{model_state}, yours {your_state}")
        where = f"at t={self.time:.2f} s, call {self.number}"
        if self.model_did != self.you_did:
            return f"{where}: the model {self.model_did} ({model_state}), yours {self.you_did} ({your_state})"
        return f"{where}: the model was {model_state}, yours {your_state}; both {self.model_did}"


@dataclass(frozen=True)
class BreakerComparison:
    """The model's run, yours on the same script (up to where it stopped), and where they part."""

    name: str
    model: BreakerRun
    yours: BreakerRun | None  # None when your class could not even be built
    differences: tuple[Moment, ...] = ()
    compared: int = 0  # how many moments were compared
    problem: str | None = None

    @property
    def first_difference(self) -> Moment | None:
        return self.differences[0] if self.differences else None

    @property
    def agrees(self) -> bool:
        return self.problem is None and not self.differences

    @property
    def text(self) -> str:
        """One or two sentences for the line under the sliders."""
        total = len(self.model.calls)
        parts = []
        if self.differences:
            parts.append(f"first difference {self.first_difference.text} ({len(self.differences):,} of "
                         f"{self.compared:,} arrivals and answers differ)")
        if self.problem is not None:
            parts.append(self.problem)
        elif not self.differences:
            parts.append(f"agrees with the model on all {total:,} calls: the same state at every arrival and "
                         "after every answer, and the same calls let through and refused")
        return "; then ".join(parts) + "."


def compare_breaker(
    breaker_class: type,
    *,
    seed: int = 7,
    duration: float = 60.0,
    rate: float = 20.0,
    failure_profile: FailureProfile | None = None,
    failure_threshold: int = 5,
    recovery_timeout: float = 5.0,
    half_open_max_calls: int = 1,
    service_time: float = 0.1,
    arrivals: str = "poisson",
    patience: float = PATIENCE,
) -> BreakerComparison:
    """Run the model and replay the same calls through ``breaker_class``; the settings are ``simulate_breaker``'s."""
    settings = dict(seed=seed, duration=duration, rate=rate, failure_profile=failure_profile, arrivals=arrivals)
    model = simulate_breaker(**settings, failure_threshold=failure_threshold, recovery_timeout=recovery_timeout,
                             half_open_max_calls=half_open_max_calls, service_time=service_time)
    script = scripted_calls(**settings)
    name = name_of(breaker_class)
    clock = FakeClock()
    built = (f"{name}(failure_threshold={failure_threshold}, recovery_timeout={recovery_timeout:g}, "
             f"half_open_max_calls={half_open_max_calls}, clock=FakeClock())")
    try:
        breaker = breaker_class(failure_threshold=failure_threshold, recovery_timeout=recovery_timeout,
                                half_open_max_calls=half_open_max_calls, clock=clock)
    except Exception as error:  # noqa: BLE001 - any failure of student code becomes one sentence
        return BreakerComparison(name, model, None, problem=f"your {built} raised {describe(error)}")
    replay = _Replay(breaker, name, clock, patience)
    # Read at the model's changes of state too, so that your bands are drawn as finely as the model's;
    # those readings are not compared: at an instant computed as opened_at + recovery_timeout, rounding
    # may put a correct breaker a hair either side of it.
    probes = [interval.start for interval in model.intervals[1:]]
    calls, moments, problem = replay.run(script, service_time, duration, probes, model)
    yours = replace(model, calls=tuple(calls), intervals=tuple(replay.intervals(duration)))
    differences = tuple(moment for moment in moments if moment.differs)
    return BreakerComparison(name, model, yours, differences, len(moments), problem)


class _Stop(Exception):
    """Your breaker stepped outside the contract: the replay ends with this sentence."""


class _Signal:
    """A one-shot signal between the driver and a worker: ``threading.Event`` without its ``Condition``.

    It is a lock held from the start and released by the first ``give``, so giving and waiting cost a
    C-level lock operation or two; a replay passes a few thousand signals. ``give`` may come more than
    once, from more than one thread (your ``call`` might run the service on a thread of its own): the
    counter, atomic under the GIL, lets only the first one release.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._lock.acquire()
        self._gives = itertools.count()

    def give(self) -> None:
        if next(self._gives) == 0:
            self._lock.release()

    def wait(self, timeout: float) -> bool:
        """True once the signal is given (at once if it already was), False after ``timeout`` seconds."""
        if not self._lock.acquire(timeout=timeout):
            return False
        self._lock.release()
        return True


class _Flight:
    """One call through your breaker, on a worker thread, held inside the service until its answer is due."""

    def __init__(self, number: int, fails: bool, patience: float):
        self.number, self.fails, self.patience = number, fails, patience
        self.reply = f"reply to call {number}"
        self.failure = ServiceFailure(f"call {number} failed")
        self.entries = 0
        self.moved = _Signal()  # it entered the service, or its call is over (given by the worker)
        self.answer_due = _Signal()  # given by the driver
        self.done = _Signal()  # given by the worker
        self.returned: object = None
        self.raised: BaseException | None = None

    def service(self) -> str:
        self.entries += 1
        self.moved.give()
        self.answer_due.wait(self.patience * 10)  # the driver always gives it; the bound only guards a leak
        if self.fails:
            raise self.failure
        return self.reply

    def run(self, breaker) -> None:
        """On a worker thread: the call, with what it returned or raised kept for the driver to judge."""
        try:
            self.returned = breaker.call(self.service)
        except BaseException as error:  # noqa: BLE001 - judged by the driver, not raised in a thread
            self.raised = error
        finally:
            self.moved.give()
            self.done.give()


class _Workers:
    """The threads that make the calls, each taking the next call once its last one has returned.

    Only the driver hands out calls and takes workers back (after it has seen a call end), so which worker
    makes which call is as repeatable as the rest of the run. A worker stuck in your code is never taken
    back; ``close`` lets every worker end once its call does (they are daemon threads, so a call that never
    returns cannot keep Python from exiting).
    """

    def __init__(self, breaker):
        self.breaker = breaker
        self.idle: list[queue.SimpleQueue] = []
        self.every: list[queue.SimpleQueue] = []
        self.working: dict[_Flight, queue.SimpleQueue] = {}

    def start(self, flight: _Flight) -> None:
        inbox = self.idle.pop() if self.idle else self._new_worker()
        self.working[flight] = inbox
        inbox.put(flight)

    def returned(self, flight: _Flight) -> None:
        """The driver saw ``flight`` end: its worker is free for the next call."""
        self.idle.append(self.working.pop(flight))

    def close(self) -> None:
        for inbox in self.every:
            inbox.put(None)
        self.idle.clear()
        self.working.clear()

    def _new_worker(self) -> queue.SimpleQueue:
        inbox: queue.SimpleQueue = queue.SimpleQueue()

        def work() -> None:
            while (flight := inbox.get()) is not None:
                flight.run(self.breaker)

        self.every.append(inbox)
        threading.Thread(target=work, name=f"breaker replay: worker {len(self.every)}", daemon=True).start()
        return inbox


class _Replay:
    """Drives one breaker through a script, one event at a time, and notes what it reported and did."""

    def __init__(self, breaker, name: str, clock: FakeClock, patience: float):
        self.breaker, self.name, self.clock, self.patience = breaker, name, clock, patience
        self.observed: list[tuple[float, str]] = []
        self.workers = _Workers(breaker)

    def run(self, script, service_time: float, duration: float, probes: list[float], model: BreakerRun
            ) -> tuple[list[Call], list[Moment], str | None]:
        # Events in time order; at one instant, answers first, then the reading of .state, then the arrival,
        # as in the model (whose breaker judges the answers due by a call's arrival before it admits the call).
        events: list[tuple[float, int, int, object]] = [(time, 2, index, fails)
                                                      for index, (time, fails) in enumerate(script)]
        events += [(time, 1, -1, None) for time in sorted(set(probes)) if time <= duration]
        heapq.heapify(events)
        calls: list[Call] = []
        moments: list[Moment] = []
        in_flight: list[_Flight] = []
        try:
            self._observe(0.0, "at the start")
            while events:
                time, kind, index, payload = heapq.heappop(events)
                self.clock.now = time
                if kind == 0:
                    if time <= duration:
                        state = self._answer(payload, time)
                        moments.append(Moment(time, payload.number, ANSWER, model.state_at(time), state))
                    else:  # the model does not judge answers due after the run; let the call end, unjudged
                        payload.answer_due.give()
                        if payload.done.wait(self.patience):
                            self.workers.returned(payload)
                    in_flight.remove(payload)
                elif kind == 1:
                    self._observe(time, f"at t={time:.2f} s")
                else:
                    flight = _Flight(index + 1, payload, self.patience)
                    where = f"at t={time:.2f} s, call {flight.number}"
                    state = self._observe(time, where)
                    call = self._arrive(flight, state, time, service_time, where)
                    calls.append(call)
                    ours = model.calls[index]
                    moments.append(Moment(time, flight.number, ARRIVAL, ours.breaker_state, state,
                                          _verdict(ours), _verdict(call)))
                    if call.outcome != REJECTED:
                        in_flight.append(flight)
                        heapq.heappush(events, (call.finished_at, 0, index, flight))
        except _Stop as stop:
            return calls, moments, str(stop)
        finally:
            for flight in in_flight:  # answers due after the run, or left when it stopped: let the calls end
                flight.answer_due.give()
            self.workers.close()
        return calls, moments, None

    def intervals(self, duration: float) -> list[StateInterval]:
        """Your states as intervals, from the readings: a state holds from the reading that first saw it."""
        intervals: list[StateInterval] = []
        for time, state in self.observed:
            if time > duration:
                break
            if intervals and intervals[-1].state == state:
                continue
            if intervals:
                intervals[-1] = StateInterval(intervals[-1].start, time, intervals[-1].state)
            intervals.append(StateInterval(time, float(duration), state))
        return intervals

    def _observe(self, time: float, where: str) -> str:
        try:
            state = self.breaker.state
        except Exception as error:  # noqa: BLE001 - any failure of student code becomes one sentence
            raise _Stop(f"{where}: your {self.name}.state raised {describe(error)}") from None
        if state not in STATES:
            raise _Stop(f"{where}: your {self.name}.state read {state!r}, not one of "
                        f"{', '.join(repr(s) for s in STATES)}")
        self.observed.append((time, state))
        return state

    def _arrive(self, flight: _Flight, state: str, time: float, service_time: float, where: str) -> Call:
        self.workers.start(flight)
        if not flight.moved.wait(self.patience):
            flight.answer_due.give()
            raise _Stop(f"{where}: your {self.name}.call(service) neither called the service nor returned "
                        f"within {self.patience:g} s (does it hold a lock while another call is in the service?)")
        if flight.entries:  # its worker is taken back once the call has returned, after its answer
            return Call(time, FAILURE if flight.fails else SUCCESS, state, time + service_time)
        self.workers.returned(flight)  # not in the service, so the call is over
        if flight.raised is not None and _is_refusal(flight.raised):
            return Call(time, REJECTED, state, None)
        if flight.raised is not None:
            raise _Stop(f"{where}: your {self.name}.call(service) raised {describe(flight.raised)} without "
                        f"calling the service (a refusal raises {OPEN_ERROR_NAME})")
        raise _Stop(f"{where}: your {self.name}.call(service) returned {flight.returned!r} without calling "
                    f"the service (a refusal raises {OPEN_ERROR_NAME})")

    def _answer(self, flight: _Flight, time: float) -> str:
        where = f"at t={time:.2f} s, the answer to call {flight.number}"
        flight.answer_due.give()
        if not flight.done.wait(self.patience):
            raise _Stop(f"{where}: your {self.name}.call(service) had not returned {self.patience:g} s after "
                        "the service answered")
        self.workers.returned(flight)
        if flight.entries > 1:
            raise _Stop(f"{where}: your {self.name}.call(service) called the service {flight.entries} times "
                        "for one call")
        if flight.fails and flight.raised is not flight.failure:
            got = f"raised {describe(flight.raised)}" if flight.raised is not None else f"returned {flight.returned!r}"
            raise _Stop(f"{where}: the service raised ServiceFailure, but your {self.name}.call(service) {got} "
                        "(the service's own exception should propagate)")
        if not flight.fails and flight.raised is not None:
            raise _Stop(f"{where}: the service returned, but your {self.name}.call(service) raised "
                        f"{describe(flight.raised)}")
        if not flight.fails and flight.returned != flight.reply:
            raise _Stop(f"{where}: your {self.name}.call(service) returned {flight.returned!r}, not the "
                        f"service's {flight.reply!r}")
        return self._observe(time, where)


def _is_refusal(error: BaseException) -> bool:
    return any(kind.__name__ == OPEN_ERROR_NAME for kind in type(error).__mro__)


def _verdict(call: Call) -> str:
    return REFUSED if call.outcome == REJECTED else LET_THROUGH

