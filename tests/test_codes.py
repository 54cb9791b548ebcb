"""A categorical code in G's noise that D learns to recover (InfoGAN): models, step, config, files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from gan_core.config import ConfigError, TrainConfig
from gan_core.data import load_dataset, make_dataset
from gan_core.engine import TrainingRun
from gan_core.gan import build_gan
from gan_core.latent import Sampler, with_code
from gan_core.losses import CODE_CHART, LOSSES, make_loss
from gan_core.modelfile import load_keras_file
from gan_core.models import NoiseCode, build_models, code_of, coded_generator
from gan_core.runs import RunDir, load_generator
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-sample")


def test_the_code_is_the_largest_of_the_first_values_one_hot_beside_the_noise():
    noise = np.array([[0.1, 2.0, -1.0, 5.0], [3.0, -2.0, 0.0, 9.0]], "float32")  # codes read from the first 3
    out = NoiseCode(3)(noise).numpy()
    np.testing.assert_array_equal(out[:, :4], noise)
    np.testing.assert_array_equal(out[:, 4:], [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(code_of(noise, 3), [1, 0])
    # Gaussian noise carries each code about equally often.
    counts = np.bincount(code_of(np.random.default_rng(0).normal(size=(20_000, 8)), 4), minlength=4)
    assert counts.min() > 0.95 * 5_000 and counts.max() < 1.05 * 5_000


def test_coded_networks_take_noise_alone_and_d_gains_a_code_head():
    g, d = build_models("dense-bn-aug", 100, (28, 28, 1), codes=10)
    assert g.input_shape == (None, 100) and g.output_shape == (None, 28, 28, 1)
    assert d.output_shape == [(None, 1), (None, 10)] and d.get_layer("code_head").units == 10
    assert Sampler(g).conditional is False  # it samples like any unconditional generator


def test_the_code_loss_equals_its_cross_entropy_times_the_weight():
    gan = build_gan(TrainConfig(preset="tiny", codes=3, code_weight=0.5, batch_size=2, ema=0.0), (28, 28, 1))
    noise = tf.concat([tf.constant([[0.0, 4.0, 1.0, 0.3], [2.0, 1.0, 0.0, -1.0]]), tf.zeros((2, 96))], axis=1)
    logits = tf.constant([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
    codes = [1, 0]  # the largest of each row's first three values
    log_softmax = logits.numpy() - np.log(np.exp(logits.numpy()).sum(1, keepdims=True))
    expected = 0.5 * np.mean([-log_softmax[i, c] for i, c in enumerate(codes)])
    assert float(gan._code_loss(noise, logits)) == pytest.approx(expected, rel=1e-6)
    assert float(gan._code_accuracy(noise, logits)) == 0.5  # row 0 read as 1 (right), row 1 as 2 (wrong)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_family_trains_with_a_code_and_reports_how_often_d_reads_it(loss, digits):
    gan = build_gan(TrainConfig(preset="tiny", loss=loss, codes=4, batch_size=16), (28, 28, 1))
    gan.train_steps(iter(make_dataset(digits.images, 16, 0, digits.labels)), 3)
    metrics = gan.read_metrics()
    assert tuple(metrics) == make_loss(loss).names + ("code_accuracy",)
    assert all(math.isfinite(v) for v in metrics.values()) and 0.0 <= metrics["code_accuracy"] <= 1.0


def test_the_seeds_own_order_of_updates_trains_with_a_code_too(digits):
    config = TrainConfig(preset="dense-relu", codes=10, batch_size=16, precision="float32", jit_compile=False)
    gan = build_gan(config, (28, 28, 1))  # shared_forward=False: G's update takes its own pass
    gan.train_steps(iter(make_dataset(digits.images, 16, 0, digits.labels)), 2)
    assert math.isfinite(gan.read_metrics()["code_accuracy"])


def test_the_default_preset_carries_a_code_other_presets_and_conditional_runs_none():
    from gan_core.models import PRESETS

    default = TrainConfig().resolved()  # README, "Better digits": why the default has a code
    assert (default.codes, default.code_weight) == (PRESETS[default.preset].codes, PRESETS[default.preset].code_weight)
    assert default.codes == 10
    assert TrainConfig(conditional=True).resolved().codes == 0  # labels tell G the digit instead
    assert TrainConfig(latent_dim=8).resolved().codes == 0  # no room for it in the noise
    assert TrainConfig(codes=0).resolved().codes == 0  # off when asked
    assert TrainConfig(preset="dense-bn").resolved().codes == 0  # the seeds' recipes stay as they were
    assert TrainConfig(codes=4, code_weight=0.3).resolved().code_weight == 0.3


def test_a_code_with_a_class_or_without_room_is_refused():
    with pytest.raises(ConfigError, match="codes and conditional"):
        TrainConfig(codes=10, conditional=True).validate()
    with pytest.raises(ConfigError, match=r"codes must be at most latent_dim \(8\)"):
        TrainConfig(codes=12, latent_dim=8).validate()


def test_a_coded_run_charts_its_code_exports_a_safe_file_and_continues(tmp_path):
    run = TrainingRun(tiny_config(codes=5, steps=20), runs_dir=tmp_path).start()
    assert run.wait(120) == "finished", run.snapshot().error
    snap = run.snapshot()
    assert snap.charts[-1] == CODE_CHART and "code_accuracy" in snap.history
    assert snap.grid.shape == (5 * 30 + 2, 3 * 30 + 2)  # a row per code: 16 noise vectors -> 3 columns
    folder = RunDir(snap.run_dir)
    generator = load_keras_file(folder.generator_path)  # the safe loader accepts the code layer
    assert generator.get_layer("noise_code").codes == 5
    np.testing.assert_allclose(
        Sampler(generator)(np.ones((2, 100))), Sampler(load_generator(snap.run_dir))(np.ones((2, 100)))
    )
    folder.generator_path.unlink()  # the checkpoint rebuilds it, code and all
    assert load_generator(snap.run_dir).get_layer("noise_code").codes == 5
    more = TrainingRun.continue_from(snap.run_dir, steps=30).start()
    assert more.wait(120) == "finished", more.snapshot().error
    assert more.snapshot().step == 30


def test_a_default_preset_run_written_before_codes_existed_reads_as_without_one(tmp_path):
    settings = TrainConfig().to_dict()
    del settings["codes"], settings["code_weight"]  # what an older version wrote for the default preset
    (tmp_path / "config.json").write_text(json.dumps(settings))
    assert RunDir(tmp_path).read_config().resolved().codes == 0


def test_runs_written_before_codes_existed_read_as_without_one(tmp_path):
    run = TrainingRun(tiny_config(steps=10), runs_dir=tmp_path).start()
    assert run.wait(120) == "finished", run.snapshot().error
    folder = RunDir(run.snapshot().run_dir)
    config = folder.config_path.read_text()
    folder.config_path.write_text(config.replace('"codes": 0,', ""))  # as an older version wrote it
    assert '"codes"' not in folder.config_path.read_text()
    for state in folder.checkpoints_dir.glob("*/state.json"):  # and its checkpoints
        held = json.loads(state.read_text())
        del held["codes"]
        state.write_text(json.dumps(held))
    assert folder.read_config().codes == 0
    folder.generator_path.unlink()
    assert "noise_code" not in [layer.name for layer in load_generator(str(folder.path)).layers]
    more = TrainingRun.continue_from(folder.path, steps=20).start()
    assert more.wait(120) == "finished", more.snapshot().error


def test_noise_made_to_carry_a_code_keeps_its_values():
    noise = np.random.default_rng(1).normal(size=(12, 6)).astype("float32")
    codes = np.arange(12) % 4
    moved = with_code(noise, codes, 4)
    np.testing.assert_array_equal(code_of(moved, 4), codes)
    np.testing.assert_array_equal(np.sort(moved, axis=1), np.sort(noise, axis=1))  # two values trade places
    np.testing.assert_array_equal(moved[:, 4:], noise[:, 4:])


def test_a_codes_bias_sets_its_share_of_the_noise_and_older_files_have_none():
    layer = NoiseCode(4, prior=True)
    noise = np.random.default_rng(2).normal(size=(20_000, 8)).astype("float32")
    np.testing.assert_array_equal(layer(noise)[:, 8:].numpy().sum(0) > 0, True)  # built, biases zero: all codes
    layer.bias.assign([1.0, 0.0, 0.0, -1.0])
    shares = np.bincount(layer.code(noise), minlength=4) / len(noise)
    np.testing.assert_array_equal(layer.code(noise), code_of(noise, 4, np.array([1.0, 0.0, 0.0, -1.0])))
    assert shares[0] > 0.4 and shares[3] < 0.1 and abs(shares[1] - shares[2]) < 0.02
    assert NoiseCode.from_config(layer.get_config()).prior is True
    older = NoiseCode.from_config({"name": "noise_code", "codes": 4})  # as files of before the biases
    older.build((None, 8))
    assert older.prior is False and older.weights == []


def test_balancing_moves_each_codes_bias_by_how_much_realer_than_the_average_fake_d_finds_it():
    gan = build_gan(TrainConfig(preset="tiny", codes=3, code_balance=0.1, batch_size=4, ema=0.0), (28, 28, 1))
    # Rows carry codes 0, 0, 1, 2; D's logits on them 1, 3, 0, -2 (as probabilities where D ends in a sigmoid).
    noise = tf.concat([tf.constant([[5.0, 0, 0], [5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]]), tf.zeros((4, 97))], axis=1)
    logits = tf.constant([[1.0], [3.0], [0.0], [-2.0]])
    gan._balance_codes(noise, logits if gan.loss.from_logits else tf.sigmoid(logits))
    # Per code 2, 0, -2 against 0.5 on average: gaps 1.5, -0.5, -2.5; times 0.1, centred.
    np.testing.assert_allclose(gan._code_layer.bias.numpy(), [0.2, 0.0, -0.2], atol=1e-5)
    gan._balance_codes(noise[:2], logits[:2] if gan.loss.from_logits else tf.sigmoid(logits[:2]))
    np.testing.assert_allclose(gan._code_layer.bias.numpy(), [0.2, 0.0, -0.2], atol=1e-5)  # absent codes: no gap
    for _ in range(200):  # however far D's view pushes them, the biases stay bounded
        gan._balance_codes(noise, logits * 100 if gan.loss.from_logits else tf.sigmoid(logits * 100))
    assert np.abs(gan._code_layer.bias.numpy()).max() <= 3.0


@pytest.mark.parametrize("preset", ["tiny", "dense-relu"])  # the shared forward pass, and the seeds' own order
def test_training_moves_the_biases_only_when_balancing_and_the_average_follows(preset, digits):
    for balance in (0.0, 0.05):
        config = TrainConfig(
            preset=preset, codes=4, code_balance=balance, batch_size=16, precision="float32", jit_compile=False
        )
        gan = build_gan(config, (28, 28, 1))
        gan.train_steps(iter(make_dataset(digits.images, 16, 0, digits.labels)), 5)
        bias = gan._code_layer.bias.numpy()
        average = gan.sampling_generator.get_layer("noise_code").bias.numpy()
        assert np.all(np.isfinite(bias)) and abs(bias.sum()) < 1e-5
        assert (np.abs(bias).max() > 0) == bool(balance) and (np.abs(average).max() > 0) == bool(balance)


def test_noise_made_to_carry_a_code_carries_it_whatever_the_biases():
    noise = np.random.default_rng(3).normal(size=(400, 6)).astype("float32")
    codes, bias = np.arange(400) % 4, np.array([2.5, -1.0, 0.5, -2.0], "float32")
    moved = with_code(noise, codes, 4, bias)
    np.testing.assert_array_equal(code_of(moved, 4, bias), codes)
    np.testing.assert_array_equal(moved[:, 4:], noise[:, 4:])
    generator, _ = build_models("tiny", 100, (28, 28, 1), codes=4)
    generator.get_layer("noise_code").bias.assign(bias)
    sampler = Sampler(generator)
    drawn = sampler.with_code(np.random.default_rng(4).normal(size=(8, 100)), 3)
    np.testing.assert_array_equal(code_of(drawn, 4, bias), [3] * 8)
    with pytest.raises(ValueError, match="between 0 and 3"):
        sampler.with_code(drawn, 4)


def test_a_coded_generator_saved_before_the_biases_existed_still_loads_and_samples(tmp_path):
    body, _ = build_models("tiny", 104, (28, 28, 1))
    older = coded_generator(body, 100, 4, prior=False)
    older.save(tmp_path / "generator.keras")
    loaded = load_keras_file(tmp_path / "generator.keras")
    assert loaded.get_layer("noise_code").bias is None
    sampler = Sampler(loaded)
    noise = sampler.with_code(np.random.default_rng(5).normal(size=(4, 100)), [0, 1, 2, 3])
    np.testing.assert_array_equal(code_of(noise, 4), [0, 1, 2, 3])
    np.testing.assert_allclose(sampler(noise), Sampler(older)(noise), atol=1e-6)
