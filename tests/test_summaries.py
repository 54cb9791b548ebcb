"""TensorBoard event files beside metrics.jsonl, read back with TensorFlow's own reader."""

import json

import numpy as np
import pytest
import tensorflow as tf

from gan_core.engine import TrainingRun
from gan_core.runs import RunDir
from tests.conftest import tiny_config, wait_for

pytestmark = pytest.mark.timeout(180)


def read_events(folder) -> list[tuple[int, str, object]]:
    """(step, tag, value) of every summary in the event files of `folder`: a float, an image's
    (height, width, channels) or a text."""
    out = []
    for path in sorted(tf.io.gfile.glob(f"{folder}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "images":  # [width, height, png...] as strings
                    picture = tf.io.decode_png(tensor[2]).numpy()
                    out.append((event.step, value.tag, picture.shape))
                elif tensor.dtype == object:
                    out.append((event.step, value.tag, tensor.item().decode()))
                else:
                    out.append((event.step, value.tag, float(tensor)))
    return out


def test_a_run_writes_its_metrics_and_grids_for_tensorboard(finished_run):
    snap = finished_run.snapshot()
    events = read_events(snap.run_dir)
    records = [r for r in RunDir(snap.run_dir).read_metrics() if "d_loss" in r]
    written = {(step, tag): value for step, tag, value in events if tag.startswith("train/")}
    for record in records:
        for name in ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake", "images_per_second"):
            if record.get(name) is not None:  # throughput: none before its first window
                assert written[(record["step"], f"train/{name}")] == pytest.approx(record[name], rel=1e-6)
    grids = [(step, shape) for step, tag, shape in events if tag == "samples"]
    assert [step for step, _ in grids] == [step for step, _ in snap.grids]
    assert grids[-1][1] == (*snap.grid.shape[:2], 1)


def test_a_change_of_settings_is_written_as_text_at_its_step(tmp_path):
    run = TrainingRun(tiny_config(steps=100_000), runs_dir=tmp_path).start()
    wait_for(lambda: run.snapshot().step >= 10)
    run.steer(g_learning_rate=0.002)
    wait_for(lambda: run.snapshot().events)
    run.stop(timeout=30)
    (event,) = run.snapshot().events
    texts = [(step, value) for step, tag, value in read_events(run.snapshot().run_dir) if tag.startswith("settings")]
    assert texts == [(event["step"], json.dumps({"g_learning_rate": 0.002}))]
    assert np.isfinite([v for _, t, v in read_events(run.snapshot().run_dir) if t == "train/d_loss"]).all()
