"""The Train page's live view of a run, built once per new snapshot and shared by every viewer.

A room watching one run (a demo on a projector, twenty laptops following it) asks the server for
the same picture twenty times a second. Each viewer's rerun used to take its own snapshot, build its
own plotly figures and encode its own PNG; at twenty viewers that took more CPU than training had
(README, Known problems). Here a `Frame` (the snapshot, its charts, its grid as PNG) is built by
whichever viewer first finds the last one too old, at most every `FRAME_AGE` seconds, and each part
only when its data changed; every other viewer draws the same frame. What is left per viewer is
Streamlit turning the frame into messages.

The server's page-script threads also run at a lower CPU priority than training (`yield_to_training`):
on a machine that trains and serves at once, the viewers wait a little rather than the run.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import charts, livechart, memory
from app.common import enlarged_png, format_duration
from gan_core.engine import ACTIVE, Snapshot, Status, TrainingRun

FRAME_AGE = 0.5  # seconds a frame is served as it is, however many viewers ask
# Seconds between rebuilds of the charts while a run trains (a change of status or of settings rebuilds
# them at once). Under 1 s, so that a viewer refreshing once a second sees new points every second:
# at 1.5 s they came every other refresh, every 2.0-2.1 s in chromium, at the edge of the 2-s bound.
# Each rebuild costs the server one set of figures for all viewers, and the browser a redraw of its
# canvases, a millisecond each (d/d0 0.94 either way; README, "A live view that costs little").
CHART_AGE = 0.9
BUILD_WAIT = 0.5  # seconds a viewer waits for the frame another viewer is building, before drawing the last one
CHART_POINTS = 400  # points per line on a live chart: more than a 600-pixel chart can show apart
GRID_SCALE = 3  # 28-pixel digits x3: readable from the back of a room
QUALITY_POLL_SECONDS = 5.0  # quality figures come every quality_every steps: tens of seconds
PAUSED_POLL_SECONDS = 2.0  # a paused run changes only when someone resumes or stops it
SCRIPT_NICENESS = 10  # page-script threads vs training (0): on Linux a weight of about 1 to 10


@dataclass(frozen=True)
class Frame:
    """One moment of a run as the Train page draws it; shared by every viewer, so never modified."""

    snap: Snapshot
    charts: Mapping[str, go.Figure]  # training charts by name (the loss family's, then throughput)
    live_charts: bytes  # the same charts for the canvases of app.livechart, encoded once for every viewer
    quality: Mapping[str, go.Figure]  # quality charts by name; empty before the first figures
    live_quality: Mapping[str, bytes]  # each of them for a canvas of app.livechart
    grid_png: bytes | None  # the latest sample grid, enlarged, as PNG
    live_progress: bytes = b""  # progress() for app.livechart's progress element
    made: float = field(default_factory=time.monotonic)


class LiveView:
    """The latest `Frame` of the server's run; `frame(run)` is safe from every session's thread."""

    def __init__(self, frame_age: float | None = None, points: int = CHART_POINTS, chart_age: float | None = None):
        self.frame_age = FRAME_AGE if frame_age is None else frame_age
        self.chart_age = CHART_AGE if chart_age is None else chart_age
        self._charts_made = -math.inf  # when the charts were last built
        self.points = points
        self._build = threading.Lock()
        self._run: TrainingRun | None = None
        self._frame: Frame | None = None
        self._keys: dict[str, object] = {}  # part -> the data key it was last built for

    def frame(self, run: TrainingRun, reference: Callable[[], Mapping] | None = None) -> Frame:
        """The latest frame of `run`: the last one while it is young, else a new one, built by one viewer
        while the others wait for it (at most BUILD_WAIT, then they draw the last one). `reference` gives what
        real digits score, for the quality charts; it is called only once there are figures to draw."""
        current = self._frame if self._run is run else None
        if current is not None and current.snap.status != run.status:
            current = None  # paused, resumed, stopped: every viewer sees it at once, and waits for it
        if current is not None and time.monotonic() - current.made < self.frame_age:
            return current
        # Another viewer is building the next frame: wait for it (a build takes tens of ms) rather than
        # draw the stale one, or viewers that ask together would show the same step twice in a row.
        if not self._build.acquire(timeout=-1 if current is None else BUILD_WAIT):
            return current
        try:
            latest = self._frame if self._run is run else None
            if latest is not None and latest is not current and latest.snap.status == run.status:
                return latest  # built by another viewer while this one waited
            if self._run is not run:
                self._run, self._keys = run, {}
            self._frame = self._next(run.snapshot(), reference)
            return self._frame
        finally:
            self._build.release()

    def _next(self, snap: Snapshot, reference: Callable[[], Mapping] | None) -> Frame:
        """A frame of `snap`, reusing each part of the last frame whose data has not changed."""
        last = self._frame if self._keys else None
        history, quality = snap.history, snap.quality
        part_keys = {
            "charts": (snap.config.loss, _data_key(history), len(snap.events), snap.status),
            "quality": (_data_key(quality), len(snap.events)),
            "grid": snap.grid_step,
        }
        fresh = {part: last is None or self._keys.get(part) != key for part, key in part_keys.items()}
        now = time.monotonic()
        (loss, _, *marks), before = part_keys["charts"], self._keys.get("charts") or (None, None)
        only_new_points = fresh["charts"] and last is not None and (before[0], *before[2:]) == (loss, *marks)
        if only_new_points and now - self._charts_made < self.chart_age:  # they wait for the next redraw
            fresh["charts"] = False
            part_keys["charts"] = before
        if fresh["charts"]:
            self._charts_made = now
        self._keys = part_keys
        figures = (
            freeze(charts.training_charts(thin(history, self.points), snap.charts, snap.events))
            if fresh["charts"]
            else last.charts
        )
        quality_figures = self._quality_charts(quality, reference, snap.events) if fresh["quality"] else last.quality
        return Frame(
            snap=snap,
            charts=figures,
            live_charts=livechart.encode(figures) if fresh["charts"] else last.live_charts,
            quality=quality_figures,
            live_quality=livechart.encode_each(quality_figures) if fresh["quality"] else last.live_quality,
            grid_png=(enlarged_png(snap.grid, GRID_SCALE) if snap.grid is not None else None)
            if fresh["grid"]
            else last.grid_png,
            live_progress=livechart.encode_progress(*progress(snap)),
        )

    @staticmethod
    def _quality_charts(quality: Mapping[str, list], reference: Callable[[], Mapping] | None, events) -> dict:
        if charts.latest(quality, "fd_digits")[0] is None:
            return {}
        return freeze(charts.quality_charts(quality, reference() if reference else None, events))


def drawn_live(snap: Snapshot) -> bool:
    """True while the run trains: its charts and progress figures are drawn in the browser by
    app.livechart's elements; once it is paused or has ended, plotly's charts and st.metric return."""
    return snap.status in (Status.COMPILING, Status.RUNNING)


def progress(snap: Snapshot) -> tuple[float, str, list[tuple[str, str]]]:
    """The progress bar (its fraction and text) and the figures people ask about: step, epoch, speed,
    time left and time spent; a paused or ended run has no current speed nor time left."""
    step, total = snap.step, snap.total_steps
    running = snap.status == Status.RUNNING
    ips = snap.images_per_second
    figures = [
        ("Step", f"{step:,}"),
        ("Epoch", f"{snap.epoch:.2f}"),
        ("Images / s", f"{ips:,.0f}" if ips and running else "–"),
        ("ETA", format_duration(snap.eta_seconds) if running else "–"),
        ("Elapsed", format_duration(snap.elapsed_seconds)),
    ]
    return snap.progress, f"step {step:,} / {total:,}" if total else f"step {step:,}", figures


class FrozenFigure(go.Figure):
    """A figure that every viewer draws and nobody changes. st.plotly_chart calls `to_dict()` on each
    call, and plotly's deep-copies the figure and base64-encodes its arrays (about 1 ms a chart, the
    largest cost left per viewer); a frozen figure makes that dict once."""

    def to_dict(self) -> dict:
        shared = self.__dict__.get("_frozen_dict")
        if shared is None:
            shared = self.__dict__["_frozen_dict"] = super().to_dict()
        return shared


def freeze(figures: Mapping[str, go.Figure]) -> dict[str, go.Figure]:
    """The same figures, frozen: their class is swapped in place, as plotly's copy constructor
    validates everything again (10 ms a chart)."""
    for figure in figures.values():
        figure.__class__ = FrozenFigure
        figure.to_dict()  # now, by the viewer that builds the frame, not by the first to draw it
    return dict(figures)


@st.cache_resource
def live_view() -> LiveView:
    """The server's one LiveView: every session draws the frames it builds."""
    return LiveView()


