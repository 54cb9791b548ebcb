import dataclasses
import json
import math
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

import gan_core.data
import gan_core.gan
from gan_core.config import ConfigError
from gan_core.engine import GridHistory, History, Snapshot, Status, TrainingRun
from gan_core.latent import Sampler
from gan_core.models import build_models
from gan_core.runs import RunDir, load_generator, read_checkpoint_state
from tests.conftest import break_training_after, tiny_config, wait_for

pytestmark = pytest.mark.timeout(180)


def nan_batches(images, batch_size):
    """(images, labels) batches whose images are all NaN, for ever."""
    nan = tf.fill((batch_size, *images.shape[1:]), float("nan"))
    return tf.data.Dataset.from_tensors((nan, tf.zeros((batch_size,), tf.int32))).repeat()


def test_invalid_config_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(ConfigError, match="batch_size must be between 1 and 4096"):
        TrainingRun(tiny_config(batch_size=0), runs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_finished_run_writes_its_folder(finished_run):
    snap = finished_run.snapshot()
    assert snap.status == "finished" and snap.step == 40 and snap.progress == 1.0
    assert snap.error is None and snap.end_reason == "finished"
    run = RunDir(snap.run_dir)
    assert json.loads(run.config_path.read_text())["preset"] == "tiny"
    records = run.read_metrics()
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in records)
    assert {"d_acc_real", "d_acc_fake", "d_real", "d_fake", "images_per_second", "epoch"} <= set(records[-1])
    assert [s for s, _ in run.samples()] == [0, 10, 20, 30, 40]
    assert [s for s, _ in run.checkpoints()] == [20, 40]
    assert run.generator_path.exists()
    assert run.read_status()["status"] == "finished"


def test_snapshot_is_plain_data_with_grids_from_fixed_noise(finished_run):
    snap = finished_run.snapshot()
    assert snap.history["step"][-1] == 40 and len(snap.history["d_loss"]) == 8
    assert [s for s, _ in snap.grids] == [0, 10, 20, 30, 40]
    assert snap.grid_step == 40 and snap.grid.dtype == np.uint8
    assert snap.grid.shape == (4 * 30 + 2, 4 * 30 + 2)  # 16 digits, 4x4, 2 px padding
    assert not any(isinstance(getattr(snap, f.name), tf.Tensor) for f in dataclasses.fields(snap))
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.step = 0
    # The grid is drawn from the same noise all run long: it is saved beside the run.
    noise = RunDir(snap.run_dir).read_noise()
    assert noise.shape == (16, 100)
    generator = load_generator(snap.run_dir)
    assert np.array_equal(Sampler(generator).grid(noise), snap.grid)


def test_start_pause_resume_stop(tmp_path):
    run = TrainingRun(tiny_config(steps=100_000), runs_dir=tmp_path).start()
    wait_for(lambda: run.snapshot().step >= 5)
    run.pause()
    wait_for(lambda: run.status == "paused")
    paused_at = run.snapshot().step
    time.sleep(0.3)
    assert run.snapshot().step == paused_at
    run.resume()
    wait_for(lambda: run.snapshot().step > paused_at + 5)
    assert run.status == "running"
    t = time.monotonic()
    run.stop()
    assert run.wait(30) == "stopped"
    assert time.monotonic() - t < 10
    snap = run.snapshot()
    assert snap.end_reason == "stopped"
    run_dir = RunDir(snap.run_dir)
    assert run_dir.latest_checkpoint()[0] == snap.step  # stopping saves where it stopped
    assert run_dir.generator_path.exists()


def test_an_exception_in_the_thread_ends_the_run_as_failed_with_its_traceback(tmp_path, monkeypatch):
    break_training_after(monkeypatch, 12, "disk on fire")
    run = TrainingRun(tiny_config(checkpoint_every=1000), runs_dir=tmp_path).start()
    assert run.wait(60) == "failed"
    snap = run.snapshot()
    assert snap.error == "RuntimeError: disk on fire"
    assert "Traceback" in snap.traceback and "failing_step" in snap.traceback
    run_dir = RunDir(snap.run_dir)
    assert run_dir.read_status()["status"] == "failed"
    crashed_at = snap.step
    assert 0 < crashed_at <= 12
    assert run_dir.latest_checkpoint()[0] == crashed_at  # what was trained before the crash is kept


def test_bad_data_fails_the_run_with_the_datasets_message(tmp_path):
    run = TrainingRun(tiny_config(dataset="npz", npz_path=str(tmp_path / "missing.npz")), runs_dir=tmp_path).start()
    assert run.wait(60) == "failed"
    assert "missing.npz" in run.snapshot().error


