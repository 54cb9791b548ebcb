"""AppTest of pages/compare.py over two runs: curves overlaid one trace per run, one step slider for
every grid, the settings table with its differences marked, ids from the address refused."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.compare import HIGHLIGHT, PALETTE
from gan_core.latent import save_png
from gan_core.runs import RunDir
from tests.test_train_page import plotly_array

pytestmark = pytest.mark.timeout(120)

PAGE = Path(__file__).resolve().parents[1] / "pages" / "compare.py"
RUN_A = "20000101-000000-tiny-mnist-sample"  # the finished tiny run (bce), grids at 0, 10, 20, 30, 40
RUN_B = "20000102-000000-tiny-mnist-sample"  # a WGAN-GP branch of it at step 20, grids at 0, 12, 24, 36
B_GRID_STEPS = (0, 12, 24, 36)


def b_grid(step: int) -> np.ndarray:
    """Run B's grid at `step`: a picture no other grid is, so the test knows which one is shown."""
    return np.random.default_rng(step).integers(0, 256, (32, 32), dtype=np.uint8)


@pytest.fixture
def runs(finished_run, tmp_path, monkeypatch):
    """A runs folder with run A, a copy of the finished tiny run plus quality figures, and run B, written
    by hand: a branch of A with another loss family, a change of settings mid-run (an event record among
    its metrics), grids at other steps, and a setting this version does not know (as a later one might write)."""
    folder = tmp_path / "runs"
    a = RunDir(shutil.copytree(finished_run.snapshot().run_dir, folder / RUN_A))
    for step, fd in ((20, 120.0), (40, 90.0)):
        a.append_metrics({"step": step, "fd_digits": fd, "classifier_score": 2.0, "duplicate_fraction": 0.0})

    b = RunDir(folder / RUN_B)
    b.samples_dir.mkdir(parents=True)
    config = json.loads(a.config_path.read_text())
    config.update(loss="wgan-gp", batch_size=8, recipe={"name": "seed-002", "version": 2})
    b.config_path.write_text(json.dumps(config))
    b.write_parent({"run": RUN_A, "step": 20})
    for step in range(5, 45, 5):
        b.append_metrics(
            {
                "step": step,
                "d_loss": -step / 10,
                "g_loss": step / 20,
                "critic_real": 1.0,
                "critic_fake": -1.0,
                "wasserstein": 2.0,
                "gradient_penalty": 0.1,
            }
        )
        if step == 20:  # a change made mid-run: a record, but not a measurement, whatever keys it has
            changes = {"g_learning_rate": 5e-5}
            b.append_metrics({"step": 22, "event": "steer", "changes": changes, "time": 1.0, "g_loss": 99.0})
    for step, fd in ((20, 100.0), (40, 60.0)):
        b.append_metrics({"step": step, "fd_digits": fd, "classifier_score": 4.0})
    for step in B_GRID_STEPS:
        save_png(b_grid(step), b.sample_path(step))
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(folder))
    return folder


def open_page(runs_param: str | None = f"{RUN_A},{RUN_B}") -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    if runs_param is not None:
        at.query_params["runs"] = runs_param
    at.run()
    assert not at.exception, at.exception
    return at


def figure(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.key == f"compare-{key}"]
    return json.loads(chart.proto.spec)


def measured(folder: Path, key: str) -> tuple[list, list]:
    """(steps, values) of `key` in a run's metrics.jsonl, event records left out."""
    records = [r for r in RunDir(folder).read_metrics() if key in r and "event" not in r]
    return [r["step"] for r in records], [r[key] for r in records]


