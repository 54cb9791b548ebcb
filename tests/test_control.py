"""The dashboard as control room: commands through the run folder, followers, live and stale runs."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gan_core import control
from gan_core.engine import Status, TrainingRun
from gan_core.follow import FollowedRun
from gan_core.runs import STALE_SECONDS, RunDir
from tests.conftest import tiny_config, wait_for

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[1]


def last_command(run_dir) -> dict:
    return RunDir(run_dir).read_status().get("last_command") or {}


def test_commands_are_taken_once_in_the_order_they_were_sent(tmp_path):
    first = control.send(tmp_path, "pause")
    second = control.send(tmp_path, "steer", g_learning_rate=1e-4)
    (tmp_path / "commands" / ".half-written.tmp").write_text("{")  # a send in progress: not a command yet
    (tmp_path / "commands" / "00000000000000000001-junk.json").write_text("not json")
    inbox = control.Inbox(tmp_path)
    taken = inbox.take()
    assert [command_id for command_id, _ in taken] == ["00000000000000000001-junk", first, second]
    assert taken[0][1] is None  # unreadable: reported as refused, not applied
    assert taken[1][1]["command"] == "pause" and taken[2][1]["changes"] == {"g_learning_rate": 1e-4}
    assert inbox.take() == []
    assert [p.name for p in (tmp_path / "commands").iterdir()] == [".half-written.tmp"]


def test_a_command_that_makes_no_sense_is_refused_before_it_is_sent(tmp_path):
    with pytest.raises(control.CommandError, match="unknown command 'restart'"):
        control.send(tmp_path, "restart")
    with pytest.raises(control.CommandError, match="steer takes the settings"):
        control.send(tmp_path, "steer")
    with pytest.raises(control.CommandError, match="steer takes the settings"):
        control.send(tmp_path, "stop", g_learning_rate=1.0)


def test_a_run_is_paused_steered_resumed_and_stopped_through_its_folder(tmp_path):
    run = TrainingRun(tiny_config(steps=100_000, checkpoint_every=1_000), runs_dir=tmp_path).start()
    try:
        wait_for(lambda: run.status == Status.RUNNING)
        folder = run.snapshot().run_dir
        control.send(folder, "pause")
        wait_for(lambda: run.status == Status.PAUSED, timeout=10)
        assert RunDir(folder).read_status()["status"] == "paused"
        assert last_command(folder)["command"] == "pause" and last_command(folder)["ok"]

        control.send(folder, "steer", g_learning_rate=3e-4)  # taken while paused, applied at the next call
        wait_for(lambda: last_command(folder).get("command") == "steer", timeout=10)
        assert last_command(folder)["ok"] and last_command(folder)["changes"] == {"g_learning_rate": 3e-4}
        control.send(folder, "steer", gp_weight=5.0)  # not a WGAN-GP run: refused, said in status.json
        wait_for(lambda: last_command(folder).get("ok") is False, timeout=10)
        assert "gp_weight" in last_command(folder)["error"]

        control.send(folder, "resume")
        wait_for(lambda: run.status == Status.RUNNING, timeout=10)
        wait_for(lambda: any(e["changes"] == {"g_learning_rate": 3e-4} for e in run.snapshot().events), timeout=10)
        assert json.loads(RunDir(folder).config_path.read_text())["g_learning_rate"] == 3e-4

        control.send(folder, "stop")
        assert run.wait(30) == Status.STOPPED
        assert RunDir(folder).read_status()["status"] == "stopped" and RunDir(folder).checkpoints()
        assert not [p for p in (Path(folder) / "commands").iterdir() if not p.name.startswith(".")]
    finally:
        run.stop()


def test_commands_sent_while_nobody_trained_the_run_are_dropped_when_it_continues(finished_run, tmp_path):
    import shutil

    folder = shutil.copytree(finished_run.snapshot().run_dir, tmp_path / "runs" / "ended")
    control.send(folder, "stop")  # too late for the run that ended; must not stop its continuation
    run = TrainingRun.continue_from(folder, steps=60).start()
    assert run.wait(120) == Status.FINISHED and run.snapshot().step == 60


@pytest.mark.parametrize("where", ["disk", "bucket"])
def test_a_follower_reads_a_run_as_it_is_written_and_stops_it(tmp_path, where):
    # A bucket: TensorFlow's in-memory ram:// filesystem, reached through tf.io.gfile as gs:// would be.
    runs_dir = tmp_path if where == "disk" else f"ram://follow-{uuid.uuid4().hex}/runs"
    run = TrainingRun(tiny_config(steps=100_000, checkpoint_every=1_000), runs_dir=runs_dir).start()
    try:
        wait_for(lambda: run.snapshot().step >= 20)
        follower = FollowedRun(run.snapshot().run_dir, refresh_seconds=0)
        # What the trainer has written lags its own step by up to a metrics interval: wait for the files.
        wait_for(lambda: follower.snapshot().step >= 20)
        snap = follower.snapshot()
        assert snap.status == Status.RUNNING and follower.active
        assert snap.run_id == run.snapshot().run_id and snap.config == run.config
        assert snap.history["step"][:2] == [5, 10] and snap.step >= 20
        assert snap.grids and snap.grids[0][0] == 0 and snap.grid.shape == run.snapshot().grid.shape
        assert follower.trainer["pid"] == os.getpid() and follower.trainer["host"] == socket.gethostname()
        before = len(snap.history["step"])
        wait_for(lambda: len(follower.snapshot().history["step"]) > before)  # new lines, read where it stopped

        assert follower.steer(d_learning_rate=5e-4) == {"d_learning_rate": 5e-4}
        wait_for(lambda: follower.snapshot().events, timeout=10)
        assert follower.snapshot().events[-1]["changes"] == {"d_learning_rate": 5e-4}
        assert follower.config.d_learning_rate == 5e-4  # config.json was rewritten by the trainer

        follower.stop()
        assert run.wait(30) == Status.STOPPED
        wait_for(lambda: follower.snapshot().status == Status.STOPPED, timeout=5)
    finally:
        run.stop()


def test_a_follower_starts_over_when_a_continued_run_rewrites_its_log(finished_run, tmp_path):
    import shutil

    folder = RunDir(shutil.copytree(finished_run.snapshot().run_dir, tmp_path / "runs" / "rewritten"))
    follower = FollowedRun(folder.path, refresh_seconds=0)
    assert follower.snapshot().history["step"][-1] == 40
    folder.truncate_metrics(20)  # what continuing from the checkpoint at step 20 does
    assert follower.snapshot().history["step"] == [5, 10, 15, 20]


def test_an_active_run_not_heard_from_is_stale_for_its_followers(finished_run, tmp_path):
    import shutil

    folder = RunDir(shutil.copytree(finished_run.snapshot().run_dir, tmp_path / "runs" / "silent"))
    status = folder.read_status()
    folder.write_status(
        **{**status, "status": "running", "host": "elsewhere", "pid": 1, "heartbeat": time.time() - STALE_SECONDS - 5}
    )
    assert FollowedRun(folder.path).snapshot().status == Status.STALE


def cli_train(runs: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "gan_core", "train", "--preset", "tiny", "--batch-size", "16", "--quiet"]
    command += ["--steps", "1000000", "--checkpoint-every", "1000", "--quality-every", "0", "--out", str(runs)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([*command, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def running_run(runs: Path, process: subprocess.Popen) -> RunDir:
    """The run folder the CLI process trains, once it trains."""

    def started():
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        folders = [p for p in runs.iterdir() if (p / "status.json").exists()] if runs.exists() else []
        return folders and RunDir(folders[0]).read_status().get("status") == "running"

    wait_for(started, timeout=120, interval=0.2)
    return RunDir(next(p for p in runs.iterdir() if p.is_dir()))


def shown_step(page) -> int:
    """The step the Runs page's first card shows ("step 1,234 / 1,000,000")."""
    import re

    found = re.search(r"step ([\d,]+) /", page.markdown[0].value)
    return int(found.group(1).replace(",", "")) if found else -1


