"""A sequence diagram of one real run: several calls on one connection, replies out of order, one timeout.

The question it answers: "what does a client have to do when calls share a connection?". Time flows
down. The client's lifeline is on the left, the server's on the right; each call is an arrow across
(its request) and an arrow back (its reply), both at the times they really happened against
``RpcServer`` (``dspatterns.communication.rpc_sequence.scripted_run``). Replies cross each other because
the server answers them in a different order than they were sent; the call that waits longer than its
timeout gets a cross on the client's lifeline at its deadline, and its reply, which still comes, is
drawn dashed and grey: the client has to drop it.

The slider sets the client's timeout, in milliseconds, and runs the calls again on a fresh server (about
0.1 s with the course's script, late replies included).
Handed your class (``request_response_explorer(RpcClient)``), a toggle switches to a run of the same
script through your client, drawn from the server's log and your calls' outcomes, and the summary lists
every call where your client's outcome differs from the course driver's.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.communication.rpc_sequence import (
    DEFAULT_CALLS,
    DEFAULT_SEND_GAP,
    DEFAULT_TIMEOUT,
    ERROR,
    RESULT,
    TIMEOUT,
    SequenceRun,
    scripted_run,
)

COLOURS = {RESULT: "#2e7d32", ERROR: "#c62828", TIMEOUT: "#9e9e9e"}
CALL_COLOURS = ("#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#558b2f")
COURSE = "course driver"
YOURS = "your client"


def request_trace(label: str) -> str:
    return f"request {label}"


def reply_trace(label: str) -> str:
    return f"reply {label}"


def late_reply_trace(label: str) -> str:
    return f"late reply {label}"


def timeout_trace(label: str) -> str:
    return f"timeout {label}"


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _arrow(x, y, *, colour, meta, dash="solid", width=2.0, text=None, text_at_end=False, hover="") -> dict:
    """A line with an arrowhead at its end, ``text`` beside its start or its end, outside the lifelines.

    Labels at the client (x = 0) go to its left, labels at the server (x = 1) to its right, so a request
    and a reply at the same instant do not write over each other.
    """
    labelled_x = x[1] if text_at_end else x[0]
    return dict(
        x=list(x), y=[_ms(v) for v in y], mode="lines+markers+text" if text else "lines+markers",
        line=dict(color=colour, dash=dash, width=width),
        marker=dict(symbol="arrow", size=[0, 13], angleref="previous", color=colour),
        text=["", text or ""] if text_at_end else [text or "", ""],
        textposition="middle left" if labelled_x == 0 else "middle right",
        textfont=dict(color=colour), meta=meta, name=meta, visible=True,
        hovertemplate=hover + "<extra></extra>",
    )


# A slot that this run leaves empty: hidden, nameless and pointless, so that every run of the same calls has
# the same traces in the same order and a new run redraws as one update of them (one message, one redraw).
_UNUSED_ARROW = dict(x=[], y=[], mode="lines+markers", text=[], meta=None, name=None, visible=False,
                     hovertemplate=None)
_UNUSED_CROSS = dict(x=[], y=[], text=[], meta=None, name=None, visible=False, hovertemplate=None)


def sequence_slots(run: SequenceRun) -> list[dict]:
    """The diagram's traces as plotly properties: two lifelines, then per call a request, a reply and a cross.

    The reply slot holds the call's reply (solid, in its outcome's colour) or its late reply (dashed grey);
    the cross marks a timeout. Slots a call does not need are hidden (``_UNUSED_*``), so the list's length
    and the kinds in it depend on the number of calls only.
    """
    ends = [v for call in run.calls for v in (call.sent, call.arrived, call.replied, call.settled,
                                              call.late_reply_read) if v is not None]
    bottom = max(ends, default=0.1) * 1.1
    slots = [dict(x=[x, x], y=[0, _ms(bottom)], mode="lines", meta=name, name=name,
                  line=dict(color="#424242", width=1), hoverinfo="skip")
             for x, name in ((0, "client lifeline"), (1, "server lifeline"))]
    for index, call in enumerate(run.calls):
        colour = CALL_COLOURS[index % len(CALL_COLOURS)]
        request = reply = cross = None
        if call.arrived is not None:
            request = _arrow(
                (0, 1), (call.sent, call.arrived), colour=colour, meta=request_trace(call.label),
                text=f" {call.label}: request id {call.id}", text_at_end=True,
                hover=f"{call.label}: request id {call.id} sent at %{{y:.1f}} ms")
        if call.outcome == TIMEOUT:
            cross = dict(
                x=[0], y=[_ms(call.deadline)], mode="markers+text", meta=timeout_trace(call.label),
                name=timeout_trace(call.label), visible=True,
                marker=dict(symbol="x", size=14, color="#c62828"), text=[f"{call.label} timed out "],
                textposition="middle left",
                hovertemplate=f"{call.label}: gave up after {_ms(run.timeout):g} ms (TimeoutError)<extra></extra>")
            if call.replied is not None:
                read = call.late_reply_read if call.late_reply_read is not None else call.replied
                reply = _arrow(
                    (1, 0), (call.replied, read), colour=COLOURS[TIMEOUT], dash="dash", width=1.5,
                    meta=late_reply_trace(call.label), text=f" {call.label}: late reply, dropped",
                    hover=f"{call.label}: late reply at %{{y:.1f}} ms, dropped by the client")
        elif call.replied is not None and call.settled is not None:
            shown = "error: " + str(call.value) if call.outcome == ERROR else "result"
            reply = _arrow(
                (1, 0), (call.replied, call.settled), colour=COLOURS.get(call.outcome, colour),
                meta=reply_trace(call.label), text_at_end=True,
                text=f"{call.label} gets {'RpcError' if call.outcome == ERROR else 'its result'} ",
                hover=f"{call.label}: {html.escape(shown)} back at %{{y:.1f}} ms")
        slots += [request or _UNUSED_ARROW, reply or _UNUSED_ARROW, cross or _UNUSED_CROSS]
    return slots


def sequence_figure(run: SequenceRun) -> go.Figure:
    """A plain ``go.Figure`` of one run (``scripted_run(...)``)."""
    figure = go.Figure([go.Scatter(**slot, showlegend=False) for slot in sequence_slots(run)])
    figure.update_layout(
        title=_title(run), height=480, margin=dict(l=90, r=30, t=60, b=40), template="plotly_white",
        xaxis=dict(range=[-0.7, 1.55], tickvals=[0, 1], ticktext=["client", "server"], showgrid=False,
                   zeroline=False),
        yaxis=dict(title="time since the first send (ms)", autorange="reversed", zeroline=False),
    )
    return figure


def _title(run: SequenceRun) -> str:
    order = ", ".join(run.reply_order())
    timed_out = [call.label for call in run.calls if call.outcome == TIMEOUT]
    gave_up = f"; {', '.join(timed_out)} timed out" if timed_out else ""
    return f"{run.client}, timeout {_ms(run.timeout):g} ms: replies left in the order {order}{gave_up}"


def sequence_summary(run: SequenceRun, reference: SequenceRun | None = None) -> str:
    """Each call's outcome in words; beside a reference run, the calls where the two disagree."""
    if run.problem and not run.calls:
        return f"<b>{html.escape(run.client)}</b> did not run: {html.escape(run.problem)}"
    rows = []
    for call in run.calls:
        said = {RESULT: f"result {call.value!r}", ERROR: f"RpcError {call.value!r}",
                TIMEOUT: "TimeoutError"}.get(call.outcome, f"{call.outcome}: {call.value}")
        rows.append(f"<li>{html.escape(call.label)}: {html.escape(said)}</li>")
    text = f"<b>{html.escape(run.client)}</b><ul>{''.join(rows)}</ul>"
    if run.problem:
        text += f"<p>Problem: {html.escape(run.problem)}</p>"
    if reference is not None:
        differences = [
            f"{call.label}: yours {call.outcome}, expected {expected.outcome}"
            for call, expected in zip(run.calls, reference.calls) if call.outcome != expected.outcome
            or (call.outcome in (RESULT, ERROR) and call.value != expected.value)
        ]
        text += ("<p>Every call ended as the course driver's did.</p>" if not differences else
                 "<p>Differs from the course driver: " + html.escape("; ".join(differences)) + "</p>")
    return text


