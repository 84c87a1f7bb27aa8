"""A correct event store in another design: Event is a NamedTuple, a `streams` table holds each
stream's current version and an append is a compare-and-set on it (UPDATE ... WHERE version = ?,
judged by rowcount) inside one exclusive transaction, with one clock reading per append. The
account folds its events through a table of handler functions."""
import json
import sqlite3
import time
from functools import reduce
from typing import Any, NamedTuple


class Event(NamedTuple):
    stream_id: str
    version: int
    type: str
    data: Any
    timestamp: float


class ConcurrencyError(Exception):
    pass


SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (stream_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    position INTEGER PRIMARY KEY, stream_id TEXT, version INTEGER, type TEXT, data TEXT, ts REAL);
"""


class EventStore:
    def __init__(self, path=":memory:", clock=time.time):
        self.clock = clock
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.executescript(SCHEMA)

    def append(self, stream_id, events, expected_version):
        conn = self.conn
        conn.execute("BEGIN EXCLUSIVE")
        try:
            if expected_version == 0:
                changed = conn.execute("INSERT OR IGNORE INTO streams VALUES (?, 0)",
                                       (stream_id,)).rowcount
                ok = changed == 1
            else:
                ok = conn.execute("SELECT 1 FROM streams WHERE stream_id = ? AND version = ?",
                                  (stream_id, expected_version)).fetchone() is not None
            if not ok:
                raise ConcurrencyError(f"{stream_id}: not at version {expected_version}")
            new_version = expected_version + len(events)
            conn.execute("UPDATE streams SET version = ? WHERE stream_id = ? AND version = ?",
                         (new_version, stream_id, expected_version))
            now = self.clock()
            rows = [(stream_id, expected_version + i, kind, json.dumps(data), now)
                    for i, (kind, data) in enumerate(events, start=1)]
            conn.executemany("INSERT INTO log (stream_id, version, type, data, ts)"
                             " VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return new_version

    def _events(self, sql, args):
        return [Event(s, v, t, json.loads(d), ts) for s, v, t, d, ts in self.conn.execute(
            "SELECT stream_id, version, type, data, ts FROM log " + sql, args)]

    def read(self, stream_id, from_version=1):
        return self._events("WHERE stream_id = ? AND version >= ? ORDER BY version",
                            (stream_id, from_version))

    def read_all(self, after=0):
        return self._events("WHERE position > ? ORDER BY position", (after,))

    def close(self):
        self.conn.close()


def _opened(state, data):
    return {**state, "name": data["name"]}


def _deposited(state, data):
    return {**state, "balance": state["balance"] + data["amount"]}


def _withdrawn(state, data):
    return {**state, "balance": state["balance"] - data["amount"]}


HANDLERS = {"AccountOpened": _opened, "MoneyDeposited": _deposited, "MoneyWithdrawn": _withdrawn}
EMPTY = {"name": None, "balance": 0, "version": 0}


def fold(state, event):
    state = HANDLERS.get(event.type, lambda s, d: s)(state, event.data)
    return {**state, "version": event.version}


class Account:
    def __init__(self, store, account_id, state=EMPTY):
        self.store, self.account_id, self.state = store, account_id, dict(state)

    name = property(lambda self: self.state["name"])
    balance = property(lambda self: self.state["balance"])
    version = property(lambda self: self.state["version"])

    @classmethod
    def open(cls, store, account_id, name):
        account = cls(store, account_id)
        account._emit("AccountOpened", {"name": name})
        return account

    @classmethod
    def load(cls, store, account_id, as_of=None):
        events = [e for e in store.read(account_id) if as_of is None or e.timestamp <= as_of]
        return cls(store, account_id, reduce(fold, events, EMPTY))

    def deposit(self, amount):
        if not amount > 0:
            raise ValueError("amount must be positive")
        self._emit("MoneyDeposited", {"amount": amount})

    def withdraw(self, amount):
        if not amount > 0:
            raise ValueError("amount must be positive")
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self._emit("MoneyWithdrawn", {"amount": amount})

    def _emit(self, kind, data):
        version = self.store.append(self.account_id, [(kind, data)], self.version)
        self.state = fold(self.state, Event(self.account_id, version, kind, data, 0.0))
