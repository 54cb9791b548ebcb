"""Quality figures for generated digits, judged by a small digit classifier we train and ship.

Inception FID means little on 28x28 digits and needs downloaded weights, so we follow the MNIST
practice of TF-GAN's `mnist_frechet_distance` / `mnist_score`: a small CNN trained on the bundled
digits (`gan_core/assets/digit_classifier.weights.h5`) supplies the features and class probabilities.

    fd_digits          Fréchet distance between generated and real images in the classifier's
                       128-unit penultimate layer (lower is better; real vs real is the floor)
    classifier_score   exp(E_x KL(p(y|x) || p(y))), the Inception-score formula (real digits: near 10)
    class_histogram    fraction of images predicted as each digit 0..9
    classes_covered    digits with more than COVERED_FRACTION of the images
    class_kl           KL(class_histogram || uniform): 0 when balanced, log(10) = 2.30 for one digit

Every figure is computed on exactly `n` images (QUALITY_N by default): the Fréchet distance is
biased by the sample size, so figures are comparable only at the same n. `real_reference()`
gives the same figures for real digits against other real digits, the best a generator can do.

    python -m gan_core.quality train-classifier      # retrain and save the shipped weights
    python -m gan_core.quality time-score            # how long score_generator takes here
    python -m gan_core score RUN_DIR_OR_KERAS_FILE   # figures of a trained generator (main_score)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import threading
import time
from pathlib import Path

import numpy as np

QUALITY_N = 1_000  # images per figure; FD is biased by n, so always score the same n
MAX_N = 2_500  # real_reference() needs two disjoint samples of the 5,000 bundled digits
COVERED_FRACTION = 0.02  # a digit counts as covered above 2% of the images (uniform is 10%)
FEATURES = 128  # width of the penultimate layer, the space FD-digits is measured in
IMAGE_SHAPE = (28, 28, 1)
REAL_DATASET = "mnist-sample"  # the reference digits: bundled, so scoring works offline
DIGIT_DATASETS = ("mnist-sample", "mnist")
NOT_DIGITS = {"fashion-mnist": "clothes", "cifar10": "colour photographs of animals and vehicles"}  # built-in
WEIGHTS_PATH = Path(__file__).parent / "assets" / "digit_classifier.weights.h5"
BATCH = 500  # images per classifier/generator call: big enough to amortise the call, small in memory

# The classifier's held-out split: 100 images of each digit, always the same ones.
HELD_OUT_PER_CLASS = 100
SPLIT_SEED = 0


class QualityError(ValueError):
    """Quality figures cannot be computed for these images or this generator; the message says why."""


# ------------------------------------------------------------------ the digit classifier
def build_classifier():
    """The classifier's architecture: a Keras model from images in [-1, 1] to 10 logits.

    Stride-2 convolutions keep it fast (about 1.7M multiply-adds per image) and the weights small
    (188k parameters). The weights file is matched to this structure layer by layer, so any change
    here needs `train-classifier` run again.
    """
    import keras
    from keras import layers

    inputs = keras.Input(IMAGE_SHAPE, name="images")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)  # 28x28x32
    x = layers.MaxPooling2D(name="pool1")(x)  # 14x14x32
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2")(x)  # 7x7x64
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv3")(x)  # 4x4x64
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout1")(x)
    features = layers.Dense(FEATURES, activation="relu", name="features")(x)
    x = layers.Dropout(0.3, name="dropout2")(features)
    logits = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, logits, name="digit_classifier")


class DigitClassifier:
    """The trained classifier: penultimate features and class probabilities of images in [-1, 1]."""

    def __init__(self, model):
        import keras
        import tensorflow as tf

        self.model = model
        both = keras.Model(model.inputs, [model.get_layer("features").output, model.outputs[0]])
        self._both = both

        # One traced function for every batch size: no retracing, no model.predict overhead.
        @tf.function(input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32)])
        def forward(images):
            features, logits = both(images, training=False)
            return features, tf.nn.softmax(logits)

        self._forward = forward

    def features_and_probabilities(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(N, 128) features and (N, 10) probabilities in one pass."""
        images = _as_digit_images(images)
        if len(images) == 0:
            return np.zeros((0, FEATURES), np.float32), np.zeros((0, 10), np.float32)
        outs = [self._forward(images[i : i + BATCH]) for i in range(0, len(images), BATCH)]
        return (
            np.concatenate([f.numpy() for f, _ in outs]),
            np.concatenate([p.numpy() for _, p in outs]),
        )

    def features(self, images) -> np.ndarray:
        """(N, 128) penultimate-layer activations."""
        return self.features_and_probabilities(images)[0]

    def feature_tensors(self, images):
        """(N, 128) features of a tensor of images, differentiable: for use inside a tf.function (projection)."""
        return self._both(images, training=False)[0]

    def probabilities(self, images) -> np.ndarray:
        """(N, 10) class probabilities p(y|x)."""
        return self.features_and_probabilities(images)[1]

    def predict_classes(self, images) -> np.ndarray:
        return self.probabilities(images).argmax(axis=1)