def test_a_nan_loss_ends_the_run_as_diverged_and_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    real_make = gan_core.data.make_dataset

    def poisoned(images, batch_size, seed, labels=None, **_):  # on the host: the NaN batches join them there
        good = real_make(images, batch_size, seed, labels, to_device=False).take(23)
        return good.concatenate(nan_batches(images, batch_size))

    monkeypatch.setattr(gan_core.data, "make_dataset", poisoned)
    run = TrainingRun(tiny_config(steps=200, checkpoint_every=20, metrics_every=5), runs_dir=tmp_path).start()
    assert run.wait(60) == "diverged"
    snap = run.snapshot()
    assert "NaN or inf at step 24" in snap.error and "last good checkpoint is step 20" in snap.error
    run_dir = RunDir(snap.run_dir)
    assert run_dir.latest_checkpoint()[0] == 20
    generator = load_generator(run_dir.path)
    assert all(np.isfinite(w).all() for w in generator.get_weights())
    assert run_dir.read_status()["status"] == "diverged"


def test_checkpoint_round_trip_gives_the_same_generator_output(finished_run, tmp_path):
    run_dir = RunDir(finished_run.snapshot().run_dir)
    noise = np.random.default_rng(1).standard_normal((8, 100)).astype("float32")
    exported = load_generator(run_dir.generator_path)
    # The same run folder without generator.keras falls back to the latest checkpoint.
    copy = tmp_path / "copy-without-export"
    shutil.copytree(run_dir.path, copy)
    (copy / "generator.keras").unlink()
    restored = load_generator(copy)
    np.testing.assert_allclose(Sampler(exported)(noise), Sampler(restored)(noise), rtol=1e-6, atol=1e-6)


