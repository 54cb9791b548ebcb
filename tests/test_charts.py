"""Tests for gan_core.charts: the traces each chart draws, a constant uirevision, empty histories."""

import numpy as np
import pytest

from gan_core import charts
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
