"""The user-level API: train a run, load it, sample, simulate.

A *run directory* holds everything about one model::

    RUN_DIR/config.toml     the fully resolved config (written before training)
    RUN_DIR/run.json        normalisation scale, event shape, bead masses, training time
    RUN_DIR/topology.pdb    coarse-grained topology (molecules)
    RUN_DIR/checkpoints/    orbax checkpoints (params, optimiser, EMA, step, key)
    RUN_DIR/metrics.jsonl   one JSON line per logged step
    RUN_DIR/report/         written by :func:`scoremd.evaluate`

:class:`Emulator` wraps a trained model in physical units: energies in
kJ/mol, forces in kJ/mol/nm, positions in nm (toys: their own units).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import __version__
from ._errors import CheckpointError, ConfigError
from .checkpoints import Checkpoints
from .config import RunConfig, config_to_dict, config_to_toml, load_config
from .data import load_positions_file, load_toy_dataset, normalisation_scale
from .dynamics import LangevinConfig, simulate
from .io import atomic_write_text
from .losses import training_loss
from .models import EnergyModel, MixtureEnergyModel, Params, build_model, distance_statistics
from .sampling import sample
from .systems import MolecularSystem, System, cg_topology, get_system, load_molecular_data
from .systems._molecule import center
from .training import (
    TrainConfig,
    TrainState,
    fit,
    init_train_state,
    make_optimizer,
    state_to_tree,
    tree_to_state,
)

CONFIG_FILE = "config.toml"
RUN_FILE = "run.json"
TOPOLOGY_FILE = "topology.pdb"
# Sections that may change between a run's sessions without invalidating its checkpoints.
_RESUMABLE_CHANGES = {"sample", "simulate"}
_RESUMABLE_KEYS = ("train.steps", "train.expert_step_ratios")  # more steps continue the run


def load_training_data(config: RunConfig, *, progress: bool = True) -> np.ndarray:
    """Training samples (N, *event) in physical units (molecules: centred, nm), validated.

    Molecules use the training frames of their reference runs (``data.held_out`` says
    which frames are kept for evaluation); ``data.path`` replaces them with a user's
    ``.npy`` file.
    """
    system = get_system(config.system)
    if config.data.path:
        x = load_positions_file(config.data.path, system.event_shape)
        return center(x) if isinstance(system, MolecularSystem) else x
    if isinstance(system, MolecularSystem):
        data = load_molecular_data(system, config.data.dir, config.data.held_out)
        return data.positions[data.train]
    return load_toy_dataset(system, config.data.dir, progress=progress)


def _training_data_cached(config: RunConfig) -> np.ndarray:
    key = config_to_toml(config)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_training_data(config, progress=False)
    return _DATA_CACHE[key]


_DATA_CACHE: dict[str, np.ndarray] = {}


@dataclasses.dataclass(frozen=True, eq=False)  # identity hash: its bound methods key the MD compile cache
class Emulator:
    """A trained energy-based diffusion model, in physical units.

    Attributes:
      config: the run's config.
      system: the system it was trained on (k_BT, masses, MD defaults).
      model: network architecture and SDE (one network, or a mixture of experts over t).
      params: the EMA parameters used for evaluation.
      scale: normalisation s (nm): the network sees x / s (DESIGN D2).
      masses: particle masses (amu): the toy system's mass, or one per bead, shape (n_beads,).
      run_dir: the run directory it was trained in (None if unknown).
    """

    config: RunConfig
    system: System
    model: EnergyModel | MixtureEnergyModel
    params: Params
    scale: float
    masses: Any = None
    run_dir: Path | None = None

    @property
    def is_molecular(self) -> bool:
        return isinstance(self.system, MolecularSystem)

    def topology(self):
        """The coarse-grained mdtraj topology of a molecular run (``RUN_DIR/topology.pdb``)."""
        import mdtraj

        if not self.is_molecular:
            raise ValueError(f"{self.system.name} is not a molecule and has no topology")
        if self.run_dir is None or not (Path(self.run_dir) / TOPOLOGY_FILE).exists():
            raise CheckpointError(f"no {TOPOLOGY_FILE} in the run directory {self.run_dir}; retrain to write it")
        return mdtraj.load_topology(str(Path(self.run_dir) / TOPOLOGY_FILE))

    @property
    def kbt(self) -> float:
        """k_BT in kJ/mol."""
        return self.system.kbt

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.model.event_shape

    def _check(self, x):
        x = jnp.asarray(x, jnp.float32)
        if x.shape[1:] != self.event_shape:
            raise ValueError(f"positions must have shape (B, {', '.join(map(str, self.event_shape))}), got {x.shape}")
        return x

    def energy(self, x, t: float | None = None) -> jax.Array:
        """Learned potential U(x) = k_BT E_theta(x/s, t) in kJ/mol; x (B, *event) in nm -> (B,).

        ``t`` defaults to ``config.simulate.t0``. U is defined up to an additive constant.
        """
        x = self._check(x)
        t = self.config.simulate.t0 if t is None else t
        return self.kbt * self.model.energy(self.params, x / self.scale, t)

    def force(self, x, t: float | None = None) -> jax.Array:
        """Learned force F = -grad U = (k_BT/s) s_theta(x/s, t) in kJ/mol/nm; shape like x."""
        x = self._check(x)
        t = self.config.simulate.t0 if t is None else t
        return (self.kbt / self.scale) * self.model.score(self.params, x / self.scale, t)

    def score(self, x, t) -> jax.Array:
        """Score in normalised coordinates, s_theta(x, t); x (B, *event), t (B,)."""
        return self.model.score(self.params, x, t)

    def sample(self, n: int, *, key: jax.Array, method: str | None = None, steps: int | None = None,
               rho: float | None = None, chunk_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Draw n i.i.d. samples (nm), shape (n, *event). Unset options come from ``config.sample``.

        Molecules come out centred (the energy does not define the centre of mass).
        """
        c = self.config.sample
        rho = c.rho if rho is None else rho
        x = sample(
            self.score, self.model.sde, n, self.event_shape, key=key,
            method=method or c.method, n_steps=steps or c.steps, rho=rho or None,
            chunk_size=chunk_size or c.chunk_size, progress=progress,
        )
        x = x * self.scale
        return center(x) if self.is_molecular else x

    def langevin_config(self, *, dt: float | None = None, friction: float | None = None,
                        integrator: str | None = None) -> LangevinConfig:
        """Integrator settings: explicit arguments, else ``config.simulate``, else the system's defaults."""
        c = self.config.simulate
        return LangevinConfig(
            kbt=self.kbt,
            friction=friction if friction is not None else (c.friction or self.system.friction),
            dt=dt or c.dt or self.system.dt,
            integrator=integrator or c.integrator,
        )

    def simulate(self, positions, n_frames: int, *, key: jax.Array, steps_per_frame: int | None = None,
                 dt: float | None = None, friction: float | None = None, integrator: str | None = None,
                 out: str | Path | None = None, progress: bool = False) -> np.ndarray:
        """Langevin MD with the learned force from ``positions`` (R, *event) in nm.

        Returns frames (n_frames, R, *event) in nm; with ``out`` they are also
        streamed to a ``.npy`` file. See :func:`scoremd.dynamics.simulate`.
        """
        positions = self._check(positions)
        spf = steps_per_frame or self.config.simulate.steps_per_frame or self.system.steps_per_frame
        return simulate(
            self.force, positions, self.masses,
            self.langevin_config(dt=dt, friction=friction, integrator=integrator),
            n_frames, spf, key=key, out=out, progress=progress,
            position_limit=self.system.position_limit,
        )

    def initial_positions(self, n_replicas: int, *, seed: int) -> np.ndarray:
        """n_replicas training frames drawn at random (seeded), shape (R, *event)."""
        data = _training_data_cached(self.config)
        idx = np.random.default_rng(seed).choice(len(data), size=n_replicas, replace=n_replicas > len(data))
        return data[idx]


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


