"""Hidden suite for the `timeout` exercise (contract: ../shared/exercise-contracts.md).

`Deadline` is graded on a fake clock. `read_response` is graded against a real TCP server on
127.0.0.1 that this process runs; the socket is handed to the student's code as a real socket.
Real-time checks use wide tolerances: they ask "did the right limit stop it", never "how fast".
"""
# DSP-CANARY-TIMEOUT-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dspatterns.testing import FakeClock
from servers import FirstReading, ScriptedServer, timed
from support import contract_clock, expect, expect_equal, only_callable

SLACK = 3.0  # seconds of scheduling noise tolerated on a loaded machine (other sandboxes busy)
# Waits that only a wrong implementation sits through end soon after SLACK has already decided the
# verdict: a server script lasts, and a limit that must not be the one to fire is set, just past
# "the right limit + SLACK", not for the tens of seconds a wrong client would otherwise wait.
PAST_SLACK = 1.0
NOT_THIS_LIMIT = 0.5 + SLACK + PAST_SLACK  # a limit that must not fire in a check of a 0.5 s one


def read(impl, server, **limits):
    sock = server.connect()
    try:
        return timed(impl.read_response, sock, **limits)
    finally:
        sock.close()


# -------------------------------------------------------------------------------------- deadline
@pytest.mark.part("deadline")
class TestDeadline:
    def test_remaining_counts_down_from_creation(self, impl):
        """Deadline: remaining() is the budget minus the time passed since it was created"""
        clock = FakeClock(start=100.0)
        deadline = impl.Deadline(10.0, clock=contract_clock(clock))
        for now, left in [(100.0, 10.0), (103.0, 7.0), (109.5, 0.5)]:
            clock.now = now
            expect(abs(deadline.remaining() - left) < 1e-9,
                   f"Deadline(10) created at t=100: remaining() at t={now} should be {left}, "
                   f"got {deadline.remaining()!r}")

    @given(budget=st.floats(0, 1000), waits=st.lists(st.floats(0, 500), max_size=8))
    def test_remaining_never_negative(self, impl, budget, waits):
        """Deadline: remaining() never goes below zero, however long it has been"""
        clock = FakeClock()
        deadline = impl.Deadline(budget, clock=contract_clock(clock))
        for wait in waits:
            clock.advance(wait)
            left = deadline.remaining()
            expect(left >= 0, f"Deadline({budget}) after waits {waits}: remaining() = {left!r}")
            expect(abs(left - max(0.0, budget - clock.now)) < 1e-6,
                   f"Deadline({budget}) at t={clock.now}: remaining() should be "
                   f"{max(0.0, budget - clock.now)!r}, got {left!r}")

    def test_expired_exactly_when_time_is_up(self, impl):
        """Deadline: expired is False before the budget is spent and True from the moment it is"""
        clock = FakeClock()
        deadline = impl.Deadline(5.0, clock=contract_clock(clock))
        for now, want in [(0.0, False), (4.999, False), (5.0, True), (60.0, True)]:
            clock.now = now
            expect_equal(deadline.expired, want, f"Deadline(5).expired at t={now}")

    def test_check_raises_timeout_error_once_expired(self, impl):
        """Deadline: check() does nothing while time is left and raises TimeoutError once expired"""
        clock = FakeClock()
        deadline = impl.Deadline(2.0, clock=contract_clock(clock))
        clock.now = 1.0
        deadline.check()
        clock.now = 2.0
        with pytest.raises(TimeoutError):
            deadline.check()
            raise AssertionError("Deadline(2).check() at t=2 should raise TimeoutError")

    def test_zero_budget_is_expired_at_once(self, impl):
        """Deadline: a zero budget is expired immediately"""
        deadline = impl.Deadline(0.0, clock=contract_clock(FakeClock()))
        expect_equal(deadline.expired, True, "Deadline(0).expired")
        expect_equal(deadline.remaining(), 0.0, "Deadline(0).remaining()")

    def test_two_deadlines_are_independent(self, impl):
        """Deadline: each deadline keeps its own start time"""
        clock = FakeClock()
        first = impl.Deadline(10.0, clock=contract_clock(clock))
        clock.now = 4.0
        second = impl.Deadline(10.0, clock=contract_clock(clock))
        clock.now = 9.0
        expect(abs(first.remaining() - 1.0) < 1e-9 and abs(second.remaining() - 5.0) < 1e-9,
               f"Deadline(10) made at t=0 and another at t=4, read at t=9: expected 1.0 and 5.0, "
               f"got {first.remaining()!r} and {second.remaining()!r}")


