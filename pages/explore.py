"""Explore: walk the latent space of a trained generator, from A to B, one dimension at a time, across a plane.

Every slider move reruns this script, so the page only composes: the maths and the fast, cached
generator call live in gan_core.explorer. `?run=<run-id>` opens a run directly (the Runs page's
"Open in explorer").

A conditional generator draws every picture as a class: one chosen class for the walk between two
seeds, the sliders and the plane; or the walk goes between two classes with the same noise, and
the sliders and the plane then pass through that mix of the two classes at t. A generator whose
noise carries a code (InfoGAN) is the same with codes: one chosen code for every picture (or each
noise's own), or a walk between two codes with the same noise.

"Find a digit" searches the latent space for a drawn or uploaded digit (gan_core.projection); the
noise found can then stand in for A's or B's seed, or be the centre of the per-dimension sliders.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import streamlit as st

from app import uploads
from app.common import get_registry, runs_dir, within_app_navigation
from gan_core import explorer as ex
from gan_core import projection, quality
from gan_core.data import DatasetError, load_images
from gan_core.explorer import DIRECTION_KINDS, Explorer, RealNeighbours
from gan_core.latent import walk
from gan_core.runs import RunDir, RunError, list_runs, load_generator, run_folder

UPLOAD = "<upload>"  # the generator picker's option that is not a run id
WALKS = {"seeds": "between two seeds, same class", "classes": "between two classes, same noise"}
CODE_WALKS = {"seeds": "between two seeds, same code", "codes": "between two codes, same noise"}
CANDIDATES = 16
MAX_SEED = 2**31 - 1
# Target sizes in screen pixels; images are enlarged by whole numbers so digits stay crisp.
BIG_PX, THUMB_PX, SMALL_PX = 336, 112, 84
FIND_SOURCES = {"draw": "draw it", "upload": "upload a picture"}
CANVAS_PX = 280
FOUND, SLIDER_CENTRE = "found_digit", "slider_centre"  # session state: the last search, the sliders' centre


# ------------------------------------------------------------------ the generator
def generator_file(run: RunDir) -> Path | None:
    """The file that changes when the run's generator does: generator.keras, else the latest checkpoint."""
    if run.generator_path.exists():
        return run.generator_path
    latest = run.latest_checkpoint()
    return latest[1] / "generator.weights.h5" if latest else None


@st.cache_resource(max_entries=4, show_spinner="Loading the generator…")
def load_explorer(path: str, mtime_ns: int) -> Explorer:
    """The Explorer of a run folder or .keras file. `mtime_ns` only keys the cache: a run that trained
    further is a new generator."""
    return Explorer(load_generator(path))


def saved_upload(data: bytes) -> Path:
    """An uploaded .keras file saved in the temporary folder, named by its content (so reruns reuse it); the
    newest few are kept (app.uploads). A refused upload stops the page with its message."""
    try:
        uploads.check_size(len(data), "The file", hint="generators trained here are far smaller: is it the right file?")
        folder = uploads.temp_folder("gan-studio-uploads")
        path = folder / f"{hashlib.sha256(data).hexdigest()[:24]}.keras"
        return path if path.is_file() else uploads.save(folder, path.name, data, ".keras")
    except (uploads.UploadError, OSError) as e:
        st.error(f"The upload was not used. {e}")
        st.stop()


def _follow_choice() -> None:
    """Keep ?run= in step with the picker, so the address can be shared or bookmarked."""
    choice = st.session_state.generator_choice
    if choice == UPLOAD:
        st.query_params.pop("run", None)
        st.session_state.run_param_applied = None
    else:
        st.query_params["run"] = choice
        st.session_state.run_param_applied = choice


