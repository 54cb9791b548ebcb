"""Faults lose nothing: a process killed mid-checkpoint, an exception in the thread, stop during the
compile, a long pause, a server restarted mid-run, a full disk, a runs folder that cannot be written."""

import errno
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tensorflow as tf

import gan_core.gan
from gan_core import engine
from gan_core.engine import TrainingRun
from gan_core.registry import RunActiveError, RunRegistry
from gan_core.runs import STALE_SECONDS, RunDir, RunError, effective_status, list_runs, run_status
from tests.conftest import break_training_after, tiny_config, wait_for

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parent.parent


def metric_steps(run: RunDir) -> list[int]:
    return [r["step"] for r in run.read_metrics() if "d_loss" in r]


# ------------------------------------------------------------------ SIGKILL while writing a checkpoint
CRASH_AT = 40  # checkpoints every 10 steps: 10, 20, 30 are complete when the one at 40 is being written
# The CLI's train command, with the checkpoint writer holding still at one stage of the checkpoint
# at CRASH_AT (saying so in a marker file) until the test kills the process.
KILLED_CLI = f"""
import sys, time
from pathlib import Path
import gan_core.runs as runs

stage, marker = sys.argv[1], Path(sys.argv[2])

def hold(name, folder):
    if name == stage and folder.name.endswith("{CRASH_AT:09d}"):
        marker.write_text(str(folder))
        time.sleep(600)

runs._checkpoint_stage = hold
from gan_core.__main__ import main
sys.exit(main(sys.argv[3:]))
"""
TRAIN_FLAGS = shlex.split(
    "--preset tiny --batch-size 16 --steps 60 --metrics-every 5 --sample-every 10 --checkpoint-every 10 "
    "--grid-size 16 --quality-every 0 --jit-compile false --quiet"
)
# Stage of the checkpoint at CRASH_AT where the process is killed -> the checkpoint the run resumes from.
STAGES = {
    "started": 30,  # the tmp folder exists, nothing written in it yet
    "written": 30,  # everything written into the tmp folder, not yet synced
    "synced": 30,  # synced, just before the rename
    "renamed": 40,  # renamed into place, the oldest checkpoint not yet pruned
}


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> dict[str, RunDir]:
    """Stage -> the run folder of a CLI training killed with SIGKILL at that stage of writing the
    checkpoint at CRASH_AT. All four train at once: most of their time is importing TensorFlow."""
    base = tmp_path_factory.mktemp("killed")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = {}
    try:
        for stage in STAGES:
            folder = base / stage
            folder.mkdir()
            marker, out = folder / "reached", folder / "runs"
            command = [sys.executable, "-c", KILLED_CLI, stage, str(marker), "train", *TRAIN_FLAGS, "--out", str(out)]
            with (folder / "stderr.txt").open("w") as log:
                process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
            started[stage] = process, marker
        for stage, (process, marker) in started.items():
            wait_for(lambda: marker.exists() or process.poll() is not None, timeout=180)  # noqa: B023 -- used at once
            log = (base / stage / "stderr.txt").read_text()[-2000:]
            assert marker.exists(), f"the training ended before stage {stage!r}: {log}"
            os.kill(process.pid, signal.SIGKILL)
    finally:
        for process, _ in started.values():
            process.kill()
            process.wait(30)  # reaped: a zombie would still count as a live process
    return {stage: RunDir(next((base / stage / "runs").iterdir())) for stage in STAGES}


@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_while_writing_a_checkpoint_resumes_from_the_last_complete_one(killed, monkeypatch, stage):
    run, resumes_at = killed[stage], STAGES[stage]
    # Killed: status.json still says running, but no process trains the run any more.
    assert run.read_status()["status"] == "running"
    assert run_status(run) == "interrupted" and list_runs(run.path.parent)[0].state == "interrupted"
    assert run.latest_checkpoint()[0] == resumes_at  # a half-written checkpoint is never listed...
    half = run.checkpoints_dir / f".tmp-ckpt-{CRASH_AT:09d}"
    assert half.exists() == (stage != "renamed")  # ...though its tmp folder is there
    assert metric_steps(run)[-1] == CRASH_AT  # the log ran ahead of the checkpoint
    assert run.read_config().preset == "tiny"

    resumed = []
    restore = RunDir.restore_checkpoint

    def recording_restore(gan, folder, expect=None):
        resumed.append(folder.name)
        return restore(gan, folder, expect)

    monkeypatch.setattr(RunDir, "restore_checkpoint", staticmethod(recording_restore))
    continued = RunRegistry().continue_run(run.path)
    assert continued.wait(120) == "finished", continued.snapshot().error
    assert resumed == [f"ckpt-{resumes_at:09d}"]
    assert metric_steps(run) == list(range(5, 61, 5))  # the log was cut back to the checkpoint: nothing twice
    assert [s for s, _ in run.checkpoints()] == [40, 50, 60]
    assert not list(run.checkpoints_dir.glob(".tmp-*"))  # the next save cleared what the crash left
    assert run_status(run) == "finished" and continued.snapshot().step == 60


