"""Throughput benchmark: images per second of the seeds' Keras loop, our GAN step, and our engine.

    python -m benchmarks.bench [--seconds 20] [--rounds 4] [--presets dense-bn,dcgan] [--batch-size 64]
                               [--no-losses] [--browser] [--quick]

Benchmarks live in benchmarks/, outside the engine package: gan_core never imports them, and they
drive the engine only through its public API (build_gan, make_dataset, TrainingRun).

Rows, for every preset, in this process, on mnist-sample:

  a   the seeds' loop (001/003) ported to Keras 3: G.predict, D.train_on_batch on real and on fake,
      combined.train_on_batch, with D.trainable toggled so that D really trains (checked once);
      float32, BCE, no average of G, as the seeds train
  b0  our `GAN.train_steps` over `make_dataset` batches, a metrics interval (25 steps) a call,
      `read_metrics()` after each, with the defaults but ema=0: no average of G's weights
  b   the same with the project's defaults, G's moving average (ema=0.999) included;
      b/b0 is what the average costs
  c   our `TrainingRun` thread with its default settings and intervals, while this thread calls
      `run.snapshot()` every 0.5 s as the Train page does
  with --losses (on by default), for the headline preset (dense-bn when measured, else the first):
  b-minimax, b-lsgan, b-hinge, b-wgan-gp  row b with another loss family, at that family's defaults
      (wgan-gp: 5 critic updates a step, each on its own batch); bce is row b itself. img/s counts
      generator-step images (batch_size a step), so a family's extra D updates lower its figure
  with --browser, for dense-bn (the demo run), in the app served by `streamlit run`:
  d   the run with the Train page open in headless chromium (live view once a second, the default)
  d5  the same with the viewer's live view set to every 5 s
  d0  the same run with nobody watching: the engine alone

All rows of a preset are built and warmed up first (compile excluded); then they take turns, one
window each, for --rounds rounds (d0, d and d5 take turns with each other). This machine's speed drifts
by 10-20% over minutes, and rows measured in turn see the same drift: each figure is the median
window, each ratio the median of the ratios of windows measured together. With the defaults
(20 s, two presets, the loss rows) the rows train for about 4 minutes, plus building and compiling.
The last two lines are
`losses dense-bn img/s: bce=<> minimax=<> lsgan=<> hinge=<> wgan-gp=<>` and `b/a dense=<x> dcgan=<y> c/b=<z>`.

This is a script that prints figures, not a test: they depend on the machine and on whatever
else it runs, so compare figures from one run, never across machines.
"""

from __future__ import annotations

import argparse
import functools
import gc
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gan_core.config import TrainConfig

if TYPE_CHECKING:
    from gan_core.engine import Snapshot

DEFAULT_PRESETS = ("dense-bn", "dcgan")
DEFAULT_SECONDS = 20.0
DEFAULT_ROUNDS = 4  # each row's time is split into this many windows, the rows taking turns
QUICK_SECONDS = 1.0  # --quick: enough to prove every row runs, far too short to mean anything
WARMUP_STEPS = 10
QUICK_WARMUP_STEPS = 2
POLL_SECONDS = 0.5  # how often the Train page asks the engine for a snapshot
COMPILE_TIMEOUT = 600.0  # seconds row c waits for the engine to compile before giving up
LATENT_DIM = 100
IMAGE_SHAPE = (28, 28, 1)
DATASET = "mnist-sample"

# How the last line names a preset; others go by their own name.
SHORT_NAMES = {"dense-bn": "dense"}


@dataclass(frozen=True)
class Measurement:
    images_per_second: float
    steps: int  # generator steps inside the window
    seconds: float  # the window actually measured
    warmup_seconds: float  # compile and warm-up, excluded from the figure
    cpu_cores: float  # CPU seconds this process used per wall second of the window; well under the
    # machine's core count means waiting, or other processes holding the CPUs (a depressed figure)
    note: str = ""
    rates: tuple[float, ...] = ()  # images per second of each window, in turn with the other rows

    @property
    def cpu_ms_per_step(self) -> float:
        """CPU milliseconds per step: less sensitive than img/s to other processes sharing the CPUs."""
        return 1e3 * self.cpu_cores * self.seconds / self.steps


