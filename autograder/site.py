"""The course as a static site, for reading without a kernel: ``python -m autograder site OUT``.

Jupyter Book 2 was tried first and is not used: it installs from PyPI, but its HTML build fetches its
theme from the network at build time, which a machine limited to the package registries cannot do. So
the site is built with nbconvert (pinned in requirements.txt; JupyterLab and nbgrader need it too).

What the build does, and why:

- **The course notebooks run at build time** (nbclient), top to bottom, in a kernel running the
  interpreter given (``--python``, default this one) with the source folder (``--source``, default
  this repository; the student edition's folder works the same) first on its path, so every figure
  is drawn fresh from the source's own ``dspatterns``. A cell that raises fails the build, naming the
  notebook, the cell and the error. Nothing here is imported into the kernel: it needs only what the
  course itself needs.
- **Plotly figures stay interactive**: each becomes a ``<div>`` drawn by one ``plotly.min.js`` shipped
  in the site (copied from the plotly package), so no CDN is needed to read a figure.
- **Widgets**: an explorer is controls plus a plotly ``FigureWidget``, and without a kernel the
  controls cannot react. Right after a cell displays widgets, the build asks the kernel (a silent
  request, outside the notebook's history) for each displayed widget's tree: its figures as plotly
  JSON, its HTML lines and its controls' settings. The page shows them as the notebook first draws
  them, with a note that the controls work in JupyterLab or on Binder. The notebooks and the
  widgets are unchanged: a student in JupyterLab sees exactly what they saw before. (nbconvert's own
  widget embedding is no fit: it loads the widget manager from a CDN, each plotly FigureWidget's
  recorded state carries its 5 MB script, and a figure changed in place after it was made is
  recorded as a message, not as state; the kernel's FigureWidget object is the figure as drawn.)
- **One copy of what pages share**: ``plotly.min.js`` and ``site.css`` (the lab template's stylesheet,
  otherwise inlined in every page) sit at the site's top.
- **Pages**: the index (``course/00_index.ipynb``) is ``index.html``, each course notebook a page of
  its own, and each assignment of ``exercises/`` a contract page (``exercises/NAME.html``) holding each
  exercise's statement as the released notebook states it: its markdown and its code cells that are
  not graded checks (the imports and the stubs; a released notebook holds no solution). Links between
  notebooks become links between pages, and every page has a bar linking every other.
- ``site.json`` records each page, its figures, how many figure outputs its notebook made when it ran
  (counted from the outputs and the widget state nbclient recorded, not from the pages), the build's
  time, and any ``.ipynb`` link that led to no page.
"""
from __future__ import annotations

import ast
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .cells import cell_source, is_answer_cell, is_graded_test_cell, nbgrader_meta
from .exercises import EXERCISES

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
PLOTLY_JS = "plotly.min.js"
CELL_TIMEOUT_S = 600
KERNEL_NAME = "dspatterns-site"
WIDGET_NOTE = ("This explorer's controls need a running kernel: open the notebook in JupyterLab or on "
               "Binder to move them. Here it is as the notebook first draws it; its figures zoom, pan "
               "and show values on hover.")
CONTROLS_NOTE = ("This part needs a running kernel: open the notebook in JupyterLab or on Binder to use it. "
                 "Here it is as the notebook first draws it.")

# Run in the kernel (through exec, in a namespace of its own) after a cell displays widgets: each
# displayed widget's tree in order, as plain data. Only ipywidgets and plotly are needed there.
WIDGET_TREE_PROBE = r"""
import json
import ipywidgets
import plotly.io
from plotly.basewidget import BaseFigureWidget

instances = getattr(ipywidgets.widgets.widget, "_instances", None)
if instances is None:
    instances = ipywidgets.Widget.widgets

def walk(widget, seen):
    # The widget as a tree of plain data: boxes with their children, figures, HTML, controls.
    if id(widget) in seen:
        return None
    seen.add(id(widget))
    if isinstance(widget, BaseFigureWidget):
        return {"kind": "figure", "json": plotly.io.to_json(widget)}
    if isinstance(widget, ipywidgets.Box):
        layout = widget.layout
        return {"kind": "box", "box": type(widget).__name__,
                "columns": getattr(layout, "grid_template_columns", None) or "",
                "children": [node for node in (walk(child, seen) for child in widget.children) if node]}
    description = getattr(widget, "description", "") or ""
    if isinstance(widget, (ipywidgets.HTML, ipywidgets.HTMLMath)):
        return {"kind": "html", "description": description, "value": widget.value or ""}
    if isinstance(widget, ipywidgets.Label):
        return {"kind": "text", "description": description, "value": str(widget.value or "")}
    if isinstance(widget, ipywidgets.Button):
        return {"kind": "button", "description": description}
    if isinstance(widget, (ipywidgets.IntProgress, ipywidgets.FloatProgress)):
        return {"kind": "progress", "description": description, "value": widget.value, "max": widget.max}
    if hasattr(widget, "options") and hasattr(widget, "label"):
        return {"kind": "choice", "description": description,
                "options": [str(label) for label in getattr(widget, "_options_labels", ())],
                "chosen": [str(label) for label in (widget.label if isinstance(widget.label, tuple)
                                                    else (widget.label,)) if label is not None]}
    if isinstance(widget, ipywidgets.ValueWidget):
        return {"kind": "control", "description": description, "value": str(widget.value)}
    return None

result = {}
for model_id in model_ids:
    widget = instances.get(model_id)
    result[model_id] = walk(widget, set()) if widget is not None else None
result = json.dumps(result)
"""


