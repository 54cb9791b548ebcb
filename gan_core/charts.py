"""Plotly figures of a run's metric history (`snapshot()["history"]`), for the browser and notebooks.

Each figure keeps a constant `uirevision`, so a zoom or a hidden trace survives the redraw every
second while a run trains. The engine already thins the history to about a thousand points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

# Trace names of the metric names of gan.METRICS; the chart titles say whose accuracy and outputs.
LABELS = {
    "d_loss": "D loss",
    "g_loss": "G loss",
    "d_acc_real": "on real",
    "d_acc_fake": "on fake",
    "d_real": "D(x), real",
    "d_fake": "D(G(z)), fake",
    "images_per_second": "images / s",
}

CHART_HEIGHT = 230

# (colour of the discriminator's trace, colour of the generator's or second trace)
COLOURS = ("#1f77b4", "#ff7f0e")

History = Mapping[str, Sequence]


def _figure(
    history: History, title: str, keys: Sequence[str], uirevision: str, y_title: str, y_range=None, legend: bool = True
) -> go.Figure:
    steps = _column(history, "step")
    traces = []
    for key, colour in zip(keys, COLOURS):
        values = _column(history, key)
        traces.append(
            go.Scatter(
                x=steps[: len(values)],
                y=values,
                name=LABELS.get(key, key),
                mode="lines",
                line={"width": 2.5, "color": colour},
                hovertemplate="%{y:.3g}",
            )
        )
    layout = {
        "title": {"text": title, "x": 0, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 18}},
        "uirevision": uirevision,
        "height": CHART_HEIGHT,
        "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
        "font": {"size": 14},
        "showlegend": legend,
        # On the title's line, at the right: the plot keeps its full height.
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "bottom", "font": {"size": 14}},
        "hovermode": "x unified",
        "xaxis": {"title": {"text": "step"}, "rangemode": "tozero"},
        "yaxis": {"title": {"text": y_title}, "range": list(y_range) if y_range else None},
    }
    if not len(steps):
        layout["annotations"] = [
            {
                "text": "waiting for the first metrics…",
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 16, "color": "grey"},
            }
        ]
    # One constructor call: plotly's update_layout on a figure with traces costs 20x more.
    return go.Figure(data=traces, layout=layout)


def _column(history: History, key: str) -> np.ndarray:
    """A history column as floats, None (not measured yet) as NaN, which plotly leaves as a gap."""
    return np.array([np.nan if v is None else v for v in history.get(key) or ()], dtype=float)


def losses_figure(history: History) -> go.Figure:
    """d_loss and g_loss per step."""
    return _figure(history, "Losses", ("d_loss", "g_loss"), "losses", "loss")


def accuracy_figure(history: History) -> go.Figure:
    """How often D is right about real and about fake images; 0.5 each is the stalemate GANs aim for."""
    return _figure(history, "D accuracy", ("d_acc_real", "d_acc_fake"), "accuracy", "accuracy", (0, 1.02))


def d_outputs_figure(history: History) -> go.Figure:
    """Mean D(x) on real images and mean D(G(z)) on generated ones, as probabilities."""
    return _figure(history, "D outputs (mean probability)", ("d_real", "d_fake"), "d_outputs", "D(·)", (0, 1.02))


def throughput_figure(history: History) -> go.Figure:
    """Images per second through the training step."""
    return _figure(history, "Throughput", ("images_per_second",), "throughput", "images / s", legend=False)


def figures(history: History) -> dict[str, go.Figure]:
    """All four charts by name, in the order the Train page shows them."""
    return {
        "losses": losses_figure(history),
        "accuracy": accuracy_figure(history),
        "d_outputs": d_outputs_figure(history),
        "throughput": throughput_figure(history),
    }
