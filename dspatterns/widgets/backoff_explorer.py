"""Backoff policies drawn for a crowd: how long clients sleep, and when they all come back.

One client's backoff is a short list of numbers; the reason jitter exists only appears with many
clients that failed at the same moment. So every view here draws a crowd (200 clients by default):
the top panel answers "how long does a client sleep after failed attempt k?" (every client's sleep,
the middle 80% as a band, the unjittered policy as a line) and the bottom one "how many clients come back
at once?" (every retry of the crowd, counted per time bin). Without jitter the whole crowd lands in one
bin per retry; with jitter it spreads out. The bottom panel counts rather than draws each retry: the
load on the server is the question, and a few dozen bars redraw in the browser in a fraction of the time
that 1,200 markers take (``benchmarks/widget_reaction.py``).

Handed your own functions (``backoff_explorer(delay=backoff_delay, jitters={"full": full_jitter,
"equal": equal_jitter, "decorrelated": decorrelated_jitter})``), it draws the same crowd with them
(same seed, same draws, see ``dspatterns.resilience.your_backoff``) in purple, to the right of the
model's at each attempt, and crosses the first sleep on which the two part.
"""
from __future__ import annotations

import html
import math

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.resilience.your_backoff import BackoffComparison, YourFunctions, compare_backoff
from dspatterns.resilience.backoff_curves import (
    JITTERS,
    STRATEGIES,
    delay_schedule,
    jittered_schedules,
    percentile_band,
    retry_times,
)

SAMPLES_TRACE = "each client's sleep"
BAND_TRACE = "middle 80% of clients"
MEDIAN_TRACE = "median"
PLAIN_TRACE = "without jitter"
CAP_TRACE = "cap"
RETRIES_TRACE = "retries per bin"
PLAIN_RETRIES_TRACE = "retries per bin without jitter"
TRACE_NAMES = (
    SAMPLES_TRACE, BAND_TRACE, MEDIAN_TRACE, PLAIN_TRACE, CAP_TRACE, RETRIES_TRACE, PLAIN_RETRIES_TRACE,
)
YOUR_SAMPLES_TRACE = "your sleeps"
YOUR_PLAIN_TRACE = "yours without jitter"
YOUR_RETRIES_TRACE = "your retries per bin"
DIFFERENCE_TRACE = "first difference"
YOUR_TRACE_NAMES = (YOUR_SAMPLES_TRACE, YOUR_PLAIN_TRACE, YOUR_RETRIES_TRACE, DIFFERENCE_TRACE)
YOUR_COLOUR = "#6a1b9a"
CROWD_COLOUR = "#1f77b4"
PLAIN_COLOUR = "#d62728"
SPREAD = 0.28  # markers are spread sideways by up to this much, so that a crowd does not hide in one dot
RETRY_BINS = 80  # about this many time bins across the bottom panel (a round width, see retry_bin_width)


def backoff_figure(
    strategy: str = "exponential",
    jitter: str = "full",
    *,
    base: float = 1.0,
    cap: float = 30.0,
    attempts: int = 7,
    samples: int = 200,
    seed: int = 0,
    delay=None,
    jitters=None,
) -> go.Figure:
    """A plain ``go.Figure`` of one policy and crowd: renders without a kernel, testable as data.

    ``delay`` and ``jitters`` are your functions (see ``backoff_explorer``), drawn beside the model's.
    """
    functions = YourFunctions(delay, jitters)
    comparison = compare_backoff(functions, strategy, jitter, base=base, cap=cap, attempts=attempts,
                                 samples=samples, seed=seed) if functions else None
    return _figure(strategy, jitter, base, cap, attempts, samples, seed, comparison)


