"""Steering a run while it trains, and branching a new run from any saved checkpoint of another."""

import json

import numpy as np
import pytest
import tensorflow as tf

from gan_core.config import ConfigError
from gan_core.engine import Status, TrainingRun
from gan_core.gan import build_gan
from gan_core.runs import RunDir, RunError, list_runs
from tests.conftest import tiny_config, wait_for

pytestmark = pytest.mark.timeout(180)
SHAPE = (28, 28, 1)


def constant_batches(batch_size: int):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch_size, *SHAPE)).astype("float32")
    return iter(tf.data.Dataset.from_tensors((images, np.zeros(batch_size, "int32"))).repeat())


# ------------------------------------------------------------------ the step's variables
def test_steering_changes_the_compiled_step_without_retracing_it():
    config = tiny_config(loss="wgan-gp", d_updates=2).resolved()
    gan = build_gan(config, SHAPE)
    batches = constant_batches(config.batch_size)
    gan.train_steps(batches, 2)
    traces = gan._train_steps.experimental_get_tracing_count()
    d_updates_before = int(gan.d_optimizer.iterations.numpy())
    assert d_updates_before == 4  # 2 steps x 2 D updates

    gan.steer(g_learning_rate=3e-3, d_learning_rate=2e-3, d_updates=3, gp_weight=5.0, ema=0.5)
    gan.train_steps(batches, 2)

    assert gan._train_steps.experimental_get_tracing_count() == traces  # the same graph, new values
    assert int(gan.d_optimizer.iterations.numpy()) == d_updates_before + 2 * 3
    assert int(gan.g_optimizer.iterations.numpy()) == 4
    assert gan.g_optimizer.learning_rate.numpy() == pytest.approx(3e-3)
    assert gan.d_optimizer.learning_rate.numpy() == pytest.approx(2e-3)
    assert gan.settings() == pytest.approx(
        {"g_learning_rate": 3e-3, "d_learning_rate": 2e-3, "d_updates": 3, "gp_weight": 5.0, "ema": 0.5}
    )


def test_the_penalty_weight_the_step_reads_is_the_steered_one():
    config = tiny_config(loss="wgan-gp").resolved()
    gan = build_gan(config, SHAPE)
    real = tf.random.uniform((4, *SHAPE), -1, 1, seed=1)
    fake = tf.random.uniform((4, *SHAPE), -1, 1, seed=2)
    critic = lambda x: gan.discriminate(x, tf.zeros(4, tf.int32))  # noqa: E731
    tf.random.set_seed(0)
    at_ten = gan.loss.penalty(critic, real, fake).numpy()
    gan.steer(gp_weight=2.5)
    tf.random.set_seed(0)
    np.testing.assert_allclose(gan.loss.penalty(critic, real, fake).numpy(), at_ten / 4, rtol=1e-5)


def test_the_generator_average_follows_the_steered_decay():
    config = tiny_config(ema=0.999).resolved()
    gan = build_gan(config, SHAPE)
    gan.train_steps(constant_batches(config.batch_size), 20)
    gan.steer(ema=0.0)  # decay 0: the average becomes G itself at the next step
    gan.train_steps(constant_batches(config.batch_size), 1)
    for average, weight in zip(gan.ema_generator.weights, gan.generator.weights, strict=True):
        np.testing.assert_allclose(average.numpy(), weight.numpy(), atol=1e-6)


# ------------------------------------------------------------------ a run steered while it trains
@pytest.fixture
def paused_mid_run(tmp_path):
    run = TrainingRun(tiny_config(steps=100_000, checkpoint_every=10_000), runs_dir=tmp_path).start()
    wait_for(lambda: run.snapshot().step >= 10)
    run.pause()
    wait_for(lambda: run.status == Status.PAUSED)
    yield run
    run.stop(timeout=30)


def test_a_learning_rate_change_takes_effect_at_the_next_graph_call(paused_mid_run):
    run = paused_mid_run
    at = run.snapshot().step
    assert run.steer(g_learning_rate=0.004, d_updates=2.0) == {"g_learning_rate": 0.004, "d_updates": 2}
    assert run.snapshot().events == ()  # paused: nothing has trained since
    run.resume()
    wait_for(lambda: run.snapshot().events)

    (event,) = run.snapshot().events
    assert event["step"] == at and event["changes"] == {"g_learning_rate": 0.004, "d_updates": 2}
    run_dir = RunDir(run.snapshot().run_dir)
    assert event in run_dir.read_metrics()
    saved = json.loads(run_dir.config_path.read_text())
    assert (saved["g_learning_rate"], saved["d_updates"]) == (0.004, 2)
    assert run.snapshot().config.g_learning_rate == 0.004
    # Records after the change are ordinary metric records; the event is not one of them.
    wait_for(lambda: run.snapshot().step >= at + 10)
    assert all("event" not in r for r in run_dir.read_metrics() if "d_loss" in r)


