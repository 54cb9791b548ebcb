"""Runs: every run under runs_dir(), newest first: settings, status, last grid, final metrics, and what to do with it.

A run that trains, here or in another process (the CLI, a cluster's chief), is read again every
LIVE_CARD_SECONDS, and one that trains elsewhere can be followed on the Train page (the control room).
Open it in the explorer, continue training it from its latest checkpoint (same folder, same step
count), download its generator, its metrics as CSV or a synthetic dataset its generator draws (.npz,
as `python -m gan_core sample RUN --out x.npz` writes it), or delete it after a confirmation. The
active run cannot be deleted.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image
from streamlit.errors import StreamlitAPIException

from app.common import format_duration, get_registry, runs_dir, status_badge, within_app_navigation
from gan_core import export
from gan_core.config import ConfigError, TrainConfig
from gan_core.engine import ACTIVE
from gan_core.explorer import scale_for
from gan_core.latent import png_bytes, upscale
from gan_core.losses import DEFAULT_LOSS, LOSS_METRICS, LOSSES
from gan_core.registry import RunActiveError, RunRegistry
from gan_core.runs import (
    INTERRUPTED,
    STALE,
    RunDir,
    RunError,
    RunInfo,
    list_runs,
    read_checkpoint_state,
    read_run,
)
from gan_core.storage import as_path

GRID_PX = 300  # the last sample grid, enlarged to about this width
LIVE_CARD_SECONDS = 5.0  # how often the card of a run that trains (here or in another process) is read again
SHOWN_METRICS = 4  # final metrics shown per run: d_loss, g_loss and the first two of its loss family's
EXPORT_MAX = 10_000  # images in a synthetic dataset made here: drawn in the server's memory, on its CPU
EXPORT_DEFAULT = 1_000
BALANCED = "every class in turn"


def metrics_csv(records: list[dict[str, Any]]) -> str:
    """metrics.jsonl records as CSV: one column per key, in the order keys first appear."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def shown_metrics(config: TrainConfig | None) -> dict[str, str]:
    """The final metrics shown for a run, by their metrics.jsonl names, with their format."""
    names = LOSS_METRICS + LOSSES[config.loss if config is not None else DEFAULT_LOSS].metric_names
    return {name: "{:.0%}" if name.startswith("d_acc") else "{:.3f}" for name in names[:SHOWN_METRICS]}


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "–"


def grid_ui(info: RunInfo) -> None:
    """The run's last sample grid, enlarged without blur."""
    if info.last_sample is None:
        st.caption("No sample grid yet.")
        return
    try:
        picture = np.asarray(Image.open(io.BytesIO(info.last_sample.read_bytes())))  # a bucket's too
    except OSError as e:
        st.caption(f"The last sample grid cannot be read: {e}")
        return
    step = int(info.last_sample.stem.split("_")[-1])  # samples/step_0001500.png
    # By its longer side: a conditional run's grid (one row per class) can be tall and narrow.
    big = png_bytes(upscale(picture, scale_for(max(picture.shape[:2]), GRID_PX)))
    st.image(big, caption=f"step {step:,}", output_format="PNG")