def _figure(strategy, jitter, base, cap, attempts, samples, seed, comparison: BackoffComparison | None
            ) -> go.Figure:
    series = _series(strategy, jitter, base, cap, attempts, samples, seed, comparison)
    figure = make_subplots(
        rows=2, cols=1, vertical_spacing=0.16, row_heights=[0.6, 0.4],
        subplot_titles=(
            "How long does each client sleep after failed attempt k?",
            _retries_title(_series_bin_width(series)),
        ),
    )
    marker = {"color": CROWD_COLOUR, "size": 4, "opacity": 0.35}
    figure.add_trace(go.Scatter(
        name=SAMPLES_TRACE, mode="markers", marker=marker,
        hovertemplate="sleep %{y:.2f} s<extra></extra>", **series[SAMPLES_TRACE],
    ), row=1, col=1)
    figure.add_trace(go.Scatter(
        name=BAND_TRACE, mode="lines", fill="toself", fillcolor="rgba(31, 119, 180, 0.15)",
        line={"width": 0}, hoverinfo="skip", **series[BAND_TRACE],
    ), row=1, col=1)
    figure.add_trace(go.Scatter(
        name=MEDIAN_TRACE, mode="lines+markers", line={"color": CROWD_COLOUR, "width": 2},
        hovertemplate="median %{y:.2f} s<extra></extra>", **series[MEDIAN_TRACE],
    ), row=1, col=1)
    figure.add_trace(go.Scatter(
        name=PLAIN_TRACE, mode="lines+markers", line={"color": PLAIN_COLOUR, "width": 2, "dash": "dash"},
        hovertemplate="no jitter: %{y:.2f} s<extra></extra>", **series[PLAIN_TRACE],
    ), row=1, col=1)
    figure.add_trace(go.Scatter(
        name=CAP_TRACE, mode="lines", line={"color": "#555", "width": 1, "dash": "dot"},
        hovertemplate="cap %{y:.2f} s<extra></extra>", **series[CAP_TRACE],
    ), row=1, col=1)
    figure.add_trace(go.Bar(
        name=RETRIES_TRACE, marker={"color": CROWD_COLOUR, "opacity": 0.6}, showlegend=False,
        hovertemplate="%{y} retries from t=%{x:.2f} s<extra></extra>", offset=0, **series[RETRIES_TRACE],
    ), row=2, col=1)
    figure.add_trace(go.Bar(
        name=PLAIN_RETRIES_TRACE, showlegend=False, offset=0,
        marker={"color": "rgba(0, 0, 0, 0)", "line": {"color": PLAIN_COLOUR, "width": 2}},
        hovertemplate="every client without jitter: %{y} retries from t=%{x:.2f} s<extra></extra>",
        **series[PLAIN_RETRIES_TRACE],
    ), row=2, col=1)
    if comparison is not None:
        yours = {"color": YOUR_COLOUR, "size": 4, "opacity": 0.45}
        figure.add_trace(go.Scatter(name=YOUR_SAMPLES_TRACE, mode="markers", marker=yours,
                                    hovertemplate="your sleep %{y:.2f} s<extra></extra>",
                                    **series[YOUR_SAMPLES_TRACE]), row=1, col=1)
        figure.add_trace(go.Scatter(name=YOUR_PLAIN_TRACE, mode="lines+markers",
                                    line={"color": YOUR_COLOUR, "width": 2, "dash": "dot"},
                                    hovertemplate="yours, no jitter: %{y:.2f} s<extra></extra>",
                                    **series[YOUR_PLAIN_TRACE]), row=1, col=1)
        figure.add_trace(go.Bar(name=YOUR_RETRIES_TRACE, marker={"color": YOUR_COLOUR, "opacity": 0.45},
                                showlegend=False, offset=0,
                                hovertemplate="%{y} of your retries from t=%{x:.2f} s<extra></extra>",
                                **series[YOUR_RETRIES_TRACE]), row=2, col=1)
        figure.add_trace(go.Scatter(name=DIFFERENCE_TRACE, mode="markers",
                                    marker={"symbol": "x", "size": 15, "color": "#c62828",
                                            "line": {"width": 1, "color": "white"}},
                                    hovertemplate="%{text}<extra>first difference</extra>",
                                    **series[DIFFERENCE_TRACE]), row=1, col=1)
    figure.update_xaxes(title_text="after failed attempt k", dtick=1, row=1, col=1)
    figure.update_yaxes(title_text="sleep (s)", rangemode="tozero", row=1, col=1)
    figure.update_xaxes(title_text="time since the crowd first failed (s)", rangemode="tozero", row=2, col=1)
    figure.update_yaxes(title_text="clients retrying", rangemode="tozero", row=2, col=1)
    figure.update_layout(
        barmode="overlay", bargap=0,
        title=_title(strategy, jitter, base, cap, attempts), height=620, template="plotly_white",
        margin={"l": 60, "r": 20, "t": 90, "b": 50},
    )
    return figure


def backoff_summary(
    strategy: str = "exponential",
    jitter: str = "full",
    *,
    base: float = 1.0,
    cap: float = 30.0,
    attempts: int = 7,
    samples: int = 200,
    seed: int = 0,
    comparison: BackoffComparison | None = None,
) -> str:
    """One HTML sentence on the total wait: how long a caller may hang before the last attempt.

    With a ``comparison`` of your functions, a second line says whether they drew the same sleeps.
    """
    text = _wait_sentence(strategy, jitter, base=base, cap=cap, attempts=attempts, samples=samples, seed=seed)
    if comparison is not None:
        text += f"<br><b>Yours ({html.escape(comparison.given)}):</b> {html.escape(comparison.text, quote=False)}"
    return text