def test_impossible_changes_are_refused_naming_each_and_change_nothing(paused_mid_run):
    run = paused_mid_run
    with pytest.raises(ConfigError) as refused:
        run.steer(batch_size=32, gp_weight=1.0, g_learning_rate=5.0)
    message = str(refused.value)
    assert "batch_size cannot change while the run trains" in message
    assert "gp_weight is the gradient penalty's weight: it applies to wgan-gp, not bce" in message
    with pytest.raises(ConfigError, match="g_learning_rate must be between 1e-06 and 1"):
        run.steer(g_learning_rate=5.0)
    assert run.steer(g_learning_rate=run.config.g_learning_rate) == {}  # the value it has: no event
    run.resume()
    wait_for(lambda: run.snapshot().step >= 30)
    assert run.snapshot().events == ()


def test_a_finished_run_cannot_be_steered(finished_run):
    with pytest.raises(ConfigError, match="not training: continue or branch it"):
        finished_run.steer(g_learning_rate=1e-3)


def test_a_continued_run_trains_with_the_latest_values(tmp_path):
    run = TrainingRun(tiny_config(steps=100_000, checkpoint_every=10), runs_dir=tmp_path).start()
    wait_for(lambda: run.snapshot().step >= 10)
    run.steer(d_learning_rate=0.003)
    wait_for(lambda: run.snapshot().events)
    run.stop(timeout=30)
    again = TrainingRun.continue_from(run.snapshot().run_dir, steps=200_000)
    assert again.config.d_learning_rate == 0.003
    prepared = again._prepare()  # what the thread would train with, without starting it
    assert prepared.gan.d_optimizer.learning_rate.numpy() == pytest.approx(0.003)
    assert again.snapshot().events == run.snapshot().events  # the markers stay with the run


# ------------------------------------------------------------------ branching
@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    run = TrainingRun(tiny_config(steps=60, checkpoint_every=20), runs_dir=tmp_path_factory.mktemp("runs")).start()
    assert run.wait(120) == "finished", run.snapshot().error
    return RunDir(run.snapshot().run_dir)


def test_a_branch_starts_from_the_parents_checkpoint_with_its_new_settings(parent, tmp_path):
    assert [s for s, _ in parent.checkpoints()] == [20, 40, 60]
    branch = TrainingRun.branch_from(parent.path, 20, tmp_path, g_learning_rate=0.003, steps=50, seed=7)
    prepared = branch._prepare()

    # The branch's generator at its first step is the parent's at step 20, for the same noise.
    config = parent.read_config().resolved()
    original = build_gan(config, SHAPE)
    RunDir.restore_checkpoint(original, dict(parent.checkpoints())[20])
    noise = parent.read_noise()
    np.testing.assert_array_equal(prepared.gan.sampler(noise), original.sampler(noise))
    np.testing.assert_array_equal(prepared.noise, noise)

    assert prepared.step == 20 and prepared.gan.g_optimizer.learning_rate.numpy() == pytest.approx(0.003)
    origin = {"run": parent.run_id, "step": 20}
    assert branch.run_dir.read_parent() == origin and branch.snapshot().parent == origin
    assert branch.run_dir.path.parent == tmp_path


def test_a_branch_trains_on_and_its_history_starts_at_its_step(parent):
    branch = TrainingRun.branch_from(parent.path, 40, d_learning_rate=0.001, steps=55).start()
    assert branch.wait(120) == "finished", branch.snapshot().error
    snap = branch.snapshot()
    assert snap.step == 55 and snap.history["step"][0] > 40 and snap.grids[0][0] == 40
    info = {i.run_dir.run_id: i for i in list_runs(parent.path.parent)}[snap.run_id]
    assert info.parent == {"run": parent.run_id, "step": 40}
    assert RunDir(snap.run_dir).read_config().d_learning_rate == 0.001


def test_a_branch_refuses_what_would_not_fit_the_checkpoint(parent, tmp_path):
    with pytest.raises(RunError, match="no checkpoint at step 30; saved: 20, 40, 60"):
        TrainingRun.branch_from(parent.path, 30, tmp_path)
    with pytest.raises(ConfigError) as refused:
        TrainingRun.branch_from(parent.path, 20, tmp_path, latent_dim=8, loss="hinge", ema=0.0)
    message = str(refused.value)
    assert "latent_dim cannot change in a branch" in message and "loss cannot change" in message
    assert "ema cannot be turned on or off" in message
    with pytest.raises(ConfigError, match="steps must be more than the branch's step 60"):
        TrainingRun.branch_from(parent.path, None, tmp_path)  # the latest, and the parent's 60 steps
    assert list(tmp_path.iterdir()) == []  # nothing was created
