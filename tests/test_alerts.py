"""Health alerts on synthetic metric histories shaped like a real dense-bn run on mnist-sample.

Pure numpy: these tests never import TensorFlow."""

import math
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_core.alerts import (
    COLLAPSE_SETTLED_RECORDS,
    D_WINS_RECORDS,
    D_WINS_STEPS,
    DUPLICATE_WARMUP_STEPS,
    KINDS,
    Alert,
    check_health,
    duplicate_fraction,
)

METRICS_EVERY = 25
QUALITY_EVERY = 250
# classes_covered of a real healthy dense-bn run at steps 250, 500, ...: noisy before it settles.
HEALTHY_COVERAGE = [1, 3, 7, 8, 8, 8, 10, 7, 9, 10]


QUALITY_KEYS = ("fd_digits", "classes_covered", "class_histogram", "duplicate_fraction")


def healthy_history(steps: int = 5_000, seed: int = 0) -> dict[str, list]:
    """Columns as History.columns() gives them: metrics every 25 steps, quality every 250 (None between).

    The figures follow a real dense-bn run: D wins the first ~150 steps, then d_loss ~0.6 and
    g_loss ~0.9 with record-to-record noise, accuracies ~0.7, FD falling from ~500 to ~55."""
    rng = np.random.default_rng(seed)
    records = [healthy_record(step, rng) for step in range(METRICS_EVERY, steps + 1, METRICS_EVERY)]
    return {k: [r[k] for r in records] for k in records[0]}


def healthy_record(step: int, rng) -> dict:
    early = step <= 150
    record = {
        "step": step,
        "epoch": step * 64 / 5000,
        "d_loss": 0.05 if early else 0.6 + rng.normal(0, 0.015),
        "g_loss": 4.0 if early else 0.9 + rng.normal(0, 0.03),
        "d_acc_real": 1.0 if early else float(np.clip(0.68 + rng.normal(0, 0.03), 0, 1)),
        "d_acc_fake": 1.0 if early else float(np.clip(0.70 + rng.normal(0, 0.04), 0, 1)),
        "d_real": 0.58,
        "d_fake": 0.43,
        "images_per_second": 1500 + rng.normal(0, 300),
        **dict.fromkeys(QUALITY_KEYS),
    }
    if step % QUALITY_EVERY == 0:
        index = step // QUALITY_EVERY - 1
        covered = HEALTHY_COVERAGE[index] if index < len(HEALTHY_COVERAGE) else 10
        record.update(
            fd_digits=500 * math.exp(-step / 1500) + 50 + rng.normal(0, 3),
            classes_covered=covered,
            class_histogram=histogram_covering(covered, rng),
            duplicate_fraction=0.0 if step > 500 else 0.6,  # a fresh generator's blobs look alike
        )
    return record


def histogram_covering(covered: int, rng) -> list[float]:
    """Fractions of 10 digits with exactly `covered` of them above 2%."""
    weights = np.zeros(10)
    weights[:covered] = rng.uniform(0.7, 1.3, covered)
    hist = 0.99 * weights / weights.sum()
    hist[covered:] = 0.01 / max(1, 10 - covered) if covered < 10 else 0.0
    hist = hist / hist.sum()
    return [float(h) for h in hist]


def extended(cols: dict[str, list], steps: int, **overrides) -> dict[str, list]:
    """`cols` continued healthily for `steps` more steps, except for `overrides`: functions of the
    step giving that key's value in each new record."""
    out = {k: list(v) for k, v in cols.items()}
    rng = np.random.default_rng(out["step"][-1])
    last = out["step"][-1]
    for step in range(last + METRICS_EVERY, last + steps + 1, METRICS_EVERY):
        record = healthy_record(step, rng)
        for key, column in out.items():
            column.append(overrides[key](step) if key in overrides else record[key])
    return out


def kinds(alerts: list[Alert]) -> list[str]:
    return [a.kind for a in alerts]


# ------------------------------------------------------------------ healthy
def test_healthy_history_raises_no_alert():
    for seed in range(5):
        history = healthy_history(seed=seed)
        assert check_health(history, {"status": "running"}) == []
        assert check_health(history, {"status": "finished"}) == []
        assert check_health(history) == []


def test_empty_and_partial_histories_raise_no_alert():
    assert check_health({}) == []
    assert check_health({"step": [], "d_loss": [], "g_loss": []}, {"status": "compiling"}) == []
    assert check_health({"step": [25], "d_loss": [0.6], "g_loss": [0.9]}) == []


def test_healthy_history_before_quality_settles_raises_no_alert():
    # Coverage 10 -> 7 at step 2000 happens in healthy runs before coverage has settled.
    history = healthy_history(steps=2_000)
    assert history["classes_covered"][-1] == 7
    assert check_health(history) == []


# ------------------------------------------------------------------ d_wins
def test_d_wins_fires_after_a_long_stretch():
    history = extended(healthy_history(), 1_000, d_acc_real=lambda s: 1.0, d_acc_fake=lambda s: 0.99)
    alerts = check_health(history)
    assert kinds(alerts) == ["d_wins"]
    (alert,) = alerts
    assert alert.severity == "warning"
    assert alert.step == 5_025  # when the stretch began
    assert "since step 5025" in alert.message
    assert "learning rate" in alert.remedy


