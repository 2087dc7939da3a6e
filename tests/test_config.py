import dataclasses

import pytest

from painter.config import (
    CONFIG_DIR,
    CycleGANConfig,
    NoiseGANConfig,
    config_to_toml,
    load_config,
)
from painter.errors import ConfigError


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('family = "cyclegan"\nlerning_rate = 0.1\n')
    with pytest.raises(ConfigError, match="lerning_rate"):
        load_config(path)


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('epochs = "ten"\n')
    with pytest.raises(ConfigError, match="'epochs' must be int"):
        load_config(path)


def test_unknown_family(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('family = "vae"\n')
    with pytest.raises(ConfigError, match="unknown family 'vae'"):
        load_config(path)


def test_int_promoted_to_float_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("learning_rate = 1\nepochs = 3\n")
    config = load_config(path, epochs=7, steps_per_epoch=None)
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.epochs == 7 and config.steps_per_epoch == 0


def test_resolved_toml_round_trips_and_marks_changes(tmp_path):
    config = dataclasses.replace(NoiseGANConfig(), latent_dim=64)
    text = config_to_toml(config)
    assert "latent_dim = 64  # changed" in text
    assert "batch_size = 16\n" in text
    path = tmp_path / "r.toml"
    path.write_text(text)
    assert load_config(path) == config


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_configs_load(path):
    from painter.families import FAMILIES

    config = load_config(path)
    assert type(config) is FAMILIES[config.family].config_class


def test_shipped_config_by_name():
    quick = load_config("quick")
    assert quick.image_size == 256 and quick.residual_scale == 64  # works at 64 px
    with pytest.raises(ConfigError, match="no such config"):
        load_config("nonexistent")


@pytest.mark.parametrize(
    "line, key",
    [
        ('generator = "vgg"', "generator"),
        ('loss = "wgan"', "loss"),
        ('upsample = "nearest"', "upsample"),
        ('diffaugment = "color,rotate"', "diffaugment"),
        ("batch_size = 0", "batch_size"),
    ],
)
def test_bad_choice_is_named(tmp_path, line, key):
    path = tmp_path / "bad.toml"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=key):
        load_config(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("batch_size=8", ("batch_size", 8)),
        ("learning_rate = 1e-3", ("learning_rate", 1e-3)),
        ("jit_compile=false", ("jit_compile", False)),
        ('upsample="resize"', ("upsample", "resize")),
        ("mixed_precision=mixed_bfloat16", ("mixed_precision", "mixed_bfloat16")),  # bare word
        ('diffaugment=""', ("diffaugment", "")),
    ],
)
def test_set_overrides_are_read_as_toml_values(text, expected):
    from painter.config import parse_override

    assert parse_override(text) == expected


def test_overrides_apply_and_are_named_in_errors():
    from painter.config import load_config, parse_override

    config = load_config("cyclegan", **dict(map(parse_override, ["batch_size=8", "disc_norm=none"])))
    assert config.batch_size == 8 and config.disc_norm == "none"
    with pytest.raises(ConfigError, match=r"\(overridden: disc_norm\): key 'disc_norm' must be one of"):
        load_config("cyclegan", disc_norm="batch")


@pytest.mark.parametrize(
    "changes, starts",
    [
        ({}, False),
        (dict(tone_curve=16), False),  # an identity curve is not set from data
        (dict(tone_curve=16, tone_curve_init="match"), True),
        (dict(color_transfer="lab"), True),
        (dict(color_transfer="lab", tone_curve=16), True),
    ],
)
def test_starts_from_data_says_which_runs_read_the_data_first(changes, starts):
    from painter.config import load_config

    assert load_config("cyclegan", output="residual", **changes).starts_from_data is starts


def test_unknown_color_transfer_is_named():
    from painter.config import load_config

    with pytest.raises(ConfigError, match=r"key 'color_transfer' must be one of 'none', 'lab', got 'rgb'"):
        load_config("cyclegan", color_transfer="rgb")


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(color_transfer="lab"), r"color_transfer='lab', output='tanh'"),
        (dict(tone_curve=8), r"tone_curve=8, output='tanh'"),
        (dict(output="residual", residual_scale=100), r"residual_scale=100, image_size=256"),
    ],
)
def test_generator_settings_that_cannot_go_together_are_config_errors(changes, match):
    from painter.config import load_config

    with pytest.raises(ConfigError, match=r"\(overridden: .*\): .*" + match):
        load_config("cyclegan", **changes)
