"""AppTest of pages/runs.py: the runs, the metrics CSV, continue training, delete after confirming, open in explorer."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import app.common
from gan_core.config import TrainConfig
from gan_core.engine import Snapshot, Status
from gan_core.registry import RunActiveError
from gan_core.runs import RunDir

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "pages" / "runs.py"
RUN_ID = "20000101-000000-tiny-mnist-sample"


@pytest.fixture
def runs(finished_run, tmp_path, monkeypatch):
    """A runs folder of our own holding a copy of the finished tiny run (tests may delete it)."""
    folder = tmp_path / "runs"
    shutil.copytree(finished_run.snapshot().run_dir, folder / RUN_ID)
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(folder))
    return folder


class FakeRegistry:
    """Stands in for the server's RunRegistry: a chosen active run, a continue_run that records or refuses."""

    def __init__(self, active=None, refuse_with: Exception | None = None):
        self._active = active
        self.refuse_with = refuse_with
        self.continued: list[tuple[Path, int | None]] = []

    def active(self):
        return self._active

    def current(self):
        return self._active

    def continue_run(self, run_dir, steps=None):
        if self.refuse_with is not None:
            raise self.refuse_with
        self.continued.append((Path(run_dir), steps))


def training(run_dir: Path) -> SimpleNamespace:
    """A stand-in for the TrainingRun that trains `run_dir` now: the page reads only its snapshot."""
    snap = Snapshot(status=Status.RUNNING, config=TrainConfig(), run_dir=str(run_dir), run_id=run_dir.name)
    return SimpleNamespace(snapshot=lambda: snap, active=True)


def open_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_the_page_lists_the_run_with_status_metrics_and_last_grid(runs, media):
    at = open_page()
    assert [h.value for h in at.subheader] == [RUN_ID]
    shown = " ".join(m.value for m in at.markdown)
    assert "finished" in shown and "step 40 / 40" in shown and "Preset **tiny** on **mnist-sample**" in shown
    assert "loss **bce** · unconditional · EMA 0.999" in shown
    records = RunDir(runs / RUN_ID).read_metrics()
    assert at.metric[0].label == "d_loss" and at.metric[0].value == f"{records[-1]['d_loss']:.3f}"
    grid = np.asarray(Image.open(io.BytesIO(media(at.image[0].value[0]))))
    assert at.image[0].captions == ["step 40"]
    assert grid.shape[0] >= 2 * 122 and grid.shape[0] % 122 == 0  # the 4x4 grid of the last sample, enlarged
    assert "checkpoint at step 40" in " ".join(c.value for c in at.caption)


def test_metrics_download_is_the_whole_log_as_csv(runs, media):
    at = open_page()
    button = at.get("download_button")[1]
    assert button.label == "metrics.csv" and not button.disabled
    rows = list(csv.DictReader(io.StringIO(media(button.proto.url).decode())))
    records = RunDir(runs / RUN_ID).read_metrics()
    assert [int(r["step"]) for r in rows] == [r["step"] for r in records] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert list(rows[0]) == list(records[0])  # every key, as a column, in the log's order
    assert [float(r["g_loss"]) for r in rows] == pytest.approx([r["g_loss"] for r in records])


def test_generator_download_is_offered_when_the_run_has_one(runs):
    at = open_page()
    assert at.get("download_button")[0].label == "generator.keras" and not at.get("download_button")[0].disabled
    (runs / RUN_ID / "generator.keras").unlink()
    assert open_page().get("download_button")[0].disabled


def test_delete_needs_the_confirmation_and_removes_the_folder(runs):
    at = open_page()
    assert at.button(key=f"delete_{RUN_ID}").disabled  # not before "yes, delete"
    at.checkbox(key=f"confirm_delete_{RUN_ID}").check().run()
    assert (runs / RUN_ID).exists()  # ticking alone deletes nothing
    at.button(key=f"delete_{RUN_ID}").click().run()
    assert not at.exception
    assert not (runs / RUN_ID).exists()
    assert at.success[0].value == f"Deleted {RUN_ID}."
    assert "No runs under" in at.info[0].value