# ------------------------------------------------------------------------------ reading, no limits hit
@pytest.mark.part("reading")
class TestReading:
    def test_everything_at_once(self, impl):
        """read_response: a server that sends everything at once and closes gives all its bytes"""
        payload = b"HTTP/1.1 200 OK\r\n\r\nhello"
        with ScriptedServer([(0, payload)]) as server:
            got, _ = read(impl, server, read_timeout=2.0, total_timeout=5.0)
        expect_equal(got, payload, "bytes returned")

    def test_many_chunks_are_joined(self, impl):
        """read_response: a response sent in many small chunks comes back whole and in order"""
        chunks = [(0.01, bytes([65 + i]) * (i + 1)) for i in range(12)]
        with ScriptedServer(chunks) as server:
            got, _ = read(impl, server, read_timeout=2.0, total_timeout=10.0)
        expect_equal(got, b"".join(data for _, data in chunks), "bytes returned from 12 chunks")

    def test_large_response(self, impl):
        """read_response: a 2 MB response comes back byte for byte"""
        payload = bytes(range(256)) * 8192
        with ScriptedServer([(0, payload)]) as server:
            got, _ = read(impl, server, read_timeout=5.0, total_timeout=20.0)
        expect(got == payload, f"expected 2,097,152 bytes, got {len(got) if isinstance(got, bytes) else got!r}")

    def test_empty_response(self, impl):
        """read_response: a server that closes without sending gives b''"""
        with ScriptedServer([]) as server:
            got, _ = read(impl, server, read_timeout=2.0, total_timeout=5.0)
        expect_equal(got, b"", "bytes returned when the server closed at once")

    def test_server_closing_early_returns_what_came(self, impl):
        """read_response: a server that closes mid-response gives the bytes sent before it closed"""
        with ScriptedServer([(0, b"partial "), (0.05, b"resp")]) as server:
            got, _ = read(impl, server, read_timeout=2.0, total_timeout=5.0)
        expect_equal(got, b"partial resp", "bytes returned when the server closed early")

    def test_slow_trickle_within_limits_completes(self, impl):
        """read_response: a trickle that respects both limits is read to the end"""
        chunks = [(0.1, b"x")] * 6
        with ScriptedServer(chunks) as server:
            got, _ = read(impl, server, read_timeout=1.0, total_timeout=10.0)
        expect_equal(got, b"xxxxxx", "bytes from 6 one-byte sends 0.1 s apart (read_timeout=1, "
                                     "total_timeout=10)")


