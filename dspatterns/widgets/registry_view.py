"""A heartbeat registry's view over time: one lane per instance, and the moment each one drops out.

The question is "how long does the registry keep handing out an instance that is gone?". Four
instances of the service ``api``: ``api-1`` stays up, ``api-2`` crashes, ``api-3`` shuts down cleanly
(it deregisters), ``api-4`` joins late and crashes later. Each lane shows the heartbeats (ticks), the
time the instance is listed by ``instances()`` (the thick bar, sampled every 0.25 s), the stop (a cross)
and the moment it drops out (a circle); a grey bracket spans each crash's detection delay, which always
lies in ``(ttl - interval, ttl]``. Everything comes from ``dspatterns.discovery.registry_timeline``.

Handed a ``ServiceRegistry`` class (``registry_view_explorer(ServiceRegistry)``), it builds one as
``ServiceRegistry(ttl=..., clock=FakeClock())``, replays the same registrations, heartbeats and
deregistrations on the fake clock (events at a sample's time happen before the sample, as in the
model), asks ``instances("api")`` at every sample time, draws what yours lists as a thin purple line
under each lane and marks the first sample where your answer differs from the model's.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.student_code import describe
from dspatterns.discovery.registry_timeline import RegistryTimeline, registry_timeline
from dspatterns.testing import FakeClock

SERVICE = "api"
INSTANCES = ("api-1", "api-2", "api-3", "api-4")
STOPS = {"api-2": 6.6, "api-3": 12.4, "api-4": 17.1}
REGISTERED_AT = {"api-1": 0.0, "api-2": 0.0, "api-3": 0.0, "api-4": 4.0}
GRACEFUL = frozenset({"api-3"})
HORIZON, STEP = 24.0, 0.25  # every sample time is exact in binary, and so is every slider value
LISTED, HEARTBEATS, STOPPED, VANISHED, DELAYS = "listed", "heartbeats", "stopped", "dropped out", "detection delay"
YOURS, FIRST_DIFFERENCE = "listed by your registry", "first difference"
COLOURS = {LISTED: "#1565c0", HEARTBEATS: "#2e7d32", STOPPED: "#c62828", VANISHED: "#ef6c00", DELAYS: "#757575",
           YOURS: "#6a1b9a", FIRST_DIFFERENCE: "#d50000"}


def address_of(instance: str) -> str:
    return f"{instance}.internal:8080"


def scenario(ttl: float = 3.0, heartbeat_interval: float = 1.0) -> RegistryTimeline:
    """The figure's run: the four instances above, sampled every 0.25 s for 24 s."""
    return registry_timeline(INSTANCES, heartbeat_interval, ttl, STOPS, horizon=HORIZON, step=STEP,
                             registered_at=REGISTERED_AT, graceful=GRACEFUL)


@dataclass(frozen=True)
class RegistryVerdict:
    """What a student's registry listed at every sample time, and the first sample it disagrees on."""

    name: str
    views: tuple[tuple[str, ...], ...] = ()  # per sample time, the instance names yours listed
    first_difference: tuple[float, tuple[str, ...], tuple[str, ...]] | None = None  # (time, yours, model)
    differences: int = 0
    problem: str | None = None

    @property
    def text(self) -> str:
        head = f"<b>Your {html.escape(self.name)}:</b> "
        if self.problem is not None:
            return head + html.escape(self.problem, quote=False)
        if self.first_difference is None:
            return head + f"listed exactly what the model lists at all {len(self.views)} sample times."
        time, yours, model = self.first_difference
        return head + html.escape(
            f"first difference at t = {time:.2f} s: yours listed {list(yours)}, the model {list(model)} "
            f"({self.differences} of {len(self.views)} sample times differ).", quote=False)


def check_registry_class(registry_class: type, timeline: RegistryTimeline) -> RegistryVerdict:
    """Replay ``timeline``'s events through ``registry_class(ttl=..., clock=FakeClock())`` and compare views."""
    name = getattr(registry_class, "__name__", repr(registry_class))
    clock = FakeClock()
    try:
        registry = registry_class(ttl=timeline.ttl, clock=clock)
    except Exception as error:  # noqa: BLE001 - any failure of student code becomes one sentence
        return RegistryVerdict(name, problem=f"{name}(ttl={timeline.ttl:g}, clock=FakeClock()) raised {describe(error)}")
    events = _events(timeline)
    by_address = {address_of(instance): instance for instance in timeline.instances}
    views, next_event = [], 0
    for time, model in zip(timeline.times, timeline.healthy):
        while next_event < len(events) and events[next_event][0] <= time:
            at, call, instance = events[next_event]
            clock.now = at
            arguments = (SERVICE, instance, address_of(instance)) if call == "register" else (SERVICE, instance)
            try:
                getattr(registry, call)(*arguments)
            except Exception as error:  # noqa: BLE001
                shown = ", ".join(repr(a) for a in arguments)
                return RegistryVerdict(name, problem=f"at t = {at:.2f} s {call}({shown}) raised {describe(error)}")
            next_event += 1
        clock.now = time
        try:
            listed = list(registry.instances(SERVICE))
        except Exception as error:  # noqa: BLE001
            return RegistryVerdict(name, problem=f"at t = {time:.2f} s instances({SERVICE!r}) raised {describe(error)}")
        unknown = [address for address in listed if address not in by_address]
        if unknown:
            return RegistryVerdict(name, problem=f"at t = {time:.2f} s instances({SERVICE!r}) returned {unknown!r}, "
                                                 "which no instance registered as its address")
        views.append(tuple(by_address[address] for address in listed))
    differing = [k for k, (yours, model) in enumerate(zip(views, timeline.healthy)) if yours != model]
    first = None if not differing else (timeline.times[differing[0]], views[differing[0]],
                                        timeline.healthy[differing[0]])
    return RegistryVerdict(name, tuple(views), first, len(differing))


