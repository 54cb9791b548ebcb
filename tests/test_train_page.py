"""AppTest of the Train page through the app's entry point (dashboard.py with st.navigation)."""

import base64
import dataclasses
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

import app.live
import gan_core.data
from app import livechart
from app.common import get_registry
from app.live import PAUSED_POLL_SECONDS, QUALITY_POLL_SECONDS
from gan_core.config import TrainConfig, knobs
from gan_core.engine import Status, TrainingRun, columns
from gan_core.losses import LOSSES
from gan_core.registry import RunRegistry
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(300)

APP = str(Path(__file__).resolve().parents[1] / "dashboard.py")
TIMEOUT = 90  # the first run of a session imports TensorFlow
# Every TrainConfig knob has a widget labelled with its name; npz_path comes from the uploader.
FORM_KNOBS = [f.name for f in knobs() if f.name != "npz_path"]
OPTIMISER_KNOBS = (
    "batch_size",
    "g_learning_rate",
    "d_learning_rate",
    "beta_1",
    "beta_2",
    "d_updates",
)  # keyed by preset and loss


@pytest.fixture
def runs(monkeypatch, tmp_path):
    """A fresh registry (st.cache_resource outlives AppTest instances) writing under tmp_path.
    Every rerun draws a new frame: sharing frames between viewers has its own tests (test_live.py)."""
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path))
    monkeypatch.setattr(app.live, "FRAME_AGE", 0.0)
    monkeypatch.setattr(app.live, "CHART_AGE", 0.0)
    st.cache_resource.clear()
    yield tmp_path
    run = get_registry().current()
    if run is not None and run.active:
        run.stop()
        run.wait(60)
    st.cache_resource.clear()


