"""Hostile and broken .keras files, for everything that loads one (load_generator: the Explore page's upload,
the CLI's sample and score). Each file is built here from a real tiny generator's archive; each payload would
create a marker file if it ever ran. Every one must be refused with RunError and a message saying why,
with no marker, and nothing written outside the test's folder."""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import stat
import struct
import tempfile
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from gan_core.__main__ import main
from gan_core.models import PRESETS, build_models
from gan_core.runs import RunError, load_generator

LATENT = 8
PAGE = Path(__file__).resolve().parents[1] / "pages" / "explore.py"


@pytest.fixture(scope="module")
def legit(tmp_path_factory) -> dict[str, bytes]:
    """The members of a tiny generator's .keras archive, as Keras 3 writes them."""
    path = tmp_path_factory.mktemp("legit") / "generator.keras"
    build_models("tiny", LATENT, (28, 28, 1))[0].save(path)
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """The temporary folder the loader uses, inside tmp_path: it must be empty again after every load."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    # TensorFlow's autograph leaves its generated files there when a test builds a SavedModel payload.
    left = [p.name for p in folder.iterdir() if not p.name.startswith("__autograph_generated_file")]
    assert not left, f"the loader left files in the temporary folder: {left}"


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def with_config(legit: dict[str, bytes], edit) -> dict[str, bytes]:
    """The legit members with config.json changed by `edit(config)` (which edits in place)."""
    config = json.loads(legit["config.json"])
    edit(config)
    return {**legit, "config.json": json.dumps(config).encode()}


def layers_of(config: dict) -> list:
    return config["config"]["layers"]


def refused(path: Path, *words: str) -> str:
    """load_generator(path) raises RunError whose message holds every one of `words`; the message."""
    with pytest.raises(RunError) as e:
        load_generator(path)
    message = str(e.value)
    for word in words:
        assert word in message, message
    return message


def lambda_payload(marker: Path) -> dict:
    """A Lambda layer's config whose stored bytecode creates `marker` when the layer runs (the path is a constant
    in the code: Keras cannot load a lambda with default arguments)."""
    function = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")
    return keras.saving.serialize_keras_object(keras.layers.Lambda(function, name="payload"))


# ------------------------------------------------------------------ code in config.json
def test_a_lambda_with_code_is_refused_and_never_runs(legit, tmp_path):
    marker = tmp_path / "marker"
    code = lambda_payload(marker)
    path = write_zip(tmp_path / "g.keras", with_config(legit, lambda c: layers_of(c).insert(2, code)))
    refused(path, "could not load a Keras model", "Python lambda")
    assert not marker.exists()


def test_the_lambda_payload_is_live(legit, tmp_path):
    """The test above means something: Keras with safe mode off runs the same payload."""
    marker = tmp_path / "marker"
    code = lambda_payload(marker)
    path = write_zip(tmp_path / "g.keras", with_config(legit, lambda c: layers_of(c).insert(2, code)))
    with contextlib.suppress(Exception):  # the weights no longer fit; the payload ran while the network was built
        keras.models.load_model(path, compile=False, safe_mode=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "make, words",
    [
        # A layer slot naming a foreign module's callable, with the arguments that would create the marker.
        (lambda m: {"module": "os", "class_name": "system", "config": {"command": f"touch {m}"}}, ["os.system"]),
        (
            lambda m: {"module": "subprocess", "class_name": "Popen", "config": {"args": ["touch", m]}},
            ["subprocess.Popen"],
        ),
        (
            lambda m: {"module": "builtins", "class_name": "exec", "config": {"source": f"open({m!r}, 'w')"}},
            ["builtins.exec"],
        ),
        # A function reference, the shape Keras serialises activations and Lambda functions in.
        (
            lambda m: {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"},
            ["Python function builtins.exec"],
        ),
        # Our own test module's function: a module that exists and imports fine is still not a layer of ours.
        (
            lambda m: {
                "module": "tests.conftest",
                "class_name": "function",
                "config": "wait_for",
                "registered_name": None,
            },
            ["Python function tests.conftest.wait_for"],
        ),
    ],
)
def test_foreign_modules_and_functions_are_refused(legit, tmp_path, make, words):
    marker = tmp_path / "marker"
    path = write_zip(tmp_path / "g.keras", with_config(legit, lambda c: layers_of(c).insert(2, make(str(marker)))))
    refused(path, "GAN Studio loads only generators built from its own presets", *words)
    assert not marker.exists()


def test_a_function_as_an_activation_is_refused(legit, tmp_path):
    def edit(config):
        layers_of(config)[1]["config"]["activation"] = {
            "module": "os",
            "class_name": "function",
            "config": "system",
            "registered_name": "function",
        }

    refused(write_zip(tmp_path / "g.keras", with_config(legit, edit)), "Python function os.system")


def test_switching_safe_mode_off_then_a_lambda_is_refused(legit, tmp_path):
    marker = tmp_path / "marker"
    unsafe = {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
        "registered_name": "function",
    }
    payload = lambda_payload(marker)

    def edit(config):
        layers_of(config)[1]["config"]["activation"] = unsafe
        layers_of(config).insert(2, payload)

    refused(write_zip(tmp_path / "g.keras", with_config(legit, edit)), "safe mode off")
    assert not marker.exists()
    from keras.src.saving import serialization_lib

    assert serialization_lib.in_safe_mode() is not False  # nothing switched it off for this thread


def test_a_tfsmlayer_loading_an_outside_savedmodel_is_refused(legit, tmp_path):
    """CVE-2026-1462: a TFSMLayer loads (and runs) a SavedModel from anywhere on disk, safe mode or not."""
    import tensorflow as tf

    marker, outside = tmp_path / "marker", tmp_path / "outside" / "savedmodel"

    class Payload(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, LATENT], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(marker), "ran")
            return x

    tf.saved_model.save(Payload(), str(outside))
    layer = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {"name": "tfsm", "filepath": str(outside), "call_endpoint": "serve", "trainable": False},
        "registered_name": None,
    }
    path = write_zip(tmp_path / "g.keras", with_config(legit, lambda c: layers_of(c).insert(1, layer)))
    refused(path, "TFSMLayer", "SavedModel from outside the file")
    assert not marker.exists()


def test_a_discriminator_is_refused_by_its_layers(tmp_path):
    build_models("tiny", LATENT, (28, 28, 1))[1].save(tmp_path / "d.keras")
    refused(tmp_path / "d.keras", "keras.layers.Flatten, which GAN Studio's generators do not")


# ------------------------------------------------------------------ the archive itself
def assert_nothing_outside(tmp_path: Path, name: str) -> None:
    """No file `name` appeared where a traversal would put it: beside tmp_path, in /tmp, in the temp folder."""
    for folder in (tmp_path.parent, Path("/tmp"), Path(tempfile.gettempdir()), Path.cwd()):
        assert not (folder / name).exists(), folder / name


@pytest.mark.parametrize(
    "name",
    ["../gan-studio-traversal-{id}", "/tmp/gan-studio-traversal-{id}", "assets/../../gan-studio-traversal-{id}"],
)
def test_members_with_paths_out_of_the_folder_are_refused(legit, tmp_path, name):
    name = name.format(id=os.getpid())
    before = sorted(os.listdir(tmp_path.parent))
    path = write_zip(tmp_path / "g.keras", {**legit, name: b"written outside"})
    refused(path, "points outside the archive's folder", name)
    assert_nothing_outside(tmp_path, Path(name).name)
    assert sorted(os.listdir(tmp_path.parent)) == before


def test_a_symlink_member_is_refused(legit, tmp_path):
    path = tmp_path / "g.keras"
    with zipfile.ZipFile(path, "w") as z:
        for name in ("metadata.json", "config.json"):
            z.writestr(name, legit[name])
        link = zipfile.ZipInfo("model.weights.h5")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    refused(path, "'model.weights.h5' is a symbolic link")


def test_an_unexpected_member_is_refused(legit, tmp_path):
    refused(write_zip(tmp_path / "g.keras", {**legit, "evil.py": b"import os"}), "unexpected archive member 'evil.py'")


def test_an_archive_without_weights_is_refused(legit, tmp_path):
    members = {k: v for k, v in legit.items() if k != "model.weights.h5"}
    refused(write_zip(tmp_path / "g.keras", members), "has no model.weights.h5")


def test_a_zip_bomb_is_refused_before_it_is_unpacked(legit, tmp_path):
    """256 MiB of zeros, stored in a few hundred KiB."""
    path = tmp_path / "g.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("metadata.json", "config.json"):
            z.writestr(name, legit[name])
        with z.open("model.weights.h5", "w") as f:
            for _ in range(16):
                f.write(bytes(2**24))
    assert path.stat().st_size < 2**20
    refused(path, "zip bomb", "256 MiB")


def lie_about_size(data: bytes, name: str, size: int) -> bytes:
    """`data` (a zip) with the central directory saying that member `name` unpacks to `size` bytes."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", out, at + 28)[0]
        if out[at + 46 : at + 46 + length] == name.encode():
            struct.pack_into("<I", out, at + 24, size)
            return bytes(out)
        at = out.find(b"PK\x01\x02", at + 1)
    raise AssertionError(f"no member {name}")


