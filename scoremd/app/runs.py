"""Train a run directory, and load one: :func:`train`, :func:`load`.

A model is trained in *stages*: the whole network at once, or the experts of a
mixture one after another from high to low diffusion time (earlier experts
frozen, a fresh optimiser per stage; docs/design.md §3). Every stage resumes
exactly from its newest checkpoint; the run directory's files are described in
:mod:`scoremd.app.rundir`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._version import __version__
from .._errors import CheckpointError, ConfigError
from .._progress import Progress
from ..data import cg_topology, load_molecular_data, load_positions_file, load_toy_dataset, normalisation_scale
from ..diffusion import training_loss
from ..geometry import center
from ..models import EnergyModel, MixtureEnergyModel, build_model, distance_statistics
from ..storage import atomic_write_text, check_output_path
from ..systems import MolecularSystem, System, TransferableSystem, get_system
from ..training import (
    Checkpoints,
    TrainConfig,
    TrainState,
    fit,
    init_train_state,
    make_optimizer,
    state_to_tree,
    tree_to_state,
)
from .config import RunConfig, config_from_dict, config_to_toml, load_config
from .emulator import Emulator
from .rundir import CONFIG_FILE, RUN_FILE, TOPOLOGY_FILE, check_resumable, read_run_info, write_run_info, write_topology

__all__ = ["load", "load_training_data", "run", "train"]


def load_training_data(config: RunConfig, *, progress: Progress = True) -> np.ndarray:
    """Training samples (N, *event) in physical units (molecules: centred, nm), validated.

    Molecules use the training frames of their reference runs (``data.held_out`` says
    which frames are kept for evaluation); ``data.path`` replaces them with a user's
    ``.npy`` file.
    """
    system = get_system(config.system)
    if config.data.path is not None:
        x = load_positions_file(config.data.path, system.event_shape)
        return center(x) if isinstance(system, MolecularSystem) else x
    if isinstance(system, MolecularSystem):
        data = load_molecular_data(system, config.data.dir, config.data.held_out, **config.data.reference_source())
        return data.positions[data.train]
    return load_toy_dataset(system, config.data.dir, progress=progress)


@functools.lru_cache(maxsize=1)
def _training_data_cached(config_toml: str) -> np.ndarray:
    """Training data of the config whose resolved TOML text is ``config_toml`` (the cache key)."""
    return load_training_data(config_from_dict(tomllib.loads(config_toml)), progress=False)


@dataclasses.dataclass(frozen=True)
class _Stage:
    """One optimisation problem: a whole model, or one expert of a mixture."""

    name: str  # checkpoint sub-directory and params key of the expert ("" for a single model)
    model: EnergyModel
    index: int | None  # expert index (None for a single model)
    t_range: tuple[float, float] | None
    t_midpoint: float | None
    fokker_planck: bool
    train: TrainConfig  # the run's [train] with this stage's number of steps


def _stages(config: RunConfig, model) -> list[_Stage]:
    """Training stages in order: a single model, or the experts from high to low t.

    Raises:
      ConfigError: ``train.expert_step_ratios`` does not give one entry per expert.
    """
    if not isinstance(model, MixtureEnergyModel):
        if config.train.expert_step_ratios:
            raise ConfigError(f"train.expert_step_ratios is {list(config.train.expert_step_ratios)} but the model "
                              "has no experts; set model.expert_boundaries or leave it empty")
        return [_Stage("", model, None, None, None, True, config.train)]
    n = len(model.experts)
    try:
        per_expert = config.train.expert_steps(n)
    except ValueError as err:
        raise ConfigError(f"{err} (model.expert_boundaries = {list(config.model.expert_boundaries)})") from None
    stages = []
    for k in reversed(range(n)):
        lo, hi = model.t_ranges[k]
        small = k == 0
        midpoint = config.loss.expert_t_midpoint if small else config.loss.t_midpoint
        train = dataclasses.replace(config.train, steps=per_expert[k], expert_step_ratios=())
        stages.append(_Stage(f"expert_{k}", model.experts[k], k, (lo, hi), midpoint, small, train))
    return stages


def _build(config: RunConfig, event_shape, info: dict):
    key_init, key_train = jax.random.split(jax.random.PRNGKey(config.train.seed))
    stats = info.get("distance_stats")
    model, params = build_model(config.model, event_shape, config.sde, key=key_init,
                                distance_stats=(stats["mean"], stats["std"]) if stats else None)
    return model, params, key_train


def _fresh_state(stage: _Stage, params, optimizer, key) -> TrainState:
    if stage.index is None:
        return init_train_state(params, optimizer, key=key)
    return init_train_state(params[stage.name], optimizer, key=jax.random.fold_in(key, stage.index))


def _restore_stage(run_dir: Path, stage: _Stage, template: TrainState, *, step: int | None = None,
                   fall_back: bool = False) -> TrainState | None:
    """The stage's checkpointed state (verified; see :class:`~scoremd.training.Checkpoints`), or
    None before its first checkpoint. ``step`` picks a checkpoint where the stage has one at it."""
    with Checkpoints(run_dir / "checkpoints" / stage.name) as ckpt:
        steps = ckpt.steps()
        if not steps:
            return None
        return tree_to_state(ckpt.restore(state_to_tree(template), step if step in steps else None,
                                          fall_back=fall_back))


def _assemble(stages: list[_Stage], states: dict):
    """EMA parameters of the whole model from the stages' states."""
    if stages[0].index is None:
        return states[stages[0].name].ema_params
    return {s.name: states[s.name].ema_params for s in stages}


