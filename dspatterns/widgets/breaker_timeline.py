"""Pictures of a breaker over time: a static figure, and an explorer that redraws it as you change settings.

The question every view here answers is "what does the breaker do over time?": which state it is in
(coloured bands), what happened to each call (a tick per call), and how sick the service was meanwhile.
The static figure is the reusable core; the explorer only re-runs the simulation and pours the new data
into the traces of one existing FigureWidget, so the plot updates instead of piling up new figures.

Handed a breaker class of your own (``breaker_explorer(CircuitBreaker)``), the explorer replays the same
calls through it (``dspatterns.resilience.breaker_replay``) and draws your timeline under the model's,
with a red cross on both at the first moment they part and a sentence saying what each did there.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.resilience.breaker_replay import BreakerComparison, compare_breaker
from dspatterns.resilience.breaker_simulation import (
    CLOSED,
    FAILURE,
    HALF_OPEN,
    OPEN,
    REJECTED,
    SUCCESS,
    BreakerRun,
    FailureProfile,
    simulate_breaker,
)

STATE_LABELS = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half-open"}
STATE_COLOURS = {
    CLOSED: "rgba(46, 160, 67, 0.13)", OPEN: "rgba(214, 39, 40, 0.16)", HALF_OPEN: "rgba(255, 140, 0, 0.55)",
}
OUTCOME_LABELS = {SUCCESS: "success", FAILURE: "failure", REJECTED: "rejected fast"}
OUTCOME_COLOURS = {SUCCESS: "#2e7d32", FAILURE: "#c62828", REJECTED: "#757575"}
OUTCOME_ROWS = {REJECTED: 0, FAILURE: 1, SUCCESS: 2}  # top to bottom: what worked, what hurt, what was spared
PROFILE_TRACE = "service failure probability"
YOURS = "yours: "  # the prefix of your timeline's traces, under the model's
DIFFERENCE_TRACE = "first difference"
BAND_BOTTOM, BAND_TOP = -0.5, 2.5


def breaker_timeline_figure(run: BreakerRun, *, title: str | None = None,
                            comparison: BreakerComparison | None = None) -> go.Figure:
    """A plain ``go.Figure`` of one run: it renders without a live kernel and can be tested like data.

    With a ``comparison`` (whose model is ``run``) a third row draws your breaker on the same calls.
    """
    rows = 2 if comparison is None else 3
    titles = ["How sick is the service?", "What does the breaker do?"]
    if comparison is not None:
        titles = [titles[0], "What does the course's model do?", f"What does your {comparison.name} do?"]
    figure = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.12 if rows == 2 else 0.08,
        row_heights=[0.22, 0.78] if rows == 2 else [0.16, 0.42, 0.42], subplot_titles=titles,
    )
    series = _timeline_series(run, comparison)
    figure.add_trace(go.Scatter(
        name=PROFILE_TRACE, line_shape="hv", mode="lines", line={"color": "#6a1b9a", "width": 2},
        hovertemplate="t=%{x:.1f}s: p(fail)=%{y:.2f}<extra></extra>", **series[PROFILE_TRACE],
    ), row=1, col=1)
    for row, prefix in ((2, ""), (3, YOURS))[:rows - 1]:
        first = not prefix
        for state, label in STATE_LABELS.items():
            figure.add_trace(go.Scatter(
                name=prefix + label, mode="lines", fill="toself", fillcolor=STATE_COLOURS[state],
                line={"width": 0}, hoverinfo="skip", legendgroup="states", legendgrouptitle_text="breaker state",
                showlegend=first, **series[prefix + label],
            ), row=row, col=1)
        for outcome, label in OUTCOME_LABELS.items():
            figure.add_trace(go.Scatter(
                name=prefix + label, mode="markers", legendgroup="calls", legendgrouptitle_text="calls",
                showlegend=first, marker={"symbol": "line-ns-open", "size": 14, "color": OUTCOME_COLOURS[outcome],
                        "line": {"width": 1}},
                hovertemplate="t=%{x:.2f}s<extra>" + label + "</extra>", **series[prefix + label],
            ), row=row, col=1)
        if comparison is not None:
            figure.add_trace(go.Scatter(
                name=prefix + DIFFERENCE_TRACE, mode="markers", showlegend=first,
                marker={"symbol": "x", "size": 16, "color": "#c62828", "line": {"width": 1, "color": "white"}},
                hovertemplate="%{text}<extra>first difference</extra>", **series[prefix + DIFFERENCE_TRACE],
            ), row=row, col=1)
        figure.update_yaxes(
            range=[BAND_BOTTOM, BAND_TOP], tickvals=[OUTCOME_ROWS[o] for o in OUTCOME_LABELS],
            ticktext=list(OUTCOME_LABELS.values()), fixedrange=True, row=row, col=1,
        )
    figure.update_yaxes(range=[-0.03, 1.05], title_text="p(fail)", row=1, col=1)
    for row in range(1, rows + 1):
        figure.update_xaxes(range=[0, run.duration], row=row, col=1)
    figure.update_xaxes(title_text="simulated time (s)", row=rows, col=1)
    figure.update_layout(
        title=title or _default_title(run), height=460 if rows == 2 else 640,
        margin={"l": 60, "r": 20, "t": 80, "b": 50}, template="plotly_white", legend={"groupclick": "toggleitem"},
    )
    return figure


def breaker_summary(run: BreakerRun, comparison: BreakerComparison | None = None) -> str:
    """A few HTML lines with the counts that matter: how many calls hit the service, how many were spared.

    With a ``comparison``, a last line says whether your breaker did the same, or where it first did not.
    """
    summary = (
        f"<b>{len(run.calls):,}</b> calls in {run.duration:g} s: "
        f"<b>{run.reached_service:,}</b> reached the service (<b>{run.failures:,}</b> failed), "
        f"<b>{run.rejected:,}</b> were rejected fast; "
        f"the breaker opened <b>{run.times_opened}</b> {'time' if run.times_opened == 1 else 'times'}."
    )
    for start, end, failure_rate in run.failure_profile.windows:
        during = [call for call in run.calls if start <= call.time < end]
        if during:
            reached = sum(call.outcome != REJECTED for call in during)
            summary += (
                f"<br>During the outage ({start:g} to {end:g} s, failure rate {failure_rate:g}): "
                f"<b>{reached:,}</b> calls reached the service, "
                f"<b>{len(during) - reached:,}</b> were rejected fast."
            )
    if comparison is not None:
        summary += f"<br><b>Your {html.escape(comparison.name)}:</b> {html.escape(comparison.text, quote=False)}"
    return summary


def breaker_explorer(
    breaker_class: type | None = None,
    seed: int = 7,
    *,
    duration: float = 60.0,
    rate: float = 20.0,
    outage: tuple[float, float] = (15.0, 37.0),
    outage_failure_rate: float = 0.9,
    baseline_failure_rate: float = 0.02,
    failure_threshold: int = 5,
    recovery_timeout: float = 5.0,
    half_open_max_calls: int = 1,
) -> widgets.VBox:
    """Sliders over the settings, a summary line, and one FigureWidget that is redrawn in place.

    The traffic is fixed by ``seed`` (the "new traffic" button draws another), so moving a slider
    changes only the setting you moved: what you see is that setting's effect, not a new dice roll.
    ``breaker_class`` is any class honouring the exercise's contract: every redraw builds a fresh one
    with the sliders' settings and replays the same calls through it, drawn under the model.
    """
    slider_style = {"description_width": "initial"}
    outage_rate = widgets.FloatSlider(
        value=outage_failure_rate, min=0.0, max=1.0, step=0.05, description="failure rate during outage",
        continuous_update=False, style=slider_style,
    )
    threshold = widgets.IntSlider(
        value=failure_threshold, min=1, max=20, description="failure threshold",
        continuous_update=False, style=slider_style,
    )
    timeout = widgets.FloatSlider(
        value=recovery_timeout, min=0.5, max=20.0, step=0.5, description="recovery timeout (s)",
        continuous_update=False, style=slider_style,
    )
    trials = widgets.IntSlider(
        value=half_open_max_calls, min=1, max=5, description="half-open trial calls",
        continuous_update=False, style=slider_style,
    )
    seed_box = widgets.IntText(value=seed, description="seed", layout={"width": "150px"})
    new_traffic = widgets.Button(description="new traffic", icon="refresh", layout={"width": "120px"})

    def run_now() -> tuple[BreakerRun, BreakerComparison | None]:
        profile = FailureProfile.outage(*outage, failure_rate=outage_rate.value, baseline=baseline_failure_rate)
        settings = dict(
            seed=seed_box.value, duration=duration, rate=rate, failure_profile=profile,
            failure_threshold=threshold.value, recovery_timeout=timeout.value, half_open_max_calls=trials.value,
        )
        if breaker_class is None:
            return simulate_breaker(**settings), None
        comparison = compare_breaker(breaker_class, **settings)
        return comparison.model, comparison

    first, comparison = run_now()
    figure = go.FigureWidget(breaker_timeline_figure(first, comparison=comparison))
    summary = widgets.HTML(breaker_summary(first, comparison))

    def redraw(_change=None) -> None:
        run, comparison = run_now()
        series = _timeline_series(run, comparison)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.name])
            figure.layout.title.text = _default_title(run)
        summary.value = breaker_summary(run, comparison)

    for control in (outage_rate, threshold, timeout, trials, seed_box):
        control.observe(redraw, names="value")
    new_traffic.on_click(lambda _button: setattr(seed_box, "value", seed_box.value + 1))

    controls = widgets.GridBox(
        [outage_rate, threshold, timeout, trials],
        layout=widgets.Layout(grid_template_columns="repeat(2, minmax(260px, 1fr))"),
    )
    return widgets.VBox([controls, widgets.HBox([seed_box, new_traffic]), summary, figure])


def _timeline_series(run: BreakerRun, comparison: BreakerComparison | None = None) -> dict[str, dict[str, list]]:
    """The x/y data of every trace, by trace name: shared by the static figure and the in-place redraw."""
    steps = run.failure_profile.change_points(run.duration)
    series = {PROFILE_TRACE: {"x": steps, "y": [run.failure_profile.failure_rate_at(t) for t in steps]}}
    series.update(_breaker_series(run))
    if comparison is None:
        return series
    empty = BreakerRun((), (), run.duration, run.failure_profile, run.failure_threshold, run.recovery_timeout,
                       run.half_open_max_calls)
    series.update(_breaker_series(comparison.yours or empty, YOURS))
    for prefix, their_run in (("", run), (YOURS, comparison.yours)):
        series[prefix + DIFFERENCE_TRACE] = {"x": [], "y": [], "text": []}
        moment = comparison.first_difference
        if moment is not None:  # on the row of what each did with that call
            call = their_run.calls[moment.number - 1]
            series[prefix + DIFFERENCE_TRACE] = {"x": [moment.time], "y": [OUTCOME_ROWS[call.outcome]],
                                                 "text": [moment.text]}
    return series


def _breaker_series(run: BreakerRun, prefix: str = "") -> dict[str, dict[str, list]]:
    """The state bands and call ticks of one breaker's run."""
    series = {}
    for state, label in STATE_LABELS.items():
        x, y = [], []
        for interval in run.intervals:
            if interval.state == state:  # one closed rectangle per interval, separated by gaps (None)
                x += [interval.start, interval.end, interval.end, interval.start, interval.start, None]
                y += [BAND_BOTTOM, BAND_BOTTOM, BAND_TOP, BAND_TOP, BAND_BOTTOM, None]
        series[prefix + label] = {"x": x, "y": y}
    for outcome, label in OUTCOME_LABELS.items():
        arrivals = [call.time for call in run.calls if call.outcome == outcome]
        series[prefix + label] = {"x": arrivals, "y": [OUTCOME_ROWS[outcome]] * len(arrivals)}
    return series


def _default_title(run: BreakerRun) -> str:
    return (
        f"opens after {_count(run.failure_threshold, 'consecutive failure')}, "
        f"recovery timeout {run.recovery_timeout:g} s, {_count(run.half_open_max_calls, 'half-open trial call')}"
    )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
