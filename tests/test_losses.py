"""Loss families: values worked out by hand, every family training alone and conditional, and G's average."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_core.config import TrainConfig
from gan_core.data import load_dataset, make_dataset
from gan_core.gan import build_gan, translate
from gan_core.losses import BCE, LOSSES, Hinge, LeastSquares, Minimax, WassersteinGP, make_loss

# Fixed D outputs (one column, as D gives them): two real, two fake.
REAL = tf.constant([[2.0], [-1.0]])
FAKE = tf.constant([[0.5], [-3.0]])


def values(t) -> list[float]:
    return [round(float(v), 6) for v in np.asarray(t)]


def test_hinge_losses_equal_the_hand_computed_values():
    hinge = Hinge()
    # D: relu(1 - r) + relu(1 + f): r=2 -> 0, r=-1 -> 2; f=0.5 -> 1.5, f=-3 -> 0.
    assert values(hinge.d_loss(REAL, FAKE)) == [0 + 1.5, 2 + 0]
    assert values(hinge.g_loss(FAKE)) == [-0.5, 3.0]
    metrics = {k: float(v) for k, v in hinge.metrics(REAL, FAKE).items()}
    assert metrics == {"d_real": 0.5, "d_fake": -1.25, "margin_real": 0.5, "margin_fake": 0.5}


def test_least_squares_losses_equal_the_hand_computed_values():
    lsgan = LeastSquares()
    # D: 0.5 ((r - 1)^2 + f^2) = 0.5 (1 + 0.25), 0.5 (4 + 9); G: 0.5 (f - 1)^2 = 0.5 * 0.25, 0.5 * 16.
    assert values(lsgan.d_loss(REAL, FAKE)) == [0.625, 6.5]
    assert values(lsgan.g_loss(FAKE)) == [0.125, 8.0]


def test_bce_and_minimax_on_logits_and_on_probabilities():
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731 -- BCE(1, logit x) = softplus(-x)
    bce = BCE(from_logits=True)
    expected = [0.5 * (softplus(-2.0) + softplus(0.5)), 0.5 * (softplus(1.0) + softplus(-3.0))]
    np.testing.assert_allclose(values(bce.d_loss(REAL, FAKE)), expected, atol=1e-5)
    np.testing.assert_allclose(values(bce.g_loss(FAKE)), [softplus(-0.5), softplus(3.0)], atol=1e-5)
    # Minimax: G minimises log(1 - D(G(z))) = -softplus(f).
    np.testing.assert_allclose(
        values(Minimax(from_logits=True).g_loss(FAKE)), [-softplus(0.5), -softplus(-3.0)], atol=1e-5
    )
    # The seeds' sigmoid discriminators: the same losses from probabilities.
    probabilities = BCE(from_logits=False)
    np.testing.assert_allclose(values(probabilities.d_loss(tf.sigmoid(REAL), tf.sigmoid(FAKE))), expected, atol=1e-5)


def test_wgan_gp_penalty_on_a_linear_critic_equals_the_hand_computed_value():
    # critic(x) = <w, x>: its gradient is w at every interpolate, whatever alpha, so the penalty is
    # gp_weight * (||w|| - 1)^2 = 10 * (5 - 1)^2 = 160 for each example.
    w = tf.constant([3.0, 4.0])
    critic = lambda x: tf.reduce_sum(x * w, axis=1, keepdims=True)  # noqa: E731
    real = tf.constant([[1.0, 2.0], [0.0, -1.0], [5.0, 5.0]])
    fake = tf.constant([[-1.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    penalty = WassersteinGP(gp_weight=10.0).penalty(critic, real, fake)
    np.testing.assert_allclose(values(penalty), [160.0, 160.0, 160.0], rtol=1e-5)


def test_wgan_gp_penalty_is_taken_at_the_interpolates():
    # critic(x) = 0.5 ||x||^2 has gradient x; with real == fake every interpolate is that image,
    # so the penalty is gp_weight * (||x|| - 1)^2: ||(3, 4)|| = 5 -> 16, ||(0.6, 0.8)|| = 1 -> 0.
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=1, keepdims=True)  # noqa: E731
    images = tf.constant([[3.0, 4.0], [0.6, 0.8]])
    np.testing.assert_allclose(
        values(WassersteinGP(gp_weight=2.0).penalty(critic, images, images)), [32.0, 0.0], atol=1e-4
    )


def test_wgan_gp_critic_and_generator_losses():
    wgan = WassersteinGP()
    assert values(wgan.d_loss(REAL, FAKE)) == [0.5 - 2.0, -3.0 + 1.0]
    assert values(wgan.g_loss(FAKE)) == [-0.5, 3.0]
    metrics = {k: float(v) for k, v in wgan.metrics(REAL, FAKE, penalty=tf.constant([1.0, 3.0])).items()}
    assert metrics == {"critic_real": 0.5, "critic_fake": -1.25, "wasserstein": 1.75, "gradient_penalty": 2.0}


def test_families_that_need_raw_scores_say_so_and_the_registry_names_them_all():
    assert list(LOSSES) == ["bce", "minimax", "lsgan", "hinge", "wgan-gp"]
    assert [name for name, family in LOSSES.items() if family.needs_logits] == ["lsgan", "hinge", "wgan-gp"]
    for name, family in LOSSES.items():
        loss = make_loss(name)
        assert loss.names[:2] == ("d_loss", "g_loss") and family.description
        assert all(key in loss.names for chart in family.charts for key in chart.keys), name
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        make_loss("l1")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-sample")


@pytest.mark.parametrize("conditional", [False, True], ids=["alone", "conditional"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_family_trains_a_few_steps_with_finite_losses(loss, conditional, digits):
    config = TrainConfig(preset="tiny", loss=loss, conditional=conditional, batch_size=16)
    gan = build_gan(config, (28, 28, 1), digits.num_classes)
    batches = iter(make_dataset(digits.images, 16, 0, digits.labels))
    gan.train_steps(batches, 3)
    metrics = gan.read_metrics()
    assert tuple(metrics) == make_loss(loss).names
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert int(gan.d_updates.numpy()) == (5 if loss == "wgan-gp" else 1)


def test_a_sigmoid_preset_gets_its_logits_for_a_family_that_needs_them():
    config = TrainConfig(preset="dense-bn", loss="hinge", batch_size=8, precision="float32")
    gan = build_gan(config, (28, 28, 1))
    assert gan.discriminator.layers[-1].activation.__name__ == "linear"
    bce = build_gan(TrainConfig(preset="dense-bn", batch_size=8, precision="float32"), (28, 28, 1))
    assert bce.discriminator.layers[-1].activation.__name__ == "sigmoid" and not bce.loss.from_logits


def test_the_average_of_g_after_k_steps_equals_the_formula(digits):
    decay, k = 0.9, 4
    config = TrainConfig(preset="tiny", batch_size=8, ema=decay, jit_compile=False)
    gan = build_gan(config, (28, 28, 1))
    batches = iter(make_dataset(digits.images, 8, 0))
    expected = [w.numpy().copy() for w in gan.generator.weights]  # the average starts at G
    for t in range(k):
        gan.train_steps(batches, 1)
        d = min(decay, (1 + t) / (10 + t))  # the warm-up of gan.GAN._average_generator
        expected = [d * e + (1 - d) * w.numpy() for e, w in zip(expected, gan.generator.weights)]
    for e, w in zip(expected, gan.ema_generator.weights):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-5, atol=1e-6)
    assert not all(
        np.array_equal(e.numpy(), w.numpy()) for e, w in zip(gan.ema_generator.weights, gan.generator.weights)
    )
    assert gan.sampling_generator is gan.ema_generator


def test_without_averaging_samples_come_from_g():
    gan = build_gan(TrainConfig(preset="tiny", batch_size=8, ema=0.0), (28, 28, 1))
    assert gan.ema_generator is None and gan.sampling_generator is gan.generator


def test_conditional_grid_has_one_row_per_class_and_one_column_per_noise_vector():
    gan = build_gan(TrainConfig(preset="tiny", conditional=True, ema=0.0), (28, 28, 1), 10)
    noise = np.random.default_rng(0).standard_normal((16, 100)).astype("float32")
    grid = gan.sampler.grid(noise)
    assert grid.shape == (10 * 30 + 2, 1 * 30 + 2)  # 16 // 10 = 1 column, 10 rows, 2 px padding
    images = gan.sampler(noise[:3], 7)
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.float32
    one_hot = keras.ops.convert_to_numpy(keras.ops.one_hot(np.array([7, 7, 7]), 10))
    np.testing.assert_allclose(gan.sampler(noise[:3], one_hot), images, atol=1e-6)
    with pytest.raises(ValueError, match="classes must be between 0 and 9"):
        gan.sampler(noise[:1], 10)


def test_translation_shifts_each_image_by_at_most_an_eighth_and_passes_gradients():
    images = np.full((64, 28, 28, 1), -1.0, np.float32)
    images[:, 10:18, 12:16] = 1.0  # an 8x4 stroke well inside the frame
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        shifted = translate(x)
        total = tf.reduce_sum(shifted)
    out = shifted.numpy()[..., 0]
    tops = [np.nonzero(o > 0)[0].min() for o in out]
    lefts = [np.nonzero(o > 0)[1].min() for o in out]
    assert all((o > 0).sum() == 32 for o in out)  # the stroke moved whole, nothing clipped
    assert set(tops) <= set(range(6, 15)) and set(lefts) <= set(range(8, 17))  # at most 4 px each way
    assert len(set(zip(tops, lefts))) > 10  # shifted per image, not once per batch
    assert tape.gradient(total, x).numpy().sum() > 0


def test_augmented_training_takes_a_step():
    gan = build_gan(TrainConfig(preset="tiny", batch_size=8, augment=True), (28, 28, 1))
    assert gan.augment
    gan.train_step((tf.zeros((8, 28, 28, 1)), tf.zeros((8,), tf.int32)))
    assert all(math.isfinite(v) for v in gan.read_metrics().values())
