"""A room watching one live run: training speed and how often each viewer sees an update, for 0, 1,
5 and 20 viewers of the Train page.

    python benchmarks/viewers.py [--counts 0 1 5 20] [--window 15] [--rounds 2]

Serves the app on 127.0.0.1 with its runs in a temporary folder, starts a run from the Train page's
form as a person would (the default settings, unbounded steps, and a time limit that ends it soon
after the measurement), then measures windows in turns: in each round one window per viewer count,
so that the machine's drift over minutes falls on every count alike. Training speed is read from
the run's metrics.jsonl; each count's speed is divided by that of the 0-viewer window of its round.

A viewer is a websocket client of Streamlit's own protocol, rendering nothing: it loads the Train
page, reruns the live fragment at the interval the server asks for (as the browser's timer does),
offers the server the hashes of the messages it already holds (as the browser's cache does), fetches
the media it is shown, and notes the step each update shows. The worst gap between two updates a
viewer received is the figure that matters in a room: the design target is at most 2 s.

Everything stops by itself: the run has a time limit, the clients close, the server is terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import livechart  # noqa: E402
from benchmarks.browser_cost import cpu_seconds  # noqa: E402 -- importable once the root is on the path
from tests.browser import studio_server  # noqa: E402

STEP_TEXT = re.compile(r"step ([\d,]+)")


class Viewer:
    """One watching client of the Streamlit protocol (see the module's docstring)."""

    def __init__(self, url: str):
        self.url = url
        self.page_hash = ""
        self.cache: dict[str, ForwardMsg] = {}  # hash -> message, for the server's references
        self.widgets: dict[str, tuple[str, str]] = {}  # widget id -> (kind, label) seen on the page
        self.fragments: dict[str, float] = {}  # fragment id -> the interval the server asked for
        self.media: set[str] = set()
        self.active = False  # rerun the live fragment (a tab in view) or not (a tab in the background)
        self.updates: list[tuple[float, int]] = []  # (time, step shown) whenever the step shown changed
        self.chart_times: list[float] = []  # whenever the loss chart was sent again
        self.chart_last: list = []  # the last step the live loss chart showed
        self.finished = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def open(self) -> None:
        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, origin=self.url)
        self._tasks.append(asyncio.create_task(self._read()))
        await self.rerun()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.ws.close()

    async def rerun(self, fragment_id: str = "", widgets: dict[str, dict] | None = None) -> None:
        """Ask for a script run: the whole page, or one fragment as the browser's timer does."""
        msg = BackMsg()
        state = msg.rerun_script
        state.page_script_hash = self.page_hash
        state.fragment_id = fragment_id
        state.is_auto_rerun = bool(fragment_id)
        state.cached_message_hashes.extend(self.cache)
        for widget_id, value in (widgets or {}).items():
            widget = state.widget_states.widgets.add(id=widget_id)
            for field, v in value.items():
                setattr(widget, field, v)
        self.finished.clear()
        await self.ws.send(msg.SerializeToString())

    async def _read(self) -> None:
        async for data in self.ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            if msg.WhichOneof("type") == "ref_hash":
                msg = self.cache.get(msg.ref_hash, msg)
            elif msg.metadata.cacheable:
                self.cache[msg.hash] = msg
            self._handle(msg)

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
        elif kind == "auto_rerun":
            fragment, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fragment not in self.fragments:
                self._tasks.append(asyncio.create_task(self._timer(fragment)))
            self.fragments[fragment] = interval
        elif kind == "script_finished":
            self.finished.set()
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element)

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind == "plotly_chart" and json.loads(element.plotly_chart.spec)["layout"].get("uirevision") == "losses":
            self.chart_times.append(time.monotonic())
        elif kind == "bidi_component" and element.bidi_component.bytes:  # app.livechart's live elements
            payload = json.loads(element.bidi_component.bytes)
            if element.bidi_component.component_name == livechart.PROGRESS_NAME:
                self._step(payload["text"])
            elif payload and payload[0]["title"] == "Losses" and payload[0]["x"][-1:] != self.chart_last:
                self.chart_last = payload[0]["x"][-1:]  # new points on the loss chart
                self.chart_times.append(time.monotonic())
        elif kind == "progress":
            self._step(element.progress.text)
        elif kind == "imgs":
            for image in element.imgs.imgs:
                if image.url and image.url not in self.media:  # a browser fetches each new src once
                    self.media.add(image.url)
                    self._tasks.append(asyncio.create_task(asyncio.to_thread(_fetch, self.url + "/" + image.url)))
        else:
            proto = getattr(element, kind, None)
            widget_id = getattr(proto, "id", "")
            if widget_id:
                self.widgets[widget_id] = (kind, getattr(proto, "label", ""))

    def _step(self, progress_text: str) -> None:
        """Note the step the progress bar's text shows, when it is a new one."""
        found = STEP_TEXT.search(progress_text)
        if found:
            step = int(found.group(1).replace(",", ""))
            if not self.updates or self.updates[-1][1] != step:
                self.updates.append((time.monotonic(), step))

    async def _timer(self, fragment: str) -> None:
        """The browser's auto-rerun timer: a fixed rate, whether the last run has finished or not."""
        while True:
            await asyncio.sleep(self.fragments[fragment])
            if self.active and self.fragments.get(fragment):
                await self.rerun(fragment)

    def widget_id(self, label: str) -> str:
        return next(i for i, (_, name) in self.widgets.items() if name == label)