def _data_key(columns: Mapping[str, list]) -> tuple:
    """What changes when a history gains or changes a record: its length and its latest record
    (the engine changes only the latest record in place; older ones are thinned, never edited)."""
    steps = columns.get("step") or ()
    return len(steps), repr({key: values[-1] for key, values in columns.items() if values})


def thin(columns: Mapping[str, list], points: int) -> dict[str, list]:
    """At most `points` evenly spaced records of a history, the first and the latest always kept."""
    n = len(columns.get("step") or ())
    if n <= points:
        return dict(columns)
    keep = np.unique(np.linspace(0, n - 1, points).round().astype(int))
    return {key: [values[i] for i in keep] if len(values) == n else values for key, values in columns.items()}


@dataclass(frozen=True)
class Polling:
    """Seconds between redraws of each part of the Train page's live view; None: not polled."""

    live: float | None  # progress, grid and charts: the viewer's refresh
    quality: float | None  # the quality panel: its figures come every quality_every steps


def poll_intervals(status: Status, refresh: float | None) -> Polling:
    """How often each part of the live view redraws for a run in `status`, given the viewer's refresh
    choice (None: nothing is polled).

    Everything that changes each second is in one fragment: each fragment run costs the server far
    more than the elements it draws (measured with benchmarks/viewers.py: the grid and charts in a
    fragment of their own every 2 s left training slower at 20 viewers, and two fragments of one
    session that come due together delay each other)."""
    if status not in ACTIVE or refresh is None:
        return Polling(None, None)
    live = max(refresh, PAUSED_POLL_SECONDS) if status == Status.PAUSED else refresh
    return Polling(live, max(live, QUALITY_POLL_SECONDS))


def yield_to_training() -> None:
    """Lower this page-script thread's CPU priority below the training run's (Linux; elsewhere a no-op).

    Streamlit runs each script run in a thread of the server process; where the same cores train,
    twenty viewers' reruns would otherwise take their share from the run. Raising a niceness needs
    no privilege; the threads are short-lived, so each run sets its own."""
    memory.trim()  # every 30 s at most: freed pages back to the system, for a flat server over hours
    with contextlib.suppress(AttributeError, OSError):  # no setpriority, or not allowed
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < SCRIPT_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, SCRIPT_NICENESS)
