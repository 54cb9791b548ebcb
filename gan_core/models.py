"""Architecture presets: one per seed recipe in shared/seeds, plus a tiny one for tests.

Each preset keeps its recipe's layers, activations and optimiser settings; what it does not keep
is the seed's Keras 2 training loop (see gan.py for why). Presets build for the dataset's image
shape: 28x28x1 as in the seeds, and also other sizes such as 32x32x3, or refuse with PresetError.

A discriminator ends in a sigmoid where its recipe does; loss families that need raw scores, and
conditional runs, get the same network without it (`logits=True`). Conditional networks wrap a
preset's own (`conditional_generator`, `projection_discriminator`), and so do the networks of a run
with a categorical code (`coded_generator`, `code_discriminator`; InfoGAN).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from gan_core.config import CODE_WEIGHT, PRECISIONS, TrainConfig

Shape = tuple[int, int, int]


class PresetError(ValueError):
    """A preset cannot be built for the requested image shape."""


@dataclass(frozen=True)
class Preset:
    name: str
    recipe: str  # which seed document the recipe comes from ("000".."003"), or "" for ours
    description: str
    make_generator: Callable[[int, Shape], keras.Model]
    make_discriminator: Callable[..., keras.Model]  # (shape, logits: bool) -> D
    from_logits: bool  # the recipe's D: True outputs a logit, False a sigmoid probability
    batch_size: int = 64
    augment: bool = False  # DiffAugment translation before D (gan.translate)
    codes: int = 0  # a categorical code in the noise (InfoGAN, NoiseCode) for unconditional runs
    code_weight: float = CODE_WEIGHT
    g_learning_rate: float = 2e-4
    d_learning_rate: float = 2e-4
    beta_1: float = 0.5
    # XLA fuses the dense presets' small ops (faster); for convolutions on this CPU it is slower
    # (dcgan: about 80 img/s with XLA against 390 without, batch 64, oneDNN on).
    jit_compile: bool = True
    # One forward pass for both updates (faster); False: G's update takes its own pass after D's.
    shared_forward: bool = True
    # Train in mixed bfloat16 (bfloat16 maths, float32 weights) where the CPU computes bfloat16
    # natively. Measured with the step alone, batch 64, on this 2-core AVX512-BF16 CPU, jit as
    # below: dense-bn 7,190 img/s against 6,083 in float32, dcgan 629 against 420; dense-relu
    # (4,871 against 6,054) and dense-conv (2,538 against 2,464) gain nothing, so they stay float32.
    mixed_bfloat16: bool = False

    def precision(self) -> str:
        """The precision this preset trains in on this machine, when the config leaves it open."""
        capability = gpu_compute_capability()
        if capability is not None:
            return gpu_precision(capability)
        return "mixed_bfloat16" if self.mixed_bfloat16 and native_bfloat16() else "float32"

    def jit_for(self, precision: str) -> bool:
        """XLA or not, when the config leaves it open: XLA on this CPU computes bfloat16 slower."""
        return self.jit_compile and precision == "float32"


def for_this_machine(config: TrainConfig) -> TrainConfig:
    """`config` resolved, with the precision and XLA choice this machine trains the preset best in
    where the config leaves them open. The engine calls it where it builds the networks."""
    config = config.resolved()
    preset = PRESETS[config.preset]
    precision = config.precision or preset.precision()
    jit = config.jit_compile if config.jit_compile is not None else preset.jit_for(precision)
    return dataclasses.replace(config, precision=precision, jit_compile=jit)


@functools.cache
def native_bfloat16() -> bool:
    """True on a CPU-only machine whose CPU does bfloat16 arithmetic in hardware (AVX512-BF16 or AMX)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    if not any(f" {flag}" in flags for flag in ("avx512_bf16", "amx_bf16")):
        return False
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")  # GPUs have their own trade-offs: gpu_precision()


