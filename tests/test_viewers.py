"""Smoke test of the load script (benchmarks/viewers.py): its protocol clients watch a real server.

Speeds are not asserted (a shared two-core machine says nothing about them); what is asserted is
that the clients speak Streamlit's protocol well enough to start a run and to be sent its updates.
"""

import math

import pytest

from benchmarks import viewers

pytestmark = pytest.mark.timeout(300)


def test_viewers_start_a_run_and_receive_its_updates(capsys):
    rows = viewers.main(["--counts", "0", "2", "--window", "4", "--settle", "1", "--rounds", "1"])

    assert [r["viewers"] for r in rows] == [0, 2]
    for row in rows:
        assert math.isfinite(row["steps_per_second"]) and row["steps_per_second"] > 0, row
        assert row["rss_mb"] > 0 and row["server_cores"] > 0, row
    watched = rows[1]
    assert watched["updates_per_second"] > 0, watched
    out = capsys.readouterr().out
    assert "round 0 viewers  2:" in out and "worst gap" in out