def open_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def texts(at) -> str:
    """Everything the page says in markdown, captions, subheaders and alerts, as one string."""
    parts = []
    for kind in ("markdown", "caption", "subheader", "success", "info", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def labels(widgets) -> list[str]:
    return [w.label for w in widgets]


def plotly_array(value) -> np.ndarray:
    """A trace's x or y from a figure spec: plotly 6 sends numpy data as base64 typed arrays."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def fill_tiny(at: AppTest, steps: int = 200, loss: str = "bce") -> None:
    """Choose the tiny preset and `loss` (a rerun shows their learning rates), then small, fast settings."""
    at.selectbox(key="knob-preset").set_value("tiny").run()
    at.selectbox(key="knob-loss").set_value(loss).run()
    settings = {
        "batch_size": 16,
        "steps": steps,
        "sample_every": min(20, steps),
        "metrics_every": min(10, steps),
        "checkpoint_every": 100,
        "grid_size": 16,
    }
    for name, value in settings.items():
        key = f"knob-{name}-tiny-{loss}" if name in OPTIMISER_KNOBS else f"knob-{name}"  # keyed by preset and loss
        at.number_input(key=key).set_value(value)
    at.selectbox(key="knob-jit_compile").set_value(False)  # XLA compile time is not what is tested here


def start_button(at: AppTest):
    return at.form_submit_button(key="FormSubmitter:settings-Start training")


def submit(at: AppTest) -> AppTest:
    start_button(at).click().run()
    assert not at.exception, at.exception
    return at


def test_first_load_offers_the_demo_and_the_settings(runs):
    at = open_app()
    assert at.title[0].value == "Train"
    assert "Start a demo run" in labels(at.button)
    assert "Start training" in labels(at.form_submit_button)
    assert not start_button(at).disabled
    # (AppTest drops the sidebar of an st.navigation app on reruns, so it is checked on first loads.)
    assert "No run yet" in "\n".join(c.value for c in at.sidebar.caption)
    # Labelled with the names used by the CLI and the error messages.
    shown = set(labels(at.number_input)) | set(labels(at.selectbox)) | set(labels(at.checkbox))
    assert set(FORM_KNOBS) <= shown, set(FORM_KNOBS) - shown
    # The learning rates and batch size show the preset's values (the default loss, BCE, has none of its own).
    assert at.selectbox(key="knob-loss").value == "bce"
    assert at.number_input(key="knob-g_learning_rate-dense-bn-aug-bce").value == pytest.approx(8e-4)
    assert at.number_input(key="knob-batch_size-dense-bn-aug-bce").value == 256
    at.selectbox(key="knob-preset").set_value("dcgan").run()
    assert at.number_input(key="knob-g_learning_rate-dcgan-bce").value == pytest.approx(1e-4)
    assert at.number_input(key="knob-beta_1-dcgan-bce").value == pytest.approx(0.9)
    assert "DCGAN" in texts(at)  # the chosen preset's description
    assert LOSSES["bce"].description in texts(at)
    # The main knobs, not hidden under Advanced.
    assert at.checkbox(key="knob-conditional").value is False
    assert at.number_input(key="knob-ema").value == pytest.approx(0.999)
    assert get_registry().current() is None


def test_choosing_a_loss_family_shows_its_defaults_and_saves_them_unset(runs, monkeypatch):
    started = []  # the configs the form hands to the registry; nothing trains
    monkeypatch.setattr(RunRegistry, "start", lambda self, config, runs_dir="runs": started.append(config))
    at = open_app()
    at.selectbox(key="knob-loss").set_value("wgan-gp").run()
    assert not at.exception, at.exception
    assert LOSSES["wgan-gp"].description in texts(at)
    shown = {name: at.number_input(key=f"knob-{name}-dense-bn-aug-wgan-gp").value for name in OPTIMISER_KNOBS}
    assert shown == pytest.approx(
        {
            "batch_size": 256,
            "g_learning_rate": 1e-4,
            "d_learning_rate": 1e-4,
            "beta_1": 0.0,
            "beta_2": 0.9,
            "d_updates": 5,
        }
    )
    # Another preset with the same loss: the loss family's optimiser still wins over the preset's.
    at.selectbox(key="knob-preset").set_value("dcgan").run()
    assert at.number_input(key="knob-g_learning_rate-dcgan-wgan-gp").value == pytest.approx(1e-4)
    assert at.number_input(key="knob-beta_1-dcgan-wgan-gp").value == pytest.approx(0.0)

    at.number_input(key="knob-d_learning_rate-dcgan-wgan-gp").set_value(3e-4)
    at.checkbox(key="knob-conditional").check()
    at.number_input(key="knob-ema").set_value(0.0)
    submit(at)
    (config,) = started
    assert (config.preset, config.loss, config.conditional, config.ema) == ("dcgan", "wgan-gp", True, 0.0)
    # Left at the family's values: unset in the saved config, the family's once resolved.
    assert (config.g_learning_rate, config.beta_1, config.beta_2, config.d_updates) == (None, None, None, None)
    assert config.d_learning_rate == pytest.approx(3e-4)
    resolved = config.resolved()
    assert (resolved.g_learning_rate, resolved.beta_2, resolved.d_updates) == (1e-4, 0.9, 5)


def test_demo_button_starts_the_default_run(runs, starts_paused):
    at = open_app()
    at.button(key="demo").click().run()
    assert not at.exception, at.exception
    run = get_registry().current()
    assert run is not None and run.active
    # The engine fills in precision and XLA for this machine when it builds the networks.
    shown = dataclasses.replace(run.snapshot().config, precision=None, jit_compile=None)
    assert shown == TrainConfig().resolved()
    assert "demo" not in [b.key for b in at.button]  # the first screen is gone
    assert start_button(at).disabled


def test_two_sessions_pressing_start_together_start_one_run_and_both_see_it(runs, starts_paused):
    first, second = open_app(), open_app()  # both show the first screen with its demo button
    first.button(key="demo").click().run()
    run = get_registry().current()
    second.button(key="demo").click().run()  # pressed a moment later, before its page knew of the run
    assert not first.exception and not second.exception, (first.exception, second.exception)
    assert get_registry().current() is run, "the second press started nothing"
    said = texts(second)
    assert "A run is active: stop it to start another." in said, said  # it sees the run instead
    started = run.snapshot().started_at
    assert started is not None and f"Started at {time.strftime('%H:%M:%S', time.localtime(started))}" in said


def test_closing_the_tab_leaves_the_run_training_and_reopening_shows_it(runs):
    at = open_app()
    fill_tiny(at, steps=100_000)
    submit(at)
    run = get_registry().current()
    wait_for(lambda: run.snapshot().step > 0)
    del at  # the tab is closed: its session goes, the server's run does not
    step = run.snapshot().step
    wait_for(lambda: run.snapshot().step > step)
    assert run.active
    reopened = open_app()
    assert run.snapshot().run_id in texts(reopened) and reopened.button(key="stop")

    # While it trains, the progress bar and the figures under it are one element whose texts change
    # (app.livechart), not five st.metric a browser restyles every second; they come back once it ends.
    (progress,) = _live(reopened, livechart.PROGRESS_NAME)
    figures = dict(progress["figures"])
    assert list(figures) == ["Step", "Epoch", "Images / s", "ETA", "Elapsed"] and not reopened.metric
    shown = int(figures["Step"].replace(",", ""))
    assert step < shown <= run.snapshot().step and progress["text"] == f"step {shown:,} / 100,000"
    assert progress["fraction"] == pytest.approx(shown / 100_000)
    run.stop()
    run.wait(60)
    reopened.run()
    assert not _live(reopened, livechart.PROGRESS_NAME)
    assert {m.label: m.value for m in reopened.metric}["Step"] == f"{run.snapshot().step:,}"


def test_a_tiny_run_from_the_form_shows_its_charts_and_samples(runs):
    at = open_app()
    fill_tiny(at)
    submit(at)
    run = get_registry().current()
    assert run is not None, "\n".join(e.value for e in at.error)
    assert run.config.preset == "tiny" and run.config.steps == 200 and run.config.batch_size == 16
    assert run.config.g_learning_rate == 2e-4  # left at the preset's value

    assert run.wait(120) == Status.FINISHED, run.snapshot().error
    at.run()
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert [c.key for c in charts] == ["chart-losses", "chart-d_accuracy", "chart-d_outputs", "chart-throughput"]
    assert [chart_title(c) for c in charts] == [c.title for c in LOSSES["bce"].charts] + ["Throughput"]
    losses = json.loads(charts[0].proto.spec)
    assert [t["name"] for t in losses["data"]] == ["D loss", "G loss"]
    history = run.snapshot().history
    assert list(plotly_array(losses["data"][0]["x"])) == history["step"] and len(history["step"]) > 5
    assert list(plotly_array(losses["data"][1]["y"])) == pytest.approx(history["g_loss"])
    assert len(at.image) == 1  # the sample grid
    timeline = at.select_slider[0]
    assert timeline.label == "Timeline" and timeline.value == 200 and "step 0" in timeline.options
    assert labels(at.get("download_button")) == ["Grid as PNG", "Progress as GIF"]
    assert "Finished" in texts(at) and "finished" in texts(at)
    assert at.get("progress")[-1].proto.value == 100
    assert "Start training" in labels(at.form_submit_button) and not start_button(at).disabled

    # Scrubbing back shows an older grid.
    timeline.set_value(0).run()
    assert "at step 0 of 200" in at.image[0].captions[0]


def run_from_the_form(at: AppTest) -> TrainingRun:
    """Submit the form, wait for the run it starts to finish, and redraw the page."""
    submit(at)
    run = get_registry().current()
    assert run is not None, "\n".join(e.value for e in at.error)
    assert run.wait(120) == Status.FINISHED, run.snapshot().error
    at.run()
    assert not at.exception, at.exception
    return run


def test_a_wgan_gp_run_shows_the_critic_charts_and_no_d_accuracy(runs):
    at = open_app()
    fill_tiny(at, steps=20, loss="wgan-gp")
    run = run_from_the_form(at)
    assert run.config.loss == "wgan-gp" and run.config.d_updates == 5  # the family's default

    shown = at.get("plotly_chart")
    titles = [chart_title(c) for c in shown]
    assert titles == [c.title for c in LOSSES["wgan-gp"].charts] + ["Throughput"]
    assert "D accuracy" not in titles
    critic = json.loads(shown[titles.index("Critic scores")].proto.spec)
    assert [t["name"] for t in critic["data"]] == ["critic(x), real", "critic(G(z)), fake"]
    history = run.snapshot().history
    assert list(plotly_array(critic["data"][0]["y"])) == pytest.approx(history["critic_real"])
    assert np.isfinite(history["wasserstein"]).all()
    assert "loss wgan-gp" in texts(at) and "d_updates 5" in texts(at)


def test_a_conditional_run_shows_one_row_of_samples_per_class(runs, media):
    at = open_app()
    fill_tiny(at, steps=20)
    at.number_input(key="knob-grid_size").set_value(20)  # two noise vectors for each of the ten classes
    at.checkbox(key="knob-conditional").check()
    run = run_from_the_form(at)
    snap = run.snapshot()
    assert run.config.conditional and snap.num_classes == 10
    assert "conditional on 10 classes" in texts(at)

    (image,) = at.image
    assert image.captions[0].endswith("rows are classes 0..9, columns noise vectors")
    picture = np.asarray(Image.open(io.BytesIO(media(image.value[0]))))
    assert picture.shape[:2] == tuple(3 * n for n in snap.grid.shape[:2])  # the grid, enlarged 3x
    rows, cols = (round(side / 3 / 30) for side in picture.shape[:2])  # 28-pixel digits, 2 pixels apart
    assert (rows, cols) == (10, 2)


def open_with_paused_run(steps: int = 60) -> tuple[AppTest, TrainingRun]:
    """The app with a tiny run started from the form (with `starts_paused`: paused before its first step)."""
    at = open_app()
    fill_tiny(at, steps=steps)
    submit(at)
    run = get_registry().current()
    wait_for(lambda: run.status == Status.PAUSED)
    at.run()
    return at, run


def test_each_viewer_chooses_how_often_the_live_view_redraws(runs, starts_paused, fragment_intervals):
    intervals = fragment_intervals  # fragment name -> its run_every, as the page last defined it
    at, run = open_with_paused_run()
    refresh = at.segmented_control(key="refresh")
    assert refresh.label == "Live view" and refresh.value == "every second"
    # Paused: polled slowly, so that viewers still see it resume.
    assert intervals["live"] == PAUSED_POLL_SECONDS and intervals["quality"] == QUALITY_POLL_SECONDS
    refresh.set_value("every 15 s").run()
    assert not at.exception, at.exception
    assert intervals["live"] == intervals["quality"] == 15.0
    # Another viewer keeps the default.
    other = open_app()
    assert other.segmented_control(key="refresh").value == "every second"
    assert intervals["live"] == PAUSED_POLL_SECONDS

    run.stop(timeout=10)
    at.run()
    assert not at.segmented_control, "an ended run has nothing to refresh"
    assert intervals["live"] is None and intervals["quality"] is None


def test_pause_stop_and_continue_from_the_page(runs, starts_paused):
    at, run = open_with_paused_run()
    assert "Paused at step 0" in texts(at)
    assert {"Resume", "Stop"} <= set(labels(at.button)) and "Pause" not in labels(at.button)
    assert start_button(at).disabled

    # Another browser sees the same run: that it is active, since when, with which settings.
    other = open_app()
    shown = texts(other)
    assert run.snapshot().run_id in shown and "Started at" in shown and "**tiny** on **mnist-sample**" in shown
    assert "loss bce · unconditional · ema 0.999" in shown
    assert start_button(other).disabled
    assert "Paused at step 0" in shown
    assert not other.sidebar.markdown, "the Train page shows the active run itself, not a second glance"

    at.button(key="stop").click().run()
    assert not at.exception, at.exception
    assert run.status == Status.STOPPED
    assert "Stopped at step 0" in texts(at)
    assert "Continue training" in labels(at.button) and "Stop" not in labels(at.button)

    at.button(key="continue").click().run()  # continues from the step-0 checkpoint, in the same folder
    continued = get_registry().current()
    assert continued is not run and continued.snapshot().run_dir == run.snapshot().run_dir
    wait_for(lambda: continued.status == Status.PAUSED)
    at.run()
    at.button(key="resume").click().run()
    assert continued.wait(120) == Status.FINISHED, continued.snapshot().error
    at.run()
    assert "Finished" in texts(at) and continued.snapshot().step == 60


@pytest.mark.parametrize(
    "upload, message",
    [
        (None, "dataset 'npz' needs npz_path"),
        (("broken.npz", b"these bytes are not a zip file"), "is not a valid .npz file"),
        (("few.npz", "eight images"), "holds 8; lower batch_size"),
        (("unlabelled.npz", "conditional on unlabelled images"), "conditional training needs class labels"),
    ],
)
def test_invalid_settings_show_why_and_start_nothing(runs, upload, message):
    at = open_app()
    at.selectbox(key="knob-dataset").set_value("npz").run()
    if upload is not None:
        name, content = upload
        if content == "eight images":
            content = npz_bytes(np.zeros((8, 28, 28), "uint8"))
        elif content == "conditional on unlabelled images":
            content = npz_bytes(np.zeros((100, 28, 28), "uint8"))
        at.file_uploader(key="npz-upload").set_value((name, content, "application/octet-stream")).run()
        assert (runs / "uploads" / name).exists()
        if name == "unlabelled.npz":
            at.checkbox(key="knob-conditional").check()  # form widgets: set just before the submit
    submit(at)
    errors = [e.value for e in at.error]
    assert any("Nothing was started" in e and message in e for e in errors), errors
    assert get_registry().current() is None
    assert sorted(p.name for p in runs.iterdir()) in ([], ["uploads"])  # no run folder


def npz_bytes(images: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, images=images)
    return buffer.getvalue()


def start_failing_run(runs, monkeypatch) -> tuple[AppTest, TrainingRun]:
    """A run on full MNIST with no network and no cache: it fails at once, so an ended run costs no training."""
    monkeypatch.setenv("KERAS_HOME", str(runs / "keras_home"))
    monkeypatch.setattr(gan_core.data, "_can_reach", lambda host, port, timeout: "network disabled in tests")
    at = open_app()
    fill_tiny(at)
    at.selectbox(key="knob-dataset").set_value("mnist").run()
    submit(at)
    run = get_registry().current()
    assert run.wait(60) == Status.FAILED
    return at, run


def test_a_failed_run_shows_its_error_and_traceback(runs, monkeypatch):
    at, _run = start_failing_run(runs, monkeypatch)
    at.run()
    assert not at.exception, at.exception
    error = "\n".join(e.value for e in at.error)
    assert "Failed" in error and "DatasetError" in error and "mnist-sample" in error
    assert "Traceback" in [e.label for e in at.expander]
    assert "Traceback (most recent call last)" in at.code[0].value
    # A new visitor's sidebar glances at the ended run (checked on a first load, see above).
    other = open_app()
    assert "**Last run**" in other.sidebar.markdown[0].value and "failed" in other.sidebar.markdown[0].value
    assert [c.value for c in other.sidebar.caption] == ["tiny · bce · mnist"]


def test_script_runs_leave_keras_state_alone(runs):
    """Streamlit resets Keras after each script run; a run building its networks then fails."""
    from keras.src.backend.common import global_state

    at = open_app()
    before = global_state.GLOBAL_STATE_TRACKER
    at.run()
    at.selectbox(key="knob-preset").set_value("tiny").run()
    assert global_state.GLOBAL_STATE_TRACKER is before


def test_health_alerts_are_shown_with_their_remedy(runs, monkeypatch):
    at, run = start_failing_run(runs, monkeypatch)
    alert = {"kind": "d_wins", "severity": "warning", "step": 1500, "message": "D wins.", "remedy": "Lower d_lr."}
    fake_snapshot(monkeypatch, run, alerts=(alert,))
    at.run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == ["**d_wins** at step 1,500: D wins. Lower d_lr."]


# ------------------------------------------------------------------ quality panel
FAKE_REFERENCE = {"fd_digits": 0.9, "classifier_score": 9.5, "classes_covered": 10, "class_kl": 0.01}


def quality_columns(digits: bool = True, conditional: bool = False) -> dict:
    """Two quality records as the engine's History keeps them; the second has lost digit 7. A
    conditional run's records also say how often a digit was drawn as the class asked for."""
    records = [
        {"step": 1000, "duplicate_fraction": 0.0},
        {"step": 2000, "duplicate_fraction": 0.02},
    ]
    if digits:
        uniform, lost_7 = [0.1] * 10, [0.11] * 7 + [0.01] + [0.11, 0.12]
        records[0].update(fd_digits=30.0, classifier_score=4.0, classes_covered=10, class_histogram=uniform)
        records[1].update(fd_digits=12.5, classifier_score=6.5, classes_covered=9, class_histogram=lost_7)
        if conditional:
            records[0]["class_accuracy"], records[1]["class_accuracy"] = 0.3, 0.75
    return columns(records)


def fake_snapshot(monkeypatch, run, **changes) -> dict:
    """run.snapshot() with `changes` (Snapshot fields: a renamed field fails here), which the test
    may update between reruns."""
    snapshot = run.snapshot
    monkeypatch.setattr(run, "snapshot", lambda: dataclasses.replace(snapshot(), **changes))
    return changes


def spec(at, key) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.key == key]
    return json.loads(chart.proto.spec)


