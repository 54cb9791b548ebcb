"""tf.distribute: MirroredStrategy over two logical CPU devices, against one device, and through the CLI.

Each check runs in a fresh process: splitting the CPU into logical devices must come before
TensorFlow runs anything, and this test process has long started it."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
TOLERANCE = 1e-5  # the same sums in another order (the replicas' gradients are added, then applied)


def python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=240)


@pytest.mark.parametrize("d_updates", [1, 2])
def test_two_replicas_train_as_one_device_does_on_the_same_global_batch(d_updates):
    done = python("tests/scripts/mirrored_match.py", str(d_updates))
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["steps"] == [5, 5]
    assert found["moved"] > 100 * TOLERANCE  # training moved the weights far more than the two runs differ
    assert found["g_max_diff"] < TOLERANCE and found["ema_max_diff"] < TOLERANCE
    one, two = found["metrics"]
    assert one.keys() == two.keys()
    for name in one:  # losses too: each replica's share of the global mean, scaled back to a mean
        assert math.isclose(one[name], two[name], rel_tol=TOLERANCE, abs_tol=TOLERANCE), name


def test_the_cli_trains_a_mirrored_run_and_writes_its_folder(tmp_path):
    done = python(
        "-m", "gan_core", "train", "--preset", "tiny", "--strategy", "mirrored", "--logical-cpus", "2",
        "--steps", "30", "--batch-size", "16", "--checkpoint-every", "15", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run = Path(done.stdout.strip().splitlines()[-1])
    assert json.loads((run / "config.json").read_text())["strategy"] == "mirrored"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    training = [r for r in records if "d_loss" in r]
    assert training[-1]["step"] == 30 and all(math.isfinite(r["d_loss"]) for r in training)
    assert 0.3 < training[0]["d_loss"] < 1.5  # a mean BCE, not a replica's share of it
    assert (run / "generator.keras").exists() and (run / "checkpoints").is_dir()


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(tmp_path):
    done = python(
        "-m", "gan_core", "train", "--preset", "tiny", "--strategy", "mirrored", "--logical-cpus", "2",
        "--steps", "5", "--batch-size", "15", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert done.returncode != 0
    assert "batch_size 15 does not split evenly over 2 replicas" in done.stderr
