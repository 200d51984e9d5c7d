"""Both i.i.d. samplers, driven by the exact score of a Gaussian mixture diffused in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.sampling import sample, time_grid
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
    x = sample(exact_score, SDE, 20_000, (2,), key=jax.random.PRNGKey(0), method=method, n_steps=steps,
               chunk_size=8_000)
    assert x.shape == (20_000, 2) and np.isfinite(x).all()
    _check_moments(x)


def test_same_key_same_samples_different_key_differs():
    kw = dict(method="sde", n_steps=20, chunk_size=300)
    a = sample(exact_score, SDE, 500, (2,), key=jax.random.PRNGKey(1), **kw)
    b = sample(exact_score, SDE, 500, (2,), key=jax.random.PRNGKey(1), **kw)
    c = sample(exact_score, SDE, 500, (2,), key=jax.random.PRNGKey(2), **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_time_grid():
    g = time_grid(SDE, 10, 3.0)
    assert g[0] == pytest.approx(1.0) and g[-1] == pytest.approx(SDE.t_min)
    assert np.all(np.diff(g) < 0)
    # rho > 1 puts more steps at small t.
    assert np.sum(g < 0.1) > np.sum(time_grid(SDE, 10, 1.0) < 0.1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(exact_score, SDE, 10, (2,), key=jax.random.PRNGKey(0), method="euler")
    with pytest.raises(ValueError, match="positive"):
        sample(exact_score, SDE, 0, (2,), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="rho must be positive"):
        sample(exact_score, SDE, 10, (2,), key=jax.random.PRNGKey(0), rho=-1.0)


def test_repeated_calls_compile_once():
    from scoremd import sampling

    def score(x, t):
        return -x

    a = sample(score, SDE, 64, (2,), key=jax.random.PRNGKey(0), method="ode", n_steps=10)
    b = sample(score, SDE, 64, (2,), key=jax.random.PRNGKey(1), method="ode", n_steps=10)
    runs = [v for k, v in sampling._COMPILED.items() if k[1] is score]
    assert len(runs) == 1 and runs[0]._cache_size() == 1
    assert not np.allclose(a, b)
