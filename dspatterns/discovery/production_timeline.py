"""What a client's discovery cache saw while real instances came, beat and went: the record and its figure.

The etcd and ZooKeeper demos (``dspatterns.discovery.etcd``, ``dspatterns.discovery.zookeeper``) run
real servers in real time, so unlike ``registry_timeline`` they cannot compute their view: they
*record* it. Every thread that does something (an instance registering, a heartbeat, a watch event
reaching the cache) appends one ``TimelineEvent`` with the time it happened and what the cache listed
right after, and the figure is drawn from that record alone. The question the figure answers is the
one section 1 asked of the model: after an instance goes silent, for how long do callers still find it?
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# Event names, shared by both demos so that one figure draws either.
REGISTERED = "registered"
HEARTBEAT = "heartbeat"
SILENCED = "heartbeats stopped"  # the instance is alive to us but says nothing more: a crash, as the server sees it
KILLED = "process killed"
DEREGISTERED = "deregistered"  # a clean goodbye: lease revoked, session closed
CACHE_ADDED = "cache: added"
CACHE_REMOVED = "cache: removed"


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened, when (seconds since the demo began), to whom, and what the cache listed after it."""

    time: float
    event: str
    instance: str
    cache_sees: tuple[str, ...]


class TimelineRecorder:
    """A thread-safe list of events stamped with one clock, so that heartbeats and watch events share a time axis."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, view: Callable[[], Iterable[str]] = tuple):
        self._clock = clock
        self._view = view
        self._start = clock()
        self._events: list[TimelineEvent] = []
        self._lock = threading.Lock()

    def watch_view(self, view: Callable[[], Iterable[str]]) -> None:
        """Where ``cache_sees`` comes from: the cache is usually built after the recorder."""
        self._view = view

    def record(self, event: str, instance: str, cache_sees: Iterable[str] | None = None) -> TimelineEvent:
        with self._lock:
            seen = tuple(sorted(self._view() if cache_sees is None else cache_sees))
            entry = TimelineEvent(round(self._clock() - self._start, 3), event, instance, seen)
            self._events.append(entry)
            return entry

    @property
    def events(self) -> list[TimelineEvent]:
        with self._lock:
            return list(self._events)


class WatchedCopy:
    """A client's copy of a registry's entries (name -> data), kept current by a server's watch.

    Both demos' caches are this with a different watch (etcd's prefix watch, ZooKeeper's children watch),
    so what the demo asks of a cache (its names, a snapshot, "wait until it shows ...") is written once.
    A subclass implements ``start``/``stop`` and, from its watch thread, changes ``_entries`` under
    ``_changed`` (notifying it) and then calls ``_notify(kind, name, data)``.
    """

    def __init__(self, *, on_change: Callable[[str, str, str | None], None] | None = None):
        self._on_change = on_change
        self._entries: dict[str, str] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._entries)

    def names(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._entries))

    def wait_until(self, condition: Callable[[dict[str, str]], bool], timeout: float) -> bool:
        """Block until ``condition(snapshot)`` holds (True) or ``timeout`` seconds pass (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(dict(self._entries)), timeout=timeout)

    def _notify(self, kind: str, name: str, data: str | None) -> None:
        if self._on_change is not None:
            self._on_change(kind, name, data)


@dataclass(frozen=True)
class ServerMissing:
    """What a notebook cell shows instead of a demo when its server cannot run here: why, and how to get it."""

    server: str
    reason: str

    def __str__(self) -> str:
        return f"{self.server} is not available here, so this demo did not run.\n{self.reason}"

    def _repr_markdown_(self) -> str:
        return f"**{self.server} is not available here**, so this demo did not run. {self.reason}"


def show_demo(figure, events: Sequence[TimelineEvent], summary: str) -> None:
    """Display a demo's figure, then one line of numbers and the record (heartbeats left out) under it."""
    from IPython.display import display

    display(figure)
    print(summary)
    print(format_timeline(events))


def first(events: Sequence[TimelineEvent], event: str, instance: str) -> TimelineEvent | None:
    """The first ``event`` that happened to ``instance``, or None: the demos' questions are all of this form."""
    return next((e for e in events if e.event == event and e.instance == instance), None)


