"""Coarse-graining maps by atom name (docs/design.md §6).

A map is a sequence of (residue name, atom name) pairs; bead k is the atom that
matches pair k, so the paper's five-bead alanine dipeptide is C(ACE), N, CA,
C (ALA), N(NME). Works on OpenMM and mdtraj topologies.
"""

from __future__ import annotations

import numpy as np

from .._errors import DataError

__all__ = ["bead_masses", "select_beads"]


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

    Raises:
      DataError: a pair matches no atom, or a pair matches more than once.
    """
    atoms = _atoms(topology)
    indices = []
    for res, name in cg_map:
        hits = [i for i, (r, a, _) in enumerate(atoms) if r == res and a == name]
        if len(hits) != 1:
            found = sorted({f"{r}:{a}" for r, a, _ in atoms if r == res}) or ["no such residue"]
            raise DataError(
                f"coarse-graining bead {res}:{name} matches {len(hits)} atoms (need exactly one); "
                f"atoms of {res}: {', '.join(found)}"
            )
        indices.append(hits[0])
    return np.array(indices)


def bead_masses(topology, indices) -> np.ndarray:
    """Masses (amu) of the mapped atoms, shape (n_beads,)."""
    atoms = _atoms(topology)
    return np.array([atoms[i][2] for i in indices])
