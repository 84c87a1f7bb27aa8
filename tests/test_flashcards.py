"""The Anki deck (``python -m autograder flashcards``), read back the way Anki reads it.

Each build is opened as what it is, a zip holding a SQLite collection, and every note is checked
against the bank file read here with tomllib (not through the deck builder's loader): its GUID is
the one derived from its slug, its fields are the bank's text, its card is in its language's deck,
its note type is the fixed one, its tags name family, topic and language. Two builds made an hour
apart must hold the same notes, and no graded question may reach either. Last, Anki itself (the
`anki` package, the desktop app's own backend) imports an updated build over an older one.
"""
from __future__ import annotations

import html
import json
import re
import sqlite3
import tomllib
import zipfile
from pathlib import Path

import genanki
import pytest

from autograder import flashcards
from autograder.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
BANK = ROOT / "autograder" / "review" / "questions.toml"
BANK_FILES = [BANK]
LANGUAGES = ("en", "ru")
LATER = 3600.0  # the second build's clock is this much ahead of the first's


def bank_questions() -> list[dict]:
    return [table for path in BANK_FILES for table in tomllib.loads(path.read_text("utf-8"))["question"]]


def expected_guid(slug: int, lang: str) -> str:
    return genanki.guid_for(f"cs-dist-pat-{slug}-{lang}")


def plain(field: str) -> str:
    """A field's HTML back to bank text: <code> to backticks, entities unescaped, no other markup."""
    text = re.sub(r"<code>(.*?)</code>", r"`\1`", field)
    assert "<" not in text.replace("&lt;", ""), f"unexpected markup left in field {field!r}"
    return html.unescape(text)


def visible_text(field: str) -> str:
    """What a reader sees of a field: every tag dropped, code back in backticks, entities unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<code>(.*?)</code>", r"`\1`", field)))


def list_items(field: str) -> list[str]:
    assert field.startswith('<ol type="a">') and field.endswith("</ol>"), f"not a lettered list: {field!r}"
    return [plain(item) for item in re.findall(r"<li>(.*?)</li>", field)]


def read_package(path: Path) -> dict:
    """The notes (by GUID), cards, decks and note types of an .apkg, straight from its SQLite file."""
    with zipfile.ZipFile(path) as package:
        assert "collection.anki2" in package.namelist(), f"{path} holds {package.namelist()}"
        database = path.parent / "collection.anki2"
        database.write_bytes(package.read("collection.anki2"))
    connection = sqlite3.connect(database)
    try:
        notes = {guid: {"id": note_id, "mid": mid, "mod": mod, "tags": set(tags.split()),
                        "fields": fields.split("\x1f")}
                 for note_id, guid, mid, mod, tags, fields
                 in connection.execute("SELECT id, guid, mid, mod, tags, flds FROM notes")}
        note_count = connection.execute("SELECT count(*) FROM notes").fetchone()[0]
        cards = connection.execute("SELECT nid, did FROM cards").fetchall()
        decks_json, models_json = connection.execute("SELECT decks, models FROM col").fetchone()
    finally:
        connection.close()
    assert note_count == len(notes), f"{note_count} notes but {len(notes)} distinct GUIDs"
    return {"notes": notes, "cards": cards, "decks": json.loads(decks_json), "models": json.loads(models_json)}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The same bank built twice, into two folders: by the command, then an hour later by write_deck."""
    first = tmp_path_factory.mktemp("first") / "deck.apkg"
    second = tmp_path_factory.mktemp("second") / "deck.apkg"
    args = ["flashcards", str(first)] + [arg for path in BANK_FILES for arg in ("--bank", str(path))]
    assert main(args) == 0
    first_package = read_package(first)
    later = max(note["mod"] for note in first_package["notes"].values()) + LATER
    flashcards.write_deck(second, flashcards.load_bank(BANK_FILES), timestamp=later)
    return first_package, read_package(second), later


