"""Dipeptide reference frames on the transferable model's ten slots.

A campaign folder (:mod:`scoremd.data.campaign`) holds ``<SEQ>/run_XX`` runs whose
``positions.npy`` stores the beads only (N, CA, CB, C, O per residue; glycine
without CB). :func:`load_peptide` puts them on the ten slots of
:mod:`scoremd.models._peptide` (an absent CB slot holds zeros and is marked in
``present``), centred on the present beads, after checking every file against its
SHA-256. Units: nm, amu.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .._errors import DataError
from .reference_runs import read_run_positions
from .dipeptides import AMINO_ACIDS, THREE_LETTER, bead_indices, bead_labels, check_sequence

SLOT_ATOMS = ("N", "CA", "CB", "C", "O")
N_SLOTS = 2 * len(SLOT_ATOMS)
PHI = (3, 5, 6, 8)
"""Slots of phi = C1-N2-CA2-C2 (the only phi an uncapped dipeptide has)."""
PSI = (0, 1, 3, 5)
"""Slots of psi = N1-CA1-C1-N2."""
_MASS = {"N": 14.007, "CA": 12.011, "CB": 12.011, "C": 12.011, "O": 15.999}
ABSENT_MASS = 12.011
"""Mass (amu) given to an absent slot in MD (its coordinates follow an exact Gaussian and are discarded)."""


@dataclasses.dataclass(frozen=True)
class PeptideFrames:
    """One dipeptide's reference frames on ten slots.

    Attributes:
      sequence: e.g. ``"AK"``.
      positions: (N, 10, 3) float32, nm, centred on the present beads; absent slots 0.
      run: (N,) run number of each frame.
      types: (2,) amino-acid indices into ``AMINO_ACIDS``.
      present: (10,) bool, False for a glycine's CB slot.
      masses: (10,) amu (absent slots :data:`ABSENT_MASS`).
      frame_ps: time between frames (ps).
    """

    sequence: str
    positions: np.ndarray
    run: np.ndarray
    types: np.ndarray
    present: np.ndarray
    masses: np.ndarray
    frame_ps: float

    @property
    def beads(self) -> np.ndarray:
        """Positions of the present beads only, (N, 9 or 10, 3) nm."""
        return self.positions[:, self.present]


def slot_layout(sequence: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(types (2,), present (10,), masses (10,)) of a dipeptide."""
    seq = check_sequence(sequence)
    types = np.array([AMINO_ACIDS.index(c) for c in seq], np.int32)
    present = np.ones(N_SLOTS, bool)
    masses = np.array([_MASS[a] for a in SLOT_ATOMS * 2])
    for r, c in enumerate(seq):
        if c == "G":
            present[5 * r + 2] = False
            masses[5 * r + 2] = ABSENT_MASS
    return types, present, masses


