"""TrainingRun: trains a GAN in a background thread and hands out typed, frozen snapshots.

Data flows one way: `TrainingRun(config).start()` -> the thread prepares the run, loops over
graph calls with its periodic jobs (loop.py) and finishes it, writing the run folder ->
`run.snapshot()` returns a `Snapshot` of plain numpy/Python values for whoever draws it. Nothing
outside the thread touches a Keras model while it trains.

Words: *pause*/*resume* hold and release the live thread; *continue* trains a stopped run further
from its latest checkpoint, in the same folder (`TrainingRun.continue_from`); *steer* changes a
setting while the run trains (`TrainingRun.steer`: learning rates, D:G ratio, penalty weight,
average's decay), recorded as an event in metrics.jsonl and in config.json; *branch* starts a new
run from any saved checkpoint of another, with other settings (`TrainingRun.branch_from`).

Faults lose nothing that was checkpointed: an error in the thread ends the run as failed with its
traceback (in the snapshot and status.json), after a last checkpoint when the weights are sound; a
full disk or a folder that cannot be written says so and where. While active, the thread rewrites
status.json every HEARTBEAT_SECONDS with its pid and host, so that a reader can tell a run whose
process is gone (`runs.run_status`: "interrupted"), which can then be continued.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import math
import os
import shutil
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_core import control, loop
from gan_core.config import STEERABLE, ConfigError, TrainConfig
from gan_core.latent import fixed_noise
from gan_core.loop import Diverged
from gan_core.losses import CODE_CHART, LOSSES, Chart
from gan_core.runs import (
    ACTIVE_ON_DISK,
    STALE_SECONDS,
    RunDir,
    RunError,
    checkpoint_identity,
    liveness,
    read_checkpoint_state,
    run_status,
)
from gan_core.storage import as_path
from gan_core.summaries import SummaryLog

HEARTBEAT_SECONDS = 15.0  # an active run rewrites status.json this often, paused or not
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
HISTORY_POINTS = 1_000  # metric records kept in memory; older ones are thinned, not dropped
GRID_HISTORY = 48  # sample grids kept in memory for the timeline
# Steps per graph call in a multi-worker run: fixed, since every worker must make the same calls (a
# call size fitted to each worker's own speed would differ between them).
CLUSTER_STEPS_PER_CALL = 20
# What a branch must keep from its parent: the networks' shapes, the data, the loss the checkpoint's D
# was trained for, and the fixed sample noise (so grids compare). Everything else may change.
BRANCH_FIXED = ("preset", "dataset", "npz_path", "latent_dim", "conditional", "loss", "grid_size")


class Status(enum.StrEnum):
    """Where a run is: created -> compiling -> running <-> paused -> finished | stopped | failed | diverged."""

    CREATED = "created"
    COMPILING = "compiling"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    DIVERGED = "diverged"
    # Only a follower (gan_core.follow) sees these, reading a run that another process trained:
    INTERRUPTED = "interrupted"  # status.json says active, but the process that wrote it is gone
    STALE = "stale"  # status.json says active, but nothing has been heard from the run for a while


STATUSES = tuple(Status)
ACTIVE = frozenset({Status.COMPILING, Status.RUNNING, Status.PAUSED})


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
    keys = dict.fromkeys(["step"])
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


@dataclass(frozen=True)
class Snapshot:
    """Everything a page draws of a run, at one moment: plain Python and numpy values, safe to
    keep and to read from any thread. Built by `TrainingRun.snapshot()`; tests build their own."""

    status: Status
    config: TrainConfig
    step: int = 0
    total_steps: int | None = None
    epoch: float = 0.0
    images_per_second: float | None = None
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    last_step_at: float | None = None
    end_reason: str | None = None
    error: str | None = None
    traceback: str | None = None
    run_dir: str | None = None
    run_id: str | None = None
    dataset_size: int | None = None
    image_shape: tuple[int, ...] | None = None
    num_classes: int | None = None  # a conditional run's classes, else None
    quality_applies: bool = False
    quality_note: str | None = None
    alerts: tuple[dict[str, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = ()  # settings changed mid-run: {"step", "event", "changes", "time"}
    parent: dict[str, Any] | None = None  # a branch's origin: {"run": run id, "step": step}
    # The last command left in the run folder (gan_core.control), as applied: {"id", "command", "ok", "error", "step"}
    last_command: dict[str, Any] | None = None
    history: Mapping[str, list] = dataclasses.field(default_factory=dict)  # training metrics as columns
    quality: Mapping[str, list] = dataclasses.field(default_factory=dict)  # quality figures as columns
    grids: tuple[tuple[int, np.ndarray], ...] = ()  # (step, uint8 picture), oldest first

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def grid(self) -> np.ndarray | None:
        return self.grids[-1][1] if self.grids else None

    @property
    def grid_step(self) -> int | None:
        return self.grids[-1][0] if self.grids else None

    @property
    def charts(self) -> tuple[Chart, ...]:
        """The metric charts that mean something for this run's loss family (and its code, if any)."""
        return LOSSES[self.config.loss].charts + ((CODE_CHART,) if self.config.codes else ())


