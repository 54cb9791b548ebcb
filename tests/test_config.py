import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_core.config import ConfigError, TrainConfig, knobs
from gan_core.models import PRESETS


def test_defaults_are_valid_and_resolve_to_the_presets_optimiser():
    config = TrainConfig().resolved()
    preset = PRESETS[config.preset]
    assert (config.g_learning_rate, config.d_learning_rate, config.beta_1) == (
        preset.g_learning_rate,
        preset.d_learning_rate,
        preset.beta_1,
    )
    assert TrainConfig(preset="dcgan").resolved().g_learning_rate == 1e-4


def test_explicit_learning_rate_wins_over_the_preset():
    assert TrainConfig(preset="dcgan", g_learning_rate=3e-4).resolved().g_learning_rate == 3e-4


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 0, "batch_size must be between 1 and 4096 (got 0)"),
        ("batch_size", 5000, "batch_size must be between 1 and 4096 (got 5000)"),
        ("batch_size", 2.5, "batch_size must be an integer (got 2.5)"),
        ("latent_dim", -3, "latent_dim must be between 1 and 1024 (got -3)"),
        ("g_learning_rate", 0.0, "g_learning_rate must be between 1e-06 and 1 (got 0.0)"),
        ("d_learning_rate", float("nan"), "d_learning_rate must be between 1e-06 and 1 (got nan)"),
        ("beta_1", 1.0, "beta_1 must be between 0 and 0.999 (got 1.0)"),
        ("d_updates", 0, "d_updates must be between 1 and 10 (got 0)"),
        ("steps", 0, "steps must be between 1 and 10000000 (got 0)"),
        ("seed", -1, "seed must be between 0 and 2147483647 (got -1)"),
        ("sample_every", 0, "sample_every must be between 1 and 1000000 (got 0)"),
        ("max_seconds", 0, "max_seconds must be between 1 and 604800 (got 0)"),
        ("batch_size", "64", "batch_size must be an integer (got '64')"),
        ("batch_size", True, "batch_size must be an integer (got True)"),
    ],
)
def test_validate_names_the_field_the_range_and_the_value(field, value, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{field: value}).validate()
    assert err.value.problems == [message]


def test_unknown_names_list_the_valid_ones():
    problems = TrainConfig(preset="resnet", dataset="cifar").problems()
    assert problems[0].startswith("unknown preset 'resnet'; choose one of: dense-bn, dense-relu")
    assert problems[1].startswith("unknown dataset 'cifar'; choose one of: mnist-sample, mnist")


def test_npz_dataset_needs_a_path():
    assert TrainConfig(dataset="npz").problems() == ["dataset 'npz' needs npz_path (the path of your .npz file)"]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        TrainConfig(batch_size=0, latent_dim=0, d_updates=99).validate()
    assert len(err.value.problems) == 3
    assert "batch_size" in str(err.value) and "latent_dim" in str(err.value)


def test_json_round_trip_and_unknown_settings():
    config = TrainConfig(preset="dcgan", steps=123, max_seconds=60.0)
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config
    with pytest.raises(ConfigError, match="unknown setting 'lr'"):
        TrainConfig.from_dict({"lr": 0.1})


def test_every_numeric_knob_has_help_and_a_range():
    for field in knobs():
        assert field.metadata["help"], field.name
        if field.type.split(" ")[0] in ("int", "float"):
            assert field.metadata["low"] < field.metadata["high"], field.name


numeric = [f for f in knobs() if f.metadata.get("low") is not None]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_in_range_values_pass_and_out_of_range_values_fail(data):
    field = data.draw(st.sampled_from(numeric))
    low, high = field.metadata["low"], field.metadata["high"]
    is_int = field.type.startswith("int")
    inside = data.draw(st.integers(int(low), int(high)) if is_int else st.floats(low, high))
    assert TrainConfig(**{field.name: inside}).problems() == []
    outside = data.draw(
        st.one_of(st.integers(max_value=int(low) - 1), st.integers(min_value=int(high) + 1))
        if is_int
        else st.one_of(st.floats(max_value=low, exclude_max=True), st.floats(min_value=high, exclude_min=True))
    )
    problems = TrainConfig(**{field.name: outside}).problems()
    assert len(problems) == 1 and problems[0].startswith(f"{field.name} must be")


def test_precision_is_the_presets_choice_where_the_cpu_computes_bfloat16(monkeypatch):
    from gan_core import models
    from gan_core.models import for_this_machine

    monkeypatch.setattr(models, "native_bfloat16", lambda: True)
    assert for_this_machine(TrainConfig(preset="dense-bn")).precision == "mixed_bfloat16"
    assert for_this_machine(TrainConfig(preset="dense-bn")).jit_compile is False  # XLA computes bfloat16 slower here
    assert for_this_machine(TrainConfig(preset="dense-relu")).precision == "float32"  # measured no faster in bfloat16
    assert for_this_machine(TrainConfig(preset="dense-bn", precision="float32")).jit_compile is True
    monkeypatch.setattr(models, "native_bfloat16", lambda: False)
    assert for_this_machine(TrainConfig(preset="dense-bn")).precision == "float32"
    assert for_this_machine(TrainConfig(preset="dense-bn", precision="mixed_bfloat16")).precision == "mixed_bfloat16"


def test_resolving_a_config_never_asks_the_machine(monkeypatch):
    from gan_core import models

    def no(*_):
        raise AssertionError("resolved() read the machine's CPU flags")

    monkeypatch.setattr(models, "native_bfloat16", no)
    resolved = TrainConfig(preset="dense-bn").resolved()
    assert resolved.precision is None and resolved.jit_compile is None


def test_the_loss_familys_optimiser_defaults_come_before_the_presets():
    wgan = TrainConfig(loss="wgan-gp").resolved()  # as in the WGAN-GP paper
    assert (wgan.g_learning_rate, wgan.d_learning_rate, wgan.beta_1, wgan.beta_2, wgan.d_updates) == (
        1e-4,
        1e-4,
        0.0,
        0.9,
        5,
    )
    assert TrainConfig(loss="wgan-gp", beta_1=0.5, d_updates=2).resolved().beta_1 == 0.5
    hinge = TrainConfig(preset="dense-bn", loss="hinge").resolved()
    assert (hinge.g_learning_rate, hinge.beta_1, hinge.beta_2, hinge.d_updates, hinge.batch_size) == (
        2e-4,
        0.5,
        0.999,
        1,
        64,
    )
    assert TrainConfig().resolved().batch_size == 256 and TrainConfig().resolved().augment  # the default preset's


def test_an_unknown_loss_lists_the_families():
    from gan_core.config import LOSS_NAMES
    from gan_core.losses import LOSSES

    assert LOSS_NAMES == tuple(LOSSES)
    with pytest.raises(ConfigError, match="unknown loss 'wgan'; choose one of: bce, minimax, lsgan, hinge, wgan-gp"):
        TrainConfig(loss="wgan").validate()


def test_config_files_written_before_a_rename_still_load():
    assert TrainConfig.from_dict({"d_steps": 3}).d_updates == 3


def test_unknown_precision_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown precision 'half'; choose one of: float32, mixed_bfloat16"):
        TrainConfig(precision="half").validate()
