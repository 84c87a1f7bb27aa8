"""Where do I stand? A table of the exercises, each with how many of its visible checks pass now.

A click on "Check all" (or "Check this one") runs each exercise notebook, as it is saved, in a fresh
kernel of its own (``dspatterns.progress``) while this kernel stays free; each row fills in as its
notebook finishes. A row's bar is the share of its visible checks that pass, green when all do, red
when one fails (the first failing check's name and the first line of its error beside it), orange
when the exercise is not started, grey when the notebook could not run. Each family's header row
counts its exercises that pass.
"""
from __future__ import annotations

import html
import threading
from pathlib import Path

import ipywidgets as widgets

from dspatterns.progress import (
    CELL_TIMEOUT_S,
    COULD_NOT_RUN,
    FAILING,
    NOT_STARTED,
    PASSED,
    PENDING,
    RUNNING,
    ExerciseNotebook,
    NotebookProgress,
    ProgressRun,
    default_exercises_folder,
    find_exercise_notebooks,
)

BAR_STYLES = {PASSED: "success", FAILING: "danger", NOT_STARTED: "warning", COULD_NOT_RUN: "", PENDING: "", RUNNING: "info"}
STATE_COLOURS = {PASSED: "#2e7d32", FAILING: "#c62828", NOT_STARTED: "#ef6c00", COULD_NOT_RUN: "#616161",
                 PENDING: "#9e9e9e", RUNNING: "#1565c0"}
ROW = widgets.Layout(grid_template_columns="190px 170px 60px 1fr", grid_gap="2px 10px", width="100%")


class ExerciseRow:
    """One exercise's line in the table: its name, a bar of passing checks, the count and what failed."""

    def __init__(self, exercise: ExerciseNotebook):
        self.exercise = exercise
        self.name = widgets.HTML(f"&nbsp;&nbsp;<code>{html.escape(exercise.name)}</code>")
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="160px"))
        self.count = widgets.HTML("–")
        self.status = widgets.HTML()
        self.result: NotebookProgress | None = None
        self.show_state(PENDING)

    @property
    def cells(self) -> list[widgets.Widget]:
        return [self.name, self.bar, self.count, self.status]

    def show_state(self, state: str, text: str | None = None) -> None:
        self.bar.bar_style = BAR_STYLES[state]
        colour = STATE_COLOURS[state]
        self.status.value = f'<span style="color:{colour}">{html.escape(text or state)}</span>'

    def show(self, result: NotebookProgress) -> None:
        self.result = result
        self.bar.max = max(result.total, 1)
        self.bar.value = result.passed
        self.count.value = f"{result.passed}/{result.total}" if result.total else "–"
        self.show_state(result.state, result.summary)


class FamilyRow:
    """A family's header: how many of its exercises pass all their visible checks."""

    def __init__(self, family: str, rows: list[ExerciseRow]):
        self.rows = rows
        self.name = widgets.HTML(f"<b>{html.escape(family)}</b>")
        self.bar = widgets.IntProgress(value=0, min=0, max=len(rows), layout=widgets.Layout(width="160px"))
        self.count = widgets.HTML()
        self.status = widgets.HTML()
        self.update()

    @property
    def cells(self) -> list[widgets.Widget]:
        return [self.name, self.bar, self.count, self.status]

    def update(self) -> None:
        passing = sum(1 for row in self.rows if row.result and row.result.state == PASSED)
        self.bar.value = passing
        self.bar.bar_style = "success" if passing == len(self.rows) else ""
        self.count.value = f"<b>{passing}/{len(self.rows)}</b>"
        self.status.value = f"<b>{passing} of {len(self.rows)} exercises pass their visible checks</b>"


