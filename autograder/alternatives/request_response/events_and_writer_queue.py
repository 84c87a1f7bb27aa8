"""Style: a single writer task and events instead of futures. Calls never touch the socket: they
put their line on an ``asyncio.Queue`` that one writer task drains, so lines cannot interleave
without any lock. Each call waits on its own ``asyncio.Event`` and finds its answer in a dict of
outcomes the reader fills; the timeout is ``asyncio.wait_for(event.wait(), timeout)``. Ids are random
63-bit integers, never reused on the connection (a set remembers them), so nothing in the suite may
assume ids count up."""
import asyncio
import json
import random


class RpcError(Exception):
    pass


class RpcClient:
    def __init__(self, host, port):
        self.host = host
        self.port = port
        self._tasks = []
        self._events = {}      # id -> Event set when its answer is in _answers
        self._answers = {}     # id -> ("result", value) or ("error", message)
        self._used = set()
        self._outbox = None
        self._writer = None
        self._rng = random.Random()

    async def connect(self):
        reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=1 << 24)
        self._outbox = asyncio.Queue()
        self._used = set()
        self._tasks = [asyncio.create_task(self._read(reader)), asyncio.create_task(self._write())]

    def _new_id(self):
        while True:
            candidate = self._rng.getrandbits(63)
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    async def call(self, method, params, timeout):
        request_id = self._new_id()
        event = self._events[request_id] = asyncio.Event()
        await self._outbox.put(json.dumps({"id": request_id, "method": method, "params": params}) + "\n")
        try:
            await asyncio.wait_for(event.wait(), timeout)
            kind, value = self._answers.pop(request_id)
        finally:
            self._events.pop(request_id, None)
            self._answers.pop(request_id, None)
        if kind == "error":
            raise RpcError(value)
        if kind == "lost":
            raise ConnectionError(value)
        return value

    async def close(self):
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = None

    async def _write(self):
        while True:
            line = await self._outbox.get()
            self._writer.write(line.encode())
            await self._writer.drain()

    async def _read(self, reader):
        try:
            async for line in reader:
                try:
                    message = json.loads(line)
                    request_id = message["id"]
                    event = self._events[request_id]
                except (ValueError, TypeError, KeyError):
                    continue  # not a reply to any call waiting now
                if event.is_set():
                    continue
                if "error" in message:
                    error = message["error"]
                    self._answers[request_id] = ("error", error.get("message") if isinstance(error, dict) else error)
                else:
                    self._answers[request_id] = ("result", message.get("result"))
                event.set()
        finally:
            for request_id, event in list(self._events.items()):
                if not event.is_set():
                    self._answers[request_id] = ("lost", "the connection ended")
                    event.set()
