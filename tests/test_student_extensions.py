"""A student's JupyterLab shows nbgrader's student tools only; the instructor's shows all of them.

`./run lab` puts jupyter-config/student on the Jupyter config path (JUPYTER_CONFIG_PATH, ahead of the
venv's own config, where nbgrader's install enables everything); `./run lab --instructor` does not. This
starts a real JupyterLab both ways and reads what it serves: the page config (`disabledExtensions`, which
JupyterLab's front end obeys plugin by plugin) and the server extensions' own URLs. nbgrader 0.9.6 ships
one lab extension package, @jupyter/nbgrader, with a plugin per tool: the package stays enabled (the
browser test checks that), and so does its Nbgrader menu, which lists only the tools whose plugins run.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import find_free_port

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTOR_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list")
STUDENT_PLUGINS = ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment",
                   "@jupyter/nbgrader:menu")
START_TIMEOUT_S = 90


def student_config_folder() -> Path:
    """The folder `./run lab` puts on the config path, read from the script itself."""
    script = (ROOT / "run").read_text()
    folder = re.search(r"^STUDENT_CONFIG=(\S+)", script, re.MULTILINE)
    assert folder, "run no longer names STUDENT_CONFIG"
    assert 'export JUPYTER_CONFIG_PATH="$ROOT/$STUDENT_CONFIG' in script, "./run lab no longer uses it"
    return ROOT / folder.group(1)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def served(tmp_path: Path, config_path: list[Path], *, launcher: tuple[str, ...] = (), jupyter: Path | None = None,
           root: Path = ROOT, base_env: dict | None = None, extra_urls: tuple[str, ...] = ()) -> dict:
    """Starts `jupyter lab` (no browser) with ``config_path`` as JUPYTER_CONFIG_PATH and a private user
    config folder; the page config of /lab and the status of nbgrader's URLs (and of ``extra_urls``).
    ``launcher``: a command that runs jupyter (the student edition's Binder `start`); ``jupyter``: whose
    jupyter (default: this venv's); ``root``: the server's root_dir."""
    port, token = find_free_port(), "student-extensions-test"
    env = {**(os.environ if base_env is None else base_env), "JUPYTER_CONFIG_DIR": str(tmp_path / "user-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTER_CONFIG_PATH": os.pathsep.join(map(str, config_path))}
    jupyter = jupyter or Path(sys.executable).with_name("jupyter")
    command = [*launcher, str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "jupyter.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _status(f"{base}/api/status?token={token}") != 200:
            assert server.poll() is None, f"jupyter lab exited: {(tmp_path / 'jupyter.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "jupyter lab did not start"
            time.sleep(0.3)
        status, page = get(f"{base}/lab?token={token}")
        assert status == 200, status
        found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
        assert found, "no page config in /lab"
        urls = {path: get(f"{base}/{path}?token={token}")[0]
                for path in ("formgrader", "assignments", "assignments/validate", *extra_urls)}
        return {"page_config": json.loads(found.group(1)), "urls": urls}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _status(url: str) -> int | None:
    """The HTTP status, or None while nothing listens yet."""
    try:
        return get(url)[0]
    except OSError:
        return None


def test_the_student_lab_has_only_the_student_tools(tmp_path):
    found = served(tmp_path, [student_config_folder()])
    disabled = set(found["page_config"].get("disabledExtensions", []))
    assert set(INSTRUCTOR_PLUGINS) <= disabled, f"instructor tools left on: disabled are only {sorted(disabled)}"
    assert not set(STUDENT_PLUGINS) & disabled, f"student tools turned off: {sorted(disabled)}"
    assert "@jupyter/nbgrader" not in disabled, "the package itself stays enabled (its student plugins run)"
    urls = found["urls"]
    assert urls["formgrader"] == 404, f"the formgrader server extension still answers: {urls}"
    assert urls["assignments"] != 404 and urls["assignments/validate"] != 404, \
        f"the assignment list and validate server extensions must answer: {urls}"


def test_the_instructor_lab_keeps_every_tool(tmp_path):
    """`./run lab --instructor`: the venv's own config, where nbgrader enabled everything (also the proof
    that the student test above could fail)."""
    found = served(tmp_path, [])
    disabled = set(found["page_config"].get("disabledExtensions", []))
    assert not {*INSTRUCTOR_PLUGINS, *STUDENT_PLUGINS} & disabled, sorted(disabled)
    assert found["urls"]["formgrader"] != 404, found["urls"]
    assert found["urls"]["assignments"] != 404, found["urls"]


def test_jupyter_labextension_list_reports_the_student_setting(tmp_path):
    """What an instructor debugging a student's set-up would run: the same config path, the same answer."""
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path), "JUPYTER_CONFIG_PATH": str(student_config_folder())}
    out = subprocess.run([str(Path(sys.executable).with_name("jupyter")), "labextension", "list"], env=env,
                         capture_output=True, text=True, timeout=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    disabled = text.split("Disabled extensions:")[-1] if "Disabled extensions:" in text else ""
    for plugin in INSTRUCTOR_PLUGINS:
        assert plugin in disabled, text
    for plugin in STUDENT_PLUGINS:
        assert plugin not in disabled, text
    assert re.search(r"@jupyter/nbgrader v[\d.]+ enabled\s+OK", text), text
