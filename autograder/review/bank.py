"""The interview review's question bank: ``questions.toml`` read into frozen ``Question`` objects,
with every rule of the bank checked on the way in (``BankError`` names the question that breaks one).

The bank is instructor-only: it holds the answer key of the graded questions. It feeds the graded
assignment ``review`` (``notebook.py`` writes its source notebook, the hidden suite reads the key),
the course's practice quiz (``dspatterns/review/practice.json``, practice questions only) and the
flashcards (practice questions only).
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dspatterns.review.answers import LETTERS, letters_for

from ..paths import ROOT

BANK = ROOT / "autograder" / "review" / "questions.toml"
FAMILIES = ("communication", "resilience", "data", "scaling", "caching", "discovery", "idempotency")
MIN_PER_FAMILY = 3
USES = ("graded", "practice")
KINDS = ("choice", "numeric")
TOPICS = ("purpose", "failure modes", "when not to use", "trade-offs", "numbers")
LANGUAGES = ("en", "ru")
# The source card's four interview questions, in the card's order; as practice questions they keep
# the card's own slugs 0-3 (its flashcards are cs-dist-pat-<slug>-<lang>).
CARD_FAMILIES = ("resilience", "scaling", "data", "idempotency")
# What each family's questions are about, in the words of a heading.
FAMILY_TITLES = {
    "communication": {"en": "Communication: request-response, publish-subscribe, message queues",
                      "ru": "Взаимодействие: запрос-ответ, publish-subscribe, очереди сообщений"},
    "resilience": {"en": "Resilience: circuit breaker, retries, bulkheads, timeouts",
                   "ru": "Отказоустойчивость: circuit breaker, повторы, bulkhead, таймауты"},
    "data": {"en": "Data: sagas, event sourcing, CQRS, outbox",
             "ru": "Данные: саги, event sourcing, CQRS, outbox"},
    "scaling": {"en": "Scaling: consistent hashing, sharding, read replicas",
                "ru": "Масштабирование: согласованное хеширование, шардирование, реплики для чтения"},
    "caching": {"en": "Caching: cache-aside, write policies, invalidation, stampedes",
                "ru": "Кэширование: cache-aside, политики записи, инвалидация, cache stampede"},
    "discovery": {"en": "Discovery: registries, health checks, load balancing",
                  "ru": "Обнаружение сервисов: реестры, проверки здоровья, балансировка нагрузки"},
    "idempotency": {"en": "Idempotency: idempotency keys, exactly-once effects",
                    "ru": "Идемпотентность: ключи идемпотентности, эффект ровно один раз"},
}


class BankError(ValueError):
    """The bank breaks one of its rules; the message names the question and the rule."""


@dataclass(frozen=True)
class Text:
    prompt: str
    choices: tuple[str, ...]  # () for numeric
    explanation: str


@dataclass(frozen=True)
class Question:
    slug: int
    id: str
    family: str
    use: str  # "graded" | "practice"
    kind: str  # "choice" | "numeric"
    answer: str | float
    tolerance: float | None
    topic: str
    source: str | None
    text: dict[str, Text]  # {"en": Text, "ru": Text}

    @property
    def letters(self) -> str:
        """The letters of this question's choices ("abcd"), or "" for a numeric question."""
        return letters_for(self.text["en"].choices)

    @property
    def variable(self) -> str:
        """The name a student sets in the graded assignment."""
        return f"answer_{self.id}"


def load(path: Path = BANK) -> list[Question]:
    """Every question of the bank, in file order; BankError if the bank breaks a rule."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BankError(f"{Path(path).name} is not valid TOML: {exc}") from None
    unknown = set(data) - {"question"}
    if unknown:
        raise BankError(f"{Path(path).name}: unknown top-level keys {sorted(unknown)} (only [[question]] tables)")
    questions = [_question(raw, index) for index, raw in enumerate(data.get("question", []), start=1)]
    _check_the_whole(questions)
    return questions


def graded(questions: list[Question]) -> list[Question]:
    """The graded questions in the order the assignment asks them: family by family, then by slug."""
    return sorted((q for q in questions if q.use == "graded"),
                  key=lambda q: (FAMILIES.index(q.family), q.slug))


def practice(questions: list[Question]) -> list[Question]:
    """The practice questions in the order the course's quiz asks them."""
    return sorted((q for q in questions if q.use == "practice"),
                  key=lambda q: (FAMILIES.index(q.family), q.slug))


def families_of(questions: list[Question]) -> list[str]:
    """The families that have questions among ``questions``, in course order."""
    present = {q.family for q in questions}
    return [family for family in FAMILIES if family in present]


def part_description(family: str, questions: list[Question]) -> str:
    """What a family's graded cell checks, in a student's words (the registry's part text)."""
    count = len(questions)
    return (f"{FAMILY_TITLES[family]['en'].split(':')[0].lower()}: {count} question"
            f"{'s' if count != 1 else ''}, a point for each right answer")


_REQUIRED = ("slug", "id", "family", "use", "kind", "answer", "topic", "en", "ru")
_ALLOWED = set(_REQUIRED) | {"tolerance", "source"}