def test_the_curves_are_overlaid_one_trace_per_run_in_its_colour(runs):
    at = open_page()
    assert at.multiselect(key="compare_runs").value == [RUN_A, RUN_B]
    for key in ("d_loss", "g_loss", "fd_digits", "classifier_score"):  # every run reports these
        spec = figure(at, key)
        assert [t["name"] for t in spec["data"]] == [RUN_A, RUN_B], key
        assert [t["line"]["color"] for t in spec["data"]] == [PALETTE[0][0], PALETTE[1][0]], key
        for trace, run_id in zip(spec["data"], (RUN_A, RUN_B)):
            steps, values = measured(runs / run_id, key)
            assert list(plotly_array(trace["x"])) == steps and len(steps) >= 2
            assert list(plotly_array(trace["y"])) == pytest.approx(values)
        assert spec["layout"]["xaxis"]["range"][1] >= 40  # one x axis for every figure: to the last step
    assert 22 not in plotly_array(figure(at, "g_loss")["data"][1]["x"])  # the event record is no point...
    for key in ("d_loss", "fd_digits", "d_acc_real"):  # ...but a marker on every figure, in its run's colour
        layout = figure(at, key)["layout"]
        assert [(s["x0"], s["line"]["color"]) for s in layout["shapes"]] == [(22, PALETTE[1][0])]
        assert [a["text"] for a in layout["annotations"]] == ["G lr 5e-05"]

    # Each family's own metrics: drawn for the runs that report them, and said to be only theirs.
    critic = figure(at, "critic_real")
    assert [t["name"] for t in critic["data"]] == [RUN_B] and critic["data"][0]["line"]["color"] == PALETTE[1][0]
    assert [t["name"] for t in figure(at, "d_acc_real")["data"]] == [RUN_A]
    said = " ".join(c.value for c in at.caption)
    assert f"only {RUN_A} reports d_acc_real, d_acc_fake, d_real, d_fake" in said
    assert f"only {RUN_B} reports critic_real, critic_fake, wasserstein, gradient_penalty" in said
    assert f"Not reported by {RUN_A}." in said
    assert at.expander[0].label.startswith("Metrics only some runs report")
    # One colour key for every figure, in the order chosen.
    assert at.markdown[0].value == f":blue[■] **{RUN_A}** · :orange[■] **{RUN_B}**"


def shown_grids(at: AppTest, media) -> list[tuple[str, np.ndarray]]:
    """(caption, picture at its saved size) of each grid shown, in the order of the runs."""
    out = []
    for image in at.image:
        big = np.asarray(Image.open(io.BytesIO(media(image.value[0]))))
        out.append((image.captions[0], big))
    return out


def same_picture(big: np.ndarray, small: np.ndarray) -> bool:
    scale = big.shape[0] // small.shape[0]
    return big.shape[:2] == (small.shape[0] * scale, small.shape[1] * scale) and np.array_equal(
        big[::scale, ::scale], small
    )


def test_one_step_slider_moves_every_grid_to_its_nearest_saved_one(runs, media):
    at = open_page()
    slider = at.select_slider(key="compare_step")
    assert slider.options == ["0", "10", "12", "20", "24", "30", "36", "40"]  # every step some run saved
    assert slider.value == 36  # the last step both runs reached
    a = RunDir(runs / RUN_A)
    [(a_caption, a_grid), (b_caption, b_shown)] = shown_grids(at, media)
    assert a_caption == "step 40 (nearest saved grid to 36)" and b_caption == "step 36"
    assert same_picture(a_grid, np.asarray(Image.open(a.sample_path(40))))
    assert same_picture(b_shown, b_grid(36))

    for chosen, a_step, b_step in ((24, 20, 24), (10, 10, 12), (0, 0, 0)):
        at.select_slider(key="compare_step").set_value(chosen).run()
        assert not at.exception, at.exception
        [(a_caption, a_grid), (b_caption, b_shown)] = shown_grids(at, media)
        assert a_caption.startswith(f"step {a_step}") and b_caption.startswith(f"step {b_step}")
        assert ("nearest" in a_caption) == (a_step != chosen) and ("nearest" in b_caption) == (b_step != chosen)
        assert same_picture(a_grid, np.asarray(Image.open(a.sample_path(a_step))))
        assert same_picture(b_shown, b_grid(b_step))