_lock = threading.RLock()  # the engine's thread and the UI may both ask for the classifier first


@functools.cache
def _load_classifier_cached(path: str) -> DigitClassifier:
    if not Path(path).is_file():
        raise QualityError(
            f"the digit classifier's weights are missing ({path}); "
            "train them with: python -m gan_core.quality train-classifier"
        )
    model = build_classifier()
    model.load_weights(path)
    return DigitClassifier(model)


def load_classifier(path: str | Path | None = None) -> DigitClassifier:
    """The shipped digit classifier (built and loaded once per process)."""
    with _lock:
        return _load_classifier_cached(str(path or WEIGHTS_PATH))


def _as_digit_images(images) -> np.ndarray:
    """float32 (N, 28, 28, 1); NaN becomes -1 (blank), as in latent.to_uint8, so a broken
    generator scores as the blank images it draws instead of poisoning every figure with NaN."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.shape[1:] != IMAGE_SHAPE:
        raise QualityError(
            f"the digit classifier judges 28x28 greyscale images, shape (N, 28, 28, 1); got {images.shape}"
        )
    if not np.isfinite(images).all():
        images = np.nan_to_num(images, nan=-1.0, posinf=1.0, neginf=-1.0)
    return images


# ------------------------------------------------------------------ the figures
def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), as in FID (Heusel et al., 2017)."""
    from scipy import linalg

    diff = mu1 - mu2
    # ReLU features have dead units (9 of 128 on real digits), so both covariances are singular and
    # sqrtm warns on every call. A tiny ridge makes the root well-posed and moves FD by ~1e-3.
    with _one_blas_thread():
        for ridge in (eps, eps * 1e3):
            offset = np.eye(len(sigma1)) * ridge
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
            if np.isfinite(covmean).all():
                break
    covmean = np.real(covmean)  # rounding leaves tiny imaginary parts; the true root is real
    fd = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return max(fd, 0.0)  # rounding can leave -1e-10 for identical statistics


def _statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = features.astype(np.float64)
    with _one_blas_thread():
        return features.mean(axis=0), np.cov(features, rowvar=False)


