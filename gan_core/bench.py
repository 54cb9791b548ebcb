"""Throughput benchmark: images per second of the seeds' Keras loop, our GAN step, and our engine.

    python -m gan_core.bench [--seconds 20] [--presets dense-bn,dcgan] [--batch-size 64] [--quick]

Rows, each measured for every preset, one after another in this process, on mnist-sample:

  a  the seeds' loop (001/003) ported to Keras 3: G.predict, D.train_on_batch on real and on fake,
     combined.train_on_batch, with D.trainable toggled so that D really trains (checked once)
  b  our `GAN.train_steps` over `make_dataset` batches, 25 steps a call, `read_metrics()` after each
  c  our `TrainingRun` thread with its default sample/metrics/checkpoint intervals, while another
     thread calls `run.snapshot()` every 0.5 s as the Train page does

Compile and warm-up are excluded; each row then trains for a fixed wall time window (`--seconds`
for a and b, 1.25x that for c). The last line is `b/a dense=<x> dcgan=<y> c/b=<z>`.

This is a script that prints figures, not a test: they depend on the machine and on whatever
else it runs, so compare figures from one run, never across machines.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gan_core.config import TrainConfig

DEFAULT_PRESETS = ("dense-bn", "dcgan")
DEFAULT_SECONDS = 20.0
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
    key: str  # short name used in the ratios: "a", "b", "c"
    name: str  # what the row measures, as printed in the table
    measure: Callable[[str, Settings], Measurement]  # (preset, settings) -> Measurement
    window_scale: float = 1.0  # this row's window is window_scale * --seconds
    only_preset: str | None = None  # measured for this preset alone


# ------------------------------------------------------------------ a: the seeds' loop
def measure_seed_loop(preset: str, s: Settings) -> Measurement:
    """The seeds' Keras 2 loop, ported to Keras 3 so that it trains what it claims to train.

    Keras 3 fixes a model's trainable variables when its train function is first built, at its
    first train_on_batch, not at compile(). So D.trainable must be True at D's first
    train_on_batch and False at combined's first one; toggling it around every call gives
    exactly that (the seeds set it False once, which ported literally freezes D for good).
    The first step checks it by comparing weights.
    """
    import keras

    from gan_core.data import load_images
    from gan_core.models import PRESETS, build_models

    p = PRESETS[preset]
    keras.utils.set_random_seed(0)
    generator, discriminator = build_models(preset, LATENT_DIM, IMAGE_SHAPE)
    discriminator.compile(
        optimizer=keras.optimizers.Adam(p.d_learning_rate, beta_1=p.beta_1),
        loss=keras.losses.BinaryCrossentropy(from_logits=p.from_logits),
    )
    z = keras.Input((LATENT_DIM,))
    discriminator.trainable = False  # as the seeds do; what counts is the flag at the first train_on_batch
    combined = keras.Model(z, discriminator(generator(z)))
    combined.compile(
        optimizer=keras.optimizers.Adam(p.g_learning_rate, beta_1=p.beta_1),
        loss=keras.losses.BinaryCrossentropy(from_logits=p.from_logits),
    )

    x_train = np.asarray(load_images(DATASET))
    rng = np.random.default_rng(0)
    batch = s.batch_size
    ones, zeros = np.ones((batch, 1), np.float32), np.zeros((batch, 1), np.float32)

    predict_seconds = 0.0  # Keras 3's predict() sets up a data pipeline per call; worth knowing its share

    def train_discriminator() -> None:
        nonlocal predict_seconds
        real = x_train[rng.integers(0, len(x_train), batch)]
        noise = rng.normal(0.0, 1.0, (batch, LATENT_DIM)).astype(np.float32)
        t = time.perf_counter()
        gen_imgs = generator.predict(noise, verbose=0)
        predict_seconds += time.perf_counter() - t
        discriminator.trainable = True
        discriminator.train_on_batch(real, ones)
        discriminator.train_on_batch(gen_imgs, zeros)

    def train_generator() -> None:
        discriminator.trainable = False
        noise2 = rng.normal(0.0, 1.0, (batch, LATENT_DIM)).astype(np.float32)
        combined.train_on_batch(noise2, ones)

    def step() -> None:
        # Train the discriminator
        train_discriminator()
        # Train the generator (do not update the discriminator's weights)
        train_generator()

    t0 = time.perf_counter()
    # The first step, phase by phase: D must move when D trains, and only G when combined trains.
    before_d, before_g = _weights(discriminator), _weights(generator)
    train_discriminator()
    after_d = _weights(discriminator)
    if _same(before_d, after_d):
        raise RuntimeError("seed loop: D.train_on_batch left D's weights unchanged, so D does not train")
    train_generator()
    if not _same(after_d, _weights(discriminator)):
        raise RuntimeError("seed loop: combined.train_on_batch changed D's weights; D must be frozen there")
    if _same(before_g, _weights(generator)):
        raise RuntimeError("seed loop: combined.train_on_batch left G's weights unchanged, so G does not train")
    for _ in range(s.warmup_steps - 1):
        step()
    warmup = time.perf_counter() - t0

    predict_seconds = 0.0
    steps, seconds, cpu = _timed(step, s.seconds)
    share = predict_seconds / seconds
    note = f"Keras jit_compile={discriminator.jit_compile} (its CPU default); predict() {share:.0%} of the time"
    return Measurement(steps * batch / seconds, steps, seconds, warmup, cpu / seconds, note)


def _weights(model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.weights]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------ b: our GAN step
def measure_gan_step(preset: str, s: Settings) -> Measurement:
    """`GAN.train_steps` over tf.data batches, a metrics interval a call, then `read_metrics()` as the engine does."""
    from gan_core.data import load_images, make_dataset
    from gan_core.gan import build_gan

    config = _config(preset, s.batch_size)
    gan = build_gan(config, IMAGE_SHAPE)
    batches = iter(make_dataset(load_images(DATASET), config.batch_size * config.d_steps, config.seed))

    def step() -> None:
        # As the engine does: a metrics interval of steps in one call to the graph, then a read.
        gan.train_steps(batches, config.metrics_every)
        gan.read_metrics()

    t0 = time.perf_counter()
    step()
    warmup = time.perf_counter() - t0

    calls, seconds, cpu = _timed(step, s.seconds)
    steps = calls * config.metrics_every
    note = f"jit_compile={config.jit_compile}"
    return Measurement(steps * s.batch_size / seconds, steps, seconds, warmup, cpu / seconds, note)


# ------------------------------------------------------------------ c: our engine, polled
def measure_training_run(preset: str, s: Settings, poll: float = POLL_SECONDS) -> Measurement:
    """A `TrainingRun` as the app starts it, read through `snapshot()` every `poll` seconds.

    The figure is the snapshot's step counter between the first snapshot after the compile
    (status 'running') and the first one at least the window later, so every per-step cost of
    the engine is inside it: metrics records, sample grids, checkpoints, the lock.
    """
    from gan_core.engine import TrainingRun

    # The engine's default intervals; steps only so high that the run cannot finish inside the window.
    config = _config(preset, s.batch_size, steps=10_000_000)
    runs_dir = tempfile.mkdtemp(prefix="gan-bench-runs-")
    marks: list[tuple[float, int, str]] = []  # (time, step, status) of every snapshot taken
    window: list[tuple[float, int, float]] = []  # (time, step, CPU time): the two moments measured between
    problem: list[str] = []
    done = threading.Event()
    run = TrainingRun(config, runs_dir=runs_dir)

    def poll_snapshots() -> None:
        next_poll = time.perf_counter()
        deadline = next_poll + COMPILE_TIMEOUT
        while not done.is_set():
            snap = run.snapshot()
            now, cpu = time.perf_counter(), time.process_time()
            marks.append((now, snap["step"], snap["status"]))
            if snap["status"] == "running":
                if not window:
                    window.append((now, snap["step"], cpu))
                elif now - window[0][0] >= s.seconds:
                    window.append((now, snap["step"], cpu))
                    return
            elif snap["status"] not in ("created", "compiling"):
                why = snap["error"] or snap["end_reason"]
                problem.append(f"run ended as {snap['status']!r} before the window closed: {why}")
                return
            elif now > deadline:
                problem.append(f"run still {snap['status']!r} after {COMPILE_TIMEOUT:g} s")
                return
            next_poll += poll
            done.wait(max(0.0, next_poll - time.perf_counter()))

    poller = threading.Thread(target=poll_snapshots, name="bench-snapshots", daemon=True)
    t0 = time.perf_counter()
    try:
        run.start()
        poller.start()
        poller.join()
        engine_rate = run.snapshot()["images_per_second"]
    finally:
        done.set()
        if poller.is_alive():
            poller.join()
        run.stop(timeout=60.0)
        run.wait(120.0)  # the stop writes a checkpoint and exports the generator
        shutil.rmtree(runs_dir, ignore_errors=True)
    if problem:
        raise RuntimeError(f"row c, preset {preset!r}: {problem[0]}")
    final = run.snapshot()
    if final["status"] != "stopped":
        raise RuntimeError(
            f"row c, preset {preset!r}: the run ended as {final['status']!r} when stopped: {final['error']}"
        )

    (t_start, s_start, cpu_start), (t_end, s_end, cpu_end) = window
    seconds, steps = t_end - t_start, s_end - s_start
    every = f"{config.metrics_every}/{config.sample_every}/{config.checkpoint_every}"
    note = f"every {every} steps: metrics/grid/checkpoint; {len(marks)} snapshots"
    if engine_rate:
        note += f"; engine's own figure {engine_rate:.0f} img/s"
    cores = (cpu_end - cpu_start) / seconds
    return Measurement(steps * s.batch_size / seconds, steps, seconds, t_start - t0, cores, note)


# ------------------------------------------------------------------ d: the app, watched in a browser
def measure_in_browser(preset: str, s: Settings) -> Measurement:
    """The demo run started from the Train page, with the page open (polling once a second) in
    headless chromium. The figure comes from the run's metrics.jsonl (steps and time since start),
    over the window after the compile; CPU is the app server's, read from /proc."""
    import json
    from pathlib import Path

    from tests.browser import chromium_page, studio_server, wait_until

    if preset != TrainConfig().preset:
        raise RuntimeError(f"row d starts the demo run, which trains {TrainConfig().preset!r}, not {preset!r}")
    runs_dir = Path(tempfile.mkdtemp(prefix="gan-bench-app-"))

    def records() -> list[dict]:
        files = list(runs_dir.glob("*/metrics.jsonl"))
        if not files:
            return []
        return [r for r in map(json.loads, files[0].read_text().splitlines()) if "d_loss" in r]

    def cpu_seconds(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        with studio_server(runs_dir) as server, chromium_page() as page:
            t0 = time.perf_counter()
            page.goto(server.url)
            page.get_by_role("button", name="Start a demo run").click()
            first = wait_until(lambda: records()[-1] if records() else None, COMPILE_TIMEOUT, what="the first metrics")
            warmup, cpu0 = time.perf_counter() - t0, cpu_seconds(server.pid)
            time.sleep(s.seconds)
            last, cpu1 = records()[-1], cpu_seconds(server.pid)
            page.get_by_role("button", name="Stop").click()
            wait_until(lambda: page.get_by_text("Stopped at step").count() > 0, 120, what="the stop")
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)
    seconds, steps = last["time"] - first["time"], last["step"] - first["step"]
    note = "the app's own run, Train page open in chromium; cores: the app server's"
    return Measurement(steps * s.batch_size / seconds, steps, seconds, warmup, (cpu1 - cpu0) / s.seconds, note)