def _events(timeline: RegistryTimeline) -> list[tuple[float, str, str]]:
    """Registrations, heartbeats and clean deregistrations in time order (at one time: registration order)."""
    rank = {instance: k for k, instance in enumerate(timeline.instances)}
    events = []
    for instance, beats in timeline.heartbeats.items():
        events.append((beats[0], 0, rank[instance], "register", instance))
        events += [(beat, 1, rank[instance], "heartbeat", instance) for beat in beats[1:]]
    for row in timeline.detections:
        if row.graceful:
            events.append((row.stopped_at, 2, rank[row.instance], "deregister", row.instance))
    return [(time, call, instance) for time, _, _, call, instance in sorted(events)]


def _runs(times, flags) -> list:
    """A lane's listed samples as line segments: from the first listed sample to the first unlisted one."""
    xs, starts = [], None
    for k, (time, flag) in enumerate(zip(times, flags)):
        if flag and starts is None:
            starts = time
        if not flag and starts is not None:
            xs += [starts, time, None]
            starts = None
    if starts is not None:
        xs += [starts, times[-1], None]
    return xs


def _series(timeline: RegistryTimeline, verdict: RegistryVerdict | None) -> dict[str, dict]:
    lanes = {instance: len(timeline.instances) - 1 - k for k, instance in enumerate(timeline.instances)}
    listed_x, listed_y, beat_x, beat_y = [], [], [], []
    for instance, lane in lanes.items():
        xs = _runs(timeline.times, timeline.listed(instance))
        listed_x += xs
        listed_y += [None if x is None else lane for x in xs]
        beat_x += list(timeline.heartbeats[instance])
        beat_y += [lane] * len(timeline.heartbeats[instance])
    delay_x, delay_y, delay_text = [], [], []
    for row in timeline.detections:
        if not row.graceful:
            delay_x += [row.stopped_at, row.vanished_at, None]
            delay_y += [lanes[row.instance] + 0.3] * 2 + [None]
            delay_text += [f"{row.delay:.2f} s", "", ""]
    series = {
        LISTED: {"x": listed_x, "y": listed_y},
        HEARTBEATS: {"x": beat_x, "y": beat_y},
        STOPPED: {"x": [r.stopped_at for r in timeline.detections], "y": [lanes[r.instance] for r in timeline.detections],
                  "text": [("deregistered" if r.graceful else "crashed") + f" at {r.stopped_at:.2f} s"
                           for r in timeline.detections]},
        VANISHED: {"x": [r.vanished_at for r in timeline.detections],
                   "y": [lanes[r.instance] for r in timeline.detections],
                   "text": [f"dropped out at {r.vanished_at:.2f} s" for r in timeline.detections]},
        DELAYS: {"x": delay_x, "y": delay_y, "text": delay_text},
        YOURS: {"x": [], "y": []},
        FIRST_DIFFERENCE: {"x": [], "y": [], "text": []},
    }
    if verdict is not None and verdict.problem is None:
        xs_all, ys_all = [], []
        for instance, lane in lanes.items():
            xs = _runs(timeline.times, [instance in view for view in verdict.views])
            xs_all += xs
            ys_all += [None if x is None else lane - 0.22 for x in xs]
        series[YOURS] = {"x": xs_all, "y": ys_all}
        if verdict.first_difference is not None:
            time, yours, model = verdict.first_difference
            odd = [i for i in timeline.instances if (i in yours) != (i in model)] or list(model or yours)
            series[FIRST_DIFFERENCE] = {"x": [time], "y": [lanes[odd[0]] - 0.22],
                                        "text": [f"t = {time:.2f} s: yours {list(yours)}, model {list(model)}"]}
    return series


def _title(timeline: RegistryTimeline) -> str:
    crashes = [row for row in timeline.detections if not row.graceful]
    delays = " and ".join(f"{row.delay:.2f} s" for row in crashes)
    text = (f"ttl {timeline.ttl:g} s, heartbeat every {timeline.heartbeat_interval:g} s: a crash is handed out "
            f"for {delays} (window {max(0.0, timeline.ttl - timeline.heartbeat_interval):g} to {timeline.ttl:g} s)")
    if timeline.ttl <= timeline.heartbeat_interval:
        text += "; ttl <= interval: live instances flap"
    return text