@dataclass(frozen=True)
class Settings:
    batch_size: int
    seconds: float  # this row's window
    warmup_steps: int


@dataclass(frozen=True)
class Row:
    key: str  # short name used in the ratios: "a", "b0", "b", "c", "b-hinge"
    name: str  # what the row measures, as printed in the table
    setup: Callable[[str, Settings], Meter]  # (preset, settings) -> a Meter, built and warmed up
    window_scale: float = 1.0  # this row's time is window_scale * --seconds
    only: str | None = None  # the one preset this row measures; None: every preset

    def measures(self, preset: str) -> bool:
        return self.only is None or self.only == preset


# ------------------------------------------------------------------ interleaved windows
@dataclass(frozen=True)
class Window:
    images: int
    seconds: float
    cpu_seconds: float  # of this process, or of the app server for row d

    @property
    def rate(self) -> float:
        return self.images / self.seconds


class Meter:
    """One row set up for one preset, ready to train for a window at a time.

    Every row's meter is set up (built, compiled, warmed) before any is measured; then the rows take
    turns, a short window each, round after round. The machine's speed drifts by 10-20% over minutes
    here (other tenants, clocks); in turns, every row sees the same drift and the ratios stay steady."""

    warmup_seconds = 0.0

    def window(self, seconds: float) -> Window:
        raise NotImplementedError

    def note(self) -> str:
        return ""

    def close(self) -> None:
        pass


class _StepMeter(Meter):
    """A row that trains by calling `step()` (`images_per_call` images each) in this thread."""

    images_per_call = 1

    def step(self) -> None:
        raise NotImplementedError

    def window(self, seconds: float) -> Window:
        calls, wall, cpu = _timed(self.step, seconds)
        return Window(calls * self.images_per_call, wall, cpu)


