"""Finding the pieces of an ipywidgets explorer in tests, as a person finds them on the page."""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go


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


def figure_of(widget) -> go.FigureWidget:
    """The explorer's one figure."""
    return only(widget, go.FigureWidget)


def trace(figure, meta):
    """The one trace the widget tagged ``meta`` (traces are found by what they show, not by index)."""
    found = [t for t in figure.data if t.meta == meta]
    assert len(found) == 1, f"expected one trace {meta!r}, found {[t.meta for t in figure.data]}"
    return found[0]


def html_of(widget) -> str:
    """All the text the explorer's HTML panes show."""
    return " ".join(w.value for w in descendants(widget) if isinstance(w, widgets.HTML))