def train(config: RunConfig, run_dir: str | Path, *, progress: Progress = True) -> Emulator:
    """Train (or resume training of) a model in ``run_dir``.

    If ``run_dir`` already holds a run with the same config (``train.steps`` and
    ``train.expert_step_ratios`` may be larger), training resumes exactly from its newest
    intact checkpoint (with a longer schedule from there on when the steps grew).

    Returns:
      The trained :class:`Emulator` (EMA parameters); for the transferable dipeptide system a
      :class:`~scoremd.app.transferable.TransferableEmulator` (``.peptide(seq)`` is an Emulator).

    Raises:
      ValueError: ``run_dir`` is a file or cannot be written (checked before the data load).
      ConfigError: ``run_dir`` holds a run whose config differs in more than the resumable keys.
    """
    if isinstance(get_system(config.system), TransferableSystem):
        from .transferable import train_transferable

        return train_transferable(config, run_dir, progress=progress)
    run_dir = check_output_path(run_dir, f"run directory {run_dir}", directory=True)
    system = get_system(config.system)
    if (run_dir / CONFIG_FILE).exists():
        check_resumable(load_config(run_dir / CONFIG_FILE), config, run_dir)
    data = load_training_data(config, progress=progress)
    info = read_run_info(run_dir)
    scale = info.get("scale") or normalisation_scale(data, config.data.scale)
    if config.model.whiten_distances and "distance_stats" not in info:
        mean, std = distance_statistics(data / scale)
        info["distance_stats"] = {"mean": list(mean), "std": list(std)}
    model, params, key = _build(config, system.event_shape, info)
    stages = _stages(config, model)  # checks train.expert_step_ratios before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG_FILE, config_to_toml(config))
    info.update(
        system=config.system, event_shape=list(system.event_shape), scale=scale,
        n_train=int(len(data)), scoremd_version=__version__,
        extent=info.get("extent") or float(np.max(np.abs(data))),
    )
    if isinstance(system, MolecularSystem):
        reference = load_molecular_data(system, config.data.dir, config.data.held_out, **config.data.reference_source())
        info["masses"] = reference.masses.tolist()
        write_topology(run_dir / TOPOLOGY_FILE, cg_topology(reference.topology_pdb, reference.atom_indices),
                       reference.positions[0])
    write_run_info(run_dir, info)
    def loss_for(stage):
        def loss_fn(p, k, x0):
            return training_loss(stage.model, p, k, x0, config.loss, stage.t_range, stage.t_midpoint,
                                 stage.fokker_planck)
        return loss_fn

    params = _fit_stages(stages, params, key, jnp.asarray(data / scale), loss_for, run_dir, info, progress)
    return _emulator(config, system, model, params, float(scale), info, run_dir)


def _fit_stages(stages: list[_Stage], params, key, data, loss_for, run_dir: Path, info: dict, progress: Progress):
    """Train (or resume) every stage in order on ``data`` (normalised; an array or a pytree of
    arrays), with ``loss_for(stage)`` its loss function; returns the whole model's EMA parameters.
    Training time is added to ``info`` (written to run.json), also when interrupted."""
    states = {}
    for n, stage in enumerate(stages):
        optimizer = make_optimizer(stage.train)  # the schedule spans the stage's own steps
        state = _fresh_state(stage, params, optimizer, key)
        state = _restore_stage(run_dir, stage, state, fall_back=True) or state
        if int(state.step) < stage.train.steps:
            label = "train" if len(stages) == 1 else f"train {stage.name} ({n + 1}/{len(stages)})"
            start = time.perf_counter()
            try:
                state = fit(loss_for(stage), optimizer, state, data, stage.train, run_dir=run_dir,
                            checkpoint_dir=run_dir / "checkpoints" / stage.name, progress=progress,
                            description=label, metrics_tags={"stage": stage.name} if stage.name else None)
            finally:  # also when interrupted: the time was spent (the donated state is gone)
                seconds = time.perf_counter() - start
                info["train_seconds"] = info.get("train_seconds", 0.0) + seconds
                if stage.name:
                    per = info.setdefault("stage_seconds", {})
                    per[stage.name] = per.get(stage.name, 0.0) + seconds
                write_run_info(run_dir, info)
        states[stage.name] = state
    return _assemble(stages, states)


