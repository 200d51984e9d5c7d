"""The Fokker-Planck residual: zero for an exactly diffused density, non-zero otherwise,
unbiased squared estimate, and agreement of the finite-difference and autodiff estimators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.diffusion import ExactFP, FiniteDifferenceFP, TaylorFP, fp_error_curve, fp_loss, fp_residual
from scoremd.sde import VPSDE

SDE = VPSDE()
C = 0.7  # data ~ N(0, C^2 I)


def gaussian_energy(x, t, perturb=0.0):
    """-log p_t for data N(0, C^2 I) diffused by VP: p_t = N(0, v_t I), v_t = 1 + m_t^2 (C^2 - 1)."""
    v = 1.0 + SDE.mean_coeff(t) ** 2 * (C**2 - 1.0)
    d = x.shape[1]
    sq = jnp.sum(x**2, axis=-1)
    return sq / (2 * v) + 0.5 * d * jnp.log(2 * jnp.pi * v) + perturb * sq**2


def _residuals(estimator, perturb, n_probes=20_000, t=0.05, seed=0):
    x = jax.random.normal(jax.random.PRNGKey(seed), (4, 3))
    tt = jnp.full((4,), t)
    probes = jax.random.normal(jax.random.PRNGKey(seed + 1), (n_probes, 4, 3))
    return np.asarray(fp_residual(lambda y, s: gaussian_energy(y, s, perturb), SDE, x, tt, probes, estimator))


@pytest.mark.parametrize("estimator", [ExactFP(), TaylorFP(), FiniteDifferenceFP()], ids=["exact", "taylor", "fd"])
def test_residual_of_exact_density_is_zero_up_to_probe_noise(estimator):
    for t in (1e-3, 0.05, 0.5):
        r = _residuals(estimator, 0.0, t=t)
        se = r.std(0) / np.sqrt(r.shape[0])
        assert np.all(np.abs(r.mean(0)) < 5 * se + 1e-3 * np.abs(r).mean())


@pytest.mark.parametrize("estimator", [ExactFP(), TaylorFP(), FiniteDifferenceFP()], ids=["exact", "taylor", "fd"])
def test_residual_of_perturbed_energy_is_clearly_nonzero(estimator):
    r = _residuals(estimator, 0.05)
    se = r.std(0) / np.sqrt(r.shape[0])
    assert np.all(np.abs(r.mean(0)) > 5 * se)
    # ... and far larger than for the exact density at the same points.
    assert np.abs(r.mean(0)).mean() > 50 * np.abs(_residuals(estimator, 0.0).mean(0)).mean()


def test_pair_product_is_unbiased_for_the_square():
    r = _residuals(ExactFP(), 0.05, n_probes=40_000)
    r1, r2 = r[0::2], r[1::2]  # independent probe pairs
    prod = r1 * r2
    target = r.mean(0) ** 2
    se = prod.std(0) / np.sqrt(prod.shape[0])
    assert np.all(np.abs(prod.mean(0) - target) < 5 * se)
    # The naive square of a single estimate is biased upwards by the probe variance.
    assert np.all((r1**2).mean(0) - target > 5 * se)


def test_fd_agrees_with_exact_where_fd_is_accurate():
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.PRNGKey(3), (6, 3), jnp.float64)
        t = jnp.linspace(0.02, 0.9, 6, dtype=jnp.float64)
        probes = jax.random.normal(jax.random.PRNGKey(4), (3, 6, 3), jnp.float64)

        def energy(y, s):
            return gaussian_energy(y, s, 0.05)

        exact = np.asarray(fp_residual(energy, SDE, x, t, probes, ExactFP()))
        fd = np.asarray(fp_residual(energy, SDE, x, t, probes, FiniteDifferenceFP()))
    # The 3-point stencil in t has error O(h_t^2) = O(2.5e-7) times d^3E/dt^3.
    np.testing.assert_allclose(fd, exact, rtol=1e-4, atol=1e-4 * np.abs(exact).max())


def test_loss_and_curve_are_finite_and_differentiable():
    x0 = C * jax.random.normal(jax.random.PRNGKey(0), (64, 3))

    def loss(a):
        return fp_loss(lambda y, s: gaussian_energy(y, s, a), SDE, jax.random.PRNGKey(1), x0, (1e-3, 0.1))

    value, grad = jax.value_and_grad(loss)(0.05)
    assert np.isfinite(value) and np.isfinite(grad) and grad != 0
    exact_curve = fp_error_curve(gaussian_energy, SDE, jax.random.PRNGKey(2), x0, [0.01, 0.1, 0.5])
    bad_curve = fp_error_curve(lambda y, s: gaussian_energy(y, s, 0.05), SDE, jax.random.PRNGKey(2), x0,
                               [0.01, 0.1, 0.5])
    assert np.all(np.abs(exact_curve) < 0.05 * bad_curve)


def test_unknown_estimator():
    with pytest.raises(TypeError, match="estimator must be ExactFP"):
        fp_residual(gaussian_energy, SDE, jnp.zeros((1, 3)), jnp.ones(1), jnp.zeros((1, 1, 3)), "spline")


def test_centred_error_is_gauge_invariant():
    """Adding c(t) = 100 t to the exact energy changes no score; the centred (variance over x)
    error stays at probe noise while the raw mean square reads c'(t)^2 / D^2 = 100^2 / 9."""
    x0 = C * jax.random.normal(jax.random.PRNGKey(0), (256, 3))
    times = [0.01, 0.1, 0.5]

    def gauged(y, s):
        return gaussian_energy(y, s) + 100.0 * s

    key = jax.random.PRNGKey(3)
    centred = fp_error_curve(gauged, SDE, key, x0, times)
    np.testing.assert_allclose(centred, fp_error_curve(gaussian_energy, SDE, key, x0, times), rtol=1e-4, atol=1e-6)
    raw = fp_error_curve(gauged, SDE, key, x0, times, centred=False)
    np.testing.assert_allclose(raw, 100.0**2 / 9, rtol=0.05)
    assert np.all(np.abs(centred) < 1e-3 * raw)
    # A real inconsistency shows in the centred error.
    bad = fp_error_curve(lambda y, s: gaussian_energy(y, s, 0.05) + 100.0 * s, SDE, key, x0, times)
    assert np.all(bad > 10 * np.abs(centred))


def test_taylor_mode_equals_exact_on_a_network_with_its_parameter_gradient():
    """TaylorFP (jet) and ExactFP (forward-over-reverse) give the same residual and the same
    parameter gradient of the FP loss, in float64, on the invariant MLP."""
    from scoremd.diffusion import TaylorFP
    from scoremd.models import ModelConfig, build_model

    with jax.enable_x64(True):
        model, params = build_model(ModelConfig(features="invariant", hidden=(16, 16)), (5, 3), SDE,
                                    key=jax.random.PRNGKey(0))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        x = jax.random.normal(jax.random.PRNGKey(1), (6, 5, 3), jnp.float64)
        t = jnp.linspace(0.01, 0.1, 6, dtype=jnp.float64)
        probes = jax.random.normal(jax.random.PRNGKey(2), (3, 6, 5, 3), jnp.float64)

        def residual(p, est):
            return fp_residual(lambda y, s: model.energy(p, y, s), SDE, x, t, probes, est)

        np.testing.assert_allclose(residual(params, TaylorFP()), residual(params, ExactFP()), rtol=1e-10, atol=1e-9)
        grads = [jax.grad(lambda p, e=e: jnp.sum(residual(p, e) ** 2))(params) for e in (TaylorFP(), ExactFP())]
        for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