class ProgressView(widgets.VBox):
    """The table, its buttons and a line saying how far a run has got."""

    def __init__(self, folder: Path | str | None = None, cell_timeout: float = CELL_TIMEOUT_S):
        self.folder = Path(folder) if folder is not None else default_exercises_folder()
        self.runner = ProgressRun(find_exercise_notebooks(self.folder), cell_timeout)
        self.rows = {exercise.label: ExerciseRow(exercise) for exercise in self.runner.exercises}
        families: dict[str, list[ExerciseRow]] = {}
        for row in self.rows.values():
            families.setdefault(row.exercise.family, []).append(row)
        self.families = {family: FamilyRow(family, rows) for family, rows in families.items()}
        cells = [cell for family in self.families.values()
                 for row in [family, *family.rows] for cell in row.cells]
        self.table = widgets.GridBox(cells, layout=ROW)

        self.check_all = widgets.Button(description="Check all", button_style="primary", icon="play")
        self.choice = widgets.Dropdown(options=list(self.rows), description="Exercise:",
                                       layout=widgets.Layout(width="340px"))
        self.check_one = widgets.Button(description="Check this one", icon="play")
        self.check_all.on_click(lambda _: self.check())
        self.check_one.on_click(lambda _: self.check([self.choice.value]))
        self.progress = widgets.IntProgress(value=0, min=0, max=max(len(self.rows), 1),
                                            layout=widgets.Layout(width="300px"))
        self.line = widgets.HTML()
        self.thread: threading.Thread | None = None
        where = html.escape(str(self.folder))
        intro = widgets.HTML(
            f"Exercise notebooks in <code>{where}</code> ({len(self.rows)} found). Each runs as it is "
            f"<b>saved</b> (save first), in a fresh kernel of its own, never changing your file; a cell still "
            f"running after {cell_timeout:g} s is stopped.")
        if not self.rows:
            self.line.value = f"<b>No exercise notebooks found in <code>{where}</code>.</b>"
        super().__init__([intro, widgets.HBox([self.check_all, self.choice, self.check_one]),
                          widgets.HBox([self.progress, self.line]), self.table])

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def check(self, labels: list[str] | None = None) -> threading.Thread | None:
        """Checks the named exercises (``family/name``; all by default) in a background thread."""
        if self.running:
            return None
        chosen = list(self.rows) if labels is None else [label for label in labels if label in self.rows]
        self.progress.max, self.progress.value = max(len(chosen), 1), 0
        for label in chosen:
            self.rows[label].show_state(PENDING)
        self.check_all.disabled = self.check_one.disabled = True
        self.thread = threading.Thread(target=self._run, args=(chosen,), name="dspatterns-progress", daemon=True)
        self.thread.start()
        return self.thread

    def _run(self, chosen: list[str]) -> None:
        def started(exercise: ExerciseNotebook) -> None:
            self.rows[exercise.label].show_state(RUNNING, "running in a fresh kernel…")
            self.line.value = (f"checking <code>{html.escape(exercise.label)}</code> "
                               f"({self.progress.value + 1} of {len(chosen)})…")

        def finished(result: NotebookProgress) -> None:
            self.rows[result.exercise.label].show(result)
            self.families[result.exercise.family].update()
            self.progress.value += 1

        try:
            results = self.runner.run(on_start=started, on_result=finished, only=chosen)
            passing = sum(1 for result in results if result.state == PASSED)
            self.line.value = f"done: {passing} of {len(results)} checked notebooks pass all their visible checks"
        except Exception as failed:  # shown, not lost in a thread
            self.line.value = f'<span style="color:#c62828">the check stopped: {html.escape(repr(failed))}</span>'
        finally:
            self.check_all.disabled = self.check_one.disabled = False


def progress_view(folder: Path | str | None = None, cell_timeout: float = CELL_TIMEOUT_S) -> ProgressView:
    """The progress table for the exercise notebooks in ``folder`` (default: the course's exercises/;
    after ``nbgrader fetch_assignment``, pass the folder you fetched into, e.g. ``progress_view("~/my-work")``)."""
    return ProgressView(Path(folder).expanduser() if folder is not None else None, cell_timeout)
