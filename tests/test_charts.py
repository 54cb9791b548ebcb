"""Tests for app.charts: one chart per loss family's spec, a constant uirevision, empty histories,
and the quality charts against real digits."""

import numpy as np
import pytest

from app import charts
from gan_core.engine import History
from gan_core.losses import LOSSES

BCE, WGAN_GP = LOSSES["bce"].charts, LOSSES["wgan-gp"].charts
EXPECTED = {  # the BCE family's charts, then throughput
    "losses": ["d_loss", "g_loss"],
    "d_accuracy": ["d_acc_real", "d_acc_fake"],
    "d_outputs": ["d_real", "d_fake"],
    "throughput": ["images_per_second"],
}
# Every metric a loss family reports, with a value that depends on the step.
METRICS = {
    "d_loss": lambda i: 1.4 - 0.1 * i,
    "g_loss": lambda i: 0.7 + 0.1 * i,
    "d_acc_real": lambda i: 0.5 + 0.05 * i,
    "d_acc_fake": lambda i: 0.6,
    "d_real": lambda i: 0.55,
    "d_fake": lambda i: 0.45,
    "margin_real": lambda i: 0.1 * i,
    "margin_fake": lambda i: 0.2,
    "critic_real": lambda i: 2.0 + i,
    "critic_fake": lambda i: -1.0 - i,
    "wasserstein": lambda i: 3.0 + 2 * i,
    "gradient_penalty": lambda i: 0.5 / i,
}


def history(n=5, names=("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake")):
    records = History()
    for i in range(1, n + 1):
        records.append(
            {
                "step": 25 * i,
                "epoch": 0.3 * i,
                "time": 1.5 * i,
                **{name: METRICS[name](i) for name in names},
                "images_per_second": None if i == 1 else 1000.0 + i,  # the engine's first rate can be unknown
            }
        )
    return records.columns()


def trace_names(fig):
    return [trace.name for trace in fig.data]


def test_each_chart_draws_its_metrics_against_step():
    columns = history()
    figures = charts.training_charts(columns, BCE)
    assert list(figures) == list(EXPECTED)
    assert [figures[charts.chart_name(spec.title)].layout.title.text for spec in BCE] == [spec.title for spec in BCE]
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


def test_a_wgan_gp_run_gets_the_critic_charts_and_no_accuracy():
    columns = history(names=LOSSES["wgan-gp"]().names)
    figures = charts.training_charts(columns, WGAN_GP)
    titles = [fig.layout.title.text for fig in figures.values()]
    assert titles == [spec.title for spec in WGAN_GP] + ["Throughput"]
    assert "D accuracy" not in titles
    critic = figures[charts.chart_name("Critic scores")]
    assert trace_names(critic) == ["critic(x), real", "critic(G(z)), fake"]
    np.testing.assert_allclose(critic.data[0].y, columns["critic_real"])
    estimate = figures[charts.chart_name(WGAN_GP[2].title)]
    assert trace_names(estimate) == ["Wasserstein estimate", "gradient penalty"]
    np.testing.assert_allclose(estimate.data[1].y, columns["gradient_penalty"])


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_family_chart_is_labelled_named_and_bounded_where_it_is_a_share(loss):
    specs = LOSSES[loss].charts
    figures = charts.training_charts(history(names=LOSSES[loss]().names), specs)
    assert len(figures) == len(specs) + 1, "two specs of one family share a name"
    for spec in specs:
        fig = figures[charts.chart_name(spec.title)]
        assert set(spec.keys) <= set(charts.LABELS), set(spec.keys) - set(charts.LABELS)
        assert trace_names(fig) == [charts.LABELS[k] for k in spec.keys]
        assert all(np.isfinite(trace.y).all() for trace in fig.data), "the step reports every key a chart draws"
        assert fig.layout.yaxis.title.text == spec.y_title
        assert (tuple(fig.layout.yaxis.range) if fig.layout.yaxis.range else None) == spec.y_range
        assert fig.layout.height == charts.CHART_HEIGHT


def test_uirevision_is_constant_per_chart_and_distinct_between_charts():
    before, after = charts.training_charts(history(3), BCE), charts.training_charts(history(9), BCE)
    revisions = {name: fig.layout.uirevision for name, fig in before.items()}
    assert all(revisions.values())
    assert len(set(revisions.values())) == len(revisions)
    assert {name: fig.layout.uirevision for name, fig in after.items()} == revisions


def test_probabilities_are_drawn_on_a_zero_to_one_axis():
    figures = charts.training_charts(history(), BCE)
    for name in ("d_accuracy", "d_outputs"):
        low, high = figures[name].layout.yaxis.range
        assert low == 0 and 1 <= high <= 1.05


@pytest.mark.parametrize("empty", [{}, History().columns(), {"step": [], "d_loss": [], "g_loss": []}])
def test_empty_history_gives_empty_traces_and_a_note(empty):
    for name, fig in charts.training_charts(empty, BCE).items():
        assert trace_names(fig) == [charts.LABELS[k] for k in EXPECTED[name]]
        assert all(len(trace.x) == 0 and len(trace.y) == 0 for trace in fig.data)
        assert "waiting" in fig.layout.annotations[0].text
        assert fig.layout.uirevision == name


# ------------------------------------------------------------------ quality charts
REFERENCE = {"fd_digits": 0.85, "classifier_score": 9.4, "classes_covered": 10}


