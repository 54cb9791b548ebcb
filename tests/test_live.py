"""The live view's shared frames (app.live): built once per new snapshot for every viewer."""

import dataclasses
import os
import threading
import time

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest

from app import live
from app.live import FrozenFigure, LiveView, freeze, poll_intervals, thin
from gan_core.config import TrainConfig
from gan_core.engine import Snapshot, Status, columns


class FakeRun:
    """What LiveView reads of a TrainingRun: its status and its snapshot, counting snapshots."""

    def __init__(self, steps: int = 10):
        records = [{"step": s, "d_loss": 0.5, "g_loss": 1.0, "images_per_second": 900.0} for s in range(steps)]
        grid = np.zeros((28, 28), np.uint8)
        self.snap = Snapshot(
            status=Status.RUNNING,
            config=TrainConfig(preset="tiny"),
            step=steps,
            history=columns(records),
            grids=((steps, grid),),
        )
        self.snapshots = 0

    @property
    def status(self) -> Status:
        return self.snap.status

    def snapshot(self) -> Snapshot:
        self.snapshots += 1
        time.sleep(0.01)  # long enough for concurrent viewers to find a build under way
        return self.snap

    def change(self, **changes) -> None:
        self.snap = dataclasses.replace(self.snap, **changes)


def test_viewers_share_a_frame_while_it_is_young():
    run, view = FakeRun(), LiveView(frame_age=60)
    first = view.frame(run)
    assert view.frame(run) is first and run.snapshots == 1
    assert first.snap is run.snap and set(first.charts) == {"losses", "d_accuracy", "d_outputs", "throughput"}
    assert first.grid_png.startswith(b"\x89PNG")


