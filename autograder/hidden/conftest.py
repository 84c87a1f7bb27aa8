"""Settings for every hidden suite: grades must never vary between runs."""
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "grading",
    derandomize=True,  # the same examples every run: a grade never depends on luck
    database=None,
    deadline=None,  # the student's code runs in another process; time is not what we grade
    print_blob=False,
    # A warm judge process runs the suite once per submission, so a test method is called from a
    # new class instance each time: that is the "differing executors" hypothesis warns about, and
    # it is harmless here (no example database, no state kept between runs).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.differing_executors],
)
settings.load_profile("grading")


def pytest_configure(config):
    config.addinivalue_line("markers", "part(name): the graded cell (part of an exercise) a test belongs to")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A failed check says what the grader refused the student's code while it ran: code that
    swallowed the refusal (to nudge the clock or edit a record only where it can) would otherwise
    fail with no word of why its trick made no difference."""
    peer = _judge_peer(item)
    seen = peer.refused if peer is not None else 0
    outcome = yield
    if peer is None or outcome.excinfo is None or peer.refused <= seen:
        return
    refused = peer.refusals_after(seen)
    note = "while this check ran, the grader refused: " + "; ".join(refused[:3])
    if len(refused) > 3:
        note += f" (and {len(refused) - 3} more)"
    _append_to_message(outcome.excinfo[1], note)


def _judge_peer(item):
    """The judge's end of the channel to the sandbox this test talks to, in a judged run."""
    sandbox = getattr(item.funcargs.get("impl"), "_sandbox", None)
    peer = getattr(sandbox, "peer", None)
    return peer if hasattr(peer, "refusals_after") else None


def _append_to_message(exc, note: str) -> None:
    text = f"{exc}\n{note}"
    if hasattr(exc, "_remote_str"):  # an exception mirrored from the student's code
        exc._remote_str = text
    elif isinstance(exc, AssertionError) or type(exc).__str__ is BaseException.__str__ \
            and not isinstance(exc, KeyError):
        exc.args = (text,)
