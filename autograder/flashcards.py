"""The Anki deck of the review's practice questions: ``python -m autograder flashcards OUT.apkg``.

One note per practice question and language, in two decks of one package. Graded questions never
become cards: their answers are the review assignment's answer key.

Anki recognises a note it has seen before by its GUID, never by its note id: importing a package
whose note has a GUID already in the collection updates that note (when the package's copy is newer)
and keeps its cards' review history; a note with an unknown GUID is added. So each note's GUID is
derived from its slug, ``cs-dist-pat-<slug>-<lang>`` (the source card's own naming), and a question
keeps its note across builds for as long as its slug lives, whatever its text becomes.

Note ids are not fixed. genanki numbers the notes itself, from the build's timestamp in milliseconds
(``genanki.Note`` takes no id), and Anki never matches an imported note by its id. The source card's
front matter records ``anki_id`` values for its notes (1769160675277 and 1769160675300 for
cs-dist-pat-0-en/-ru, 1769160675325 and 1769160675349 for 1, 1769160675374 and 1769160675400 for 2):
those are the ids of notes in the card author's own collection, made with GUIDs of their own, so
reusing the ids would not make those notes update either; they are not used.
"""
from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Iterable, Sequence

import genanki

from .review.bank import BANK, BankError, Question, load

LANGUAGES = ("en", "ru")
SLUG_PREFIX = "cs-dist-pat"
DECK_NAMES = {
    "en": "Distributed Systems Patterns::English",
    "ru": "Distributed Systems Patterns::Русский",
}

# These ids must never change. Older Anki importers know the note type by its id and do not update a
# note whose type id changed ("note type has changed"). Anki 26.9 is more forgiving (it matches decks
# by name, and took a trial build with another MODEL_ID into the note type it had), but fixed ids cost
# nothing and keep every build the same apart from its timestamps. Derived once, and written here as
# numbers so that renaming a deck or the note type keeps them: (1 << 30) +
# int.from_bytes(sha256(name).digest()[:8], "big") % (1 << 30), for the names "dspatterns flashcards
# deck en", "... deck ru" and "dspatterns flashcards model question".
DECK_IDS = {"en": 1404320870, "ru": 2062426207}
MODEL_ID = 1341913416

# The fields are part of the note type, and Anki does not update notes imported earlier once their
# note type has changed (a field added, removed or reordered; Anki 23.10 and later can merge types, at
# the price of a full sync): keep these as they are.
FIELDS = ("Prompt", "Choices", "Answer", "Explanation", "Slug")

MODEL = genanki.Model(
    MODEL_ID,
    "Distributed Systems Patterns question",
    fields=[{"name": name} for name in FIELDS],
    templates=[{
        "name": "Question",
        "qfmt": '<div class="prompt">{{Prompt}}</div>{{#Choices}}<div class="choices">{{Choices}}</div>{{/Choices}}',
        "afmt": '{{FrontSide}}<hr id="answer"><div class="answer">{{Answer}}</div>'
                '<div class="explanation">{{Explanation}}</div>',
    }],
    css=(".card { font-family: sans-serif; font-size: 18px; text-align: left; max-width: 40em; margin: auto; }\n"
         ".choices ol { padding-left: 1.5em; }\n"
         ".answer { font-weight: bold; margin-bottom: 0.6em; }\n"
         ".explanation { color: #444; }\n"
         "code { font-size: 90%; background: #f2f2f2; padding: 0 0.2em; }\n"),
)


def load_bank(paths: Sequence[Path] = (BANK,)) -> list[Question]:
    """The questions of one or more bank files (each checked by the bank's own rules), in file order."""
    questions = [question for path in paths for question in load(Path(path))]
    slugs = [q.slug for q in questions]
    if len(set(slugs)) != len(slugs):
        raise BankError(f"a slug is used twice: {sorted(s for s in set(slugs) if slugs.count(s) > 1)}")
    return questions


def note_slug(question: Question, lang: str) -> str:
    """``cs-dist-pat-<slug>-<lang>``: the source card's name for this question's note."""
    return f"{SLUG_PREFIX}-{question.slug}-{lang}"


