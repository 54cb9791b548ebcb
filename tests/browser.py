"""A real app in a real browser: `streamlit run dashboard.py` on a free port, driven by Debian's chromium.

Shared by the browser test, the screenshot script (docs/screenshots.py) and the benchmark's
browser row. Playwright cannot download a browser here, so it drives the system's chromium.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from app.memory import SERVER_ENV

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server(NamedTuple):
    url: str
    pid: int


def server_env(runs_dir: Path) -> dict[str, str]:
    """The environment a test server starts in: README's (`SERVER_ENV`, unless this process's own
    environment sets those names otherwise), with its runs under `runs_dir`."""
    return {**SERVER_ENV, **os.environ, "GAN_STUDIO_RUNS": str(runs_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}


@contextlib.contextmanager
def studio_server(runs_dir: Path, timeout: float = 60.0) -> Iterator[Server]:
    """The app served on localhost with its runs under `runs_dir`; yields its URL and process id."""
    port = free_port()
    env = server_env(runs_dir)
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard.py",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = open(runs_dir / "streamlit.log", "w")  # noqa: SIM115 -- closed below
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not come up; see {runs_dir / 'streamlit.log'}")
            time.sleep(0.2)
        yield Server(url, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@contextlib.contextmanager
def chromium_page(width: int = 1600, height: int = 1000):
    """A Playwright page in headless Debian chromium."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("chromium is not installed: apt-get install chromium (Debian)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def app_button(page, name: str):
    """The app's own button called `name`, not Streamlit's "Stop" in the status widget at the top,
    which shows while a script run takes long."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name)


def steer_in_page(page, name: str, value: str) -> None:
    """Change setting `name` of the training run through the Train page's steering form, then fold it again."""
    steer = page.get_by_test_id("stExpander").filter(has_text="Change settings while it trains")
    steer.get_by_text("Change settings while it trains").click()
    box = steer.get_by_role("spinbutton", name=name)
    box.fill(value)
    box.press("Tab")
    steer.get_by_role("button", name="Apply").click()
    steer.get_by_text("Change settings while it trains").click()


def image_src(page, caption_text: str) -> str | None:
    """The src of the st.image whose caption contains `caption_text` (None while it is not shown)."""
    images = page.locator('[data-testid="stImage"], [data-testid="stImageContainer"]').filter(has_text=caption_text)
    if images.count() == 0:
        return None
    return images.first.locator("img").first.get_attribute("src")


def first_trace_path(page, chart_title: str) -> str | None:
    """The SVG path of the first line in the plotly chart titled `chart_title`."""
    chart = page.locator(".js-plotly-plot").filter(has_text=chart_title)
    if chart.count() == 0:
        return None
    line = chart.first.locator(".scatterlayer .trace path.js-line")
    return line.first.get_attribute("d") if line.count() else None


def live_chart(page, chart_title: str) -> dict[str, str] | None:
    """What the Train page's live canvas chart titled `chart_title` shows (app/livechart.js writes it on
    the chart: title, points, lastStep, markers), or None while there is no such chart."""
    chart = page.locator(f'.gan-live-chart[data-title="{chart_title}"]')
    if chart.count() == 0:
        return None
    return chart.first.evaluate("box => ({...box.dataset})")


def wait_until(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; return it, or raise after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout} s")