def test_every_practice_question_has_one_note_per_language_with_the_banks_text(builds):
    package = builds[0]
    practice = [q for q in bank_questions() if q["use"] == "practice"]
    assert practice, f"no practice question in {BANK_FILES}"
    expected = {expected_guid(q["slug"], lang): (q, lang) for q in practice for lang in LANGUAGES}
    assert set(package["notes"]) == set(expected), (
        f"GUIDs missing: {[expected[g][0]['slug'] for g in set(expected) - set(package['notes'])]}, "
        f"unexpected: {sorted(set(package['notes']) - set(expected))}")
    for guid, (question, lang) in expected.items():
        note = package["notes"][guid]
        prompt, choices, answer, explanation, slug = note["fields"]
        text = question[lang]
        where = f"slug {question['slug']} ({lang})"
        assert slug == f"cs-dist-pat-{question['slug']}-{lang}", where
        assert plain(prompt) == text["prompt"], where
        assert plain(explanation) == text["explanation"], where
        if question["kind"] == "choice":
            assert list_items(choices) == text["choices"], where
            right = ord(question["answer"]) - ord("a")
            assert answer.startswith(f"{question['answer']}) "), f"{where}: answer field {answer!r}"
            assert plain(answer[3:]) == text["choices"][right], where
        else:
            assert choices == "", f"{where}: a numeric question has choices {choices!r}"
            shown = float(answer.replace(",", ".")) if lang == "ru" else float(answer)
            assert shown == pytest.approx(float(question["answer"]), abs=1e-9), f"{where}: {answer!r}"
            assert lang != "ru" or "." not in answer, f"{where}: Russian text takes a decimal comma: {answer!r}"
        assert note["tags"] == {f"family::{question['family']}",
                                f"topic::{question['topic'].replace(' ', '_')}", f"lang::{lang}"}, where


def test_notes_sit_in_their_languages_deck_with_the_fixed_note_type(builds):
    package = builds[0]
    decks = {int(deck_id): deck["name"] for deck_id, deck in package["decks"].items()}
    for lang in LANGUAGES:
        assert decks.get(flashcards.DECK_IDS[lang]) == flashcards.DECK_NAMES[lang], decks
    model = package["models"].get(str(flashcards.MODEL_ID))
    assert model is not None, f"note type {flashcards.MODEL_ID} missing: {list(package['models'])}"
    assert [field["name"] for field in model["flds"]] == list(flashcards.FIELDS)
    deck_of_note = {}
    for note_id, deck_id in package["cards"]:
        assert note_id not in deck_of_note, f"note {note_id} has more than one card"
        deck_of_note[note_id] = deck_id
    per_language = {lang: 0 for lang in LANGUAGES}
    for guid, note in package["notes"].items():
        lang = note["fields"][-1].rsplit("-", 1)[1]
        assert note["mid"] == flashcards.MODEL_ID, guid
        assert deck_of_note.get(note["id"]) == flashcards.DECK_IDS[lang], f"{note['fields'][-1]} is in deck {deck_of_note.get(note['id'])}"
        per_language[lang] += 1
    practice = sum(q["use"] == "practice" for q in bank_questions())
    assert per_language == {lang: practice for lang in LANGUAGES}


def test_no_graded_question_reaches_the_deck(builds):
    graded = [q for q in bank_questions() if q["use"] == "graded"]
    assert graded, "the bank under test holds no graded question, so this check would prove nothing"
    for package in builds[:2]:
        everything = "\n".join(visible_text(field) for note in package["notes"].values() for field in note["fields"])
        for question in graded:
            for lang in LANGUAGES:
                for part in ("prompt", "explanation"):
                    assert question[lang][part] not in everything, f"graded slug {question['slug']} ({lang}): its {part}"
                assert expected_guid(question["slug"], lang) not in package["notes"]


def test_a_later_build_has_the_same_notes_and_newer_modification_times(builds):
    first, second, later = builds
    assert {guid: note["fields"] for guid, note in first["notes"].items()} == \
           {guid: note["fields"] for guid, note in second["notes"].items()}
    assert {guid: (note["tags"], note["mid"]) for guid, note in first["notes"].items()} == \
           {guid: (note["tags"], note["mid"]) for guid, note in second["notes"].items()}
    assert first["decks"].keys() == second["decks"].keys()
    # Anki updates an imported note only when the package's copy is newer: the later build's must be.
    assert {note["mod"] for note in second["notes"].values()} == {int(later)}
    assert all(second["notes"][guid]["mod"] > note["mod"] for guid, note in first["notes"].items())


