"""Smoke test of the throughput benchmark (benchmarks.bench): every row runs and reports a figure.

Speeds are not asserted: on a shared two-core machine they say nothing about the code.
"""

from __future__ import annotations

import math
import re
import tempfile
import time

import pytest

from benchmarks import bench
from gan_core.losses import LOSSES

LOSS_KEYS = {"b-minimax", "b-lsgan", "b-hinge", "b-wgan-gp"}  # bce is row b itself


@pytest.mark.timeout(420)
def test_bench_quick_on_tiny_reports_every_row(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # row c's runs folder lands here
    # One loss row stands for all four: each builds and compiles its own GAN, which on a busy
    # two-core machine takes longer than everything else here (the report test covers the rest).
    every_loss_row = bench.loss_rows
    monkeypatch.setattr(bench, "loss_rows", lambda preset: [r for r in every_loss_row(preset) if r.key == "b-wgan-gp"])

    results = bench.main(["--presets", "tiny", "--quick", "--seconds", "1", "--rounds", "2"])

    # The loss rows are on by default, for the headline preset: tiny when it is the only one.
    assert set(results) == {(key, "tiny") for key in ("a", "b0", "b", "c", "b-wgan-gp")}
    for key, m in results.items():
        assert math.isfinite(m.images_per_second) and m.images_per_second > 0, (key, m)
        assert m.steps > 0 and m.seconds > 0, (key, m)
        assert math.isfinite(m.cpu_ms_per_step) and m.cpu_ms_per_step > 0, (key, m)
        assert len(m.rates) == 2 and m.images_per_second == pytest.approx(sum(m.rates) / 2)  # the median of two
    # Ratios pair the windows measured in the same round.
    a, b = results["a", "tiny"].rates, results["b", "tiny"].rates
    assert bench.ratio(results, "b", "a", "tiny") == pytest.approx((b[0] / a[0] + b[1] / a[1]) / 2)
    assert not list(tmp_path.glob("gan-bench-runs-*")), "row c left its runs folder behind"

    out = capsys.readouterr().out
    assert "ema=0 " in _table_line(out, "b0") and "ema=0.999" in _table_line(out, "b")
    assert "loss wgan-gp, 5 D update(s)/step" in _table_line(out, "b-wgan-gp")
    assert re.search(r"^tiny\s+b/b0 = \d+\.\d\d ", out, re.MULTILINE), out
    assert "losses tiny img/s" not in out  # only with every family measured
    last = out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"b/a tiny=\d+\.\d\d c/b=\d+\.\d\d", last), last


def _table_line(out: str, key: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"{key}  "))


def test_report_ends_with_the_losses_line_and_the_summary_line():
    """With the default presets the last two lines have exactly the documented shapes."""
    presets = list(bench.DEFAULT_PRESETS)
    keys = {"a": 1000.0, "b0": 4000.0, "b": 3600.0, "c": 3400.0} | dict.fromkeys(LOSS_KEYS, 3000.0)
    results = {
        (key, p): bench.Measurement(rate, 100, 1.0, 1.0, 1.0, rates=(rate, rate))
        for key, rate in keys.items()
        for p in presets
        if key not in LOSS_KEYS or p == "dense-bn"
    }
    results["b", "dense-bn"] = bench.Measurement(3456.4, 100, 1.0, 1.0, 1.0, rates=(3456.4, 3456.4))

    lines = bench.report_lines(bench.ROWS, presets, results)

    assert lines[-2] == "losses dense-bn img/s: bce=3456 minimax=3000 lsgan=3000 hinge=3000 wgan-gp=3000"
    assert lines[-1] == "b/a dense=3.46 dcgan=3.60 c/b=0.98"
    ema = "b/b0 = 0.90 (by CPU ms/step: 1.00): averaging G's weights (ema=0.999) costs 10% of the step's img/s"
    assert any(line.startswith("dcgan ") and line.endswith(ema) for line in lines), lines
    assert bench.summary_line({"dense-bn": 3.456, "dcgan": 1.0}, 0.954) == "b/a dense=3.46 dcgan=1.00 c/b=0.95"


def test_loss_rows_measure_every_other_family_on_one_preset():
    rows = bench.loss_rows("dense-bn")
    assert {r.key for r in rows} == LOSS_KEYS and len(LOSS_KEYS) == len(LOSSES) - 1
    assert all(r.measures("dense-bn") and not r.measures("dcgan") for r in rows)
    assert bench.parse_args([]).losses and not bench.parse_args(["--no-losses"]).losses


def test_run_rows_measures_a_row_only_for_its_preset():
    windows = []

    class Fake(bench.Meter):
        def window(self, seconds):
            windows.append(seconds)
            return bench.Window(images=64, seconds=0.5, cpu_seconds=0.5)

    rows = [
        bench.Row("x", "every preset", lambda p, s: Fake()),
        bench.Row("y", "dcgan only", lambda p, s: Fake(), only="dcgan"),
    ]
    results = bench.run_rows(rows, ["tiny", "dcgan"], batch_size=64, seconds=1.0, warmup_steps=1, report=lambda _: None)
    assert set(results) == {("x", "tiny"), ("x", "dcgan"), ("y", "dcgan")}
    assert results["y", "dcgan"].images_per_second == 128 and len(windows) == 3


@pytest.mark.timeout(120)
def test_wgan_gp_row_counts_generator_step_images():
    """Five critic updates a step, each on its own batch, and still batch_size images a step."""
    (row,) = [r for r in bench.loss_rows("tiny") if r.key == "b-wgan-gp"]
    meter = row.setup("tiny", bench.Settings(batch_size=16, seconds=1, warmup_steps=2))
    assert int(meter.gan.d_updates.numpy()) == 5
    before = int(meter.gan.step.numpy())
    window = meter.window(0.2)
    assert window.images == (int(meter.gan.step.numpy()) - before) * 16 > 0


def test_paused_engine_row_costs_nothing_between_its_windows(tmp_path, monkeypatch):
    """Row c pauses its run between windows, so it never competes with the rows measured in turn."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    meter = bench.EngineRun("tiny", bench.Settings(batch_size=16, seconds=1, warmup_steps=2))
    try:
        assert meter.run.status == "paused"
        assert meter.config.precision is not None  # the engine's choice, for the row's note
        step = meter.run.snapshot().step
        window = meter.window(0.5)
        assert window.images > 0 and window.seconds > 0
        assert meter.run.status == "paused"
        paused_at = meter.run.snapshot().step
        assert paused_at > step
        time.sleep(0.3)
        assert meter.run.snapshot().step == paused_at
    finally:
        meter.close()
    assert meter.run.status == "stopped"
