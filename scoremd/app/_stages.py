"""Training stages shared by the trainers of :mod:`scoremd.app.runs` and :mod:`scoremd.app.transferable`.

A model is trained in *stages*: the whole network at once, or the experts of a
mixture one after another from high to low diffusion time (earlier experts
frozen, a fresh optimiser per stage; docs/design.md §3). Every stage resumes
exactly from its newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax

from .._errors import ConfigError
from .._progress import Progress
from ..models import EnergyModel, MixtureEnergyModel, build_model
from ..training import Checkpoints, TrainConfig, TrainState, fit, init_train_state, make_optimizer, state_to_tree, tree_to_state
from .config import RunConfig
from .rundir import write_run_info

@dataclasses.dataclass(frozen=True)
class Stage:
    """One optimisation problem: a whole model, or one expert of a mixture."""

    name: str  # checkpoint sub-directory and params key of the expert ("" for a single model)
    model: EnergyModel
    index: int | None  # expert index (None for a single model)
    t_range: tuple[float, float] | None
    t_midpoint: float | None
    fokker_planck: bool
    train: TrainConfig  # the run's [train] with this stage's number of steps


def plan_stages(config: RunConfig, model) -> list[Stage]:
    """Training stages in order: a single model, or the experts from high to low t.

    Raises:
      ConfigError: ``train.expert_step_ratios`` does not give one entry per expert.
    """
    if not isinstance(model, MixtureEnergyModel):
        if config.train.expert_step_ratios:
            raise ConfigError(f"train.expert_step_ratios is {list(config.train.expert_step_ratios)} but the model "
                              "has no experts; set model.expert_boundaries or leave it empty")
        return [Stage("", model, None, None, None, True, config.train)]
    n = len(model.experts)
    try:
        per_expert = config.train.expert_steps(n)
    except ValueError as err:
        raise ConfigError(f"{err} (model.expert_boundaries = {list(config.model.expert_boundaries)})") from None
    stages = []
    for k in reversed(range(n)):
        lo, hi = model.t_ranges[k]
        midpoint = config.loss.expert_t_midpoint if k == 0 else config.loss.t_midpoint
        # FP wherever the expert's range reaches below loss.fp_t_max (the small-t expert alone
        # in the presets, whose fp_t_max is the first boundary)
        fokker_planck = k == 0 or lo < config.loss.fp_t_max
        train = dataclasses.replace(config.train, steps=per_expert[k], expert_step_ratios=())
        stages.append(Stage(f"expert_{k}", model.experts[k], k, (lo, hi), midpoint, fokker_planck, train))
    return stages


def build_run_model(config: RunConfig, event_shape, info: dict):
    key_init, key_train = jax.random.split(jax.random.PRNGKey(config.train.seed))
    stats = info.get("distance_stats")
    model, params = build_model(config.model, event_shape, config.sde, key=key_init,
                                distance_stats=(stats["mean"], stats["std"]) if stats and "mean" in stats else None,
                                closest=(stats or {}).get("closest"))
    return model, params, key_train


def fresh_state(stage: Stage, params, optimizer, key) -> TrainState:
    if stage.index is None:
        return init_train_state(params, optimizer, key=key)
    return init_train_state(params[stage.name], optimizer, key=jax.random.fold_in(key, stage.index))


def restore_stage(run_dir: Path, stage: Stage, template: TrainState, *, step: int | None = None,
                   fall_back: bool = False) -> TrainState | None:
    """The stage's checkpointed state (verified; see :class:`~scoremd.training.Checkpoints`), or
    None before its first checkpoint. ``step`` picks a checkpoint where the stage has one at it."""
    with Checkpoints(run_dir / "checkpoints" / stage.name) as ckpt:
        steps = ckpt.steps()
        if not steps:
            return None
        return tree_to_state(ckpt.restore(state_to_tree(template), step if step in steps else None,
                                          fall_back=fall_back))


def assemble(stages: list[Stage], states: dict):
    """EMA parameters of the whole model from the stages' states."""
    if stages[0].index is None:
        return states[stages[0].name].ema_params
    return {s.name: states[s.name].ema_params for s in stages}


def _phases(stage: Stage, loss_for, fp_start: float) -> list[tuple]:
    """(loss function, last step) of each phase of a stage: with ``loss.fp_start`` > 0 a stage
    that carries the FP term first trains by score matching alone; one optimiser and learning-rate
    schedule span both phases."""
    steps = stage.train.steps
    first = round(fp_start * steps)
    if not stage.fokker_planck or first == 0:
        return [(loss_for(stage), steps)]
    return [(loss_for(dataclasses.replace(stage, fokker_planck=False)), first), (loss_for(stage), steps)]


def fit_stages(stages: list[Stage], params, key, data, loss_for, run_dir: Path, info: dict, progress: Progress,
               fp_start: float = 0.0):
    """Train (or resume) every stage in order on ``data`` (normalised; an array or a pytree of
    arrays), with ``loss_for(stage)`` its loss function; returns the whole model's EMA parameters.
    ``fp_start`` (``loss.fp_start``): the fraction of the steps of a stage with the FP term that
    train by score matching alone first. Training time is added to ``info`` (written to
    run.json), also when interrupted."""
    states = {}
    for n, stage in enumerate(stages):
        optimizer = make_optimizer(stage.train)  # the schedule spans the stage's own steps
        state = fresh_state(stage, params, optimizer, key)
        state = restore_stage(run_dir, stage, state, fall_back=True) or state
        if int(state.step) < stage.train.steps:
            label = "train" if len(stages) == 1 else f"train {stage.name} ({n + 1}/{len(stages)})"
            start = time.perf_counter()
            try:
                for loss_fn, until in _phases(stage, loss_for, fp_start):
                    if int(state.step) < until:
                        state = fit(loss_fn, optimizer, state, data, stage.train, run_dir=run_dir,
                                    checkpoint_dir=run_dir / "checkpoints" / stage.name, progress=progress,
                                    description=label, until=until,
                                    metrics_tags={"stage": stage.name} if stage.name else None)
            finally:  # also when interrupted: the time was spent (the donated state is gone)
                seconds = time.perf_counter() - start
                info["train_seconds"] = info.get("train_seconds", 0.0) + seconds
                if stage.name:
                    per = info.setdefault("stage_seconds", {})
                    per[stage.name] = per.get(stage.name, 0.0) + seconds
                write_run_info(run_dir, info)
        states[stage.name] = state
    return assemble(stages, states)
