"""Plotly figures of a run's metric history (`snapshot()["history"]`) and quality figures
(`snapshot()["quality"]`), for the browser and notebooks.

Each figure keeps a constant `uirevision`, so a zoom or a hidden trace survives the redraw every
second while a run trains. The engine already thins the history to about a thousand points.
Quality figures are drawn against `quality.real_reference()`: what real digits score at the same n.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from gan_core.quality import COVERED_FRACTION

# Trace names of the metric names of gan.METRICS; the chart titles say whose accuracy and outputs.
LABELS = {
    "d_loss": "D loss",
    "g_loss": "G loss",
    "d_acc_real": "on real",
    "d_acc_fake": "on fake",
    "d_real": "D(x), real",
    "d_fake": "D(G(z)), fake",
    "images_per_second": "images / s",
    "fd_digits": "FD-digits",
    "classifier_score": "classifier score",
}

CHART_HEIGHT = 230

# (colour of the discriminator's trace, colour of the generator's or second trace)
COLOURS = ("#1f77b4", "#ff7f0e")
REFERENCE_COLOUR = "#2ca02c"  # dashed lines: what real digits score, or a uniform share of digits
MISSING_COLOUR = "#d62728"  # a digit the generator (almost) never draws
UNIFORM_SHARE = 0.1  # each of the 10 digits in a balanced set

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
    layout = _layout(title, uirevision, y_title, y_range, legend, empty=not len(steps))
    # One constructor call: plotly's update_layout on a figure with traces costs 20x more.
    return go.Figure(data=traces, layout=layout)


def _layout(
    title: str,
    uirevision: str,
    y_title: str,
    y_range=None,
    legend: bool = True,
    empty: bool = False,
    waiting: str = "waiting for the first metrics…",
) -> dict:
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
    if empty:
        layout["annotations"] = [
            {
                "text": waiting,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 16, "color": "grey"},
            }
        ]
    return layout


def _reference_line(layout: dict, value: float | None, label: str) -> None:
    """A dashed horizontal line across the whole plot at `value`, labelled at its right end."""
    if value is None:
        return
    layout["shapes"] = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": value,
            "y1": value,
            "line": {"color": REFERENCE_COLOUR, "width": 2, "dash": "dash"},
        }
    ]
    layout.setdefault("annotations", []).append(
        {
            "text": label,
            "showarrow": False,
            "xref": "paper",
            "x": 1,
            "xanchor": "right",
            "yref": "y",
            "y": value,
            "yanchor": "bottom",
            "font": {"size": 13, "color": REFERENCE_COLOUR},
        }
    )


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


# ------------------------------------------------------------------ quality (snapshot()["quality"])
QUALITY_WAITING = "waiting for the first quality figures…"


def latest(columns: History, key: str) -> tuple[int | None, object]:
    """(step, value) of the last record where `key` was measured, or (None, None)."""
    for step, value in zip(reversed(columns.get("step") or ()), reversed(columns.get(key) or ())):
        if value is not None:
            return step, value
    return None, None


def _quality_figure(
    quality: History, key: str, title: str, y_title: str, reference: Mapping | None, y_range=None
) -> go.Figure:
    steps, values = _column(quality, "step"), _column(quality, key)
    trace = go.Scatter(
        x=steps[: len(values)],
        y=values,
        name=LABELS[key],
        mode="lines+markers",  # one point every quality_every steps: the markers show where they are
        line={"width": 2.5, "color": COLOURS[0]},
        marker={"size": 7},
        hovertemplate="%{y:.3g}",
    )
    layout = _layout(
        title, key, y_title, y_range, legend=False, empty=not np.isfinite(values).any(), waiting=QUALITY_WAITING
    )
    value = (reference or {}).get(key)
    _reference_line(layout, value, f"real digits {value:.3g}" if value is not None else "")
    return go.Figure(data=[trace], layout=layout)


def fd_digits_figure(quality: History, reference: Mapping | None = None) -> go.Figure:
    """FD-digits per quality step (lower is better), with real digits' own figure as a dashed line."""
    return _quality_figure(quality, "fd_digits", "FD-digits (lower is better)", "FD-digits", reference)


def classifier_score_figure(quality: History, reference: Mapping | None = None) -> go.Figure:
    """Classifier score per quality step (10 at best), with real digits' own score as a dashed line."""
    return _quality_figure(
        quality, "classifier_score", "Classifier score (max 10)", "score", reference, y_range=(0, 10.3)
    )


def class_histogram_figure(quality: History) -> go.Figure:
    """Share of the latest generated images the classifier reads as each digit, against a uniform 10%."""
    step, hist = latest(quality, "class_histogram")
    shares = list(hist) if hist is not None else []
    digits = [str(d) for d in range(10)]
    bar = go.Bar(
        x=digits[: len(shares)],
        y=shares,
        name="generated",
        marker={"color": [MISSING_COLOUR if s <= COVERED_FRACTION else COLOURS[0] for s in shares]},
        hovertemplate="digit %{x}: %{y:.1%}<extra></extra>",
    )
    title = f"Digits drawn at step {step:,}" if step is not None else "Digits drawn"
    layout = _layout(
        title, "class_histogram", "share of images", legend=False, empty=not shares, waiting=QUALITY_WAITING
    )
    layout["xaxis"] = {"title": {"text": "digit"}, "type": "category", "categoryarray": digits}
    layout["yaxis"].update(tickformat=".0%", rangemode="tozero")
    layout["hovermode"] = "closest"
    _reference_line(layout, UNIFORM_SHARE, "uniform 10%")
    return go.Figure(data=[bar], layout=layout)


def quality_figures(quality: History, reference: Mapping | None = None) -> dict[str, go.Figure]:
    """The three quality charts by name, in the order the Train page shows them."""
    return {
        "fd_digits": fd_digits_figure(quality, reference),
        "classifier_score": classifier_score_figure(quality, reference),
        "class_histogram": class_histogram_figure(quality),
    }
