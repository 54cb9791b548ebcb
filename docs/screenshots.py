"""Screenshots of each page of the real app, for the README: `python docs/screenshots.py`.

Starts the app on a free port with its runs in a temporary folder, trains the demo run for a
while in the browser (halving G's learning rate on the way, so the charts show a marker), then
saves docs/train.png, docs/explore.png and docs/runs.png; branches the run from the Runs page,
trains the branch a little and saves docs/compare.png of the two. Last, the control room: a run the
CLI trains in another process, followed from the Runs page (docs/control-room.png), then stopped
from the page.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import (  # noqa: E402
    app_button,
    chromium_page,
    image_src,
    live_chart,
    steer_in_page,
    studio_server,
    wait_until,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-seconds", type=float, default=90, help="how long the demo trains before the shots")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as runs, studio_server(Path(runs)) as server, chromium_page() as page:
        page.goto(server.url)
        page.get_by_role("button", name="Start a demo run").click()
        wait_until(lambda: live_chart(page, "Losses"), 180, what="a loss curve")
        time.sleep(args.train_seconds / 2)
        steer_in_page(page, "g_learning_rate", "0.0004")
        time.sleep(args.train_seconds / 2)
        page.mouse.wheel(0, -10_000)  # back to the top after the expander
        time.sleep(1)
        page.screenshot(path=args.out / "train.png")
        print(args.out / "train.png")

        app_button(page, "Stop").click()
        wait_until(lambda: page.get_by_text("Stopped at step").count() > 0, 60, what="the stopped status")
        page.get_by_role("link", name="Explore").click()
        wait_until(lambda: image_src(page, "(slerp)"), 90, what="the explorer's image")
        time.sleep(2)
        page.screenshot(path=args.out / "explore.png", full_page=True)
        print(args.out / "explore.png")

        page.get_by_role("link", name="Runs").click()
        wait_until(lambda: page.get_by_text("metrics.csv").count() > 0, 60, what="the runs list")
        time.sleep(1)
        page.screenshot(path=args.out / "runs.png")
        print(args.out / "runs.png")

        page.get_by_role("button", name="Branch…").first.click()
        page.get_by_role("button", name="Start the branch").click()
        wait_until(lambda: page.get_by_text("Change settings while it trains").count() > 0, 240, what="the branch")
        time.sleep(args.train_seconds / 2)
        page.mouse.wheel(0, -10_000)
        app_button(page, "Stop").click()
        wait_until(lambda: page.get_by_text("Stopped at step").count() > 0, 60, what="the stopped branch")
        ids = ",".join(sorted(p.name for p in Path(runs).iterdir() if (p / "config.json").exists()))
        page.goto(f"{server.url}/compare?runs={ids}")
        wait_until(lambda: page.locator(".js-plotly-plot").count() >= 2, 90, what="the compared curves")
        time.sleep(2)
        page.screenshot(path=args.out / "compare.png", full_page=True)
        print(args.out / "compare.png")

        command = [sys.executable, "-m", "gan_core", "train", "--steps", "200000", "--out", runs, "--quiet"]
        cli = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        try:
            wait_until(lambda: '"running"' in "".join(p.read_text() for p in Path(runs).glob("*/status.json")), 180)
            page.goto(f"{server.url}/runs")  # the Runs page reads the folder when it opens
            wait_until(lambda: page.get_by_text("Live: trained by process").count() > 0, 180, what="the CLI's run")
            app_button(page, "Follow").click()
            wait_until(lambda: live_chart(page, "Losses"), 90, what="the followed run's curves")
            time.sleep(args.train_seconds / 3)
            page.screenshot(path=args.out / "control-room.png")
            print(args.out / "control-room.png")
            app_button(page, "Stop").click()
            cli.wait(90)
        finally:
            cli.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
