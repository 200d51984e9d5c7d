from pathlib import Path

import pytest

from scoremd import ConfigError
from scoremd.config import apply_overrides, config_to_toml, load_config

CONFIGS = sorted((Path(__file__).parents[1] / "examples" / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_load_and_round_trip(path, tmp_path):
    config = load_config(path)
    out = tmp_path / "c.toml"
    out.write_text(config_to_toml(config))
    assert load_config(out) == config


def test_overrides_are_typed(tmp_path):
    path = CONFIGS[0]
    config = load_config(path, ["train.steps=123", "model.hidden=[8, 8]", "sample.method=ode", "train.learning_rate=1e-2"])
    assert config.train.steps == 123
    assert config.model.hidden == (8, 8)
    assert config.sample.method == "ode"
    assert config.train.learning_rate == 0.01
    # An int where a float is expected is accepted; a string where an int is expected is not.
    assert load_config(path, ["train.learning_rate=1"]).train.learning_rate == 1.0
    with pytest.raises(ConfigError, match="train.steps: expected int, got 'many'"):
        load_config(path, ["train.steps=many"])


@pytest.mark.parametrize("text,match", [
    ('system = "argon"\n', "unknown system 'argon'"),
    ('[train]\nsteps = 1\n', "no top-level `system"),
    ('system = "mueller_brown"\n[train]\nstepz = 1\n', "unknown config key 'train.stepz'; valid keys in \\[train\\]: steps"),
    ('system = "mueller_brown"\n[trainer]\nsteps = 1\n', "unknown config section"),
    ('system = "mueller_brown"\n[train\nsteps = 1\n', "is not valid TOML"),
    ('system = "mueller_brown"\n[train]\nsteps = -5\n', "train.steps must be positive"),
    ('system = "mueller_brown"\n[model]\nhidden = 5\n', "model.hidden: expected a list"),
])
def test_bad_configs(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["train.steps"])
    with pytest.raises(ConfigError, match="unknown config section"):
        apply_overrides({}, ["foo.bar=1"])
