"""What a viewer's browser costs the run: CPU of chromium and of the app server while the demo run
trains with the Train page open in headless chromium.

    python benchmarks/browser_cost.py [--seconds 20] [--refresh "every 5 s"]

Prints the run's images per second over the window (from its metrics.jsonl), the app server's CPU
cores (training and the page's reruns) and chromium's, summed over its processes, with the busiest
three. Run it on a quiet machine; the figures are for comparing page designs on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan_core.config import TrainConfig  # noqa: E402 -- importable once the root is on the path
from tests.browser import app_button, chromium_page, studio_server, wait_until  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def chromium_processes() -> dict[int, str]:
    """pid -> process type (browser, renderer, gpu-process, ...) of every chromium process."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "chrom" not in (proc / "comm").read_text():
                continue
            command = (proc / "cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
        kind = re.search(r"--type=(\S+)", command)
        found[int(proc.name)] = kind.group(1) if kind else "browser"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/browser_cost.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window (default %(default)s)")
    parser.add_argument("--refresh", help="the Train page's live view choice to click, e.g. 'every 5 s'")
    args = parser.parse_args()

    runs = Path(tempfile.mkdtemp(prefix="gan-browser-cost-"))

    def records() -> list[dict]:
        files = list(runs.glob("*/metrics.jsonl"))
        if not files:
            return []
        return [r for r in map(json.loads, files[0].read_text().splitlines()) if "d_loss" in r]

    try:
        with studio_server(runs) as server, chromium_page() as page:
            page.goto(server.url)
            page.get_by_role("button", name="Start a demo run").click()
            wait_until(lambda: len(records()) > 3, 600, what="the first metrics")
            if args.refresh:
                page.get_by_text(args.refresh, exact=True).click()
            time.sleep(3)  # past the first grids and chart draws
            chromium = chromium_processes()
            first, t0 = records()[-1], time.perf_counter()
            server0, chromium0 = cpu_seconds(server.pid), {pid: cpu_seconds(pid) for pid in chromium}
            time.sleep(args.seconds)
            last, wall = records()[-1], time.perf_counter() - t0
            server1, chromium1 = cpu_seconds(server.pid), {pid: cpu_seconds(pid) for pid in chromium}
            app_button(page, "Stop").click()
            wait_until(lambda: page.get_by_text("Stopped at step").count() > 0, 120, what="the stop")
    finally:
        shutil.rmtree(runs, ignore_errors=True)

    batch = TrainConfig().resolved().batch_size  # the demo run trains the defaults
    rate = (last["step"] - first["step"]) * batch / (last["time"] - first["time"])
    per_process = {pid: (chromium1[pid] - chromium0[pid]) / wall for pid in chromium}
    refresh = f", live view {args.refresh}" if args.refresh else ""
    print(f"the run trained at {rate:,.0f} img/s over {wall:.0f} s with the Train page open{refresh}")
    print(f"app server (training + page reruns): {(server1 - server0) / wall:.2f} cores")
    print(f"chromium, {len(chromium)} processes: {sum(per_process.values()):.2f} cores")
    for pid, cores in sorted(per_process.items(), key=lambda kv: -kv[1])[:3]:
        print(f"  {chromium[pid]:<16} {cores:.2f} cores")


if __name__ == "__main__":
    main()
