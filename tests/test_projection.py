"""Tests for gan_core.projection: the search finds a noise the generator drew from; drawings and uploads
become MNIST-style digits; bad targets and bad uploads are refused with a message."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from gan_core import projection
from gan_core.data import load_images
from gan_core.latent import Sampler, fixed_noise, png_bytes, to_uint8
from gan_core.models import build_models
from gan_core.projection import ProjectionError, Projector, digit_from_picture, digit_from_upload

pytestmark = pytest.mark.timeout(120)

# A pixel distance (Euclidean over 784 pixels in [-1, 1]) of 0.5 is an RMS error of 0.018 a pixel,
# 2.3 grey levels of 255: invisible. Two different samples of these generators lie about 5 apart.
FOUND = 0.5


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.sum((np.asarray(a, "float64") - b) ** 2)))


@pytest.fixture(scope="module")
def sampler():
    """The default preset's generator (dense-bn networks, latent_dim 100), untrained: the search's real cost,
    and a generator with nothing in it to make a target easy."""
    import keras

    keras.utils.set_random_seed(0)
    generator, _ = build_models("dense-bn", 100, (28, 28, 1))
    return Sampler(generator)


@pytest.fixture(scope="module")
def projector(sampler):
    return Projector(sampler)


@pytest.fixture(scope="module")
def conditional_sampler():
    generator, _ = build_models("tiny", 16, (28, 28, 1), num_classes=10)
    return Sampler(generator)


# ------------------------------------------------------------------ the search
@pytest.mark.parametrize("seed", [1, 2])
def test_an_image_the_generator_drew_is_found_again(sampler, projector, seed):
    target = sampler(fixed_noise(1, 100, seed))[0]
    others = sampler(fixed_noise(100, 100, 99))
    typical = np.median([distance(o, target) for o in others])
    found = projector.project(target)
    assert found.distance < FOUND, f"found at {found.distance:.3f}; other samples lie {typical:.2f} away"
    assert found.distance < 0.1 * typical
    # What is returned is consistent: the image is the generator's for the noise, the distance is to the target.
    np.testing.assert_allclose(found.image, sampler(found.noise[None])[0], atol=1e-5)
    assert found.distance == pytest.approx(distance(found.image, target), rel=1e-5)
    assert found.noise.shape == (100,) and found.image.shape == (28, 28, 1)
    assert (found.starts, found.steps, found.label) == (projection.STARTS, projection.STEPS, None)
    assert 0 < found.seconds < 60


def test_more_steps_find_it_closer_and_progress_reports_the_best_so_far(sampler, projector):
    target = sampler(fixed_noise(1, 100, 3))[0]
    reports = []
    found = projector.project(target, starts=4, steps=120, progress=lambda *report: reports.append(report), updates=4)
    assert [step for step, _, _ in reports] == [30, 60, 90, 120]
    distances = [d for _, d, _ in reports]
    assert distances == sorted(distances, reverse=True) and distances[-1] < distances[0]
    assert distances[-1] == pytest.approx(found.distance, rel=1e-3)
    np.testing.assert_allclose(reports[-1][2], found.image, atol=1e-6)
    assert projector.project(target, starts=4, steps=10).distance > found.distance


def test_the_result_is_frozen_and_the_same_for_the_same_seed(sampler, projector):
    target = sampler(fixed_noise(1, 100, 4))[0]
    found = projector.project(target, starts=2, steps=20, seed=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.distance = 0.0
    with pytest.raises(ValueError):
        found.noise[0] = 1.0  # read-only: a page may share it between reruns
    again = projector.project(target, starts=2, steps=20, seed=7)
    np.testing.assert_allclose(again.noise, found.noise, atol=1e-5)
    assert not np.allclose(projector.project(target, starts=2, steps=20, seed=8).noise, found.noise)


def test_the_classifier_features_and_the_prior_are_part_of_the_loss(sampler, projector):
    assert projector.features and projector.classifier is not None  # 28x28x1: digits
    target = sampler(fixed_noise(1, 100, 5))[0]
    with_features = projector.project(target, starts=2, steps=30)
    pixels_only = Projector(sampler, feature_weight=0.0)
    assert not pixels_only.features
    assert not np.allclose(pixels_only.project(target, starts=2, steps=30).noise, with_features.noise, atol=1e-4)
    # A strong prior holds the noise on the shell where N(0, 1) noise of this size lives: mean(z^2) near 1.
    held = Projector(sampler, prior_weight=10.0).project(-np.ones((28, 28, 1), "float32"), starts=2, steps=60)
    assert np.mean(held.noise**2) == pytest.approx(1.0, abs=0.05)


def test_other_images_are_searched_in_pixels_only():
    generator, _ = build_models("tiny", 8, (12, 12, 3))
    colour = Sampler(generator)
    projector = Projector(colour)
    assert not projector.features and projector.classifier is None
    z = fixed_noise(1, 8, 1)
    target = colour(z / np.sqrt(np.mean(z**2)))[0]  # a noise on the prior's shell, mean(z^2) = 1
    others = colour(fixed_noise(20, 8, 2))
    typical = np.median([distance(o, target) for o in others])
    assert projector.project(target, steps=150).distance < 0.1 * typical


def test_a_conditional_generator_searches_one_class_or_all(conditional_sampler):
    z = fixed_noise(1, 16, 1)
    target = conditional_sampler(z / np.sqrt(np.mean(z**2)), 3)[0]  # a noise on the prior's shell
    projector = Projector(conditional_sampler)
    found = projector.project(target, 3)
    assert found.label == 3 and found.distance < FOUND
    np.testing.assert_allclose(found.image, conditional_sampler(found.noise[None], 3)[0], atol=1e-5)
    anywhere = projector.project(target, starts=20, steps=100)  # two starts per class
    assert anywhere.label in range(10)
    np.testing.assert_allclose(anywhere.image, conditional_sampler(anywhere.noise[None], anywhere.label)[0], atol=1e-5)
    with pytest.raises(ProjectionError, match="between 0 and 9"):
        projector.project(target, 10)


def test_bad_targets_and_settings_are_refused(sampler, projector):
    with pytest.raises(ProjectionError, match=r"shape \(28, 28, 1\).*got \(32, 32, 1\)"):
        projector.project(np.zeros((32, 32, 1)))
    with pytest.raises(ProjectionError, match="NaN"):
        projector.project(np.full((28, 28, 1), np.nan))
    with pytest.raises(ProjectionError, match=r"\[-1, 1\]"):
        projector.project(np.full((28, 28, 1), 255.0))
    with pytest.raises(ProjectionError, match="starts must be a whole number between 1 and 1024"):
        projector.project(np.zeros((28, 28)), starts=0)
    with pytest.raises(ProjectionError, match="unconditional"):
        projector.project(np.zeros((28, 28)), 3)
    assert projector.project(np.zeros((28, 28)), steps=1).image.shape == (28, 28, 1)  # (H, W) is taken for C = 1


def test_project_keeps_one_projector_per_sampler(sampler):
    assert projection.projector_for(sampler) is projection.projector_for(sampler)
    found = projection.project(sampler, sampler(fixed_noise(1, 100, 6))[0], steps=5)
    assert isinstance(found, projection.Projection)


# ------------------------------------------------------------------ drawings -> digits
def ink_box(digit: np.ndarray) -> tuple[int, int]:
    """(height, width) of the ink's bounding box in a [-1, 1] digit."""
    ink = digit[..., 0] > -1.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    ink = (digit[..., 0] + 1.0) / 2.0
    return (ink.sum(axis=1) @ np.arange(28)) / ink.sum(), (ink.sum(axis=0) @ np.arange(28)) / ink.sum()


