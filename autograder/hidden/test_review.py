"""Hidden suite for the `review` assignment: the interview review's graded questions.

One test per graded question of the bank (autograder/review/questions.toml, the answer key),
marked with its family's part. Each reads the student's `answer_<id>` through the sandbox (a string
or a number crosses as plain data; a `Fraction` or `Decimal` crosses as a reference, and is read by
asking it for `as_integer_ratio()`), reads it the forgiving way `dspatterns/review/answers.py`
describes (letters in any case, in brackets or with spaces; numbers as int, float, Fraction,
Decimal or strings such as "1/5", "20%", "0.2") and compares it with the key. Feedback goes back
after the deadline, so a wrong or missing answer's message names the question, what the student
answered, the right answer and the explanation.
"""
# DSP-CANARY-REVIEW-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

from fractions import Fraction

import pytest

from autograder.judge import MissingName
from autograder.review.bank import graded, load
from autograder.review.generate import question_numbers
from autograder.sandbox import rpc
from dspatterns.review.answers import form_problem, is_right

BANK = load()
KEY = {question.id: question for question in graded(BANK)}
NUMBERS = question_numbers(BANK)


def asked(family: str) -> list[str]:
    return [question.id for question in KEY.values() if question.family == family]


def right_answer(question) -> str:
    if question.kind == "choice":
        letter = question.answer
        return f'{letter}) {question.text["en"].choices[question.letters.index(letter)].rstrip(".")}'
    return f"{question.answer:g}"


def student_answer(impl, question):
    """The student's answer as plain data, or raises AssertionError saying why there is none."""
    try:
        value = getattr(impl, question.variable)
    except MissingName:
        raise AssertionError(f"{question.variable} is not set (is its cell still "
                             "`raise NotImplementedError()`, or did it raise?)") from None
    if isinstance(value, rpc.Proxy):  # a Fraction, a Decimal, or an object of the student's own
        try:
            numerator, denominator = value.as_integer_ratio()
            value = Fraction(int(numerator), int(denominator))
        except Exception:  # noqa: BLE001 - any object that is not a number is simply not an answer
            raise AssertionError(f"{question.variable} is a {value._type_name} object, not a letter "
                                 "in quotes or a number") from None
    return value


def check(impl, question_id: str) -> None:
    question = KEY[question_id]
    where = f"question {NUMBERS[question_id]} ({question.variable})"
    try:
        value = student_answer(impl, question)
    except AssertionError as missing:
        raise AssertionError(f"{where}: {missing}; the right answer is {right_answer(question)}. "
                             f"Why: {question.text['en'].explanation}") from None
    if not is_right(value, question.kind, question.answer, question.tolerance, question.letters):
        problem = form_problem(value, question.kind, question.letters)
        said = f"you answered {value!r}" + (f" (it {problem})" if problem else "")
        raise AssertionError(f"{where}: {said}; the right answer is {right_answer(question)}. "
                             f"Why: {question.text['en'].explanation}")


@pytest.mark.part("communication")
@pytest.mark.parametrize("question", asked("communication"))
def test_communication(impl, question):
    """your answer to this communication question"""
    check(impl, question)


@pytest.mark.part("resilience")
@pytest.mark.parametrize("question", asked("resilience"))
def test_resilience(impl, question):
    """your answer to this resilience question"""
    check(impl, question)


@pytest.mark.part("data")
@pytest.mark.parametrize("question", asked("data"))
def test_data(impl, question):
    """your answer to this data question"""
    check(impl, question)


@pytest.mark.part("scaling")
@pytest.mark.parametrize("question", asked("scaling"))
def test_scaling(impl, question):
    """your answer to this scaling question"""
    check(impl, question)


@pytest.mark.part("caching")
@pytest.mark.parametrize("question", asked("caching"))
def test_caching(impl, question):
    """your answer to this caching question"""
    check(impl, question)


@pytest.mark.part("discovery")
@pytest.mark.parametrize("question", asked("discovery"))
def test_discovery(impl, question):
    """your answer to this discovery question"""
    check(impl, question)


@pytest.mark.part("idempotency")
@pytest.mark.parametrize("question", asked("idempotency"))
def test_idempotency(impl, question):
    """your answer to this idempotency question"""
    check(impl, question)