def test_a_member_claiming_2_gib_is_refused(legit, tmp_path):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in legit.items():
            z.writestr(name, content)
    path = tmp_path / "g.keras"
    path.write_bytes(lie_about_size(data.getvalue(), "model.weights.h5", 2**31))
    assert zipfile.ZipFile(path).getinfo("model.weights.h5").file_size == 2**31
    refused(path, "unpacks to 2048 MiB", "zip bomb")


# ------------------------------------------------------------------ model.weights.h5
def with_weights(legit: dict[str, bytes], tmp_path: Path, edit) -> dict[str, bytes]:
    """The legit members with model.weights.h5 changed by `edit(h5py.File)`."""
    h5 = tmp_path / "w.h5"
    h5.write_bytes(legit["model.weights.h5"])
    with h5py.File(h5, "a") as f:
        edit(f)
    return {**legit, "model.weights.h5": h5.read_bytes()}


def test_an_hdf5_shape_bomb_is_refused_before_any_data_is_read(legit, tmp_path):
    """CVE-2026-0897: an array declaring 4 PB (stores nothing) where the network has an 8x32 kernel."""

    def edit(f):
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(10**9, 10**6), dtype="<f4", chunks=(1, 1024))

    members = with_weights(legit, tmp_path, edit)
    assert len(members["model.weights.h5"]) < 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(write_zip(tmp_path / "g.keras", members), "/layers/dense/vars/0", "(1000000000, 1000000)", "(8, 32)")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 2**20  # KiB: under 1 GiB more at peak


