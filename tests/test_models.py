import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_core.config import TrainConfig
from gan_core.gan import build_gan
from gan_core.losses import LOSSES
from gan_core.models import PRESETS, PresetError, build_models

RECIPES = {"000": "dense-conv", "001": "dense-relu", "002": "dcgan", "003": "dense-bn"}


def test_one_preset_per_seed_recipe_with_the_recipe_in_its_description():
    for recipe, name in RECIPES.items():
        assert PRESETS[name].recipe == recipe
        assert f"Seed {recipe}" in PRESETS[name].description


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_output_shapes(name, shape):
    generator, discriminator = build_models(name, 100, shape)
    assert generator.output_shape == (None, *shape)
    assert discriminator.output_shape == (None, 1)
    assert generator.input_shape == (None, 100)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_without_its_sigmoid_and_conditionally(name):
    _, d = build_models(name, 100, (28, 28, 1), logits=True)
    assert d.layers[-1].activation.__name__ == "linear"
    g, d = build_models(name, 100, (28, 28, 1), num_classes=10)
    assert [tuple(i.shape) for i in g.inputs] == [(None, 100), (None,)] and g.output_shape == (None, 28, 28, 1)
    assert [tuple(i.shape) for i in d.inputs] == [(None, 28, 28, 1), (None,)] and d.output_shape == (None, 1)
    assert d.get_layer("projection") is not None  # the class reaches D by projection (models.py says why)


def layer_kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_seed_000_layers():
    g, d = build_models("dense-conv", 100, (28, 28, 1))
    assert [l.units for l in g.layers if isinstance(l, keras.layers.Dense)] == [256, 784]
    assert [l.filters for l in d.layers if isinstance(l, keras.layers.Conv2D)] == [32, 64, 128, 256]
    assert all(l.strides == (2, 2) for l in d.layers if isinstance(l, keras.layers.Conv2D))
    assert [l.rate for l in d.layers if isinstance(l, keras.layers.Dropout)] == [0.4]
    assert d.layers[-1].activation.__name__ == "sigmoid"


def test_seed_001_and_003_layers():
    g, d = build_models("dense-relu", 100, (28, 28, 1))
    assert [l.units for l in g.layers if isinstance(l, keras.layers.Dense)] == [256, 512, 1024, 784]
    assert layer_kinds(g).count("ReLU") == 3
    assert [l.units for l in d.layers if isinstance(l, keras.layers.Dense)] == [512, 256, 1]
    hidden = [l for m in (g, d) for l in m.layers if isinstance(l, keras.layers.Dense) and l.units not in (1, 784)]
    assert all(isinstance(l.kernel_initializer, keras.initializers.HeNormal) for l in hidden)  # see models.py
    g, d = build_models("dense-bn", 100, (28, 28, 1))
    assert [l.momentum for l in g.layers if isinstance(l, keras.layers.BatchNormalization)] == [0.8] * 3
    assert [l.negative_slope for l in g.layers if isinstance(l, keras.layers.LeakyReLU)] == [0.2] * 3
    assert layer_kinds(d).count("LeakyReLU") == 2


def test_seed_002_dcgan_layers():
    g, d = build_models("dcgan", 100, (28, 28, 1))
    assert g.layers[0].units == 7 * 7 * 256
    assert [(l.filters, l.kernel_size) for l in g.layers if isinstance(l, keras.layers.Conv2DTranspose)] == [
        (128, (5, 5)),
        (64, (5, 5)),
        (1, (5, 5)),
    ]
    assert [l.filters for l in d.layers if isinstance(l, keras.layers.Conv2D)] == [64, 128]
    assert [l.rate for l in d.layers if isinstance(l, keras.layers.Dropout)] == [0.3, 0.3]
    assert PRESETS["dcgan"].from_logits and PRESETS["dcgan"].g_learning_rate == 1e-4


def test_shapes_a_preset_cannot_build_are_refused_clearly():
    with pytest.raises(PresetError, match="multiples of 4 .*30x30"):
        build_models("dcgan", 100, (30, 30, 1))
    with pytest.raises(PresetError, match=r"\(H, W, 1\) or \(H, W, 3\)"):
        build_models("dense-bn", 100, (28, 28, 2))
    with pytest.raises(PresetError, match="unknown preset"):
        build_models("vgg", 100, (28, 28, 1))


