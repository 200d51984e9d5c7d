"""The run directory: its files, the run.json bookkeeping, and the resume check.

A *run directory* holds everything about one model::

    RUN_DIR/config.toml     the fully resolved config (written before training)
    RUN_DIR/run.json        normalisation scale, event shape, bead masses, training time, the
                            directory training started in (relative data paths are read from it)
    RUN_DIR/topology.pdb    coarse-grained topology (molecules)
    RUN_DIR/checkpoints/    orbax checkpoints (params, optimiser, EMA, step, key), one folder per expert
    RUN_DIR/metrics.jsonl   one JSON line per logged training step
    RUN_DIR/samples.npy     i.i.d. samples (nm), written by ``scoremd run`` / ``evaluate``
    RUN_DIR/samples.npy.sampler.json  the sampler that drew them (beside every samples file
                            the command line writes; the report describes that sampler)
    RUN_DIR/trajectory.npy  MD frames (frames, replicas, *event) (nm)
    RUN_DIR/trajectory.npy.md.json  the diffusion time t0 of the MD's force (beside every MD
                            file the command line writes; the report states that t0)
    RUN_DIR/report/         metrics.json, report.md and plots (:func:`scoremd.evaluate`)
"""

from __future__ import annotations

import dataclasses
import glob
import json
import warnings
from pathlib import Path

import numpy as np

from .._errors import ConfigError
from ..storage import atomic_write_text
from .config import RunConfig, config_to_dict

__all__ = ["CONFIG_FILE", "RUN_FILE", "SAMPLES_FILE", "TOPOLOGY_FILE", "TRAJECTORY_FILE", "check_resumable",
           "locate_data", "record_working_directory",
           "read_md_record", "read_run_info", "read_sampler_record", "record_training_size", "write_run_info", "write_md_record",
           "write_sampler_record", "write_topology"]

CONFIG_FILE = "config.toml"
RUN_FILE = "run.json"
TOPOLOGY_FILE = "topology.pdb"
SAMPLES_FILE = "samples.npy"
TRAJECTORY_FILE = "trajectory.npy"

SAMPLER_RECORD_SUFFIX = ".sampler.json"
MD_RECORD_SUFFIX = ".md.json"

# Sections that may change between a run's sessions without invalidating its checkpoints.
_RESUMABLE_CHANGES = {"sample", "simulate"}
# more steps continue the run; the wall added at load does not touch the trained network
_RESUMABLE_KEYS = ("train.steps", "train.expert_step_ratios", "model.excluded_volume_after_training")


def read_run_info(run_dir: str | Path) -> dict:
    """The run's ``run.json`` (an empty dict before the first training)."""
    path = Path(run_dir) / RUN_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def write_run_info(run_dir: str | Path, info: dict) -> None:
    """Replace ``run.json`` atomically."""
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(info, indent=2) + "\n")


def _record_path(data_path: str | Path, suffix: str) -> Path:
    p = Path(data_path)
    return p.with_name(p.name + suffix)


def _read_record(data_path: str | Path, suffix: str, n: int, check, describes: str, otherwise: str) -> dict | None:
    """The JSON record ``<data_path><suffix>`` of the ``n`` items (``describes``) of ``data_path``, or
    None without one. A record for another count, or one failing ``check``, belongs to an older
    file of that name: it is ignored with a warning that ends in ``otherwise``."""
    path = _record_path(data_path, suffix)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        valid = int(record["n"]) == n and check(record)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        warnings.warn(f"{path} does not describe the {n} {describes} of {data_path} (an older file's record?); "
                      f"{otherwise}", stacklevel=3)
        return None
    return record


def write_sampler_record(samples_path: str | Path, sampler, seed: int, n: int) -> None:
    """Write ``<samples file>.sampler.json``: which sampler drew the ``n`` samples of ``samples_path``.

    ``sampler`` is an :class:`~scoremd.diffusion.AbstractSampler`; ``seed`` the PRNG seed. A
    report of these samples then names the sampler that made them, not the config's.
    """
    record = {"method": sampler.name, "steps": int(sampler.n_steps),
              "rho": float(sampler.default_rho if sampler.rho is None else sampler.rho), "seed": int(seed), "n": int(n)}
    if getattr(sampler, "t_stop", 0.0):
        record["t_stop"] = float(sampler.t_stop)
    atomic_write_text(_record_path(samples_path, SAMPLER_RECORD_SUFFIX), json.dumps(record, indent=2) + "\n")


def read_sampler_record(samples_path: str | Path, n: int) -> dict | None:
    """The sampler record beside ``samples_path`` (see :func:`write_sampler_record`), or None.

    A record written for a different number of samples than the ``n`` the file holds belongs
    to an older file of that name: it is ignored with a warning.
    """
    return _read_record(samples_path, SAMPLER_RECORD_SUFFIX, n, lambda r: bool(r["method"]), "samples",
                        "the report names the config's sampler")


def write_md_record(trajectory_path: str | Path, t0: float, n: int) -> None:
    """Write ``<MD file>.md.json``: the diffusion time ``t0`` at which the model was the force
    field for the ``n`` frames (all replicas together) of ``trajectory_path``. A report of that
    MD then states the t0 it was made at, not the config's."""
    atomic_write_text(_record_path(trajectory_path, MD_RECORD_SUFFIX),
                      json.dumps({"t0": float(t0), "n": int(n)}, indent=2) + "\n")