def _wait_sentence(strategy, jitter, *, base, cap, attempts, samples, seed) -> str:
    plain = delay_schedule(strategy, base=base, cap=cap, attempts=attempts)
    totals = sorted(sum(row) for row in jittered_schedules(
        strategy, jitter, base=base, cap=cap, attempts=attempts, samples=samples, seed=seed))
    text = (
        f"{attempts} attempts means {attempts - 1} sleeps. Without jitter a client sleeps "
        f"<b>{sum(plain):.1f} s</b> in total before its last attempt"
    )
    if jitter == "none":
        return text + ", and so does every other client: they all retry at the same instants."
    return text + (
        f"; with {jitter} jitter the {samples} clients sleep between <b>{totals[0]:.1f} s</b> and "
        f"<b>{totals[-1]:.1f} s</b> (median {totals[len(totals) // 2]:.1f} s)."
    )


def backoff_explorer(
    strategy: str = "exponential",
    jitter: str = "full",
    *,
    base: float = 1.0,
    cap: float = 30.0,
    attempts: int = 7,
    samples: int = 200,
    seed: int = 0,
    delay=None,
    jitters=None,
) -> widgets.VBox:
    """Controls over the policy and one FigureWidget redrawn in place.

    The crowd is fixed by ``seed`` ("new crowd" draws another), so moving a slider shows that
    setting's effect on the same clients rather than a fresh roll of the dice.

    ``delay`` is your ``backoff_delay``; ``jitters`` maps ``"full"``, ``"equal"`` and ``"decorrelated"``
    to your jitter functions. Whatever you leave out is the course's own, so the line under the
    sliders says whose functions were run.
    """
    functions = YourFunctions(delay, jitters)
    style = {"description_width": "initial"}
    strategy_box = widgets.Dropdown(options=STRATEGIES, value=strategy, description="strategy", style=style)
    jitter_box = widgets.ToggleButtons(options=JITTERS, value=jitter, description="jitter", style=style)
    base_slider = widgets.FloatSlider(
        value=base, min=0.1, max=5.0, step=0.1, description="base (s)", continuous_update=False, style=style,
    )
    cap_slider = widgets.FloatSlider(
        value=cap, min=1.0, max=120.0, step=1.0, description="cap (s)", continuous_update=False, style=style,
    )
    attempts_slider = widgets.IntSlider(
        value=attempts, min=2, max=12, description="attempts", continuous_update=False, style=style,
    )
    seed_box = widgets.IntText(value=seed, description="seed", layout={"width": "150px"})
    new_crowd = widgets.Button(description="new crowd", icon="refresh", layout={"width": "120px"})

    def settings() -> dict:
        return dict(
            strategy=strategy_box.value, jitter=jitter_box.value, base=base_slider.value, cap=cap_slider.value,
            attempts=attempts_slider.value, samples=samples, seed=seed_box.value,
        )

    def compared(now: dict) -> BackoffComparison | None:
        return compare_backoff(functions, **now) if functions else None

    comparison = compared(settings())
    figure = go.FigureWidget(_figure(*settings().values(), comparison))
    summary = widgets.HTML(backoff_summary(**settings(), comparison=comparison))

    def redraw(_change=None) -> None:
        now = settings()
        comparison = compared(now)
        series = _series(now["strategy"], now["jitter"], now["base"], now["cap"], now["attempts"],
                         samples, now["seed"], comparison)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.name])
            figure.layout.title.text = _title(now["strategy"], now["jitter"], now["base"], now["cap"],
                                              now["attempts"])
            figure.layout.annotations[1].text = _retries_title(_series_bin_width(series))
        summary.value = backoff_summary(**now, comparison=comparison)

    for control in (strategy_box, jitter_box, base_slider, cap_slider, attempts_slider, seed_box):
        control.observe(redraw, names="value")
    new_crowd.on_click(lambda _button: setattr(seed_box, "value", seed_box.value + 1))

    sliders = widgets.GridBox(
        [base_slider, cap_slider, attempts_slider, strategy_box],
        layout=widgets.Layout(grid_template_columns="repeat(2, minmax(260px, 1fr))"),
    )
    return widgets.VBox([jitter_box, sliders, widgets.HBox([seed_box, new_crowd]), summary, figure])


