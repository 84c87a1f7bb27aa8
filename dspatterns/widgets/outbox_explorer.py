"""The outbox against the dual write under injected crashes, on real SQLite: lost and duplicated messages.

For every crash point, bars of messages lost and duplicates delivered for both designs (the outbox
never loses one; its duplicates are exactly the ones its consumer removes). The slider sets how often
the process crashes; the schedule is seeded, so both designs meet the same crashes. Pass your three
outbox classes and a third group of bars shows them under the same crashes, with the first lost or
duplicated message named.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.data.outbox_model import (
    CRASH_POINTS,
    DUAL_WRITE,
    OUTBOX,
    crash_study,
    trial_with_classes,
)

YOURS = "your classes"


def outbox_figure(rows, yours=None) -> go.Figure:
    figure = go.Figure()
    for key, series in _series(rows, yours).items():
        # the values written on the bars, so that the outbox's zero losses show as a "0", not as nothing
        figure.add_trace(go.Bar(name=key, meta=key, texttemplate="%{y}", textposition="outside", **series))
    figure.update_layout(title=_title(rows), barmode="group", height=420, template="plotly_white",
                         yaxis_title="messages", margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return figure


def _series(rows, yours) -> dict[str, dict]:
    series = {}
    colours = {OUTBOX: ("#1565c0", "#90caf9"), DUAL_WRITE: ("#c62828", "#ef9a9a"), YOURS: ("#6a1b9a", "#ce93d8")}
    for design in (OUTBOX, DUAL_WRITE):
        chosen = [row for row in rows if row.design == design]
        series[f"{design}: lost"] = {"x": list(CRASH_POINTS), "y": [row.lost for row in chosen],
                                     "marker_color": colours[design][0]}
        series[f"{design}: duplicates delivered"] = {"x": list(CRASH_POINTS),
                                                    "y": [row.duplicates_delivered for row in chosen],
                                                    "marker_color": colours[design][1]}
    if yours is not None:
        verdicts = [t.problem or t.first_bad or "nothing lost or handled twice" for t in yours]
        series[f"{YOURS}: lost"] = {"x": list(CRASH_POINTS), "y": [t.lost for t in yours],
                                    "marker_color": colours[YOURS][0], "hovertext": verdicts}
        series[f"{YOURS}: duplicates handled"] = {"x": list(CRASH_POINTS), "y": [t.duplicates_handled for t in yours],
                                                  "marker_color": colours[YOURS][1], "hovertext": verdicts}
    return series


def _title(rows) -> str:
    dual = [row for row in rows if row.design == DUAL_WRITE]
    outbox = [row for row in rows if row.design == OUTBOX]
    lost = sum(row.lost for row in dual)
    orders = sum(row.orders for row in dual)
    return (f"Over the {len(dual)} crash points: dual write lost {lost} of {orders} messages "
            f"({lost / max(orders, 1):.1%}); outbox lost "
            f"{sum(row.lost for row in outbox)}, its consumer removed "
            f"{sum(row.duplicates_removed for row in outbox)} of {sum(row.duplicates_delivered for row in outbox)}"
            " duplicates")


def summary_html(rows, yours=None) -> str:
    lines = [("<table><tr><th>crash point</th><th>design</th><th>crashes</th><th>lost</th>"
             "<th>duplicates delivered</th><th>duplicates removed</th></tr>")]
    for row in rows:
        lines.append(f"<tr><td>{row.crash_point}</td><td>{row.design}</td><td>{row.crashes}</td><td>{row.lost}</td>"
                     f"<td>{row.duplicates_delivered}</td><td>{row.duplicates_removed}</td></tr>")
    lines.append("</table>")
    if yours is not None:
        lines.append(classes_verdict(yours))
    return "".join(lines)


def classes_verdict(trials) -> str:
    """One line per crash point for your classes: fine, the first bad message, or why they could not run."""
    out = []
    for trial in trials:
        if trial.problem:
            return f"<b>Your classes:</b> {trial.problem}"
        verdict = trial.first_bad or f"no message lost or handled twice ({trial.crashes} crashes)"
        out.append(f"<b>{trial.crash_point}</b>: {verdict}")
    return "<br>".join(out)


def outbox_explorer(order_service_cls=None, relay_cls=None, consumer_cls=None, *, seed: int = 1) -> widgets.VBox:
    """Call it as ``outbox_explorer(OrderService, OutboxRelay, DedupConsumer)`` to add your classes."""
    rate = widgets.FloatSlider(value=0.3, min=0.0, max=0.9, step=0.1, description="crash rate per batch",
                               continuous_update=False, style={"description_width": "initial"})

    def run_now():
        rows = crash_study(seed=seed, crash_rate=rate.value)
        yours = None
        if order_service_cls is not None:
            yours = [trial_with_classes(order_service_cls, relay_cls, consumer_cls, point, seed=seed,
                                        crash_rate=max(rate.value, 0.1)) for point in CRASH_POINTS]
        return rows, yours

    rows, yours = run_now()
    figure = go.FigureWidget(outbox_figure(rows, yours))
    summary = widgets.HTML(summary_html(rows, yours))

    def redraw(_change=None) -> None:
        rows, yours = run_now()
        series = _series(rows, yours)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _title(rows)
        summary.value = summary_html(rows, yours)

    rate.observe(redraw, names="value")
    return widgets.VBox([rate, figure, summary])