def test_an_array_read_from_another_file_is_refused(legit, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(8 * 32 * 4))

    def edit(f):
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(8, 32), dtype="<f4", external=[(str(secret), 0, 8 * 32 * 4)])

    refused(write_zip(tmp_path / "g.keras", with_weights(legit, tmp_path, edit)), "from another file")


def test_a_soft_link_in_the_weights_is_refused(legit, tmp_path):
    def edit(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.SoftLink("/layers/dense_1/vars/1")

    refused(write_zip(tmp_path / "g.keras", with_weights(legit, tmp_path, edit)), "links /layers/dense/vars/1")


def test_weights_of_another_network_are_refused(legit, tmp_path):
    other = tmp_path / "other.keras"
    build_models("tiny", LATENT + 1, (28, 28, 1))[0].save(other)
    with zipfile.ZipFile(other) as z:
        weights = z.read("model.weights.h5")
    path = write_zip(tmp_path / "g.keras", {**legit, "model.weights.h5": weights})
    refused(path, "does not fit the network in config.json", "(9, 32)", "(8, 32)")


def test_weights_that_are_not_hdf5_are_refused(legit, tmp_path):
    path = write_zip(tmp_path / "g.keras", {**legit, "model.weights.h5": b"not hdf5"})
    refused(path, "model.weights.h5 is not a readable HDF5 file")


# ------------------------------------------------------------------ networks that are not generators
def test_a_network_too_large_to_build_is_refused_without_building_it(legit, tmp_path):
    """A million-unit hidden layer: 793M weights (3 GB) declared; refused from shapes alone."""

    def edit(config):
        layers_of(config)[1]["config"]["units"] = 10**6
        layers_of(config)[3]["build_config"]["input_shape"] = [None, 10**6]

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(write_zip(tmp_path / "g.keras", with_config(legit, edit)), "793,000,784 weights")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 2**20


def test_a_model_that_outputs_no_image_is_refused(tmp_path):
    keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(10)]).save(tmp_path / "g.keras")
    refused(tmp_path / "g.keras", "outputs shape (None, 10)", "a generator outputs images")


