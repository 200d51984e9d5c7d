"""Training: optimiser, train state, one jitted step, and the fit loop.

The state is a pytree (:class:`TrainState`) holding everything needed for an
exact resume: parameters, optimiser state, parameter EMA, step, PRNG key and
non-finite counters. Mini-batches are drawn from the state's key, so the data
order is part of the state too. A step whose loss or gradient is not finite
leaves parameters, optimiser state and EMA untouched and is counted
(cf. ``optax.apply_if_finite``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ._errors import TrainingDivergedError
from .checkpoints import Checkpoints
from .models import Params
from . import parallel


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (DESIGN §3).

    Attributes:
      steps: number of optimiser steps (of every expert of a mixture, unless ``expert_step_ratios``).
      expert_step_ratios: steps of each expert of a mixture as multiples of ``steps``, smallest
        diffusion times first (one entry per expert; expert k trains round(ratio_k * steps)
        steps); empty: ``steps`` for every expert. Experts differ in cost and in what they
        need: the small-t expert carries the Fokker-Planck term (about 3x the cost of a
        denoising step), the large-t expert learns a nearly Gaussian density. Relative, so that
        ``train.steps`` still scales the whole run.
      batch_size: samples per step.
      learning_rate: peak learning rate of the cosine schedule.
      final_learning_rate: learning rate at the last step.
      warmup_steps: linear warm-up steps before the cosine decay (at most a tenth of ``steps``).
      weight_decay: AdamW decoupled weight decay.
      grad_clip: global-norm gradient clipping threshold.
      ema_decay: decay of the parameter exponential moving average used for evaluation.
      seed: seed of initialisation, data order and noise.
      log_every: steps between metric lines (JSON lines) and progress-bar updates.
      checkpoint_every: steps between checkpoints (one is always written at the end).
      max_consecutive_nonfinite: stop after this many skipped steps in a row.
    """

    steps: int = 20_000
    expert_step_ratios: tuple[float, ...] = ()
    batch_size: int = 1024
    learning_rate: float = 3e-4
    final_learning_rate: float = 1e-5
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 5_000
    max_consecutive_nonfinite: int = 20

    def expert_steps(self, n_experts: int) -> tuple[int, ...]:
        """Steps of each of ``n_experts`` experts, smallest diffusion times first."""
        if not self.expert_step_ratios:
            return (self.steps,) * n_experts
        if len(self.expert_step_ratios) != n_experts:
            raise ValueError(f"train.expert_step_ratios has {len(self.expert_step_ratios)} entries but the model "
                             f"has {n_experts} experts; give one per expert, smallest diffusion times first")
        return tuple(max(1, round(r * self.steps)) for r in self.expert_step_ratios)

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "max_consecutive_nonfinite"):
            if getattr(self, name) <= 0:
                raise ValueError(f"train.{name} must be positive, got {getattr(self, name)}")
        if any(not r > 0 for r in self.expert_step_ratios):
            raise ValueError(f"train.expert_step_ratios must all be positive, got {list(self.expert_step_ratios)}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"train.ema_decay must lie in [0, 1), got {self.ema_decay}")
        if self.warmup_steps < 0:
            raise ValueError(f"train.warmup_steps must be >= 0, got {self.warmup_steps}")


class TrainState(NamedTuple):
    """Complete training state (a pytree)."""

    step: jax.Array  # int32 scalar
    params: Params
    opt_state: Any
    ema_params: Params
    key: jax.Array  # raw uint32 PRNG key
    n_nonfinite: jax.Array  # total skipped steps
    n_consecutive_nonfinite: jax.Array  # skipped steps in a row


class StepInfo(NamedTuple):
    loss: jax.Array
    grad_norm: jax.Array
    finite: jax.Array


def learning_rate_schedule(config: TrainConfig) -> optax.Schedule:
    """Linear warm-up followed by cosine decay to ``final_learning_rate``."""
    warmup = min(config.warmup_steps, config.steps // 10)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else config.learning_rate,
        peak_value=config.learning_rate,
        warmup_steps=warmup,
        decay_steps=config.steps,
        end_value=config.final_learning_rate,
    )


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """AdamW with global-norm clipping and the warm-up/cosine schedule."""
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.adamw(learning_rate_schedule(config), weight_decay=config.weight_decay),
    )


def init_train_state(params: Params, optimizer: optax.GradientTransformation, *, key: jax.Array) -> TrainState:
    """Fresh state at step 0; the EMA starts at the initial parameters."""
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=optimizer.init(params),
        ema_params=params,
        key=key,
        n_nonfinite=jnp.zeros((), jnp.int32),  # strongly typed, as the step returns them: no second compile
        n_consecutive_nonfinite=jnp.zeros((), jnp.int32),
    )
    # Distinct buffers for every leaf, so the jitted step may donate the whole state.
    return jax.tree.map(lambda a: jnp.array(a, copy=True), state)


LossFn = Callable[[Params, jax.Array, jax.Array], jax.Array]
"""loss_fn(params, key, x0_batch) -> scalar loss."""


