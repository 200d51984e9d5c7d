"""Coarse-graining maps by atom name (docs/design.md §6).

A map is a sequence of (residue name, atom name) pairs; bead k is the atom that
matches pair k, so the paper's five-bead alanine dipeptide is C(ACE), N, CA,
C (ALA), N(NME). Works on OpenMM and mdtraj topologies.
"""

from __future__ import annotations

import numpy as np

from .._errors import DataError

__all__ = ["RESIDUE_MASSES", "bead_masses", "select_beads"]


def _atoms(topology):
    """(residue name, atom name, mass in amu) per atom, for OpenMM or mdtraj topologies."""
    out = []
    atoms = topology.atoms() if callable(topology.atoms) else topology.atoms  # OpenMM: method; mdtraj: property
    for atom in atoms:
        element = atom.element
        mass = element.mass if hasattr(element, "mass") else 0.0
        mass = mass.value_in_unit(mass.unit) if hasattr(mass, "value_in_unit") else float(mass)
        out.append((atom.residue.name, atom.name, mass))
    return out


def select_beads(topology, cg_map) -> np.ndarray:
    """Atom indices of the beads of ``cg_map`` ((residue, atom) name pairs), in map order.

    A pair that appears m times in the map (a protein's C-alpha of its two tyrosines, say)
    must match exactly m atoms, which are taken in topology order.

    Raises:
      DataError: a pair matches no atom, or another number of atoms than it appears in the map.
    """
    atoms = _atoms(topology)
    indices, used = [], {}
    for res, name in cg_map:
        hits = [i for i, (r, a, _) in enumerate(atoms) if r == res and a == name]
        wanted = sum(1 for pair in cg_map if tuple(pair) == (res, name))
        if len(hits) != wanted:
            found = sorted({f"{r}:{a}" for r, a, _ in atoms if r == res}) or ["no such residue"]
            need = "exactly one" if wanted == 1 else f"{wanted}, one per appearance in the map"
            raise DataError(
                f"coarse-graining bead {res}:{name} matches {len(hits)} atoms (need {need}); "
                f"atoms of {res}: {', '.join(found)}"
            )
        k = used.get((res, name), 0)
        used[(res, name)] = k + 1
        indices.append(hits[k])
    return np.array(indices)


def bead_masses(topology, indices, *, residue_masses: bool = False) -> np.ndarray:
    """Masses (amu) of the beads, shape (n_beads,): of the mapped atoms, or with ``residue_masses``
    of their whole residues (C-alpha protein models: :data:`RESIDUE_MASSES`)."""
    atoms = _atoms(topology)
    if residue_masses:
        unknown = sorted({atoms[i][0] for i in indices if atoms[i][0] not in RESIDUE_MASSES})
        if unknown:
            raise DataError(f"no residue mass for {unknown}; use the 20 standard three-letter residue names")
        return np.array([RESIDUE_MASSES[atoms[i][0]] for i in indices])
    return np.array([atoms[i][2] for i in indices])


# Residue masses (amu): amino-acid mass minus one water, average isotopic composition.
RESIDUE_MASSES = {
    "GLY": 57.05, "ALA": 71.08, "SER": 87.08, "PRO": 97.12, "VAL": 99.13, "THR": 101.10, "CYS": 103.14,
    "LEU": 113.16, "ILE": 113.16, "ASN": 114.10, "ASP": 115.09, "GLN": 128.13, "LYS": 128.17, "GLU": 129.12,
    "MET": 131.19, "HIS": 137.14, "PHE": 147.18, "ARG": 156.19, "TYR": 163.18, "TRP": 186.21,
}
