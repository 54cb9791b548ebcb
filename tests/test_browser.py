"""The app in a real browser: start a run, watch it learn, change its learning rate, stop it, explore the
generator; compare two runs."""

import shutil

import pytest

from tests.browser import (
    app_button,
    chromium_page,
    first_trace_path,
    image_src,
    live_chart,
    steer_in_page,
    studio_server,
    wait_until,
)

pytestmark = [
    pytest.mark.timeout(420),
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)"),
]


def test_train_watch_stop_and_explore_in_chromium(tmp_path):
    with studio_server(tmp_path) as server, chromium_page() as page:
        page.goto(server.url)
        page.get_by_role("button", name="Start a demo run").click()

        # The loss chart (a live canvas while it trains) and the sample grid appear, then change as it trains.
        def last_step() -> int:
            chart = live_chart(page, "Losses")
            return int(chart["lastStep"]) if chart and chart.get("lastStep") else 0

        first_step = wait_until(last_step, 180, what="a loss curve")

        # The step counter above them (app/liveprogress.js: text nodes, not st.metric) counts on.
        def step_shown() -> int:
            figure = page.locator('.gan-figure[data-label="Step"]')
            return int(figure.get_attribute("data-value").replace(",", "")) if figure.count() else 0

        counted = wait_until(step_shown, 60, what="the step counter")
        wait_until(lambda: step_shown() > counted, 30, what="the step counter to count on")
        first_grid = wait_until(lambda: image_src(page, "Samples from the fixed noise"), 60, what="a sample grid")
        wait_until(lambda: last_step() > first_step, 60, what="the loss curve to grow")
        wait_until(
            lambda: image_src(page, "Samples from the fixed noise") not in (None, first_grid), 90, what="a new grid"
        )

        # The presenter halves G's learning rate: every chart marks the change, labelled, as it trains on.
        steer_in_page(page, "g_learning_rate", "0.0001")
        marked = page.locator('.gan-live-chart[data-markers*="G lr 0.0001"]')
        wait_until(lambda: marked.count() >= 3, 60, what="the marker on the live charts")

        # Paused, the charts are plotly's again (zoom, hover), markers and all.
        app_button(page, "Pause").click()
        wait_until(lambda: first_trace_path(page, "Losses"), 60, what="the plotly loss chart once paused")
        assert page.get_by_text("G lr 0.0001").count() >= 3

        app_button(page, "Stop").click()
        wait_until(lambda: page.get_by_text("Stopped at step").count() > 0, 60, what="the stopped status")

        # The explorer opens the run that just stopped; moving t redraws the image.
        page.get_by_role("link", name="Explore").click()
        caption = "(slerp)"
        before = wait_until(lambda: image_src(page, caption), 90, what="the image at t")
        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        # Each key press reruns the page; wait for the last one to land, then compare.
        wait_until(lambda: page.get_by_text("t = 0.60 (slerp)").count() > 0, 60, what="the image at t = 0.60")
        assert image_src(page, "t = 0.60 (slerp)") not in (None, before)


def test_a_deep_link_on_a_fresh_server_opens_the_page_inside_the_app(finished_run, tmp_path):
    source = finished_run.snapshot().run_dir
    run_id = source.rstrip("/").rsplit("/", 1)[-1]
    shutil.copytree(source, tmp_path / run_id)
    with studio_server(tmp_path) as server, chromium_page() as page:
        page.goto(f"{server.url}/explore?run={run_id}")  # the server's very first visitor
        wait_until(lambda: image_src(page, "(slerp)"), 120, what="the explorer's image at t")
        # The app's own navigation (dashboard.py's st.navigation), not one page per file in pages/.
        links = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
        assert [link.split()[-1] for link in links] == ["Train", "Explore", "Runs", "Compare"], links
        assert "explore" in page.url and run_id in page.get_by_role("combobox").first.inner_text() + page.content()


def test_compare_two_runs_in_chromium(finished_run, tmp_path):
    source = finished_run.snapshot().run_dir
    for run_id in ("20000101-000000-a", "20000101-000000-b"):
        shutil.copytree(source, tmp_path / run_id)
    with studio_server(tmp_path) as server, chromium_page() as page:
        page.goto(f"{server.url}/compare?runs=20000101-000000-a,20000101-000000-b")
        captions = page.get_by_test_id("stMainBlockContainer").get_by_text
        wait_until(lambda: captions("step 40", exact=True).count() == 2, 120, what="both runs' grids at step 40")
        charts = page.locator(".js-plotly-plot")
        wait_until(lambda: charts.count() >= 2, 60, what="the overlaid curves")
        assert charts.first.locator(".scatterlayer .trace").count() == 2  # one line per run

        # One slider moves both grids.
        slider = page.get_by_role("slider").first
        slider.focus()
        page.keyboard.press("ArrowLeft")
        wait_until(lambda: captions("step 30", exact=True).count() == 2, 60, what="both grids at step 30")
