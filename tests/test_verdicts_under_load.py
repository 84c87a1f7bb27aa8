"""Hidden verdicts must not depend on load: the suites that use real time, threads or sockets grade
the same idle, with both cores busy, and with two graders at once (benchmarks/verdicts_under_load.py).

The slow test runs the check's ``--quick`` form: only the parts that use real time, and under load
only the implementations whose verdicts load could flip (reference, alternatives, and the mutants the
idle run catches there). The fast tests check the check itself.
"""
from __future__ import annotations

import importlib.util
import sys

import pytest

from autograder.exercises import EXERCISES, ROOT


def load_check():
    spec = importlib.util.spec_from_file_location("verdicts_under_load",
                                                  ROOT / "benchmarks" / "verdicts_under_load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check = load_check()


def test_real_time_parts_are_parts_of_their_exercise():
    for name, parts in [*check.REAL_TIME_PARTS.items(), *check.QUICK_PARTS.items()]:
        assert name in EXERCISES, name
        assert parts <= set(EXERCISES[name].parts), f"{name}: {parts - set(EXERCISES[name].parts)}"
    assert set(check.QUICK_PARTS) == set(check.REAL_TIME_PARTS) == set(EXERCISES)


def test_implementations_are_reference_mutants_and_alternatives():
    impls = check.implementations("bulkhead")
    names = [impl.name for impl in impls]
    assert names[0] == "reference"
    assert sum(n.startswith("mutant:") for n in names) == len(EXERCISES["bulkhead"].mutants)
    assert sum(n.startswith("alternative:") for n in names) == len(EXERCISES["bulkhead"].alternatives)
    assert all(impl.code.strip() for impl in impls)


def test_differences_name_the_implementation_and_test():
    idle = {"reference": {"p::test_a": True, "p::test_b": True}, "mutant:x": {"p::test_a": False}}
    loaded = {"reference": {"p::test_a": True, "p::test_b": False}, "mutant:x": {"p::test_a": False}}
    assert check.differences(idle, loaded, "loaded") == [("reference", "p::test_b", "pass",
                                                          "loaded: FAIL")]
    assert check.differences(idle, idle, "parallel") == []
    gone = check.differences(idle, {"reference": idle["reference"]}, "parallel")
    assert gone == [("mutant:x", "p::test_a", "FAIL", "parallel: missing")]


def test_quick_mutants_are_registered_mutants():
    for name, wanted in check.QUICK_MUTANTS.items():
        have = {impl.name for impl in check.implementations(name)}
        assert {f"mutant:{m}" for m in wanted} <= have, f"{name}: {wanted}"


def test_busy_cores_are_stopped_when_the_block_ends():
    with check.BusyCores(2) as busy:
        assert len(busy.processes) == 2 and all(p.poll() is None for p in busy.processes)
    assert all(p.poll() is not None for p in busy.processes)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bulkhead", "timeout", "circuit_breaker", "consistent_hashing",
                                  "event_sourcing"])
def test_real_time_verdicts_do_not_move_under_load(name):
    lines = []
    result = check.check_exercise(name, quick=True, log=lines.append)
    assert result is not None
    assert not result.problems, result.problems
    assert not result.failing_correct, f"correct implementations failing idle: {result.failing_correct}"
    assert not result.diffs, "verdicts that moved with load:\n" + "\n".join(
        f"  {impl} {test}: idle {base}, {other}" for impl, test, base, other in result.diffs)
