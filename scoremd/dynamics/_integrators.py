"""Langevin integrators as pure ``init`` / ``step`` kernels (docs/design.md §4).

Two integrators of OpenMM, each a final class on :class:`AbstractLangevin`:

* :class:`LangevinMiddle`: OpenMM's ``LangevinMiddleIntegrator`` (Zhang et al.
  2019, J. Phys. Chem. A 123, 6056), a BAOAB-type splitting with the thermostat
  in the middle of the position update:
  v += dt F/m;  x += dt/2 v;  v = a v + sqrt(kT (1 - a^2)/m) xi;  x += dt/2 v.
* :class:`LangevinLeapfrog`: OpenMM's ``LangevinIntegrator`` (the scheme the
  paper used): v = a v + (1 - a)/gamma F/m + sqrt(kT (1 - a^2)/m) xi;  x += dt v.

with a = exp(-gamma dt). Both cost one force evaluation per step; the force at
the current positions is carried in the state.

``integrator.kernel(force_fn, masses)`` returns a :class:`Kernel` of two pure,
jittable functions in the blackjax shape::

    state = kernel.init(positions, key=key)
    state, info = kernel.step(key, state)     # a fresh key every step

Units: positions nm, velocities nm/ps, time ps, forces kJ/mol/nm, masses amu,
friction 1/ps, k_BT kJ/mol (toy systems: the same formulas in their own units).
Positions have shape (R, *event) for R replicas; masses have the shape of one
particle index, ``event[:-1]`` (a scalar for a point in the plane, (n_atoms,)
for a molecule of shape (n_atoms, 3)).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar, NamedTuple, final

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Key

from .._checks import non_negative_float, positive_float

__all__ = ["AbstractLangevin", "INTEGRATORS", "Kernel", "LangevinInfo", "LangevinLeapfrog", "LangevinMiddle",
           "LangevinState", "kinetic_energy"]

ForceFn = Callable[[jax.Array], jax.Array]
"""force_fn(x) -> F, both of shape (R, *event); kJ/mol/nm."""


class LangevinState(NamedTuple):
    """State of R replicas.

    Attributes:
      positions: (R, *event), nm.
      velocities: (R, *event), nm/ps.
      forces: forces at ``positions``, (R, *event), kJ/mol/nm.
    """

    positions: Float[Array, " R *event"]
    velocities: Float[Array, " R *event"]
    forces: Float[Array, " R *event"]


class LangevinInfo(NamedTuple):
    """What one step reports.

    Attributes:
      is_divergent: per replica, (R,): the new positions are not finite or some
        coordinate exceeds the integrator's ``position_limit`` (nm).
    """

    is_divergent: Bool[Array, " R"]


class Kernel(NamedTuple):
    """``init(positions, *, key) -> state`` and ``step(key, state) -> (state, info)``."""

    init: Callable
    step: Callable


def _broadcast_masses(masses, positions):
    """Masses of shape event[:-1] as (1, *event[:-1], 1), to multiply (R, *event) arrays (scalars stay)."""
    m = jnp.asarray(masses, positions.dtype)
    return m.reshape((1, *m.shape, 1)) if m.ndim else m


def kinetic_energy(velocities: Float[Array, " R *event"], masses) -> Float[Array, " R"]:
    """Kinetic energy per replica, 1/2 sum m v^2 (kJ/mol); velocities (R, *event) -> (R,)."""
    m = _broadcast_masses(masses, velocities)
    return 0.5 * jnp.sum((m * velocities**2).reshape(velocities.shape[0], -1), axis=-1)


def _diverged(x: jax.Array, position_limit: float, particles: tuple[bool, ...] | None = None) -> jax.Array:
    """(R,) bool: non-finite positions, or a coordinate beyond ``position_limit`` from the origin
    (points, (R, d)) or from the replica's centre of geometry (molecules, (R, n, 3): a freely
    diffusing centre of mass is not a divergence). ``particles`` (n,): the beads of a molecule that
    count for the distance (e.g. not a glycine's empty CB slot); non-finite values count anywhere."""
    finite = jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=-1)
    if x.ndim >= 3:
        if particles is not None:
            x = x[..., np.asarray(particles, bool), :]
        x = x - jnp.mean(x, axis=-2, keepdims=True)
    flat = x.reshape(x.shape[0], -1)
    return ~finite | (jnp.max(jnp.abs(flat), axis=-1) > position_limit)


