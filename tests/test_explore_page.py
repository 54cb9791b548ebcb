"""AppTest of pages/explore.py over real tiny runs: the picker, the walk from A to B, the sliders, the plane, uploads,
finding an uploaded digit; for a conditional run the class picker and the walk between two classes; for a run
whose noise carries a code (InfoGAN) the code picker and the walk between two codes.

AppTest shows an st.image only as a URL, so the `media` fixture keeps the bytes behind every URL
and the tests decode the pictures the page really sent.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import app.common
from gan_core import explorer as ex
from gan_core import projection
from gan_core.config import TrainConfig
from gan_core.data import load_images
from gan_core.engine import Snapshot, Status, TrainingRun
from gan_core.latent import png_bytes, to_uint8
from gan_core.quality import load_classifier
from gan_core.runs import load_generator
from tests.conftest import tiny_config

pytestmark = pytest.mark.timeout(300)

PAGE = Path(__file__).resolve().parents[1] / "pages" / "explore.py"


@pytest.fixture(scope="module")
def run_path(finished_run, tmp_path_factory):
    """A copy of the finished tiny run, alone in its runs folder (other tests add folders beside the original)."""
    source = Path(finished_run.snapshot().run_dir)
    return Path(shutil.copytree(source, tmp_path_factory.mktemp("explore_runs") / source.name))


@pytest.fixture(scope="module")
def reference(run_path):
    """The run's generator loaded here, to compute what the page should show."""
    return ex.Explorer(load_generator(run_path))


def open_page(runs_folder: Path, monkeypatch) -> AppTest:
    """The Explore page, run once over the runs in `runs_folder`."""
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(runs_folder))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def page(run_path, monkeypatch, media):
    return open_page(run_path.parent, monkeypatch)


def image(at, caption_start: str):
    """The one st.image whose caption starts with `caption_start`."""
    found = [img for img in at.image if img.captions and img.captions[0].startswith(caption_start)]
    assert len(found) == 1, [img.captions for img in at.image]
    return found[0]


def picture(at, media, caption_start: str) -> np.ndarray:
    """The picture behind that st.image, decoded from the PNG the page sent."""
    url = image(at, caption_start).value[0]
    assert url.endswith(".png")  # PNG, not JPEG: digits stay crisp
    return np.asarray(Image.open(io.BytesIO(media(url))))


def shrink(picture: np.ndarray, size: int = 28) -> np.ndarray:
    """Undo the whole-number nearest-neighbour enlargement of one image."""
    assert picture.shape[0] % size == 0 and picture.shape[0] == picture.shape[1]
    step = picture.shape[0] // size
    return picture[::step, ::step]


def expected(reference, z, labels=None, code=None) -> np.ndarray:
    return to_uint8(reference.generate(z, labels, code))[0, ..., 0]


def assert_same_digit(shown: np.ndarray, wanted: np.ndarray) -> None:
    assert shown.shape == wanted.shape
    assert np.abs(shown.astype(int) - wanted.astype(int)).max() <= 1  # float round-off only


# ------------------------------------------------------------------ the generator
def test_the_page_opens_the_run_and_draws_every_section(page, run_path):
    assert page.selectbox(key="generator_choice").value == run_path.name
    assert [h.value for h in page.header] == [
        "From A to B",
        "One dimension at a time",
        "A plane through the point at t",
        "Find a digit",
    ]
    for caption in ("A", "B", "t = 0.50 (slerp)", "8 frames from A to B", "offsets: none", "→ dimension 0"):
        image(page, caption)
    assert "latent_dim 100" in page.caption[0].value and "conditional" not in page.caption[0].value
    assert "code" not in page.caption[0].value
    assert not [r for r in page.radio if r.key in ("walk", "code_walk")]
    assert not [s for s in page.selectbox if s.key in ("draw_class", "draw_code")]


