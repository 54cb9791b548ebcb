"""Train: start a run (one click for the demo, or every setting), control it, watch it learn live.

No training logic here: the page starts runs through the server's RunRegistry and draws
`run.snapshot()`. The live view polls once a second while the run is active and not at all after.

With `?follow=<run-id>` it draws a run that another process trains instead (the CLI, a cluster's
chief writing to the runs folder): read from its folder as it is written, and paused, resumed,
stopped and steered through commands left there (gan_core.follow, gan_core.control).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from app import charts, livechart, uploads
from app.common import (
    enlarged_png,
    format_duration,
    get_registry,
    runs_dir,
    show_picture,
    status_badge,
    within_app_navigation,
)
from app.live import (
    GRID_SCALE,
    Frame,
    LiveView,
    drawn_live,
    live_view,
    poll_intervals,
    progress,
    yield_to_training,
)
from gan_core import quality
from gan_core.config import STEERABLE, ConfigError, TrainConfig, knobs
from gan_core.data import DATASETS, DatasetError, image_shape, load_dataset
from gan_core.engine import ACTIVE, Snapshot, Status, TrainingRun
from gan_core.follow import FollowedRun
from gan_core.latent import gif_bytes, upscale
from gan_core.losses import LOSSES
from gan_core.models import PRESETS
from gan_core.registry import RunActiveError, RunRegistry
from gan_core.runs import RunError, run_folder
from gan_core.storage import is_remote

POLL_SECONDS = 1.0
# Each viewer's choice of how often the live view redraws. On a machine that trains and shows the
# page at once (a laptop on a projector), every redraw takes CPU from training: about a fifth of
# the speed at once a second with two cores, far less at every 5 s (README, Known problems).
REFRESH_CHOICES = {"every second": POLL_SECONDS, "every 5 s": 5.0, "every 15 s": 15.0}
STOP_TIMEOUT = 10.0  # a stop saves a checkpoint and the generator; wait that long before redrawing
FIELDS = {f.name: f for f in knobs()}
KNOBS = {name: f.metadata for name, f in FIELDS.items()}
DEFAULTS = TrainConfig()
# What people can act on: the errors of starting a run, shown as they are.
START_ERRORS = (ConfigError, DatasetError, RunActiveError, RunError)
# How a knob's number is shown and stepped, where Streamlit's default does not suit it.
WIDGET_OPTIONS = {
    "g_learning_rate": {"format": "%.1e", "step": 1e-5},
    "d_learning_rate": {"format": "%.1e", "step": 1e-5},
    "beta_1": {"format": "%.3f", "step": 0.05},
    "beta_2": {"format": "%.4f", "step": 0.001},
    "ema": {"format": "%.4f", "step": 0.001},
    "max_seconds": {"format": "%.0f", "step": 60.0, "placeholder": "no limit"},
    "epochs": {"placeholder": "use steps"},
}


# ------------------------------------------------------------------ starting a run
def start_run(registry: RunRegistry, config: TrainConfig) -> str | None:
    """Start `config`; None when it started, else the message saying why not."""
    try:
        if config.dataset == "npz":
            check_npz(config)
        registry.start(config, runs_dir())
    except START_ERRORS as e:
        return str(e)
    return None


def check_npz(config: TrainConfig) -> None:
    """Read the user's .npz now, so a bad file is refused before a run folder exists."""
    data = load_dataset("npz", config.npz_path)
    resolved = config.resolved()
    name, n, batch_size = Path(config.npz_path).name, len(data), resolved.batch_size
    if config.conditional and data.labels is None:
        raise DatasetError(
            f"conditional training needs class labels and {name} has none: add an integer array named "
            "'labels' (one per image), or turn conditional off"
        )
    if batch_size > n:
        raise DatasetError(f"each update takes batch_size = {batch_size} images but {name} holds {n}; lower batch_size")


