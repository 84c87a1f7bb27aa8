"""Batches: many calls of the student's code in one round trip, with every guarantee of one call.

A hidden suite that calls the student's code many times with plain data (delay tables, jitter
samples, hash placements, cache operations) sends the calls in one request; the sandbox runs them
in order and answers with one plain result or one exception per call. Nothing of what comes back
is compared by the student's ``__eq__``, an exception stays with its call, the time limit applies
to each call, and the judge's objects stay read-only inside a batch as outside.
"""
from __future__ import annotations

import random
import time

import pytest

from autograder.sandbox import rpc
from autograder.sandbox.client import Limits, Sandbox

STUDENT = '''
import sys, time
class OwnError(Exception):
    pass
def double(x):
    return 2 * x
def pair(a, b=0):
    return (a, b)
def fail_on_three(x):
    if x == 3:
        raise OwnError(f"three is bad ({x})")
    if x == 4:
        sys.exit(4)
    return x
class Anything:
    def __eq__(self, other):
        return True
def anything(x):
    return Anything() if x % 2 else {"x": x, "items": [x, (x, x)], "set": {x}}
def draw(rng):
    return rng.random()
def call(func, *args):
    return func(*args)
def poke(obj):
    try:
        obj.now = 1e9
        return "changed"
    except AttributeError as exc:
        return str(exc)
def slow(seconds):
    time.sleep(seconds)
    return seconds
def spin(x):
    while x == 3:
        pass
    return x
def thread_id():
    import threading
    return threading.get_ident()
class Level1(Exception):
    pass
class Level2(Level1):
    pass
class Level3(Level2):
    pass
def raise_deep():
    raise Level3("three levels down")
def sqlite_misuse():
    import sqlite3
    sqlite3.connect(":memory:").execute("not sql")
class Ledger:
    def __init__(self):
        import sqlite3
        self.db = sqlite3.connect(":memory:")  # one connection, kept across calls
        self.db.execute("create table entries (amount integer)")
    def add(self, amount):
        self.db.execute("insert into entries values (?)", (amount,))
        return self.db.execute("select sum(amount) from entries").fetchone()[0]
def builtin_hash(text):
    return hash(text)
def send_raw(obj, kind):
    try:
        return obj._peer.request(kind, calls=[], factory="random", args=[1])
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
'''


def start(limits: Limits | None = None) -> Sandbox:
    return Sandbox([{"label": "cell 1", "source": STUDENT}], limits).start()


@pytest.fixture(scope="module")
def box():
    sandbox = start()
    yield sandbox
    sandbox.stop()


def values(outcomes):
    return [outcome.result() for outcome in outcomes]


def test_a_batch_is_one_round_trip_with_the_results_in_order(box):
    double = box.module.double  # one round trip to look the function up, outside the count
    sent, served = box.peer.sent, box.peer.served
    outcomes = rpc.call_each((double, (n,)) for n in range(500))
    assert values(outcomes) == [2 * n for n in range(500)]
    assert (box.peer.sent - sent, box.peer.served - served) == (1, 0)


def test_keywords_and_different_functions_share_a_batch(box):
    outcomes = rpc.call_each([(box.module.pair, (1,), {"b": 2}), (box.module.double, (21,)),
                              (box.module.pair, ("x",))])
    assert values(outcomes) == [(1, 2), 42, ("x", 0)]


def test_an_exception_stays_with_its_call_and_the_rest_still_run(box):
    outcomes = rpc.call_each((box.module.fail_on_three, (n,)) for n in range(1, 7))
    assert [o.raised for o in outcomes] == [False, False, True, True, False, False]
    assert [o.value for o in outcomes if not o.raised] == [1, 2, 5, 6]
    own = outcomes[2].error
    assert isinstance(own, box.module.OwnError) and str(own) == "three is bad (3)"
    assert any("fail_on_three" in line for line in own.remote_traceback)  # the student's own frame
    assert isinstance(outcomes[3].error, SystemExit)  # sys.exit in one call ends only that call
    with pytest.raises(box.module.OwnError):
        outcomes[2].result()