def drawing(height: int = 300, width: int = 200) -> np.ndarray:
    """White strokes on black, away from the middle: a ring and a bar in the top-left corner."""
    y, x = np.mgrid[:height, :width]
    ring = np.abs(np.hypot(y - 70, x - 60) - 40) < 9
    bar = (np.abs(x - 120) < 8) & (y > 20) & (y < 160)
    return np.where(ring | bar, 255, 0).astype("uint8")


def test_mnist_digits_drawn_large_and_dark_on_light_come_back_as_they_were():
    digits = load_images("mnist-sample")[::250][:20]
    back = []
    for digit in digits:
        large = to_uint8(digit)[..., 0].repeat(10, axis=0).repeat(10, axis=1)  # a 280x280 canvas
        back.append(digit_from_picture(255 - large))  # black on white
    gaps = [distance(b, d) for b, d in zip(back, digits)]
    # Cropped, fitted into 20x20 and centred by mass as MNIST was: the same digit within resampling blur
    # (or a pixel's shift, where its centre of mass lies halfway), where two different real digits lie about 9 apart.
    assert np.median(gaps) < 2.0, gaps
    for i, b in enumerate(back):  # each comes back nearest its own original
        assert int(np.argmin([distance(b, d) for d in digits])) == i


def test_a_drawing_is_cropped_fitted_into_20x20_and_centred_by_mass():
    digit = digit_from_picture(drawing())
    assert digit.shape == (28, 28, 1) and digit.dtype == np.float32
    assert digit.min() == -1.0 and digit.max() == pytest.approx(1.0, abs=0.02)
    assert max(ink_box(digit)) in (20, 21)  # 20 plus at most a pixel of anti-aliasing
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # in the middle, though drawn in a corner
    assert (digit[:3] == -1).all() and (digit[:, :3] == -1).all()  # MNIST's empty margin
    # The aspect ratio is kept: a tall thin bar stays tall and thin.
    bar = np.zeros((300, 300), "uint8")
    bar[40:240, 130:170] = 255
    height, width = ink_box(digit_from_picture(bar))
    assert height == 20 and 4 <= width <= 5