class SiteBuildError(RuntimeError):
    """The site could not be built: a notebook's cell raised, or a notebook is missing."""


@dataclass
class Page:
    """One page of the site: where it comes from and what it holds."""
    title: str
    path: str  # relative to the site's folder, posix
    source: str  # the notebook or folder it was made from, relative to the source folder
    kind: str  # "index", "course" or "contracts"
    figures: int = 0  # plotly figures in the page
    widget_figures: int = 0  # of those, figures of widgets drawn in their first state
    figure_outputs: int = 0  # figure outputs the notebook made when it ran (plotly + figure widgets)
    exercises: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class SiteReport:
    out: Path
    pages: list[Page]
    seconds: float
    unresolved_links: list[str]

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.out.rglob("*") if p.is_file())

    def to_json(self) -> str:
        return json.dumps({"seconds": round(self.seconds, 1), "size_bytes": self.size_bytes,
                           "plotly_js": PLOTLY_JS, "unresolved_links": self.unresolved_links,
                           "pages": [page.__dict__ for page in self.pages]}, indent=1)


# --- running a notebook -------------------------------------------------------------------------

def _kernel_manager(python: Path, source: Path, kernel_dir: Path):
    """A kernel manager whose kernel runs ``python`` with the source folder first on its path."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec_dir = kernel_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dspatterns site build", "language": "python",
        # The source's dspatterns, not whatever the builder's environment has on its path, and the
        # interpreter's own scripts (jupyter, ...) first for whatever the notebooks start.
        "env": {"PYTHONPATH": str(source),
                "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")])},
    }), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir / "kernels")], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def _client_class():
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    class SiteNotebookClient(NotebookClient):
        """Runs a notebook, fails on a cell error naming the cell, and after each cell that displays
        widgets records what those widgets show (``widget_trees``: model id -> its tree as plain data)."""

        def __init__(self, *args, notebook_name: str, **kwargs):
            super().__init__(*args, **kwargs)
            self.notebook_name = notebook_name
            self.widget_trees: dict[str, dict | None] = {}

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            try:
                cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            except CellExecutionError as exc:
                first_line = next((line for line in cell_source(cell).splitlines() if line.strip()), "")
                raise SiteBuildError(f"{self.notebook_name}: cell {cell_index} ({first_line.strip()[:80]!r}) "
                                     f"raised {exc.ename}: {exc.evalue}") from None
            model_ids = [output["data"][WIDGET_VIEW_MIME]["model_id"] for output in cell.get("outputs", [])
                         if WIDGET_VIEW_MIME in output.get("data", {})]
            if model_ids and cell.cell_type == "code":
                self.widget_trees.update(await self._widget_trees(model_ids))
            return cell

        async def _widget_trees(self, model_ids: list[str]) -> dict[str, dict | None]:
            expression = (f"(lambda namespace: (exec({WIDGET_TREE_PROBE!r}, namespace), "
                          f"namespace['result'])[1])({{'model_ids': {model_ids!r}}})")
            msg_id = self.kc.execute("", silent=True, store_history=False,
                                     user_expressions={"widgets": expression})
            reply = await self.async_wait_for_reply(msg_id)
            answer = reply["content"].get("user_expressions", {}).get("widgets", {})
            if answer.get("status") != "ok":
                raise SiteBuildError(f"{self.notebook_name}: reading its widgets failed: "
                                     f"{answer.get('ename')}: {answer.get('evalue')}")
            return json.loads(ast.literal_eval(answer["data"]["text/plain"]))

    return SiteNotebookClient


def run_notebook(path: Path, source: Path, python: Path):
    """The notebook run top to bottom in its own folder: (notebook with outputs, widget trees)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    from jupyter_core.utils import run_sync

    with tempfile.TemporaryDirectory(prefix="dsp-site-kernel-") as kernel_dir:
        km = _kernel_manager(python, source, Path(kernel_dir))
        client = _client_class()(
            notebook, km=km, timeout=CELL_TIMEOUT_S,
            allow_errors=False, store_widget_state=True, notebook_name=str(path.relative_to(source)),
            resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        finally:
            # nbclient stops only the kernels of managers it made itself: without this each notebook's
            # kernel would live (and hold its memory and servers) until the whole build ends.
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=False)
    return notebook, client.widget_trees


