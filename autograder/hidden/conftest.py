"""Settings for every hidden suite: grades must never vary between runs."""
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

