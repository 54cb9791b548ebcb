"""Runs side by side, as the Compare page shows them: their curves overlaid on shared axes (plotly
figures), their sample grids at one step, their settings in one table with the differences marked.

A run is read from its folder as it is. config.json is read as a plain dict, not a TrainConfig, so a
run that carries settings or metadata this version does not know is still compared, its extra keys
as rows of the table; a branch's origin (parent.json) is a row too. metrics.jsonl records that have
an "event" key (settings changed mid-run, not a measurement) are no points of the curves: they are
marked on every figure, as on the Train page, in their run's colour.

Each run keeps one colour in every figure and caption: `PALETTE`, in the order the runs were chosen.
Which curves there are follows each run's loss family, as on the Train page (`LossFamily.charts`):
one figure per metric, with one trace per run that reports it.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts import CHART_HEIGHT, LABELS, add_markers
from gan_core.losses import DEFAULT_LOSS, LOSS_METRICS, LOSSES
from gan_core.runs import RunDir

# (plotly colour, the Streamlit markdown colour that looks like it) per run, in the order chosen.
PALETTE = (
    ("#1f77b4", "blue"),
    ("#ff7f0e", "orange"),
    ("#2ca02c", "green"),
    ("#d62728", "red"),
    ("#9467bd", "violet"),
    ("#7f7f7f", "gray"),
)
MIN_RUNS, MAX_RUNS = 2, len(PALETTE)
MAX_POINTS = 2_000  # per trace; metrics.jsonl keeps every record of a long run
ABSENT = "–"  # a setting a run's config.json does not have

# Quality records' figures: title, y axis title, y range.
QUALITY = {
    "fd_digits": ("FD-digits (lower is better)", "FD-digits", None),
    "classifier_score": ("Classifier score (max 10)", "score", (0.0, 10.3)),
    "class_accuracy": ("Class accuracy (drawn as asked)", "share", (0.0, 1.02)),
}
SECTIONS = {"losses": "Losses", "discriminator": "Discriminator / critic", "quality": "Quality"}


# ------------------------------------------------------------------ a run, as compared
@dataclass(frozen=True)
class ComparedRun:
    """What the Compare page shows of one run folder: plain values, read once."""

    run_id: str
    settings: dict[str, Any]  # config.json as written, keys this version does not know included
    records: tuple[dict[str, Any], ...]  # metrics.jsonl, less its "event" records
    grids: tuple[tuple[int, Path], ...]  # (step, PNG) of every saved sample grid, oldest first
    problem: str | None = None  # why config.json could not be read, if it could not
    events: tuple[dict[str, Any], ...] = ()  # settings changed mid-run: {"step", "event", "changes", ...}
    parent: dict[str, Any] | None = None  # a branch's origin: {"run", "step"}

    @property
    def loss(self) -> str:
        loss = self.settings.get("loss", DEFAULT_LOSS)  # runs from before loss families trained with BCE
        return loss if isinstance(loss, str) else DEFAULT_LOSS

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of every record that measured `key`, thinned to at most MAX_POINTS (the last kept)."""
        pairs = [(r["step"], r[key]) for r in self.records if _is_number(r.get("step")) and _is_number(r.get(key))]
        if len(pairs) > MAX_POINTS:
            stride = math.ceil(len(pairs) / MAX_POINTS)
            pairs = pairs[::stride] + ([pairs[-1]] if (len(pairs) - 1) % stride else [])
        steps = np.array([p[0] for p in pairs], dtype=float)
        values = np.array([p[1] for p in pairs], dtype=float)
        return steps, values


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_run(run: RunDir) -> ComparedRun:
    """The run folder's settings, measurements and grids; never raises for what a folder holds."""
    problem = None
    try:
        settings = json.loads(run.config_path.read_text())
        if not isinstance(settings, dict):
            settings, problem = {}, "its config.json holds no settings"
    except (OSError, ValueError) as e:
        settings, problem = {}, f"its config.json cannot be read ({e})"
    records = [r for r in run.read_metrics() if isinstance(r, dict)]
    measured = tuple(r for r in records if "event" not in r)
    events = tuple(r for r in records if "event" in r and _is_number(r.get("step")))
    return ComparedRun(run.run_id, settings, measured, tuple(run.samples()), problem, events, run.read_parent())


def colours(runs: Sequence[ComparedRun]) -> dict[str, tuple[str, str]]:
    """run id -> (plotly colour, markdown colour name), in the order of `runs`."""
    return {run.run_id: PALETTE[i % len(PALETTE)] for i, run in enumerate(runs)}


def colour_key(run_id: str, colour: tuple[str, str]) -> str:
    """Markdown: the run's id after a square of its colour."""
    return f":{colour[1]}[■] **{run_id}**"


# ------------------------------------------------------------------ curves
@dataclass(frozen=True)
class Curve:
    """One metric's figure: a trace per run that reports it, and the runs that do not."""

    key: str
    section: str  # a key of SECTIONS
    title: str
    figure: go.Figure
    reported_by: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def shared(self) -> bool:
        return not self.missing


def metric_keys(runs: Sequence[ComparedRun]) -> list[str]:
    """The metrics worth a curve, in the Train page's order: the losses, each run's loss family's
    metrics (families in the order of the runs), then the quality figures."""
    keys = list(LOSS_METRICS)
    for run in runs:
        family = LOSSES.get(run.loss)
        keys.extend(family.metric_names if family is not None else ())
    keys.extend(QUALITY)
    return list(dict.fromkeys(keys))


