"""Tests for gan_core.explorer: points, directions through a point, planes, the cached generator call,
classes and walks between them for a conditional generator."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gan_core import explorer
from gan_core.explorer import Explorer
from gan_core.latent import Sampler, fixed_noise
from gan_core.models import build_models, code_of
from gan_core.runs import RunError

LATENT_DIM = 16


CLASSES = 10


@pytest.fixture(scope="module")
def tiny_explorer():
    generator, _ = build_models("tiny", LATENT_DIM, (28, 28, 1))
    return Explorer(generator)


@pytest.fixture(scope="module")
def conditional_explorer():
    """An untrained conditional tiny generator: G(noise, label) draws a different image per class already."""
    generator, _ = build_models("tiny", LATENT_DIM, (28, 28, 1), num_classes=CLASSES)
    return Explorer(generator)


def assert_orthonormal(directions):
    gram = directions.astype("float64") @ directions.T.astype("float64")
    np.testing.assert_allclose(gram, np.eye(len(directions)), atol=1e-5)


# ------------------------------------------------------------------ points
def test_seed_noise_is_the_first_vector_of_fixed_noise():
    np.testing.assert_array_equal(explorer.seed_noise(7, LATENT_DIM), fixed_noise(1, LATENT_DIM, 7)[0])
    assert not np.array_equal(explorer.seed_noise(7, LATENT_DIM), explorer.seed_noise(8, LATENT_DIM))


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_point_at_runs_from_a_to_b(method):
    a, b = explorer.seed_noise(1, LATENT_DIM), explorer.seed_noise(2, LATENT_DIM)
    np.testing.assert_allclose(explorer.point_at(a, b, 0.0, method), a, atol=1e-6)
    np.testing.assert_allclose(explorer.point_at(a, b, 1.0, method), b, atol=1e-5)
    assert explorer.point_at(a, b, 0.5, method).shape == (LATENT_DIM,)


def test_lerp_and_slerp_differ_in_between():
    a, b = explorer.seed_noise(1, LATENT_DIM), explorer.seed_noise(2, LATENT_DIM)
    mid_line, mid_arc = explorer.point_at(a, b, 0.5, "lerp"), explorer.point_at(a, b, 0.5, "slerp")
    np.testing.assert_allclose(mid_line, (a + b) / 2, atol=1e-6)
    # The straight line cuts the corner: its midpoint is shorter than the great circle's.
    assert np.linalg.norm(mid_line) < np.linalg.norm(mid_arc) - 0.1


def test_point_at_refuses_an_unknown_method():
    with pytest.raises(ValueError, match="'lerp' or 'slerp'"):
        explorer.point_at(np.ones(3), np.ones(3), 0.5, "cubic")


def test_nudge_moves_only_the_chosen_dimensions():
    z = explorer.seed_noise(3, LATENT_DIM)
    before = z.copy()
    moved = explorer.nudge(z, [2, 5], [1.5, -0.5])
    np.testing.assert_array_equal(z, before)  # the original is untouched
    np.testing.assert_allclose(moved - z, np.eye(LATENT_DIM)[2] * 1.5 - np.eye(LATENT_DIM)[5] * 0.5, atol=1e-6)


# ------------------------------------------------------------------ directions
@settings(max_examples=30, deadline=None)
@given(latent_dim=st.integers(2, 300), seed=st.integers(0, 2**31 - 1))
def test_random_directions_are_orthonormal(latent_dim, seed):
    directions = explorer.random_directions(latent_dim, seed)
    assert directions.shape == (2, latent_dim) and directions.dtype == np.float32
    assert_orthonormal(directions)


def test_random_directions_depend_on_the_seed_only():
    np.testing.assert_array_equal(explorer.random_directions(100, 5), explorer.random_directions(100, 5))
    assert not np.allclose(explorer.random_directions(100, 5), explorer.random_directions(100, 6))


def test_dimension_directions_are_unit_axes():
    directions = explorer.dimension_directions(10, (3, 7))
    np.testing.assert_array_equal(directions, np.eye(10, dtype="float32")[[3, 7]])


@pytest.mark.parametrize(
    ("dims", "message"), [((4, 4), "two different"), ((0, 10), "between 0 and 9"), ((-1, 2), "between 0 and 9")]
)
def test_dimension_directions_refuse_bad_choices(dims, message):
    with pytest.raises(ValueError, match=message):
        explorer.dimension_directions(10, dims)


def test_orthonormalize_keeps_the_first_direction_and_refuses_dependent_rows():
    vectors = np.array([[3.0, 0.0, 4.0], [1.0, 1.0, 0.0]])
    q = explorer.orthonormalize(vectors)
    assert_orthonormal(q)
    np.testing.assert_allclose(q[0], [0.6, 0.0, 0.8], atol=1e-6)
    assert q[1] @ vectors[1] > 0  # the second keeps its sense too
    with pytest.raises(ValueError, match="linearly dependent"):
        explorer.orthonormalize(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]))


def test_principal_directions_find_the_dimensions_that_move_the_image():
    # A linear "generator": latent dimension 3 moves the image most, dimension 7 next, the rest a little.
    rng = np.random.default_rng(0)
    weights = 0.01 * rng.standard_normal((LATENT_DIM, 6 * 6))
    weights[3, :18] += 5.0 * rng.standard_normal(18)  # the top half of the image
    weights[7, 18:] += 2.0 * rng.standard_normal(18)  # the bottom half

    def generate(z):
        return (z @ weights).reshape(-1, 6, 6, 1)

    # The regression's sampling noise shrinks like 1/sqrt(n_samples): enough samples for a 0.99 match.
    directions, explained = explorer.principal_directions(generate, LATENT_DIM, k=2, n_samples=5000)
    assert directions.shape == (2, LATENT_DIM)
    assert_orthonormal(directions)
    assert abs(directions[0, 3]) > 0.99 and abs(directions[1, 7]) > 0.99
    assert explained[0] > explained[1] > 0 and explained.sum() <= 1.0 + 1e-6


def test_top_components_match_a_full_svd():
    rng = np.random.default_rng(1)
    rotation = np.linalg.qr(rng.standard_normal((64, 64)))[0]
    x = rng.standard_normal((400, 64)) * np.exp(-np.arange(64) / 6) @ rotation  # a decaying spectrum, like images
    x -= x.mean(axis=0)
    components, singular = explorer.top_components(x, 3)
    _, full_singular, full_vt = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(singular, full_singular[:3], rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(components * full_vt[:3], axis=1)), 1.0, atol=1e-6)  # same up to sign


def test_principal_directions_refuse_too_few_samples():
    with pytest.raises(ValueError, match="n_samples must exceed"):
        explorer.principal_directions(lambda z: z, LATENT_DIM, k=2, n_samples=2)


# ------------------------------------------------------------------ planes
def test_plane_shape_centre_and_axes():
    center = explorer.seed_noise(0, LATENT_DIM)
    directions = explorer.dimension_directions(LATENT_DIM, (0, 1))
    grid = explorer.plane(center, directions, steps=5, extent=2.0)
    assert grid.shape == (25, LATENT_DIM) and grid.dtype == np.float32
    cells = grid.reshape(5, 5, LATENT_DIM)
    np.testing.assert_allclose(cells[2, 2], center, atol=1e-6)  # the middle cell is the point itself
    np.testing.assert_allclose(cells[0, 0] - center, -2.0 * directions[0] - 2.0 * directions[1], atol=1e-6)
    np.testing.assert_allclose(cells[2, 4] - center, 2.0 * directions[0], atol=1e-6)  # right: +direction 0
    np.testing.assert_allclose(cells[4, 2] - center, 2.0 * directions[1], atol=1e-6)  # down: +direction 1
    # Only the two chosen dimensions vary across the plane.
    assert np.all(grid[:, 2:] == center[2:])


def test_plane_refuses_bad_shapes():
    center = np.zeros(LATENT_DIM, "float32")
    with pytest.raises(ValueError, match="at least 2"):
        explorer.plane(center, explorer.random_directions(LATENT_DIM, 0), steps=1)
    with pytest.raises(ValueError, match="directions must have shape"):
        explorer.plane(center, explorer.random_directions(LATENT_DIM, 0, k=3))


# ------------------------------------------------------------------ the generator
def test_explorer_generates_what_the_generator_draws(tiny_explorer):
    z = fixed_noise(5, LATENT_DIM, 1)
    images = tiny_explorer.generate(z)
    assert images.shape == (5, 28, 28, 1)
    expected = tiny_explorer.generator(z, training=False).numpy()
    np.testing.assert_allclose(images, expected, atol=1e-6)
    assert tiny_explorer.latent_dim == LATENT_DIM and tiny_explorer.image_shape == (28, 28, 1)


def test_explorer_keeps_recent_results_and_does_not_let_them_be_changed(tiny_explorer):
    z = fixed_noise(3, LATENT_DIM, 2)
    first = tiny_explorer.generate(z)
    assert tiny_explorer.generate(z.copy()) is first
    assert tiny_explorer.generate(z[0]).shape == (1, 28, 28, 1)  # one vector is a batch of one
    with pytest.raises(ValueError):
        first[0, 0, 0, 0] = 1.0


def test_explorer_principal_directions_are_found_once(tiny_explorer):
    directions, _ = tiny_explorer.principal_directions(n_samples=300)
    assert directions.shape == (2, LATENT_DIM)
    assert_orthonormal(directions)
    assert tiny_explorer.principal_directions(n_samples=300)[0] is directions


def test_explorer_refuses_a_model_that_is_not_a_generator():
    _, discriminator = build_models("tiny", LATENT_DIM, (28, 28, 1))
    with pytest.raises(RunError, match="a generator takes"):
        Explorer(discriminator)


# ------------------------------------------------------------------ classes
def test_a_sampler_with_labels_draws_one_image_per_noise_vector():
    generator, _ = build_models("tiny", LATENT_DIM, (28, 28, 1), num_classes=CLASSES)
    sampler = Sampler(generator)
    z = fixed_noise(6, LATENT_DIM, 0)
    assert sampler.conditional and sampler.num_classes == CLASSES
    assert sampler(z, 3).shape == (6, 28, 28, 1)  # one class for all
    per_image = sampler(z, np.arange(6))
    assert per_image.shape == (6, 28, 28, 1) and per_image.dtype == np.float32
    np.testing.assert_array_equal(per_image[3], sampler(z[3:4], 3)[0])
    assert sampler(z, explorer.class_mix(2, 5, np.linspace(0, 1, 6), CLASSES)).shape == (6, 28, 28, 1)
    with pytest.raises(ValueError, match="between 0 and 9"):
        sampler(z, 10)


def test_class_weights_equal_to_a_one_hot_draw_the_integer_class(conditional_explorer):
    z = fixed_noise(4, LATENT_DIM, 3)
    sampler = conditional_explorer.sampler
    one_hot = np.eye(CLASSES, dtype="float32")[[7] * 4]
    np.testing.assert_allclose(sampler(z, one_hot), sampler(z, 7), atol=1e-6)
    np.testing.assert_allclose(
        conditional_explorer.generate(z, one_hot[:1]), conditional_explorer.generate(z, 7), atol=1e-6
    )
    assert not np.allclose(sampler(z, 7), sampler(z, 2), atol=1e-3)  # and the class does change the image


def test_class_mix_runs_from_one_class_to_the_other():
    weights = explorer.class_mix(2, 5, [0.0, 0.25, 1.0], CLASSES)
    assert weights.shape == (3, CLASSES) and weights.dtype == np.float32
    np.testing.assert_array_equal(weights[0], np.eye(CLASSES)[2])
    np.testing.assert_array_equal(weights[2], np.eye(CLASSES)[5])
    np.testing.assert_allclose(weights[1], 0.75 * np.eye(CLASSES)[2] + 0.25 * np.eye(CLASSES)[5])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert explorer.class_mix(2, 5, 0.5, CLASSES).shape == (1, CLASSES)
    with pytest.raises(ValueError, match="class b must be between 0 and 9"):
        explorer.class_mix(2, 10, 0.5, CLASSES)


def test_between_two_classes_t0_and_t1_are_the_pure_classes(conditional_explorer):
    z = conditional_explorer.noise(11)
    frames = conditional_explorer.between_classes(z, 3, 8, np.linspace(0.0, 1.0, 5))
    assert frames.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(frames[0], conditional_explorer.generate(z, 3)[0], atol=1e-6)
    np.testing.assert_allclose(frames[-1], conditional_explorer.generate(z, 8)[0], atol=1e-6)
    assert not np.allclose(frames[2], frames[0], atol=1e-3) and not np.allclose(frames[2], frames[-1], atol=1e-3)
    np.testing.assert_array_equal(conditional_explorer.between_classes(z, 3, 8, 0.5)[0], frames[2])


def test_the_cache_is_keyed_by_the_labels_too(conditional_explorer):
    z = fixed_noise(3, LATENT_DIM, 5)
    three = conditional_explorer.generate(z, 3)
    assert conditional_explorer.generate(z.copy(), 3) is three
    assert conditional_explorer.generate(z, [3, 3, 3]) is three  # one class for all is a class per image
    four = conditional_explorer.generate(z, 4)
    assert four is not three and not np.allclose(four, three, atol=1e-3)
    mixed = conditional_explorer.generate(z, explorer.class_mix(3, 4, 0.5, CLASSES))
    assert mixed is not three and mixed is not four


def test_classes_are_refused_where_they_make_no_sense(tiny_explorer, conditional_explorer):
    z = fixed_noise(2, LATENT_DIM, 0)
    assert not tiny_explorer.conditional and tiny_explorer.num_classes is None
    with pytest.raises(ValueError, match="this generator is unconditional"):
        tiny_explorer.generate(z, 3)
    with pytest.raises(ValueError, match="unconditional"):
        tiny_explorer.between_classes(z[0], 0, 1, 0.5)
    with pytest.raises(ValueError, match="this generator is conditional: give a class"):
        conditional_explorer.generate(z)


def test_conditional_principal_directions_are_found_within_the_classes(conditional_explorer):
    directions, explained = conditional_explorer.principal_directions(n_samples=300)
    assert directions.shape == (2, LATENT_DIM)
    assert_orthonormal(directions)
    assert explained[0] >= explained[1] > 0


def test_principal_directions_ignore_what_the_class_alone_changes():
    # A linear conditional "generator": latent dimension 4 moves the image, and the class adds a
    # far bigger offset of its own. Within-class PCA finds dimension 4, not the class offsets.
    rng = np.random.default_rng(0)
    weights = 0.01 * rng.standard_normal((LATENT_DIM, 36))
    weights[4] += 2.0 * rng.standard_normal(36)
    offsets = 50.0 * rng.standard_normal((CLASSES, 36))

    def generate(z, labels):
        return (z @ weights + offsets[labels]).reshape(-1, 6, 6, 1)

    directions, _ = explorer.principal_directions(generate, LATENT_DIM, k=1, n_samples=2000, num_classes=CLASSES)
    assert abs(directions[0, 4]) > 0.99


# ------------------------------------------------------------------ pictures
def test_picture_enlarges_one_image_without_a_border_and_tiles_a_strip():
    images = np.zeros((1, 28, 28, 1), "float32")
    assert explorer.picture(images, scale=10).shape == (280, 280)
    strip = explorer.picture(np.zeros((8, 28, 28, 1), "float32"), scale=3, ncols=8)
    assert strip.shape == (3 * (28 + 4), 3 * (8 * 30 + 2))
    png = explorer.picture_png(images, scale=2)
    assert Image.open(io.BytesIO(png)).size == (56, 56)


@pytest.mark.parametrize(("height", "target", "scale"), [(28, 280, 10), (32, 280, 9), (28, 10, 1), (64, 100, 2)])
def test_scale_for(height, target, scale):
    assert explorer.scale_for(height, target) == scale


def test_walk_gif_plays_there_and_back_at_the_chosen_size():
    images = np.linspace(-1, 1, 4, dtype="float32").reshape(4, 1, 1, 1) * np.ones((4, 28, 28, 1), "float32")
    gif = Image.open(io.BytesIO(explorer.walk_gif(images, scale=3)))
    assert gif.format == "GIF" and gif.size == (84, 84)
    assert gif.n_frames == 6  # A, 1, 2, B, 2, 1
    levels = []
    for i in range(gif.n_frames):
        gif.seek(i)
        levels.append(np.asarray(gif.convert("L"))[0, 0])
    assert levels[0] < levels[1] < levels[2] < levels[3] > levels[4] > levels[5] > levels[0]


# ------------------------------------------------------------------ nearest real images
@pytest.fixture(scope="module")
def digits():
    from gan_core.data import load_images

    return load_images("mnist-sample")


@pytest.mark.parametrize("i", [0, 17, 4321])
def test_a_real_image_from_the_bank_finds_itself_first_at_distance_zero(digits, i):
    indices, distances = explorer.nearest(digits[i], digits, k=5)
    assert indices.shape == distances.shape == (5,)
    assert indices[0] == i and distances[0] == 0.0
    # The same k as a brute-force search, nearest first.
    brute = np.linalg.norm(digits.reshape(len(digits), -1).astype("float64") - digits[i].reshape(-1), axis=1)
    np.testing.assert_allclose(distances, np.sort(brute)[:5], rtol=1e-6)
    assert list(indices) == list(np.argsort(brute, kind="stable")[:5])
    assert np.all(np.diff(distances) >= 0) and distances[1] > 0


def test_nearest_answers_a_batch_like_single_queries(digits):
    bank, queries = digits[:500], digits[[3, 250, 499]] + 0.05
    indices, distances = explorer.nearest(queries, bank, k=3)
    assert indices.shape == distances.shape == (3, 3)
    for row, query in enumerate(queries):
        single = explorer.nearest(query, bank, k=3)
        np.testing.assert_array_equal(indices[row], single[0])
        np.testing.assert_allclose(distances[row], single[1])


def test_nearest_in_cosine_ignores_length():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "float32")
    indices, distances = explorer.nearest([3.0, 3.0], bank, k=3, metric="cosine")
    assert list(indices) == [2, 0, 1]
    np.testing.assert_allclose(distances, [0.0, 1 - np.sqrt(0.5), 1 - np.sqrt(0.5)], atol=1e-6)


def test_nearest_clips_k_to_the_bank_and_refuses_bad_arguments():
    bank = np.arange(6, dtype="float32").reshape(3, 2)
    assert explorer.nearest(bank[1], bank, k=10)[0].tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="'l2' or 'cosine'"):
        explorer.nearest(bank[0], bank, metric="manhattan")
    with pytest.raises(ValueError, match="at least 1"):
        explorer.nearest(bank[0], bank, k=0)


def test_nearest_other_distances_leave_each_item_out():
    bank = np.array([[0.0], [1.0], [3.0], [7.0]], "float32")
    np.testing.assert_allclose(explorer.nearest_other_distances(bank, n=10), [1, 1, 2, 4])
    with pytest.raises(ValueError, match="at least 2"):
        explorer.nearest_other_distances(bank[:1])


def test_real_neighbours_search_pixels_and_features(digits):
    class Halves:  # a stand-in classifier: two "features", the mean of the top and the bottom half
        def features(self, images):
            images = np.asarray(images).reshape(len(images), 28, 28)
            return np.stack([images[:, :14].mean((1, 2)), images[:, 14:].mean((1, 2))], axis=1)

    bank = explorer.RealNeighbours(digits, Halves(), max_images=1_000)
    assert bank.total == len(digits) and len(bank.images) == 1_000
    found = bank.search(digits[42])
    assert set(found) == {"pixels", "features"}
    assert found["pixels"][0][0] == 42 and found["pixels"][1][0] == 0.0
    assert found["features"][1][0] == 0.0
    assert bank.closer_share("pixels", 0.0) == 0.0  # nothing is closer than a copy
    assert bank.closer_share("pixels", np.inf) == 1.0
    assert 0.0 < bank.closer_share("pixels", float(np.median(bank.typical["pixels"])) + 1e-3) <= 0.55
    assert set(explorer.RealNeighbours(digits[:50]).search(digits[7])) == {"pixels"}  # no classifier: pixels only


# ------------------------------------------------------------------ a code in the noise (InfoGAN)
CODES = 4
CODE_BIAS = np.array([0.8, -0.5, 0.1, -0.4], "float32")  # codes not equally likely, as after training


@pytest.fixture(scope="module")
def coded_generator():
    """An untrained coded tiny generator with biased codes: its noise's code already changes what it draws."""
    generator, _ = build_models("tiny", LATENT_DIM, (28, 28, 1), codes=CODES)
    generator.get_layer("noise_code").bias.assign(CODE_BIAS)
    return generator


