"""A run on disk: runs/<run-id>/ with config.json, metrics.jsonl, samples/, checkpoints/, generator.keras.

Checkpoints are written into a temporary folder and renamed into place, so that a crash mid-write
never leaves a broken latest checkpoint: any `ckpt-<step>` folder that exists is complete. Each one
names what it holds: a `tf.train.Checkpoint` of the GAN's objects by name (generator, discriminator,
ema_generator, g_optimizer, d_optimizer, step, seed_generator) and a state.json with the format
version, what it was trained for (preset, image shape, classes, loss) and a manifest of every
variable's shape and dtype, checked before anything is loaded.

A runs folder may also be a bucket (gs://bucket/runs): gan_core.storage reaches it through
tf.io.gfile. There a folder cannot be renamed, so a checkpoint's files are moved one by one,
state.json last, and a remote `ckpt-<step>` folder counts once its state.json is there.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_core import storage
from gan_core.config import TrainConfig
from gan_core.storage import GPath, as_path

KEEP_CHECKPOINTS = 3
_CKPT = re.compile(r"^ckpt-(\d+)$")
_TMP_CKPT = ".tmp-ckpt-"  # a checkpoint being written; never listed, removed by the next save
# 2: a tf.train.Checkpoint (variables.index, variables.data-*) and state.json with its manifest.
# 1 (before it had a number): generator/discriminator/ema_generator .weights.h5 and optimizers.npz
# by position; still read, never written.
CHECKPOINT_FORMAT = 2
CHECKPOINT_PREFIX = "variables"
# What checkpoints written before a setting existed trained with (their state.json lacks it).
LEGACY_IDENTITY = {"codes": 0, "code_prior": False}


class RunError(ValueError):
    """A run folder or generator file that cannot be used, with what to do about it."""


def new_run_id(config: TrainConfig) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{config.preset}-{config.dataset}"


# What a run id from outside (an address, a form) may be: one plain folder name, so never '..', a slash or NUL.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def run_folder(runs_dir: str | Path | GPath, run_id: str) -> Path | GPath:
    """The folder of run `run_id` directly under `runs_dir`; RunError for anything else: a name with '..', slashes,
    NUL or odd characters, a link, or a folder without config.json."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise RunError(
            f"{repr(run_id)[:80]} is not a run id: a run id is the name of a folder under {runs_dir} "
            "(letters, digits, '.', '_' and '-'), e.g. 20250101-120000-dense-bn-mnist-sample"
        )
    path = as_path(runs_dir) / run_id
    if path.is_symlink() or not path.is_dir() or not (path / "config.json").is_file():
        raise RunError(f"No run {run_id!r} under {runs_dir}")
    return path


