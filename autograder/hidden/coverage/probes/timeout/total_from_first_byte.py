"""Probe (a gap check, not a graded mutant): the total deadline starts when the first byte arrives, so the first wait is bounded by read_timeout alone."""
import socket
import time


class Deadline:
    """A fixed point in time by which work must be done, read through an injectable clock."""

    def __init__(self, seconds, clock=time.monotonic):
        self._clock = clock
        self._expires_at = clock() + seconds

    def remaining(self):
        """Seconds left, never negative."""
        return max(0.0, self._expires_at - self._clock())

    @property
    def expired(self):
        """True once no time is left."""
        return self.remaining() <= 0

    def check(self):
        """Raise TimeoutError once the deadline has passed."""
        if self.expired:
            raise TimeoutError("deadline expired")


def read_response(sock, *, read_timeout, total_timeout, clock=time.monotonic):
    """Read ``sock`` until the peer closes it; bound each wait and the whole read."""
    deadline = None
    chunks = []
    while True:
        remaining = deadline.remaining() if deadline else float('inf')
        if remaining <= 0:
            raise TimeoutError(f"response not complete within total_timeout={total_timeout} s")
        # Never wait longer than either limit allows: the read timeout alone would let a server
        # that trickles one byte just in time hold us forever.
        sock.settimeout(min(read_timeout, remaining))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if deadline and deadline.expired:
                raise TimeoutError(f"response not complete within total_timeout={total_timeout} s") from None
            raise TimeoutError(f"no data for read_timeout={read_timeout} s") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        if deadline is None:
            deadline = Deadline(total_timeout, clock)
