"""Latent vectors and the pictures made from them: fixed noise, grids, lerp/slerp walks, PNG and GIF."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from gan_core.storage import as_path


def fixed_noise(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """The same `n` standard-normal latent vectors for the same seed, on every machine."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] -> uint8 in [0, 255] (NaN becomes 0 rather than garbage)."""
    images = np.nan_to_num(np.asarray(images, dtype="float32"), nan=-1.0)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype("uint8")


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile (N, H, W, C) images in [-1, 1] into one uint8 picture, (H', W') for grey, (H', W', 3) for colour."""
    images = to_uint8(images)
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.zeros((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), dtype="uint8")
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = image
    return grid[..., 0] if c == 1 else grid


def upscale(picture: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so that 28-pixel digits stay crisp on a projector."""
    return picture.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else picture


def png_bytes(picture: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(picture: np.ndarray, path: str | Path) -> Path:
    path = as_path(path)  # a bucket's too: the PNG goes as bytes
    path.write_bytes(png_bytes(picture))
    return path


def gif_bytes(frames: list[np.ndarray], fps: float = 8.0, loop: int = 0) -> bytes:
    """An animated GIF of uint8 pictures (all the same size)."""
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=loop)


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Straight line from a (t=0) to b (t=1)."""
    t = np.asarray(t, dtype="float32")[..., None]
    return ((1.0 - t) * a + t * b).astype("float32")


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Great-circle path from a to b; keeps the norm typical of Gaussian noise (White, 2016)."""
    t = np.asarray(t, dtype="float32")[..., None]
    cos = np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:  # (anti)parallel: the arc degenerates, the line is the same path
        return lerp(a, b, t[..., 0])
    return ((np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype("float32")


def walk(a: np.ndarray, b: np.ndarray, frames: int, method: str = "slerp") -> np.ndarray:
    """`frames` latent vectors from a to b inclusive."""
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp' (got {method!r})")
    return (slerp if method == "slerp" else lerp)(a, b, np.linspace(0.0, 1.0, frames))


# ------------------------------------------------------------------ drawing from a generator
class Sampler:
    """The one way anything draws images from a generator: grids, quality, explorer, CLI, export.

    `sampler(noise)` for an unconditional generator, `sampler(noise, labels)` for a conditional
    one (G(noise, label), see models.conditional_generator); float32 images in [-1, 1], whatever
    precision the generator computes in. One traced call serves every batch size.

    `labels` may also be class weights of shape (N, num_classes), e.g. (1 - t) * one_hot(a) +
    t * one_hot(b): the generator's network then sees that mix where it saw a one-hot vector,
    which is how the explorer walks from one class to another with the same noise.
    """

    def __init__(self, generator, batch_size: int = 256):
        import tensorflow as tf

        self.generator = generator
        self.batch_size = batch_size
        self.conditional = len(generator.inputs) == 2
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.num_classes = num_classes_of(generator)
        self.codes = codes_of(generator)  # the values of the code its noise carries (InfoGAN), or None
        self.image_shape = tuple(int(s) for s in generator.output_shape[1:])
        noise_spec = tf.TensorSpec((None, self.latent_dim), tf.float32)
        if self.conditional:
            self._call = tf.function(
                lambda z, y: tf.cast(generator([z, y], training=False), tf.float32),
                input_signature=[noise_spec, tf.TensorSpec((None,), tf.int32)],
            )
            body = next(layer for layer in generator.layers if hasattr(layer, "layers"))  # the preset's G
            self._call_mixed = tf.function(
                lambda z, c: tf.cast(body(tf.concat([z, c], axis=1), training=False), tf.float32),
                input_signature=[noise_spec, tf.TensorSpec((None, self.num_classes), tf.float32)],
            )
        else:
            self._call = tf.function(
                lambda z: tf.cast(generator(z, training=False), tf.float32), input_signature=[noise_spec]
            )

    def __call__(self, noise: np.ndarray, labels: np.ndarray | int | None = None) -> np.ndarray:
        noise = np.ascontiguousarray(noise, dtype="float32").reshape(-1, self.latent_dim)
        if not self.conditional:
            if labels is not None:
                raise ValueError("this generator is unconditional: it cannot be asked for a class")
            return self._batched(noise)
        if labels is None:
            raise ValueError(f"this generator is conditional: give a class (0..{self.num_classes - 1}) per image")
        if np.ndim(labels) == 2:  # class weights, one row per image
            weights = np.ascontiguousarray(labels, dtype="float32")
            if weights.shape != (len(noise), self.num_classes):
                raise ValueError(
                    f"class weights must have shape ({len(noise)}, {self.num_classes}) (got {weights.shape})"
                )
            return self._batched(noise, weights, call=self._call_mixed)
        labels = np.broadcast_to(np.asarray(labels, dtype="int32"), (len(noise),))
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"classes must be between 0 and {self.num_classes - 1} (got {labels.min()}..{labels.max()})"
            )
        return self._batched(noise, labels)

    def draw(self, noise, labels=None):
        """The generator on tensors, for code that differentiates through it (projection, inside a
        tf.function or a GradientTape): float32 images of (N, latent_dim) noise, classes (N,) int32
        for a conditional generator. Unchecked and unbatched: `__call__` is the way for arrays."""
        return self._call(noise, labels) if self.conditional else self._call(noise)

    def balanced_labels(self, n: int) -> np.ndarray | None:
        """0, 1, ..., K-1, 0, 1, ...: n labels covering the classes evenly (None if unconditional)."""
        return np.arange(n, dtype="int32") % self.num_classes if self.conditional else None

    def with_code(self, noise: np.ndarray, code) -> np.ndarray:
        """`noise` changed so that its generator draws it with `code` (an int or one per row): what the
        grid and the explorer use to show one code. ValueError if this generator's noise has no code."""
        if not self.codes:
            raise ValueError("this generator's noise carries no code")
        noise = np.ascontiguousarray(noise, dtype="float32").reshape(-1, self.latent_dim)
        code = np.broadcast_to(np.asarray(code, dtype="int64"), (len(noise),))
        if code.size and (code.min() < 0 or code.max() >= self.codes):
            raise ValueError(f"codes must be between 0 and {self.codes - 1} (got {code.min()}..{code.max()})")
        return with_code(noise, code, self.codes, code_bias(self.generator))

    def grid(self, noise: np.ndarray) -> np.ndarray:
        """The sample grid: one image per noise vector, or one row per class for a conditional
        generator (per code, for one whose noise carries a code), each column one noise vector (the
        same noise across the rows, but for which of its first values is the largest)."""
        rows = self.num_classes or self.codes
        if not rows:
            return make_grid(self(noise))
        cols = max(1, len(noise) // rows)
        z, row = np.tile(noise[:cols], (rows, 1)), np.repeat(np.arange(rows), cols)
        if self.conditional:
            return make_grid(self(z, row), ncols=cols)
        return make_grid(self(self.with_code(z, row)), ncols=cols)

    def _batched(self, *arrays: np.ndarray, call=None) -> np.ndarray:
        call = call or self._call
        n, step = len(arrays[0]), self.batch_size
        if n == 0:
            return np.zeros((0, *self.image_shape), "float32")
        return np.concatenate([call(*(a[i : i + step] for a in arrays)).numpy() for i in range(0, n, step)])


def with_code(noise: np.ndarray, codes: np.ndarray, n: int, bias: np.ndarray | None = None) -> np.ndarray:
    """`noise` changed to carry `codes` (models.NoiseCode reads the largest of the first `n` values,
    each plus its code's `bias` if any): in each row, the largest of those values trades places with
    the one at its code's index, so the noise keeps its values and its distribution; with a bias,
    that value is then raised just enough, where it must be, to stay the largest once biased."""
    noise = np.array(noise, dtype="float32")
    rows, largest = np.arange(len(noise)), noise[:, :n].argmax(axis=1)
    noise[rows, largest], noise[rows, codes] = noise[rows, codes], noise[rows, largest]
    if bias is not None:
        biased = noise[:, :n] + bias
        biased[rows, codes] = -np.inf
        floor = biased.max(axis=1) - bias[codes] + 1e-3
        noise[rows, codes] = np.maximum(noise[rows, codes], floor)
    return noise


def code_bias(generator) -> np.ndarray | None:
    """The biases of the codes in a generator's noise (models.NoiseCode), None without a code or biases."""
    for layer in generator.layers:
        if layer.__class__.__name__ == "NoiseCode" and getattr(layer, "bias", None) is not None:
            return np.asarray(layer.bias.numpy(), dtype="float32")
    return None


def codes_of(generator) -> int | None:
    """How many values the code in a generator's noise has (models.NoiseCode), None if it has none."""
    for layer in generator.layers:
        if layer.__class__.__name__ == "NoiseCode":
            return int(layer.codes)
    return None


def num_classes_of(generator) -> int | None:
    """How many classes a conditional generator draws (its one-hot layer's size), None if unconditional."""
    if len(generator.inputs) != 2:
        return None
    for layer in generator.layers:
        if layer.__class__.__name__ == "CategoryEncoding":
            return int(layer.num_tokens)
    raise ValueError("this model takes two inputs but has no class one-hot layer: it is not one of our generators")
