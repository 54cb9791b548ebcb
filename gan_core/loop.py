"""The training loop's periodic jobs: small objects with an interval and a method.

    jobs = [RecordMetrics(...), MeasureQuality(...), CheckHealth(...), DrawSamples(...), ..., TimeLimit(...)]
    steps = steps_this_call(step, total, most, jobs)  # never past the next job's step
    gan.train_steps(batches, steps); step += steps
    reason = run_due(jobs, step)                       # each job whose step it is, in order

A job with `every = 0` runs after every graph call without bounding it (the time limit); a job
with `every = n` runs at multiples of n, and graph calls stop there. Nothing here needs a thread:
the tests drive `run_due` by hand.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gan_core.runs import RunDir


class Diverged(RuntimeError):
    """A loss became NaN or inf."""


class Job:
    """Something the loop does every `every` steps (0: after every graph call)."""

    every: int = 0

    def due(self, step: int) -> bool:
        return self.every == 0 or step % self.every == 0

    def steps_to_next(self, step: int) -> int | None:
        """Steps until this job's next step, or None if it does not bound graph calls."""
        return self.every - step % self.every if self.every else None

    def __call__(self, step: int) -> str | None:
        """Do the job at `step`; return a reason to end the run, or None to go on."""
        raise NotImplementedError


class Never(Job):
    """A job turned off (an interval of 0 in the config for a job that bounds calls)."""

    def due(self, step: int) -> bool:
        return False

    def steps_to_next(self, step: int) -> None:
        return None

    def __call__(self, step: int) -> None:
        return None


def steps_this_call(step: int, total: int, most: int, jobs: Sequence[Job]) -> int:
    """How many steps the next graph call may take: at most `most`, never past the run's end or a
    job's next step, so every job runs exactly at its step."""
    bounds = [b for b in (job.steps_to_next(step) for job in jobs) if b is not None]
    return max(1, min(most, total - step, *bounds))


def run_due(jobs: Sequence[Job], step: int) -> str | None:
    """Run every job due at `step`, in order; the first reason to end the run, or None."""
    reason = None
    for job in jobs:
        if job.due(step):
            reason = job(step) or reason
    return reason


# ------------------------------------------------------------------ the jobs
class RecordMetrics(Job):
    """The mean of the step's metrics since the last record, to metrics.jsonl and to `sink`; stops
    the run (Diverged) as soon as a loss was NaN or inf, naming the step and the last good checkpoint."""

    def __init__(self, every: int, gan, run: RunDir, sink: Callable[[dict], None], describe: Callable[[int], dict]):
        self.every = every
        self.gan, self.run, self.sink, self.describe = gan, run, sink, describe

    def check_finite(self) -> None:
        bad = self.gan.first_nonfinite_step()
        if bad is not None:
            latest = self.run.latest_checkpoint()
            keep = f"the last good checkpoint is step {latest[0]}" if latest else "no checkpoint was written"
            raise Diverged(
                f"a loss became NaN or inf at step {bad}; training stopped ({keep}). "
                "Try a lower learning rate, another loss or another preset."
            )

    def __call__(self, step: int) -> None:
        self.check_finite()
        means = self.gan.read_metrics()
        if means is None:
            return
        record = {"step": step, **self.describe(step), **means}
        self.run.append_metrics(record)
        self.sink(record)


class MeasureQuality(Job):
    """Quality figures of QUALITY_N images (balanced over the classes for a conditional generator)
    and the near-duplicate check, written as their own record."""

    def __init__(self, every: int, sampler, run: RunDir, sink: Callable[[dict], None], judge: bool, seed: int):
        self.every = every
        self.sampler, self.run, self.sink, self.judge, self.seed = sampler, run, sink, judge, seed

    def __call__(self, step: int) -> None:
        from gan_core import alerts, quality

        images, labels = quality.generate(self.sampler, quality.QUALITY_N, seed=self.seed)
        record: dict[str, Any] = {"step": step, "duplicate_fraction": alerts.duplicate_fraction(images)}
        if self.judge:
            record.update(quality.score_images(images, asked=labels))
        self.run.append_metrics(record)
        self.sink(record)


class CheckHealth(Job):
    """The health alerts over the history so far."""

    def __init__(self, every: int, check: Callable[[], None]):
        self.every, self.check = every, check

    def __call__(self, step: int) -> None:
        self.check()


class DrawSamples(Job):
    """The sample grid from the run's fixed noise, as PNG in the run folder and to `sink`."""

    def __init__(self, every: int, sampler, noise: np.ndarray, run: RunDir, sink: Callable[[int, np.ndarray], None]):
        self.every = every
        self.sampler, self.noise, self.run, self.sink = sampler, noise, run, sink
        self.last_step: int | None = None

    def __call__(self, step: int) -> None:
        from gan_core.latent import save_png

        grid = self.sampler.grid(self.noise)
        save_png(grid, self.run.sample_path(step))
        self.last_step = step
        self.sink(step, grid)


class SaveCheckpoint(Job):
    """Both networks, G's average and both optimisers; never NaN weights (the metrics job raises first)."""

    def __init__(self, every: int, gan, run: RunDir, state: dict, metrics: RecordMetrics):
        self.every = every
        self.gan, self.run, self.state, self.metrics = gan, run, state, metrics
        self.last_step: int | None = None

    def __call__(self, step: int) -> None:
        self.metrics.check_finite()
        self.run.save_checkpoint(self.gan, step, self.state)
        self.last_step = step


class TimeLimit(Job):
    """Ends the run cleanly once `seconds` have passed since `start` (checked after every call)."""

    every = 0

    def __init__(self, seconds: float | None, start: float, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.start, self.clock = seconds, start, clock

    def due(self, step: int) -> bool:
        return self.seconds is not None

    def __call__(self, step: int) -> str | None:
        return "time limit" if self.clock() - self.start >= self.seconds else None


def every_or_never(every: int, make: Callable[[], Job]) -> Job:
    """`make()`, or `Never()` when the interval is 0 (the job is off)."""
    return make() if every else Never()


# ------------------------------------------------------------------ pacing
CALL_SECONDS = 0.25  # training steps per call to the graph: as many as take about this long...
MAX_STEPS_PER_CALL = 50  # ...but no more than this


class CallSize:
    """How many steps the next graph call takes: as many as fit in CALL_SECONDS, so pause and
    stop still act at once, and one for the first call, which traces and compiles the step."""

    def __init__(self, seconds: float = CALL_SECONDS, most: int = MAX_STEPS_PER_CALL):
        self.seconds, self.most = seconds, most
        self.steps = 1

    def update(self, steps: int, elapsed: float) -> None:
        per_step = elapsed / max(steps, 1)
        self.steps = max(1, min(self.most, int(self.seconds / max(per_step, 1e-6))))


class Throughput:
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
