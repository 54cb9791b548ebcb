"""Run folders in a bucket, through tf.io.gfile: tested on TensorFlow's in-memory ram:// filesystem.

ram:// is one filesystem per process, so every test writes under a root of its own.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from streamlit.testing.v1 import AppTest

from gan_core import storage
from gan_core.engine import TrainingRun
from gan_core.runs import RunDir, RunError, list_runs, load_generator, run_folder
from gan_core.storage import GPath, as_path
from tests.conftest import tiny_config

pytestmark = pytest.mark.timeout(300)

PAGE = Path(__file__).resolve().parents[1] / "pages" / "runs.py"


def bucket() -> str:
    return f"ram://{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def remote_run() -> str:
    """The folder of a finished tiny run of 20 steps written to ram://."""
    run = TrainingRun(tiny_config(steps=20), runs_dir=bucket()).start()
    assert run.wait(120) == "finished", run.snapshot().error
    return run.snapshot().run_dir


def test_paths_are_local_unless_they_name_a_scheme():
    assert as_path("runs") == Path("runs") and isinstance(as_path("/tmp/x"), Path)
    run = as_path("gs://bucket/runs/") / "20250101-120000-tiny-mnist"
    assert isinstance(run, GPath) and str(run) == "gs://bucket/runs/20250101-120000-tiny-mnist"
    assert run.parent == GPath("gs://bucket/runs") and run.resolve().parent == as_path("gs://bucket/runs")
    sample = run / "samples" / "step_0000020.png"
    assert (sample.name, sample.stem, sample.suffix) == ("step_0000020.png", "step_0000020", ".png")
    assert sample.with_name("x.tmp").name == "x.tmp" and not hasattr(sample, "__fspath__")


def test_a_run_writes_its_whole_folder_to_the_bucket(remote_run):
    files = {f for _, _, names in tf.io.gfile.walk(remote_run) for f in names}
    assert {"config.json", "metrics.jsonl", "status.json", "noise.npy", "generator.keras"} <= files
    assert any(f.startswith("events.out.tfevents") for f in files)  # TensorBoard's view
    assert not [f for f in files if ".tmp" in f]
    assert sorted(tf.io.gfile.listdir(f"{remote_run}/samples")) == [f"step_{s:07d}.png" for s in (0, 10, 20)]
    assert tf.io.gfile.listdir(f"{remote_run}/checkpoints") == ["ckpt-000000020"]
    held = tf.io.gfile.listdir(f"{remote_run}/checkpoints/ckpt-000000020")
    assert "state.json" in held and "variables.index" in held
    with tf.io.gfile.GFile(f"{remote_run}/status.json") as f:
        assert json.load(f)["status"] == "finished"
    with tf.io.gfile.GFile(f"{remote_run}/metrics.jsonl") as f:
        assert [json.loads(line)["step"] for line in f.read().splitlines()] == [5, 10, 15, 20]
    run = RunDir(remote_run)
    assert run.read_noise().shape == (16, run.read_config().latent_dim)


def test_list_runs_and_load_generator_read_the_bucket(remote_run):
    root = str(as_path(remote_run).parent)
    [info] = list_runs(root)
    assert info.run_dir.path == as_path(remote_run) and info.config.steps == 20
    assert info.last_metrics["step"] == 20 and info.checkpoint_step == 20
    assert info.last_sample.name == "step_0000020.png" and info.state == "finished"
    assert Image.open(io.BytesIO(info.last_sample.read_bytes())).size[0] > 0
    assert run_folder(root, info.run_dir.run_id) == info.run_dir.path
    generator = load_generator(remote_run)  # generator.keras, copied here for the checks
    noise = RunDir(remote_run).read_noise()
    assert generator(noise[:2], training=False).shape[0] == 2
    from_checkpoint = load_generator_from_checkpoint(remote_run)
    np.testing.assert_allclose(from_checkpoint(noise[:2]), generator(noise[:2]), atol=1e-5)


def load_generator_from_checkpoint(folder: str):
    """The generator of a run without generator.keras: from its latest checkpoint, in the bucket."""
    copy = RunDir.create(bucket(), RunDir(folder).read_config())
    source = RunDir(folder).latest_checkpoint()[1]
    target = copy.checkpoints_dir / source.name
    target.mkdir()
    for f in source.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    assert not copy.generator_path.exists()
    return load_generator(str(copy.path))


def test_continue_trains_on_in_the_bucket():
    first = TrainingRun(tiny_config(steps=20), runs_dir=bucket()).start()
    assert first.wait(120) == "finished", first.snapshot().error
    folder = first.snapshot().run_dir
    second = TrainingRun.continue_from(folder, steps=40).start()
    assert second.wait(120) == "finished", second.snapshot().error
    assert second.snapshot().run_dir == folder and second.snapshot().step == 40
    run = RunDir(folder)
    assert [r["step"] for r in run.read_metrics()] == [5, 10, 15, 20, 25, 30, 35, 40]  # appended to
    assert [s for s, _ in run.checkpoints()] == [20, 40]
    assert run.samples()[-1][0] == 40


def test_the_runs_page_lists_and_shows_a_run_in_the_bucket(remote_run, monkeypatch, media):
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(as_path(remote_run).parent))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == [as_path(remote_run).name]
    assert "finished" in at.markdown[0].value and "step 20 / 20" in at.markdown[0].value
    assert at.image[0].captions == ["step 20"]
    grid = np.asarray(Image.open(io.BytesIO(media(at.image[0].value[0]))))
    assert grid.shape[0] >= 2 * 122  # the 4x4 grid, read from the bucket and enlarged


def test_run_ids_stay_plain_names_and_delete_removes_only_that_run():
    root, config = bucket(), tiny_config()
    first = RunDir.create(root, config, run_id="20250101-120000-tiny-mnist")
    second = RunDir.create(root, config, run_id="20250101-120000-tiny-mnist")  # the same second: "-2"
    assert second.run_id == "20250101-120000-tiny-mnist-2"
    for hostile in ("..", "../x", "a/b", f"{first.run_id}/..", "", "x\0"):
        with pytest.raises(RunError):
            run_folder(root, hostile)
    with pytest.raises(RunError):
        first.delete(bucket())  # not directly under that runs folder
    with pytest.raises(RunError):
        RunDir(first.samples_dir).delete(first.path)  # no config.json: not a run
    first.delete(root)
    assert tf.io.gfile.listdir(root) == [second.run_id]
    assert tf.io.gfile.glob(f"{first.path}/*") == []
    assert second.config_path.exists() and second.samples_dir.is_dir()
    assert [info.run_dir.run_id for info in list_runs(root)] == [second.run_id]
    with pytest.raises(RunError):
        run_folder(root, first.run_id)  # a prefix of the run left is no run


def test_appending_falls_back_to_a_rewrite_where_a_store_cannot_append(monkeypatch):
    log = as_path(bucket()) / "metrics.jsonl"
    storage.append_text(log, "1\n")
    opened = GPath.open

    def no_append(self, mode="r"):
        if mode == "a":
            raise tf.errors.UnimplementedError(None, None, "cannot append")
        return opened(self, mode)

    monkeypatch.setattr(GPath, "open", no_append)
    storage.append_text(log, "2\n")
    assert log.read_text() == "1\n2\n"