def demo_ui(registry: RunRegistry) -> None:
    """The first screen: one press starts the default run."""
    with st.container(border=True):
        st.subheader("Watch a GAN learn to draw digits")
        st.markdown(
            f"The demo trains preset **{DEFAULTS.preset}** on **{DEFAULTS.dataset}** for {DEFAULTS.steps:,} steps "
            f"of {DEFAULTS.resolved().batch_size} images. Noise turns into digits within a few minutes on this CPU: "
            "the page "
            f"shows what the generator draws from the same {DEFAULTS.grid_size} noise vectors every "
            f"{DEFAULTS.sample_every} steps, with the losses and the discriminator's view beside it."
        )
        if st.button("Start a demo run", type="primary", icon=":material/rocket_launch:", key="demo"):
            error = start_run(registry, TrainConfig())
            if error:
                st.error(error)
            else:
                st.rerun()


def knob_input(name: str, value=..., key: str | None = None, **kwargs):
    """The widget for one TrainConfig knob, from its metadata: name as label, help, valid range.

    Optional knobs (default None) start blank; blank means "unset"."""
    field, meta = FIELDS[name], KNOBS[name]
    value = getattr(DEFAULTS, name) if value is ... else value
    key = key or f"knob-{name}"
    kwargs = {**WIDGET_OPTIONS.get(name, {}), **kwargs}
    if field.type == "bool":
        return st.checkbox(name, value=value, help=meta["help"], key=key)
    if field.type == "bool | None":  # None: the preset's choice
        options = [None, True, False]
        return st.selectbox(
            name,
            options,
            index=options.index(value),
            format_func=lambda v: "the preset's choice" if v is None else ("on" if v else "off"),
            help=meta["help"],
            key=key,
        )
    if meta.get("choices"):  # None, where the knob has it: the preset's choice
        options = [*([None] if field.default is None else []), *meta["choices"]]
        return st.selectbox(
            name,
            options,
            index=options.index(value),
            format_func=lambda v: "the preset's choice" if v is None else v,
            help=meta["help"],
            key=key,
        )
    if field.type.startswith("int"):
        low, high, step = int(meta["low"]), int(meta["high"]), 1
    else:
        low, high, step = float(meta["low"]), float(meta["high"]), kwargs.pop("step", None)
    if value is None:
        kwargs.setdefault("placeholder", "unset")
    return st.number_input(
        name, min_value=low, max_value=high, value=value, step=step, help=meta["help"], key=key, **kwargs
    )


def upload_ui() -> str | None:
    """The .npz uploader; returns the saved file's path (under runs/uploads/), or None."""
    uploaded = st.file_uploader(
        "Your images (.npz)",
        type=["npz"],
        key="npz-upload",
        help="np.savez(path, images=array) with shape (N, H, W), (N, H, W, 1) or (N, H, W, 3); "
        "uint8 0..255 or float 0..1 / -1..1",
    )
    if uploaded is None:
        return None
    # On this machine even when runs go to a bucket: the dataset reader takes local files.
    folder = uploads.temp_folder("gan-studio-uploads") if is_remote(runs_dir()) else runs_dir() / "uploads"
    target = folder / uploads.safe_name(uploaded.name, ".npz")
    saved = (uploaded.file_id, str(target))
    try:
        uploads.check_size(uploaded.size, target.name)  # before reading it: the browser's limit is not a guarantee
        if st.session_state.get("npz-saved") != saved or not target.exists():
            uploads.save(folder, uploaded.name, uploaded.getvalue(), ".npz")
            st.session_state["npz-saved"] = saved
    except (uploads.UploadError, OSError) as e:
        st.error(str(e))
        return None  # not an older file of the same name
    try:
        h, w, c = image_shape("npz", str(target))
        st.caption(f"{target.name}: images of {h}x{w}x{c}")
    except DatasetError as e:
        st.error(str(e))
    return str(target)


# The knobs people touch most, three to a row; everything else goes under Advanced.
MAIN_KNOBS = (
    ("latent_dim", "batch_size", "d_updates"),
    ("g_learning_rate", "d_learning_rate", "beta_1"),
    ("beta_2", "ema", "conditional"),
    ("steps", "seed", "sample_every"),
)
# Knobs whose default depends on the preset and the loss family (TrainConfig.resolved()): batch size
# and the optimiser's settings.
OPTIMISER_KNOBS = ("batch_size", "g_learning_rate", "d_learning_rate", "beta_1", "beta_2", "d_updates")


