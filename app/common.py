"""UI helpers shared by the pages: the server's run registry, where runs live, status badges, pictures.

Also `protect_training_thread()`, which keeps Streamlit from resetting Keras under a training run.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from gan_core.engine import Status
from gan_core.latent import png_bytes, upscale
from gan_core.registry import RunRegistry
from gan_core.storage import GPath, as_path

RUNS_ENV = "GAN_STUDIO_RUNS"

# Markdown badge colour and icon per engine status.
BADGES = {
    Status.CREATED: ("gray", "schedule"),
    Status.COMPILING: ("blue", "hourglass_top"),
    Status.RUNNING: ("green", "play_arrow"),
    Status.PAUSED: ("orange", "pause"),
    Status.FINISHED: ("green", "check_circle"),
    Status.STOPPED: ("gray", "stop"),
    Status.FAILED: ("red", "error"),
    Status.DIVERGED: ("violet", "warning"),
    Status.INTERRUPTED: ("orange", "power_off"),  # on disk only: an active run whose process is gone
    Status.STALE: ("orange", "signal_disconnected"),  # on disk only: an active run not heard from for minutes
}


@st.cache_resource
def get_registry() -> RunRegistry:
    """The one RunRegistry of this server: every session and every page sees the same run."""
    protect_training_thread()
    return RunRegistry()


def runs_dir() -> Path | GPath:
    """Where runs are written: $GAN_STUDIO_RUNS (a folder, or a bucket such as gs://bucket/runs), else ./runs."""
    return as_path(os.environ.get(RUNS_ENV) or "runs")


def status_badge(status: Status | str) -> str:
    """Markdown for a coloured badge naming the status, e.g. for st.markdown or a caption. A plain
    string works too (status.json on disk); one the engine does not know gets a grey question mark."""
    colour, icon = BADGES.get(status, ("gray", "help"))
    return f":{colour}-badge[:material/{icon}: {status}]"


def show_picture(picture: np.ndarray, caption: str | None = None, scale: int = 3) -> None:
    """A uint8 picture enlarged without blur (nearest neighbour), so small digits read on a projector."""
    # As PNG: left to "auto", Streamlit re-encodes an opaque PNG as a blurry JPEG on every call.
    st.image(enlarged_png(picture, scale), caption=caption, output_format="PNG")


@st.cache_data(max_entries=64, show_spinner=False)
def enlarged_png(picture: np.ndarray, scale: int = 3) -> bytes:
    """PNG bytes of `picture` enlarged `scale` times; cached, since a live view redraws the same grid
    every second and encoding it costs more than everything else on the page."""
    return png_bytes(upscale(picture, scale))


def format_duration(seconds: float | None) -> str:
    """'1 h 05 min', '3 min 07 s', '42 s'; '–' when unknown."""
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


# ------------------------------------------------------------------ Streamlit and a live Keras thread
_protected = threading.Lock()
_protected_done = False


def protect_training_thread() -> None:
    """Stop Streamlit from resetting Keras under a run that trains in another thread. Idempotent.

    After every script run (so every second while the live view polls) Streamlit calls
    keras.backend.clear_session(). That swaps out Keras's per-thread state for all threads at once:
    a run building its networks at that moment gets two layers named 'dense' and fails, and the
    call's full garbage collection (0.3 s on two cores with TensorFlow loaded) holds the GIL the
    training thread needs. Streamlit's own gc.collect(2) after each run is made cheap by freezing
    the long-lived heap (TensorFlow's modules) once.
    """
    global _protected_done
    with _protected:
        if _protected_done:
            return
        from streamlit.runtime.scriptrunner import script_runner

        if hasattr(script_runner, "_clean_problem_modules"):

            def clean_problem_modules_but_keras() -> None:
                # What Streamlit's version does, less the Keras reset.
                plt = sys.modules.get("matplotlib.pyplot")
                if plt is not None:
                    plt.close("all")

            script_runner._clean_problem_modules = clean_problem_modules_but_keras
        gc.collect()
        gc.freeze()
        _protected_done = True


_navigation_seen = threading.Event()  # set once dashboard.py has run in this process


def app_navigation_ran() -> None:
    """Called by dashboard.py before st.navigation: from then on the server serves the app's pages."""
    _navigation_seen.set()


def within_app_navigation() -> None:
    """Make a page opened by a deep link on a fresh server run inside the app's navigation.

    Until some session has run dashboard.py (whose st.navigation switches it off for the whole
    server), Streamlit serves every file in pages/ as a page of its own (its first multipage
    design): a first visit to /explore?run=... ran the page alone, with a sidebar listing
    "dashboard", "explore", "runs", "train". Called first by each page: in that case (the flag still
    on and dashboard.py never run in this process) it switches the server to st.navigation and
    reruns, and dashboard.py then opens the same page (same URL path, same address query) inside the
    app. A no-op otherwise, e.g. under AppTest, which turns the flag on again before every run. A
    browser test covers it."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and not _navigation_seen.is_set():
        PagesManager.uses_pages_directory = False
        st.rerun()
