"""Settings for every hidden suite: grades must never vary between runs."""
from hypothesis import HealthCheck, settings

settings.register_profile(
    "grading",
    derandomize=True,  # the same examples every run: a grade never depends on luck
    database=None,
    deadline=None,  # the student's code runs in another process; time is not what we grade
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("grading")


def pytest_configure(config):
    config.addinivalue_line("markers", "part(name): the graded cell (part of an exercise) a test belongs to")
