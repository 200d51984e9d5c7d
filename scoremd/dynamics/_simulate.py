"""The MD driver: many replicas of a Langevin kernel, frames streamed to disk.

:func:`simulate` runs an integrator (:mod:`scoremd.dynamics`) for R independent
replicas, records a frame every ``steps_per_frame`` steps inside one compiled
``lax.scan`` per chunk of frames, and streams the frames to a ``.npy`` file as
the run goes. Divergence is reported by the kernel's ``info.is_divergent``;
the driver raises at the boundary (``throw=True``, docs/design.md D8) or returns
the first divergent step of every replica (``throw=False``).

Units: positions nm, time ps, forces kJ/mol/nm, masses amu.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._cache import CompileCache
from .._checks import positive_int
from .._errors import SimulationDivergedError
from .._progress import Progress, progress_bar
from ..parallel import batch_sharding
from ..storage import NpyFrameWriter, check_allocation
from ._integrators import AbstractLangevin, ForceFn

__all__ = ["Trajectory", "simulate"]


class Trajectory(NamedTuple):
    """The result of :func:`simulate`.

    Attributes:
      frames: (n_frames, R, *event), nm, numpy float32 (with ``throw=True`` a divergence
        raises instead, and the frames before it are in ``out``).
      divergent_step: (R,) int: the first integration step (counted from 1) at which each
        replica diverged, -1 where it did not. Frames of a replica after its divergent step
        are not physical.
    """

    frames: np.ndarray
    divergent_step: np.ndarray

    @property
    def diverged(self) -> np.ndarray:
        """(R,) bool: which replicas diverged."""
        return self.divergent_step >= 0


def _make_chunk(kernel, steps_per_frame: int, frames_per_chunk: int, unroll: int):
    """Jitted: run frames_per_chunk frames; return (state, key, step, frames, first divergent step per replica)."""

    def frame(carry, _):
        def body(_, c):
            s, key, n, first_bad = c
            key, sub = jax.random.split(key)
            s, info = kernel.step(sub, s)
            first_bad = jnp.where((first_bad < 0) & info.is_divergent, n + 1, first_bad)
            return s, key, n + 1, first_bad

        carry = jax.lax.fori_loop(0, steps_per_frame, body, carry, unroll=max(1, min(unroll, steps_per_frame)))
        return carry, carry[0].positions

    def chunk(state, key, step, first_bad):
        (state, key, step, first_bad), frames = jax.lax.scan(
            frame, (state, key, step, first_bad), None, length=frames_per_chunk
        )
        return state, key, step, frames, first_bad

    return jax.jit(chunk, donate_argnums=0)


_COMPILED = CompileCache(maxsize=8)


def _compiled(integrator: AbstractLangevin, force_fn, masses, *chunk_args):
    """(jitted init, jitted chunk) for these settings, kept across calls so a second
    :func:`simulate` with the same force function does not compile again."""
    m = np.asarray(masses, np.float64)

    def build():
        kernel = integrator.kernel(force_fn, masses)
        return jax.jit(kernel.init), _make_chunk(kernel, *chunk_args)

    return _COMPILED.get((integrator, force_fn, m.shape, m.tobytes(), chunk_args), build)


def simulate(
    integrator: AbstractLangevin,
    force_fn: ForceFn,
    positions: Float[Array, " R *event"],
    masses,
    n_frames: int,
    steps_per_frame: int,
    *,
    key: jax.Array,
    out: str | Path | None = None,
    frames_per_chunk: int = 100,
    throw: bool = True,
    progress: Progress = False,
    unroll: int = 4,
    devices=None,
) -> Trajectory:
    """Run R replicas of Langevin dynamics and record ``n_frames`` frames.

    Frames are recorded after every ``steps_per_frame`` steps (the starting
    positions are not recorded). With ``out``, frames are streamed to a
    ``.npy`` file of shape (frames_so_far, R, *event) as the run goes.

    Args:
      integrator: the Langevin integrator and its settings (k_BT, friction, dt,
        position limit), e.g. :class:`LangevinMiddle`.
      force_fn: batched force (kJ/mol/nm), x (R, *event) -> F (R, *event).
      positions: starting positions (nm), shape (R, *event).
      masses: particle masses (amu), shape ``event[:-1]``.
      n_frames: frames to record, > 0 (refused with ValueError when the frames would not fit in memory).
      steps_per_frame: integration steps between frames, > 0.
      key: PRNG key (velocities and noise); the same key gives the same trajectory.
      out: optional ``.npy`` path to stream frames to.
      frames_per_chunk: frames computed per compiled call (bounded memory).
      throw: raise :class:`~scoremd.SimulationDivergedError` at the first divergence
        (keeping the frames before it); with False, run to the end and report each
        replica's divergence in ``Trajectory.divergent_step``.
      progress: ``True`` for a progress bar, or a callable (see :mod:`scoremd._progress`).
      unroll: integration steps per loop iteration of the compiled chunk (fewer loop
        round trips; the trajectory is the same for every value).
      devices: devices to split the replicas over (default ``jax.devices()``; one
        device, or a count that does not divide R, runs unsplit; docs/design.md D11).
        The trajectory does not depend on the split.

    The compiled integrator is cached per (integrator, force function, masses, frame
    settings), so repeated calls with the same force function compile once; a force
    function that reads a global changed between calls keeps the value it was compiled with
    (pass a new function object instead).

    Raises:
      SimulationDivergedError: with ``throw``, a replica produced non-finite positions or
        left ``integrator.position_limit``; the error names the replica and step. All
        frames before the divergence are kept (and are already in ``out``).
      ValueError: bad shapes, non-finite starting positions, non-positive counts.
    """
    positions = jnp.asarray(positions)
    if positions.ndim < 2:
        raise ValueError(f"positions must have shape (replicas, *event), got {positions.shape}")
    if not bool(jnp.all(jnp.isfinite(positions))):
        raise ValueError("starting positions contain NaN or inf")
    n_frames = positive_int(n_frames, "the number of frames")
    steps_per_frame = positive_int(steps_per_frame, "steps_per_frame")
    frames_per_chunk = positive_int(frames_per_chunk, "frames_per_chunk")
    check_allocation(n_frames * positions.size * 4, f"{n_frames} frames of {positions.shape[0]} replicas")
    layout = batch_sharding(positions.shape[0], devices)
    if layout is not None:
        positions = jax.device_put(positions, layout.batch)
    per_chunk = min(frames_per_chunk, n_frames)
    # frames per call -> (init, chunk); looked up once per call, so an unhashable force
    # function (not cached across calls) still compiles at most twice here.
    built = {per_chunk: _compiled(integrator, force_fn, masses, steps_per_frame, per_chunk, unroll)}
    key, key_init = jax.random.split(key)
    state = built[per_chunk][0](positions, key=key_init)
    frames_out = np.empty((n_frames, *positions.shape), np.float32)
    writer = NpyFrameWriter(out, positions.shape) if out is not None else None
    step = jnp.zeros((), jnp.int32)
    first_bad = jnp.full(positions.shape[:1], -1, jnp.int32)
    done = 0
    bar = progress_bar(progress, n_frames, "simulate", unit="frame")
    try:
        while done < n_frames:
            take = min(per_chunk, n_frames - done)
            if take not in built:
                built[take] = _compiled(integrator, force_fn, masses, steps_per_frame, take, unroll)
            state, key, step, frames, first_bad = built[take][1](state, key, step, first_bad)
            frames, divergent = np.asarray(frames), np.asarray(first_bad)
            bad = np.flatnonzero(divergent >= 0)
            if throw and bad.size:
                replica = int(bad[np.argmin(divergent[bad])])
                bad_step = int(divergent[replica])
                chunk_start = done * steps_per_frame  # steps completed before this chunk
                good = min(take, max(0, (bad_step - chunk_start - 1) // steps_per_frame))
                _store(frames[:good], frames_out, done, writer)
                done += good
                where = f"; the {done} frames before it are in {out}" if out is not None else ""
                raise SimulationDivergedError(
                    f"replica {replica} diverged at step {bad_step} (t = {bad_step * integrator.dt:g} ps): "
                    f"positions became non-finite or exceeded |x| > {integrator.position_limit:g} nm. "
                    f"Lower the time step (--dt), check the model, or start from training frames{where}",
                    replica=replica,
                    step=bad_step,
                    frames_written=done,
                )
            _store(frames[:take], frames_out, done, writer)
            done += take
            bar.update(take)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return Trajectory(frames_out, np.asarray(first_bad))


def _store(frames, frames_out, start, writer):
    frames_out[start : start + frames.shape[0]] = frames
    if writer is not None and frames.shape[0]:
        writer.append(frames)