def carried(noise) -> np.ndarray:
    """The code each row of `noise` carries, as models.code_of reads it (what NoiseCode one-hot encodes)."""
    return np.asarray(code_of(np.asarray(noise), CODES, CODE_BIAS))


class Recording:
    """A sampler that keeps every noise the explorer feeds it."""

    def __init__(self, sampler):
        self.inner, self.fed = sampler, []

    def __call__(self, noise, labels=None):
        self.fed.append(np.array(noise))
        return self.inner(noise, labels)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def coded_explorer(coded_generator, monkeypatch):
    """A fresh Explorer (an empty cache: every picture reaches the sampler) that records what it draws."""
    explorer = Explorer(coded_generator)
    monkeypatch.setattr(explorer, "sampler", Recording(explorer.sampler))
    return explorer


def test_only_a_generator_whose_noise_carries_a_code_has_codes(tiny_explorer, conditional_explorer, coded_explorer):
    assert tiny_explorer.codes is None and conditional_explorer.codes is None
    assert coded_explorer.codes == CODES and not coded_explorer.conditional


@pytest.mark.parametrize("code", range(CODES))
def test_a_chosen_code_is_carried_by_every_noise_drawn(coded_explorer, code):
    z = fixed_noise(12, LATENT_DIM, 3)
    assert set(carried(z)) != {code}  # the noise carries other codes of its own
    images = coded_explorer.generate(z, code=code)
    (fed,) = coded_explorer.sampler.fed
    np.testing.assert_array_equal(carried(fed), [code] * 12)
    np.testing.assert_array_equal(fed, coded_explorer.sampler.with_code(z, code))
    np.testing.assert_array_equal(images, coded_explorer.sampler.inner(coded_explorer.sampler.with_code(z, code)))
    one = coded_explorer.generate(z[5], code=code)  # one vector, as the page's pictures at t are
    assert one.shape == (1, 28, 28, 1) and carried(coded_explorer.sampler.fed[-1]).tolist() == [code]
    np.testing.assert_allclose(one[0], images[5], atol=1e-6)