def note_guid(question: Question, lang: str) -> str:
    """The note's GUID, from its slug alone, so that edits to the text keep the note."""
    return genanki.guid_for(note_slug(question, lang))


def inline_html(text: str) -> str:
    """Bank text as HTML: escaped, with `code` in backticks shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def number_text(value: float, lang: str) -> str:
    """A numeric answer as a reader of ``lang`` writes it (a decimal comma in Russian)."""
    text = f"{float(value):g}"
    return text.replace(".", ",") if lang == "ru" else text


def letter(index: int) -> str:
    return "abcdefghij"[index]


def note_fields(question: Question, lang: str) -> list[str]:
    """The note's fields, in ``FIELDS`` order: prompt and lettered choices in front, answer and why behind."""
    text = question.text[lang]
    if question.kind == "choice":
        choices = "<ol type=\"a\">" + "".join(f"<li>{inline_html(c)}</li>" for c in text.choices) + "</ol>"
        right = ord(str(question.answer)) - ord("a")
        answer = f"{letter(right)}) {inline_html(text.choices[right])}"
    else:
        choices = ""
        answer = number_text(float(question.answer), lang)
    return [inline_html(text.prompt), choices, answer, inline_html(text.explanation), note_slug(question, lang)]


def note_tags(question: Question, lang: str) -> list[str]:
    """Family, topic and language, as Anki tags (which cannot hold spaces)."""
    return [f"family::{question.family}", f"topic::{question.topic.replace(' ', '_')}", f"lang::{lang}"]


def practice_questions(questions: Iterable[Question]) -> list[Question]:
    """The questions that may become cards, by slug. Graded ones never do: they are the review's key."""
    return sorted((q for q in questions if q.use == "practice"), key=lambda q: q.slug)


def build_package(questions: Iterable[Question], languages: Sequence[str] = LANGUAGES) -> genanki.Package:
    """One deck per language, each with one note per practice question."""
    practice = practice_questions(questions)
    decks = []
    for lang in languages:
        deck = genanki.Deck(DECK_IDS[lang], DECK_NAMES[lang],
                            description="Practice questions of the dspatterns course (distributed-systems "
                                        "design patterns), with their answers and explanations.")
        for question in practice:
            deck.add_note(genanki.Note(model=MODEL, fields=note_fields(question, lang),
                                       tags=note_tags(question, lang), guid=note_guid(question, lang)))
        decks.append(deck)
    return genanki.Package(decks)


def write_deck(out: Path, questions: Iterable[Question], languages: Sequence[str] = LANGUAGES,
               timestamp: float | None = None) -> dict[str, int]:
    """Writes the package to ``out``; returns the number of notes per language.

    ``timestamp`` (default: now) becomes every note's modification time and the base of its note id.
    Anki updates an already imported note only when the package's copy is newer than its own, so a
    fixed timestamp would make every later import a no-op: the notes' identity is their GUID instead.
    """
    questions = list(questions)
    package = build_package(questions, languages)
    out.parent.mkdir(parents=True, exist_ok=True)
    package.write_to_file(str(out), timestamp=time.time() if timestamp is None else timestamp)
    return {deck_lang: len(deck.notes) for deck_lang, deck in zip(languages, package.decks)}


def parse_languages(value: str) -> tuple[str, ...]:
    """``"en,ru"`` → ``("en", "ru")``; unknown or repeated languages are an error."""
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [lang for lang in chosen if lang not in LANGUAGES]
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        raise ValueError(f"--lang takes a comma-separated subset of {','.join(LANGUAGES)}, got {value!r}")
    return chosen


def run(out: str, languages: str = ",".join(LANGUAGES), banks: Sequence[str] | None = None) -> int:
    """The command: build the deck, print where it went and how many notes per language."""
    import sys

    if not banks and not BANK.is_file():
        print(f"error: no question bank at {BANK} (give --bank FILE)", file=sys.stderr)
        return 2
    try:
        chosen = parse_languages(languages)
        questions = load_bank([Path(b) for b in banks] if banks else [BANK])
    except (ValueError, BankError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = write_deck(Path(out), questions, chosen)
    print(f"{out}: " + ", ".join(f"{counts[lang]} notes ({lang})" for lang in chosen))
    return 0