@functools.cache
def gpu_compute_capability() -> tuple[int, int] | None:
    """The CUDA compute capability (major, minor) of the local GPUs, the lowest where they differ
    (a mirrored run goes at its slowest replica's pace); None without a GPU, or where TensorFlow
    does not say (a ROCm build, say)."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability is None:
            return None
        found.append(tuple(int(c) for c in capability))
    return min(found) if found else None


def gpu_precision(capability: tuple[int, int]) -> str:
    """What a GPU of this compute capability trains in by default (any preset: tensor cores pay off
    for dense layers too; the choice is unmeasured per preset, `python -m benchmarks.gpu` measures it).

    From 8.0 (Ampere on), tensor cores compute bfloat16 as fast as float16, and bfloat16 has
    float32's exponent range: no loss scaling, no skipped steps, and no underflow in the WGAN-GP
    penalty's inner gradient, which float16's loss scale does not cover. On 7.x (Volta,
    Turing) tensor cores compute float16 only, so float16 with loss scaling. Before 7.0: no tensor
    cores, and half precision would only add casts, so float32."""
    if capability >= (8, 0):
        return "mixed_bfloat16"
    if capability >= (7, 0):
        return "mixed_float16"
    return "float32"


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Layers built inside take `precision` as their dtype policy. Keras keeps the default policy
    per thread, so a training thread building in bfloat16 changes nothing for other threads."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _dense_generator(
    latent_dim: int, shape: Shape, hidden: list[int], block, name: str, init: str = "glorot_uniform"
) -> keras.Model:
    """Dense stack -> tanh image, the shape of seeds 000, 001 and 003."""
    model = keras.Sequential([keras.Input((latent_dim,))], name=name)
    for units in hidden:
        model.add(layers.Dense(units, kernel_initializer=init))
        for layer in block():
            model.add(layer)
    model.add(layers.Dense(int(np.prod(shape)), activation="tanh"))
    model.add(layers.Reshape(shape))
    return model


def _dense_discriminator(
    shape: Shape,
    hidden: list[int],
    activation,
    name: str,
    logits: bool = False,
    init: str = "glorot_uniform",
) -> keras.Model:
    model = keras.Sequential([keras.Input(shape), layers.Flatten()], name=name)
    for units in hidden:
        model.add(layers.Dense(units, kernel_initializer=init))
        model.add(activation())
    model.add(layers.Dense(1, activation=None if logits else "sigmoid"))
    return model


# --- seed 000: dense generator 100 -> 256 -> 784 (tanh), four-conv discriminator -------------


def dense_conv_generator(latent_dim: int, shape: Shape) -> keras.Model:
    # The seed's hidden Dense(256) has no activation; kept as written.
    return _dense_generator(latent_dim, shape, [256], list, "dense_conv_generator")


def dense_conv_discriminator(shape: Shape, logits: bool = False) -> keras.Model:
    model = keras.Sequential([keras.Input(shape)], name="dense_conv_discriminator")
    for filters in (32, 64, 128, 256):
        model.add(layers.Conv2D(filters, 3, strides=2, padding="same"))
        model.add(layers.LeakyReLU(0.2))
    model.add(layers.Flatten())
    model.add(layers.Dropout(0.4))
    model.add(layers.Dense(1, activation=None if logits else "sigmoid"))
    return model


# --- seed 001: dense ReLU generator 256-512-1024, dense discriminator 512-256 ----------------


# The seed names no initialiser. With Keras's default (Glorot) the generator's three ReLU layers
# shrink the noise's signal so much that its output barely depends on the noise: it collapses to one
# shape by step 250 and never recovers (tried: learning rates, beta_1, batch sizes, SGD, RMSprop,
# clipping, label smoothing). He initialisation, made for ReLU, together with the seed's own order
# of updates (G through the freshly updated D, `shared_forward=False`) trains it to all ten digits.


def dense_relu_generator(latent_dim: int, shape: Shape) -> keras.Model:
    return _dense_generator(
        latent_dim, shape, [256, 512, 1024], lambda: [layers.ReLU()], "dense_relu_generator", init="he_normal"
    )


def dense_relu_discriminator(shape: Shape, logits: bool = False) -> keras.Model:
    return _dense_discriminator(shape, [512, 256], layers.ReLU, "dense_relu_discriminator", logits, init="he_normal")


# --- seed 002: DCGAN (TensorFlow tutorial) ---------------------------------------------------


def dcgan_generator(latent_dim: int, shape: Shape) -> keras.Model:
    h, w, c = shape
    if h % 4 or w % 4:
        raise PresetError(
            f"preset 'dcgan' upsamples twice by 2, so image height and width must be multiples of 4 (got {h}x{w})"
        )
    h0, w0 = h // 4, w // 4
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(h0 * w0 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((h0, w0, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(c, 5, strides=2, padding="same", use_bias=False, activation="tanh"),
        ],
        name="dcgan_generator",
    )


def dcgan_discriminator(shape: Shape, logits: bool = True) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1, activation=None if logits else "sigmoid"),  # the seed's: a logit, BCE(from_logits=True)
        ],
        name="dcgan_discriminator",
    )


# --- seed 003: dense generator with LeakyReLU(0.2) + BatchNorm(momentum=0.8) -----------------


def dense_bn_generator(latent_dim: int, shape: Shape) -> keras.Model:
    def block():
        return [layers.LeakyReLU(0.2), layers.BatchNormalization(momentum=0.8)]

    return _dense_generator(latent_dim, shape, [256, 512, 1024], block, "dense_bn_generator")


def dense_bn_discriminator(shape: Shape, logits: bool = False) -> keras.Model:
    return _dense_discriminator(shape, [512, 256], lambda: layers.LeakyReLU(0.2), "dense_bn_discriminator", logits)


# --- ours: seed 003's networks trained for a few CPU minutes ----------------------------------
# `dense-bn-aug` changes how seed 003's networks train, not the networks. Measured on this 2-core CPU
# (README, "Better digits"): a batch of 256 costs little more time than a batch of 64 (the dense
# layers are latency-bound at 64), so three minutes hold nearly as many steps of four times the
# images, which a learning rate of 8e-4 uses; and with 5,000 images D sees each hundreds of times
# and memorises them (FD-digits turns back up after ~7,000 steps) unless real and fake images are
# shifted by a few pixels before it (DiffAugment, gan.translate). A small convolutional
# generator and dropout in D were tried and did worse per CPU minute.


# --- ours: a larger DCGAN for 32x32 colour images (CIFAR-10), and 64x64 ----------------------
# DCGAN (Radford et al. 2016) as it is usually built for 32x32: G grows a 4x4x512 Dense block through
# stride-2 Conv2DTranspose stages that halve the filters (256/128/64) to 32x32; D mirrors it with
# stride-2 convolutions 64/128/256. 4x4 kernels, a multiple of the stride, avoid the checkerboard
# that 5x5 kernels leave. 64x64 takes one more stage on each side, the filters doubled so that the
# stage nearest the pixels keeps 64. 28x28 (MNIST) is built as 32x32 with G's last convolution unpadded
# (5x5, 32 -> 28: no layer type that other presets' generators lack, which modelfile.py would refuse) and D's
# stride-2 convolutions going 28 -> 14 -> 7 -> 4. Other sizes would change the network's shape: refused.

DCGAN_32_STAGES = {32: 3, 64: 4}  # image side -> stride-2 stages between 4x4 and the image


def _dcgan_32_stages(shape: Shape) -> int:
    """The number of stride-2 stages for images of `shape`, or PresetError."""
    h, w, _c = shape
    side = 32 if h == 28 else h
    if h != w or side not in DCGAN_32_STAGES:
        raise PresetError(
            "preset 'dcgan-32' builds for square images of 32x32 or 64x64 (and 28x28, built as 32x32); "
            f"got {h}x{w}. Use 'dcgan' for other multiples of 4, or a dense preset for any size"
        )
    return DCGAN_32_STAGES[side]


def dcgan_32_generator(latent_dim: int, shape: Shape) -> keras.Model:
    stages = _dcgan_32_stages(shape)
    filters = 64 * 2**stages  # 512 for 32x32, 1024 for 64x64
    model = keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(4 * 4 * filters, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.2),
            layers.Reshape((4, 4, filters)),
        ],
        name="dcgan_32_generator",
    )
    for _ in range(stages):
        filters //= 2
        model.add(layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU(0.2))
    trim = shape[0] == 28  # 5x5 without padding: 32x32 -> 28x28
    model.add(layers.Conv2D(shape[2], 5 if trim else 3, padding="valid" if trim else "same", activation="tanh"))
    return model


def dcgan_32_discriminator(shape: Shape, logits: bool = True) -> keras.Model:
    model = keras.Sequential([keras.Input(shape)], name="dcgan_32_discriminator")
    for stage in range(_dcgan_32_stages(shape)):
        model.add(layers.Conv2D(64 * 2**stage, 4, strides=2, padding="same"))
        model.add(layers.LeakyReLU(0.2))
        model.add(layers.Dropout(0.3))
    model.add(layers.Flatten())
    model.add(layers.Dense(1, activation=None if logits else "sigmoid"))
    return model


# --- ours: a model small enough to test the engine in seconds --------------------------------


def tiny_generator(latent_dim: int, shape: Shape) -> keras.Model:
    return _dense_generator(latent_dim, shape, [32], lambda: [layers.ReLU()], "tiny_generator")


def tiny_discriminator(shape: Shape, logits: bool = True) -> keras.Model:
    return _dense_discriminator(shape, [32], lambda: layers.LeakyReLU(0.2), "tiny_discriminator", logits)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "dense-bn",
            "003",
            "Seed 003: dense generator 256-512-1024 with LeakyReLU(0.2) and BatchNorm(momentum 0.8), "
            "dense discriminator 512-256 with LeakyReLU(0.2); Adam(2e-4, beta_1 0.5). "
            "Trained at batch 256 with augmentation, it is the default (dense-bn-aug).",
            dense_bn_generator,
            dense_bn_discriminator,
            from_logits=False,
            mixed_bfloat16=True,
        ),
        Preset(
            "dense-relu",
            "001",
            "Seed 001: dense ReLU generator 256-512-1024, dense ReLU discriminator 512-256, sigmoid output; "
            "He-initialised ReLU layers and Adam(2e-4, beta_1 0.5) (the seed names neither).",
            dense_relu_generator,
            dense_relu_discriminator,
            from_logits=False,
            shared_forward=False,
        ),
        Preset(
            "dense-conv",
            "000",
            "Seed 000: dense generator latent->256->784 (tanh, linear hidden layer), four-conv discriminator "
            "32/64/128/256 (stride 2, LeakyReLU 0.2, dropout 0.4, sigmoid); Adam(2e-4, beta_1 0.5).",
            dense_conv_generator,
            dense_conv_discriminator,
            from_logits=False,
            jit_compile=False,
        ),
        Preset(
            "dcgan",
            "002",
            "Seed 002: DCGAN. Dense 7x7x256 + BatchNorm + LeakyReLU, Conv2DTranspose 128/64/1 (5x5); "
            "conv discriminator 64/128 with dropout 0.3 and a logit output; Adam(1e-4). "
            "The seed trains at batch 128; slow on a CPU.",
            dcgan_generator,
            dcgan_discriminator,
            from_logits=True,
            g_learning_rate=1e-4,
            d_learning_rate=1e-4,
            beta_1=0.9,
            jit_compile=False,
            mixed_bfloat16=True,
        ),
        Preset(
            "dense-bn-aug",
            "",
            "Ours, the default: seed 003's networks trained at batch 256 with Adam(8e-4, beta_1 0.5), "
            "DiffAugment translation before D and a 10-valued code in the noise (InfoGAN, weight 0.05, "
            "shares learned): the best digits in three CPU minutes.",
            dense_bn_generator,
            dense_bn_discriminator,
            from_logits=False,
            batch_size=256,
            augment=True,
            codes=10,
            code_weight=0.05,
            g_learning_rate=8e-4,
            d_learning_rate=8e-4,
            mixed_bfloat16=True,
        ),
        Preset(
            "dcgan-32",
            "",
            "Ours, for 32x32 colour images such as cifar10: a DCGAN with more filters. Dense 4x4x512 + BatchNorm + "
            "LeakyReLU(0.2), Conv2DTranspose 256/128/64 (4x4, stride 2), tanh; conv discriminator 64/128/256 "
            "(stride 2, LeakyReLU 0.2, dropout 0.3), logit output; Adam(2e-4, beta_1 0.5). 64x64 adds a stage "
            "each side; 28x28 is built as 32x32. Made for a GPU.",
            dcgan_32_generator,
            dcgan_32_discriminator,
            from_logits=True,
            jit_compile=False,
        ),
        Preset(
            "tiny",
            "",
            "Ours: one hidden layer of 32 units in each network, for testing the engine in seconds.",
            tiny_generator,
            tiny_discriminator,
            from_logits=True,
        ),
    ]
}


# --- conditional networks ----------------------------------------------------------------------
# The class reaches G as a one-hot vector concatenated to the noise: every preset's generator
# starts with a Dense layer, on which a one-hot input is exactly a learned per-class bias (what an
# embedding would give), with no new layer type and the preset's generator left as it is.
# The class reaches D by projection (Miyato & Koyama 2018, cGANs with projection discriminator):
# score = head(features(x)) + <embed(y), features(x)>. Concatenating the label to D's input works
# for dense presets only and trains worse; projection fits any preset with a linear last layer,
# which all have, and it is what SNGAN and BigGAN use.


def conditional_generator(body: keras.Model, latent_dim: int, num_classes: int) -> keras.Model:
    """G(noise, label): the preset's generator `body`, built for latent_dim + num_classes inputs."""
    noise = keras.Input((latent_dim,), name="noise")
    label = keras.Input((), dtype="int32", name="label")
    one_hot = layers.CategoryEncoding(num_classes, output_mode="one_hot", name="label_one_hot")(label)
    images = body(layers.Concatenate(name="noise_and_label")([noise, one_hot]))
    return keras.Model([noise, label], images, name=f"conditional_{body.name}")


