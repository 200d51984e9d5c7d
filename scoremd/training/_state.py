"""Training state and the pure train step (docs/design.md §3).

The state is a pytree (:class:`TrainState`) holding everything needed for an
exact resume: parameters, optimiser state, parameter EMA, step, PRNG key and
non-finite counters. Mini-batches are drawn from the state's key, so the data
order is part of the state too. A step whose loss or gradient is not finite
leaves parameters, optimiser state and EMA untouched and is counted
(cf. ``optax.apply_if_finite``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..models import Params

__all__ = ["LossFn", "StepInfo", "TrainConfig", "TrainState", "init_train_state", "learning_rate_schedule",
           "make_optimizer", "make_train_step", "state_to_tree", "tree_to_state"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (docs/design.md §3).

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
        for name in ("learning_rate", "final_learning_rate", "grad_clip"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"train.{name} must be a finite positive number, got {value}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"train.weight_decay must be a finite number >= 0, got {self.weight_decay}")


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
    """What one train step reports: loss, gradient norm, whether both were finite, and the
    skipped-step counters after it (total, and in a row)."""

    loss: jax.Array
    grad_norm: jax.Array
    finite: jax.Array
    n_nonfinite: jax.Array
    n_consecutive_nonfinite: jax.Array


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
        parallelism, docs/design.md D11); the random numbers and hence the loss are the
        same as unsharded up to the order of floating-point sums.

    The returned function is not jitted; wrap it with ``jax.jit``.
    ``data`` has shape (N, *event) and stays on the device between calls; it may also be a
    pytree of arrays with a common leading axis N (e.g. positions and the amino acids of
    each frame), whose batch then reaches ``loss_fn`` as the same pytree.
    """

    def step(state: TrainState, data):
        key, key_batch, key_loss = jax.random.split(state.key, 3)
        idx = jax.random.randint(key_batch, (config.batch_size,), 0, jax.tree.leaves(data)[0].shape[0])
        x0 = jax.tree.map(lambda a: a[idx], data)
        if batch_sharding is not None:
            x0 = jax.lax.with_sharding_constraint(x0, batch_sharding)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, key_loss, x0)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        # optax mixes Python floats with int32 step counts: standard promotion, whatever the caller set.
        with jax.numpy_dtype_promotion("standard"):
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
        return new_state, StepInfo(loss, grad_norm, finite, new_state.n_nonfinite, new_state.n_consecutive_nonfinite)

    return step


def state_to_tree(state: TrainState) -> dict:
    """Checkpointable dict form of a :class:`TrainState`."""
    return state._asdict()


def tree_to_state(tree: dict) -> TrainState:
    return TrainState(**tree)