def _write_atomic(path: Path | GPath, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old file as it was, and no half-written twin
        raise
    storage.replace(tmp, path)


def _read_jsonl(path: Path | GPath) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


class RunDir:
    """The files of one run. Plain paths and small readers/writers; no training logic."""

    def __init__(self, path: str | Path | GPath):
        self.path = as_path(path)

    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    alerts_path = property(lambda self: self.path / "alerts.jsonl")
    parent_path = property(lambda self: self.path / "parent.json")  # a branch's origin
    noise_path = property(lambda self: self.path / "noise.npy")
    samples_dir = property(lambda self: self.path / "samples")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    generator_path = property(lambda self: self.path / "generator.keras")

    @property
    def run_id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, runs_dir: str | Path | GPath, config: TrainConfig, run_id: str | None = None) -> RunDir:
        base = as_path(runs_dir) / (run_id or new_run_id(config))
        base.parent.mkdir(parents=True, exist_ok=True)
        path, n = base, 1
        while True:  # two runs started in the same second, perhaps by two processes: mkdir decides
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        run = cls(path)
        run.samples_dir.mkdir()
        run.checkpoints_dir.mkdir()
        run.write_config(config)
        return run

    # --- config, status, noise ------------------------------------------------------------
    def write_config(self, config: TrainConfig) -> None:
        _write_atomic(self.config_path, config.to_json().encode())

    def read_config(self) -> TrainConfig:
        if not self.config_path.exists():
            raise RunError(f"{self.path} is not a run folder: it has no config.json")
        settings = json.loads(self.config_path.read_text())
        if isinstance(settings, dict):  # written before codes existed: it trained without one, whatever its preset
            settings.setdefault("codes", 0)
        return TrainConfig.from_dict(settings)

    def write_status(self, **status: Any) -> None:
        _write_atomic(self.status_path, json.dumps(status, indent=2, default=str).encode())

    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    def write_noise(self, noise: np.ndarray) -> None:
        buffer = io.BytesIO()  # through bytes: np.save cannot write to a bucket
        np.save(buffer, noise)
        self.noise_path.write_bytes(buffer.getvalue())

    def read_noise(self) -> np.ndarray | None:
        return np.load(io.BytesIO(self.noise_path.read_bytes())) if self.noise_path.exists() else None

    # --- metrics and samples --------------------------------------------------------------
    def write_parent(self, origin: dict[str, Any]) -> None:
        """Where a branch starts: {"run": the parent's run id, "step": the checkpoint's step}."""
        _write_atomic(self.parent_path, json.dumps(origin).encode())

    def read_parent(self) -> dict[str, Any] | None:
        """A branch's origin, None for a run that started from scratch (or an unreadable parent.json)."""
        try:
            origin = json.loads(self.parent_path.read_text())
        except (OSError, ValueError):
            return None
        ok = isinstance(origin, dict) and isinstance(origin.get("run"), str) and isinstance(origin.get("step"), int)
        return origin if ok else None

    def append_metrics(self, record: dict[str, Any]) -> None:
        storage.append_text(self.metrics_path, json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl: training metrics (with d_loss), quality records (fd_digits,
        duplicate_fraction, ...) and events (with "event": settings changed mid-run) at their steps. A
        torn line (a crash mid-write) is skipped."""
        return _read_jsonl(self.metrics_path)

    def append_alert(self, alert: dict[str, Any]) -> None:
        storage.append_text(self.alerts_path, json.dumps(alert) + "\n")

    def read_alerts(self) -> list[dict[str, Any]]:
        """Every health alert the run raised, the first time it raised it."""
        return _read_jsonl(self.alerts_path)

    def truncate_metrics(self, after_step: int) -> None:
        """Drop records past `after_step` (resuming from a checkpoint older than the log). Events past it
        stay, moved to `after_step`: config.json holds their settings, which the resumed run trains with."""
        kept = [
            r if r.get("step", 0) <= after_step else {**r, "step": after_step}
            for r in self.read_metrics()
            if r.get("step", 0) <= after_step or "event" in r
        ]
        _write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def sample_path(self, step: int) -> Path | GPath:
        return self.samples_dir / f"step_{step:07d}.png"

    def samples(self) -> list[tuple[int, Path | GPath]]:
        """(step, path) of every sample grid written, oldest first."""
        out = []
        for p in sorted(self.samples_dir.glob("step_*.png")):
            try:
                out.append((int(p.stem.split("_")[1]), p))
            except (IndexError, ValueError):
                continue
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def checkpoints(self) -> list[tuple[int, Path | GPath]]:
        """(step, folder) of every complete checkpoint, oldest first (a `.tmp-ckpt-*` folder that a
        crash left mid-write is not one, nor a remote `ckpt-*` folder without its state.json yet)."""
        if not self.checkpoints_dir.exists():
            return []
        found = [(int(m.group(1)), p) for p in self.checkpoints_dir.iterdir() if (m := _CKPT.match(p.name))]
        if isinstance(self.checkpoints_dir, GPath):
            found = [(step, p) for step, p in found if (p / "state.json").exists()]
        return sorted(found)

    def latest_checkpoint(self) -> tuple[int, Path | GPath] | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def save_checkpoint(self, gan, step: int, state: dict[str, Any]) -> Path | GPath:
        """Every object of `gan` at `step` (`checkpoint_objects`), and state.json: the format, the step,
        `state` (`checkpoint_identity()` and the config) and the manifest of every variable.

        Written into a hidden tmp folder, synced to disk and renamed into place: a crash at any moment
        leaves the complete checkpoint or none. A write that fails (a full disk, a folder that cannot
        be written) removes its tmp folder and raises OSError naming that folder."""
        import tensorflow as tf

        final = self.checkpoints_dir / f"ckpt-{step:09d}"
        tmp = self.checkpoints_dir / f"{_TMP_CKPT}{step:09d}"
        objects = checkpoint_objects(gan)
        try:
            storage.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            _checkpoint_stage("started", tmp)
            tf.train.Checkpoint(**{name: obj for name, (obj, _) in objects.items()}).write(str(tmp / CHECKPOINT_PREFIX))
            held = {"format": CHECKPOINT_FORMAT, "step": step, **state, "objects": _manifest(objects)}
            (tmp / "state.json").write_text(json.dumps(held, indent=2))
            _checkpoint_stage("written", tmp)
            for f in tmp.iterdir():  # data on disk before the rename makes it visible
                _fsync(f)
            _fsync(tmp)
            _checkpoint_stage("synced", tmp)
            if final.exists():
                storage.rmtree(final)
            if isinstance(tmp, GPath):  # a bucket cannot rename a folder: its files, state.json last
                final.mkdir()
                for f in sorted(tmp.iterdir(), key=lambda f: f.name == "state.json"):
                    storage.replace(f, final / f.name)
                storage.rmtree(tmp)
            else:
                os.replace(tmp, final)
            _fsync(self.checkpoints_dir)  # the rename itself on disk
        except Exception as e:
            storage.rmtree(tmp, ignore_errors=True)  # never half a checkpoint, and the space back
            error = _as_os_error(e, tmp)
            if error is None:
                raise
            raise error from e
        _checkpoint_stage("renamed", final)
        for _, old in self.checkpoints()[:-KEEP_CHECKPOINTS]:
            storage.rmtree(old, ignore_errors=True)
        for orphan in self.checkpoints_dir.glob(_TMP_CKPT + "*"):  # left by a process killed mid-write
            storage.rmtree(orphan, ignore_errors=True)
        return final

    @staticmethod
    def restore_checkpoint(gan, folder: Path | GPath, expect: dict[str, Any] | None = None) -> dict[str, Any]:
        """Load a checkpoint into `gan`; returns its state.json.

        Refused with a RunError, before anything is loaded, when the checkpoint has another format,
        was trained for something else than `expect` says (`checkpoint_identity()`: another preset,
        image shape, class count...), or holds variables whose shapes or dtypes do not fit `gan`'s.
        Format 1 checkpoints (from before formats had numbers) still load, once `expect` is checked:
        their weights by Keras' layer order, their optimiser state by position."""
        folder = as_path(folder)
        state = read_checkpoint_state(folder, expect)
        if state["format"] == 1:
            _restore_format_1(gan, folder)
        else:
            objects = checkpoint_objects(gan)
            fresh_average = "ema_generator" in objects and "ema_generator" not in state.get("objects", {})
            if fresh_average:
                del objects["ema_generator"]
            for name in ("g_loss_scale", "d_loss_scale"):  # trained in another precision: the scale starts afresh
                if name in objects and name not in state.get("objects", {}):
                    del objects[name]
            _read_objects(folder, state, objects)
            if fresh_average:  # averaging turned on since this checkpoint: the average starts at G itself
                gan.ema_generator.set_weights(gan.generator.get_weights())
        gan.step.assign(state["step"])
        return state

    def export_generator(self, generator) -> Path | GPath:
        tmp = self.path / "generator.tmp.keras"
        try:
            if isinstance(tmp, GPath):
                tmp.write_bytes(_keras_bytes(generator))
            else:
                generator.save(tmp)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
            raise
        storage.replace(tmp, self.generator_path)
        return self.generator_path

    def delete(self, runs_dir: str | Path | GPath | None = None) -> None:
        """Remove the run folder. Refuses anything but a real folder (not a link) with config.json directly under
        `runs_dir` (default: the folder it is in), so a stray path or a planted link never takes other files along."""
        path = self.path
        runs_dir = as_path(runs_dir) if runs_dir is not None else path.parent
        if (
            path.name in ("", ".", "..")
            or path.is_symlink()
            or not path.is_dir()
            or not (path / "config.json").is_file()
            or path.resolve().parent != runs_dir.resolve()
        ):
            raise RunError(f"{path} is not a run folder directly under {runs_dir}; nothing was deleted")
        storage.rmtree(path)


def _keras_bytes(generator) -> bytes:
    """`generator` as a .keras file's bytes (Keras writes to a local file, then they go to a bucket)."""
    with tempfile.TemporaryDirectory(prefix="gan-studio-") as folder:
        local = Path(folder) / "generator.keras"
        generator.save(local)
        return local.read_bytes()


def checkpoint_identity(config: TrainConfig, image_shape, num_classes: int | None) -> dict[str, Any]:
    """What a checkpoint was trained for, kept in its state.json: loading it anywhere else is refused."""
    return {
        "preset": config.preset,
        "latent_dim": config.latent_dim,
        "codes": config.codes or 0,
        "code_prior": bool(config.codes),  # a code's biases (models.NoiseCode), since they exist
        "loss": config.loss,
        "image_shape": [int(s) for s in image_shape],
        "num_classes": num_classes,
    }


def checkpoint_objects(gan) -> dict[str, tuple[Any, list]]:
    """What a checkpoint holds, by name: (what tf.train.Checkpoint tracks, its variables in a fixed order).

    An optimiser is tracked as the list of its own variables (step count, learning rate, Adam's
    moments): tracked whole, it also refers to the network's weights, and TensorFlow would file
    those under the optimiser's name (a variable's key is its shortest path). In mixed_float16 an
    optimiser is a LossScaleOptimizer: "g_optimizer" holds the Adam inside (the same variables as
    in any other precision, so a run can continue in another one) and "g_loss_scale" the scale."""
    g_adam, d_adam = (getattr(o, "inner_optimizer", o) for o in (gan.g_optimizer, gan.d_optimizer))
    objects = {
        "generator": (gan.generator, gan.generator.weights),
        "discriminator": (gan.discriminator, gan.discriminator.weights),
        "g_optimizer": (list(g_adam.variables), g_adam.variables),
        "d_optimizer": (list(d_adam.variables), d_adam.variables),
        "step": (gan.step, [gan.step]),
        "seed_generator": (gan.seed_generator.state, [gan.seed_generator.state]),
    }
    if gan.ema_generator is not None:
        objects["ema_generator"] = (gan.ema_generator, gan.ema_generator.weights)
    for name, optimizer in (("g_loss_scale", gan.g_optimizer), ("d_loss_scale", gan.d_optimizer)):
        if hasattr(optimizer, "dynamic_scale"):
            scale = [optimizer.dynamic_scale, optimizer.step_counter]
            objects[name] = (scale, scale)
    return objects


def read_checkpoint_state(folder: str | Path | GPath, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """A checkpoint's state.json, with "format" filled in (1 when it predates format numbers).

    RunError when it cannot be read, has a format this version does not read, or was trained for
    something else than `expect` (keys of `checkpoint_identity()`) says, naming each difference."""
    folder = as_path(folder)
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"checkpoint {folder} cannot be read: {e}") from e
    if not isinstance(state, dict):
        raise RunError(f"checkpoint {folder} cannot be read: its state.json holds no settings")
    state.setdefault("format", 1)
    if state["format"] not in (1, CHECKPOINT_FORMAT):
        raise RunError(
            f"checkpoint {folder} has format {state['format']!r}, and this version of GAN Studio reads "
            f"formats 1 to {CHECKPOINT_FORMAT}; it was not loaded (load it with the version that wrote it)"
        )
    trained = state.get("config") or {}  # format 1 kept preset, latent_dim and loss only there
    differ = []
    for key, want in (expect or {}).items():
        held = state.get(key, trained.get(key, LEGACY_IDENTITY.get(key)))
        if json.loads(json.dumps(held)) != json.loads(json.dumps(want)):  # [28, 28, 1] == (28, 28, 1)
            differ.append(f"{key} {held!r} in the checkpoint, {want!r} in this run")
    if differ:
        raise RunError(f"checkpoint {folder} was trained for another model and was not loaded: {'; '.join(differ)}")
    return state


def _describe(variable) -> dict[str, Any]:
    """A variable's entry in the manifest: its Keras path (or TF name), shape and dtype."""
    dtype = variable.dtype
    return {
        "name": getattr(variable, "path", None) or variable.name,
        "shape": [int(d) for d in variable.shape],
        "dtype": getattr(dtype, "name", str(dtype)),
    }


def _manifest(objects: dict[str, tuple[Any, list]]) -> dict[str, list[dict[str, Any]]]:
    return {name: [_describe(v) for v in variables] for name, (_, variables) in objects.items()}


def _check_manifest(folder: Path, manifest: dict[str, Any], objects: dict[str, tuple[Any, list]]) -> None:
    """RunError naming the first differences when the checkpoint's variables (its manifest) do not
    have the count, shapes and dtypes of `objects`' variables, one by one."""
    problems = []
    for name, (_, variables) in objects.items():
        held = manifest.get(name)
        if not isinstance(held, list):
            problems.append(f"it holds no {name}")
        elif len(held) != len(variables):
            problems.append(f"{name} has {len(held)} variables in the checkpoint, {len(variables)} here")
        else:
            for entry, variable in zip(held, variables):
                entry, here = entry if isinstance(entry, dict) else {}, _describe(variable)
                if (entry.get("shape"), entry.get("dtype")) != (here["shape"], here["dtype"]):
                    problems.append(
                        f"{name}/{entry.get('name', '?')} is {entry.get('dtype')} {entry.get('shape')} "
                        f"in the checkpoint, {here['dtype']} {here['shape']} here"
                    )
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        shown = "; ".join(problems[:3])
        raise RunError(f"checkpoint {folder} does not fit this model and was not loaded: {shown}{more}")


def _read_objects(folder: Path, state: dict[str, Any], objects: dict[str, tuple[Any, list]]) -> None:
    """Check `objects` against the manifest, then load them by name from the tf.train.Checkpoint
    (only those: a generator alone loads from a checkpoint that also holds optimisers)."""
    import tensorflow as tf

    _check_manifest(folder, state.get("objects") or {}, objects)
    checkpoint = tf.train.Checkpoint(**{name: obj for name, (obj, _) in objects.items()})
    try:
        checkpoint.read(str(folder / CHECKPOINT_PREFIX)).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError) as e:
        raise RunError(f"checkpoint {folder} cannot be loaded: {e}") from e


