from pathlib import Path

import pytest

from scoremd import ConfigError
from scoremd.app.config import apply_overrides, config_to_toml, load_config

CONFIGS = sorted((Path(__file__).parents[2] / "examples" / "configs").glob("**/*.toml"))  # gpu/ too


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
    ('system = "mueller_brown"\nsample = 5\n', r"\[sample\] must be a table"),
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


def test_vocabulary_becomes_objects(tmp_path):
    """TOML names map to objects once, in the config layer, and are written back by name."""
    from scoremd.diffusion import ExactFP, FiniteDifferenceFP, ProbabilityFlowODE, ReverseSDE, SMCReverseSDE
    from scoremd.dynamics import LangevinLeapfrog, LangevinMiddle
    from scoremd.models import ModelKind
    from scoremd.systems import MUELLER_BROWN

    config = load_config(CONFIGS[0], ["loss.fp_estimator=fd", "model.kind=mlp", "sample.method=ode",
                                      "sample.steps=7", "simulate.integrator=leapfrog"])
    assert config.loss.fp_estimator == FiniteDifferenceFP() and config.model.kind is ModelKind.MLP
    assert load_config(CONFIGS[0]).loss.fp_estimator == ExactFP()
    assert config.sample.sampler() == ProbabilityFlowODE(n_steps=7, rho=config.sample.rho)
    assert config.sample.sampler(method="sde", steps=3, rho=2.0) == ReverseSDE(n_steps=3, rho=2.0)
    smc = load_config(CONFIGS[0], ["sample.method=smc", "sample.smc_t_stop=0.01"]).sample
    assert smc.sampler() == SMCReverseSDE(n_steps=smc.steps, rho=smc.rho, t_stop=0.01)
    assert smc.sampler(t_stop=0.0).t_stop == 0.0 and smc.sampler(method="sde") == ReverseSDE(n_steps=smc.steps,
                                                                                             rho=smc.rho)
    with pytest.raises(ValueError, match="is for the smc sampler"):
        smc.sampler(method="ode", t_stop=0.1)
    with pytest.raises(ConfigError, match='sample.smc_t_stop is for method = "smc", not "sde"'):
        load_config(CONFIGS[0], ["sample.method=sde", "sample.smc_t_stop=0.1"])
    integrator = config.simulate.integrator_for(MUELLER_BROWN)
    assert isinstance(integrator, LangevinLeapfrog)
    assert (integrator.dt, integrator.friction, integrator.kbt) == (MUELLER_BROWN.dt, MUELLER_BROWN.friction, 23.0)
    # Explicit arguments beat the config, which beats the system; 0 friction is a value, not "default".
    override = config.simulate.integrator_for(MUELLER_BROWN, integrator="middle", dt=1e-3, friction=0.0)
    assert override == LangevinMiddle(kbt=23.0, friction=0.0, dt=1e-3, position_limit=MUELLER_BROWN.position_limit)
    text = config_to_toml(config)
    assert 'fp_estimator = "fd"' in text and 'kind = "mlp"' in text and "dt =" not in text
    out = tmp_path / "c.toml"
    out.write_text(text)
    assert load_config(out) == config


@pytest.mark.parametrize("override,match", [
    ("loss.fp_estimator=hutchinson", "not one of 'exact', 'taylor', 'fd'"),
    ("model.kind=cnn", "not one of 'mlp', 'transformer'"),
    ("sample.method=euler", "sample.method must be one of 'sde', 'ode'"),
    ("simulate.integrator=verlet", "simulate.integrator must be one of 'middle', 'leapfrog'"),
    ("simulate.dt=0", r"simulate.dt must be a finite number > 0 \(ps\)"),
    ("simulate.friction=-1", r"simulate.friction must be a finite number >= 0"),
    ("train.learning_rate=nan", "train.learning_rate must be a finite positive number"),
    ("sample.rho=0", "sample.rho must be a finite number > 0"),
    ("sample.smc_t_stop=1", r"sample.smc_t_stop must lie in \[0, 1\)"),
    ("loss.fp_estimator=[1]", "not one of 'exact', 'taylor', 'fd'"),
    ("loss.fp_weight=nan", "loss.fp_weight must be a finite number >= 0"),
    ("loss.fp_start=1", r"loss.fp_start must lie in \[0, 1\)"),
])
def test_bad_values_are_named(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(CONFIGS[0], [override])
