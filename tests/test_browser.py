"""End to end: a real JupyterLab, driven by headless Debian chromium through Playwright.

Opens every course notebook (course/*.ipynb, the index included, found by glob) as a student would, runs
every cell from the Run menu, and checks that no cell errors and that every widget view the run produced
renders (no "Error displaying widget", no "Loading widget..." left, its plotly figures drawn). Then, for
each widget view found in the page (not by per-notebook selectors, see tests/jupyterlab_browser.py), it
moves one control as a person would (keyboard on a slider's handle, another option in a dropdown, a
click on a toggle) and checks that the view's figure changed: a widget whose control changes nothing
fails, named by notebook, position and control. A widget with no control (a static FigureWidget) is
only checked to render. Static plotly figures outside widgets are checked to be drawn too.

One JupyterLab server and one browser serve all notebooks (module-scoped); each notebook gets a fresh
page and workspace, and its kernel is shut down after it. Per notebook: a screenshot, one per widget
view, and the browser console in test-output/<test name>/; the server log in test-output/test_browser/;
a summary of every notebook's widgets (rendered, moved, changed) in test-output/browser-widgets.json.
How fast the widgets react is measured by benchmarks/widget_reaction.py, not here.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

import jupyterlab_browser as lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COURSE = Path(__file__).resolve().parent.parent / "course"
NOTEBOOKS = sorted(f"course/{path.name}" for path in COURSE.glob("*.ipynb"))

# Widgets whose controls the test does not move, by (notebook, the label of a button in the widget that
# starts a long job), each with its reason. Only such buttons belong here; the widget is still checked to render.
EXEMPT_BUTTONS: dict[tuple[str, str], str] = {
    ("course/00_index.ipynb", "Check all"): (
        "the progress table: its buttons run every exercise notebook's visible checks, each in a fresh kernel "
        "(minutes); its own tests run it on real kernels"),
}

SUMMARY_FILE = "browser-widgets.json"


@pytest.fixture(scope="module")
def module_output(repo_root: Path) -> Path:
    """test-output/test_browser/ (the server's log), emptied at the start of the module."""
    path = repo_root / "test-output" / "test_browser"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def jupyter_lab(repo_root: Path, module_output: Path, tmp_path_factory):
    with lab.running_jupyter_lab(repo_root, tmp_path_factory.mktemp("jupyterlab"),
                                 module_output / "jupyter.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with lab.chromium_browser() as running:
        yield running


@pytest.fixture(scope="module")
def widget_summary(repo_root: Path):
    """Each notebook's report, by notebook; written to test-output/browser-widgets.json after the module."""
    reports: dict[str, dict] = {}
    yield reports
    (repo_root / "test-output" / SUMMARY_FILE).write_text(json.dumps(reports, indent=2) + "\n")


@pytest.fixture
def page(browser, jupyter_lab, artifacts_dir: Path):
    console: list[str] = []
    try:
        with lab.new_page(browser, console) as opened:
            yield opened
    finally:
        (artifacts_dir / "browser-console.log").write_text("\n".join(console) + "\n")
        jupyter_lab.shut_down_kernels()


def test_jupyterlab_has_the_course_extensions_and_no_autosave(jupyter_lab):
    # nbgrader's JupyterLab extension is installed and enabled, with the widget and plotly renderers.
    # (The extension manager's API names "@jupyter/nbgrader" "jupyter-nbgrader".)
    _, body = jupyter_lab.api("/lab/api/extensions")
    extensions = {e["name"]: e for e in json.loads(body)}
    for package in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager", "jupyterlab-plotly", "anywidget"):
        name = package.lstrip("@").replace("/", "-")
        assert name in extensions, f"lab extension {package} is missing; installed: {sorted(extensions)}"
        ext = extensions[name]
        assert ext["enabled"] and ext["status"] == "ok", f"lab extension {package} is not usable: {ext}"
    # Autosave is off for this server (see JupyterLabServer), so running cells won't rewrite the notebooks.
    _, body = jupyter_lab.api("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    assert json.loads(body)["settings"].get("autosave") is False, "autosave is not disabled for the test"


def rendering_problems(page, view: lab.WidgetView) -> list[str]:
    drawn = lab.rendering(page, view)
    problems = []
    if drawn["error"] or drawn["loading"]:
        problems.append("shows " + ("'Error displaying widget'" if drawn["error"] else "'Loading widget...'"))
    if not drawn["view"]:
        problems.append("holds no rendered widget")
    if drawn["width"] < 50 or drawn["height"] < 10:
        problems.append(f"is not drawn ({drawn['width']}x{drawn['height']})")
    for number, plot in enumerate(drawn["plots"], start=1):
        if not plot["svg"] or plot["width"] < 100 or plot["height"] < 100 or plot["traces"] == 0:
            problems.append(f"plot {number} is not drawn ({plot})")
    return problems


def move_and_check(page, view: lab.WidgetView) -> tuple[str, list[str]]:
    """Moves the view's control once; returns what moved and what in the view changed."""
    lab.remember_figure(page, view)
    moved = lab.move_control(page, view)
    changes = lab.figure_changes(page, view)
    lab.wait_until_idle(page)
    return moved, changes


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_widget_of_the_notebook_renders_and_reacts_in_jupyterlab(jupyter_lab, page, artifacts_dir,
                                                                      widget_summary, notebook):
    stem = Path(notebook).stem
    started = time.monotonic()
    try:
        errors = lab.run_notebook(page, jupyter_lab, notebook)
        assert not errors, f"running {notebook} in JupyterLab raised: {errors}"
        ran_s = time.monotonic() - started
        assert page.locator(".jp-MenuBar, #jp-menu-panel").first.get_by_text("Nbgrader").count() >= 1, (
            "nbgrader's menu is not in JupyterLab's menu bar")

        # Every widget output of the run renders: none stuck loading, none in error, as many views in the
        # page as widget outputs in the notebook's model, each drawn with its plotly figures.
        lab.wait_until_widgets_settle(page)
        outputs = page.locator(".jp-Cell .jp-OutputArea-output")
        assert outputs.filter(has_text="Error displaying widget").count() == 0, (
            f"{notebook}: a widget shows 'Error displaying widget'")
        views = lab.find_widget_views(page)
        expected = lab.widget_outputs_in_model(page)
        assert len(views) == expected, (
            f"{notebook}: {expected} widget outputs in the notebook, {len(views)} widget views in the page")
        not_drawn = {view.name: problems for view in views if (problems := rendering_problems(page, view))}
        assert not not_drawn, f"{notebook}: widgets not drawn: {not_drawn}"
        static = lab.static_figures(page)
        bad_static = [f for f in static if not f["svg"] or f["width"] < 100 or f["height"] < 100 or not f["traces"]]
        assert not bad_static, f"{notebook}: static plotly figures not drawn: {bad_static}"

        # One control per widget moves, and the widget's figure (its plotly figures, or its text areas
        # where it has none) shows something else afterwards.
        report = []
        for view in views:
            entry = {"widget": view.index + 1, "cell": view.cell, "plots": view.plots, "texts": view.texts,
                     "rendered": True, "control": view.control_name, "moved": None, "changed": None}
            exempt = next((EXEMPT_BUTTONS[notebook, label] for label in view.controls
                           if (notebook, label) in EXEMPT_BUTTONS), None)
            if exempt:
                entry["exempt"] = exempt
            elif view.control:
                entry["moved"], entry["changed"] = move_and_check(page, view)
            report.append(entry)
            print(f"{notebook} {view.name}: {view.plots} plot(s), {view.texts} text area(s), "
                  f"{view.control_name}: " + (f"exempt ({exempt})" if exempt else
                                              f"{entry['moved']}, changed {entry['changed']}" if view.control
                                              else "static, rendered"))
            lab.view_locator(page, view).screenshot(path=str(artifacts_dir / f"{stem}-widget-{view.index + 1}.png"))

        widget_summary[notebook] = {
            "widgets": len(views), "moved": sum(e["moved"] is not None for e in report),
            "changed": sum(bool(e["changed"]) for e in report), "static_figures": len(static),
            "run_seconds": round(ran_s, 1), "seconds": round(time.monotonic() - started, 1), "views": report,
        }
        if views:
            lab.view_locator(page, views[0]).evaluate("el => el.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(artifacts_dir / f"{stem}.png"))

        unchanged = [f"{notebook}: {view.name}: moving its {view.control_name} ({entry['moved']}) did not "
                     f"change its {'plot' if view.plots else 'text'}"
                     for view, entry in zip(views, report) if entry["moved"] is not None
                     and not any(re.match("plot" if view.plots else "text", part) for part in entry["changed"])]
        assert not unchanged, "\n".join(unchanged)
        # Nothing was saved: the outputs of this run stay in the browser, not in the course's notebook.
        assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty"), (
            f"{notebook} was saved during the test (autosave should be off)")
    except BaseException:
        try:
            page.screenshot(path=str(artifacts_dir / "failure.png"))
        except Exception:  # noqa: BLE001 - best effort, the original error matters
            pass
        print(f"--- jupyter lab log (full log: {jupyter_lab.log_path}) ---\n{jupyter_lab.log_tail()}")
        raise
