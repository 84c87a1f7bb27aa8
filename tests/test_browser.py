"""End to end: a real JupyterLab, driven by headless Debian chromium through Playwright.

Opens each course notebook (course/0N_*.ipynb, the index aside) as a student would, runs every cell from the Run menu, and checks
that the interactive pieces really render in the page (an ipywidgets slider and a plotly figure, not
"Loading widget..." or an error), that moving the slider redraws the figure, and that nbgrader's
JupyterLab extension is installed. A full-page screenshot, the server log and the browser console go
to test-output/<test name>/.
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
from pathlib import Path

import pytest

from conftest import find_free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Every family's course notebook: each has a slider and a plotly figure the test moves and watches.
NOTEBOOKS = sorted(f"course/{path.name}" for path in (Path(__file__).resolve().parent.parent / "course")
                   .glob("0[1-9]_*.ipynb"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As root and on this closed network, chromium needs these (without the background-networking ones its
# connections are refused).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SERVER_START_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_MS = 240_000
UI_TIMEOUT_MS = 60_000

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
# or a cell stopped the run with an error (Run All stops there; the test then reports that error).
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
# Plotly figures' data and layout annotations, as a string: changes when a figure is redrawn with new data.
# (Typed arrays become lists; plotly's base64 {dtype, bdata} arrays stay as they are, which also changes.)
FIGURES_SIGNATURE_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => JSON.stringify({
    data: (gd.data || []).map(t => [t.x, t.y, t.z, t.values, t.text, t.base]),
    title: gd.layout && gd.layout.title,
    shapes: gd.layout && gd.layout.shapes,
    annotations: gd.layout && gd.layout.annotations,
}, (key, value) => ArrayBuffer.isView(value) ? Array.from(value) : value)).join('\\n')
"""
# Either the kernel is ready, or JupyterLab asks which kernel to use (a notebook without kernel metadata).
KERNEL_READY_OR_ASKING_JS = f"""
() => ({KERNEL_READY_JS.strip()})() || Boolean(document.querySelector('.jp-Dialog'))
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
        # and no question about Jupyter news (its toast would cover part of the notebook in screenshots).
        settings = {
            "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
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


@pytest.fixture
def jupyter_lab(repo_root: Path, artifacts_dir: Path, tmp_path: Path):
    server = JupyterLabServer(repo_root, tmp_path, artifacts_dir / "jupyter.log")
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(artifacts_dir: Path):
    assert Path(CHROMIUM).exists(), (
        f"chromium not found at {CHROMIUM}: install Debian's chromium (`apt-get install chromium`, or let "
        f"`./run test` do it), or point the CHROMIUM environment variable at a Chromium binary")
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1400})
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
            page.on("pageerror", lambda err: console.append(f"[pageerror] {err}"))
            yield page
        finally:
            (artifacts_dir / "browser-console.log").write_text("\n".join(console) + "\n")
            browser.close()


def visible_size(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return (box["width"], box["height"]) if box else (0.0, 0.0)


def run_all_cells(page) -> str:
    """Run all cells as a person would, from the Run menu; fall back to the command if the menu fails."""
    try:
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click(timeout=10_000)
        return "menu"
    except Exception:  # noqa: BLE001 - the menu's layout is JupyterLab's, the command is the contract
        page.keyboard.press("Escape")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return "command"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_course_notebook_widgets_render_in_jupyterlab(repo_root, artifacts_dir, jupyter_lab, page,
                                                      notebook):
    stem = Path(notebook).stem
    screenshot = artifacts_dir / f"{stem}.png"
    try:
        # nbgrader's JupyterLab extension is installed and enabled, with the widget and plotly renderers.
        # (The extension manager's API names "@jupyter/nbgrader" "jupyter-nbgrader".)
        _, body = jupyter_lab.api("/lab/api/extensions")
        extensions = {e["name"]: e for e in json.loads(body)}
        for package in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager", "jupyterlab-plotly", "anywidget"):
            name = package.lstrip("@").replace("/", "-")
            assert name in extensions, f"lab extension {package} is missing; installed: {sorted(extensions)}"
            ext = extensions[name]
            assert ext["enabled"] and ext["status"] == "ok", f"lab extension {package} is not usable: {ext}"

        # Autosave is off for this server (see JupyterLabServer), so running cells won't rewrite the notebook.
        _, body = jupyter_lab.api("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
        assert json.loads(body)["settings"].get("autosave") is False, "autosave is not disabled for the test"

        page.goto(f"{jupyter_lab.base_url}/lab/tree/{notebook}?token={jupyter_lab.token}")
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
        assert page.locator(".jp-MenuBar, #jp-menu-panel").first.get_by_text("Nbgrader").count() >= 1, (
            "nbgrader's menu is not in JupyterLab's menu bar")

        # Clear saved outputs and execution counts first, so that what renders below is from this run.
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        page.wait_for_function("() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)"
                               ".every(c => c.type !== 'code' || c.executionCount === null)")
        how = run_all_cells(page)
        print(f"ran all cells via the {how}")
        # Every non-empty code cell ran (has an execution count; empty cells never get one), and the
        # kernel is idle again. Read from the notebook's model, which windowed rendering doesn't affect.
        page.wait_for_function(ALL_CELLS_RAN_JS, timeout=RUN_ALL_TIMEOUT_MS)
        errors = page.evaluate("""() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
            .flatMap(c => c.type === 'code' ? c.outputs.toJSON() : [])
            .filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`)""")
        assert not errors, f"running {notebook} in JupyterLab raised: {errors}"

        # The widgets render for real: a slider and a plotly figure, visible and not empty.
        slider = panel.locator(".widget-slider").first
        slider.wait_for(state="visible")
        figure = panel.locator(".js-plotly-plot").first
        figure.wait_for(state="visible")
        figure.locator(".main-svg").first.wait_for(state="visible")
        slider_w, slider_h = visible_size(slider)
        fig_w, fig_h = visible_size(figure)
        assert slider_w > 50 and slider_h > 5, f"the slider is not drawn ({slider_w}x{slider_h})"
        assert fig_w > 100 and fig_h > 100, f"the plotly figure is not drawn ({fig_w}x{fig_h})"
        assert panel.locator(".jp-OutputArea-output", has_text="Error displaying widget").count() == 0
        assert panel.locator(".jp-OutputArea-output", has_text="Loading widget").count() == 0, (
            "a widget is stuck at 'Loading widget...' (is the widget manager extension loaded?)")
        figure.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / f"{stem}-before-slider.png"), full_page=True)

        # Moving the slider (keyboard on its handle, as a person could) changes its value and redraws the figure.
        readout = slider.locator(".widget-readout").first
        value_before = readout.inner_text()
        figures_before = page.evaluate(FIGURES_SIGNATURE_JS)
        handle = slider.locator(".noUi-handle").first
        handle.click()
        for _ in range(3):
            handle.press("ArrowRight")
        if readout.inner_text() == value_before:  # already at its maximum: go the other way
            for _ in range(3):
                handle.press("ArrowLeft")
        value_after = readout.inner_text()
        assert value_after != value_before, f"the slider did not move (readout stays {value_before!r})"
        page.wait_for_function(f"() => ({FIGURES_SIGNATURE_JS})() !== {json.dumps(figures_before)}",
                               timeout=30_000)
        page.wait_for_function(KERNEL_READY_JS)
        slider.evaluate("el => el.closest('.jp-OutputArea-output').scrollIntoView({block: 'start'})")
        page.screenshot(path=str(screenshot), full_page=True)
        print(f"slider {value_before} -> {value_after}; figure redrawn; screenshot {screenshot}")
        # Nothing was saved: the outputs of this run stay in the browser, not in the course's notebook.
        assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty"), (
            f"{notebook} was saved during the test (autosave should be off)")
    except BaseException:
        try:
            page.screenshot(path=str(artifacts_dir / "failure.png"), full_page=True)
        except Exception:  # noqa: BLE001 - best effort, the original error matters
            pass
        print(f"--- jupyter lab log (full log: {jupyter_lab.log_path}) ---\n{jupyter_lab.log_tail()}")
        raise
