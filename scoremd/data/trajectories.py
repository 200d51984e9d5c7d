"""Users' own trajectories as a molecular reference: any mdtraj-readable files with their topology.

For data this project cannot make, e.g. the D. E. Shaw Research fast-folder trajectories
(DCD files + a PDB), which are available only on request. Every file is checked against
the topology's atom count before anything is read in full, the beads of the system's
coarse-graining map (C-alpha atoms for the fast folders) are selected, and every file
counts as one run, so the training / held-out split is by file (docs/design.md §6).

Units: positions nm (mdtraj converts DCD's Angstrom), masses amu.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..geometry import center
from ._coarse_graining import bead_masses, select_beads

__all__ = ["expand_files", "load_trajectory_files"]


def expand_files(patterns) -> list[Path]:
    """File names and glob patterns (``"DESRES/CLN025-0-protein-*.dcd"``) -> sorted existing paths."""
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    out = []
    for p in patterns:
        hits = sorted(glob.glob(str(p))) if any(c in str(p) for c in "*?[") else [str(p)]
        missing = [h for h in hits if not Path(h).is_file()]
        if not hits or missing:
            raise DataError(f"trajectory file {missing[0] if missing else p} does not exist")
        out += [Path(h) for h in hits]
    return out


def _n_atoms(path: Path) -> int:
    """Atoms per frame of a trajectory file, from its first frame."""
    import mdtraj

    try:
        with mdtraj.open(str(path)) as handle:
            first = handle.read(n_frames=1)
    except Exception as err:  # mdtraj raises format-specific errors
        raise DataError(f"{path} is not a trajectory mdtraj can read ({err})") from err
    xyz = first[0] if isinstance(first, tuple) else first
    return int(np.asarray(xyz).shape[1])


def load_trajectory_files(files, topology: str | Path, cg_map, *, stride: int = 1, residue_masses: bool = False):
    """Read trajectories and coarse-grain them with ``cg_map``.

    Args:
      files: paths or glob patterns, one trajectory per file, in run order.
      topology: a file mdtraj reads a topology from (PDB, ...), with every atom of the files.
      cg_map: (residue name, atom name) per bead (:func:`~scoremd.data._coarse_graining.select_beads`).
      stride: keep every stride-th frame.
      residue_masses: bead masses of whole residues instead of the mapped atoms.

    Returns:
      (positions (N, n_beads, 3) float32 centred nm, run index (N,) = file number, masses (n_beads,) amu,
      atom indices of the beads (n_beads,)).

    Raises:
      DataError: a missing or unreadable file, a topology whose atom count differs from a file's
        (naming both), a bead missing from the topology, non-finite coordinates.
    """
    import mdtraj

    paths = expand_files(files)
    if not Path(topology).is_file():
        raise DataError(f"topology file {topology} does not exist")
    try:
        top = mdtraj.load_topology(str(topology))
    except Exception as err:
        raise DataError(f"{topology} is not a topology mdtraj can read ({err})") from err
    atoms = select_beads(top, cg_map)
    for path in paths:  # all checked before any is read in full
        n = _n_atoms(path)
        if n != top.n_atoms:
            raise DataError(f"{path} has {n} atoms per frame but the topology {topology} has {top.n_atoms}; "
                            "give the topology these trajectories were written with")
    xs, runs = [], []
    for k, path in enumerate(paths):
        chunks = [c.xyz[:, atoms] for c in mdtraj.iterload(str(path), top=top, chunk=10_000, stride=stride)]
        x = np.concatenate(chunks) if chunks else np.empty((0, len(atoms), 3), np.float32)
        if not len(x):
            raise DataError(f"{path} holds no frames")
        if not np.isfinite(x).all():
            raise DataError(f"{path} contains NaN or inf coordinates")
        xs.append(center(x.astype(np.float64)).astype(np.float32))
        runs.append(np.full(len(x), k))
    return np.concatenate(xs), np.concatenate(runs), bead_masses(top, atoms, residue_masses=residue_masses), atoms
