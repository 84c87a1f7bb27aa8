"""pytest plugin: the course notebooks run, top to bottom, under nbval (``-p tests.course_nbval`` in
pyproject.toml's addopts, beside ``--nbval-lax``).

nbval turns each notebook into one test item per code cell, run in order in one kernel: a cell that
raises fails its item, and a cell tagged ``nbval-check-output`` also fails when its fresh output differs
from the output stored in the notebook (``python -m tests.store_outputs`` stores them). This plugin
keeps that to the course:

- only ``course/*.ipynb`` are collected as nbval tests: the ``solutions/`` notebooks run in
  ``tests/test_notebooks.py`` (with nbclient, outputs unchecked), and the ``exercises/`` ones raise
  ``NotImplementedError`` by design;
- the cells are marked ``slow``, as the notebook runs were before (``-m "not slow"`` leaves them out);
- the sanitize rules for what varies by nature in a checked output are ``tests/nbval_sanitize.cfg``
  (passed as ``--nbval-sanitize-with`` by absolute path, so pytest may run from any folder);
- under pytest-xdist a notebook's cells must stay on one worker, in order (``--dist loadfile``, set in
  addopts); ``--dist load`` or ``worksteal`` would scatter them across kernels, so they are refused.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from nbval.plugin import IPyNbCell

REPO_ROOT = Path(__file__).resolve().parent.parent
COURSE = REPO_ROOT / "course"
SANITIZE_RULES = Path(__file__).resolve().parent / "nbval_sanitize.cfg"
SCATTERING_DIST_MODES = ("load", "worksteal")


def pytest_configure(config: pytest.Config) -> None:
    if config.option.nbval_sanitize_with is None:
        config.option.nbval_sanitize_with = str(SANITIZE_RULES)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Notebooks of this repository outside course/ (and checkpoint copies) are no nbval tests."""
    if collection_path.suffix != ".ipynb" or not collection_path.is_relative_to(REPO_ROOT):
        return None
    if collection_path.parent != COURSE:
        return True
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    if isinstance(item, IPyNbCell):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """On the xdist controller, once a worker has collected: refuse to scatter a notebook's cells."""
    dist = node.config.option.dist
    if dist in SCATTERING_DIST_MODES and any(".ipynb::" in nodeid for nodeid in ids):
        pytest.exit(f"--dist {dist} would run a notebook's cells on different workers, each in its own "
                    f"kernel: use --dist loadfile (the default in pyproject.toml)", returncode=pytest.ExitCode.USAGE_ERROR)
