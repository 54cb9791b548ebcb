"""A long run with one viewer: does the server's memory stay flat, do the in-memory histories stay
bounded, and does the run folder grow as expected?

    python benchmarks/soak.py [--minutes 10]      # --minutes 60 for the hour the README reports

Serves the app on 127.0.0.1 with its runs in a temporary folder, starts the default run from the Train
page's form with unbounded steps and a time limit of `--minutes`, and watches it with one viewer (a
websocket client of Streamlit's protocol, as in benchmarks/viewers.py) at the default refresh. Prints,
once a minute, the server's resident memory, the run's step, and what the viewer is shown: the
points on the loss chart and the grids on the timeline. At the end: memory growth after two warm-ups,
the first `--warmup` minutes, and the time until the server's in-memory histories first reach their
bounds (the engine's metric records and timeline grids; until then they grow by design), with where
it went by kind of mapping; and the run folder's size against what its settings predict.
Everything stops by itself: the run has a time limit, then the client closes and the server ends.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import livechart  # noqa: E402
from app.memory import TRACE_ENV  # noqa: E402
from benchmarks.viewers import Viewer, metrics, resident_mb, start_run  # noqa: E402
from gan_core.config import TrainConfig  # noqa: E402
from gan_core.engine import GRID_HISTORY, HISTORY_POINTS  # noqa: E402
from gan_core.runs import KEEP_CHECKPOINTS  # noqa: E402
from tests.browser import studio_server  # noqa: E402


class CountingViewer(Viewer):
    """A viewer that also notes how many points the loss chart has and how many grids the timeline."""

    chart_points = 0
    timeline = 0

    def _element(self, element) -> None:
        super()._element(element)
        kind = element.WhichOneof("type")
        if kind == "plotly_chart":
            spec = json.loads(element.plotly_chart.spec)
            if spec["layout"].get("uirevision") == "losses" and spec["data"]:
                self.chart_points = _length(spec["data"][0]["x"])
        elif kind == "bidi_component" and element.bidi_component.component_name == livechart.CHARTS_NAME:
            charts = json.loads(element.bidi_component.bytes or b"[]")  # the live canvases
            if charts and charts[0]["title"] == "Losses":
                self.chart_points = len(charts[0]["x"])
        elif kind == "slider" and element.slider.label == "Timeline":
            self.timeline = len(element.slider.options)


def _length(array) -> int:
    """Points in a plotly array: a list, or plotly 6's typed array {"dtype": "f8", "bdata": base64}."""
    if isinstance(array, dict):
        return len(base64.b64decode(array["bdata"])) // np.dtype(array["dtype"]).itemsize
    return len(array)


def memory_map(pid: int) -> dict[str, float]:
    """The process's resident MB by kind of mapping (/proc/PID/smaps): the brk heap, 1 MiB anonymous
    mappings (pymalloc's arenas on Python 3.10+), other anonymous ones up to 64 MiB (glibc's thread
    arenas, thread stacks, numpy's large arrays), larger anonymous ones (TensorFlow's pools), files."""
    kinds = {"heap": 0.0, "pymalloc": 0.0, "anon": 0.0, "anon_large": 0.0, "files": 0.0}
    kind = "files"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header: range perms offset dev inode [path]
            low, high = (int(x, 16) for x in fields[0].split("-"))
            size, path = high - low, fields[5] if len(fields) > 5 else ""
            if path == "[heap]":
                kind = "heap"
            elif path and not path.startswith("["):
                kind = "files"
            else:
                kind = "pymalloc" if size == 2**20 else "anon" if size <= 64 * 2**20 else "anon_large"
        elif fields[0] == "Rss:":
            kinds[kind] += int(fields[1]) / 1024
    return kinds


