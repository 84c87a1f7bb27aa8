"""Reading a quiz answer the way a forgiving production quiz does, and judging it.

One place for these rules: the review notebook's visible checks, the course's quiz widget and the
instructor's grader all use them, so an answer accepted in one is accepted in all. A letter may come
in any case, with spaces or in brackets (``"b"``, ``" B "``, ``"(b)"``, ``"b)"``); a number may be an
int, a float, a ``Fraction`` or ``Decimal``, or a string such as ``"0.2"``, ``"1/5"``, ``"20%"`` or
``"2e-1"``. Booleans, ``None`` and NaN are never numbers.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from numbers import Rational, Real

LETTERS = "abcde"
_LETTER = re.compile(r"^\(?\s*([a-zA-Z])\s*[).]?$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d*)?%?$")
_RATIO = re.compile(r"^([-+]?[0-9.eE+-]+)\s*/\s*([-+]?[0-9.eE+-]+)$")


def letters_for(choices) -> str:
    """The letters that name ``choices``, in order: ``"abcd"`` for four choices."""
    return LETTERS[:len(choices)]


def read_letter(value) -> str | None:
    """The letter ``value`` names, lower-case, or None if it is not a single letter."""
    if not isinstance(value, str):
        return None
    match = _LETTER.match(value.strip())
    return match.group(1).lower() if match else None


def read_number(value) -> float | None:
    """``value`` as a float, or None if it is not a number in one of the accepted forms."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (Rational, Decimal)):
        number = float(value)
    elif isinstance(value, Real):
        number = float(value)
    elif isinstance(value, str):
        number = _number_from_text(_plain_digits(value.strip().replace("\u2212", "-")))
    else:
        return None
    return number if number is not None and math.isfinite(number) else None


def _plain_digits(text: str) -> str:
    """Commas read as people write them: groups of three digits (``"2,350"``) are thousands,
    any other comma is a decimal comma (``"0,2"``, as in Russian)."""
    if _THOUSANDS.match(text):
        return text.replace(",", "")
    return text.replace(",", ".") if text.count(",") == 1 and "." not in text else text


def _number_from_text(text: str) -> float | None:
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    ratio = _RATIO.match(text)
    try:
        if ratio:
            numerator, denominator = (Decimal(part) for part in ratio.groups())
            if denominator == 0:
                return None
            return float(Fraction(numerator) / Fraction(denominator)) * scale
        return float(Decimal(text)) * scale
    except (InvalidOperation, ValueError):
        return None


def form_problem(value, kind: str, letters: str = LETTERS) -> str | None:
    """What is wrong with the *form* of an answer (never whether it is right), or None."""
    if kind == "choice":
        letter = read_letter(value)
        if letter is None:
            return f"should be one letter in quotes, one of {', '.join(letters)}; it is {value!r}"
        if letter not in letters:
            return f"is {value!r}, but this question's choices are {', '.join(letters)}"
        return None
    if read_number(value) is None:
        return (f"should be a number (such as 0.25, 1/4 as Fraction(1, 4) or the string \"1/4\", or "
                f"\"25%\"); it is {value!r}")
    return None


def check_form(name: str, value, kind: str, letters: str = LETTERS) -> None:
    """The review notebook's visible check: raises AssertionError naming the answer whose form is
    wrong. It cannot tell whether an answer is right; the hidden checks do that after you submit."""
    problem = form_problem(value, kind, letters)
    if problem:
        raise AssertionError(f"{name} {problem}")


def is_right(value, kind: str, answer, tolerance: float | None = None, letters: str = LETTERS) -> bool:
    """Whether ``value`` answers a question whose key is ``answer`` (a letter, or a number within
    the absolute ``tolerance``)."""
    if kind == "choice":
        letter = read_letter(value)
        return letter is not None and letter in letters and letter == answer
    number = read_number(value)
    return number is not None and abs(number - float(answer)) <= (tolerance or 0.0) + 1e-12
