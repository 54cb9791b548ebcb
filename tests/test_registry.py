"""Tests for gan_core.registry: one active run per server, refusals that name the active run, continue."""

import re
import threading

import pytest

from gan_core.config import ConfigError
from gan_core.engine import Status, TrainingRun
from gan_core.registry import RunActiveError, RunRegistry
from tests.conftest import tiny_config

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def registry():
    registry = RunRegistry()
    yield registry
    run = registry.current()
    if run is not None and run.active:
        run.stop()
        run.wait(60)


def run_folders(runs_dir):
    return sorted(p.name for p in runs_dir.iterdir()) if runs_dir.exists() else []


def test_empty_registry_has_no_run():
    registry = RunRegistry()
    assert registry.current() is None
    assert registry.active() is None


def test_start_refuses_a_second_run_and_names_the_active_one(registry, tmp_path, starts_paused):
    first = registry.start(tiny_config(), tmp_path)
    assert first.active
    assert registry.current() is first and registry.active() is first

    with pytest.raises(RunActiveError) as refused:
        registry.start(tiny_config(preset="dense-relu"), tmp_path)
    message = str(refused.value)
    assert refused.value.run is first
    assert "preset 'tiny' on 'mnist-sample'" in message
    assert re.search(r"since \d\d:\d\d:\d\d", message)
    assert "stop it before starting another" in message
    assert registry.current() is first
    # The refused start wrote nothing: only the first run's folder exists (once it is created).
    assert len(run_folders(tmp_path)) <= 1


def test_continue_is_refused_too_while_a_run_is_active(registry, tmp_path, starts_paused):
    first = registry.start(tiny_config(), tmp_path)
    with pytest.raises(RunActiveError, match="already active"):
        registry.continue_run(tmp_path / "whatever")
    assert registry.current() is first


def test_only_one_of_many_simultaneous_starts_wins(registry, tmp_path, starts_paused):
    outcomes: list = []
    barrier = threading.Barrier(4)

    def start():
        barrier.wait()
        try:
            outcomes.append(registry.start(tiny_config(), tmp_path))
        except RunActiveError as e:
            outcomes.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    started = [o for o in outcomes if isinstance(o, TrainingRun)]
    assert len(outcomes) == 4 and len(started) == 1
    assert registry.current() is started[0]


def test_a_new_run_may_start_once_the_active_one_has_ended(registry, tmp_path, starts_paused):
    first = registry.start(tiny_config(), tmp_path)
    assert first.stop(timeout=60) == Status.STOPPED
    assert registry.active() is None
    assert registry.current() is first  # the most recent run stays visible after it ends

    second = registry.start(tiny_config(seed=1), tmp_path)
    assert second is not first and registry.current() is second and second.active


def test_invalid_settings_raise_and_keep_the_previous_run(registry, tmp_path):
    with pytest.raises(ConfigError, match="batch_size must be between 1 and 4096"):
        registry.start(tiny_config(batch_size=0), tmp_path)
    assert registry.current() is None
    assert run_folders(tmp_path) == []


def test_continue_run_trains_a_finished_run_further_in_its_folder(registry, tmp_path):
    first = registry.start(tiny_config(steps=40, checkpoint_every=20), tmp_path)
    assert first.wait(120) == Status.FINISHED, first.snapshot().error
    run_dir = first.snapshot().run_dir

    continued = registry.continue_run(run_dir, steps=60)
    assert registry.current() is continued and continued is not first
    assert continued.wait(120) == Status.FINISHED, continued.snapshot().error
    snap = continued.snapshot()
    assert snap.run_dir == run_dir and snap.step == 60
    assert run_folders(tmp_path) == [snap.run_id]