def test_d_wins_needs_both_many_records_and_many_steps():
    short = extended(healthy_history(), D_WINS_STEPS - 100, d_acc_real=lambda s: 1.0, d_acc_fake=lambda s: 1.0)
    assert check_health(short) == []
    # 20 records but only 100 steps (metrics every 5 steps): not yet a long stretch.
    steps = list(range(5, 5 * (D_WINS_RECORDS + 1), 5))
    few_steps = {"step": steps, "d_acc_real": [1.0] * len(steps), "d_acc_fake": [1.0] * len(steps)}
    assert check_health(few_steps) == []


def test_d_wins_needs_both_accuracies():
    history = extended(healthy_history(), 2_000, d_acc_real=lambda s: 1.0, d_acc_fake=lambda s: 0.9)
    assert check_health(history) == []


# ------------------------------------------------------------------ collapse
def test_collapse_fires_when_a_digit_vanishes():
    lost3 = [0.11, 0.11, 0.11, 0.005, 0.11, 0.11, 0.11, 0.11, 0.115, 0.115]
    history = extended(
        healthy_history(),
        QUALITY_EVERY,
        classes_covered=lambda s: 9 if s % QUALITY_EVERY == 0 else None,
        class_histogram=lambda s: lost3 if s % QUALITY_EVERY == 0 else None,
        fd_digits=lambda s: 90.0 if s % QUALITY_EVERY == 0 else None,
    )
    alerts = check_health(history)
    assert kinds(alerts) == ["collapse"]
    (alert,) = alerts
    assert alert.severity == "warning"
    assert alert.step == 5_250
    assert "only 9 of 10 digits" in alert.message
    assert "digit 3 (0.5%" in alert.message
    assert "checkpoint" in alert.remedy


def test_collapse_from_class_histograms_alone():
    # Without classes_covered in the history the histograms tell coverage. A digit down to 2.5% is
    # still drawn: no alert. Below 2% after having held more than 5%: collapse.
    history = healthy_history()
    del history["classes_covered"]
    low7 = [0.1] * 10
    low7[7], low7[0] = 0.025, 0.175

    def quality(hist):
        return lambda s: hist if s % QUALITY_EVERY == 0 else None

    assert check_health(extended(history, QUALITY_EVERY, class_histogram=quality(low7))) == []
    lost7 = [0.1] * 10
    lost7[7], lost7[0] = 0.01, 0.19
    alerts = check_health(extended(history, QUALITY_EVERY, class_histogram=quality(lost7)))
    assert kinds(alerts) == ["collapse"]
    assert "digit 7 (1.0%" in alerts[0].message


def test_collapse_to_one_digit_is_an_error():
    one = [0.0] * 10
    one[1] = 1.0
    history = extended(
        healthy_history(),
        QUALITY_EVERY,
        classes_covered=lambda s: 1 if s % QUALITY_EVERY == 0 else None,
        class_histogram=lambda s: one if s % QUALITY_EVERY == 0 else None,
    )
    (alert,) = check_health(history)
    assert (alert.kind, alert.severity) == ("collapse", "error")
    assert "only 1 of 10" in alert.message


def test_collapse_fires_on_near_duplicate_images():
    history = extended(
        healthy_history(), QUALITY_EVERY, duplicate_fraction=lambda s: 0.9 if s % QUALITY_EVERY == 0 else None
    )
    (alert,) = check_health(history)
    assert (alert.kind, alert.severity, alert.step) == ("collapse", "error", 5_250)
    assert "90% of the generated images are near copies" in alert.message


def test_duplicates_during_warmup_do_not_alert():
    # A fresh generator's blobs look alike: 60% near copies at step 500 is no collapse yet.
    history = healthy_history(steps=500)
    assert history["duplicate_fraction"][-1] == 0.6 and history["step"][-1] < DUPLICATE_WARMUP_STEPS
    assert check_health(history) == []


def test_coverage_must_settle_before_a_drop_counts():
    covered = [10] * (COLLAPSE_SETTLED_RECORDS - 1) + [6]
    history = {"step": [250 * (i + 1) for i in range(len(covered))], "classes_covered": covered}
    assert check_health(history) == []
    covered = [10] * COLLAPSE_SETTLED_RECORDS + [6]
    history = {"step": [250 * (i + 1) for i in range(len(covered))], "classes_covered": covered}
    assert kinds(check_health(history)) == ["collapse"]


def test_duplicate_fraction():
    rng = np.random.default_rng(0)
    distinct = rng.uniform(-1, 1, (64, 28, 28, 1)).astype("float32")
    assert duplicate_fraction(distinct) == 0.0
    one = distinct[:1]
    copies = np.repeat(one, 64, axis=0) + rng.normal(0, 0.005, (64, 28, 28, 1)).astype("float32")
    assert duplicate_fraction(copies) == 1.0
    half = np.concatenate([distinct[32:], copies[:32]])
    assert duplicate_fraction(half) == 0.5
    # Only the first max_images are compared; fewer than two images have no pairs.
    assert duplicate_fraction(np.concatenate([distinct, copies]), max_images=64) == 0.0
    assert duplicate_fraction(one) == 0.0
    # NaN images count as blank (as they are drawn), so a batch of NaNs is all copies.
    assert duplicate_fraction(np.full((8, 28, 28, 1), np.nan)) == 1.0


