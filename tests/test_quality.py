"""Quality figures from the shipped digit classifier: real digits score as real, collapse and noise do not."""

import math
import threading

import keras
import numpy as np
import pytest

from gan_core import quality
from gan_core.alerts import check_health, duplicate_fraction
from gan_core.config import TrainConfig
from gan_core.data import load_images, load_labels
from gan_core.models import build_models
from gan_core.quality import QUALITY_N, QualityError, applies_to, real_reference, score_generator, score_images
from gan_core.runs import RunDir


@pytest.fixture(scope="module")
def digits():
    return load_images("mnist-sample"), load_labels("mnist-sample")


@pytest.fixture(scope="module")
def reference():
    return real_reference()


def one_image_generator(image: np.ndarray, latent_dim: int = 100) -> keras.Model:
    """A collapsed generator: the same real digit whatever the noise (zero kernel, the image as bias)."""
    model = keras.Sequential(
        [keras.Input((latent_dim,)), keras.layers.Dense(784), keras.layers.Reshape((28, 28, 1))], name="collapsed"
    )
    model.layers[0].set_weights([np.zeros((latent_dim, 784), "float32"), image.reshape(784)])
    return model


# ------------------------------------------------------------------ the classifier
def test_weights_are_shipped_and_small():
    assert quality.WEIGHTS_PATH.is_file()
    assert quality.WEIGHTS_PATH.stat().st_size < 1_000_000


def test_classifier_held_out_accuracy():
    # The held-out split (100 of each digit) is fixed, so this figure is deterministic: 0.987 when trained.
    assert quality.held_out_accuracy() >= 0.95


def test_held_out_split_is_stratified_and_disjoint(digits):
    _, labels = digits
    train, held = quality.held_out_split(labels)
    assert len(held) == 1_000 and len(train) == 4_000
    assert not set(train) & set(held)
    assert np.bincount(labels[held], minlength=10).tolist() == [100] * 10
    assert np.array_equal(held, quality.held_out_split(labels)[1])


