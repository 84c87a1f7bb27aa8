"""A correct event store in another design: events keyed by (stream_id, version) in a WITHOUT
ROWID table whose primary key refuses a second writer's version, the global position computed
as MAX(position) + 1, transactions through a context manager, and a plain slotted Event class.
A lost race surfaces as an IntegrityError or a version mismatch, both turned into
ConcurrencyError; the account dispatches on event type to `_on_<Type>` methods."""
import contextlib
import json
import sqlite3
import threading
import time


class Event:
    __slots__ = ("data", "stream_id", "timestamp", "type", "version")

    def __init__(self, stream_id, version, type, data, timestamp):
        self.stream_id, self.version, self.type = stream_id, version, type
        self.data, self.timestamp = data, timestamp

    def __eq__(self, other):
        return isinstance(other, Event) and all(
            getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self):
        return f"Event({self.stream_id!r}, {self.version}, {self.type!r}, {self.data!r})"


class ConcurrencyError(Exception):
    pass


class EventStore:
    def __init__(self, path=":memory:", clock=time.time):
        self._clock = clock
        self._conn = sqlite3.connect(path, timeout=20, isolation_level=None,
                                     check_same_thread=False)
        self._mutex = threading.RLock()
        with self._transaction():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS stream_events (stream_id TEXT, version INTEGER,"
                " position INTEGER UNIQUE NOT NULL, type TEXT, payload TEXT, at REAL,"
                " PRIMARY KEY (stream_id, version)) WITHOUT ROWID")

    @contextlib.contextmanager
    def _transaction(self):
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def append(self, stream_id, events, expected_version):
        try:
            with self._transaction() as conn:
                current = conn.execute("SELECT MAX(version) FROM stream_events WHERE stream_id = ?",
                                       (stream_id,)).fetchone()[0] or 0
                if current != expected_version:
                    raise ConcurrencyError(f"expected {expected_version}, stream is at {current}")
                position = conn.execute("SELECT COALESCE(MAX(position), 0) FROM stream_events"
                                        ).fetchone()[0]
                version = current
                for kind, data in events:
                    version += 1
                    position += 1
                    payload = json.dumps(data, ensure_ascii=False)
                    conn.execute("INSERT INTO stream_events VALUES (?, ?, ?, ?, ?, ?)",
                                 (stream_id, version, position, kind, payload, self._clock()))
                return version
        except sqlite3.IntegrityError as exc:
            raise ConcurrencyError(str(exc)) from exc

    def _query(self, where, args):
        with self._mutex:
            rows = self._conn.execute("SELECT stream_id, version, type, payload, at FROM"
                                      " stream_events " + where, args).fetchall()
        return [Event(s, v, t, json.loads(p), at) for s, v, t, p, at in rows]

    def read(self, stream_id, from_version=1):
        return self._query("WHERE stream_id = ? AND version >= ? ORDER BY version",
                           (stream_id, from_version))

    def read_all(self, after=0):
        return self._query("WHERE position > ? ORDER BY position", (after,))

    def close(self):
        with self._mutex:
            self._conn.close()


class Account:
    __slots__ = ("account_id", "balance", "name", "store", "version")

    def __init__(self, store, account_id):
        self.store, self.account_id = store, account_id
        self.name, self.balance, self.version = None, 0, 0

    def _apply(self, event_type, data, version):
        handler = getattr(self, f"_on_{event_type}", None)
        if handler is not None:
            handler(data)
        self.version = version

    def _on_AccountOpened(self, data):
        self.name = data["name"]

    def _on_MoneyDeposited(self, data):
        self.balance += data["amount"]

    def _on_MoneyWithdrawn(self, data):
        self.balance -= data["amount"]

    def _write(self, event_type, data):
        version = self.store.append(self.account_id, [(event_type, data)], self.version)
        self._apply(event_type, data, version)

    @classmethod
    def open(cls, store, account_id, name):
        account = cls(store, account_id)
        account._write("AccountOpened", {"name": name})
        return account

    @classmethod
    def load(cls, store, account_id, as_of=None):
        account = cls(store, account_id)
        for event in store.read(account_id):
            if as_of is None or event.timestamp <= as_of:
                account._apply(event.type, event.data, event.version)
        return account

    def _positive(self, amount):
        if amount <= 0:
            raise ValueError(f"amount must be > 0, got {amount}")

    def deposit(self, amount):
        self._positive(amount)
        self._write("MoneyDeposited", {"amount": amount})

    def withdraw(self, amount):
        self._positive(amount)
        if self.balance < amount:
            raise ValueError(f"balance {self.balance} is below {amount}")
        self._write("MoneyWithdrawn", {"amount": amount})
