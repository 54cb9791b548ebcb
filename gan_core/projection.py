"""Find a digit in the latent space: the noise whose image is closest to a target image (GAN inversion).

    found = project(sampler, target)            # target: (H, W, C) in [-1, 1], the generator's range
    found.noise, found.image, found.distance     # the best start's noise, its image, its pixel distance

Gradient descent (Adam) on the noise, from several random starts at once (one batch), to lower

    loss = mean squared pixel error
         + feature_weight * mean squared error of the digit classifier's 128 penultimate features
         + prior_weight * (mean(z^2) - 1)^2

The feature term (only for 28x28x1 images, the classifier's input) pulls the search towards an
image the classifier reads like the target (the same digit, strokes of the same kind), where the
pixel error weighs every pixel alike; the prior term keeps the noise on the shell where Gaussian
noise of this size lives, so that the found noise walks and slerps like any seed's.

The steps run inside one traced function (a `tf.while_loop`), and Adam is written out on loop
variables rather than `tf.Variable`s, so that two sessions may project through it at once.

`distance` is Euclidean, in the pixels of [-1, 1] images, as the Explore page's nearest real
images (`explorer.nearest`): 0 is the target itself.

`digit_from_picture` and `digit_from_upload` turn a drawing (a canvas's RGBA pixels, or a small
PNG or JPEG) into a 28x28 digit prepared as MNIST's were: inverted to white on black when drawn
dark on light, cropped to the ink, fitted into 20x20 keeping its aspect, placed in 28x28 by its
centre of mass.
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gan_core.latent import Sampler

# Defaults for the default preset (dense-bn-aug, latent_dim 100) on this 2-core CPU: 8 starts x 300
# steps take about 1 s a projection, under the 3 s target (benchmarks/projection.py: median 0.8-1.4 s,
# max 0.9-2.6 s with other work on the machine). Tried on 25 held-out digits: steps lower the distance
# more than starts do (4 or 8 starts x 400 steps, 8 or 16 x 300: the same median), and Adam's step of
# 0.1 did a little better than 0.05 and clearly better than 0.02.
STARTS = 8
STEPS = 300
LEARNING_RATE = 0.1  # Adam's step, in units of the noise (whose entries are N(0, 1))
# Between two unrelated real digits the feature term then weighs a quarter of the pixel term, between
# nearest neighbours a tenth: it steers the search towards the right kind of digit, pixels do the rest.
FEATURE_WEIGHT = 0.05
PRIOR_WEIGHT = 0.1  # enough to hold mean(z^2) at 1.02 (1.22 without) for no loss in distance
UPDATES = 4  # progress reports per projection: the steps run in this many compiled chunks

# Drawings and uploads.
DIGIT_SIZE, DIGIT_BOX = 28, 20  # MNIST: digits fitted into 20x20, centred by mass in 28x28
INK = 0.2  # a pixel is ink above this share of the strongest ink: below it, JPEG's ringing and paper texture
MAX_UPLOAD_BYTES = 5 * 2**20
MAX_SIDE = 4_096  # pixels per side of a drawing or an upload
MIN_SIDE = 8


class ProjectionError(ValueError):
    """A target, drawing or upload that cannot be projected; the message says why."""


@dataclass(frozen=True, eq=False)  # arrays inside: equality would be ambiguous, so identity it is
class Projection:
    """What a projection found: the best start's noise, its image and how far that image is from the target."""

    noise: np.ndarray  # (latent_dim,) float32
    image: np.ndarray  # (H, W, C) float32 in [-1, 1]: the generator's image of `noise` (as the Sampler draws it)
    distance: float  # Euclidean distance of `image` to the target, in [-1, 1] pixels
    seconds: float  # wall time of the search
    label: int | None = None  # the class it is drawn as (a conditional generator), else None
    starts: int = STARTS
    steps: int = STEPS


Progress = Callable[[int, float, np.ndarray], None]  # (step, best distance so far, its image)