def _series(
    strategy: str, jitter: str, base: float, cap: float, attempts: int, samples: int, seed: int,
    comparison: BackoffComparison | None = None,
) -> dict[str, dict[str, list]]:
    """The x/y data of every trace, by name: shared by the static figure and the in-place redraw."""
    plain = delay_schedule(strategy, base=base, cap=cap, attempts=attempts)
    crowd = jittered_schedules(strategy, jitter, base=base, cap=cap, attempts=attempts, samples=samples,
                               seed=seed)
    band = percentile_band(crowd)
    failed = list(range(1, attempts))
    offsets = _offsets(samples) if comparison is None else [o / 2 - SPREAD / 2 for o in _offsets(samples)]

    sample_x, sample_y = [], []
    for offset, row in zip(offsets, crowd):
        sample_x += [k + offset for k in failed]
        sample_y += row
    crowds = [crowd, [plain] * samples]
    if comparison is not None and comparison.crowd is not None:
        crowds.append(comparison.crowd)
    width = retry_bin_width(max((t for c in crowds for times in retry_times(c) for t in times), default=1.0))
    top = max([*plain, *(max(row) for row in crowd)], default=0.0)
    show_cap = math.isfinite(cap) and cap <= 1.15 * top
    series = {
        SAMPLES_TRACE: {"x": sample_x, "y": sample_y},
        BAND_TRACE: {"x": failed + failed[::-1], "y": list(band.high) + list(band.low)[::-1]},
        MEDIAN_TRACE: {"x": failed, "y": list(band.median)},
        PLAIN_TRACE: {"x": failed, "y": plain},
        CAP_TRACE: {"x": [0.6, attempts - 0.6] if show_cap else [], "y": [cap, cap] if show_cap else []},
        RETRIES_TRACE: retry_counts(crowd, width),
        PLAIN_RETRIES_TRACE: retry_counts([plain] * samples, width),
    }
    if comparison is not None:
        series.update(_your_series(comparison, failed, samples, width))
    return series


def _your_series(comparison: BackoffComparison, failed: list[int], samples: int, width: float
                 ) -> dict[str, dict[str, list]]:
    """Your crowd to the right of the model's at each attempt (the model's moves left), and the first cross."""
    series = {name: {"x": [], "y": []} for name in YOUR_TRACE_NAMES}
    series[YOUR_RETRIES_TRACE]["width"] = []
    series[DIFFERENCE_TRACE]["text"] = []
    if comparison.crowd is None:
        return series
    offsets = [o / 2 + SPREAD / 2 for o in _offsets(samples)]
    for offset, row in zip(offsets, comparison.crowd):
        series[YOUR_SAMPLES_TRACE]["x"] += [k + offset for k in failed]
        series[YOUR_SAMPLES_TRACE]["y"] += list(row)
    series[YOUR_RETRIES_TRACE] = retry_counts(comparison.crowd, width)
    series[YOUR_PLAIN_TRACE] = {"x": failed, "y": list(comparison.plain)}
    first = comparison.first_difference
    if first is not None:
        x = first.attempt + (0.0 if first.client == 0 else offsets[first.client - 1])
        series[DIFFERENCE_TRACE] = {"x": [x], "y": [first.yours], "text": [first.text]}
    return series


def retry_bin_width(span: float, bins: int = RETRY_BINS) -> float:
    """A round bin width (1, 2 or 5 times a power of ten) giving about ``bins`` bins over ``span`` seconds."""
    raw = max(span, 1e-9) / bins
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def retry_counts(crowd, width: float) -> dict[str, list]:
    """The crowd's retries counted per bin of ``width`` seconds: one bar per bin that has any."""
    counts: dict[int, int] = {}
    for times in retry_times(crowd):
        for time in times:
            index = int(time // width)
            counts[index] = counts.get(index, 0) + 1
    bins = sorted(counts)
    return {"x": [i * width for i in bins], "y": [counts[i] for i in bins], "width": [width] * len(bins)}


def _series_bin_width(series: dict[str, dict[str, list]]) -> float:
    widths = series[PLAIN_RETRIES_TRACE]["width"]
    return widths[0] if widths else 1.0


def _retries_title(width: float) -> str:
    return f"How many clients come back at once? (retries per {width:g} s; calls fail instantly at t = 0)"


def _offsets(samples: int) -> list[float]:
    # Evenly spaced, not random: the sideways spread must not look like information.
    if samples == 1:
        return [0.0]
    return [-SPREAD + 2 * SPREAD * i / (samples - 1) for i in range(samples)]


def _title(strategy: str, jitter: str, base: float, cap: float, attempts: int) -> str:
    jitter_text = "no jitter" if jitter == "none" else f"{jitter} jitter"
    return f"{strategy} backoff, {jitter_text}: base {base:g} s, cap {cap:g} s, {attempts} attempts"
