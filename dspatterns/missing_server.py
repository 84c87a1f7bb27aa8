"""What a notebook's lab object becomes when its server could not start: every cell still runs and says why.

A lab wrapper (``start_redis()``, ``start_redis_lab()``) returns either the running lab or one of these.
The notebook calls the same methods on both, so it needs no ``if`` around each cell: here each call
returns one line, "(skipped: ...)" and the first line of the reason, and ``describe()`` gives the whole
reason with the install command. It is falsy, so a cell that must choose can ask ``if lab:``.
"""
from __future__ import annotations


class MissingServer:
    """Stands in for a lab whose ``server`` could not start; a subclass names it and says what the reader misses."""

    server_name = "the server"
    consequence = "this section shows no run"

    def __init__(self, reason: str):
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def describe(self) -> str:
        return f"{self.server_name} could not be started, so {self.consequence}.\n{self.reason}"

    def __getattr__(self, name: str):
        if name.startswith("_"):  # copy, pickle and IPython's display probe these: they must not get a function
            raise AttributeError(name)
        return lambda *args, **kwargs: f"(skipped: {self.server_name} is not available) {self.reason.splitlines()[0]}"
