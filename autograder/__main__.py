"""Command line: ``python -m autograder check EXERCISE [--impl PATH | --mutant NAME]`` (neither:
the reference), ``mutants EXERCISE``, ``grade``, ``export-lms``, ``flashcards``, ``review-notebook``,
``student-edition OUT``, ``site OUT`` (and, internally, ``judge``)."""
from __future__ import annotations

import argparse
import os
import sys

from .exercises import EXERCISES, UnknownExercise, get_exercise
from .judge import judge, judge_cells
from .report import format_check


UNSAFE_HELP = ("grade even where no walls can be built around student code (no bubblewrap or user "
               "namespaces): student code can then read this machine")


def write_review_files() -> int:
    from .paths import ROOT
    from .review.bank import BankError
    from .review.generate import generated_files, write_all
    try:
        written = write_all()
    except BankError as exc:
        print(f"error: the question bank: {exc}", file=sys.stderr)
        return 2
    for path in generated_files():
        print(f"{'wrote' if path in written else 'unchanged'} {path.relative_to(ROOT)}")
    if written:
        print("then: nbgrader generate_assignment review --force (for exercises/review/)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Grade distributed-systems pattern exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run an exercise's hidden suite against a .py or .ipynb")
    check.add_argument("exercise", help="one of: " + ", ".join(sorted(EXERCISES)))
    given = check.add_mutually_exclusive_group()
    given.add_argument("--impl", help="the student's .py file or notebook (default: the reference)")
    given.add_argument("--mutant", help="one of the exercise's known bugs (see `mutants EXERCISE`)")
    check.add_argument("--part", action="append", help="only this part (repeatable)")
    check.add_argument("--unsafe-no-walls", action="store_true", help=UNSAFE_HELP)
    mutants_cmd = commands.add_parser("mutants", help="list an exercise's known bugs (mutants)")
    mutants_cmd.add_argument("exercise", help="one of: " + ", ".join(sorted(EXERCISES)))
    judge_cmd = commands.add_parser("judge", help="(internal) write a JSON report")
    judge_cmd.add_argument("exercise")
    judge_cmd.add_argument("--impl", required=True)
    judge_cmd.add_argument("--part", action="append")
    judge_cmd.add_argument("--json", required=True, help="where to write the report")
    grade_cmd = commands.add_parser("grade", help="grade every collected submission of a class")
    grade_cmd.add_argument("assignment", nargs="?", help="the assignment (or --all)")
    grade_cmd.add_argument("--all", action="store_true", help="every assignment")
    grade_cmd.add_argument("--workers", type=int, default=None, help="judges at once (default: the cores divided by the CPU share of the judges, up to 6 per core)")
    grade_cmd.add_argument("--scheduler", help="a Dask scheduler address to run the judges on")
    grade_cmd.add_argument("--force", action="store_true", help="regrade submissions already graded")
    grade_cmd.add_argument("--course", default=None, help="the course folder (default: this one)")
    grade_cmd.add_argument("--unsafe-no-walls", action="store_true", help=UNSAFE_HELP)
    cards_cmd = commands.add_parser("flashcards", help="build the Anki deck of the review's practice questions")
    cards_cmd.add_argument("out", help="the .apkg file to write")
    cards_cmd.add_argument("--lang", default="en,ru", help="languages, comma-separated (default: en,ru)")
    cards_cmd.add_argument("--bank", action="append", help="a question bank file (repeatable; default: "
                           "autograder/review/questions.toml)")
    lms_cmd = commands.add_parser("export-lms", help="the gradebook's grades as Canvas and Moodle "
                                  "grade-import CSV files, through a roster of LMS ids")
    lms_cmd.add_argument("--roster", required=True, help="CSV: nbgrader_id, and name, canvas_id, "
                         "sis_user_id, sis_login_id, section, moodle_id as the LMS needs")
    lms_cmd.add_argument("--canvas", help="the Canvas gradebook-import CSV to write")
    lms_cmd.add_argument("--moodle", help="the Moodle grade-import CSV to write")
    lms_cmd.add_argument("--moodle-field", choices=["email", "username", "idnumber"],
                         default="email", help="the Moodle user field moodle_id holds (default: email)")
    lms_cmd.add_argument("--canvas-assignment", action="append", metavar="NAME=ID",
                         help="an existing Canvas assignment's id for an assignment (repeatable)")
    lms_cmd.add_argument("--course", default=None, help="the course folder (default: this one)")
    edition_cmd = commands.add_parser("student-edition", help="export what students need (course, released "
                                      "exercises, dspatterns, environment and Binder files, a README) and "
                                      "nothing else: no solutions, hidden suites or instructor state")
    edition_cmd.add_argument("out", help="the folder to write (new or empty)")
    edition_cmd.add_argument("--git", action="store_true", help="make OUT a git repository with one commit")
    edition_cmd.add_argument("--force", action="store_true", help="delete a non-empty OUT's contents first")
    commands.add_parser("review-notebook", help="write the review's source notebook, the course's "
                        "practice questions and the review's alternatives from the question bank")
    site_cmd = commands.add_parser("site", help="build the course as a static site (the notebooks run, "
                                   "their figures interactive, a contract page per assignment)")
    site_cmd.add_argument("out", help="the folder to write the site into (new, empty, or an earlier "
                          "site, which is replaced)")
    site_cmd.add_argument("--source", default=None, help="the folder holding course/ and exercises/ "
                          "(default: this repository; e.g. a student edition)")
    site_cmd.add_argument("--python", default=None, help="the interpreter the notebooks' kernel runs "
                          "(default: this one)")
    args = parser.parse_args(argv)

    if args.command == "export-lms":
        if not (args.canvas or args.moodle):
            parser.error("export-lms: give --canvas OUT.csv, --moodle OUT.csv or both")
        return run_export_lms(args)
    if args.command == "grade":
        return run_grade(args, parser)
    if args.command == "flashcards":
        from .flashcards import run as build_flashcards
        return build_flashcards(args.out, args.lang, args.bank)
    if args.command == "student-edition":
        from .student_edition import run as build_edition
        return build_edition(args.out, git=args.git, force=args.force)
    if args.command == "review-notebook":
        return write_review_files()
    if args.command == "site":
        from .site import run as build_site
        return build_site(args.out, args.source, args.python)
    try:
        get_exercise(args.exercise)
    except UnknownExercise as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "mutants":
        return list_mutants(args.exercise)
    parts = set(args.part) if args.part else None
    mutant = None
    if getattr(args, "mutant", None):
        from .mutation import StaleMutant, UnknownMutant, find_mutant
        try:
            mutant = find_mutant(args.exercise, args.mutant)
            mutant.code  # a stale patch is an error here, not a grade
        except (UnknownMutant, StaleMutant) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    no_walls = None
    if args.command == "check":
        from .sandbox.isolation import (NO_WALLS_LINE, UNSAFE_ENV, refusal_message,
                                        unsafe_allowed, walls_problem)
        if args.unsafe_no_walls:
            os.environ[UNSAFE_ENV] = "1"
        no_walls = walls_problem()
        if no_walls and not unsafe_allowed():
            print(refusal_message(no_walls), file=sys.stderr)
            return 2
    if mutant:
        print(f"{mutant.label}: {mutant.bug}")
        report = judge_cells(args.exercise, [{"label": mutant.label, "source": mutant.code}], parts)
    elif args.impl is None:
        print(f"the reference (the answer cell of {get_exercise(args.exercise).source_notebook.name})")
        report = judge_cells(args.exercise, [{"label": "reference",
                                              "source": get_exercise(args.exercise).reference_code}],
                             parts)
    else:
        report = judge(args.exercise, args.impl, parts)
    if args.command == "judge":
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(report.to_json())
        return 0
    profile = report.profile or {}
    if profile.get("wall") is not None:
        started = profile.get("sandboxes", 1)
        print(f"judged in {profile['wall']:.2f} s ({profile.get('round_trips', 0):,.0f} round trips "
              f"with the sandbox, {started} sandbox{'es' if started != 1 else ''} started)")
    print(format_check(report))
    if no_walls:
        print(NO_WALLS_LINE)
    return 0 if report.results and report.failed == 0 and not report.fatal else 1


