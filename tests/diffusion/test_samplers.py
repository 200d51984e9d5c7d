"""Both i.i.d. samplers, driven by the exact score of a Gaussian mixture diffused in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.diffusion import SAMPLERS, ProbabilityFlowODE, ReverseSDE, regenerate, sample, time_grid
from scoremd.sde import VPSDE

SDE = VPSDE()
MEANS = jnp.array([[-2.0, 0.5], [2.0, -0.5]])
STDS = jnp.array([0.3, 0.5])
WEIGHTS = jnp.array([0.3, 0.7])


def exact_score(x, t):
    """Score of p_t = sum_k w_k N(m_t mu_k, (m_t^2 s_k^2 + sigma_t^2) I); x (B, 2), t (B,)."""

    def log_p(y, tt):
        m, s = SDE.mean_coeff(tt), SDE.std(tt)
        var = m**2 * STDS**2 + s**2
        sq = jnp.sum((y[None, :] - m * MEANS) ** 2, axis=-1)
        return jax.nn.logsumexp(jnp.log(WEIGHTS) - 0.5 * sq / var - jnp.log(var))  # d = 2

    return jax.vmap(jax.grad(log_p))(x, t)


def _check_moments(x):
    n = x.shape[0]
    mode = x[:, 0] > 0.0  # the modes are >= 4 standard deviations from this cut
    w_hat = mode.mean()
    assert abs(w_hat - 0.7) < 5 * np.sqrt(0.3 * 0.7 / n) + 0.01
    for k, sel in enumerate([~mode, mode]):
        xs = x[sel]
        se_mean = float(STDS[k]) / np.sqrt(len(xs))
        np.testing.assert_allclose(xs.mean(0), np.asarray(MEANS[k]), atol=5 * se_mean + 0.01)
        np.testing.assert_allclose(xs.var(0), float(STDS[k]) ** 2, rtol=5 * np.sqrt(2 / len(xs)) + 0.03)


@pytest.mark.parametrize("method,steps", [("sde", 500), ("ode", 60)])
def test_sampler_reproduces_mixture(method, steps):
    x = sample(SAMPLERS[method](n_steps=steps), exact_score, SDE, 20_000, (2,), key=jax.random.PRNGKey(0),
               chunk_size=8_000)
    assert x.shape == (20_000, 2) and np.isfinite(x).all()
    _check_moments(x)


def test_same_key_same_samples_different_key_differs():
    sampler = ReverseSDE(n_steps=20)
    a = sample(sampler, exact_score, SDE, 500, (2,), key=jax.random.PRNGKey(1), chunk_size=300)
    b = sample(sampler, exact_score, SDE, 500, (2,), key=jax.random.PRNGKey(1), chunk_size=300)
    c = sample(sampler, exact_score, SDE, 500, (2,), key=jax.random.PRNGKey(2), chunk_size=300)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_time_grid():
    g = time_grid(SDE, 10, 3.0)
    assert g[0] == pytest.approx(1.0) and g[-1] == pytest.approx(SDE.t_min)
    assert np.all(np.diff(g) < 0)
    # rho > 1 puts more steps at small t.
    assert np.sum(g < 0.1) > np.sum(time_grid(SDE, 10, 1.0) < 0.1)


def test_bad_arguments():
    with pytest.raises(TypeError, match="sampler must be"):
        sample("euler", exact_score, SDE, 10, (2,), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="number of samples must be a positive integer"):
        sample(ReverseSDE(), exact_score, SDE, 0, (2,), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"would need .* GiB of memory"):
        sample(ReverseSDE(), exact_score, SDE, 10**12, (2,), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="rho must be a finite number > 0"):
        ReverseSDE(n_steps=10, rho=-1.0)
    with pytest.raises(ValueError, match="positive integer"):
        ProbabilityFlowODE(n_steps=0)


def test_repeated_calls_compile_once():
    from scoremd.diffusion import _samplers as sampling

    def score(x, t):
        return -x

    a = sample(ProbabilityFlowODE(n_steps=10), score, SDE, 64, (2,), key=jax.random.PRNGKey(0))
    b = sample(ProbabilityFlowODE(n_steps=10), score, SDE, 64, (2,), key=jax.random.PRNGKey(1))
    runs = [v for k, v in sampling._COMPILED.items() if k[1] is score]
    assert len(runs) == 1 and runs[0]._cache_size() == 1
    assert not np.allclose(a, b)


@pytest.mark.parametrize("sampler", [ReverseSDE(n_steps=30, rho=2.0), ProbabilityFlowODE(n_steps=12)])
def test_kernel_steps_down_the_grid_and_driver_matches_it(sampler):
    """init/step/finalize walk the sampler's grid; the driver gives what stepping by hand gives."""
    kernel = sampler.kernel(exact_score, SDE)
    key = jax.random.PRNGKey(3)
    k_prior, k_path = jax.random.split(jax.random.split(key, 1)[0])
    state = kernel.init(SDE.prior_sample(k_prior, (16, 2)))
    times = []
    for _ in range(sampler.n_steps):
        k_path, sub = jax.random.split(k_path)
        state, info = kernel.step(sub, state)
        times.append(float(info.time))
        assert not np.asarray(info.is_divergent).any()
    np.testing.assert_allclose(times, sampler.times(SDE)[1:], rtol=1e-6)
    by_hand = np.asarray(kernel.finalize(state))
    driven = sample(sampler, exact_score, SDE, 16, (2,), key=key)
    np.testing.assert_allclose(driven, by_hand, rtol=1e-5, atol=1e-5)


