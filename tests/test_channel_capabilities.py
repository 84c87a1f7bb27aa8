"""Student code gets only the capabilities its contract names.

Through the channel, student code may read the public attributes of what the grader hands it and
call it; it may never change the grader's objects (set or delete an attribute or an item). The hidden
suites hand it plain functions and facades (``support.contract_clock``, ``only_callable``,
``contract_rng``), not their own fakes, so there is nothing to reach for either. A refusal is kept by
the judge's end of the channel, so the feedback can say what was refused even when the student's
code swallowed the error.
"""
from __future__ import annotations

import random
import sys

import pytest

from autograder.exercises import EXERCISES, ROOT
from autograder.judge import judge_cells
from autograder.sandbox.client import Sandbox
from dspatterns.testing import FakeClock

sys.path.insert(0, str(ROOT / "autograder" / "hidden"))
from support import contract_clock, contract_rng, only_callable  # noqa: E402

STUDENT = '''
def attempt(action):
    try:
        return ("ok", action())
    except Exception as exc:
        return (type(exc).__name__, str(exc))

def set_attr(obj, name, value):
    return attempt(lambda: setattr(obj, name, value))

def set_item(obj, key, value):
    def do():
        obj[key] = value
    return attempt(do)

def del_item(obj, key):
    def do():
        del obj[key]
    return attempt(do)

def get_attr(obj, name):
    return attempt(lambda: getattr(obj, name))

def call(func, *args):
    return attempt(lambda: func(*args))

def raw(obj, kind):
    return attempt(lambda: obj._peer.request(kind, obj=obj._handle, name="x"))

def nudge(clock):
    """What a solution handed the suite's FakeClock could do to move the grader's time."""
    tried = [get_attr(clock, "advance"), get_attr(clock, "now"), set_attr(clock, "now", 1e9)]
    return tried, clock()

def attribute_of_error(func):
    try:
        func()
    except Exception as exc:
        return getattr(exc, "status_code", "no status")

class Box:
    pass

def box():
    return Box()
'''


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox([{"label": "cell 1", "source": STUDENT}]) as box:
        yield box


def refusals(sandbox, since):
    return sandbox.peer.refusals_after(since)


class Record:
    def __init__(self):
        self.now = 5.0
        self.sleeps = [1.0]

    def read(self):
        return self.now


def test_setting_an_attribute_of_a_judge_object_is_refused(sandbox):
    record, seen = Record(), sandbox.peer.refused
    kind, message = sandbox.module.set_attr(record, "now", 99.0)
    assert kind == "AttributeError"
    assert "the grader's objects are read-only: setting `now` on the Record object" in message
    assert record.now == 5.0
    assert refusals(sandbox, seen) == [message]


def test_setting_or_deleting_an_item_of_a_judge_object_is_refused(sandbox):
    class Store:  # not a dict: a dict would cross by value, as a copy
        def __init__(self):
            self.items = {"a": 1}

        def __getitem__(self, key):
            return self.items[key]

        def __setitem__(self, key, value):
            self.items[key] = value

        def __delitem__(self, key):
            del self.items[key]
    store, seen = Store(), sandbox.peer.refused
    setting = sandbox.module.set_item(store, "a", 2)
    deleting = sandbox.module.del_item(store, "a")
    assert setting == ("TypeError", "the grader's objects are read-only: setting ['a'] of the Store "
                                    "object you were given was refused")
    assert deleting[0] == "TypeError" and "deleting ['a']" in deleting[1]
    assert store.items == {"a": 1}
    assert refusals(sandbox, seen) == [setting[1], deleting[1]]



def test_a_judge_store_that_accepts_items_by_contract_is_written(sandbox):
    """write_policies hands the student a store to write with ``store[key] = value``: its class opts
    in with ``_rpc_accepts_items``; deleting stays refused, and so does any other object's item."""
    class WritableStore:
        _rpc_accepts_items = True

        def __init__(self):
            self.items = {"a": 1}

        def __getitem__(self, key):
            return self.items[key]

        def __setitem__(self, key, value):
            self.items[key] = value

        def __delitem__(self, key):
            del self.items[key]
    store, seen = WritableStore(), sandbox.peer.refused
    assert sandbox.module.set_item(store, "a", 2) == ("ok", None)
    assert sandbox.module.set_item(store, "b", [3]) == ("ok", None)
    deleting = sandbox.module.del_item(store, "a")
    assert deleting[0] == "TypeError" and "deleting ['a']" in deleting[1]
    assert store.items == {"a": 2, "b": [3]}
    assert refusals(sandbox, seen) == [deleting[1]]
    # The marker is read from the class the judge wrote: an instance attribute set by anyone does not count.
    record = Record()
    record._rpc_accepts_items = True
    assert sandbox.module.set_item(record, "a", 2)[0] == "TypeError"

