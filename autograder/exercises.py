"""The graded exercises: which assignment each belongs to, the names its contract requires, and the
parts its graded cells check. ``../shared/exercise-contracts.md`` is the authority on behaviour; this
table only tells the tools where things are."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .cells import cell_source, is_answer_cell

if TYPE_CHECKING:
    from .mutation import Mutant

from .paths import ALTERNATIVES, HIDDEN, RELEASE, ROOT, SOLUTIONS  # noqa: F401  (ROOT re-exported)


# Each assignment's teaching notebook in course/ (the family's explanations and figures).
COURSE_NOTEBOOKS = {
    "communication": "01_communication.ipynb",
    "resilience": "02_resilience.ipynb",
    "data": "03_data.ipynb",
    "scaling": "04_scaling.ipynb",
    "caching": "05_caching.ipynb",
    "discovery": "06_discovery.ipynb",
    "idempotency": "07_idempotency.ipynb",
    "review": "08_review.ipynb",
}
CANARY_SUFFIX = "9c41"


@dataclass(frozen=True)
class Exercise:
    name: str
    assignment: str
    required_names: tuple[str, ...]  # what the contract says a submission defines
    parts: dict[str, str]  # part -> what its graded cell checks, in a student's words (headings)
    section: str  # the heading of the section in the course notebook that teaches it
    # Whether a failed part's feedback ends with how to rebuild a failing case (code exercises);
    # the review's feedback already gives the right answer and why.
    replay_hint: bool = True
    # Whether a graded cell earns a share of its points for the share of its hidden checks that
    # pass (the review: a point per right answer) rather than its points only when all pass.
    partial_credit: bool = False

    @property
    def course_notebook(self) -> Path:
        return ROOT / "course" / COURSE_NOTEBOOKS[self.assignment]

    @property
    def canary(self) -> str:
        """A string the hidden suite carries so that tests can prove it never reaches a student."""
        return f"DSP-CANARY-{self.name.upper()}-{CANARY_SUFFIX}"

    @property
    def hidden_suite(self) -> Path:
        return HIDDEN / f"test_{self.name}.py"

    @property
    def source_notebook(self) -> Path:
        return SOLUTIONS / self.assignment / f"{self.name}.ipynb"

    @property
    def reference_code(self) -> str:
        """The reference answer: the source notebook's answer cells (one, except in the review's
        notebook, which has one per question), in order, without nbgrader's markers."""
        notebook = json.loads(self.source_notebook.read_text(encoding="utf-8"))
        answers = [c for c in notebook["cells"] if c.get("cell_type") == "code" and is_answer_cell(c)]
        lines = [line for cell in answers for line in cell_source(cell).splitlines()]
        return "\n".join(line for line in lines
                         if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")) + "\n"

    @property
    def release_notebook(self) -> Path:
        return RELEASE / self.assignment / f"{self.name}.ipynb"

    @property
    def mutants(self) -> list[Mutant]:
        """Known bugs, each a named patch of the reference (or of an alternative design): see
        autograder/mutation.py and autograder/mutants/<exercise>.toml."""
        from .mutation import load_mutants
        return sorted(load_mutants(self.name), key=lambda mutant: mutant.name)

    @property
    def alternatives(self) -> list[Path]:
        """Correct implementations in other styles than the reference: each must get full marks."""
        return sorted((ALTERNATIVES / self.name).glob("*.py"))


EXERCISES: dict[str, Exercise] = {
    exercise.name: exercise
    for exercise in [
        Exercise(
            name="circuit_breaker",
            assignment="resilience",
            section="Circuit breaker",
            required_names=("CircuitBreaker", "CircuitOpenError"),
            parts={
                "closed": "closed state: calls run, only consecutive counted failures open it",
                "open": "open state: fail fast until the recovery timeout, then half-open",
                "half_open": "half-open: limited trials, close on success, reopen on failure",
                "model": "any sequence of calls behaves like the contract (property-based)",
                "threads": "thread safety: correct under many threads at once",
            },
        ),
        Exercise(
            name="retry",
            assignment="resilience",
            section="Retry with backoff and jitter",
            required_names=("backoff_delay", "full_jitter", "equal_jitter", "decorrelated_jitter",
                            "retry_with_backoff"),
            parts={
                "delays": "backoff_delay: fixed, linear and exponential delays, capped",
                "jitter": "full, equal and decorrelated jitter: ranges and averages",
                "attempts": "retry_with_backoff: how many calls, what it returns or raises",
                "sleeps": "retry_with_backoff: what it sleeps between attempts",
            },
        ),
        Exercise(
            name="bulkhead",
            assignment="resilience",
            section="Bulkhead",
            required_names=("Bulkhead", "BulkheadFullError"),
            parts={
                "limits": "at most max_concurrent calls inside; extra calls refused at once",
                "waiting": "max_wait: wait for a slot, give up after max_wait",
                "errors": "a call that raises frees its slot",
                "threads": "thread safety: the limit holds under many threads at once",
            },
        ),
        Exercise(
            name="timeout",
            assignment="resilience",
            section="Timeouts",
            required_names=("Deadline", "read_response"),
            parts={
                "deadline": "Deadline: remaining time, expiry and check() on an injected clock",
                "reading": "read_response: reads a real socket to EOF, whole and in order",
                "limits": "read_response: the read timeout and the total deadline each stop it",
            },
        ),
        Exercise(
            name="consistent_hashing",
            assignment="scaling",
            section="Consistent hashing",
            required_names=("ConsistentHashRing",),
            parts={
                "placement": "placement: virtual points, the first point clockwise, wrap-around, "
                             "the same in every process",
                "membership": "add_node and remove_node: errors, only the new node's keys move, "
                              "removal restores the old mapping",
                "replicas": "get_nodes: distinct nodes in ring order, fewer when the ring is small",
                "scale": "balance improves with virtual nodes; lookups cost O(log points)",
            },
        ),
        Exercise(
            name="sharding",
            assignment="scaling",
            section="Sharding",
            required_names=("shard_of", "ShardedStore"),
            parts={
                "shard_of": "shard_of: in range, the same in every process, close to uniform",
                "store": "ShardedStore: put, get, delete, shard_sizes and a custom router",
                "query": "query: scatter-gather sees every shard",
                "reshard": "reshard: moves exactly the keys whose shard changed and loses none",
            },
        ),
        Exercise(
            name="read_replicas",
            assignment="scaling",
            section="Read replicas",
            required_names=("ReplicatedStore",),
            parts={
                "replication": "write positions and replica_position: a write is applied once "
                               "replication_lag has passed (>=)",
                "reads": "read: the value as of what the serving replica has applied, "
                         "else the primary",
                "spreading": "reads spread in turn over caught-up replicas; reads_served counts them",
                "sessions": "session(): a session always reads its own writes",
            },
        ),
        Exercise(
            name="saga",
            assignment="data",
            section="Saga",
            required_names=("SagaStep", "SagaFailed", "SagaOrchestrator"),
            parts={
                "success": "every action succeeds: actions in order, the context returned, .log",
                "compensation": "a failed action: completed steps compensated once, in reverse "
                                "order; SagaFailed says what happened",
                "retries": "a failing compensation: attempted 1 + compensation_retries times, "
                           "then unwinding stops",
            },
        ),
        Exercise(
            name="event_sourcing",
            assignment="data",
            section="Event sourcing",
            required_names=("Event", "ConcurrencyError", "EventStore", "Account"),
            parts={
                "append": "append and read: versions, expected_version, atomic appends",
                "concurrency": "two writers at the same expected version: exactly one wins",
                "global_order": "read_all(after): every stream's events in commit order",
                "durability": "events survive closing and reopening the file",
                "accounts": "Account: open, deposit, withdraw, overdrafts, replay and as_of",
            },
        ),
        Exercise(
            name="cqrs",
            assignment="data",
            section="CQRS",
            required_names=("BalanceProjection",),
            parts={
                "catch_up": "catch_up applies each new event once and returns how many",
                "idempotent": "repeated and interrupted catch-ups never double-count",
                "queries": "balance, top_accounts and .position",
            },
        ),
        Exercise(
            name="outbox",
            assignment="data",
            section="Outbox",
            required_names=("OrderService", "OutboxRelay", "DedupConsumer"),
            parts={
                "atomic_write": "place_order: the order and its message in one transaction",
                "relay": "run_once: insertion order, marked only after publish, stops at the "
                         "first failure",
                "crashes": "a crash at any step of the relay loses no message",
                "dedup": "DedupConsumer passes each id to handle once",
            },
        ),
        Exercise(
            name="cache_aside",
            assignment="caching",
            section="Cache-aside",
            required_names=("TTLCache", "CacheAside"),
            parts={
                "expiry": "TTLCache: get, set and delete; an entry is gone once its age reaches "
                          "its ttl (>=), per-entry ttl, hits and misses",
                "eviction": "beyond capacity: expired entries first, then the least recently "
                            "used; len counts live entries",
                "loading": "CacheAside: a hit, or load then store; invalidate",
                "single_flight": "concurrent misses on one key load once; a failing load "
                                 "reaches every waiter and stores nothing",
            },
        ),
        Exercise(
            name="write_policies",
            assignment="caching",
            section="Write policies",
            required_names=("WriteThroughCache", "WriteBehindCache"),
            parts={
                "write_through": "WriteThroughCache: the store first, the cache only if that "
                                 "succeeded; reads from the cache, else the store",
                "coalescing": "WriteBehindCache: set marks dirty; flush writes each dirty key's "
                              "latest value once and returns the count",
                "failures": "a failing store: the error propagates; written keys clean, the "
                            "rest dirty with their latest values",
                "durability": "no dirty entry evicted before it is written; close loses nothing",
            },
        ),
        Exercise(
            name="idempotency",
            assignment="idempotency",
            section="Idempotency keys",
            required_names=("IdempotencyMismatch", "RequestInProgress", "IdempotentHandler"),
            parts={
                "replay": "a repeat returns the stored response without running the handler",
                "conflicts": "a different request under the same key, or a call while the "
                             "first is running, is refused",
                "failures": "a handler that raises stores nothing, so a retry runs it again",
                "expiry": "a key expires ttl seconds after it was stored",
            },
        ),
        Exercise(
            name="service_discovery",
            assignment="discovery",
            section="Service discovery",
            required_names=("ServiceRegistry", "RoundRobinBalancer", "LeastConnectionsBalancer"),
            parts={
                "registry": "ServiceRegistry: register, heartbeat, deregister; an instance is "
                            "listed while clock() - last_seen < ttl, in registration order; "
                            "KeyError for an unknown heartbeat",
                "round_robin": "RoundRobinBalancer: picks only healthy instances, each in turn, "
                               "also as the healthy set changes; LookupError when none is healthy",
                "least_connections": "LeastConnectionsBalancer: the least loaded healthy instance "
                                     "(picks minus releases, ties in registration order); "
                                     "LookupError when none is healthy",
            },
        ),
        Exercise(
            name="pubsub",
            assignment="communication",
            section="Publish-subscribe",
            required_names=("Broker",),
            parts={
                "matching": "patterns: `*` matches exactly one segment, `#` any number (zero "
                            "included), in any position",
                "delivery": "publish delivers to every matching subscriber, in publish order, "
                            "and returns how many it delivered to",
                "isolation": "a callback that raises does not stop the others; its exception "
                             "is appended to broker.errors",
                "subscriptions": "unsubscribe stops delivery, also from inside a callback; "
                                 "each subscribe is its own subscription",
            },
        ),
        Exercise(
            name="message_queue",
            assignment="communication",
            section="Message queue",
            required_names=("WorkQueue",),
            parts={
                "ordering": "send and receive: fresh messages in send order, at most max_messages, "
                            "ids and bodies; len counts messages in flight",
                "visibility": "a received message is invisible until acked or until its visibility "
                              "timeout has passed (>=), then delivered again with deliveries counted",
                "dead_letters": "after max_deliveries deliveries and that last timeout, a message "
                                "moves to dead_letters and leaves len",
                "threads": "real threads: no message goes to two consumers at once, none is lost",
            },
        ),
        Exercise(
            name="request_response",
            assignment="communication",
            section="Request-response",
            required_names=("RpcError", "RpcClient"),
            parts={
                "matching": "connect and close; each reply reaches its own caller: ids unique per "
                            "connection, replies out of order, many calls at once on one connection",
                "timeouts": "a call past its timeout raises TimeoutError, and its late reply is "
                            "dropped without disturbing other calls",
                "errors": "an error reply raises RpcError with the server's message, the "
                          "connection stays usable, and a reply that matches no call is ignored",
            },
        ),
    ]
}


def _review() -> Exercise:
    """The interview review: a question per answer cell, a part per family, read from the bank."""
    from .review.bank import families_of, graded, load, part_description

    asked = graded(load())
    return Exercise(
        name="review",
        assignment="review",
        section="The interview review",
        replay_hint=False,
        partial_credit=True,
        required_names=tuple(question.variable for question in asked),
        parts={family: part_description(family, [q for q in asked if q.family == family])
               for family in families_of(asked)},
    )


EXERCISES["review"] = _review()


class UnknownExercise(KeyError):
    def __str__(self) -> str:
        return (f"unknown exercise {self.args[0]!r}; known exercises: "
                + ", ".join(sorted(EXERCISES)))


def get_exercise(name: str) -> Exercise:
    try:
        return EXERCISES[name]
    except KeyError:
        raise UnknownExercise(name) from None
