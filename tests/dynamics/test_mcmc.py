"""MALA and HMC (BlackJAX) on analytic densities: exact where Langevin MD at the same step is biased.

Chains start from exact samples of the target. A kernel that leaves the target invariant
keeps them exact, so the chains' final states are R independent exact samples whatever the
step size, and their histogram follows the exact bin probabilities: a Pearson chi-square
test with df + 5 sqrt(2 df) as the bound (bins with fewer than 5 expected counts pooled).
Langevin MD at the same large step drifts to its own, wrong, stationary density.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.dynamics import HMC, MALA, LangevinMiddle, effective_sample_size, mcmc, simulate
from scoremd.systems import DOUBLE_WELL, MUELLER_BROWN

R = 4000


def _chi_square(x, system, bins):
    """(chi-square, bound) of samples x (R, d) against the system's exact bin probabilities."""
    p = system.bin_probabilities(bins).ravel()
    counts = np.histogramdd(x, bins=bins, range=system.metric_bounds)[0].ravel()
    expected = p * len(x)
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum() + (len(x) - counts.sum()))
    exp = np.append(expected[~small], expected[small].sum())
    chi2 = float(np.sum((obs - exp) ** 2 / np.maximum(exp, 1e-12)))
    df = len(obs) - 1
    return chi2, df + 5 * np.sqrt(2 * df)


def _run(method, system, x0, n_steps, key):
    return mcmc(method, system.energy, x0, 1, n_steps, key=key, kbt=system.kbt, masses=system.mass,
                dt=system.dt, n_warmup=0)


@pytest.mark.parametrize("method", [MALA(step_size=0.01), HMC(step_size=0.03, n_leapfrog=5)], ids=["mala", "hmc"])
def test_mueller_brown_exact_at_a_step_where_langevin_is_biased(method):
    """dt = 0.03 ps is 6x the paper's step: Langevin MD leaves the Boltzmann density; MALA/HMC do not."""
    system = MUELLER_BROWN
    x0 = jnp.asarray(system.exact_samples(R, seed=0))
    chi2, bound = _chi_square(np.asarray(x0), system, 20)
    assert chi2 < bound  # the starting samples pass the test

    result = _run(method, system, x0, 200, jax.random.PRNGKey(1))
    chi2, bound = _chi_square(result.frames[-1], system, 20)
    assert chi2 < bound, (chi2, bound)
    assert 0.05 < result.acceptance_rate < 0.99  # the step is large enough to be rejected often
    assert np.mean(np.any(result.frames[-1] != np.asarray(x0), axis=-1)) > 0.9  # and the chains moved

    md = LangevinMiddle(kbt=system.kbt, friction=system.friction, dt=0.03, position_limit=100.0)
    traj = simulate(md, system.force, x0, np.float32(system.mass), 1, 200, key=jax.random.PRNGKey(1), throw=False)
    chi2_md, _ = _chi_square(traj.frames[-1], system, 20)
    assert chi2_md > 5 * bound  # the same test sees the bias of MD at this step


@pytest.mark.parametrize("method", [MALA(step_size=0.5), HMC(step_size=0.5, n_leapfrog=4)], ids=["mala", "hmc"])
def test_double_well_stays_exact_with_large_steps(method):
    system = DOUBLE_WELL
    x0 = jnp.asarray(system.exact_samples(R, seed=2))
    result = _run(method, system, x0, 100, jax.random.PRNGKey(3))
    chi2, bound = _chi_square(result.frames[-1], system, 50)
    assert chi2 < bound, (chi2, bound)
    assert result.gradient_evaluations == 100 * method.gradients_per_step


def test_adaptation_reaches_the_target_acceptance():
    system = MUELLER_BROWN
    x0 = jnp.asarray(system.exact_samples(1000, seed=4))
    for method in (MALA(), HMC(n_leapfrog=5)):
        r = mcmc(method, system.energy, x0, 20, 10, key=jax.random.PRNGKey(5), kbt=system.kbt,
                 masses=system.mass, dt=system.dt, n_warmup=400)
        # 200 steps x 1000 chains: the acceptance is known to ~0.01; dual averaging leaves ~0.05 slack
        assert abs(r.acceptance_rate - method.target_acceptance) < 0.06, (method, r.acceptance_rate)
        assert 200 < r.ess <= 1.5 * 20 * 1000


def test_same_key_same_chains_and_molecular_frames_centred():
    masses = jnp.array([1.0, 12.0, 16.0])

    def energy(x):  # harmonic bonds of a 3-bead chain: translation invariant, kJ/mol
        d = jnp.linalg.norm(x[:, 1:] - x[:, :-1], axis=-1)
        return 100.0 * jnp.sum((d - 0.15) ** 2, axis=-1)

    x0 = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3, 3)) * 0.1 + 1.0, jnp.float32)
    kw = dict(kbt=2.5, masses=masses, dt=0.002, n_warmup=20, translation_invariant=True)
    a = mcmc(HMC(n_leapfrog=3), energy, x0, 5, 4, key=jax.random.PRNGKey(0), **kw)
    b = mcmc(HMC(n_leapfrog=3), energy, x0, 5, 4, key=jax.random.PRNGKey(0), **kw)
    c = mcmc(HMC(n_leapfrog=3), energy, x0, 5, 4, key=jax.random.PRNGKey(1), **kw)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.step_size == b.step_size and not np.array_equal(a.frames, c.frames)
    np.testing.assert_allclose(a.frames.mean(axis=-2), 0.0, atol=1e-5)
    assert a.frames.shape == (5, 8, 3, 3) and a.gradient_evaluations == (20 + 20) * 3


def test_effective_sample_size_of_independent_and_correlated_draws():
    rng = np.random.default_rng(0)
    iid = rng.normal(size=(200, 20, 3))
    assert abs(effective_sample_size(iid) / iid[..., 0].size - 1) < 0.2
    walk = np.cumsum(rng.normal(size=(200, 20, 3)), axis=0)  # strongly correlated
    assert effective_sample_size(walk) < 0.1 * walk[..., 0].size
    assert np.isnan(effective_sample_size(iid[:, :1]))


def test_bad_input_is_refused_clearly():
    system = MUELLER_BROWN
    x0 = jnp.zeros((4, 2))
    kw = dict(key=jax.random.PRNGKey(0), kbt=system.kbt, masses=system.mass, dt=system.dt)
    with pytest.raises(ValueError, match="NaN or inf"):
        mcmc(MALA(), system.energy, x0.at[0, 0].set(jnp.nan), 2, 2, **kw)
    with pytest.raises(ValueError, match="energy is not finite at 1 starting"):
        mcmc(MALA(), lambda x: jnp.where(x[:, 0] > 0.5, jnp.inf, 0.0), x0.at[1, 0].set(1.0), 2, 2, **kw)
    with pytest.raises(ValueError, match=r"shape \(chains, \*event\)"):
        mcmc(MALA(), system.energy, jnp.zeros(2), 2, 2, **kw)
    with pytest.raises(ValueError, match="target_acceptance"):
        MALA(target_acceptance=1.5)
    with pytest.raises(ValueError, match="step size"):
        HMC(step_size=-1.0)
    with pytest.raises(ValueError, match="n_leapfrog"):
        HMC(n_leapfrog=0)