def test_the_image_at_t_is_the_generator_at_that_point(page, media, reference):
    a, b = ex.seed_noise(0, 100), ex.seed_noise(1, 100)
    shown = shrink(picture(page, media, "t = 0.50"))
    assert_same_digit(shown, expected(reference, ex.point_at(a, b, 0.5, "slerp")))
    assert shown.shape == (28, 28) and picture(page, media, "t = 0.50").shape[0] >= 280  # large on screen


def test_moving_t_changes_the_image(page, media, reference):
    before = picture(page, media, "t = 0.50")
    page.slider(key="t").set_value(0.0).run()
    assert not page.exception
    after = picture(page, media, "t = 0.00")
    assert not np.array_equal(before, after)
    assert_same_digit(shrink(after), expected(reference, ex.seed_noise(0, 100)))  # t = 0 is A itself


def test_lerp_and_slerp_draw_different_midpoints(page, media, reference):
    slerp_picture = picture(page, media, "t = 0.50 (slerp)")
    strip_before = picture(page, media, "8 frames")
    page.radio(key="method").set_value("lerp").run()
    lerp_picture = picture(page, media, "t = 0.50 (lerp)")
    assert not np.array_equal(slerp_picture, lerp_picture)
    a, b = ex.seed_noise(0, 100), ex.seed_noise(1, 100)
    assert_same_digit(shrink(lerp_picture), expected(reference, (a + b) / 2))
    assert not np.array_equal(strip_before, picture(page, media, "8 frames from A to B (lerp)"))


def test_the_strip_has_the_chosen_number_of_frames(page, media):
    page.slider(key="frames").set_value(5).run()
    strip = picture(page, media, "5 frames from A to B")
    scale = strip.shape[0] // (28 + 4)
    assert strip.shape == (scale * (28 + 4), scale * (5 * 30 + 2))
    assert page.get("download_button")[0].label == "Download the walk as GIF"


def test_seeds_random_button_and_candidate_pick_change_the_endpoints(page, media):
    thumb_a = picture(page, media, "A")
    page.number_input(key="seed_a").set_value(42).run()
    assert not np.array_equal(thumb_a, picture(page, media, "A"))
    page.button(key="random_b").click().run()
    assert page.number_input(key="seed_b").value != 1
    page.get("button_group")[0].set_value(3).run()  # "Set A to candidate" #3
    assert not page.exception
    assert page.number_input(key="seed_a").value == page.session_state["candidate_base"] + 3
    assert len(image(page, "#0").value) == 16


def test_a_dimension_slider_moves_the_image_and_resets(page, media):
    at_t = picture(page, media, "t = 0.50")
    assert np.array_equal(picture(page, media, "offsets: none"), at_t)  # starts at the point at t
    page.slider(key="offset_100_2").set_value(3.0).run()
    moved = picture(page, media, "offsets: 2 +3.0")
    assert not np.array_equal(moved, at_t)
    page.button(key="reset_offsets").click().run()
    assert np.array_equal(picture(page, media, "offsets: none"), at_t)


@pytest.mark.parametrize("kind", ["dimensions", "random", "pca"])
def test_the_plane_is_a_grid_through_the_point(page, media, kind):
    page.radio(key="plane_kind").set_value(kind).run()
    assert not page.exception
    grid = picture(page, media, "→ ")
    scale = grid.shape[0] // (7 * 30 + 2)
    assert grid.shape == (scale * (7 * 30 + 2),) * 2
    # The middle cell is the point at t.
    centre = grid[
        scale * (2 + 3 * 30) : scale * (2 + 3 * 30 + 28) : scale,
        scale * (2 + 3 * 30) : scale * (2 + 3 * 30 + 28) : scale,
    ]
    assert np.array_equal(centre, shrink(picture(page, media, "t = 0.50")))
    if kind == "pca":
        assert "principal direction 1" in image(page, "→ ").captions[0]


def test_two_equal_plane_dimensions_are_refused_with_a_message(page):
    page.selectbox(key="plane_y_100").set_value(0).run()
    assert not page.exception
    assert "two different dimensions" in page.warning[0].value