def projection_discriminator(body: keras.Model, shape: Shape, num_classes: int) -> keras.Model:
    """D(image, label): the preset's discriminator `body` (built with logits) split into its
    features and its last Dense layer, plus a class embedding projected onto the features."""
    image = keras.Input(shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    x = image
    for layer in body.layers[:-1]:
        x = layer(x)
    head = body.layers[-1]
    embedded = layers.Embedding(num_classes, int(x.shape[-1]), name="label_embedding")(label)
    score = layers.Add(name="score")([head(x), layers.Dot(axes=1, name="projection")([embedded, x])])
    return keras.Model([image, label], score, name=f"projection_{body.name}")


# --- a categorical code in the noise (InfoGAN, Chen et al. 2016) ------------------------------
# The code is read off the noise itself: the index of the largest of its first `codes` values, which
# for Gaussian noise is uniform over the codes. G gets it as a one-hot vector beside the noise (as a
# class, above), and D a second head that guesses it from the image (gan.py trains both to agree).
# Because the code lives in the noise, G still takes one input: sampling, quality, the explorer,
# projection and export treat a coded generator as any other, and the fixed noise fixes the codes.
# Why: an unconditional dense G on digits draws some shapes between two digits; recovering the
# code pushes G to keep its codes apart, which on digits tend to become the digits (README, "Better
# digits": the classifier score rises, but FD-digits too where a code finds no digit of its own).
# The codes need not be equally likely: a bias per code, added to those values before the argmax,
# sets each code's share (the Gumbel-max trick, with Gaussian noise). gan.py moves the biases during
# training towards the digits' own proportions (GAN._balance_codes); the bias travels with G.


@keras.saving.register_keras_serializable(package="gan_studio")
class NoiseCode(layers.Layer):
    """The noise, with the one-hot code it carries appended: (N, latent_dim) -> (N, latent_dim + codes).

    With `prior`, the layer holds a bias per code (a weight, not trained by gradients) added to the
    noise's first `codes` values before the argmax: a larger bias, a larger share of the noise. Files
    written before the bias existed load without it (every code equally likely)."""

    def __init__(self, codes: int, prior: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.codes = int(codes)
        self.prior = bool(prior)
        self.bias = None

    def build(self, input_shape):
        if self.prior:
            self.bias = self.add_weight(
                shape=(self.codes,), initializer="zeros", trainable=False, name="code_bias", aggregation="mean"
            )

    def code(self, noise):
        """The code (N,) int32 each row of `noise` carries."""
        return code_of(noise, self.codes, self.bias)

    def call(self, noise):
        one_hot = keras.ops.one_hot(self.code(noise), self.codes, dtype=noise.dtype)
        return keras.ops.concatenate([noise, one_hot], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] + self.codes)

    def get_config(self):
        return {**super().get_config(), "codes": self.codes, "prior": self.prior}


def code_of(noise, codes: int, bias=None):
    """The code (N,) int32 each row of `noise` carries: what `NoiseCode` one-hot encodes (with its bias, if any)."""
    values = noise[:, :codes] if bias is None else noise[:, :codes] + keras.ops.cast(bias, noise.dtype)
    return keras.ops.cast(keras.ops.argmax(values, axis=-1), "int32")


def code_layer(generator) -> NoiseCode | None:
    """A coded generator's `NoiseCode` layer, None for any other generator."""
    return next((layer for layer in generator.layers if isinstance(layer, NoiseCode)), None)


def coded_generator(body: keras.Model, latent_dim: int, codes: int, prior: bool = True) -> keras.Model:
    """G(noise): the preset's generator `body`, built for latent_dim + codes inputs, fed the noise and
    its code; `prior=False` builds the code without its biases, as files of before they existed."""
    noise = keras.Input((latent_dim,), name="noise")
    # In float32 whatever the policy: in bfloat16, two of the noise's values would tie far more often.
    images = body(NoiseCode(codes, prior=prior, dtype="float32", name="noise_code")(noise))
    return keras.Model(noise, images, name=f"coded_{body.name}")


def code_discriminator(body: keras.Model, shape: Shape, codes: int) -> keras.Model:
    """D(image) -> [score, code logits]: the preset's discriminator `body` with a second head, a Dense
    layer of `codes` logits on the features its own last layer reads (InfoGAN's Q, sharing D's layers)."""
    image = keras.Input(shape, name="image")
    x = image
    for layer in body.layers[:-1]:
        x = layer(x)
    logits = layers.Dense(codes, name="code_head")(x)
    return keras.Model(image, [body.layers[-1](x), logits], name=f"code_{body.name}")


def build_models(
    preset: str,
    latent_dim: int,
    shape: Shape,
    precision: str = "float32",
    *,
    logits: bool | None = None,
    num_classes: int | None = None,
    codes: int = 0,
    code_prior: bool = True,
) -> tuple[keras.Model, keras.Model]:
    """The preset's (generator, discriminator) for images of `shape` (H, W, C).

    `logits`: True builds D without a final sigmoid, False with one, None as its recipe does.
    `num_classes`: build the conditional pair, G(noise, label) and D(image, label).
    `codes`: build G(noise) with a code of that many values in the noise, and D(image) -> [score, code logits];
    `code_prior=False` without the codes' biases (a checkpoint of before they existed).
    With precision "mixed_bfloat16" ("mixed_float16") the layers compute in bfloat16 (float16) and
    keep float32 weights, and the networks' outputs are bfloat16 (float16): cast them before losses
    or images."""
    if preset not in PRESETS:
        raise PresetError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape[:2]) < 4:
        raise PresetError(f"presets build for images of shape (H, W, 1) or (H, W, 3) with H, W >= 4 (got {shape})")
    if precision not in PRECISIONS:
        raise PresetError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    p = PRESETS[preset]
    logits = p.from_logits if logits is None else logits
    with dtype_policy(precision):
        if num_classes is None and codes:
            if not 1 <= codes <= latent_dim:
                raise PresetError(f"a code has 1 to latent_dim ({latent_dim}) values (got {codes})")
            generator = coded_generator(p.make_generator(latent_dim + codes, shape), latent_dim, codes, code_prior)
            return generator, code_discriminator(p.make_discriminator(shape, logits=logits), shape, codes)
        if num_classes is None:
            return p.make_generator(latent_dim, shape), p.make_discriminator(shape, logits=logits)
        if num_classes < 2:
            raise PresetError(f"a conditional GAN needs at least 2 classes (got {num_classes})")
        generator = conditional_generator(p.make_generator(latent_dim + num_classes, shape), latent_dim, num_classes)
        discriminator = projection_discriminator(p.make_discriminator(shape, logits=True), shape, num_classes)
        return generator, discriminator