def quality_history(n=3, digits=True, conditional=False):
    """Quality records as the engine keeps them; the last one has lost digit 7. A conditional run's
    records also have class_accuracy."""
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
            if conditional:
                record["class_accuracy"] = 0.2 * i
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
    [(charts.fd_digits_chart, "fd_digits"), (charts.classifier_score_chart, "classifier_score")],
)
def test_quality_charts_draw_the_run_against_real_digits(build, key):
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
    fig = charts.class_histogram_chart(quality_history())
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
def test_quality_charts_before_the_first_digit_figures(empty):
    figures = charts.quality_charts(empty, REFERENCE)
    assert list(figures) == ["fd_digits", "classifier_score", "class_histogram"]
    for name, fig in figures.items():
        assert all(len(trace.y) == 0 or np.isnan(trace.y).all() for trace in fig.data)
        assert any("waiting for the first quality figures" in a.text for a in fig.layout.annotations)
        assert fig.layout.uirevision == name
    assert reference_line(figures["fd_digits"])[0] == REFERENCE["fd_digits"]  # the target shows already
    assert charts.fd_digits_chart(empty).layout.shapes == ()  # no reference: no line


def test_a_conditional_run_adds_its_class_accuracy_against_chance():
    assert "class_accuracy" not in charts.quality_charts(quality_history(), REFERENCE)  # unconditional
    columns = quality_history(conditional=True)
    figures = charts.quality_charts(columns, REFERENCE)
    assert list(figures) == ["fd_digits", "classifier_score", "class_histogram", "class_accuracy"]
    fig = figures["class_accuracy"]
    (trace,) = fig.data
    assert trace.name == charts.LABELS["class_accuracy"]
    assert list(trace.x) == [1000, 2000, 3000]
    np.testing.assert_allclose(trace.y, [0.2, 0.4, 0.6])
    assert reference_line(fig) == (0.1, "dash")  # chance: a generator that ignores the label
    assert fig.layout.yaxis.range == (0, 1.02) and fig.layout.yaxis.tickformat == ".0%"
    assert fig.layout.uirevision == "class_accuracy"


def test_latest_skips_records_without_the_key():
    columns = {"step": [10, 20, 30], "fd_digits": [5.0, 4.0, None]}
    assert charts.latest(columns, "fd_digits") == (20, 4.0)
    assert charts.latest(columns, "classes_covered") == (None, None)
    assert charts.latest({}, "fd_digits") == (None, None)


# ------------------------------------------------------------------ the live canvases (app.livechart)
def test_the_live_canvas_draws_what_the_plotly_figure_holds():
    import json

    from app import livechart
    from app.live import freeze

    columns = history(4)
    columns["d_loss"][1] = None  # not measured: a gap in the line, as in plotly's
    events = [{"step": 50, "event": "steer", "changes": {"g_learning_rate": 1e-4}}]
    figures = freeze(charts.training_charts(columns, BCE, events))
    specs = json.loads(livechart.encode(figures))
    assert [s["title"] for s in specs] == ["Losses", "D accuracy", "D outputs (mean probability)", "Throughput"]
    losses = specs[0]
    assert losses["x"] == [25, 50, 75, 100] and losses["y_title"] == "loss" and losses["legend"]
    assert [s["name"] for s in losses["series"]] == ["D loss", "G loss"]
    first = losses["series"][0]["y"]
    assert first[1] is None and first[0::2] == pytest.approx([1.3, 1.1]) and first[3] == pytest.approx(1.0)
    assert losses["series"][0]["color"] == charts.COLOURS[0]
    assert specs[1]["y_range"] == list(figures["d_accuracy"].layout.yaxis.range)
    for spec in specs:  # the change of settings on every chart, labelled as plotly labels it
        assert spec["markers"] == [{"x": 50, "text": "G lr 0.0001", "color": charts.MARKER_COLOUR}]
    empty = livechart.spec(charts.training_chart({}, BCE[0]))
    assert empty["x"] == [] and empty["waiting"] == "waiting for the first metrics…"


def test_the_live_canvas_keeps_reference_lines_and_their_labels():
    from app import livechart

    quality = {"step": [100, 200], "fd_digits": [30.0, 20.0], "classifier_score": [5.0, 6.0]}
    figure = next(iter(charts.quality_charts(quality, {"fd_digits": 2.0, "classifier_score": 9.5}).values()))
    spec = livechart.spec(figure)
    assert spec["x"] == [100, 200] and spec["series"][0]["y"] == [30.0, 20.0]
    assert len(spec["hlines"]) == 1 and spec["hlines"][0]["y"] == 2.0 and spec["hlines"][0]["text"]


def test_the_live_canvas_draws_the_digit_histogram_as_bars_in_percent():
    from app import livechart

    shares = [0.2, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    spec = livechart.spec(charts.class_histogram_chart({"step": [100], "class_histogram": [shares]}))
    assert spec["bars"] and spec["y_percent"] and spec["x"] == [str(d) for d in range(10)]
    (series,) = spec["series"]
    assert series["y"] == shares
    assert series["colors"][1] == charts.MISSING_COLOUR and series["colors"][0] == charts.COLOURS[0]
    assert spec["hlines"][0]["y"] == charts.UNIFORM_SHARE and spec["title"] == "Digits drawn at step 100"