def optimiser_defaults(preset: str, loss: str) -> dict:
    """What a run of this preset and loss family trains with when the optimiser knobs are left unset."""
    resolved = TrainConfig(preset=preset, loss=loss).resolved()
    return {name: getattr(resolved, name) for name in OPTIMISER_KNOBS}


def settings_ui(registry: RunRegistry, active: TrainingRun | None) -> None:
    """Every knob of TrainConfig a person would touch; starts a run on submit."""
    # Preset, loss and dataset sit outside the form: changing them redraws the descriptions, the
    # optimiser defaults and the uploader at once, which a form would hold back until submit.
    left, middle, right = st.columns(3)
    with left:
        names = list(PRESETS)
        preset = st.selectbox(
            "preset", names, index=names.index(DEFAULTS.preset), key="knob-preset", help=KNOBS["preset"]["help"]
        )
        st.caption(PRESETS[preset].description)
    with middle:
        names = list(LOSSES)
        loss = st.selectbox(
            "loss", names, index=names.index(DEFAULTS.loss), key="knob-loss", help=KNOBS["loss"]["help"]
        )
        st.caption(LOSSES[loss].description)
    with right:
        names = list(DATASETS)
        dataset = st.selectbox(
            "dataset", names, index=names.index(DEFAULTS.dataset), key="knob-dataset", help=KNOBS["dataset"]["help"]
        )
        st.caption(DATASETS[dataset])
        npz_path = upload_ui() if dataset == "npz" else None

    defaults = optimiser_defaults(preset, loss)
    values: dict = {"preset": preset, "loss": loss, "dataset": dataset, "npz_path": npz_path}
    with st.form("settings", border=True):
        for row in MAIN_KNOBS:
            for col, name in zip(st.columns(3, vertical_alignment="bottom"), row):  # a checkbox sits level
                with col:
                    if name in defaults:
                        # Keyed by preset and loss, so choosing another shows its own values.
                        values[name] = knob_input(name, defaults[name], key=f"knob-{name}-{preset}-{loss}")
                    else:
                        values[name] = knob_input(name)
        # Everything else, including knobs the engine gains later.
        placed = {name for row in MAIN_KNOBS for name in row} | set(values)
        with st.expander("Advanced"):
            rest = [name for name in KNOBS if name not in placed]
            for i in range(0, len(rest), 3):
                for col, name in zip(st.columns(3), rest[i : i + 3]):
                    with col:
                        values[name] = knob_input(name)
        submitted = st.form_submit_button(
            "Start training", type="primary", icon=":material/play_arrow:", disabled=active is not None
        )
        if active is not None:
            st.caption("A run is active: stop it to start another.")

    if not submitted:
        return
    # A value left at the preset's or the loss family's stays unset, so the saved config says so.
    for name, default in defaults.items():
        if values[name] == default:
            values[name] = None
    config = TrainConfig(**values)
    problems = config.problems()
    if dataset == "npz" and not npz_path:
        problems.append("upload your .npz file with the uploader above, or choose another dataset")
    if problems:
        st.error("Nothing was started. Please fix:\n" + "\n".join(f"- {p}" for p in problems))
        return
    error = start_run(registry, config)
    if error:
        st.error(f"Nothing was started: {error}")
    else:
        st.rerun()


# ------------------------------------------------------------------ the run
def controls_ui(registry: RunRegistry, run: TrainingRun, snap: Snapshot) -> None:
    """Only the buttons that apply to the run's status, in one row."""
    status = snap.status
    with st.container(horizontal=True):
        if status in (Status.COMPILING, Status.RUNNING) and st.button("Pause", icon=":material/pause:", key="pause"):
            run.pause()
            st.rerun()
        if status == Status.PAUSED and st.button("Resume", icon=":material/play_arrow:", key="resume", type="primary"):
            run.resume()
            st.rerun()
        if status in ACTIVE and st.button("Stop", icon=":material/stop:", key="stop"):
            with st.spinner("Stopping: saving a checkpoint and the generator…"):
                # During the first compile the engine marks the run stopped at once; do not wait on it.
                run.stop(timeout=0.2 if status == Status.COMPILING else STOP_TIMEOUT)
            st.rerun()
        if (
            status == Status.STOPPED
            and snap.run_dir
            and not isinstance(run, FollowedRun)  # continued here, it would be this server's run: the Runs page says so
            and st.button("Continue training", icon=":material/replay:", key="continue")
        ):
            try:
                registry.continue_run(snap.run_dir)
            except START_ERRORS as e:
                st.error(f"Could not continue: {e}")
            else:
                st.rerun()


