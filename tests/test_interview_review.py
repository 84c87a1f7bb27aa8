"""The interview review: the question bank's rules, the files generated from it, the facts of its
numeric answers, how answers are read, the grader's feedback, the course quiz, and that no graded
question reaches a student."""
from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import nbformat
import pytest

from autograder.cells import cell_source, is_answer_cell, is_graded_test_cell
from autograder.exercises import EXERCISES, ROOT
from autograder.judge import judge_cells
from autograder.report import format_part
from autograder.review.bank import (BANK, CARD_FAMILIES, FAMILIES, MIN_PER_FAMILY,
                                    BankError, graded, load, practice)
from autograder.review.generate import PRACTICE_FILE, SOURCE_NOTEBOOK, stale_files
from dspatterns.review.answers import check_form, form_problem, is_right, read_letter, read_number
from dspatterns.testing import FakeClock

QUESTIONS = load()
GRADED = graded(QUESTIONS)
BY_ID = {q.id: q for q in QUESTIONS}
RELEASE = ROOT / "exercises" / "review" / "review.ipynb"


# --- the bank ---------------------------------------------------------------------------------

def test_the_bank_meets_its_rules_and_covers_every_family():
    for family in FAMILIES:
        for use in ("graded", "practice"):
            count = sum(q.family == family and q.use == use for q in QUESTIONS)
            assert count >= MIN_PER_FAMILY, (family, use, count)
    card = sorted((q for q in QUESTIONS if q.source == "card" and q.use == "practice"), key=lambda q: q.slug)
    assert [(q.slug, q.family) for q in card] == list(enumerate(CARD_FAMILIES))
    assert sorted(q.family for q in QUESTIONS if q.source == "card" and q.use == "graded") == sorted(CARD_FAMILIES)
    for q in QUESTIONS:
        assert set(q.text) == {"en", "ru"} and len(q.text["ru"].choices) == len(q.text["en"].choices)
        assert re.search("[а-яА-Я]", q.text["ru"].prompt + q.text["ru"].explanation), f"{q.id}: ru is not Russian"


def test_correct_letters_are_spread_over_the_positions():
    """A bank whose right answer is always "b" teaches a pattern, not the patterns."""
    letters = [q.answer for q in QUESTIONS if q.kind == "choice"]
    assert max(letters.count(letter) for letter in "abcd") <= len(letters) // 2, letters


def _block(text: str, question_id: str) -> tuple[int, int]:
    """Where one question's tables are in the bank's text: from its [[question]] to the next."""
    start = text.rindex("[[question]]", 0, text.index(f'id = "{question_id}"'))
    end = text.find("[[question]]", start + 1)
    return start, len(text) if end == -1 else end


def broken_bank(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """The real bank with each edit (question id, old text, new text) made inside that question."""
    text = BANK.read_text(encoding="utf-8")
    for question_id, old, new in edits:
        start, end = _block(text, question_id)
        block = text[start:end]
        assert block.count(old) == 1, f"{old!r} is not once in {question_id}"
        text = text[:start] + block.replace(old, new) + text[end:]
    path = tmp_path / "questions.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("question_id,old,new,message", [
    ("why_jitter", 'id = "why_jitter"', 'id = "retry_amplification"', "id 'retry_amplification' is used twice"),
    ("why_jitter", "slug = 35", "slug = 30", "slug 30 is used twice"),
    ("why_jitter", 'answer = "a"', 'answer = "e"', "answer 'e' must be one of the letters a, b, c, d"),
    ("retry_amplification", "tolerance = 0.001\n", "", "a numeric question needs a tolerance"),
    ("why_jitter", 'topic = "purpose"', 'topic = "trivia"', "topic 'trivia' is not one of"),
    ("why_jitter", 'family = "resilience"', 'family = "security"', "family 'security' is not one of"),
    ("why_jitter", 'use = "practice"', 'use = "homework"', "use 'homework' is not one of"),
    ("retry_amplification", "answer = 27", 'answer = "27"', "answer '27' must be a number"),
    ("card_saga", "slug = 2", "slug = 9", "slugs 0-3"),
    ("why_jitter", 'kind = "choice"', 'kind = "numeric"', "a numeric question has no choices"),
])
def test_a_broken_bank_names_the_question_and_the_rule(tmp_path, question_id, old, new, message):
    path = broken_bank(tmp_path, (question_id, old, new))
    with pytest.raises(BankError) as raised:
        load(path)
    assert message in str(raised.value), str(raised.value)


