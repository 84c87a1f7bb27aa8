"""The notebook metadata the course's kernel writes, and a rewriter for the committed notebooks.

JupyterLab copies the kernel's `kernel_info_reply` language_info (and the kernelspec) into a notebook's
metadata when the kernel connects, and marks the notebook modified when that differs in any key from
what the file holds. So every committed notebook carries exactly what the course's kernel (ipykernel's
python3, Python 3.11) replies, and opening one changes nothing.

`version` is the reference environment's Python, the interpreter requirements.lock was made with: it is
the one value that moves with the machine (a student on another 3.11 patch release sees it rewritten
once, as with any published notebook); a bare "3.11" would be rewritten on every machine.

    python -m autograder.notebook_metadata   # rewrites the metadata of every committed notebook
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .paths import ROOT as REPO_ROOT
NOTEBOOK_FOLDERS = ("course", "solutions", "exercises")
COURSE_PYTHON = "3.11.7"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": COURSE_PYTHON,
}


def committed_notebooks() -> list[Path]:
    """Every notebook a student or instructor opens, found by scanning (new notebooks are covered too)."""
    return sorted(path for folder in NOTEBOOK_FOLDERS for path in (REPO_ROOT / folder).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in path.parts)


def with_course_metadata(text: str) -> str:
    """The notebook text with its top-level metadata replaced, everything else byte for byte as it was
    (so the edit merges with others' edits to the cells)."""
    notebook = json.loads(text)
    metadata = {**notebook["metadata"], "kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    start = text.rindex('\n "metadata": {')
    end = text.index('\n },\n "nbformat"', start) + len("\n }")
    block = json.dumps(metadata, indent=1, sort_keys=True, ensure_ascii=False).replace("\n", "\n ")
    rewritten = text[:start] + '\n "metadata": ' + block + text[end:]
    assert json.loads(rewritten) == {**notebook, "metadata": metadata}
    return rewritten


def main() -> int:
    for path in committed_notebooks():
        text = path.read_text()
        rewritten = with_course_metadata(text)
        if rewritten != text:
            path.write_text(rewritten)
            print(f"rewrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
