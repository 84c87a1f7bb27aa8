"""Benchmark: how long the breaker explorer takes to replay, and to redraw, with the reference class.

    .venv/bin/python benchmarks/breaker_replay.py [--before REV] [--rounds 9]

Issue 13 asks a widget to redraw within 200 ms of a control change. Handed a class
(``breaker_explorer(CircuitBreaker)``, the notebook's "bring your own" cell), every redraw runs the
model and replays its ~1,300 scripted calls through a fresh instance (``compare_breaker``). This script
times, at the notebook's settings (the explorer's defaults, seed 7) and with the exercise's reference
``CircuitBreaker`` read through the registry as the grader reads it:

  replay   one ``compare_breaker(reference, ...)``: the model, the replay and the comparison;
  redraw   moving the explorer's "recovery timeout (s)" slider back to 5 s (the notebook's setting)
           from 5.5 s: everything the kernel does on a control change, replay, traces and summary
           (the trip to the browser and its drawing are not in it; there is no browser here).

"before" is ``dspatterns/resilience/breaker_replay.py`` as it was at ``--before`` (default: the
commit before the worker pool, one thread per call), loaded from git next to the current module; the
explorer is pointed at it by swapping the ``compare_breaker`` it calls. Each round times both,
taking turns (who goes first alternates from round to round), so a machine that slows down during
the run tilts neither side; the figures are medians over the rounds. Before timing, the script checks
that both give the same comparison (every call, every reading, every difference and sentence) for the
reference and for two of the exercise's mutants, so the speed is not bought with a different check.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ipywidgets as widgets  # noqa: E402

from autograder.exercises import EXERCISES  # noqa: E402
from autograder.mutation import find_mutant  # noqa: E402
from dspatterns.resilience import breaker_replay  # noqa: E402
from dspatterns.resilience.breaker_simulation import FailureProfile  # noqa: E402
from dspatterns.widgets import breaker_timeline  # noqa: E402

BEFORE = "ccc5542"  # main just before the worker pool: a thread and three Events per call
MODULE = "dspatterns/resilience/breaker_replay.py"
# The explorer's defaults, which the notebook's cell keeps: breaker_explorer(CircuitBreaker).
NOTEBOOK = dict(seed=7, duration=60.0, rate=20.0, failure_threshold=5, recovery_timeout=5.0, half_open_max_calls=1,
                failure_profile=FailureProfile.outage(15.0, 37.0, failure_rate=0.9, baseline=0.02))
TIMEOUT_SLIDER = "recovery timeout (s)"


def class_from(code: str):
    namespace: dict = {"__name__": "breaker_under_benchmark"}
    exec(compile(code, "breaker", "exec"), namespace)  # noqa: S102 - the project's own reference and mutants
    return namespace["CircuitBreaker"]


def module_at(revision: str):
    """``breaker_replay`` as it was at ``revision``, importable beside today's."""
    source = subprocess.run(["git", "show", f"{revision}:{MODULE}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    spec = importlib.util.spec_from_loader(f"breaker_replay_at_{revision}", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    exec(compile(source, f"{revision}:{MODULE}", "exec"), module.__dict__)  # noqa: S102
    return module


def what_it_checks(comparison) -> tuple:
    """Everything a comparison says, in plain values (the two modules' dataclasses are different classes)."""
    moments = tuple((m.time, m.number, m.kind, m.model_state, m.your_state, m.model_did, m.you_did, m.text)
                    for m in comparison.differences)
    return comparison.model, comparison.yours, moments, comparison.compared, comparison.problem, comparison.text


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def explorer_redraw(reference, compare):
    """A function that redraws an explorer (built with ``compare``) at the notebook's settings, once per call."""
    original = breaker_timeline.compare_breaker
    breaker_timeline.compare_breaker = compare
    try:
        explorer = breaker_timeline.breaker_explorer(reference)
    finally:
        breaker_timeline.compare_breaker = original
    controls = explorer.children[0].children
    slider = next(w for w in controls if isinstance(w, widgets.FloatSlider) and w.description == TIMEOUT_SLIDER)

    def redraw_back_to_the_notebook() -> float:
        breaker_timeline.compare_breaker = compare
        try:
            slider.value = NOTEBOOK["recovery_timeout"] + 0.5  # untimed: away from the notebook's setting
            return timed(lambda: setattr(slider, "value", NOTEBOOK["recovery_timeout"]))
        finally:
            breaker_timeline.compare_breaker = original

    return redraw_back_to_the_notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="git revision of the old breaker_replay.py")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    reference = class_from(EXERCISES["circuit_breaker"].reference_code)
    old = module_at(args.before)
    sides = {"before": old.compare_breaker, "after": breaker_replay.compare_breaker}

    checked = {"reference": reference}
    for name in ("threshold_strictly_greater", "unlimited_trials"):
        checked[name] = class_from(find_mutant("circuit_breaker", name).code)
    for label, breaker_class in checked.items():
        old_says, new_says = (what_it_checks(compare(breaker_class, **NOTEBOOK)) for compare in sides.values())
        if old_says != new_says:
            print(f"the two replays disagree on {label}: {old_says[-1]!r} against {new_says[-1]!r}")
            return 1
        print(f"same comparison before and after, {label}: {new_says[-1]}")

    redraws = {side: explorer_redraw(reference, compare) for side, compare in sides.items()}
    replay_times: dict[str, list[float]] = {side: [] for side in sides}
    redraw_times: dict[str, list[float]] = {side: [] for side in sides}
    for round_number in range(args.rounds):
        order = list(sides) if round_number % 2 == 0 else list(sides)[::-1]
        for side in order:
            replay_times[side].append(timed(lambda: sides[side](reference, **NOTEBOOK)))
        for side in order:
            redraw_times[side].append(redraws[side]())

    print(f"\nreference CircuitBreaker at the notebook's settings, {args.rounds} rounds, "
          f"before = {MODULE} at {args.before}, Python {sys.version.split()[0]}")
    print(f"  {'':<34}{'before':>10}{'after':>10}{'before/after':>14}   (median ms; min-max)")
    for title, times in (("replay (compare_breaker)", replay_times), ("explorer redraw (slider moved)", redraw_times)):
        medians = {side: statistics.median(values) for side, values in times.items()}
        spans = "  ".join(f"{side} {min(v) * 1e3:.0f}-{max(v) * 1e3:.0f}" for side, v in times.items())
        print(f"  {title:<34}{medians['before'] * 1e3:>10.0f}{medians['after'] * 1e3:>10.0f}"
              f"{medians['before'] / medians['after']:>14.1f}   ({spans})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