def _restore_format_1(gan, folder: Path) -> None:
    """A checkpoint from before formats had numbers: .weights.h5 files and optimizers.npz by position."""
    gan.generator.load_weights(folder / "generator.weights.h5")
    gan.discriminator.load_weights(folder / "discriminator.weights.h5")
    if gan.ema_generator is not None:
        average = folder / "ema_generator.weights.h5"
        # A checkpoint from before averaging was turned on starts the average at G itself.
        gan.ema_generator.load_weights(average if average.exists() else folder / "generator.weights.h5")
    with np.load(folder / "optimizers.npz") as saved:
        for prefix, optimizer in (("g", gan.g_optimizer), ("d", gan.d_optimizer)):
            optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # format 1 predates loss scaling
            for i, variable in enumerate(optimizer.variables):
                variable.assign(saved[f"{prefix}_{i}"])
        gan.seed_generator.state.assign(saved["seed_state"])


def _checkpoint_stage(stage: str, folder: Path) -> None:
    """Called between the steps of writing a checkpoint ("started", "written", "synced", "renamed");
    does nothing. tests/test_faults.py replaces it to kill the process at each of them."""


def _fsync(path: Path | GPath) -> None:
    if isinstance(path, GPath):  # a bucket's object is stored once its write returns
        return
    fd = os.open(path, os.O_RDONLY)  # a folder too: its entries (a rename) are data as well
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _as_os_error(error: Exception, path: Path) -> OSError | None:
    """`error` as an OSError naming `path` when writing files failed (TensorFlow reports a full disk as
    ResourceExhaustedError, and a failed write often says not where); None for any other error."""
    import tensorflow as tf

    if isinstance(error, tf.errors.ResourceExhaustedError):
        code = errno.ENOSPC
    elif isinstance(error, tf.errors.PermissionDeniedError):
        code = errno.EACCES
    elif isinstance(error, OSError) and error.errno is not None and not error.filename:
        code = error.errno
    else:
        return None
    return OSError(code, os.strerror(code), str(path))