class Projector:
    """The compiled search for one generator: built and traced once, then reused.

    Thread-safe: the traced function keeps no state between calls. `features` says whether the digit
    classifier's feature distance is part of the loss (28x28x1 images and feature_weight > 0).
    """

    def __init__(
        self,
        sampler: Sampler,
        feature_weight: float = FEATURE_WEIGHT,
        prior_weight: float = PRIOR_WEIGHT,
        learning_rate: float = LEARNING_RATE,
    ):
        import tensorflow as tf

        from gan_core import quality

        self.sampler = sampler
        self.features = sampler.image_shape == quality.IMAGE_SHAPE and feature_weight > 0
        self.classifier = quality.load_classifier() if self.features else None
        self.feature_weight = float(feature_weight) if self.features else 0.0
        self.prior_weight = float(prior_weight)
        self.learning_rate = float(learning_rate)
        d, shape = sampler.latent_dim, sampler.image_shape
        vector, matrix = tf.TensorSpec((None,), tf.float32), tf.TensorSpec((None, d), tf.float32)
        self._run = tf.function(
            self._steps,
            input_signature=[
                tf.TensorSpec(shape, tf.float32),  # target
                tf.TensorSpec((None,), tf.int32),  # labels (ignored by an unconditional generator)
                (matrix, matrix, matrix, vector, vector, matrix),  # z, Adam's m and v, best loss, pixel, z
                tf.TensorSpec((), tf.int32),  # steps taken so far (Adam's bias correction)
                tf.TensorSpec((), tf.int32),  # steps to take now
            ],
        )
        # Trace now, not in the first search (as the Explorer does): about a second, once per generator.
        self.project(np.zeros(shape, "float32"), 0 if sampler.conditional else None, starts=1, steps=1)

    def project(
        self,
        target: np.ndarray,
        label: int | None = None,
        *,
        starts: int = STARTS,
        steps: int = STEPS,
        seed: int = 0,
        progress: Progress | None = None,
        updates: int = UPDATES,
    ) -> Projection:
        """The noise whose image is closest to `target` (H, W, C) in [-1, 1]; see the module's docstring.

        `label`: a conditional generator's class for every start; None spreads the starts over the
        classes in turn (the best start's class is returned). `progress(step, distance, image)` is
        called `updates` times, after each compiled chunk of steps, with the best start so far.
        """
        import tensorflow as tf

        started = time.perf_counter()
        target = self._check_target(target)
        starts, steps, updates = _count("starts", starts, 1, 1024), _count("steps", steps, 1, 100_000), int(updates)
        labels = self._labels(label, starts)
        z = np.random.default_rng(seed).standard_normal((starts, self.sampler.latent_dim)).astype("float32")
        zeros = np.zeros_like(z)
        inf = np.full(starts, np.inf, "float32")
        state = (z, zeros, zeros, inf, inf, z)
        done = 0
        for chunk in np.array_split(np.arange(steps), max(1, min(updates, steps))):
            state = self._run(tf.constant(target), tf.constant(labels), state, done, len(chunk))
            done += len(chunk)
            if progress is not None:
                best = int(np.argmin(state[3]))
                noise = state[5][best].numpy()
                distance = float(np.sqrt(float(state[4][best]) * target.size))  # from the mean squared error
                progress(done, distance, self._image(noise, labels[best]))
        best = int(np.argmin(state[3]))
        noise = state[5][best].numpy()
        image = self._image(noise, labels[best])
        noise.flags.writeable = image.flags.writeable = False
        return Projection(
            noise=noise,
            image=image,
            distance=float(np.sqrt(np.sum((image.astype("float64") - target) ** 2))),
            seconds=time.perf_counter() - started,
            label=int(labels[best]) if self.sampler.conditional else None,
            starts=starts,
            steps=steps,
        )

    # --- the compiled part -------------------------------------------------------------------------
    def _losses(self, z, labels, target, target_features):
        """(loss, mean squared pixel error) per start."""
        import tensorflow as tf

        images = self.sampler.draw(z, labels if self.sampler.conditional else None)
        pixel = tf.reduce_mean(tf.square(images - target[None]), axis=[1, 2, 3])
        loss = pixel + self.prior_weight * tf.square(tf.reduce_mean(tf.square(z), axis=1) - 1.0)
        if self.features:
            features = self.classifier.feature_tensors(images)
            loss += self.feature_weight * tf.reduce_mean(tf.square(features - target_features), axis=1)
        return loss, pixel

    def _steps(self, target, labels, state, done, steps):
        """`steps` Adam steps on every start's noise; the best noise of each start so far is kept."""
        import tensorflow as tf

        beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7
        target_features = self.classifier.feature_tensors(target[None]) if self.features else None
        z, m, v, best_loss, best_pixel, best_z = state

        def keep_best(z, loss, pixel, best_loss, best_pixel, best_z):
            better = loss < best_loss
            return (
                tf.where(better, loss, best_loss),
                tf.where(better, pixel, best_pixel),
                tf.where(better[:, None], z, best_z),
            )

        for i in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss, pixel = self._losses(z, labels, target, target_features)
                total = tf.reduce_sum(loss)  # the starts are independent: one sum, one gradient per start
            gradient = tape.gradient(total, z)
            best_loss, best_pixel, best_z = keep_best(z, loss, pixel, best_loss, best_pixel, best_z)
            # Adam (Kingma & Ba, 2015), by hand on loop variables.
            t = tf.cast(done + i + 1, tf.float32)
            m = beta_1 * m + (1.0 - beta_1) * gradient
            v = beta_2 * v + (1.0 - beta_2) * tf.square(gradient)
            step = self.learning_rate * tf.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
            z = z - step * m / (tf.sqrt(v) + epsilon)
        loss, pixel = self._losses(z, labels, target, target_features)  # where the last step landed
        best_loss, best_pixel, best_z = keep_best(z, loss, pixel, best_loss, best_pixel, best_z)
        return z, m, v, best_loss, best_pixel, best_z

    # --- checks and helpers ------------------------------------------------------------------------
    def _check_target(self, target) -> np.ndarray:
        shape = self.sampler.image_shape
        target = np.asarray(target, dtype="float32")
        if target.ndim == 2 and shape[2] == 1:
            target = target[..., None]
        if target.shape != shape:
            raise ProjectionError(
                f"the target must be one image of shape {shape}, as the generator draws (got {target.shape})"
            )
        if not np.isfinite(target).all():
            raise ProjectionError("the target has NaN or infinite pixels")
        if target.min() < -1.001 or target.max() > 1.001:
            raise ProjectionError(
                "the target's pixels must be in [-1, 1], the generator's range "
                f"(got {target.min():.3g}..{target.max():.3g})"
            )
        return np.clip(target, -1.0, 1.0)

    def _labels(self, label: int | None, starts: int) -> np.ndarray:
        if not self.sampler.conditional:
            if label is not None:
                raise ProjectionError("this generator is unconditional: it cannot be asked for a class")
            return np.zeros(starts, "int32")
        if label is None:
            return self.sampler.balanced_labels(starts)
        if not 0 <= int(label) < self.sampler.num_classes:
            raise ProjectionError(f"the class must be between 0 and {self.sampler.num_classes - 1} (got {label})")
        return np.full(starts, int(label), "int32")

    def _image(self, noise: np.ndarray, label) -> np.ndarray:
        return self.sampler(noise[None], label if self.sampler.conditional else None)[0]


