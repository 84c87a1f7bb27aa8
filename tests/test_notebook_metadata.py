"""Every committed notebook carries the kernelspec and language_info the course's kernel writes, so
opening it in JupyterLab marks nothing modified (see autograder/notebook_metadata.py for the values and why
the Python version is pinned to the reference environment's)."""
from __future__ import annotations

import re

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

from autograder.notebook_metadata import (COURSE_PYTHON, KERNELSPEC, LANGUAGE_INFO, REPO_ROOT, committed_notebooks,
                               with_course_metadata)

NOTEBOOKS = committed_notebooks()


def test_every_folder_has_notebooks_to_check():
    """Guards the parametrised test: a folder the scan no longer finds must fail, not pass by checking nothing."""
    folders = {path.relative_to(REPO_ROOT).parts[0] for path in NOTEBOOKS}
    assert folders == {"course", "solutions", "exercises"}, folders


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(REPO_ROOT)) for p in NOTEBOOKS])
def test_notebook_metadata_is_what_the_kernel_writes(path):
    text = path.read_text()
    assert with_course_metadata(text) == text, (
        f"{path.relative_to(REPO_ROOT)}: kernelspec/language_info differ from what the course's kernel "
        f"writes, so JupyterLab marks it modified on opening: run `python -m autograder.notebook_metadata`")


def test_the_values_are_what_a_real_kernel_replies():
    """The committed values come from a running python3 kernel's kernel_info_reply, not from memory:
    every key equal, the version the same Python minor release (its patch release is the reference
    environment's, which another 3.11 machine need not have)."""
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=120)
    try:
        reply = client.kernel_info(reply=True, timeout=60)["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    replied = dict(reply["language_info"])
    version = replied.pop("version")
    expected = {key: value for key, value in LANGUAGE_INFO.items() if key != "version"}
    assert replied == expected, f"the kernel replies {reply['language_info']}"
    assert re.fullmatch(r"3\.11\.\d+", COURSE_PYTHON), COURSE_PYTHON
    assert version.split(".")[:2] == COURSE_PYTHON.split(".")[:2], (version, COURSE_PYTHON)

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert {"name": "python3", "display_name": spec.display_name, "language": spec.language} == KERNELSPEC
