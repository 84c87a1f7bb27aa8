"""The trickle server and the timeout demos, against real sockets on 127.0.0.1.

Only the deadline tests compare times, because the deadline is the point; their bounds are wide so a
loaded machine cannot fail them. Every server is closed by its context manager, and the tests check
that this really ends its threads.
"""
from __future__ import annotations

import socket
import time

import pytest

from dspatterns.resilience.trickle_server import (
    ALL_AT_ONCE,
    CLIENT,
    CLOSE_EARLY,
    COMPLETE,
    DEADLINE_EXCEEDED,
    EOF_EARLY,
    SERVICE_A,
    SERVICE_B,
    TRICKLE,
    TrickleServer,
    deadline_propagation_demo,
    format_reports,
    trickle_demo,
)

PAYLOAD = b"0123456789abcdefghij"


def read_all(address, timeout=5.0) -> bytes:
    """A plain client: read until EOF, each wait bounded by ``timeout`` so a broken server fails the test."""
    with socket.create_connection(address, timeout=timeout) as sock:
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_trickle_never_trips_the_read_timeout_but_the_deadline_stops_it():
    # 30 bytes, one every 0.05 s: 1.45 s in all, while no single wait comes near the 1 s read timeout.
    reports = trickle_demo(gap=0.05, read_timeout=1.0, total_timeout=0.5, payload_size=30)
    patient, bounded = reports[0], reports[1]
    assert (patient.server, bounded.server) == (TRICKLE, TRICKLE)

    assert patient.outcome == COMPLETE and patient.received == 30
    assert patient.elapsed >= 29 * 0.05 * 0.9  # it sat through every gap: the read timeout never fired

    assert bounded.outcome == DEADLINE_EXCEEDED
    assert 0 < bounded.received < 30
    assert 0.45 <= bounded.elapsed < 0.5 + 1.0  # stopped by the total, long before the trickle ends


def test_demo_reports_the_well_behaved_and_the_truncating_server():
    reports = trickle_demo(gap=0.02, read_timeout=0.2, total_timeout=0.3, payload_size=20)
    by_server = {r.server: r for r in reports[2:]}
    assert by_server[ALL_AT_ONCE].outcome == COMPLETE and by_server[ALL_AT_ONCE].received == 20
    assert by_server[CLOSE_EARLY].outcome == EOF_EARLY and by_server[CLOSE_EARLY].received == 10
    text = format_reports(reports)
    assert "read timeout only" in text and "total deadline fired" in text and "10/20" in text


def test_demo_refuses_settings_that_would_show_nothing():
    with pytest.raises(ValueError):
        trickle_demo(gap=0.3, read_timeout=0.25)  # the read timeout would fire: no point to make


def test_all_at_once_sends_everything_then_closes():
    with TrickleServer(PAYLOAD, mode=ALL_AT_ONCE) as server:
        assert read_all(server.address) == PAYLOAD
    assert server.bytes_sent == [len(PAYLOAD)]


def test_trickle_delivers_every_byte_in_order():
    with TrickleServer(PAYLOAD, mode=TRICKLE, gap=0.005) as server:
        assert read_all(server.address) == PAYLOAD


def test_close_early_cuts_the_response_short_with_a_normal_eof():
    with TrickleServer(PAYLOAD, mode=CLOSE_EARLY, close_after=7) as server:
        assert read_all(server.address) == PAYLOAD[:7]
    assert server.bytes_sent == [7]


def test_each_connection_gets_its_own_copy():
    with TrickleServer(PAYLOAD) as server:
        assert [read_all(server.address) for _ in range(3)] == [PAYLOAD] * 3
        assert server.connections == 3


def test_close_ends_every_server_thread_even_mid_trickle():
    server = TrickleServer(PAYLOAD * 50, mode=TRICKLE, gap=1.0).start()
    sock = socket.create_connection(server.address, timeout=5.0)
    assert sock.recv(1) == b"0"  # a sender thread is now waiting out its gap
    assert server.live_threads() == 2
    server.close()
    assert server.live_threads() == 0
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=1.0).close()


def test_a_client_that_leaves_early_does_not_keep_a_thread():
    # The full trickle would take 10 s; the sender must notice the client has gone long before that.
    with TrickleServer(PAYLOAD * 50, mode=TRICKLE, gap=0.01) as server:
        with socket.create_connection(server.address, timeout=5.0) as sock:
            sock.recv(1)
        give_up = time.monotonic() + 5.0
        while not server.bytes_sent and time.monotonic() < give_up:
            time.sleep(0.02)
        assert server.bytes_sent, "the sender kept trickling to a client that had left"
        assert server.bytes_sent[0] < len(PAYLOAD) * 50
    assert server.live_threads() == 0


def test_the_server_stops_by_itself_after_its_lifetime():
    server = TrickleServer(PAYLOAD, lifetime=0.2).start()
    try:
        give_up = time.monotonic() + 10.0
        while server.live_threads() and time.monotonic() < give_up:
            time.sleep(0.05)
        assert server.live_threads() == 0
        with pytest.raises(OSError):  # it stopped listening too: no client is left waiting in a backlog
            socket.create_connection(server.address, timeout=1.0).close()
    finally:
        server.close()


def test_connections_beyond_the_limit_are_closed_unanswered():
    with TrickleServer(PAYLOAD, max_connections=1) as server:
        assert read_all(server.address) == PAYLOAD
        assert read_all(server.address) == b""


@pytest.mark.parametrize("bad", [
    dict(mode="slowly"), dict(payload=b""), dict(payload=b"x" * 10, max_bytes=5), dict(gap=10.0),
    dict(lifetime=0.0), dict(mode=CLOSE_EARLY, close_after=len(PAYLOAD)),
])
def test_nonsense_settings_are_refused(bad):
    settings = dict(payload=PAYLOAD) | bad
    with pytest.raises(ValueError):
        TrickleServer(**settings)


def test_address_needs_a_started_server():
    with pytest.raises(RuntimeError):
        TrickleServer(PAYLOAD).address


def test_with_propagation_the_chain_stops_at_the_clients_deadline():
    trace = deadline_propagation_demo(propagate=True, budget=0.5, a_work=0.1, b_work=0.9)
    b = trace.span(SERVICE_B)
    assert b.outcome.startswith("stopped")
    assert b.budget is not None and b.budget < 0.5 - 0.1 + 0.05  # told what was left, not the whole budget
    assert trace.span(CLIENT).outcome == "answer: deadline exceeded"
    assert trace.busy_after_deadline < 0.3  # B gave up with the budget, give or take scheduling


def test_without_propagation_the_last_hop_works_for_nobody():
    trace = deadline_propagation_demo(propagate=False, budget=0.5, a_work=0.1, b_work=0.9)
    assert trace.span(SERVICE_B).outcome == "finished"
    assert trace.span(SERVICE_B).budget is None and trace.span(SERVICE_A).budget is None
    assert trace.span(CLIENT).outcome.startswith("gave up")
    assert trace.busy_after_deadline >= 0.45  # B cannot finish before 0.1 + 0.9 s; the client left at 0.5


def test_propagation_demo_refuses_long_runs():
    with pytest.raises(ValueError):
        deadline_propagation_demo(budget=30.0)
