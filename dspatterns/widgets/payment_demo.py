"""A client retrying payments over a lossy link: double charges with and without an idempotency key.

The top panel counts double charges for every drop rate on the same seeded link; the bottom panels
show each attempt of one run (one row per payment, one column per attempt) at the slider's rate, without a key and with one (and with your class).
Pass your ``IdempotentHandler`` class and it serves the keyed side beside the course's model: its
double charges get their own bars, and the first attempt where it did something else is named.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.idempotency.payments import (
    CHARGED,
    DROP_RATES,
    MAX_ATTEMPTS,
    NOT_REACHED,
    REPLAYED,
    PaymentRun,
    first_difference,
    first_different_index,
    run_payments,
    run_with_class,
)

WITHOUT, WITH, YOURS = "without a key", "with the key", "your class"
CATEGORIES = {  # what happened to an attempt -> its colour on the timelines
    "request lost": "#9e9e9e",
    "charged": "#2e7d32",
    "charged again": "#c62828",
    "replayed the stored reply": "#1565c0",
    "raised": "#6a1b9a",
}
LOST_REPLY = "reply lost (the client times out)"
FIRST_DIFFERENCE = "first attempt unlike the model"
REPLAY, RAISE = "replayed the stored reply", "raised"
MARKS = {
    LOST_REPLY: {"marker_symbol": "x-thin", "marker_line_width": 2, "marker_line_color": "black", "marker_size": 7},
    FIRST_DIFFERENCE: {"marker_symbol": "star-open", "marker_line_width": 2, "marker_color": "#ff6f00",
                       "marker_size": 18},
}
BAR_COLOURS = {WITHOUT: "#c62828", WITH: "#1565c0", YOURS: "#6a1b9a"}


def category_of(run: PaymentRun, index: int) -> str:
    attempt = run.attempts[index]
    if attempt.server == NOT_REACHED:
        return "request lost"
    if attempt.server == REPLAYED:
        return "replayed the stored reply"
    if attempt.server == CHARGED:
        earlier = sum(1 for a in run.attempts[:index] if a.payment == attempt.payment and a.server == CHARGED)
        return "charged again" if earlier else "charged"
    return "raised"


def timeline_series(run: PaymentRun, marked: int | None = None) -> dict[str, dict]:
    """One scatter series per category (x the attempt's number, y its payment), a cross on every lost reply,
    and a star on attempt ``marked`` (where your class first differs from the model)."""
    series = {name: {"x": [], "y": [], "hovertext": []} for name in (*CATEGORIES, LOST_REPLY, FIRST_DIFFERENCE)}
    for index, attempt in enumerate(run.attempts):
        name = category_of(run, index)
        lost_reply = attempt.server in (CHARGED, REPLAYED) and attempt.reply_lost
        reply = f" ({attempt.reply['charge_id']})" if attempt.reply else ""
        fate = ", reply lost" if lost_reply else (", reply received" if attempt.server != NOT_REACHED else "")
        text = f"payment {attempt.payment}, attempt {attempt.attempt} at {attempt.sent_at:.1f} s: {name}{reply}{fate}"
        targets = [name] + [LOST_REPLY] * lost_reply + [FIRST_DIFFERENCE] * (index == marked)
        for target in targets:
            series[target]["x"].append(attempt.attempt)
            series[target]["y"].append(attempt.payment)
            series[target]["hovertext"].append(text)
    return series


def study(seed: int, handler_cls=None, **options) -> dict[str, list[int]]:
    """Double charges per drop rate in ``DROP_RATES``, for each design (your class only when given)."""
    bars = {WITHOUT: [], WITH: []}
    if handler_cls is not None:
        bars[YOURS] = []
    for rate in DROP_RATES:
        bars[WITHOUT].append(run_payments(seed=seed, drop_rate=rate, with_key=False, **options).double_charges)
        bars[WITH].append(run_payments(seed=seed, drop_rate=rate, with_key=True, **options).double_charges)
        if handler_cls is not None:
            bars[YOURS].append(run_with_class(handler_cls, seed=seed, drop_rate=rate, **options).double_charges)
    return bars


def _panels(runs: dict[str, PaymentRun]) -> list[str]:
    return list(runs)


def payment_figure(bars: dict[str, list[int]], runs: dict[str, PaymentRun], drop_rate: float) -> go.Figure:
    panels = _panels(runs)
    figure = make_subplots(rows=2, cols=len(panels), specs=[[{"colspan": len(panels)}] + [None] * (len(panels) - 1),
                                                            [{} for _ in panels]],
                           row_heights=[0.4, 0.6], vertical_spacing=0.14,
                           subplot_titles=["double charges per drop rate (same link for every bar)"]
                           + [_panel_title(name, drop_rate) for name in panels])
    for name, values in _bar_series(bars, drop_rate).items():
        figure.add_trace(go.Bar(name=name, meta=f"bars: {name}", marker_color=BAR_COLOURS[name],
                                texttemplate="%{y}", textposition="outside", **values), row=1, col=1)
    shown: set[str] = set()
    for column, (panel, run) in enumerate(runs.items(), start=1):
        for name, values in timeline_series(run, _marked(runs, panel)).items():
            possible = {WITHOUT: name not in (REPLAY, RAISE, FIRST_DIFFERENCE),
                        WITH: name not in (RAISE, FIRST_DIFFERENCE)}.get(panel, True)
            legend = possible and name not in shown  # each category once, where it can happen
            shown |= {name} if legend else set()
            style = MARKS.get(name, {"marker_color": CATEGORIES.get(name), "marker_size": 9})
            figure.add_trace(go.Scatter(mode="markers", name=name, meta=f"{panel}: {name}", legendgroup=name,
                                        showlegend=legend, hoverinfo="text", **style, **values),
                             row=2, col=column)
        figure.update_xaxes(title_text="attempt", dtick=1, range=[0.5, MAX_ATTEMPTS + 0.5], row=2, col=column)
    figure.update_yaxes(title_text="double charges", row=1, col=1)
    figure.update_yaxes(title_text="payment", row=2, col=1)
    figure.update_xaxes(title_text="drop rate of requests and replies", row=1, col=1)
    figure.update_layout(title=_title(runs), barmode="group", height=720, template="plotly_white",
                         margin={"l": 60, "r": 20, "t": 90, "b": 50})
    return figure


def _marked(runs: dict[str, PaymentRun], panel: str) -> int | None:
    """Your panel's first attempt unlike the model's, to be starred; nothing on the course's panels."""
    return first_different_index(runs[WITH], runs[YOURS]) if panel == YOURS else None


def _panel_title(panel: str, drop_rate: float) -> str:
    return f"{panel}, one run at {drop_rate:.1f}"


def _bar_series(bars: dict[str, list[int]], drop_rate: float) -> dict[str, dict]:
    # the bars of the slider's rate get an outline, so the top panel says which run the timelines show
    outline = [3 if abs(rate - drop_rate) < 1e-9 else 0 for rate in DROP_RATES]
    return {name: {"x": [f"{rate:.1f}" for rate in DROP_RATES], "y": values, "marker_line_width": outline,
                   "marker_line_color": "black"} for name, values in bars.items()}


def _title(runs: dict[str, PaymentRun]) -> str:
    without, keyed = runs[WITHOUT], runs[WITH]
    return (f"Drop rate {without.drop_rate:.1f}: {without.double_charges} double charges without a key, "
            f"{keyed.double_charges} with it ({keyed.replays} replies replayed)")


def summary_html(runs: dict[str, PaymentRun]) -> str:
    without, keyed = runs[WITHOUT], runs[WITH]
    lines = [(f"Without a key: {without.double_charges} double charges; {without.retried_lost_replies} replies were "
             f"lost and followed by a retry that reached the server. With the key: {keyed.double_charges} double "
             f"charges, {keyed.replays} replays of a stored reply. {without.payments - keyed.confirmed} of "
             f"{keyed.payments} payments never got a reply within {MAX_ATTEMPTS} attempts (the client does not know whether "
             "they were charged).")]
    if YOURS in runs:
        lines.append(classes_verdict(keyed, runs[YOURS]))
    return "<br>".join(lines)


def classes_verdict(course: PaymentRun, yours: PaymentRun) -> str:
    if yours.problem:
        return f"<b>Your class:</b> {yours.problem}"
    difference = first_difference(course, yours)
    verdict = (f"first difference from the model at {difference}" if difference
               else "does what the model does on every attempt")
    return f"<b>Your class:</b> {yours.double_charges} double charges; {verdict}"


def payment_demo(handler_cls=None, *, seed: int = 3, payments: int = 40) -> widgets.VBox:
    """Call it as ``payment_demo(IdempotentHandler)`` to run your class beside the course's model."""
    rate = widgets.FloatSlider(value=0.3, min=0.0, max=max(DROP_RATES), step=0.1, readout_format=".1f",
                               description="drop rate", continuous_update=False,
                               style={"description_width": "initial"})
    options = {"payments": payments}
    bars = study(seed, handler_cls, **options)

    def runs_at(drop_rate: float) -> dict[str, PaymentRun]:
        runs = {WITHOUT: run_payments(seed=seed, drop_rate=drop_rate, with_key=False, **options),
                WITH: run_payments(seed=seed, drop_rate=drop_rate, with_key=True, **options)}
        if handler_cls is not None:
            runs[YOURS] = run_with_class(handler_cls, seed=seed, drop_rate=drop_rate, **options)
        return runs

    runs = runs_at(rate.value)
    figure = go.FigureWidget(payment_figure(bars, runs, rate.value))
    summary = widgets.HTML(summary_html(runs))

    def redraw(_change=None) -> None:
        runs = runs_at(rate.value)
        series = {f"bars: {name}": values for name, values in _bar_series(bars, rate.value).items()}
        for panel, run in runs.items():
            series.update({f"{panel}: {name}": values
                           for name, values in timeline_series(run, _marked(runs, panel)).items()})
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(runs)
            for annotation, panel in zip(figure.layout.annotations[1:], runs):
                annotation.text = _panel_title(panel, rate.value)
        summary.value = summary_html(runs)

    rate.observe(redraw, names="value")
    return widgets.VBox([rate, figure, summary])