def generator_ui() -> tuple[Explorer, str] | None:
    """The generator picker: a run under runs_dir() or an uploaded file. Returns (explorer, its name)."""
    runs = {info.run_dir.run_id: info for info in list_runs(runs_dir()) if generator_file(info.run_dir)}
    current = get_registry().current()
    snap = current.snapshot() if current is not None else None
    current_id = snap.run_id if snap is not None else None
    training_id = current_id if snap is not None and snap.active else None

    # Each of these picks the generator once, when it appears; after that the picker is the user's.
    finished = current_id if current_id in runs and current_id != training_id else None
    if finished and finished != st.session_state.get("finished_applied"):
        st.session_state.finished_applied = st.session_state.generator_choice = finished
    wanted = st.query_params.get("run")
    if wanted and wanted != st.session_state.get("run_param_applied"):
        st.session_state.run_param_applied = wanted
        if wanted in runs:  # only ids listed from runs_dir(): the address never names a path
            st.session_state.generator_choice = wanted
        else:
            try:
                run_folder(runs_dir(), wanted)
                problem = f"Run {wanted!r} has no generator or checkpoint yet"
            except RunError as e:  # not a run id ('..', slashes, odd characters), or no such run
                problem = str(e)
            st.warning(f"{problem}; pick another run below.")
    options = [*runs, UPLOAD]
    if st.session_state.get("generator_choice") not in options:
        st.session_state.generator_choice = options[0]  # the newest run

    def label(option: str) -> str:
        if option == UPLOAD:
            return "Upload a generator.keras…"
        info = runs[option]
        step = info.status.get("step", info.checkpoint_step)
        preset = info.config.preset if info.config else "?"
        note = (
            " · training now (latest checkpoint)"
            if option == training_id
            else (" · just finished" if option == current_id else "")
        )
        return f"{option} · {preset} · step {step}{note}"

    choice = st.selectbox("Generator", options, format_func=label, key="generator_choice", on_change=_follow_choice)
    if choice == UPLOAD:
        uploaded = st.file_uploader("A generator saved by Keras (.keras)", type=["keras"])
        if uploaded is None:
            if not runs:
                st.info(
                    f"No trained runs under `{runs_dir()}` yet: train one on the Train page, "
                    "or upload a generator.keras."
                )
            return None
        path, name = saved_upload(uploaded.getvalue()), uploaded.name
    else:
        path, name = runs[choice].run_dir.path, choice
    try:
        source = path if path.is_file() else generator_file(RunDir(path))
        if source is None:
            raise RunError(f"run {name} has neither generator.keras nor a checkpoint any more")
        return load_explorer(str(path), source.stat().st_mtime_ns), name
    except (OSError, ValueError) as e:  # RunError is a ValueError: a corrupt or foreign file
        st.error(str(e))
        return None


def show(
    explorer: Explorer, images: np.ndarray, target_px: int, ncols: int | None = None, caption: str | None = None
) -> None:
    """Images enlarged to about `target_px` per image and sent as PNG (never JPEG: digits must stay crisp)."""
    png = ex.picture_png(images, ex.scale_for(explorer.image_shape[0], target_px), ncols=ncols)
    st.image(png, caption=caption, output_format="PNG")


# ------------------------------------------------------------------ from A to B
def found_key(seed_key: str) -> str:
    """Where an endpoint keeps a found digit's noise, which stands in for its seed: seed_a -> found_a."""
    return "found_" + seed_key.removeprefix("seed_")


def _forget_found(seed_key: str) -> None:
    st.session_state.pop(found_key(seed_key), None)  # a seed chosen again is the endpoint again


def _random_seed(key: str) -> None:
    st.session_state[key] = random.randrange(1_000_000)
    _forget_found(key)


def _pick_candidate(pill_key: str, seed_key: str, seeds: list[int]) -> None:
    index = st.session_state[pill_key]
    if index is not None:
        st.session_state[seed_key] = seeds[index]
        st.session_state[pill_key] = None  # a pick is an action, not a lasting selection
        _forget_found(seed_key)


def seed_ui(name: str, key: str, default_seed: int, label: str, help: str | None = None) -> int:
    """A seed input and its random button; returns the seed."""
    st.session_state.setdefault(key, default_seed)  # in session state: the buttons and the candidates set it
    seed = st.number_input(label, 0, MAX_SEED, step=1, key=key, help=help, on_change=_forget_found, args=(key,))
    st.button(
        f"Random {name}", key=f"random_{name.lower()}", icon=":material/casino:", on_click=_random_seed, args=(key,)
    )
    return seed