def run(config: RunConfig, run_dir: str | Path, *, reference: str = "validation", progress: Progress = True) -> dict:
    """Train (or resume), draw ``config.sample.n`` i.i.d. samples, run the config's MD from training
    frames, and evaluate: the whole job of a config, as ``scoremd run`` does it.

    Writes ``samples.npy`` and ``trajectory.npy`` (nm; frames, replicas, beads, 3) to ``run_dir``
    and the report to ``run_dir/report``. ``reference``: ``"validation"`` or ``"test"`` (molecules).

    Returns:
      The report's metrics (``run_dir/report/metrics.json``).
    """
    from ..analysis import evaluate

    emulator = train(config, run_dir, progress=progress)
    if not isinstance(emulator, Emulator):
        raise ConfigError(f"{config.system} is evaluated per molecule: use examples/dipeptides.py")
    run_dir = Path(run_dir)
    samples = emulator.sample(config.sample.n, key=jax.random.PRNGKey(config.sample.seed), progress=progress)
    np.save(run_dir / "samples.npy", samples)
    start = emulator.initial_positions(config.simulate.replicas, seed=config.simulate.seed)
    traj = emulator.simulate(start, config.simulate.frames, key=jax.random.PRNGKey(config.simulate.seed),
                             out=run_dir / "trajectory.npy", progress=progress).frames
    return evaluate(emulator, run_dir, samples, traj, reference=reference)


def load(run_dir: str | Path, *, step: int | None = None) -> Emulator:
    """Load the trained model of ``run_dir`` (its EMA parameters at the newest checkpoint).

    Args:
      run_dir: a run directory written by :func:`train`.
      step: load the checkpoint at this training step instead of the newest (every
        stage that has a checkpoint at this step; the others use their newest), e.g. the
        intact one a damaged-checkpoint error names.

    Raises:
      CheckpointError: ``run_dir`` holds no config or no checkpoint, or the checkpoint to
        load is damaged (its files do not match their checksums; the message names the
        newest intact step).
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise CheckpointError(
            f"{run_dir} is not a scoremd run directory (no {CONFIG_FILE}); "
            "train one with `scoremd train CONFIG.toml --out RUN_DIR`"
        )
    config = load_config(run_dir / CONFIG_FILE)
    if isinstance(get_system(config.system), TransferableSystem):
        from .transferable import load_transferable

        return load_transferable(run_dir, step=step)
    info = read_run_info(run_dir)
    system = get_system(config.system)
    if config.model.whiten_distances and "distance_stats" not in info:
        raise CheckpointError(f"{run_dir / RUN_FILE} has no distance_stats for model.whiten_distances; retrain")
    model, params, key = _build(config, system.event_shape, info)
    stages = _stages(config, model)
    if step is not None:
        available = set()
        for stage in stages:
            with Checkpoints(run_dir / "checkpoints" / stage.name) as ckpt:
                available.update(ckpt.steps())
        if step not in available:
            raise CheckpointError(f"{run_dir} has no checkpoint at step {step}; it has steps "
                                  f"{', '.join(map(str, sorted(available, reverse=True))) or 'none'}")
    states = {}
    for stage in stages:
        state = _restore_stage(run_dir, stage, _fresh_state(stage, params, make_optimizer(stage.train), key),
                               step=step)
        if state is None:
            what = f"expert {stage.name!r} of {run_dir}" if stage.name else str(run_dir)
            raise CheckpointError(
                f"{what} has no checkpoint yet; run `scoremd train {run_dir / CONFIG_FILE} --out {run_dir}` "
                "to train (or resume) it"
            )
        states[stage.name] = state
    if "scale" not in info:
        raise CheckpointError(f"{run_dir / RUN_FILE} is missing or has no normalisation scale; without it the "
                              "model's units are unknown. Restore the file or train again into a new directory.")
    return _emulator(config, system, model, _assemble(stages, states), float(info["scale"]), info, run_dir)


def _masses(system: System, info: dict):
    if isinstance(system, MolecularSystem):
        if "masses" not in info:
            raise CheckpointError(f"{RUN_FILE} has no bead masses; it was written by an older scoremd, retrain")
        return np.asarray(info["masses"], np.float32)
    return system.mass


def _emulator(config, system, model, params, scale, info, run_dir) -> Emulator:
    data = functools.partial(_training_data_cached, config_to_toml(config))
    return Emulator(config, system, model, params, scale, _masses(system, info), Path(run_dir), data,
                    info.get("extent"))
