"""Latent vectors and the pictures made from them: fixed noise, grids, lerp/slerp walks, PNG and GIF."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np


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
    path = Path(path)
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
