"""The first visible check a known bug fails names the rule it broke, not a later symptom.

Each row is a bug (a mutant of autograder/mutants/) whose first failure used to be a symptom (an
exception escaping the cell, or an assert about a consequence): the released notebook's cells run
with the mutant as the answer, in benchmarks/first_visible_failure.py's worker (one process per
exercise, the notebook's folder as working directory), and the first failure must be an
AssertionError in the expected check whose message holds the words that name the cause.
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.mutation import find_mutant

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "first_visible_failure.py"

CAUSES = [  # exercise, mutant, the check that fails first, words its message must hold
    ("retry", "one_attempt_too_many", "retry-attempts", "max_attempts=4 means 4 calls in all"),
    ("retry", "one_attempt_too_few", "retry-attempts", "max_attempts=3 means 3 calls in all"),
    ("retry", "wraps_final_exception", "retry-attempts", "re-raise the last attempt's own exception"),
    ("timeout", "check_raises_wrong_type", "to-deadline", "should raise TimeoutError, not RuntimeError"),
    ("timeout", "read_timeout_only", "to-limits", "total_timeout=1.0 should cut off"),
    ("consistent_hashing", "no_wrap_around", "ch-placement", "wrapping round to the first"),
    ("sharding", "query_swapped_args", "sh-query", "predicate(key, value)"),
    ("sharding", "reshard_loses_moved", "sh-reshard", "every key must stay readable"),
    ("sharding", "none_value_is_missing", "sh-store", "None is a value like any other"),
    ("sharding", "router_index_unchecked", "sh-store", "should raise ValueError, not IndexError"),
    ("event_sourcing", "versions_from_zero", "es-append", "first event is version 1"),
    ("event_sourcing", "stale_account_version", "es-accounts", "at version 2"),
    ("cqrs", "unknown_type_raises", "cq-catch-up", "a type the projection ignores"),
    ("cqrs", "balance_raises_unknown", "cq-queries", "never seen has balance 0"),
    ("outbox", "failure_propagates", "ob-relay", "stops at a failed publish"),
    ("cache_aside", "delete_of_missing_key_raises", "ca-expiry", "does nothing"),
    ("cache_aside", "failed_load_stays_in_flight", "ca-single-flight", "loads again"),
    ("idempotency", "expires_only_after_ttl", "id-expiry", "has expired (>=)"),
    ("idempotency", "failure_wrapped", "id-failures", "let that very exception propagate"),
    ("idempotency", "failure_leaves_key_running", "id-failures", "key-1 is free again"),
    ("idempotency", "duplicate_waits_for_the_first", "id-conflicts", "RequestInProgress at once"),
    ("idempotency", "in_flight_not_claimed", "id-conflicts", "ran the handler again"),
    ("idempotency", "requests_compared_by_identity", "id-replay", "an equal request (==)"),
    ("service_discovery", "unknown_service_raises", "sd-registry", "has no instances"),
    ("pubsub", "second_unsubscribe_raises", "ps-subscriptions", "a second unsubscribe() does nothing"),
    ("message_queue", "ack_of_unknown_id_raises", "mq-visibility", "does nothing"),
    ("request_response", "timeout_ignored", "rr-timeouts", "raises TimeoutError; after 5 s it still waits"),
    ("request_response", "error_raised_in_the_reader", "rr-errors", "an error reply raises RpcError"),
]


@functools.lru_cache(maxsize=None)
def first_failures(exercise: str, mutants: tuple[str, ...]) -> dict:
    """The first failure of the reference and of each mutant, from the script's worker: one process per
    exercise (the notebook's own folder as its working directory), as the script runs them."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--worker", exercise, "--only", ",".join(mutants)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    found = {row.pop("mutant"): row for row in rows}
    assert set(found) == {"(reference)", *mutants}, sorted(found)
    return found


def first_failure(exercise: str, mutant: str) -> dict:
    find_mutant(exercise, mutant)  # a renamed mutant fails here, by name
    mutants = tuple(sorted(m for e, m, _, _ in CAUSES if e == exercise) or (mutant,))
    found = dict(first_failures(exercise, tuple(sorted({*mutants, mutant})))[mutant])
    found.pop("bug", None)
    return found


def test_retry_told_attempts_first_when_max_attempts_is_read_as_retries():
    """The issue's case: a loop making the first call plus max_attempts retries is told about the number
    of calls, not first that it "did not re-raise the last attempt's own exception"."""
    found = first_failure("retry", "one_attempt_too_many")
    assert found["cell"] == "retry-attempts", found
    assert found["error"].startswith("AssertionError: ") and "attempts" in found["error"], found
    assert "calls in all" in found["error"] and "re-raise" not in found["error"], found


@pytest.mark.parametrize("exercise, mutant, check, words", CAUSES, ids=[f"{e}-{m}" for e, m, _, _ in CAUSES])
def test_the_first_failure_names_the_cause(exercise, mutant, check, words):
    found = first_failure(exercise, mutant)
    assert found.get("cell") == check and found["error"].startswith("AssertionError: "), found
    assert words in found["error"], found


@pytest.mark.parametrize("exercise", sorted({row[0] for row in CAUSES}))
def test_the_reference_passes_every_visible_check(exercise):
    mutants = tuple(sorted(m for e, m, _, _ in CAUSES if e == exercise))
    found = dict(first_failures(exercise, mutants)["(reference)"])
    assert found == {"bug": ""}, found
