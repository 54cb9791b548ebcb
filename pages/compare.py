"""Compare: two to six runs side by side. Their curves overlaid, one colour per run; their sample
grids at one step, moved together by one slider; their settings in one table, the differences marked.

`?runs=<id>,<id>` opens chosen runs directly, and follows the choice, so a comparison can be shared
or bookmarked. Ids come from the address: each goes through gan_core.runs.run_folder, which refuses
anything but a run folder's name. The figures and tables are built in app/compare.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from app import compare as cmp
from app.common import enlarged_png, runs_dir, within_app_navigation
from gan_core.explorer import scale_for
from gan_core.runs import RunDir, RunError, list_runs, run_folder

GRID_PX = 300  # each grid, enlarged to about this width
GRIDS_PER_ROW = 3
ROW_PX = 35  # st.dataframe's row height


@st.cache_data(max_entries=32, show_spinner=False)
def load_run(path: str, stamp: tuple) -> cmp.ComparedRun:
    """A run as compared; `stamp` only keys the cache (the files' times: a run that trained on is read again)."""
    return cmp.read_run(RunDir(path))


def stamp(run: RunDir) -> tuple:
    def mtime(path) -> int | None:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return None

    return tuple(mtime(p) for p in (run.config_path, run.metrics_path, run.samples_dir))


def _follow_choice() -> None:
    """Keep ?runs= in step with the picker."""
    chosen = st.session_state.compare_runs
    if chosen:
        st.query_params["runs"] = ",".join(chosen)
    else:
        st.query_params.pop("runs", None)
    st.session_state.runs_param_applied = st.query_params.get("runs")
    st.session_state.compare_refused = []


def apply_runs_param(known: Sequence[str]) -> None:
    """Choose the runs ?runs= names, once per address; refuse, saying why, any id that is not a run here."""
    wanted = st.query_params.get("runs")
    if not wanted or wanted == st.session_state.get("runs_param_applied"):
        return
    st.session_state.runs_param_applied = wanted
    chosen, refused = [], []
    for run_id in dict.fromkeys(part.strip() for part in wanted.split(",") if part.strip()):
        try:
            run_folder(runs_dir(), run_id)  # never a path: '..', slashes, links and odd names are refused here
            if run_id not in known:
                raise RunError(f"No run {run_id!r} under {runs_dir()}")
        except RunError as e:
            refused.append(str(e))
            continue
        chosen.append(run_id)
    if len(chosen) > cmp.MAX_RUNS:
        left_out = ", ".join(chosen[cmp.MAX_RUNS :])
        refused.append(f"At most {cmp.MAX_RUNS} runs are compared at once; left out: {left_out}")
        chosen = chosen[: cmp.MAX_RUNS]
    st.session_state.compare_runs = chosen
    st.session_state.compare_refused = refused


def choose_runs_ui() -> list[cmp.ComparedRun]:
    """The run picker (and ?runs=); the chosen runs, read, in the order chosen."""
    infos = {info.run_dir.run_id: info for info in list_runs(runs_dir())}
    apply_runs_param(list(infos))
    for problem in st.session_state.get("compare_refused", []):
        st.error(f"Not compared: {problem}")
    if len(infos) < cmp.MIN_RUNS:
        st.info(f"Comparing needs at least two runs under `{runs_dir()}`: train them on the Train page.")
        return []
    if any(run_id not in infos for run_id in st.session_state.get("compare_runs", [])):  # deleted meanwhile
        st.session_state.compare_runs = [r for r in st.session_state.compare_runs if r in infos]

    def label(run_id: str) -> str:
        config = infos[run_id].config
        return f"{run_id} · {config.loss}" if config is not None else run_id

    chosen = st.multiselect(
        "Runs",
        list(infos),
        key="compare_runs",
        max_selections=cmp.MAX_RUNS,
        format_func=label,
        on_change=_follow_choice,
        placeholder="Choose two to six runs",
        help="Each run keeps its colour in every figure, in the order chosen.",
    )
    if len(chosen) < cmp.MIN_RUNS:
        st.info("Choose two to six runs to compare.")
        return []
    runs = [load_run(str(infos[r].run_dir.path), stamp(infos[r].run_dir)) for r in chosen]
    for run in runs:
        if run.problem:
            st.warning(f"{run.run_id}: {run.problem}; its settings are not shown.")
    return runs


def curves_ui(runs: list[cmp.ComparedRun]) -> None:
    """The shared metrics overlaid by section; the metrics only some runs report, apart, saying which."""
    curves = cmp.curves(runs)
    for section, heading in cmp.SECTIONS.items():
        here = [c for c in curves if c.section == section]
        st.subheader(heading, anchor=False)
        if not here:
            note = {
                "quality": "No quality figures in these runs (quality_every was 0, or the data are not digits).",
            }.get(section, "No measurements yet.")
            st.caption(note)
            continue
        shared, partial = [c for c in here if c.shared], [c for c in here if not c.shared]
        charts_ui(shared)
        if partial:
            groups: dict[tuple[str, ...], list[str]] = {}
            for curve in partial:
                groups.setdefault(curve.reported_by, []).append(curve.key)
            said = "; ".join(
                f"only {', '.join(by)} report{'s' * (len(by) == 1)} {', '.join(keys)}" for by, keys in groups.items()
            )
            st.caption(f"Not every run measures the same things here (their loss families differ): {said}.")
            with st.expander(f"Metrics only some runs report ({len(partial)})"):
                charts_ui(partial)


def charts_ui(curves: list[cmp.Curve]) -> None:
    columns = st.columns(2)
    for i, curve in enumerate(curves):
        with columns[i % 2]:
            st.plotly_chart(curve.figure, key=f"compare-{curve.key}", config={"displaylogo": False})
            if curve.missing:
                st.caption(f"Not reported by {', '.join(curve.missing)}.")


@st.fragment
def grids_ui(runs: list[cmp.ComparedRun]) -> None:
    """One step slider; each run's saved grid nearest to it, captioned with the step it shows."""
    steps = cmp.grid_steps(runs)
    if not steps:
        st.caption("None of these runs has saved a sample grid yet.")
        return
    if st.session_state.get("compare_step") not in steps:
        st.session_state.compare_step = cmp.common_step(runs)
    chosen = st.select_slider(
        "Step",
        steps,
        key="compare_step",
        format_func=lambda step: f"{step:,}",
        help="Every step at which some run saved a grid; each run shows its grid nearest to it.",
    )
    palette = cmp.colours(runs)
    for row in range(0, len(runs), GRIDS_PER_ROW):
        for column, run in zip(st.columns(GRIDS_PER_ROW), runs[row : row + GRIDS_PER_ROW]):
            with column:
                st.markdown(cmp.colour_key(run.run_id, palette[run.run_id]))
                nearest = cmp.nearest_grid(run.grids, chosen)
                picture = cmp.read_grid(nearest[1]) if nearest else None
                if picture is None:
                    st.caption("No sample grid yet." if nearest is None else "This grid cannot be read.")
                    continue
                shown = nearest[0]
                caption = f"step {shown:,}" + (f" (nearest saved grid to {chosen:,})" if shown != chosen else "")
                scale = scale_for(max(picture.shape[:2]), GRID_PX)  # by its longer side, as the Runs page
                st.image(enlarged_png(picture, scale), caption=caption, output_format="PNG")


@st.fragment
def settings_ui(runs: list[cmp.ComparedRun]) -> None:
    """Every setting of every run in one table, the rows that differ highlighted."""
    table = cmp.settings_table(runs)
    differing = int(table["differs"].sum())
    only = st.toggle("Only the settings that differ", key="compare_only_differences")
    shown = table[table["differs"]] if only else table
    st.caption(f"{differing} of {len(table)} settings differ (highlighted).")
    # Tall enough for every row: a table that scrolls inside a scrolling page hides what differs.
    st.dataframe(cmp.styled_settings(shown), width="stretch", height=ROW_PX * (len(shown) + 1) + 3)


def main() -> None:
    within_app_navigation()
    st.title("Compare runs")
    runs = choose_runs_ui()
    if not runs:
        return
    palette = cmp.colours(runs)
    st.markdown(" · ".join(cmp.colour_key(run.run_id, palette[run.run_id]) for run in runs))
    curves_ui(runs)
    st.subheader("Sample grids", anchor=False)
    grids_ui(runs)
    st.subheader("Settings", anchor=False)
    settings_ui(runs)


main()