def test_the_dashboard_follows_a_run_the_cli_trains_and_stops_it(tmp_path, monkeypatch, fragment_intervals):
    runs = tmp_path / "runs"
    process = cli_train(runs)
    try:
        run = running_run(runs, process)
        monkeypatch.setenv("GAN_STUDIO_RUNS", str(runs))

        # The Runs page marks it live, trained by the CLI's process, with a way to follow it; its card is
        # a fragment that reads the folder again every few seconds.
        intervals = fragment_intervals
        page = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=60).run()
        assert not page.exception
        assert any(f"Live: trained by process {process.pid}" in c.value for c in page.caption)
        assert any(b.label == "Follow" for b in page.button)
        assert intervals["live_summary"] == 5.0
        first = shown_step(page)
        wait_for(lambda: shown_step(page.run()) > first, timeout=60, interval=0.5)

        # The Train page follows it: its status, its steps and grids as the CLI writes them.
        train = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60)
        train.query_params["follow"] = run.run_id
        train.run()
        assert not train.exception
        assert run.run_id in train.subheader[0].value and "running" in train.subheader[0].value
        assert any(f"Trained by process {process.pid}" in c.value for c in train.caption)
        stop = next(b for b in train.button if b.label == "Stop")
        stop.click().run()
        assert process.wait(60) == 0, process.communicate()[1].decode()[-2000:]
        assert run.read_status()["status"] == "stopped"
        assert run.read_status()["last_command"]["command"] == "stop" and run.generator_path.exists()
        # A follower reads the folder at most once a second: the page says so within one.
        wait_for(lambda: "stopped" in train.run().subheader[0].value, timeout=10, interval=0.2)
    finally:
        process.kill()
        process.wait()


def test_the_train_page_says_which_run_a_followed_branch_comes_from(finished_run, tmp_path, monkeypatch):
    import shutil

    parent = shutil.copytree(finished_run.snapshot().run_dir, tmp_path / "runs" / "parent-run")
    branch = TrainingRun.branch_from(parent, 20, steps=30).start()
    assert branch.wait(120) == Status.FINISHED
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path / "runs"))
    train = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60)
    train.query_params["follow"] = branch.snapshot().run_id
    train.run()
    assert not train.exception
    assert "finished" in train.subheader[0].value
    assert any("Branch of **parent-run** at step 20" in c.value for c in train.caption)
    assert not [b for b in train.button if b.label in ("Pause", "Stop")]  # nothing to control: it has ended


def test_following_a_run_that_is_not_there_says_so_and_offers_the_page(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path))
    train = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60)
    train.query_params["follow"] = "../../etc"
    train.run()
    assert not train.exception
    assert "Cannot follow that run" in train.error[0].value and "is not a run id" in train.error[0].value
    assert any(b.label == "Start a demo run" for b in train.button)  # the page itself still works


def test_the_dashboard_refuses_to_start_a_multi_worker_run_and_says_where_it_starts(tmp_path):
    from gan_core.config import ConfigError

    with pytest.raises(ConfigError, match="trains from the command line: `python -m gan_core train --strategy multi"):
        TrainingRun(tiny_config(strategy="multi-worker"), runs_dir=tmp_path)
    assert not list(tmp_path.iterdir())