def read_md_record(trajectory_path: str | Path, n: int) -> dict | None:
    """The MD record beside ``trajectory_path`` (see :func:`write_md_record`), or None. A record
    written for another number of frames than the ``n`` the file holds (all replicas together)
    belongs to an older file of that name: it is ignored with a warning."""
    return _read_record(trajectory_path, MD_RECORD_SUFFIX, n, lambda r: 0 < float(r["t0"]) < 1, "frames",
                        "the report states the config's simulate.t0")


def record_working_directory(info: dict) -> None:
    """Set ``info["cwd"]``, the absolute directory a run's relative data paths were read from, on
    its first start (a resume keeps the first)."""
    info.setdefault("cwd", str(Path.cwd().resolve()))


def locate_data(config: RunConfig, info: dict) -> RunConfig:
    """``config`` with each relative data path (``data.dir``, ``path``, ``topology``,
    ``trajectories``) that is not found from the current directory but is found from the
    directory the run was trained in (``info["cwd"]``) made absolute, so that a run directory
    loads, samples, simulates and evaluates from anywhere. Paths found here, absolute paths and
    runs without a recorded directory are left as they are."""
    origin = info.get("cwd")
    if not origin:
        return config

    def moved(path):
        if path is None or Path(path).is_absolute():
            return path
        there = Path(origin) / path
        if any(c in str(path) for c in "*?["):  # a glob pattern of trajectory files
            return str(there) if not glob.glob(str(path)) and glob.glob(str(there)) else path
        return str(there) if not Path(path).exists() and there.exists() else path

    return _map_data_paths(config, moved)


def _map_data_paths(config: RunConfig, fn) -> RunConfig:
    """``config`` with ``fn`` applied to each data path (``data.dir``, ``path``, ``topology``,
    every ``trajectories`` entry); the same object when nothing changes."""
    data = config.data
    changes = {"dir": fn(data.dir), "path": fn(data.path), "topology": fn(data.topology)}
    if data.trajectories is not None:
        changes["trajectories"] = tuple(fn(t) for t in data.trajectories)
    if all(getattr(data, k) == v for k, v in changes.items()):
        return config
    return dataclasses.replace(config, data=dataclasses.replace(data, **changes))


def record_training_size(info: dict, n_train: int, run_dir: Path) -> None:
    """Set ``info["n_train"]`` (training frames) on a run's first start; on a resume keep it.

    A run resumed after its data grew (a campaign still running) trains its remaining steps on
    the current frames: ``n_train`` keeps the count its checkpoints started from, the new count
    goes to ``n_train_resumed`` and a warning says so, so that the record never claims a model
    saw data it was not trained on.
    """
    first = info.get("n_train")
    if first is None:
        info["n_train"] = int(n_train)
    elif int(first) != int(n_train):
        warnings.warn(f"{run_dir} started on {first} training frames; its data now hold {n_train}. Steps still "
                      f"to train use the current frames; {RUN_FILE} keeps n_train = {first} and records "
                      f"n_train_resumed = {n_train}", stacklevel=3)
        info["n_train_resumed"] = int(n_train)


def _flatten(d: dict) -> dict:
    return {
        f"{section}.{k}" if isinstance(table, dict) else section: v
        for section, table in d.items()
        for k, v in (table.items() if isinstance(table, dict) else [(None, table)])
    }


def _resolved_data(config: RunConfig, origin: str | Path | None) -> RunConfig:
    """``config`` with every relative data path made absolute from ``origin`` (default: here)."""
    base = Path(origin) if origin else Path.cwd()
    return _map_data_paths(config, lambda path: None if path is None else str((base / path).resolve()))


def check_resumable(stored: RunConfig, new: RunConfig, run_dir: Path, origin: str | Path | None = None) -> None:
    """Refuse to resume ``run_dir`` with a config that would invalidate its checkpoints.

    Data paths are compared where they lead: ``stored``'s relative paths from ``origin`` (the
    directory the run was first trained in, ``run.json``'s ``cwd``), ``new``'s from the current
    directory, so that ``data.dir = "data"`` from the repository and ``"../data"`` from
    ``examples/`` are the same run.

    Raises:
      ConfigError: naming the keys that differ.
    """
    a = _flatten(config_to_dict(_resolved_data(stored, origin)))
    b = _flatten(config_to_dict(_resolved_data(new, None)))
    diff = sorted(
        k for k in set(a) | set(b)
        if a.get(k) != b.get(k) and k not in _RESUMABLE_KEYS and k.split(".")[0] not in _RESUMABLE_CHANGES
    )
    if diff:
        raise ConfigError(
            f"{run_dir} was trained with a different config (differs in: {', '.join(diff)}); only "
            f"{', '.join(_RESUMABLE_KEYS)}, [sample] and [simulate] may change when resuming. "
            + ("Data paths are compared where they lead from the directory the run was first trained in, "
               f"{origin}. " if origin and any(k.startswith("data.") for k in diff) else "")
            + "Use a new --out directory."
        )


def write_topology(path: Path, topology, positions: np.ndarray) -> None:
    """The CG topology (an mdtraj Topology) as a PDB, at ``positions`` (nm, (n_beads, 3)); atomic."""
    import mdtraj

    traj = mdtraj.Trajectory(np.asarray(positions)[None], topology)
    tmp = path.with_name(f".{path.stem}.tmp.pdb")
    try:
        traj.save_pdb(str(tmp))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
