"""The Train page's charts while a run trains: the same plotly figures, drawn on canvases by a few
lines of JavaScript (a Streamlit v2 component, no iframe) instead of by plotly.js.

Why: plotly.js redraws a whole figure (axes, SVG paths, legend) whenever its data changes, about
60 ms of the browser's CPU per figure on this machine; four live charts redrawn every second or two
took a tenth of a core from a laptop that trains while it shows (README, "A live view that costs
little"). A canvas line chart of 400 points draws in about a millisecond. What is drawn comes from
the figures app.charts builds (`spec()` reads their traces, axis range, markers and reference
lines), so both views always show the same thing; the plotly figures, with zoom and hover, return
as soon as the run is paused or has ended. Here hovering shows the values at the nearest step.

`encode()` turns a frame's figures into one JSON payload, once per frame: every viewer sends the
same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from app.charts import CHART_HEIGHT

JS = (Path(__file__).parent / "livechart.js").read_text()

CSS = """
.gan-live-chart { width: 100%; margin-bottom: 1rem; }
.gan-live-chart canvas { display: block; }
"""

CHARTS_NAME, PROGRESS_NAME = "gan_live_charts", "gan_live_progress"  # the components, as their elements name them
_component = st.components.v2.component(CHARTS_NAME, js=JS, css=CSS)

# The progress bar and the figures above the grid (step, epoch, images/s...), as st.progress and
# st.metric draw them once the run has ended. Five st.metric elements redrawn every second cost a
# browser as much again as everything else in the live view (benchmarks/browser_cost.py: 0.10 cores
# of chromium with them, 0.06 without); these are a few text nodes whose text changes.
PROGRESS_CSS = """
.gan-live-progress { font-family: "Source Sans Pro", "Source Sans 3", sans-serif; color: #31333f; margin-bottom: 1rem; }
.gan-live-progress .gan-bar-text { font-size: 14px; margin-bottom: 0.25rem; }
.gan-live-progress .gan-bar { height: 0.5rem; border-radius: 0.25rem; background: #f0f2f6; overflow: hidden; }
.gan-live-progress .gan-bar > div { height: 100%; background: #1c83e1; }
.gan-live-progress .gan-figures { display: flex; flex-wrap: wrap; gap: 2rem; margin-top: 1rem; }
.gan-live-progress .gan-figure { flex: 1 1 0; min-width: 6rem; }
.gan-live-progress .gan-label { font-size: 14px; }
.gan-live-progress .gan-value { font-size: 2.25rem; line-height: 1.2; }
"""

_progress = st.components.v2.component(
    PROGRESS_NAME, js=(Path(__file__).parent / "liveprogress.js").read_text(), css=PROGRESS_CSS
)


def spec(figure: go.Figure) -> dict[str, Any]:
    """What the canvas draws of a figure built by app.charts: its lines, title, axis titles and y range,
    its dotted markers (changes of settings) and dashed reference lines, with their labels."""
    fig = figure.to_dict()  # a FrozenFigure's is made once per frame
    layout, traces = fig["layout"], fig["data"]
    bars = bool(traces) and traces[0].get("type") == "bar"  # categories (digits), not steps
    x = [str(c) for c in traces[0].get("x", ())] if bars else _floats(traces[0].get("x", ())) if traces else []
    series = []
    for t in traces:
        colour = (t.get("marker") if bars else t.get("line", {})) or {}
        colours = colour.get("color", "#1f77b4")
        series.append(
            {
                "name": t.get("name", ""),
                "color": colours if isinstance(colours, str) else "#1f77b4",
                "colors": list(colours) if isinstance(colours, (list, tuple)) else None,  # one a bar
                "dots": "markers" in t.get("mode", ""),  # a line with a dot at each point
                "y": _floats(t.get("y", ())),
            }
        )
    labels = [a for a in layout.get("annotations", ()) if a.get("showarrow") is False]
    markers, hlines = [], []
    for shape in layout.get("shapes", ()):
        colour = shape.get("line", {}).get("color", "#444444")
        if shape.get("xref") == "x":  # a change of settings: its label is the annotation at its step
            text = next((a["text"] for a in labels if a.get("xref") == "x" and a.get("x") == shape["x0"]), "")
            markers.append({"x": shape["x0"], "text": text, "color": colour})
        elif shape.get("yref") == "y":  # a reference line: labelled at its right end
            text = next((a["text"] for a in labels if a.get("yref") == "y" and a.get("y") == shape["y0"]), "")
            hlines.append({"y": shape["y0"], "text": text, "color": colour})
    waiting = next((a["text"] for a in labels if a.get("xref") == "paper" and a.get("yref") == "paper"), "")
    y_range = (layout.get("yaxis") or {}).get("range")
    return {
        "title": _text(layout.get("title")),
        "x_title": _text((layout.get("xaxis") or {}).get("title")) or "step",
        "y_title": _text((layout.get("yaxis") or {}).get("title")),
        "y_range": list(y_range) if y_range else None,
        "y_percent": str((layout.get("yaxis") or {}).get("tickformat", "")).endswith("%"),
        "bars": bars,
        "legend": bool(layout.get("showlegend", len(series) > 1)),
        "height": layout.get("height", CHART_HEIGHT),
        "x": x[: min((len(s["y"]) for s in series), default=0)],
        "series": series,
        "markers": markers,
        "hlines": hlines,
        "waiting": waiting or "waiting for the first metrics…",
    }


def encode(figures: Mapping[str, go.Figure]) -> bytes:
    """The figures as one JSON payload for `show()`."""
    return json.dumps([spec(f) for f in figures.values()], separators=(",", ":"), allow_nan=False).encode()


def encode_each(figures: Mapping[str, go.Figure]) -> dict[str, bytes]:
    """Each figure as a payload of its own, by name: charts shown side by side, one per column."""
    return {name: encode({name: figure}) for name, figure in figures.items()}


def show(payload: bytes, key: str = "live-charts") -> None:
    """Draw the charts `encode()` made; with a key, the canvases stay and are redrawn in place."""
    _component(data=payload, key=key, height="content")


def encode_progress(fraction: float, text: str, figures: list[tuple[str, str]]) -> bytes:
    """The progress bar (0..1 and its text) and the figures under it, (label, value) each, for `show_progress()`."""
    return json.dumps({"fraction": fraction, "text": text, "figures": figures}, separators=(",", ":")).encode()


def show_progress(payload: bytes, key: str = "live-progress") -> None:
    """Draw what `encode_progress()` made; with a key, the elements stay and only their texts change."""
    _progress(data=payload, key=key, height="content")


def _text(title: Any) -> str:
    return (title or {}).get("text", "") if isinstance(title, dict) else str(title or "")


def _floats(values: Any) -> list[float | None]:
    """A trace's values as JSON numbers, a gap (NaN, None) as null; plotly's base64 arrays decoded."""
    if isinstance(values, dict) and "bdata" in values:  # plotly 6 packs numpy arrays as base64
        import base64

        import numpy as np

        values = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return [None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in values]
