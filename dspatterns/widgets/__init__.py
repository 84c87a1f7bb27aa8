"""Interactive views for the course notebooks; each answers one question about a pattern's behaviour."""
from dspatterns.widgets.breaker_timeline import (
    breaker_explorer,
    breaker_summary,
    breaker_timeline_figure,
)
from dspatterns.widgets.ring_explorer import ring_explorer, ring_figure

__all__ = ["breaker_explorer", "breaker_summary", "breaker_timeline_figure", "ring_explorer", "ring_figure"]