def test_a_bfloat16_run_exports_a_float32_generator_with_its_weights(tmp_path):
    run = TrainingRun(tiny_config(steps=20, precision="mixed_bfloat16"), runs_dir=tmp_path).start()
    assert run.wait(120) == "finished", run.snapshot().error
    assert run.snapshot().config.precision == "mixed_bfloat16"
    run_dir = RunDir(run.snapshot().run_dir)
    exported = load_generator(run_dir.generator_path)
    assert {layer.compute_dtype for layer in exported.layers} == {"float32"}  # runs the same on any machine
    (run_dir.path / "generator.keras").unlink()
    from_checkpoint = load_generator(run_dir.path)
    for a, b in zip(exported.get_weights(), from_checkpoint.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_continue_trains_on_the_step_count_in_the_same_folder(tmp_path):
    first = TrainingRun(tiny_config(steps=20), runs_dir=tmp_path).start()
    assert first.wait(60) == "finished"
    run_dir = first.snapshot().run_dir
    second = TrainingRun.continue_from(run_dir, steps=40).start()
    assert second.wait(60) == "finished"
    snap = second.snapshot()
    assert snap.run_dir == run_dir and snap.step == 40
    steps = [r["step"] for r in RunDir(run_dir).read_metrics()]
    assert steps == [5, 10, 15, 20, 25, 30, 35, 40]  # one log, no step counted twice
    assert snap.history["step"][0] == 5  # the earlier history is shown again
    assert [s for s, _ in RunDir(run_dir).checkpoints()] == [20, 40]


def test_max_seconds_ends_the_run_cleanly(tmp_path):
    run = TrainingRun(tiny_config(steps=10_000_000, max_seconds=1), runs_dir=tmp_path).start()
    assert run.wait(60) == "finished"
    snap = run.snapshot()
    assert snap.end_reason == "time limit" and 0 < snap.step < 10_000_000
    assert RunDir(snap.run_dir).generator_path.exists()


def test_epochs_set_the_number_of_steps(tmp_path):
    run = TrainingRun(tiny_config(epochs=1, batch_size=500, d_updates=2), runs_dir=tmp_path).start()
    assert run.wait(60) == "finished"
    assert run.snapshot().step == 5  # 5,000 digits / (500 x 2 real images a step)


def test_history_stays_bounded_and_covers_the_whole_run():
    history = History(max_points=100)
    for step in range(1, 100_001):
        history.append({"step": step, "d_loss": 1.0})
    records = history.records()
    assert len(records) <= 101
    steps = [r["step"] for r in records]
    assert steps[0] == 1 and steps[-1] == 100_000 and steps == sorted(steps)
    gaps = np.diff(steps[:-1])
    assert gaps.max() == gaps.min()  # evenly thinned


def test_grid_history_is_bounded_and_read_only():
    grids = GridHistory(max_grids=10)
    for step in range(0, 1000, 10):
        grids.append(step, np.zeros((4, 4), np.uint8))
    items = grids.items()
    assert len(items) <= 11 and items[0][0] == 0 and items[-1][0] == 990
    with pytest.raises(ValueError):
        items[-1][1][0, 0] = 1


def test_quality_figures_are_recorded_for_digits(tmp_path):
    run = TrainingRun(tiny_config(steps=20, quality_every=10), runs_dir=tmp_path).start()
    assert run.wait(180) == "finished", run.snapshot().error
    snap = run.snapshot()
    assert snap.quality_applies is True
    assert snap.quality["step"] == [10, 20]
    assert all(v > 0 for v in snap.quality["fd_digits"]) and len(snap.quality["class_histogram"][0]) == 10
    on_disk = [r for r in RunDir(snap.run_dir).read_metrics() if "fd_digits" in r]
    assert [r["step"] for r in on_disk] == [10, 20]
    assert 0 <= on_disk[0]["duplicate_fraction"] <= 1


def test_quality_panel_says_plainly_when_the_digit_classifier_does_not_apply(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (64, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "colour.npz", images=images)
    config = tiny_config(dataset="npz", npz_path=str(tmp_path / "colour.npz"), steps=10, quality_every=10)
    run = TrainingRun(config, runs_dir=tmp_path).start()
    assert run.wait(120) == "finished", run.snapshot().error
    snap = run.snapshot()
    assert snap.quality_applies is False and "only judges 28x28 handwritten digits" in snap.quality_note
    assert snap.quality["step"] == [10] and "fd_digits" not in snap.quality
    assert snap.quality["duplicate_fraction"][0] is not None  # collapse is still watched


def test_a_diverged_run_raises_and_records_the_diverged_alert(tmp_path, monkeypatch):
    real_make = gan_core.data.make_dataset

    def poisoned(images, batch_size, seed, labels=None, **_):
        good = real_make(images, batch_size, seed, labels, to_device=False)
        return good.take(7).concatenate(nan_batches(images, batch_size))

    monkeypatch.setattr(gan_core.data, "make_dataset", poisoned)
    run = TrainingRun(tiny_config(), runs_dir=tmp_path).start()
    assert run.wait(60) == "diverged"
    kinds = [a["kind"] for a in run.snapshot().alerts]
    assert "diverged" in kinds
    recorded = RunDir(run.snapshot().run_dir).read_alerts()
    assert recorded[0]["kind"] == "diverged" and "step 8" in recorded[0]["message"]


def test_the_snapshot_is_typed_and_frozen_and_its_status_an_enum(finished_run):
    snap = finished_run.snapshot()
    assert isinstance(snap, Snapshot) and snap.status is Status.FINISHED and not snap.active
    assert snap.config == finished_run.config and snap.config.loss == "bce"
    assert [c.title for c in snap.charts] == ["Losses", "D accuracy", "D outputs (mean probability)"]
    built = Snapshot(status=Status.RUNNING, config=snap.config, step=5, total_steps=10)
    assert built.progress == 0.5 and built.grid is None and built.active


def test_a_conditional_run_trains_on_labels_and_exports_a_conditional_generator(tmp_path):
    run = TrainingRun(tiny_config(conditional=True, loss="hinge", steps=20), runs_dir=tmp_path).start()
    assert run.wait(120) == "finished", run.snapshot().error
    snap = run.snapshot()
    assert snap.num_classes == 10 and snap.grid.shape == (10 * 30 + 2, 1 * 30 + 2)  # a row per class
    assert {"d_real", "margin_real"} <= set(snap.history) and "d_acc_real" not in snap.history
    sampler = Sampler(load_generator(snap.run_dir))
    assert sampler.conditional and sampler.num_classes == 10
    (RunDir(snap.run_dir).generator_path).unlink()  # the checkpoint rebuilds it too
    assert Sampler(load_generator(snap.run_dir)).conditional


def test_conditional_training_needs_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (64, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "unlabelled.npz", images=images)
    config = tiny_config(dataset="npz", npz_path=str(tmp_path / "unlabelled.npz"), conditional=True)
    run = TrainingRun(config, runs_dir=tmp_path).start()
    assert run.wait(60) == "failed"
    assert "conditional training needs class labels" in run.snapshot().error


def test_the_exported_generator_is_the_average_when_averaging(tmp_path):
    run = TrainingRun(tiny_config(steps=20, ema=0.9), runs_dir=tmp_path).start()
    assert run.wait(60) == "finished"
    folder = RunDir(run.snapshot().run_dir)
    exported = load_generator(folder.generator_path)
    checkpoint = folder.latest_checkpoint()[1]
    assert "ema_generator" in read_checkpoint_state(checkpoint)["objects"]
    average, _ = build_models("tiny", 100, (28, 28, 1))
    tf.train.Checkpoint(ema_generator=average).read(str(checkpoint / "variables")).expect_partial()
    for a, b in zip(exported.get_weights(), average.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