def test_classifier_outputs(digits):
    images, _ = digits
    classifier = quality.load_classifier()
    features, probabilities = classifier.features_and_probabilities(images[:7])
    assert features.shape == (7, quality.FEATURES) and probabilities.shape == (7, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(classifier.features(images[:7]), features, rtol=1e-5, atol=1e-5)
    assert classifier.features(images[:0]).shape == (0, quality.FEATURES)
    with pytest.raises(QualityError, match="28x28"):
        classifier.features(np.zeros((2, 32, 32, 3), "float32"))


def test_classifier_is_loaded_once_per_process():
    found = []
    threads = [threading.Thread(target=lambda: found.append(quality.load_classifier())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(c is quality.load_classifier() for c in found)


# ------------------------------------------------------------------ figures
def test_real_digits_score_as_real(reference):
    assert reference["n"] == QUALITY_N
    assert reference["classifier_score"] > 8.5
    assert reference["classes_covered"] == 10
    assert reference["class_kl"] < 0.05
    assert reference["fd_digits"] < 10
    assert len(reference["class_histogram"]) == 10
    assert math.isclose(sum(reference["class_histogram"]), 1.0)
    assert all(0.07 < f < 0.13 for f in reference["class_histogram"])


def test_real_reference_is_cached_and_safe_to_change(reference):
    figures = real_reference()
    figures["class_histogram"][0] = 99.0
    assert real_reference() == reference


def test_random_noise_is_far_from_real(reference):
    noise = np.random.default_rng(1).uniform(-1, 1, (QUALITY_N, 28, 28, 1)).astype("float32")
    figures = score_images(noise)
    assert figures["fd_digits"] > 50 * reference["fd_digits"]
    assert figures["fd_digits"] > 200
    assert figures["classifier_score"] < 2
    assert figures["classes_covered"] <= 2


def test_collapsed_generator_gets_one_digit_and_a_collapse_alert(digits, reference):
    images, labels = digits
    generator = one_image_generator(images[labels == 3][0])
    figures = score_generator(generator)
    assert figures["n"] == QUALITY_N
    assert figures["classes_covered"] == 1
    assert figures["class_histogram"][3] == 1.0
    assert figures["class_kl"] == pytest.approx(math.log(10))
    assert figures["classifier_score"] < 1.1
    assert figures["fd_digits"] > 50 * reference["fd_digits"]

    images_drawn, asked = quality.generate(generator, 64)
    assert asked is None  # an unconditional generator is asked for no class
    duplicates = duplicate_fraction(images_drawn)
    assert duplicates == 1.0
    assert duplicate_fraction(images[np.random.default_rng(0).choice(len(images), 256, replace=False)]) < 0.05

    # A run whose figures were real-like for three quality records, then those of this generator.
    keys = ("fd_digits", "classes_covered", "class_histogram")
    records = [
        dict(step=250 * i, d_loss=0.6, g_loss=0.9, **{k: reference[k] for k in keys}, duplicate_fraction=0.0)
        for i in (1, 2, 3)
    ]
    records.append(
        dict(step=1_000, d_loss=0.6, g_loss=0.9, **{k: figures[k] for k in keys}, duplicate_fraction=duplicates)
    )
    history = {k: [r[k] for r in records] for k in records[0]}
    (alert,) = check_health(history)
    assert (alert.kind, alert.severity, alert.step) == ("collapse", "error", 1_000)
    assert "only 1 of 10 digits" in alert.message and "near copies" in alert.message


def test_score_images_takes_exactly_n(digits):
    images, _ = digits
    shuffled = images[np.random.default_rng(0).permutation(len(images))]
    assert score_images(shuffled[:1_500])["n"] == QUALITY_N
    with pytest.raises(QualityError, match="need 1000 images"):
        score_images(shuffled[:999])
    with pytest.raises(QualityError, match="between 10 and 2500"):
        score_images(shuffled, n=4_000)
    small = score_images(shuffled[:200], n=200, real_images=shuffled[200:400])
    assert small["n"] == 200 and small["classes_covered"] == 10


def test_score_images_against_given_real_images(digits, reference):
    images, _ = digits
    shuffled = images[np.random.default_rng(0).permutation(len(images))]
    figures = score_images(shuffled[:1_000], real_images=shuffled[1_000:2_000])
    assert figures["fd_digits"] < 2 * reference["fd_digits"] + 2
    # Sorted by label, the first 1,000 bundled digits are only 0s and 1s: far from all ten.
    assert score_images(images[:1_000], real_images=shuffled[:1_000])["fd_digits"] > 20 * reference["fd_digits"]


def test_nan_images_score_as_blank_without_nan_figures():
    figures = score_images(np.full((QUALITY_N, 28, 28, 1), np.nan, "float32"))
    assert all(np.isfinite(figures[k]) for k in ("fd_digits", "classifier_score", "class_kl"))
    assert figures["classes_covered"] == 1


def test_score_generator_refuses_other_shapes():
    colour = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32 * 32 * 3), keras.layers.Reshape((32, 32, 3))])
    with pytest.raises(QualityError, match="32x32x3"):
        score_generator(colour)


def test_formulas_on_known_inputs():
    # Fréchet distance of diagonal Gaussians: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1 + 4 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert quality.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-5)
    assert quality.frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0, abs=1e-4)
    # Confident and balanced: score 10, all covered; one digit: score 1, KL log 10.
    balanced = np.eye(10)[np.arange(1_000) % 10]
    assert quality.classifier_score(balanced) == pytest.approx(10, rel=1e-6)
    assert quality.class_coverage(balanced) == ([0.1] * 10, 10, pytest.approx(0, abs=1e-12))
    one = np.eye(10)[np.full(1_000, 4)]
    assert quality.classifier_score(one) == pytest.approx(1)
    hist, covered, kl = quality.class_coverage(one)
    assert (hist[4], covered, kl) == (1.0, 1, pytest.approx(math.log(10)))
    # Unsure of every image: score 1 even though the guesses are balanced.
    assert quality.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1)