def summary_ui(info: RunInfo, active_here: bool) -> None:
    """Status, steps, times, final metrics, settings and error of one run."""
    status, config = info.status, info.config
    state = info.state  # "interrupted" for a run status.json calls active that no process trains any more
    total = status.get("total_steps") or (config.steps if config else None)
    step = status.get("step", info.checkpoint_step or 0)
    if state in ACTIVE:  # status.json's step is rewritten every 15 s while it trains; its metrics come more often
        step = max(step or 0, (info.last_metrics or {}).get("step") or 0)
    steps = f"step {step:,} / {total:,}" if total else f"step {step:,}"
    st.markdown(f"{status_badge(state)} **{steps}**")
    if state == INTERRUPTED:
        st.caption(
            "Its training process is gone (the server was restarted, or the process killed) before it "
            "ended: continue it from its latest checkpoint."
        )
    elif state == STALE:
        heard = status.get("heartbeat")
        st.caption(
            f"Nothing heard from its training process since {_when(heard)}: it may hang, or have died on "
            "another machine. If it is gone, continue it from its latest checkpoint."
        )
    elif state in ACTIVE and not active_here:
        follow_ui(info)
    if config is not None:
        st.markdown(f"Preset **{config.preset}** on **{config.dataset}** · {settings_line(config)}")
    else:
        st.warning("config.json cannot be read: this folder can only be deleted.")
    started, ended = status.get("started_at"), status.get("ended_at")
    took = f" · took {format_duration(ended - started)}" if started and ended else ""
    reason = f" · {status['end_reason']}" if status.get("end_reason") else ""
    checkpoint = (
        f" · checkpoint at step {info.checkpoint_step:,}" if info.checkpoint_step is not None else " · no checkpoint"
    )
    until = f" · ended {_when(ended)}" if ended or state not in ACTIVE else " · still training"
    st.caption(f"Started {_when(started)}{until}{took}{reason}{checkpoint}")
    if info.last_metrics:
        shown = shown_metrics(config)
        for col, (key, fmt) in zip(st.columns(len(shown)), shown.items()):
            value = info.last_metrics.get(key)
            col.metric(key, fmt.format(value) if isinstance(value, (int, float)) else "–")
    if status.get("error"):
        st.error(status["error"].strip().splitlines()[-1])  # the message; older runs stored the whole traceback here
        if status.get("traceback"):
            with st.expander("Traceback"):
                st.code(status["traceback"], language=None)
    if config is not None:
        with st.expander("Settings"):
            st.json(config.to_dict())


def follow_ui(info: RunInfo) -> None:
    """A run another process trains (the CLI, a cluster's chief): who, and a button to watch and steer it."""
    status = info.status
    who = f"process {status['pid']} on {status.get('host')}" if status.get("pid") else "another process"
    heard = f", last heard {format_duration(time.time() - status['heartbeat'])} ago" if status.get("heartbeat") else ""
    st.caption(f":material/settings_remote: Live: trained by {who}{heard}.")
    if st.button(
        "Follow",
        key=f"follow_{info.run_dir.run_id}",
        icon=":material/monitoring:",
        type="primary",
        help="Watch it on the Train page as it trains, and pause, stop or steer it from there",
    ):
        try:
            st.switch_page("pages/train.py", query_params={"follow": info.run_dir.run_id})
        except StreamlitAPIException:  # this page was started on its own, without the dashboard's navigation
            st.error(f"The Train page is not part of this app; open it with ?follow={info.run_dir.run_id}.")


def settings_line(config: TrainConfig) -> str:
    """The settings that tell runs apart, in one line: loss, conditional, EMA, augmentation, latent_dim, batch."""
    parts = [
        f"loss **{config.loss}**",
        "conditional" if config.conditional else "unconditional",
        *([f"code of {config.codes}"] if config.codes else []),
        f"EMA {config.ema:g}" if config.ema else "no EMA",
        *(["DiffAugment"] if config.augment else []),
        f"latent_dim {config.latent_dim}",
        f"batch {config.batch_size if config.batch_size is not None else 'of the preset'}",
    ]
    return " · ".join(parts)


def open_in_explorer(run_id: str) -> None:
    """Switch to the Explore page with ?run=<run-id>."""
    try:
        st.switch_page("pages/explore.py", query_params={"run": run_id})
    except StreamlitAPIException:  # this page was started on its own, without the dashboard's navigation
        st.error(f"The Explore page is not part of this app; start the dashboard and open Explore with ?run={run_id}.")


def start_and_follow(start, verb: str, run_id: str, started: str) -> None:
    """Call `start` (a registry call that starts a run); then go to the Train page to watch it. Its
    refusal is shown here instead; `started` is said here where the page runs without the dashboard."""
    try:
        start()
    except RunActiveError as e:
        st.error(f"Cannot {verb}: {e}")
        return
    except (RunError, ConfigError, OSError) as e:
        st.error(f"Cannot {verb} {run_id}: {e}")
        return
    try:
        st.switch_page("pages/train.py")
    except StreamlitAPIException:  # started without the dashboard: say so here instead
        st.success(started)


