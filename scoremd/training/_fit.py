"""The fit loop: run the jitted train step, log metrics, write checkpoints.

See :mod:`scoremd.training._state` for the state and the step; this module only
drives them (data parallelism, metrics lines, checkpoints, the non-finite stop).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..parallel import batch_sharding
from .._errors import TrainingDivergedError
from .._progress import Progress, progress_bar
from ._checkpoints import Checkpoints
from ._state import LossFn, TrainConfig, TrainState, learning_rate_schedule, make_train_step, state_to_tree

__all__ = ["fit", "np_tree"]


def _learning_rate(schedule, step: int) -> float:
    with jax.numpy_dtype_promotion("standard"):  # optax schedules mix Python floats and ints
        return float(schedule(step))


def fit(
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    state: TrainState,
    data: jax.Array,
    config: TrainConfig,
    *,
    run_dir: str | Path | None = None,
    progress: Progress = True,
    description: str = "train",
    until: int | None = None,
    checkpoint_dir: str | Path | None = None,
    metrics_tags: dict | None = None,
    devices: list | None = None,
) -> TrainState:
    """Run the jitted step until ``config.steps``, logging and checkpointing.

    Args:
      loss_fn: ``loss_fn(params, key, x0)``.
      optimizer: optax transformation (must match ``state.opt_state``).
      state: starting state (fresh, or restored from a checkpoint to resume).
      data: training samples in normalised units, shape (N, *event), or a pytree of arrays
        with a common leading axis N (see :func:`make_train_step`).
      config: training settings.
      run_dir: if given, metrics are appended to ``run_dir/metrics.jsonl`` and
        checkpoints written to ``run_dir/checkpoints``.
      progress: ``True`` for a progress bar (step, loss, it/s), or a callable
        (:mod:`scoremd._progress`).
      checkpoint_dir: where checkpoints go (default ``run_dir/checkpoints``).
      metrics_tags: extra fields added to every metrics line (e.g. the expert).
      until: stop after this step (default ``config.steps``) with a checkpoint,
        e.g. to train in time slices; the schedule still spans ``config.steps``.
      devices: devices to train on, data-parallel: each batch is split over them,
        parameters and data are replicated (docs/design.md D11). One device, or a count that
        does not divide the batch size, trains unsplit. Default: every accelerator
        (GPU/TPU), and every process's devices after ``jax.distributed.initialize()``
        (several hosts); on a single CPU process one device, because XLA's all-reduce between
        forced host devices (``--xla_force_host_platform_device_count``) can deadlock when the
        cores are few (seen on 2 cores with the Mueller-Brown preset); pass
        ``jax.devices()`` to use them anyway.

    With several processes (``jax.distributed``) every process runs this same call on the same
    data and state; process 0 alone writes the metrics and shows the progress bar, and the
    checkpoints are written together (orbax) into ``run_dir``, which must be the same shared
    directory for all of them.

    Returns:
      The final state.

    Raises:
      TrainingDivergedError: after ``max_consecutive_nonfinite`` skipped steps in a
        row; the newest checkpoint on disk is the last good one.
    """
    if devices is None:
        several = jax.default_backend() != "cpu" or jax.process_count() > 1
        devices = jax.devices() if several else jax.devices()[:1]
    primary = jax.process_index() == 0
    layout = batch_sharding(config.batch_size, devices)
    step_fn = jax.jit(make_train_step(loss_fn, optimizer, config, layout and layout.batch), donate_argnums=0)
    data = jax.tree.map(jnp.asarray, data)
    if layout is not None:
        data, state = jax.device_put((data, state), layout.replicated)
    ckpt = metrics_file = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt = Checkpoints(checkpoint_dir or run_dir / "checkpoints")
        metrics_file = open(run_dir / "metrics.jsonl", "a") if primary else None
    schedule = learning_rate_schedule(config)
    start = int(state.step)
    stop = config.steps if until is None else min(until, config.steps)
    bar = progress_bar(progress if primary else False, config.steps, description, initial=start)
    shown = start
    last_time, last_step = time.perf_counter(), start
    pending = None  # (step, info) of the step before: read while the next one runs, so no pipeline stall
    try:
        for step in range(start, stop):
            state, info = step_fn(state, data)
            if pending is not None:
                _stop_if_diverged(*pending, config, ckpt)
            done = step + 1
            pending = (done, info)
            if done % config.log_every == 0 or done == stop:
                info = jax.device_get(info)
                now = time.perf_counter()
                rate = (done - last_step) / max(now - last_time, 1e-9)
                last_time, last_step = now, done
                record = {
                    **(metrics_tags or {}),
                    "step": done,
                    "loss": float(info.loss),
                    "grad_norm": float(info.grad_norm),
                    "learning_rate": _learning_rate(schedule, step),
                    "n_nonfinite": int(info.n_nonfinite),
                    "steps_per_s": rate,
                }
                if metrics_file is not None:
                    metrics_file.write(json.dumps(record) + "\n")
                    metrics_file.flush()
                bar.set_postfix(loss=f"{record['loss']:.4f}", skipped=int(info.n_nonfinite))
                bar.update(done - shown)
                shown = done
            if ckpt is not None and (done % config.checkpoint_every == 0 or done == stop):
                _stop_if_diverged(*pending, config, ckpt)  # never checkpoint a stopped run
                ckpt.save(done, state_to_tree(state))
        if pending is not None:
            _stop_if_diverged(*pending, config, ckpt)
        bar.update(stop - shown)
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if ckpt is not None:
            ckpt.close()
    return state


def _stop_if_diverged(done: int, info, config: TrainConfig, ckpt) -> None:
    """Raise once ``max_consecutive_nonfinite`` steps in a row were skipped (checked every step)."""
    n_consec = int(info.n_consecutive_nonfinite)
    if n_consec >= config.max_consecutive_nonfinite:
        where = f"; the last good checkpoint is in {ckpt.directory}" if ckpt else ""
        raise TrainingDivergedError(
            f"training stopped at step {done}: {n_consec} consecutive steps had a non-finite loss or gradient "
            f"({int(info.n_nonfinite)} in total){where}. Check the data for NaN/inf, or lower "
            "train.learning_rate / train.grad_clip."
        )


def np_tree(tree):
    """Copy a pytree of device arrays to host numpy arrays."""
    return jax.tree.map(np.asarray, jax.device_get(tree))