def test_a_family_short_of_graded_questions_is_refused(tmp_path):
    path = broken_bank(tmp_path, ("queue_or_pubsub_fan_out", 'use = "graded"', 'use = "practice"'),
                       ("sync_chain_availability", 'use = "graded"', 'use = "practice"'))
    with pytest.raises(BankError, match=r"family communication has 2 graded question\(s\); every family "
                                        r"needs at least 3 graded and 3 practice"):
        load(path)


def test_a_broken_bank_names_the_question_it_read(tmp_path):
    path = broken_bank(tmp_path, ("why_jitter", 'answer = "a"', 'answer = "z"'))
    with pytest.raises(BankError, match=r"question \d+ \(id 'why_jitter', slug 35\)"):
        load(path)


def test_russian_choices_must_match_the_english_ones(tmp_path):
    text = BANK.read_text(encoding="utf-8")
    start, end = _block(text, "topic_wildcards")
    block = text[start:end]
    ru = block.index("[question.ru]")
    edited = block[:ru] + block[ru:].replace('  "`orders.eu.updated`",\n', "", 1)
    path = tmp_path / "questions.toml"
    path.write_text(text[:start] + edited + text[end:], encoding="utf-8")
    with pytest.raises(BankError, match="en has 4 choices and ru 3"):
        load(path)


def _rejected_russian_terms(bank_text: str) -> list[str]:
    """The glossary's rejected synonyms: the words after "| never:" in the comment block that opens the bank."""
    header = bank_text[:bank_text.index("[[question]]")]
    return [term.strip() for line in header.splitlines() if "| never:" in line
            for term in line.split("| never:", 1)[1].split(",")]


def _rejected_term_pattern(term: str) -> re.Pattern:
    """Each word of a rejected term is a word prefix, so a stem catches every case ending."""
    return re.compile(r"(?<!\w)" + r"\w*\s+".join(map(re.escape, term.split())), re.IGNORECASE)


def test_the_russian_texts_use_the_glossarys_terms_only():
    rejected = _rejected_russian_terms(BANK.read_text(encoding="utf-8"))
    assert {"предохранитель", "тайм-аут", "как минимум один раз", "шардинг", "кеш"} <= set(rejected), rejected
    patterns = {term: _rejected_term_pattern(term) for term in rejected}
    assert patterns["конечн согласованн"].search("нет конечной согласованности")  # the matcher catches forms
    assert not patterns["шардинг"].search("решардинг")  # and only from a word's start
    found = [(q.id, term) for q in QUESTIONS for term, pattern in patterns.items()
             for text in (q.text["ru"].prompt, q.text["ru"].explanation, *q.text["ru"].choices)
             if pattern.search(text)]
    assert not found, f"rejected Russian terms (see the glossary at the top of questions.toml): {found}"


def test_invalid_toml_is_a_bank_error(tmp_path):
    path = tmp_path / "questions.toml"
    path.write_text("[[question]\nslug = 0\n", encoding="utf-8")
    with pytest.raises(BankError, match="is not valid TOML"):
        load(path)


# --- the facts behind the numeric answers -------------------------------------------------------

def _reference(name: str) -> dict:
    namespace: dict = {"__name__": f"reference_{name}"}
    exec(compile(EXERCISES[name].reference_code, name, "exec"), namespace)  # noqa: S102 - the course's own answer
    return namespace


