"""A run on disk: runs/<run-id>/ with config.json, metrics.jsonl, samples/, checkpoints/, generator.keras.

Checkpoints are written into a temporary folder and renamed into place, so that a crash mid-write
never leaves a broken latest checkpoint: any `ckpt-<step>` folder that exists is complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_core.config import TrainConfig

KEEP_CHECKPOINTS = 3
_CKPT = re.compile(r"^ckpt-(\d+)$")


class RunError(ValueError):
    """A run folder or generator file that cannot be used, with what to do about it."""


def new_run_id(config: TrainConfig) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{config.preset}-{config.dataset}"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
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

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    alerts_path = property(lambda self: self.path / "alerts.jsonl")
    noise_path = property(lambda self: self.path / "noise.npy")
    samples_dir = property(lambda self: self.path / "samples")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    generator_path = property(lambda self: self.path / "generator.keras")

    @property
    def run_id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, runs_dir: str | Path, config: TrainConfig, run_id: str | None = None) -> RunDir:
        base = Path(runs_dir) / (run_id or new_run_id(config))
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
        return TrainConfig.from_dict(json.loads(self.config_path.read_text()))

    def write_status(self, **status: Any) -> None:
        _write_atomic(self.status_path, json.dumps(status, indent=2, default=str).encode())

    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    def write_noise(self, noise: np.ndarray) -> None:
        np.save(self.noise_path, noise)

    def read_noise(self) -> np.ndarray | None:
        return np.load(self.noise_path) if self.noise_path.exists() else None

    # --- metrics and samples --------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl: training metrics (with d_loss) and quality records
        (fd_digits, duplicate_fraction, ...) at their steps. A torn line (a crash mid-write) is skipped."""
        return _read_jsonl(self.metrics_path)

    def append_alert(self, alert: dict[str, Any]) -> None:
        with self.alerts_path.open("a") as f:
            f.write(json.dumps(alert) + "\n")

    def read_alerts(self) -> list[dict[str, Any]]:
        """Every health alert the run raised, the first time it raised it."""
        return _read_jsonl(self.alerts_path)

    def truncate_metrics(self, after_step: int) -> None:
        """Drop records past `after_step` (resuming from a checkpoint older than the log)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= after_step]
        _write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:07d}.png"

    def samples(self) -> list[tuple[int, Path]]:
        """(step, path) of every sample grid written, oldest first."""
        out = []
        for p in sorted(self.samples_dir.glob("step_*.png")):
            try:
                out.append((int(p.stem.split("_")[1]), p))
            except (IndexError, ValueError):
                continue
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, folder) of every complete checkpoint, oldest first."""
        if not self.checkpoints_dir.exists():
            return []
        found = [(int(m.group(1)), p) for p in self.checkpoints_dir.iterdir() if (m := _CKPT.match(p.name))]
        return sorted(found)

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def save_checkpoint(self, gan, step: int, state: dict[str, Any]) -> Path:
        """Both networks and both optimisers at `step`, written atomically."""
        final = self.checkpoints_dir / f"ckpt-{step:09d}"
        tmp = self.checkpoints_dir / f".tmp-ckpt-{step:09d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        gan.generator.save_weights(tmp / "generator.weights.h5")
        gan.discriminator.save_weights(tmp / "discriminator.weights.h5")
        if gan.ema_generator is not None:
            gan.ema_generator.save_weights(tmp / "ema_generator.weights.h5")
        np.savez(
            tmp / "optimizers.npz",
            **{f"g_{i}": v.numpy() for i, v in enumerate(gan.g_optimizer.variables)},
            **{f"d_{i}": v.numpy() for i, v in enumerate(gan.d_optimizer.variables)},
            seed_state=gan.seed_generator.state.numpy(),
        )
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2))
        for f in tmp.iterdir():  # data on disk before the rename makes it visible
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for _, old in self.checkpoints()[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def restore_checkpoint(gan, folder: Path) -> dict[str, Any]:
        """Load a checkpoint into `gan` (built with the same config); returns its state.json."""
        folder = Path(folder)
        gan.generator.load_weights(folder / "generator.weights.h5")
        gan.discriminator.load_weights(folder / "discriminator.weights.h5")
        if gan.ema_generator is not None:
            average = folder / "ema_generator.weights.h5"
            # A checkpoint from before averaging was turned on starts the average at G itself.
            gan.ema_generator.load_weights(average if average.exists() else folder / "generator.weights.h5")
        with np.load(folder / "optimizers.npz") as saved:
            for prefix, optimizer in (("g", gan.g_optimizer), ("d", gan.d_optimizer)):
                for i, variable in enumerate(optimizer.variables):
                    variable.assign(saved[f"{prefix}_{i}"])
            gan.seed_generator.state.assign(saved["seed_state"])
        state = json.loads((folder / "state.json").read_text())
        gan.step.assign(state["step"])
        return state

    def export_generator(self, generator) -> Path:
        tmp = self.path / "generator.tmp.keras"
        generator.save(tmp)
        os.replace(tmp, self.generator_path)
        return self.generator_path

    def delete(self) -> None:
        shutil.rmtree(self.path)


@dataclass
class RunInfo:
    """What the Runs page and the CLI show of a run folder."""

    run_dir: RunDir
    config: TrainConfig | None
    status: dict[str, Any]
    last_metrics: dict[str, Any] | None
    last_sample: Path | None
    checkpoint_step: int | None


def list_runs(runs_dir: str | Path = "runs") -> list[RunInfo]:
    """Every run under `runs_dir`, newest first; unreadable folders are listed with config None."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    infos = []
    for path in sorted(runs_dir.iterdir(), reverse=True):
        if not path.is_dir() or not (path / "config.json").exists():
            continue
        run = RunDir(path)
        try:
            config = run.read_config()
        except (ValueError, OSError):
            config = None
        metrics = run.read_metrics()
        samples = run.samples()
        latest = run.latest_checkpoint()
        infos.append(
            RunInfo(
                run,
                config,
                run.read_status(),
                metrics[-1] if metrics else None,
                samples[-1][1] if samples else None,
                latest[0] if latest else None,
            )
        )
    return infos


def load_generator(path: str | Path):
    """A generator from a run folder (generator.keras, else its latest checkpoint) or a .keras file.

    .keras files load in Keras safe mode, so a file with a pickled Python lambda is refused.
    """
    import keras

    path = Path(path)
    if path.is_file():
        if path.suffix != ".keras":
            raise RunError(f"{path} is not a .keras file; give a run folder or a generator saved as .keras")
        try:
            return keras.models.load_model(path, compile=False, safe_mode=True)
        except Exception as e:  # Keras raises many kinds for a bad file; the user needs one message
            raise RunError(f"could not load a Keras model from {path}: {e}") from e
    if not path.is_dir():
        raise RunError(f"{path} does not exist; give a run folder (runs/<run-id>) or a .keras file")
    run = RunDir(path)
    if run.generator_path.exists():
        return load_generator(run.generator_path)
    latest = run.latest_checkpoint()
    if latest is None:
        raise RunError(f"run {path} has neither generator.keras nor a checkpoint yet")
    from gan_core.models import build_models

    config = run.read_config()
    state = json.loads((latest[1] / "state.json").read_text())
    classes = state.get("num_classes")
    generator, _ = build_models(config.preset, config.latent_dim, tuple(state["image_shape"]), num_classes=classes)
    average = latest[1] / "ema_generator.weights.h5"  # what the run sampled from, when it averaged
    generator.load_weights(average if average.exists() else latest[1] / "generator.weights.h5")
    return generator