def frames_of_viewers_at_once(view: LiveView, run: FakeRun, viewers: int = 20) -> list:
    """The frames `viewers` threads get when they ask `view` for one at the same moment."""
    frames, start = [], threading.Barrier(viewers)

    def viewer():
        start.wait()
        frames.append(view.frame(run))

    threads = [threading.Thread(target=viewer) for _ in range(viewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return frames


def test_twenty_viewers_at_once_take_one_snapshot():
    run, view = FakeRun(), LiveView(frame_age=60)
    frames = frames_of_viewers_at_once(view, run)
    assert run.snapshots == 1 and len({id(f) for f in frames}) == 1


def test_viewers_that_ask_together_for_an_old_frame_all_get_the_new_one():
    run, view = FakeRun(), LiveView(frame_age=0.05)
    old = view.frame(run)
    time.sleep(0.06)
    frames = frames_of_viewers_at_once(view, run)
    # One viewer built it while the others waited: nobody was shown the old step again.
    assert run.snapshots == 2 and len({id(f) for f in frames}) == 1 and frames[0] is not old


def test_an_old_frame_is_rebuilt_and_unchanged_parts_are_reused():
    run, view = FakeRun(), LiveView(frame_age=0, chart_age=0)
    first = view.frame(run)
    second = view.frame(run)  # nothing changed but the time
    assert second is not first and run.snapshots == 2
    assert second.charts is first.charts and second.grid_png is first.grid_png and second.quality is first.quality

    records = [{"step": s, "d_loss": 0.4, "g_loss": 1.1, "images_per_second": 950.0} for s in range(11)]
    run.change(history=columns(records), step=11)
    third = view.frame(run)
    assert third.charts is not second.charts and third.grid_png is second.grid_png
    assert list(third.charts["losses"].data[0].x)[-1] == 10

    run.change(grids=((11, np.full((28, 28), 255, np.uint8)),))
    assert view.frame(run).grid_png != third.grid_png


def test_charts_redraw_new_points_at_most_every_chart_age_but_changes_at_once():
    run, view = FakeRun(), LiveView(frame_age=0, chart_age=0.2)
    first = view.frame(run)
    records = [{"step": s, "d_loss": 0.4, "g_loss": 1.1, "images_per_second": 950.0} for s in range(11)]
    run.change(history=columns(records), step=11, grids=((11, np.full((28, 28), 255, np.uint8)),))
    young = view.frame(run)
    assert young.snap.step == 11 and young.grid_png != first.grid_png  # the step and the grid follow at once
    assert young.charts is first.charts  # the new points wait for the next redraw of the charts
    time.sleep(0.2)
    assert list(view.frame(run).charts["losses"].data[0].x)[-1] == 10

    run.change(events=({"step": 11, "event": "steer", "changes": {"g_learning_rate": 1e-4}},))
    marked = view.frame(run)  # a change of settings: every chart shows its marker now
    assert [s.x0 for s in marked.charts["losses"].layout.shapes] == [11]
    run.change(status=Status.PAUSED)
    assert view.frame(run).charts is not marked.charts


def test_a_status_change_is_seen_at_once_by_every_viewer():
    run, view = FakeRun(), LiveView(frame_age=60)
    view.frame(run)
    run.change(status=Status.PAUSED)
    assert view.frame(run).snap.status == Status.PAUSED
    other = FakeRun()  # a new run: its own frames
    assert view.frame(other).snap is other.snap


def test_quality_charts_appear_with_the_first_figures_and_ask_for_the_reference_once():
    run, view = FakeRun(), LiveView(frame_age=0)
    asked = []

    def reference():
        asked.append(1)
        return {"fd_digits": 1.0, "classifier_score": 9.5}

    assert view.frame(run, reference).quality == {} and not asked
    quality = columns([{"step": 100, "fd_digits": 30.0, "classifier_score": 7.0, "class_histogram": [0.1] * 10}])
    run.change(quality=quality)
    charts = view.frame(run, reference).quality
    assert set(charts) == {"fd_digits", "classifier_score", "class_histogram"} and len(asked) == 1
    assert view.frame(run, reference).quality is charts and len(asked) == 1


def test_thin_keeps_the_first_and_latest_records_evenly():
    history = {"step": list(range(1000)), "d_loss": [float(i) for i in range(1000)]}
    thinned = thin(history, 100)
    assert len(thinned["step"]) == 100 and thinned["step"][0] == 0 and thinned["step"][-1] == 999
    assert thinned["d_loss"] == [float(s) for s in thinned["step"]]
    assert np.ptp(np.diff(thinned["step"])) <= 1  # evenly spaced
    assert thin(history, 2000) == history


def test_a_frozen_figure_makes_its_dict_once_and_the_same_as_plotly():
    def figure():
        return go.Figure(data=[go.Scatter(x=np.arange(3.0), y=[3, 1, 2])], layout={"title": {"text": "t"}})

    (frozen,) = freeze({"t": figure()}).values()
    assert isinstance(frozen, FrozenFigure) and frozen.to_dict() is frozen.to_dict()
    # What st.plotly_chart sends of it: the same as of the figure unfrozen.
    assert plotly.io.to_json(frozen, validate=False) == plotly.io.to_json(figure(), validate=False)


def test_poll_intervals_follow_the_status_and_the_viewers_choice():
    q, paused = live.QUALITY_POLL_SECONDS, live.PAUSED_POLL_SECONDS
    assert poll_intervals(Status.RUNNING, 1.0) == live.Polling(1.0, q)
    assert poll_intervals(Status.RUNNING, 15.0) == live.Polling(15.0, 15.0)
    assert poll_intervals(Status.PAUSED, 1.0) == live.Polling(paused, q)
    assert poll_intervals(Status.PAUSED, None) == live.Polling(None, None)  # every choice unselected
    for ended in (Status.FINISHED, Status.STOPPED, Status.FAILED, Status.DIVERGED):
        assert poll_intervals(ended, 1.0) == live.Polling(None, None)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities are a Linux feature")
def test_page_threads_yield_the_cpu_to_training():
    niceness = {}

    def page_thread():
        live.yield_to_training()
        niceness["page"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=page_thread)
    thread.start()
    thread.join()
    assert niceness["page"] >= live.SCRIPT_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < live.SCRIPT_NICENESS  # only that thread