def test_only_plain_data_comes_back_so_no_student_eq_is_ever_asked(box):
    outcomes = rpc.call_each((box.module.anything, (n,)) for n in range(4))
    assert [type(o.error) for o in outcomes[1::2]] == [rpc.NotPlainData, rpc.NotPlainData]
    assert "Anything object where plain data" in str(outcomes[1].error)
    assert outcomes[0].value == {"x": 0, "items": [0, (0, 0)], "set": {0}}
    assert type(outcomes[0].value["items"][1]) is tuple  # containers keep their own types
    assert all(type(o.value) is dict for o in outcomes[0::2])


def test_plain_data_checking_is_done_by_the_judge_whatever_the_sandbox_sends():
    peer = rpc.Peer.__new__(rpc.Peer)  # decoding needs no connection
    peer.side, peer._mirrors, peer._mirror_origin, peer._mirror_instances = "judge", {}, {}, {}
    forged = {"ok": {"$": "list", "v": [1, {"$": "ref", "owner": "sandbox", "h": 7,
                                             "type": "Liar", "callable": False}]}}
    outcome = peer._decode_item(forged)
    assert isinstance(outcome.error, rpc.NotPlainData) and "Liar" in str(outcome.error)
    with pytest.raises(rpc.ProtocolError):
        peer._decode_item({"neither": 1})


def test_the_judges_callbacks_work_inside_a_batch_and_stay_read_only(box):
    seen = []

    def callback(x):
        seen.append(x)
        return x + 1

    class Clock:
        now = 5.0

    clock, refused = Clock(), box.peer.refused
    outcomes = rpc.call_each([(box.module.call, (callback, 1)), (box.module.poke, (clock,)),
                              (box.module.call, (callback, 2))])
    assert values(outcomes)[::2] == [2, 3] and seen == [1, 2]
    assert "read-only" in outcomes[1].value and clock.now == 5.0
    assert box.peer.refused == refused + 1


def test_a_random_made_in_the_sandbox_draws_the_seeded_sequence_without_round_trips(box):
    rng, draw = box.peer.new("random", 2026), box.module.draw
    sent, served = box.peer.sent, box.peer.served
    draws = values(rpc.call_each((draw, (rng,)) for _ in range(50)))
    expected = random.Random(2026)
    assert draws == [expected.random() for _ in range(50)]
    assert (box.peer.sent - sent, box.peer.served - served) == (1, 0)  # no draw crossed
    with pytest.raises(rpc.RemoteException, match="unknown factory") as refused:
        box.peer.new("subprocess", "rm -rf /")
    assert type(refused.value).__name__ == "ProtocolError"  # only FACTORIES can be made


def test_the_sandbox_cannot_ask_the_judge_for_batches_or_objects(box):
    for kind in ("batch", "new"):
        answer = box.module.send_raw(lambda: None, kind)
        assert answer.startswith("ProtocolError") and "unknown request" in answer, (kind, answer)


def test_each_call_of_a_batch_gets_the_call_limit_not_the_batch_as_a_whole():
    sandbox = start(Limits(call_seconds=1.0))
    try:
        began = time.monotonic()
        outcomes = rpc.call_each((sandbox.module.slow, (0.3,)) for _ in range(6))  # 1.8 s in all
        assert values(outcomes) == [0.3] * 6 and time.monotonic() - began >= 1.8
    finally:
        sandbox.stop()


def test_a_call_that_never_returns_stops_the_batch_within_the_call_limit():
    sandbox = start(Limits(call_seconds=1.0))
    try:
        began = time.monotonic()
        with pytest.raises(rpc.RemoteTimeout):
            rpc.call_each((sandbox.module.spin, (n,)) for n in range(1, 6))
        assert time.monotonic() - began < 30
        assert not sandbox.alive and "did not return within 1 s" in sandbox.why_dead()
    finally:
        sandbox.stop()


def test_functions_of_this_process_run_here_the_same_way(box):
    outcomes = rpc.call_each([(len, ("abc",)), (int, ("x",))])
    assert outcomes[0].value == 3 and isinstance(outcomes[1].error, ValueError)
    with pytest.raises(ValueError, match="same other side"):
        rpc.call_each([(len, ("abc",)), (box.module.double, (1,))])


