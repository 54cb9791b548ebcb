"""The CLI end to end, in a subprocess as a person would run it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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

    refused = cli("train", "--resume", str(run_dir), "--steps", "45", "--batch-size", "8", "--quiet")
    assert refused.returncode == 2
    assert "--batch-size cannot change (only --steps, --precision can)" in refused.stderr

    resumed = cli("train", "--resume", str(run_dir), "--steps", "45", "--precision", "mixed_bfloat16", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "finished at step 45" in resumed.stderr and resumed.stdout.strip() == str(run_dir)
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "mixed_bfloat16"


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


def test_presets_and_datasets_are_listed_with_descriptions():
    presets = cli("presets")
    assert presets.returncode == 0
    assert "dense-bn (default)" in presets.stdout and "Seed 002" in presets.stdout
    datasets = cli("datasets")
    assert "mnist-sample (default)" in datasets.stdout and "fashion-mnist" in datasets.stdout
