"""The sandbox and its RPC channel: what crosses, what does not, and the walls around student code."""
from __future__ import annotations

import random
import socket
import threading

import pytest

from autograder.sandbox.client import Sandbox
from autograder.sandbox.isolation import walls_problem
from autograder.exercises import ROOT


def sandbox_for(source: str) -> Sandbox:
    return Sandbox([{"label": "cell 1", "source": source}])


STUDENT = '''
import random, socket
class OwnError(Exception):
    pass
def echo(value):
    return value
def truthiness(rng=None, clock=None):
    rng = rng or random.Random(1)
    clock = clock or (lambda: -1.0)
    return clock(), 0 <= rng.random() < 1
def call(func, *args, **kwargs):
    return func(*args, **kwargs)
def raise_own(message):
    raise OwnError(message)
def peek(obj):
    # A hostile student skips the proxy and sends raw requests for the judge object's internals.
    found = {}
    for name in ("__class__", "__init__", "_Random__x", "seed"):
        try:
            obj._peer.request("getattr", obj=obj._handle, name=name)
            found[name] = "reached"
        except Exception as exc:
            found[name] = type(exc).__name__
    return found
def read_all(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
class Anything:
    def __eq__(self, other):
        return True
def anything():
    return Anything()
'''


@pytest.fixture(scope="module")
def student():
    with sandbox_for(STUDENT) as box:
        yield box.module


def test_plain_data_round_trips(student):
    value = {"a": (1, 2.5, None, True), "b": {1, 2}, 3: [b"\x00bytes", frozenset({"x"})]}
    assert student.echo(value) == value


def test_truthiness_of_passed_objects_is_asked_of_the_object(student):
    assert student.truthiness(random.Random(5), lambda: 7.0) == (7.0, True)


def test_exception_from_a_callback_comes_back_as_the_same_object(student):
    error = KeyError("original")

    def fail():
        raise error
    with pytest.raises(KeyError) as caught:
        student.call(fail)
    assert caught.value is error


def test_student_exception_classes_are_real_local_classes(student):
    with pytest.raises(student.OwnError) as caught:
        student.raise_own("boom")
    assert isinstance(caught.value, Exception) and str(caught.value) == "boom"
    assert caught.value.remote_traceback and "cell 1" in caught.value.remote_traceback[-1]


def test_student_objects_cannot_claim_equality(student):
    assert student.anything() != "open"
    assert not (student.anything() == 3)


def test_student_code_cannot_walk_from_a_callback_to_the_judge(student):
    assert student.peek(random.Random(1)) == {"__class__": "AttributeError", "__init__": "AttributeError",
                                              "_Random__x": "AttributeError", "seed": "reached"}


def test_sockets_cross_as_real_sockets(student):
    left, right = socket.socketpair()
    threading.Thread(target=lambda: (right.sendall(b"x" * 100_000), right.close()), daemon=True).start()
    assert student.read_all(left) == b"x" * 100_000
    left.close()


@pytest.mark.skipif(walls_problem() is not None, reason="no walls here (install bubblewrap)")
def test_walls_show_only_what_python_needs_read_only(tmp_path):
    probe = f'''
import os
def attempt(path, mode):
    try:
        open(path, mode).close() if mode == "w" else open(path).read()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
results = {{
    "hidden suite": attempt({str(ROOT / "autograder" / "hidden" / "conftest.py")!r}, "r"),
    "solutions": attempt({str(ROOT / "solutions" / "resilience" / "circuit_breaker.ipynb")!r}, "r"),
    "repo write": attempt({str(ROOT / "written-by-student")!r}, "w"),
    "tmp write": attempt({str(tmp_path / "written-by-student")!r}, "w"),
    "own folder": attempt("scratch.txt", "w"),
}}
'''
    with sandbox_for(probe) as box:
        assert box.isolated
        results = box.module.results
    assert results == {"hidden suite": "FileNotFoundError", "solutions": "FileNotFoundError",
                       "repo write": "OSError", "tmp write": "FileNotFoundError", "own folder": "ok"}
    assert not (ROOT / "written-by-student").exists() and not (tmp_path / "written-by-student").exists()
