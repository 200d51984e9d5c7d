"""Mixture of experts over diffusion time: routing, staged training, frozen experts, resume."""

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scoremd.app._stages as stages_mod
import scoremd.app.runs as runs
from scoremd import ConfigError
from scoremd.analysis._text import expert_steps, steps_text
from scoremd.training import Checkpoints
from scoremd.app.config import load_config
from scoremd.models import MixtureEnergyModel, ModelConfig, build_model
from scoremd.sde import VPSDE
from scoremd.training import learning_rate_schedule

ROOT = Path(__file__).parents[2]


def test_routing_by_time():
    model, params = build_model(ModelConfig(hidden=(16,), expert_boundaries=(0.1, 0.6)), (2,), VPSDE(),
                                key=jax.random.PRNGKey(0))
    assert isinstance(model, MixtureEnergyModel)
    assert model.t_ranges == [(0.0, 0.1), (0.1, 0.6), (0.6, 1.0)]
    t = jnp.array([1e-5, 0.05, 0.1, 0.3, 0.6, 0.99])
    np.testing.assert_array_equal(np.asarray(model.expert_index(t)), [0, 0, 1, 1, 2, 2])
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 2))
    mixed = np.asarray(model.energy(params, x, t))
    for i, k in enumerate([0, 0, 1, 1, 2, 2]):
        own = model.experts[k].energy(params[f"expert_{k}"], x[i : i + 1], t[i : i + 1])
        np.testing.assert_allclose(mixed[i], np.asarray(own)[0], rtol=1e-6)
        # A Python-float time routes statically to the same expert.
        np.testing.assert_allclose(np.asarray(model.energy(params, x[i : i + 1], float(t[i])))[0], mixed[i], rtol=1e-6)
    # The score of the mixture is the score of the owning expert.
    s = np.asarray(model.score(params, x, t))
    s0 = np.asarray(model.experts[0].score(params["expert_0"], x, t))
    np.testing.assert_allclose(s[:2], s0[:2], rtol=1e-6)


def test_shared_time_runs_the_owning_expert_only():
    model, params = build_model(ModelConfig(hidden=(16,), expert_boundaries=(0.1, 0.6)), (2,), VPSDE(),
                                key=jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 2))
    energy = jax.jit(model.energy)
    for t, k in [(0.05, 0), (0.3, 1), (0.9, 2)]:
        shared = np.asarray(energy(params, x, jnp.full(5, t)))
        own = np.asarray(model.experts[k].energy(params[f"expert_{k}"], x, jnp.full(5, t)))
        np.testing.assert_allclose(shared, own, rtol=1e-5, atol=1e-6)
    # The compiled energy holds a runtime branch: one expert per shared time, not all three.
    hlo = jax.jit(model.energy).lower(params, x, jnp.full(5, 0.3)).as_text()
    assert "case" in hlo or "conditional" in hlo


def test_experts_can_have_their_own_widths():
    config = ModelConfig(hidden=(16,), expert_boundaries=(0.1, 0.6), expert_hidden=((8,), (16, 16), (4, 4, 4)))
    model, params = build_model(config, (2,), VPSDE(), key=jax.random.PRNGKey(0))
    kernels = [[a.shape for path, a in jax.tree_util.tree_leaves_with_path(params[f"expert_{k}"])
                if "kernel" in jax.tree_util.keystr(path)] for k in range(3)]
    # Each expert's hidden kernels (after the input layer, before the scalar head) follow its own widths.
    assert [[s[1] for s in ks[:-1]] for ks in kernels] == [[8], [16, 16], [4, 4, 4]]
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 2))
    assert np.all(np.isfinite(np.asarray(model.energy(params, x, jnp.array([0.05, 0.3, 0.9])))))
    assert ModelConfig(hidden=(16,)).hidden_of(0) == (16,)
    with pytest.raises(ValueError, match="one list of widths per expert"):
        ModelConfig(expert_boundaries=(0.1,), expert_hidden=((8,),))
    with pytest.raises(ValueError, match="positive widths"):
        ModelConfig(expert_boundaries=(0.1,), expert_hidden=((8,), ()))


