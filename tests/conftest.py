"""Shared fixtures for the dspatterns test suite.

Keep this small: fixtures used by one test file belong in that file.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Session fixtures shared across test files: one student edition and one venv made from it.
pytest_plugins = ["student_edition_fixtures"]


def skip_without_redis() -> None:
    """Skips the test when no redis-server binary is installed. Only a missing binary skips: a server
    that is there and fails to start is an error, so a broken set-up cannot pass as "not installed"."""
    from dspatterns.caching.redis_server import RedisUnavailable, find_redis_binary

    try:
        find_redis_binary()
    except RedisUnavailable as missing:
        pytest.skip(f"no redis-server binary: {missing}")


@pytest.fixture(scope="module")
def redis():
    """A private redis-server for one test module (``dspatterns.caching.redis_server``)."""
    from dspatterns.caching.redis_server import redis_server

    skip_without_redis()
    with redis_server() as running:
        yield running


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it, so xdist workers don't clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder (the one holding pyproject.toml)."""
    assert (REPO_ROOT / "pyproject.toml").is_file(), f"not the repo root: {REPO_ROOT}"
    return REPO_ROOT


@pytest.fixture
def free_port() -> int:
    """A free TCP port on 127.0.0.1 (see ``find_free_port``, also importable: ``from conftest import find_free_port``)."""
    return find_free_port()


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest, repo_root: Path) -> Path:
    """``test-output/<test name>/`` under the repo root (git-ignored): screenshots, logs.

    Emptied at the start of each test so it holds only this run's files.
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    path = repo_root / "test-output" / name
    if path.exists():
        for child in sorted(path.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path