# ------------------------------------------------------------------ the rows
ROWS: list[Row] = [
    Row("a", "seeds' loop (predict + 3x train_on_batch)", measure_seed_loop),
    Row("b", "GAN.train_steps loop", measure_gan_step),
    Row("c", "TrainingRun + snapshot() every 0.5 s", measure_training_run, window_scale=1.25),
]
# With --browser: the demo run in the app with the Train page open in chromium (default preset only).
BROWSER_ROW = Row(
    "d", "the app's run, Train page open in chromium", measure_in_browser, window_scale=1.25, only_preset="dense-bn"
)


def _config(preset: str, batch_size: int, **overrides) -> TrainConfig:
    """TrainConfig defaults (as the app would start them) for `preset` at `batch_size`."""
    return TrainConfig(preset=preset, dataset=DATASET, batch_size=batch_size, **overrides).resolved()


def _timed(
    step: Callable[[], None], seconds: float, finish: Callable[[], object] | None = None
) -> tuple[int, float, float]:
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
    if finish is not None:
        finish()
    return steps, time.perf_counter() - t0, time.process_time() - cpu0


def run_rows(
    rows: Sequence[Row],
    presets: Sequence[str],
    batch_size: int,
    seconds: float,
    warmup_steps: int,
    report: Callable[[str], None] = print,
) -> dict[tuple[str, str], Measurement]:
    """Measure every row for every preset, strictly one after another; {(row key, preset): Measurement}."""
    import keras

    results: dict[tuple[str, str], Measurement] = {}
    for preset in presets:
        for row in rows:
            if row.only_preset not in (None, preset):
                continue
            settings = Settings(batch_size, seconds * row.window_scale, warmup_steps)
            report(f"  measuring {row.key} ({row.name}) for {preset} over {settings.seconds:g} s ...")
            results[row.key, preset] = m = row.measure(preset, settings)
            report(
                f"    {m.images_per_second:,.0f} img/s  ({m.steps} steps in {m.seconds:.1f} s, "
                f"{m.cpu_cores:.2f} cores busy; warm-up {m.warmup_seconds:.1f} s)"
            )
            # Free this row's models before the next one, so rows do not share memory or graphs.
            keras.backend.clear_session()
            gc.collect()
    return results