def steer_ui(run: TrainingRun) -> None:
    """Change the settings a run can change while it trains; applied at its next graph call and marked
    on every chart, for everyone watching. Outside the live fragment: a form that redraws every second
    would lose what the person is typing."""
    config = run.config
    names = [n for n in STEERABLE if (n != "gp_weight" or config.loss == "wgan-gp") and (n != "ema" or config.ema)]
    with st.expander("Change settings while it trains", icon=":material/tune:"), st.form("steer", border=False):
        columns = st.columns(len(names))
        values = {}
        for column, name in zip(columns, names):
            with column:
                values[name] = knob_input(name, value=getattr(config, name), key=f"steer-{name}")
        st.caption(
            "Applied at the next step, without recompiling; each change is marked on every chart and kept "
            "in the run's config.json. What changes the networks' shapes or the data starts a branch instead "
            "(Runs page)."
        )
        if st.form_submit_button("Apply", icon=":material/published_with_changes:"):
            try:
                taken = run.steer(**values)
            except ConfigError as e:
                st.error(f"Not changed: {e}")
            else:
                if taken:
                    st.toast(f"From the next step: {charts.describe_changes(taken)}", icon=":material/tune:")
                st.rerun()


def status_ui(snap: Snapshot) -> None:
    """The state in words, when there is more to say than the badge in the heading."""
    status, step, total = snap.status, snap.step, snap.total_steps
    badge = status_badge(status)
    if status == Status.COMPILING:
        st.info(f"{badge} Loading data, building the networks and compiling the training step…")
    elif status == Status.PAUSED:
        st.warning(f"{badge} Paused at step {step:,}. Resume to continue, or Stop to save and end the run.")
    elif status == Status.FINISHED:
        why = " (time limit reached)" if snap.end_reason == "time limit" else ""
        st.success(f"{badge} Finished{why}: {step:,} steps in {format_duration(snap.elapsed_seconds)}.")
    elif status == Status.STOPPED:
        of_total = f"{step:,} / {total:,}" if total else f"{step:,}"
        reason = snap.end_reason
        st.info(f"{badge} Stopped at step {of_total}{f' ({reason})' if reason and reason != 'stopped' else ''}.")
    elif status == Status.DIVERGED:
        st.error(f"{badge} Diverged: {snap.error}")
    elif status == Status.INTERRUPTED:
        st.warning(f"{badge} Its training process is gone, at step {step:,}: continue it from the Runs page.")
    elif status == Status.STALE:
        st.warning(
            f"{badge} Nothing heard from its training process for minutes, at step {step:,}: it may hang, or "
            "have died on another machine. If it is gone, continue it from the Runs page."
        )
    elif status == Status.FAILED:
        error = (snap.error or "unknown error").strip()
        st.error(f"{badge} Failed: {error}")
        with st.expander("Traceback"):
            st.code(snap.traceback or error, language="text")


def alerts_ui(snap: Snapshot) -> None:
    """The engine's health alerts (gan_core.alerts): what looks wrong and what to try."""
    for alert in snap.alerts:
        if alert.get("kind") == "diverged" and snap.status == Status.DIVERGED:
            continue  # the status line already says it
        where = f" at step {alert['step']:,}" if alert.get("step") is not None else ""
        show = st.error if alert.get("severity") == "error" else st.warning
        show(f"**{alert.get('kind')}**{where}: {alert.get('message')} {alert.get('remedy') or ''}".strip())


