"""Driving a real JupyterLab in headless Debian chromium (Playwright): one place for the browser test and
the widget reaction benchmark (benchmarks/widget_reaction.py).

What is here, in the order a run uses it:

- ``JupyterLabServer``: ``jupyter lab`` on a free port with its own settings (no autosave, no windowed
  notebook rendering, so every cell's outputs are in the page);
- ``chromium_browser`` / ``new_page``: Debian's chromium through Playwright;
- ``open_notebook`` / ``run_all_cells`` / ``wait_until_all_cells_ran`` / ``cell_errors``: a notebook
  opened and run from the Run menu as a student would;
- ``find_widget_views``: every output area holding a jupyter-widgets view, found in the DOM (not per
  notebook), each with one control to move (``Control``) and the figure it should redraw;
- ``move_control`` and ``figure_signature``: a person's change to that control (keyboard on a slider's
  handle, another option in a dropdown, a click on a toggle) and what the figure shows, compared before
  and after;
- ``ReactionProbe``: the time from the control change to the last redraw of the figure, measured in
  the page (``performance.now()`` at the input event, a MutationObserver on the figure).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from conftest import find_free_port

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As root and on this closed network, chromium needs these (without the background-networking ones its
# connections are refused).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 1400}
SERVER_START_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_MS = 240_000
UI_TIMEOUT_MS = 60_000
# A control change must redraw its figure within this (a real simulation runs in the kernel meanwhile).
REDRAW_TIMEOUT_MS = 30_000
# The figure counts as redrawn once nothing in it has changed for this long (plotly draws in steps).
QUIET_MS = 300

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"

# The current notebook's kernel is connected and idle (the app is exposed with --LabApp.expose_app_in_browser).
KERNEL_READY_JS = """
() => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const ctx = widget && widget.sessionContext;
    const kernel = ctx && ctx.session && ctx.session.kernel;
    return Boolean(ctx && ctx.isReady && kernel && kernel.connectionStatus === 'connected'
                   && kernel.status === 'idle');
}
"""
# The kernel is idle and either every non-empty code cell of the current notebook has an execution count
# or a cell stopped the run with an error (Run All stops there; the caller then reports that error).
ALL_CELLS_RAN_JS = f"""
() => {{
    const widget = window.jupyterapp.shell.currentWidget;
    const cells = Array.from(widget.content.model.cells)
        .filter(c => c.type === 'code' && c.sharedModel.getSource().trim() !== '');
    const ran = cells.length > 0 && cells.every(c => c.executionCount !== null && c.executionCount !== undefined);
    const failed = cells.some(c => c.outputs.toJSON().some(o => o.output_type === 'error'));
    return (ran || failed) && ({KERNEL_READY_JS.strip()})();
}}
"""
# Either the kernel is ready, or JupyterLab asks which kernel to use (a notebook without kernel metadata).
KERNEL_READY_OR_ASKING_JS = f"""
() => ({KERNEL_READY_JS.strip()})() || Boolean(document.querySelector('.jp-Dialog'))
"""
CELL_ERRORS_JS = """
() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
    .flatMap((c, i) => c.type === 'code' ? c.outputs.toJSON().map(o => [i + 1, o]) : [])
    .filter(([, o]) => o.output_type === 'error').map(([i, o]) => `cell ${i}: ${o.ename}: ${o.evalue}`)
"""
# How many outputs of the notebook's model are widget views: what the page must show as many of.
WIDGET_OUTPUTS_IN_MODEL_JS = f"""
() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
    .flatMap(c => c.type === 'code' ? c.outputs.toJSON() : [])
    .filter(o => o.data && o.data['{WIDGET_VIEW_MIME}']).length