def figure_outputs_made(notebook) -> int:
    """How many figures the run made: plotly outputs, and the plotly figure widgets reachable from
    each displayed widget in the widget state nbclient recorded (a FigureWidget's model holds its
    traces and layout: ``_widget_data`` and ``_widget_layout`` in plotly 6 and later, ``_data`` and
    ``_layout`` before)."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})

    def figures_under(model_id: str, seen: set) -> int:
        if model_id in seen or model_id not in state:
            return 0
        seen.add(model_id)
        attributes = state[model_id].get("state", {})
        if {"_widget_data", "_widget_layout"} <= attributes.keys() or {"_data", "_layout"} <= attributes.keys():
            return 1
        children = attributes.get("children") or []
        return sum(figures_under(child.removeprefix("IPY_MODEL_"), seen)
                   for child in children if isinstance(child, str))

    count = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                count += 1
            elif WIDGET_VIEW_MIME in data:
                count += figures_under(data[WIDGET_VIEW_MIME]["model_id"], set())
    return count


# --- turning outputs into static HTML -----------------------------------------------------------

class FigureCounter:
    """Numbers a page's figures, so each div has an id of its own (plotly draws into it by id)."""

    def __init__(self, stem: str):
        self.stem = re.sub(r"[^A-Za-z0-9_-]", "-", stem)
        self.count = 0

    def next_id(self) -> str:
        self.count += 1
        return f"{self.stem}-figure-{self.count}"


def plotly_div(figure: dict, figure_id: str) -> str:
    """A figure as a div drawn by the site's plotly.js; its JSON sits beside it in a data script."""
    payload = json.dumps({"data": figure.get("data", []), "layout": figure.get("layout", {})},
                         separators=(",", ":")).replace("</", "<\\/")
    return (f'<div class="dsp-figure plotly-graph-div" id="{figure_id}" style="width:100%;height:'
            f'{int(figure.get("layout", {}).get("height") or 450)}px"></div>\n'
            f'<script type="application/json" class="dsp-figure-data" data-for="{figure_id}">{payload}</script>\n'
            f'<script>(function () {{ var figure = JSON.parse(document.querySelector('
            f'\'script[data-for="{figure_id}"]\').textContent); Plotly.newPlot("{figure_id}", '
            f'figure.data, figure.layout, {{responsive: true}}); }})();</script>')


def _contains(node: dict, kind: str) -> bool:
    return node["kind"] == kind or any(_contains(child, kind) for child in node.get("children", []))


def _static_node(node: dict, figures: FigureCounter) -> str:
    """One node of a widget's tree as static HTML: boxes keep their rows, columns or grid; controls
    are drawn disabled at their first setting; figures are plotly divs."""
    kind = node["kind"]
    label = html.escape(node.get("description", ""))
    labelled = (lambda body: f'<span class="dsp-control"><span class="dsp-label">{label}</span> {body}</span>'
                if label else f'<span class="dsp-control">{body}</span>')
    if kind == "figure":
        return plotly_div(json.loads(node["json"]), figures.next_id())
    if kind == "box":
        style = {"HBox": "display:flex;flex-flow:row wrap;gap:4px 12px;align-items:baseline",
                 "GridBox": f"display:grid;grid-template-columns:{html.escape(node['columns'])};gap:2px 10px"
                 }.get(node["box"], "display:flex;flex-direction:column;gap:4px")
        inner = "\n".join(_static_node(child, figures) for child in node["children"])
        return f'<div class="dsp-box" style="{style}">\n{inner}\n</div>'
    if kind == "html":
        return labelled(f'<span class="dsp-html">{node["value"]}</span>')
    if kind == "text":
        return labelled(html.escape(node["value"]))
    if kind == "button":
        return f'<button class="dsp-button" disabled>{label}</button>'
    if kind == "progress":
        return labelled(f'<progress value="{node["value"]}" max="{node["max"]}"></progress>')
    if kind == "choice":
        options = " ".join(f'<span class="dsp-option{" dsp-chosen" if option in node["chosen"] else ""}">'
                           f'{html.escape(option)}</span>' for option in node["options"])
        return labelled(options)
    return labelled(f'<span class="dsp-value">{html.escape(node.get("value", ""))}</span>')


