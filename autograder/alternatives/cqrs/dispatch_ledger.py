"""A projection that dispatches on the event type through a table of handler methods and keeps
each account's history of movements, summing it when asked (a ledger, not a running total)."""
import heapq
import itertools


class BalanceProjection:
    """Balances read from the store's global log, with a checkpoint moved after each event."""

    def __init__(self, store):
        self._store = store
        self._checkpoint = 0
        self._ledger = {}  # account_id -> list of signed amounts, in log order
        self._handlers = {
            "AccountOpened": self._opened,
            "MoneyDeposited": self._deposited,
            "MoneyWithdrawn": self._withdrawn,
        }

    @property
    def position(self):
        return self._checkpoint

    def catch_up(self):
        before = self._checkpoint
        events = iter(self._store.read_all(before))
        for position in itertools.count(before + 1):
            event = next(events, None)
            if event is None:
                break
            kind = event.type
            handler = self._handlers.get(kind)
            if handler is not None:
                handler(event.stream_id, event.data)
            self._checkpoint = position  # checkpoint only once the event is in the ledger
        return self._checkpoint - before

    def _opened(self, account, data):
        self._ledger.setdefault(account, [])

    def _deposited(self, account, data):
        self._ledger.setdefault(account, []).append(data["amount"])

    def _withdrawn(self, account, data):
        self._ledger.setdefault(account, []).append(-data["amount"])

    def balance(self, account_id):
        return sum(self._ledger.get(account_id, ()))

    def top_accounts(self, n):
        totals = ((account, sum(moves)) for account, moves in self._ledger.items())
        # nsmallest on (-balance, id) is highest balance first, ties by ascending id.
        best = heapq.nsmallest(n, totals, key=lambda pair: (-pair[1], pair[0]))
        return [(account, total) for account, total in best]