def chart_title(chart) -> str:
    return json.loads(chart.proto.spec)["layout"]["title"]["text"]


def test_quality_panel_shows_figures_against_real_digits(runs, monkeypatch):
    from gan_core import quality

    monkeypatch.setattr(quality, "real_reference", lambda: FAKE_REFERENCE)
    at, run = start_failing_run(runs, monkeypatch)
    error = {"kind": "collapse", "severity": "error", "step": 2000, "message": "7 vanished.", "remedy": "Try hinge."}
    warning = {"kind": "d_wins", "severity": "warning", "step": 1500, "message": "D wins.", "remedy": "Lower d_lr."}
    fake_snapshot(
        monkeypatch, run, quality_applies=True, quality_note="", quality=quality_columns(), alerts=(error, warning)
    )
    at.run()
    assert not at.exception, at.exception
    assert "Quality" in [s.value for s in at.subheader]
    keys = [c.key for c in at.get("plotly_chart")]
    assert keys[-3:] == ["chart-fd_digits", "chart-classifier_score", "chart-class_histogram"]
    for key, metric in (("chart-fd_digits", "fd_digits"), ("chart-classifier_score", "classifier_score")):
        figure = spec(at, key)
        (trace,) = figure["data"]
        assert list(plotly_array(trace["x"])) == [1000, 2000]
        assert list(plotly_array(trace["y"])) == quality_columns()[metric]
        (line,) = figure["layout"]["shapes"]
        assert line["y0"] == line["y1"] == FAKE_REFERENCE[metric] and line["line"]["dash"] == "dash"
    histogram = spec(at, "chart-class_histogram")
    assert list(plotly_array(histogram["data"][0]["y"])) == pytest.approx(quality_columns()["class_histogram"][-1])
    assert histogram["layout"]["shapes"][0]["y0"] == 0.1
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Classes covered"] == "9/10" and metrics["Near duplicates"] == "2%"
    # Alerts are banners with their remedy, by severity.
    assert "**collapse** at step 2,000: 7 vanished. Try hinge." in [e.value for e in at.error]
    assert [w.value for w in at.warning] == ["**d_wins** at step 1,500: D wins. Lower d_lr."]


