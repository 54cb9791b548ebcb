"""tf.distribute: MirroredStrategy over two logical CPU devices, against one device, and through the CLI.

Each check runs in a fresh process: splitting the CPU into logical devices must come before
TensorFlow runs anything, and this test process has long started it."""

import json
import math
import os
import socket
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


def test_a_mirrored_run_balances_its_codes_across_the_replicas(tmp_path):
    done = python(
        "-m", "gan_core", "train", "--preset", "tiny", "--strategy", "mirrored", "--logical-cpus", "2",
        "--steps", "20", "--batch-size", "16", "--codes", "4", "--code-balance", "0.05", "--out", str(tmp_path),
        "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run = done.stdout.strip().splitlines()[-1]
    read = python(
        "-c",
        f"from gan_core.runs import load_generator; "
        f"print(load_generator({run!r}).get_layer('noise_code').bias.numpy().tolist())",
    )
    assert read.returncode == 0, read.stderr[-3000:]
    bias = [float(b) for b in read.stdout.strip().splitlines()[-1].strip("[]").split(",")]
    assert len(bias) == 4 and max(map(abs, bias)) > 0 and abs(sum(bias)) < 1e-5  # moved, and centred


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(tmp_path):
    done = python(
        "-m", "gan_core", "train", "--preset", "tiny", "--strategy", "mirrored", "--logical-cpus", "2",
        "--steps", "5", "--batch-size", "15", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert done.returncode != 0
    assert "batch_size 15 does not split evenly over 2 replicas" in done.stderr


# ------------------------------------------------------------------ several workers
def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(
    tmp_path: Path, *flags: str, workers: int = 2, continue_from: Path | None = None
) -> list[subprocess.Popen]:
    """The same `train` command on `workers` local processes, each with its TF_CONFIG (127.0.0.1 only):
    a new run under tmp_path/runs, or `--continue` of `continue_from`."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    processes = []
    for index in range(workers):
        scratch = tmp_path / f"tmp-{index}"  # each worker's temporary folder: where a non-chief writes
        scratch.mkdir(exist_ok=True)
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**ENV, "TF_CONFIG": config, "TMPDIR": str(scratch)}
        command = [sys.executable, "-m", "gan_core", "train", "--quiet", *flags]
        if continue_from is None:
            command += ["--strategy", "multi-worker", "--preset", "tiny", "--batch-size", "16", "--quality-every", "0"]
            command += ["--out", str(tmp_path / "runs")]
        else:
            command += ["--continue", str(continue_from)]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return processes


def finish(processes: list[subprocess.Popen], timeout: float = 200) -> list[str]:
    """Each worker's stdout, once all have exited 0."""
    outs = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            assert process.returncode == 0, err.decode()[-3000:]
            outs.append(out.decode())
    finally:
        for process in processes:
            process.kill()
    return outs


def test_two_local_workers_train_and_only_the_chief_writes_the_run(tmp_path):
    flags = ("--steps", "40", "--metrics-every", "5", "--sample-every", "10", "--checkpoint-every", "20")
    chief, worker = finish(start_workers(tmp_path, *flags))
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and chief.strip().splitlines()[-1] == str(runs[0])  # one run folder: the chief's
    assert "worker 1 of a 2-worker cluster: the chief wrote the run folder" in worker
    run = runs[0]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert all(math.isfinite(r["d_loss"]) for r in records)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt-000000020", "ckpt-000000040"]
    assert (run / "generator.keras").exists() and json.loads((run / "status.json").read_text())["status"] == "finished"
    assert not list((tmp_path / "tmp-1").glob("gan-studio-*"))  # the worker's scratch run folder is gone


def test_a_cluster_stops_and_is_steered_by_the_chief_together(tmp_path):
    from gan_core import control
    from gan_core.runs import RunDir
    from tests.conftest import wait_for

    processes = start_workers(tmp_path, "--steps", "1000000", "--metrics-every", "20", "--checkpoint-every", "1000")
    try:
        runs = tmp_path / "runs"
        wait_for(lambda: runs.exists() and any(runs.iterdir()), timeout=120, interval=0.2)
        run = RunDir(next(runs.iterdir()))
        wait_for(lambda: len(run.read_metrics()) >= 2, timeout=120, interval=0.2)
        # Sent to the chief's folder; every worker must take the same D:G ratio or their collectives part ways.
        control.send(run.path, "steer", d_updates=2, g_learning_rate=1e-4)
        wait_for(lambda: any("event" in r for r in run.read_metrics()), timeout=60, interval=0.2)
        steps = len(run.read_metrics())
        wait_for(lambda: len(run.read_metrics()) >= steps + 2, timeout=60, interval=0.2)  # and trains on
        control.send(run.path, "stop")
    except BaseException:
        for process in processes:
            process.kill()
        raise
    finish(processes, timeout=60)
    event = next(r for r in run.read_metrics() if "event" in r)
    assert event["changes"] == {"d_updates": 2, "g_learning_rate": 1e-4}
    status = run.read_status()
    assert status["status"] == "stopped" and status["last_command"]["command"] == "stop"


def test_the_chiefs_time_limit_ends_every_worker(tmp_path):
    finish(start_workers(tmp_path, "--steps", "1000000", "--max-seconds", "3", "--checkpoint-every", "1000"))
    (run,) = (tmp_path / "runs").iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "finished" and status["end_reason"] == "time limit"


def test_multi_worker_without_a_cluster_description_says_what_to_set(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "TF_CONFIG"}
    command = [sys.executable, "-m", "gan_core", "train", "--strategy", "multi-worker", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 2 and "multi-worker needs TF_CONFIG on each worker" in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_cluster_run_continues_from_its_chiefs_checkpoint_with_the_same_command(tmp_path):
    flags = ("--steps", "20", "--metrics-every", "5", "--checkpoint-every", "20")
    finish(start_workers(tmp_path, *flags))
    (run,) = (tmp_path / "runs").iterdir()
    # Preempted, say: every worker runs the same --continue command; each restores the chief's checkpoint.
    chief, worker = finish(start_workers(tmp_path, "--steps", "40", continue_from=run))
    assert chief.strip().splitlines()[-1] == str(run) and "the chief wrote the run folder" in worker
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "d_loss" in r] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt-000000020", "ckpt-000000040"]
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