def _fetch(url: str) -> None:
    with urllib.request.urlopen(url.replace("//media", "/media"), timeout=30) as response:
        response.read()


async def start_run(url: str, seconds: float) -> None:
    """Submit the Train page's settings form: the defaults, unbounded steps, a time limit."""
    person = Viewer(url)
    await person.open()
    await asyncio.wait_for(person.finished.wait(), 120)
    widgets = {
        person.widget_id("steps"): {"int_value": 10_000_000},
        person.widget_id("max_seconds"): {"double_value": seconds},
        person.widget_id("Start training"): {"trigger_value": True},
    }
    await person.rerun(widgets=widgets)
    await asyncio.wait_for(person.finished.wait(), 120)
    await person.close()


def metrics(runs: Path) -> list[dict]:
    files = list(runs.glob("*/metrics.jsonl"))
    if not files:
        return []
    return [r for r in map(json.loads, files[0].read_text().splitlines()) if "d_loss" in r]


def steps_per_second(first: dict, last: dict) -> float:
    """The run's speed between two of its metric records ("time" is seconds since the run began)."""
    return (last["step"] - first["step"]) / (last["time"] - first["time"])


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(url: str, pid: int, runs: Path, args) -> list[dict]:
    viewers = [Viewer(url) for _ in range(max(args.counts))]
    for viewer in viewers:
        await viewer.open()
    await asyncio.gather(*(asyncio.wait_for(v.finished.wait(), 300) for v in viewers))
    rows = []
    for round_ in range(args.rounds):
        for count in args.counts:
            for i, viewer in enumerate(viewers):
                viewer.active = i < count
            await asyncio.sleep(args.settle)  # reruns queued for the last count drain; new ones start
            first, wall0, cpu0, own0 = metrics(runs)[-1], time.monotonic(), cpu_seconds(pid), time.process_time()
            await asyncio.sleep(args.window)
            last, wall1, cpu1, own1 = metrics(runs)[-1], time.monotonic(), cpu_seconds(pid), time.process_time()
            gaps, chart_gaps, counts = [], [], []
            for viewer in viewers[:count]:
                times = [wall0] + [t for t, _ in viewer.updates if wall0 < t <= wall1] + [wall1]
                gaps.append(max(b - a for a, b in zip(times, times[1:])))
                counts.append(len(times) - 2)
                charts = [wall0] + [t for t in viewer.chart_times if wall0 < t <= wall1] + [wall1]
                chart_gaps.append(max(b - a for a, b in zip(charts, charts[1:])))
            rows.append(
                dict(
                    round=round_,
                    viewers=count,
                    steps_per_second=steps_per_second(first, last),
                    server_cores=(cpu1 - cpu0) / (wall1 - wall0),
                    client_cores=(own1 - own0) / (wall1 - wall0),  # the viewers share this machine too
                    rss_mb=resident_mb(pid),
                    worst_gap=max(gaps) if gaps else None,
                    worst_chart_gap=max(chart_gaps) if chart_gaps else None,
                    updates_per_second=statistics.mean(counts) / (wall1 - wall0) if counts else None,
                )
            )
            print(_row(rows[-1], rows), flush=True)
    for viewer in viewers:
        await viewer.close()
    return rows


