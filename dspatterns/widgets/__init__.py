"""Interactive views for the course notebooks; each answers one question about a pattern's behaviour."""
from dspatterns.widgets.breaker_timeline import breaker_explorer, breaker_summary, breaker_timeline_figure

__all__ = ["breaker_explorer", "breaker_summary", "breaker_timeline_figure"]
