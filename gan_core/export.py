"""A synthetic dataset drawn from a trained generator, as an .npz that training reads back.

    images  uint8 (N, H, W, C), 0..255: what gan_core.data reads as dataset "npz"
    labels  int64 (N,), for a conditional generator only: the classes in turn (0, 1, ..., K-1, 0, ...),
            or one class for every image

Drawn through the run's `latent.Sampler` from `fixed_noise(n, latent_dim, seed)`, so the same
run, n, seed and class give the same arrays from `python -m gan_core sample RUN --out x.npz` and
from the Runs page. Train on it again with `--dataset npz --npz-path x.npz` (and `--conditional true`
to use its labels).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from gan_core.data import MAX_NPZ_BYTES
from gan_core.latent import Sampler, fixed_noise, to_uint8
from gan_core.runs import RunError, load_generator

MAX_IMAGES = 60_000  # as many as MNIST's training set
CHUNK = 4_096  # images held as float32 at once, whatever n


def load_sampler(source: str | Path) -> Sampler:
    """The Sampler of a run folder (generator.keras, else its latest checkpoint) or a .keras file.
    RunError (a ValueError) when there is none, or the model is not one of our generators."""
    from gan_core.explorer import check_generator

    generator = load_generator(source)
    check_generator(generator)
    try:
        return Sampler(generator)
    except ValueError as e:  # two inputs but no class one-hot layer
        raise RunError(str(e)) from e


def max_images(image_shape: tuple[int, ...]) -> int:
    """The most images one export holds: MAX_IMAGES, and no more than gan_core.data reads back
    (MAX_NPZ_BYTES of uint8 pixels)."""
    return max(1, min(MAX_IMAGES, MAX_NPZ_BYTES // math.prod(image_shape)))


def synthetic_dataset(
    sampler: Sampler, n: int, seed: int = 0, class_: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """`n` images drawn by `sampler` as uint8 (N, H, W, C), and their labels (None if unconditional):
    every class in turn, or `class_` for all of them. ValueError, saying the range, for a bad n or class."""
    limit = max_images(sampler.image_shape)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= limit:
        size = "x".join(str(s) for s in sampler.image_shape)
        raise ValueError(f"a synthetic dataset of {size} images holds between 1 and {limit:,} images (got {n!r})")
    if class_ is not None and not sampler.conditional:
        raise ValueError("this generator is unconditional: it cannot be asked for a class")
    if class_ is not None and not 0 <= class_ < sampler.num_classes:
        raise ValueError(f"the class must be between 0 and {sampler.num_classes - 1} (got {class_})")
    labels = None
    if sampler.conditional:
        labels = np.full(n, class_, "int64") if class_ is not None else sampler.balanced_labels(n).astype("int64")
    noise = fixed_noise(n, sampler.latent_dim, seed)
    images = np.empty((n, *sampler.image_shape), "uint8")
    for i in range(0, n, CHUNK):
        chunk = slice(i, i + CHUNK)
        images[chunk] = to_uint8(sampler(noise[chunk], None if labels is None else labels[chunk]))
    return images, labels


def npz_bytes(images: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """The .npz file of a synthetic dataset (compressed: generated digits are mostly black)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, **({} if labels is None else {"labels": labels}))
    return buffer.getvalue()


def export_npz(source: str | Path, n: int, seed: int = 0, class_: int | None = None) -> bytes:
    """The .npz of `n` images drawn by the generator of `source` (a run folder or a .keras file)."""
    return npz_bytes(*synthetic_dataset(load_sampler(source), n, seed, class_))