def test_reading_and_calling_are_still_served(sandbox):
    record = Record()
    assert sandbox.module.get_attr(record, "now") == ("ok", 5.0)
    assert sandbox.module.call(record.read) == ("ok", 5.0)
    assert sandbox.module.get_attr(record, "sleeps") == ("ok", [1.0])


def test_the_judge_may_still_change_student_objects(sandbox):
    student_box = sandbox.module.box()
    student_box.label = "set by the judge"
    assert student_box.label == "set by the judge"


def test_request_kinds_nothing_sends_are_gone(sandbox):
    for kind in ("callmethod", "repr"):
        outcome = sandbox.module.raw(Record(), kind)
        assert outcome[0] == "ProtocolError" and "unknown request" in outcome[1], (kind, outcome)


def test_a_contract_clock_offers_only_its_reading(sandbox):
    fake, seen = FakeClock(start=10.0), sandbox.peer.refused
    tried, reading = sandbox.module.nudge(contract_clock(fake))
    assert reading == 10.0 and fake.now == 10.0 and fake.sleeps == []
    assert [kind for kind, _ in tried] == ["AttributeError"] * 3
    assert "the function `clock` you were given has no attribute `advance`" in tried[0][1]
    assert "setting `now` on the function `clock` you were given was refused" in tried[2][1]
    assert len(refusals(sandbox, seen)) == 3


def test_only_callable_hides_the_object_behind_a_call(sandbox):
    class Gate:
        inside = 0

        def __call__(self):
            return "through"

        def release(self):
            raise AssertionError("student code released the gate")
    gate = Gate()
    func = only_callable(gate)
    assert sandbox.module.call(func) == ("ok", "through")
    assert sandbox.module.get_attr(func, "release")[0] == "AttributeError"
    assert sandbox.module.set_attr(func, "inside", 3)[0] == "AttributeError"
    assert gate.inside == 0


def test_a_contract_rng_draws_the_seeded_sequence_and_cannot_be_reseeded(sandbox):
    rng, same = contract_rng(random.Random(7)), random.Random(7)
    for _ in range(3):
        assert sandbox.module.call(sandbox.module.get_attr(rng, "uniform")[1], 0.0, 1.0) == \
            ("ok", same.uniform(0.0, 1.0))
    for method in ("seed", "setstate", "getstate"):
        assert sandbox.module.get_attr(rng, method)[0] == "AttributeError", method
    assert sandbox.module.call(sandbox.module.get_attr(rng, "random")[1]) == ("ok", same.random())


def test_asking_an_exception_for_an_attribute_is_not_a_refusal(sandbox):
    def fail():
        raise ConnectionError("down")
    seen = sandbox.peer.refused
    assert sandbox.module.attribute_of_error(fail) == "no status"
    assert sandbox.peer.refused == seen


# --------------------------------------------------------------------------- retry, judged
RETRY_BUG = ("= pause_after(attempt, previous,", "= pause_after(attempt + 1, previous,")


def retry_submission(cheat: str = "") -> list[dict]:
    """The reference retry with one bug (each sleep is the next attempt's delay), handed in
    honestly or with a ``cheat`` that tries to rewrite what the grader records of its sleeps."""
    code = EXERCISES["retry"].reference_code
    assert code.count(RETRY_BUG[0]) == 1, "the reference changed: pick another bug"
    code = code.replace(*RETRY_BUG)
    if cheat:
        code += cheat
    return [{"label": "cell 1", "source": code}]


ERASE_SLEEPS = '''
_honest = retry_with_backoff

def retry_with_backoff(func, *, sleep=None, **kwargs):
    def erase():
        for target in (sleep, func):
            for name in ("sleeps", "log"):
                try:
                    setattr(target, name, [])
                except Exception:
                    pass
            try:
                target.__self__.log.pop()
            except Exception:
                pass
    try:
        return _honest(func, sleep=sleep, **kwargs)
    finally:
        erase()
'''


def test_a_retry_that_edits_recorded_sleeps_earns_no_more_than_the_same_bug():
    honest = judge_cells("retry", retry_submission())
    cheat = judge_cells("retry", retry_submission(ERASE_SLEEPS))
    assert not honest.fatal and not cheat.fatal
    honest_passed = {r.test for r in honest.results if r.passed}
    cheat_passed = {r.test for r in cheat.results if r.passed}
    assert len(honest_passed) < len(honest.results), "the bug must cost something"
    assert cheat_passed <= honest_passed, sorted(cheat_passed - honest_passed)
    failed = [r.message for r in cheat.results if not r.passed]
    assert any("the grader refused" in m and "setting `sleeps` on the function `sleep`" in m
               for m in failed), failed[:3]