def progress_ui(frame: Frame) -> None:
    """Progress bar with step/total, then the figures people ask about, large enough for a room: while the
    run trains, as a few text nodes that the browser updates in place (app.livechart)."""
    snap = frame.snap
    if drawn_live(snap) and frame.live_progress:
        livechart.show_progress(frame.live_progress)
        return
    fraction, text, figures = progress(snap)
    st.progress(fraction, text=text)
    with st.container(horizontal=True, gap="large"):
        for label, value in figures:
            st.metric(label, value)


def settings_caption(snap: Snapshot) -> None:
    """Since when and with which settings: what anyone opening the page needs to know about the run."""
    config, started, ended = snap.config, snap.started_at, snap.ended_at
    when = ""
    if started and ended:
        when = f"Ran from {_clock(started)} to {_clock(ended)} · "
    elif started:  # drawn once while it trains: the Elapsed figure below says how long ago
        when = f"Started at {_clock(started)} · "
    if config.conditional:
        classes = f"conditional on {snap.num_classes} classes" if snap.num_classes else "conditional"
    elif config.codes:
        classes = f"unconditional, a code of {config.codes} (InfoGAN)"
    else:
        classes = "unconditional"
    parts = [
        f"{when}**{config.preset}** on **{config.dataset}**",
        f"loss {config.loss}",
        classes,
        f"ema {config.ema:g}" if config.ema else "ema off",
        f"batch_size {config.batch_size}",
        f"latent_dim {config.latent_dim}",
        f"g/d learning rate {_number(config.g_learning_rate)}/{_number(config.d_learning_rate)}",
        f"beta_1/beta_2 {_number(config.beta_1)}/{_number(config.beta_2)}",
        f"d_updates {_number(config.d_updates)}",
        f"seed {config.seed}",
    ]
    if config.precision:  # None until the engine has chosen it for this machine
        parts.append(config.precision)
    st.caption(" · ".join(parts))


def _number(value) -> str:
    return "–" if value is None else f"{value:g}"


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def grid_caption(snap: Snapshot, step: int, latest: int) -> str:
    """What the grid shows: which step, from which noise, and for a conditional run which class."""
    live = " (latest)" if step == latest else f" of {latest:,}"
    caption = f"Samples from the fixed noise at step {step:,}{live}"
    if snap.num_classes:
        caption += f": rows are classes 0..{snap.num_classes - 1}, columns noise vectors"
    return caption


def grid_ui(frame: Frame) -> None:
    """The live sample grid, a timeline to scrub back through training, and downloads."""
    snap = frame.snap
    grids = snap.grids
    if not grids:
        st.info("The first sample grid appears once the networks are built.")
        return
    steps = [s for s, _ in grids]
    key = f"timeline-{snap.run_id}"
    if len(steps) > 1:
        # Follow the newest grid unless the viewer has scrubbed back to an older one.
        chosen, latest_seen = st.session_state.get(key), st.session_state.get(key + "-latest")
        if chosen not in steps or chosen == latest_seen:
            st.session_state[key] = steps[-1]
        st.session_state[key + "-latest"] = steps[-1]
    step = st.session_state.get(key)
    if step not in steps:
        step = steps[-1]
    grid, caption = dict(grids)[step], grid_caption(snap, step, steps[-1])
    if step == snap.grid_step and frame.grid_png:  # the live grid: encoded once for every viewer
        st.image(frame.grid_png, caption=caption, output_format="PNG")
    else:
        show_picture(grid, caption=caption, scale=GRID_SCALE)
    if len(steps) > 1:
        st.select_slider("Timeline", options=steps, key=key, format_func=lambda s: f"step {s:,}")

    name = snap.run_id or "run"
    with st.container(horizontal=True):
        st.download_button(
            "Grid as PNG",
            data=lambda: enlarged_png(grid, GRID_SCALE),
            file_name=f"{name}-step{step}.png",
            mime="image/png",
            icon=":material/image:",
            on_click="ignore",
            key="download-png",
        )
        st.download_button(
            "Progress as GIF",
            data=lambda: gif_bytes([upscale(g, GRID_SCALE) for _, g in grids]),
            file_name=f"{name}-progress.gif",
            mime="image/gif",
            icon=":material/movie:",
            on_click="ignore",
            key="download-gif",
        )


