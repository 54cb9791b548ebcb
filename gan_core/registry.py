"""RunRegistry: the one training run a server owns, shared by every browser that opens the app.

Two cores train one GAN at a time well and two badly, so the registry refuses a second start while
a run is active rather than queueing it. The page keeps one registry per server process
(`st.cache_resource`), so the run survives a page refresh and every visitor sees the same run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gan_core.config import TrainConfig
from gan_core.engine import TrainingRun


class RunActiveError(RuntimeError):
    """A run is already active; `run` is that run."""

    def __init__(self, run: TrainingRun):
        self.run = run
        if run.active:
            super().__init__(f"{describe(run)} is already active; stop it before starting another")
        else:
            super().__init__(f"{describe(run)} is still shutting down; try again in a few seconds")


def describe(run: TrainingRun) -> str:
    """One line naming a run: its preset and dataset, when it started, how far it got."""
    snap = run.snapshot()
    started = snap.started_at
    since = f"since {time.strftime('%H:%M:%S', time.localtime(started))}" if started else "not started"
    total = snap.total_steps
    progress = f"step {snap.step:,}/{total:,}" if total else f"step {snap.step:,}"
    name = f"run {snap.run_id}" if snap.run_id else "a run"
    return f"{name} (preset {snap.config.preset!r} on {snap.config.dataset!r}, {snap.status} {since}, {progress})"


class RunRegistry:
    """Holds the active run of this server, or else the most recent one, under its own lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run: TrainingRun | None = None

    def start(self, config: TrainConfig, runs_dir: str | Path = "runs") -> TrainingRun:
        """Start a new run; raises RunActiveError while another is active, ConfigError for bad settings."""
        with self._lock:
            self._refuse_if_active()
            run = TrainingRun(config, runs_dir)  # validates before anything starts
            self._run = run.start()
            return run

    def continue_run(self, run_dir: str | Path, steps: int | None = None) -> TrainingRun:
        """Continue a run folder from its latest checkpoint (see `TrainingRun.continue_from`)."""
        with self._lock:
            self._refuse_if_active()
            run = TrainingRun.continue_from(run_dir, steps=steps)
            self._run = run.start()
            return run

    def branch(self, run_dir: str | Path, step: int | None = None, **changes) -> TrainingRun:
        """Start a new run from `run_dir`'s checkpoint at `step` with `changes` (see `TrainingRun.branch_from`)."""
        with self._lock:
            self._refuse_if_active()
            run = TrainingRun.branch_from(run_dir, step, **changes)
            self._run = run.start()
            return run

    def current(self) -> TrainingRun | None:
        """The active run, else the most recent one to end, else None."""
        with self._lock:
            return self._run

    def active(self) -> TrainingRun | None:
        """The active run, or None."""
        run = self.current()
        return run if run is not None and run.active else None

    def _refuse_if_active(self) -> None:
        # `alive` too: a run stopped during its compile keeps its thread until the compile returns,
        # and two runs on two cores would each go at half speed.
        if self._run is not None and (self._run.active or self._run.alive):
            raise RunActiveError(self._run)
