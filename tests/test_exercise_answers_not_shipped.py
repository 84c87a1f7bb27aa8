"""dspatterns ships to students, so it must not hand them the answers to any exercise.

The simulations model breakers, retries, bulkheads and deadlines, but in other shapes (sequences for
plots, private helpers inside a simulation). This guards against a helper drifting into a submittable
answer: nothing public or private anywhere in the package may carry a name an exercise's contract
requires (every exercise's ``required_names`` in the registry).
"""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import dspatterns
from autograder.exercises import EXERCISES

EXERCISE_NAMES = {name for exercise in EXERCISES.values() for name in exercise.required_names}
PACKAGE_DIR = Path(dspatterns.__file__).parent
SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))


def test_there_are_sources_and_names_to_check():
    assert len(SOURCES) >= 8, SOURCES
    assert {"CircuitBreaker", "retry_with_backoff", "Bulkhead", "read_response"} <= EXERCISE_NAMES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_function_or_class_is_named_after_an_exercise(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    defined = {
        node.name for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    assigned = {
        target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name)
    }
    clashes = (defined | assigned) & EXERCISE_NAMES
    assert not clashes, f"{path.name} defines {sorted(clashes)}, which students must write themselves"


def test_no_module_exports_an_exercise_name():
    for module_info in pkgutil.walk_packages(dspatterns.__path__, prefix="dspatterns."):
        module = importlib.import_module(module_info.name)
        clashes = EXERCISE_NAMES & set(vars(module))
        assert not clashes, f"{module_info.name} exposes {sorted(clashes)}"
