"""Train and load the transferable dipeptide model (docs/design.md D16).

One conditional energy network (``model.kind = "peptide"``) is trained on the
frames of many dipeptides at once: every batch mixes peptides, each frame carrying
its two amino acids; a glycine's absent CB slot is filled with fresh N(0, 1) noise
at every step (the model's exact Gaussian for it). Stages, checkpoints, resuming
and the run directory are those of :mod:`scoremd.app.runs`. A trained model is a
:class:`TransferableEmulator`; :meth:`TransferableEmulator.peptide` gives an
ordinary :class:`~scoremd.app.Emulator` for any dipeptide, seen in training or not
(sampling, MD, MCMC in nm, ps, kJ/mol on the ten slots).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CheckpointError, ConfigError, DataError
from .._progress import Progress
from .._version import __version__
from ..diffusion import training_loss
from ..models import AbstractEnergyModel, Params
from ..models._peptide import fill_absent
from ..storage import atomic_write_text, check_output_path
from ..systems import TransferableSystem, get_system
from ..training import make_optimizer
from .config import RunConfig, config_to_toml, load_config
from .emulator import Emulator
from ._stages import assemble, build_run_model, fit_stages, fresh_state, plan_stages, restore_stage
from .rundir import (CONFIG_FILE, RUN_FILE, check_resumable, locate_data, read_run_info, record_training_size,
                     record_working_directory, write_run_info)

__all__ = ["TransferableEmulator", "load_transferable", "training_peptides", "train_transferable"]


def training_peptides(config: RunConfig) -> tuple[str, ...]:
    """The run's training peptides (``data.peptides``, else the system's); test and validation
    peptides are refused (docs/design.md D14)."""
    from ..data.dipeptides import TEST, VALIDATION, resolve_peptides

    system = get_system(config.system)
    try:
        peptides = resolve_peptides(config.data.peptides or system.training)
    except DataError as err:
        raise ConfigError(f"data.peptides: {err}") from None
    held = [p for p in peptides if p in set(TEST) | set(VALIDATION)]
    if held:
        raise ConfigError(f"data.peptides includes held-out test/validation peptides {', '.join(held[:8])}; "
                          "train on the training pool only (e.g. train:100)")
    return peptides


def load_training_frames(config: RunConfig, *, progress: Progress = True) -> dict[str, np.ndarray]:
    """All training frames: ``{"x": (N, 10, 3) nm, "types": (N, 2) int32, "peptide": (N,) index}``.

    Raises:
      DataError: a training peptide has no finished reference run (names the missing ones and
        the command that makes them).
    """
    from .._progress import progress_bar
    from ..data.peptide_frames import available_peptides, load_peptide

    system = get_system(config.system)
    folder = Path(config.data.dir) / system.name
    peptides = training_peptides(config)
    have = set(available_peptides(folder))
    missing = [p for p in peptides if p not in have]
    if missing:
        raise DataError(f"{len(missing)} of {len(peptides)} training peptides have no reference run in {folder} "
                        f"({', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}); make them with "
                        f"`scoremd data generate dipeptides --peptides {','.join(missing[:3])},... --ns 5 "
                        f"--out {folder}` or set data.peptides")
    xs, types, which = [], [], []
    bar = progress_bar(progress, len(peptides), "load dipeptides", unit="peptide")
    for k, seq in enumerate(peptides):
        frames = load_peptide(folder, seq, max_ns=config.data.max_ns)
        xs.append(frames.positions)
        types.append(np.broadcast_to(frames.types, (len(frames.positions), 2)))
        which.append(np.full(len(frames.positions), k, np.int32))
        bar.update(1)
    bar.close()
    return {"x": np.concatenate(xs), "types": np.concatenate(types).astype(np.int32),
            "peptide": np.concatenate(which)}


def _scale(frames: dict, setting) -> float:
    """Normalisation s (nm): a number, or ``"std"``: the RMS of the present, centred coordinates."""
    if setting != "std":
        return float(setting)
    from ..models._peptide import slot_mask

    present = np.asarray(slot_mask(jnp.asarray(frames["types"]))) > 0
    return float(np.sqrt(np.mean(frames["x"][present] ** 2)))


@dataclasses.dataclass(frozen=True)
class TransferableEmulator:
    """A trained transferable dipeptide model.

    Attributes:
      config: the run's config.
      system: the :class:`~scoremd.systems.TransferableSystem`.
      model: the conditional energy model (bind it to a peptide's amino acids to use it).
      params: EMA parameters.
      scale: normalisation s (nm).
      run_dir: the run directory.
      extent: largest |coordinate| of the training frames (nm).
      peptides: the training peptides.
    """

    config: RunConfig
    system: TransferableSystem
    model: AbstractEnergyModel
    params: Params
    scale: float
    run_dir: Path | None
    extent: float
    peptides: tuple[str, ...]

    def peptide(self, sequence: str) -> Emulator:
        """An :class:`~scoremd.app.Emulator` of one dipeptide (trained on or not) on the ten slots.

        Its samples and MD frames have shape (..., 10, 3) in nm; a glycine's CB slot is
        meaningless (``emulator.beads(x)`` drops it; ``emulator.topology()`` is the mdtraj
        topology of the remaining beads, for PDB/XTC files and viewers). Its
        ``training_data`` are the peptide's own training frames (a training peptide only; start MD
        of an unseen peptide from i.i.d. samples).
        """
        from ..data.dipeptides import check_sequence
        from ..data.peptide_frames import bead_topology, load_peptide, slot_layout

        seq = check_sequence(sequence)
        types, present, masses = slot_layout(seq)
        folder = Path(self.config.data.dir) / self.system.name

        def training_data():
            if seq not in self.peptides:
                raise DataError(f"{seq} is not a training peptide of this model; start its MD from i.i.d. "
                                "samples instead of training frames (`--start iid`; emulator.sample in Python)")
            return load_peptide(folder, seq, max_ns=self.config.data.max_ns).positions

        return Emulator(self.config, self.system.peptide(seq), self.model.bind(tuple(int(t) for t in types)),
                        self.params, self.scale, masses.astype(np.float32), self.run_dir, training_data,
                        self.extent, cg_topology=functools.partial(bead_topology, seq), bead_mask=present)


def _check_config(config: RunConfig) -> TransferableSystem:
    system = get_system(config.system)
    if not isinstance(system, TransferableSystem):
        raise ConfigError(f"{config.system} is not a transferable system; use scoremd.train")
    if not config.model.kind.conditional:
        raise ConfigError('the transferable dipeptide system needs model.kind = "peptide" or "peptide_transformer", '
                          f'got "{config.model.kind}"')
    if config.data.path is not None or config.data.trajectories is not None:
        raise ConfigError("data.path and data.trajectories do not apply to dipeptides; use data.dir (the campaign "
                          "folder's parent) and data.peptides")
    return system


def train_transferable(config: RunConfig, run_dir: str | Path, *, progress: Progress = True) -> TransferableEmulator:
    """Train (or resume) the transferable model in ``run_dir`` (see :func:`scoremd.app.train`)."""
    run_dir = check_output_path(run_dir, f"run directory {run_dir}", directory=True)
    system = _check_config(config)
    info = read_run_info(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        check_resumable(load_config(run_dir / CONFIG_FILE), config, run_dir, info.get("cwd"))
        config = locate_data(config, info)
    frames = load_training_frames(config, progress=progress)
    scale = info.get("scale") or _scale(frames, config.data.scale)
    model, params, key = build_run_model(config, system.event_shape, info)
    stages = plan_stages(config, model)
    peptides = training_peptides(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG_FILE, config_to_toml(config))
    info.update(system=config.system, event_shape=list(system.event_shape), scale=scale,
                peptides=list(peptides), scoremd_version=__version__,
                extent=info.get("extent") or float(np.max(np.abs(frames["x"]))))
    record_training_size(info, len(frames["x"]), run_dir)
    record_working_directory(info)
    write_run_info(run_dir, info)
    data = {"x": jnp.asarray(frames["x"] / scale), "types": jnp.asarray(frames["types"])}

    def loss_for(stage):
        def loss_fn(p, k, batch):
            k_fill, k_loss = jax.random.split(k)
            x0 = fill_absent(k_fill, batch["x"], batch["types"])
            return training_loss(stage.model, p, k_loss, x0, config.loss, stage.t_range, stage.t_midpoint,
                                 stage.fokker_planck, context=batch["types"])
        return loss_fn

    params = fit_stages(stages, params, key, data, loss_for, run_dir, info, progress,
                        config.loss.fp_start)
    return TransferableEmulator(config, system, model, params, float(scale), run_dir, float(info["extent"]), peptides)


def load_transferable(run_dir: str | Path, *, step: int | None = None) -> TransferableEmulator:
    """Load a transferable run (its EMA parameters at the newest checkpoint, or at ``step``)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise CheckpointError(f"{run_dir} is not a scoremd run directory (no {CONFIG_FILE})")
    config = load_config(run_dir / CONFIG_FILE)
    system = _check_config(config)
    info = read_run_info(run_dir)
    config = locate_data(config, info)  # relative data paths, from the directory training started in
    if "scale" not in info or "peptides" not in info:
        raise CheckpointError(f"{run_dir / RUN_FILE} is missing or incomplete; train again into a new directory")
    model, params, key = build_run_model(config, system.event_shape, info)
    stages = plan_stages(config, model)
    states = {}
    for stage in stages:
        state = restore_stage(run_dir, stage, fresh_state(stage, params, make_optimizer(stage.train), key),
                               step=step)
        if state is None:
            raise CheckpointError(f"{run_dir} has no checkpoint{' of ' + stage.name if stage.name else ''} yet; "
                                  f"run `scoremd train {run_dir / CONFIG_FILE} --out {run_dir}`")
        states[stage.name] = state
    return TransferableEmulator(config, system, model, assemble(stages, states), float(info["scale"]), run_dir,
                                float(info["extent"]), tuple(info["peptides"]))