# ------------------------------------------------------------------ choosing the generator
def test_query_param_opens_the_named_run(run_path, monkeypatch, media, tmp_path):
    runs = tmp_path / "runs"
    for name in ("20000101-000000-a", "20000101-000000-b"):
        shutil.copytree(run_path, runs / name)
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(runs))
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["run"] = "20000101-000000-a"  # not the newest
    at.run()
    assert not at.exception
    assert at.selectbox(key="generator_choice").value == "20000101-000000-a"
    at.selectbox(key="generator_choice").set_value("20000101-000000-b").run()
    assert at.query_params["run"] == "20000101-000000-b"  # the address follows the picker


def test_the_run_that_just_finished_is_chosen_first(run_path, monkeypatch, media, tmp_path):
    runs = tmp_path / "runs"
    for name in ("20000101-000000-a", "20000101-000000-b"):
        shutil.copytree(run_path, runs / name)
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(runs))
    snap = Snapshot(
        status=Status.FINISHED,
        config=TrainConfig(),
        run_id="20000101-000000-a",
        run_dir=str(runs / "20000101-000000-a"),
    )
    just_finished = SimpleNamespace(snapshot=lambda: snap)
    monkeypatch.setattr(app.common, "get_registry", lambda: SimpleNamespace(current=lambda: just_finished))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    assert at.selectbox(key="generator_choice").value == "20000101-000000-a"  # not the newest, b
    assert "just finished" in at.selectbox(key="generator_choice").format_func("20000101-000000-a")


def test_an_unknown_run_in_the_query_is_reported(page):
    page.query_params["run"] = "no-such-run"
    page.run()
    assert not page.exception
    assert "No run 'no-such-run'" in page.warning[0].value
    image(page, "t = 0.50")  # and the page still works with the run it had


