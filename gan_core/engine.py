"""TrainingRun: trains a GAN in a background thread and hands out plain-data snapshots.

Data flows one way: `TrainingRun(config).start()` -> the thread trains and writes the run folder
-> `run.snapshot()` returns numpy/dict copies for whoever draws them. Nothing outside the thread
touches a Keras model while it trains.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from gan_core.config import TrainConfig
from gan_core.gan import METRICS
from gan_core.latent import fixed_noise, make_grid, save_png
from gan_core.runs import RunDir, RunError

STATUSES = ("created", "compiling", "running", "paused", "finished", "stopped", "failed", "diverged")
ACTIVE = frozenset({"compiling", "running", "paused"})
HISTORY_POINTS = 1_000  # metric records kept in memory; older ones are thinned, not dropped
GRID_HISTORY = 48  # sample grids kept in memory for the timeline
CALL_SECONDS = 0.25  # training steps per call to the graph: as many as take about this long...
MAX_STEPS_PER_CALL = 50  # ...but no more than this


class Diverged(RuntimeError):
    """A loss became NaN or inf."""


class History:
    """Metric records, bounded in memory however long the run: when full, every other record is
    dropped and from then on only every `stride`-th record is kept, so the whole run stays covered
    evenly. The latest record is always kept. metrics.jsonl on disk keeps everything."""

    def __init__(self, max_points: int = HISTORY_POINTS):
        self.max_points = max(4, max_points)
        self.stride = 1
        self._records: list[dict[str, Any]] = []
        self._latest: dict[str, Any] | None = None
        self._seen = 0

    def append(self, record: dict[str, Any]) -> None:
        self._latest = record
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        self._records.append(record)
        if len(self._records) > self.max_points:
            self._records = self._records[::2]
            self.stride *= 2
            # Re-align so that the next record kept is `stride` records after the last one kept.
            self._seen = 1

    def records(self) -> list[dict[str, Any]]:
        out = list(self._records)
        if self._latest is not None and (not out or out[-1] is not self._latest):
            out.append(self._latest)
        return out

    def columns(self) -> dict[str, list]:
        """The records as columns ({"step": [...], "d_loss": [...], ...}), ready for a chart."""
        return columns(self.records())


def columns(records: list[dict[str, Any]]) -> dict[str, list]:
    """Records as columns over the union of their keys; a record without a key gives None there."""
    keys = dict.fromkeys(["step", *METRICS])
    for record in records:
        keys.update(dict.fromkeys(record))
    return {k: [r.get(k) for r in records] for k in keys}


class GridHistory:
    """The latest sample grids with their steps, thinned like History when full."""

    def __init__(self, max_grids: int = GRID_HISTORY):
        self.history = History(max_grids)

    def append(self, step: int, grid: np.ndarray) -> None:
        grid.flags.writeable = False  # shared with snapshots: nobody may draw on it
        self.history.append({"step": step, "grid": grid})

    def items(self) -> list[tuple[int, np.ndarray]]:
        return [(r["step"], r["grid"]) for r in self.history.records()]


class TrainingRun:
    """One training run in a background thread.

    Lifecycle: created -> compiling -> running <-> paused -> finished | stopped | failed | diverged.
    """

    def __init__(self, config: TrainConfig, runs_dir: str | Path = "runs", *, _resume: RunDir | None = None):
        self.config = config.resolved()  # raises ConfigError before anything starts
        self.runs_dir = Path(runs_dir)
        self._resume = _resume
        self.run_dir: RunDir | None = _resume
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._thread: threading.Thread | None = None
        self._history = History()
        self._quality = History(max_points=200)
        self._grids = GridHistory()
        self._state: dict[str, Any] = {
            "status": "created",
            "step": 0,
            "total_steps": None,
            "epoch": 0.0,
            "images_per_second": None,
            "eta_seconds": None,
            "elapsed_seconds": 0.0,
            "started_at": None,
            "ended_at": None,
            "error": None,
            "traceback": None,
            "end_reason": None,
            "dataset_size": None,
            "image_shape": None,
            "quality_applies": False,
            "quality_note": None,
            "alerts": [],
            "last_step_at": None,
        }

    @classmethod
    def resume_from(cls, run_dir: str | Path, steps: int | None = None, precision: str | None = None) -> TrainingRun:
        """Continue a run from its latest checkpoint, same folder and same step count.

        `steps` sets a new total (it must exceed the checkpoint's step to train further);
        `precision` another arithmetic (weights and optimiser state are float32 either way), with
        the XLA choice that goes with it, e.g. float32 on a machine without native bfloat16."""
        run = RunDir(run_dir)
        config = run.read_config()
        latest = run.latest_checkpoint()
        if latest is None:
            raise RunError(f"run {run.path} has no checkpoint to resume from")
        if steps is not None:
            config = dataclasses.replace(config, steps=steps, epochs=None)
        if precision is not None:
            config = dataclasses.replace(config, precision=precision, jit_compile=None)
        return cls(config, run.path.parent, _resume=run)

    # ------------------------------------------------------------------ control
    def start(self) -> TrainingRun:
        if self._thread is not None:
            raise RuntimeError("this run has already been started; create a new TrainingRun")
        self._set(status="compiling", started_at=time.time())
        self._thread = threading.Thread(target=self._main, name="gan-training", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        """Pause between two steps (no effect unless running)."""
        self._unpaused.clear()

    def resume(self) -> None:
        """Continue after pause()."""
        self._unpaused.set()

    def stop(self, timeout: float = 1.0) -> str:
        """Ask the run to end; it stops within a step, checkpoints and exports the generator.

        During the first compile, which cannot be interrupted, the run is marked stopped at once and
        the thread quits as soon as the compile returns, without writing anything more."""
        self._stop.set()
        self._unpaused.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            if self._state["status"] == "compiling":
                self._state.update(status="stopped", end_reason="stopped during compile", ended_at=time.time())
        return self.status

    def wait(self, timeout: float | None = None) -> str:
        """Block until the thread ends (or `timeout` passes); returns the status."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status

    @property
    def status(self) -> str:
        with self._lock:
            return self._state["status"]

    @property
    def active(self) -> bool:
        """Compiling, running or paused."""
        return self.status in ACTIVE

    @property
    def alive(self) -> bool:
        """The thread still runs: active, or finishing a compile or a final save after a stop."""
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict[str, Any]:
        """Plain Python/numpy copies of everything a page draws; safe from any thread."""
        with self._lock:
            snap = dict(self._state)
            snap["history"] = self._history.columns()
            snap["quality"] = self._quality.columns()
            snap["grids"] = self._grids.items()
        snap["grid_step"], snap["grid"] = snap["grids"][-1] if snap["grids"] else (None, None)
        total = snap["total_steps"]
        snap["progress"] = min(1.0, snap["step"] / total) if total else 0.0
        snap["config"] = self.config.to_dict()
        snap["run_dir"] = str(self.run_dir.path) if self.run_dir else None
        snap["run_id"] = self.run_dir.run_id if self.run_dir else None
        return snap

    # ------------------------------------------------------------------ the thread
    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)

    def _main(self) -> None:
        try:
            self._train()
        except Diverged as e:
            self._end("diverged", error=str(e))
        except BaseException as e:  # noqa: BLE001 -- nothing in the thread may die silently
            self._end("failed", error=f"{type(e).__name__}: {e}", trace=traceback.format_exc())

    def _end(self, status: str, error: str | None = None, reason: str | None = None, trace: str | None = None) -> None:
        with self._lock:
            if self._state["status"] == "stopped":  # stop() already ended it during the compile
                return
            self._state.update(status=status, error=error, traceback=trace, ended_at=time.time(), eta_seconds=0.0)
            if reason:
                self._state["end_reason"] = reason
            state = self._disk_status()
        if self.run_dir is not None:
            try:
                self.run_dir.write_status(**state)
                self._check_health()
            except OSError:
                pass  # the in-memory status still tells the story

    def _disk_status(self) -> dict[str, Any]:
        """What status.json holds (call with the lock held, or from the thread)."""
        keys = ("status", "step", "total_steps", "error", "traceback", "end_reason", "started_at", "ended_at")
        return {k: self._state[k] for k in keys}

    def _check_health(self) -> None:
        """Alerts for the history so far; a kind raised for the first time is recorded in the run."""
        from gan_core import alerts

        with self._lock:
            merged = columns(sorted(self._history.records() + self._quality.records(), key=lambda r: r["step"]))
            status = {k: self._state[k] for k in ("status", "step", "error", "images_per_second")}
            seen = {a["kind"] for a in self._state["alerts"]}
        found = [dataclasses.asdict(a) for a in alerts.check_health(merged, status)]
        for alert in found:
            if alert["kind"] not in seen and self.run_dir is not None:
                self.run_dir.append_alert({"time": time.time(), **alert})
        self._set(alerts=found)

    def _train(self) -> None:
        from gan_core import alerts, quality
        from gan_core.data import load_images, make_dataset
        from gan_core.gan import build_gan

        cfg = self.config
        t_start = time.monotonic()
        images = load_images(cfg.dataset, cfg.npz_path)
        shape = tuple(int(s) for s in images.shape[1:])
        n = len(images)
        images_per_step = cfg.batch_size * cfg.d_steps
        total = cfg.steps if cfg.epochs is None else math.ceil(cfg.epochs * n / images_per_step)
        judge, why = quality.applies_to(cfg.dataset, shape)
        if not cfg.quality_every:
            judge, why = False, "Quality figures are off for this run (quality_every = 0)."
        self._set(total_steps=total, dataset_size=n, image_shape=shape, quality_applies=judge, quality_note=why)
        gan = build_gan(cfg, shape)
        if judge:
            quality.real_reference()  # the slow first call (classifier, real statistics) happens here, not mid-run

        step = 0
        if self._resume is not None:
            run = self._resume
            run.write_config(cfg)  # the settings it now trains with: a new total, perhaps another precision
            _, folder = run.latest_checkpoint()
            step = run.restore_checkpoint(gan, folder)["step"]
            run.truncate_metrics(step)
            for record in run.read_metrics():
                (self._history if "d_loss" in record else self._quality).append(record)
            noise = run.read_noise()
        else:
            run = self.run_dir = RunDir.create(self.runs_dir, cfg)
            noise = fixed_noise(cfg.grid_size, cfg.latent_dim, cfg.seed)
            run.write_noise(noise)
        run.write_status(status="running", step=step, total_steps=total, started_at=self._state["started_at"])
        self._set(step=step, epoch=step * images_per_step / n)

        # A resumed run reshuffles from a different seed, not replaying the first epochs' order.
        batches = iter(make_dataset(images, images_per_step, cfg.seed + step))
        throughput = _Throughput(cfg.batch_size)
        compiled = False
        steps_per_call = 1
        intervals = [e for e in (cfg.metrics_every, cfg.sample_every, cfg.checkpoint_every, cfg.quality_every) if e]

        def record_metrics() -> None:
            means = gan.read_metrics()
            bad = gan.first_nonfinite_step()
            if bad is not None:
                latest = run.latest_checkpoint()
                keep = f"the last good checkpoint is step {latest[0]}" if latest else "no checkpoint was written"
                raise Diverged(
                    f"a loss became NaN or inf at step {bad}; training stopped ({keep}). "
                    "Try a lower learning rate or a different preset."
                )
            if means is None:
                return
            ips = throughput.rate(step)
            record = {
                "step": step,
                "epoch": round(step * images_per_step / n, 4),
                "time": round(time.monotonic() - t_start, 3),
                **means,
                "images_per_second": ips,
            }
            run.append_metrics(record)
            with self._lock:
                self._history.append(record)
                eta = (total - step) * cfg.batch_size / ips if ips else None
                self._state.update(images_per_second=ips, eta_seconds=eta)

        def measure_quality() -> None:
            """Quality figures and the duplicate check, written as their own record at this step."""
            images = quality.generate(gan.generator, quality.QUALITY_N, seed=cfg.seed)
            record = {"step": step, "duplicate_fraction": alerts.duplicate_fraction(images)}
            if judge:
                record.update(quality.score_images(images))
            run.append_metrics(record)
            with self._lock:
                self._quality.append(record)

        def sample() -> None:
            grid = make_grid(gan.generate(noise))
            save_png(grid, run.sample_path(step))
            with self._lock:
                self._grids.append(step, grid)

        def checkpoint() -> None:
            if gan.first_nonfinite_step() is not None:
                record_metrics()  # raises Diverged: NaN weights must never become the latest checkpoint
            run.save_checkpoint(gan, step, {"image_shape": list(shape), "config": cfg.to_dict()})

        sample()  # what the untrained generator draws: the start of the timeline
        reason = "finished"
        try:
            while step < total:
                if self._stop.is_set():
                    reason = "stopped"
                    break
                if not self._unpaused.is_set():
                    self._set(status="paused")
                    self._unpaused.wait()
                    self._set(status="running")
                    throughput.reset(step)
                    continue
                # Several steps a call, never past the next metrics/sample/checkpoint/quality step.
                steps = min(steps_per_call, total - step, *(every - step % every for every in intervals))
                t_call = time.monotonic()
                gan.train_steps(batches, steps)
                step += steps
                now = time.monotonic()
                if not compiled:  # the first call traced and compiled the step
                    compiled = True
                    self._set(status="running")
                    throughput.reset(step)
                else:  # as many steps as fit in CALL_SECONDS, so stop and pause still act at once
                    per_step = (now - t_call) / steps
                    steps_per_call = max(1, min(MAX_STEPS_PER_CALL, int(CALL_SECONDS / max(per_step, 1e-6))))
                self._set(step=step, epoch=step * images_per_step / n, elapsed_seconds=now - t_start, last_step_at=now)
                if step % cfg.metrics_every == 0:
                    record_metrics()
                if cfg.quality_every and step % cfg.quality_every == 0:
                    measure_quality()
                if step % cfg.metrics_every == 0:
                    self._check_health()
                if step % cfg.sample_every == 0:
                    sample()
                if step % cfg.checkpoint_every == 0:
                    checkpoint()
                if cfg.max_seconds is not None and time.monotonic() - t_start >= cfg.max_seconds:
                    reason = "time limit"
                    break
        except Exception:
            # Lose nothing: keep what was trained before the crash, if the weights are still sound.
            if step > 0 and gan.first_nonfinite_step() is None:
                try:
                    checkpoint()
                except Exception:  # noqa: BLE001 -- the original error is the one to report
                    pass
            raise

        if self.status == "stopped":  # stopped during the compile: nothing was trained worth keeping
            run.write_status(**self._disk_status())
            return
        record_metrics()
        if not run.samples() or run.samples()[-1][0] != step:
            sample()
        if not run.checkpoints() or run.checkpoints()[-1][0] != step:
            checkpoint()
        run.export_generator(float32_twin(gan.generator, cfg, shape))
        self._end("stopped" if reason == "stopped" else "finished", reason=reason)


def float32_twin(generator, config: TrainConfig, shape: tuple[int, ...]):
    """`generator` itself if it computes in float32, else a float32 copy with its weights (which are
    float32 in mixed precision too): generator.keras then loads and runs the same on any machine."""
    from gan_core.models import build_models

    if generator.dtype_policy.name == "float32":
        return generator
    twin, _ = build_models(config.preset, config.latent_dim, shape)
    twin.set_weights(generator.get_weights())
    return twin


class _Throughput:
    """Images per second over the last few seconds of training (pauses excluded)."""

    def __init__(self, batch_size: int, window: float = 5.0):
        self.batch = batch_size
        self.window = window
        self._marks: deque[tuple[float, int]] = deque()

    def reset(self, step: int) -> None:
        self._marks.clear()
        self._marks.append((time.monotonic(), step))

    def rate(self, step: int) -> float | None:
        now = time.monotonic()
        self._marks.append((now, step))
        while len(self._marks) > 2 and now - self._marks[1][0] >= self.window:
            self._marks.popleft()
        (t0, s0), (t1, s1) = self._marks[0], self._marks[-1]
        return (s1 - s0) * self.batch / (t1 - t0) if t1 > t0 and s1 > s0 else None
