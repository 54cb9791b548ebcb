"""The CLI end to end, in a subprocess as a person would run it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core.__main__ import main
from gan_core.config import DEFAULT_PRESET
from gan_core.engine import TrainingRun
from gan_core.latent import Sampler, fixed_noise, to_uint8
from gan_core.runs import load_generator
from tests.conftest import tiny_config

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "gan_core", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=240, check=False)


def test_train_then_sample_end_to_end(tmp_path):
    out = tmp_path / "runs"
    done = cli(
        "train",
        "--preset",
        "tiny",
        "--steps",
        "30",
        "--batch-size",
        "16",
        "--sample-every",
        "10",
        "--checkpoint-every",
        "15",
        "--out",
        str(out),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    assert run_dir.parent == out and (run_dir / "generator.keras").exists()
    assert "finished at step 30" in done.stderr

    grid = cli("sample", str(run_dir), "--n", "16", "--out", str(tmp_path / "grid.png"))
    assert grid.returncode == 0, grid.stderr
    assert Image.open(tmp_path / "grid.png").size == (4 * 30 + 2, 4 * 30 + 2)

    array = cli("sample", str(run_dir / "generator.keras"), "--n", "5", "--out", str(tmp_path / "samples.npy"))
    assert array.returncode == 0, array.stderr
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (5, 28, 28) and samples.dtype == np.uint8

    no_classes = cli("sample", str(run_dir), "--class", "3", "--out", str(tmp_path / "three.png"))
    assert no_classes.returncode == 2 and not (tmp_path / "three.png").exists()
    assert f"--class needs a conditional generator, and {run_dir} is unconditional" in no_classes.stderr

    refused = cli("train", "--continue", str(run_dir), "--steps", "45", "--batch-size", "8", "--quiet")
    assert refused.returncode == 2
    assert "--batch-size cannot change (only --steps, --precision can)" in refused.stderr

    continued = cli("train", "--continue", str(run_dir), "--steps", "45", "--precision", "mixed_bfloat16", "--quiet")
    assert continued.returncode == 0, continued.stderr
    assert "finished at step 45" in continued.stderr and continued.stdout.strip() == str(run_dir)
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "mixed_bfloat16"


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory) -> Path:
    """A trained tiny conditional run (ten digit classes) on disk."""
    run = TrainingRun(tiny_config(conditional=True), runs_dir=tmp_path_factory.mktemp("runs")).start()
    assert run.wait(120) == "finished", run.snapshot().error
    return Path(run.snapshot().run_dir)


def test_sample_draws_the_class_asked_for(conditional_run, tmp_path):
    done = cli(
        "sample", str(conditional_run), "--class", "3", "--n", "6", "--seed", "2", "--out", str(tmp_path / "x.npy")
    )
    assert done.returncode == 0, done.stderr
    samples = np.load(tmp_path / "x.npy")
    assert samples.shape == (6, 28, 28) and samples.dtype == np.uint8
    sampler = Sampler(load_generator(conditional_run))
    noise = fixed_noise(6, sampler.latent_dim, 2)
    # Exactly class 3's images of this noise; another class would draw other images.
    assert np.abs(samples.astype(int) - to_uint8(sampler(noise, 3))[..., 0]).max() <= 1
    assert np.abs(samples.astype(int) - to_uint8(sampler(noise, 4))[..., 0]).max() > 1

    # Without --class, the classes in turn: one column per class in the grid.
    grid = cli("sample", str(conditional_run), "--n", "20", "--out", str(tmp_path / "grid.png"))
    assert grid.returncode == 0, grid.stderr
    assert Image.open(tmp_path / "grid.png").size == (10 * 30 + 2, 2 * 30 + 2)
    assert "image i is class i % 10" in grid.stderr

    out_of_range = cli("sample", str(conditional_run), "--class", "10", "--out", str(tmp_path / "ten.png"))
    assert out_of_range.returncode == 2 and "--class must be between 0 and 9 (got 10)" in out_of_range.stderr


@pytest.fixture(scope="module")
def exported(conditional_run, tmp_path_factory) -> Path:
    """25 images of the conditional run, every class in turn, written by `sample --out x.npz`."""
    path = tmp_path_factory.mktemp("export") / "synthetic.npz"
    done = cli("sample", str(conditional_run), "--n", "25", "--seed", "4", "--out", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(path) and "labels saved with the images (image i is class i % 10)" in done.stderr
    return path


def test_sample_writes_a_dataset_with_balanced_labels_that_loads_back(conditional_run, exported, tmp_path):
    from gan_core.data import load_dataset

    with np.load(exported) as npz:
        images, labels = npz["images"], npz["labels"]
    assert images.shape == (25, 28, 28, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and list(labels) == [i % 10 for i in range(25)]
    sampler = Sampler(load_generator(conditional_run))
    noise = fixed_noise(25, sampler.latent_dim, 4)
    # Image i is class i % 10's image of noise i.
    assert np.abs(images.astype(int) - to_uint8(sampler(noise, labels)).astype(int)).max() <= 1

    # gan_core.data's npz loader reads it as it reads any dataset: the same pixels in [-1, 1], the same labels.
    dataset = load_dataset("npz", str(exported))
    assert dataset.images.shape == (25, 28, 28, 1) and dataset.num_classes == 10
    assert np.allclose(dataset.images, images / 127.5 - 1.0, atol=1e-6) and list(dataset.labels) == list(labels)


def test_sample_writes_one_class_when_asked_and_refuses_too_many(conditional_run, tmp_path, capsys):
    # In this process (the CLI's own main): TensorFlow is loaded here already.
    assert main(["sample", str(conditional_run), "--class", "7", "--n", "6", "--out", str(tmp_path / "7.npz")]) == 0
    with np.load(tmp_path / "7.npz") as npz:
        assert list(npz["labels"]) == [7] * 6 and npz["images"].shape == (6, 28, 28, 1)
    assert "labels saved with the images (class 7)" in capsys.readouterr().err

    assert main(["sample", str(conditional_run), "--n", "60001", "--out", str(tmp_path / "big.npz")]) == 2
    assert "--n must be between 1 and 60000 for a .npz file (got 60001)" in capsys.readouterr().err
    assert not (tmp_path / "big.npz").exists()


def test_an_exported_dataset_trains_again_as_dataset_npz(exported, tmp_path, capsys):
    flags = ["--preset", "tiny", "--dataset", "npz", "--npz-path", str(exported), "--conditional", "true"]
    flags += ["--steps", "4", "--batch-size", "8", "--sample-every", "4", "--checkpoint-every", "4"]
    flags += ["--metrics-every", "2", "--quality-every", "0", "--out", str(tmp_path), "--quiet"]
    assert main(["train", *flags]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "finished at step 4" in err
    # Trained on the file's labels: a generator of its ten classes.
    assert Sampler(load_generator(out.strip().splitlines()[-1])).num_classes == 10


def test_score_of_a_conditional_run_and_of_real_digits(conditional_run):
    done = cli("score", str(conditional_run), "--n", "100")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[-2:] == ["generated", "real"]
    assert any(line.startswith("class accuracy (as asked)") for line in done.stdout.splitlines())

    real = cli("score", "--real", "--n", "100")  # an option first: argparse.REMAINDER used to refuse it
    assert real.returncode == 0, real.stderr
    assert "n=100" in real.stdout and "generated" not in real.stdout and "10/10" in real.stdout


def test_bad_settings_exit_non_zero_with_the_validation_message(tmp_path):
    done = cli("train", "--batch-size", "0", "--preset", "nope", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "batch_size must be between 1 and 4096 (got 0)" in done.stderr
    assert "unknown preset 'nope'; choose one of: dense-bn" in done.stderr
    assert not any(tmp_path.iterdir())


def test_a_run_that_fails_exits_non_zero(tmp_path):
    done = cli(
        "train", "--dataset", "npz", "--npz-path", str(tmp_path / "nothing.npz"), "--out", str(tmp_path), "--quiet"
    )
    assert done.returncode == 1
    assert "nothing.npz" in done.stderr and "run failed" in done.stderr


def test_sample_refuses_what_it_cannot_load(tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    done = cli("sample", str(bad), "--out", str(tmp_path / "g.png"))
    assert done.returncode == 2 and "could not load a Keras model" in done.stderr
    done = cli("sample", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.png"))
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_presets_datasets_and_losses_are_listed_with_descriptions():
    presets = cli("presets")
    assert presets.returncode == 0
    assert f"{DEFAULT_PRESET} (default)" in presets.stdout and "Seed 002" in presets.stdout
    datasets = cli("datasets")
    assert "mnist-sample (default)" in datasets.stdout and "fashion-mnist" in datasets.stdout
    losses = cli("losses")
    assert losses.returncode == 0
    lines = losses.stdout.splitlines()
    assert lines[0] == "bce (default)" and "wgan-gp" in lines
    assert "Wasserstein with gradient penalty" in lines[lines.index("wgan-gp") + 1]


def test_branch_starts_a_new_run_beside_its_parent_from_the_chosen_checkpoint(finished_run, tmp_path):
    parent = tmp_path / "runs" / "parent"
    shutil.copytree(finished_run.snapshot().run_dir, parent)
    done = cli("train", "--branch", str(parent), "--at", "20", "--steps", "30", "--d-learning-rate", "0.001", "--quiet")
    assert done.returncode == 0, done.stderr
    branch = Path(done.stdout.strip().splitlines()[-1])
    assert branch.parent == parent.parent and branch != parent
    assert json.loads((branch / "parent.json").read_text()) == {"run": "parent", "step": 20}
    assert json.loads((branch / "config.json").read_text())["d_learning_rate"] == 0.001
    assert "finished at step 30" in done.stderr

    fixed = cli("train", "--branch", str(parent), "--latent-dim", "8", "--steps", "90", "--quiet")
    assert fixed.returncode == 2 and "latent_dim cannot change in a branch" in fixed.stderr
