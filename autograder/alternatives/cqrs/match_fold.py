"""A projection written as a fold: each event is matched by type into a change of balance and
folded into a Counter; the position is a plain attribute the loop advances."""
from collections import Counter


def effect(kind, data):
    """What one event does to its account's balance; None for an event that is no bank event
    (opening an account changes it by 0, but makes the account known)."""
    match kind:
        case "AccountOpened":
            return 0
        case "MoneyDeposited":
            return data["amount"]
        case "MoneyWithdrawn":
            return -data["amount"]
        case _:
            return None


class BalanceProjection:
    def __init__(self, store):
        self.store = store
        self.position = 0
        self.totals = Counter()
        self.known = set()

    def catch_up(self):
        applied = 0
        for event in self.store.read_all(after=self.position):
            kind = event.type
            delta = effect(kind, event.data if kind != "AccountOpened" else None)
            if delta is not None:
                account = event.stream_id
                self.known.add(account)
                self.totals[account] += delta
            self.position += 1
            applied += 1
        return applied

    def balance(self, account_id):
        return self.totals[account_id] if account_id in self.known else 0

    def top_accounts(self, n):
        if n <= 0:
            return []
        by_id = sorted(self.known)
        ranked = sorted(by_id, key=lambda account: self.totals[account], reverse=True)  # stable
        return [(account, self.totals[account]) for account in ranked[:n]]
