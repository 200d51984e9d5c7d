"""The MD driver: Boltzmann statistics, determinism, chunking, divergence handling, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd import SimulationDivergedError
from scoremd.dynamics import INTEGRATORS, LangevinMiddle, simulate

SCHEMES = ["middle", "leapfrog"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_double_well_boltzmann(scheme):
    """1-D quartic double well U = h (x^2 - 1)^2, mass 2, gamma 0.5: histogram matches exp(-U/kT)."""
    h, kbt = 1.0, 1.0

    def potential(x):
        return h * (x[..., 0] ** 2 - 1.0) ** 2

    def force(x):
        return -jax.grad(lambda y: potential(y).sum())(x)

    cfg = INTEGRATORS[scheme](kbt=kbt, friction=0.5, dt=0.01)
    frames = simulate(cfg, force, jnp.ones((1000, 1)), 2.0, 220, 100, key=jax.random.PRNGKey(1)).frames
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
    cfg = LangevinMiddle(kbt=1.0, friction=1.0, dt=0.01)

    def force(x):
        return -x

    a = simulate(cfg, force, jnp.zeros((4, 2)), 1.0, 10, 5, key=jax.random.PRNGKey(3)).frames
    b = simulate(cfg, force, jnp.zeros((4, 2)), 1.0, 10, 5, key=jax.random.PRNGKey(3)).frames
    c = simulate(cfg, force, jnp.zeros((4, 2)), 1.0, 10, 5, key=jax.random.PRNGKey(4)).frames
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Chunking does not change the trajectory.
    d = simulate(cfg, force, jnp.zeros((4, 2)), 1.0, 10, 5, key=jax.random.PRNGKey(3), frames_per_chunk=3).frames
    np.testing.assert_array_equal(a, d)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_divergence_names_replica_and_step_and_keeps_frames(tmp_path, scheme):
    # Replica 2 sits in a stiffer well, omega*dt = 2.02 > 2: unstable (growing ~1.3x per step),
    # the others are fine.
    stiffness = jnp.array([1.0, 1.0, 20.2**2, 1.0])[:, None]
    cfg = INTEGRATORS[scheme](kbt=1.0, friction=0.1, dt=0.1, position_limit=1e3)
    out = tmp_path / "traj.npy"
    with pytest.raises(SimulationDivergedError, match="replica 2 diverged at step") as info:
        simulate(cfg, lambda x: -stiffness * x, jnp.full((4, 1), 0.5), 1.0, 1000, 2,
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

    cfg = LangevinMiddle(kbt=1.0, friction=1.0, dt=0.05)
    with pytest.raises(SimulationDivergedError, match="non-finite"):
        simulate(cfg, force, jnp.zeros((3, 1)), 1.0, 500, 10, key=jax.random.PRNGKey(0))


def test_bad_input():
    cfg = LangevinMiddle(kbt=1.0, friction=1.0, dt=0.01)
    with pytest.raises(ValueError, match="NaN"):
        simulate(cfg, lambda x: -x, jnp.array([[jnp.nan]]), 1.0, 2, 2, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"dt must be a finite number > 0 \(ps\)"):
        LangevinMiddle(kbt=1.0, friction=1.0, dt=-0.01)
    with pytest.raises(ValueError, match=r"friction must be a finite number >= 0"):
        LangevinMiddle(kbt=1.0, friction=-1.0, dt=0.01)
    with pytest.raises(ValueError, match="number of frames must be a positive integer"):
        simulate(cfg, lambda x: -x, jnp.zeros((2, 1)), 1.0, 0, 2, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="steps_per_frame must be a positive integer"):
        simulate(cfg, lambda x: -x, jnp.zeros((2, 1)), 1.0, 2, -1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"would need .* GiB of memory"):
        simulate(cfg, lambda x: -x, jnp.zeros((2, 1)), 1.0, 10**13, 1, key=jax.random.PRNGKey(0))


def test_throw_false_reports_divergence_per_replica():
    """simulate(throw=False) runs every frame and returns each replica's first divergent step."""
    stiffness = jnp.array([1.0, 20.2**2, 1.0])[:, None]
    cfg = LangevinMiddle(kbt=1.0, friction=0.1, dt=0.1, position_limit=1e3)
    traj = simulate(cfg, lambda x: -stiffness * x, jnp.full((3, 1), 0.5), 1.0, 50, 2,
                    key=jax.random.PRNGKey(0), throw=False)
    assert traj.frames.shape == (50, 3, 1)
    assert traj.divergent_step[1] > 0 and traj.divergent_step[0] == traj.divergent_step[2] == -1
    np.testing.assert_array_equal(traj.diverged, [False, True, False])
    assert np.isfinite(traj.frames[:, [0, 2]]).all()


class _StopAfter:
    """A progress bar that interrupts the run once ``limit`` frames are done."""

    def __init__(self, limit):
        self.limit, self.n = limit, 0

    def __call__(self, total, description):
        return self

    def update(self, k):
        self.n += k
        if self.n >= self.limit:
            raise KeyboardInterrupt

    def close(self):
        pass


@pytest.mark.parametrize("scheme", SCHEMES)
def test_interrupted_run_resumes_to_the_same_frames(scheme, tmp_path):
    cfg = INTEGRATORS[scheme](kbt=1.0, friction=0.5, dt=0.01)
    force = lambda x: -4.0 * x * (x**2 - 1.0)  # noqa: E731  double well
    x0, key = jnp.linspace(-1.0, 1.0, 6)[:, None], jax.random.PRNGKey(3)
    whole = simulate(cfg, force, x0, 2.0, 50, 7, key=key, frames_per_chunk=10).frames
    out, ckpt = tmp_path / "md.npy", tmp_path / "md.resume.npz"
    run = dict(key=key, frames_per_chunk=10, out=out, checkpoint=ckpt, checkpoint_seconds=0.0)
    with pytest.raises(KeyboardInterrupt):
        simulate(cfg, force, x0, 2.0, 50, 7, progress=_StopAfter(30), **run)
    assert ckpt.exists() and np.load(out).shape[0] == 30
    with pytest.raises(ValueError, match="other settings"):  # another integrator cannot resume it
        simulate(INTEGRATORS[scheme](kbt=2.0, friction=0.5, dt=0.01), force, x0, 2.0, 50, 7, **run)
    resumed = simulate(cfg, force, x0, 2.0, 50, 7, **run).frames
    np.testing.assert_array_equal(resumed, whole)
    np.testing.assert_array_equal(np.load(out), whole)
    assert not ckpt.exists()  # removed once the run is complete
    with pytest.raises(ValueError, match="needs out"):
        simulate(cfg, force, x0, 2.0, 5, 7, key=key, checkpoint=ckpt)