def test_the_code_changes_the_picture(coded_explorer):
    z = fixed_noise(4, LATENT_DIM, 3)
    pictures = [coded_explorer.generate(z, code=c) for c in range(CODES)]
    for c in range(1, CODES):
        assert np.abs(pictures[c] - pictures[0]).max() > 1e-3


def test_any_code_draws_the_noise_as_it_is(coded_explorer):
    z = fixed_noise(6, LATENT_DIM, 4)
    assert coded_explorer.with_code(z, None) is z
    images = coded_explorer.generate(z)
    (fed,) = coded_explorer.sampler.fed
    np.testing.assert_array_equal(fed, z)
    np.testing.assert_array_equal(images, coded_explorer.sampler.inner(z))
    np.testing.assert_array_equal(coded_explorer.code_of(z), carried(z))
    many = fixed_noise(500, LATENT_DIM, 5)  # the code as the generator reads it, biases and all
    np.testing.assert_array_equal(coded_explorer.code_of(many), carried(many))
    assert (carried(many) != np.asarray(code_of(many, CODES))).any()


def test_with_code_keeps_the_shape_and_a_code_is_refused_where_it_makes_no_sense(
    tiny_explorer, conditional_explorer, coded_explorer
):
    z = explorer.seed_noise(1, LATENT_DIM)
    assert coded_explorer.with_code(z, 2).shape == (LATENT_DIM,)
    assert coded_explorer.with_code(np.stack([z, z]), [0, 3]).shape == (2, LATENT_DIM)
    with pytest.raises(ValueError, match="between 0 and 3"):
        coded_explorer.generate(z, code=CODES)
    for uncoded in (tiny_explorer, conditional_explorer):
        with pytest.raises(ValueError, match="carries no code"):
            uncoded.generate(z, 0 if uncoded.conditional else None, code=1)
        with pytest.raises(ValueError, match="carries no code"):
            uncoded.code_of(z)


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_every_point_between_two_ends_with_a_code_carries_it(coded_explorer, method):
    """What lets the page give A and B the code first: the walk between them then keeps it, with no jump."""
    for seed in range(20):
        code = seed % CODES
        a = coded_explorer.with_code(explorer.seed_noise(seed, LATENT_DIM), code)
        b = coded_explorer.with_code(explorer.seed_noise(seed + 100, LATENT_DIM), code)
        points = np.stack([explorer.point_at(a, b, t, method) for t in np.linspace(0, 1, 11)])
        np.testing.assert_array_equal(coded_explorer.code_of(points), [code] * 11)


def test_the_walk_between_two_codes_starts_and_ends_with_them(coded_explorer):
    z = explorer.seed_noise(5, LATENT_DIM)
    points = coded_explorer.code_walk(z, 1, 3, np.linspace(0, 1, 6))
    assert points.shape == (6, LATENT_DIM)
    np.testing.assert_array_equal(points[0], coded_explorer.with_code(z, 1))
    np.testing.assert_array_equal(points[-1], coded_explorer.with_code(z, 3))
    assert coded_explorer.code_of(points)[[0, -1]].tolist() == [1, 3]
    images = coded_explorer.between_codes(z, 1, 3, [0.0, 1.0])
    np.testing.assert_allclose(images[0], coded_explorer.generate(z, code=1)[0], atol=1e-6)
    np.testing.assert_allclose(images[1], coded_explorer.generate(z, code=3)[0], atol=1e-6)
    # Only the values at the two codes and at z's own change on the way.
    changed = np.flatnonzero(np.any(np.abs(points - points[0]) > 1e-5, axis=0))  # lerp leaves round-off
    assert set(changed) <= {1, 3, int(coded_explorer.code_of(z)[0])}