def list_mutants(exercise: str) -> int:
    """One line per known bug: its name, then what the bug is."""
    mutants = get_exercise(exercise).mutants
    width = max((len(m.name) for m in mutants), default=0)
    for mutant in mutants:
        print(f"{mutant.name:<{width}}  {mutant.bug}")
    return 0


def run_grade(args, parser) -> int:
    from pathlib import Path

    from .classroom import assignments_with_sources, grade
    from .course import Course
    from .exercises import ROOT

    course = Course(Path(args.course).resolve() if args.course else ROOT)
    known = assignments_with_sources(course)
    if args.all == bool(args.assignment):
        parser.error("name one assignment or give --all")
    if args.assignment and args.assignment not in known:
        print(f"error: unknown assignment {args.assignment!r}; known: {', '.join(known)}",
              file=sys.stderr)
        return 2
    return grade(course, known if args.all else [args.assignment], workers=args.workers,
                 scheduler=args.scheduler, force=args.force, unsafe_no_walls=args.unsafe_no_walls)


def run_export_lms(args) -> int:
    from pathlib import Path

    from .course import Course
    from .exercises import ROOT
    from .lms_export import export

    course = Course(Path(args.course).resolve() if args.course else ROOT)
    return export(course, Path(args.roster), canvas=Path(args.canvas) if args.canvas else None,
                  moodle=Path(args.moodle) if args.moodle else None, moodle_field=args.moodle_field,
                  canvas_assignments=args.canvas_assignment)


if __name__ == "__main__":
    sys.exit(main())