def widget_html(tree: dict | None, figures: FigureCounter) -> tuple[str, int]:
    """A widget in its first state as static HTML, under the note that its controls need a kernel;
    and how many figures it holds."""
    if tree is None:
        return f'<p class="dsp-widget-note"><em>{html.escape(CONTROLS_NOTE)}</em></p>', 0
    before = figures.count
    body = _static_node(tree, figures)
    note = WIDGET_NOTE if _contains(tree, "figure") else CONTROLS_NOTE
    return (f'<div class="dsp-widget-static">\n<p class="dsp-widget-note"><em>{html.escape(note)}</em></p>\n'
            f'{body}\n</div>', figures.count - before)


def make_outputs_static(notebook, widget_trees: dict[str, dict | None], stem: str) -> tuple[int, int]:
    """Each plotly output becomes an HTML div and each widget its static form, in place; the widget
    state is dropped (nothing in the page needs it). Returns (figures, of which widget figures)."""
    figures = FigureCounter(stem)
    widget_figures = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                output["data"] = {"text/html": plotly_div(data[PLOTLY_MIME], figures.next_id())}
            elif WIDGET_VIEW_MIME in data:
                tree = widget_trees.get(data[WIDGET_VIEW_MIME]["model_id"])
                page_html, count = widget_html(tree, figures)
                widget_figures += count
                output["data"] = {"text/html": page_html}
    notebook.metadata.pop("widgets", None)
    return figures.count, widget_figures


# --- contract pages -----------------------------------------------------------------------------

def contract_notebook(assignment_folder: Path):
    """One notebook holding every exercise of an assignment as its released notebook states it: the
    markdown and the code cells that are not graded checks (imports and stubs), each exercise under
    an anchor named after it. Nothing is run."""
    import nbformat

    known = list(EXERCISES)  # the registry's order, the order the course teaches them in
    exercises = sorted(assignment_folder.glob("*.ipynb"),
                       key=lambda path: (known.index(path.stem) if path.stem in known else len(known), path.stem))
    name = assignment_folder.name
    cells = [nbformat.v4.new_markdown_cell(
        f"# The `{name}` exercises: their contracts\n\nEach exercise of the `{name}` assignment as its "
        f"notebook states it: what to build, the names and signatures to provide (the stubs), and the "
        f"rules the graded checks hold you to. The visible checks and the grading are in the notebooks "
        f"themselves (`exercises/{name}/`).\n\n"
        + "\n".join(f"- [{path.stem}](#{path.stem})" for path in exercises))]
    for path in exercises:
        released = nbformat.read(path, as_version=4)
        cells.append(nbformat.v4.new_markdown_cell(f'<a id="{path.stem}"></a>\n\n---'))
        for cell in released.cells:
            if cell.cell_type == "markdown":
                cells.append(nbformat.v4.new_markdown_cell(cell_source(cell)))
            elif cell.cell_type == "code" and not is_graded_test_cell(cell):
                copy = nbformat.v4.new_code_cell(cell_source(cell))
                if is_answer_cell(cell):
                    copy.metadata["dsp_stub"] = nbgrader_meta(cell).get("grade_id", True)
                cells.append(copy)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["title"] = f"{name}: exercise contracts"
    return notebook, [path.stem for path in exercises]


# --- links and pages ----------------------------------------------------------------------------

