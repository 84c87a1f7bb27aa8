"""Alternative: one long-lived connection per object in autocommit mode, with explicit
BEGIN IMMEDIATE / COMMIT / ROLLBACK; each message is a JSON payload under a UUID id, and publishing
deletes it from the outbox instead of flagging it."""
import json
import sqlite3
import uuid

TABLES = """
CREATE TABLE IF NOT EXISTS placed_orders (order_id PRIMARY KEY, amount);
CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                                    message_id TEXT UNIQUE NOT NULL, payload TEXT NOT NULL);
"""


def _connection(path):
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.executescript(TABLES)
    return conn


class OrderService:
    def __init__(self, db_path):
        self._conn = _connection(db_path)

    def place_order(self, order_id, amount):
        payload = json.dumps({"order_id": order_id, "amount": amount})
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            exists = self._conn.execute("SELECT 1 FROM placed_orders WHERE order_id = ?",
                                        (order_id,)).fetchone()
            if exists:
                raise ValueError(f"duplicate order {order_id!r}")
            self._conn.execute("INSERT INTO placed_orders VALUES (?, ?)", (order_id, amount))
            self._conn.execute("INSERT INTO pending (message_id, payload) VALUES (?, ?)",
                               (str(uuid.uuid4()), payload))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


class OutboxRelay:
    def __init__(self, db_path, publish):
        self._conn = _connection(db_path)
        self._publish = publish

    def run_once(self, batch_size=100):
        batch = self._conn.execute("SELECT message_id, payload FROM pending ORDER BY seq LIMIT ?",
                                   (batch_size,)).fetchall()
        sent = 0
        for message_id, payload in batch:
            message = {"id": message_id, **json.loads(payload)}
            try:
                self._publish(message)
            except Exception:  # noqa: BLE001 - any failure of publish stops the run
                return sent
            self._conn.execute("DELETE FROM pending WHERE message_id = ?", (message_id,))
            sent += 1
        return sent


class DedupConsumer:
    def __init__(self, handle):
        self._handle = handle
        self._handled = {}

    def __call__(self, message):
        key = message["id"]
        if key not in self._handled:
            self._handled[key] = self._handle(message)
