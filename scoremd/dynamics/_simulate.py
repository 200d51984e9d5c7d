"""The MD driver: many replicas of a Langevin kernel, frames streamed to disk.

:func:`simulate` runs an integrator (:mod:`scoremd.dynamics`) for R independent
replicas, records a frame every ``steps_per_frame`` steps inside one compiled
``lax.scan`` per chunk of frames, and streams the frames to a ``.npy`` file as
the run goes. Divergence is reported by the kernel's ``info.is_divergent``;
the driver raises at the boundary (``throw=True``, docs/design.md D8) or returns
the first divergent step of every replica (``throw=False``). With a ``checkpoint`` file the
run is resumable: its state is saved as it goes, and a later call with the same settings
continues from the last save, giving the same frames as an uninterrupted run.

Units: positions nm, time ps, forces kJ/mol/nm, masses amu.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._cache import CompileCache
from .._checks import positive_int
from .._errors import ResumeError, SimulationDivergedError
from .._progress import Progress, progress_bar
from ..parallel import batch_sharding
from ..storage import NpyFrameWriter, atomic_savez, check_allocation, read_frames
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
    checkpoint: str | Path | None = None,
    checkpoint_seconds: float = 60.0,
    checkpoint_tag: str = "",
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
      checkpoint: optional ``.npz`` path (needs ``out``) where the integrator state, PRNG key
        and frame count are saved at most every ``checkpoint_seconds`` (s of wall time; after a compiled
        chunk). If it exists when the call starts, the run resumes from it: ``out`` keeps its
        first saved frames and the rest are computed, the same frames as without the
        interruption. It is removed when the run completes. The caller guarantees the same
        force function; settings that differ (replicas, frames, integrator, and
        ``checkpoint_tag``, e.g. the model and seed) are refused.

    The compiled integrator is cached per (integrator, force function, masses, frame
    settings), so repeated calls with the same force function compile once; a force
    function that reads a global changed between calls keeps the value it was compiled with
    (pass a new function object instead).

    Raises:
      SimulationDivergedError: with ``throw``, a replica produced non-finite positions or
        left ``integrator.position_limit``; the error names the replica and step. All
        frames before the divergence are kept (and are already in ``out``).
      ValueError: bad shapes, non-finite starting positions, non-positive counts, a
        ``checkpoint`` without ``out``.
      ResumeError: a ``checkpoint`` saved with other settings, or damaged (nothing is changed).
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
    step = jnp.zeros((), jnp.int32)
    first_bad = jnp.full(positions.shape[:1], -1, jnp.int32)
    done = 0
    signature = None
    if checkpoint is not None:
        if out is None:
            raise ValueError("a checkpoint needs out: the frames before it are read back from there")
        checkpoint = Path(checkpoint)
        signature = json.dumps({"positions": list(positions.shape), "n_frames": n_frames,
                                "steps_per_frame": steps_per_frame, "integrator": repr(integrator),
                                "tag": checkpoint_tag})
        if checkpoint.exists():
            state, key, step, first_bad, done = _resume(checkpoint, signature, state, key)
            frames_out[:done] = read_frames(out, done)
    writer = None
    if out is not None:
        writer = NpyFrameWriter(out, positions.shape, resume_at=done if done else None)
    saved = time.monotonic()
    bar = progress_bar(progress, n_frames, "simulate", initial=done, unit="frame")
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
            if checkpoint is not None and done < n_frames and time.monotonic() - saved >= checkpoint_seconds:
                _save(checkpoint, signature, state, key, step, first_bad, done)
                saved = time.monotonic()
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return Trajectory(frames_out, np.asarray(first_bad))


def _save(path: Path, signature: str, state, key, step, first_bad, done: int) -> None:
    """The integrator state, key, step count, divergence record and frame count, atomically."""
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    arrays = {f"state_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree_util.tree_leaves(state))}
    arrays.update(key=np.asarray(jax.random.key_data(key) if typed else key), typed_key=np.asarray(typed),
                  step=np.asarray(step), first_bad=np.asarray(first_bad), done=np.asarray(done),
                  signature=np.asarray(signature))
    atomic_savez(path, **arrays)


def _differences(saved: str, now: str) -> str:
    """'name: saved -> now' for every setting that differs between two signatures."""
    def fields(text):
        try:
            d = json.loads(text)
            tag = json.loads(d.pop("tag", "") or "{}")
            return {**d, **(tag if isinstance(tag, dict) else {"tag": tag})}
        except (ValueError, AttributeError, TypeError):
            return {"settings": text}

    a, b = fields(saved), fields(now)
    return "; ".join(f"{k}: {a.get(k)} -> {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


def _resume(path: Path, signature: str, template, key):
    """(state, key, step, first_bad, frames done) from a :func:`_save` file, its state laid out
    like ``template`` (same tree, shapes and placement)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise ResumeError(f"{path}: not a readable MD checkpoint ({err}); delete it to start the run over") from None
    if str(data.get("signature")) != signature:
        changed = _differences(str(data.get("signature")), signature)
        raise ResumeError(f"{path} was saved by a run with other settings ({changed}); "
                          "use the same settings to resume, or delete it to start over")
    leaves, tree = jax.tree_util.tree_flatten(template)
    loaded = [data.get(f"state_{i}") for i in range(len(leaves))]
    if any(x is None or x.shape != leaf.shape for x, leaf in zip(loaded, leaves)):
        raise ResumeError(f"{path}: its integrator state does not match this integrator; delete it to start over")
    state = tree.unflatten([jax.device_put(x.astype(leaf.dtype), leaf.sharding) for x, leaf in zip(loaded, leaves)])
    saved_key = jnp.asarray(data["key"], jnp.uint32)
    key = jax.random.wrap_key_data(saved_key) if bool(data["typed_key"]) else saved_key
    return state, key, jnp.asarray(data["step"]), jnp.asarray(data["first_bad"]), int(data["done"])


def _store(frames, frames_out, start, writer):
    frames_out[start : start + frames.shape[0]] = frames
    if writer is not None and frames.shape[0]:
        writer.append(frames)