def endpoint_ui(name: str, explorer: Explorer, default_seed: int, labels=None, code=None) -> np.ndarray:
    """Seed input, random button and thumbnail of one endpoint; returns its latent vector: the seed's noise,
    or a found digit's (section "Find a digit") until a seed is chosen again; made to carry `code` if one is chosen."""
    key = f"seed_{name.lower()}"
    seed = seed_ui(name, key, default_seed, f"Seed {name}")
    found = st.session_state.get(found_key(key))
    z = explorer.with_code(explorer.noise(seed) if found is None else found, code)
    show(
        explorer, explorer.generate(z, labels), THUMB_PX, caption=name if found is None else f"{name}: the found digit"
    )
    return z


def candidates_ui(explorer: Explorer, labels, targets: dict[str, str], code=None) -> None:
    """A grid of candidate seeds; picking one sets a seed. `targets`: the name shown -> its seed's key."""
    base = st.session_state.setdefault("candidate_base", 1000)
    seeds = [base + i for i in range(CANDIDATES)]
    images = explorer.generate(np.stack([explorer.noise(s) for s in seeds]), labels, code)
    scale = ex.scale_for(explorer.image_shape[0], SMALL_PX)
    pngs = [ex.picture_png(images[i : i + 1], scale) for i in range(CANDIDATES)]
    st.image(pngs, caption=[f"#{i}" for i in range(CANDIDATES)], output_format="PNG")
    for name, seed_key in targets.items():
        pill_key = f"pick_{seed_key.removeprefix('seed_')}"
        st.pills(
            f"Set {name} to candidate",
            range(CANDIDATES),
            format_func=lambda i: f"#{i}",
            key=pill_key,
            on_change=_pick_candidate,
            args=(pill_key, seed_key, seeds),
        )
    st.button(
        "Show 16 other candidates",
        icon=":material/refresh:",
        on_click=lambda: st.session_state.update(candidate_base=random.randrange(10_000, 1_000_000)),
    )


def walk_ui(explorer: Explorer) -> tuple[str, int | None, int | None]:
    """What the walk goes between, and the class (conditional generator) or code (noise with a code) it
    draws in: (kind, class, code); ("seeds", None, None) for a generator with neither."""
    if not explorer.conditional and not explorer.codes:
        return "seeds", None, None
    # Keys of their own for codes: a choice made for a conditional generator is no option of a coded one.
    walks, key = (WALKS, "walk") if explorer.conditional else (CODE_WALKS, "code_walk")
    left, right = st.columns([1.4, 1], gap="large")
    kind = left.radio("Walk", list(walks), format_func=walks.get, key=key, horizontal=True)
    if not explorer.conditional:
        code = right.selectbox(
            "Code",
            [None, *range(explorer.codes)],
            format_func=lambda c: "any (as the noise says)" if c is None else str(c),
            key="draw_code",
            disabled=kind == "codes",
            help="The code of every picture: A, B, the walk, the candidates, the sliders and the plane; "
            "any draws each noise with the code it carries (the largest of its first values). "
            "Between two codes, the walk picks its own two instead.",
        )
        return kind, None, code
    label = right.selectbox(
        "Class",
        range(explorer.num_classes),
        key="draw_class",
        disabled=kind == "classes",
        help="The class of every picture: A, B, the walk, the candidates, the sliders and the plane. "
        "Between two classes, the walk picks its own two instead.",
    )
    return kind, label, None


