"""Langevin integrators: equipartition, Boltzmann statistics, determinism, divergence handling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd import SimulationDivergedError
from scoremd.dynamics import LangevinConfig, kinetic_energy, langevin, simulate

SCHEMES = ["middle", "leapfrog"]


def _run_steps(step, state, n_steps, every):
    """Run n_steps, return the states' (positions, velocities) every `every` steps."""

    def frame(s, _):
        s = jax.lax.fori_loop(0, every, lambda i, c: step(c), s)
        return s, (s.positions, s.velocities)

    _, (xs, vs) = jax.jit(lambda s: jax.lax.scan(frame, s, None, length=n_steps // every))(state)
    return np.asarray(xs), np.asarray(vs)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_harmonic_equipartition_and_boltzmann(scheme):
    """3-D harmonic wells with unequal masses and gamma != 1: <KE> = (3/2) N kT and Var(x) = kT/k."""
    kbt, k_spring, gamma, dt = 2.5, 40.0, 2.5, 0.005
    masses = jnp.array([1.0, 4.0, 12.0])  # omega*dt <= 0.03

    def force(x):
        return -k_spring * x

    cfg = LangevinConfig(kbt=kbt, friction=gamma, dt=dt, integrator=scheme)
    init, step = langevin(force, masses, cfg)
    n_rep = 2000
    state = init(jnp.zeros((n_rep, 3, 3)), key=jax.random.PRNGKey(0))
    # Equilibrate 8/gamma... then record frames 0.8 ps apart (> 1/gamma and > the heaviest period).
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 2000, lambda i, c: step(c), s))(state)
    xs, vs = _run_steps(step, state, 40 * 160, 160)
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
def test_double_well_boltzmann(scheme):
    """1-D quartic double well U = h (x^2 - 1)^2, mass 2, gamma 0.5: histogram matches exp(-U/kT)."""
    h, kbt = 1.0, 1.0

    def potential(x):
        return h * (x[..., 0] ** 2 - 1.0) ** 2

    def force(x):
        return -jax.grad(lambda y: potential(y).sum())(x)

    cfg = LangevinConfig(kbt=kbt, friction=0.5, dt=0.01, integrator=scheme)
    frames = simulate(force, jnp.ones((1000, 1)), 2.0, cfg, 220, 100, key=jax.random.PRNGKey(1))
    x = frames[20:].reshape(-1)
    grid = np.linspace(-2.5, 2.5, 5001)
    w = np.exp(-h * (grid**2 - 1) ** 2 / kbt)
    w /= w.sum()
    exact_x2 = float(np.sum(w * grid**2))
    exact_left = float(w[grid < 0].sum())
    n = x.size
    # Frames are 1 time unit apart, replicas independent; allow n_eff = n / 4 for residual correlation.
    n_eff = n / 4
    assert abs(np.mean(x**2) - exact_x2) < 5 * np.std(x**2) / np.sqrt(n_eff)
    assert abs(np.mean(x < 0) - exact_left) < 5 * np.sqrt(0.25 / n_eff)
    hist, edges = np.histogram(x, bins=25, range=(-2.0, 2.0))
    centres = 0.5 * (edges[1:] + edges[:-1])
    p_exact = np.exp(-h * (centres**2 - 1) ** 2)
    p_exact /= p_exact.sum()
    p = hist / hist.sum()
    assert np.max(np.abs(p - p_exact)) < 5 * np.sqrt(p_exact.max() / n_eff)


def test_same_key_same_trajectory():
    cfg = LangevinConfig(kbt=1.0, friction=1.0, dt=0.01)

    def force(x):
        return -x

    a = simulate(force, jnp.zeros((4, 2)), 1.0, cfg, 10, 5, key=jax.random.PRNGKey(3))
    b = simulate(force, jnp.zeros((4, 2)), 1.0, cfg, 10, 5, key=jax.random.PRNGKey(3))
    c = simulate(force, jnp.zeros((4, 2)), 1.0, cfg, 10, 5, key=jax.random.PRNGKey(4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Chunking does not change the trajectory.
    d = simulate(force, jnp.zeros((4, 2)), 1.0, cfg, 10, 5, key=jax.random.PRNGKey(3), frames_per_chunk=3)
    np.testing.assert_array_equal(a, d)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_zero_friction_conserves_energy(scheme):
    # Velocities are stored at half steps, so the energy fluctuates by ~omega*dt/2 = 0.5 %.
    k = 1.0
    cfg = LangevinConfig(kbt=1.0, friction=0.0, dt=0.01, integrator=scheme)
    init, step = langevin(lambda x: -k * x, 1.0, cfg)
    state = init(jnp.ones((8, 2)), key=jax.random.PRNGKey(0))
    xs, vs = _run_steps(step, state, 800, 1)
    energy = 0.5 * k * (xs**2).sum(-1) + 0.5 * (vs**2).sum(-1)
    drift = np.abs(energy - energy[0]) / energy[0]
    assert drift.max() < 1e-2


@pytest.mark.parametrize("scheme", SCHEMES)
def test_divergence_names_replica_and_step_and_keeps_frames(tmp_path, scheme):
    # Replica 2 sits in a stiffer well, omega*dt = 2.02 > 2: unstable (growing ~1.3x per step),
    # the others are fine.
    stiffness = jnp.array([1.0, 1.0, 20.2**2, 1.0])[:, None]
    cfg = LangevinConfig(kbt=1.0, friction=0.1, dt=0.1, integrator=scheme)
    out = tmp_path / "traj.npy"
    with pytest.raises(SimulationDivergedError, match="replica 2 diverged at step") as info:
        simulate(lambda x: -stiffness * x, jnp.full((4, 1), 0.5), 1.0, cfg, 1000, 2,
                 key=jax.random.PRNGKey(0), out=out, frames_per_chunk=7)
    err = info.value
    assert err.replica == 2 and err.step > 0
    saved = np.load(out)
    assert saved.shape[0] > 7  # more than one chunk was streamed before the divergence
    assert saved.shape == (err.frames_written, 4, 1)
    assert np.isfinite(saved).all() and np.abs(saved).max() <= 1e3
    # Every stored frame precedes the divergence.
    assert err.frames_written * 2 < err.step


def test_nan_force_detected(tmp_path):
    def force(x):
        return jnp.where(x > 0.3, jnp.nan, -x)

    cfg = LangevinConfig(kbt=1.0, friction=1.0, dt=0.05)
    with pytest.raises(SimulationDivergedError, match="non-finite"):
        simulate(force, jnp.zeros((3, 1)), 1.0, cfg, 500, 10, key=jax.random.PRNGKey(0))


def test_bad_input():
    cfg = LangevinConfig(kbt=1.0, friction=1.0, dt=0.01)
    with pytest.raises(ValueError, match="NaN"):
        simulate(lambda x: -x, jnp.array([[jnp.nan]]), 1.0, cfg, 2, 2, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="unknown integrator"):
        LangevinConfig(kbt=1.0, friction=1.0, dt=0.01, integrator="verlet")
    with pytest.raises(ValueError, match="dt > 0"):
        LangevinConfig(kbt=1.0, friction=1.0, dt=-0.01)
