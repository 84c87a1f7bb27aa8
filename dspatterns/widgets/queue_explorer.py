"""A queue between a bursty producer and steady consumers, and what happens when consumers crash.

Three views, each answering one question:

* ``levelling_explorer``: "what does a queue do with a burst?" Messages sent and finished per second
  (the spiky input, the flat output), the queue's depth, and every message's wait, from
  ``levelling_run``; sliders for the burst size and the number of consumers, at the same average load.
* ``mmc_table_html``: "is the simulated queue right?" Its mean wait beside Erlang C's prediction for
  M/M/c queues (``mmc_simulation`` and ``mmc_mean_wait``).
* ``redelivery_explorer``: "what does at-least-once delivery look like?" One row per message: each
  delivery as a bar from receive to ack (green) or to the visibility timeout (grey), crashes as crosses,
  dead letters as black squares, a tick at every receive, from ``redelivery_run``. Handed your
  ``WorkQueue``, it replays the same run on your class with a fake clock (``queue_replay.replay_on``)
  and marks the first instant where the two differ.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dspatterns.communication.queue_levelling import (
    ACKED,
    CRASHED,
    DEAD_LETTERED,
    LATE_ACK,
    RECEIVED,
    TIMED_OUT,
    LevellingRun,
    RedeliveryRun,
    levelling_run,
    mmc_simulation,
    redelivery_run,
)
from dspatterns.communication.queue_replay import ORDER, SAME, ReplayResult, replay_on

LEVELLING_SEED = 4
REDELIVERY_SEED = 0
POISON = (3,)
BIN = 5.0
MMC_CASES = ((0.5, 1.0, 1), (0.8, 1.0, 1), (1.6, 1.0, 2), (1.8, 1.0, 2), (3.2, 1.0, 4), (3.6, 1.0, 4))


# --- levelling -------------------------------------------------------------------------------------------

def levelling_series(run: LevellingRun) -> dict[str, dict]:
    """What the levelling figure's traces show of one run, by their meta: the part a slider change redraws."""
    sent_x, sent_y = run.sent_per_bin(BIN)
    done_x, done_y = run.finished_per_bin(BIN)
    return {
        "sent": dict(x=sent_x, y=sent_y),
        "finished": dict(x=[x + BIN / 2 for x in done_x], y=done_y),
        "depth": dict(x=list(run.times), y=list(run.depths)),
        "waits": dict(x=list(run.sent_at), y=list(run.waits)),
    }


def _levelling_title(run: LevellingRun) -> str:
    return (f"{run.label}: peak depth {run.peak_depth}, mean wait {run.mean_wait:.1f} s, "
            f"p95 {run.p95_wait:.1f} s, utilisation {run.utilisation:.2f}")


def levelling_figure(run: LevellingRun) -> go.Figure:
    """A plain ``go.Figure`` of one ``levelling_run``: rates in and out, depth, waits."""
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, row_heights=[0.35, 0.35, 0.3],
                           subplot_titles=("messages per second, in 5 s bins", "messages waiting in the queue",
                                           "each message's wait (s), by when it was sent"))
    series = levelling_series(run)
    figure.add_trace(go.Bar(**series["sent"], name="sent", meta="sent", marker_color="#ef9a9a",
                            offset=0, width=BIN), row=1, col=1)
    figure.add_trace(go.Scatter(**series["finished"], name="finished", meta="finished",
                                mode="lines", line=dict(color="#1565c0", width=2)), row=1, col=1)
    figure.add_trace(go.Scatter(**series["depth"], name="queue depth", meta="depth",
                                mode="lines", line=dict(color="#ef6c00")), row=2, col=1)
    figure.add_trace(go.Scatter(**series["waits"], name="wait", meta="waits", mode="markers",
                                marker=dict(size=3, color="#6a1b9a")), row=3, col=1)
    figure.update_layout(
        title=_levelling_title(run),
        height=620, template="plotly_white", margin=dict(l=60, r=20, t=80, b=40), legend=dict(orientation="h"),
    )
    figure.update_xaxes(title_text="time (s)", row=3, col=1)
    return figure