def interpolation_ui(explorer: Explorer, labels=None, code=None) -> tuple[np.ndarray, int | None, int | None]:
    """A, B, the image at t and the strip between them; returns the point at t: (latent vector, class, code).

    With a code, A and B are made to carry it before the walk: every point between them carries it too
    (the walk mixes them with weights that are never negative), so the walk has no jump."""
    col_a, col_b, col_t = st.columns([1, 1, 2.6], gap="large")
    with col_a:
        a = endpoint_ui("A", explorer, 0, labels, code)
    with col_b:
        b = endpoint_ui("B", explorer, 1, labels, code)
    with col_t:
        method = st.radio(
            "Path",
            ["slerp", "lerp"],
            horizontal=True,
            key="method",
            format_func={"slerp": "slerp (great circle)", "lerp": "lerp (straight line)"}.get,
            help="slerp keeps the typical length of Gaussian noise all the way; "
            "lerp's midpoints are shorter and often blurrier.",
        )
        t = st.slider("t (0 = A, 1 = B)", 0.0, 1.0, 0.5, 0.01, key="t")
        z_t = ex.point_at(a, b, t, method)
        show(explorer, explorer.generate(z_t, labels, code), BIG_PX, caption=f"t = {t:.2f} ({method})")

    frames = st.slider("Frames from A to B", 2, 16, 8, key="frames")
    images = explorer.generate(walk(a, b, frames, method), labels, code)
    show(explorer, images, SMALL_PX, ncols=frames, caption=f"{frames} frames from A to B ({method})")
    of_class = ("" if labels is None else f"-class{labels}") + ("" if code is None else f"-code{code}")
    ends = [
        "found" if st.session_state.get(found_key(k)) is not None else st.session_state[k] for k in ("seed_a", "seed_b")
    ]
    gif_ui(explorer, images, f"walk-{ends[0]}-{ends[1]}-{method}{of_class}.gif")
    with st.expander("Pick A or B from candidates"):
        candidates_ui(explorer, labels, {"A": "seed_a", "B": "seed_b"}, code)
    return z_t, labels, code


def one_noise_two_ends_ui(explorer: Explorer, kind: str, count: int, draw, drawn: str):
    """The seed of one noise and two ends, `kind` A and B (of `count` classes or codes), each shown as
    `draw(z, value)` draws it; returns (seed, noise, A, B, the column left for the walk)."""
    col_z, col_a, col_b, col_t = st.columns([1.3, 1, 1, 2.4], gap="medium")
    with col_z:
        seed = seed_ui("noise", "seed_z", 0, "Seed", help=f"One noise vector, {drawn} and between")
    z = explorer.noise(seed)
    ends = []
    for column, end, default in ((col_a, "A", 0), (col_b, "B", min(1, count - 1))):
        with column:
            value = st.selectbox(f"{kind.capitalize()} {end}", range(count), index=default, key=f"{kind}_{end.lower()}")
            show(explorer, draw(z, value), THUMB_PX, caption=f"{end}: {kind} {value}")
            ends.append(value)
    return seed, z, ends[0], ends[1], col_t


def class_interpolation_ui(explorer: Explorer) -> tuple[np.ndarray, np.ndarray, None]:
    """One noise drawn as class A, class B and mixes of the two; returns the point at t: (latent
    vector, class weights (1, num_classes), no code)."""
    seed, z, a, b, col_t = one_noise_two_ends_ui(
        explorer, "class", explorer.num_classes, lambda z, c: explorer.generate(z, c), "drawn as class A, class B"
    )
    with col_t:
        t = st.slider(
            "t (0 = class A, 1 = class B)",
            0.0,
            1.0,
            0.5,
            0.01,
            key="t",
            help="The generator sees (1 - t) of class A's one-hot vector plus t of class B's, where it was "
            "trained on one class at a time: in between it draws what it makes of the mix.",
        )
        show(explorer, explorer.between_classes(z, a, b, t), BIG_PX, caption=f"t = {t:.2f} (class {a} → class {b})")

    frames = st.slider("Frames from A to B", 2, 16, 8, key="frames")
    images = explorer.between_classes(z, a, b, np.linspace(0.0, 1.0, frames))
    show(explorer, images, SMALL_PX, ncols=frames, caption=f"{frames} frames from class {a} to class {b}")
    gif_ui(explorer, images, f"classes-{seed}-{a}-{b}.gif")
    with st.expander("Pick the noise from candidates"):
        candidates_ui(explorer, a, {"the noise": "seed_z"})
    return z, ex.class_mix(a, b, t, explorer.num_classes), None