# ------------------------------------------------------------------ a: the seeds' loop
class SeedLoop(_StepMeter):
    """The seeds' Keras 2 loop, ported to Keras 3 so that it trains what it claims to train.

    Keras 3 fixes a model's trainable variables when its train function is first built, at its
    first train_on_batch, not at compile(). So D.trainable must be True at D's first
    train_on_batch and False at combined's first one; toggling it around every call gives
    exactly that (the seeds set it False once, which ported literally freezes D for good).
    The first step checks it by comparing weights. The seeds train in float32.
    """

    def __init__(self, preset: str, s: Settings):
        import keras

        from gan_core.data import load_images
        from gan_core.models import PRESETS, build_models

        p = PRESETS[preset]
        keras.utils.set_random_seed(0)
        self.generator, self.discriminator = generator, discriminator = build_models(preset, LATENT_DIM, IMAGE_SHAPE)
        discriminator.compile(
            optimizer=keras.optimizers.Adam(p.d_learning_rate, beta_1=p.beta_1),
            loss=keras.losses.BinaryCrossentropy(from_logits=p.from_logits),
        )
        z = keras.Input((LATENT_DIM,))
        discriminator.trainable = False  # as the seeds do; what counts is the flag at the first train_on_batch
        self.combined = keras.Model(z, discriminator(generator(z)))
        self.combined.compile(
            optimizer=keras.optimizers.Adam(p.g_learning_rate, beta_1=p.beta_1),
            loss=keras.losses.BinaryCrossentropy(from_logits=p.from_logits),
        )
        self.x_train = np.asarray(load_images(DATASET))
        self.rng = np.random.default_rng(0)
        self.batch = self.images_per_call = s.batch_size
        self.ones = np.ones((self.batch, 1), np.float32)
        self.zeros = np.zeros((self.batch, 1), np.float32)
        self.predict_seconds = 0.0  # Keras 3's predict() sets up a data pipeline per call: its share
        self.measured_seconds = 0.0

        t0 = time.perf_counter()
        # The first step, phase by phase: D must move when D trains, and only G when combined trains.
        before_d, before_g = _weights(discriminator), _weights(generator)
        self.train_discriminator()
        after_d = _weights(discriminator)
        if _same(before_d, after_d):
            raise RuntimeError("seed loop: D.train_on_batch left D's weights unchanged, so D does not train")
        self.train_generator()
        if not _same(after_d, _weights(discriminator)):
            raise RuntimeError("seed loop: combined.train_on_batch changed D's weights; D must be frozen there")
        if _same(before_g, _weights(generator)):
            raise RuntimeError("seed loop: combined.train_on_batch left G's weights unchanged, so G does not train")
        for _ in range(s.warmup_steps - 1):
            self.step()
        self.warmup_seconds = time.perf_counter() - t0
        self.predict_seconds = 0.0

    def train_discriminator(self) -> None:
        real = self.x_train[self.rng.integers(0, len(self.x_train), self.batch)]
        noise = self.rng.normal(0.0, 1.0, (self.batch, LATENT_DIM)).astype(np.float32)
        t = time.perf_counter()
        gen_imgs = self.generator.predict(noise, verbose=0)
        self.predict_seconds += time.perf_counter() - t
        self.discriminator.trainable = True
        self.discriminator.train_on_batch(real, self.ones)
        self.discriminator.train_on_batch(gen_imgs, self.zeros)

    def train_generator(self) -> None:
        self.discriminator.trainable = False
        noise2 = self.rng.normal(0.0, 1.0, (self.batch, LATENT_DIM)).astype(np.float32)
        self.combined.train_on_batch(noise2, self.ones)

    def step(self) -> None:
        # Train the discriminator
        self.train_discriminator()
        # Train the generator (do not update the discriminator's weights)
        self.train_generator()

    def window(self, seconds: float) -> Window:
        w = super().window(seconds)
        self.measured_seconds += w.seconds
        return w

    def note(self) -> str:
        share = self.predict_seconds / max(self.measured_seconds, 1e-9)
        return (
            f"float32, BCE, no average of G, Keras jit_compile={self.discriminator.jit_compile} (its CPU default); "
            f"predict() {share:.0%} of the time"
        )


def _weights(model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.weights]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------ b: our GAN step
class GanStep(_StepMeter):
    """`GAN.train_steps` over tf.data batches, a metrics interval a call, then `read_metrics()` as the engine does.

    `overrides` change TrainConfig's defaults (ema=0.0 for row b0, loss=... for the loss rows).
    Each step takes `d_updates` batches of real images, one per D update, and counts as
    `batch_size` images: the images G trained on, whatever the loss family's number of D updates."""

    def __init__(self, preset: str, s: Settings, **overrides):
        from gan_core.data import load_images, make_dataset
        from gan_core.gan import build_gan
        from gan_core.models import for_this_machine

        self.config = config = for_this_machine(_config(preset, s.batch_size, **overrides))
        self.gan = build_gan(config, IMAGE_SHAPE)
        self.batches = iter(make_dataset(load_images(DATASET), config.batch_size, config.seed))
        self.images_per_call = config.metrics_every * s.batch_size
        t0 = time.perf_counter()
        self.step()
        self.warmup_seconds = time.perf_counter() - t0

    def step(self) -> None:
        # As the engine does: a metrics interval of steps in one call to the graph, then a read.
        self.gan.train_steps(self.batches, self.config.metrics_every)
        self.gan.read_metrics()

    def note(self) -> str:
        c = self.config
        return (
            f"{c.precision}, jit_compile={c.jit_compile}, loss {c.loss}, {c.d_updates} D update(s)/step, ema={c.ema:g}"
        )


