"""The outbox against the dual write, on real SQLite, with a simulated process crash at chosen points.

Orders arrive in waves. The **dual write** commits a wave's orders and then publishes one message per
order: a crash between the two loses the messages not yet sent, and nothing remembers them. The
**outbox** commits each order together with its message in one transaction; a relay reads a batch of
unsent messages, publishes them, and marks the batch sent in one transaction after the last publish.
A crash before that commit rolls the marks back, the restarted relay sends those messages again, and a
consumer that remembers the ids it has seen drops the repeats.

Both run on one crash schedule drawn from the seed, so they face the same crashes at the same waves.
A crash is a real one for the database: the connection is dropped without a commit.
"""
from __future__ import annotations

import os
import random
import sqlite3
import tempfile
from dataclasses import dataclass, field

BEFORE_PUBLISH = "before publish"
AFTER_PUBLISH = "after publish, before marking"
MID_BATCH = "mid-batch"
CRASH_POINTS = (BEFORE_PUBLISH, AFTER_PUBLISH, MID_BATCH)
OUTBOX, DUAL_WRITE = "outbox", "dual write"


class ProcessCrash(BaseException):
    """The simulated process death: a BaseException, so no ``except Exception`` in the way swallows it."""


@dataclass
class TrialResult:
    """What one run delivered: every delivery in order, and what the consumer kept and dropped."""

    design: str
    crash_point: str
    orders: list[str]
    deliveries: list[str] = field(default_factory=list)
    handled: list[str] = field(default_factory=list)
    crashes: int = 0

    @property
    def lost(self) -> list[str]:
        seen = set(self.deliveries)
        return [order for order in self.orders if order not in seen]

    @property
    def duplicates_delivered(self) -> int:
        return len(self.deliveries) - len(set(self.deliveries))

    @property
    def duplicates_removed(self) -> int:
        return len(self.deliveries) - len(self.handled)

    @property
    def loss_rate(self) -> float:
        return len(self.lost) / max(len(self.orders), 1)


def crash_schedule(seed: int, waves: int, wave_size: int, crash_rate: float) -> list[int | None]:
    """Per wave, ``None`` (no crash) or how many of the wave's messages get published before a mid-batch
    crash (1 .. wave_size - 1). Drawn once, so both designs meet the same crashes."""
    rng = random.Random(seed)
    return [rng.randint(1, max(wave_size - 1, 1)) if rng.random() < crash_rate else None for _ in range(waves)]


def scratch_folder() -> tempfile.TemporaryDirectory:
    """A temporary folder for the demo's database, in memory-backed /dev/shm where there is one.

    It is still a real SQLite file with real transactions; only the disk's flushes are skipped, so the
    crash study runs in a fraction of a second on a busy machine.
    """
    shm = "/dev/shm"
    return tempfile.TemporaryDirectory(dir=shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None)


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level="DEFERRED")
    connection.execute("PRAGMA synchronous = OFF")
    return connection


def _create(path: str) -> None:
    with _connect(path) as connection:
        connection.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount INTEGER)")
        connection.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE,"
                           " published INTEGER NOT NULL DEFAULT 0)")
    connection.close()


def _crash_here(point: str, crash_point: str, crash: int | None, published: int, batch: int) -> bool:
    if crash is None or point != crash_point:
        return False
    if point == MID_BATCH:
        return published == min(crash, batch - 1) and batch > 1
    return True


def run_trial(design: str, crash_point: str, *, seed: int = 1, waves: int = 30, wave_size: int = 5,
              crash_rate: float = 0.3) -> TrialResult:
    """One design, one crash point, ``waves * wave_size`` orders on a fresh SQLite file."""
    if design not in (OUTBOX, DUAL_WRITE) or crash_point not in CRASH_POINTS:
        raise ValueError(f"unknown design {design!r} or crash point {crash_point!r}")
    schedule = crash_schedule(seed, waves, wave_size, crash_rate)
    orders = [f"order-{index}" for index in range(waves * wave_size)]
    result = TrialResult(design, crash_point, orders)
    seen: set[str] = set()

    def deliver(message_id: str) -> None:
        result.deliveries.append(message_id)
        if message_id not in seen:  # the consumer's dedup: a set of the ids it has handled
            seen.add(message_id)
            result.handled.append(message_id)

    with scratch_folder() as folder:
        path = os.path.join(folder, "shop.db")
        _create(path)
        for wave, crash in enumerate(schedule):
            batch = orders[wave * wave_size:(wave + 1) * wave_size]
            try:
                if design == DUAL_WRITE:
                    _dual_write_wave(path, batch, deliver, crash_point, crash)
                else:
                    _outbox_wave(path, batch, deliver, crash_point, crash)
            except ProcessCrash:
                result.crashes += 1
        if design == OUTBOX:  # the relay restarts after the last crash and drains what is left
            while _relay_once(path, deliver, crash_point, None, wave_size):
                pass
    return result