def _one_blas_thread():
    """BLAS on one thread: on 128x128 matrices threads only contend. On a busy 2-core machine sqrtm
    took 0.3-4 s with two OpenBLAS threads and 40 ms with one."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn, which mlxtend needs
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def classifier_score(probabilities: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))): 10 for confident, balanced digits, 1 for one digit or mush."""
    p = np.clip(probabilities.astype(np.float64), eps, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def class_coverage(probabilities: np.ndarray) -> tuple[list[float], int, float]:
    """(histogram of predicted digits as fractions, digits above COVERED_FRACTION, KL(histogram || uniform))."""
    counts = np.bincount(probabilities.argmax(axis=1), minlength=10)
    hist = counts / max(1, counts.sum())
    nonzero = hist[hist > 0]
    kl = float(np.sum(nonzero * np.log(nonzero * 10)))
    return [float(h) for h in hist], int(np.sum(hist > COVERED_FRACTION)), kl


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 10 <= n <= MAX_N:
        raise QualityError(f"n must be an integer between 10 and {MAX_N} (got {n!r})")
    return int(n)


def _real_sample_indices(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random samples of n bundled digits: the reference, and the real images scored against it."""
    perm = np.random.default_rng(seed).permutation(5_000)
    return perm[:n], perm[n : 2 * n]


@functools.lru_cache(maxsize=8)
def _real_statistics(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Feature mean and covariance of the reference sample (computed once per process per n, seed)."""
    from gan_core.data import load_images

    reference, _ = _real_sample_indices(n, seed)
    return _statistics(load_classifier().features(load_images(REAL_DATASET)[reference]))


def _figures(features: np.ndarray, probabilities: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> dict:
    hist, covered, kl = class_coverage(probabilities)
    return {
        "fd_digits": frechet_distance(*_statistics(features), mu, sigma),
        "classifier_score": classifier_score(probabilities),
        "classes_covered": covered,
        "class_kl": kl,
        "class_histogram": hist,
        "n": len(features),
    }


def score_images(images, real_images=None, n: int = QUALITY_N, seed: int = 0, asked=None) -> dict:
    """Figures for the first `n` of `images` (28x28x1 in [-1, 1]) against real digits.

    `real_images`: the real digits to compare with (their first n); by default a fixed sample of
    n bundled digits chosen by `seed`, whose statistics are cached. Fewer than n images is an
    error rather than a silently different n: FD at another n is not comparable. `asked`: the
    class each image was drawn as (a conditional generator); adds `class_accuracy`, the share
    the classifier reads as the class asked for.
    """
    n = _check_n(n)
    if len(images) < n:
        raise QualityError(f"quality figures need {n} images (got {len(images)}); FD is only comparable at a fixed n")
    classifier = load_classifier()
    features, probabilities = classifier.features_and_probabilities(images[:n])
    if real_images is None:
        with _lock:
            mu, sigma = _real_statistics(n, seed)
    else:
        if len(real_images) < n:
            raise QualityError(f"real_images needs at least {n} images (got {len(real_images)})")
        mu, sigma = _statistics(classifier.features(real_images[:n]))
    figures = _figures(features, probabilities, mu, sigma)
    if asked is not None:
        figures["class_accuracy"] = float(np.mean(probabilities.argmax(axis=1) == np.asarray(asked)[:n]))
    return figures


@functools.lru_cache(maxsize=8)
def _real_reference_cached(n: int, seed: int) -> tuple:
    from gan_core.data import load_images

    _, other = _real_sample_indices(n, seed)
    figures = score_images(load_images(REAL_DATASET)[other], n=n, seed=seed)
    return tuple(figures.items())


def real_reference(n: int = QUALITY_N, seed: int = 0) -> dict:
    """The same figures for n real digits against the reference sample (disjoint from them):
    what a perfect generator would score at this n."""
    n = _check_n(n)
    figures = dict(_real_reference_cached(n, seed))
    figures["class_histogram"] = list(figures["class_histogram"])
    return figures


def generate(sampler, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(images, classes asked): n images from the fixed noise `fixed_noise(n, latent_dim, seed)`,
    in inference mode; a conditional generator is asked for every class in turn (else None).
    `sampler` is a `latent.Sampler` (a bare generator is wrapped in one)."""
    from gan_core.latent import Sampler, fixed_noise

    sampler = sampler if isinstance(sampler, Sampler) else Sampler(sampler, BATCH)
    labels = sampler.balanced_labels(n)
    return sampler(fixed_noise(n, sampler.latent_dim, seed), labels), labels


def score_generator(generator, n: int = QUALITY_N, seed: int = 0) -> dict:
    """Figures for n images of a 28x28x1 generator (same noise every call, so calls compare)."""
    from gan_core.latent import Sampler

    n = _check_n(n)
    sampler = generator if isinstance(generator, Sampler) else Sampler(generator, BATCH)
    if sampler.image_shape != IMAGE_SHAPE:
        made = "x".join(map(str, sampler.image_shape))
        raise QualityError(f"the digit classifier judges 28x28x1 images; this generator makes {made}")
    images, labels = generate(sampler, n, seed)
    return score_images(images, n=n, seed=seed, asked=labels)


def applies_to(dataset: str, image_shape) -> tuple[bool, str]:
    """(True, "") when the digit figures mean something for this dataset, else (False, why not)."""
    shape = tuple(int(s) for s in image_shape)
    lead = "The digit classifier only judges 28x28 handwritten digits"
    if dataset in NOT_DIGITS:
        return False, f"{lead}; {dataset} images are {NOT_DIGITS[dataset]}, so FD-digits would be meaningless here."
    if dataset not in DIGIT_DATASETS:
        return False, f"{lead}; images from {dataset!r} may be anything, so FD-digits would be meaningless here."
    if shape != IMAGE_SHAPE:
        return False, f"{lead}; these images are {'x'.join(map(str, shape))}, so it cannot score them."
    return True, ""


# ------------------------------------------------------------------ python -m gan_core score
def format_table(generated: dict | None, real: dict) -> str:
    """The figures in two columns, generated next to real (or real alone). A conditional generator's
    `class_accuracy` gets a row of its own; real digits show the classifier's accuracy on their labels."""
    columns = [("generated", generated)] if generated is not None else []
    columns.append(("real", real))
    rows = [
        ("FD-digits (lower is better)", lambda f: f"{f['fd_digits']:.2f}"),
        ("classifier score (max 10)", lambda f: f"{f['classifier_score']:.2f}"),
        ("classes covered", lambda f: f"{f['classes_covered']}/10"),
        ("class KL vs uniform", lambda f: f"{f['class_kl']:.3f}"),
    ]
    if generated is not None and "class_accuracy" in generated:
        rows.append(
            ("class accuracy (as asked)", lambda f: f"{f['class_accuracy']:.1%}" if "class_accuracy" in f else "–")
        )
    lines = [f"{'figure (n=' + str(real['n']) + ')':<30}" + "".join(f"{name:>12}" for name, _ in columns)]
    for label, fmt in rows:
        lines.append(f"{label:<30}" + "".join(f"{fmt(f):>12}" for _, f in columns))
    lines.append("")
    lines.append(f"{'% of images per digit':<30}" + "".join(f"{name:>12}" for name, _ in columns))
    for digit in range(10):
        lines.append(
            f"{'  ' + str(digit):<30}" + "".join(f"{100 * f['class_histogram'][digit]:>12.1f}" for _, f in columns)
        )
    return "\n".join(lines)


def add_score_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of `python -m gan_core score`, on the CLI's subparser or a parser of its own."""
    parser.add_argument("source", nargs="?", help="a run folder (runs/<run-id>) or a generator .keras file")
    parser.add_argument(
        "--n",
        type=int,
        default=QUALITY_N,
        help=f"images per figure (default: {QUALITY_N}; compare figures only at the same n)",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise and real-sample seed (default: 0)")
    parser.add_argument("--real", action="store_true", help="print the figures of real digits only")
    return parser


SCORE_DESCRIPTION = (
    "Quality figures of a digit generator (FD-digits, classifier score, class coverage, and for a "
    "conditional generator class accuracy) next to real digits."
)


def main_score(argv: list[str] | None = None) -> int:
    """python -m gan_core score RUN_DIR_OR_KERAS_FILE [--n 1000] [--seed 0] [--real]"""
    parser = argparse.ArgumentParser(prog="python -m gan_core score", description=SCORE_DESCRIPTION)
    return run_score(add_score_arguments(parser).parse_args(argv))


def run_score(args: argparse.Namespace) -> int:
    """Print the figures asked for by `add_score_arguments`' arguments; 0, or 2 with a message."""
    from gan_core.runs import RunDir, RunError, load_generator

    try:
        _check_n(args.n)
    except QualityError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.source is None and not args.real:
        print("error: give a run folder or a .keras file, or --real for the real digits' figures", file=sys.stderr)
        return 2
    generated = None
    try:
        if not args.real:
            source = Path(args.source)
            run = RunDir(source)
            # A run folder says what it was trained on; a .keras file does not.
            dataset = run.read_config().dataset if source.is_dir() and run.config_path.exists() else None
            ok, why = applies_to(dataset or "mnist", IMAGE_SHAPE)
            if ok:
                generator = load_generator(source)
                ok, why = applies_to(dataset or "mnist", generator.output_shape[1:])
            if not ok:
                print(f"error: {why}", file=sys.stderr)
                return 2
            if dataset is None:
                print(
                    "note: a .keras file does not say what it was trained on; these figures assume handwritten digits",
                    file=sys.stderr,
                )
            generated = score_generator(generator, args.n, args.seed)
        real = real_reference(args.n, args.seed)
        if generated is not None and "class_accuracy" in generated:
            # The yardstick for class accuracy: how often the classifier reads real digits as their label.
            real = {**real, "class_accuracy": held_out_accuracy()}
    except (RunError, QualityError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(generated, real))
    return 0


# ------------------------------------------------------------------ python -m gan_core.quality train-classifier
def held_out_split(
    labels: np.ndarray, per_class: int = HELD_OUT_PER_CLASS, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): `per_class` images of every digit held out, fixed by `seed`."""
    rng = np.random.default_rng(seed)
    held = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)])
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.sort(held)


def shifted(images: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Each image moved by up to `max_shift` pixels each way; the uncovered border is background (-1)."""
    m = max_shift
    padded = np.pad(images, ((0, 0), (m, m), (m, m), (0, 0)), constant_values=-1.0)
    dy, dx = rng.integers(0, 2 * m + 1, size=(2, len(images)))
    out = np.empty_like(images)
    for y in range(2 * m + 1):
        for x in range(2 * m + 1):
            idx = np.flatnonzero((dy == y) & (dx == x))
            out[idx] = padded[idx, y : y + 28, x : x + 28]
    return out


def held_out_accuracy(classifier: DigitClassifier | None = None) -> float:
    """Accuracy of the classifier on the fixed held-out split of the bundled digits."""
    from gan_core.data import load_images, load_labels

    images, labels = load_images(REAL_DATASET), load_labels(REAL_DATASET)
    _, held = held_out_split(labels)
    classifier = classifier or load_classifier()
    return float(np.mean(classifier.predict_classes(images[held]) == labels[held]))


def train_classifier(epochs: int = 30, out: Path = WEIGHTS_PATH, seed: int = 0) -> float:
    """Train on the bundled digits minus the held-out split, save the weights; returns held-out accuracy."""
    import keras

    from gan_core.data import load_images, load_labels

    keras.utils.set_random_seed(seed)
    images, labels = load_images(REAL_DATASET), load_labels(REAL_DATASET)
    train, held = held_out_split(labels)
    x_train, y_train = np.array(images[train]), labels[train]
    model = build_classifier()
    steps = epochs * int(np.ceil(len(train) / 64))
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(seed)
    classifier = DigitClassifier(model)
    start = time.monotonic()
    accuracy = 0.0
    for epoch in range(1, epochs + 1):
        history = model.fit(shifted(x_train, rng), y_train, batch_size=64, epochs=1, shuffle=True, verbose=0)
        accuracy = float(np.mean(classifier.predict_classes(images[held]) == labels[held]))
        print(
            f"epoch {epoch:>2}/{epochs}  train loss {history.history['loss'][0]:.4f}  "
            f"train accuracy {history.history['accuracy'][0]:.4f}  held-out accuracy {accuracy:.4f}  "
            f"({time.monotonic() - start:.0f} s)",
            flush=True,
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A compiled model's weights file also holds Adam's two slots per weight: save an uncompiled copy.
    bare = build_classifier()
    bare.set_weights(model.get_weights())
    bare.save_weights(out)
    print(f"held-out accuracy {accuracy:.4f} on {len(held)} images; saved {out} ({out.stat().st_size / 1024:.0f} KiB)")
    return accuracy


def time_scoring(preset: str = "dense-bn", n: int = QUALITY_N, repeats: int = 5) -> None:
    """Print how long score_generator takes for a preset's (untrained) generator: a figure, not a test."""
    from gan_core.models import build_models

    generator, _ = build_models(preset, 100, IMAGE_SHAPE)
    start = time.perf_counter()
    score_generator(generator, n)  # loads the classifier, traces it, computes the real statistics
    print(f"first call (loads the classifier and real statistics): {time.perf_counter() - start:.2f} s")
    parts = {"generate": [], "classify": [], "figures": [], "score_generator": []}
    classifier = load_classifier()
    for _ in range(repeats):
        t0 = time.perf_counter()
        images, _ = generate(generator, n)
        t1 = time.perf_counter()
        features, probabilities = classifier.features_and_probabilities(images)
        t2 = time.perf_counter()
        _figures(features, probabilities, *_real_statistics(n, 0))
        t3 = time.perf_counter()
        score_generator(generator, n)
        t4 = time.perf_counter()
        for key, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            parts[key].append(seconds)
    print(
        f"{preset} generator, n={n}, median of {repeats}: "
        + ", ".join(f"{k} {np.median(v):.3f} s" for k, v in parts.items())
    )


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gan_core.quality", description="The digit classifier behind the quality figures."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train-classifier", help="train the digit classifier on the bundled digits and save its weights"
    )
    train.add_argument("--epochs", type=int, default=30, help="passes over the 4,000 training digits (default: 30)")
    train.add_argument("--out", type=Path, default=WEIGHTS_PATH, help=f"weights file (default: {WEIGHTS_PATH})")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    timing = commands.add_parser("time-score", help="print how long score_generator takes (a figure, not a test)")
    timing.add_argument("--preset", default="dense-bn", help="whose generator to time (default: dense-bn)")
    timing.add_argument("--n", type=int, default=QUALITY_N, help=f"images per figure (default: {QUALITY_N})")
    args = parser.parse_args(argv)
    if args.command == "train-classifier":
        if args.epochs < 1:
            parser.error(f"--epochs must be at least 1 (got {args.epochs})")
        train_classifier(args.epochs, args.out, args.seed)
    else:
        time_scoring(args.preset, _check_n(args.n))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