def continue_ui(info: RunInfo, registry: RunRegistry) -> None:
    """A new total step count and a button that continues training the run from its latest checkpoint."""
    run, config = info.run_dir, info.config
    if config is None or info.checkpoint_step is None:
        st.caption("Nothing to continue from: no checkpoint." if config is not None else "No readable config.")
        return
    done, total = info.checkpoint_step, info.status.get("total_steps") or config.steps
    steps = st.number_input(
        "Train until step",
        min_value=done + 1,
        max_value=10_000_000,
        value=total if total > done else done + total,
        step=100,
        key=f"continue_steps_{run.run_id}",
        help=f"The latest checkpoint is at step {done:,}; training continues from there.",
    )
    if st.button("Continue training", key=f"continue_{run.run_id}", type="primary", icon=":material/play_arrow:"):
        start_and_follow(
            lambda: registry.continue_run(run.path, steps=int(steps)),
            "continue",
            run.run_id,
            f"Continuing {run.run_id}: training to step {int(steps):,}.",
        )


# What a branch may change, in the order the form shows them (every other setting stays the parent's;
# engine.BRANCH_FIXED are those a checkpoint fixes). The total steps comes first, on its own.
BRANCH_KNOBS = ("g_learning_rate", "d_learning_rate", "beta_1", "beta_2", "d_updates", "gp_weight", "ema", "seed")


def branch_ui(info: RunInfo, registry: RunRegistry) -> None:
    """Start a new run from any saved checkpoint of this one, with other settings."""
    run, config = info.run_dir, info.config
    saved = [step for step, _ in run.checkpoints()]
    if config is None or not saved:
        st.caption("Nothing to branch from: no checkpoint." if config is not None else "No readable config.")
        return
    key = f"branch_{run.run_id}"
    step = st.select_slider(
        "From the checkpoint at step", saved, value=saved[-1], key=f"{key}_step", format_func=lambda s: f"{s:,}"
    )
    steps = st.number_input(
        "Train until step",
        min_value=step + 1,
        max_value=10_000_000,
        value=step + config.steps,
        key=f"{key}_steps_{step}",  # another checkpoint: another default
    )
    changes = {"steps": int(steps)}
    names = [n for n in BRANCH_KNOBS if (n != "gp_weight" or config.loss == "wgan-gp") and (n != "ema" or config.ema)]
    for left, right in zip(names[::2], [*names[1::2], None]):
        columns = st.columns(2)
        for column, name in zip(columns, (left, right)):
            if name is None:
                continue
            value = getattr(config, name)
            with column:
                if isinstance(value, int):
                    changes[name] = st.number_input(name, value=value, min_value=0, step=1, key=f"{key}_{name}")
                else:
                    changes[name] = st.number_input(name, value=float(value), format="%g", key=f"{key}_{name}")
    st.caption(
        "The networks, data, loss family and grid stay the parent's (the checkpoint fixes them); the branch "
        "starts from exactly its weights at that step and records where it came from."
    )
    if st.button("Start the branch", key=f"{key}_start", type="primary", icon=":material/call_split:"):
        changed = {k: v for k, v in changes.items() if k == "steps" or v != getattr(config, k)}
        start_and_follow(
            lambda: registry.branch(run.path, step, **changed),
            "branch",
            run.run_id,
            f"Branched {run.run_id} at step {step:,}.",
        )


def delete_ui(run: RunDir, active_here: bool) -> None:
    """Delete the folder after an explicit confirmation; never the active run."""
    if active_here:
        st.caption("This run is training now: stop it on the Train page before deleting it.")
        return
    st.markdown(f"Delete **{run.run_id}** with its checkpoints, samples and generator? This cannot be undone.")
    sure = st.checkbox("Yes, delete this run", key=f"confirm_delete_{run.run_id}")
    if st.button("Delete", key=f"delete_{run.run_id}", type="primary", disabled=not sure, icon=":material/delete:"):
        try:
            run.delete(runs_dir())  # only a run folder directly under the runs folder, never through a link
        except (RunError, OSError) as e:
            st.error(f"Could not delete {run.path}: {e}")
            return
        st.session_state.runs_notice = f"Deleted {run.run_id}."
        st.rerun()