def _dual_write_wave(path, batch, deliver, crash_point, crash) -> None:
    connection = _connect(path)
    try:
        connection.executemany("INSERT INTO orders VALUES (?, ?)", [(order, 10) for order in batch])
        connection.commit()
        published = 0
        for order in batch:
            if _crash_here(BEFORE_PUBLISH, crash_point, crash, published, len(batch)) and published == 0:
                raise ProcessCrash
            if _crash_here(MID_BATCH, crash_point, crash, published, len(batch)):
                raise ProcessCrash
            deliver(order)
            published += 1
        if _crash_here(AFTER_PUBLISH, crash_point, crash, published, len(batch)):
            raise ProcessCrash
    finally:
        connection.close()


def _outbox_wave(path, batch, deliver, crash_point, crash) -> None:
    connection = _connect(path)
    try:
        for order in batch:
            with connection:  # one transaction: the order row and its message, or neither
                connection.execute("INSERT INTO orders VALUES (?, ?)", (order, 10))
                connection.execute("INSERT INTO outbox (message_id) VALUES (?)", (order,))
    finally:
        connection.close()
    _relay_once(path, deliver, crash_point, crash, len(batch))


def _relay_once(path, deliver, crash_point, crash, batch_size) -> int:
    """One relay pass: read a batch of unsent messages, publish each, mark them all in one commit."""
    connection = _connect(path)
    try:
        rows = connection.execute("SELECT seq, message_id FROM outbox WHERE published = 0 ORDER BY seq LIMIT ?",
                                  (batch_size,)).fetchall()
        published = 0
        for seq, message_id in rows:
            if _crash_here(BEFORE_PUBLISH, crash_point, crash, published, len(rows)) and published == 0:
                raise ProcessCrash
            if _crash_here(MID_BATCH, crash_point, crash, published, len(rows)):
                raise ProcessCrash
            deliver(message_id)
            connection.execute("UPDATE outbox SET published = 1 WHERE seq = ?", (seq,))
            published += 1
        if rows and _crash_here(AFTER_PUBLISH, crash_point, crash, published, len(rows)):
            raise ProcessCrash
        connection.commit()
        return len(rows)
    finally:
        connection.close()  # without a commit, as a dead process leaves it: the marks roll back


@dataclass(frozen=True)
class CrashRow:
    crash_point: str
    design: str
    orders: int
    crashes: int
    lost: int
    duplicates_delivered: int
    duplicates_removed: int

    @property
    def loss_rate(self) -> float:
        return self.lost / max(self.orders, 1)


def crash_study(*, seed: int = 1, waves: int = 30, wave_size: int = 5, crash_rate: float = 0.3) -> list[CrashRow]:
    """Both designs at every crash point on one schedule: one row each."""
    rows = []
    for point in CRASH_POINTS:
        for design in (OUTBOX, DUAL_WRITE):
            trial = run_trial(design, point, seed=seed, waves=waves, wave_size=wave_size, crash_rate=crash_rate)
            rows.append(CrashRow(point, design, len(trial.orders), trial.crashes, len(trial.lost),
                                 trial.duplicates_delivered, trial.duplicates_removed))
    return rows


def crash_table(rows: list[CrashRow]) -> str:
    lines = [f"{'crash point':<31}{'design':<12}{'crashes':>8}{'lost':>6}{'rate':>7}{'dups sent':>11}{'dups removed':>14}"]
    for row in rows:
        lines.append(f"{row.crash_point:<31}{row.design:<12}{row.crashes:>8}{row.lost:>6}{row.loss_rate:>7.1%}"
                     f"{row.duplicates_delivered:>11}{row.duplicates_removed:>14}")
    return "\n".join(lines)


