"""Coarse-grained reference data of molecular systems (docs/design.md §6, D14).

:func:`load_molecular_data` turns the all-atom OpenMM runs of ``data/<system>/run_XX``
into centred bead positions, split into training and held-out (validation) frames by
whole runs (or by time blocks within every run). A system's test runs
(``MolecularSystem.test_runs``) are left out unless asked for by name, so no choice
made on training or validation data can see them.

Units: positions nm, masses amu.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..geometry import center
from ..systems import MolecularSystem
from ._coarse_graining import bead_masses, select_beads
from ._splits import split_frames
from .reference_runs import load_reference

__all__ = ["MolecularData", "cg_topology", "load_molecular_data", "reference_metadata"]


@dataclasses.dataclass(frozen=True)
class MolecularData:
    """Coarse-grained reference frames of a molecular system.

    Attributes:
      positions: centred bead positions (nm), shape (N, n_beads, 3), runs in time order.
      run_index: run of each frame, shape (N,).
      train: indices of the training frames.
      validation: indices of the held-out frames: the last ``validation_fraction`` of the runs
        (``held_out="runs"``) or of every run (``held_out="time"``).
      masses: bead masses (amu), shape (n_beads,).
      topology_pdb: path of the all-atom topology of the reference runs.
      atom_indices: all-atom index of each bead, shape (n_beads,).
    """

    positions: np.ndarray
    run_index: np.ndarray
    train: np.ndarray
    validation: np.ndarray
    masses: np.ndarray
    topology_pdb: Path
    atom_indices: np.ndarray

    def validation_halves(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out frames as two independent halves (by runs; the floor of docs/design.md §7).

        With a single run, its held-out block is cut in two in time instead.
        """
        runs = np.unique(self.run_index[self.validation])
        if len(runs) >= 2:
            first = np.isin(self.run_index[self.validation], runs[: len(runs) // 2])
            return self.positions[self.validation[first]], self.positions[self.validation[~first]]
        half = len(self.validation) // 2
        return self.positions[self.validation[:half]], self.positions[self.validation[half:]]


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, cg_map, runs: tuple[int, ...], mtime: float, residue_masses: bool = False):
    import mdtraj

    topology_pdb, xyz, run_index = load_reference(folder, runs)
    topology = mdtraj.load_topology(str(topology_pdb))
    atoms = select_beads(topology, cg_map)
    positions = center(xyz[:, atoms].astype(np.float64)).astype(np.float32)
    bad = ~np.isfinite(positions.reshape(len(positions), -1)).all(axis=1)
    if bad.any():
        raise DataError(f"{folder}: {int(bad.sum())} reference frames contain NaN or inf; regenerate those runs")
    masses = bead_masses(topology, atoms, residue_masses=residue_masses)
    return positions, run_index, masses, Path(topology_pdb), atoms


def load_molecular_data(system: MolecularSystem, data_dir: str | Path, held_out: str = "runs", *,
                        runs: tuple[int, ...] | None = None, trajectories=None, topology=None,
                        stride: int = 1) -> MolecularData:
    """Load ``data_dir/<system.name>``: its runs, SHA-256 checked, coarse-grained and centred.

    Args:
      system: the molecule.
      data_dir: folder holding ``<system.name>/run_XX``.
      held_out: the evaluation split (``DataConfig.held_out``): ``"runs"`` holds out the last
        ``system.validation_fraction`` of the runs whole, ``"time"`` the last fraction of every run.
      runs: run numbers to load (the XX of ``run_XX``); default: every run except
        ``system.test_runs``. Pass ``system.test_runs`` to load the test set.

      trajectories, topology, stride: a user's own reference instead (``DataConfig.trajectories``):
        every file is a run; ``runs`` then picks files by number, and ``system.test_runs`` do not apply.

    Raises:
      DataError: no finished runs, a checksum mismatch, or a CG bead missing from the topology.
    """
    if trajectories is not None:
        from .trajectories import load_trajectory_files

        positions, run_index, masses, atoms = load_trajectory_files(
            trajectories, topology, system.cg_map, stride=stride, residue_masses=system.residue_masses)
        if runs is not None:
            keep = np.isin(run_index, np.asarray(runs))
            if not keep.any():
                raise DataError(f"runs {list(runs)} select none of the {run_index.max() + 1} files of "
                                "data.trajectories (their runs are numbered 0, 1, ... in file order)")
            positions, run_index = positions[keep], run_index[keep]
        train, validation = split_frames(run_index, system.validation_fraction, held_out)
        return MolecularData(positions, run_index, train, validation, masses, Path(topology), atoms)
    folder = Path(data_dir) / system.name
    if not folder.is_dir():
        where = "" if folder.is_absolute() else f" (relative to the current directory, {Path.cwd()})"
        raise DataError(
            f"no reference data for {system.name} in {folder}{where}; if it exists elsewhere, point data.dir "
            f"there; else generate it with `{system.generate_command}` (with --out {folder})"
        )
    if runs is None:
        runs = tuple(n for n in _run_numbers(folder) if n not in system.test_runs)
    runs = tuple(sorted(int(n) for n in runs))
    stamps = [(folder / f"run_{n:02d}" / "metadata.json").stat().st_mtime for n in runs
              if (folder / f"run_{n:02d}" / "metadata.json").exists()]
    positions, run_index, masses, topology_pdb, atoms = _load_cached(
        str(folder), system.cg_map, runs, max(stamps, default=0.0), system.residue_masses)
    train, validation = split_frames(run_index, system.validation_fraction, held_out)
    return MolecularData(positions, run_index, train, validation, masses, topology_pdb, atoms)


def cg_topology(topology_pdb: str | Path, atom_indices):
    """The mdtraj topology of the beads (their residues, names, elements and bonds)."""
    import mdtraj

    return mdtraj.load_topology(str(topology_pdb)).subset(np.asarray(atom_indices))


def reference_metadata(system: MolecularSystem, data_dir: str | Path) -> list[dict]:
    """The metadata of every reference run (force field, protocol, length, seeds, checksums)."""
    folder = Path(data_dir) / system.name
    return [json.loads(p.read_text()) for p in sorted(folder.glob("run_*/metadata.json"))]


def _run_numbers(folder: Path) -> list[int]:
    return sorted(int(p.name[4:]) for p in folder.glob("run_*") if p.name[4:].isdigit())