def _question(raw: dict, index: int) -> Question:
    name = f"question {index} (id {raw.get('id', '?')!r}, slug {raw.get('slug', '?')!r})"

    def fail(rule: str):
        raise BankError(f"{name}: {rule}")

    if not isinstance(raw, dict):
        fail("is not a table")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        fail(f"misses {', '.join(missing)}")
    if set(raw) - _ALLOWED:
        fail(f"has unknown keys {sorted(set(raw) - _ALLOWED)}")
    slug, qid = raw["slug"], raw["id"]
    if not isinstance(slug, int) or isinstance(slug, bool) or slug < 0:
        fail("slug must be a non-negative integer")
    if not isinstance(qid, str) or not qid.isidentifier() or not qid.isascii() or qid != qid.lower():
        fail("id must be a lower-case Python identifier")
    for key, allowed in (("family", FAMILIES), ("use", USES), ("kind", KINDS), ("topic", TOPICS)):
        if raw[key] not in allowed:
            fail(f"{key} {raw[key]!r} is not one of {', '.join(allowed)}")
    if raw.get("source") not in (None, "card"):
        fail(f"source {raw['source']!r} must be \"card\" or absent")
    text = {}
    for language in LANGUAGES:
        part = raw[language]
        if not isinstance(part, dict) or set(part) - {"prompt", "choices", "explanation"}:
            fail(f"[question.{language}] must hold only prompt, choices and explanation")
        for key in ("prompt", "explanation"):
            if not isinstance(part.get(key), str) or not part[key].strip():
                fail(f"[question.{language}] needs a non-empty {key}")
        choices = part.get("choices", [])
        if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
            fail(f"[question.{language}] choices must be a list of non-empty strings")
        text[language] = Text(part["prompt"].strip(), tuple(c.strip() for c in choices),
                              part["explanation"].strip())
    answer, tolerance = raw["answer"], raw.get("tolerance")
    if raw["kind"] == "choice":
        count = len(text["en"].choices)
        if not 3 <= count <= len(LETTERS):
            fail(f"a choice question needs 3 to {len(LETTERS)} choices (it has {count})")
        if len(text["ru"].choices) != count:
            fail(f"en has {count} choices and ru {len(text['ru'].choices)}: they must match, in order")
        if len(set(text["en"].choices)) != count:
            fail("two of its en choices are the same")
        if not isinstance(answer, str) or answer not in letters_for(text["en"].choices):
            fail(f"answer {answer!r} must be one of the letters {', '.join(letters_for(text['en'].choices))}")
        if tolerance is not None:
            fail("tolerance is for numeric questions only")
    else:
        if any(text[language].choices for language in LANGUAGES):
            fail("a numeric question has no choices")
        if not isinstance(answer, (int, float)) or isinstance(answer, bool) or not math.isfinite(answer):
            fail(f"answer {answer!r} must be a number")
        if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or not 0 <= tolerance:
            fail("a numeric question needs a tolerance >= 0 (absolute)")
        answer, tolerance = float(answer), float(tolerance)
    return Question(slug=slug, id=qid, family=raw["family"], use=raw["use"], kind=raw["kind"],
                    answer=answer, tolerance=tolerance, topic=raw["topic"], source=raw.get("source"),
                    text=text)


def _check_the_whole(questions: list[Question]) -> None:
    for key in ("id", "slug"):
        seen: dict = {}
        for question in questions:
            value = getattr(question, key)
            if value in seen:
                raise BankError(f"{key} {value!r} is used twice: by questions {seen[value]!r} and "
                                f"{question.id!r} ({key}s must be unique)")
            seen[value] = question.id
    prompts: dict = {}
    for question in questions:
        prompt = question.text["en"].prompt
        if prompt in prompts:
            raise BankError(f"questions {prompts[prompt]!r} and {question.id!r} have the same prompt")
        prompts[prompt] = question.id
    for family in FAMILIES:
        for use in USES:
            count = sum(q.family == family and q.use == use for q in questions)
            if count < MIN_PER_FAMILY:
                raise BankError(f"family {family} has {count} {use} question(s); every family needs at "
                                f"least {MIN_PER_FAMILY} graded and {MIN_PER_FAMILY} practice")
    card = [q for q in questions if q.source == "card"]
    card_practice = sorted((q for q in card if q.use == "practice"), key=lambda q: q.slug)
    if [(q.slug, q.family) for q in card_practice] != list(enumerate(CARD_FAMILIES)):
        raise BankError("the source card's four questions as practice questions must have slugs 0-3 "
                        f"in families {', '.join(CARD_FAMILIES)} (found "
                        f"{[(q.slug, q.family) for q in card_practice]})")
    card_graded = sorted(q.family for q in card if q.use == "graded")
    if card_graded != sorted(CARD_FAMILIES):
        raise BankError("the source card's four questions must also be graded questions, one in each of "
                        f"{', '.join(CARD_FAMILIES)} (found {card_graded})")
    for question in questions:
        if question.slug < len(CARD_FAMILIES) and question.source != "card":
            raise BankError(f"slug {question.slug} ({question.id!r}) is reserved for the source card's "
                            "practice questions")
