"""Settings for every hidden suite: grades must never vary between runs."""
from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "grading",
    derandomize=True,  # the same examples every run: a grade never depends on luck
    database=None,
    deadline=None,  # the student's code runs in another process; time is not what we grade
    print_blob=False,
    # Shrinking stays (a student reads the smallest failing example); hypothesis's "explain" phase,
    # which would re-run a failing test many more times to annotate that example, is left out: it
    # cost about a second per failing property test, for comments the feedback does not show.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    # A warm judge process runs the suite once per submission, so a test method is called from a
    # new class instance each time: that is the "differing executors" hypothesis warns about, and
    # it is harmless here (no example database, no state kept between runs).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.differing_executors],
)
settings.load_profile("grading")


def pytest_configure(config):
    config.addinivalue_line("markers", "part(name): the graded cell (part of an exercise) a test belongs to")