def page_for(target: Path, source: Path) -> tuple[str, str] | None:
    """The page (site path, anchor) a link to ``target`` (a notebook or folder of the source) means."""
    if not target.exists():
        return None
    try:
        relative = target.resolve().relative_to(source.resolve())
    except ValueError:
        return None
    parts = relative.parts
    if len(parts) == 2 and parts[0] == "course" and parts[1].endswith(".ipynb"):
        return (course_page_path(parts[1]), "")
    if len(parts) >= 2 and parts[0] == "exercises":
        anchor = Path(parts[2]).stem if len(parts) == 3 and parts[2].endswith(".ipynb") else ""
        if len(parts) == 2 or anchor:
            return (f"exercises/{parts[1]}.html", anchor)
    return None


def course_page_path(notebook_name: str) -> str:
    return "index.html" if notebook_name.startswith("00_") else notebook_name.removesuffix(".ipynb") + ".html"


def relative_url(from_page: str, to_page: str) -> str:
    origin = PurePosixPath(from_page).parent
    return os.path.relpath(to_page, start=str(origin) if str(origin) != "." else os.curdir).replace(os.sep, "/")


HREF = re.compile(r'href="([^"#:?]+(?:\.ipynb|/)?)(#[^"]*)?"')


def rewrite_links(page_html: str, page: str, notebook_folder: Path, source: Path,
                  unresolved: list[str]) -> str:
    """Links to the source's notebooks and exercise folders become links to their pages."""
    def replace(match: re.Match) -> str:
        href, fragment = match.group(1), match.group(2) or ""
        if not (href.endswith(".ipynb") or href.endswith("/")):
            return match.group(0)
        target = page_for(notebook_folder / href, source)
        if target is None:
            if href.endswith(".ipynb"):
                unresolved.append(f"{page}: {href}")
            return match.group(0)
        to_page, anchor = target
        return f'href="{relative_url(page, to_page)}{fragment or ("#" + anchor if anchor else "")}"'
    return HREF.sub(replace, page_html)


def navigation(pages: list[Page], current: Page) -> str:
    """The bar at the top of every page: the course's pages, then the contract pages."""
    def link(page: Page, label: str) -> str:
        if page is current:
            return f'<strong>{html.escape(label)}</strong>'
        return f'<a href="{relative_url(current.path, page.path)}">{html.escape(label)}</a>'
    course = " · ".join(link(page, page.title) for page in pages if page.kind != "contracts")
    contracts = " · ".join(link(page, page.path.removeprefix("exercises/").removesuffix(".html"))
                           for page in pages if page.kind == "contracts")
    return (f'<nav class="dsp-site-nav"><div>{course}</div>'
            + (f'<div>Exercise contracts: {contracts}</div>' if contracts else "") + '</nav>')


SITE_CSS = "site.css"

# The lab template's stylesheet (about 290 kB) once, in site.css, instead of inlined in every page.
CSS_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block header -%}{{ self.notebook_css() }}{%- endblock header -%}
{%- block body_header -%}{%- endblock body_header -%}
{%- block body_loop -%}{%- endblock body_loop -%}
{%- block body_footer -%}{%- endblock body_footer -%}
{%- block footer -%}{%- endblock footer -%}
"""

TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{% block notebook_css %}
<link rel="stylesheet" href="{{ resources.dsp_css }}">
{% endblock notebook_css %}
{%- block html_head_js_requirejs -%}
<script src="{{ resources.dsp_plotly_js }}"></script>
{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block extra_css %}
<style>
.dsp-site-nav { padding: 0.6em 1em; border-bottom: 1px solid #ddd; font-size: 0.9em; line-height: 1.8;
                font-family: var(--jp-ui-font-family, sans-serif); }
.dsp-widget-note { color: #555; }
.dsp-widget-static { border-left: 3px solid #ddd; padding-left: 0.8em; margin: 0.5em 0; }
.dsp-label { color: #555; margin-right: 0.3em; }
.dsp-option { border: 1px solid #ccc; border-radius: 3px; padding: 0 0.4em; margin-right: 0.2em; }
.dsp-chosen { background: #e3f2fd; border-color: #1565c0; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{{ resources.dsp_navigation }}
{%- endblock body_header -%}
"""


