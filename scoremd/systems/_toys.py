"""Analytic toy systems with exact Boltzmann densities (docs/design.md §6).

* ``double_well``: 1-D, density 1/2 N(-5, 1) + 1/2 N(5, 1), k_BT = 1.
* ``gaussian_mixture``: 2-D, density 1/5 N((-5, -5), I) + 4/5 N((5, 5), I), k_BT = 1.
* ``mueller_brown``: 2-D Mueller-Brown potential (Mueller & Brown 1979,
  Theor. Chim. Acta 53, 75), k_BT = 23, simulated with m = 0.5, gamma = 1,
  dt = 5e-3 and a frame every 50 steps as in Plainer et al. (2025).

For the mixtures the potential is defined through the density, U = -k_BT log p.
Every system knows its exact density on a fine grid, from which it draws exact
samples and exact histogram-bin probabilities (the reference of the metrics).
Units are the systems' own (dimensionless "nm", "ps", "kJ/mol").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Bounds = tuple[tuple[float, float], ...]


@dataclasses.dataclass(frozen=True)
class ToySystem:
    """An analytic system and its simulation and evaluation defaults.

    Attributes:
      name: registry name.
      dim: dimension d of a configuration (event shape (d,)).
      potential: U(x), x of shape (..., d) -> (...), energy units.
      kbt: thermal energy k_BT.
      mass: particle mass.
      friction: Langevin collision rate gamma.
      dt: Langevin time step.
      steps_per_frame: integration steps between stored frames.
      grid_bounds: box holding essentially all probability mass, per axis.
      metric_bounds: histogram range of the metrics, per axis.
      js_bins: bins per axis of the JS histogram.
      pmf_bins: bins per axis of the PMF histogram.
      data_replicas: replicas of the training-data simulation.
      data_frames: frames per replica of the training-data simulation.
    """

    name: str
    dim: int
    potential: Callable[[jax.Array], jax.Array]
    kbt: float
    mass: float
    friction: float
    dt: float
    steps_per_frame: int
    grid_bounds: Bounds
    metric_bounds: Bounds
    js_bins: int
    pmf_bins: int
    data_replicas: int = 2000
    data_frames: int = 100
    position_limit: float = 1e3

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def energy(self, x):
        """Potential energy U(x); x of shape (..., d) -> (...)."""
        return self.potential(x)

    def force(self, x):
        """F = -grad U, shape like x."""
        return -jax.grad(lambda y: jnp.sum(self.potential(y)))(x)

    def _grid(self, n_per_axis: int):
        axes = [np.linspace(lo, hi, n_per_axis + 1) for lo, hi in self.grid_bounds]
        centres = [0.5 * (a[1:] + a[:-1]) for a in axes]
        mesh = np.stack(np.meshgrid(*centres, indexing="ij"), axis=-1)
        return axes, mesh

    def grid_log_density(self, n_per_axis: int | None = None):
        """Normalised log-density on a regular grid of cell centres.

        Returns:
          (edges, log_p) where edges is a list of d arrays of n+1 cell edges and
          log_p has shape (n,)*d with sum(exp(log_p)) * cell_volume = 1.
        """
        n = n_per_axis or (20_000 if self.dim == 1 else 1000)
        edges, mesh = self._grid(n)
        u = np.asarray(jax.jit(self.potential)(jnp.asarray(mesh, jnp.float32)), np.float64)
        log_w = -u / self.kbt
        log_w -= log_w.max()
        volume = np.prod([(hi - lo) / n for lo, hi in self.grid_bounds])
        log_p = log_w - np.log(np.exp(log_w).sum() * volume)
        return edges, log_p

    def exact_samples(self, n: int, *, seed: int) -> np.ndarray:
        """n exact samples of the Boltzmann density (grid cell by probability, uniform within it).

        Returns:
          Array of shape (n, d), float32.
        """
        edges, log_p = self.grid_log_density()
        p = np.exp(log_p).ravel()
        p /= p.sum()
        rng = np.random.default_rng(seed)
        idx = np.unravel_index(rng.choice(p.size, size=n, p=p), log_p.shape)
        out = np.empty((n, self.dim))
        for axis, e in enumerate(edges):
            i = idx[axis]
            out[:, axis] = e[i] + rng.random(n) * (e[i + 1] - e[i])
        return out.astype(np.float32)

    def bin_probabilities(self, bins: int) -> np.ndarray:
        """Exact probability of each histogram bin on ``metric_bounds``, shape (bins,)*d
        (:func:`boltzmann_bin_probabilities` of the potential)."""
        return boltzmann_bin_probabilities(self.potential, self.kbt, self.metric_bounds, bins)


def boltzmann_bin_probabilities(potential: Callable[[jax.Array], jax.Array], kbt: float, bounds: Bounds,
                                bins: int) -> np.ndarray:
    """Probability of each histogram bin under exp(-U/k_BT), normalised over the box ``bounds``.

    Integrates the density with sub-cells (20 per bin and axis in 2-D, 200 in 1-D), so any
    batched potential works: an analytic toy's, or a learned energy (the model's own
    Boltzmann density).

    Args:
      potential: U(x), x (..., d) -> (...), energy units of ``kbt``.
      kbt: thermal energy k_BT.
      bounds: histogram range per axis, d pairs.
      bins: bins per axis.

    Returns:
      Array of shape (bins,)*d summing to 1.
    """
    dim = len(bounds)
    sub = 20 if dim == 2 else 200
    n = bins * sub
    axes = [np.linspace(lo, hi, n + 1) for lo, hi in bounds]
    centres = [0.5 * (a[1:] + a[:-1]) for a in axes]
    mesh = np.stack(np.meshgrid(*centres, indexing="ij"), axis=-1).reshape(-1, dim).astype(np.float32)
    f = jax.jit(potential)
    chunk = 1 << 16  # points per call: bounded memory for a network
    u = np.concatenate([np.asarray(f(jnp.asarray(mesh[i : i + chunk])), np.float64)
                        for i in range(0, len(mesh), chunk)])
    w = np.exp(-(u - u.min()) / kbt)
    w = w.reshape(*[x for _ in range(dim) for x in (bins, sub)])
    w = w.sum(axis=tuple(range(1, 2 * dim, 2)))
    return w / w.sum()


def _lead(a, ndim: int):
    """``a`` with leading unit axes up to ``ndim`` (explicit broadcasting against (..., *a.shape))."""
    return jnp.reshape(a, (1,) * (ndim - a.ndim) + a.shape)


def _mixture_potential(means, weights, kbt):
    # numpy constants: importing scoremd starts no JAX backend, so device settings made after the import apply
    means = np.asarray(means, np.float32)
    log_w = np.log(np.asarray(weights, np.float32))

    def potential(x):
        x = jnp.asarray(x)
        sq = jnp.sum((x[..., None, :] - _lead(jnp.asarray(means), x.ndim + 1)) ** 2, axis=-1)
        return -kbt * jax.nn.logsumexp(_lead(jnp.asarray(log_w), sq.ndim) - 0.5 * sq, axis=-1)

    return potential


_MB_A = (-200.0, -100.0, -170.0, 15.0)
_MB_a = (-1.0, -1.0, -6.5, 0.7)
_MB_b = (0.0, 0.0, 11.0, 0.6)
_MB_c = (-10.0, -10.0, -6.5, 0.7)
_MB_x0 = (1.0, 0.0, -0.5, -1.0)
_MB_y0 = (0.0, 0.5, 1.5, 1.0)


def mueller_brown_potential(x):
    """Mueller-Brown energy U(x, y) = sum_k A_k exp(a_k dx^2 + b_k dx dy + c_k dy^2); x (..., 2) -> (...)."""
    x = jnp.asarray(x)
    A, a, b, c = (_lead(jnp.asarray(v, x.dtype), x.ndim) for v in (_MB_A, _MB_a, _MB_b, _MB_c))
    dx = x[..., 0:1] - _lead(jnp.asarray(_MB_x0, x.dtype), x.ndim)
    dy = x[..., 1:2] - _lead(jnp.asarray(_MB_y0, x.dtype), x.ndim)
    return jnp.sum(A * jnp.exp(a * dx**2 + b * dx * dy + c * dy**2), axis=-1)


DOUBLE_WELL = ToySystem(
    name="double_well",
    dim=1,
    potential=_mixture_potential([[-5.0], [5.0]], [0.5, 0.5], 1.0),
    kbt=1.0,
    mass=1.0,
    friction=1.0,
    dt=0.01,
    steps_per_frame=50,
    grid_bounds=((-12.0, 12.0),),
    metric_bounds=((-10.0, 10.0),),
    js_bins=100,
    pmf_bins=64,
)

GAUSSIAN_MIXTURE = ToySystem(
    name="gaussian_mixture",
    dim=2,
    potential=_mixture_potential([[-5.0, -5.0], [5.0, 5.0]], [0.2, 0.8], 1.0),
    kbt=1.0,
    mass=1.0,
    friction=1.0,
    dt=0.01,
    steps_per_frame=50,
    grid_bounds=((-11.0, 11.0), (-11.0, 11.0)),
    metric_bounds=((-10.0, 10.0), (-10.0, 10.0)),
    js_bins=100,
    pmf_bins=64,
)

MUELLER_BROWN = ToySystem(
    name="mueller_brown",
    dim=2,
    potential=mueller_brown_potential,
    kbt=23.0,
    mass=0.5,
    friction=1.0,
    dt=5e-3,
    steps_per_frame=50,
    grid_bounds=((-2.5, 1.5), (-1.0, 2.5)),
    metric_bounds=((-1.8, 1.1), (-0.5, 2.0)),
    js_bins=100,
    pmf_bins=64,
)