def test_the_active_run_cannot_be_deleted_or_continued(runs, monkeypatch):
    monkeypatch.setattr(app.common, "get_registry", lambda: FakeRegistry(active=training(runs / RUN_ID)))
    status = RunDir(runs / RUN_ID).read_status()  # as this process writes it while it trains the run
    training_here = {"status": "running", "ended_at": None, "end_reason": None, "pid": os.getpid()}
    training_here.update(host=socket.gethostname(), heartbeat=time.time())
    RunDir(runs / RUN_ID).write_status(**{**status, **training_here})
    at = open_page()
    assert not [b for b in at.button if b.key == f"delete_{RUN_ID}"]
    assert any("stop it on the Train page" in c.value for c in at.caption)
    assert (runs / RUN_ID).exists()
    (when,) = [c.value for c in at.caption if c.value.startswith("Started ")]
    assert "still training" in when and "ended" not in when


def test_continue_training_trains_the_run_to_the_new_total(runs, monkeypatch):
    registry = FakeRegistry()
    monkeypatch.setattr(app.common, "get_registry", lambda: registry)
    at = open_page()
    steps = at.number_input(key=f"continue_steps_{RUN_ID}")
    assert steps.value == 80 and steps.min == 41  # the run ended at its total: by default, as many steps again
    steps.set_value(60).run()
    button = at.button(key=f"continue_{RUN_ID}")
    assert button.label == "Continue training"
    button.click().run()
    assert not at.exception
    assert registry.continued == [(runs / RUN_ID, 60)]
    assert f"Continuing {RUN_ID}: training to step 60" in at.success[0].value  # alone, the page cannot switch to Train


def test_continue_while_another_run_is_active_says_so(runs, monkeypatch, finished_run):
    refusal = RunActiveError(finished_run)
    registry = FakeRegistry(refuse_with=refusal)
    monkeypatch.setattr(app.common, "get_registry", lambda: registry)
    at = open_page()
    at.button(key=f"continue_{RUN_ID}").click().run()
    assert not at.exception
    assert at.error[0].value == f"Cannot continue: {refusal}"
    assert finished_run.snapshot().run_id in at.error[0].value


def test_the_settings_say_loss_conditional_and_ema(runs):
    config = json.loads((runs / RUN_ID / "config.json").read_text())
    config.update(loss="wgan-gp", conditional=True, ema=0.0)
    (runs / RUN_ID / "config.json").write_text(json.dumps(config))
    at = open_page()
    assert "loss **wgan-gp** · conditional · no EMA" in " ".join(m.value for m in at.markdown)
    # The final metrics shown are the loss family's own (a critic reports no accuracies).
    assert [m.label for m in at.metric] == ["d_loss", "g_loss", "critic_real", "critic_fake"]


def test_a_failed_run_shows_its_error_and_traceback(runs):
    run = RunDir(runs / RUN_ID)
    run.write_status(
        status="failed",
        step=12,
        total_steps=40,
        error="ValueError: the data went missing",
        traceback="Traceback (most recent call last):\n  ...\nValueError: the data went missing",
    )
    at = open_page()
    assert "failed" in at.markdown[0].value and "step 12 / 40" in at.markdown[0].value
    assert at.error[0].value == "ValueError: the data went missing"
    assert at.expander[0].label == "Traceback" and "most recent call last" in at.code[0].value


def test_a_run_whose_process_is_gone_shows_as_interrupted_and_can_be_continued(runs, monkeypatch):
    run = RunDir(runs / RUN_ID)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid of this host that no process has any more: the server that trained it was restarted
    run.write_status(status="running", step=20, total_steps=40, pid=gone.pid, host=socket.gethostname())
    registry = FakeRegistry()
    monkeypatch.setattr(app.common, "get_registry", lambda: registry)
    at = open_page()
    assert "interrupted" in at.markdown[0].value and "running" not in at.markdown[0].value
    assert any("continue it from its latest checkpoint" in c.value for c in at.caption)
    at.button(key=f"continue_{RUN_ID}").click().run()
    assert not at.exception and registry.continued == [(runs / RUN_ID, 80)]


