"""GAN Studio: `streamlit run dashboard.py`. Page config, navigation, the run in progress at a glance."""

from __future__ import annotations

import streamlit as st

from app.common import app_navigation_ran, format_duration, get_registry, status_badge
from app.live import yield_to_training
from app.memory import advise, limit_arenas, trace_if_asked
from gan_core.engine import Status

SIDEBAR_POLL_SECONDS = 2.0

limit_arenas()  # before the page-script threads multiply glibc's arenas (app/memory.py)
advise()  # in the server's log, if it was started without MALLOC_ARENA_MAX=2
trace_if_asked()  # benchmarks/soak.py --trace: where the server's Python memory grows


def sidebar_glance() -> None:
    """Status and progress of this server's run, refreshed while it is active."""
    registry = get_registry()
    run = registry.current()
    active = run is not None and run.active

    @st.fragment(run_every=SIDEBAR_POLL_SECONDS if active else None)
    def glance() -> None:
        yield_to_training()
        now = registry.current()
        if now is not run or (now is not None and now.active) != active:
            st.rerun()  # a run started or ended: the whole app redraws and polling follows
        if now is None:
            st.caption("No run yet: start one on the Train page.")
            return
        snap = now.snapshot()
        st.markdown(f"**{'Run in progress' if active else 'Last run'}** {status_badge(snap.status)}")
        total = snap.total_steps
        steps = f"step {snap.step:,} / {total:,}" if total else f"step {snap.step:,}"
        st.progress(snap.progress, text=steps)
        details = f"{snap.config.preset} · {snap.config.loss} · {snap.config.dataset}"
        if snap.status == Status.RUNNING and snap.eta_seconds is not None:
            details += f" · ETA {format_duration(snap.eta_seconds)}"
        st.caption(details)

    with st.sidebar:
        glance()


def main() -> None:
    yield_to_training()  # every page's script run: the viewers wait a little rather than the run
    st.set_page_config(page_title="GAN Studio", layout="wide")
    app_navigation_ran()
    train = st.Page("pages/train.py", title="Train", icon=":material/model_training:", default=True)
    page = st.navigation(
        [
            train,
            st.Page("pages/explore.py", title="Explore", icon=":material/explore:"),
            st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        ]
    )
    # The Train page shows an active run live already, at the viewer's chosen pace: a glance there
    # would only add a poll of its own (each costs the viewer's CPU, which training may share).
    if page.url_path != train.url_path or get_registry().active() is None:
        sidebar_glance()
    page.run()


main()