# ------------------------------------------------------------------ diverged
ENGINE_ERROR = (
    "a loss became NaN or inf at step 1234; training stopped (the last good checkpoint is step 1000). "
    "Try a lower learning rate or a different preset."
)


def test_diverged_from_the_engine_status():
    (alert,) = check_health(healthy_history(steps=1_225), {"status": "diverged", "step": 1_250, "error": ENGINE_ERROR})
    assert (alert.kind, alert.severity, alert.step) == ("diverged", "error", 1234)
    assert "at step 1234" in alert.message
    assert "last good checkpoint (step 1000) is kept" in alert.message
    assert "learning rate" in alert.remedy


def test_diverged_before_any_checkpoint_says_so():
    error = "a loss became NaN or inf at step 40; training stopped (no checkpoint was written). Try ..."
    (alert,) = check_health({}, {"status": "diverged", "error": error})
    assert alert.step == 40
    assert "no checkpoint" in alert.message


def test_diverged_from_nan_in_the_history():
    history = healthy_history(steps=1_000)
    history["g_loss"][20] = float("nan")
    history["d_loss"][30] = float("inf")
    (alert,) = check_health(history)
    assert (alert.kind, alert.step) == ("diverged", history["step"][20])
    assert "kept" in alert.message


# ------------------------------------------------------------------ stalled
def flat_losses_history(fd_digits):
    """A healthy history followed by 3,000 steps of losses stuck at log(2), FD-digits given by `fd_digits(step)`."""
    rng = np.random.default_rng(1)
    return extended(
        healthy_history(),
        3_000,
        d_loss=lambda s: 0.6931 + rng.normal(0, 1e-5),
        g_loss=lambda s: 0.6931 + rng.normal(0, 1e-5),
        fd_digits=lambda s: fd_digits(s) if s % QUALITY_EVERY == 0 else None,
    )


def test_stalled_when_losses_are_flat_and_fd_does_not_improve():
    noise = np.random.default_rng(2)
    history = flat_losses_history(lambda s: 120 + noise.normal(0, 0.5))
    alerts = check_health(history, {"status": "running"})
    assert kinds(alerts) == ["stalled"]
    assert alerts[0].severity == "warning"
    assert "flat" in alerts[0].message and "FD-digits has not improved" in alerts[0].message
    assert alerts[0].step > 5_000


def test_not_stalled_while_fd_still_improves():
    history = flat_losses_history(lambda s: 120 - (s - 5_000) / 100)
    assert check_health(history) == []


def test_stalled_when_throughput_drops_to_zero_while_running():
    history = extended(healthy_history(), 75, images_per_second=lambda s: 3.0)
    (alert,) = check_health(history, {"status": "running"})
    assert (alert.kind, alert.step) == ("stalled", 5_025)
    assert "images per second" in alert.message
    # Paused or finished runs are not stalled; one slow record is not a stall.
    assert check_health(history, {"status": "paused"}) == []
    assert check_health(extended(healthy_history(), 25, images_per_second=lambda s: 3.0), {"status": "running"}) == []


# ------------------------------------------------------------------ all together
def test_several_alerts_come_errors_first():
    history = extended(healthy_history(), 1_000, d_acc_real=lambda s: 1.0, d_acc_fake=lambda s: 1.0)
    alerts = check_health(history, {"status": "diverged", "error": ENGINE_ERROR})
    assert kinds(alerts) == ["diverged", "d_wins"]
    for alert in alerts:
        assert alert.kind in KINDS and alert.severity in ("warning", "error")
        assert alert.message.endswith(".") and alert.remedy


values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 20))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 30).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "step": st.lists(st.integers(0, 10_000), min_size=n, max_size=n).map(sorted),
                "d_loss": st.lists(values, min_size=n, max_size=n),
                "g_loss": st.lists(values, min_size=n, max_size=n),
                "d_acc_real": st.lists(values, min_size=n, max_size=n),
                "d_acc_fake": st.lists(values, min_size=n, max_size=n),
                "images_per_second": st.lists(values, min_size=n, max_size=n),
                "fd_digits": st.lists(values, min_size=n, max_size=n),
                "classes_covered": st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=n, max_size=n),
                "duplicate_fraction": st.lists(values, min_size=n, max_size=n),
            }
        )
    ),
    st.sampled_from([None, {"status": "running"}, {"status": "diverged"}, {"status": "diverged", "error": "x"}]),
)
def test_check_health_never_crashes(history, status):
    for alert in check_health(history, status):
        assert alert.kind in KINDS and alert.severity in ("warning", "error")


def test_alerts_never_import_tensorflow():
    code = "import sys, gan_core.alerts; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
