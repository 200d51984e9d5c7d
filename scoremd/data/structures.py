"""Build small peptide structures from internal coordinates (no downloads).

Heavy atoms are placed with the natural-extension reference frame (NeRF)
construction (Parsons et al. 2005, J. Comput. Chem. 26, 1063) from standard
bond lengths and angles (Engh & Huber 1991); OpenMM's Modeller then adds
hydrogens for the chosen force field. Only trans peptide bonds and L-amino
acids are produced; :func:`chirality_dihedral` checks the latter.

Units: the geometry tables are in Angstrom and degrees; everything returned is
in nm (OpenMM's unit).
"""

from __future__ import annotations

import io
import random

import numpy as np

def read_pdb(path, missing: str = "does not exist"):
    """``openmm.app.PDBFile`` of ``path``; a missing or malformed file is a :class:`DataError`
    (``missing`` completes the message for a missing file)."""
    from pathlib import Path

    from openmm import app

    from .._errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} {missing}")
    try:
        return app.PDBFile(str(path))
    except Exception as err:  # OpenMM raises bare Exceptions on malformed PDBs
        raise DataError(f"{path} is not a readable PDB file: {err}") from err


# Bond lengths (A), angles and dihedrals (deg) of a trans peptide in the beta region.
_BOND = {"C-N": 1.33, "N-CA": 1.46, "CA-C": 1.52, "C-O": 1.23, "CH3-C": 1.51, "CA-CB": 1.53, "N-CH3": 1.45}
_ANGLE = {"CA-C-N": 116.2, "C-N-CA": 121.7, "N-CA-C": 111.2, "N-C-O": 123.0, "C-CA-CB": 110.1}
_N_C_CA_CB = 122.7  # improper-like dihedral that makes CB an L-amino-acid side chain


def place(a, b, c, bond: float, angle: float, dihedral: float) -> np.ndarray:
    """Position of atom d bonded to c with |cd| = bond, angle bcd and dihedral abcd (degrees)."""
    angle, dihedral = np.radians(angle), np.radians(dihedral)
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d2 = bond * np.array([-np.cos(angle), np.sin(angle) * np.cos(dihedral), np.sin(angle) * np.sin(dihedral)])
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def alanine_dipeptide_heavy_atoms(phi: float = -70.0, psi: float = 140.0):
    """Heavy atoms of ACE-ALA-NME as (residue, atom name, element, position in A) rows."""
    ch3 = np.zeros(3)
    c0 = np.array([_BOND["CH3-C"], 0.0, 0.0])
    ref = np.array([-1.0, 1.0, 0.0])  # only fixes the frame of the first placements
    n1 = place(ref, ch3, c0, _BOND["C-N"], _ANGLE["CA-C-N"], 180.0)
    ca = place(ch3, c0, n1, _BOND["N-CA"], _ANGLE["C-N-CA"], 180.0)  # omega = 180
    c1 = place(c0, n1, ca, _BOND["CA-C"], _ANGLE["N-CA-C"], phi)
    n2 = place(n1, ca, c1, _BOND["C-N"], _ANGLE["CA-C-N"], psi)
    ch3b = place(ca, c1, n2, _BOND["N-CH3"], _ANGLE["C-N-CA"], 180.0)  # omega = 180
    o0 = place(ca, n1, c0, _BOND["C-O"], _ANGLE["N-C-O"], 0.0)  # O trans to the next CA's bond
    o1 = place(ch3b, n2, c1, _BOND["C-O"], _ANGLE["N-C-O"], 0.0)
    cb = place(n1, c1, ca, _BOND["CA-CB"], _ANGLE["C-CA-CB"], _N_C_CA_CB)
    return [
        ("ACE", "CH3", "C", ch3), ("ACE", "C", "C", c0), ("ACE", "O", "O", o0),
        ("ALA", "N", "N", n1), ("ALA", "CA", "C", ca), ("ALA", "C", "C", c1), ("ALA", "O", "O", o1),
        ("ALA", "CB", "C", cb),
        ("NME", "N", "N", n2), ("NME", "C", "C", ch3b),
    ]


def _pdb_text(rows) -> str:
    lines, serial, res_ids = [], 0, {}
    for res, name, element, xyz in rows:
        res_ids.setdefault(res, len(res_ids) + 1)
        serial += 1
        lines.append(
            f"ATOM  {serial:5d} {name:<4s} {res:3s} A{res_ids[res]:4d}    "
            f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00          {element:>2s}"
        )
    return "\n".join(lines + ["TER", "END"]) + "\n"


def build_alanine_dipeptide(forcefield, phi: float = -70.0, psi: float = 140.0):
    """ACE-ALA-NME with hydrogens for ``forcefield`` (an ``openmm.app.ForceField``).

    Returns:
      (topology, positions) with positions an OpenMM Quantity in nm, 22 atoms.
    """
    from openmm.app import Modeller, PDBFile

    pdb = PDBFile(io.StringIO(_pdb_text(alanine_dipeptide_heavy_atoms(phi, psi))))
    modeller = Modeller(pdb.topology, pdb.positions)
    add_hydrogens(modeller, forcefield)
    return modeller.topology, modeller.positions


def add_hydrogens(modeller, forcefield=None, *, pH: float = 7.0, seed: int = 20251125) -> None:
    """``modeller.addHydrogens``, bit-reproducible: the same input always gives the same positions.

    OpenMM's Modeller starts new hydrogens at positions drawn from the module ``random`` and
    relaxes them on the fastest platform, whose multithreaded sums differ from run to run.
    Here the draws come from a private ``random.Random(seed)`` (the global generator is
    untouched, and other threads using it, e.g. a Dask worker's, cannot shift the draws) and
    the relaxation runs on the Reference platform. Not for two threads of one process at once.
    """
    from openmm import Platform
    from openmm.app import modeller as modeller_module

    shared = modeller_module.random
    modeller_module.random = random.Random(seed)
    try:
        modeller.addHydrogens(forcefield, pH=pH, platform=Platform.getPlatformByName("Reference"))
    finally:
        modeller_module.random = shared


def chirality_dihedral(topology, positions_nm: np.ndarray, residue_index: int) -> float:
    """Dihedral N-C-CA-CB (degrees) of a residue: about +123 for an L-amino acid, -123 for D."""
    from ..geometry import dihedral_angles

    atoms = {a.name: a.index for a in list(topology.residues())[residue_index].atoms()}
    quad = [atoms["N"], atoms["C"], atoms["CA"], atoms["CB"]]
    return float(np.degrees(dihedral_angles(np.asarray(positions_nm), [quad])[0]))