def charts_ui(frame: Frame) -> None:
    """The charts that mean something for the run's loss family, then throughput: drawn on canvases while
    the run trains (app.livechart: a browser redraws them for a millisecond each, plotly for 60 ms), as
    plotly figures with zoom and hover once it is paused or has ended."""
    if drawn_live(frame.snap):
        livechart.show(frame.live_charts)
        return
    for name, chart in frame.charts.items():
        st.plotly_chart(chart, key=f"chart-{name}", config={"displaylogo": False})


@st.cache_resource(show_spinner="Scoring real digits once, for the reference lines…")
def real_reference() -> dict:
    """What real digits score (quality.real_reference()): seconds the first time, so once per server."""
    return quality.real_reference()


def quality_ui(frame: Frame) -> None:
    """FD-digits and classifier score over the run against real digits, the digits drawn lately, and
    for a conditional run how often a digit is drawn as the class asked for."""
    snap = frame.snap
    st.subheader("Quality")
    if not snap.quality_applies:
        if snap.quality_note:  # None until the engine has loaded the data and decided
            st.info(snap.quality_note)
        return
    columns = snap.quality
    if charts.latest(columns, "fd_digits")[0] is None:
        every, total = snap.config.quality_every, snap.total_steps
        first = max(every, -(-snap.step // every) * every)  # the next multiple of quality_every
        when = (
            f"this run ends at step {total:,}, before the first"
            if total and first > total
            else f"the first at step {first:,}"
        )
        st.info(f"Quality figures every {every:,} steps; {when}.")
        return
    quality_charts = frame.quality
    live = drawn_live(snap)  # canvases, as the training charts (charts_ui)
    for column, (name, chart) in zip(st.columns(len(quality_charts), gap="large"), quality_charts.items()):
        with column:
            if live:
                livechart.show(frame.live_quality[name], key=f"live-{name}")
            else:
                st.plotly_chart(chart, key=f"chart-{name}", config={"displaylogo": False})
    step, covered = charts.latest(columns, "classes_covered")
    _, duplicates = charts.latest(columns, "duplicate_fraction")
    _, accuracy = charts.latest(columns, "class_accuracy")
    with st.container(horizontal=True, gap="large"):
        st.metric(
            "Classes covered",
            f"{covered}/10",
            help=f"digits drawn in more than {quality.COVERED_FRACTION:.0%} of {quality.QUALITY_N:,} images, "
            f"at step {step:,}",
        )
        if accuracy is not None:
            st.metric(
                "Class accuracy",
                f"{accuracy:.0%}",
                help="share of generated digits the classifier reads as the class they were drawn as; "
                "10% is chance, a generator that ignores the label",
            )
        if duplicates is not None:
            st.metric(
                "Near duplicates",
                f"{duplicates:.0%}",
                help="share of generated images with a near copy among the others; "
                "real digits and healthy generators: 0-6%",
            )


def refresh_ui() -> float:
    """This viewer's live refresh interval in seconds (once a second unless they choose otherwise)."""
    choice = st.segmented_control(
        "Live view",
        list(REFRESH_CHOICES),
        default=next(iter(REFRESH_CHOICES)),
        key="refresh",
        help="How often this browser redraws the run. Every redraw costs CPU; where the browser "
        "runs on the training machine, a slower refresh leaves more of it to training.",
    )
    return REFRESH_CHOICES.get(choice, POLL_SECONDS)  # None when the viewer unselects: the default


def run_ui(registry: RunRegistry, run: TrainingRun | FollowedRun, view: LiveView | None = None) -> None:
    """Everything about the server's run, redrawn while it is active (once a second by default).

    Two fragments poll (app.live.poll_intervals): the live view at the viewer's refresh, and the
    quality panel, whose figures come every `quality_every` steps, at most every
    QUALITY_POLL_SECONDS. Both draw the frame every viewer shares (app.live). A paused run is polled
    every PAUSED_POLL_SECONDS, so that anyone watching sees it resume; a run that has ended is not
    polled at all. A followed run (`view`: its own LiveView) is drawn the same way."""
    view = view or live_view()
    following = isinstance(run, FollowedRun)
    status = run.status
    every = poll_intervals(status, refresh_ui() if status in ACTIVE else None)

    def redraw_if_changed(latest: Snapshot) -> None:
        now_shown = run if following else registry.current()
        if now_shown is not run or latest.status != status or len(latest.events) != steered:
            # Started, compiled, paused, resumed, ended, or steered: the whole page redraws (its heading,
            # settings and buttons are drawn once for each of these, not every second) and polls anew.
            st.rerun()

    # What changes only with the run's status or settings: drawn once, outside the polling fragments,
    # so that a browser redraws a third fewer elements every second (README, A live view that costs little).
    snap = view.frame(run, real_reference).snap
    steered = len(snap.events)
    st.subheader(f"{snap.run_id or 'New run'} {status_badge(snap.status)}")
    if snap.parent:
        st.caption(f":material/call_split: Branch of **{snap.parent['run']}** at step {snap.parent['step']:,}")
    settings_caption(snap)
    controls_ui(registry, run, snap)
    status_ui(snap)

    @st.fragment(run_every=every.live)
    def live() -> None:
        yield_to_training()
        frame = view.frame(run, real_reference)  # shared by every viewer of this run
        snap = frame.snap
        redraw_if_changed(snap)
        if following:
            trainer_caption(run, snap)
        alerts_ui(snap)
        progress_ui(frame)
        left, right = st.columns(2, gap="large")
        with left:
            grid_ui(frame)
        with right:
            charts_ui(frame)

    @st.fragment(run_every=every.quality)
    def quality() -> None:
        yield_to_training()
        frame = view.frame(run, real_reference)
        redraw_if_changed(frame.snap)
        quality_ui(frame)

    live()
    if status in ACTIVE:
        steer_ui(run)
    quality()
    with st.expander("All settings of this run"):  # fixed for the run's life: outside the polling
        st.json(run.config.to_dict(), expanded=True)


@st.cache_resource(max_entries=8, show_spinner=False)
def followed(path: str) -> tuple[FollowedRun, LiveView]:
    """One follower and one live view per followed run, shared by everyone who follows it."""
    return FollowedRun(path), LiveView()


def trainer_caption(run: FollowedRun, snap: Snapshot) -> None:
    """Who trains a followed run, when it was last heard from, and what became of the last command."""
    status = run.trainer
    who = f"process {status['pid']} on {status['host']}" if status.get("pid") else "another process"
    heard = f", last heard {format_duration(time.time() - status['heartbeat'])} ago" if status.get("heartbeat") else ""
    if snap.active:
        st.caption(
            f":material/settings_remote: Trained by {who}{heard}. Pause, Resume, Stop and the settings below "
            "reach it through its run folder within a second or two."
        )
    else:
        st.caption(f":material/settings_remote: Trained by {who}, which no longer trains it.")
    command = snap.last_command
    if command and not command.get("ok"):
        st.warning(f"The run refused the last command ({command.get('command')}): {command.get('error')}")


def follow_ui(registry: RunRegistry, run_id: str) -> bool:
    """The run `?follow=` names, when it is not this server's own; False when there is none to follow."""
    try:
        path = run_folder(runs_dir(), run_id)
    except RunError as e:
        st.error(f"Cannot follow that run: {e}")
        return False
    own = registry.current()
    if own is not None and own.run_dir is not None and own.run_dir.run_id == run_id:
        return False  # this server trains it: its own view follows it best
    run, view = followed(str(path))
    run_ui(registry, run, view)
    return True


def main() -> None:
    within_app_navigation()
    registry = get_registry()
    wanted = st.query_params.get("follow")
    if wanted and follow_ui(registry, wanted):
        return
    run = registry.current()
    if run is None:
        st.title("Train")
        demo_ui(registry)
        st.subheader("Or choose every setting")
        settings_ui(registry, None)
        return
    run_ui(registry, run)
    st.divider()
    active = registry.active()
    with st.expander("Start a new run", expanded=active is None):
        settings_ui(registry, active)


main()