def test_an_uploaded_generator_is_explored_and_a_corrupt_one_is_refused(page, media, run_path, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # uploads are saved under the temporary folder
    page.selectbox(key="generator_choice").set_value("<upload>").run()
    assert page.file_uploader
    page.file_uploader[0].set_value(("generator.keras", b"this is not a zip file", "application/octet-stream")).run()
    assert not page.exception
    assert "could not load a Keras model" in page.error[0].value
    assert not page.image
    good = (run_path / "generator.keras").read_bytes()
    page.file_uploader[0].set_value(("generator.keras", good, "application/octet-stream")).run()
    assert not page.exception and not page.error
    image(page, "t = 0.50")
    assert len(list((tmp_path / "gan-studio-uploads").glob("*.keras"))) == 2  # saved by content, once each


def test_no_runs_yet_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    assert "No trained runs" in at.info[0].value
    assert at.selectbox(key="generator_choice").value == "<upload>"


# ------------------------------------------------------------------ nearest real images
def neighbour_rows(at) -> list:
    """The st.image rows of the memorisation check: the image at t, then its nearest real images."""
    return [img for img in at.image if img.captions and img.captions[0] == "generated (at t)"]


def test_the_nearest_real_images_are_shown_when_toggled(page, media, reference):
    assert not neighbour_rows(page)  # off by default: slider redraws pay nothing for it
    page.toggle(key="neighbours").set_value(True).run()
    assert not page.exception, page.exception
    pixels_row, features_row = neighbour_rows(page)
    digits = load_images("mnist-sample")
    image_t = reference.generate(ex.point_at(ex.seed_noise(0, 100), ex.seed_noise(1, 100), 0.5, "slerp"))
    indices, distances = ex.nearest(image_t, digits)
    assert pixels_row.captions[1:] == [f"real {i:,}: {d:.2f}" for i, d in zip(indices, distances)]
    nearest_shown = shrink(np.asarray(Image.open(io.BytesIO(media(pixels_row.value[1])))))
    assert np.array_equal(nearest_shown, to_uint8(digits[indices[0]])[..., 0])
    classifier = load_classifier()
    feature_indices, feature_distances = ex.nearest(classifier.features(image_t), classifier.features(digits))
    assert features_row.captions[1:] == [f"real {i:,}: {d:.2f}" for i, d in zip(feature_indices, feature_distances)]
    said = "\n".join(m.value for m in page.markdown)
    assert f"Nearest in pixels: {distances[0]:.2f}" in said
    assert f"Nearest in the digit classifier's features: {feature_distances[0]:.2f}" in said
    assert "from its nearest other real image (median)" in said
    assert "all 5,000" in "\n".join(c.value for c in page.caption)

    page.slider(key="t").set_value(0.0).run()  # the neighbours follow the image at t
    indices, distances = ex.nearest(reference.generate(ex.seed_noise(0, 100)), digits)
    assert neighbour_rows(page)[0].captions[1:] == [f"real {i:,}: {d:.2f}" for i, d in zip(indices, distances)]


def test_other_images_get_pixel_neighbours_only_and_a_copy_shows_as_zero(
    run_path, reference, monkeypatch, media, tmp_path
):
    image_t = reference.generate(ex.point_at(ex.seed_noise(0, 100), ex.seed_noise(1, 100), 0.5, "slerp"))
    images = np.random.default_rng(0).uniform(-1, 1, (40, 28, 28, 1)).astype("float32")
    images[23] = image_t[0]  # the training data holds a copy of the image at t
    np.savez(tmp_path / "mine.npz", images=images)
    run = Path(shutil.copytree(run_path, tmp_path / "runs" / run_path.name))
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": "npz", "npz_path": str(tmp_path / "mine.npz")}))
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(run.parent))

    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    at.toggle(key="neighbours").set_value(True).run()
    assert not at.exception, at.exception
    (pixels_row,) = neighbour_rows(at)
    assert pixels_row.captions[1] == "real 23: 0.00"
    assert "Nearest in pixels: 0.00" in "\n".join(m.value for m in at.markdown)
    assert "need 28x28 handwritten digits" in "\n".join(i.value for i in at.info)


# ------------------------------------------------------------------ find a digit
def upload_digit(at, data: bytes, name: str = "digit.png") -> None:
    at.radio(key="find_source").set_value("upload").run()
    assert not at.exception, at.exception
    at.file_uploader(key="digit_upload").set_value((name, data, "image/png")).run()
    assert not at.exception, at.exception