def code_interpolation_ui(explorer: Explorer) -> tuple[np.ndarray, None, None]:
    """One noise drawn with code A, code B and the noise between; returns the point at t: (latent vector,
    no class, no code: the sliders and the plane draw it with the code it carries)."""
    seed, z, a, b, col_t = one_noise_two_ends_ui(
        explorer, "code", explorer.codes, lambda z, c: explorer.generate(z, code=c), "drawn with code A, code B"
    )
    with col_t:
        t = st.slider(
            "t (0 = code A, 1 = code B)",
            0.0,
            1.0,
            0.5,
            0.01,
            key="t",
            help="A code is discrete: the noise moves on a straight line from carrying code A to carrying "
            "code B (they differ in a few values), and the picture changes code where the largest of "
            "its first values changes place.",
        )
        z_t = explorer.code_walk(z, a, b, t)[0]
        carried = int(explorer.code_of(z_t)[0])
        show(
            explorer,
            explorer.generate(z_t),
            BIG_PX,
            caption=f"t = {t:.2f} (code {a} → code {b}) · carries code {carried}",
        )

    frames = st.slider("Frames from A to B", 2, 16, 8, key="frames")
    points = explorer.code_walk(z, a, b, np.linspace(0.0, 1.0, frames))
    images = explorer.generate(points)
    along = " ".join(str(c) for c in explorer.code_of(points))
    caption = f"{frames} frames from code {a} to code {b} (codes carried: {along})"
    show(explorer, images, SMALL_PX, ncols=frames, caption=caption)
    gif_ui(explorer, images, f"codes-{seed}-{a}-{b}.gif")
    with st.expander("Pick the noise from candidates"):
        candidates_ui(explorer, None, {"the noise": "seed_z"}, a)
    return z_t, None, None


def gif_ui(explorer: Explorer, images: np.ndarray, file_name: str) -> None:
    """The walk's frames as an animated GIF, encoded only when downloaded."""
    scale = ex.scale_for(explorer.image_shape[0], SMALL_PX)
    st.download_button(
        "Download the walk as GIF",
        data=lambda: ex.walk_gif(images, scale),
        icon=":material/download:",
        file_name=file_name,
        mime="image/gif",
        on_click="ignore",
    )


# ------------------------------------------------------------------ does it copy its data?
def training_data(name: str, image_shape: tuple) -> tuple[str, str | None, str]:
    """(dataset, npz_path, how it was chosen) of the real images to compare generator `name` with."""
    try:
        config = RunDir(run_folder(runs_dir(), name)).read_config()  # never a path an upload's name makes
        return config.dataset, config.npz_path, f"the training images of this run ({config.dataset})"
    except (OSError, ValueError) as e:  # an uploaded file, or a run without a readable config
        if tuple(image_shape) == quality.IMAGE_SHAPE:
            return quality.REAL_DATASET, None, "the bundled digits (an uploaded file does not say what it learned from)"
        raise RunError(
            "an uploaded generator does not say what it learned from, and its images are not 28x28 digits"
        ) from e


@st.cache_resource(max_entries=2, show_spinner="Reading the real images and their classifier features (once)…")
def real_neighbours(dataset: str, npz_path: str | None) -> RealNeighbours:
    """The searchable real images of a dataset, with classifier features when they are digits."""
    images = load_images(dataset, npz_path)
    digits, _ = quality.applies_to(dataset, images.shape[1:])
    return RealNeighbours(images, quality.load_classifier() if digits else None)


def neighbours_ui(explorer: Explorer, name: str, image_t: np.ndarray) -> None:
    """The real images nearest the image at t, in pixels and in classifier features: a copy shows as 0."""
    if not st.toggle(
        "Nearest real images: does the generator copy its training data?",
        key="neighbours",
        help="Searches the real images for the ones closest to the image at t. Off by default: it reads the "
        "dataset and its classifier features once (seconds), then adds a few milliseconds per redraw.",
    ):
        return
    try:
        dataset, npz_path, source = training_data(name, explorer.image_shape)
        bank = real_neighbours(dataset, npz_path)
    except (RunError, DatasetError) as e:
        st.warning(f"No real images to compare with: {e}")
        return
    if bank.images.shape[1:] != explorer.image_shape:
        st.warning(f"The real images are {bank.images.shape[1:]} but the generator draws {explorer.image_shape}.")
        return
    of = f"the first {len(bank.images):,} of {bank.total:,}" if len(bank.images) < bank.total else f"all {bank.total:,}"
    st.caption(f"Compared with {of} of {source}.")
    scale = ex.scale_for(explorer.image_shape[0], SMALL_PX)
    spaces = {"pixels": "in pixels", "features": "in the digit classifier's features"}
    for space, (indices, distances) in bank.search(image_t).items():
        typical, closer = float(np.median(bank.typical[space])), bank.closer_share(space, distances[0])
        ratio = f" ({distances[0] / typical:.0%} of that)" if typical > 0 else ""
        st.markdown(
            f"**Nearest {spaces[space]}: {distances[0]:.2f}** (0 = an exact copy) · a real image lies "
            f"{typical:.2f} from its nearest other real image (median){ratio}; {closer:.0%} of real images "
            "have a closer neighbour than this."
        )
        pictures = [ex.picture_png(image_t[:1], scale)]
        pictures += [ex.picture_png(bank.images[i : i + 1], scale) for i in indices]
        captions = ["generated (at t)"] + [f"real {i:,}: {d:.2f}" for i, d in zip(indices, distances)]
        st.image(pictures, caption=captions, output_format="PNG")
    if "features" not in bank.banks:
        st.info("Neighbours in the digit classifier's features need 28x28 handwritten digits; these are pixels only.")


