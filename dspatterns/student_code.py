"""Running a student's code for a figure: every failure becomes one phrase, never a traceback.

The explorers that draw your class or function beside the course's model call it through its
contract only. When it raises, the figure keeps the model and a line says which call failed and how:
"your CircuitBreaker.call(...) raised KeyError: 'state'". This module is the one place that turns an
exception into that phrase, so every explorer words it the same way.
"""
from __future__ import annotations


def describe(error: BaseException) -> str:
    """An exception as one phrase: its type, and the first line of its message if it has one."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines and lines[0] else type(error).__name__


def name_of(code: object) -> str:
    """What to call a student's class or function in a sentence: its own name when it has one."""
    return getattr(code, "__name__", None) or repr(code)