def folder_bytes(path: Path) -> dict[str, int]:
    """Bytes under `path` by part: metrics.jsonl, samples/, checkpoints/, the rest."""
    parts = {"metrics": 0, "samples": 0, "checkpoints": 0, "other": 0}
    for f in path.rglob("*"):
        if f.is_file():
            rel = f.relative_to(path).parts
            key = "metrics" if rel[0] == "metrics.jsonl" else rel[0] if rel[0] in parts else "other"
            parts[key] += f.stat().st_size
    return parts


async def soak(url: str, pid: int, runs: Path, args) -> list[dict]:
    await start_run(url, args.minutes * 60)
    viewer = CountingViewer(url)
    await viewer.open()
    viewer.active = True
    rows, start = [], time.monotonic()
    while time.monotonic() - start < args.minutes * 60 + 30:
        await asyncio.sleep(60)
        records = metrics(runs)
        row = {
            "minute": round((time.monotonic() - start) / 60),
            "rss_mb": resident_mb(pid),
            "step": records[-1]["step"] if records else 0,
            "chart_points": viewer.chart_points,
            "timeline": viewer.timeline,
            "map": memory_map(pid),
        }
        rows.append(row)
        print(
            f"minute {row['minute']:>3}: server rss {row['rss_mb']:.0f} MB, step {row['step']:,}, "
            f"loss chart {row['chart_points']} points, timeline {row['timeline']} grids; "
            + ", ".join(f"{k} {v:.0f}" for k, v in row["map"].items()),
            flush=True,
        )
        status = next(runs.glob("*/status.json"), None)
        if status and json.loads(status.read_text()).get("status") not in ("running", "compiling", "paused"):
            break
    await viewer.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/soak.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before memory is compared")
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="trace the server's Python allocations (slower) and log where they grow to FILE once a minute",
    )
    args = parser.parse_args()
    if args.trace:
        os.environ[TRACE_ENV] = str(Path(args.trace).resolve())

    runs = Path(tempfile.mkdtemp(prefix="gan-soak-"))
    try:
        with studio_server(runs) as server:
            rows = asyncio.run(soak(server.url, server.pid, runs, args))
        run_dir = next(p for p in runs.iterdir() if (p / "config.json").exists())
        sizes, steps = folder_bytes(run_dir), metrics(runs)[-1]["step"]
    finally:
        shutil.rmtree(runs, ignore_errors=True)

    config = TrainConfig()
    grids = steps // config.sample_every + 1
    print(f"\n{steps:,} steps in {rows[-1]['minute']} minutes")
    full = max(HISTORY_POINTS * config.metrics_every, GRID_HISTORY * config.sample_every)
    bounded = next((r["minute"] for r in rows if r["step"] >= full), None)
    for name, start in (
        (f"the first {args.warmup:g} minutes", args.warmup),
        (f"histories full ({full:,} steps)", bounded),
    ):
        warm = [r for r in rows if start is not None and r["minute"] >= start]
        if len(warm) < 2:
            print(f"server memory after {name}: too few minutes left to compare")
            continue
        first, last = warm[0], warm[-1]
        print(
            f"server memory after {name}: {first['rss_mb']:.0f} MB at minute {first['minute']} -> "
            f"{last['rss_mb']:.0f} MB ({last['rss_mb'] - first['rss_mb']:+.0f} MB); by kind: "
            + ", ".join(f"{k} {last['map'][k] - v:+.0f}" for k, v in first["map"].items())
        )
    points = max(r["chart_points"] for r in rows)
    print(f"most points on the loss chart: {points}; grids on the timeline: {rows[-1]['timeline']}")
    print(
        f"run folder: metrics.jsonl {sizes['metrics'] / 1e6:.1f} MB ({steps // config.metrics_every:,} records), "
        f"samples {sizes['samples'] / 1e6:.1f} MB ({grids:,} grids), checkpoints {sizes['checkpoints'] / 1e6:.1f} MB "
        f"(at most {KEEP_CHECKPOINTS} kept), other {sizes['other'] / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