def _restore_stage(run_dir: Path, stage: _Stage, template: TrainState) -> TrainState | None:
    ckpt = Checkpoints(run_dir / "checkpoints" / stage.name)
    try:
        if ckpt.latest_step() is None:
            return None
        return tree_to_state(ckpt.restore(state_to_tree(template)))
    finally:
        ckpt.close()


def _assemble(stages: list[_Stage], states: dict):
    """EMA parameters of the whole model from the stages' states."""
    if stages[0].index is None:
        return states[stages[0].name].ema_params
    return {s.name: states[s.name].ema_params for s in stages}


def _read_run_json(run_dir: Path) -> dict:
    path = run_dir / RUN_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _flatten(d: dict) -> dict:
    return {
        f"{section}.{k}" if isinstance(table, dict) else section: v
        for section, table in d.items()
        for k, v in (table.items() if isinstance(table, dict) else [(None, table)])
    }


def _check_resumable(stored: RunConfig, new: RunConfig, run_dir: Path) -> None:
    a, b = _flatten(config_to_dict(stored)), _flatten(config_to_dict(new))
    diff = [
        k for k in a
        if a[k] != b[k] and k not in _RESUMABLE_KEYS and k.split(".")[0] not in _RESUMABLE_CHANGES
    ]
    if diff:
        raise ConfigError(
            f"{run_dir} was trained with a different config (differs in: {', '.join(diff)}); only "
            f"{', '.join(_RESUMABLE_KEYS)}, [sample] and [simulate] may change when resuming. "
            "Use a new --out directory."
        )