def levelling_explorer(*, seed: int = LEVELLING_SEED) -> widgets.VBox:
    """Sliders for the burst size and the consumer count; the same seed, so only the setting changes.

    The figure is built once; a change reruns the model and updates its four traces and its title in one
    batch, so the browser gets one message and redraws once.
    """
    burst = widgets.IntSlider(value=10, min=1, max=50, description="burst size", continuous_update=False)
    consumers = widgets.IntSlider(value=2, min=1, max=8, description="consumers", continuous_update=False)
    figure = go.FigureWidget(levelling_figure(levelling_run(burst.value, consumers.value, seed=seed)))

    def redraw(_=None) -> None:
        run = levelling_run(burst.value, consumers.value, seed=seed)
        series = levelling_series(run)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = _levelling_title(run)

    burst.observe(redraw, names="value")
    consumers.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([burst, consumers]), figure])


# --- M/M/c against Erlang C ------------------------------------------------------------------------------

def mmc_rows(cases=MMC_CASES, *, seed: int = 1, customers: int = 200_000):
    """(arrival rate, service rate, servers, utilisation, simulated wait, predicted wait) per case."""
    rows = []
    for arrival, service, servers in cases:
        run = mmc_simulation(arrival, service, servers, seed=seed, customers=customers)
        rows.append((arrival, service, servers, arrival / (servers * service), run.mean_wait, run.predicted_wait))
    return rows


def mmc_table_html(rows) -> str:
    head = ("<tr><th>arrivals/s</th><th>consumers</th><th>utilisation</th><th>simulated mean wait</th>"
            "<th>Erlang C</th><th>difference</th></tr>")
    body = "".join(
        f"<tr><td>{a:g}</td><td>{c}</td><td>{rho:.2f}</td><td>{sim:.3f} s</td><td>{pred:.3f} s</td>"
        f"<td>{(sim - pred) / pred:+.1%}</td></tr>" for a, _, c, rho, sim, pred in rows)
    return f"<table>{head}{body}</table>"


# --- redelivery and dead letters -------------------------------------------------------------------------

_LEASES = ((ACKED, "#2e7d32", "delivery acked"), (TIMED_OUT, "#9e9e9e", "delivery timed out"))
_MARKS = ((CRASHED, "x", "#c62828", "consumer crashed"), (LATE_ACK, "triangle-left", "#ef6c00", "late ack (ignored)"),
          (DEAD_LETTERED, "square", "#000000", "dead letter"))
FIRST_DIFFERENCE = "first difference"


def redelivery_series(run: RedeliveryRun, replay: ReplayResult | None = None) -> dict[str, dict]:
    """What the redelivery figure's traces show of one run, by their meta: the part a slider change redraws.

    The "first difference" line is in it only where a replay found one.
    """
    series = {}
    for outcome, _, name in _LEASES:
        xs, ys = [], []
        for lease in run.leases():
            if lease.outcome == outcome:
                xs += [lease.start, lease.end, None]
                ys += [lease.message, lease.message, None]
        series[name] = dict(x=xs, y=ys)
    receives = [e for e in run.events if e.kind == RECEIVED]
    series["received"] = dict(x=[e.time for e in receives], y=[e.message for e in receives])
    for kind, _, _, name in _MARKS:
        events = [e for e in run.events if e.kind == kind]
        series[name] = dict(x=[e.time for e in events], y=[e.message for e in events])
    if replay is not None and replay.at_time is not None:
        series[FIRST_DIFFERENCE] = dict(x=[replay.at_time, replay.at_time], y=[-0.5, run.messages - 0.5])
    return series


def _redelivery_title(run: RedeliveryRun) -> str:
    return (f"{run.messages} messages, {run.consumers} consumers, visibility timeout {run.visibility_timeout:g} s, "
            f"max {run.max_deliveries} deliveries: {len(run.acked)} acked, {len(run.dead_letters)} dead "
            f"letter{'s' * (len(run.dead_letters) != 1)}")


