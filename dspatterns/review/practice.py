"""The practice questions of the interview review, as the course's quiz reads them.

``practice.json`` beside this module is generated from the instructor's question bank and holds the
practice questions only (a test checks that no graded question is in it)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dspatterns.review.answers import is_right, letters_for

PRACTICE_FILE = Path(__file__).with_name("practice.json")
LANGUAGES = ("en", "ru")


@dataclass(frozen=True)
class PracticeText:
    prompt: str
    choices: tuple[str, ...]
    explanation: str


@dataclass(frozen=True)
class PracticeQuestion:
    slug: int
    id: str
    family: str
    kind: str  # "choice" | "numeric"
    topic: str
    answer: str | float
    tolerance: float | None
    text: dict[str, PracticeText]

    @property
    def letters(self) -> str:
        return letters_for(self.text["en"].choices)

    def is_right(self, value) -> bool:
        return is_right(value, self.kind, self.answer, self.tolerance, self.letters)

    def answer_text(self, language: str = "en") -> str:
        """The right answer as the quiz shows it: "b) the choice's text", or the number."""
        if self.kind == "choice":
            return f"{self.answer}) {self.text[language].choices[self.letters.index(self.answer)]}"
        return f"{float(self.answer):g}"


@lru_cache(maxsize=None)
def _load(path: Path) -> tuple[dict, tuple[PracticeQuestion, ...]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    questions = tuple(
        PracticeQuestion(slug=q["slug"], id=q["id"], family=q["family"], kind=q["kind"], topic=q["topic"],
                         answer=q["answer"], tolerance=q["tolerance"],
                         text={lang: PracticeText(t["prompt"], tuple(t["choices"]), t["explanation"])
                               for lang, t in q["text"].items()})
        for q in data["questions"])
    return data["families"], questions


def practice_questions(family: str | None = None, path: Path = PRACTICE_FILE) -> list[PracticeQuestion]:
    """The practice questions (of one family, if given), in the order the quiz asks them."""
    _, questions = _load(path)
    return [q for q in questions if family is None or q.family == family]


def family_titles(path: Path = PRACTICE_FILE) -> dict[str, dict[str, str]]:
    """Each family's heading, per language: {"data": {"en": "Data: sagas, ...", "ru": ...}}."""
    families, _ = _load(path)
    return families