def batch(n: int = 8):
    """(images, labels) as the data pipeline yields them."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (n, 28, 28, 1)).astype("float32"), rng.integers(0, 10, n).astype("int32")


@pytest.mark.parametrize("name", list(PRESETS))
def test_one_training_step_gives_finite_metrics_and_changes_both_networks(name):
    config = TrainConfig(preset=name, batch_size=8, jit_compile=False).resolved()
    gan = build_gan(config, (28, 28, 1))
    g_before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    gan.train_step(batch())
    metrics = gan.read_metrics()
    assert tuple(metrics) == LOSSES["bce"]().names + (("code_accuracy",) if config.codes else ())
    assert all(math.isfinite(v) for v in metrics.values())
    assert 0 <= metrics["d_acc_real"] <= 1 and 0 <= metrics["d_fake"] <= 1
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, gan.generator.trainable_weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(d_before, gan.discriminator.trainable_weights))
    assert gan.read_metrics() is None  # read resets the sums


def test_mixed_bfloat16_computes_in_bfloat16_keeps_float32_weights_and_draws_float32_images():
    config = TrainConfig(preset="tiny", batch_size=8, precision="mixed_bfloat16", jit_compile=False, ema=0.0).resolved()
    gan = build_gan(config, (28, 28, 1))
    assert keras.config.dtype_policy().name == "float32"  # the bfloat16 policy stayed inside the build
    for model in (gan.generator, gan.discriminator):
        assert {layer.compute_dtype for layer in model.layers} == {"bfloat16"}
        assert {w.dtype for w in model.weights} == {"float32"}
    gan.train_step(batch())
    assert all(math.isfinite(v) for v in gan.read_metrics().values())
    images = gan.sampler(np.zeros((3, 100), "float32"))
    assert images.dtype == np.float32 and images.shape == (3, 28, 28, 1)


def test_an_unknown_precision_is_refused():
    with pytest.raises(PresetError, match="unknown precision 'float16'"):
        build_models("tiny", 100, (28, 28, 1), precision="float16")


# ------------------------------------------------------------------ larger images: dcgan-32, and every preset at 64x64
# Where a preset cannot build for a shape, the message it must give; every other pair builds.
REFUSED = {
    ("dcgan-32", (48, 48, 3)): r"32x32 or 64x64 \(and 28x28, built as 32x32\); got 48x48",
}


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (64, 64, 3), (48, 48, 3)])
def test_every_preset_builds_for_larger_images_or_says_why_not(name, shape):
    if (name, shape) in REFUSED:
        with pytest.raises(PresetError, match=REFUSED[name, shape]):
            build_models(name, 16, shape)
        return
    generator, discriminator = build_models(name, 16, shape)
    assert generator.output_shape == (None, *shape) and discriminator.output_shape == (None, 1)


@pytest.mark.parametrize(
    "shape, transposed, convolutions",
    [
        ((32, 32, 3), [256, 128, 64], [64, 128, 256]),
        ((32, 32, 1), [256, 128, 64], [64, 128, 256]),
        ((64, 64, 3), [512, 256, 128, 64], [64, 128, 256, 512]),  # one more stage each side
        ((64, 64, 1), [512, 256, 128, 64], [64, 128, 256, 512]),
    ],
)
def test_dcgan_32_layers(shape, transposed, convolutions):
    g, d = build_models("dcgan-32", 100, shape)
    assert g.output_shape == (None, *shape) and d.output_shape == (None, 1)
    assert g.layers[0].units == 4 * 4 * 2 * transposed[0]  # 4x4x512 for 32x32
    stages = [l for l in g.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert [(l.filters, l.kernel_size, l.strides) for l in stages] == [(f, (4, 4), (2, 2)) for f in transposed]
    assert layer_kinds(g).count("BatchNormalization") == len(transposed) + 1
    assert g.layers[-1].filters == shape[2] and g.layers[-1].activation.__name__ == "tanh"
    d_convs = [l for l in d.layers if isinstance(l, keras.layers.Conv2D)]
    assert [(l.filters, l.strides) for l in d_convs] == [(f, (2, 2)) for f in convolutions]
    assert [l.negative_slope for l in d.layers if isinstance(l, keras.layers.LeakyReLU)] == [0.2] * len(convolutions)
    assert layer_kinds(d).count("Dropout") == len(convolutions)
    assert d.layers[-1].activation.__name__ == "linear"  # a logit
    preset = PRESETS["dcgan-32"]
    assert preset.from_logits and preset.batch_size == 64
    assert (preset.g_learning_rate, preset.d_learning_rate, preset.beta_1) == (2e-4, 2e-4, 0.5)


def test_dcgan_32_builds_mnist_sized_images_as_32x32():
    g, d = build_models("dcgan-32", 100, (28, 28, 1))
    assert g.layers[-2].output.shape[1:] == (32, 32, 64)
    assert (g.layers[-1].kernel_size, g.layers[-1].padding) == ((5, 5), "valid") and g.output_shape == (None, 28, 28, 1)
    d_convs = [l for l in d.layers if isinstance(l, keras.layers.Conv2D)]
    assert [l.output.shape[1:3] for l in d_convs] == [(14, 14), (7, 7), (4, 4)]  # as from 32x32: 4x4 at the end


@pytest.mark.parametrize("shape", [(30, 30, 3), (48, 48, 3), (16, 16, 1), (128, 128, 3), (32, 64, 3)])
def test_dcgan_32_refuses_other_sizes_naming_the_ones_it_builds(shape):
    with pytest.raises(PresetError) as refused:
        build_models("dcgan-32", 100, shape)
    message = str(refused.value)
    assert f"got {shape[0]}x{shape[1]}" in message
    assert "preset 'dcgan-32'" in message and "32x32 or 64x64" in message and "28x28" in message
    assert "'dcgan'" in message  # and where to go instead


def test_dcgan_32_trains_two_steps_on_colour_images():
    shape = (32, 32, 3)
    config = TrainConfig(preset="dcgan-32", batch_size=4, jit_compile=False).resolved()
    gan = build_gan(config, shape)
    g_before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (4, *shape)).astype("float32")
    labels = np.zeros(4, "int32")
    gan.train_steps(iter(tf.data.Dataset.from_tensors((images, labels)).repeat()), 2)
    assert int(gan.step.numpy()) == 2
    metrics = gan.read_metrics()
    assert {"d_loss", "g_loss"} <= set(metrics) and all(math.isfinite(v) for v in metrics.values())
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, gan.generator.trainable_weights))
    assert gan.sampler(np.zeros((2, config.latent_dim), "float32")).shape == (2, *shape)
