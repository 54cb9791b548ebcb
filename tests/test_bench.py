"""Smoke test of the throughput benchmark (benchmarks.bench): every row runs and reports a figure.

Speeds are not asserted: on a shared two-core machine they say nothing about the code.
"""

from __future__ import annotations

import math
import re
import tempfile

import pytest

from benchmarks import bench


@pytest.mark.timeout(180)
def test_bench_quick_on_tiny_reports_every_row(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # row c's runs folder lands here

    results = bench.main(["--presets", "tiny", "--quick", "--seconds", "1", "--rounds", "2"])

    assert set(results) == {("a", "tiny"), ("b", "tiny"), ("c", "tiny")}
    for key, m in results.items():
        assert math.isfinite(m.images_per_second) and m.images_per_second > 0, (key, m)
        assert m.steps > 0 and m.seconds > 0, (key, m)
        assert math.isfinite(m.cpu_ms_per_step) and m.cpu_ms_per_step > 0, (key, m)
        assert len(m.rates) == 2 and m.images_per_second == pytest.approx(sum(m.rates) / 2)  # the median of two
    # Ratios pair the windows measured in the same round.
    a, b = results["a", "tiny"].rates, results["b", "tiny"].rates
    assert bench.ratio(results, "b", "a", "tiny") == pytest.approx((b[0] / a[0] + b[1] / a[1]) / 2)
    assert not list(tmp_path.glob("gan-bench-runs-*")), "row c left its runs folder behind"

    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"b/a tiny=\d+\.\d\d c/b=\d+\.\d\d", last), last
    # With the default presets the last line has exactly the documented shape.
    assert bench.summary_line({"dense-bn": 3.456, "dcgan": 1.0}, 0.954) == "b/a dense=3.46 dcgan=1.00 c/b=0.95"


def test_paused_engine_row_costs_nothing_between_its_windows(tmp_path, monkeypatch):
    """Row c pauses its run between windows, so it never competes with the rows measured in turn."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    meter = bench.EngineRun("tiny", bench.Settings(batch_size=16, seconds=1, warmup_steps=2))
    try:
        assert meter.run.status == "paused"
        step = meter.run.snapshot()["step"]
        window = meter.window(0.5)
        assert window.images > 0 and window.seconds > 0
        assert meter.run.status == "paused"
        paused_at = meter.run.snapshot()["step"]
        assert paused_at > step
        import time

        time.sleep(0.3)
        assert meter.run.snapshot()["step"] == paused_at
    finally:
        meter.close()
    assert meter.run.status == "stopped"
