"""Load a generator from a .keras file without letting Keras deserialize anything we have not checked.

Keras's own safe mode has been bypassed again and again (CVE-2025-1550, -8747, -9905, -9906, -49655,
-12060, CVE-2026-0897, -1462, -12481, ...), so a .keras file is treated as hostile until proven ours:

1. it must be a zip archive (a legacy .h5 full model is refused: Keras ignores safe mode for it);
2. the archive's listing is checked before anything is read: only metadata.json, config.json and
   model.weights.h5, no paths out of the folder, no links, bounded sizes and compression ratios;
3. config.json is parsed here and walked: every object in it must be a class that GAN Studio's own
   presets use (derived from building them), so no Lambda, TFSMLayer, functions or foreign modules;
4. the network is built from that config first without allocating its weights, and must be a
   generator of a bounded size: noise (and a label) in, an (H, W, 1 or 3) image out;
5. model.weights.h5 must hold exactly the arrays, shapes and dtypes of the network built here,
   compared from HDF5 metadata before any data is read (defeats HDF5 shape bombs, CVE-2026-0897).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import stat
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from gan_core.config import TrainConfig
from gan_core.data import MAX_SIDE, MIN_SIDE
from gan_core.runs import RunError

WEIGHTS, CONFIG, METADATA = "model.weights.h5", "config.json", "metadata.json"
# The largest generator the app trains: a dense preset's last layer, 1024 units to a 256x256x3 image,
# is 201M parameters. Caps a little above it bound what a file can make us allocate.
MAX_PARAMS = 256 * 2**20
MAX_MEMBER_BYTES = {METADATA: 64 * 2**10, CONFIG: 2**20, WEIGHTS: 4 * MAX_PARAMS + 16 * 2**20}
MAX_FILE_BYTES = sum(MAX_MEMBER_BYTES.values()) + 2**20  # plus the zip's own headers
MAX_RATIO = 100  # Keras stores members uncompressed; DEFLATE of real weights gains far less than this
# Values per image in any layer's output: dcgan's widest layer at 256x256 has 1M; a file must not make
# drawing one batch cost gigabytes.
MAX_ACTIVATION = 4 * 2**20
MAX_CONFIG_DEPTH = 64  # our presets' configs nest about a dozen levels deep
MAX_H5_OBJECTS = 10_000  # groups and arrays in model.weights.h5; our presets write fewer than 100
MAX_ATTR_BYTES = 4096
MAX_LATENT = next(f.metadata["high"] for f in dataclasses.fields(TrainConfig) if f.name == "latent_dim")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
UNSAFE = "enable_unsafe_deserialization"
# Classes refused with a reason of their own, since they are the usual ways in.
DANGEROUS = {
    "Lambda": "a Lambda layer, which runs Python code stored in the file",
    "TFSMLayer": "a TFSMLayer, which loads a TensorFlow SavedModel from outside the file",
}


class ModelFileError(RunError):
    """A .keras file refused before Keras deserialized any of it."""


def load_keras_file(path: str | Path):
    """The generator in the .keras file at `path`, after every check above; ModelFileError otherwise."""
    path = Path(path)
    try:
        return _load(path)
    except RunError:
        raise
    except Exception as e:  # zipfile, json, h5py and Keras fail on damaged files in many ways; one message
        raise ModelFileError(f"could not load a Keras model from {path}: {e}") from e


def _load(path: Path):
    def refuse(why: str) -> ModelFileError:
        return ModelFileError(f"could not load a Keras model from {path}: {why}")

    _check_file_kind(path, refuse)
    with zipfile.ZipFile(path) as archive:
        _check_listing(archive, refuse)
        config = _read_json(archive, CONFIG, refuse)
        if METADATA in archive.namelist():
            _read_json(archive, METADATA, refuse)
        if not isinstance(config, dict):
            raise refuse("config.json does not describe a Keras model")
        config["compile_config"] = None  # we never compile; a compile config names losses and optimisers
        _check_config(config, refuse)
        _check_network(config, refuse)
        model = _build(config, refuse)
        # A private folder (mode 0700) for the weights, deleted whatever happens: h5py reads files best.
        with tempfile.TemporaryDirectory(prefix="gan-studio-model-") as folder:
            weights = Path(folder) / WEIGHTS
            _extract(archive, WEIGHTS, weights, refuse)
            expected = Path(folder) / "expected.weights.h5"
            model.save_weights(expected)  # the layout Keras writes for the network built here
            _check_weights(weights, expected, refuse)
            model.load_weights(weights)
    return model


# ------------------------------------------------------------------ the file and its listing
def _check_file_kind(path: Path, refuse: Callable[[str], ModelFileError]) -> None:
    """Refuse empty, oversized, legacy HDF5 and non-zip files by their size and first bytes."""
    size = path.stat().st_size
    if size == 0:
        raise refuse("the file is empty")
    if size > MAX_FILE_BYTES:
        raise refuse(
            f"the file is {size / 2**20:.0f} MiB, more than any GAN Studio generator ({MAX_FILE_BYTES >> 20} MiB)"
        )
    with path.open("rb") as f:
        head = f.read(8)
    if head == HDF5_MAGIC:
        raise refuse(
            "it is a legacy HDF5 (.h5) model, which Keras cannot load safely (safe mode does not apply to it); "
            "give a run folder, or a generator saved as .keras"
        )
    if not zipfile.is_zipfile(path):
        what = "a zip archive cut short (an interrupted download?)" if head.startswith(b"PK") else "not a zip archive"
        raise refuse(
            f"it is {what}; a .keras file is the zip archive that Keras's model.save('generator.keras') writes"
        )


def _check_listing(archive: zipfile.ZipFile, refuse: Callable[[str], ModelFileError]) -> None:
    """Only the members a Keras 3 generator archive holds, with safe names and bounded sizes."""
    infos = archive.infolist()
    if len(infos) > 16:
        raise refuse(f"the archive holds {len(infos)} members; a .keras generator holds 3")
    names = [info.filename for info in infos]
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")) or ".." in parts:
            raise refuse(f"archive member {name!r} points outside the archive's folder (path traversal)")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise refuse(f"archive member {name!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise refuse(f"archive member {name!r} is encrypted")
        if name.startswith("assets/") and info.is_dir():  # older Keras writes an empty assets folder
            continue
        if name not in MAX_MEMBER_BYTES:
            raise refuse(
                f"unexpected archive member {name!r}; a .keras generator holds only {', '.join(MAX_MEMBER_BYTES)}"
            )
        if names.count(name) > 1:
            raise refuse(f"archive member {name!r} appears twice")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise refuse(f"archive member {name!r} uses an unusual compression method ({info.compress_type})")
        if info.file_size > MAX_MEMBER_BYTES[name]:
            raise refuse(
                f"archive member {name!r} unpacks to {info.file_size / 2**20:.0f} MiB, more than "
                f"{MAX_MEMBER_BYTES[name] / 2**20:.0f} MiB (a zip bomb?)"
            )
        if info.file_size > 2**20 and info.file_size > MAX_RATIO * info.compress_size:
            raise refuse(
                f"archive member {name!r} unpacks to {info.file_size / 2**20:.0f} MiB from "
                f"{info.compress_size / 2**10:.0f} KiB stored (a zip bomb?)"
            )
    for needed in (CONFIG, WEIGHTS):
        if needed not in names:
            raise refuse(f"the archive has no {needed}; is it a model saved with Keras 3's model.save(...)?")


def _read_json(archive: zipfile.ZipFile, name: str, refuse: Callable[[str], ModelFileError]) -> Any:
    with archive.open(name) as f:
        data = f.read(MAX_MEMBER_BYTES[name] + 1)  # the listing's size is checked; this bounds a lying one
    if len(data) > MAX_MEMBER_BYTES[name]:
        raise refuse(f"{name} is larger than its listing says")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise refuse(f"{name} is not valid JSON ({str(e)[:200]})") from e


def _extract(archive: zipfile.ZipFile, name: str, target: Path, refuse: Callable[[str], ModelFileError]) -> None:
    """Copy one member to `target` (a name we chose), never more bytes than its bound."""
    left = MAX_MEMBER_BYTES[name]
    with archive.open(name) as src, target.open("wb") as out:
        while chunk := src.read(2**20):
            left -= len(chunk)
            if left < 0:
                raise refuse(f"{name} is larger than its listing says")
            out.write(chunk)


# ------------------------------------------------------------------ config.json
def _triple(node: dict) -> tuple:
    """(module, class_name, registered_name), each a string or None (a hostile file may put anything there)."""
    fields = (node.get("module"), node.get("class_name"), node.get("registered_name"))
    return tuple(f if f is None or isinstance(f, str) else repr(f)[:80] for f in fields)


def _objects(config: Any):
    """(node, depth) for every dict, list and value in a JSON config, without recursion."""
    stack = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _in_fresh_thread(fn: Callable[[], Any]) -> Any:
    """fn() in a new thread inside a Keras StatelessScope: layers built there get no memory for their
    weights, and Keras's per-thread state (layer name counters, scopes) is left as it was here."""
    import keras

    result: dict[str, Any] = {}

    def work() -> None:
        try:
            with keras.StatelessScope(initialize_variables=False), keras.saving.custom_object_scope({}):
                result["value"] = fn()
        except Exception as e:  # re-raised in the caller's thread
            result["error"] = e

    thread = threading.Thread(target=work, name="gan-studio-model-check", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


@functools.cache
def _allowed_objects() -> frozenset[tuple]:
    """(module, class_name, registered_name) of every object in the configs of our presets' generators,
    conditional, with a code and plain: what a generator.keras of ours can contain, kept in step with models.py."""
    import keras

    from gan_core.models import PRESETS, coded_generator, conditional_generator

    def collect() -> frozenset[tuple]:
        found = set()
        for preset in PRESETS.values():
            for model in (
                preset.make_generator(4, (32, 32, 1)),  # no memory is allocated for these (StatelessScope)
                conditional_generator(preset.make_generator(4 + 10, (32, 32, 3)), 4, 10),
                coded_generator(preset.make_generator(4 + 2, (32, 32, 1)), 4, 2),
            ):
                config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))  # as saved
                config["compile_config"] = None
                found |= {_triple(n) for n, _ in _objects(config) if isinstance(n, dict) and _is_object(n)}
        return frozenset(found)

    return _in_fresh_thread(collect)


