"""Everything the bank generates, written by ``python -m autograder review-notebook``:

- ``solutions/review/review.ipynb``: the graded assignment's source notebook (graded questions);
- ``dspatterns/review/practice.json``: the practice questions, the only part of the bank that ships
  to students (course/08_review.ipynb's quiz reads it);
- ``autograder/alternatives/review/*.py``: the reference answers written in other accepted forms.

Tests keep each file equal to what this module makes from the bank now (``stale_files``).
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import nbformat

from ..notebook_metadata import KERNELSPEC, LANGUAGE_INFO
from ..paths import ALTERNATIVES, ROOT, SOLUTIONS
from .bank import FAMILY_TITLES, Question, families_of, graded, load, part_description, practice

SOURCE_NOTEBOOK = SOLUTIONS / "review" / "review.ipynb"
PRACTICE_FILE = ROOT / "dspatterns" / "review" / "practice.json"
ALTERNATIVES_DIR = ALTERNATIVES / "review"
METADATA = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
POINTS_PER_QUESTION = 1

INTRO = """# Interview review

*Assignment `review` · {points} points · practice with answers: [`course/08_review.ipynb`](../../course/08_review.ipynb)*

These are the questions a system-design interview asks about the course's patterns: what a pattern
is for, how it fails, when not to use it, what it trades against the alternatives, and the numbers
behind it. {count} questions in {families} families, {points_each} point each.

**How to answer.** Under each question is a cell with `raise NotImplementedError()`; replace it with
the assignment the question names:

- a **choice** question takes one letter in quotes, such as `answer_some_question = "c"` (upper or
  lower case, spaces and brackets are fine: `"C"`, `" c "`, `"(c)"`);
- a **numeric** question takes a number: an int, a float, a `Fraction`, or a string such as `"1/4"`,
  `"25%"` or `"0.25"` (all the same number; a percentage is read as a fraction). Numbers are
  compared within a small tolerance, so an answer rounded to three decimals is fine.

**How it is graded.** Each family ends with a graded cell worth one point per question. Its visible
check only tells you whether each answer has the right *form* (a letter among the choices, a
number); it cannot tell whether an answer is right. When you submit, the hidden checks grade each
question, and the cell earns a point for every answer in it that is right. After the deadline the
feedback lists every question with ✔ or ✘, and for each ✘ what you answered, the right answer and
why.
"""

OUTRO = """## Before you submit
Restart the kernel and run all cells (*Kernel → Restart Kernel and Run All Cells*): every answer
cell and graded cell should run without errors. Then submit with the Assignments tab (nbgrader)."""


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, points: int | None = None) -> dict:
    nbgrader = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
                "solution": solution, "task": False}
    if points is not None:
        nbgrader["points"] = points
    return {"nbgrader": nbgrader}


def _markdown(grade_id: str, source: str) -> dict:
    return nbformat.v4.new_markdown_cell(source, id=grade_id, metadata=_meta(grade_id))


def _code(grade_id: str, source: str, **meta) -> dict:
    cell = nbformat.v4.new_code_cell(source, id=grade_id, metadata=_meta(grade_id, **meta))
    return cell


def answer_literal(question: Question) -> str:
    """The reference answer as Python source: a quoted letter, or the number."""
    if question.kind == "choice":
        return json.dumps(question.answer)
    number = float(question.answer)
    return repr(int(number)) if number.is_integer() else repr(number)


def how_to_answer(question: Question) -> str:
    if question.kind == "choice":
        letters = ", ".join(f'`"{letter}"`' for letter in question.letters)
        return f"Set `{question.variable}` to one letter: {letters}."
    return f"Set `{question.variable}` to a number."


def question_markdown(number: int, question: Question) -> str:
    text = question.text["en"]
    lines = [f"### Question {number} · {POINTS_PER_QUESTION} point", "", text.prompt]
    if text.choices:
        lines.append("")
        lines += [f"- **{letter}**) {choice}" for letter, choice in zip(question.letters, text.choices)]
    lines += ["", f"*{how_to_answer(question)}*"]
    return "\n".join(lines)


def answer_cell_source(question: Question) -> str:
    form = (f"one letter of {', '.join(question.letters)}" if question.kind == "choice" else "a number")
    return (f"# {question.variable}: {form}\n### BEGIN SOLUTION\n"
            f"{question.variable} = {answer_literal(question)}\n### END SOLUTION")


def graded_cell_source(family: str, questions: list[Question]) -> str:
    points = POINTS_PER_QUESTION * len(questions)
    checks = "\n".join(
        f"check_form({q.variable!r}, {q.variable}, {q.kind!r}"
        + (f", {q.letters!r})" if q.kind == "choice" else ")") for q in questions)
    return (f"# Graded, {points} point{'s' if points != 1 else ''} — {part_description(family, questions)} "
            f"(the visible check below only checks the form of each answer)\n"
            f"from dspatterns.review.answers import check_form\n\n{checks}\n"
            f"### BEGIN HIDDEN TESTS\nfrom autograder.cell import grade; grade(\"review\", {json.dumps(family)})\n"
            f"### END HIDDEN TESTS")


def source_notebook(questions: list[Question]) -> dict:
    asked = graded(questions)
    families = families_of(asked)
    cells = [_markdown("review-intro", INTRO.format(
        points=POINTS_PER_QUESTION * len(asked), count=len(asked), families=len(families),
        points_each=POINTS_PER_QUESTION))]
    number = 0
    for family in families:
        mine = [q for q in asked if q.family == family]
        cells.append(_markdown(f"review-{family}-heading", f"## {FAMILY_TITLES[family]['en']}"))
        for question in mine:
            number += 1
            cells.append(_markdown(f"review-{question.id}-prompt", question_markdown(number, question)))
            cells.append(_code(f"review-{question.id}", answer_cell_source(question), solution=True))
        cells.append(_code(f"review-{family}", graded_cell_source(family, mine), grade=True,
                           points=POINTS_PER_QUESTION * len(mine)))
    cells.append(_markdown("review-submit", OUTRO))
    return nbformat.v4.new_notebook(cells=cells, metadata=METADATA)


def question_numbers(questions: list[Question]) -> dict[str, int]:
    """Each graded question's number in the assignment notebook (the feedback names it)."""
    return {q.id: number for number, q in enumerate(graded(questions), start=1)}