def test_the_retry_and_jitter_numbers_follow_the_retry_contract():
    retry = _reference("retry")
    calls = []

    def d():
        calls.append("D")
        raise ConnectionError("D is down")

    def layer(inner):
        return lambda: retry["retry_with_backoff"](inner, max_attempts=3, sleep=lambda s: None)

    with pytest.raises(ConnectionError):
        layer(layer(layer(d)))()
    assert len(calls) == BY_ID["retry_amplification"].answer == 27
    delay = min(2.0, retry["backoff_delay"](6, 0.1))
    rng = random.Random(7)
    mean = sum(retry["full_jitter"](delay, rng) for _ in range(200_000)) / 200_000
    assert abs(mean - BY_ID["full_jitter_mean_capped"].answer) < 0.01
    mean = sum(retry["equal_jitter"](8.0, rng) for _ in range(200_000)) / 200_000
    assert abs(mean - BY_ID["equal_jitter_mean"].answer) < 0.02


def test_the_dead_letter_time_follows_the_message_queue_contract():
    clock = FakeClock()
    queue = _reference("message_queue")["WorkQueue"](visibility_timeout=30, max_deliveries=3, clock=clock)
    queue.send("job")
    received_at = []
    while not queue.dead_letters and clock() < 200:
        if queue.receive():
            received_at.append(clock())
        if not queue.dead_letters:
            clock.advance(0.5)
    assert received_at == [0.0, 30.0, 60.0]
    assert clock() == BY_ID["dead_letter_time"].answer, "the message moved to dead_letters at this time"


def test_the_compensation_count_follows_the_saga_contract():
    saga = _reference("saga")

    def fail(context):
        raise RuntimeError("step 4 fails")

    steps = [saga["SagaStep"](f"s{i}", fail if i == 4 else (lambda c: None), lambda c: None) for i in range(1, 7)]
    with pytest.raises(saga["SagaFailed"]) as failed:
        saga["SagaOrchestrator"](steps).run({})
    assert failed.value.compensated == ["s3", "s2", "s1"]
    assert len(failed.value.compensated) == BY_ID["saga_compensation_count"].answer


def test_the_key_movement_numbers_follow_the_ring_and_modulo():
    ring = _reference("consistent_hashing")["ConsistentHashRing"]([f"n{i}" for i in range(4)], vnodes=200)
    keys = [f"key-{i}" for i in range(20_000)]
    before = {key: ring.get_node(key) for key in keys}
    ring.add_node("n4")
    moved = sum(ring.get_node(key) != before[key] for key in keys) / len(keys)
    assert abs(moved - BY_ID["consistent_hashing_fifth_node"].answer) < 0.03, moved
    modulo = sum(h % 4 != h % 5 for h in range(100_000)) / 100_000
    assert abs(modulo - BY_ID["modulo_resize_moves"].answer) < 0.001


def test_the_other_numbers_are_their_formulas():
    assert abs(0.995 ** 4 - BY_ID["sync_chain_availability"].answer) <= BY_ID["sync_chain_availability"].tolerance
    assert min(c for c in range(1, 20) if 100 / (c * 20) < 1) == BY_ID["consumers_for_stable_queue"].answer
    assert 40 * 2.5 == BY_ID["bulkhead_littles_law"].answer
    assert 2350 - 2350 // 500 * 500 == BY_ID["snapshot_replay_count"].answer
    assert min(r for r in range(1, 6) if r + 3 > 5) == BY_ID["quorum_read_size"].answer
    assert (400 / 100) ** 0.5 == BY_ID["vnodes_spread"].answer


# --- reading answers --------------------------------------------------------------------------

@pytest.mark.parametrize("value,number", [
    (0.2, 0.2), (1, 1.0), (Fraction(1, 5), 0.2), ("1/5", 0.2), (" 1 / 5 ", 0.2), ("20%", 0.2),
    ("20 %", 0.2), ("0,2", 0.2), ("2,350", 2350.0), ("2e-1", 0.2), ("27", 27.0),
    (True, None), (None, None), ("abc", None), ("1/0", None), (float("nan"), None), ([0.2], None),
])
def test_numbers_are_read_in_every_accepted_form(value, number):
    assert read_number(value) == number