def _is_object(node: dict) -> bool:
    return bool({"module", "class_name", "registered_name"} & node.keys())


def _check_config(config: dict, refuse: Callable[[str], ModelFileError]) -> None:
    """Refuse any object in config.json that our presets do not use, and any attempt to turn safe mode off."""
    text = json.dumps(config)  # these two are refused wherever they appear, before the walk below
    if UNSAFE in text:
        raise refuse(f"config.json tries to switch Keras's safe mode off ({UNSAFE})")
    if "__lambda__" in text:
        raise refuse("config.json holds a Python lambda: code stored in the file, which would run on loading")
    allowed = _allowed_objects()
    for node, depth in _objects(config):
        if depth > MAX_CONFIG_DEPTH:
            raise refuse(f"config.json nests deeper than {MAX_CONFIG_DEPTH} levels; ours nest about a dozen")
        if not isinstance(node, dict) or not _is_object(node) or _triple(node) in allowed:
            continue
        module, class_name, registered = _triple(node)
        if class_name in DANGEROUS:
            why = f"it contains {DANGEROUS[class_name]}"
        elif class_name == "function" or registered == "function":
            why = f"it calls the Python function {module}.{str(node.get('config'))[:80]}"
        else:
            names = sorted({c for _, c, _ in allowed if c and not c.startswith("__")})
            why = f"it uses {module}.{class_name}, which GAN Studio's generators do not (they use {', '.join(names)})"
        raise refuse(f"{why}; GAN Studio loads only generators built from its own presets")