def test_the_settings_table_marks_the_rows_that_differ(runs):
    at = open_page()
    table = at.dataframe[0].value
    assert list(table.columns) == ["differs", RUN_A, RUN_B]
    differs = table["differs"]
    assert not differs["preset"] and not differs["latent_dim"] and not differs["seed"]
    assert table.loc["loss", RUN_A] == "bce" and table.loc["loss", RUN_B] == "wgan-gp"
    assert table.loc["recipe.name", RUN_A] == "–" and table.loc["recipe.name", RUN_B] == "seed-002"  # B's alone
    assert table.index[-1] == "branched from" and table.loc["branched from", RUN_B] == f"{RUN_A} at step 20"
    differ = ("batch_size", "loss", "recipe.name", "recipe.version", "branched from")
    differing = [name for name in table.index if name in differ]  # in the table's order
    assert list(table.index[table["differs"]]) == differing
    assert highlighted(at.dataframe[0]) == differing  # those rows, and only they, are highlighted
    assert f"5 of {len(table)} settings differ" in " ".join(c.value for c in at.caption)

    at.toggle(key="compare_only_differences").set_value(True).run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value.index) == differing == highlighted(at.dataframe[0])


def highlighted(dataframe) -> list[str]:
    """The rows of a styled st.dataframe whose every cell has the highlight, by index."""
    colour = HIGHLIGHT.split(": ", 1)[1]
    cells: dict[int, set[int]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", dataframe.proto.arrow_data.styler.styles):
        if colour in body:
            for row, col in re.findall(r"_row(\d+)_col(\d+)", selectors):
                cells.setdefault(int(row), set()).add(int(col))
    index, width = list(dataframe.value.index), len(dataframe.value.columns)
    return [index[row] for row, cols in sorted(cells.items()) if len(cols) == width]


def test_ids_from_the_address_that_are_not_runs_here_are_refused(runs, tmp_path):
    outside = Path(shutil.copytree(runs / RUN_A, tmp_path / "outside"))
    (runs / "20000103-000000-linked").symlink_to(outside, target_is_directory=True)
    at = open_page(f"../runs/{RUN_A},{RUN_A},..,nowhere,20000103-000000-linked,{RUN_B}")
    refused = [e.value for e in at.error]
    assert len(refused) == 4
    assert refused[0].startswith("Not compared: '../runs/") and "is not a run id" in refused[0]
    assert refused[1].startswith("Not compared: '..' is not a run id")
    assert "No run 'nowhere'" in refused[2]
    assert "No run '20000103-000000-linked'" in refused[3]  # a link is never followed out of the runs folder
    assert at.multiselect(key="compare_runs").value == [RUN_A, RUN_B]  # the good ids are still compared
    assert at.get("plotly_chart")

    alone = open_page("..%2F..%2Fetc")
    assert "is not a run id" in alone.error[0].value
    assert alone.multiselect(key="compare_runs").value == [] and "Choose two to six runs" in alone.info[0].value


def test_choosing_runs_puts_them_in_the_address(runs):
    at = open_page(None)
    assert "Choose two to six runs" in at.info[0].value and not at.get("plotly_chart")
    at.multiselect(key="compare_runs").set_value([RUN_B, RUN_A]).run()
    assert not at.exception, at.exception
    assert at.query_params["runs"] == f"{RUN_B},{RUN_A}"
    # The order chosen sets the colours: B now comes first.
    assert [t["line"]["color"] for t in figure(at, "d_loss")["data"]] == [PALETTE[0][0], PALETTE[1][0]]
    assert [t["name"] for t in figure(at, "d_loss")["data"]] == [RUN_B, RUN_A]


def test_the_page_is_in_the_apps_navigation_after_runs(runs):
    at = AppTest.from_file(str(PAGE.parents[1] / "dashboard.py"), default_timeout=60).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare runs" and at.multiselect(key="compare_runs").value == []