def format_timeline(events: Sequence[TimelineEvent], *, heartbeats: bool = False) -> str:
    """A plain-text table of the record (heartbeats left out unless asked: there are many and they say little)."""
    rows = [e for e in events if heartbeats or e.event != HEARTBEAT]
    lines = [f"{'time (s)':>8}  {'event':<20} {'instance':<10} cache sees"]
    lines += [f"{e.time:8.2f}  {e.event:<20} {e.instance:<10} {', '.join(e.cache_sees) or '(none)'}" for e in rows]
    return "\n".join(lines)


LANE_COLOURS = {"listed, alive": "#4c78a8", "listed, but silent or dead": "#e8a33d"}


def discovery_figure(events: Sequence[TimelineEvent], *, title: str):
    """Swimlanes (when the cache listed each instance, its heartbeats, its end) over the count the cache listed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    instances = sorted({e.instance for e in events if e.event == REGISTERED})
    last = max((e.time for e in events), default=0.0)
    end = last + max(0.3, 0.06 * last)  # a little past the last event, so that survivors visibly stay listed
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.65, 0.35],
                           subplot_titles=("what the client's cache lists, per instance",
                                           "instances the cache lists"))
    shown = set()
    for instance in instances:
        went_quiet = next((e.time for e in events if e.instance == instance and e.event in (SILENCED, KILLED)), None)
        for start, stop in _listed_spans(events, instance, end):
            pieces = [(start, stop, "listed, alive")]
            if went_quiet is not None and start <= went_quiet < stop:
                pieces = [(start, went_quiet, "listed, alive"), (went_quiet, stop, "listed, but silent or dead")]
            for left, right, meaning in pieces:
                figure.add_trace(go.Scatter(
                    x=[left, right], y=[instance, instance], mode="lines", name=meaning,
                    line={"width": 12, "color": LANE_COLOURS[meaning]}, legendgroup=meaning,
                    showlegend=meaning not in shown,
                    hovertemplate=f"{instance} {meaning} %{{x:.2f}} s<extra></extra>"), row=1, col=1)
                shown.add(meaning)
    markers = {HEARTBEAT: ("line-ns-open", "#1b2a3a", 16), SILENCED: ("x", "#e45756", 12),
               KILLED: ("x", "#e45756", 12), DEREGISTERED: ("square", "#f58518", 10)}
    for kind, (symbol, colour, size) in markers.items():
        hits = [e for e in events if e.event == kind]
        if hits:
            figure.add_trace(go.Scatter(x=[e.time for e in hits], y=[e.instance for e in hits], mode="markers",
                                        name=kind, marker={"symbol": symbol, "color": colour, "size": size},
                                        hovertemplate="%{y}: " + kind + " at %{x:.2f} s<extra></extra>"), row=1, col=1)
    counts = [(0.0, 0)] + [(e.time, len(e.cache_sees)) for e in events]
    figure.add_trace(go.Scatter(x=[t for t, _ in counts] + [end], y=[n for _, n in counts] + [counts[-1][1]],
                                mode="lines", line={"shape": "hv", "color": "#4c78a8"}, showlegend=False,
                                hovertemplate="%{x:.2f} s: %{y} listed<extra></extra>"), row=2, col=1)
    figure.update_yaxes(categoryorder="array", categoryarray=instances[::-1], row=1, col=1)
    figure.update_yaxes(rangemode="tozero", dtick=1, row=2, col=1)
    figure.update_xaxes(title_text="seconds since the demo began", row=2, col=1)
    figure.update_layout(title={"text": title, "font": {"size": 13}}, height=480, template="plotly_white",
                         legend={"orientation": "h", "y": -0.18})
    return figure


def _listed_spans(events: Sequence[TimelineEvent], instance: str, end: float) -> list[tuple[float, float]]:
    """The intervals during which ``instance`` was in the cache, from the cache's own added/removed events."""
    spans, since = [], None
    for e in events:
        listed = instance in e.cache_sees
        if listed and since is None:
            since = e.time
        elif not listed and since is not None:
            spans.append((since, e.time))
            since = None
    if since is not None:
        spans.append((since, end))
    return spans