# -- hashes and processes, for checks of "the same in every process" --------------------------------
WORDS = [f"key-{n}" for n in range(300)] + ["", "é", "node#0"]


def test_a_hash_made_in_the_sandbox_is_the_judges_stable_hash(box):
    md5 = box.peer.new("hash", "md5")
    sent = box.peer.sent
    made_there = values(rpc.call_each((md5, (word,)) for word in WORDS))
    assert made_there == [rpc.md5_hash(word) for word in WORDS]
    assert box.peer.sent - sent == 1  # the hash ran in the sandbox: one round trip for the lot
    assert rpc.md5_hash("a") == int.from_bytes(bytes.fromhex("0cc175b9c0f1b6a8"), "big")  # MD5("a")


def test_the_sandbox_hash_seed_is_fixed_and_can_be_chosen():
    """Built-in hash() of a str is the same in every sandbox of one seed and differs for another:
    grades never depend on the seed a process drew, and a suite can ask for a second one."""
    hashes = {}
    for label, seed in [("first", 0), ("again", 0), ("other", 12345)]:
        with Sandbox([{"label": "cell 1", "source": STUDENT}], Limits(hash_seed=seed)) as sandbox:
            hashes[label] = values(rpc.call_each((sandbox.module.builtin_hash, (w,)) for w in WORDS))
    assert hashes["first"] == hashes["again"]
    assert sum(a != b for a, b in zip(hashes["first"], hashes["other"])) > 290


def test_another_process_loads_the_code_again_and_is_stopped_after():
    from autograder.exercises import get_exercise
    from autograder.judge import SandboxSession, StudentProcess

    session = SandboxSession(get_exercise("timeout"), [{"label": "cell 1", "source": STUDENT}],
                             Limits())
    try:
        here = session.module()
        mine = values(rpc.call_each((here.builtin_hash, (w,)) for w in WORDS))
        with StudentProcess(session).another_process(hash_seed=99) as there:
            theirs = values(rpc.call_each((there.builtin_hash, (w,)) for w in WORDS))
            assert there.double(21) == 42
        assert sum(a != b for a, b in zip(mine, theirs)) > 290
        assert session.starts == 2
        with pytest.raises(rpc.ChannelClosed):
            there.double(1)  # the second process is gone
        assert here.double(2) == 4  # the first is untouched
    finally:
        session.close()


# -- threads: each calling thread of the judge has its own thread in the sandbox ---------------------

def test_consecutive_calls_from_one_thread_run_on_one_sandbox_thread(box):
    """As in one process: an sqlite3 connection made in one call works in the next (sqlite3 refuses
    a connection used from another thread), whatever else the channel is doing."""
    seen = {box.module.thread_id() for _ in range(60)}
    assert len(seen) == 1, seen
    ledger = box.module.Ledger()
    assert [ledger.add(n) for n in range(1, 41)] == [n * (n + 1) // 2 for n in range(1, 41)]


def test_concurrent_callers_get_their_own_sandbox_threads(box):
    import threading

    seen, barrier = {}, threading.Barrier(3)

    def caller(name):
        barrier.wait()
        seen[name] = {box.module.thread_id() for _ in range(30)}

    threads = [threading.Thread(target=caller, args=(n,)) for n in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(len(ids) == 1 for ids in seen.values()), seen
    assert len(set().union(*seen.values())) == 3, seen


def test_a_chain_of_student_exception_classes_is_rebuilt_in_order(box):
    with pytest.raises(box.module.Level1) as caught:
        box.module.raise_deep()
    assert isinstance(caught.value, box.module.Level2) and isinstance(caught.value, box.module.Level3)
    assert "three levels down" in str(caught.value)
    with pytest.raises(Exception) as caught:  # sqlite3.OperationalError -> DatabaseError -> Error
        box.module.sqlite_misuse()
    names = [cls.__name__ for cls in type(caught.value).__mro__]
    assert names[:3] == ["OperationalError", "DatabaseError", "Error"], names
    assert "syntax error" in str(caught.value)