def test_a_model_that_takes_no_noise_is_refused(tmp_path):
    layers = keras.layers
    model = keras.Sequential(
        [keras.Input((4, 2)), layers.Reshape((8,)), layers.Dense(784), layers.Reshape((28, 28, 1))]
    )
    model.save(tmp_path / "g.keras")
    refused(tmp_path / "g.keras", "takes inputs [(None, 4, 2)]")


def test_a_fixed_batch_size_is_refused(tmp_path):
    layers = keras.layers
    model = keras.Sequential([keras.Input((LATENT,), batch_size=4), layers.Dense(784), layers.Reshape((28, 28, 1))])
    model.save(tmp_path / "g.keras")
    refused(tmp_path / "g.keras", "takes inputs [(4, 8)]")


def test_a_layer_too_wide_to_draw_a_batch_is_refused(tmp_path):
    """Few weights, but 8M values per image in one layer: a batch of 64 would take 2 GB."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((LATENT,)),
            layers.CategoryEncoding(2**23, output_mode="multi_hot"),
            layers.Reshape((2**13, 2**10)),
            layers.Dense(1),
            layers.Reshape((64, 128, 1)),
        ]
    )
    model.save(tmp_path / "g.keras")
    refused(tmp_path / "g.keras", "outputs 8,388,608 values per image")


@pytest.mark.parametrize("shape", [(1, 4, 1), (512, 512, 1), (28, 28, 2)])
def test_images_of_a_size_no_run_trains_are_refused(tmp_path, shape):
    layers = keras.layers
    model = keras.Sequential([keras.Input((LATENT,)), layers.Dense(int(np.prod(shape))), layers.Reshape(shape)])
    model.save(tmp_path / "g.keras")
    refused(tmp_path / "g.keras", f"outputs shape {(None, *shape)}", "1 or 3) with H and W between 8 and 256")


# ------------------------------------------------------------------ files that are not .keras archives
def test_a_legacy_h5_model_is_refused(tmp_path):
    model = build_models("tiny", LATENT, (28, 28, 1))[0]
    model.save(tmp_path / "g.h5")
    refused(tmp_path / "g.h5", "legacy HDF5 model", "give a run folder, or a generator saved as .keras")
    (tmp_path / "g.h5").rename(tmp_path / "renamed.keras")  # named .keras, HDF5 inside
    refused(tmp_path / "renamed.keras", "legacy HDF5 (.h5) model", "safe mode does not apply")


def test_a_truncated_file_is_refused(legit, tmp_path):
    data = write_zip(tmp_path / "full.keras", legit).read_bytes()
    (tmp_path / "g.keras").write_bytes(data[: len(data) // 2])
    refused(tmp_path / "g.keras", "cut short")


def test_an_empty_file_is_refused(tmp_path):
    (tmp_path / "g.keras").write_bytes(b"")
    refused(tmp_path / "g.keras", "the file is empty")


def test_a_text_file_named_keras_is_refused(tmp_path):
    (tmp_path / "g.keras").write_text("import os; os.system('touch marker')\n")
    refused(tmp_path / "g.keras", "not a zip archive", "model.save('generator.keras')")


def test_a_file_of_another_kind_is_refused(tmp_path):
    (tmp_path / "g.pkl").write_bytes(b"\x80\x04K\x01.")
    refused(tmp_path / "g.pkl", "is not a .keras file")


def test_broken_json_is_refused(legit, tmp_path):
    path = write_zip(tmp_path / "g.keras", {**legit, "config.json": b'{"module": "keras", '})
    refused(path, "config.json is not valid JSON")


def test_deeply_nested_json_is_refused(legit, tmp_path):
    deep = b'{"a": ' * 200 + b"1" + b"}" * 200
    refused(write_zip(tmp_path / "g.keras", {**legit, "config.json": deep}), "nests deeper than")


# ------------------------------------------------------------------ our own generators still load, unchanged
@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("classes", [None, 10])
def test_every_preset_generator_loads_and_draws_the_same(preset, classes, tmp_path):
    generator = build_models(preset, LATENT, (28, 28, 1), num_classes=classes)[0]
    generator.save(tmp_path / "generator.keras")
    loaded = load_generator(tmp_path / "generator.keras")
    noise = np.random.default_rng(0).normal(size=(4, LATENT)).astype("float32")
    inputs = noise if classes is None else [noise, np.arange(4, dtype="int32")]
    assert np.array_equal(np.asarray(loaded(inputs, training=False)), np.asarray(generator(inputs, training=False)))


def test_a_mixed_precision_generator_loads(tmp_path):
    generator = build_models("dcgan", LATENT, (28, 28, 1), precision="mixed_bfloat16")[0]
    generator.save(tmp_path / "generator.keras")
    loaded = load_generator(tmp_path / "generator.keras")
    noise = np.random.default_rng(0).normal(size=(2, LATENT)).astype("float32")
    images = loaded(noise, training=False)
    assert images.dtype == "bfloat16"
    assert np.array_equal(np.asarray(images, "float32"), np.asarray(generator(noise, training=False), "float32"))


def test_a_trained_run_loads_as_keras_loads_it(finished_run):
    run_dir = Path(finished_run.snapshot().run_dir)
    ours = load_generator(run_dir)
    theirs = keras.models.load_model(run_dir / "generator.keras", compile=False, safe_mode=True)
    noise = np.random.default_rng(1).normal(size=(8, ours.inputs[0].shape[1])).astype("float32")
    assert np.array_equal(np.asarray(ours(noise, training=False)), np.asarray(theirs(noise, training=False)))


# ------------------------------------------------------------------ what the CLI and the Explore page show
@pytest.fixture
def hostile(legit, tmp_path) -> tuple[Path, Path]:
    """(a .keras file with a Lambda payload, the marker it would create)."""
    marker = tmp_path / "marker"
    code = lambda_payload(marker)
    return write_zip(tmp_path / "hostile.keras", with_config(legit, lambda c: layers_of(c).insert(2, code))), marker


def test_the_cli_refuses_a_hostile_file(hostile, tmp_path, capsys):
    path, marker = hostile
    out = tmp_path / "x.npy"
    assert main(["sample", str(path), "--n", "4", "--out", str(out)]) == 2
    assert "error: could not load a Keras model" in capsys.readouterr().err and not out.exists()
    assert main(["score", str(path), "--n", "10"]) == 2
    assert "Python lambda" in capsys.readouterr().err
    assert not marker.exists()


def test_the_explore_page_refuses_a_hostile_upload_and_keeps_serving(hostile, legit, tmp_path, monkeypatch):
    path, marker = hostile
    page_tmp = tmp_path / "page-tmp"  # the page keeps its uploads in the temporary folder: a folder of its own
    page_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(page_tmp))
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert at.selectbox(key="generator_choice").value == "<upload>"
    at.file_uploader[0].set_value(("generator.keras", path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception
    assert "Python lambda" in at.error[0].value and not at.image
    good = write_zip(tmp_path / "good.keras", legit).read_bytes()
    at.file_uploader[0].set_value(("generator.keras", good, "application/octet-stream")).run()
    assert not at.exception and not at.error and at.image  # the same session goes on with a good file
    assert not marker.exists()
    assert not list(page_tmp.glob("gan-studio-model-*"))  # the loader's private folders are gone