# ------------------------------------------------------------------ the network
def _layers(model):
    """Every layer of `model`, and of the models inside it."""
    import keras

    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)


def _check_network(config: dict, refuse: Callable[[str], ModelFileError]) -> None:
    """Build the network without its weights' memory and check it is a generator of a bounded size."""
    import keras

    def shapes() -> tuple | str:
        model = keras.saving.deserialize_keras_object(copy.deepcopy(config), safe_mode=True)
        if not isinstance(model, keras.Model):
            return "config.json describes a single layer, not a model"
        if len(model.outputs) != 1:
            return f"the model has {len(model.outputs)} outputs; a generator has one, its images"
        largest = 0  # values per image in any layer's output: what drawing a batch costs in memory
        for layer in _layers(model):
            try:
                outputs = keras.tree.flatten(layer.output)
            except (AttributeError, ValueError):  # a layer called more than once: never in our presets
                return f"layer {layer.name!r} is used more than once, which GAN Studio's generators never do"
            for out in outputs:
                if None in tuple(out.shape)[1:]:
                    return f"layer {layer.name!r} outputs shape {tuple(out.shape)}, whose size is not fixed"
                largest = max(largest, math.prod(tuple(out.shape)[1:]))
        inputs = [(tuple(i.shape), str(i.dtype)) for i in model.inputs]
        return inputs, tuple(model.outputs[0].shape), sum(math.prod(v.shape) for v in model.weights), largest

    try:
        found = _in_fresh_thread(shapes)
    except Exception as e:  # an allowed layer with impossible settings
        raise refuse(f"config.json does not describe a network Keras can build ({str(e)[:300]})") from e
    if isinstance(found, str):
        raise refuse(found)
    inputs, output, params, largest = found
    noise = len(inputs) in (1, 2) and len(inputs[0][0]) == 2 and inputs[0][0][0] is None
    label = len(inputs) == 1 or (inputs[1][0] == (None,) and "int" in inputs[1][1])
    if not (noise and label and 1 <= (inputs[0][0][1] or 0) <= MAX_LATENT):
        raise refuse(
            f"the model takes inputs {[s for s, _ in inputs]}; a generator takes (batch, latent_dim) noise with "
            f"latent_dim up to {MAX_LATENT}, and an integer class label if it is conditional"
        )
    image = len(output) == 4 and output[0] is None and None not in output[1:] and output[3] in (1, 3)
    if not (image and MIN_SIDE <= output[1] <= MAX_SIDE and MIN_SIDE <= output[2] <= MAX_SIDE):
        raise refuse(
            f"the model outputs shape {output}; a generator outputs images (batch, H, W, 1 or 3) "
            f"with H and W between {MIN_SIDE} and {MAX_SIDE}"
        )
    if params > MAX_PARAMS:
        raise refuse(f"the network has {params:,} weights, more than any GAN Studio generator ({MAX_PARAMS:,})")
    if largest > MAX_ACTIVATION:
        raise refuse(
            f"a layer of the network outputs {largest:,} values per image, more than any GAN Studio generator "
            f"({MAX_ACTIVATION:,}): drawing a batch would take that much memory per image"
        )


