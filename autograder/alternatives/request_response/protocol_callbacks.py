"""Style: callbacks, no streams. An ``asyncio.Protocol`` receives bytes in ``data_received`` and
splits them into lines itself; replies resolve futures from inside that callback, so there is no
reader task to start, cancel or lose. ``transport.write`` queues a whole line synchronously, so no
write lock is needed. Ids count down from -1 (unique on the connection, nothing like the
reference's 1, 2, 3), and the timeout is ``asyncio.timeout`` (a context manager) rather than
``wait_for``."""
import asyncio
import json


class RpcError(Exception):
    """An error reply; the message is the server's."""


class _Lines(asyncio.Protocol):
    """Bytes in, one JSON message per line out to ``on_message``; ``lost`` is set at the end."""

    def __init__(self, on_message):
        self.on_message = on_message
        self.transport = None
        self.buffer = b""
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                self.on_message(message)

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)


class RpcClient:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.protocol = None
        self.waiting = {}
        self.last_id = 0

    async def connect(self):
        loop = asyncio.get_running_loop()
        _, self.protocol = await loop.create_connection(lambda: _Lines(self._on_message), self.host, self.port)
        self.protocol.lost.add_done_callback(lambda _: self._fail_all())
        self.last_id = 0

    async def call(self, method, params, timeout):
        if self.protocol is None or self.protocol.lost.done():
            raise ConnectionError("not connected")
        self.last_id -= 1
        request_id = self.last_id
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        try:
            async with asyncio.timeout(timeout):
                self.protocol.transport.write(
                    json.dumps({"id": request_id, "method": method, "params": params}).encode() + b"\n")
                return await future
        finally:
            del self.waiting[request_id]

    async def close(self):
        if self.protocol is not None:
            self.protocol.transport.close()
            await self.protocol.lost

    def _on_message(self, message):
        future = self.waiting.get(message.get("id")) if isinstance(message.get("id"), int) else None
        if future is None or future.done():
            return
        if "error" in message:
            error = message["error"]
            future.set_exception(RpcError(error["message"] if isinstance(error, dict) else str(error)))
        else:
            future.set_result(message.get("result"))

    def _fail_all(self):
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