# ------------------------------------------------------------------ c: our engine, polled
class EngineRun(Meter):
    """A `TrainingRun` as the app starts it, read through `snapshot()` every 0.5 s, paused between its windows.

    A window resumes the run, waits for its first step, and then counts the steps between two
    snapshots `seconds` apart, timed by the engine's own clock of its last step (`last_step_at`),
    so every per-step cost of the engine is inside: metrics records, sample grids, checkpoints,
    quality figures, the lock. Between windows the run is paused and costs nothing."""

    def __init__(self, preset: str, s: Settings, poll: float = POLL_SECONDS):
        from gan_core.engine import TrainingRun

        # The engine's default settings and intervals; steps only so high that the run cannot
        # finish while measured.
        self.config = _config(preset, s.batch_size, steps=10_000_000)
        self.batch, self.poll = s.batch_size, poll
        self.runs_dir = tempfile.mkdtemp(prefix="gan-bench-runs-")
        self.snapshots = 0
        self.run = TrainingRun(self.config, runs_dir=self.runs_dir)
        t0 = time.perf_counter()
        self.run.start()
        self._wait(lambda snap: snap.status == "running" and snap.step >= s.warmup_steps, COMPILE_TIMEOUT)
        self.warmup_seconds = time.perf_counter() - t0
        self.config = self.run.snapshot().config  # with the precision and XLA choice the engine made
        self._pause()

    def _snapshot(self) -> Snapshot:
        snap = self.run.snapshot()
        self.snapshots += 1
        if not snap.active:
            why = snap.error or snap.end_reason
            raise RuntimeError(f"row c, preset {self.config.preset!r}: the run ended as {snap.status!r}: {why}")
        return snap

    def _wait(self, done: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        deadline = time.perf_counter() + timeout
        while not done(snap := self._snapshot()):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"row c, preset {self.config.preset!r}: still {snap.status!r} after {timeout:g} s")
            time.sleep(0.01)
        return snap

    def _pause(self) -> None:
        self.run.pause()
        self._wait(lambda snap: snap.status == "paused", 60.0)

    def window(self, seconds: float) -> Window:
        self.run.resume()
        first = self._wait(lambda snap: snap.status == "running" and snap.last_step_at is not None, 60.0)
        first = self._wait(lambda snap: snap.last_step_at != first.last_step_at, 60.0)  # a whole call
        cpu0, start = time.process_time(), time.perf_counter()
        next_poll = start
        while time.perf_counter() - start < seconds:  # snapshots as the Train page takes them
            next_poll += self.poll
            time.sleep(max(0.0, min(next_poll, start + seconds) - time.perf_counter()))
            last = self._snapshot()
        cpu = time.process_time() - cpu0
        self._pause()
        wall = last.last_step_at - first.last_step_at
        return Window((last.step - first.step) * self.batch, wall, cpu * wall / (time.perf_counter() - start))

    def note(self) -> str:
        c = self.config
        return (
            f"{c.precision}, ema={c.ema:g}; every {c.metrics_every}/{c.sample_every}/{c.checkpoint_every}/"
            f"{c.quality_every} steps: metrics/grid/checkpoint/quality; {self.snapshots} snapshots"
        )

    def close(self) -> None:
        try:
            self.run.stop(timeout=60.0)
            self.run.wait(120.0)  # the stop writes a checkpoint and exports the generator
            final = self.run.snapshot()
            if final.status != "stopped":
                raise RuntimeError(
                    f"row c, preset {self.config.preset!r}: the run ended as {final.status!r} "
                    f"when stopped: {final.error}"
                )
        finally:
            shutil.rmtree(self.runs_dir, ignore_errors=True)