def test_an_uploaded_digit_is_found_and_becomes_an_endpoint_and_the_sliders_centre(page, media, reference):
    real = load_images("mnist-sample")[7]  # a real digit as a person's PNG: 28x28 grey, white on black
    data = png_bytes(to_uint8(real)[..., 0])
    upload_digit(page, data)
    assert page.button(key="find_digit").disabled is False
    shown_target = shrink(picture(page, media, "searched"))
    assert_same_digit(shown_target, to_uint8(projection.digit_from_upload(data))[..., 0])

    page.button(key="find_digit").click().run()
    assert not page.exception, page.exception
    found = page.session_state["found_digit"]["result"]
    assert image(page, "drawn").captions == ["drawn", "found"]
    assert f"Distance **{found.distance:.2f}** · found in {found.seconds:.1f} s" in [m.value for m in page.markdown]
    drawn_png, found_png = image(page, "drawn").value
    drawn = shrink(np.asarray(Image.open(io.BytesIO(media(drawn_png)))))
    found_shown = shrink(np.asarray(Image.open(io.BytesIO(media(found_png)))))
    # The image shown is the generator's image of the noise found, and the distance is to the drawing shown.
    assert_same_digit(found_shown, expected(reference, found.noise))
    target = projection.digit_from_upload(data)
    assert found.distance == pytest.approx(np.sqrt(np.sum((reference.generate(found.noise)[0] - target) ** 2)), 1e-4)
    assert_same_digit(drawn, to_uint8(target)[..., 0])
    # The search did better than the seeds already on the page.
    for seed in (0, 1):
        assert found.distance < np.sqrt(np.sum((reference.generate(ex.seed_noise(seed, 100))[0] - target) ** 2))

    page.button(key="found_to_a").click().run()
    assert not page.exception, page.exception
    assert_same_digit(shrink(picture(page, media, "A: the found digit")), found_shown)
    page.slider(key="t").set_value(0.0).run()
    assert_same_digit(shrink(picture(page, media, "t = 0.00")), found_shown)  # the walk starts at the found digit
    assert image(page, "B").captions == ["B"]  # B is still its seed

    page.button(key="found_to_centre").click().run()
    assert not page.exception, page.exception
    assert_same_digit(shrink(picture(page, media, "offsets: none · centre: the found digit")), found_shown)
    page.slider(key="offset_100_2").set_value(3.0).run()
    moved = shrink(picture(page, media, "offsets: 2 +3.0 · centre: the found digit"))
    assert_same_digit(moved, expected(reference, ex.nudge(found.noise, [2], [3.0])))
    page.button(key="centre_at_t").click().run()
    page.button(key="reset_offsets").click().run()
    assert np.array_equal(picture(page, media, "offsets: none"), picture(page, media, "t = 0.00"))

    page.number_input(key="seed_a").set_value(5).run()  # choosing a seed makes the seed the endpoint again
    assert image(page, "A").captions == ["A"]
    assert_same_digit(shrink(picture(page, media, "A")), expected(reference, ex.seed_noise(5, 100)))


def test_a_bad_upload_is_refused_with_a_message(page):
    upload_digit(page, b"not a picture at all", "digit.png")
    assert "The picture was not used: the file is not a PNG or JPEG image" in page.error[0].value
    assert page.button(key="find_digit").disabled
    upload_digit(page, png_bytes(np.zeros((40, 40), "uint8")), "blank.png")
    assert "the drawing is empty" in page.error[0].value


def test_the_upload_works_without_the_drawing_component(run_path, monkeypatch, media):
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", None)  # import fails, as when not installed
    at = open_page(run_path.parent, monkeypatch)
    assert any("streamlit-drawable-canvas" in i.value for i in at.info)
    assert at.button(key="find_digit").disabled
    upload_digit(at, png_bytes(to_uint8(load_images("mnist-sample")[3])[..., 0]))
    at.button(key="find_digit").click().run()
    assert not at.exception, at.exception
    assert image(at, "drawn").captions == ["drawn", "found"]
    assert any(m.value.startswith("Distance **") for m in at.markdown)


# ------------------------------------------------------------------ a conditional generator
def trained_alone(tmp_path_factory, folder: str, **settings) -> Path:
    """A trained tiny run with these settings, alone in its runs folder."""
    run = TrainingRun(tiny_config(**settings), runs_dir=tmp_path_factory.mktemp(folder)).start()
    assert run.wait(120) == "finished", run.snapshot().error
    return Path(run.snapshot().run_dir)


@pytest.fixture(scope="module")
def conditional_path(tmp_path_factory):
    """A trained tiny conditional run, alone in its runs folder."""
    return trained_alone(tmp_path_factory, "conditional_runs", conditional=True)


@pytest.fixture(scope="module")
def conditional_reference(conditional_path):
    return ex.Explorer(load_generator(conditional_path))


@pytest.fixture
def conditional_page(conditional_path, monkeypatch, media):
    return open_page(conditional_path.parent, monkeypatch)


def plane_centre(at, media) -> np.ndarray:
    """The middle cell of the 7 x 7 plane, as one 28 x 28 image."""
    return plane_cell(at, media, 3, 3)


def plane_cell(at, media, row: int, col: int) -> np.ndarray:
    """One cell of the 7 x 7 plane, as one 28 x 28 image."""
    grid = picture(at, media, "→ ")
    scale = grid.shape[0] // (7 * 30 + 2)
    rows, cols = (slice(scale * (2 + i * 30), scale * (2 + i * 30 + 28), scale) for i in (row, col))
    return grid[rows, cols]