def _count(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ProjectionError(f"{name} must be a whole number between {low} and {high} (got {value!r})")
    return int(value)


_projectors: weakref.WeakKeyDictionary[Sampler, Projector] = weakref.WeakKeyDictionary()
_projectors_lock = threading.Lock()


def projector_for(sampler: Sampler) -> Projector:
    """The Projector of a sampler with the default weights, built once per sampler."""
    with _projectors_lock:
        found = _projectors.get(sampler)
        if found is None:
            found = _projectors[sampler] = Projector(sampler)
        return found


def project(sampler: Sampler, target: np.ndarray, label: int | None = None, **options) -> Projection:
    """`Projector.project` with the default weights (see the module's docstring)."""
    return projector_for(sampler).project(target, label, **options)


# ------------------------------------------------------------------ drawings and uploads -> digits
def digit_from_upload(data: bytes) -> np.ndarray:
    """A small PNG or JPEG of a handwritten digit -> a 28x28x1 digit in [-1, 1] (see `digit_from_picture`).

    Raises ProjectionError with a message a person can act on: not an image, too large, or blank."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ProjectionError("the file is empty; upload a PNG or JPEG of one digit")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ProjectionError(
            f"the file is {len(data) / 2**20:.1f} MiB; a picture of one digit needs far less "
            f"(at most {MAX_UPLOAD_BYTES // 2**20} MiB)"
        )
    unreadable = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)
    try:
        picture = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])  # reads the header only
    except unreadable as e:
        raise ProjectionError("the file is not a PNG or JPEG image; upload a PNG or JPEG of one digit") from e
    with picture:
        width, height = picture.size
        if max(width, height) > MAX_SIDE:
            raise ProjectionError(
                f"the image is {width}x{height} pixels; a picture of one digit needs at most {MAX_SIDE} a side"
            )
        try:
            transparent = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
            pixels = np.asarray(picture.convert("RGBA" if transparent else "L"))
        except unreadable as e:  # a truncated or corrupt file fails only when its pixels are decoded
            raise ProjectionError(f"the image could not be decoded ({e}); save it again as PNG or JPEG") from e
    return digit_from_picture(pixels)


def digit_from_picture(pixels: np.ndarray) -> np.ndarray:
    """A drawing's uint8 pixels -> a 28x28x1 digit in [-1, 1], prepared as MNIST's digits were.

    `pixels`: (H, W) grey, or (H, W, 3) RGB, or (H, W, 4) RGBA such as a drawing canvas returns; any
    size from 8 to 4,096 a side; light strokes on dark or dark strokes on light (the border's colour
    is taken for the background); a transparent background is laid under the strokes in the colour
    opposite theirs. Then, as MNIST (LeCun et al.): the ink is cropped to its bounding box, fitted
    into a 20x20 box keeping its aspect ratio (anti-aliased), and placed in a 28x28 field so that its
    centre of mass is at the centre. Raises ProjectionError for a blank drawing.
    """
    ink = _ink(pixels)
    rows, cols = np.flatnonzero(ink.max(axis=1) > INK), np.flatnonzero(ink.max(axis=0) > INK)
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    fitted = _fit(ink, DIGIT_BOX)
    h, w = fitted.shape
    mass = fitted.sum()
    centre_y = (fitted.sum(axis=1) @ np.arange(h)) / mass
    centre_x = (fitted.sum(axis=0) @ np.arange(w)) / mass
    middle = DIGIT_SIZE / 2  # where MNIST puts it: the mean centre of mass of its digits is (14.0, 14.0)
    top = int(np.clip(np.rint(middle - centre_y), 0, DIGIT_SIZE - h))  # never pushed off the field
    left = int(np.clip(np.rint(middle - centre_x), 0, DIGIT_SIZE - w))
    digit = np.zeros((DIGIT_SIZE, DIGIT_SIZE), "float32")
    digit[top : top + h, left : left + w] = fitted
    return (digit * 2.0 - 1.0)[..., None]


def _ink(pixels: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, 0 (background) to 1 (the strongest stroke), as float32 (H, W)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ProjectionError(f"a drawing's pixels must be uint8, 0..255 (got {pixels.dtype})")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise ProjectionError(f"a drawing must be grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4) (got {pixels.shape})")
    h, w = pixels.shape[:2]
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise ProjectionError(f"the drawing is {w}x{h} pixels; it must be {MIN_SIDE} to {MAX_SIDE} pixels a side")
    values = pixels.astype("float32") / 255.0
    grey = values if values.ndim == 2 else values[..., :3] @ np.array([0.299, 0.587, 0.114], "float32")
    if values.ndim == 3 and values.shape[2] == 4 and values[..., 3].min() < 1.0:
        alpha = values[..., 3]
        if alpha.max() < 0.1:
            raise ProjectionError("the drawing is empty: draw a digit first")
        # A transparent canvas: the strokes are where it is opaque. Light strokes go on black, dark ones on white.
        background = 0.0 if np.average(grey, weights=alpha) > 0.5 else 1.0
        grey = alpha * grey + (1.0 - alpha) * background
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    ink = grey - background if background < 0.5 else background - grey  # dark on light is inverted
    strongest = float(ink.max())
    if strongest < 0.2:  # nothing stands out from the background by a fifth of the range
        raise ProjectionError("the drawing is empty: draw a digit first (light on dark, or dark on light)")
    ink = np.clip(ink / strongest, 0.0, 1.0)
    ink[ink < INK] = 0.0
    return ink


def _fit(ink: np.ndarray, box: int) -> np.ndarray:
    """The ink resized so that its longer side is `box` pixels, aspect kept (Lanczos, as anti-aliased as MNIST's)."""
    from PIL import Image

    h, w = ink.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    picture = Image.fromarray(np.rint(ink * 255).astype("uint8")).resize(size, Image.Resampling.LANCZOS)
    fitted = np.asarray(picture, dtype="float32") / 255.0
    if fitted.sum() == 0:  # a speck that vanished in the resize
        raise ProjectionError("the drawing is empty: draw a digit first")
    return fitted
