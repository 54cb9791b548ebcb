"""TensorBoard event files beside metrics.jsonl, for people who already watch their GANs there.

    tensorboard --logdir runs      # every run under runs/, one line per run

A run writes, into its own folder, what the dashboard draws: the training metrics (`train/...`, at
the metrics interval, as recorded in metrics.jsonl), the quality figures (`quality/...`), the sample
grid from the fixed noise (`samples`) and every mid-run change of settings (`settings`, as text).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

FLUSH_MILLIS = 10_000  # a watching TensorBoard is at most this far behind
NOT_SCALARS = frozenset({"step", "epoch", "time"})  # the x axes, not curves


class SummaryLog:
    """One run's summary writer; every method is a no-op once closed."""

    def __init__(self, folder: str | Path):
        self._writer = tf.summary.create_file_writer(str(folder), flush_millis=FLUSH_MILLIS)
        self._open = True

    def record(self, record: dict[str, Any]) -> None:
        """A metrics.jsonl record: its numbers as scalars at its step, under train/ or quality/."""
        if not self._open or "event" in record:
            return
        group = "train" if "d_loss" in record else "quality"
        with self._writer.as_default(step=int(record["step"])):
            for name, value in record.items():
                if name in NOT_SCALARS or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if math.isfinite(value):
                    tf.summary.scalar(f"{group}/{name}", value)

    def grid(self, step: int, grid: np.ndarray) -> None:
        """The sample grid (uint8, H x W or H x W x C) at `step`."""
        if not self._open:
            return
        picture = grid[..., None] if grid.ndim == 2 else grid
        with self._writer.as_default(step=int(step)):
            tf.summary.image("samples", picture[None])

    def event(self, event: dict[str, Any]) -> None:
        """A change of settings mid-run, as the text TensorBoard shows at its step."""
        if not self._open:
            return
        with self._writer.as_default(step=int(event["step"])):
            tf.summary.text("settings", json.dumps(event.get("changes", {}), sort_keys=True))

    def close(self) -> None:
        if self._open:
            self._open = False
            self._writer.close()