def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation, config: TrainConfig,
                    batch_sharding: jax.sharding.Sharding | None = None):
    """Build the pure step ``step(state, data) -> (state, StepInfo)``.

    Args:
      loss_fn: ``loss_fn(params, key, x0)`` with x0 of shape (batch, *event).
      optimizer: the optax transformation.
      config: batch size and EMA decay are read from it.
      batch_sharding: if given, the drawn batch is laid out with it (data
        parallelism, DESIGN D11); the random numbers and hence the loss are the
        same as unsharded up to the order of floating-point sums.

    The returned function is not jitted; wrap it with ``jax.jit``.
    ``data`` has shape (N, *event) and stays on the device between calls.
    """

    def step(state: TrainState, data: jax.Array):
        key, key_batch, key_loss = jax.random.split(state.key, 3)
        idx = jax.random.randint(key_batch, (config.batch_size,), 0, data.shape[0])
        x0 = data[idx]
        if batch_sharding is not None:
            x0 = jax.lax.with_sharding_constraint(x0, batch_sharding)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, key_loss, x0)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        # Warm-started EMA: short runs are not dominated by the initial parameters.
        n = state.step.astype(jnp.float32)
        decay = jnp.minimum(config.ema_decay, (1.0 + n) / (10.0 + n))
        ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, params)

        def keep_if_finite(new, old):
            return jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)

        new_state = TrainState(
            step=state.step + 1,
            params=keep_if_finite(params, state.params),
            opt_state=keep_if_finite(opt_state, state.opt_state),
            ema_params=keep_if_finite(ema, state.ema_params),
            key=key,
            n_nonfinite=state.n_nonfinite + (~finite).astype(jnp.int32),
            n_consecutive_nonfinite=jnp.where(finite, 0, state.n_consecutive_nonfinite + 1),
        )
        return new_state, StepInfo(loss, grad_norm, finite)

    return step


def state_to_tree(state: TrainState) -> dict:
    """Checkpointable dict form of a :class:`TrainState`."""
    return state._asdict()


def tree_to_state(tree: dict) -> TrainState:
    return TrainState(**tree)


def fit(
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    state: TrainState,
    data: jax.Array,
    config: TrainConfig,
    *,
    run_dir: str | Path | None = None,
    progress: bool = True,
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
      data: training samples in normalised units, shape (N, *event).
      config: training settings.
      run_dir: if given, metrics are appended to ``run_dir/metrics.jsonl`` and
        checkpoints written to ``run_dir/checkpoints``.
      progress: show a tqdm progress bar (step, loss, it/s).
      checkpoint_dir: where checkpoints go (default ``run_dir/checkpoints``).
      metrics_tags: extra fields added to every metrics line (e.g. the expert).
      until: stop after this step (default ``config.steps``) with a checkpoint,
        e.g. to train in time slices; the schedule still spans ``config.steps``.
      devices: devices to train on, data-parallel: each batch is split over them,
        parameters and data are replicated (DESIGN D11). One device, or a count that
        does not divide the batch size, trains unsplit. Default: every accelerator
        (GPU/TPU); on a CPU one device, because XLA's all-reduce between forced host
        devices (``--xla_force_host_platform_device_count``) can deadlock when the
        cores are few (seen on 2 cores with the Mueller-Brown preset); pass
        ``jax.devices()`` to use them anyway.

    Returns:
      The final state.

    Raises:
      TrainingDivergedError: after ``max_consecutive_nonfinite`` skipped steps in a
        row; the newest checkpoint on disk is the last good one.
    """
    if devices is None:
        devices = jax.devices() if jax.default_backend() != "cpu" else jax.devices()[:1]
    layout = parallel.batch_sharding(config.batch_size, devices)
    step_fn = jax.jit(make_train_step(loss_fn, optimizer, config, layout and layout.batch), donate_argnums=0)
    data = jnp.asarray(data)
    if layout is not None:
        data, state = jax.device_put((data, state), layout.replicated)
    ckpt = metrics_file = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt = Checkpoints(checkpoint_dir or run_dir / "checkpoints")
        metrics_file = open(run_dir / "metrics.jsonl", "a")
    schedule = learning_rate_schedule(config)
    start = int(state.step)
    stop = config.steps if until is None else min(until, config.steps)
    bar = tqdm(total=config.steps, initial=start, desc=description, disable=not progress, dynamic_ncols=True)
    last_time, last_step = time.perf_counter(), start
    try:
        for step in range(start, stop):
            state, info = step_fn(state, data)
            done = step + 1
            if done % config.log_every == 0 or done == stop:
                info, n_bad, n_consec = jax.device_get((info, state.n_nonfinite, state.n_consecutive_nonfinite))
                now = time.perf_counter()
                rate = (done - last_step) / max(now - last_time, 1e-9)
                last_time, last_step = now, done
                record = {
                    **(metrics_tags or {}),
                    "step": done,
                    "loss": float(info.loss),
                    "grad_norm": float(info.grad_norm),
                    "learning_rate": float(schedule(step)),
                    "n_nonfinite": int(n_bad),
                    "steps_per_s": rate,
                }
                if metrics_file is not None:
                    metrics_file.write(json.dumps(record) + "\n")
                    metrics_file.flush()
                bar.set_postfix(loss=f"{record['loss']:.4f}", skipped=int(n_bad))
                bar.update(done - bar.n)
                if n_consec >= config.max_consecutive_nonfinite:
                    where = f"; the last good checkpoint is in {ckpt.directory}" if ckpt else ""
                    raise TrainingDivergedError(
                        f"training stopped at step {done}: {int(n_consec)} consecutive steps had a non-finite "
                        f"loss or gradient ({int(n_bad)} in total){where}. Check the data for NaN/inf, or "
                        "lower train.learning_rate / train.grad_clip."
                    )
            if ckpt is not None and (done % config.checkpoint_every == 0 or done == stop):
                ckpt.save(done, state_to_tree(state))
        bar.update(stop - bar.n)
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if ckpt is not None:
            ckpt.close()
    return state


def np_tree(tree):
    """Copy a pytree of device arrays to host numpy arrays."""
    return jax.tree.map(np.asarray, jax.device_get(tree))