@dataclass
class ClassTrial:
    """Your classes under one crash point: the deliveries, what your consumer passed on, and the verdict."""

    crash_point: str
    orders: list[str]
    deliveries: list[str] = field(default_factory=list)
    handled: list = field(default_factory=list)
    handled_text: list[str] = field(default_factory=list)
    crashes: int = 0
    problem: str | None = None
    first_bad: str | None = None

    @property
    def lost(self) -> int:
        return max(len(self.orders) - len(set(self.handled)), 0)

    @property
    def duplicates_delivered(self) -> int:
        return len(self.deliveries) - len(set(self.deliveries))

    @property
    def duplicates_handled(self) -> int:
        return len(self.handled) - len(set(self.handled))


def _failure_line(where: str, exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return f"{where} raises NotImplementedError: still the stub"
    return f"{where} raised {type(exc).__name__}: {exc}"


def trial_with_classes(order_service, relay, consumer, crash_point: str, *, seed: int = 1, waves: int = 8,
                       wave_size: int = 5, crash_rate: float = 0.5) -> ClassTrial:
    """Your ``OrderService``, ``OutboxRelay`` and ``DedupConsumer`` classes on the same crash schedule.

    A crash is raised from inside ``publish`` as a ``BaseException`` (before the broker takes the
    message, after it took it, or on a later message of the batch); the relay object is then thrown
    away and a new one made on the same file, as a restarted process would. ``first_bad`` names the
    first message lost or handled twice; ``problem`` is one line when a class raised instead.
    """
    schedule = crash_schedule(seed, waves, wave_size, crash_rate)
    orders = [f"order-{index}" for index in range(waves * wave_size)]
    trial = ClassTrial(crash_point, orders)
    pending_crash: list[int | None] = [None]
    calls_this_run = [0]

    def handle(message) -> None:
        """Your consumer may pass on the message or its id: either way the id is what is counted."""
        is_message = isinstance(message, dict) and "id" in message
        trial.handled.append(message["id"] if is_message else message)
        trial.handled_text.append(repr(message))

    with scratch_folder() as folder:
        path = os.path.join(folder, "yours.db")
        try:
            service, dedup = order_service(path), consumer(handle)
        except Exception as exc:  # noqa: BLE001 - a student's class: report it in one line
            trial.problem = _failure_line("constructing your classes", exc)
            return trial

        def publish(message) -> None:
            calls_this_run[0] += 1
            crash, index = pending_crash[0], calls_this_run[0]
            message_id = message["id"] if isinstance(message, dict) and "id" in message else repr(message)
            if crash is not None and crash_point == BEFORE_PUBLISH and index == 1:
                pending_crash[0] = None
                raise ProcessCrash
            trial.deliveries.append(message_id)
            dedup(message)
            if crash is not None and ((crash_point == AFTER_PUBLISH and index == 1)
                                      or (crash_point == MID_BATCH and index == crash)):
                pending_crash[0] = None
                raise ProcessCrash

        def relay_pass(crash) -> int:
            pending_crash[0], calls_this_run[0] = crash, 0
            try:
                return relay(path, publish).run_once(batch_size=wave_size)
            except ProcessCrash:
                trial.crashes += 1
                return -1

        try:
            for wave, crash in enumerate(schedule):
                for order in orders[wave * wave_size:(wave + 1) * wave_size]:
                    service.place_order(order, 10)
                relay_pass(crash)
            for _ in range(len(orders) * 2):  # drain, bounded: a relay that never finishes is a bug too
                if relay_pass(None) == 0:
                    break
        except Exception as exc:  # noqa: BLE001 - a student's class: report it in one line
            trial.problem = _failure_line("your classes", exc)
            return trial
    trial.first_bad = _first_bad(trial)
    return trial


def _first_bad(trial: ClassTrial) -> str | None:
    counted: dict[str, int] = {}
    for message_id in trial.handled:
        counted[message_id] = counted.get(message_id, 0) + 1
        if counted[message_id] == 2:
            return f"{message_id!r} handled twice (delivery {trial.deliveries.index(message_id) + 1} repeated)"
    if trial.lost:
        text = " ".join(trial.handled_text)
        missing = [order for order in trial.orders if repr(order) not in text and f"{order}'" not in text]
        named = f"first missing: {missing[0]}" if missing else "ids do not name their orders"
        return f"{trial.lost} of {len(trial.orders)} messages never handled ({named})"
    return None