# ------------------------------------------------------------------ d: the app, watched in a browser
def measure_in_browser(s: Settings, rounds: int) -> dict[str, Measurement]:
    """The demo run (the default preset, shown in the dense-bn column: the same networks) started from
    the Train page of the app served by `streamlit run`, in windows with the page open in headless
    chromium (polling once a second: row d; every 5 s: row d5) and with the browser on about:blank,
    nobody watching (row d0, the engine alone in the same app), taking turns.

    Figures come from the run's metrics.jsonl (steps, and the engine's clock); CPU is the app
    server's, read from /proc. Each window starts 3 s after the page opens or closes."""
    import json
    from pathlib import Path

    from tests.browser import app_button, chromium_page, studio_server, wait_until

    demo = TrainConfig().resolved()  # what "Start a demo run" trains (the default preset), whatever --batch-size says
    batch = demo.batch_size
    runs_dir = Path(tempfile.mkdtemp(prefix="gan-bench-app-"))
    settle = 3.0

    def records() -> list[dict]:
        files = list(runs_dir.glob("*/metrics.jsonl"))
        if not files:
            return []
        return [r for r in map(json.loads, files[0].read_text().splitlines()) if "d_loss" in r]

    def cpu_seconds(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    windows: dict[str, list[Window]] = {key: [] for key in BROWSER_ROWS}
    try:
        with studio_server(runs_dir) as server, chromium_page() as page:
            t0 = time.perf_counter()
            page.goto(server.url)
            page.get_by_role("button", name="Start a demo run").click()
            wait_until(lambda: len(records()) > 2, COMPILE_TIMEOUT, what="the first metrics")
            warmup = time.perf_counter() - t0

            def window(key: str, seconds: float) -> None:
                time.sleep(settle)
                first, cpu0 = records()[-1], cpu_seconds(server.pid)
                time.sleep(seconds)
                last, cpu1 = records()[-1], cpu_seconds(server.pid)
                wall = last["time"] - first["time"]
                if wall <= 0:
                    raise RuntimeError(
                        f"row {key}: the demo run recorded no metrics in a window; did it end? Use fewer --seconds"
                    )
                windows[key].append(
                    Window((last["step"] - first["step"]) * batch, wall, (cpu1 - cpu0) * wall / seconds)
                )

            def open_train_page(refresh: str | None = None) -> None:
                page.goto(server.url)  # the Train page of the live run, as a viewer opens it
                page.get_by_text("Samples from the fixed noise").first.wait_for(timeout=60_000)
                if refresh:
                    page.get_by_text(refresh, exact=True).click()

            for _ in range(rounds):
                page.goto("about:blank")  # nobody watching: the session ends, the run goes on
                window("d0", s.seconds / rounds)
                open_train_page()
                window("d", s.seconds / rounds)
                open_train_page(refresh="every 5 s")
                window("d5", s.seconds / rounds)
            app_button(page, "Stop").click()
            wait_until(lambda: page.get_by_text("Stopped at step").count() > 0, 120, what="the stop")
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)
    notes = {
        "d": "Train page open, live view every second (the default); cores: the app server's",
        "d5": "the same, the viewer's live view set to every 5 s",
        "d0": "the same run with the browser on about:blank, in turns with d and d5",
    }
    return {key: _measurement(w, warmup, notes[key], batch) for key, w in windows.items()}


# ------------------------------------------------------------------ the rows
ROWS: list[Row] = [
    Row("a", "seeds' loop (predict + 3x train_on_batch)", SeedLoop),
    Row("b0", "GAN.train_steps loop, ema=0 (no average)", functools.partial(GanStep, ema=0.0)),
    Row("b", "GAN.train_steps loop (defaults)", GanStep),
    Row("c", "TrainingRun + snapshot() every 0.5 s", EngineRun, window_scale=1.25),
]


def loss_key(loss: str) -> str:
    """The row that measures `loss`: the default family is row b itself."""
    return "b" if loss == TrainConfig().loss else f"b-{loss}"


def loss_rows(preset: str) -> list[Row]:
    """Row b with each loss family other than the default, for `preset` only."""
    from gan_core.losses import LOSSES

    return [
        Row(loss_key(name), f"GAN.train_steps loop, loss {name}", functools.partial(GanStep, loss=name), only=preset)
        for name in LOSSES
        if loss_key(name) != "b"
    ]


def headline_preset(presets: Sequence[str]) -> str:
    """The preset of the summary's c/b and of the loss rows: dense-bn, the default, when measured."""
    default = TrainConfig().preset
    return default if default in presets else presets[0]


# With --browser: the demo run in the app, with and without the Train page open (default preset only).
BROWSER_ROWS = {
    "d": "the app's run, Train page open in chromium",
    "d5": "the same, live view every 5 s",
    "d0": "the app's run, no browser",
}


