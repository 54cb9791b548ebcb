"""Follow a run that another process trains, through its run folder: the dashboard as control room.

    run = FollowedRun("runs/20261130-120000-dense-bn-mnist-sample")
    run.snapshot()          # a Snapshot, as TrainingRun gives it, read from the folder as it is written
    run.pause(); run.steer(g_learning_rate=1e-4); run.stop()      # commands in the folder (control.py)

The process may be the CLI on this machine or a cluster's chief writing to a shared folder or a
bucket. What it writes is all there is to read: status.json (status, step, heartbeat, the outcome of
the last command), metrics.jsonl (read from where the last read stopped), samples/ (each grid decoded
once), alerts.jsonl, config.json (rewritten when the run is steered). A FollowedRun offers what the
Train page uses of a TrainingRun, so one page draws both.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import threading
import time
from typing import Any

import numpy as np

from gan_core import control
from gan_core.config import TrainConfig
from gan_core.engine import (
    ACTIVE,
    GRID_HISTORY,
    STATUSES,
    GridHistory,
    History,
    Snapshot,
    Status,
    steering_changes,
)
from gan_core.runs import RunDir, run_status

REFRESH_SECONDS = 1.0  # a follower reads the folder at most this often, however many viewers ask


class FollowedRun:
    """A run trained elsewhere, seen through its folder (read at most every `refresh_seconds`)."""

    def __init__(self, run_dir, refresh_seconds: float = REFRESH_SECONDS):
        self.run_dir = RunDir(run_dir)
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self.trainer: dict[str, Any] = {}  # who trains it: status.json's pid, host and heartbeat
        self._read_at = -math.inf
        self._reset()
        self._read()  # RunError now, for a folder that is not a run

    # ------------------------------------------------------------------ what TrainingRun offers the pages
    def snapshot(self) -> Snapshot:
        with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_seconds:
                self._read()
            return self._snap

    @property
    def status(self) -> Status:
        return self.snapshot().status

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    alive = active  # nothing of ours runs in this process: alive while its trainer is

    @property
    def config(self) -> TrainConfig:
        return self.snapshot().config

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self, timeout: float = 0.0) -> Status:
        """Ask the training process to stop (it checkpoints and exports as for a stop of its own)."""
        self._send("stop")
        return self.status

    def steer(self, **changes: float) -> dict[str, float]:
        """As TrainingRun.steer: checked here first, so that a bad value is refused at once; the trainer
        checks again and reports in status.json's last_command."""
        snap = self.snapshot()
        taken = steering_changes(snap.config, snap.status, changes)
        if taken:
            self._send("steer", **taken)
        return taken

    def _send(self, command: str, **changes: Any) -> None:
        control.send(self.run_dir.path, command, **changes)
        with self._lock:
            self._read_at = -math.inf  # the next snapshot reads the folder again: the outcome soon shows

    # ------------------------------------------------------------------ reading the folder
    def _reset(self) -> None:
        """Forget what was read (a continued run rewrote metrics.jsonl from its checkpoint)."""
        self._offset = 0  # bytes of metrics.jsonl read so far, up to the last whole line
        self._history = History()
        self._quality = History(max_points=200)
        self._events: list[dict[str, Any]] = []
        self._grids = GridHistory()
        self._grid_steps: set[int] = set()
        self._identity: dict[str, Any] = {}  # image shape and classes, from a checkpoint's state.json

    def _read(self) -> None:
        run = self.run_dir
        config = run.read_config()  # RunError for a folder without config.json
        status = run.read_status()
        self._read_metrics()
        self._read_grids()
        if not self._identity and (latest := run.latest_checkpoint()):
            with contextlib.suppress(OSError, ValueError):  # being written: next time
                self._identity = json.loads((latest[1] / "state.json").read_text())
        state = run_status(run)
        self.trainer = {k: status.get(k) for k in ("pid", "host", "heartbeat")}
        history = self._history.columns()
        last = self._history.records()[-1] if self._history.records() else {}
        step = max(status.get("step") or 0, last.get("step") or 0)
        total = status.get("total_steps") or config.steps
        training = state == Status.RUNNING
        ips = last.get("images_per_second") if training else None
        shape = self._identity.get("image_shape")
        self._snap = Snapshot(
            status=Status(state) if state in STATUSES else Status.CREATED,
            config=config,
            step=step,
            total_steps=total,
            epoch=last.get("epoch") or 0.0,
            images_per_second=ips,
            eta_seconds=(total - step) * config.batch_size / ips if ips and total else None,
            elapsed_seconds=last.get("time") or 0.0,
            started_at=status.get("started_at"),
            ended_at=status.get("ended_at"),
            end_reason=status.get("end_reason"),
            error=status.get("error"),
            traceback=status.get("traceback"),
            run_dir=str(run.path),
            run_id=run.run_id,
            image_shape=tuple(shape) if shape else None,
            num_classes=self._identity.get("num_classes"),
            quality_applies=bool(self._quality.records()),
            quality_note=None if self._quality.records() else "No quality figures in this run's folder yet.",
            alerts=tuple(run.read_alerts()),
            events=tuple(self._events),
            parent=run.read_parent(),
            last_command=status.get("last_command"),
            history=history,
            quality=self._quality.columns(),
            grids=tuple(self._grids.items()),
        )
        self._read_at = time.monotonic()

    def _read_metrics(self) -> None:
        path = self.run_dir.metrics_path
        try:
            size = path.stat().st_size
        except OSError:
            return
        if size < self._offset:  # rewritten shorter: continued from an older checkpoint
            self._reset()
        if size == self._offset:
            return
        with path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        whole = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written is read next time
        self._offset += len(whole)
        for line in whole.decode(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn line (a crash mid-write), as RunDir.read_metrics skips it
            if "event" in record:
                self._events.append(record)
            elif "d_loss" in record:
                self._history.append(record)
            else:
                self._quality.append(record)

    def _read_grids(self) -> None:
        from PIL import Image

        new = [(step, path) for step, path in self.run_dir.samples() if step not in self._grid_steps]
        if len(new) > GRID_HISTORY:  # a long run opened late: an even spread, and always the latest
            keep = np.linspace(0, len(new) - 1, GRID_HISTORY).round().astype(int)
            new = [new[i] for i in sorted(set(keep))]
        for step, path in new:
            try:
                picture = np.asarray(Image.open(io.BytesIO(path.read_bytes())))
            except OSError:
                continue  # still being written: next time
            self._grids.append(step, picture)
            self._grid_steps.add(step)
