"""Training loop: exact resume, non-finite handling, checkpoint robustness."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd import CheckpointError, TrainingDivergedError
from scoremd.training import Checkpoints
from scoremd.diffusion import LossConfig, dsm_loss
from scoremd.models import ModelConfig, build_model
from scoremd.sde import VPSDE
from scoremd.training import TrainConfig, fit, init_train_state, make_optimizer, state_to_tree, tree_to_state


def _setup(steps=30, **kw):
    model, params = build_model(ModelConfig(hidden=(16, 16)), (2,), VPSDE(), key=jax.random.PRNGKey(0))
    cfg = TrainConfig(**{"steps": steps, "batch_size": 32, "warmup_steps": 5, "log_every": 5, "checkpoint_every": 10,
                         **kw})
    opt = make_optimizer(cfg)
    state = init_train_state(params, opt, key=jax.random.PRNGKey(1))

    def loss_fn(p, key, x0):
        return dsm_loss(model, p, key, x0, LossConfig(0.5))

    return loss_fn, opt, state, cfg


DATA = jax.random.normal(jax.random.PRNGKey(5), (256, 2))


def _leaves(state):
    return [np.asarray(a) for a in jax.tree.leaves(state)]


def test_loss_decreases():
    loss_fn, opt, state, cfg = _setup(steps=300, learning_rate=3e-3)
    key = jax.random.PRNGKey(9)
    before = float(np.mean([loss_fn(state.params, k, DATA) for k in jax.random.split(key, 20)]))
    state = fit(loss_fn, opt, state, DATA, cfg, progress=False)
    after = float(np.mean([loss_fn(state.ema_params, k, DATA) for k in jax.random.split(key, 20)]))
    assert after < 0.9 * before


def test_resume_is_exact(tmp_path):
    loss_fn, opt, state0, cfg = _setup()
    straight = fit(loss_fn, opt, state0, DATA, cfg, progress=False)

    loss_fn, opt, state0, cfg = _setup()
    fit(loss_fn, opt, state0, DATA, cfg, run_dir=tmp_path, progress=False, until=17)
    ckpt = Checkpoints(tmp_path / "checkpoints")
    assert ckpt.latest_step() == 17
    _, _, template, _ = _setup()
    restored = tree_to_state(ckpt.restore(state_to_tree(template)))
    ckpt.close()
    assert int(restored.step) == 17
    resumed = fit(loss_fn, opt, restored, DATA, cfg, run_dir=tmp_path, progress=False)
    for a, b in zip(_leaves(straight), _leaves(resumed)):
        np.testing.assert_array_equal(a, b)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [5, 10, 15, 17, 20, 25, 30]


def test_nonfinite_steps_are_skipped_and_counted():
    loss_fn, opt, state, cfg = _setup(steps=40)
    data = DATA.at[jnp.array([7, 100, 200])].set(jnp.nan)  # ~31 % of batches of 32 hold a NaN row
    out = fit(loss_fn, opt, state, data, cfg, progress=False)
    n_bad = int(out.n_nonfinite)
    assert 0 < n_bad < 40
    assert all(np.isfinite(a).all() for a in _leaves(out.params) + _leaves(out.ema_params))


def test_many_nonfinite_steps_stop_with_last_good_checkpoint(tmp_path):
    loss_fn, opt, state, cfg = _setup(steps=100, max_consecutive_nonfinite=5)
    state = fit(loss_fn, opt, state, DATA, cfg, run_dir=tmp_path, progress=False, until=10)
    good = _leaves(state.params)
    with pytest.raises(TrainingDivergedError, match="consecutive steps had a non-finite"):
        fit(loss_fn, opt, state, jnp.full_like(DATA, jnp.nan), cfg, run_dir=tmp_path, progress=False)
    ckpt = Checkpoints(tmp_path / "checkpoints")
    _, _, template, _ = _setup()
    restored = tree_to_state(ckpt.restore(state_to_tree(template), step=10))
    ckpt.close()
    for a, b in zip(good, _leaves(restored.params)):
        np.testing.assert_array_equal(a, b)


def test_interrupted_save_leaves_previous_checkpoint(tmp_path):
    loss_fn, opt, state, cfg = _setup()
    state = fit(loss_fn, opt, state, DATA, cfg, run_dir=tmp_path, progress=False, until=10)
    # A save killed half-way leaves only orbax's temporary folder behind.
    partial = tmp_path / "checkpoints" / "20.orbax-checkpoint-tmp-1234"
    partial.mkdir()
    (partial / "garbage").write_bytes(b"\x00" * 10)
    ckpt = Checkpoints(tmp_path / "checkpoints")
    assert ckpt.latest_step() == 10
    restored = tree_to_state(ckpt.restore(state_to_tree(state)))
    ckpt.close()
    for a, b in zip(_leaves(state), _leaves(restored)):
        np.testing.assert_array_equal(a, b)


def test_restore_into_wrong_structure_is_a_clear_error(tmp_path):
    loss_fn, opt, state, cfg = _setup()
    fit(loss_fn, opt, state, DATA, cfg, run_dir=tmp_path, progress=False, until=10)
    model, params = build_model(ModelConfig(hidden=(8,)), (2,), VPSDE(), key=jax.random.PRNGKey(0))
    wrong = init_train_state(params, opt, key=jax.random.PRNGKey(1))
    ckpt = Checkpoints(tmp_path / "checkpoints")
    with pytest.raises(CheckpointError, match="does not match"):
        ckpt.restore(state_to_tree(wrong))
    ckpt.close()


def test_no_checkpoint_is_a_clear_error(tmp_path):
    ckpt = Checkpoints(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        ckpt.restore({"a": np.zeros(2)})
    ckpt.close()


def test_nonfinite_steps_are_noticed_at_once_whatever_the_log_interval(tmp_path):
    """The stop acts on every step, not only on logged ones: 5 allowed, logging every 50."""
    loss_fn, opt, state, cfg = _setup(steps=100, max_consecutive_nonfinite=5, log_every=50, checkpoint_every=50)
    with pytest.raises(TrainingDivergedError, match="training stopped at step 5: 5 consecutive"):
        fit(loss_fn, opt, state, jnp.full_like(DATA, jnp.nan), cfg, run_dir=tmp_path, progress=False)
    assert not list((tmp_path / "checkpoints").glob("[0-9]*"))  # nothing saved from a stopped run