# --- is an active run still training? --------------------------------------------------------
ACTIVE_ON_DISK = ("compiling", "running", "paused")  # engine.ACTIVE as status.json spells it
INTERRUPTED = "interrupted"
STALE = "stale"
STALE_SECONDS = 300.0  # an active run rewrites status.json every engine.HEARTBEAT_SECONDS


def liveness() -> dict[str, Any]:
    """What an active run writes into status.json so that readers can tell it still trains."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time()}


def effective_status(status: dict[str, Any], written_at: float | None = None, now: float | None = None) -> str:
    """status.json's status as things stand. An active one ("compiling", "running", "paused") is
    "interrupted" when the process that wrote it is known to be gone (same host, no such pid: the
    server was restarted, the process killed), and "stale" when nothing has been heard from it for
    STALE_SECONDS (its heartbeat, else `written_at`, the file's time, for a status.json from before
    heartbeats): a process on another host that died or lost the folder, or one that hangs. Neither
    is trained by anyone that we know of; both can be continued."""
    state = status.get("status", "unknown")
    if state not in ACTIVE_ON_DISK:
        return state
    pid, host = status.get("pid"), status.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and not _process_alive(pid):
        return INTERRUPTED
    beat = status.get("heartbeat") or written_at
    if beat is not None and (now or time.time()) - beat > STALE_SECONDS:
        return STALE
    return state


def run_status(run: RunDir) -> str:
    """The run's `effective_status`: what its status.json says, or "interrupted" or "stale"."""
    try:
        written_at = run.status_path.stat().st_mtime
    except OSError:
        written_at = None
    return effective_status(run.read_status(), written_at)