def timeout_slider_ms(calls, timeout: float) -> widgets.IntSlider:
    """Timeouts in 10 ms steps from 10 ms to half again the slowest call's delay, so every call can come back."""
    slowest = max((call.server_delay for call in calls), default=0.0)
    top = max(_ms(timeout), 1.5 * _ms(slowest), 20)
    return widgets.IntSlider(value=round(_ms(timeout)), min=10, max=int(-(-top // 10) * 10), step=10,
                             description="timeout (ms)", continuous_update=False,
                             style={"description_width": "initial"})


def request_response_explorer(client_class: type | None = None, *, calls=DEFAULT_CALLS,
                              timeout: float = DEFAULT_TIMEOUT, send_gap: float = DEFAULT_SEND_GAP) -> widgets.VBox:
    """The timeout slider (ms), the diagram and a summary; with ``client_class``, a toggle to your client's run.

    A change reruns the calls and then updates the diagram's traces in place, in one batch: the figure has
    the same slots for every run of the same calls (``sequence_slots``), so the browser redraws once.
    """
    slider = timeout_slider_ms(calls, timeout)
    toggle = widgets.ToggleButtons(options=[COURSE, YOURS] if client_class is not None else [COURSE],
                                   value=COURSE, description="client")
    summary = widgets.HTML()

    def shown_run() -> SequenceRun:
        """The run to draw (yours, if toggled), after writing the summary against the course driver's."""
        reference = scripted_run(calls, slider.value / 1000.0, send_gap=send_gap)
        run = reference
        if toggle.value == YOURS:
            run = scripted_run(calls, slider.value / 1000.0, client_class=client_class, send_gap=send_gap)
        summary.value = sequence_summary(run, reference if toggle.value == YOURS else None)
        return run

    figure = go.FigureWidget(sequence_figure(shown_run()))

    def redraw(_=None) -> None:
        run = shown_run()
        with figure.batch_update():
            for trace, slot in zip(figure.data, sequence_slots(run)):
                trace.update(slot)
            figure.layout.title.text = _title(run)

    slider.observe(redraw, names="value")
    toggle.observe(redraw, names="value")
    controls = [slider] + ([toggle] if client_class is not None else [])
    return widgets.VBox([widgets.HBox(controls), figure, summary])