def train(config: RunConfig, run_dir: str | Path, *, progress: bool = True) -> Emulator:
    """Train (or resume training of) a model in ``run_dir``.

    If ``run_dir`` already holds a run with the same config (``train.steps`` and
    ``train.expert_step_ratios`` may be larger), training resumes exactly from its newest checkpoint
    (with a longer schedule from there on when the steps grew).

    Returns:
      The trained :class:`Emulator` (EMA parameters).
    """
    run_dir = Path(run_dir)
    system = get_system(config.system)
    if (run_dir / CONFIG_FILE).exists():
        _check_resumable(load_config(run_dir / CONFIG_FILE), config, run_dir)
    data = load_training_data(config, progress=progress)
    info = _read_run_json(run_dir)
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
    )
    if isinstance(system, MolecularSystem):
        reference = load_molecular_data(system, config.data.dir, config.data.held_out)
        info["masses"] = reference.masses.tolist()
        _write_topology(run_dir / TOPOLOGY_FILE, reference)
    atomic_write_text(run_dir / RUN_FILE, json.dumps(info, indent=2) + "\n")
    x = jnp.asarray(data / scale)
    states = {}
    for n, stage in enumerate(stages):
        optimizer = make_optimizer(stage.train)  # the schedule spans the stage's own steps
        state = _fresh_state(stage, params, optimizer, key)
        state = _restore_stage(run_dir, stage, state) or state
        if int(state.step) < stage.train.steps:

            def loss_fn(p, k, x0, stage=stage):
                return training_loss(stage.model, p, k, x0, config.loss, stage.t_range, stage.t_midpoint,
                                     stage.fokker_planck)

            label = "train" if len(stages) == 1 else f"train {stage.name} ({n + 1}/{len(stages)})"
            start = time.perf_counter()
            try:
                state = fit(loss_fn, optimizer, state, x, stage.train, run_dir=run_dir,
                            checkpoint_dir=run_dir / "checkpoints" / stage.name, progress=progress,
                            description=label, metrics_tags={"stage": stage.name} if stage.name else None)
            finally:  # also when interrupted: the time was spent (the donated state is gone)
                seconds = time.perf_counter() - start
                info["train_seconds"] = info.get("train_seconds", 0.0) + seconds
                if stage.name:
                    per = info.setdefault("stage_seconds", {})
                    per[stage.name] = per.get(stage.name, 0.0) + seconds
                atomic_write_text(run_dir / RUN_FILE, json.dumps(info, indent=2) + "\n")
        states[stage.name] = state
    return Emulator(config, system, model, _assemble(stages, states), float(scale), _masses(system, info), run_dir)


def load(run_dir: str | Path) -> Emulator:
    """Load the trained model of ``run_dir`` (its EMA parameters at the newest checkpoint).

    Raises:
      CheckpointError: ``run_dir`` holds no config or no checkpoint.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise CheckpointError(
            f"{run_dir} is not a scoremd run directory (no {CONFIG_FILE}); "
            "train one with `scoremd train CONFIG.toml --out RUN_DIR`"
        )
    config = load_config(run_dir / CONFIG_FILE)
    info = _read_run_json(run_dir)
    system = get_system(config.system)
    if config.model.whiten_distances and "distance_stats" not in info:
        raise CheckpointError(f"{run_dir / RUN_FILE} has no distance_stats for model.whiten_distances; retrain")
    model, params, key = _build(config, system.event_shape, info)
    stages = _stages(config, model)
    states = {}
    for stage in stages:
        state = _restore_stage(run_dir, stage, _fresh_state(stage, params, make_optimizer(stage.train), key))
        if state is None:
            what = f"expert {stage.name!r} of {run_dir}" if stage.name else str(run_dir)
            raise CheckpointError(
                f"{what} has no checkpoint yet; run `scoremd train {run_dir / CONFIG_FILE} --out {run_dir}` "
                "to train (or resume) it"
            )
        states[stage.name] = state
    return Emulator(config, system, model, _assemble(stages, states), float(info.get("scale", 1.0)),
                    _masses(system, info), run_dir)


def _masses(system: System, info: dict):
    if isinstance(system, MolecularSystem):
        if "masses" not in info:
            raise CheckpointError(f"{RUN_FILE} has no bead masses; it was written by an older scoremd, retrain")
        return np.asarray(info["masses"], np.float32)
    return system.mass


def _write_topology(path: Path, reference) -> None:
    """The CG topology as a PDB (one bead per mapped atom, at its first reference frame)."""
    import mdtraj

    top = cg_topology(reference.topology_pdb, reference.atom_indices)
    traj = mdtraj.Trajectory(reference.positions[:1], top)
    tmp = path.with_suffix(".tmp.pdb")
    traj.save_pdb(str(tmp))
    tmp.replace(path)