def title_of(notebook, fallback: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell_source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def plotly_js_path() -> Path:
    import plotly
    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


def build_site(out: Path, *, source: Path, python: Path, log=print) -> SiteReport:
    """Build the site into ``out`` (a new or empty folder, or an earlier site, which is replaced) from
    the source folder's course/ and exercises/."""
    import nbformat
    from nbconvert import HTMLExporter

    started = time.monotonic()
    source = source.resolve()
    # Absolute but not resolved: a venv's python is a link, and the venv is where it is called from.
    found = shutil.which(str(python))
    if found is None:
        raise SiteBuildError(f"no interpreter {python}")
    python = Path(found).absolute()
    course = sorted((source / "course").glob("[0-9][0-9]_*.ipynb"))
    assignments = sorted(p for p in (source / "exercises").iterdir() if p.is_dir()) \
        if (source / "exercises").is_dir() else []
    if not course or not course[0].name.startswith("00_"):
        raise SiteBuildError(f"no course/00_*.ipynb index in {source}")
    if out.exists():
        # Emptied only when it is an earlier site: never a folder of anything else.
        if any(out.iterdir()) and not (out / "site.json").is_file():
            raise SiteBuildError(f"{out} is not empty and holds no site built by this command: give a new "
                                 f"or empty folder")
        shutil.rmtree(out)
    (out / "exercises").mkdir(parents=True)
    shutil.copyfile(plotly_js_path(), out / PLOTLY_JS)

    built: list[tuple[Page, object, Path]] = []
    for path in course:
        log(f"running {path.relative_to(source)} ...", flush=True)
        began = time.monotonic()
        notebook, widget_trees = run_notebook(path, source, python)
        page = Page(title=title_of(notebook, path.stem), path=course_page_path(path.name),
                    source=str(path.relative_to(source)),
                    kind="index" if path.name.startswith("00_") else "course")
        page.figure_outputs = figure_outputs_made(notebook)
        page.figures, page.widget_figures = make_outputs_static(notebook, widget_trees, path.stem)
        page.seconds = round(time.monotonic() - began, 1)
        log(f"  {page.figures} figures ({page.widget_figures} of widgets) in {page.seconds} s", flush=True)
        built.append((page, notebook, path.parent))
    for folder in assignments:
        notebook, exercises = contract_notebook(folder)
        page = Page(title=f"{folder.name} contracts", path=f"exercises/{folder.name}.html",
                    source=str(folder.relative_to(source)), kind="contracts", exercises=exercises)
        built.append((page, notebook, folder))

    pages = [page for page, _, _ in built]
    unresolved: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dsp-site-template-") as template_dir:
        template = Path(template_dir) / "dsp_site.html.j2"
        template.write_text(TEMPLATE, encoding="utf-8")
        exporter = HTMLExporter(template_name="lab", template_file=str(template),
                                extra_template_basedirs=[template_dir])
        css_template = Path(template_dir) / "dsp_site_css.j2"
        css_template.write_text(CSS_TEMPLATE, encoding="utf-8")
        styles, _ = HTMLExporter(template_name="lab", template_file=str(css_template),
                                 extra_template_basedirs=[template_dir]).from_notebook_node(
            nbformat.v4.new_notebook(), resources={"metadata": {"name": "site.css"}})
        (out / SITE_CSS).write_text(re.sub(r"</?style[^>]*>", "", styles), encoding="utf-8")
        for page, notebook, folder in built:
            resources = {"metadata": {"name": page.title},
                         "dsp_plotly_js": relative_url(page.path, PLOTLY_JS),
                         "dsp_css": relative_url(page.path, SITE_CSS),
                         "dsp_navigation": navigation(pages, page)}
            notebook.metadata["title"] = page.title
            page_html, _ = exporter.from_notebook_node(notebook, resources=resources)
            page_html = rewrite_links(page_html, page.path, folder, source, unresolved)
            # What the notebooks print about their own files names them from the course folder, not
            # from wherever the site happened to be built.
            page_html = page_html.replace(f"{source}{os.sep}", "")
            (out / page.path).write_text(page_html, encoding="utf-8")
    report = SiteReport(out=out, pages=pages, seconds=time.monotonic() - started, unresolved_links=unresolved)
    (out / "site.json").write_text(report.to_json(), encoding="utf-8")
    return report


def run(out: str, source: str | None, python: str | None) -> int:
    from .paths import ROOT

    interpreter = Path(python) if python else Path(sys.executable)
    try:
        report = build_site(Path(out).resolve(), source=Path(source) if source else ROOT,
                            python=interpreter)
    except SiteBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    figures = sum(page.figures for page in report.pages)
    print(f"wrote {len(report.pages)} pages to {report.out} ({figures} figures, "
          f"{report.size_bytes / 1e6:.1f} MB) in {report.seconds:.0f} s; open {report.out / 'index.html'}")
    for link in report.unresolved_links:
        print(f"warning: a link to no page: {link}", file=sys.stderr)
    return 0
