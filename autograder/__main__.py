"""Command line: ``python -m autograder check EXERCISE --impl PATH`` (and, internally, ``judge``)."""
from __future__ import annotations

import argparse
import sys

from .exercises import EXERCISES, UnknownExercise, get_exercise
from .judge import JudgeReport, judge
from .report import format_check


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Grade distributed-systems pattern exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run an exercise's hidden suite against a .py or .ipynb")
    check.add_argument("exercise", help="one of: " + ", ".join(sorted(EXERCISES)))
    check.add_argument("--impl", required=True, help="the student's .py file or notebook")
    check.add_argument("--part", action="append", help="only this part (repeatable)")
    judge_cmd = commands.add_parser("judge", help="(internal) write a JSON report")
    judge_cmd.add_argument("exercise")
    judge_cmd.add_argument("--impl", required=True)
    judge_cmd.add_argument("--part", action="append")
    judge_cmd.add_argument("--json", required=True, help="where to write the report")
    args = parser.parse_args(argv)

    try:
        get_exercise(args.exercise)
    except UnknownExercise as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parts = set(args.part) if args.part else None
    report = judge(args.exercise, args.impl, parts)
    if args.command == "judge":
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(report.to_json())
        return 0
    print(format_check(report))
    return 0 if report.results and report.failed == 0 and not report.fatal else 1


if __name__ == "__main__":
    sys.exit(main())
