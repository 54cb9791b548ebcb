"""Property-based tests of TrainConfig over every knob, driven by `knobs()`' metadata: every valid
config builds and trains a step; every invalid value or combination is refused, naming the field."""

import math

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan_core.__main__ import main
from gan_core.config import ConfigError, TrainConfig, knobs
from gan_core.data import DATASETS
from gan_core.gan import build_gan
from gan_core.models import PRESETS

pytestmark = pytest.mark.timeout(300)
KNOBS = {f.name: f for f in knobs()}
NAMED = {"preset": list(PRESETS), "dataset": list(DATASETS)}  # the registries' names, not in the metadata
SHAPE = (28, 28, 1)


def is_int(field) -> bool:
    return field.type.startswith("int")


def optional(field) -> bool:
    return "None" in field.type


def valid_value(field) -> st.SearchStrategy:
    """Any value `field` accepts, None included where it stands for a default."""
    meta = field.metadata
    if field.name == "npz_path":
        return st.none() | st.text(min_size=1, max_size=20)
    if field.name in NAMED or meta.get("choices"):
        values = st.sampled_from(NAMED.get(field.name) or meta["choices"])
    elif field.type.startswith("bool"):
        values = st.booleans()
    elif is_int(field):
        low, high = int(meta["low"]), int(meta["high"])
        values = st.integers(low, high) | st.integers(low, high).map(float)  # 64.0 is a whole number too
    else:
        values = st.floats(meta["low"], meta["high"], allow_nan=False)
    return st.none() | values if optional(field) else values


def invalid_value(field) -> st.SearchStrategy:
    """Values `field` refuses: out of range, NaN, infinities, the wrong type, unknown names, None where
    no default stands behind it."""
    meta = field.metadata
    wrong_type = st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)
    bad = [wrong_type] if optional(field) else [wrong_type, st.none()]
    if field.name == "npz_path":
        bad = [st.integers(), st.booleans(), wrong_type]
    elif field.name in NAMED or meta.get("choices"):
        known = NAMED.get(field.name) or meta["choices"]
        bad += [st.text(max_size=12).filter(lambda t: t not in known), st.integers(), st.booleans()]
    elif field.type.startswith("bool"):
        bad += [st.integers(), st.text(max_size=5), st.floats()]
    else:
        low, high = meta["low"], meta["high"]
        bad += [
            st.floats(max_value=low, exclude_max=True) | st.floats(min_value=high, exclude_min=True),
            st.sampled_from([math.nan, math.inf, -math.inf]),
            st.booleans(),
            st.text(max_size=5),
        ]
        if is_int(field):
            bad += [
                st.integers(max_value=int(low) - 1) | st.integers(min_value=int(high) + 1),
                st.floats(low, high).filter(lambda x: not x.is_integer()),
            ]
    return st.one_of(*bad)


@st.composite
def valid_settings(draw, preset: str | None = None) -> dict:
    settings_ = {name: draw(valid_value(field)) for name, field in KNOBS.items()}
    if preset is not None:
        settings_["preset"] = preset
    if settings_["dataset"] == "npz" and not settings_["npz_path"]:
        settings_["npz_path"] = draw(st.text(min_size=1, max_size=20))
    if settings_["codes"] and (settings_["conditional"] or settings_["codes"] > settings_["latent_dim"]):
        settings_["codes"] = 0  # a code needs room in the noise, and no class
    return settings_


def about(problem: str, name: str) -> bool:
    """Whether a validation message is about knob `name`."""
    return problem.startswith((f"{name} ", f"unknown {name} ")) or (name == "npz_path" and "needs npz_path" in problem)


@settings(max_examples=300, deadline=None)
@given(valid_settings())
def test_every_valid_config_passes_and_resolves_within_its_ranges(settings_):
    config = TrainConfig(**settings_)
    assert config.problems() == []
    resolved = config.resolved()
    for name, field in KNOBS.items():
        value, low = getattr(resolved, name), field.metadata.get("low")
        if low is not None and value is not None:
            assert low <= value <= field.metadata["high"], name
            assert not is_int(field) or type(value) is int, name  # 64.0 trains as 64


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_every_invalid_value_or_combination_is_refused_naming_the_field(data):
    settings_ = data.draw(valid_settings())
    broken = data.draw(st.lists(st.sampled_from(list(KNOBS)), min_size=1, max_size=3, unique=True))
    for name in broken:
        settings_[name] = data.draw(invalid_value(KNOBS[name]), label=name)
    if data.draw(st.booleans(), label="npz without a path") and "npz_path" not in broken:
        settings_.update(dataset="npz", npz_path=data.draw(st.sampled_from([None, ""])))
        broken = [b for b in broken if b != "dataset"] + ["npz_path"]
    with pytest.raises(ConfigError) as refused:
        TrainConfig(**settings_).validate()
    problems = refused.value.problems
    for name in broken:
        assert any(about(p, name) for p in problems), (name, problems)
    for problem in problems:  # and nothing else is blamed
        assert any(about(problem, name) for name in broken), (problem, broken)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(valid_settings(preset="tiny"))
def test_every_valid_config_builds_and_trains_a_step_on_the_tiny_preset(settings_):
    config = TrainConfig(**settings_).resolved()
    classes = 10 if config.conditional else None
    gan = build_gan(config, SHAPE, classes)
    n = config.batch_size  # one batch per D update
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (n, *SHAPE)).astype("float32")
    labels = rng.integers(0, 10, n).astype("int32")
    gan.train_steps(iter(tf.data.Dataset.from_tensors((images, labels)).repeat()), 1)
    assert int(gan.step.numpy()) == 1
    assert gan.read_metrics().keys() == set(gan.metric_names)


def test_the_cli_exits_non_zero_with_the_validation_message(tmp_path, capsys):
    assert main(["train", "--preset", "tiny", "--latent-dim", "0", "--ema", "1.5", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert (
        "latent_dim must be between 1 and 1024 (got 0)" in error
        and "ema must be between 0 and 0.9999 (got 1.5)" in error
    )
    assert not any(tmp_path.iterdir())