def _process_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows; trust the heartbeat there
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass
class RunInfo:
    """What the Runs page and the CLI show of a run folder."""

    run_dir: RunDir
    config: TrainConfig | None
    status: dict[str, Any]
    last_metrics: dict[str, Any] | None  # the last training record (with d_loss)
    last_sample: Path | None
    checkpoint_step: int | None
    parent: dict[str, Any] | None = None  # a branch's origin: {"run", "step"}

    @property
    def state(self) -> str:
        """The status to show: status.json's, or "interrupted"/"stale" for an active run nobody is known to train."""
        return run_status(self.run_dir)


def list_runs(runs_dir: str | Path | GPath = "runs") -> list[RunInfo]:
    """Every run under `runs_dir`, newest first; unreadable folders are listed with config None."""
    runs_dir = as_path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return [
        read_run(path)
        for path in sorted(runs_dir.iterdir(), reverse=True)
        if path.is_dir() and (path / "config.json").exists()
    ]


def read_run(path: str | Path | GPath) -> RunInfo:
    """What the Runs page shows of one run folder, as it is now (config None where unreadable)."""
    run = RunDir(path)
    try:
        config = run.read_config()
    except (ValueError, OSError):
        config = None
    metrics = [r for r in run.read_metrics() if "d_loss" in r]  # training records: not quality, not events
    samples = run.samples()
    latest = run.latest_checkpoint()
    return RunInfo(
        run,
        config,
        run.read_status(),
        metrics[-1] if metrics else None,
        samples[-1][1] if samples else None,
        latest[0] if latest else None,
        run.read_parent(),
    )


