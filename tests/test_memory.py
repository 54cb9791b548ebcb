"""app/memory.py: the allocator settings the server starts with, and the advice when they are missing."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

from app import memory
from tests.browser import server_env

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_starts_the_app_with_the_server_environment():
    # glibc reads MALLOC_ARENA_MAX only as the process starts: it must be on the command line.
    commands = [line for line in README.read_text().splitlines() if "streamlit run dashboard.py" in line]
    settings = " ".join(f"{k}={v}" for k, v in memory.SERVER_ENV.items())
    assert commands[0].startswith("python3 -m venv")  # the README's first command
    assert f"{settings} streamlit run dashboard.py" in commands[0]
    assert memory.SERVER_ENV == {"MALLOC_ARENA_MAX": "2"}


def test_test_servers_start_as_readme_says_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert server_env(tmp_path)["MALLOC_ARENA_MAX"] == "2"
    assert server_env(tmp_path)["GAN_STUDIO_RUNS"] == str(tmp_path)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")  # a soak comparing allocators sets its own
    assert server_env(tmp_path)["MALLOC_ARENA_MAX"] == "8"


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: nothing to advise")
def test_a_server_started_without_the_setting_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(memory, "_advised", False)
    with caplog.at_level(logging.WARNING, logger="app.memory"):
        assert memory.advise({"MALLOC_ARENA_MAX": "2"}) is False  # started as README says: quiet
        assert memory.advise({}) is True
        assert memory.advise({}) is False  # once per process
    (record,) = caplog.records
    assert re.search(r"MALLOC_ARENA_MAX=2 streamlit run dashboard\.py", record.getMessage())


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: nothing to trim")
def test_trim_runs_at_most_once_per_interval(monkeypatch):
    monkeypatch.setattr(memory, "_last_trim", time.monotonic() - 7200.0)
    assert memory.trim(every=3600.0) is True
    assert memory.trim(every=3600.0) is False