def test_the_chosen_class_draws_every_picture(conditional_page, media, conditional_reference):
    at = conditional_page
    assert "conditional, 10 classes" in at.caption[0].value and "code" not in at.caption[0].value
    assert at.selectbox(key="draw_class").value == 0 and not at.selectbox(key="draw_class").disabled
    assert not [s for s in at.selectbox if s.key == "draw_code"]
    a, b = ex.seed_noise(0, 100), ex.seed_noise(1, 100)
    z_t = ex.point_at(a, b, 0.5, "slerp")
    assert_same_digit(shrink(picture(at, media, "t = 0.50")), expected(conditional_reference, z_t, 0))

    at.selectbox(key="draw_class").set_value(3).run()
    assert not at.exception, at.exception
    at_t = shrink(picture(at, media, "t = 0.50"))
    assert_same_digit(at_t, expected(conditional_reference, z_t, 3))
    assert not np.array_equal(at_t, expected(conditional_reference, z_t, 0))
    assert_same_digit(shrink(picture(at, media, "A")), expected(conditional_reference, a, 3))
    # The sliders and the plane go through the same point, in the same class.
    assert np.array_equal(shrink(picture(at, media, "offsets: none")), at_t)
    assert np.array_equal(plane_centre(at, media), at_t)
    at.slider(key="offset_100_2").set_value(3.0).run()
    moved = expected(conditional_reference, ex.nudge(z_t, [2], [3.0]), 3)
    assert_same_digit(shrink(picture(at, media, "offsets: 2 +3.0")), moved)
    # The candidates too: candidate #0 is seed 1000 drawn as class 3.
    candidates = image(at, "#0")
    first = shrink(np.asarray(Image.open(io.BytesIO(media(candidates.value[0])))))
    assert_same_digit(first, expected(conditional_reference, ex.seed_noise(1000, 100), 3))


def test_the_walk_between_two_classes_keeps_the_noise(conditional_page, media, conditional_reference):
    at = conditional_page
    at.radio(key="walk").set_value("classes").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="draw_class").disabled  # the walk picks its own two classes
    at.selectbox(key="class_a").set_value(2)
    at.selectbox(key="class_b").set_value(7)
    at.number_input(key="seed_z").set_value(5).run()
    assert not at.exception, at.exception
    z = ex.seed_noise(5, 100)
    assert_same_digit(shrink(picture(at, media, "A: class 2")), expected(conditional_reference, z, 2))
    assert_same_digit(shrink(picture(at, media, "B: class 7")), expected(conditional_reference, z, 7))
    middle = shrink(picture(at, media, "t = 0.50 (class 2 → class 7)"))
    assert_same_digit(middle, expected(conditional_reference, z, ex.class_mix(2, 7, 0.5, 10)))
    assert np.array_equal(plane_centre(at, media), middle)  # the plane goes through the mix at t

    at.slider(key="t").set_value(0.0).run()
    assert_same_digit(shrink(picture(at, media, "t = 0.00")), expected(conditional_reference, z, 2))
    at.slider(key="t").set_value(1.0).run()
    assert_same_digit(shrink(picture(at, media, "t = 1.00")), expected(conditional_reference, z, 7))

    strip = picture(at, media, "8 frames from class 2 to class 7")
    scale = strip.shape[0] // (28 + 4)
    frames = [
        strip[scale * 2 : scale * 30 : scale, scale * (2 + 30 * i) : scale * (30 + 30 * i) : scale] for i in (0, 7)
    ]
    assert_same_digit(frames[0], expected(conditional_reference, z, 2))
    assert_same_digit(frames[1], expected(conditional_reference, z, 7))


