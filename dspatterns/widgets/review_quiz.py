"""The interview review's practice quiz: pick a choice (or type a number), press Check, and read
whether it was right and why. One call per family (``review_quiz("data")``); ``review_score()``
draws how many questions of each family were answered right so far.

The questions come from ``dspatterns/review/practice.json`` (practice questions only), and answers
are read by ``dspatterns/review/answers.py``, the same rules the graded review uses: letters in any
case, numbers as ``0.2``, ``1/5`` or ``20%``. Every text is in English and Russian; the language
switch above each family's questions changes them all.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.review.answers import read_number
from dspatterns.review.practice import LANGUAGES, PracticeQuestion, family_titles, practice_questions

WORDS = {
    "en": {"check": "Check", "right": "✔ Right.", "wrong": "✘ Not quite. The answer is {answer}.",
           "pick": "Pick a letter first.", "unreadable": "Could not read a number from {value!r}; "
           "try 0.2, 1/5 or 20%.", "number": "your answer (a number: 0.2, 1/5 or 20%)",
           "question": "Question {n}", "score": "{right} of {total} practice questions answered right "
           "({checked} checked)", "right_series": "right", "checked_series": "checked",
           "total_series": "questions"},
    "ru": {"check": "Проверить", "right": "✔ Верно.", "wrong": "✘ Неверно. Правильный ответ: {answer}.",
           "pick": "Сначала выберите букву.", "unreadable": "Не удалось прочитать число из {value!r}; "
           "попробуйте 0.2, 1/5 или 20%.", "number": "ваш ответ (число: 0.2, 1/5 или 20%)",
           "question": "Вопрос {n}", "score": "Верных ответов: {right} из {total} тренировочных вопросов "
           "(проверено {checked})", "right_series": "верно", "checked_series": "проверено",
           "total_series": "вопросов"},
}
RIGHT_COLOUR, WRONG_COLOUR = "#2e7d32", "#c62828"


class QuizScore:
    """The latest verdict on each practice question the student checked, shared by every quiz so
    that ``review_score`` can sum them up; listeners are told after each check."""

    def __init__(self):
        self.verdicts: dict[str, bool] = {}
        self._listeners = []

    def record(self, question: PracticeQuestion, right: bool) -> None:
        self.verdicts[question.id] = right
        for listener in self._listeners:
            listener()

    def on_change(self, listener) -> None:
        self._listeners.append(listener)

    def by_family(self, questions: list[PracticeQuestion]) -> dict[str, tuple[int, int, int]]:
        """{family: (right, checked, questions)}, in the order of ``questions``."""
        counts: dict[str, list[int]] = {}
        for question in questions:
            right, checked, total = counts.setdefault(question.family, [0, 0, 0])
            verdict = self.verdicts.get(question.id)
            counts[question.family] = [right + (verdict is True), checked + (verdict is not None), total + 1]
        return {family: tuple(values) for family, values in counts.items()}


SCORE = QuizScore()


class QuestionCard:
    """One question: its prompt and choices, a way to answer, a Check button and the verdict."""

    def __init__(self, question: PracticeQuestion, number: int, score: QuizScore, language: str = "en"):
        self.question, self.number, self.score, self.language = question, number, score, language
        self.prompt = widgets.HTML()
        if question.kind == "choice":
            self.answer = widgets.ToggleButtons(options=list(question.letters), value=None,
                                                style={"button_width": "3em"})
        else:
            self.answer = widgets.Text(value="", layout=widgets.Layout(width="22em"))
        self.check_button = widgets.Button(button_style="primary")
        self.verdict = widgets.HTML()
        self.last: tuple[str, object] | None = None  # ("right" | "wrong" | "pick" | "unreadable", value)
        self.check_button.on_click(lambda _button: self.check())
        self.widget = widgets.VBox([self.prompt, widgets.HBox([self.answer, self.check_button]), self.verdict],
                                   layout=widgets.Layout(margin="0 0 1.2em 0"))
        self.set_language(language)

    def set_language(self, language: str) -> None:
        self.language = language
        text, words = self.question.text[language], WORDS[language]
        lines = [f"<b>{words['question'].format(n=self.number)}.</b> {_inline(text.prompt)}"]
        if text.choices:
            lines.append("<ol type='a' style='margin:0.3em 0'>"
                         + "".join(f"<li>{_inline(choice)}</li>" for choice in text.choices) + "</ol>")
        self.prompt.value = "".join(lines)
        self.check_button.description = words["check"]
        if isinstance(self.answer, widgets.Text):
            self.answer.placeholder = words["number"]
        self._show()

    def check(self) -> bool | None:
        """Judge the current answer, show the verdict, record it; None when there is nothing to judge."""
        value = self.answer.value
        if self.question.kind == "choice" and value is None:
            self.last = ("pick", value)
        elif self.question.kind == "numeric" and read_number(value) is None:
            self.last = ("unreadable", value)
        else:
            right = self.question.is_right(value)
            self.last = ("right" if right else "wrong", value)
            self.score.record(self.question, right)
        self._show()
        return {"right": True, "wrong": False}.get(self.last[0])

    def _show(self) -> None:
        if self.last is None:
            self.verdict.value = ""
            return
        kind, value = self.last
        words, text = WORDS[self.language], self.question.text[self.language]
        if kind in ("pick", "unreadable"):
            self.verdict.value = f"<i>{html.escape(words[kind].format(value=value))}</i>"
            return
        colour = RIGHT_COLOUR if kind == "right" else WRONG_COLOUR
        head = words[kind].format(answer=self.question.answer_text(self.language).rstrip("."))
        self.verdict.value = (f"<div style='border-left:4px solid {colour};padding-left:0.6em'>"
                              f"<b style='color:{colour}'>{_inline(head)}</b> {_inline(text.explanation)}</div>")


def _inline(text: str) -> str:
    """Plain text with `code` spans, as HTML."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


