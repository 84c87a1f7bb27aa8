"""Finding the pieces of an ipywidgets explorer in tests, as a person finds them on the page."""
from __future__ import annotations


def descendants(widget):
    """The widget and every widget inside it, depth first."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from descendants(child)


def only(widget, kind):
    """The one widget of ``kind`` inside ``widget`` (two sliders where one was meant fail here)."""
    found = [w for w in descendants(widget) if isinstance(w, kind)]
    assert len(found) == 1, f"expected one {kind.__name__}, found {len(found)}"
    return found[0]
