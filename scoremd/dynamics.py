"""Langevin dynamics in physical units (DESIGN §4).

Two integrators of OpenMM, written as pure (init, step) pairs over a batch of
independent replicas:

* ``"middle"``: OpenMM's ``LangevinMiddleIntegrator`` (Zhang et al. 2019,
  J. Phys. Chem. A 123, 6056), a BAOAB-type splitting with the thermostat in
  the middle of the position update:
  v += dt F/m;  x += dt/2 v;  v = a v + sqrt(kT (1 - a^2)/m) xi;  x += dt/2 v.
* ``"leapfrog"``: OpenMM's ``LangevinIntegrator`` (the scheme the paper used):
  v = a v + (1 - a)/gamma F/m + sqrt(kT (1 - a^2)/m) xi;  x += dt v.

with a = exp(-gamma dt). Both cost one force evaluation per step; the force at
the current positions is carried in the state.

Units: positions nm, velocities nm/ps, time ps, forces kJ/mol/nm, masses amu,
friction 1/ps, k_BT kJ/mol (toy systems: the same formulas in their own units).
Positions have shape (R, *event) for R replicas; masses have the shape of one
particle index, ``event[:-1]`` (a scalar for a point in the plane, (n_atoms,)
for a molecule of shape (n_atoms, 3)).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ._cache import CompileCache
from ._errors import SimulationDivergedError
from .io import NpyFrameWriter
from .parallel import batch_sharding

ForceFn = Callable[[jax.Array], jax.Array]
"""force_fn(x) -> F, both of shape (R, *event); kJ/mol/nm."""

INTEGRATORS = ("middle", "leapfrog")


@dataclasses.dataclass(frozen=True)
class LangevinConfig:
    """Integrator settings.

    Attributes:
      kbt: thermal energy k_BT (kJ/mol).
      friction: collision rate gamma (1/ps); 0 gives velocity-Verlet-like NVE dynamics.
      dt: time step (ps).
      integrator: ``"middle"`` (default) or ``"leapfrog"``.
    """

    kbt: float
    friction: float
    dt: float
    integrator: str = "middle"

    def __post_init__(self):
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"unknown integrator {self.integrator!r}; choose one of {INTEGRATORS}")
        if self.kbt <= 0 or self.dt <= 0 or self.friction < 0:
            raise ValueError(f"need kbt > 0, dt > 0, friction >= 0; got {self.kbt}, {self.dt}, {self.friction}")


class LangevinState(NamedTuple):
    """State of R replicas: positions and velocities (R, *event), forces at the positions, PRNG key."""

    positions: jax.Array
    velocities: jax.Array
    forces: jax.Array
    key: jax.Array


def _broadcast_masses(masses, positions):
    m = jnp.asarray(masses, positions.dtype)
    return m[..., None] if m.ndim else m


def langevin(force_fn: ForceFn, masses, config: LangevinConfig):
    """Build ``init(positions, key=...) -> state`` and ``step(state) -> state``.

    Args:
      force_fn: batched force F(x) (kJ/mol/nm), x of shape (R, *event).
      masses: particle masses (amu), shape ``event[:-1]`` (scalar for point particles).
      config: integrator settings.

    Returns:
      (init_fn, step_fn); both pure and jittable. ``init`` draws velocities from
      the Maxwell-Boltzmann distribution at k_BT.
    """
    gamma, dt, kbt = config.friction, config.dt, config.kbt
    a = math.exp(-gamma * dt)
    # (1 - a)/gamma -> dt as gamma -> 0; -expm1 keeps it accurate for small gamma*dt.
    drift_coeff = -math.expm1(-gamma * dt) / gamma if gamma > 0 else dt
    noise_var = -math.expm1(-2.0 * gamma * dt) * kbt  # kT (1 - a^2)

    def init(positions, *, key) -> LangevinState:
        m = _broadcast_masses(masses, positions)
        key, sub = jax.random.split(key)
        v = jax.random.normal(sub, positions.shape, positions.dtype) * jnp.sqrt(kbt / m)
        return LangevinState(positions, v, force_fn(positions), key)

    def step_middle(state: LangevinState) -> LangevinState:
        x, v, f, key = state
        m = _broadcast_masses(masses, x)
        key, sub = jax.random.split(key)
        v = v + dt * f / m
        x = x + 0.5 * dt * v
        v = a * v + jnp.sqrt(noise_var / m) * jax.random.normal(sub, x.shape, x.dtype)
        x = x + 0.5 * dt * v
        return LangevinState(x, v, force_fn(x), key)

    def step_leapfrog(state: LangevinState) -> LangevinState:
        x, v, f, key = state
        m = _broadcast_masses(masses, x)
        key, sub = jax.random.split(key)
        v = a * v + drift_coeff * f / m + jnp.sqrt(noise_var / m) * jax.random.normal(sub, x.shape, x.dtype)
        x = x + dt * v
        return LangevinState(x, v, force_fn(x), key)

    return init, (step_middle if config.integrator == "middle" else step_leapfrog)


def kinetic_energy(velocities, masses):
    """Kinetic energy per replica, 1/2 sum m v^2 (kJ/mol); velocities (R, *event) -> (R,)."""
    m = _broadcast_masses(masses, velocities)
    return 0.5 * jnp.sum((m * velocities**2).reshape(velocities.shape[0], -1), axis=-1)


def _make_chunk(step_fn, steps_per_frame: int, frames_per_chunk: int, position_limit: float, unroll: int):
    """Jitted: run frames_per_chunk frames, return (state, frames, first_bad_step per replica)."""

    def check(x, step, first_bad):
        flat = x.reshape(x.shape[0], -1)
        bad = ~jnp.all(jnp.isfinite(flat), axis=-1) | (jnp.max(jnp.abs(flat), axis=-1) > position_limit)
        return jnp.where((first_bad < 0) & bad, step, first_bad)

    def frame(carry, _):
        state, step, first_bad = carry

        def body(_, c):
            s, n, fb = c
            s = step_fn(s)
            return s, n + 1, check(s.positions, n + 1, fb)

        state, step, first_bad = jax.lax.fori_loop(
            0, steps_per_frame, body, (state, step, first_bad), unroll=max(1, min(unroll, steps_per_frame))
        )
        return (state, step, first_bad), state.positions

    def chunk(state, step):
        first_bad = jnp.full(state.positions.shape[:1], -1, jnp.int32)
        (state, step, first_bad), frames = jax.lax.scan(
            frame, (state, step, first_bad), None, length=frames_per_chunk
        )
        return state, step, frames, first_bad

    return jax.jit(chunk, donate_argnums=0)


_COMPILED = CompileCache(maxsize=8)


def _compiled(force_fn, masses, config, *chunk_args):
    """(jitted init, jitted chunk) for these settings, kept across calls so a second
    :func:`simulate` with the same force function does not compile again."""
    m = np.asarray(masses, np.float64)

    def build():
        init, step_fn = langevin(force_fn, masses, config)
        return jax.jit(init), _make_chunk(step_fn, *chunk_args)

    return _COMPILED.get((force_fn, m.shape, m.tobytes(), config, chunk_args), build)


def simulate(
    force_fn: ForceFn,
    positions: jax.Array,
    masses,
    config: LangevinConfig,
    n_frames: int,
    steps_per_frame: int,
    *,
    key: jax.Array,
    out: str | Path | None = None,
    frames_per_chunk: int = 100,
    position_limit: float = 1e3,
    progress: bool = False,
    unroll: int = 4,
    devices=None,
) -> np.ndarray:
    """Run R replicas of Langevin dynamics and record ``n_frames`` frames.

    Frames are recorded after every ``steps_per_frame`` steps (the starting
    positions are not recorded). With ``out``, frames are streamed to a
    ``.npy`` file of shape (frames_so_far, R, *event) as the run goes.

    Args:
      force_fn: batched force (kJ/mol/nm).
      positions: starting positions (nm), shape (R, *event).
      masses: particle masses (amu), shape ``event[:-1]``.
      config: integrator settings.
      n_frames: frames to record.
      steps_per_frame: integration steps between frames.
      key: PRNG key (velocities and noise).
      out: optional ``.npy`` path to stream frames to.
      frames_per_chunk: frames computed per compiled call (bounded memory).
      position_limit: |x| (nm) above which a replica counts as diverged.
      progress: show a progress bar.
      unroll: integration steps per loop iteration of the compiled chunk (fewer loop
        round trips; the trajectory is the same for every value).
      devices: devices to split the replicas over (default ``jax.devices()``; one
        device, or a count that does not divide R, runs unsplit; DESIGN D11). The
        trajectory does not depend on the split.

    The compiled integrator is cached per (force function, masses, config, frame
    settings), so repeated calls with the same force function compile once.

    Returns:
      Frames of shape (n_frames, R, *event), numpy.

    Raises:
      SimulationDivergedError: a replica produced non-finite positions or left
        ``position_limit``; the error names the replica and step. All frames
        before the divergence are kept (and are already in ``out``).
    """
    positions = jnp.asarray(positions)
    if positions.ndim < 2:
        raise ValueError(f"positions must have shape (replicas, *event), got {positions.shape}")
    if not bool(jnp.all(jnp.isfinite(positions))):
        raise ValueError("starting positions contain NaN or inf")
    if n_frames <= 0 or steps_per_frame <= 0:
        raise ValueError(f"n_frames and steps_per_frame must be positive, got {n_frames}, {steps_per_frame}")
    layout = batch_sharding(positions.shape[0], devices)
    if layout is not None:
        positions = jax.device_put(positions, layout.batch)
    per_chunk = min(frames_per_chunk, n_frames)
    # frames per call -> (init, chunk); looked up once per call, so an unhashable force
    # function (not cached across calls) still compiles at most twice here.
    built = {per_chunk: _compiled(force_fn, masses, config, steps_per_frame, per_chunk, position_limit, unroll)}
    state = built[per_chunk][0](positions, key=key)
    frames_out = np.empty((n_frames, *positions.shape), np.float32)
    writer = NpyFrameWriter(out, positions.shape) if out is not None else None
    step = jnp.zeros((), jnp.int32)
    done = 0
    try:
        with tqdm(total=n_frames, desc="simulate", unit="frame", disable=not progress, dynamic_ncols=True) as bar:
            while done < n_frames:
                take = min(per_chunk, n_frames - done)
                if take not in built:
                    built[take] = _compiled(force_fn, masses, config, steps_per_frame, take, position_limit, unroll)
                state, step, frames, first_bad = built[take][1](state, step)
                frames, first_bad = np.asarray(frames), np.asarray(first_bad)
                bad = np.flatnonzero(first_bad >= 0)
                if bad.size:
                    replica = int(bad[np.argmin(first_bad[bad])])
                    bad_step = int(first_bad[replica])
                    chunk_start = done * steps_per_frame  # steps completed before this chunk
                    good = min(take, (bad_step - chunk_start - 1) // steps_per_frame)
                    _store(frames[:good], frames_out, done, writer)
                    done += good
                    where = f"; the {done} frames before it are in {out}" if out is not None else ""
                    raise SimulationDivergedError(
                        f"replica {replica} diverged at step {bad_step} (t = {bad_step * config.dt:g} ps): "
                        f"positions became non-finite or exceeded |x| > {position_limit:g}{where}. "
                        "Lower the time step (--dt), check the model, or start from training frames.",
                        replica=replica,
                        step=bad_step,
                        frames_written=done,
                    )
                _store(frames[:take], frames_out, done, writer)
                done += take
                bar.update(take)
    finally:
        if writer is not None:
            writer.close()
    return frames_out


def _store(frames, frames_out, start, writer):
    frames_out[start : start + frames.shape[0]] = frames
    if writer is not None and frames.shape[0]:
        writer.append(frames)