# ------------------------------------------------------------------ around the point at t
def _reset_offsets(keys: list[str]) -> None:
    for key in keys:
        st.session_state[key] = 0.0


@st.fragment
def dimensions_ui(explorer: Explorer, z_t: np.ndarray, labels=None, code=None) -> None:
    """Sliders that move the point at t (or a found digit, section "Find a digit") along single latent dimensions."""
    d = explorer.latent_dim
    found = st.session_state.get(SLIDER_CENTRE)
    centre, at = (z_t, "the point at t") if found is None else (found, "the found digit")
    controls, shown = st.columns([1.4, 1], gap="large")
    with controls:
        dims = st.multiselect(
            "Latent dimensions", range(d), default=list(range(min(4, d))), key=f"dims_{d}", max_selections=8
        )
        keys = [f"offset_{d}_{dim}" for dim in dims]
        for key in keys:  # the default lives in session state, so that the reset button may set it
            st.session_state.setdefault(key, 0.0)
        offsets = [st.slider(f"dimension {dim}", -3.0, 3.0, step=0.1, key=key) for dim, key in zip(dims, keys)]
        if dims:
            st.caption(f"Values at {at}: " + ", ".join(f"{dim}: {centre[dim]:+.2f}" for dim in dims))
            st.button(
                f"Back to {at}",
                key="reset_offsets",
                on_click=_reset_offsets,
                args=(keys,),
                icon=":material/undo:",
            )
        if found is not None:
            st.button(
                "Centre on the point at t again",
                key="centre_at_t",
                on_click=lambda: st.session_state.pop(SLIDER_CENTRE, None),
                icon=":material/center_focus_strong:",
            )
    with shown:
        z = ex.nudge(centre, dims, offsets)
        moved = ", ".join(f"{dim} {o:+.1f}" for dim, o in zip(dims, offsets) if o) or "none"
        of_found = "" if found is None else " · centre: the found digit"
        show(explorer, explorer.generate(z, labels, code), BIG_PX, caption=f"offsets: {moved}{of_found}")


def plane_directions_ui(explorer: Explorer) -> tuple[np.ndarray, str, str] | None:
    """The plane's two directions and their names, or None (with a message) when they cannot be made."""
    d = explorer.latent_dim
    kind = st.radio(
        "Directions", list(DIRECTION_KINDS), format_func=DIRECTION_KINDS.get, key="plane_kind", horizontal=True
    )
    if kind == "dimensions":
        left, right = st.columns(2)
        i = left.selectbox("Across: dimension", range(d), index=0, key=f"plane_x_{d}")
        j = right.selectbox("Down: dimension", range(d), index=min(1, d - 1), key=f"plane_y_{d}")
        try:
            return ex.dimension_directions(d, (i, j)), f"dimension {i}", f"dimension {j}"
        except ValueError as e:
            st.warning(str(e))
            return None
    if kind == "random":
        seed = st.session_state.setdefault("plane_seed", 0)
        st.button(
            "New random directions",
            icon=":material/casino:",
            on_click=lambda: st.session_state.update(plane_seed=random.randrange(1_000_000)),
        )
        return ex.random_directions(d, seed), f"random direction 1 (seed {seed})", "random direction 2"
    with st.spinner(f"Finding the principal directions from {ex.PCA_SAMPLES:,} samples (once per generator)…"):
        directions, explained = explorer.principal_directions()
    return (
        directions,
        f"principal direction 1 ({explained[0]:.0%} of image variance)",
        f"principal direction 2 ({explained[1]:.0%})",
    )


