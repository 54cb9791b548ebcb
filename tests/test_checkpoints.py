"""Checkpoints name what they hold and refuse to load into anything else (gan_core.runs)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from gan_core.config import TrainConfig
from gan_core.gan import build_gan
from gan_core.runs import (
    CHECKPOINT_FORMAT,
    RunDir,
    RunError,
    checkpoint_identity,
    checkpoint_objects,
    load_generator,
    read_checkpoint_state,
)
from tests.conftest import tiny_config

pytestmark = pytest.mark.timeout(180)
SHAPE = (28, 28, 1)


def batches(config: TrainConfig, seed: int = 0):
    """The same (images, labels) batches for every GAN of a test, for ever."""
    rng = np.random.default_rng(seed)
    n = config.batch_size  # one batch per D update
    images = rng.uniform(-1, 1, (n, *SHAPE)).astype("float32")
    labels = rng.integers(0, 10, n).astype("int32")
    return iter(tf.data.Dataset.from_tensors((images, labels)).repeat())


def values(gan) -> dict[str, list[np.ndarray]]:
    return {name: [np.array(v) for v in variables] for name, (_, variables) in checkpoint_objects(gan).items()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        for x, y in zip(a[name], b[name], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)


def tiny(**overrides) -> TrainConfig:
    return tiny_config(ema=0.9, jit_compile=False, **overrides).resolved()  # no XLA: these GANs train a step or two


@pytest.fixture(scope="module")
def trained():
    """A tiny GAN with averaging, trained 3 steps (once for the module: tracing the step takes seconds)."""
    config = tiny()
    gan = build_gan(config, SHAPE)
    gan.train_steps(batches(config), 3)
    return config, gan


@pytest.fixture
def saved(trained, tmp_path):
    """The trained GAN checkpointed at step 3 in a new run folder: (config, gan, run, folder)."""
    config, gan = trained
    run = RunDir.create(tmp_path, config)
    state = {**checkpoint_identity(config, SHAPE, None), "config": config.to_dict()}
    return config, gan, run, run.save_checkpoint(gan, 3, state)


def test_a_checkpoint_names_what_it_holds(saved):
    config, gan, run, folder = saved
    assert folder.name == "ckpt-000000003" and run.checkpoints() == [(3, folder)]
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["state.json", "variables.data-00000-of-00001", "variables.index"]
    state = read_checkpoint_state(folder)
    assert state["format"] == CHECKPOINT_FORMAT and state["step"] == 3
    trained_for = (state["preset"], state["loss"], state["image_shape"], state["num_classes"])
    assert trained_for == ("tiny", "bce", [28, 28, 1], None)
    names = {"generator", "discriminator", "ema_generator", "g_optimizer", "d_optimizer", "step", "seed_generator"}
    assert set(state["objects"]) == names
    kernel = state["objects"]["generator"][0]
    assert kernel["name"].endswith("/kernel") and kernel["shape"] == [100, 32] and kernel["dtype"] == "float32"
    # The TensorFlow checkpoint files each variable under its object's name too, as many as the manifest says.
    keys = [name.split("/")[0] for name, _ in tf.train.list_variables(str(folder / "variables"))]
    assert set(keys) - {"_CHECKPOINTABLE_OBJECT_GRAPH"} == names
    assert all(keys.count(name) == len(state["objects"][name]) for name in names)


def test_round_trip_restores_weights_optimiser_slots_step_and_seed_state(saved):
    config, gan, run, folder = saved
    other = build_gan(tiny(seed=7), SHAPE)  # other weights, other noise
    before = values(other)
    assert not np.array_equal(before["generator"][0], values(gan)["generator"][0])
    state = run.restore_checkpoint(other, folder, checkpoint_identity(config, SHAPE, None))
    assert state["step"] == 3 and int(other.step.numpy()) == 3
    assert_same(values(other), values(gan))  # every variable: networks, average, Adam's slots, step, seed
    # Both train on exactly as if nothing had happened: the same noise, the same updates.
    gan.train_steps(batches(config, seed=1), 2)
    other.train_steps(batches(config, seed=1), 2)
    for a, b in zip(gan.generator.get_weights(), other.generator.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_load_generator_reads_the_average_from_a_checkpoint(saved):
    _, gan, run, _ = saved
    generator = load_generator(run.path)  # no generator.keras yet: the latest checkpoint
    for a, b in zip(generator.get_weights(), gan.ema_generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(generator.get_weights()[0], gan.generator.get_weights()[0])


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(preset="dense-relu"), "preset 'tiny' in the checkpoint, 'dense-relu' in this run"),
        (dict(image_shape=(32, 32, 3)), "image_shape [28, 28, 1] in the checkpoint, (32, 32, 3) in this run"),
        (dict(num_classes=10), "num_classes None in the checkpoint, 10 in this run"),
        (dict(loss="hinge"), "loss 'bce' in the checkpoint, 'hinge' in this run"),
    ],
)
def test_a_checkpoint_of_another_model_is_refused_naming_what_differs(saved, change, message):
    config, _, run, folder = saved
    target = build_gan(tiny(seed=7), SHAPE)
    before = values(target)
    expect = {**checkpoint_identity(config, SHAPE, None), **change}
    with pytest.raises(RunError, match="was trained for another model and was not loaded") as refused:
        run.restore_checkpoint(target, folder, expect)
    assert message in str(refused.value)
    assert_same(values(target), before)  # nothing was loaded


def test_another_preset_is_refused_even_without_asking(saved):
    """Built for another preset, the variables themselves do not fit: the manifest says so before loading."""
    _, _, run, folder = saved
    target = build_gan(tiny(preset="dense-relu"), SHAPE)
    before = values(target)
    with pytest.raises(RunError, match="not loaded: generator has 4 variables in the checkpoint, 8 here"):
        run.restore_checkpoint(target, folder)
    assert_same(values(target), before)


@pytest.mark.parametrize("version", [3, 0, "2"])
def test_another_format_version_is_refused(saved, version):
    _, gan, run, folder = saved
    state = json.loads((folder / "state.json").read_text())
    (folder / "state.json").write_text(json.dumps({**state, "format": version}))
    with pytest.raises(RunError, match=f"has format {version!r}, and this version of GAN Studio reads formats 1 to 2"):
        run.restore_checkpoint(gan, folder)
    with pytest.raises(RunError, match="has format"):
        load_generator(run.path)


def test_a_tampered_manifest_is_refused(saved):
    config, _, run, folder = saved
    state = json.loads((folder / "state.json").read_text())
    state["objects"]["g_optimizer"][2]["shape"] = [100, 33]  # Adam's first moment of G's first kernel
    (folder / "state.json").write_text(json.dumps(state))
    target = build_gan(tiny(seed=7), SHAPE)
    before = values(target)
    with pytest.raises(RunError, match=r"g_optimizer/adam\S*/\S*kernel_momentum is float32 \[100, 33\] in the"):
        run.restore_checkpoint(target, folder, checkpoint_identity(config, SHAPE, None))
    assert_same(values(target), before)


def test_a_missing_or_broken_state_is_refused(saved):
    _, gan, run, folder = saved
    (folder / "state.json").write_text("{not json")
    with pytest.raises(RunError, match="cannot be read"):
        run.restore_checkpoint(gan, folder)
    (folder / "state.json").unlink()
    with pytest.raises(RunError, match="cannot be read"):
        run.restore_checkpoint(gan, folder)


def test_a_checkpoint_without_the_average_starts_it_at_g(saved):
    config, gan, run, folder = saved
    state = json.loads((folder / "state.json").read_text())
    del state["objects"]["ema_generator"]  # as a run trained without averaging writes it
    (folder / "state.json").write_text(json.dumps(state))
    target = build_gan(tiny(seed=7), SHAPE)
    run.restore_checkpoint(target, folder)
    for a, b in zip(target.ema_generator.get_weights(), gan.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_format_1_checkpoints_still_load(trained, tmp_path):
    """The layout written before formats had numbers: .weights.h5 files and optimizers.npz by position."""
    config, gan = trained
    run = RunDir.create(tmp_path, config)
    step = int(gan.step.numpy())
    folder = run.checkpoints_dir / f"ckpt-{step:09d}"
    folder.mkdir()
    gan.generator.save_weights(folder / "generator.weights.h5")
    gan.discriminator.save_weights(folder / "discriminator.weights.h5")
    gan.ema_generator.save_weights(folder / "ema_generator.weights.h5")
    np.savez(
        folder / "optimizers.npz",
        **{f"g_{i}": v.numpy() for i, v in enumerate(gan.g_optimizer.variables)},
        **{f"d_{i}": v.numpy() for i, v in enumerate(gan.d_optimizer.variables)},
        seed_state=gan.seed_generator.state.numpy(),
    )
    state = {"step": step, "image_shape": [28, 28, 1], "num_classes": None, "config": config.to_dict()}
    (folder / "state.json").write_text(json.dumps(state))

    target = build_gan(tiny(seed=7), SHAPE)
    assert run.restore_checkpoint(target, folder, checkpoint_identity(config, SHAPE, None))["format"] == 1
    assert_same(values(target), values(gan))
    generator = load_generator(run.path)
    for a, b in zip(generator.get_weights(), gan.ema_generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # What it was trained for is checked the same way (format 1 kept it in its config).
    with pytest.raises(RunError, match="preset 'tiny' in the checkpoint, 'dcgan' in this run"):
        run.restore_checkpoint(target, folder, {"preset": "dcgan"})


def test_an_orphan_tmp_folder_is_no_checkpoint_and_the_next_save_removes_it(saved):
    config, gan, run, folder = saved
    orphan = run.checkpoints_dir / ".tmp-ckpt-000000009"  # a process killed while writing step 9
    orphan.mkdir()
    (orphan / "state.json").write_text("{}")
    assert run.latest_checkpoint() == (3, folder)
    state = {**checkpoint_identity(config, SHAPE, None), "config": config.to_dict()}
    run.save_checkpoint(gan, 5, state)
    assert [s for s, _ in run.checkpoints()] == [3, 5] and not orphan.exists()