def test_applies_to():
    assert applies_to("mnist-sample", (28, 28, 1)) == (True, "")
    assert applies_to("mnist", [28, 28, 1]) == (True, "")
    ok, why = applies_to("fashion-mnist", (28, 28, 1))
    assert not ok and why == (
        "The digit classifier only judges 28x28 handwritten digits; fashion-mnist images are clothes, "
        "so FD-digits would be meaningless here."
    )
    ok, why = applies_to("cifar10", (32, 32, 3))
    assert not ok and why == (
        "The digit classifier only judges 28x28 handwritten digits; cifar10 images are colour photographs "
        "of animals and vehicles, so FD-digits would be meaningless here."
    )
    ok, why = applies_to("npz", (32, 32, 3))
    assert not ok and "'npz'" in why and why.endswith(".")
    ok, why = applies_to("mnist", (32, 32, 3))
    assert not ok and "32x32x3" in why


# ------------------------------------------------------------------ python -m gan_core score
def test_score_command(tmp_path, digits, capsys):
    images, labels = digits
    path = tmp_path / "collapsed.keras"
    one_image_generator(images[labels == 7][0]).save(path)
    assert quality.main_score([str(path)]) == 0
    out = capsys.readouterr()
    header, fd_row, _score_row, covered_row = out.out.splitlines()[:4]
    assert header.split()[-2:] == ["generated", "real"]
    assert fd_row.startswith("FD-digits")
    assert covered_row.split()[-2:] == ["1/10", "10/10"]
    assert "assume handwritten digits" in out.err

    assert quality.main_score(["--real", "--n", "500"]) == 0
    out = capsys.readouterr().out
    assert "n=500" in out and "generated" not in out and "10/10" in out


def test_score_command_of_a_conditional_run_adds_class_accuracy(tmp_path, capsys):
    # An untrained conditional generator in a run folder: the figures are poor, but they are all there.
    config = TrainConfig(preset="tiny", conditional=True, latent_dim=16)
    run = RunDir.create(tmp_path / "runs", config)
    generator, _ = build_models("tiny", 16, (28, 28, 1), num_classes=10)
    run.export_generator(generator)
    assert quality.main_score([str(run.path), "--n", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (row,) = [line for line in lines if line.startswith("class accuracy (as asked)")]
    generated, real = row.split()[-2:]
    assert 0.0 <= float(generated.rstrip("%")) <= 100.0
    assert float(real.rstrip("%")) >= 95.0  # the classifier reads real digits as their label

    figures = score_generator(generator, n=100)
    images, asked = quality.generate(generator, 100)
    assert asked.tolist() == [i % 10 for i in range(100)]  # every class in turn
    assert figures["class_accuracy"] == score_images(images, n=100, asked=asked)["class_accuracy"]
    assert "class_accuracy" not in score_generator(one_image_generator(np.zeros((28, 28, 1), "float32")), n=100)


def test_score_command_errors(tmp_path, digits, capsys):
    assert quality.main_score([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert quality.main_score([]) == 2
    assert "--real" in capsys.readouterr().err
    assert quality.main_score(["--real", "--n", "5"]) == 2
    assert "between 10 and 2500" in capsys.readouterr().err
    run = RunDir.create(tmp_path / "runs", TrainConfig(dataset="fashion-mnist"))
    assert quality.main_score([str(run.path)]) == 2
    assert "clothes" in capsys.readouterr().err


def test_train_classifier_command(tmp_path, capsys):
    out = tmp_path / "clf.weights.h5"
    assert quality._main(["train-classifier", "--epochs", "1", "--out", str(out)]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    assert 0 < out.stat().st_size < 1_000_000  # weights only, no optimizer slots
    assert quality.held_out_accuracy(quality.load_classifier(out)) > 0.8
