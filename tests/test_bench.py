"""Smoke test of the throughput benchmark (gan_core.bench): every row runs and reports a figure.

Speeds are not asserted: on a shared two-core machine they say nothing about the code.
"""

from __future__ import annotations

import math
import re
import tempfile

import pytest

from gan_core import bench


@pytest.mark.timeout(180)
def test_bench_quick_on_tiny_reports_every_row(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # row c's runs folder lands here

    results = bench.main(["--presets", "tiny", "--quick", "--seconds", "0.5"])

    assert set(results) == {("a", "tiny"), ("b", "tiny"), ("c", "tiny")}
    for key, m in results.items():
        assert math.isfinite(m.images_per_second) and m.images_per_second > 0, (key, m)
        assert m.steps > 0 and m.seconds > 0, (key, m)
        assert math.isfinite(m.cpu_ms_per_step) and m.cpu_ms_per_step > 0, (key, m)
    assert results["c", "tiny"].seconds >= 0.5 * 1.25  # row c's window is 1.25x --seconds
    assert not list(tmp_path.glob("gan-bench-runs-*")), "row c left its runs folder behind"

    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"b/a tiny=\d+\.\d\d c/b=\d+\.\d\d", last), last
    # With the default presets the last line has exactly the documented shape.
    assert bench.summary_line({"dense-bn": 3.456, "dcgan": 1.0}, 0.954) == "b/a dense=3.46 dcgan=1.00 c/b=0.95"