def _build(config: dict, refuse: Callable[[str], ModelFileError]):
    import keras

    try:
        with keras.saving.custom_object_scope({}):
            return keras.saving.deserialize_keras_object(copy.deepcopy(config), safe_mode=True)
    except Exception as e:
        raise refuse(f"config.json does not describe a network Keras can build ({str(e)[:300]})") from e


# ------------------------------------------------------------------ model.weights.h5
def _h5_layout(path: Path, refuse: Callable[[str], ModelFileError]) -> dict[str, tuple]:
    """{path: what is there} for every group and array, from HDF5 metadata only (no array data read)."""
    import h5py

    def attrs(obj) -> tuple:
        if len(obj.attrs) > 16:
            raise refuse(f"model.weights.h5 has {len(obj.attrs)} attributes on {obj.name}; Keras writes at most one")
        names = sorted(obj.attrs)
        for name in names:
            if obj.attrs.get_id(name).get_storage_size() > MAX_ATTR_BYTES:
                raise refuse(f"model.weights.h5 has an attribute {name!r} of more than {MAX_ATTR_BYTES} bytes")
        return tuple(names)

    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        raise refuse(f"model.weights.h5 is not a readable HDF5 file ({e})") from e
    with h5:
        layout: dict[str, tuple] = {}
        stack = [("", h5)]
        while stack:
            prefix, group = stack.pop()
            layout[prefix or "/"] = ("group", attrs(group))
            for name in group:
                where = f"{prefix}/{name}"
                if len(layout) + len(stack) > MAX_H5_OBJECTS:
                    raise refuse(f"model.weights.h5 holds more than {MAX_H5_OBJECTS} objects")
                link = group.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    raise refuse(f"model.weights.h5 links {where} to somewhere else ({type(link).__name__})")
                kind = group.get(name, getclass=True)
                if kind is h5py.Group:
                    stack.append((where, group[name]))
                elif kind is h5py.Dataset:
                    array = group[name]
                    if array.external or array.is_virtual:
                        raise refuse(f"model.weights.h5 reads {where} from another file")
                    layout[where] = ("array", tuple(array.shape), array.dtype.str, attrs(array))
                else:
                    raise refuse(f"model.weights.h5 holds something other than groups and arrays at {where}")
    return layout


def _describe(entry: tuple | None) -> str:
    if entry is None:
        return "nothing"
    kind, *shape_dtype, attrs = entry
    what = "a group" if kind == "group" else f"an array of shape {shape_dtype[0]} ({shape_dtype[1]})"
    return what + (f" with attributes {list(attrs)}" if attrs else "")


def _check_weights(weights: Path, expected: Path, refuse: Callable[[str], ModelFileError]) -> None:
    """The arrays of `weights` must be exactly those Keras wrote in `expected` for our network."""
    found, wanted = _h5_layout(weights, refuse), _h5_layout(expected, refuse)
    for where in sorted(found.keys() | wanted.keys()):
        if found.get(where) != wanted.get(where):
            raise refuse(
                f"model.weights.h5 does not fit the network in config.json: at {where} it holds "
                f"{_describe(found.get(where))}, where the network has {_describe(wanted.get(where))}"
            )
