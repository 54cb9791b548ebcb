"""Shared fixtures: tiny configs and runs that train in seconds on two CPU cores."""

import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from gan_core.config import TrainConfig
from gan_core.engine import TrainingRun


def wait_for(predicate, timeout=120.0, interval=0.02):
    """Poll `predicate` until it is true; fail the test on timeout (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def tiny_config(**overrides) -> TrainConfig:
    """The `tiny` preset with intervals small enough that every code path runs within 40 steps."""
    settings = dict(
        preset="tiny",
        batch_size=16,
        steps=40,
        metrics_every=5,
        sample_every=10,
        checkpoint_every=20,
        grid_size=16,
        quality_every=0,  # scoring has its own tests; the first score loads the digit classifier (seconds)
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """A finished tiny run on disk, shared by the tests that only read it."""
    from gan_core.engine import TrainingRun

    run = TrainingRun(tiny_config(), runs_dir=tmp_path_factory.mktemp("runs")).start()
    assert run.wait(120) == "finished", run.snapshot().error
    return run


@pytest.fixture
def starts_paused(monkeypatch):
    """Runs pause before their first step, so the test, not the training speed, decides what is shown."""
    original = TrainingRun.start

    def start(self):
        self.pause()
        return original(self)

    monkeypatch.setattr(TrainingRun, "start", start)


@pytest.fixture
def media(monkeypatch):
    """url -> the bytes a page stored behind it (AppTest exposes only the URLs of images and downloads)."""
    stored: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = path_or_data if isinstance(path_or_data, bytes) else Path(path_or_data).read_bytes()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return lambda url: stored[url.rsplit("/", 1)[-1].split(".")[0]]


def break_training_after(monkeypatch, step: int, message: str) -> None:
    """Make every GAN built from now on raise RuntimeError(message) in `failing_step` once a graph
    call would train past `step`: an error inside the training thread, as a bug or a bad device would."""
    import gan_core.gan

    real_build = gan_core.gan.build_gan

    def build_then_break(config, shape, num_classes=None, strategy=None):
        gan = real_build(config, shape, num_classes, strategy=strategy)
        train_steps = gan.train_steps

        def failing_step(batches, steps):
            if int(gan.step.numpy()) + steps > step:
                raise RuntimeError(message)
            return train_steps(batches, steps)

        gan.train_steps = failing_step
        return gan

    monkeypatch.setattr(gan_core.gan, "build_gan", build_then_break)


def refused_npz(path, *words, load=None) -> str:
    """Loading `path` as an npz dataset (with `load`, default gan_core.data.load_dataset) raises
    DatasetError naming the file and saying every word; returns the message."""
    from gan_core import data

    with pytest.raises(data.DatasetError) as err:
        (load or data.load_dataset)("npz", str(path))
    message = str(err.value)
    assert str(path) in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


@pytest.fixture
def fragment_intervals(monkeypatch) -> dict:
    """Fragment name -> its run_every, as the pages define their st.fragment functions from now on."""
    import streamlit as st

    intervals, fragment = {}, st.fragment

    def recording_fragment(func=None, *, run_every=None, **kwargs):
        def decorate(f):
            intervals[f.__name__] = run_every
            return fragment(f, run_every=run_every, **kwargs)

        return decorate if func is None else decorate(func)

    monkeypatch.setattr(st, "fragment", recording_fragment)
    return intervals
