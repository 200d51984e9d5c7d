"""Langevin kernels (init/step): equipartition, Boltzmann statistics, energy conservation, divergence info."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.dynamics import INTEGRATORS, kinetic_energy

SCHEMES = ["middle", "leapfrog"]


def _advance(kernel, state, key, n_steps):
    """n_steps of the kernel with keys folded from ``key``; returns the state."""

    def body(i, s):
        s, _ = kernel.step(jax.random.fold_in(key, i), s)
        return s

    return jax.lax.fori_loop(0, n_steps, body, state)


def _run_steps(kernel, state, n_steps, every, key=jax.random.PRNGKey(7)):
    """Run n_steps, return the states' (positions, velocities) every `every` steps."""

    def frame(s, i):
        s = _advance(kernel, s, jax.random.fold_in(key, i), every)
        return s, (s.positions, s.velocities)

    _, (xs, vs) = jax.jit(lambda s: jax.lax.scan(frame, s, jnp.arange(n_steps // every)))(state)
    return np.asarray(xs), np.asarray(vs)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_harmonic_equipartition_and_boltzmann(scheme):
    """3-D harmonic wells with unequal masses and gamma != 1: <KE> = (3/2) N kT and Var(x) = kT/k."""
    kbt, k_spring, gamma, dt = 2.5, 40.0, 2.5, 0.005
    masses = jnp.array([1.0, 4.0, 12.0])  # omega*dt <= 0.03

    def force(x):
        return -k_spring * x

    cfg = INTEGRATORS[scheme](kbt=kbt, friction=gamma, dt=dt)
    kernel = cfg.kernel(force, masses)
    n_rep = 2000
    state = kernel.init(jnp.zeros((n_rep, 3, 3)), key=jax.random.PRNGKey(0))
    # Equilibrate 8/gamma... then record frames 0.8 ps apart (> 1/gamma and > the heaviest period).
    state = jax.jit(lambda s: _advance(kernel, s, jax.random.PRNGKey(1), 2000))(state)
    xs, vs = _run_steps(kernel, state, 40 * 160, 160)
    ke = np.asarray(jax.vmap(lambda v: kinetic_energy(v, masses))(jnp.asarray(vs)))  # (frames, R)
    n_eff = ke.size  # frames are ~decorrelated; replicas independent
    expected_ke = 0.5 * 9 * kbt
    # KE of 9 quadratic dofs is Gamma-distributed with std sqrt(9/2) kT.
    assert abs(ke.mean() - expected_ke) < 5 * np.sqrt(4.5) * kbt / np.sqrt(n_eff) + 0.005 * expected_ke
    var = xs.reshape(-1, 3, 3).var(axis=0)
    np.testing.assert_allclose(var, kbt / k_spring, rtol=5 * np.sqrt(2 / n_eff) + 0.005)
    # Per-particle kinetic temperature also follows the masses correctly.
    v2 = (vs**2).reshape(-1, 3, 3).mean(axis=(0, 2)) * np.asarray(masses)
    np.testing.assert_allclose(v2, kbt, rtol=5 * np.sqrt(2 / (n_eff * 3)) + 0.01)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_zero_friction_conserves_energy(scheme):
    # Velocities are stored at half steps, so the energy fluctuates by ~omega*dt/2 = 0.5 %.
    k = 1.0
    cfg = INTEGRATORS[scheme](kbt=1.0, friction=0.0, dt=0.01)
    kernel = cfg.kernel(lambda x: -k * x, 1.0)
    state = kernel.init(jnp.ones((8, 2)), key=jax.random.PRNGKey(0))
    xs, vs = _run_steps(kernel, state, 800, 1)
    energy = 0.5 * k * (xs**2).sum(-1) + 0.5 * (vs**2).sum(-1)
    drift = np.abs(energy - energy[0]) / energy[0]
    assert drift.max() < 1e-2


@pytest.mark.parametrize("scheme", SCHEMES)
def test_info_flags_divergent_replicas(scheme):
    """The kernel's info marks exactly the replicas whose new positions are non-finite or too far out."""
    cfg = INTEGRATORS[scheme](kbt=1.0, friction=1.0, dt=0.01, position_limit=5.0)
    kernel = cfg.kernel(lambda x: jnp.where(x > 100.0, jnp.nan, -x), 1.0)
    state = kernel.init(jnp.array([[0.0], [4.99], [1e3], [0.5]]), key=jax.random.PRNGKey(0))
    state, info = kernel.step(jax.random.PRNGKey(1), state)
    x = np.asarray(state.positions[:, 0])
    expected = ~np.isfinite(x) | (np.abs(x) > 5.0)
    np.testing.assert_array_equal(np.asarray(info.is_divergent), expected)
    assert expected[2] and not expected[0]


def test_molecules_diverge_by_shape_not_by_drift():
    """For molecules (R, n, 3) the limit applies around each replica's centre: a far-away but
    intact molecule is fine, a stretched one is not."""
    cfg = INTEGRATORS["middle"](kbt=1.0, friction=1.0, dt=1e-4, position_limit=2.0)
    kernel = cfg.kernel(lambda x: jnp.zeros_like(x), jnp.ones(3))
    base = jnp.array([[0.0, 0, 0], [0.5, 0, 0], [1.0, 0, 0]])
    x = jnp.stack([base + 100.0, base.at[2, 0].set(10.0)])
    state = kernel.init(x, key=jax.random.PRNGKey(0))
    _, info = kernel.step(jax.random.PRNGKey(1), state)
    np.testing.assert_array_equal(np.asarray(info.is_divergent), [False, True])


def test_slots_that_are_not_particles_do_not_count_for_divergence():
    """A bead marked as no particle (a glycine's empty CB slot) may sit far from the molecule
    without the replica counting as diverged; a NaN there still counts; a mask of the wrong length
    is refused."""
    base = jnp.array([[0.0, 0, 0], [0.5, 0, 0], [1.0, 0, 0], [0.0, 0, 0]])
    x = jnp.stack([base.at[3].set(50.0), base.at[2, 0].set(10.0), base.at[3, 0].set(jnp.nan)])
    step_info = []
    for particles in (None, (True, True, True, False)):
        cfg = INTEGRATORS["middle"](kbt=1.0, friction=1.0, dt=1e-4, position_limit=2.0, particles=particles)
        kernel = cfg.kernel(lambda y: jnp.zeros_like(y), jnp.ones(4))
        _, info = kernel.step(jax.random.PRNGKey(1), kernel.init(x, key=jax.random.PRNGKey(0)))
        step_info.append(np.asarray(info.is_divergent))
    np.testing.assert_array_equal(step_info[0], [True, True, True])
    np.testing.assert_array_equal(step_info[1], [False, True, True])
    cfg = INTEGRATORS["middle"](kbt=1.0, friction=1.0, dt=1e-4, position_limit=2.0, particles=(True, False))
    with pytest.raises(ValueError, match="particles marks 2 beads"):
        cfg.kernel(lambda y: jnp.zeros_like(y), jnp.ones(4)).init(x, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="at least one bead"):
        INTEGRATORS["middle"](kbt=1.0, friction=1.0, dt=1e-4, particles=(False, False))
