"""Health alerts for a training run, read from its metric history: pure functions, no TensorFlow.

    check_health(history, status) -> [Alert(kind, severity, step, message, remedy), ...]

`history` is `History.columns()` from the engine (`snapshot().history`): lists aligned on
"step", holding d_loss, g_loss, d_acc_real, d_acc_fake, d_real, d_fake, images_per_second and,
on the records where they were measured, the quality keys fd_digits, classes_covered,
class_histogram and duplicate_fraction (None elsewhere). `status` is the snapshot (or status.json).

Kinds, each checked independently; a healthy run raises none:

    diverged  a loss became NaN or inf (error)
    collapse  a digit vanished from the generated images, or the images are near copies of each other
    d_wins    the discriminator tells real from fake almost perfectly for a long stretch
    stalled   losses flat and FD-digits not improving for a long stretch, or throughput fell to ~0

Every threshold is a module constant below with the reason for its value. They were checked
against healthy dense-bn runs on mnist-sample (metrics every 25 steps, quality every 250), whose
early steps are noisy: coverage goes 1 -> 8 -> 10 -> 7 -> 10 classes in the first few thousand
steps, so the rules look for a loss of something the run had held, not for any dip.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from gan_core.quality import COVERED_FRACTION

KINDS = ("diverged", "collapse", "d_wins", "stalled")
SEVERITIES = ("warning", "error")

# --- d_wins ------------------------------------------------------------------------------------
# D right on >= 98% of real AND fake images: its outputs saturate and G's gradient carries little
# beyond "everything is fake". A healthy run hovers around 0.6-0.8; the early spike (D learns first)
# lasts ~150 steps in dense-bn, hence a stretch of at least 20 records spanning at least 500 steps.
D_WINS_ACCURACY = 0.98
D_WINS_RECORDS = 20
D_WINS_STEPS = 500

# --- collapse ----------------------------------------------------------------------------------
# A digit counts as lost below COVERED_FRACTION (2%, quality.py's "covered" line; uniform is 10%)
# when it had held more than COLLAPSE_HAD_FRACTION (5%) earlier. At n = 1,000 a true 5% share
# falls below 2% by chance with probability ~3e-7, so a single quality record is evidence enough.
COLLAPSE_HAD_FRACTION = 0.05
# "Earlier" means once coverage had settled: at least this many consecutive quality records with
# all 10 digits. Before that, healthy runs swing between digits (one record at 10 and the next at 7).
COLLAPSE_SETTLED_RECORDS = 3
# Near duplicates: mean absolute pixel difference (pixels in [-1, 1]) below which two images count
# as copies. At 0.03, at most ~2% of a batch of 256 real digits has a copy (two plain 1s), 6% of
# a batch of real 1s alone; a healthy dense-bn generator's closest pair is 0.034-0.055, while the
# collapsed dense-relu run we measured drew images within 0.02 of each other by step 1,000.
DUPLICATE_DISTANCE = 0.03
DUPLICATE_MAX_IMAGES = 256  # pairwise distances are O(n^2): 256 images take a few tens of ms
# Alert when this share of a batch has a near copy in it. Real digits and healthy generators: 0-6%;
# a collapsing one: most of the batch.
DUPLICATE_ALERT_FRACTION = 0.25
# A fresh generator draws near-identical blobs; only judge duplicates after this many steps.
DUPLICATE_WARMUP_STEPS = 1_000
# Error rather than warning: at most this many digits left, or this share of the batch duplicated.
COLLAPSE_SEVERE_CLASSES = 2
COLLAPSE_SEVERE_DUPLICATES = 0.5

# --- stalled -----------------------------------------------------------------------------------
# "Flat": the standard deviation of each loss over the stretch below 5e-4. Records are means over
# metrics_every steps; in a healthy dense-bn run they vary by ~0.006 (d_loss) and ~0.01 (g_loss)
# from one 25-step record to the next, and still by ~0.001 when averaged over 1,000 steps, while a
# dead GAN (D stuck at 0.5, saturated sigmoids) repeats the same value to the fourth decimal.
STALL_LOSS_STD = 5e-4
STALL_RECORDS = 20
STALL_STEPS = 2_000
# FD-digits "not improving": the best value in the stretch is within 2% of the value it began with.
STALL_FD_GAIN = 0.02
# Throughput ~0 while running: the last STALL_IPS_RECORDS records all under 5% of the run's median
# images_per_second. One slow record is a checkpoint or a busy machine; three in a row are not.
STALL_IPS_FRACTION = 0.05
STALL_IPS_RECORDS = 3


@dataclass(frozen=True)
class Alert:
    kind: str  # one of KINDS
    severity: str  # "warning" or "error"
    step: int | None  # where the problem shows (None when unknown)
    message: str  # what is wrong, in a sentence a person can act on
    remedy: str  # what to try


def duplicate_fraction(images, threshold: float = DUPLICATE_DISTANCE, max_images: int = DUPLICATE_MAX_IMAGES) -> float:
    """Share of images (the first `max_images`) that have a near copy among the others: another
    image whose mean absolute pixel difference from it is below `threshold` (pixels in [-1, 1])."""
    flat = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=-1.0)
    flat = flat.reshape(len(flat), -1)[:max_images]
    n = len(flat)
    if n < 2:
        return 0.0
    nearest = np.empty(n, np.float32)
    for i in range(0, n, 32):  # 32 rows at a time: 32 x 256 x 784 floats is ~25 MB
        rows = np.abs(flat[i : i + 32, None, :] - flat[None, :, :]).mean(axis=-1)
        rows[np.arange(len(rows)), np.arange(i, i + len(rows))] = np.inf  # not its own copy
        nearest[i : i + len(rows)] = rows.min(axis=1)
    return float(np.mean(nearest < threshold))


def check_health(history: dict[str, list], status: dict[str, Any] | None = None) -> list[Alert]:
    """Every alert that applies to this history, errors first; an empty list for a healthy run."""
    status = status or {}
    alerts = [
        *_diverged(history, status),
        *_collapse(history),
        *_d_wins(history),
        *_stalled(history, status),
    ]
    return sorted(alerts, key=lambda a: (a.severity != "error", KINDS.index(a.kind)))


# ------------------------------------------------------------------ helpers
def _column(history: dict[str, list], key: str) -> list[tuple[int, Any]]:
    """(step, value) of the records where `key` was measured."""
    steps = history.get("step") or []
    values = history.get(key) or []
    return [(int(s), v) for s, v in zip(steps, values) if s is not None and v is not None]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finite(value: Any) -> float | None:
    """The value as a float, or None when it is missing, not a number, NaN or inf."""
    number = _number(value)
    return number if number is not None and math.isfinite(number) else None


def _trailing(pairs: list[tuple[int, Any]], records: int, steps: int) -> list[tuple[int, Any]] | None:
    """The shortest tail of `pairs` with at least `records` records spanning at least `steps` steps."""
    for start in range(len(pairs) - records, -1, -1):
        if pairs[-1][0] - pairs[start][0] >= steps:
            return pairs[start:]
    return None


# ------------------------------------------------------------------ diverged
def _diverged(history: dict[str, list], status: dict[str, Any]) -> list[Alert]:
    remedy = (
        "Lower the learning rates (halve them) and train again, or try another preset; "
        "BatchNorm presets such as dense-bn are the most forgiving."
    )
    error = str(status.get("error") or "")
    if status.get("status") == "diverged":
        found = re.search(r"at step (\d+)", error)
        step = int(found.group(1)) if found else _finite(status.get("step"))
        step = int(step) if step is not None else None
    else:
        bad = [
            s for key in ("d_loss", "g_loss") for s, v in _column(history, key) if not math.isfinite(_number(v) or 0.0)
        ]
        if not bad:
            return []
        step = min(bad)
    kept = re.search(r"last good checkpoint is step (\d+)", error)
    if kept:
        checkpoint = f"the last good checkpoint (step {kept.group(1)}) is kept"
    elif "no checkpoint" in error:
        checkpoint = "no checkpoint had been written yet, so there is none to go back to"
    else:
        checkpoint = "the last good checkpoint is kept; NaN weights are never saved"
    where = f" at step {step}" if step is not None else ""
    message = f"Training diverged: a loss became NaN or inf{where}. Training stopped and {checkpoint}."
    return [Alert("diverged", "error", step, message, remedy)]


# ------------------------------------------------------------------ collapse
def _collapse(history: dict[str, list]) -> list[Alert]:
    findings: list[str] = []
    severe = False
    step = None

    hists = [
        (s, list(h)) for s, h in _column(history, "class_histogram") if isinstance(h, (list, tuple)) and len(h) == 10
    ]
    covered = [(s, int(v)) for s, v in _column(history, "classes_covered")]
    if not covered:  # a history with histograms only: count the covered digits ourselves
        covered = [(s, sum(f > COVERED_FRACTION for f in h)) for s, h in hists]
    settled = _settled_step(covered)
    if settled is not None:
        last_step, last_covered = covered[-1]
        if last_step > settled and last_covered < 10:
            findings.append(
                f"only {last_covered} of 10 digits are drawn at step {last_step}, after all 10 from step {settled}"
            )
            severe = severe or last_covered <= COLLAPSE_SEVERE_CLASSES
            step = last_step
        if hists and hists[-1][0] > settled:
            last_step, last = hists[-1]
            earlier = [h for s, h in hists if settled <= s < last_step]
            lost = [
                (d, max(h[d] for h in earlier))
                for d in range(10)
                if earlier and last[d] < COVERED_FRACTION and max(h[d] for h in earlier) > COLLAPSE_HAD_FRACTION
            ]
            if lost:
                which = ", ".join(f"{d} ({100 * last[d]:.1f}%, had {100 * had:.0f}%)" for d, had in lost)
                findings.append(f"digit{'s' if len(lost) > 1 else ''} {which} almost vanished at step {last_step}")
                step = last_step

    duplicates = [(s, _finite(v)) for s, v in _column(history, "duplicate_fraction")]
    duplicates = [(s, v) for s, v in duplicates if v is not None and s >= DUPLICATE_WARMUP_STEPS]
    if duplicates and duplicates[-1][1] >= DUPLICATE_ALERT_FRACTION:
        s, v = duplicates[-1]
        findings.append(f"{100 * v:.0f}% of the generated images are near copies of one another at step {s}")
        severe = severe or v >= COLLAPSE_SEVERE_DUPLICATES
        step = max(step or 0, s)

    if not findings:
        return []
    message = "Mode collapse: " + "; ".join(findings) + ". The generator is drawing fewer kinds of image."
    remedy = (
        "Restart from a checkpoint saved before the collapse (a run keeps its last 3), "
        "or train again with lower learning rates or another preset such as dense-bn."
    )
    return [Alert("collapse", "error" if severe else "warning", step, message, remedy)]


def _settled_step(covered: list[tuple[int, int]]) -> int | None:
    """The step that ends the first run of COLLAPSE_SETTLED_RECORDS records with all 10 digits."""
    streak = 0
    for s, v in covered:
        streak = streak + 1 if v >= 10 else 0
        if streak >= COLLAPSE_SETTLED_RECORDS:
            return s
    return None


# ------------------------------------------------------------------ d_wins
def _d_wins(history: dict[str, list]) -> list[Alert]:
    steps = history.get("step") or []
    real = history.get("d_acc_real") or []
    fake = history.get("d_acc_fake") or []
    pairs = [
        (int(s), min(float(r), float(f)))
        for s, r, f in zip(steps, real, fake)
        if s is not None and _finite(r) is not None and _finite(f) is not None
    ]
    streak = []
    for s, worst in reversed(pairs):
        if not worst >= D_WINS_ACCURACY:
            break
        streak.append(s)
    if len(streak) < D_WINS_RECORDS or streak[0] - streak[-1] < D_WINS_STEPS:
        return []
    since = streak[-1]
    return [
        Alert(
            "d_wins",
            "warning",
            since,
            f"The discriminator has been winning outright since step {since}: it tells real from fake on at least "
            f"{100 * D_WINS_ACCURACY:.0f}% of both for {streak[0] - since} steps, so the generator learns little.",
            "Lower the discriminator's learning rate or raise the generator's, set d_updates to 1, "
            "try the hinge or wgan-gp loss, or a preset whose discriminator has dropout (dense-conv, dcgan).",
        )
    ]


# ------------------------------------------------------------------ stalled
def _stalled(history: dict[str, list], status: dict[str, Any]) -> list[Alert]:
    alerts = []
    running = status.get("status") in (None, "running")
    ips = [(s, _finite(v)) for s, v in _column(history, "images_per_second")]
    ips = [(s, v) for s, v in ips if v is not None]
    if running and len(ips) > STALL_IPS_RECORDS:
        typical = float(np.median([v for _, v in ips[:-STALL_IPS_RECORDS]]))
        recent = ips[-STALL_IPS_RECORDS:]
        if typical > 0 and all(v < STALL_IPS_FRACTION * typical for _, v in recent):
            alerts.append(
                Alert(
                    "stalled",
                    "warning",
                    recent[0][0],
                    f"Training has almost stopped: {recent[-1][1]:.0f} images per second since step {recent[0][0]}, "
                    f"against {typical:.0f} before.",
                    "Check what else is using the CPU, or pause other runs; if nothing else is running, stop and "
                    "resume the run.",
                )
            )

    losses = [
        (s, _finite(d), _finite(g))
        for s, d, g in zip(history.get("step") or [], history.get("d_loss") or [], history.get("g_loss") or [])
    ]
    losses = [(int(s), d, g) for s, d, g in losses if s is not None and d is not None and g is not None]
    tail = _trailing([(s, (d, g)) for s, d, g in losses], STALL_RECORDS, STALL_STEPS)
    if tail is None:
        return alerts
    d_std = float(np.std([d for _, (d, _g) in tail]))
    g_std = float(np.std([g for _, (_d, g) in tail]))
    if not (d_std < STALL_LOSS_STD and g_std < STALL_LOSS_STD):
        return alerts
    since = tail[0][0]
    fd = [(s, _finite(v)) for s, v in _column(history, "fd_digits") if s >= since]
    fd = [(s, v) for s, v in fd if v is not None]
    if len(fd) >= 2 and min(v for _, v in fd[1:]) < fd[0][1] * (1 - STALL_FD_GAIN):
        return alerts  # the losses are flat but the images still get better
    fd_note = f" and FD-digits has not improved ({fd[0][1]:.1f} -> {fd[-1][1]:.1f})" if len(fd) >= 2 else ""
    alerts.append(
        Alert(
            "stalled",
            "warning",
            since,
            f"No progress since step {since}: d_loss and g_loss have stayed flat "
            f"(d_loss {tail[-1][1][0]:.3f}, g_loss {tail[-1][1][1]:.3f}){fd_note} over {tail[-1][0] - since} steps.",
            "Stop here if the samples look good; otherwise restart with higher learning rates or another preset.",
        )
    )
    return alerts