def _config(preset: str, batch_size: int, **overrides) -> TrainConfig:
    """TrainConfig defaults (as the app would start them) for `preset` at `batch_size`."""
    return TrainConfig(preset=preset, dataset=DATASET, batch_size=batch_size, **overrides).resolved()


def _timed(step: Callable[[], None], seconds: float) -> tuple[int, float, float]:
    """Run `step` until `seconds` have passed; return (steps run, wall seconds, CPU seconds of this process)."""
    steps = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        step()
        steps += 1
        if time.perf_counter() >= deadline:
            break
    return steps, time.perf_counter() - t0, time.process_time() - cpu0


def _measurement(windows: Sequence[Window], warmup: float, note: str, batch_size: int = 1) -> Measurement:
    """The median window's rate (robust to one disturbed window) and the totals."""
    rates = tuple(w.rate for w in windows)
    images = sum(w.images for w in windows)
    seconds = sum(w.seconds for w in windows)
    cpu = sum(w.cpu_seconds for w in windows)
    return Measurement(float(np.median(rates)), images // batch_size, seconds, warmup, cpu / seconds, note, rates)


def run_rows(
    rows: Sequence[Row],
    presets: Sequence[str],
    batch_size: int,
    seconds: float,
    warmup_steps: int,
    rounds: int = 1,
    report: Callable[[str], None] = print,
) -> dict[tuple[str, str], Measurement]:
    """Every row for every preset: set all rows up, then `rounds` rounds of one window per row,
    each row `seconds * window_scale / rounds` long; {(row key, preset): Measurement}."""
    import keras

    results: dict[tuple[str, str], Measurement] = {}
    all_rows = rows
    for preset in presets:
        rows = [row for row in all_rows if row.measures(preset)]
        settings = Settings(batch_size, seconds, warmup_steps)
        meters: dict[str, Meter] = {}
        windows: dict[str, list[Window]] = {}
        try:
            for row in rows:
                report(f"  setting up {row.key} ({row.name}) for {preset} ...")
                meters[row.key] = row.setup(preset, settings)
                windows[row.key] = []
            for i in range(rounds):
                line = []
                for row in rows:
                    w = meters[row.key].window(seconds * row.window_scale / rounds)
                    windows[row.key].append(w)
                    line.append(f"{row.key} {w.rate:,.0f}")
                report(f"    {preset} round {i + 1}/{rounds}, img/s: " + ", ".join(line))
            for row in rows:
                m = meters[row.key]
                results[row.key, preset] = _measurement(windows[row.key], m.warmup_seconds, m.note(), batch_size)
        finally:
            for m in meters.values():
                m.close()
            # Free this preset's models before the next one, so presets do not share memory or graphs.
            keras.backend.clear_session()
            gc.collect()
    return results


# ------------------------------------------------------------------ report
def ratio(results: dict[tuple[str, str], Measurement], top: str, bottom: str, preset: str) -> float:
    """top/bottom: the median of the ratios of windows measured in turn, else of the two figures."""
    t, b = results[top, preset], results[bottom, preset]
    if t.rates and len(t.rates) == len(b.rates):
        return float(np.median([x / y for x, y in zip(t.rates, b.rates, strict=True)]))
    return t.images_per_second / b.images_per_second


def summary_line(b_over_a: dict[str, float], c_over_b: float) -> str:
    """`b/a dense=<x> dcgan=<y> c/b=<z>`: b/a per preset in the given order, then one c/b."""
    parts = [f"{SHORT_NAMES.get(p, p)}={x:.2f}" for p, x in b_over_a.items()]
    return f"b/a {' '.join(parts)} c/b={c_over_b:.2f}"


def report_lines(rows: Sequence[Row], presets: Sequence[str], results: dict[tuple[str, str], Measurement]) -> list[str]:
    """The table, the ratios, the loss families' table and line, and the summary line last."""
    rows = [*rows, *(Row(key, name, None) for key, name in BROWSER_ROWS.items())]
    name_width = max(len(f"{r.key}  {r.name}") for r in rows)
    preset_width = max(6, *(len(p) for p in presets))
    header = (
        f"{'row':<{name_width}}  {'preset':<{preset_width}}  {'img/s':>9}  {'steps':>7}  {'window s':>8}  "
        f"{'cores':>5}  {'CPU ms/step':>11}  {'warm-up s':>9}  note"
    )
    lines = [header, "-" * len(header)]
    for preset in presets:
        for r in rows:
            if (r.key, preset) not in results:
                continue
            m = results[r.key, preset]
            lines.append(
                f"{r.key + '  ' + r.name:<{name_width}}  {preset:<{preset_width}}  {m.images_per_second:>9,.0f}  "
                f"{m.steps:>7}  {m.seconds:>8.1f}  {m.cpu_cores:>5.2f}  {m.cpu_ms_per_step:>11.1f}  "
                f"{m.warmup_seconds:>9.1f}  {m.note}"
            )
    lines.append(
        f"cores: CPU seconds this process used per second of its window, of {os.cpu_count()}. Low means waiting "
        "(row a's predict() partly waits) or other processes holding the CPUs: then the figure is depressed."
    )
    lines.append("img/s counts generator-step images, batch_size a step, in every row.")
    headline = headline_preset(presets)
    keys = {key for key, _ in results}
    lines.append("")
    for p in presets:
        if {("a", p), ("b", p), ("c", p)} <= results.keys():
            # The same ratios in CPU time per step, as a cross-check when the machine was busy.
            b_a, c_b = ratio(results, "b", "a", p), ratio(results, "c", "b", p)
            lines.append(
                f"{p:<{preset_width}}  b/a = {b_a:.2f}   c/b = {c_b:.2f}   (by CPU ms/step: "
                f"b/a = {cpu_ratio(results, 'b', 'a', p):.2f}, c/b = {cpu_ratio(results, 'c', 'b', p):.2f})"
            )
        if {("b", p), ("b0", p)} <= results.keys():
            b_b0 = ratio(results, "b", "b0", p)
            lines.append(
                f"{p:<{preset_width}}  b/b0 = {b_b0:.2f} (by CPU ms/step: {cpu_ratio(results, 'b', 'b0', p):.2f}): "
                f"averaging G's weights (ema={TrainConfig().ema:g}) costs {1 - b_b0:.0%} of the step's img/s"
            )
    if ("d", headline) in results:
        lines.append(
            f"{headline}: browser watching / engine alone: d/d0 = {ratio(results, 'd', 'd0', headline):.2f} "
            f"(the same app run, in turns), d/c = {ratio(results, 'd', 'c', headline):.2f} (across processes); "
            f"with the live view every 5 s: d5/d0 = {ratio(results, 'd5', 'd0', headline):.2f}"
        )
    summary = {"a", "b", "c"} <= keys
    if summary:
        # c/b is the engine's overhead over its bare step; it shows most where steps are short, as in
        # dense-bn, the default preset.
        lines.append(f"c/b in the summary line is {headline}'s")
    lines.extend(loss_lines(results, headline))
    if summary:
        b_over_a = {p: ratio(results, "b", "a", p) for p in presets}
        lines.append(summary_line(b_over_a, ratio(results, "c", "b", headline)))
    return lines


def loss_lines(results: dict[tuple[str, str], Measurement], preset: str) -> list[str]:
    """Row b with every loss family on `preset`: a table and the `losses <preset> img/s: ...` line;
    nothing unless every family was measured."""
    from gan_core.losses import LOSSES

    keys = {name: loss_key(name) for name in LOSSES}
    if not all((key, preset) in results for key in keys.values()):
        return []
    lines = [
        "",
        (
            f"Loss families on {preset}: row b with each family at its defaults, in turns with the rows above. "
            "img/s counts generator-step images (batch_size a step), so a family's extra D updates lower it."
        ),
        f"{'loss':<8}  {'row':<9}  {'img/s':>9}  {'/ bce':>6}  D updates/step",
    ]
    for name, key in keys.items():
        m = results[key, preset]
        lines.append(
            f"{name:<8}  {key:<9}  {m.images_per_second:>9,.0f}  {ratio(results, key, 'b', preset):>6.2f}  "
            f"{LOSSES[name].defaults.d_updates}"
        )
    figures = " ".join(f"{name}={results[key, preset].images_per_second:.0f}" for name, key in keys.items())
    lines.append(f"losses {preset} img/s: {figures}")
    return lines


def cpu_ratio(results: dict[tuple[str, str], Measurement], top: str, bottom: str, preset: str) -> float:
    """top/bottom in speed measured by CPU time per step: bottom's CPU ms/step over top's."""
    return results[bottom, preset].cpu_ms_per_step / results[top, preset].cpu_ms_per_step


# ------------------------------------------------------------------ command line
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from gan_core.models import PRESETS

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench",
        description=__doc__.split("\n\n", 1)[0] + "\n\n" + __doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help=f"time each row trains, in --rounds windows; row c gets 1.25x "
        f"(default {DEFAULT_SECONDS:g}, --quick {QUICK_SECONDS:g})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"windows per row, the rows taking turns (default {DEFAULT_ROUNDS}, --quick 1)",
    )
    parser.add_argument(
        "--presets", default=",".join(DEFAULT_PRESETS), help="comma-separated presets (default %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default %(default)s)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny windows and warm-ups: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--losses",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add row b with each other loss family (minimax, lsgan, hinge, wgan-gp) on the headline preset, "
        "dense-bn: 4 more windows a round (default: on)",
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="add rows d, d5 and d0: the app's demo run with the Train page open in chromium, "
        "with its live view every 5 s, and with no page open",
    )
    args = parser.parse_args(argv)

    args.presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in args.presets if p not in PRESETS]
    if not args.presets or unknown:
        parser.error(f"unknown preset(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(PRESETS)}")
    if args.batch_size < 1 or args.batch_size > 4096:
        parser.error(f"--batch-size must be between 1 and 4096 (got {args.batch_size})")
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else DEFAULT_SECONDS
    if not (args.seconds > 0 and math.isfinite(args.seconds)):
        parser.error(f"--seconds must be a positive number (got {args.seconds})")
    if args.rounds is None:
        args.rounds = 1 if args.quick else DEFAULT_ROUNDS
    if not 1 <= args.rounds <= 100:
        parser.error(f"--rounds must be between 1 and 100 (got {args.rounds})")
    if args.browser and "dense-bn" not in args.presets:
        parser.error("--browser measures the demo run, which trains dense-bn: include it in --presets")
    args.warmup_steps = QUICK_WARMUP_STEPS if args.quick else WARMUP_STEPS
    return args