def _config(tmp_path):
    return load_config(ROOT / "examples" / "configs" / "mueller_brown_both.toml", [
        f"data.dir={ROOT / 'data'}", "model.hidden=[16, 16]", "train.steps=20", "train.warmup_steps=2",
        "train.log_every=5", "train.checkpoint_every=10", "loss.fp_batch_size=32", "train.batch_size=64",
    ])


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def test_staged_training_freezes_experts_and_resumes_exactly(tmp_path, monkeypatch):
    config = _config(tmp_path)
    straight = runs.train(config, tmp_path / "a", progress=False)
    for k in range(3):
        assert Checkpoints(tmp_path / "a" / "checkpoints" / f"expert_{k}").latest_step() == 20
    # Each expert of the final model is exactly its own stage's EMA: later stages did not touch it.
    loaded = runs.load(tmp_path / "a")
    for k in range(3):
        for a, b in zip(_leaves(straight.params[f"expert_{k}"]), _leaves(loaded.params[f"expert_{k}"])):
            np.testing.assert_array_equal(a, b)

    # Interrupt in the middle of the second stage (expert_1), then resume.
    real_fit = stages_mod.fit

    def interrupted_fit(*args, description="", **kw):
        if "expert_1" in description:
            real_fit(*args, description=description, **{**kw, "until": 10})
            raise KeyboardInterrupt
        return real_fit(*args, description=description, **kw)

    monkeypatch.setattr(stages_mod, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        runs.train(config, tmp_path / "b", progress=False)
    assert Checkpoints(tmp_path / "b" / "checkpoints" / "expert_1").latest_step() == 10
    assert Checkpoints(tmp_path / "b" / "checkpoints" / "expert_0").latest_step() is None
    monkeypatch.setattr(stages_mod, "fit", real_fit)
    with pytest.raises(Exception, match="expert 'expert_0'.*no checkpoint"):
        runs.load(tmp_path / "b")
    resumed = runs.train(config, tmp_path / "b", progress=False)
    for a, b in zip(_leaves(straight.params), _leaves(resumed.params)):
        np.testing.assert_array_equal(a, b)


def test_a_run_with_per_expert_widths_trains_and_loads(tmp_path):
    widths = "model.expert_hidden=[[8], [16, 16], [12]]"
    config = load_config(ROOT / "examples" / "configs" / "mueller_brown_both.toml", [
        f"data.dir={ROOT / 'data'}", "model.hidden=[16, 16]", "train.steps=4", "train.warmup_steps=1",
        "train.log_every=2", "train.checkpoint_every=4", "loss.fp_batch_size=16", "train.batch_size=32", widths,
    ])
    assert config.model.expert_hidden == ((8,), (16, 16), (12,))
    trained = runs.train(config, tmp_path / "run", progress=False)
    loaded = runs.load(tmp_path / "run")
    for a, b in zip(_leaves(trained.params), _leaves(loaded.params)):
        np.testing.assert_array_equal(a, b)


def test_the_fp_term_goes_to_the_experts_below_fp_t_max(tmp_path):
    config = _config(tmp_path)
    model, _, _ = stages_mod.build_run_model(config, (2,), {})
    stages = stages_mod.plan_stages(config, model)
    assert [s.name for s in stages] == ["expert_2", "expert_1", "expert_0"]
    assert config.loss.fp_t_max == config.model.expert_boundaries[0]  # the presets' case
    assert [s.fokker_planck for s in stages] == [False, False, True]
    assert stages[-1].t_range == (0.0, 0.1) and stages[-1].t_midpoint == 0.03
    # fp_t_max inside the middle expert's range: that expert gets the term too (on its part below)
    wider = dataclasses.replace(config, loss=dataclasses.replace(config.loss, fp_t_max=0.3))
    assert [s.fokker_planck for s in stages_mod.plan_stages(wider, model)] == [False, True, True]


def test_expert_steps_give_each_expert_its_own_budget_and_schedule(tmp_path):
    config = _config(tmp_path)
    uniform = runs.train(config, tmp_path / "a", progress=False)
    # Ratios of train.steps, one per expert, smallest t first; all 1 is the uniform run, bit for bit.
    same = dataclasses.replace(config, train=dataclasses.replace(config.train, expert_step_ratios=(1.0, 1.0, 1.0)))
    for a, b in zip(_leaves(uniform.params), _leaves(runs.train(same, tmp_path / "b", progress=False).params)):
        np.testing.assert_array_equal(a, b)
    budgets = dataclasses.replace(config, train=dataclasses.replace(config.train, expert_step_ratios=(1.5, 1.0, 0.5)))
    stages = stages_mod.plan_stages(budgets, stages_mod.build_run_model(budgets, (2,), {})[0])
    assert {s.name: s.train.steps for s in stages} == {"expert_0": 30, "expert_1": 20, "expert_2": 10}
    # The learning-rate schedule spans each stage's own steps: it ends at final_learning_rate there.
    for s in stages:
        assert learning_rate_schedule(s.train)(s.train.steps) == pytest.approx(config.train.final_learning_rate)
    trained = runs.train(budgets, tmp_path / "c", progress=False)
    for k, n in enumerate((30, 20, 10)):
        assert Checkpoints(tmp_path / "c" / "checkpoints" / f"expert_{k}").latest_step() == n
    # expert_1 saw the same steps and schedule as in the uniform run.
    for a, b in zip(_leaves(uniform.params["expert_1"]), _leaves(trained.params["expert_1"])):
        np.testing.assert_array_equal(a, b)


def test_expert_steps_must_match_the_experts(tmp_path):
    config = _config(tmp_path)
    wrong = dataclasses.replace(config, train=dataclasses.replace(config.train, expert_step_ratios=(1.0, 0.5)))
    with pytest.raises(ConfigError, match="2 entries but the model has 3 experts"):
        runs.train(wrong, tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()  # nothing written
    single = dataclasses.replace(wrong, model=dataclasses.replace(config.model, expert_boundaries=()))
    with pytest.raises(ConfigError, match="no experts"):
        runs.train(single, tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="expert_step_ratios must all be positive"):
        load_config(ROOT / "examples" / "configs" / "mueller_brown_both.toml", ["train.expert_step_ratios=[1, 0, 1]"])


def test_reports_state_the_steps_of_every_expert(tmp_path):
    config = _config(tmp_path)
    assert steps_text(config) == "20 steps per expert" and expert_steps(config) == [20, 20, 20]
    budgets = dataclasses.replace(config, train=dataclasses.replace(config.train, expert_step_ratios=(1.5, 1.0, 0.5)))
    assert steps_text(budgets) == "steps per expert (smallest t first) 30 / 20 / 10"
    assert expert_steps(budgets) == [30, 20, 10]
    single = dataclasses.replace(config, model=dataclasses.replace(config.model, expert_boundaries=()))
    assert steps_text(single) == "20 steps" and expert_steps(single) is None


def test_fp_start_trains_by_score_matching_alone_first(tmp_path):
    """loss.fp_start = 0.5: the FP expert's first half of steps equals a run without the FP term,
    bit for bit (same keys and schedule); the FP term then joins; other experts are untouched."""
    config = _config(tmp_path)
    late = dataclasses.replace(config, loss=dataclasses.replace(config.loss, fp_start=0.5))
    model = stages_mod.build_run_model(late, (2,), {})[0]
    phases = {s.name: [until for _, until in stages_mod._phases(s, lambda s: s, 0.5)]
              for s in stages_mod.plan_stages(late, model)}
    assert phases == {"expert_2": [20], "expert_1": [20], "expert_0": [10, 20]}
    without = dataclasses.replace(config, loss=dataclasses.replace(config.loss, fp_weight=0.0))
    trained = {name: runs.train(c, tmp_path / name, progress=False).params["expert_0"]
               for name, c in (("late", late), ("none", without), ("full", config))}

    def losses(run):  # expert_0's logged losses by step
        lines = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        return {m["step"]: m["loss"] for m in lines if m.get("stage") == "expert_0"}

    late_losses, none_losses, full_losses = losses("late"), losses("none"), losses("full")
    assert [late_losses[s] for s in (5, 10)] == [none_losses[s] for s in (5, 10)]
    assert late_losses[5] != full_losses[5] and late_losses[20] != none_losses[20]
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(trained["late"]), _leaves(trained["none"])))
    with pytest.raises(ValueError, match="fp_start must lie in"):
        dataclasses.replace(config.loss, fp_start=1.0)