def load_generator(path: str | Path | GPath):
    """A generator from a run folder (generator.keras, else its latest checkpoint) or a .keras file.

    .keras files are checked by gan_core.modelfile before Keras reads any of them: only networks built
    from our presets load, so a file with code in it (a Lambda, a function, a foreign module) is refused.
    """
    path = as_path(path)
    if path.is_file():
        if path.suffix.lower() in (".h5", ".hdf5"):
            raise RunError(
                f"{path} is a legacy HDF5 model, which Keras cannot load safely (safe mode does not apply to it); "
                "give a run folder, or a generator saved as .keras"
            )
        if path.suffix != ".keras":
            raise RunError(f"{path} is not a .keras file; give a run folder or a generator saved as .keras")
        from gan_core.modelfile import MAX_FILE_BYTES, load_keras_file

        if isinstance(path, GPath):  # the checks and Keras read local files
            try:
                with storage.local_copy(path, MAX_FILE_BYTES) as local:
                    return load_keras_file(local)
            except OSError as e:
                raise RunError(f"{path} cannot be read: {e}") from e
        return load_keras_file(path)
    if not path.is_dir():
        raise RunError(f"{path} does not exist; give a run folder (runs/<run-id>) or a .keras file")
    run = RunDir(path)
    if run.generator_path.exists():
        return load_generator(run.generator_path)
    latest = run.latest_checkpoint()
    if latest is None:
        raise RunError(f"run {path} has neither generator.keras nor a checkpoint yet")
    from gan_core.models import build_models

    config, folder = run.read_config(), latest[1]
    state = read_checkpoint_state(folder, {"preset": config.preset, "latent_dim": config.latent_dim})
    for key in ("codes", "code_prior"):
        state.setdefault(key, LEGACY_IDENTITY[key])
    classes = state.get("num_classes")
    generator, _ = build_models(
        config.preset,
        config.latent_dim,
        tuple(state["image_shape"]),
        num_classes=classes,
        codes=state["codes"],
        code_prior=state["code_prior"],
    )
    if state["format"] == 1:
        average = folder / "ema_generator.weights.h5"  # what the run sampled from, when it averaged
        generator.load_weights(average if average.exists() else folder / "generator.weights.h5")
    else:
        # What the run sampled from: G's average, when it kept one.
        name = "ema_generator" if "ema_generator" in state.get("objects", {}) else "generator"
        _read_objects(folder, state, {name: (generator, generator.weights)})
    return generator