# ------------------------------------------------------------------ an exception in the training thread
def test_an_exception_in_training_fails_the_run_with_its_traceback_and_a_new_run_can_start(tmp_path, monkeypatch):
    break_training_after(monkeypatch, 12, "the step broke")
    registry = RunRegistry()
    run = registry.start(tiny_config(), tmp_path)
    assert run.wait(60) == "failed"
    snap = run.snapshot()
    assert snap.error == "RuntimeError: the step broke" and not snap.active
    assert snap.traceback.startswith("Traceback (most recent call last)") and "failing_step" in snap.traceback
    folder = RunDir(snap.run_dir)
    status = folder.read_status()
    assert (status["status"], status["error"], status["traceback"]) == ("failed", snap.error, snap.traceback)
    assert run_status(folder) == "failed"

    monkeypatch.undo()
    second = registry.start(tiny_config(steps=10), tmp_path)
    assert registry.current() is second and second.wait(60) == "finished"


# ------------------------------------------------------------------ stop during the compile, a long pause
def test_stop_during_the_first_compile_ends_the_run_at_once_and_for_good(tmp_path, monkeypatch):
    compiling = threading.Event()
    original = gan_core.gan.GAN._train_step

    def slow_first_trace(self, batch):
        compiling.set()
        time.sleep(3)  # stands in for a long XLA compile
        return original(self, batch)

    monkeypatch.setattr(gan_core.gan.GAN, "_train_step", slow_first_trace)
    registry = RunRegistry()
    run = registry.start(tiny_config(), tmp_path)
    assert compiling.wait(60)
    t = time.monotonic()
    assert run.stop() == "stopped" and time.monotonic() - t < 1.5
    with pytest.raises(RunActiveError, match="still shutting down"):  # the compile still holds the thread
        registry.start(tiny_config(), tmp_path)
    seen = set()
    deadline = time.monotonic() + 60
    while run.alive and time.monotonic() < deadline:
        seen.add(run.status)
        time.sleep(0.01)
    assert not run.alive and seen <= {"stopped"}  # never running again once stopped
    folder = RunDir(run.snapshot().run_dir)
    assert folder.read_status()["status"] == "stopped" and folder.checkpoints() == []
    monkeypatch.undo()
    assert registry.start(tiny_config(steps=10), tmp_path).wait(60) == "finished"


def test_a_long_pause_spends_no_cpu_keeps_its_heartbeat_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "HEARTBEAT_SECONDS", 0.2)
    run = TrainingRun(tiny_config(steps=100_000), tmp_path).start()
    wait_for(lambda: run.snapshot().step >= 5)
    run.pause()
    folder = RunDir(run.snapshot().run_dir)
    wait_for(lambda: folder.read_status().get("status") == "paused")
    time.sleep(0.5)  # tf.data fills its prefetch buffer, then rests too
    beat, cpu = folder.read_status()["heartbeat"], time.process_time()
    time.sleep(2)
    assert time.process_time() - cpu < 0.4  # the thread waits on an event: a spinning loop would burn 2 s
    assert folder.read_status()["heartbeat"] > beat and run_status(folder) == "paused"  # not taken for interrupted
    paused_at = run.snapshot().step
    run.resume()
    wait_for(lambda: run.snapshot().step > paused_at + 5)
    assert folder.read_status()["status"] == "running"
    run.stop()
    assert run.wait(30) == "stopped"


# ------------------------------------------------------------------ the server restarted mid-run
def gone_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_an_active_status_counts_as_interrupted_or_stale_once_nobody_trains_the_run():
    here, now = socket.gethostname(), time.time()
    running = {"status": "running", "heartbeat": now}
    assert effective_status({**running, "pid": os.getpid(), "host": here}) == "running"
    assert effective_status({**running, "pid": gone_pid(), "host": here}) == "interrupted"
    # On another host only the heartbeat tells.
    assert effective_status({**running, "pid": 1, "host": "elsewhere"}, now=now + 10) == "running"
    assert effective_status({**running, "pid": 1, "host": "elsewhere"}, now=now + STALE_SECONDS + 1) == "stale"
    # Written before heartbeats: the file's time stands in for one.
    assert effective_status({"status": "paused"}, written_at=now, now=now + 10) == "paused"
    assert effective_status({"status": "compiling"}, written_at=now - STALE_SECONDS - 1) == "stale"
    assert effective_status({"status": "finished", "pid": gone_pid(), "host": here}) == "finished"
    assert effective_status({}) == "unknown"


