"""GPU throughput: images per second of our GAN step, float32 against mixed precision, XLA on and off.

    python -m benchmarks.gpu [--presets dense-bn-aug,dcgan,dcgan-32] [--batch-sizes 64,256]
                             [--precisions float32,mixed_float16,mixed_bfloat16] [--xla on,off]
                             [--seconds 3] [--rounds 3] [--out gpu.json] [--quick] [--logical-cpus N]

For each preset and batch size, one group of rows: every precision with XLA on and off, on one
device (the first GPU, else the CPU), then, where there is more than one GPU, every precision
mirrored over all of them (tf.distribute.MirroredStrategy, the batch per replica, so the global
batch is batch x GPUs; under a strategy the step is never XLA-compiled, see gan.py). Each row
trains `GAN.train_steps` over `make_dataset` batches, 25 steps a call and `read_metrics()` after
each, as the engine does: the one-device rows' batches wait on the GPU (prefetch_to_device).

The data is random and in memory, no download (a GPU machine may have no internet): 28x28x1 for
the dense presets (mnist-shaped), 32x32x3 for the DCGANs (cifar10-shaped). img/s counts generator
steps' images. A group's rows are built and warmed up first (compile excluded), then take turns,
a window each, for --rounds rounds: each figure is the median window, and the rows of a group see
the same drift of the machine. After each group the table so far is written to --out (JSON), so a
run cut short by a time limit leaves what it measured.

Roughly 20-40 s a row on a GPU (compile and warm-up, then --rounds x --seconds); narrow the grid
with the flags for a short session (--presets dcgan-32 --batch-sizes 256: 6 rows).
`--quick` (the tiny preset, batch 16, 2 steps a call, 0.2 s windows) proves every row runs on a
CPU; its figures mean nothing. `--logical-cpus 2` splits the CPU into two devices first, so that
the mirrored rows run on a machine without GPUs too.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.bench import Window, _timed

DEFAULT_PRESETS = ("dense-bn-aug", "dcgan", "dcgan-32")
DEFAULT_BATCH_SIZES = (64, 256)
QUICK_PRESETS = ("tiny",)
QUICK_BATCH_SIZES = (16,)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_SECONDS, QUICK_SECONDS = 3.0, 0.2
DEFAULT_ROUNDS, QUICK_ROUNDS = 3, 1
STEPS_PER_CALL, QUICK_STEPS_PER_CALL = 25, 2  # the engine's metrics interval: one graph call, then a read
WARMUP_CALLS, QUICK_WARMUP_CALLS = 3, 1  # the first traces and compiles; the rest let the GPU's clocks settle
IMAGES = 4096  # synthetic images per dataset; a mirrored row's global batch must fit in it
LATENT_DIM = 100
MNIST_SHAPE, CIFAR10_SHAPE = (28, 28, 1), (32, 32, 3)


@dataclass(frozen=True)
class Variant:
    preset: str
    batch_size: int  # per replica
    precision: str
    jit_compile: bool
    replicas: int = 1  # > 1: mirrored over that many devices

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.replicas

    @property
    def label(self) -> str:
        where = f"mirrored x{self.replicas}" if self.replicas > 1 else "1 device"
        xla = "n/a" if self.replicas > 1 else ("on" if self.jit_compile else "off")
        return f"{self.preset:<12}  {self.batch_size:>5}  {self.precision:<14}  {xla:<4}  {where:<12}"


@dataclass(frozen=True)
class Result:
    preset: str
    image_shape: tuple[int, int, int]
    batch_size: int  # per replica
    global_batch: int
    replicas: int
    precision: str
    jit_compile: bool | None  # None: under a strategy, where the step is not XLA-compiled
    images_per_second: float  # the median window's
    rates: tuple[float, ...]  # every window's img/s, in turn with the group's other rows
    steps: int
    seconds: float
    warmup_seconds: float
    note: str = ""


def image_shape(preset: str) -> tuple[int, int, int]:
    return CIFAR10_SHAPE if preset.startswith("dcgan") else MNIST_SHAPE


class StepMeter:
    """One row: a GAN built (in the strategy's scope when mirrored), warmed up, ready for windows."""

    def __init__(self, v: Variant, images: np.ndarray, steps_per_call: int, warmup_calls: int, strategy=None):
        from gan_core.config import TrainConfig
        from gan_core.data import make_dataset
        from gan_core.gan import build_gan

        self.variant, self.steps_per_call = v, steps_per_call
        config = TrainConfig(
            preset=v.preset,  # the dataset setting is never read: the data is `images`
            batch_size=v.global_batch,
            precision=v.precision,
            jit_compile=v.jit_compile,
            strategy="mirrored" if strategy is not None else "auto",
        ).resolved()
        t0 = time.perf_counter()
        if strategy is None:
            self.gan = build_gan(config, images.shape[1:])
            self.batches = iter(make_dataset(images, v.global_batch, config.seed))  # onto the GPU
        else:
            with strategy.scope():
                self.gan = build_gan(config, images.shape[1:], strategy=strategy)
            dataset = make_dataset(images, v.global_batch, config.seed, to_device=False)
            self.batches = iter(strategy.experimental_distribute_dataset(dataset))
        for _ in range(warmup_calls):
            self.step()
        self.warmup_seconds = time.perf_counter() - t0

    def step(self) -> None:
        self.gan.train_steps(self.batches, self.steps_per_call)
        metrics = self.gan.read_metrics()  # pulls from the device: the steps have run, not just been queued
        if not all(math.isfinite(x) for x in metrics.values()):
            raise RuntimeError(f"{self.variant}: a loss is not finite: {metrics}")

    def window(self, seconds: float) -> Window:
        calls, wall, cpu = _timed(self.step, seconds)
        return Window(calls * self.steps_per_call * self.variant.global_batch, wall, cpu)

    def note(self) -> str:
        """The loss scales a float16 row ended with: halved once per skipped step, from 32768."""
        g, d = (getattr(o, "dynamic_scale", None) for o in (self.gan.g_optimizer, self.gan.d_optimizer))
        return "" if g is None else f"loss scale G {float(g.numpy()):g}, D {float(d.numpy()):g}"


def groups(args: argparse.Namespace, replicas: int) -> list[list[Variant]]:
    """One group a (preset, batch size): its one-device rows, then its mirrored rows when replicas > 1."""
    out = []
    for preset in args.presets:
        for batch in args.batch_sizes:
            group = [Variant(preset, batch, p, xla) for p in args.precisions for xla in args.xla]
            if replicas > 1:
                group += [Variant(preset, batch, p, False, replicas) for p in args.precisions]
            out.append(group)
    return out


def measure_group(
    group: Sequence[Variant], args: argparse.Namespace, strategy, say: Callable[[str], None]
) -> list[Result]:
    """Build and warm up every row of `group`, then windows in turns; each row's median window."""
    rng = np.random.default_rng(0)
    shape = image_shape(group[0].preset)
    images = rng.uniform(-1.0, 1.0, (IMAGES, *shape)).astype(np.float32)
    meters = []
    for v in group:
        say(f"  building and warming up  {v.label}")
        meters.append(
            StepMeter(v, images, args.steps_per_call, args.warmup_calls, strategy if v.replicas > 1 else None)
        )
    for meter in meters:  # each row's first call after the others were built takes longer (0.15 s on a CPU)
        meter.step()
    windows: list[list[Window]] = [[] for _ in meters]
    for _ in range(args.rounds):
        for meter, taken in zip(meters, windows):
            taken.append(meter.window(args.seconds))
    results = []
    for v, meter, taken in zip(group, meters, windows):
        rates = tuple(w.rate for w in taken)
        images_done = sum(w.images for w in taken)
        results.append(
            Result(
                preset=v.preset,
                image_shape=shape,
                batch_size=v.batch_size,
                global_batch=v.global_batch,
                replicas=v.replicas,
                precision=v.precision,
                jit_compile=None if v.replicas > 1 else v.jit_compile,
                images_per_second=float(np.median(rates)),
                rates=rates,
                steps=images_done // v.global_batch,
                seconds=sum(w.seconds for w in taken),
                warmup_seconds=meter.warmup_seconds,
                note=meter.note(),
            )
        )
    del meters
    gc.collect()
    return results


HEADER = (
    f"{'preset':<12}  {'batch':>5}  {'precision':<14}  {'XLA':<4}  {'where':<12}  "
    f"{'img/s':>10}  {'vs f32':>6}  {'warm-up s':>9}  note"
)


def table_lines(results: Sequence[Result]) -> list[str]:
    """The table: one line a row, with its speed-up over float32 without XLA on the same devices."""
    base = {
        (r.preset, r.batch_size, r.replicas): r.images_per_second
        for r in results
        if r.precision == "float32" and not r.jit_compile
    }
    lines = [HEADER, "-" * len(HEADER)]
    for r in results:
        v = Variant(r.preset, r.batch_size, r.precision, bool(r.jit_compile), r.replicas)
        b = base.get((r.preset, r.batch_size, r.replicas))
        speedup = f"{r.images_per_second / b:>5.2f}x" if b else f"{'':>6}"
        lines.append(f"{v.label}  {r.images_per_second:>10,.0f}  {speedup}  {r.warmup_seconds:>9.1f}  {r.note}")
    return lines


def machine() -> dict:
    """What ran the benchmark: versions, devices, and the precision `for_this_machine` picks here."""
    import keras
    import tensorflow as tf

    from gan_core.models import gpu_compute_capability, gpu_precision

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    capability = gpu_compute_capability()
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "gpus": names,
        "compute_capability": list(capability) if capability else None,
        "default_precision": gpu_precision(capability) if capability else None,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from gan_core.models import PRESETS

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu",
        description=__doc__.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--presets", default=None, help=f"comma-separated (default {','.join(DEFAULT_PRESETS)})")
    parser.add_argument(
        "--batch-sizes",
        default=None,
        help=f"comma-separated, per device (default {','.join(map(str, DEFAULT_BATCH_SIZES))})",
    )
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated (default %(default)s)")
    parser.add_argument("--xla", default="on,off", help="on, off or on,off (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=None, help=f"one window (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--rounds", type=int, default=None, help=f"windows per row (default {DEFAULT_ROUNDS})")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here too")
    parser.add_argument("--quick", action="store_true", help="tiny preset and windows: a smoke test, not a measurement")
    parser.add_argument(
        "--logical-cpus",
        type=int,
        default=None,
        help="split the CPU into this many devices first (mirrored rows without a GPU)",
    )
    args = parser.parse_args(argv)

    def listed(text: str | None, default: Sequence, kind=str) -> list:
        if text is None:
            return list(default)
        try:
            return [kind(x.strip()) for x in text.split(",") if x.strip()]
        except ValueError:
            parser.error(f"not a comma-separated list of {kind.__name__}: {text!r}")

    args.presets = listed(args.presets, QUICK_PRESETS if args.quick else DEFAULT_PRESETS)
    unknown = [p for p in args.presets if p not in PRESETS]
    if not args.presets or unknown:
        parser.error(f"unknown preset(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(PRESETS)}")
    args.batch_sizes = listed(args.batch_sizes, QUICK_BATCH_SIZES if args.quick else DEFAULT_BATCH_SIZES, int)
    if not args.batch_sizes or not all(1 <= b <= IMAGES // 8 for b in args.batch_sizes):
        parser.error(f"--batch-sizes must be between 1 and {IMAGES // 8} (got {args.batch_sizes})")
    args.precisions = listed(args.precisions, PRECISIONS)
    if not args.precisions or not set(args.precisions) <= set(PRECISIONS):
        parser.error(f"--precisions: choose from {', '.join(PRECISIONS)} (got {args.precisions})")
    xla = listed(args.xla, ())
    if not xla or not set(xla) <= {"on", "off"}:
        parser.error(f"--xla: on, off or on,off (got {args.xla!r})")
    args.xla = [x == "on" for x in xla]
    args.seconds = args.seconds or (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    if not (args.seconds > 0 and math.isfinite(args.seconds)) or not 1 <= args.rounds <= 100:
        parser.error("--seconds must be positive and --rounds between 1 and 100")
    args.steps_per_call = QUICK_STEPS_PER_CALL if args.quick else STEPS_PER_CALL
    args.warmup_calls = QUICK_WARMUP_CALLS if args.quick else WARMUP_CALLS
    return args


def main(argv: Sequence[str] | None = None) -> list[Result]:
    args = parse_args(argv)
    if args.logical_cpus:
        from gan_core.distribute import logical_cpus

        logical_cpus(args.logical_cpus)
    import tensorflow as tf

    from benchmarks.bench import _not_expected_retracing
    from gan_core.distribute import make_strategy

    tf.get_logger().addFilter(_not_expected_retracing)

    def say(text: str) -> None:
        print(text, flush=True)

    about = machine()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    strategy = make_strategy("mirrored") if len(devices) > 1 else None  # over every GPU, else every CPU device
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    say(
        f"GAN Studio GPU throughput: tensorflow {about['tensorflow']}, keras {about['keras']}, "
        f"GPUs {about['gpus'] or 'none (CPU)'}, compute capability {about['compute_capability']}, "
        f"default precision here {about['default_precision'] or 'the CPU preset choice'}; "
        f"mirrored rows: {f'{replicas} replicas' if replicas > 1 else 'none (one device)'}"
    )
    results: list[Result] = []
    t0 = time.perf_counter()
    for group in groups(args, replicas):
        results += measure_group(group, args, strategy, say)
        lines = table_lines(results)
        say("\n".join(lines[-len(group) :]))
        if args.out is not None:
            args.out.write_text(
                json.dumps({"machine": about, "args": argv_of(args), "results": [asdict(r) for r in results]}, indent=2)
            )
    say(f"\n  all rows took {time.perf_counter() - t0:.0f} s\n")
    for line in table_lines(results):
        say(line)
    say("vs f32: img/s over float32 without XLA, same preset, batch and devices. img/s counts generator-step images.")
    return results


def argv_of(args: argparse.Namespace) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


if __name__ == "__main__":
    main(sys.argv[1:])