# What the thread updates as it goes; `snapshot()` adds the histories, config and folder.
_LIVE_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(Snapshot)
    if f.name not in ("config", "history", "quality", "grids", "run_dir", "run_id")
)


@dataclass
class _Prepared:
    """What preparing a run hands to the loop and to finishing it."""

    gan: Any
    run: RunDir
    batches: Any
    noise: np.ndarray
    shape: tuple[int, ...]
    total: int
    step: int
    jobs: list[loop.Job]
    samples: loop.DrawSamples
    checkpoints: loop.SaveCheckpoint
    metrics: loop.RecordMetrics


class TrainingRun:
    """One training run in a background thread (see `Status` for its lifecycle)."""

    def __init__(
        self,
        config: TrainConfig,
        runs_dir: str | Path = "runs",
        *,
        _continue: RunDir | None = None,
        _branch: tuple[RunDir, int] | None = None,
    ):
        self.config = config.resolved()  # raises ConfigError before anything starts
        if self.config.strategy == "multi-worker":
            from gan_core.distribute import started_multi_worker

            if not started_multi_worker():
                raise ConfigError(
                    [
                        "strategy multi-worker: its cluster must be set up before TensorFlow starts, so it trains "
                        "from the command line: `python -m gan_core train --strategy multi-worker ...` on each "
                        "machine, with its TF_CONFIG (README, Several machines); follow it from the Runs page"
                    ]
                )
        self.runs_dir = as_path(runs_dir)  # a local folder or a bucket (gs://...)
        self._continue = _continue
        self._branch = _branch  # (parent run, checkpoint step)
        self._steering: dict[str, float] = {}  # changes asked for, applied before the next graph call
        self._summaries: SummaryLog | None = None
        self._cluster = None  # a multi-worker run's workers (distribute.Cluster)
        self._scratch: str | None = None  # where a worker that is not the chief writes its run folder
        self.run_dir: RunDir | None = _continue
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._thread: threading.Thread | None = None
        self._history = History()
        self._quality = History(max_points=200)
        self._grids = GridHistory()
        self._state: dict[str, Any] = {
            f.name: f.default for f in dataclasses.fields(Snapshot) if f.name in _LIVE_FIELDS
        }
        self._state["status"] = Status.CREATED
        self._last_beat = 0.0

    @classmethod
    def continue_from(cls, run_dir: str | Path, steps: int | None = None, precision: str | None = None) -> TrainingRun:
        """Continue a run from its latest checkpoint, same folder and same step count.

        `steps` sets a new total (it must exceed the checkpoint's step to train further);
        `precision` another arithmetic (weights and optimiser state are float32 either way), with
        the XLA choice that goes with it, e.g. float32 on a machine without native bfloat16."""
        run = RunDir(run_dir)
        config = run.read_config()
        latest = run.latest_checkpoint()
        if latest is None:
            raise RunError(f"run {run.path} has no checkpoint to continue from")
        from gan_core.distribute import is_chief_here

        if is_chief_here():  # a cluster's other workers only read the folder its chief trains in
            _refuse_if_trained_elsewhere(run)
        # Refused now rather than in the thread: another format, or a checkpoint that is not this run's
        # (image shape and classes are checked once the data is loaded).
        read_checkpoint_state(latest[1], {k: getattr(config, k) for k in ("preset", "latent_dim", "loss")})
        if steps is not None:
            config = dataclasses.replace(config, steps=steps, epochs=None)
        if precision is not None:
            config = dataclasses.replace(config, precision=precision, jit_compile=None)
        return cls(config, run.path.parent, _continue=run)

    @classmethod
    def branch_from(
        cls, run_dir: str | Path, step: int | None = None, runs_dir: str | Path | None = None, **changes: Any
    ) -> TrainingRun:
        """A new run that starts from `run_dir`'s checkpoint at `step` (default: its latest), with `changes`
        to any setting but BRANCH_FIXED. It records its parent and step; its history starts at that step.
        `steps` is the new run's total, counted from the parent's start like the step itself."""
        parent = RunDir(run_dir)
        config = parent.read_config()
        saved = dict(parent.checkpoints())
        if not saved:
            raise RunError(f"run {parent.path} has no checkpoint to branch from")
        step = max(saved) if step is None else step
        if step not in saved:
            raise RunError(
                f"run {parent.run_id} has no checkpoint at step {step}; saved: {', '.join(f'{s:,}' for s in saved)}"
            )
        problems = [
            f"{name} cannot change in a branch: the checkpoint was trained with {getattr(config, name)!r}"
            for name in changes
            if name in BRANCH_FIXED and changes[name] != getattr(config, name)
        ]
        if "ema" in changes and bool(changes["ema"]) != bool(config.ema):
            problems.append(
                "ema cannot be turned on or off in a branch (the checkpoint "
                f"{'holds' if config.ema else 'has no'} generator average); change its decay instead"
            )
        if problems:
            raise ConfigError(problems)
        read_checkpoint_state(saved[step], {k: getattr(config, k) for k in ("preset", "latent_dim", "loss")})
        config = TrainConfig.from_dict({**config.to_dict(), **changes})
        if config.epochs is None and config.steps <= step:
            raise ConfigError([f"steps must be more than the branch's step {step:,} (got {config.steps:,})"])
        return cls(config, parent.path.parent if runs_dir is None else runs_dir, _branch=(parent, step))

    # ------------------------------------------------------------------ control
    def start(self) -> TrainingRun:
        if self._thread is not None:
            raise RuntimeError("this run has already been started; create a new TrainingRun")
        self._set(status=Status.COMPILING, started_at=time.time())
        self._thread = threading.Thread(target=self._main, name="gan-training", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        """Pause between two graph calls (no effect unless running)."""
        self._unpaused.clear()

    def resume(self) -> None:
        """Go on after pause()."""
        self._unpaused.set()

    def stop(self, timeout: float = 1.0) -> Status:
        """Ask the run to end; it stops within a graph call, checkpoints and exports the generator.

        During the first compile, which cannot be interrupted, the run is marked stopped at once and
        the thread quits as soon as the compile returns, without writing anything more."""
        self._stop.set()
        self._unpaused.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            if self._state["status"] == Status.COMPILING:
                self._state.update(status=Status.STOPPED, end_reason="stopped during compile", ended_at=time.time())
        return self.status

    def steer(self, **changes: float) -> dict[str, float]:
        """Change settings of the training run (STEERABLE) from its next graph call on, without
        recompiling; returns the changes taken (those equal to the current value are dropped).

        Each change is recorded in metrics.jsonl as an event at the step where it took effect, and in
        config.json, so a continued run goes on with the latest values. ConfigError names every
        setting that cannot change, or not to that value; nothing is changed then."""
        taken = steering_changes(self.config, self.status, changes)
        with self._lock:
            self._steering.update(taken)
        return taken

    def wait(self, timeout: float | None = None) -> Status:
        """Block until the thread ends (or `timeout` passes); returns the status."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status

    @property
    def status(self) -> Status:
        with self._lock:
            return self._state["status"]

    @property
    def active(self) -> bool:
        """Compiling, running or paused."""
        return self.status in ACTIVE

    @property
    def worker_role(self) -> str | None:
        """In a multi-worker run, what this process is when it is not the chief ("worker 1 of a 2-worker
        cluster"): its run folder is scratch. None for the chief and for a run on one machine."""
        cluster = self._cluster
        return cluster.role if cluster is not None and not cluster.is_chief else None

    @property
    def alive(self) -> bool:
        """The thread still runs: active, or finishing a compile or a final save after a stop."""
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> Snapshot:
        """A frozen copy of everything a page draws; safe from any thread."""
        with self._lock:
            live = dict(self._state)
            history, quality_, grids = self._history.columns(), self._quality.columns(), tuple(self._grids.items())
            config = self.config
        live["alerts"] = tuple(live["alerts"])
        return Snapshot(
            config=config,
            history=history,
            quality=quality_,
            grids=grids,
            run_dir=str(self.run_dir.path) if self.run_dir else None,
            run_id=self.run_dir.run_id if self.run_dir else None,
            **live,
        )

    # ------------------------------------------------------------------ the thread
    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)

    def _main(self) -> None:
        try:
            prepared = self._prepare()
            reason = self._loop(prepared)
            self._finish(prepared, reason)
        except Diverged as e:
            self._end(Status.DIVERGED, error=str(e))
        except BaseException as e:  # noqa: BLE001 -- nothing in the thread may die silently
            self._end(Status.FAILED, error=self._explain(e), trace=traceback.format_exc())
        finally:
            if self._summaries is not None:
                with contextlib.suppress(Exception):  # a full disk is reported above, not here
                    self._summaries.close()
            if self._scratch is not None and self.status != Status.FAILED:  # a failed worker's is kept to look at
                shutil.rmtree(self._scratch, ignore_errors=True)

    def _explain(self, error: BaseException) -> str:
        """The run's error message: a full disk or a folder that cannot be written said plainly, with
        where and what to do; anything else as its type and message."""
        if not isinstance(error, OSError) or error.errno not in DISK_FULL | NOT_WRITABLE:
            return f"{type(error).__name__}: {error}"
        where = error.filename or (self.run_dir.path if self.run_dir else self.runs_dir)
        latest = None
        with contextlib.suppress(OSError):
            latest = self.run_dir.latest_checkpoint() if self.run_dir else None
        then = f"continue the run from its checkpoint at step {latest[0]:,}" if latest else "start the run again"
        if error.errno in DISK_FULL:
            return f"The disk is full: no space left to write {where}. Free some space, then {then}."
        return (
            f"The runs folder is not writable: cannot write {where} ({error.strerror}). Fix its permissions "
            f"or choose another runs folder (--out, or GAN_STUDIO_RUNS for the app), then {then}."
        )

    def _end(
        self, status: Status, error: str | None = None, reason: str | None = None, trace: str | None = None
    ) -> None:
        with self._lock:
            if self._state["status"] == Status.STOPPED:  # stop() already ended it during the compile
                return
            self._state.update(status=status, error=error, traceback=trace, ended_at=time.time(), eta_seconds=0.0)
            if reason:
                self._state["end_reason"] = reason
            state = self._disk_status()
        if self.run_dir is not None:
            try:
                self.run_dir.write_status(**state, **liveness())
                self._check_health()
            except OSError:
                pass  # the in-memory status still tells the story

    def _write_status(self) -> None:
        """status.json as things stand, with who trains the run and when it last said so (the heartbeat)."""
        with self._lock:
            state = self._disk_status()
        self.run_dir.write_status(**state, **liveness())
        self._last_beat = time.monotonic()

    def _back_to_running(self) -> bool:
        """Running again after the compile or a pause; False when stop() ended the run meanwhile."""
        with self._lock:
            if self._state["status"] == Status.STOPPED:
                return False
            self._state["status"] = Status.RUNNING
        self._write_status()
        return True

    def _disk_status(self) -> dict[str, Any]:
        """What status.json holds (call with the lock held, or from the thread)."""
        keys = ("status", "step", "total_steps", "error", "traceback", "end_reason", "started_at", "ended_at")
        keys += ("last_command",)
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

    def _prepare(self) -> _Prepared:
        """Load the data, build the GAN, open the run folder (new, or continued from its checkpoint)
        and set up the periodic jobs."""
        from gan_core import quality
        from gan_core.data import DatasetError, load_dataset, make_dataset
        from gan_core.distribute import Cluster, make_strategy
        from gan_core.gan import build_gan
        from gan_core.models import for_this_machine

        t_start = time.monotonic()
        cfg = self.config
        data = load_dataset(cfg.dataset, cfg.npz_path)
        if cfg.conditional and data.labels is None:
            raise DatasetError(
                f"conditional training needs class labels, and dataset {cfg.dataset!r} has none "
                "(an .npz needs an integer array named 'labels'); turn conditional off or choose a labelled dataset"
            )
        shape = tuple(int(s) for s in data.images.shape[1:])
        n = len(data)
        total = cfg.steps if cfg.epochs is None else math.ceil(cfg.epochs * n / (cfg.batch_size * cfg.d_updates))
        judge, why = quality.applies_to(cfg.dataset, shape)
        if not cfg.quality_every:
            judge, why = False, "Quality figures are off for this run (quality_every = 0)."
        num_classes = data.num_classes if cfg.conditional else None
        self._set(
            total_steps=total,
            dataset_size=n,
            image_shape=shape,
            num_classes=num_classes,
            quality_applies=judge,
            quality_note=why,
        )
        cfg = for_this_machine(cfg)  # precision and XLA as this machine trains the preset best
        with self._lock:
            self.config = cfg
        try:
            strategy = make_strategy(cfg.strategy)  # None: TensorFlow's default, one device
        except ValueError as e:  # multi-worker without a usable TF_CONFIG
            raise ConfigError([f"strategy: {e}"]) from e
        runs_dir = self.runs_dir
        if cfg.strategy == "multi-worker":
            cluster = self._cluster = Cluster(strategy)
            if self._branch is not None:
                raise ConfigError(["strategy: a multi-worker run starts afresh or continues; branch it on one machine"])
            if not cluster.is_chief:  # only the chief writes the run; the others write to scratch
                runs_dir = self._scratch = tempfile.mkdtemp(prefix=f"gan-studio-{cluster.task_type}{cluster.task_id}-")
                judge, why = False, f"Quality figures come from the chief; this is {cluster.role}."
                self._set(quality_applies=judge, quality_note=why)
        if strategy is not None and cfg.batch_size % strategy.num_replicas_in_sync:
            raise ConfigError(
                [
                    f"batch_size {cfg.batch_size} does not split evenly over {strategy.num_replicas_in_sync} "
                    f"replicas ({cfg.strategy}); choose a multiple of {strategy.num_replicas_in_sync}"
                ]
            )
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            gan = build_gan(cfg, shape, num_classes, strategy=strategy)
        if judge:
            quality.real_reference()  # the slow first call (classifier, real statistics) happens here, not mid-run

        step = 0
        identity = checkpoint_identity(cfg, shape, num_classes)
        if self._continue is not None and self._scratch is not None:
            # A worker of a continued cluster run: the chief's checkpoint (a folder all of them reach), the
            # chief's noise; written to its own scratch folder, as when the run started.
            source = self._continue
            run = self.run_dir = RunDir.create(runs_dir, cfg)
            step = RunDir.restore_checkpoint(gan, source.latest_checkpoint()[1], identity)["step"]
            noise = source.read_noise()
            run.write_noise(noise)
        elif self._continue is not None:
            run = self._continue
            _, folder = run.latest_checkpoint()
            step = run.restore_checkpoint(gan, folder, identity)["step"]
            run.write_config(cfg)  # the settings it now trains with: a new total, perhaps another precision
            run.truncate_metrics(step)  # records past the checkpoint (a crash after it) are trained again
            events = []
            for record in run.read_metrics():
                if "event" in record:
                    events.append(record)
                else:
                    (self._history if "d_loss" in record else self._quality).append(record)
            self._set(events=tuple(events), parent=run.read_parent())
            noise = run.read_noise()
        elif self._branch is not None:
            parent, at = self._branch
            run = self.run_dir = RunDir.create(runs_dir, cfg)
            step = run.restore_checkpoint(gan, dict(parent.checkpoints())[at], identity)["step"]
            origin = {"run": parent.run_id, "step": step}
            run.write_parent(origin)
            noise = parent.read_noise()  # the parent's fixed noise: grids of parent and branch compare
            run.write_noise(noise)
            self._set(parent=origin)
        else:
            run = self.run_dir = RunDir.create(runs_dir, cfg)
            noise = fixed_noise(cfg.grid_size, cfg.latent_dim, cfg.seed)
            run.write_noise(noise)
        # The checkpoint's optimisers hold the learning rates they last trained with: the config says now.
        gan.steer(**steerable(cfg))
        self._images_seen = step * cfg.batch_size * cfg.d_updates
        self._set(step=step, epoch=self._images_seen / n)
        self._write_status()

        # A continued run reshuffles from a different seed, not replaying the first epochs' order.
        # One device: the batches wait on the GPU (make_dataset); a strategy places each replica's part itself.
        dataset = make_dataset(data.images, cfg.batch_size, cfg.seed + step, data.labels, to_device=strategy is None)
        batches = iter(dataset if strategy is None else strategy.experimental_distribute_dataset(dataset))
        throughput = self._throughput = loop.Throughput(cfg.batch_size)
        self._inbox = control.Inbox(run.path)  # pause, resume, stop and steer from other processes
        self._inbox.take()  # dropped: sent while no process trained the run (a stop would end it at once)

        def describe(at: int) -> dict:
            ips = throughput.rate(at)
            eta = (total - at) * cfg.batch_size / ips if ips else None
            self._set(images_per_second=ips, eta_seconds=eta)
            return {
                "epoch": round(self._images_seen / n, 4),
                "time": round(time.monotonic() - t_start, 3),
                "images_per_second": ips,
            }

        summaries = self._summaries = SummaryLog(run.path)  # TensorBoard's view of the same records

        def keep(history: History):
            def sink(record: dict) -> None:
                with self._lock:
                    history.append(record)
                summaries.record(record)

            return sink

        def keep_grid(at: int, grid: np.ndarray) -> None:
            with self._lock:
                self._grids.append(at, grid)
            summaries.grid(at, grid)

        state = {**identity, "config": cfg.to_dict()}
        metrics = loop.RecordMetrics(cfg.metrics_every, gan, run, keep(self._history), describe)
        samples = loop.DrawSamples(cfg.sample_every, gan.sampler, noise, run, keep_grid)
        checkpoints = loop.SaveCheckpoint(cfg.checkpoint_every, gan, run, state, metrics)
        jobs = [
            metrics,
            loop.every_or_never(
                cfg.quality_every,
                lambda: loop.MeasureQuality(cfg.quality_every, gan.sampler, run, keep(self._quality), judge, cfg.seed),
            ),
            loop.CheckHealth(cfg.metrics_every, self._check_health),
            samples,
            checkpoints,
            # In a cluster the chief's clock decides for everyone (Cluster.agree).
            loop.TimeLimit(None if self._scratch else cfg.max_seconds, t_start),
        ]
        self._t_start = t_start
        return _Prepared(gan, run, batches, noise, shape, total, step, jobs, samples, checkpoints, metrics)

    def _loop(self, p: _Prepared) -> str:
        """Graph calls of several steps each, never past a job's step; returns why it ended."""
        n = self._state["dataset_size"]
        p.samples(p.step)  # what the untrained generator draws: the start of the timeline
        size = loop.CallSize()
        cluster = self._cluster
        if cluster is not None:
            size.steps = CLUSTER_STEPS_PER_CALL
        compiled = False
        try:
            while p.step < p.total:
                if self._inbox.due():
                    self._take_commands(p.step)
                if self._stop.is_set() and cluster is None:  # a cluster stops together, after agreeing
                    return "stopped"
                if not self._unpaused.is_set():
                    self._set(status=Status.PAUSED)
                    self._write_status()
                    while not self._unpaused.wait(self._inbox.poll_seconds):  # blocks: a long pause costs no CPU
                        self._take_commands(p.step)  # "resume" and "stop" come from the run folder too
                        if time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
                            self._write_status()  # still here: a long pause is not an interrupted run
                    self._back_to_running()
                    self._throughput.reset(p.step)
                    continue
                if cluster is None:
                    self._apply_steering(p, self._take_steering())
                steps = loop.steps_this_call(p.step, p.total, size.steps, p.jobs)
                t_call = time.monotonic()
                p.gan.train_steps(p.batches, steps)
                p.step += steps
                self._images_seen += steps * self.config.batch_size * self.config.d_updates
                now = time.monotonic()
                if not compiled:  # the first call traced and compiled the step
                    compiled = True
                    if not self._back_to_running():  # stopped during the compile: nothing more to do
                        return "stopped"
                    self._throughput.reset(p.step)
                elif cluster is None:
                    size.update(steps, now - t_call)
                if now - self._last_beat >= HEARTBEAT_SECONDS:
                    self._write_status()
                self._set(
                    step=p.step,
                    epoch=self._images_seen / n,
                    elapsed_seconds=now - self._t_start,
                    last_step_at=now,
                )
                reason = loop.run_due(p.jobs, p.step)
                if cluster is not None:
                    reason = self._agree(p, reason)
                if reason:
                    return reason
        except Exception:
            # Lose nothing: keep what was trained before the crash, if the weights are still sound.
            if p.step > 0 and p.gan.first_nonfinite_step() is None:
                with contextlib.suppress(Exception):  # the original error is the one to report
                    p.checkpoints(p.step)
            raise
        return "finished"

    def _take_commands(self, step: int) -> None:
        """Apply the commands left in the run folder (gan_core.control) as if called here: pause, resume,
        stop, steer. Each outcome goes into status.json at once, where the sender looks for it."""
        for command_id, body in self._inbox.take():
            outcome = {"id": command_id, "command": body and body["command"], "ok": True, "error": None, "step": step}
            try:
                if body is None:
                    raise ValueError("not a command: a JSON object with a known command and its changes")
                if body["command"] == "pause":
                    self.pause()
                elif body["command"] == "resume":
                    self.resume()
                elif body["command"] == "stop":
                    self._stop.set()  # what stop() asks, without joining this very thread
                    self._unpaused.set()
                else:
                    outcome["changes"] = self.steer(**body["changes"])
            except (ConfigError, TypeError, ValueError) as e:
                outcome.update(ok=False, error=str(e))
            self._set(last_command=outcome)
            self._write_status()

    def _take_steering(self) -> dict[str, float]:
        """The changes asked for since the last graph call, taken."""
        with self._lock:
            changes, self._steering = self._steering, {}
        return changes

    def _agree(self, p: _Prepared, reason: str | None) -> str | None:
        """Every worker of a cluster, after every graph call: the chief's stop (asked, or its time limit) and
        its settings (steered), applied by all at once. Reasons every worker finds alike (the end, a
        divergence) need no agreement; the others' own stop and steering are not theirs to decide."""
        wanted = {**{k: getattr(self.config, k) for k in STEERABLE}, **self._take_steering()}
        stop, agreed = self._cluster.agree(bool(reason) or self._stop.is_set(), wanted)
        current = {k: getattr(self.config, k) for k in agreed}
        self._apply_steering(p, {k: type(current[k])(v) for k, v in agreed.items() if v != current[k]})
        return reason or ("stopped" if stop else None)

    def _apply_steering(self, p: _Prepared, changes: dict[str, float]) -> None:
        """`changes` into the step's variables, metrics.jsonl and config.json."""
        if not changes:
            return
        p.gan.steer(**changes)
        event = {"step": p.step, "event": "steer", "changes": changes, "time": round(time.time(), 3)}
        config = dataclasses.replace(self.config, **changes)
        p.run.append_metrics(event)
        p.run.write_config(config)
        self._summaries.event(event)
        with self._lock:
            self.config = config
            self._state["events"] = (*self._state["events"], event)

    def _finish(self, p: _Prepared, reason: str) -> None:
        """The last metrics, grid and checkpoint at the final step, and the generator for export."""
        if self.status == Status.STOPPED:  # stopped during the compile: nothing was trained worth keeping
            self._write_status()
            return
        p.metrics(p.step)
        if p.samples.last_step != p.step:
            p.samples(p.step)
        if p.checkpoints.last_step != p.step:
            p.checkpoints(p.step)
        p.run.export_generator(float32_twin(p.gan.sampling_generator, self.config, p.shape, self._state["num_classes"]))
        self._end(Status.STOPPED if reason == "stopped" else Status.FINISHED, reason=reason)


def steering_changes(config: TrainConfig, status: Status, changes: Mapping[str, Any]) -> dict[str, float]:
    """The `changes` that steering a run trained with `config`, now `status`, would make (those equal to
    the current value dropped); ConfigError naming every setting that cannot change, or not to that value."""
    problems = [
        f"{name} cannot change while the run trains; these can: {', '.join(STEERABLE)}"
        for name in changes
        if name not in STEERABLE
    ]
    if "gp_weight" in changes and config.loss != "wgan-gp":
        problems.append(f"gp_weight is the gradient penalty's weight: it applies to wgan-gp, not {config.loss}")
    if "ema" in changes and not config.ema:
        problems.append("ema: this run keeps no generator average (ema 0); branch it with averaging on")
    if not problems:
        wanted = dataclasses.replace(config, **changes)
        problems = [p for p in wanted.problems() if p.split()[0] in changes]
    if status not in ACTIVE:
        problems.append(f"the run is {status}, not training: continue or branch it to change settings")
    if problems:
        raise ConfigError(problems)
    kinds = {"d_updates": int}
    return {k: kinds.get(k, float)(v) for k, v in changes.items() if getattr(config, k) != v}


def steerable(config: TrainConfig) -> dict[str, float]:
    """The STEERABLE settings of `config` that apply to its run (the penalty's weight to WGAN-GP only)."""
    return {k: getattr(config, k) for k in STEERABLE if k != "gp_weight" or config.loss == "wgan-gp"}


def _refuse_if_trained_elsewhere(run: RunDir) -> None:
    """RunError while another process still trains `run`: two writers would mix their checkpoints and
    logs. (Within this process the registry refuses a second run.)"""
    status = run.read_status()
    if run_status(run) not in ACTIVE_ON_DISK:
        return
    if status.get("pid") == os.getpid() and status.get("host") == socket.gethostname():
        return
    who = f"process {status['pid']} on {status.get('host')}" if status.get("pid") else "another process"
    raise RunError(
        f"run {run.path} is {status.get('status')} in {who}; stop it there first. (A run whose process "
        f"is gone counts as interrupted, at once on this host or after {STALE_SECONDS:.0f} s without a "
        "heartbeat elsewhere, and can then be continued.)"
    )


def float32_twin(generator, config: TrainConfig, shape: tuple[int, ...], num_classes: int | None = None):
    """`generator` itself if it computes in float32, else a float32 copy with its weights (which are
    float32 in mixed precision too): generator.keras then loads and runs the same on any machine."""
    from gan_core.models import build_models

    if generator.dtype_policy.name == "float32":
        return generator
    twin, _ = build_models(config.preset, config.latent_dim, shape, num_classes=num_classes, codes=config.codes or 0)
    twin.set_weights(generator.get_weights())
    return twin