def test_a_conditional_generator_finds_the_digit_in_the_chosen_class(conditional_page, media, conditional_reference):
    at = conditional_page
    upload_digit(at, png_bytes(to_uint8(load_images("mnist-sample")[7])[..., 0]))
    at.selectbox(key="find_class").set_value(3)
    at.button(key="find_digit").click().run()
    assert not at.exception, at.exception
    found = at.session_state["found_digit"]["result"]
    assert found.label == 3 and "· class 3" in "\n".join(m.value for m in at.markdown)
    at.radio(key="walk").set_value("classes").run()
    at.button(key="found_to_a").click().run()  # the noise was found for class 3: A is drawn as class 3
    assert not at.exception, at.exception
    assert at.radio(key="walk").value == "seeds" and at.selectbox(key="draw_class").value == 3
    assert_same_digit(shrink(picture(at, media, "A: the found digit")), expected(conditional_reference, found.noise, 3))


# ------------------------------------------------------------------ a code in the noise (InfoGAN)
CODES = 4


@pytest.fixture(scope="module")
def coded_path(tmp_path_factory):
    """A trained tiny run whose noise carries a code of 4, alone in its runs folder."""
    return trained_alone(tmp_path_factory, "coded_runs", codes=CODES)


@pytest.fixture(scope="module")
def coded_reference(coded_path):
    return ex.Explorer(load_generator(coded_path))


@pytest.fixture
def coded_page(coded_path, monkeypatch, media):
    return open_page(coded_path.parent, monkeypatch)


