"""Style: a mailbox per call. Each call gets its own ``asyncio.Queue(maxsize=1)`` and a dispatcher
task puts each reply in the mailbox its id names; the caller waits with ``asyncio.wait`` and a
timeout (no ``wait_for``, no ``asyncio.timeout``) and raises ``TimeoutError`` itself. Ids come from
one counter shared by every client of the process (unique on any one connection, and never 1, 2, 3
on the second client), and there is no write lock: each request is one ``write()`` of a whole line,
which asyncio queues without yielding, followed by ``drain()``."""
import asyncio
import itertools
import json

_next_id = itertools.count(1000)


class RpcError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class RpcClient:
    def __init__(self, host, port):
        self.address = (host, port)
        self.mailboxes = {}
        self.reader = self.writer = self.dispatcher = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(*self.address, limit=1 << 24)
        self.dispatcher = asyncio.create_task(self._dispatch())

    async def call(self, method, params, timeout):
        request_id = next(_next_id)
        mailbox = self.mailboxes[request_id] = asyncio.Queue(maxsize=1)
        try:
            self.writer.write((json.dumps({"id": request_id, "method": method, "params": params}) + "\n").encode())
            getting = asyncio.ensure_future(self._sent_then_answer(mailbox))
            done, _ = await asyncio.wait({getting}, timeout=timeout)  # from the call, sending included
            if not done:
                getting.cancel()
                raise TimeoutError(f"no reply to {method} within {timeout} s")
            kind, value = getting.result()
        finally:
            self.mailboxes.pop(request_id, None)
        if kind == "error":
            raise RpcError(value)
        if kind == "closed":
            raise ConnectionError(value)
        return value

    async def _sent_then_answer(self, mailbox):
        await self.writer.drain()
        return await mailbox.get()

    async def close(self):
        if self.dispatcher is not None:
            self.dispatcher.cancel()
            await asyncio.gather(self.dispatcher, return_exceptions=True)
        if self.writer is not None:
            self.writer.close()
            await asyncio.gather(self.writer.wait_closed(), return_exceptions=True)

    async def _dispatch(self):
        try:
            while line := await self.reader.readline():
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue
                mailbox = self.mailboxes.get(reply.get("id")) if isinstance(reply, dict) \
                    and isinstance(reply.get("id"), int) else None
                if mailbox is None or mailbox.full():
                    continue
                if "error" in reply:
                    error = reply["error"]
                    mailbox.put_nowait(("error", error.get("message") if isinstance(error, dict) else str(error)))
                else:
                    mailbox.put_nowait(("result", reply.get("result")))
        finally:
            for mailbox in self.mailboxes.values():
                if not mailbox.full():
                    mailbox.put_nowait(("closed", "the connection ended"))
