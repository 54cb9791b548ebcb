"""Plotly charts of a run's metric history (`Snapshot.history`) and quality figures
(`Snapshot.quality`), for the browser and notebooks.

The training charts are whatever the run's loss family says means something (`Snapshot.charts`,
a tuple of `gan_core.losses.Chart`): one plotly chart per spec, plus throughput. Each chart keeps a
constant `uirevision`, so a zoom or a hidden trace survives the redraw every second while a run
trains. The engine already thins the history to about a thousand points. Quality charts are drawn
against `quality.real_reference()`: what real digits score at the same n.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from gan_core.quality import COVERED_FRACTION

if TYPE_CHECKING:
    from gan_core.losses import Chart

# Trace names of the step's metrics (every family's `metric_names`); the chart titles say whose
# accuracy, outputs or scores they are. A key without a label is drawn under its own name.
LABELS = {
    "d_loss": "D loss",
    "g_loss": "G loss",
    "d_acc_real": "on real",
    "d_acc_fake": "on fake",
    "d_real": "D(x), real",
    "d_fake": "D(G(z)), fake",
    "margin_real": "real ≥ +1",
    "margin_fake": "fake ≤ −1",
    "critic_real": "critic(x), real",
    "critic_fake": "critic(G(z)), fake",
    "wasserstein": "Wasserstein estimate",
    "gradient_penalty": "gradient penalty",
    "code_accuracy": "code read right",
    "images_per_second": "images / s",
    "fd_digits": "FD-digits",
    "classifier_score": "classifier score",
    "class_accuracy": "class accuracy",
}

CHART_HEIGHT = 230

# Trace colours in order: the discriminator's (or first) trace, the generator's (or second), more.
COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b")
MARKER_COLOUR = "#444444"  # a change of settings mid-run: a dotted vertical line, labelled
REFERENCE_COLOUR = "#2ca02c"  # dashed lines: what real digits score, or a uniform share of digits
MISSING_COLOUR = "#d62728"  # a digit the generator (almost) never draws
UNIFORM_SHARE = 0.1  # each of the 10 digits in a balanced set

History = Mapping[str, Sequence]
Events = Sequence[Mapping]  # Snapshot.events: {"step", "changes", ...}

# Short names of the settings a run can change mid-run, for the markers' labels.
SETTING_LABELS = {
    "g_learning_rate": "G lr",
    "d_learning_rate": "D lr",
    "d_updates": "D:G",
    "gp_weight": "GP weight",
    "ema": "EMA",
}


def describe_changes(changes: Mapping[str, float]) -> str:
    """'G lr 0.0004, D:G 2' for {"g_learning_rate": 4e-4, "d_updates": 2}."""
    return ", ".join(f"{SETTING_LABELS.get(k, k)} {v:g}" for k, v in changes.items())


def chart_name(title: str) -> str:
    """A chart's short stable name from its title, for its uirevision and the page's widget key:
    'D outputs (mean probability)' -> 'd_outputs', 'Critic scores' -> 'critic_scores'."""
    words = title.split("(")[0].strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", words).strip("_") or "chart"


def _chart(
    history: History,
    title: str,
    keys: Sequence[str],
    uirevision: str,
    y_title: str,
    y_range=None,
    legend: bool = True,
    events: Events = (),
) -> go.Figure:
    steps = _column(history, "step")
    traces = []
    for key, colour in zip(keys, itertools.cycle(COLOURS)):
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
    add_markers(layout, events)
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


def add_markers(layout: dict, events: Events, colour: str = MARKER_COLOUR) -> None:
    """A dotted vertical line at each change of settings, labelled at its top with what changed (the
    event's name if its changes cannot be read)."""
    for event in events:
        changes = event.get("changes")
        label = describe_changes(changes) if isinstance(changes, Mapping) else str(event.get("event", ""))
        layout.setdefault("shapes", []).append(
            {
                "type": "line",
                "xref": "x",
                "x0": event["step"],
                "x1": event["step"],
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": colour, "width": 1.5, "dash": "dot"},
            }
        )
        layout.setdefault("annotations", []).append(
            {
                "text": label,
                "showarrow": False,
                "xref": "x",
                "x": event["step"],
                "xanchor": "left",
                "yref": "paper",
                "y": 1,
                "yanchor": "top",
                "font": {"size": 12, "color": colour},
                "bgcolor": "rgba(255,255,255,0.7)",
            }
        )


def _reference_line(layout: dict, value: float | None, label: str) -> None:
    """A dashed horizontal line across the whole plot at `value`, labelled at its right end."""
    if value is None:
        return
    layout.setdefault("shapes", []).append(
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
    )
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


def training_chart(history: History, spec: Chart, events: Events = ()) -> go.Figure:
    """One chart of the step's metrics against step, as a loss family's `Chart` spec describes it,
    with a marker at each change of settings."""
    name = chart_name(spec.title)
    keys, legend = spec.keys, len(spec.keys) > 1
    return _chart(history, spec.title, keys, name, spec.y_title, spec.y_range, legend, events)


def throughput_chart(history: History, events: Events = ()) -> go.Figure:
    """Images per second through the training step."""
    return _chart(history, "Throughput", ("images_per_second",), "throughput", "images / s", False, events=events)


def training_charts(history: History, specs: Sequence[Chart], events: Events = ()) -> dict[str, go.Figure]:
    """One chart per spec (a run's `Snapshot.charts`), then throughput, by name, in the order the
    Train page shows them; each marks the run's changes of settings (`Snapshot.events`)."""
    out = {chart_name(spec.title): training_chart(history, spec, events) for spec in specs}
    out["throughput"] = throughput_chart(history, events)
    return out


# ------------------------------------------------------------------ quality (Snapshot.quality)
QUALITY_WAITING = "waiting for the first quality figures…"


def latest(columns: History, key: str) -> tuple[int | None, object]:
    """(step, value) of the last record where `key` was measured, or (None, None)."""
    for step, value in zip(reversed(columns.get("step") or ()), reversed(columns.get(key) or ())):
        if value is not None:
            return step, value
    return None, None


def _quality_chart(
    quality: History,
    key: str,
    title: str,
    y_title: str,
    line: tuple[float, str] | None,
    y_range=None,
    percent: bool = False,
    events: Events = (),
) -> go.Figure:
    """One quality figure per quality step, with `line` = (value, label) as a dashed reference."""
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
    if percent:
        layout["yaxis"]["tickformat"] = ".0%"
    if line is not None:
        _reference_line(layout, *line)
    add_markers(layout, events)
    return go.Figure(data=[trace], layout=layout)


def _real_digits(reference: Mapping | None, key: str) -> tuple[float, str] | None:
    value = (reference or {}).get(key)
    return None if value is None else (value, f"real digits {value:.3g}")


def fd_digits_chart(quality: History, reference: Mapping | None = None, events: Events = ()) -> go.Figure:
    """FD-digits per quality step (lower is better), with real digits' own figure as a dashed line."""
    line = _real_digits(reference, "fd_digits")
    return _quality_chart(quality, "fd_digits", "FD-digits (lower is better)", "FD-digits", line, events=events)


def classifier_score_chart(quality: History, reference: Mapping | None = None, events: Events = ()) -> go.Figure:
    """Classifier score per quality step (10 at best), with real digits' own score as a dashed line."""
    line = _real_digits(reference, "classifier_score")
    title = "Classifier score (max 10)"
    return _quality_chart(quality, "classifier_score", title, "score", line, (0, 10.3), events=events)


def class_accuracy_chart(quality: History, events: Events = ()) -> go.Figure:
    """A conditional run's class accuracy per quality step: the share of images the classifier reads
    as the digit they were drawn as; chance (10%) is a generator that ignores the label."""
    line = (UNIFORM_SHARE, "chance 10%")
    title = "Class accuracy (drawn as asked)"
    return _quality_chart(quality, "class_accuracy", title, "share", line, (0, 1.02), True, events)


def class_histogram_chart(quality: History) -> go.Figure:
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


def quality_charts(quality: History, reference: Mapping | None = None, events: Events = ()) -> dict[str, go.Figure]:
    """The quality charts by name, in the order the Train page shows them: FD-digits, classifier
    score, digits drawn, and class accuracy where the run is conditional (its records have it). Those
    against step mark the run's changes of settings."""
    out = {
        "fd_digits": fd_digits_chart(quality, reference, events),
        "classifier_score": classifier_score_chart(quality, reference, events),
        "class_histogram": class_histogram_chart(quality),
    }
    if latest(quality, "class_accuracy")[0] is not None:
        out["class_accuracy"] = class_accuracy_chart(quality, events)
    return out