def to_slots(beads: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Bead positions (N, n_present, 3) -> slots (N, 10, 3), absent slots 0."""
    out = np.zeros(beads.shape[:-2] + (N_SLOTS, 3), np.float32)
    out[..., present, :] = beads
    return out


def to_beads(slots: np.ndarray, sequence: str) -> np.ndarray:
    """Slots (..., 10, 3) -> the dipeptide's present beads (..., 9 or 10, 3) (drops a glycine's CB slot)."""
    present = slot_layout(sequence)[1]
    slots = np.asarray(slots)
    if slots.shape[-2:] != (N_SLOTS, 3):
        raise ValueError(f"expected positions on the {N_SLOTS} slots, shape (..., {N_SLOTS}, 3), got {slots.shape}")
    return slots[..., present, :]


def bead_topology(sequence: str):
    """The mdtraj ``Topology`` of a dipeptide's present beads, in the order of :func:`to_beads`.

    Two residues (three-letter names), atoms N, CA, CB, C, O of each (glycine without CB) with
    their elements, and the bonds N-CA, CA-CB, CA-C, C-O and the peptide bond C1-N2. Use it to
    write model samples as PDB/XTC (:func:`scoremd.storage.write_positions`) or to view them.
    """
    import mdtraj

    seq = check_sequence(sequence)
    top = mdtraj.Topology()
    chain = top.add_chain()
    slot_atom = {}
    for r, c in enumerate(seq):
        residue = top.add_residue(THREE_LETTER[c], chain, resSeq=r + 1)
        for k, name in enumerate(SLOT_ATOMS):
            if c == "G" and name == "CB":
                continue
            slot_atom[5 * r + k] = top.add_atom(name, mdtraj.element.get_by_symbol(name[0]), residue)
    from ..systems import DIPEPTIDES

    for i, j in DIPEPTIDES.peptide(seq).bond_pairs:  # slot pairs, the absent slot's bonds left out
        top.add_bond(slot_atom[i], slot_atom[j])
    return top


def _runs(folder: Path, runs):
    if runs is None:
        paths = sorted(p for p in folder.glob("run_*") if (p / "metadata.json").exists())
    else:
        paths = [folder / f"run_{int(r):02d}" for r in runs]
    if not paths or not all((p / "metadata.json").exists() for p in paths):
        raise DataError(f"{folder} has no (or not all of the requested) reference runs; make them with "
                        f"`scoremd data generate dipeptides --peptides {folder.name} --out {folder.parent} --ns ...`")
    return paths


def load_peptide(folder: str | Path, sequence: str, *, runs=None, max_ns: float | None = None) -> PeptideFrames:
    """Frames of ``folder/<SEQ>/run_XX`` on slots, checked against their SHA-256.

    Args:
      folder: the campaign folder (e.g. ``data/dipeptides``).
      sequence: the dipeptide.
      runs: run numbers to load (default every finished run).
      max_ns: keep only each run's first ``max_ns`` ns (default all).
    """
    from openmm.app import PDBFile

    seq = check_sequence(sequence)
    types, present, masses = slot_layout(seq)
    xs, idx, frame_ps = [], [], None
    for run in _runs(Path(folder) / seq, runs):
        meta = json.loads((run / "metadata.json").read_text())
        if meta.get("structure") != {"dipeptide": seq} or "stored_atoms" not in meta:
            raise DataError(f"{run} is not a dipeptide run of {seq} (its metadata.json says otherwise)")
        x = read_run_positions(run, meta)  # a growing run: the frames of its last finished chunk
        topology = PDBFile(str(run / "topology.pdb")).topology
        labels = bead_labels(topology)
        expected = [(r, THREE_LETTER[seq[r]], a) for r in range(2) for a in SLOT_ATOMS
                    if not (a == "CB" and seq[r] == "G")]
        if labels != expected or list(meta["stored_atoms"]) != [int(i) for i in bead_indices(topology)]:
            raise DataError(f"{run}: the stored atoms are not the beads N, CA, CB, C, O of {seq}; regenerate the run")
        if max_ns is not None:
            x = x[: int(round(max_ns * 1000 / meta["protocol"]["frame_interval"]))]
        if not np.isfinite(x).all():
            raise DataError(f"{run / 'positions.npy'} holds NaN or inf; regenerate the run")
        frame_ps = meta["protocol"]["frame_interval"]
        xs.append(x)
        idx.append(np.full(len(x), int(run.name[4:])))
    beads = np.concatenate(xs)
    beads = beads - beads.mean(axis=1, keepdims=True)
    return PeptideFrames(seq, to_slots(beads, present), np.concatenate(idx), types, present, masses, float(frame_ps))


def available_peptides(folder: str | Path) -> tuple[str, ...]:
    """Dipeptides whose run_00 has finished at least one chunk in a campaign folder."""
    out = []
    for p in sorted(Path(folder).glob("*/run_00/metadata.json")):
        meta = json.loads(p.read_text())
        finished = meta.get("sha256") or meta.get("verified")
        if finished and isinstance(meta.get("structure"), dict) and "dipeptide" in meta["structure"]:
            out.append(meta["structure"]["dipeptide"])
    return tuple(out)


__all__ = ["ABSENT_MASS", "N_SLOTS", "PHI", "PSI", "PeptideFrames", "SLOT_ATOMS", "available_peptides",
           "bead_topology", "load_peptide", "slot_layout", "to_beads", "to_slots"]
