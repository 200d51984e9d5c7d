"""Emulator: physical units everywhere, the config's defaults, and the run-directory bookkeeping."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scoremd
from scoremd import ConfigError
from scoremd.app.rundir import check_resumable, read_run_info, write_run_info
from scoremd.diffusion import ProbabilityFlowODE, regenerate
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


def test_regenerate_works_in_nm_and_returns_the_frames_from_t_min(emulator):
    frames = jnp.asarray(emulator.training_data()[:64])  # physical units
    sampler = ProbabilityFlowODE(n_steps=20)
    sde = emulator.model.sde
    near = emulator.regenerate(frames, sde.t_min, key=jax.random.PRNGKey(0), sampler=sampler)
    # one denoising step from t_min: the frames back, up to a few sigma(t_min) (normalised) x scale
    np.testing.assert_allclose(near, frames, atol=5 * float(sde.std(sde.t_min)) * emulator.scale)
    far = emulator.regenerate(frames, 1.0, key=jax.random.PRNGKey(0), sampler=sampler)
    lib, _ = regenerate(sampler, emulator._normalised_score, emulator.model.sde, frames / emulator.scale, 1.0,
                        key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(far, lib * emulator.scale, rtol=1e-6)
    assert np.abs(far - frames).mean() > 0.1  # from pure noise: the frames are forgotten


def test_run_info_and_resume_check(emulator):
    info = read_run_info(emulator.run_dir)
    assert info["scale"] == 2.0 and info["system"] == "mueller_brown" and info["n_train"] > 0
    same = scoremd.load_config(CONFIG, [*TINY, "train.steps=120", "simulate.replicas=3"])
    check_resumable(emulator.config, same, emulator.run_dir)  # more steps and other MD settings: fine
    with pytest.raises(ConfigError, match=r"differs in: model.hidden"):
        check_resumable(emulator.config, scoremd.load_config(CONFIG, [*TINY, "model.hidden=[8]"]), emulator.run_dir)


def test_a_resume_on_other_data_keeps_the_original_training_size(tmp_path):
    config = scoremd.load_config(CONFIG, TINY)
    run = tmp_path / "mb"
    scoremd.train(config, run, progress=False)
    n = read_run_info(run)["n_train"]
    scoremd.train(config, run, progress=False)  # same data: nothing to say
    assert read_run_info(run)["n_train"] == n and "n_train_resumed" not in read_run_info(run)
    info = read_run_info(run)
    info["n_train"] = n - 7  # as if the data had grown since the run started
    write_run_info(run, info)
    with pytest.warns(UserWarning, match=f"started on {n - 7} training frames; its data now hold {n}"):
        scoremd.train(scoremd.load_config(CONFIG, [*TINY, "train.steps=80"]), run, progress=False)
    info = read_run_info(run)
    assert info["n_train"] == n - 7 and info["n_train_resumed"] == n


def _grid_samples(p_fine, bounds, n, seed):
    """n exact samples of a density given by its (bins, bins) cell probabilities (uniform within a cell)."""
    rng = np.random.default_rng(seed)
    bins = p_fine.shape[0]
    idx = np.unravel_index(rng.choice(p_fine.size, size=n, p=p_fine.ravel() / p_fine.sum()), p_fine.shape)
    width = np.array([(hi - lo) / bins for lo, hi in bounds])
    low = np.array([lo for lo, _ in bounds])
    return (low + (np.stack(idx, axis=-1) + rng.random((n, 2))) * width).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Mueller-Brown trained long enough (800 steps, ~7 s) for its learned density to be confined."""
    config = scoremd.load_config(CONFIG, ["train.steps=800", "train.batch_size=256", "train.log_every=400",
                                          "train.checkpoint_every=800", "model.hidden=[32, 32]"])
    return scoremd.train(config, tmp_path_factory.mktemp("run") / "mb800", progress=False)


@pytest.mark.parametrize("method", ["mala", "hmc"])
def test_mcmc_samples_the_models_own_boltzmann_density(trained, method):
    """Chains started from exact samples of exp(-U_theta/k_BT) (on a grid) stay exact: the
    final states' 10 x 10 histogram passes a chi-square test against the learned density's bins."""
    from scoremd.systems import boltzmann_bin_probabilities

    em = trained
    bounds = ((-5.0, 4.0), (-3.5, 5.5))  # holds all but ~1e-4 of the learned density's mass
    p_fine = boltzmann_bin_probabilities(em.energy, em.kbt, bounds, 100)
    p = p_fine.reshape(10, 10, 10, 10).sum(axis=(1, 3))
    n = 4000
    x0 = _grid_samples(p_fine, bounds, n, seed=0)
    result = em.mcmc(x0, 1, key=jax.random.PRNGKey(0), method=method, steps_per_frame=100, n_warmup=100)
    assert 0.4 < result.acceptance_rate < 0.95
    x = result.frames[-1]
    counts = np.histogramdd(x, bins=10, range=bounds)[0].ravel()
    expected = p.ravel() * n
    keep = expected >= 5
    obs = np.append(counts[keep], n - counts[keep].sum())
    exp = np.append(expected[keep], n - expected[keep].sum())
    chi2, df = float(np.sum((obs - exp) ** 2 / exp)), len(obs) - 1
    assert chi2 < df + 5 * np.sqrt(2 * df), (chi2, df)
    # the test has power: the same samples shifted by 0.3 nm fail it
    shifted = np.histogramdd(x + 0.3, bins=10, range=bounds)[0].ravel()
    obs = np.append(shifted[keep], n - shifted[keep].sum())
    assert float(np.sum((obs - exp) ** 2 / exp)) > 5 * (df + 5 * np.sqrt(2 * df))
    with pytest.raises(ValueError, match="unknown MCMC method 'gibbs'"):
        em.mcmc(x0[:2], 1, key=jax.random.PRNGKey(0), method="gibbs")



def test_smc_samples_the_models_own_boltzmann_density(trained):
    """SMC ends at exp(-E(x, t_min)), the density the MD samples: its 3 x 3 coarse bins match the
    learned density's (tolerance: five standard errors of a tenth of the samples, for the copies
    that resampling makes). The plain reverse SDE of this briefly trained model does not."""
    from scoremd.diffusion import ReverseSDE, SMCReverseSDE
    from scoremd.systems import boltzmann_bin_probabilities

    em = trained
    bounds = ((-5.0, 4.0), (-3.5, 5.5))
    p = boltzmann_bin_probabilities(em.energy, em.kbt, bounds, 90).reshape(3, 30, 3, 30).sum(axis=(1, 3)).ravel()
    n = 20_000
    x = em.sample(n, key=jax.random.PRNGKey(0), sampler=SMCReverseSDE(n_steps=200), chunk_size=5_000)
    assert x.shape == (n, 2) and np.isfinite(x).all()
    share = np.histogramdd(x, bins=3, range=bounds)[0].ravel() / n
    tolerance = 5 * np.sqrt(p * (1 - p) / (n / 10)) + 1e-3
    assert np.all(np.abs(share - p) < tolerance), (share, p)
    plain = em.sample(n, key=jax.random.PRNGKey(0), sampler=ReverseSDE(n_steps=200), chunk_size=5_000)
    assert np.max(np.abs(np.histogramdd(plain, bins=3, range=bounds)[0].ravel() / n - p) / tolerance) > 2