def _not_expected_retracing(record) -> bool:
    """Every row's GAN traces its own step once; TensorFlow counts the traces of one method across
    objects and warns of retracing from the fifth row on. Expected here, so not printed."""
    return "triggered tf.function retracing" not in record.getMessage()


def main(argv: Sequence[str] | None = None, rows: Sequence[Row] = ROWS) -> dict[tuple[str, str], Measurement]:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    tf.get_logger().addFilter(_not_expected_retracing)

    def say(text: str) -> None:
        print(text, flush=True)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(
        f"GAN Studio throughput on {DATASET}, batch {args.batch_size}: keras {keras.__version__}, "
        f"tensorflow {tf.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}"
    )
    if args.losses:
        rows = [*rows, *loss_rows(headline_preset(args.presets))]
    t0 = time.perf_counter()
    results = run_rows(
        rows, args.presets, args.batch_size, args.seconds, args.warmup_steps, rounds=args.rounds, report=say
    )
    if args.browser:
        say(
            f"  measuring d0, d and d5 (the app's demo run without and with the Train page open, in turns) "
            f"over {args.seconds:g} s each ..."
        )
        settings = Settings(args.batch_size, args.seconds, args.warmup_steps)
        for key, m in measure_in_browser(settings, args.rounds).items():
            results[key, "dense-bn"] = m
    say(f"  all rows took {time.perf_counter() - t0:.0f} s\n")
    for line in report_lines(rows, args.presets, results):
        say(line)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
