"""How fast each course widget reacts in a real browser: from a control change to the figure's redraw.

    .venv/bin/python benchmarks/widget_reaction.py [NOTEBOOK...] [--changes 5] [--json FILE]

Runs every course notebook (course/*.ipynb, or the ones named) in a real JupyterLab in headless Debian
chromium, as tests/test_browser.py does and with its code (tests/jupyterlab_browser.py): so the widgets
are the ones the notebooks build, at the sizes the notebooks use. For each widget view with a control,
it moves that control ``--changes`` times (widgets the browser test exempts, whose buttons start
long jobs, are left out) (back and forth: a slider one step right, then left, ...) and
times each change in the page: ``performance.now()`` at the first input event on the control, and at the
last change of the rest of the view (a MutationObserver: plotly's redraw, the summary's text), once the
view has changed, the kernel is idle and nothing has moved for 300 ms. That is what a reader waits for:
the round trip to the kernel, the simulation it reruns, and plotly's redraw.

Prints a row per widget (notebook, widget, control, median and max ms to the last redraw, median ms to
the first) and how many widgets react within 200 ms (by their median). Figures, not a pass/fail test:
they move with the machine, so compare rows of one run, not runs on different machines.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import jupyterlab_browser as lab  # noqa: E402
from test_browser import EXEMPT_BUTTONS  # noqa: E402  (widgets whose buttons start long jobs: not moved)

TARGET_MS = 200


def measure_notebook(browser, server, notebook: str, changes: int) -> list[dict]:
    """One row per widget view of ``notebook`` that has a control: its change times, in ms."""
    console: list[str] = []
    rows = []
    with lab.new_page(browser, console) as page:
        try:
            errors = lab.run_notebook(page, server, notebook)
            if errors:
                raise RuntimeError(f"{notebook} raised while running: {errors}")
            lab.wait_until_widgets_settle(page)
            for view in lab.find_widget_views(page):
                if view.control is None or any((notebook, label) in EXEMPT_BUTTONS for label in view.controls):
                    continue
                probe = lab.ReactionProbe(page, view)
                results = [probe.measure(step) for step in range(changes)]
                last = [r["ms"] for r in results if r["ms"] is not None]
                first = [r["first_ms"] for r in results if r["first_ms"] is not None]
                rows.append({
                    "notebook": notebook, "widget": view.name, "control": view.control_name,
                    "changes": len(results), "redrawn": len(last),
                    "median_ms": statistics.median(last) if last else None,
                    "max_ms": max(last) if last else None,
                    "median_first_ms": statistics.median(first) if first else None,
                    "moves": [r["move"] for r in results],
                })
        finally:
            server.shut_down_kernels()
    return rows


def print_table(rows: list[dict]) -> None:
    fmt = lambda ms: "   -" if ms is None else f"{ms:6.0f}"  # noqa: E731
    print(f"{'notebook':<22} {'widget':<20} {'control':<42} {'median':>6} {'max':>6} {'first':>6} redrawn")
    for row in rows:
        print(f"{Path(row['notebook']).stem:<22} {row['widget']:<20} {row['control'][:42]:<42} "
              f"{fmt(row['median_ms'])} {fmt(row['max_ms'])} {fmt(row['median_first_ms'])} "
              f"{row['redrawn']}/{row['changes']}")
    timed = [row for row in rows if row["median_ms"] is not None]
    within = sum(row["median_ms"] <= TARGET_MS for row in timed)
    print(f"\n{within} of {len(rows)} widgets redraw within {TARGET_MS} ms (median of their changes, to the last "
          f"redraw); {sum(row['max_ms'] <= TARGET_MS for row in timed)} never take longer.")
    if len(timed) < len(rows):
        print(f"{len(rows) - len(timed)} widget(s) never redrew: see tests/test_browser.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="course notebooks (default: course/*.ipynb)")
    parser.add_argument("--changes", type=int, default=5, help="control changes per widget (default 5)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted(f"course/{p.name}" for p in (ROOT / "course").glob("*.ipynb"))

    started = time.monotonic()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        with lab.running_jupyter_lab(ROOT, work_dir, work_dir / "jupyter.log") as server, \
                lab.chromium_browser() as browser:
            for notebook in notebooks:
                began = time.monotonic()
                found = measure_notebook(browser, server, notebook, args.changes)
                rows += found
                print(f"{notebook}: {len(found)} widget(s) with a control, {time.monotonic() - began:.0f} s",
                      file=sys.stderr, flush=True)
    print_table(rows)
    print(f"({len(notebooks)} notebooks, {args.changes} changes per widget, {time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
