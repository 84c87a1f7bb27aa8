"""The sandbox process: loads a student's code and serves it to the judge over the RPC channel.

It is started by ``autograder.sandbox.client`` as ``python -I runner.py FD CODE.json`` from a private
temporary folder holding copies of this file and ``rpc.py``. Everything printed here (the student's
prints and warnings included) goes to a log file, never to the judge: nothing the student's code
writes can be mistaken for a result.
"""
from __future__ import annotations

import json
import linecache
import os
import resource
import socket
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rpc  # noqa: E402  (copied beside this file)

# Races in student code show up far more reliably when threads switch often.
sys.setswitchinterval(1e-4)

TRANSPARENT_CELL_MAGICS = {"time", "timeit", "capture", "prun"}


class _NoShell:
    """Stands in for IPython's shell while grading: magics and ``!`` commands do nothing.

    A cell magic that only wraps Python (``%%time``, ``%%capture``) still runs its body, so a
    student who timed the cell defining their class still has the class.
    """

    def __init__(self, namespace):
        self._namespace = namespace

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, body):
        if name in TRANSPARENT_CELL_MAGICS:
            exec(compile(body, "<cell magic>", "exec"), self._namespace)

    def system(self, *args, **kwargs):
        return None

    getoutput = system


def _transform(source: str) -> str:
    """IPython syntax (magics, ``!`` commands) to plain Python; most cells have none."""
    if not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()) \
            and "?" not in source:
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    return TransformerManager().transform_cell(source)


def load_student_code(cells, module, report_progress):
    """Run each piece of student code in order, as Jupyter's "Run All" (and nbgrader) would.

    A piece that raises does not stop the rest (nbgrader continues too); its error is kept for the
    report, so a student learns that a scratch cell broke and why a name is missing.
    """
    errors = []
    namespace = module.__dict__
    namespace["get_ipython"] = lambda: _NoShell(namespace)
    for cell in cells:
        label, source = cell["label"], cell["source"]
        report_progress(label)
        filename = f"<{label}>"
        try:
            code = compile(_transform(source), filename, "exec")
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            exec(code, namespace)
        except SystemExit as exc:
            errors.append({"label": label, "error": f"called sys.exit({exc.code!r}) while loading; "
                                                    "grading went on with the rest of your code"})
        except BaseException as exc:  # noqa: BLE001 - every student error is reported, not raised
            lines = rpc.format_student_traceback(exc)
            errors.append({"label": label, "error": f"{type(exc).__name__}: {exc}"[:2000],
                           "traceback": lines})
    return errors


def limit_processes() -> None:
    """Inside the walls the process limit counts only this sandbox's processes and threads (the
    kernel counts it per user namespace), so it is set here rather than before bwrap starts, where
    it would count every process the same uid has on the machine."""
    processes = os.environ.pop("DSP_SANDBOX_PROCESSES", "")
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(processes), int(processes)))


def main() -> None:
    fd, code_path = int(sys.argv[1]), sys.argv[2]
    limit_processes()
    sock = socket.socket(fileno=fd)
    peer = rpc.Peer(sock, "sandbox", restricted=False).start()
    with open(code_path, encoding="utf-8") as handle:
        cells = json.load(handle)
    os.unlink(code_path)  # the student's code does not need to find its own copy

    module = types.ModuleType("student_solution")
    module.__file__ = "<your code>"
    sys.modules["student_solution"] = module
    errors = load_student_code(cells, module,
                               lambda label: peer.send({"op": "progress", "label": label}))
    public = sorted(name for name in vars(module) if not name.startswith("_"))
    peer.send({"op": "loaded", "module": peer.encode(module), "errors": errors, "names": public})
    peer.closed.wait()
    os._exit(0)


if __name__ == "__main__":
    main()
