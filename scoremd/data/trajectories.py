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
        if path.suffix.lower() in (".pdb", ".cif", ".pdbx", ".mmcif", ".gro", ".h5"):  # self-describing formats
            return int(mdtraj.load_frame(str(path), 0).n_atoms)
        with mdtraj.open(str(path)) as handle:
            first = handle.read(n_frames=1)
    except Exception as err:  # mdtraj raises format-specific errors
        raise DataError(f"{path} is not a trajectory mdtraj can read ({err})") from err
    xyz = first[0] if isinstance(first, tuple) else first
    return int(np.asarray(xyz).shape[1])


def _dcd_header_frames(path: Path) -> int | None:
    """The frame count a DCD file's header states (None if unreadable; 0 if the writer left it unset).

    A DCD file opens with a Fortran record of 84 bytes: its length (int32), "CORD", then NSET,
    the number of frames. Byte order follows the record length.
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
    for order in ("<", ">"):
        if len(head) == 12 and int.from_bytes(head[:4], "little" if order == "<" else "big") == 84 \
                and head[4:8] == b"CORD":
            return int(np.frombuffer(head[8:12], dtype=f"{order}i4")[0])
    return None


def _read(path: Path, top, atoms, stride: int) -> np.ndarray:
    """The bead positions (T, n_beads, 3) nm of one trajectory file."""
    import mdtraj

    if path.suffix.lower() == ".dcd":  # mdtraj reads a truncated DCD silently short: its header says how long
        stated = _dcd_header_frames(path)
        if stated:
            with mdtraj.open(str(path)) as handle:
                held = len(handle)
            if held < stated:
                raise DataError(f"{path} holds {held} whole frames but its header states {stated}: the file is "
                                "truncated; copy it again, or leave it out of data.trajectories")
    chunks = []
    try:
        for chunk in mdtraj.iterload(str(path), top=top, chunk=10_000, stride=stride):
            chunks.append(chunk.xyz[:, atoms])
    except Exception as err:  # a truncated or damaged file fails mid-read, in a format-specific way
        read = sum(len(c) for c in chunks)
        raise DataError(f"{path} could not be read past frame {read * stride} ({type(err).__name__}: {err}); the "
                        "file may be truncated or damaged: copy it again, or leave it out of data.trajectories") from err
    return np.concatenate(chunks) if chunks else np.empty((0, len(atoms), 3), np.float32)


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
    if not paths:
        raise DataError("no trajectory files given: list one file or glob pattern per run in data.trajectories")
    if not Path(topology).is_file():
        raise DataError(f"topology file {topology} does not exist")
    try:
        top = mdtraj.load_topology(str(topology))
    except Exception as err:
        raise DataError(f"{topology} is not a topology mdtraj can read ({err})") from err
    try:
        atoms = select_beads(top, cg_map)
    except DataError as err:
        raise DataError(f"the topology {topology} does not hold this system's beads: {err}. data.topology must be "
                        "the topology the trajectories were written with, for this system's residues") from err
    for path in paths:  # all checked before any is read in full
        n = _n_atoms(path)
        if n != top.n_atoms:
            raise DataError(f"{path} has {n} atoms per frame but the topology {topology} has {top.n_atoms}; "
                            "give the topology these trajectories were written with")
    xs, runs = [], []
    for k, path in enumerate(paths):
        x = _read(path, top, atoms, stride)
        if not len(x):
            raise DataError(f"{path} holds no frames")
        bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))
        if len(bad):
            raise DataError(f"{path}: {len(bad)} of {len(x)} frames (after stride {stride}) hold NaN or inf "
                            f"coordinates, the first at frame {bad[0]}; remove them or regenerate the file")
        xs.append(center(x.astype(np.float64)).astype(np.float32))
        runs.append(np.full(len(x), k))
    return np.concatenate(xs), np.concatenate(runs), bead_masses(top, atoms, residue_masses=residue_masses), atoms