def redelivery_figure(run: RedeliveryRun, replay: ReplayResult | None = None, *,
                      difference_line: bool = False) -> go.Figure:
    """One row per message: leases (green acked, grey timed out), crosses for crashes, squares for dead letters.

    With ``difference_line`` the "first difference" trace is there even when the replay found none (empty
    and hidden), so a widget can update the same traces whatever the next replay finds.
    """
    series = redelivery_series(run, replay)
    figure = go.Figure()
    for _, colour, name in _LEASES:
        figure.add_trace(go.Scatter(**series[name], mode="lines", name=name, meta=name,
                                    line=dict(color=colour, width=7)))
    figure.add_trace(go.Scatter(**series["received"], mode="markers", name="received", meta="received",
                                marker=dict(symbol="line-ns-open", size=14, color="#212121", line=dict(width=2))))
    for _, symbol, colour, name in _MARKS:
        figure.add_trace(go.Scatter(**series[name], mode="markers", name=name, meta=name,
                                    marker=dict(symbol=symbol, size=10, color=colour)))
    if FIRST_DIFFERENCE in series or difference_line:
        figure.add_trace(go.Scatter(**_difference_line(series), mode="lines", name=FIRST_DIFFERENCE,
                                    meta=FIRST_DIFFERENCE, line=dict(color="#ad1457", dash="dash", width=2)))
    figure.update_layout(
        title=_redelivery_title(run),
        height=480, template="plotly_white", margin=dict(l=60, r=20, t=60, b=40),
        xaxis=dict(title="time (s)"), yaxis=dict(title="message", autorange="reversed", dtick=1),
        legend=dict(orientation="h", y=-0.15),
    )
    return figure


def _difference_line(series: dict[str, dict]) -> dict:
    """The first-difference trace's data, hidden (and out of the legend) while there is no difference."""
    return {**series.get(FIRST_DIFFERENCE, dict(x=[], y=[])), "visible": FIRST_DIFFERENCE in series}


def replay_summary(result: ReplayResult | None) -> str:
    if result is None:
        return ""
    if result.verdict == SAME:
        rule = "" if result.detail.startswith("every instant agreed with the model") and "run where" not in result.detail \
            else f" ({html.escape(result.detail)})"
        return (f"<p>Your WorkQueue agreed with the model at all {result.total_instants} instants{rule}; dead "
                f"letters {list(result.dead_letters)}.</p>")
    where = "" if result.at_time is None else f" at t = {result.at_time:.2f} s"
    kind = "chose another order" if result.verdict == ORDER else "differs from the model"
    return (f"<p>Your WorkQueue agreed for {result.checked_instants} of {result.total_instants} instants, then "
            f"{kind}{where}: {html.escape(result.detail)}</p>")


def redelivery_explorer(queue_class: type | None = None, *, seed: int = REDELIVERY_SEED,
                        poison=POISON) -> widgets.VBox:
    """Sliders for the visibility timeout, max deliveries and crash rate; your queue replayed beside it."""
    timeout = widgets.FloatSlider(value=5.0, min=1.0, max=10.0, step=0.5, description="visibility timeout (s)",
                                  continuous_update=False, style={"description_width": "initial"})
    deliveries = widgets.IntSlider(value=3, min=1, max=6, description="max deliveries", continuous_update=False,
                                   style={"description_width": "initial"})
    crash = widgets.FloatSlider(value=0.2, min=0.0, max=0.6, step=0.05, description="crash rate",
                                continuous_update=False)
    summary = widgets.HTML()

    def rerun() -> tuple[RedeliveryRun, ReplayResult | None]:
        """The model at the sliders' settings (and your queue's replay of it), with the summary written."""
        run = redelivery_run(seed=seed, poison=poison, visibility_timeout=timeout.value,
                             max_deliveries=deliveries.value, crash_rate=crash.value)
        replay = replay_on(queue_class, run) if queue_class is not None else None
        counts = ", ".join(f"{m}: {n}" for m, n in enumerate(run.deliveries) if n > 1) or "none"
        summary.value = (f"<p>Delivered more than once (message: deliveries): {html.escape(counts)}. "
                         f"Late acks: {run.count(LATE_ACK)}. Dead letters: {list(run.dead_letters)}.</p>"
                         + replay_summary(replay))
        return run, replay

    # Built once; a change updates its traces and title in one batch: one message, one redraw.
    figure = go.FigureWidget(redelivery_figure(*rerun(), difference_line=queue_class is not None))

    def redraw(_=None) -> None:
        run, replay = rerun()
        series = redelivery_series(run, replay)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(_difference_line(series) if trace.meta == FIRST_DIFFERENCE else series[trace.meta])
            figure.layout.title.text = _redelivery_title(run)

    for control in (timeout, deliveries, crash):
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox([timeout, deliveries, crash]), figure, summary])
