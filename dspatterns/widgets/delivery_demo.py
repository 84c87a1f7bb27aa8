"""At-least-once delivery: how often each message was delivered and applied, with and without dedup.

The slider sets how often an ack is lost; the acks' fates are seeded and do not depend on the
consumer, so both consumers see the same deliveries and every difference comes from the processed-id
set.
"""
from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

from dspatterns.idempotency.delivery import DeliveryRun, amount_of, redelivery_run

DELIVERED, NAIVE, DEDUP = "deliveries", "applied: no dedup", "applied: processed-id set"
COLOURS = {DELIVERED: "#9e9e9e", NAIVE: "#c62828", DEDUP: "#1565c0"}


def delivery_series(naive: DeliveryRun, dedup: DeliveryRun) -> dict[str, dict]:
    messages = list(range(naive.messages))
    return {DELIVERED: {"x": messages, "y": [naive.deliveries_of(m) for m in messages]},
            NAIVE: {"x": messages, "y": [naive.effects_of(m) for m in messages]},
            DEDUP: {"x": messages, "y": [dedup.effects_of(m) for m in messages]}}


def delivery_title(naive: DeliveryRun, dedup: DeliveryRun) -> str:
    expected = sum(amount_of(m) for m in range(naive.messages))
    return (f"Ack loss {naive.ack_loss:.1f}: {len(naive.deliveries)} deliveries of {naive.messages} messages "
            f"({naive.lost_acks} lost acks). Applied: {naive.effects} times without dedup (balance "
            f"{naive.balance}), {dedup.effects} with it (balance {dedup.balance}; right is {expected})")


def delivery_figure(naive: DeliveryRun, dedup: DeliveryRun) -> go.Figure:
    figure = go.Figure()
    for name, values in delivery_series(naive, dedup).items():
        figure.add_trace(go.Bar(name=name, meta=name, marker_color=COLOURS[name], **values))
    figure.update_layout(title=delivery_title(naive, dedup), barmode="group", height=420, template="plotly_white",
                         xaxis_title="message", yaxis_title="times", margin={"l": 60, "r": 20, "t": 70, "b": 40})
    return figure


def delivery_demo(*, seed: int = 5, messages: int = 30) -> widgets.VBox:
    ack_loss = widgets.FloatSlider(value=0.3, min=0.0, max=0.8, step=0.1, readout_format=".1f",
                                   description="ack loss rate", continuous_update=False,
                                   style={"description_width": "initial"})

    def runs() -> tuple[DeliveryRun, DeliveryRun]:
        return (redelivery_run(seed=seed, messages=messages, ack_loss=ack_loss.value, dedup=False),
                redelivery_run(seed=seed, messages=messages, ack_loss=ack_loss.value, dedup=True))

    figure = go.FigureWidget(delivery_figure(*runs()))

    def redraw(_change=None) -> None:
        naive, dedup = runs()
        series = delivery_series(naive, dedup)
        with figure.batch_update():
            for trace in figure.data:
                trace.update(series[trace.meta])
            figure.layout.title.text = delivery_title(naive, dedup)

    ack_loss.observe(redraw, names="value")
    return widgets.VBox([ack_loss, figure])