def test_light_on_dark_dark_on_light_and_transparent_canvases_give_the_same_digit():
    white_on_black = drawing()
    expected = digit_from_picture(white_on_black)
    strokes = white_on_black > 0
    rgba_white = np.zeros((*strokes.shape, 4), "uint8")
    rgba_white[strokes] = 255  # white strokes on a transparent canvas
    rgba_black = np.zeros((*strokes.shape, 4), "uint8")
    rgba_black[strokes, 3] = 255  # black strokes on a transparent canvas
    rgb_black_on_white = np.repeat(255 - white_on_black[..., None], 3, axis=2)
    for pixels in (255 - white_on_black, rgba_white, rgba_black, rgb_black_on_white):
        np.testing.assert_allclose(digit_from_picture(pixels), expected, atol=1e-6)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((280, 280, 4), "uint8"),  # a fresh transparent canvas
        np.tile(np.array([0, 0, 0, 255], "uint8"), (280, 280, 1)),  # an opaque black canvas, nothing drawn
        np.full((50, 50), 255, "uint8"),  # a white page
        np.full((50, 50), 128, "uint8") + np.random.default_rng(0).integers(0, 20, (50, 50), dtype="uint8"),  # paper
    ],
)
def test_an_empty_drawing_is_refused(pixels):
    with pytest.raises(ProjectionError, match="the drawing is empty"):
        digit_from_picture(pixels)


def test_drawings_of_the_wrong_kind_are_refused():
    with pytest.raises(ProjectionError, match="uint8"):
        digit_from_picture(np.zeros((28, 28), "float32"))
    with pytest.raises(ProjectionError, match=r"RGBA \(H, W, 4\)"):
        digit_from_picture(np.zeros((28, 28, 2), "uint8"))
    with pytest.raises(ProjectionError, match="4x4 pixels"):
        digit_from_picture(np.zeros((4, 4), "uint8"))


# ------------------------------------------------------------------ uploads -> digits
def encoded(pixels: np.ndarray, format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format)
    return buffer.getvalue()


def test_png_and_jpeg_uploads_become_the_same_digit_as_the_drawing():
    expected = digit_from_picture(drawing())
    np.testing.assert_array_equal(digit_from_upload(png_bytes(drawing())), expected)
    transparent = np.zeros((300, 200, 4), "uint8")
    transparent[drawing() > 0, 3] = 255
    np.testing.assert_allclose(digit_from_upload(png_bytes(transparent)), expected, atol=1e-6)
    jpeg = digit_from_upload(encoded(255 - drawing(), "JPEG"))  # dark on light, with JPEG's ringing
    assert distance(jpeg, expected) < 0.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"GIF89a not really", "not a PNG or JPEG image"),
        (b"%PDF-1.4 a document", "not a PNG or JPEG image"),
        (png_bytes(np.zeros((1, 5000), "uint8")), "5000x1 pixels; a picture of one digit needs at most 4096"),
        (png_bytes(drawing())[:200], "could not be decoded"),  # truncated: the header reads, the pixels do not
        (b"\x89PNG" + bytes(6 * 2**20), "MiB"),
        (png_bytes(np.zeros((64, 64), "uint8")), "the drawing is empty"),
    ],
)
def test_bad_uploads_are_refused_with_a_message(data, message):
    with pytest.raises(ProjectionError, match=message):
        digit_from_upload(data)


def test_a_gif_is_refused_even_though_it_is_an_image():
    with pytest.raises(ProjectionError, match="not a PNG or JPEG"):
        digit_from_upload(encoded(drawing(), "GIF"))
