import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.diffusion import sample_times
from scoremd.sde import VPSDE


def test_mean_and_std_match_the_integrated_schedule():
    sde = VPSDE()
    t = np.linspace(0.0, 1.0, 201)
    # Integrate beta numerically (trapezoid on a fine grid) and compare with the closed form.
    fine = np.linspace(0.0, 1.0, 200_001)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (sde.beta(fine[1:]) + sde.beta(fine[:-1])) * np.diff(fine))])
    integral = np.interp(t, fine, cum)
    np.testing.assert_allclose(np.asarray(sde.mean_coeff(t)), np.exp(-0.5 * integral), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(sde.std(t)) ** 2 + np.asarray(sde.mean_coeff(t)) ** 2, 1.0, rtol=1e-6)
    # The prior is reached: m_1 is ~0.
    assert float(sde.mean_coeff(1.0)) < 0.01
    # sigma is accurate at t_min (no cancellation): sigma^2 ~ beta_min t_min.
    np.testing.assert_allclose(float(sde.std(1e-5)) ** 2, 1e-6 + 0.5e-10 * 19.9, rtol=1e-4)


@pytest.mark.parametrize("t", [0.01, 0.3, 0.9])
def test_marginal_moments(t, getkey):
    sde = VPSDE()
    n = 200_000
    x0 = jnp.full((n, 2), jnp.array([1.5, -2.0]))
    xt, eps = sde.marginal(getkey(), x0, jnp.full((n,), t))
    m, s = float(sde.mean_coeff(t)), float(sde.std(t))
    np.testing.assert_allclose(np.asarray(xt - m * x0 - s * eps), 0.0, atol=1e-5)
    mean, var = np.asarray(xt.mean(0)), np.asarray(xt.var(0))
    np.testing.assert_allclose(mean, m * np.array([1.5, -2.0]), atol=5 * s / np.sqrt(n))
    np.testing.assert_allclose(var, s**2, rtol=5 * np.sqrt(2 / n))


def test_two_piece_time_density(getkey):
    n = 100_000
    t = np.asarray(sample_times(getkey(), n, 1e-5, 0.3))
    assert t.min() >= 1e-5 and t.max() <= 1.0
    frac_low = np.mean(t < 0.3)
    assert abs(frac_low - 0.5) < 5 * 0.5 / np.sqrt(n)
    # Uniform within each piece: mean of the low piece ~ (t_min + 0.3) / 2.
    low = t[t < 0.3]
    assert abs(low.mean() - 0.15) < 5 * 0.3 / np.sqrt(12 * low.size)


def test_invalid_schedule_rejected():
    with pytest.raises(ValueError, match="beta_min"):
        VPSDE(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="t_min"):
        VPSDE(t_min=0.0)