def test_a_run_left_running_by_a_restarted_server_shows_as_interrupted_and_continues(finished_run, tmp_path):
    run = RunDir(shutil.copytree(finished_run.snapshot().run_dir, tmp_path / "runs" / "left-running"))
    status = run.read_status()
    # Another process that is alive trains it: shown as running, and not continued from here.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.write_status(**{**status, "status": "running", "pid": sleeper.pid, "heartbeat": time.time()})
        assert list_runs(tmp_path / "runs")[0].state == "running"
        with pytest.raises(RunError, match=f"is running in process {sleeper.pid} on {socket.gethostname()}"):
            RunRegistry().continue_run(run.path, steps=60)
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its process is gone (the server was restarted): interrupted, and it continues from its checkpoint.
    assert list_runs(tmp_path / "runs")[0].state == "interrupted"
    continued = RunRegistry().continue_run(run.path, steps=60)
    assert continued.wait(120) == "finished", continued.snapshot().error
    assert metric_steps(run) == list(range(5, 61, 5)) and run_status(run) == "finished"


# ------------------------------------------------------------------ a full disk, a folder that cannot be written
def test_a_full_disk_fails_the_run_cleanly_saying_where(tmp_path, monkeypatch):
    real_write = tf.train.Checkpoint.write

    def full_disk(self, file_prefix, options=None):
        if f"{40:09d}" not in str(file_prefix):
            return real_write(self, file_prefix, options)
        # What TensorFlow does when the disk fills up: a partial temporary folder, then this error.
        partial = Path(f"{file_prefix}_temp")
        partial.mkdir()
        (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 1000)
        raise tf.errors.ResourceExhaustedError(None, None, "")

    monkeypatch.setattr(tf.train.Checkpoint, "write", full_disk)
    run = TrainingRun(tiny_config(steps=60), tmp_path).start()
    assert run.wait(60) == "failed"
    snap = run.snapshot()
    folder = RunDir(snap.run_dir)
    half = folder.checkpoints_dir / f".tmp-ckpt-{40:09d}"
    assert snap.error == (
        f"The disk is full: no space left to write {half}. "
        "Free some space, then continue the run from its checkpoint at step 20."
    )
    # Nothing half-written is left, and what was there is intact.
    assert sorted(p.name for p in folder.checkpoints_dir.iterdir()) == ["ckpt-000000020"]
    assert not [p for p in folder.path.rglob("*") if ".tmp" in p.name]
    assert folder.read_config().preset == "tiny"
    status = folder.read_status()
    assert (status["status"], status["error"]) == ("failed", snap.error)
    assert metric_steps(folder) == [5, 10, 15, 20, 25, 30, 35, 40]

    monkeypatch.undo()  # space freed: the run continues from its last checkpoint
    again = TrainingRun.continue_from(folder.path).start()
    assert again.wait(60) == "finished", again.snapshot().error
    assert metric_steps(folder) == list(range(5, 61, 5))


def test_a_runs_folder_that_cannot_be_written_fails_the_run_saying_so(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    probe = locked / "probe"
    try:
        probe.mkdir()  # succeeds for root, whom permissions do not stop...
    except PermissionError:
        pass
    else:
        probe.rmdir()
        real_mkdir = Path.mkdir

        def refused(self, *args, **kwargs):  # ...so refuse as the kernel does for everyone else
            if self.parent == locked:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", refused)
    registry = RunRegistry()
    run = registry.start(tiny_config(), locked)
    assert run.wait(60) == "failed"
    error = run.snapshot().error
    assert error.startswith(f"The runs folder is not writable: cannot write {locked}{os.sep}")
    assert "(Permission denied). Fix its permissions or choose another runs folder" in error
    assert error.endswith("then start the run again.")
    assert list(locked.iterdir()) == []

    monkeypatch.undo()
    locked.chmod(0o755)
    assert registry.start(tiny_config(steps=10), locked).wait(60) == "finished"


def test_a_status_write_that_fails_keeps_the_old_status_and_leaves_no_tmp_file(tmp_path, monkeypatch):
    run = RunDir.create(tmp_path, tiny_config())
    run.write_status(status="running", step=5)
    real_write = Path.write_bytes

    def half_then_full(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(OSError, match="No space left on device"):
        run.write_status(status="finished", step=10)
    monkeypatch.undo()
    assert run.read_status() == {"status": "running", "step": 5}
    assert not list(tmp_path.rglob("*.tmp"))
