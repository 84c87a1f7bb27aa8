"""The static site (``python -m autograder site OUT``): built once for this module from the student
edition with the edition's own interpreter, then read as a browser would read it, file by file.

Every family's page is there and linked from the index; each page holds as many plotly figures as its
notebook made when it ran (plotly outputs, and each widget's FigureWidgets, counted from the widget
state nbclient recorded), each with data, and never fewer than the notebook's committed outputs show;
plotly.js and the stylesheet are files of the site, so no figure needs the network; every exercise of
the registry has its contract on its assignment's page, with the names it must define and none of its
solution's code or its canary; every link between pages leads to a page (and anchor) that exists; and a cell that raises
fails the build, naming the notebook, the cell and the error.
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import nbformat
import pytest

from autograder.exercises import COURSE_NOTEBOOKS, EXERCISES
from autograder.paths import ROOT
from autograder.site import PLOTLY_JS, PLOTLY_MIME, SiteBuildError, build_site, course_page_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(student_edition, edition_python, tmp_path_factory):
    """The site, built once for every test here (about 2 to 4 minutes on 2 cores)."""
    out = tmp_path_factory.mktemp("site") / "site"
    report = build_site(out, source=student_edition, python=edition_python, log=lambda *a, **k: None)
    return out, report, json.loads((out / "site.json").read_text(encoding="utf-8"))


class PageReader(HTMLParser):
    """What a page holds: its links, its element ids, its scripts' sources, its figures' data and
    its text (code included, as the reader sees it)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.script_sources: list[str] = []
        self.stylesheets: list[str] = []
        self.figure_divs: list[str] = []
        self.figure_data: dict[str, dict] = {}
        self.text: list[str] = []
        self._figure_for: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "script" and attributes.get("src"):
            self.script_sources.append(attributes["src"])
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes["href"])
        if tag == "div" and "dsp-figure" in (attributes.get("class") or "").split():
            self.figure_divs.append(attributes["id"])
        if tag == "script" and "dsp-figure-data" in (attributes.get("class") or "").split():
            self._figure_for = attributes["data-for"]

    def handle_endtag(self, tag):
        if tag == "script":
            self._figure_for = None

    def handle_data(self, data):
        if self._figure_for is not None:
            self.figure_data[self._figure_for] = json.loads(data)
        else:
            self.text.append(data)


def read_page(path: Path) -> PageReader:
    reader = PageReader()
    reader.feed(path.read_text(encoding="utf-8"))
    return reader


def local_target(page: str, href: str) -> tuple[str, str] | None:
    """(site path, anchor) of a link within the site, or None for an external or in-page link."""
    if href.startswith(("http://", "https://", "mailto:", "#")):
        return None
    target, _, anchor = href.partition("#")
    resolved = PurePosixPath(page).parent / target
    parts: list[str] = []
    for part in resolved.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts), anchor


def stored_plotly_outputs(notebook: Path) -> int:
    """Plotly figures the committed notebook already shows (its deterministic cells' outputs)."""
    cells = nbformat.read(notebook, as_version=4).cells
    return sum(PLOTLY_MIME in output.get("data", {}) for cell in cells for output in cell.get("outputs", []))


def test_every_family_has_a_page_linked_from_the_index(site):
    out, _, manifest = site
    index = read_page(out / "index.html")
    linked = {local_target("index.html", href)[0] for href in index.links if local_target("index.html", href)}
    for notebook in COURSE_NOTEBOOKS.values():
        page = course_page_path(notebook)
        assert (out / page).is_file(), f"no page for {notebook}"
        assert page in linked, f"the index does not link {page}"
    assert {p["source"] for p in manifest["pages"] if p["kind"] == "course"} == \
        {f"course/{name}" for name in COURSE_NOTEBOOKS.values()}