def export_limits(info: RunInfo) -> tuple[int | None, int]:
    """(class count, most images) of a synthetic dataset from this run, read from its latest checkpoint's
    state (the generator itself is loaded only when the file is asked for)."""
    latest = info.run_dir.latest_checkpoint()
    try:
        state = read_checkpoint_state(latest[1]) if latest else {}
    except RunError:
        state = {}
    shape = state.get("image_shape")
    most = min(EXPORT_MAX, export.max_images(tuple(shape))) if shape else EXPORT_MAX
    return state.get("num_classes"), most


def export_ui(info: RunInfo, drawable: bool) -> None:
    """How many images (and which classes), and a download button that draws them as an .npz when clicked."""
    run = info.run_dir
    if not drawable:
        st.caption("Nothing to draw from: the run has neither generator.keras nor a checkpoint yet.")
        return
    classes, most = export_limits(info)
    n = st.number_input(
        "Images",
        min_value=1,
        max_value=most,
        value=min(EXPORT_DEFAULT, most),
        step=100,
        key=f"export_n_{run.run_id}",
        help=f"Between 1 and {most:,}; for more, use `python -m gan_core sample {run.path} --n N --out x.npz`.",
    )
    class_ = None
    if classes:
        choice = st.selectbox(
            "Classes",
            [BALANCED, *range(classes)],
            format_func=lambda c: c if c == BALANCED else f"only class {c}",
            key=f"export_class_{run.run_id}",
        )
        class_ = None if choice == BALANCED else int(choice)
    st.download_button(
        "synthetic.npz",
        # Drawn only when clicked: loading the generator and drawing thousands of images takes seconds.
        data=lambda path=run.path, n=int(n), class_=class_: export.export_npz(path, n, class_=class_),
        file_name=f"{run.run_id}-synthetic-{int(n)}.npz",
        mime="application/octet-stream",
        key=f"export_{run.run_id}",
        icon=":material/download:",
        on_click="ignore",
    )
    labels = " and `labels`" if classes else ""
    st.caption(
        f"`images` uint8 (N, H, W, C){labels}, from noise seed 0: the same file as "
        f"`python -m gan_core sample RUN --n {int(n)} --out x.npz`. Train on it with dataset **npz**."
    )


def actions_ui(info: RunInfo, registry: RunRegistry, active_here: bool) -> None:
    run = info.run_dir
    has_generator = run.generator_path.exists()
    drawable = has_generator or info.checkpoint_step is not None
    explore, generator, metrics, synthetic, train_on, branch, delete = st.columns(7)
    if explore.button(
        "Explore",
        key=f"open_{run.run_id}",
        icon=":material/explore:",
        disabled=not drawable,
        help="Walk the latent space of this run's generator (its latest checkpoint if it has no generator.keras yet).",
    ):
        open_in_explorer(run.run_id)
    generator.download_button(
        "generator.keras",
        data=lambda path=run.generator_path: path.read_bytes(),
        file_name=f"{run.run_id}-generator.keras",
        mime="application/octet-stream",
        key=f"download_generator_{run.run_id}",
        icon=":material/download:",
        disabled=not has_generator,
        on_click="ignore",
        help="The trained generator, loadable with keras.models.load_model"
        if has_generator
        else "No generator.keras: the run has not ended yet.",
    )
    records = [r for r in run.read_metrics() if "event" not in r]  # changes of settings are not metrics
    metrics.download_button(
        "metrics.csv",
        data=metrics_csv(records) if records else "",
        file_name=f"{run.run_id}-metrics.csv",
        mime="text/csv",
        key=f"download_metrics_{run.run_id}",
        icon=":material/download:",
        disabled=not records,
        on_click="ignore",
    )
    with synthetic.popover(
        "Dataset…",
        icon=":material/dataset:",
        disabled=not drawable,
        help="N images drawn by this run's generator, as an .npz to train on again (data augmentation)",
    ):
        export_ui(info, drawable)
    with train_on.popover(
        "Continue…",
        icon=":material/replay:",
        disabled=active_here,
        help="Continue training from the latest checkpoint, in the same folder",
    ):
        continue_ui(info, registry)
    with branch.popover(
        "Branch…",
        icon=":material/call_split:",
        disabled=info.checkpoint_step is None,
        help="A new run from any saved checkpoint of this one, with other settings",
    ):
        branch_ui(info, registry)
    with delete.popover("Delete…", icon=":material/delete:"):
        delete_ui(run, active_here)