def test_quality_panel_of_a_conditional_run_shows_its_class_accuracy(runs, monkeypatch):
    from gan_core import quality

    monkeypatch.setattr(quality, "real_reference", lambda: FAKE_REFERENCE)
    at, run = start_failing_run(runs, monkeypatch)
    changes = fake_snapshot(monkeypatch, run, quality_applies=True, quality_note="", quality=quality_columns())
    at.run()
    assert "chart-class_accuracy" not in [c.key for c in at.get("plotly_chart")]
    assert "Class accuracy" not in [m.label for m in at.metric]

    changes.update(quality=quality_columns(conditional=True), num_classes=10)
    at.run()
    assert not at.exception, at.exception
    keys = [c.key for c in at.get("plotly_chart")]
    assert keys[-4:] == ["chart-fd_digits", "chart-classifier_score", "chart-class_histogram", "chart-class_accuracy"]
    (trace,) = spec(at, "chart-class_accuracy")["data"]
    assert list(plotly_array(trace["y"])) == [0.3, 0.75]
    assert {m.label: m.value for m in at.metric}["Class accuracy"] == "75%"


def test_quality_panel_says_why_not_for_other_images(runs, monkeypatch):
    from gan_core import quality

    def no_reference():
        raise AssertionError("real_reference() is for digit runs only (it takes seconds)")

    monkeypatch.setattr(quality, "real_reference", no_reference)
    at, run = start_failing_run(runs, monkeypatch)
    note = quality.applies_to("fashion-mnist", (28, 28, 1))[1]
    fake_snapshot(monkeypatch, run, quality_applies=False, quality_note=note, quality=quality_columns(digits=False))
    at.run()
    assert not at.exception, at.exception
    assert note in [i.value for i in at.info]
    assert not [c.key for c in at.get("plotly_chart") if c.key in ("chart-fd_digits", "chart-class_histogram")]
    assert not {"Classes covered", "Near duplicates"} & {m.label for m in at.metric}  # no number at all