# ------------------------------------------------------------------ report
def ratio(results: dict[tuple[str, str], Measurement], top: str, bottom: str, preset: str) -> float:
    return results[top, preset].images_per_second / results[bottom, preset].images_per_second


def summary_line(b_over_a: dict[str, float], c_over_b: float) -> str:
    """`b/a dense=<x> dcgan=<y> c/b=<z>`: b/a per preset in the given order, then one c/b."""
    parts = [f"{SHORT_NAMES.get(p, p)}={x:.2f}" for p, x in b_over_a.items()]
    return f"b/a {' '.join(parts)} c/b={c_over_b:.2f}"


def report_lines(rows: Sequence[Row], presets: Sequence[str], results: dict[tuple[str, str], Measurement]) -> list[str]:
    """The table, the ratios, and the summary line last."""
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
    keys = {r.key for r in rows}
    if not {"a", "b", "c"} <= keys:
        return lines
    lines.append("")
    b_over_a = {p: ratio(results, "b", "a", p) for p in presets}
    c_over_b = {p: ratio(results, "c", "b", p) for p in presets}
    for p in presets:
        # The same ratios in CPU time per step, as a cross-check when the machine was busy.
        cpu_b_a = results["a", p].cpu_ms_per_step / results["b", p].cpu_ms_per_step
        cpu_c_b = results["b", p].cpu_ms_per_step / results["c", p].cpu_ms_per_step
        lines.append(
            f"{p:<{preset_width}}  b/a = {b_over_a[p]:.2f}   c/b = {c_over_b[p]:.2f}   "
            f"(by CPU ms/step: b/a = {cpu_b_a:.2f}, c/b = {cpu_c_b:.2f})"
        )
    # c/b is the engine's overhead over its bare step; it shows most where steps are short, as in
    # dense-bn, the default preset.
    headline = "dense-bn" if "dense-bn" in presets else presets[0]
    if ("d", headline) in results:
        lines.append(
            f"{headline}: browser watching / engine alone: d/c = {ratio(results, 'd', 'c', headline):.2f}, "
            f"d/b = {ratio(results, 'd', 'b', headline):.2f}"
        )
    lines.append(f"c/b in the summary line is {headline}'s")
    lines.append(summary_line(b_over_a, c_over_b[headline]))
    return lines


