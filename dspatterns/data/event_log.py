"""A bank account's history as a list of ledger entries, folded into a balance as of any moment.

Event sourcing keeps the facts (opened, deposited, withdrew) and derives the state by replaying them.
Here the facts are plain tuples and the replay is one fold, so the course can ask for the balance at
any time on the log (a temporal query) and count how many entries a load reads with and without
snapshots.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

OPENED, DEPOSITED, WITHDREW = "opened", "deposited", "withdrew"


@dataclass(frozen=True)
class LedgerEntry:
    """One fact about the account, numbered from 1 in the order it was recorded."""

    number: int
    timestamp: float
    kind: str
    amount: int


def ledger_history(seed: int = 3, entries: int = 40, *, mean_gap: float = 1.0) -> list[LedgerEntry]:
    """An account opened at t=0 followed by seeded deposits and withdrawals that never overdraw it."""
    rng = random.Random(seed)
    history = [LedgerEntry(1, 0.0, OPENED, 0)]
    balance, now = 0, 0.0
    while len(history) < entries:
        now += rng.expovariate(1 / mean_gap)
        if balance >= 20 and rng.random() < 0.45:
            kind, amount = WITHDREW, rng.randint(1, balance // 10) * 10
            balance -= amount
        else:
            kind, amount = DEPOSITED, rng.randint(1, 10) * 10
            balance += amount
        history.append(LedgerEntry(len(history) + 1, round(now, 3), kind, amount))
    return history


def apply_entry(balance: int, entry: LedgerEntry) -> int:
    """The fold's step: a new balance from the old one and one fact."""
    if entry.kind == DEPOSITED:
        return balance + entry.amount
    if entry.kind == WITHDREW:
        return balance - entry.amount
    return balance


def balance_as_of(history: list[LedgerEntry], as_of: float | None = None) -> tuple[int, int]:
    """``(balance, entries applied)`` after replaying every entry with ``timestamp <= as_of``."""
    balance, applied = 0, 0
    for entry in history:
        if as_of is not None and entry.timestamp > as_of:
            break
        balance, applied = apply_entry(balance, entry), applied + 1
    return balance, applied


def replay_with_snapshots(history: list[LedgerEntry], every: int) -> tuple[int, int]:
    """``(balance, entries read)`` when a snapshot is saved after every ``every`` entries.

    A load reads the latest snapshot (one read) and only the entries after it, so its cost stays
    below ``every + 1`` however long the log grows. The snapshots are computed here by a full replay,
    as a background job would, and the balance must match the full replay's.
    """
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    snapshot_at = (len(history) // every) * every
    snapshot_balance, _ = balance_as_of(history[:snapshot_at])
    balance, read = snapshot_balance, 1 if snapshot_at else 0
    for entry in history[snapshot_at:]:
        balance, read = apply_entry(balance, entry), read + 1
    return balance, read


@dataclass(frozen=True)
class ReplayCost:
    log_lengths: list[int]
    full_replay: list[int]
    with_snapshots: list[int]
    every: int


def replay_cost(lengths: list[int] | range, every: int = 50, seed: int = 3) -> ReplayCost:
    """Entries read per load, full replay against snapshots, for logs of each length (one seeded history)."""
    history = ledger_history(seed, max(lengths))
    full, snap = [], []
    for length in lengths:
        prefix = history[:length]
        balance, read = balance_as_of(prefix)
        snapshot_balance, snapshot_read = replay_with_snapshots(prefix, every)
        if balance != snapshot_balance:
            raise AssertionError(f"snapshot replay gives {snapshot_balance}, full replay {balance}")
        full.append(read)
        snap.append(snapshot_read)
    return ReplayCost(list(lengths), full, snap, every)