# ------------------------------------------------------------------------------------ limits
@pytest.mark.part("limits")
class TestLimits:
    def test_silent_server_hits_read_timeout(self, impl):
        """read_response: a server that sends nothing raises TimeoutError after about read_timeout"""
        with ScriptedServer([(0, b"he")], hang_after=True) as server:
            got, took = read(impl, server, read_timeout=0.5, total_timeout=NOT_THIS_LIMIT)
        expect(isinstance(got, TimeoutError),
               f"a server that sent b'he' then went silent (read_timeout=0.5, total_timeout="
               f"{NOT_THIS_LIMIT:g}) should raise TimeoutError, got {got!r} after {took:.2f} s")
        expect(0.4 <= took <= 0.5 + SLACK, f"it should take about read_timeout=0.5 s, took {took:.2f} s")

    def test_trickle_stopped_by_total_deadline(self, impl):
        """read_response: a server trickling a byte just inside read_timeout is stopped by total_timeout"""
        # The bytes are timed from the client's first clock reading (its deadline's start), so the
        # 1.5 s deadline always passes while the client waits: 0.1 s after the byte sent at 1.4 s,
        # 0.2 s before the next. Timed from the connection instead, the deadline could fall just
        # as a byte arrived, depending on how late the call started.
        clock = FirstReading()
        # Each gap well inside read_timeout; the script lasts past 1.5 + SLACK (a client still
        # reading then has failed already), then the server closes.
        chunks = [(0.2, b".")] + [(0.3, b".")] * math.ceil((1.5 + SLACK + PAST_SLACK - 0.2) / 0.3)
        with ScriptedServer(chunks, start=clock.read) as server:
            got, took = read(impl, server, read_timeout=0.6, total_timeout=1.5,
                             clock=only_callable(clock, "clock"))
        expect(isinstance(got, TimeoutError),
               f"a server sending one byte every 0.3 s (read_timeout=0.6, total_timeout=1.5) must be "
               f"cut off by the total deadline with TimeoutError; got {got!r} after {took:.2f} s")
        expect(1.4 <= took <= 1.5 + SLACK, f"it should stop at about total_timeout=1.5 s, took {took:.2f} s")

    def test_total_deadline_wins_over_a_longer_read_timeout(self, impl):
        """read_response: when total_timeout is shorter than read_timeout, a stall ends at total_timeout"""
        with ScriptedServer([(0, b"x")], hang_after=True) as server:
            got, took = read(impl, server, read_timeout=NOT_THIS_LIMIT, total_timeout=0.5)
        expect(isinstance(got, TimeoutError),
               f"a stalled server (read_timeout={NOT_THIS_LIMIT:g}, total_timeout=0.5) should raise "
               f"TimeoutError, got {got!r}")
        expect(took <= 0.5 + SLACK, f"the wait must be bounded by total_timeout=0.5 s, not by "
                                    f"read_timeout={NOT_THIS_LIMIT:g} s; took {took:.2f} s")

    def test_total_deadline_counts_from_the_call(self, impl):
        """read_response: the total deadline counts from the call, so a server silent from the start ends at total_timeout"""
        with ScriptedServer([], hang_after=True) as server:
            got, took = read(impl, server, read_timeout=NOT_THIS_LIMIT, total_timeout=0.5)
        expect(isinstance(got, TimeoutError),
               f"a server that never sends (read_timeout={NOT_THIS_LIMIT:g}, total_timeout=0.5) "
               f"should raise TimeoutError, got {got!r}")
        expect(took <= 0.5 + SLACK, f"the first wait must be bounded by total_timeout=0.5 s too, not "
                                    f"by read_timeout={NOT_THIS_LIMIT:g} s alone; took {took:.2f} s")

    def test_stall_mid_response(self, impl):
        """read_response: data, then a stall longer than read_timeout, raises TimeoutError"""
        with ScriptedServer([(0, b"abc"), (0.05, b"def"), (5.0, b"never")]) as server:
            got, took = read(impl, server, read_timeout=0.4, total_timeout=30.0)
        expect(isinstance(got, TimeoutError), f"a 5 s stall after b'abcdef' (read_timeout=0.4) "
                                              f"should raise TimeoutError, got {got!r} after {took:.2f} s")
        expect(took <= 0.45 + SLACK, f"it should raise about 0.4 s into the stall, took {took:.2f} s")

    def test_uses_the_clock_it_is_given(self, impl):
        """read_response: the total deadline is measured with the clock passed in, not the real one"""
        frozen = FirstReading(FakeClock())  # never moves: by this clock the total deadline never comes
        # The server starts sending when the client first reads that clock (its deadline's start),
        # so the 1.5 s of sending always outlasts a deadline of 0.5 real seconds; a client that never
        # reads the clock gets nothing and fails, as it should.
        chunks = [(0.25, b"y")] * 6  # 1.5 s of real time, past total_timeout=0.5 by a real clock
        with ScriptedServer(chunks, start=frozen.read) as server:
            got, took = read(impl, server, read_timeout=2.0, total_timeout=0.5,
                             clock=only_callable(frozen, "clock"))
        expect_equal(got, b"yyyyyy", "bytes read when the given clock never advances (the total "
                                     "deadline must be measured with `clock`)")