class FamilyQuiz:
    """A family's practice questions under one heading and one language switch."""

    def __init__(self, family: str, *, language: str = "en", score: QuizScore = SCORE):
        if family not in family_titles():
            raise ValueError(f"unknown family {family!r}; the families are {', '.join(family_titles())}")
        questions = practice_questions(family)
        self.family, self.titles = family, family_titles()[family]
        self.cards = [QuestionCard(q, n, score, language) for n, q in enumerate(questions, start=1)]
        self.language_switch = widgets.ToggleButtons(options=[(lang.upper(), lang) for lang in LANGUAGES],
                                                     value=language, style={"button_width": "4em"})
        self.heading = widgets.HTML()
        self.language_switch.observe(lambda change: self.set_language(change["new"]), names="value")
        empty = [] if self.cards else [widgets.HTML("<i>No practice questions in this family yet.</i>")]
        self.widget = widgets.VBox([widgets.HBox([self.heading, self.language_switch]),
                                    *[card.widget for card in self.cards], *empty])
        self.set_language(language)

    def set_language(self, language: str) -> None:
        self.heading.value = f"<h4 style='margin:0.3em 1em 0.3em 0'>{html.escape(self.titles[language])}</h4>"
        for card in self.cards:
            card.set_language(language)
        if self.language_switch.value != language:
            self.language_switch.value = language


def review_quiz(family: str, *, language: str = "en", score: QuizScore = SCORE) -> widgets.VBox:
    """The practice questions of one family (communication, resilience, data, scaling, caching,
    discovery, idempotency) as a quiz."""
    quiz = FamilyQuiz(family, language=language, score=score)
    quiz.widget.quiz = quiz  # so that code (and tests) can reach the cards behind the widget
    return quiz.widget


def score_series(score: QuizScore, language: str = "en") -> dict[str, dict]:
    counts = score.by_family(practice_questions())
    names = list(counts)
    words = WORDS[language]
    return {"total": {"x": names, "y": [counts[f][2] for f in names], "name": words["total_series"]},
            "checked": {"x": names, "y": [counts[f][1] for f in names], "name": words["checked_series"]},
            "right": {"x": names, "y": [counts[f][0] for f in names], "name": words["right_series"]}}


def score_title(score: QuizScore, language: str = "en") -> str:
    counts = score.by_family(practice_questions()).values()
    return WORDS[language]["score"].format(right=sum(c[0] for c in counts), checked=sum(c[1] for c in counts),
                                           total=sum(c[2] for c in counts))


def review_score(*, language: str = "en", score: QuizScore = SCORE) -> go.FigureWidget:
    """How many practice questions of each family were answered right, redrawn after every Check."""
    colours = {"total": "#e0e0e0", "checked": "#90caf9", "right": RIGHT_COLOUR}
    figure = go.FigureWidget()
    for meta, values in score_series(score, language).items():
        figure.add_trace(go.Bar(meta=meta, marker_color=colours[meta], **values))
    figure.update_layout(title=score_title(score, language), barmode="overlay", height=320,
                         template="plotly_white", yaxis_title="questions", yaxis_dtick=1,
                         margin={"l": 60, "r": 20, "t": 60, "b": 40})

    def redraw() -> None:
        series = score_series(score, language)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = score_title(score, language)

    score.on_change(redraw)
    return figure