@st.fragment
def plane_ui(explorer: Explorer, z_t: np.ndarray, labels=None, code=None) -> None:
    """A grid of images across two directions through the point at t."""
    controls, shown = st.columns([1, 1.4], gap="large")
    with controls:
        found = plane_directions_ui(explorer)
        steps = st.select_slider("Grid", [5, 7, 9], value=7, key="plane_steps", format_func=lambda n: f"{n} × {n}")
        extent = st.slider("Reach (latent units either side)", 0.5, 4.0, 2.0, 0.25, key="plane_extent")
    if found is None:
        return
    directions, across, down = found
    with shown:
        images = explorer.generate(ex.plane(z_t, directions, steps, extent), labels, code)
        show(explorer, images, SMALL_PX, ncols=steps, caption=f"→ {across} · ↓ {down} · centre: the point at t")


# ------------------------------------------------------------------ find a digit
def canvas_picture() -> np.ndarray | None:
    """The canvas's RGBA pixels, or None where the drawing component is not installed (the upload still works)."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.info("Drawing needs the streamlit-drawable-canvas package (requirements.txt); upload a picture instead.")
        return None
    st.caption("Draw one digit, large, in the middle: white on black, as MNIST's digits are.")
    drawn = st_canvas(
        stroke_width=CANVAS_PX // 12,  # about MNIST's stroke once the digit is fitted into 20x20 pixels
        stroke_color="#FFFFFF",
        background_color="#000000",
        width=CANVAS_PX,
        height=CANVAS_PX,
        drawing_mode="freedraw",
        return_image_data=True,
        key="digit_canvas",
    )
    return drawn.image_data


def target_ui() -> np.ndarray | None:
    """The digit to find, from the canvas or an upload, as a 28x28x1 image in [-1, 1]; None until there is one."""
    source = st.radio("Digit", list(FIND_SOURCES), format_func=FIND_SOURCES.get, key="find_source", horizontal=True)
    if source == "draw":
        pixels = canvas_picture()
        if pixels is None:  # nothing drawn yet, or no canvas
            return None
        try:
            return projection.digit_from_picture(pixels)
        except projection.ProjectionError:  # an empty (or wiped) canvas: nothing to find yet
            return None
    uploaded = st.file_uploader(
        "A picture of one digit (PNG or JPEG; light on dark or dark on light)",
        type=["png", "jpg", "jpeg"],
        key="digit_upload",
    )
    if uploaded is None:
        return None
    try:
        return projection.digit_from_upload(uploaded.getvalue())
    except projection.ProjectionError as e:
        st.error(f"The picture was not used: {e}.")
        return None


def _use_found(target: str) -> None:
    """Make the found digit's noise endpoint A or B, or the sliders' centre (and draw it in its class)."""
    found = st.session_state[FOUND]["result"]
    if target == "centre":
        st.session_state[SLIDER_CENTRE] = found.noise
    else:
        st.session_state[found_key(f"seed_{target}")] = found.noise
    if found.label is not None:  # a conditional generator: the noise is found for one class, so draw in that class
        st.session_state.walk = "seeds"
        st.session_state.draw_class = found.label
    elif "draw_code" in st.session_state:  # noise with a code: draw it with its own, so it stays the digit found
        st.session_state.code_walk = "seeds"
        st.session_state.draw_code = None


def find_ui(explorer: Explorer) -> None:
    """Draw or upload a digit; search the latent space for it; use what was found as A, B or the sliders' centre."""
    if explorer.image_shape != quality.IMAGE_SHAPE:
        st.info("Finding a drawn digit needs a generator of 28x28 greyscale digits.")
        return
    scale = ex.scale_for(28, THUMB_PX)
    left, right = st.columns([1.3, 1], gap="large")
    with left:
        target = target_ui()
    with right:
        label = None
        if explorer.conditional:
            label = st.selectbox(
                "Class to search",
                [None, *range(explorer.num_classes)],
                format_func=lambda c: "any (the starts are spread over the classes)" if c is None else str(c),
                key="find_class",
            )
        if target is not None:  # explicit widths: an image in a list is stretched to its caption's width
            st.image(ex.picture_png(target[None], scale), caption="searched", width=THUMB_PX, output_format="PNG")
        clicked = st.button(
            "Find this digit",
            key="find_digit",
            type="primary",
            icon=":material/search:",
            disabled=target is None,
            help=f"Gradient descent on the noise from {projection.STARTS} random starts at once, "
            f"{projection.STEPS} steps, on pixels and the digit classifier's features: about a second.",
        )
        if clicked and target is not None:
            with st.spinner("Preparing the search (once per generator)…"):
                projector = projection.projector_for(explorer.sampler)
            bar = st.progress(0.0, text="Searching the latent space…")

            def progress(step: int, distance: float, _image: np.ndarray) -> None:
                bar.progress(
                    step / projection.STEPS, text=f"step {step} of {projection.STEPS}: distance {distance:.2f}"
                )

            result = projector.project(target, label, progress=progress)
            bar.empty()
            # A found digit is a few hundred numbers, this session's alone: it lives in session state.
            st.session_state[FOUND] = {"target": target, "result": result}
        found = st.session_state.get(FOUND)
        if found is None:
            return
        result = found["result"]
        st.image(
            [ex.picture_png(found["target"][None], scale), ex.picture_png(result.image[None], scale)],
            caption=["drawn", "found"],
            width=THUMB_PX,
            output_format="PNG",
        )
        of_class = "" if result.label is None else f" · class {result.label}"
        st.markdown(f"Distance **{result.distance:.2f}** · found in {result.seconds:.1f} s{of_class}")
        st.caption(
            "Euclidean, over the pixels of [-1, 1] images, as the nearest real images above: 0 is the drawing "
            f"itself. The best of {result.starts} starts after {result.steps} steps."
        )
        st.button("Use as A", key="found_to_a", icon=":material/start:", on_click=_use_found, args=("a",))
        st.button("Use as B", key="found_to_b", icon=":material/flag:", on_click=_use_found, args=("b",))
        st.button(
            "Centre the sliders on it",
            key="found_to_centre",
            icon=":material/tune:",
            on_click=_use_found,
            args=("centre",),
        )


