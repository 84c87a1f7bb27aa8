"""Read with an event loop in miniature: the socket is switched to non-blocking and a
selectors.DefaultSelector waits for readability, each wait bounded by the smaller of read_timeout
and what is left of the total Deadline; an empty select is a timeout, a recv of b"" is EOF. The
socket's own timeout is restored afterwards, whatever happens."""
import selectors
import time


class Deadline:
    def __init__(self, seconds, clock=time.monotonic):
        self._clock = clock
        self._started = clock()
        self._budget = seconds

    def remaining(self):
        left = self._budget - (self._clock() - self._started)
        return left if left > 0 else 0.0

    @property
    def expired(self):
        return self.remaining() == 0.0

    def check(self):
        if self.expired:
            raise TimeoutError(f"deadline of {self._budget} s has passed")


def read_response(sock, *, read_timeout, total_timeout, clock=time.monotonic):
    deadline = Deadline(total_timeout, clock)
    received = bytearray()
    saved_timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            while True:
                deadline.check()
                if not selector.select(min(read_timeout, deadline.remaining())):
                    deadline.check()
                    raise TimeoutError(f"no data within read_timeout={read_timeout} s")
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue  # readiness was spurious: wait again
                if not chunk:
                    return bytes(received)
                received += chunk
    finally:
        sock.settimeout(saved_timeout)
