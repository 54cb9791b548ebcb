"""Names and paths from outside (the address's ?run=, a run id, a run folder to delete) never reach outside the
runs folder: traversal, absolute paths, NUL, odd characters and planted links are refused, and files outside survive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gan_core.runs import RunDir, RunError, run_folder

pytestmark = pytest.mark.timeout(300)

EXPLORE = Path(__file__).resolve().parents[1] / "pages" / "explore.py"
HOSTILE_IDS = [
    "..",
    ".",
    "../outside",
    "../../etc",
    "/etc",
    "/etc/passwd",
    "runs/../outside",
    "a/b",
    "a\\b",
    "a\0b",
    ".hidden",
    "-rf",
    "%2e%2e%2f",
    "name with spaces",
    "ünïcødé",
    "x" * 500,
    "",
]


@pytest.fixture
def layout(tmp_path):
    """runs/ with one real run and a link to a run-like folder outside; outside/ with a sentinel file."""
    runs, outside = tmp_path / "runs", tmp_path / "outside"
    for folder in (runs / "20000101-000000-tiny-mnist-sample", outside):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"preset": "tiny"}))
    (outside / "sentinel.txt").write_text("still here")
    (runs / "planted").symlink_to(outside, target_is_directory=True)
    return runs, outside


def test_a_run_id_names_one_run_folder(layout):
    runs, _ = layout
    assert run_folder(runs, "20000101-000000-tiny-mnist-sample") == runs / "20000101-000000-tiny-mnist-sample"
    with pytest.raises(RunError, match="No run 'no-such-run'"):
        run_folder(runs, "no-such-run")


@pytest.mark.parametrize("run_id", HOSTILE_IDS)
def test_hostile_run_ids_are_not_run_ids(layout, run_id):
    runs, _ = layout
    with pytest.raises(RunError, match="is not a run id"):
        run_folder(runs, run_id)


def test_a_link_or_a_folder_without_config_is_no_run(layout):
    runs, _ = layout
    (runs / "uploads").mkdir()
    for run_id in ("planted", "uploads"):
        with pytest.raises(RunError, match=f"No run '{run_id}'"):
            run_folder(runs, run_id)


def test_delete_removes_a_run_folder(layout):
    runs, _ = layout
    run = RunDir(runs / "20000101-000000-tiny-mnist-sample")
    run.delete(runs)
    assert not run.path.exists()


def test_delete_never_follows_a_link_out_of_the_runs_folder(layout):
    runs, outside = layout
    for run in (RunDir(runs / "planted"), RunDir(runs / "planted" / ".")):
        with pytest.raises(RunError, match="nothing was deleted"):
            run.delete(runs)
    assert (outside / "sentinel.txt").read_text() == "still here"
    assert (runs / "planted").is_symlink()


@pytest.mark.parametrize("where", ["../outside", "20000101-000000-tiny-mnist-sample/..", ".", ""])
def test_delete_refuses_what_is_not_a_run_directly_under_the_runs_folder(layout, where):
    runs, outside = layout
    with pytest.raises(RunError, match="not a run folder directly under"):
        RunDir(runs / where).delete(runs)
    assert (outside / "sentinel.txt").exists() and (runs / "20000101-000000-tiny-mnist-sample").exists()


def test_delete_refuses_a_run_of_another_runs_folder(layout):
    runs, outside = layout
    with pytest.raises(RunError, match="not a run folder directly under"):
        RunDir(outside).delete(runs)
    assert (outside / "sentinel.txt").exists()


def test_delete_refuses_a_folder_without_config(layout):
    runs, _ = layout
    (runs / "uploads").mkdir()
    (runs / "uploads" / "data.npz").write_bytes(b"x")
    with pytest.raises(RunError, match="nothing was deleted"):
        RunDir(runs / "uploads").delete(runs)
    assert (runs / "uploads" / "data.npz").exists()


# ------------------------------------------------------------------ the Explore page's ?run=
@pytest.mark.parametrize("run_id", ["../outside", "../../etc", "/etc", "a\0b", "%2e%2e%2f", "x" * 500])
def test_the_explore_address_with_a_hostile_run_says_so_and_opens_nothing(layout, monkeypatch, run_id):
    runs, outside = layout
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(runs))
    at = AppTest.from_file(str(EXPLORE), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, at.exception
    warning = at.warning[0].value
    assert "is not a run id" in warning and "pick another run below" in warning
    assert len(warning) < 400  # a long address is shown cut short
    assert at.selectbox(key="generator_choice").value == "<upload>"  # no run has a generator here
    assert (outside / "sentinel.txt").read_text() == "still here"


def test_the_explore_address_naming_a_run_without_a_generator_says_so(layout, monkeypatch):
    runs, _ = layout
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(runs))
    at = AppTest.from_file(str(EXPLORE), default_timeout=60)
    at.query_params["run"] = "20000101-000000-tiny-mnist-sample"
    at.run()
    assert not at.exception, at.exception
    assert "has no generator or checkpoint yet" in at.warning[0].value
