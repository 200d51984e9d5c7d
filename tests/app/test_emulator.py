"""Emulator: physical units everywhere, the config's defaults, and the run-directory bookkeeping."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scoremd
from scoremd import ConfigError
from scoremd.app.rundir import check_resumable, read_run_info
from scoremd.diffusion import ProbabilityFlowODE
from scoremd.dynamics import LangevinLeapfrog, LangevinMiddle, Trajectory

CONFIG = Path(__file__).parents[2] / "examples" / "configs" / "mueller_brown.toml"
TINY = ["train.steps=60", "train.batch_size=64", "train.log_every=20", "train.checkpoint_every=60",
        "model.hidden=[16, 16]", "data.scale=2.0"]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    config = scoremd.load_config(CONFIG, TINY)
    return scoremd.train(config, tmp_path_factory.mktemp("run") / "mb", progress=False)


def test_energy_force_and_score_share_physical_units(emulator):
    """U = k_BT E(x/s); F = -dU/dx (kJ/mol/nm); score = grad log q = s_theta(x/s)/s (1/nm)."""
    x = jnp.array([[0.1, 0.3], [-0.6, 1.2], [0.5, 0.0]])
    assert emulator.scale == 2.0 and emulator.kbt == pytest.approx(23.0)
    u = emulator.energy(x)
    np.testing.assert_allclose(u, 23.0 * emulator.model.energy(emulator.params, x / 2.0, 1e-5), rtol=1e-6)
    minus_grad = -jax.grad(lambda y: jnp.sum(emulator.energy(y)))(x)
    np.testing.assert_allclose(emulator.force(x), minus_grad, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(emulator.score(x, 1e-5) * emulator.kbt, emulator.force(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        emulator.energy(jnp.zeros((3, 3)))


def test_sample_and_simulate_use_the_config_unless_told_otherwise(emulator):
    c = emulator.config
    assert emulator.sampler() == c.sample.sampler()
    x = emulator.sample(50, key=jax.random.PRNGKey(0), sampler=ProbabilityFlowODE(n_steps=10))
    assert x.shape == (50, 2) and np.isfinite(x).all()
    system = emulator.system
    assert emulator.integrator() == LangevinMiddle(kbt=system.kbt, friction=system.friction, dt=system.dt,
                                                   position_limit=emulator.position_limit)
    # The divergence limit scales with the training data: 10 x their largest |coordinate|.
    extent = float(np.max(np.abs(emulator.training_data())))
    assert emulator.position_limit == pytest.approx(10 * extent) and 1.0 < extent < 4.0
    assert isinstance(emulator.integrator(integrator="leapfrog"), LangevinLeapfrog)
    traj = emulator.simulate(emulator.initial_positions(4, seed=0), 3, key=jax.random.PRNGKey(1), steps_per_frame=5)
    assert isinstance(traj, Trajectory) and traj.frames.shape == (3, 4, 2) and not traj.diverged.any()


def test_run_info_and_resume_check(emulator):
    info = read_run_info(emulator.run_dir)
    assert info["scale"] == 2.0 and info["system"] == "mueller_brown" and info["n_train"] > 0
    same = scoremd.load_config(CONFIG, [*TINY, "train.steps=120", "simulate.replicas=3"])
    check_resumable(emulator.config, same, emulator.run_dir)  # more steps and other MD settings: fine
    with pytest.raises(ConfigError, match=r"differs in: model.hidden"):
        check_resumable(emulator.config, scoremd.load_config(CONFIG, [*TINY, "model.hidden=[8]"]), emulator.run_dir)
