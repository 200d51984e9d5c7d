"""Coarse-grained molecular systems trained on OpenMM reference MD (DESIGN §6).

A :class:`MolecularSystem` names its reference data (``data/<name>/run_XX``,
made by ``scoremd data generate``), its coarse-graining map (atom names), its
thermodynamic state and MD defaults, and what the evaluation looks at (the
backbone dihedrals, the CG bonds). :func:`load_molecular_data` turns the
all-atom runs into centred bead positions, split into training and held-out
frames by whole runs (or by time blocks within every run).

Units: positions nm, time ps, energies kJ/mol, masses amu, temperature K.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..units import kbt as thermal_energy
from ._molecule import (
    ALANINE_DIPEPTIDE_BACKBONE,
    ALANINE_DIPEPTIDE_PHI,
    ALANINE_DIPEPTIDE_PSI,
    bead_masses,
    center,
    select_beads,
    split_frames,
)


@dataclasses.dataclass(frozen=True)
class MolecularSystem:
    """A coarse-grained molecule and its simulation and evaluation defaults.

    Attributes:
      name: registry name; also the folder of its reference data under the data directory.
      structure: what ``scoremd data generate`` builds the reference from.
      cg_map: (residue name, atom name) of each bead, in bead order.
      dihedrals: bead quadruples of the evaluation's two dihedrals (phi, psi).
      temperature: K.
      friction: Langevin collision rate of the learned MD, 1/ps.
      dt: time step of the learned MD, ps.
      steps_per_frame: integration steps between stored MD frames.
      validation_fraction: held-out fraction of the reference: of its runs (whole runs held
        out) or of every run (its last part), see ``DataConfig.held_out``.
      js_bins: bins per dihedral axis of the JS histogram.
      pmf_bins: bins per dihedral axis of the PMF histogram.
      position_limit: |x| (nm) beyond which an MD replica counts as diverged.
      generate_command: how the shipped reference data were made.
    """

    name: str
    structure: str
    cg_map: tuple[tuple[str, str], ...]
    dihedrals: tuple[tuple[int, int, int, int], ...]
    temperature: float = 300.0
    friction: float = 1.0
    dt: float = 0.002
    steps_per_frame: int = 500
    validation_fraction: float = 0.5
    js_bins: int = 64
    pmf_bins: int = 64
    position_limit: float = 1e3
    generate_command: str = ""

    @property
    def n_beads(self) -> int:
        return len(self.cg_map)

    @property
    def event_shape(self) -> tuple[int, int]:
        return (self.n_beads, 3)

    @property
    def kbt(self) -> float:
        """k_BT in kJ/mol."""
        return thermal_energy(self.temperature)

    @property
    def bonds(self) -> tuple[tuple[int, int], ...]:
        """CG bonds: consecutive beads along the chain."""
        return tuple((i, i + 1) for i in range(self.n_beads - 1))

    @property
    def metric_bounds(self):
        """Histogram range of the dihedral metrics (radians)."""
        return ((-np.pi, np.pi),) * len(self.dihedrals)


ALANINE_DIPEPTIDE = MolecularSystem(
    name="alanine_dipeptide",
    structure="alanine_dipeptide",
    cg_map=ALANINE_DIPEPTIDE_BACKBONE,
    dihedrals=(ALANINE_DIPEPTIDE_PHI, ALANINE_DIPEPTIDE_PSI),
    generate_command=(
        "scoremd data generate alanine_dipeptide --out data/alanine_dipeptide --runs 4 --ns 50 "
        "--dt 0.002 --constraints hbonds"
    ),
)


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
        """The held-out frames as two independent halves (by runs; the floor of DESIGN §7).

        With a single run, its held-out block is cut in two in time instead.
        """
        runs = np.unique(self.run_index[self.validation])
        if len(runs) >= 2:
            first = np.isin(self.run_index[self.validation], runs[: len(runs) // 2])
            return self.positions[self.validation[first]], self.positions[self.validation[~first]]
        half = len(self.validation) // 2
        return self.positions[self.validation[:half]], self.positions[self.validation[half:]]


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, cg_map, mtime: float):
    import mdtraj

    from ._openmm import load_reference

    topology_pdb, xyz, run_index = load_reference(folder)
    topology = mdtraj.load_topology(str(topology_pdb))
    atoms = select_beads(topology, cg_map)
    positions = center(xyz[:, atoms].astype(np.float64)).astype(np.float32)
    bad = ~np.isfinite(positions.reshape(len(positions), -1)).all(axis=1)
    if bad.any():
        raise DataError(f"{folder}: {int(bad.sum())} reference frames contain NaN or inf; regenerate those runs")
    return positions, run_index, bead_masses(topology, atoms), Path(topology_pdb), atoms


def load_molecular_data(system: MolecularSystem, data_dir: str | Path, held_out: str = "runs") -> MolecularData:
    """Load ``data_dir/<system.name>``: all runs, SHA-256 checked, coarse-grained and centred.

    ``held_out`` chooses the evaluation split (DataConfig.held_out): ``"runs"`` holds out
    the last ``system.validation_fraction`` of the runs whole, ``"time"`` the last
    fraction of every run.

    Raises:
      DataError: no finished runs, a checksum mismatch, or a CG bead missing from the topology.
    """
    folder = Path(data_dir) / system.name
    if not folder.is_dir():
        raise DataError(
            f"no reference data for {system.name} in {folder}; generate it with `{system.generate_command}` "
            f"(with --out {folder})"
        )
    stamps = [p.stat().st_mtime for p in sorted(folder.glob("run_*/metadata.json"))]
    positions, run_index, masses, topology_pdb, atoms = _load_cached(
        str(folder), system.cg_map, max(stamps, default=0.0))
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