def test_info_flags_non_finite_samples():
    kernel = ReverseSDE(n_steps=4).kernel(lambda x, t: jnp.where(x > 10.0, jnp.nan, -x), SDE)
    state = kernel.init(jnp.array([[0.0, 0.0], [100.0, 0.0]]))
    _, info = kernel.step(jax.random.PRNGKey(0), state)
    np.testing.assert_array_equal(np.asarray(info.is_divergent), [False, True])


def _mixture_samples(n, key):
    k_mode, k_noise = jax.random.split(key)
    mode = jax.random.bernoulli(k_mode, WEIGHTS[1], (n,)).astype(jnp.int32)
    return MEANS[mode] + STDS[mode][:, None] * jax.random.normal(k_noise, (n, 2))


@pytest.mark.parametrize("t0", [1e-3, 0.2, 1.0])
def test_regenerate_with_the_exact_score_keeps_the_data_distribution(t0):
    x0 = _mixture_samples(20_000, jax.random.PRNGKey(3))
    x, used = regenerate(ReverseSDE(n_steps=500), exact_score, SDE, x0, t0, key=jax.random.PRNGKey(4))
    assert x.shape == x0.shape and abs(used - t0) <= 1.0 / 500
    _check_moments(x)


def test_regenerate_locates_where_a_score_loses_a_basin():
    # Exact score below t = 0.3, the score of an equal-weight mixture above: the share of the
    # heavier mode (0.7) survives starting below 0.3 and is mostly lost starting above (the
    # modes overlap a little at t = 0.3, so the exact score below pulls it slightly back).
    def biased_score(x, t):
        global WEIGHTS
        exact = exact_score(x, t)
        saved, WEIGHTS = WEIGHTS, jnp.array([0.5, 0.5])
        try:
            even = exact_score(x, t)
        finally:
            WEIGHTS = saved
        return jnp.where((t > 0.3)[:, None], even, exact)

    x0 = _mixture_samples(20_000, jax.random.PRNGKey(5))
    share = {t0: float(np.mean(regenerate(ReverseSDE(n_steps=500), biased_score, SDE, x0, t0,
                                          key=jax.random.PRNGKey(6))[0][:, 0] > 0)) for t0 in (0.2, 1.0)}
    tol = 5 * np.sqrt(0.21 / 20_000) + 0.01
    assert abs(share[0.2] - 0.7) < tol
    assert 0.5 - tol < share[1.0] < 0.6


def test_regenerate_refuses_bad_input():
    x0 = _mixture_samples(16, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="t0 must lie"):
        regenerate(ReverseSDE(n_steps=10), exact_score, SDE, x0, 1.5, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="finite samples"):
        regenerate(ReverseSDE(n_steps=10), exact_score, SDE, x0.at[0, 0].set(jnp.nan), 0.5, key=jax.random.PRNGKey(0))


def test_regenerate_compiles_once_for_every_t0():
    from scoremd.diffusion import _samplers as sampling

    def score(x, t):
        return -x

    x0 = _mixture_samples(32, jax.random.PRNGKey(0))
    sampler = ReverseSDE(n_steps=20)
    used = [regenerate(sampler, score, SDE, x0, t0, key=jax.random.PRNGKey(1))[1] for t0 in (0.05, 0.3, 1.0)]
    assert len(set(used)) == 3
    runs = [v for k, v in sampling._COMPILED_REGENERATE.items() if k[1] is score]
    assert len(runs) == 1 and runs[0]._cache_size() == 1