def forget_other_generators(explorer: Explorer, name: str) -> None:
    """A found noise belongs to the generator it was found for: drop it when another generator is chosen
    (two uploads may share a name, so the loaded generator itself is part of the key)."""
    generator = f"{name}|{id(explorer)}"
    if st.session_state.get("found_for") != generator:
        for key in (FOUND, SLIDER_CENTRE, "found_a", "found_b"):
            st.session_state.pop(key, None)
        st.session_state.found_for = generator


# ------------------------------------------------------------------ the page
def main() -> None:
    within_app_navigation()
    st.title("Explore the latent space")
    loaded = generator_ui()
    if loaded is None:
        return
    explorer, name = loaded
    forget_other_generators(explorer, name)
    h, w, c = explorer.image_shape
    classes = f" · conditional, {explorer.num_classes} classes" if explorer.conditional else ""
    classes += f" · a code of {explorer.codes} (InfoGAN)" if explorer.codes else ""
    st.caption(f"**{name}** · latent_dim {explorer.latent_dim} · images {h}×{w}{'' if c == 1 else ' colour'}{classes}")

    st.header("From A to B", divider="gray")
    kind, label, code = walk_ui(explorer)
    if kind == "classes":
        z_t, labels_t, code_t = class_interpolation_ui(explorer)
    elif kind == "codes":
        z_t, labels_t, code_t = code_interpolation_ui(explorer)
    else:
        z_t, labels_t, code_t = interpolation_ui(explorer, label, code)
    neighbours_ui(explorer, name, explorer.generate(z_t, labels_t, code_t))
    st.header("One dimension at a time", divider="gray")
    dimensions_ui(explorer, z_t, labels_t, code_t)
    st.header("A plane through the point at t", divider="gray")
    plane_ui(explorer, z_t, labels_t, code_t)
    st.header("Find a digit", divider="gray")
    find_ui(explorer)


main()