@pytest.mark.parametrize("value,letter", [("b", "b"), (" B ", "b"), ("(c)", "c"), ("d)", "d"), ("a.", "a"),
                                          ("ab", None), ("", None), (2, None), (None, None)])
def test_letters_are_read_in_any_case_with_spaces_and_brackets(value, letter):
    assert read_letter(value) == letter


def test_is_right_uses_the_key_and_the_tolerance():
    assert is_right(" C ", "choice", "c", letters="abcd") and not is_right("b", "choice", "c", letters="abcd")
    assert not is_right("e", "choice", "e", letters="abcd"), "a letter beyond the choices is never right"
    assert is_right("98%", "numeric", 0.98, 0.001) and is_right(0.9805, "numeric", 0.98, 0.001)
    assert not is_right(0.982, "numeric", 0.98, 0.001) and not is_right("x", "numeric", 0.98, 0.001)


def test_the_form_check_names_the_answer_and_never_judges_it():
    check_form("answer_x", "b", "choice", "abcd")  # a wrong answer in the right form passes
    check_form("answer_y", "1/3", "numeric")
    with pytest.raises(AssertionError, match="answer_x is 'e', but this question's choices are a, b, c, d"):
        check_form("answer_x", "e", "choice", "abcd")
    with pytest.raises(AssertionError, match="answer_y should be a number"):
        check_form("answer_y", "about five", "numeric")
    assert form_problem(None, "choice", "abc").startswith("should be one letter")


# --- the generated files and the assignment ---------------------------------------------------

def test_generated_files_are_in_sync_with_the_bank():
    assert stale_files() == [], ("run `python -m autograder review-notebook` (then `nbgrader "
                                 "generate_assignment review --force`) and commit")


def test_the_source_notebook_asks_every_graded_question_once_with_one_graded_cell_per_family():
    cells = nbformat.read(SOURCE_NOTEBOOK, 4).cells
    answers = [c for c in cells if c.cell_type == "code" and is_answer_cell(c)]
    assert [re.search(r"^(answer_\w+) = ", cell_source(c), re.M).group(1) for c in answers] == \
        [q.variable for q in GRADED]
    graded_cells = [c for c in cells if c.cell_type == "code" and is_graded_test_cell(c)]
    assert [c.metadata.nbgrader.grade_id for c in graded_cells] == [f"review-{f}" for f in EXERCISES["review"].parts]
    assert sum(c.metadata.nbgrader.points for c in graded_cells) == len(GRADED)


