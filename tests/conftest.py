"""Shared fixtures: tiny configs and runs that train in seconds on two CPU cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from gan_core.config import TrainConfig


def tiny_config(**overrides) -> TrainConfig:
    """The `tiny` preset with intervals small enough that every code path runs within 40 steps."""
    settings = dict(
        preset="tiny", batch_size=16, steps=40, metrics_every=5, sample_every=10, checkpoint_every=20, grid_size=16,
        quality_every=0,  # scoring has its own tests; the first score loads the digit classifier (seconds)
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """A finished tiny run on disk, shared by the tests that only read it."""
    from gan_core.engine import TrainingRun

    run = TrainingRun(tiny_config(), runs_dir=tmp_path_factory.mktemp("runs")).start()
    assert run.wait(120) == "finished", run.snapshot()["error"]
    return run