def _row(row: dict, rows: list[dict]) -> str:
    alone = [r["steps_per_second"] for r in rows if r["viewers"] == 0 and r["round"] == row["round"]]
    ratio = f"{row['steps_per_second'] / alone[0]:.2f}" if alone else "–"
    gap = f"{row['worst_gap']:.1f} s" if row["worst_gap"] is not None else "–"
    chart_gap = f"{row['worst_chart_gap']:.1f} s" if row["worst_chart_gap"] is not None else "–"
    per_s = f"{row['updates_per_second']:.2f}/s" if row["updates_per_second"] is not None else "–"
    return (
        f"round {row['round']} viewers {row['viewers']:>2}: {row['steps_per_second']:6.1f} steps/s "
        f"(x{ratio} of none), server {row['server_cores']:.2f} cores, viewers {row['client_cores']:.2f} cores, "
        f"rss {row['rss_mb']:.0f} MB, "
        f"updates {per_s} per viewer, worst gap {gap} (charts {chart_gap})"
    )


def summary(rows: list[dict], counts: list[int]) -> None:
    print(
        "\nviewers  speed vs none (per round)    worst gap: step / charts   updates/s per viewer"
        "   server cores   viewers' cores   rss MB"
    )
    for count in counts:
        mine = [r for r in rows if r["viewers"] == count]
        ratios = []
        for r in mine:
            alone = next(a for a in rows if a["viewers"] == 0 and a["round"] == r["round"])
            ratios.append(r["steps_per_second"] / alone["steps_per_second"])
        gaps = [r["worst_gap"] for r in mine if r["worst_gap"] is not None]
        chart_gaps = [r["worst_chart_gap"] for r in mine if r["worst_chart_gap"] is not None]
        rates = [r["updates_per_second"] for r in mine if r["updates_per_second"] is not None]
        worst = f"{max(gaps):.1f} s / {max(chart_gaps):.1f} s" if gaps else "–"
        print(
            f"{count:>7}  {statistics.mean(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})"
            f"{worst:>{38 - len(ratios) * 6}}"
            f"{f'{statistics.mean(rates):.2f}' if rates else '–':>23}"
            f"{statistics.mean(r['server_cores'] for r in mine):>15.2f}"
            f"{statistics.mean(r['client_cores'] for r in mine):>17.2f}"
            f"{max(r['rss_mb'] for r in mine):>9.0f}"
        )


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python benchmarks/viewers.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 1, 5, 20], help="viewer counts (0 first)")
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per window")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds between windows, not measured")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of windows, one per count each")
    args = parser.parse_args(argv)
    if args.counts[0] != 0:
        parser.error("the first count must be 0: every count is compared with no viewer")

    runs = Path(tempfile.mkdtemp(prefix="gan-viewers-"))
    budget = len(args.counts) * args.rounds * (args.window + args.settle) + 120
    try:
        with studio_server(runs) as server:

            async def run() -> list[dict]:
                await start_run(server.url, budget)
                deadline = time.monotonic() + 300
                while len(metrics(runs)) < 3:  # compiled and training
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the run did not start; see {runs / 'streamlit.log'}")
                    await asyncio.sleep(0.5)
                return await measure(server.url, server.pid, runs, args)

            rows = asyncio.run(run())
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    summary(rows, args.counts)
    return rows


if __name__ == "__main__":
    main()