def test_the_hidden_suite_has_one_test_per_graded_question_in_its_familys_part():
    suite = EXERCISES["review"].hidden_suite
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(suite.parent), "-c", os.devnull, str(suite)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    collected = sorted(line.split("::")[1] for line in done.stdout.splitlines() if "::" in line)
    assert collected == sorted(f"test_{q.family}[{q.id}]" for q in GRADED), done.stdout + done.stderr
    tree = ast.parse(suite.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = [d.args[0].value for d in node.decorator_list if isinstance(d, ast.Call)
                     and getattr(d.func, "attr", "") == "part"]
            assert marks == [node.name.removeprefix("test_")], f"{node.name} is marked {marks}"


def _visible_checks(answers: dict[str, object]) -> None:
    """Runs every graded cell's visible part of the released notebook with these answers."""
    namespace = dict(answers)
    for cell in nbformat.read(RELEASE, 4).cells:
        if cell.cell_type == "code" and is_graded_test_cell(cell):
            exec(compile(cell.source, cell.metadata.nbgrader.grade_id, "exec"), namespace)  # noqa: S102


def test_the_visible_checks_check_only_the_form():
    right = {q.variable: (q.answer if q.kind == "choice" else q.answer) for q in GRADED}
    _visible_checks(right)
    wrong = {q.variable: (next(l for l in q.letters if l != q.answer) if q.kind == "choice" else q.answer + 1)
             for q in GRADED}
    _visible_checks(wrong)  # every answer wrong, every form right: the visible checks still pass
    first = GRADED[0]
    with pytest.raises(AssertionError, match=first.variable):
        _visible_checks({**right, first.variable: "z" if first.kind == "choice" else "many"})


def test_feedback_names_the_question_the_answer_the_right_answer_and_why():
    code = EXERCISES["review"].reference_code.replace('answer_outbox_dual_write = "c"', 'answer_outbox_dual_write = "A"')
    report = judge_cells("review", [{"label": "cell 1", "source": code}])
    failed = [r for r in report.results if not r.passed]
    assert [r.part for r in failed] == ["data"], [(r.test, r.message) for r in failed]
    message = failed[0].message
    outbox = BY_ID["outbox_dual_write"]
    assert "answer_outbox_dual_write" in message and "you answered 'A'" in message, message
    assert "the right answer is c) It writes the event into an outbox table" in message, message
    assert outbox.text["en"].explanation in message, message
    assert re.search(r"question \d+ \(answer_outbox_dual_write\)", message), message
    passed = [r for r in report.results if r.passed]
    assert len(passed) == len(GRADED) - 1
    ok, shown = format_part(report, "data")  # what the graded cell's output says
    assert not ok and "you answered 'A'" in shown and "FakeClock" not in shown, shown
    assert format_part(report, "scaling")[0]


def test_an_unanswered_question_says_it_is_not_set():
    cells = [{"label": "cell 1", "source": "answer_retry_amplification = 27\n"},
             {"label": "cell 2", "source": "raise NotImplementedError()\n"}]
    report = judge_cells("review", cells)
    by_test = {r.test: r for r in report.results}
    assert by_test["test_resilience[retry_amplification]"].passed
    missing = by_test["test_resilience[bulkhead_littles_law]"]
    assert not missing.passed and "answer_bulkhead_littles_law is not set" in missing.message, missing.message
    assert "the right answer is 100" in missing.message


def test_an_object_that_is_not_a_number_is_no_answer():
    code = EXERCISES["review"].reference_code.replace(
        "answer_retry_amplification = 27", "class Many:\n    pass\nanswer_retry_amplification = Many()")
    report = judge_cells("review", [{"label": "cell 1", "source": code}])
    result = next(r for r in report.results if r.test == "test_resilience[retry_amplification]")
    assert not result.passed and "is a Many object, not a letter in quotes or a number" in result.message


# --- nothing graded reaches a student ---------------------------------------------------------

def _graded_texts() -> list[str]:
    texts = []
    for q in GRADED:
        for text in q.text.values():
            texts += [text.prompt, text.explanation, *[c for c in text.choices if len(c) > 30]]
    return texts


def test_the_practice_file_holds_practice_questions_only():
    shipped = PRACTICE_FILE.read_text(encoding="utf-8")
    data = json.loads(shipped)
    assert [q["id"] for q in data["questions"]] == [q.id for q in practice(QUESTIONS)]
    for q in GRADED:
        assert f'"{q.id}"' not in shipped and q.variable not in shipped, f"graded question {q.id} shipped"
    for text in _graded_texts():
        assert text not in shipped, f"graded text shipped in practice.json: {text[:60]}"


def test_no_graded_explanation_or_answer_reaches_dspatterns_or_exercises():
    shipped = [p for folder in ("dspatterns", "exercises", "course") for p in (ROOT / folder).rglob("*")
               if p.is_file() and p.suffix in (".py", ".json", ".ipynb", ".toml", ".md")]
    assert RELEASE in shipped and PRACTICE_FILE in shipped
    explanations = [t.explanation for q in GRADED for t in q.text.values()]
    answer_lines = [f"{q.variable} = " for q in GRADED]
    for path in shipped:
        text = path.read_text(encoding="utf-8")
        assert "DSP-CANARY-REVIEW" not in text, path
        assert not any(e in text for e in explanations), f"{path} holds a graded explanation"
        assert not any(line in text for line in answer_lines), f"{path} assigns a graded answer"
        assert "questions.toml" not in text or path.suffix == ".md", path
    assert not list((ROOT / "dspatterns").rglob("questions*.toml"))


# --- the course quiz --------------------------------------------------------------------------

from dspatterns.widgets.review_quiz import QuizScore, review_quiz, review_score  # noqa: E402


def _card(quiz, question_id):
    return next(card for card in quiz.cards if card.question.id == question_id)


def test_a_choice_is_right_or_wrong_with_the_explanation():
    score = QuizScore()
    quiz = review_quiz("resilience", score=score).quiz
    card = _card(quiz, "why_jitter")
    assert card.check() is None and "Pick a letter first" in card.verdict.value
    card.answer.value = "b"
    assert card.check() is False
    assert "Not quite" in card.verdict.value and "The answer is a) Clients that failed together" in card.verdict.value
    assert "Brooker" in card.verdict.value  # the explanation
    card.answer.value = "a"
    assert card.check() is True and "Right" in card.verdict.value
    assert score.verdicts == {"why_jitter": True}


def test_a_number_is_read_forgivingly_and_within_the_tolerance():
    quiz = review_quiz("resilience", score=QuizScore()).quiz
    card = _card(quiz, "equal_jitter_mean")
    for accepted in ("6", "6.004", " 6 ", "600%", "12/2"):
        card.answer.value = accepted
        assert card.check() is True, accepted
    card.answer.value = "6.01"
    assert card.check() is False
    card.answer.value = "six"
    assert card.check() is None and "Could not read a number" in card.verdict.value


def test_the_language_switch_shows_russian_everywhere():
    quiz = review_quiz("data", score=QuizScore()).quiz
    card = _card(quiz, "card_saga")
    card.answer.value = "d"
    card.check()
    quiz.language_switch.value = "ru"
    assert "Данные" in quiz.heading.value
    assert "Сага бронирования" in card.prompt.value and "компенсирующие транзакции" in card.prompt.value
    assert "Верно" in card.verdict.value and card.check_button.description == "Проверить"
    quiz.language_switch.value = "en"
    assert "trip-booking saga" in card.prompt.value and "Right" in card.verdict.value


def test_the_score_chart_counts_right_answers_per_family():
    score = QuizScore()
    figure = review_score(score=score)
    quiz = review_quiz("scaling", score=score).quiz
    right = next(t for t in figure.data if t.meta == "right")
    assert sum(right.y) == 0
    card = _card(quiz, "vnodes_spread")
    card.answer.value = "2"
    card.check()
    assert dict(zip(right.x, right.y))["scaling"] == 1 and "1 of" in figure.layout.title.text
    card.answer.value = "4"
    card.check()
    assert dict(zip(right.x, right.y))["scaling"] == 0


def test_every_family_has_a_quiz_and_an_unknown_one_is_refused():
    for family in FAMILIES:
        assert review_quiz(family, score=QuizScore()).quiz.family == family
    with pytest.raises(ValueError, match="unknown family"):
        review_quiz("security")


# --- partial credit: a point per right answer -------------------------------------------------

def _graded_cell(outputs, points):
    cell = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "solution": False, "points": points,
                                                                 "grade_id": "review-data", "locked": True}})
    cell.outputs = outputs
    return nbformat.from_dict(cell)


@pytest.mark.parametrize("passed,expected", [(5, 5.0), (4, 4.0), (1, 1.0), (0, 0.0)])
def test_nbgrader_scores_a_review_part_a_point_per_right_answer(passed, expected):
    from nbgrader.utils import determine_grade

    from autograder.nbgrader_plugin import cell_outputs, partial_points
    from autograder.results import JudgeReport, TestResult

    report = JudgeReport(exercise="review", results=[
        TestResult(test=f"test_data[q{i}]", part="data", checks="", passed=i < passed) for i in range(5)])
    ok, text = format_part(report, "data")
    partial = None if ok else partial_points(report, "data", 5.0)
    assert determine_grade(_graded_cell(cell_outputs(ok, text, partial), 5), None) == (expected, 5.0)


def test_code_exercises_keep_all_or_nothing():
    assert EXERCISES["review"].partial_credit
    assert not any(e.partial_credit for name, e in EXERCISES.items() if name != "review")
