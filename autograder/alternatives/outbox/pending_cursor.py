"""Alternative: a function-per-step style. The service checks for the order and writes both rows
inside one `with connection:` block; the relay walks the outbox one row at a time by a cursor over
`rowid` (a generator), stamping `published_at`; the consumer keeps a frozenset it replaces."""
import sqlite3
import time
from contextlib import closing


def _open(path):
    connection = sqlite3.connect(path, timeout=30)
    with connection:
        connection.execute("CREATE TABLE IF NOT EXISTS orders_tbl (oid UNIQUE NOT NULL, amt)")
        connection.execute("CREATE TABLE IF NOT EXISTS outbox_tbl (oid, amt, published_at REAL)")
    return connection


def _insert_order(connection, order_id, amount):
    connection.execute("INSERT INTO orders_tbl (oid, amt) VALUES (?, ?)", (order_id, amount))
    connection.execute("INSERT INTO outbox_tbl (oid, amt) VALUES (?, ?)", (order_id, amount))


def _unpublished(connection, limit):
    last = 0
    for _ in range(limit):
        row = connection.execute("SELECT rowid, oid, amt FROM outbox_tbl WHERE published_at IS NULL "
                                 "AND rowid > ? ORDER BY rowid LIMIT 1", (last,)).fetchone()
        if row is None:
            return
        last = row[0]
        yield row


class OrderService:
    def __init__(self, db_path):
        self.path = db_path
        _open(db_path).close()

    def place_order(self, order_id, amount):
        with closing(_open(self.path)) as connection:
            try:
                with connection:
                    _insert_order(connection, order_id, amount)
            except sqlite3.IntegrityError:
                raise ValueError(f"order {order_id!r} was placed before") from None


class OutboxRelay:
    def __init__(self, db_path, publish):
        self.path, self.publish = db_path, publish
        _open(db_path).close()

    def run_once(self, batch_size=100):
        count = 0
        with closing(_open(self.path)) as connection:
            for rowid, order_id, amount in _unpublished(connection, batch_size):
                try:
                    self.publish({"id": rowid, "order_id": order_id, "amount": amount})
                except Exception:  # noqa: BLE001 - any failure of publish stops the run
                    break
                with connection:
                    connection.execute("UPDATE outbox_tbl SET published_at = ? WHERE rowid = ?",
                                       (time.time(), rowid))
                count += 1
        return count


class DedupConsumer:
    def __init__(self, handle):
        self.handle = handle
        self.ids = frozenset()

    def __call__(self, message):
        if message["id"] in self.ids:
            return False
        self.handle(message)
        self.ids = self.ids | {message["id"]}
        return True
