"""Deadline as an immutable value, a frozen dataclass whose expiry instant is fixed at creation;
the read is a generator of chunks received with recv_into into one reusable buffer, each recv
given socket.settimeout of the smaller of read_timeout and the deadline's remaining time, and the
caller joins the chunks in a BytesIO. A recv timing out is told apart as total or per-read."""
import dataclasses
import io
import time
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Deadline:
    seconds: float
    clock: Callable[[], float] = time.monotonic
    expires_at: float = dataclasses.field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "expires_at", self.clock() + self.seconds)

    def remaining(self):
        return max(0.0, self.expires_at - self.clock())

    @property
    def expired(self):
        return self.clock() >= self.expires_at

    def check(self):
        if self.expired:
            raise TimeoutError("deadline expired")


def _chunks(sock, read_timeout, deadline, size=65536):
    buffer = bytearray(size)
    view = memoryview(buffer)
    while True:
        if deadline.expired:
            raise TimeoutError("total_timeout reached before the response was complete")
        sock.settimeout(min(read_timeout, deadline.remaining()))
        try:
            n = sock.recv_into(view)
        except TimeoutError:
            if deadline.expired:
                raise TimeoutError("total_timeout reached before the response was complete") from None
            raise TimeoutError(f"read_timeout: no data for {read_timeout} s") from None
        if n == 0:
            return
        yield bytes(view[:n])


def read_response(sock, *, read_timeout, total_timeout, clock=time.monotonic):
    deadline = Deadline(total_timeout, clock)
    out = io.BytesIO()
    for chunk in _chunks(sock, read_timeout, deadline):
        out.write(chunk)
    return out.getvalue()
