"""Tests for app.charts: the traces each chart draws, a constant uirevision, empty histories."""

import numpy as np
import pytest

from app import charts
from gan_core.engine import History

EXPECTED = {
    "losses": ["d_loss", "g_loss"],
    "accuracy": ["d_acc_real", "d_acc_fake"],
    "d_outputs": ["d_real", "d_fake"],
    "throughput": ["images_per_second"],
}


def history(n=5):
    records = History()
    for i in range(1, n + 1):
        records.append(
            {
                "step": 25 * i,
                "epoch": 0.3 * i,
                "time": 1.5 * i,
                "d_loss": 1.4 - 0.1 * i,
                "g_loss": 0.7 + 0.1 * i,
                "d_acc_real": 0.5 + 0.05 * i,
                "d_acc_fake": 0.6,
                "d_real": 0.55,
                "d_fake": 0.45,
                "images_per_second": None if i == 1 else 1000.0 + i,  # the engine's first rate can be unknown
            }
        )
    return records.columns()


def trace_names(fig):
    return [trace.name for trace in fig.data]


def test_each_chart_draws_its_metrics_against_step():
    columns = history()
    figures = charts.figures(columns)
    assert list(figures) == list(EXPECTED)
    for name, keys in EXPECTED.items():
        fig = figures[name]
        assert trace_names(fig) == [charts.LABELS[k] for k in keys]
        for trace, key in zip(fig.data, keys):
            assert list(trace.x) == columns["step"]
            expected = [np.nan if v is None else v for v in columns[key]]  # not measured yet: a gap
            np.testing.assert_array_equal(trace.y, expected)
        assert fig.layout.xaxis.title.text == "step"
        assert not fig.layout.annotations  # no "waiting" note once there is data
    assert np.isnan(figures["throughput"].data[0].y[0])


def test_uirevision_is_constant_per_chart_and_distinct_between_charts():
    before, after = charts.figures(history(3)), charts.figures(history(9))
    revisions = {name: fig.layout.uirevision for name, fig in before.items()}
    assert all(revisions.values())
    assert len(set(revisions.values())) == len(revisions)
    assert {name: fig.layout.uirevision for name, fig in after.items()} == revisions


def test_probabilities_are_drawn_on_a_zero_to_one_axis():
    figures = charts.figures(history())
    for name in ("accuracy", "d_outputs"):
        low, high = figures[name].layout.yaxis.range
        assert low == 0 and 1 <= high <= 1.05


@pytest.mark.parametrize("empty", [{}, History().columns(), {"step": [], "d_loss": [], "g_loss": []}])
def test_empty_history_gives_empty_traces_and_a_note(empty):
    for name, fig in charts.figures(empty).items():
        assert trace_names(fig) == [charts.LABELS[k] for k in EXPECTED[name]]
        assert all(len(trace.x) == 0 and len(trace.y) == 0 for trace in fig.data)
        assert "waiting" in fig.layout.annotations[0].text
        assert fig.layout.uirevision == name


# ------------------------------------------------------------------ quality figures
REFERENCE = {"fd_digits": 0.85, "classifier_score": 9.4, "classes_covered": 10}


def quality_history(n=3, digits=True):
    """Quality records as the engine keeps them; the last one has lost digit 7."""
    records = History(max_points=200)
    for i in range(1, n + 1):
        record = {"step": 1000 * i, "duplicate_fraction": 0.01 * i}
        if digits:
            hist = [0.1] * 10
            if i == n:
                hist = [0.11] * 7 + [0.01] + [0.11, 0.12]
            record.update(
                fd_digits=40.0 / i,
                classifier_score=2.0 + i,
                classes_covered=sum(h > 0.02 for h in hist),
                class_kl=0.1,
                class_histogram=hist,
            )
        records.append(record)
    return records.columns()


def reference_line(fig):
    """(y, dash) of the figure's one horizontal line across the plot."""
    (shape,) = fig.layout.shapes
    assert shape.type == "line" and shape.xref == "paper" and (shape.x0, shape.x1) == (0, 1)
    assert shape.y0 == shape.y1
    return shape.y0, shape.line.dash


@pytest.mark.parametrize(
    ("build", "key"),
    [(charts.fd_digits_figure, "fd_digits"), (charts.classifier_score_figure, "classifier_score")],
)
def test_quality_figures_draw_the_run_against_real_digits(build, key):
    columns = quality_history()
    fig = build(columns, REFERENCE)
    (trace,) = fig.data
    assert list(trace.x) == [1000, 2000, 3000]
    np.testing.assert_allclose(trace.y, columns[key])
    assert reference_line(fig) == (REFERENCE[key], "dash")
    assert any("real digits" in a.text for a in fig.layout.annotations)
    assert not any("waiting" in a.text for a in fig.layout.annotations)
    assert fig.layout.uirevision == key
    assert build(quality_history(7), REFERENCE).layout.uirevision == key  # constant while the run goes on


def test_class_histogram_shows_the_latest_shares_against_uniform():
    fig = charts.class_histogram_figure(quality_history())
    (bars,) = fig.data
    assert list(bars.x) == [str(d) for d in range(10)]
    np.testing.assert_allclose(bars.y, quality_history()["class_histogram"][-1])
    assert reference_line(fig) == (0.1, "dash")
    assert "step 3,000" in fig.layout.title.text
    # The lost digit stands out.
    colours = list(bars.marker.color)
    assert colours[7] == charts.MISSING_COLOUR and colours.count(charts.MISSING_COLOUR) == 1
    assert fig.layout.uirevision == "class_histogram"


@pytest.mark.parametrize("empty", [{}, History().columns(), quality_history(3, digits=False)])
def test_quality_figures_before_the_first_digit_figures(empty):
    figures = charts.quality_figures(empty, REFERENCE)
    assert list(figures) == ["fd_digits", "classifier_score", "class_histogram"]
    for name, fig in figures.items():
        assert all(len(trace.y) == 0 or np.isnan(trace.y).all() for trace in fig.data)
        assert any("waiting for the first quality figures" in a.text for a in fig.layout.annotations)
        assert fig.layout.uirevision == name
    assert reference_line(figures["fd_digits"])[0] == REFERENCE["fd_digits"]  # the target shows already
    assert charts.fd_digits_figure(empty).layout.shapes == ()  # no reference: no line


def test_latest_skips_records_without_the_key():
    columns = {"step": [10, 20, 30], "fd_digits": [5.0, 4.0, None]}
    assert charts.latest(columns, "fd_digits") == (20, 4.0)
    assert charts.latest(columns, "classes_covered") == (None, None)
    assert charts.latest({}, "fd_digits") == (None, None)