def test_the_deck_and_note_type_ids_never_change():
    """Collections that imported the deck know it by these ids; a change would duplicate the decks."""
    assert flashcards.DECK_IDS == {"en": 1404320870, "ru": 2062426207}
    assert flashcards.MODEL_ID == 1341913416


def test_the_command_prints_the_path_and_the_notes_per_language(tmp_path, capsys):
    out = tmp_path / "ru-only.apkg"
    args = ["flashcards", str(out), "--lang", "ru"] + [a for p in BANK_FILES for a in ("--bank", str(p))]
    assert main(args) == 0
    practice = sum(q["use"] == "practice" for q in bank_questions())
    assert capsys.readouterr().out.strip() == f"{out}: {practice} notes (ru)"
    notes = read_package(out)["notes"]
    assert {note["fields"][-1].rsplit("-", 1)[1] for note in notes.values()} == {"ru"}
    assert main(["flashcards", str(tmp_path / "x.apkg"), "--lang", "en,fr"] +
                [a for p in BANK_FILES for a in ("--bank", str(p))]) == 2
    assert "--lang" in capsys.readouterr().err


def test_a_real_anki_updates_the_notes_it_has_and_adds_the_new_ones(tmp_path):
    """Anki itself imports a build, then a later one with one question edited and one added, then the
    first build again: the edited note is updated in place (same note, same cards), the new one is
    added to its language's deck, nothing is duplicated, and the older build changes nothing."""
    from dataclasses import replace

    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    questions = flashcards.load_bank(BANK_FILES)
    practice = flashcards.practice_questions(questions)
    edited = practice[0]
    edited_text = {**edited.text, "en": replace(edited.text["en"], prompt=edited.text["en"].prompt + " (revised)")}
    added = replace(practice[-1], slug=max(q.slug for q in questions) + 1, id="added_in_the_test")
    newer = [replace(q, text=edited_text) if q is edited else q for q in questions] + [added]
    first, second = tmp_path / "first.apkg", tmp_path / "second.apkg"
    flashcards.write_deck(first, questions, timestamp=1_800_000_000)
    flashcards.write_deck(second, newer, timestamp=1_800_000_060)

    collection = Collection(str(tmp_path / "collection.anki2"))
    try:
        def import_package(path: Path):
            options = ImportAnkiPackageOptions(merge_notetypes=False, with_scheduling=False,
                                               with_deck_configs=False)
            return collection.import_anki_package(ImportAnkiPackageRequest(package_path=str(path),
                                                                           options=options)).log

        def note_of(question, lang):
            found = collection.find_notes(f'"Slug:cs-dist-pat-{question.slug}-{lang}"')
            assert len(found) == 1, f"{len(found)} notes for slug {question.slug} ({lang})"
            return collection.get_note(found[0])

        log = import_package(first)
        assert len(log.new) == 2 * len(practice) and not log.updated, log
        before = note_of(edited, "en")
        cards_before = sorted(card.id for card in before.cards())

        log = import_package(second)
        assert len(log.new) == 2 and len(log.updated) == 2 * len(practice), log
        after = note_of(edited, "en")
        assert (after.id, after.guid) == (before.id, expected_guid(edited.slug, "en"))
        assert plain(after["Prompt"]) == edited.text["en"].prompt + " (revised)"
        assert sorted(card.id for card in after.cards()) == cards_before, "the edited note's cards were replaced"
        assert collection.note_count() == 2 * (len(practice) + 1)
        for lang in LANGUAGES:
            deck = collection.decks.id_for_name(flashcards.DECK_NAMES[lang])
            assert note_of(added, lang).cards()[0].did == deck
            assert len(collection.find_cards(f"did:{deck}")) == len(practice) + 1

        log = import_package(first)
        assert not log.new and not log.updated, f"an older build changed the collection: {log}"
        assert plain(note_of(edited, "en")["Prompt"]) == edited.text["en"].prompt + " (revised)"
        assert collection.note_count() == 2 * (len(practice) + 1)
    finally:
        collection.close()