def test_no_runs_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path / "nothing"))
    at = open_page()
    assert "No runs under" in at.info[0].value and not at.subheader


def test_open_in_explorer_switches_page_with_the_run_in_the_address(runs):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    at.button(key=f"open_{RUN_ID}").click().run()
    assert not at.exception, at.exception
    assert at.query_params["run"] == RUN_ID
    assert at.selectbox(key="generator_choice").value == RUN_ID
    assert any(img.captions and img.captions[0].startswith("t = ") for img in at.image)


def test_a_run_linked_from_outside_is_listed_but_never_deleted_through_the_link(runs, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(runs / RUN_ID, outside)
    (outside / "sentinel.txt").write_text("still here")
    (runs / "20000102-000000-planted").symlink_to(outside, target_is_directory=True)
    at = open_page()
    at.checkbox(key="confirm_delete_20000102-000000-planted").check().run()
    at.button(key="delete_20000102-000000-planted").click().run()
    assert not at.exception, at.exception
    assert "nothing was deleted" in at.error[0].value
    assert (outside / "sentinel.txt").read_text() == "still here" and (outside / "config.json").exists()
    assert (runs / "20000102-000000-planted").is_symlink() and (runs / RUN_ID).exists()


@pytest.fixture
def deferred(monkeypatch):
    """deferred file id -> the callable a download button left behind, which the server runs when it is clicked."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    stored = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        stored[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return stored


def test_a_synthetic_dataset_is_offered_and_drawn_when_asked_for(runs, deferred):
    from gan_core import export

    at = open_page()
    images = at.number_input(key=f"export_n_{RUN_ID}")
    assert (images.value, images.min, images.max) == (1_000, 1, 10_000)
    assert not [s for s in at.selectbox if s.key == f"export_class_{RUN_ID}"]  # an unconditional run has no classes
    images.set_value(12).run()
    button = at.get("download_button")[2]
    assert button.label == "synthetic.npz" and not button.disabled
    assert "--n 12 --out x.npz" in " ".join(c.value for c in at.caption)
    # Nothing is drawn until the button is clicked; then the server calls what the page left behind it.
    with np.load(io.BytesIO(deferred[button.proto.deferred_file_id]())) as npz:
        assert sorted(npz.files) == ["images"]  # no labels: the run is unconditional
        drawn = npz["images"]
    assert drawn.shape == (12, 28, 28, 1) and drawn.dtype == np.uint8
    # The same images as `python -m gan_core sample RUN --n 12 --out x.npz`: noise seed 0, the run's Sampler.
    expected, labels = export.synthetic_dataset(export.load_sampler(runs / RUN_ID), 12)
    assert labels is None and np.array_equal(drawn, expected) and drawn.std() > 0


def test_a_branch_starts_from_the_chosen_checkpoint_and_is_shown_under_its_parent(runs, monkeypatch):
    from gan_core.registry import RunRegistry

    registry = RunRegistry()
    monkeypatch.setattr(app.common, "get_registry", lambda: registry)
    at = open_page()
    at.select_slider(key=f"branch_{RUN_ID}_step").set_value(20).run()
    assert at.number_input(key=f"branch_{RUN_ID}_steps_20").value == 60  # the step, then as many as the run had
    at.number_input(key=f"branch_{RUN_ID}_g_learning_rate").set_value(0.003)
    at.button(key=f"branch_{RUN_ID}_start").click().run()
    assert not at.exception, at.exception
    branch = registry.current()
    assert branch.wait(120) == Status.FINISHED, branch.snapshot().error
    snap = branch.snapshot()
    assert snap.parent == {"run": RUN_ID, "step": 20} and snap.step == 60
    assert snap.config.g_learning_rate == 0.003 and snap.config.preset == "tiny"

    at = open_page()  # the family: the parent first, its branch under it, though the branch is newer
    assert [h.value for h in at.subheader] == [RUN_ID, snap.run_id]
    assert f":material/call_split: Branch of **{RUN_ID}** at step 20" in [c.value for c in at.caption]