def registry_view_figure(ttl: float = 3.0, heartbeat_interval: float = 1.0, *,
                         registry_class: type | None = None) -> go.Figure:
    """A plain ``go.Figure`` of the scenario (renders without a kernel)."""
    timeline = scenario(ttl, heartbeat_interval)
    verdict = None if registry_class is None else check_registry_class(registry_class, timeline)
    return _figure(timeline, verdict)


def _figure(timeline: RegistryTimeline, verdict: RegistryVerdict | None) -> go.Figure:
    series = _series(timeline, verdict)
    figure = go.Figure()
    styles = {
        LISTED: {"mode": "lines", "line": {"color": COLOURS[LISTED], "width": 10}, "hoverinfo": "skip",
                 "opacity": 0.45},
        HEARTBEATS: {"mode": "markers", "marker": {"symbol": "line-ns-open", "size": 14, "color": COLOURS[HEARTBEATS]},
                     "hovertemplate": "heartbeat at %{x:.2f} s<extra></extra>"},
        STOPPED: {"mode": "markers", "marker": {"symbol": "x", "size": 13, "color": COLOURS[STOPPED]},
                  "hovertemplate": "%{text}<extra></extra>"},
        VANISHED: {"mode": "markers", "marker": {"symbol": "circle-open", "size": 14, "line": {"width": 3},
                                                 "color": COLOURS[VANISHED]},
                   "hovertemplate": "%{text}<extra></extra>"},
        DELAYS: {"mode": "lines+markers+text", "line": {"color": COLOURS[DELAYS], "width": 2},
                 "marker": {"symbol": "line-ns-open", "size": 10}, "textposition": "top right",
                 "textfont": {"size": 11, "color": COLOURS[DELAYS]},
                 "hovertemplate": "still handed out %{text} after it crashed<extra></extra>"},
        YOURS: {"mode": "lines", "line": {"color": COLOURS[YOURS], "width": 3}, "hoverinfo": "skip"},
        FIRST_DIFFERENCE: {"mode": "markers", "marker": {"symbol": "star", "size": 18, "color": COLOURS[FIRST_DIFFERENCE]},
                           "hovertemplate": "first difference, %{text}<extra></extra>"},
    }
    for name, style in styles.items():
        figure.add_trace(go.Scatter(name=name, meta=name, **style, **series[name]))
    lanes = list(reversed(timeline.instances))
    figure.update_yaxes(tickvals=list(range(len(lanes))), ticktext=lanes, range=[-0.6, len(lanes) - 0.3],
                        showgrid=False, zeroline=False)
    figure.update_xaxes(title_text="time (s)", range=[-0.3, HORIZON + 0.3])
    figure.update_layout(title={"text": _title(timeline), "font": {"size": 14}}, height=400, template="plotly_white",
                         margin={"l": 70, "r": 20, "t": 60, "b": 50}, legend={"orientation": "h", "y": -0.2})
    return figure


def summary_html(timeline: RegistryTimeline, verdict: RegistryVerdict | None) -> str:
    lines = []
    for row in timeline.detections:
        if row.graceful:
            lines.append(f"{row.instance} deregistered at {row.stopped_at:.2f} s and left the view at once.")
        else:
            low = timeline.ttl - timeline.heartbeat_interval
            lines.append(f"{row.instance} crashed at {row.stopped_at:.2f} s (last heartbeat {row.last_heartbeat:.2f} s) "
                         f"and dropped out at {row.vanished_at:.2f} s: handed out for {row.delay:.2f} s after "
                         f"it died ({low:g} &lt; {row.delay:.2f} &le; {timeline.ttl:g}).")
    stale = len(timeline.stale_samples)
    lines.append(f"{stale} of {len(timeline.times)} samples list a dead instance.")
    if verdict is not None:
        lines.append(verdict.text)
    return "<br>".join(lines)


def registry_view_explorer(registry_class: type | None = None) -> widgets.VBox:
    """Sliders for ttl and heartbeat interval over the lanes; ``registry_view_explorer(ServiceRegistry)`` adds yours."""
    style = {"description_width": "initial"}
    ttl = widgets.FloatSlider(value=3.0, min=0.5, max=10.0, step=0.5, description="ttl (s)",
                              continuous_update=False, style=style)
    interval = widgets.FloatSlider(value=1.0, min=0.25, max=4.0, step=0.25, description="heartbeat interval (s)",
                                   continuous_update=False, style=style)

    def state():
        timeline = scenario(ttl.value, interval.value)
        return timeline, None if registry_class is None else check_registry_class(registry_class, timeline)

    timeline, verdict = state()
    figure = go.FigureWidget(_figure(timeline, verdict))
    summary = widgets.HTML(summary_html(timeline, verdict))

    def redraw(_change=None) -> None:
        timeline, verdict = state()
        series = _series(timeline, verdict)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(timeline)
        summary.value = summary_html(timeline, verdict)

    for control in (ttl, interval):
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([ttl, interval]), figure, summary])
