"""An asyncio event loop in a thread of the student's process, for suites that grade coroutines.

Why: a coroutine runs in the process that defines it, and the judge can only call across the
channel. So a suite asks for one of these (``StudentProcess.event_loop()``) and hands it the
student's functions with their arguments: each call runs inside the loop, an awaitable it returns
is awaited there, and what it returned or raised comes back per call. Calls handed over together
start together, in the order given, so "200 concurrent calls on one connection" is what the student's
code really sees. Nothing here is secret: it is what a student's own ``asyncio.run`` would do.

Bounded: a call still running ``timeout`` seconds after it started is cancelled and reported as a
``RuntimeError``, never as a ``TimeoutError``: that is what a correct client raises for its own
timeouts, and a hang must not pass for one.

This module is the sandbox's end (made by ``rpc.FACTORIES["event_loop"]``, copied beside the runner
like ``rpc.py``, so it imports nothing of the package); ``judge.AsyncDriver`` is the judge's, turning
its answers into ``rpc.Outcome`` values like a batch's.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import time


async def _call(function, args, kwargs):
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class Running:
    """Calls started together in the loop; ``wait()`` gives ``[ok, value or exception]`` per call."""

    def __init__(self, loop: asyncio.AbstractEventLoop, calls, timeout: float):
        self._timeout = float(timeout)
        self._started = time.monotonic()
        self._futures = [asyncio.run_coroutine_threadsafe(_call(f, tuple(a), dict(k)), loop)
                         for f, a, k in calls]

    def done(self) -> list[bool]:
        return [future.done() for future in self._futures]

    def wait(self, timeout: float | None = None) -> list[list]:
        """Waits until every call is done, at most until the start's timeout (or ``timeout`` from
        now, if that ends sooner); what is still running then is cancelled."""
        left = self._timeout - (time.monotonic() - self._started)
        if timeout is not None:
            left = min(left, float(timeout))
        concurrent.futures.wait(self._futures, timeout=max(0.0, left))
        outcomes = []
        for future in self._futures:
            if not future.done():
                future.cancel()
                outcomes.append([False, RuntimeError(
                    f"still running {self._timeout:g} s after it started; the grader cancelled it "
                    "(a call that never finishes: does your code wait for a reply that never comes?)")])
                continue
            try:
                outcomes.append([True, future.result()])
            except BaseException as exc:  # noqa: BLE001 - the call's own outcome, for the judge
                outcomes.append([False, exc])
        return outcomes


class EventLoopThread:
    """The sandbox's end: one event loop, running for the life of the process in a daemon thread."""

    def __init__(self):
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="graded-event-loop", daemon=True).start()

    def start(self, calls, timeout: float) -> Running:
        return Running(self._loop, calls, timeout)

    def gather(self, calls, timeout: float) -> list[list]:
        return self.start(calls, timeout).wait()