def describe(key: str, runs: Sequence[ComparedRun]) -> tuple[str, str, str, tuple[float, float] | None]:
    """(section, title, y title, y range) of `key`'s figure, from the first run whose family charts it."""
    if key in QUALITY:
        return ("quality", *QUALITY[key])
    section = "losses" if key in LOSS_METRICS else "discriminator"
    for run in runs:
        family = LOSSES.get(run.loss)
        for chart in family.charts if family is not None else ():
            if key in chart.keys:
                title = chart.title if len(chart.keys) == 1 else f"{chart.title}: {LABELS.get(key, key)}"
                return section, title, chart.y_title, chart.y_range
    return section, LABELS.get(key, key), "value", None


def curves(runs: Sequence[ComparedRun]) -> list[Curve]:
    """A figure per metric that at least one run reports, one trace per run in its colour, on shared
    x axes (step 0 to the last step any run measured)."""
    palette = colours(runs)
    series = {key: {run.run_id: run.series(key) for run in runs} for key in metric_keys(runs)}
    ends = [steps[-1] for by_run in series.values() for steps, _ in by_run.values() if len(steps)]
    x_max = max(ends, default=0.0)
    out = []
    for key, by_run in series.items():
        reported = tuple(run_id for run_id, (steps, _) in by_run.items() if len(steps))
        if not reported:
            continue
        section, title, y_title, y_range = describe(key, runs)
        markers = section == "quality"  # one point every quality_every steps: the markers show where
        traces = [
            go.Scatter(
                x=by_run[run_id][0],
                y=by_run[run_id][1],
                name=run_id,
                mode="lines+markers" if markers else "lines",
                line={"width": 2.5, "color": palette[run_id][0]},
                marker={"size": 7},
                hovertemplate="%{y:.3g}",
            )
            for run_id in reported
        ]
        layout = _layout(title, key, y_title, y_range, x_max)
        for run in runs:
            add_markers(layout, run.events, palette[run.run_id][0])
        figure = go.Figure(data=traces, layout=layout)
        missing = tuple(run.run_id for run in runs if run.run_id not in reported)
        out.append(Curve(key, section, title, figure, reported, missing))
    return out


def _layout(title: str, key: str, y_title: str, y_range, x_max: float) -> dict:
    """The Train page's chart look (app/charts.py), without a legend: the page shows one colour key for all."""
    return {
        "title": {"text": title, "x": 0, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 18}},
        "uirevision": f"compare-{key}",
        "height": CHART_HEIGHT,
        "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
        "font": {"size": 14},
        "showlegend": False,
        "hovermode": "x unified",
        "xaxis": {"title": {"text": "step"}, "range": [0, x_max * 1.02 or 1]},
        "yaxis": {"title": {"text": y_title}, "range": list(y_range) if y_range else None},
    }


# ------------------------------------------------------------------ sample grids at one step
def grid_steps(runs: Sequence[ComparedRun]) -> list[int]:
    """Every step at which some run saved a grid, in order: the step slider's stops."""
    return sorted({step for run in runs for step, _ in run.grids})


def common_step(runs: Sequence[ComparedRun]) -> int | None:
    """The last step every run with grids has reached: where the slider starts."""
    last = [run.grids[-1][0] for run in runs if run.grids]
    return min(last) if last else None


def nearest_grid(grids: Sequence[tuple[int, Path]], step: int) -> tuple[int, Path] | None:
    """The saved grid nearest to `step` (the earlier one of two as near), or None if there is none."""
    return min(grids, key=lambda grid: (abs(grid[0] - step), grid[0]), default=None)


def read_grid(path: Path) -> np.ndarray | None:
    """A saved grid as a uint8 picture, or None when it cannot be read (being written, or removed)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(path.read_bytes())) as image:  # a bucket's too
            return np.asarray(image)
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ settings
def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value, sort_keys=True)


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Settings as shown, one row each; a nested object (a branch's parent, say) as parent.run, parent.step."""
    out = {}
    for name, value in settings.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = _shown(value)
    return out


BRANCHED_FROM = "branched from"  # the row of a branch's origin, after the settings


def settings_table(runs: Sequence[ComparedRun]) -> pd.DataFrame:
    """One row per setting (in config.json's order, then keys only some runs have), one column per run,
    and "differs": whether the runs' values are not all the same (a setting a run lacks shows as ABSENT).
    When a run is a branch, a last row says of which run, at which step."""
    flat = {run.run_id: _flat(run.settings) for run in runs}
    if any(run.parent for run in runs):
        for run in runs:
            if run.parent:
                flat[run.run_id][BRANCHED_FROM] = f"{run.parent['run']} at step {run.parent['step']:,}"
    names = list(dict.fromkeys(name for values in flat.values() for name in values))
    names = [n for n in names if n != BRANCHED_FROM] + [n for n in names if n == BRANCHED_FROM]
    table = pd.DataFrame(
        {run_id: [values.get(name, ABSENT) for name in names] for run_id, values in flat.items()},
        index=pd.Index(names, name="setting"),
    )
    table.insert(0, "differs", table.nunique(axis=1) > 1)
    return table


HIGHLIGHT = "background-color: rgba(255, 164, 33, 0.25)"  # Streamlit's orange, faint: a row that differs


def styled_settings(table: pd.DataFrame):
    """The table with every row that differs highlighted."""
    return table.style.apply(lambda row: [HIGHLIGHT if row["differs"] else ""] * len(row), axis=1)
