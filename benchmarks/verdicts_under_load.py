"""Check: a hidden suite's verdicts do not depend on how busy the machine is.

    .venv/bin/python benchmarks/verdicts_under_load.py EXERCISE... [--quick] [--parts P,Q] [--json FILE]

For each exercise it grades the reference solution, every known-buggy mutant and every correct
alternative three times:

  idle      one after another, nothing else of ours running;
  loaded    the same, while two busy-loop processes keep both cores busy;
  parallel  two grader processes at once, each grading half of the list.

and prints every (implementation, hidden test) whose pass/fail differs between the idle run and
either other run. Exit status 1 if any verdict differs (or a grading run broke), 0 otherwise.

``--quick`` (what CI runs) grades only the parts whose verdicts wait on real time, threads or
sockets (``QUICK_PARTS``; an exercise with none is skipped), and only the reference, the
alternatives and the mutants in ``QUICK_MUTANTS``: those whose catch in those parts hangs on a real
timeout, a real ``max_wait`` or threads racing. The load-sensitive cases are a correct
implementation failing, or a caught bug slipping through. Each implementation costs a sandbox
start (about 2 s) and its slowest failures (a call cut off at the sandbox's 10 s limit), which is
what the short list keeps within CI's budget. ``--max-mutants N`` grades only the first N mutants.

"Idle" on a shared machine is only as idle as the machine: the check looks for tests whose verdict
moves with load, which a busy baseline makes harder to hide, not easier.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.exercises import EXERCISES, get_exercise  # noqa: E402

# The parts of each suite whose tests use real time, real threads or real sockets. The other
# parts run on fake clocks and recorded sleeps, so load cannot move them.
REAL_TIME_PARTS: dict[str, set[str]] = {
    "circuit_breaker": {"threads", "half_open"},  # half_open: one test holds a trial in a gate
    "bulkhead": {"limits", "waiting", "errors", "threads"},
    "timeout": {"reading", "limits"},
    "retry": set(),
    "consistent_hashing": {"scale"},  # lookup cost: a ratio of timings taken in one run
    "sharding": set(),
    "read_replicas": set(),
    "saga": set(),
    "event_sourcing": {"concurrency"},  # two real threads race on one SQLite file
    "cqrs": set(),
    "outbox": set(),
    "cache_aside": {"single_flight"},  # real threads miss one key at once
    "write_policies": set(),
    "idempotency": {"conflicts"},  # a real thread holds the first call inside the handler
    "service_discovery": set(),  # a fake clock and batched picks; the contract asks for no threads
    "pubsub": set(),  # synchronous delivery on one thread; no clock, no sockets
    "message_queue": {"threads"},  # real threads send, receive and ack on one queue at once
    # A real server on a real socket in every part; timeouts waits 0.25-0.3 s of real time.
    "request_response": {"matching", "timeouts", "errors"},
    "review": set(),  # plain values compared with the answer key; no clock, no threads
}
# The subset --quick grades: the parts whose outcomes wait on a real timeout, a real max_wait or
# threads racing (bulkhead's limits/errors tests hold calls in gates confirmed entered, and timeout's
# reading tests expect no limit to fire).
QUICK_PARTS: dict[str, set[str]] = {
    "circuit_breaker": {"threads", "half_open"},
    "bulkhead": {"waiting", "threads"},
    "timeout": {"limits"},
    "retry": set(),
    "consistent_hashing": {"scale"},
    "sharding": set(),
    "read_replicas": set(),
    "saga": set(),
    "event_sourcing": {"concurrency"},  # two real threads race on one SQLite file
    "cqrs": set(),
    "outbox": set(),
    "cache_aside": {"single_flight"},
    "write_policies": set(),
    "idempotency": {"conflicts"},
    "service_discovery": set(),
    "pubsub": set(),
    "message_queue": {"threads"},
    # matching: held replies released once arrived, a bound on arrivals and the server's max_wait;
    # timeouts: real 0.25-0.3 s timeouts racing held replies.
    "request_response": {"matching", "timeouts"},
    "review": set(),
}
# The mutants --quick grades: caught in QUICK_PARTS by tests that wait on real time or threads.
QUICK_MUTANTS: dict[str, tuple[str, ...]] = {
    "circuit_breaker": ("racy_failure_count", "unlimited_trials", "unrelated_error_leaks_trial_slot"),
    "bulkhead": ("never_waits", "zero_wait_blocks_forever", "if_instead_of_while"),
    "timeout": ("swallows_timeout", "total_checked_between_reads_only", "total_timeout_only"),
    "retry": (),
    "consistent_hashing": ("linear_scan_lookup", "replicas_rotate_the_ring"),
    "sharding": (),
    "read_replicas": (),
    "saga": (),
    "event_sourcing": ("version_check_outside_transaction",),
    "cqrs": (),
    "outbox": (),
    "cache_aside": (),
    "write_policies": (),
    "idempotency": (),
    "service_discovery": (),
    "pubsub": (),
    "message_queue": ("racy_receive",),
    # Caught by a real timeout or max_wait, or (the split write) by a socket's buffer filling.
    "request_response": ("timeout_ignored", "late_reply_kills_the_reader", "lock_held_until_the_reply",
                         "newline_written_apart_without_lock"),
}


@dataclass(frozen=True)
class Impl:
    name: str  # "reference", "mutant:<name>" or "alternative:<name>"
    code: str


def implementations(exercise_name: str) -> list[Impl]:
    exercise = get_exercise(exercise_name)
    impls = [Impl("reference", exercise.reference_code)]
    impls += [Impl(f"mutant:{mutant.name}", mutant.code) for mutant in exercise.mutants]
    impls += [Impl(f"alternative:{path.stem}", path.read_text(encoding="utf-8"))
              for path in exercise.alternatives]
    return impls


Verdicts = dict[str, dict[str, bool]]  # implementation -> hidden test id -> passed


def grade(exercise_name: str, impls: list[Impl], parts: set[str] | None) -> tuple[Verdicts, list[str]]:
    """Judge each implementation; returns verdicts and the problems (a grading run that broke)."""
    from autograder.judge import judge_cells  # imported here: worker processes import it fresh

    verdicts: Verdicts = {}
    problems = []
    for impl in impls:
        report = judge_cells(exercise_name, [{"label": impl.name, "source": impl.code}], parts)
        if report.grader_error:
            problems.append(f"{exercise_name} {impl.name}: grader error: {report.fatal}")
        verdicts[impl.name] = {f"{r.part}::{r.test}": r.passed for r in report.results}
    return verdicts, problems


class BusyCores:
    """Processes spinning on the CPU (one per core to keep busy) for as long as the ``with`` block
    lasts; only these processes are stopped when it ends."""

    def __init__(self, n: int = 2):
        self.n = n
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "BusyCores":
        self.processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                          for _ in range(self.n)]
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(10)


def grade_in_parallel(exercise_name: str, impls: list[Impl], parts) -> tuple[Verdicts, list[str]]:
    """Two grader processes at once (this script with --grade-worker), each grading every other
    implementation."""
    halves = [impls[0::2], impls[1::2]]
    workers = []
    for half in halves:
        if not half:
            continue
        command = [sys.executable, str(Path(__file__).resolve()), "--grade-worker", exercise_name,
                   "--impls", json.dumps([impl.name for impl in half])]
        if parts:
            command += ["--parts", ",".join(sorted(parts))]
        workers.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    verdicts: Verdicts = {}
    problems: list[str] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=3600)
        lines = out.strip().splitlines()
        if worker.returncode != 0 or not lines:
            problems.append(f"{exercise_name}: a parallel grader exited {worker.returncode}")
            continue
        got = json.loads(lines[-1])
        verdicts.update(got["verdicts"])
        problems += got["problems"]
    return verdicts, problems


def grade_worker(exercise_name: str, names: list[str], parts) -> None:
    """One of the parallel graders: grade the named implementations, print one JSON line."""
    impls = [impl for impl in implementations(exercise_name) if impl.name in names]
    verdicts, problems = grade(exercise_name, impls, parts)
    sys.stdout.write(json.dumps({"verdicts": verdicts, "problems": problems}) + "\n")


def differences(idle: Verdicts, other: Verdicts, condition: str) -> list[tuple[str, str, str, str]]:
    """(implementation, test, idle verdict, verdict under ``condition``) for every mismatch; an
    implementation graded in one run and not the other counts as every test missing."""
    word = {True: "pass", False: "FAIL", None: "missing"}
    found = []
    for impl in sorted(set(idle) | set(other)):
        base, tests = idle.get(impl, {}), other.get(impl, {})
        for test in sorted(set(base) | set(tests)):
            if base.get(test) != tests.get(test):
                found.append((impl, test, word[base.get(test)],
                              f"{condition}: {word[tests.get(test)]}"))
    return found


@dataclass
class ExerciseResult:
    exercise: str
    parts: set[str] | None
    graded: int
    loaded_graded: int
    tests: int
    diffs: list[tuple[str, str, str, str]]
    problems: list[str]
    survivors: list[str]  # mutants the idle run did not catch (in the parts graded)
    failing_correct: list[str]  # reference / alternatives that failed a test idle
    seconds: dict[str, float]

    @property
    def ok(self) -> bool:
        return not self.diffs and not self.problems


def check_exercise(exercise_name: str, quick: bool = False, parts: set[str] | None = None,
                   log=print, max_mutants: int | None = None) -> ExerciseResult | None:
    if quick and parts is None:
        parts = QUICK_PARTS.get(exercise_name, set())
        if not parts:
            log(f"{exercise_name}: no part uses real time, threads or sockets; skipped (--quick)")
            return None
    impls = implementations(exercise_name)
    problems: list[str] = []
    if quick:
        wanted = QUICK_MUTANTS.get(exercise_name, ())
        have = {i.name for i in impls}
        problems += [f"{exercise_name}: QUICK_MUTANTS names mutant {m!r}, which the registry lacks"
                     for m in wanted if f"mutant:{m}" not in have]
        impls = [i for i in impls if not i.name.startswith("mutant:")
                 or i.name.removeprefix("mutant:") in wanted]
    if max_mutants is not None:
        mutants = [i.name for i in impls if i.name.startswith("mutant:")][:max_mutants]
        impls = [i for i in impls if not i.name.startswith("mutant:") or i.name in mutants]
    seconds = {}
    start = time.monotonic()
    idle, broke = grade(exercise_name, impls, parts)
    problems += broke
    seconds["idle"] = time.monotonic() - start

    survivors = [i.name for i in impls if i.name.startswith("mutant:") and idle[i.name]
                 and all(idle[i.name].values())]
    failing_correct = [f"{i.name} {t}" for i in impls if not i.name.startswith("mutant:")
                       for t, ok in idle[i.name].items() if not ok]
    under_load = impls
    start = time.monotonic()
    with BusyCores(2):
        loaded, broke = grade(exercise_name, under_load, parts)
    seconds["loaded"] = time.monotonic() - start
    problems += broke
    start = time.monotonic()
    parallel, broke = grade_in_parallel(exercise_name, under_load, parts)
    seconds["parallel"] = time.monotonic() - start
    problems += broke

    diffs = differences(idle, loaded, "loaded") + differences(idle, parallel, "parallel")
    tests = len({t for v in idle.values() for t in v})
    return ExerciseResult(exercise_name, parts, len(impls), len(under_load), tests, diffs,
                          problems, survivors, failing_correct, seconds)


def print_result(result: ExerciseResult, out=sys.stdout) -> None:
    parts = "all parts" if result.parts is None else "parts " + ", ".join(sorted(result.parts))
    times = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
    print(f"\n== {result.exercise} ({parts}): {result.graded} implementations idle, "
          f"{result.loaded_graded} under load, {result.tests} hidden tests; {times}", file=out)
    if result.diffs:
        width = max(len(d[0]) for d in result.diffs)
        test_width = max(len(d[1]) for d in result.diffs)
        print(f"  {'implementation':<{width}}  {'hidden test':<{test_width}}  idle  other run", file=out)
        for impl, test, base, other in result.diffs:
            print(f"  {impl:<{width}}  {test:<{test_width}}  {base:<4}  {other}", file=out)
    else:
        print("  no verdict differs between idle, loaded and parallel runs", file=out)
    for problem in result.problems:
        print(f"  PROBLEM {problem}", file=out)
    if result.survivors:
        print(f"  note: mutants no test caught (idle): {', '.join(result.survivors)}", file=out)
    if result.failing_correct:
        print(f"  note: correct implementations failing (idle): {'; '.join(result.failing_correct)}",
              file=out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--grade-worker"]:
        worker = argparse.ArgumentParser()
        worker.add_argument("--grade-worker", dest="exercise")
        worker.add_argument("--impls", type=json.loads)
        worker.add_argument("--parts")
        args = worker.parse_args(argv)
        grade_worker(args.exercise, args.impls, set(args.parts.split(",")) if args.parts else None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="+", metavar="EXERCISE", choices=sorted(EXERCISES))
    parser.add_argument("--quick", action="store_true",
                        help="only the parts that use real time, threads or sockets (CI)")
    parser.add_argument("--parts", help="comma-separated parts to grade (default: all, or the "
                                        "real-time parts with --quick)")
    parser.add_argument("--max-mutants", type=int, help="grade only the first N mutants "
                                                        "(default: all, or QUICK_MUTANTS with --quick)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(",")) if args.parts else None
    results = []
    for name in args.exercises:
        result = check_exercise(name, quick=args.quick, parts=parts, max_mutants=args.max_mutants)
        if result is not None:
            print_result(result)
            sys.stdout.flush()
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps([
            {"exercise": r.exercise, "parts": sorted(r.parts) if r.parts else None,
             "differences": r.diffs, "problems": r.problems, "survivors": r.survivors,
             "failing_correct": r.failing_correct, "seconds": r.seconds} for r in results],
            indent=1))
    bad = [r.exercise for r in results if not r.ok]
    print("\nverdicts under load: " + (f"DIFFER for {', '.join(bad)}" if bad else "identical"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