# ------------------------------------------------------------------ command line
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from gan_core.models import PRESETS

    parser = argparse.ArgumentParser(
        prog="python -m gan_core.bench",
        description="Images per second of the seeds' Keras loop (a), our GAN step (b) "
        "and our engine polled like the Train page (c).",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help=f"window of rows a and b; row c gets 1.25x (default {DEFAULT_SECONDS:g}, --quick {QUICK_SECONDS:g})",
    )
    parser.add_argument(
        "--presets", default=",".join(DEFAULT_PRESETS), help="comma-separated presets (default %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default %(default)s)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny windows and warm-ups: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--browser", action="store_true", help="add row d: the app's demo run with the Train page open in chromium"
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
    args.warmup_steps = QUICK_WARMUP_STEPS if args.quick else WARMUP_STEPS
    return args


def main(argv: Sequence[str] | None = None, rows: Sequence[Row] = ROWS) -> dict[tuple[str, str], Measurement]:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    def say(text: str) -> None:
        print(text, flush=True)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(
        f"GAN Studio throughput on {DATASET}, batch {args.batch_size}: keras {keras.__version__}, "
        f"tensorflow {tf.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}"
    )
    t0 = time.perf_counter()
    if args.browser:
        rows = [*rows, BROWSER_ROW]
    results = run_rows(rows, args.presets, args.batch_size, args.seconds, args.warmup_steps, report=say)
    say(f"  all rows took {time.perf_counter() - t0:.0f} s\n")
    for line in report_lines(rows, args.presets, results):
        say(line)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