"""

# The page-side half of this module, installed once per page as window.dspWidgets: finding the views,
# their controls and figures, and the reaction probe. Elements are tagged data-dsp-view="N" (a view) and
# data-dsp-control="N" (its chosen control) so that Playwright locators can find them again.
PAGE_HELPERS_JS = r"""
() => {
if (window.dspWidgets) return;
// Controls in the order one is chosen: the first kind a view has is the one moved.
const CONTROL_KINDS = [
    ['slider', '.widget-slider'],
    ['dropdown', '.widget-dropdown'],
    ['toggle buttons', '.widget-toggle-buttons'],
    ['radio buttons', '.widget-radio'],
    ['checkbox', '.widget-checkbox'],
    ['text box', '.widget-text, .widget-textarea'],
    ['toggle button', '.widget-toggle-button:not(.widget-toggle-buttons *)'],
    ['button', 'button.widget-button:not(.widget-toggle-buttons *)'],
];
const MIME = '""" + WIDGET_VIEW_MIME + r"""';
const FIGURE_TEXT = '.widget-html-content, .widget-htmlmath-content, .widget-output .jp-OutputArea-output';

function widgetOutputs(cell) {
    // The output areas of a code cell whose model output is a widget view (read from the model, since a
    // bare FigureWidget renders as a plotly div without the jupyter-widgets class). An Output widget's
    // own output areas inside a view belong to that view.
    if (cell.model.type !== 'code') return [];
    const outputs = cell.model.outputs, found = [];
    for (let i = 0; i < outputs.length; i++) {
        const data = outputs.get(i).data || {};
        const child = cell.outputArea.widgets[i];
        if (data[MIME] && child) found.push(child.node.querySelector('.jp-OutputArea-output') || child.node);
    }
    return found;
}

function enabled(el) {
    return !el.querySelector('[disabled]') && !el.matches('[disabled]') && el.getClientRects().length > 0;
}

function describe(kind, el) {
    if (kind === 'button' || kind === 'toggle button') return el.innerText.trim() || el.title || '(no label)';
    const label = el.querySelector(':scope > .widget-label, :scope > label');
    if (label && label.innerText.trim()) return label.innerText.trim();
    // No description: name it by its choices (a toggle between EN and RU is 'EN/RU').
    const choices = Array.from(el.querySelectorAll('button, option, label')).map(c => c.innerText.trim())
        .filter(Boolean);
    return choices.length ? choices.join('/') : (el.title || '(no description)');
}

function chooseControl(view) {
    for (const [kind, selector] of CONTROL_KINDS) {
        const el = Array.from(view.querySelectorAll(selector)).find(enabled);
        if (el) return {kind, el};
    }
    return null;
}

function plots(view) { return Array.from(view.querySelectorAll('.js-plotly-plot')); }

function insideControl(view, el) {
    const control = view.querySelector('[data-dsp-control]');
    return Boolean(control && (control === el || control.contains(el)));
}

function texts(view) {
    return Array.from(view.querySelectorAll(FIGURE_TEXT))
        .filter(el => !insideControl(view, el) && !el.closest('.js-plotly-plot'))
        .filter(el => !el.parentElement.closest(FIGURE_TEXT));
}

const skipPrivate = (key, value) =>
    key.startsWith('_') ? undefined : (ArrayBuffer.isView(value) ? Array.from(value) : value);

function plotSignature(gd) {
    // A figure's data and the parts of its layout that redraws change (typed arrays become lists;
    // plotly's base64 {dtype, bdata} arrays stay as they are, which also changes with the data).
    const layout = gd.layout || {};
    return JSON.stringify({
        data: gd.data || [],
        layout: {title: layout.title, shapes: layout.shapes, annotations: layout.annotations,
                 images: layout.images, xaxis: layout.xaxis && layout.xaxis.range,
                 yaxis: layout.yaxis && layout.yaxis.range},
    }, skipPrivate);
}

function viewOf(index) {
    const view = document.querySelector(`[data-dsp-view="${index}"]`);
    if (!view) throw new Error(`no widget view ${index}`);
    return view;
}

window.dspWidgets = {
    // Tags every widget view of the current notebook and its control; returns what was found.
    find() {
        const notebook = window.jupyterapp.shell.currentWidget.content;
        const found = [];
        document.querySelectorAll('[data-dsp-view]').forEach(el => el.removeAttribute('data-dsp-view'));
        document.querySelectorAll('[data-dsp-control]').forEach(el => el.removeAttribute('data-dsp-control'));
        notebook.widgets.forEach((cell, cellIndex) => {
            widgetOutputs(cell).forEach(view => {
                const index = found.length;
                view.setAttribute('data-dsp-view', String(index));
                const control = chooseControl(view);
                if (control) control.el.setAttribute('data-dsp-control', String(index));
                found.push({
                    index, cell: cellIndex + 1,
                    text: view.innerText.slice(0, 200),
                    control: control && {kind: control.kind, description: describe(control.kind, control.el)},
                    controls: CONTROL_KINDS.flatMap(([kind, selector]) =>
                        Array.from(view.querySelectorAll(selector)).map(el => describe(kind, el))),
                    plots: plots(view).length,
                    texts: texts(view).length,
                });
            });
        });
        return found;
    },
    // What the view shows, apart from its chosen control: the plotly figures and the text areas.
    signature(index) {
        const view = viewOf(index);
        return {plots: plots(view).map(plotSignature), texts: texts(view).map(el => el.innerText)};
    },
    // Keeps what the view shows now, to compare with later in the page (the same serialisation both times).
    remember(index) { (window.dspRemembered = window.dspRemembered || {})[index] = this.signature(index); },
    // Which parts differ from what remember() kept: plot i, text i.
    changes(index) {
        const before = window.dspRemembered[index], now = this.signature(index);
        const differ = (a, b, what) => Array.from({length: Math.max(a.length, b.length)}, (_, i) => i)
            .filter(i => a[i] !== b[i]).map(i => `${what} ${i + 1}`);
        return differ(before.plots, now.plots, 'plot').concat(differ(before.texts, now.texts, 'text'));
    },
    // The plotly figures outside widget views (static go.Figure outputs): each one's size and SVG.
    staticFigures() {
        return Array.from(document.querySelectorAll('.jp-Cell .jp-OutputArea-output.jp-RenderedPlotly'))
            .filter(out => !out.closest('[data-dsp-view]')).map(out => {
                const gd = out.matches('.js-plotly-plot') ? out : out.querySelector('.js-plotly-plot');
                const r = (gd || out).getBoundingClientRect();
                return {width: r.width, height: r.height, svg: Boolean(out.querySelector('.main-svg')),
                        traces: gd && gd.data ? gd.data.length : 0};
            });
    },
    // Whether the view is drawn: its box has a size, and each plotly figure has its SVG and a size.
    rendering(index) {
        const view = viewOf(index);
        const box = view.getBoundingClientRect();
        return {
            width: box.width, height: box.height,
            plots: plots(view).map(gd => {
                const r = gd.getBoundingClientRect();
                return {width: r.width, height: r.height, svg: Boolean(gd.querySelector('.main-svg')),
                        traces: (gd.data || []).length};
            }),
            view: Boolean(view.querySelector('.jupyter-widgets, .js-plotly-plot')),
            loading: /Loading widget/.test(view.innerText),
            error: /Error displaying widget/.test(view.innerText),
        };
    },
    // The reaction probe: the time of the first input event on the control, and of every DOM change in
    // the rest of the view after it (the control's own readout is left out: it moves without the kernel).
    arm(index) {
        const view = viewOf(index);
        const control = view.querySelector('[data-dsp-control]');
        const probe = {start: null, firstRedraw: null, lastRedraw: null, redraws: 0};
        const started = () => { if (probe.start === null) probe.start = performance.now(); };
        const events = ['keydown', 'mousedown', 'input', 'change'];
        events.forEach(name => control.addEventListener(name, started, {capture: true}));
        const observer = new MutationObserver(records => {
            const now = performance.now();
            if (probe.start === null) return;
            if (records.every(r => insideControl(view, r.target))) return;
            if (probe.firstRedraw === null) probe.firstRedraw = now;
            probe.lastRedraw = now;
            probe.redraws += 1;
        });
        observer.observe(view, {subtree: true, childList: true, attributes: true, characterData: true});
        probe.disarm = () => {
            observer.disconnect();
            events.forEach(name => control.removeEventListener(name, started, {capture: true}));
        };
        window.dspProbe = probe;
    },
    read() {
        const p = window.dspProbe;
        return {start: p.start, firstRedraw: p.firstRedraw, lastRedraw: p.lastRedraw, redraws: p.redraws,
                now: performance.now()};
    },
    disarm() { if (window.dspProbe) { window.dspProbe.disarm(); window.dspProbe = null; } },
};
}
"""


class JupyterLabServer:
    """`jupyter lab` in a subprocess on a free port, isolated from the user's settings and workspaces."""

    def __init__(self, root_dir: Path, work_dir: Path, log_path: Path) -> None:
        self.port = find_free_port()
        self.token = secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        jupyter = Path(sys.executable).with_name("jupyter")
        assert jupyter.exists(), f"no jupyter next to the test's python ({jupyter}): run the tests with ./run test"
        cmd = [
            str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={root_dir}",
            f"--LabApp.workspaces_dir={work_dir / 'workspaces'}",
            f"--LabApp.user_settings_dir={work_dir / 'user-settings'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        # Fresh user settings: no autosave (the test must not write outputs into the course's notebooks),
        # no question about Jupyter news (its toast would cover part of the notebook in screenshots), and
        # no windowed rendering (every cell's outputs stay in the page, where the widgets are looked for).
        settings = {
            "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
            "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        }
        for plugin, values in settings.items():
            path = work_dir / "user-settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(work_dir / "runtime"))
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=root_dir, start_new_session=True)

    def api(self, path: str, method: str = "GET") -> tuple[int, bytes]:
        req = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()

    def notebook_url(self, notebook: str) -> str:
        """The notebook alone in a workspace of its own, emptied first: workspaces live on the server, so
        with a shared one the next notebook would open beside the previous one (which would stay current)."""
        workspace = "".join(ch if ch.isalnum() else "-" for ch in Path(notebook).stem)
        return f"{self.base_url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}"

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, body = self.api("/api/status")
                if status == 200 and "started" in json.loads(body):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as exc:
                last_error = exc
            time.sleep(0.5)
        raise AssertionError(f"jupyter lab did not answer /api/status within {SERVER_START_TIMEOUT_S}s "
                             f"(last error: {last_error}):\n{self.log_tail()}")

    def shut_down_kernels(self) -> int:
        """Ends every session and its kernel (one notebook's servers and memory go before the next)."""
        _, body = self.api("/api/sessions")
        sessions = json.loads(body)
        for session in sessions:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")
        return len(sessions)

    def log_tail(self, lines: int = 80) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """Shut down kernels and server through the API, then make sure the process group is gone."""
        if self.proc.poll() is None:
            try:
                self.api("/api/shutdown", method="POST")
            except Exception:  # noqa: BLE001 - falls back to signals below
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
        self._log.close()


@contextmanager
def running_jupyter_lab(root_dir: Path, work_dir: Path, log_path: Path):
    """A started ``JupyterLabServer``, stopped on the way out."""
    server = JupyterLabServer(root_dir, work_dir, log_path)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@contextmanager
def chromium_browser():
    """Debian's headless chromium through Playwright."""
    assert Path(CHROMIUM).exists(), (
        f"chromium not found at {CHROMIUM}: install Debian's chromium (`apt-get install chromium`, or let "
        f"`./run test` do it), or point the CHROMIUM environment variable at a Chromium binary")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser, console: list[str]):
    """A page in a fresh browser context (no state from the previous notebook); console lines go to ``console``."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
        page.on("pageerror", lambda err: console.append(f"[pageerror] {err}"))
        yield page
    finally:
        context.close()


def open_notebook(page, server: JupyterLabServer, notebook: str):
    """Opens ``notebook`` (a path under the server's root) and waits for its kernel; returns the panel."""
    page.goto(server.notebook_url(notebook))
    panel = page.locator(".jp-NotebookPanel:visible").first
    panel.wait_for(state="visible")
    # Wait for the kernel to be connected and idle: running cells before that silently runs nothing.
    # A notebook without kernel metadata asks which kernel to use first: take the default.
    page.wait_for_function(KERNEL_READY_OR_ASKING_JS)
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        assert "Select Kernel" in dialog.inner_text(), f"unexpected dialog: {dialog.inner_text()}"
        dialog.locator(".jp-mod-accept").click()
    page.wait_for_function(KERNEL_READY_JS)
    return panel


def clear_outputs(page) -> None:
    """Clears saved outputs and execution counts, so that what renders afterwards is from this run."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function("() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)"
                           ".every(c => c.type !== 'code' || c.executionCount === null)")


def run_all_cells(page) -> str:
    """Runs all cells as a person would, from the Run menu; falls back to the command if the menu fails."""
    try:
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click(timeout=10_000)
        return "menu"
    except Exception:  # noqa: BLE001 - the menu's layout is JupyterLab's, the command is the contract
        page.keyboard.press("Escape")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return "command"


def wait_until_all_cells_ran(page) -> None:
    """Every non-empty code cell ran (has an execution count; empty cells never get one) or one failed,
    and the kernel is idle again. Read from the notebook's model, which rendering doesn't affect."""
    page.wait_for_function(ALL_CELLS_RAN_JS, timeout=RUN_ALL_TIMEOUT_MS)


def cell_errors(page) -> list[str]:
    """The error outputs of the current notebook, as 'cell N: Name: message'."""
    return page.evaluate(CELL_ERRORS_JS)


def run_notebook(page, server: JupyterLabServer, notebook: str) -> list[str]:
    """Opens ``notebook``, clears it, runs every cell from the Run menu; returns the cells' errors."""
    open_notebook(page, server, notebook)
    clear_outputs(page)
    run_all_cells(page)
    wait_until_all_cells_ran(page)
    return cell_errors(page)


@dataclass(frozen=True)
class Control:
    """The one control of a widget view that gets moved: its kind and the description a person reads."""
    kind: str
    description: str


@dataclass(frozen=True)
class WidgetView:
    """One output area holding a jupyter-widgets view: where it is, its control (None: a static
    figure) and how many plotly figures and text areas it shows."""
    index: int
    cell: int
    control: Control | None
    plots: int
    texts: int
    text: str = field(compare=False, repr=False)
    controls: tuple[str, ...] = ()  # the descriptions of all its controls (buttons by their label)

    @property
    def name(self) -> str:
        """'widget 3 (cell 12)': the view's position in the notebook, as a failure message names it."""
        return f"widget {self.index + 1} (cell {self.cell})"

    @property
    def control_name(self) -> str:
        return f"{self.control.kind} {self.control.description!r}" if self.control else "no control"


def install_page_helpers(page) -> None:
    page.evaluate(PAGE_HELPERS_JS)


def widget_outputs_in_model(page) -> int:
    """How many outputs of the notebook's model are widget views (each should render as one)."""
    return page.evaluate(WIDGET_OUTPUTS_IN_MODEL_JS)


def wait_until_widgets_settle(page, timeout_ms: int = UI_TIMEOUT_MS) -> None:
    """Waits until no output of the notebook says 'Loading widget...' (views render after the run)."""
    page.wait_for_function(
        "() => !Array.from(document.querySelectorAll('.jp-Cell .jp-OutputArea-output'))"
        ".some(o => /Loading widget/.test(o.innerText))", timeout=timeout_ms)


def find_widget_views(page) -> list[WidgetView]:
    """Every widget view of the current notebook, in page order, each tagged for the calls below."""
    install_page_helpers(page)
    views = []
    for raw in page.evaluate("() => window.dspWidgets.find()"):
        control = Control(**raw["control"]) if raw["control"] else None
        views.append(WidgetView(index=raw["index"], cell=raw["cell"], control=control, plots=raw["plots"],
                                texts=raw["texts"], text=raw["text"], controls=tuple(raw["controls"])))
    return views


def view_locator(page, view: WidgetView):
    return page.locator(f'[data-dsp-view="{view.index}"]')


def control_locator(page, view: WidgetView):
    return page.locator(f'[data-dsp-control="{view.index}"]')


def rendering(page, view: WidgetView) -> dict:
    """The view's drawn size, each plotly figure's size and SVG, and any loading or error message."""
    return page.evaluate("i => window.dspWidgets.rendering(i)", view.index)


def static_figures(page) -> list[dict]:
    """The plotly figures outside widget views (after ``find_widget_views``): each one's size, SVG, traces."""
    return page.evaluate("() => window.dspWidgets.staticFigures()")


def figure_signature(page, view: WidgetView) -> dict:
    """What the view shows apart from its control: each plotly figure's data and layout, each text area."""
    return page.evaluate("i => window.dspWidgets.signature(i)", view.index)


def remember_figure(page, view: WidgetView) -> None:
    """Keeps what the view shows now (in the page), for ``figure_changes`` to compare with."""
    page.evaluate("i => window.dspWidgets.remember(i)", view.index)


def figure_changes(page, view: WidgetView, timeout_ms: int = REDRAW_TIMEOUT_MS) -> list[str]:
    """Waits until the view shows something else than when ``remember_figure`` ran; returns what
    differs (['plot 1', 'text 2']), or [] if nothing did within the timeout."""
    try:
        page.wait_for_function("i => window.dspWidgets.changes(i).length > 0", arg=view.index,
                               timeout=timeout_ms, polling=50)
    except Exception as exc:  # noqa: BLE001 - Playwright's TimeoutError; anything else is re-raised
        if "Timeout" not in type(exc).__name__:
            raise
    return page.evaluate("i => window.dspWidgets.changes(i)", view.index)


def _slider_value(control) -> str:
    readout = control.locator(".widget-readout")
    if readout.count():
        return readout.first.inner_text()
    return control.locator(".noUi-handle").first.get_attribute("aria-valuenow") or ""


def move_control(page, view: WidgetView, step: int = 0) -> str:
    """Changes the view's control as a person would; returns what changed ('2.0 -> 2.5').

    ``step`` counts the changes made so far, so that repeated moves go back and forth instead of
    running into the end of a slider (even steps go right, odd steps left).
    """
    control = control_locator(page, view)
    kind = view.control.kind
    if kind == "slider":
        handle = control.locator(".noUi-handle").first
        before = _slider_value(control)
        handle.focus()
        for key in (("ArrowRight", "ArrowLeft") if step % 2 == 0 else ("ArrowLeft", "ArrowRight")):
            handle.press(key)
            if _slider_value(control) != before:
                break
        return f"{before} -> {_slider_value(control)}"
    if kind == "dropdown":
        select = control.locator("select")
        options = select.locator("option").all_inner_texts()
        before = select.evaluate("s => s.selectedIndex")
        after = (before + 1) % len(options)
        select.select_option(index=after)
        return f"{options[before]} -> {options[after]}"
    if kind == "toggle buttons":
        buttons = control.locator("button")
        labels = buttons.all_inner_texts()
        active = buttons.evaluate_all("bs => bs.findIndex(b => b.classList.contains('mod-active'))")
        after = (active + 1) % len(labels)
        buttons.nth(after).click()
        return f"{labels[active] if active >= 0 else '(none)'} -> {labels[after]}"
    if kind == "radio buttons":
        inputs = control.locator("input[type=radio]")
        labels = control.locator("label").all_inner_texts()
        checked = inputs.evaluate_all("rs => rs.findIndex(r => r.checked)")
        after = (checked + 1) % inputs.count()
        inputs.nth(after).check()
        return f"{labels[checked] if checked >= 0 else '(none)'} -> {labels[after] if after < len(labels) else after}"
    if kind == "checkbox":
        box = control.locator("input[type=checkbox]")
        before = box.is_checked()
        box.click()
        return f"{before} -> {box.is_checked()}"
    if kind == "text box":
        box = control.locator("input, textarea").first
        before = box.input_value()
        if box.get_attribute("type") == "number":
            after = str(int(float(before or 0)) + (1 if step % 2 == 0 else -1))
        else:
            after = before + "x" if step % 2 == 0 else before[:-1]
        box.fill(after)
        box.press("Enter")
        return f"{before!r} -> {after!r}"
    if kind in ("button", "toggle button"):
        control.click()
        return "clicked"
    raise AssertionError(f"no way to move a {kind}")


def wait_until_idle(page) -> None:
    page.wait_for_function(KERNEL_READY_JS)


class ReactionProbe:
    """Times one control change in the page: from the first input event on the control to the last DOM
    change of the rest of the view, once the view has changed, the kernel is idle and nothing has moved
    for ``QUIET_MS``."""

    def __init__(self, page, view: WidgetView) -> None:
        self.page = page
        self.view = view

    def measure(self, step: int, timeout_ms: int = REDRAW_TIMEOUT_MS) -> dict:
        """Moves the control once; returns {'ms': to the last redraw, 'first_ms': to the first, 'redraws',
        'changed': whether the view shows something else afterwards, 'move': what moved}."""
        remember_figure(self.page, self.view)
        self.page.evaluate("i => window.dspWidgets.arm(i)", self.view.index)
        try:
            move = move_control(self.page, self.view, step)
            changed = figure_changes(self.page, self.view, timeout_ms)
            wait_until_idle(self.page)
            deadline = time.monotonic() + timeout_ms / 1000
            while True:
                probe = self.page.evaluate("() => window.dspWidgets.read()")
                last = probe["lastRedraw"] if probe["lastRedraw"] is not None else probe["start"]
                if last is not None and probe["now"] - last >= QUIET_MS or time.monotonic() > deadline:
                    break
                time.sleep(QUIET_MS / 3000)
        finally:
            self.page.evaluate("() => window.dspWidgets.disarm()")
        start = probe["start"]
        return {
            "move": move, "changed": changed, "redraws": probe["redraws"],
            "ms": probe["lastRedraw"] - start if changed and start is not None and probe["lastRedraw"] else None,
            "first_ms": probe["firstRedraw"] - start if changed and start is not None and probe["firstRedraw"] else None,
        }