def strip_ends(at, media, caption_start: str, frames: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The first and the last image of a strip of `frames`."""
    strip = picture(at, media, caption_start)
    scale = strip.shape[0] // (28 + 4)
    return tuple(
        strip[scale * 2 : scale * 30 : scale, scale * (2 + 30 * i) : scale * (30 + 30 * i) : scale]
        for i in (0, frames - 1)
    )


def test_the_chosen_code_draws_every_picture(coded_page, media, coded_reference):
    at, ref = coded_page, coded_reference
    assert "a code of 4 (InfoGAN)" in at.caption[0].value and "conditional" not in at.caption[0].value
    assert not [s for s in at.selectbox if s.key == "draw_class"]
    selector = at.selectbox(key="draw_code")
    assert selector.value is None and not selector.disabled  # any, as the noise says, until one is chosen
    assert selector.options == ["any (as the noise says)", "0", "1", "2", "3"]
    assert at.radio(key="code_walk").value == "seeds"
    a, b = ex.seed_noise(0, 100), ex.seed_noise(1, 100)
    z_t = ex.point_at(a, b, 0.5, "slerp")
    as_it_is = shrink(picture(at, media, "t = 0.50"))
    assert_same_digit(as_it_is, expected(ref, z_t))

    code = next(c for c in range(CODES) if c != int(ref.code_of(z_t)[0]))  # not the code z_t carries
    at.selectbox(key="draw_code").set_value(code).run()
    assert not at.exception, at.exception
    # A and B are given the code, and so is every point of the walk between them.
    a_code, b_code = ref.with_code(a, code), ref.with_code(b, code)
    z_code = ex.point_at(a_code, b_code, 0.5, "slerp")
    assert ref.code_of(np.stack([a_code, b_code, z_code])).tolist() == [code] * 3
    at_t = shrink(picture(at, media, "t = 0.50"))
    assert_same_digit(at_t, expected(ref, z_code))
    assert not np.array_equal(at_t, as_it_is)
    assert_same_digit(shrink(picture(at, media, "A")), expected(ref, a, code=code))
    assert_same_digit(shrink(picture(at, media, "B")), expected(ref, b, code=code))
    first, last = strip_ends(at, media, "8 frames from A to B")
    assert_same_digit(first, expected(ref, a, code=code))
    assert_same_digit(last, expected(ref, b, code=code))
    candidates = image(at, "#0")  # candidate #0 is seed 1000, drawn with the code
    first_candidate = shrink(np.asarray(Image.open(io.BytesIO(media(candidates.value[0])))))
    assert_same_digit(first_candidate, expected(ref, ex.seed_noise(1000, 100), code=code))
    # The sliders and the plane go through the same point, with the same code.
    assert np.array_equal(shrink(picture(at, media, "offsets: none")), at_t)
    assert np.array_equal(plane_centre(at, media), at_t)
    # Across dimension 0, down dimension 1, 2 either side: a cell 2 further along a dimension that is not the code.
    row, col, dim = (3, 6, 0) if code != 0 else (6, 3, 1)
    cell = ex.nudge(z_code, [dim], [2.0])
    assert ref.code_of(cell)[0] != code  # as the noise says, that cell would have another code
    assert_same_digit(plane_cell(at, media, row, col), expected(ref, cell, code=code))
    dim = next(d for d in range(CODES) if d != code)  # a slider that would move the code if nothing kept it
    moved = ex.nudge(z_code, [dim], [3.0])
    assert ref.code_of(moved)[0] != code
    at.slider(key=f"offset_100_{dim}").set_value(3.0).run()
    assert not at.exception, at.exception
    assert_same_digit(shrink(picture(at, media, f"offsets: {dim} +3.0")), expected(ref, moved, code=code))

    at.selectbox(key="draw_code").set_value(None).run()  # any again: the noise as it is
    at.button(key="reset_offsets").click().run()
    assert np.array_equal(shrink(picture(at, media, "t = 0.50")), as_it_is)


def test_the_walk_between_two_codes_keeps_the_noise(coded_page, media, coded_reference):
    at, ref = coded_page, coded_reference
    at.radio(key="code_walk").set_value("codes").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="draw_code").disabled  # the walk picks its own two codes
    at.selectbox(key="code_a").set_value(0)
    at.selectbox(key="code_b").set_value(3)
    at.number_input(key="seed_z").set_value(5).run()
    assert not at.exception, at.exception
    z = ex.seed_noise(5, 100)
    assert_same_digit(shrink(picture(at, media, "A: code 0")), expected(ref, z, code=0))
    assert_same_digit(shrink(picture(at, media, "B: code 3")), expected(ref, z, code=3))
    z_t = ref.code_walk(z, 0, 3, 0.5)[0]
    middle = shrink(picture(at, media, "t = 0.50 (code 0 → code 3)"))
    assert image(at, "t = 0.50").captions[0].endswith(f"carries code {int(ref.code_of(z_t)[0])}")
    assert_same_digit(middle, expected(ref, z_t))
    assert np.array_equal(plane_centre(at, media), middle)  # the plane goes through the noise at t

    at.slider(key="t").set_value(0.0).run()
    assert_same_digit(shrink(picture(at, media, "t = 0.00")), expected(ref, z, code=0))
    at.slider(key="t").set_value(1.0).run()
    assert_same_digit(shrink(picture(at, media, "t = 1.00")), expected(ref, z, code=3))
    first, last = strip_ends(at, media, "8 frames from code 0 to code 3")
    assert_same_digit(first, expected(ref, z, code=0))
    assert_same_digit(last, expected(ref, z, code=3))


def test_a_digit_found_for_a_coded_generator_is_drawn_with_its_own_code(coded_page, media, coded_reference):
    at = coded_page
    at.selectbox(key="draw_code").set_value(2).run()
    upload_digit(at, png_bytes(to_uint8(load_images("mnist-sample")[7])[..., 0]))
    at.button(key="find_digit").click().run()
    assert not at.exception, at.exception
    found = at.session_state["found_digit"]["result"]
    at.button(key="found_to_a").click().run()  # drawn with another code, it would not be the digit found
    assert not at.exception, at.exception
    assert at.selectbox(key="draw_code").value is None and at.radio(key="code_walk").value == "seeds"
    assert_same_digit(shrink(picture(at, media, "A: the found digit")), expected(coded_reference, found.noise))
