"""Sequential Monte Carlo on an energy family: it ends at exp(-E(x, t_min)) even where the energies
at larger t disagree with it (which moves the plain reverse SDE's basin weights), and it is
blind to an x-independent c(t) in the energy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.diffusion import SMCReverseSDE, ReverseSDE, regenerate, sample
from scoremd.diffusion._smc import systematic_resample
from scoremd.sde import VPSDE

SDE = VPSDE()
MEANS = jnp.array([[-2.0, 0.5], [2.0, -0.5]])
STDS = jnp.array([0.3, 0.5])


def mixture_energy(weight_right, gauge=lambda t: 0.0):
    """E(x, t) = -log p_t(x) + gauge(t) of the two-mode mixture diffused in closed form, with the
    right-hand mode's weight ``weight_right(t)``; x (B, 2), t (B,) -> (B,)."""

    def energy(x, t):
        def one(y, tt):
            m, s = SDE.mean_coeff(tt), SDE.std(tt)
            var = m**2 * STDS**2 + s**2
            sq = jnp.sum((y[None, :] - m * MEANS) ** 2, axis=-1)
            w = weight_right(tt)
            log_w = jnp.log(jnp.stack([1.0 - w, w]))
            return -jax.nn.logsumexp(log_w - 0.5 * sq / var - jnp.log(var)) + gauge(tt)

        return jax.vmap(one)(x, t)

    def score(x, t):
        return -jax.grad(lambda y: energy(y, t).sum())(x)

    return energy, score


def right_share(x):
    return float(np.mean(x[:, 0] > 0.0))  # the modes are >= 4 standard deviations from this cut


def test_smc_ends_at_the_small_t_energy_where_larger_t_disagrees():
    """The energies give the right-hand mode 0.3 of the weight for t > 0.1 and 0.7 below: the
    modes are separated by then, so the reverse SDE keeps ~0.3; SMC reweights to 0.7."""
    drift = lambda t: 0.3 + 0.4 * jax.nn.sigmoid((0.1 - t) / 0.01)  # noqa: E731
    energy, score = mixture_energy(drift)
    n, chunk, key = 20_000, 5_000, jax.random.PRNGKey(0)
    plain = sample(ReverseSDE(n_steps=200), score, SDE, n, (2,), key=key, chunk_size=chunk)
    smc = sample(SMCReverseSDE(n_steps=200), score, SDE, n, (2,), key=key, chunk_size=chunk, energy_fn=energy)
    assert np.isfinite(smc).all() and smc.shape == (n, 2)
    se = np.sqrt(0.21 / n)
    assert abs(right_share(plain) - 0.3) < 6 * se + 0.02
    # Resampled copies are not independent: allow the standard error of a tenth of the samples.
    assert abs(right_share(smc) - 0.7) < 6 * np.sqrt(0.21 / (n / 10))
    for k, sel in enumerate([smc[:, 0] < 0, smc[:, 0] > 0]):  # each mode keeps its shape
        np.testing.assert_allclose(smc[sel].mean(0), np.asarray(MEANS[k]), atol=0.05)
        np.testing.assert_allclose(smc[sel].std(0), float(STDS[k]), rtol=0.1)


def _ess_profile(energy, score, steps, n=4_000):
    sampler = SMCReverseSDE(n_steps=steps)
    kernel = sampler.kernel(score, SDE, energy)
    k_prior, key = jax.random.split(jax.random.PRNGKey(1))
    state = kernel.init(SDE.prior_sample(k_prior, (n, 2)))
    step = jax.jit(kernel.step)
    ess, resampled = [], []
    for k in jax.random.split(key, steps):
        state, info = step(k, state)
        ess.append(float(info.ess))
        resampled.append(bool(info.resampled))
    return np.array(ess) / n, resampled, np.asarray(kernel.finalize(state))


def test_smc_with_a_consistent_energy_loses_weight_balance_only_to_the_time_step():
    """An exact diffusion: the incremental weights differ only by the grid's discretisation error,
    so the effective sample size falls slowly, and half as fast (in log) with twice the steps."""
    energy, score = mixture_energy(lambda t: 0.7)
    ess_200, resampled, x = _ess_profile(energy, score, 200)
    ess_400, _, _ = _ess_profile(energy, score, 400)
    assert ess_200.min() > 0.5 and sum(resampled[:-1]) == 0 and resampled[-1]  # only the final resampling
    assert 0.35 < np.log(ess_400.min()) / np.log(ess_200.min()) < 0.7
    assert abs(right_share(x) - 0.7) < 6 * np.sqrt(0.21 / 4_000)


def test_an_x_independent_term_in_the_energy_changes_nothing():
    """E and E + 100 t give the same samples (float64: only rounding could tell them apart)."""
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        key = jax.random.PRNGKey(2)
        runs = []
        for gauge in (lambda t: 0.0, lambda t: 100.0 * t):
            energy, score = mixture_energy(lambda t: 0.7, gauge)
            runs.append(sample(SMCReverseSDE(n_steps=50, ess_threshold=0.9), score, SDE, 500, (2,), key=key,
                               chunk_size=500, dtype=jnp.float64, energy_fn=energy))
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-9)


def test_systematic_resampling_copies_each_particle_in_proportion_to_its_weight():
    log_w = jnp.log(jnp.array([0.5, 0.25, 0.25, 0.0]))
    for seed in range(5):
        idx = np.asarray(systematic_resample(jax.random.PRNGKey(seed), log_w))
        np.testing.assert_array_equal(np.bincount(idx, minlength=4), [2, 1, 1, 0])


def test_non_finite_particles_get_no_weight_and_are_dropped():
    energy, score = mixture_energy(lambda t: 0.7)
    bad_energy = lambda x, t: jnp.where(x[:, 0] > 10.0, jnp.nan, energy(x, t))  # noqa: E731
    kernel = SMCReverseSDE(n_steps=3).kernel(score, SDE, bad_energy)
    state = kernel.init(jnp.array([[0.0, 0.0], [100.0, 0.0], [0.5, 0.0], [-0.5, 0.0]]))
    assert float(jnp.exp(state.log_weights[1])) == 0.0
    for k in jax.random.split(jax.random.PRNGKey(3), 3):
        state, info = kernel.step(k, state)
    assert np.isfinite(np.asarray(kernel.finalize(state))).all() and not info.is_divergent.any()


def test_smc_needs_the_energy_and_a_valid_threshold():
    _, score = mixture_energy(lambda t: 0.7)
    with pytest.raises(ValueError, match="energy_fn"):
        sample(SMCReverseSDE(n_steps=5), score, SDE, 10, (2,), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="energy_fn"):
        regenerate(SMCReverseSDE(n_steps=5), score, SDE, jnp.zeros((4, 2)), 0.5, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="ess_threshold"):
        SMCReverseSDE(ess_threshold=0.0)