def test_quality_panel_says_when_the_first_figures_come(runs, monkeypatch):
    at, run = start_failing_run(runs, monkeypatch)
    changes = fake_snapshot(
        monkeypatch,
        run,
        quality_applies=True,
        quality_note="",
        quality=quality_columns(digits=False),
        step=0,
        total_steps=5000,
    )
    at.run()
    assert not at.exception, at.exception
    assert "Quality figures every 1,000 steps; the first at step 1,000." in [i.value for i in at.info]
    assert "chart-fd_digits" not in [c.key for c in at.get("plotly_chart")]
    changes.update(step=1200)
    at.run()
    assert "Quality figures every 1,000 steps; the first at step 2,000." in [i.value for i in at.info]
    changes.update(step=150, total_steps=200)
    at.run()
    assert "every 1,000 steps; this run ends at step 200, before the first." in "\n".join(i.value for i in at.info)


def test_changing_a_learning_rate_mid_run_marks_every_chart_for_every_viewer(runs, starts_paused):
    at, run = open_with_paused_run(steps=100_000)  # still training when the viewer opens the page
    assert "Change settings while it trains" in [e.label for e in at.expander]
    steering = [w.label for w in at.number_input if w.key.startswith("steer-")]
    assert steering == ["g_learning_rate", "d_learning_rate", "d_updates", "ema"]  # bce: no penalty to weigh
    at.number_input(key="steer-g_learning_rate").set_value(0.004)
    at.number_input(key="steer-d_updates").set_value(2)
    at.form_submit_button(key="FormSubmitter:steer-Apply").click().run()
    assert not at.exception, at.exception
    at.button(key="resume").click().run()
    wait_for(lambda: run.snapshot().events and run.snapshot().history.get("step"))

    viewer = open_app()  # anyone watching: the marker, labelled, on every (live, canvas) chart against step
    charts = _live_charts(viewer)
    assert len(charts) >= 4  # the loss family's charts and throughput
    for chart in charts:
        assert chart["markers"] == [{"x": 0, "text": "G lr 0.004, D:G 2", "color": "#444444"}], chart["title"]
    assert "g/d learning rate 0.004" in texts(viewer) and "d_updates 2" in texts(viewer)
    assert run.config.g_learning_rate == 0.004

    run.pause()  # paused: plotly's figures (zoom, hover), with the same markers
    wait_for(lambda: run.status == Status.PAUSED)
    figures = _figures(viewer.run())
    assert len(figures) == len(charts)
    for name, chart in figures.items():
        markers = [s for s in chart["layout"].get("shapes", []) if s.get("line", {}).get("dash") == "dot"]
        assert [m["x0"] for m in markers] == [0], name
        assert "G lr 0.004, D:G 2" in [a["text"] for a in chart["layout"]["annotations"]], name
    run.stop()


def test_settings_can_change_only_while_the_run_trains(runs, starts_paused):
    at, run = open_with_paused_run()
    assert "Change settings while it trains" in [e.label for e in at.expander]  # paused counts
    at.button(key="stop").click().run()
    assert run.status == Status.STOPPED
    assert "Change settings while it trains" not in [e.label for e in at.expander]
    assert not [w for w in at.number_input if w.key.startswith("steer-")]


def _live(at, name: str) -> list:
    """What each of app.livechart's live elements called `name` draws, as the browser receives it."""
    return [json.loads(e.proto.bytes) for e in at.get("bidi_component") if e.proto.component_name == name]


def _live_charts(at) -> list[dict]:
    """What the live canvas charts (app.livechart) draw: the training charts come before the quality charts."""
    return _live(at, livechart.CHARTS_NAME)[0]


def _figures(at) -> dict[str, dict]:
    """The page's plotly figures by element id, as the browser receives them."""
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