def families(infos: list[RunInfo]) -> list[tuple[RunInfo, int]]:
    """The runs in family order, each with its depth: a run, then its branches (newest first) under it,
    theirs under them. A branch whose parent is gone from the folder stands on its own."""
    ids = {info.run_dir.run_id for info in infos}
    children: dict[str, list[RunInfo]] = {}
    roots = []
    for info in infos:
        parent = (info.parent or {}).get("run")
        if parent in ids and parent != info.run_dir.run_id:
            children.setdefault(parent, []).append(info)
        else:
            roots.append(info)
    ordered: list[tuple[RunInfo, int]] = []
    seen: set[str] = set()

    def visit(info: RunInfo, depth: int) -> None:
        if info.run_dir.run_id in seen:  # a hand-edited parent.json could loop
            return
        seen.add(info.run_dir.run_id)
        ordered.append((info, depth))
        for child in children.get(info.run_dir.run_id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    ordered += [(info, 0) for info in infos if info.run_dir.run_id not in seen]  # only cycles are left
    return ordered


def run_card(info: RunInfo, registry: RunRegistry, active_here: bool, depth: int = 0) -> None:
    if depth:  # a branch sits under its parent, indented by its depth
        _, card = st.columns([0.04 * depth, 1 - 0.04 * depth])
        with card:
            run_card(info, registry, active_here)
        return
    with st.container(border=True):
        st.subheader(info.run_dir.run_id, anchor=False)
        if info.parent:
            st.caption(
                f":material/call_split: Branch of **{info.parent['run']}** at step {info.parent['step']:,}",
            )
        if info.state in ACTIVE:  # training, here or elsewhere: its grid and figures follow it
            live_summary(info, active_here)
        else:
            picture_and_summary(info, active_here)
        actions_ui(info, registry, active_here)


def picture_and_summary(info: RunInfo, active_here: bool) -> None:
    picture, summary = st.columns([1, 2], gap="large")
    with picture:
        grid_ui(info)
    with summary:
        summary_ui(info, active_here)


@st.fragment(run_every=LIVE_CARD_SECONDS)
def live_summary(info: RunInfo, active_here: bool) -> None:
    """A training run's grid, step and figures, read again every LIVE_CARD_SECONDS; the whole page once it
    has ended (its actions change with its status)."""
    fresh = read_run(info.run_dir.path)
    if fresh.state not in ACTIVE:
        st.rerun()
    picture_and_summary(fresh, active_here)


def main() -> None:
    within_app_navigation()
    st.title("Runs")
    folder = runs_dir()
    if notice := st.session_state.pop("runs_notice", None):
        st.success(notice)
    infos = list_runs(folder)
    if not infos:
        st.info(f"No runs under `{folder}` yet: start one on the Train page.")
        return
    registry = get_registry()
    active = registry.active()
    active_dir = active.snapshot().run_dir if active is not None else None
    active_path = as_path(active_dir).resolve() if active_dir is not None else None
    st.caption(f"{len(infos)} run{'s' if len(infos) != 1 else ''} under `{folder}`, newest first.")
    for info, depth in families(infos):
        run_card(info, registry, active_here=info.run_dir.path.resolve() == active_path, depth=depth)


main()