@dataclasses.dataclass(frozen=True)
class AbstractLangevin(abc.ABC):
    """Langevin dynamics at temperature k_BT with collision rate ``friction``.

    Attributes:
      kbt: thermal energy k_BT (kJ/mol), > 0.
      friction: collision rate gamma (1/ps), >= 0; 0 gives velocity-Verlet-like NVE dynamics.
      dt: time step (ps), > 0.
      position_limit: distance (nm) beyond which a replica counts as diverged (``info.is_divergent``):
        of any coordinate from the origin for points (R, d), from the replica's centre of geometry
        for molecules (R, n, 3); non-finite positions always count.
      particles: (n,) bools, the beads of a molecule that are particles and count for
        ``position_limit`` (default all); slots that are not particles (a glycine's empty CB slot of
        the transferable dipeptide model, which has no force tying it to the molecule) do not.
    """

    kbt: float
    friction: float
    dt: float
    position_limit: float = math.inf
    particles: tuple[bool, ...] | None = None
    name: ClassVar[str]

    def __post_init__(self):
        name = type(self).__name__
        object.__setattr__(self, "kbt", positive_float(self.kbt, f"{name}.kbt", "kJ/mol"))
        object.__setattr__(self, "dt", positive_float(self.dt, f"{name}.dt", "ps"))
        object.__setattr__(self, "friction", non_negative_float(self.friction, f"{name}.friction", "1/ps"))
        if not (self.position_limit > 0):  # may be inf
            raise ValueError(f"{name}.position_limit must be > 0 (nm), got {self.position_limit}")
        if self.particles is not None:
            particles = tuple(bool(b) for b in np.asarray(self.particles).reshape(-1))
            if not any(particles):
                raise ValueError(f"{name}.particles must mark at least one bead as a particle, got {self.particles}")
            object.__setattr__(self, "particles", particles)

    @abc.abstractmethod
    def _update(self, x, v, f, m, noise):
        """One step from (x, v, F(x)) with masses m and unit normal noise; returns (x', v')."""

    def kernel(self, force_fn: ForceFn, masses) -> Kernel:
        """The pure (init, step) pair for ``force_fn`` (kJ/mol/nm) and ``masses`` (amu, shape event[:-1])."""
        kbt, limit, particles = self.kbt, self.position_limit, self.particles

        def init(positions, *, key) -> LangevinState:
            """Velocities from the Maxwell-Boltzmann distribution at k_BT; forces at ``positions``."""
            if particles is not None and (positions.ndim < 3 or positions.shape[-2] != len(particles)):
                raise ValueError(f"{type(self).__name__}.particles marks {len(particles)} beads, but the positions "
                                 f"have shape {positions.shape} (R, n_beads, 3)")
            m = _broadcast_masses(masses, positions)
            v = jax.random.normal(key, positions.shape, positions.dtype) * jnp.sqrt(kbt / m)
            return LangevinState(positions, v, force_fn(positions))

        def step(key: Key[Array, ""], state: LangevinState) -> tuple[LangevinState, LangevinInfo]:
            x, v, f = state
            m = _broadcast_masses(masses, x)
            noise = jax.random.normal(key, x.shape, x.dtype)
            x, v = self._update(x, v, f, m, noise)
            return LangevinState(x, v, force_fn(x)), LangevinInfo(_diverged(x, limit, particles))

        return Kernel(init, step)

    @property
    def _coefficients(self):
        gamma, dt = self.friction, self.dt
        a = math.exp(-gamma * dt)
        # (1 - a)/gamma -> dt as gamma -> 0; -expm1 keeps it accurate for small gamma*dt.
        drift = -math.expm1(-gamma * dt) / gamma if gamma > 0 else dt
        noise_var = -math.expm1(-2.0 * gamma * dt) * self.kbt  # kT (1 - a^2)
        return a, drift, noise_var


@final
@dataclasses.dataclass(frozen=True)
class LangevinMiddle(AbstractLangevin):
    """OpenMM's ``LangevinMiddleIntegrator`` (BAOAB-type; the default)."""

    name: ClassVar[str] = "middle"

    def _update(self, x, v, f, m, noise):
        a, _, noise_var = self._coefficients
        dt = self.dt
        v = v + dt * f / m
        x = x + 0.5 * dt * v
        v = a * v + jnp.sqrt(noise_var / m) * noise
        x = x + 0.5 * dt * v
        return x, v


@final
@dataclasses.dataclass(frozen=True)
class LangevinLeapfrog(AbstractLangevin):
    """OpenMM's ``LangevinIntegrator`` (leapfrog; the scheme the paper used)."""

    name: ClassVar[str] = "leapfrog"

    def _update(self, x, v, f, m, noise):
        a, drift, noise_var = self._coefficients
        v = a * v + drift * f / m + jnp.sqrt(noise_var / m) * noise
        x = x + self.dt * v
        return x, v


INTEGRATORS: dict[str, type[AbstractLangevin]] = {c.name: c for c in (LangevinMiddle, LangevinLeapfrog)}
"""The integrators by their configuration name."""