def test_each_page_holds_every_figure_its_notebook_made_each_with_data(site, student_edition):
    out, _, manifest = site
    for page in manifest["pages"]:
        if page["kind"] == "contracts":
            continue
        reader = read_page(out / page["path"])
        assert len(reader.figure_divs) == page["figure_outputs"], (
            f"{page['path']}: {len(reader.figure_divs)} figures in the page, the notebook made "
            f"{page['figure_outputs']} (plotly outputs and figure widgets)")
        assert len(reader.figure_divs) >= stored_plotly_outputs(student_edition / page["source"])
        for figure_id in reader.figure_divs:
            figure = reader.figure_data[figure_id]
            assert figure["data"], f"{page['path']}: figure {figure_id} has no traces"
        if page["kind"] == "course":
            assert reader.figure_divs, f"{page['path']} has no figure"
        assert "Traceback (most recent call last)" not in "".join(reader.text), f"{page['path']} shows an error"
    # The explorers' figures are there too, not only the plain plotly outputs.
    assert sum(page["widget_figures"] for page in manifest["pages"]) >= len(COURSE_NOTEBOOKS)


def test_plotly_js_and_the_stylesheet_are_files_of_the_site(site):
    out, _, manifest = site
    library = out / PLOTLY_JS
    assert library.stat().st_size > 1_000_000
    assert b"plotly.js" in library.read_bytes()[:2000]
    for page in manifest["pages"]:
        reader = read_page(out / page["path"])
        plotly_sources = [src for src in reader.script_sources if "plotly" in src.lower()]
        assert plotly_sources, f"{page['path']} does not load plotly.js"
        for src in plotly_sources:
            target = local_target(page["path"], src)
            assert target is not None and target[0] == PLOTLY_JS, f"{page['path']} loads plotly from {src}"
        assert reader.stylesheets, f"{page['path']} has no stylesheet"
        for href in reader.stylesheets:
            target = local_target(page["path"], href)
            assert target is not None and (out / target[0]).is_file(), f"{page['path']}: no stylesheet {href}"


def test_every_link_between_pages_leads_to_a_page_and_anchor(site):
    out, _, manifest = site
    assert manifest["unresolved_links"] == []
    pages = {page["path"] for page in manifest["pages"]}
    ids = {path: read_page(out / path).ids for path in pages}
    for path in pages:
        reader = read_page(out / path)
        targets = {local_target(path, href) for href in reader.links} - {None}
        assert not [href for href in reader.links if href.endswith(".ipynb")], f"{path} links a notebook"
        for target, anchor in targets:
            assert target in pages, f"{path} links {target}, which is not a page"
            assert not anchor or anchor in ids[target], f"{path} links {target}#{anchor}: no such anchor"
        # The bar of every page links every other page.
        assert {target for target, _ in targets} >= pages - {path}


def test_every_exercise_has_its_contract_and_none_of_its_solution(site, student_edition):
    out, _, _ = site
    index_links = read_page(out / "index.html").links
    for exercise in EXERCISES.values():
        page = f"exercises/{exercise.assignment}.html"
        reader = read_page(out / page)
        text = "".join(reader.text)
        assert exercise.name in reader.ids, f"{page} has no anchor for {exercise.name}"
        assert f"{page}#{exercise.name}" in index_links, f"the index does not link {exercise.name}'s contract"
        for name in exercise.required_names:
            assert name in text, f"{page}: {exercise.name}'s contract does not name {name}"
        released_cells = nbformat.read(student_edition / "exercises" / exercise.assignment /
                                       f"{exercise.name}.ipynb", as_version=4).cells
        released = {line.strip() for cell in released_cells for line in cell.source.splitlines()}
        solution_lines = [line.strip() for line in exercise.reference_code.splitlines()
                          if len(line.strip()) >= 25 and line.strip() not in released]
        assert solution_lines, f"{exercise.name}: no line of the reference to look for"
        leaked = [line for line in solution_lines if line in text]
        assert not leaked, f"{page} holds {exercise.name}'s solution code: {leaked[:3]}"
    for path in out.rglob("*"):
        if path.is_file():
            assert b"DSP-CANARY-" not in path.read_bytes(), f"{path.relative_to(out)} holds a canary"


def test_a_cell_that_raises_fails_the_build_naming_notebook_cell_and_error(tmp_path, edition_python):
    source = tmp_path / "source"
    (source / "course").mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A broken course"),
                                               nbformat.v4.new_code_cell("print('fine')"),
                                               nbformat.v4.new_code_cell("{}['missing']")])
    nbformat.write(notebook, source / "course" / "00_index.ipynb")
    with pytest.raises(SiteBuildError) as raised:
        build_site(tmp_path / "out", source=source, python=edition_python, log=lambda *a, **k: None)
    message = str(raised.value)
    assert "course/00_index.ipynb" in message and "cell 2" in message and "KeyError" in message
