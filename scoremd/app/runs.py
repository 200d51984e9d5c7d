"""Train a run directory, and load one: :func:`train`, :func:`load`.

A model is trained in stages (:mod:`scoremd.app._stages`), each resuming exactly
from its newest checkpoint; the run directory's files are described in
:mod:`scoremd.app.rundir`.
"""

from __future__ import annotations

import dataclasses
import functools
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
from ..models import closest_distances, distance_statistics
from ..storage import atomic_write_text, check_output_path
from ..systems import MolecularSystem, System, TransferableSystem, get_system
from ..training import (
    Checkpoints,
    make_optimizer,
)
from .config import RunConfig, config_from_dict, config_to_toml, load_config
from .emulator import Emulator
from .rundir import (CONFIG_FILE, RUN_FILE, SAMPLES_FILE, TOPOLOGY_FILE, TRAJECTORY_FILE, check_resumable,
                     locate_data, read_run_info, record_training_size, record_working_directory, write_md_record,
                     write_run_info, write_sampler_record, write_topology)
from ._stages import assemble, build_run_model, fit_stages, fresh_state, plan_stages, restore_stage

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


def train(config: RunConfig, run_dir: str | Path, *, progress: Progress = True) -> Emulator:
    """Train (or resume training of) a model in ``run_dir``.

    If ``run_dir`` already holds a run with the same config (``train.steps`` and
    ``train.expert_step_ratios`` may be larger), training resumes exactly from its newest
    intact checkpoint (with a longer schedule from there on when the steps grew).

    Returns:
      The trained :class:`Emulator` (EMA parameters; with the excluded-volume wall when
      ``model.excluded_volume_after_training``, as :func:`load` gives it); for the transferable
      dipeptide system a :class:`~scoremd.app.transferable.TransferableEmulator`
      (``.peptide(seq)`` is an Emulator).

    Raises:
      ValueError: ``run_dir`` is a file or cannot be written (checked before the data load).
      ConfigError: ``run_dir`` holds a run whose config differs in more than the resumable keys.
    """
    if isinstance(get_system(config.system), TransferableSystem):
        from .transferable import train_transferable

        return train_transferable(config, run_dir, progress=progress)
    run_dir = check_output_path(run_dir, f"run directory {run_dir}", directory=True)
    system = get_system(config.system)
    info = read_run_info(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        check_resumable(load_config(run_dir / CONFIG_FILE), config, run_dir, info.get("cwd"))
        config = locate_data(config, info)
    data = load_training_data(config, progress=progress)
    scale = info.get("scale") or normalisation_scale(data, config.data.scale)
    if config.model.whiten_distances and "distance_stats" not in info:
        mean, std = distance_statistics(data / scale)
        info["distance_stats"] = {"mean": list(mean), "std": list(std)}
    if config.model.excluded_volume and "closest" not in info.get("distance_stats", {}):
        info.setdefault("distance_stats", {})["closest"] = list(closest_distances(data / scale))
    model, params, key = build_run_model(config, system.event_shape, info)
    stages = plan_stages(config, model)  # checks train.expert_step_ratios before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG_FILE, config_to_toml(config))
    info.update(
        system=config.system, event_shape=list(system.event_shape), scale=scale,
        scoremd_version=__version__,
        extent=info.get("extent") or float(np.max(np.abs(data))),
    )
    if isinstance(system, MolecularSystem):
        reference = load_molecular_data(system, config.data.dir, config.data.held_out, **config.data.reference_source())
        info["masses"] = reference.masses.tolist()
        write_topology(run_dir / TOPOLOGY_FILE, cg_topology(reference.topology_pdb, reference.atom_indices),
                       reference.positions[0])
    record_training_size(info, len(data), run_dir)
    record_working_directory(info)
    write_run_info(run_dir, info)

    def loss_for(stage):
        def loss_fn(p, k, x0):
            return training_loss(stage.model, p, k, x0, config.loss, stage.t_range, stage.t_midpoint,
                                 stage.fokker_planck)
        return loss_fn

    params = fit_stages(stages, params, key, jnp.asarray(data / scale), loss_for, run_dir, info, progress,
                        config.loss.fp_start)
    used, info = _wall_as_used(config, info, None, data)  # the model as it is used (the wall after training)
    if used != config:
        config, model = used, build_run_model(used, system.event_shape, info)[0]
    return _emulator(config, system, model, params, float(scale), info, run_dir)


def run(config: RunConfig, run_dir: str | Path, *, reference: str = "validation", progress: Progress = True) -> dict:
    """Train (or resume), draw ``config.sample.n`` i.i.d. samples, run the config's MD from training
    frames, and evaluate: the whole job of a config, as ``scoremd run`` does it.

    Writes ``samples.npy`` and ``trajectory.npy`` (nm; frames, replicas, beads, 3) to ``run_dir``
    and the report to ``run_dir/report``. ``reference``: ``"validation"`` or ``"test"`` (molecules).

    Returns:
      The report's metrics (``run_dir/report/metrics.json``).
    """
    from ..analysis import check_reference, evaluate

    if isinstance(get_system(config.system), MolecularSystem):
        check_reference(config, reference)  # before hours of training
    emulator = train(config, run_dir, progress=progress)
    if not isinstance(emulator, Emulator):
        raise ConfigError(f"{config.system} is evaluated per molecule: use examples/dipeptides.py")
    run_dir = Path(run_dir)
    samples = emulator.sample(config.sample.n, key=jax.random.PRNGKey(config.sample.seed), progress=progress)
    np.save(run_dir / SAMPLES_FILE, samples)
    write_sampler_record(run_dir / SAMPLES_FILE, emulator.sampler(), config.sample.seed, len(samples))
    start = emulator.initial_positions(config.simulate.replicas, seed=config.simulate.seed)
    traj = emulator.simulate(start, config.simulate.frames, key=jax.random.PRNGKey(config.simulate.seed),
                             out=run_dir / TRAJECTORY_FILE, progress=progress).frames
    write_md_record(run_dir / TRAJECTORY_FILE, config.simulate.t0, traj.shape[0] * traj.shape[1])
    return evaluate(emulator, run_dir, samples, traj, reference=reference)


def load(run_dir: str | Path, *, step: int | None = None, excluded_volume: bool | None = None) -> Emulator:
    """Load the trained model of ``run_dir`` (its EMA parameters at the newest checkpoint).

    Args:
      run_dir: a run directory written by :func:`train`.
      step: load the checkpoint at this training step instead of the newest (every
        stage that has a checkpoint at this step; the others use their newest), e.g. the
        intact one a damaged-checkpoint error names.
      excluded_volume: ``True`` adds the excluded-volume wall (``model.excluded_volume``, docs/design.md
        §5) to a model trained without it, for sampling and MD only: the trained network is unchanged
        and the wall, zero on every training frame, stops beads passing through each other where the
        network has seen nothing. The training frames' closest pair distances are measured now (nothing
        in ``run_dir`` is written). ``False`` drops the wall; ``None`` (default): as configured (the
        wall when the run was trained with it or with ``model.excluded_volume_after_training``).

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

        if excluded_volume:
            raise ConfigError("the excluded-volume wall is for MLP models on pair distances (C-alpha proteins, "
                              "alanine dipeptide); transferable dipeptide models do not take it")
        return load_transferable(run_dir, step=step)
    info = read_run_info(run_dir)
    config = locate_data(config, info)  # relative data paths, from the directory training started in
    system = get_system(config.system)
    if config.model.whiten_distances and "distance_stats" not in info:
        raise CheckpointError(f"{run_dir / RUN_FILE} has no distance_stats for model.whiten_distances; retrain")
    if config.model.excluded_volume and "closest" not in info.get("distance_stats", {}):
        raise CheckpointError(f"{run_dir / RUN_FILE} has no closest pair distances for model.excluded_volume; retrain")
    config, info = _wall_as_used(config, info, excluded_volume)
    model, params, key = build_run_model(config, system.event_shape, info)
    stages = plan_stages(config, model)
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
        state = restore_stage(run_dir, stage, fresh_state(stage, params, make_optimizer(stage.train), key),
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
    return _emulator(config, system, model, assemble(stages, states), float(info["scale"]), info, run_dir)


def _wall_as_used(config: RunConfig, info: dict, requested: bool | None,
                  data: np.ndarray | None = None) -> tuple[RunConfig, dict]:
    """The config and run info of a trained run as it is used: with the excluded-volume wall when
    ``requested`` is True, without it when False, and when None as configured (trained with it, or
    ``model.excluded_volume_after_training``). The one place that decides, for :func:`train` and :func:`load`."""
    if requested is None:
        if not config.model.excluded_volume_after_training:
            return config, info
        requested = True
    if requested == config.model.excluded_volume and not config.model.excluded_volume_after_training:
        return config, info
    return _with_wall(config, info, requested, data)


def _with_wall(config: RunConfig, info: dict, wall: bool, data: np.ndarray | None = None) -> tuple[RunConfig, dict]:
    """The config and run info of a loaded run with the excluded-volume wall switched on or off
    after training (:func:`load`); the closest distances come from the run's training frames
    (``data``, nm, (n, beads, 3), when already loaded)."""
    if "scale" not in info:
        raise CheckpointError(f"{RUN_FILE} has no normalisation scale, so the training frames' closest distances "
                              "cannot be put in the model's units; restore the file or train again")
    try:
        model = dataclasses.replace(config.model, excluded_volume=wall, excluded_volume_after_training=False)
    except ValueError as err:
        raise ConfigError(f"cannot add the excluded-volume wall to this model: {err}") from None
    info = {**info, "distance_stats": dict(info.get("distance_stats", {}))}
    if wall and "closest" not in info["distance_stats"]:
        data = load_training_data(config, progress=False) if data is None else data
        info["distance_stats"]["closest"] = list(closest_distances(data / float(info["scale"])))
    return dataclasses.replace(config, model=model), info


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