def practice_payload(questions: list[Question]) -> dict:
    """The practice questions as plain data, with the family headings the quiz shows."""
    shown = practice(questions)
    return {
        "about": "Generated from the course's question bank by `python -m autograder review-notebook`; "
                 "practice questions only. Do not edit by hand.",
        "families": FAMILY_TITLES,
        "questions": [{"slug": q.slug, "id": q.id, "family": q.family, "kind": q.kind, "topic": q.topic,
                       "answer": q.answer, "tolerance": q.tolerance,
                       "text": {language: {"prompt": t.prompt, "choices": list(t.choices),
                                           "explanation": t.explanation}
                                for language, t in q.text.items()}}
                      for q in shown],
    }


def practice_text(questions: list[Question]) -> str:
    return json.dumps(practice_payload(questions), ensure_ascii=False, indent=1) + "\n"


# The reference answers in other forms a student may use; each must get full marks.
def _upper_case_and_fractions(question: Question) -> str:
    if question.kind == "choice":
        return json.dumps(f" {question.answer.upper()} ")
    exact = Fraction(question.answer).limit_denominator(1000)
    return f"Fraction({exact.numerator}, {exact.denominator})"


def _strings_and_percentages(question: Question) -> str:
    if question.kind == "choice":
        return json.dumps(f"({question.answer})")
    number = float(question.answer)
    if 0 < number < 1:
        exact = Fraction(number).limit_denominator(1000)
        return json.dumps(f"{exact.numerator}/{exact.denominator}" if exact.denominator <= 10
                          else f"{number * 100:g}%")
    return json.dumps(f"{number:g}")


ALTERNATIVE_FORMS = {
    "upper_case_and_fractions": ("letters in upper case with spaces; numbers as fractions.Fraction",
                                 _upper_case_and_fractions, "from fractions import Fraction\n\n"),
    "strings_and_percentages": ("letters in brackets; numbers as strings: \"1/5\", \"98%\", \"27\"",
                                _strings_and_percentages, ""),
}


def alternative_texts(questions: list[Question]) -> dict[str, str]:
    texts = {}
    for name, (what, form, imports) in ALTERNATIVE_FORMS.items():
        lines = [f"{q.variable} = {form(q)}" for q in graded(questions)]
        texts[name] = (f'"""The review\'s reference answers, {what}.\n\nGenerated by `python -m '
                       f'autograder review-notebook` from the bank; each must get full marks."""\n'
                       f"{imports}" + "\n".join(lines) + "\n")
    return texts


def generated_files(questions: list[Question] | None = None) -> dict[Path, str]:
    """Every generated file's path and the text it must hold, from the bank as it is now."""
    questions = load() if questions is None else questions
    files = {SOURCE_NOTEBOOK: nbformat.writes(source_notebook(questions)) + "\n",
             PRACTICE_FILE: practice_text(questions)}
    files.update({ALTERNATIVES_DIR / f"{name}.py": text for name, text in alternative_texts(questions).items()})
    return files


def stale_files() -> list[Path]:
    """The generated files that differ from what the bank makes now (or are missing)."""
    return [path for path, text in generated_files().items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def write_all() -> list[Path]:
    """Writes every generated file that changed; returns the paths written."""
    written = []
    for path, text in generated_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
