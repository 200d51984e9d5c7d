"""Dipeptides of the transferable benchmark: peptide sets, structures from sequence, beads.

The benchmark (Timewarp's "2AA" set, reused by TBG and the energy-based diffusion
paper) holds the 400 uncapped, zwitterionic two-residue peptides, named by their
one-letter codes from N- to C-terminus ("AK" is ALA-LYS). Its test and validation
peptides are fixed (:data:`TEST`, :data:`VALIDATION`); training peptides are any
of the rest (:func:`training_pool`). docs/data/dipeptides.md states the protocol.

Structures are built from sequence (PeptideBuilder's standard geometry, then
PDBFixer adds the C-terminal OXT and the hydrogens of pH 7), and every built
structure is checked: L-amino acids only and trans peptide bonds
(:func:`check_structure`), because other routes have silently produced D-residues
and cis bonds. The coarse-grained beads are N, CA, CB, C, O of each residue
(glycine has no CB: 9 beads instead of 10).

Units: positions in nm, angles in degrees.
"""

from __future__ import annotations

import dataclasses
import io
import random

import numpy as np

from .._errors import DataError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 one-letter codes, in the order that numbers the 400 dipeptides (seeds)."""

THREE_LETTER = {
    "A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS", "I": "ILE",
    "K": "LYS", "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN", "R": "ARG", "S": "SER",
    "T": "THR", "V": "VAL", "W": "TRP", "Y": "TYR",
}

TEST = tuple("""QM YD EY AM IM EV QW AR KS NF EL TI HP VV AT NE CR GT DK AH HC TA ST TT GR DH KN KE
FS SY KI QF MK WF RF GN WI AC QG RT RL HI ME AD NY SD KD EK DL MA FA IQ TY IK IG MY AN FH CK QQ HT
SQ LM RV CS LW TE TK ET TD GP RQ CN CW DW HR LY KQ RC HK KC YA MC MI NC FF TF YI LV MV YL RY MW AP
KG NK GQ KR EW NQ""".split())
"""The benchmark's 100 test peptides (never used for training or choices)."""

VALIDATION = tuple("""TM NA NV MQ LA MR NH HQ DT QC GD NI ND VI MD IS VF WT CG KA CH IE TW WH TS FY
LR ID MF TR VG SW IV TG YS SA WY SM RD TP LE HS VL IW RK NW RP DD SK WC DR RE NG KV CV HH KL IL ES
AV VQ CF CC EH HV IY HF TH CE DQ CM MS YW RA NT HD RH MN SI VP""".split())
"""The benchmark's 80 validation peptides."""

PAPER_TEST = tuple("KS AT LW KQ NY IM TD HT NF RL ET AC RV HP AP".split())
"""The 15 test peptides the energy-based diffusion paper reports (no glycine)."""

GLYCINE_TEST = ("GN", "KG", "GP")
"""Glycine-containing test peptides evaluated here in addition (TBG's table has GN and GP; KG too)."""

EVALUATION = PAPER_TEST + GLYCINE_TEST
"""The test peptides of this project's tables: the paper's 15 and three with glycine."""

BEAD_ATOMS = ("N", "CA", "CB", "C", "O")
"""Atoms kept per residue, in this order (glycine: without CB)."""


def all_dipeptides() -> tuple[str, ...]:
    """The 400 dipeptides in canonical order (AA, AC, ..., YY)."""
    return tuple(a + b for a in AMINO_ACIDS for b in AMINO_ACIDS)


def training_pool() -> tuple[str, ...]:
    """The 220 dipeptides that are neither test nor validation peptides, in canonical order."""
    held_out = set(TEST) | set(VALIDATION)
    return tuple(p for p in all_dipeptides() if p not in held_out)


def check_sequence(sequence: str) -> str:
    """``sequence`` in upper case if it names a dipeptide (two one-letter codes), else a DataError."""
    seq = str(sequence).strip().upper()
    bad = [c for c in seq if c not in AMINO_ACIDS]
    if len(seq) != 2 or bad:
        raise DataError(f"{sequence!r} is not a dipeptide: give two one-letter amino-acid codes from "
                        f"{AMINO_ACIDS} (N- to C-terminus), e.g. AK")
    return seq


def peptide_seed(sequence: str, run: int = 0) -> int:
    """A fixed seed per peptide and run (> 0): 1 + canonical index + 1000 · run."""
    return 1 + all_dipeptides().index(check_sequence(sequence)) + 1000 * int(run)


def resolve_peptides(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Peptides named by a set or a list.

    ``spec`` is a list of dipeptides, or a comma-separated string of items, each
    a dipeptide (``AK``), ``test`` (100), ``validation`` (80), ``evaluation`` (the
    paper's 15 + GN, KG, GP), ``paper`` (the paper's 15) or ``train:N`` (the first
    N of the training pool in a fixed shuffled order, so that N = 100 is a
    spread over all amino acids rather than the alphabetical head). Duplicates
    are dropped, the order kept.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    named = {"test": TEST, "validation": VALIDATION, "evaluation": EVALUATION, "paper": PAPER_TEST}
    out: list[str] = []
    for item in (i.strip() for i in items if i.strip()):
        if item.lower() in named:
            out += named[item.lower()]
        elif item.lower().startswith("train:"):
            try:
                n = int(item.split(":", 1)[1])
            except ValueError:
                n = -1
            pool = shuffled_training_pool()
            if not 1 <= n <= len(pool):
                raise DataError(f"{item!r}: train:N needs 1 <= N <= {len(pool)} (the training pool's size)")
            out += pool[:n]
        else:
            out.append(check_sequence(item))
    if not out:
        raise DataError("no peptides given: name dipeptides (AK,GP) or sets (test, evaluation, train:100)")
    return tuple(dict.fromkeys(out))


def shuffled_training_pool() -> tuple[str, ...]:
    """The training pool in a fixed pseudo-random order (seed 0), the order of ``train:N``."""
    pool = list(training_pool())
    random.Random(0).shuffle(pool)
    return tuple(pool)


@dataclasses.dataclass(frozen=True)
class Dipeptide:
    """A zwitterionic dipeptide as the structure of a reference run (:func:`scoremd.data.openmm.run_reference_md`).

    Attributes:
      sequence: two one-letter codes, N- to C-terminus.
    """

    sequence: str

    def __post_init__(self):
        object.__setattr__(self, "sequence", check_sequence(self.sequence))

    def build(self):
        """(topology, positions): all atoms with hydrogens, positions an OpenMM Quantity (nm); checked."""
        topology, positions = build_dipeptide(self.sequence)
        self.check(topology, np.asarray(positions.value_in_unit(positions.unit)))
        return topology, positions

    def check(self, topology, positions_nm: np.ndarray) -> None:
        """:func:`check_structure` (L-amino acids, trans bonds) of positions (n_atoms, 3) in nm."""
        check_structure(topology, positions_nm)

    def stored_atoms(self, topology) -> np.ndarray:
        """Indices of the atoms a reference run stores: the beads (:func:`bead_indices`)."""
        return bead_indices(topology)


def build_dipeptide(sequence: str):
    """All-atom structure of an uncapped, zwitterionic dipeptide (pH 7), extended backbone.

    Returns:
      (topology, positions) with positions an OpenMM Quantity in nm.
    """
    import PeptideBuilder
    from Bio.PDB import PDBIO
    from openmm import Platform
    from openmm.app import Modeller
    from PeptideBuilder import Geometry
    from pdbfixer import PDBFixer

    from .structures import add_hydrogens

    seq = check_sequence(sequence)
    structure = PeptideBuilder.make_structure_from_geos([Geometry.geometry(a) for a in seq])
    buf = io.StringIO()
    writer = PDBIO()
    writer.set_structure(structure)
    writer.save(buf)
    # PDBFixer relaxes the atoms it adds by default on the fastest platform, whose multithreaded
    # sums differ from run to run under load: use the Reference platform and a fixed seed, so that
    # the same sequence always gives the same structure, bit for bit (hydrogens: add_hydrogens).
    fixer = PDBFixer(pdbfile=io.StringIO(buf.getvalue()), platform=Platform.getPlatformByName("Reference"))
    fixer.missingResidues = {}  # never rebuild residues from SEQRES (that route made D-residues and cis bonds)
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=20251125)  # the C-terminal OXT
    modeller = Modeller(fixer.topology, fixer.positions)
    add_hydrogens(modeller, pH=7.0)
    return modeller.topology, modeller.positions


def _residue_atoms(topology):
    residues = list(topology.residues())
    return [{a.name: a.index for a in r.atoms()} for r in residues], [r.name for r in residues]


def check_structure(topology, positions_nm: np.ndarray) -> None:
    """Raise DataError unless every residue is an L-amino acid and every peptide bond is trans.

    L: dihedral N-C-CA-CB > 0 (about +123 degrees); trans: |omega| = |CA-C-N-CA| > 150 degrees.
    """
    from ..geometry import dihedral_angles

    x = np.asarray(positions_nm, dtype=np.float64)
    atoms, names = _residue_atoms(topology)
    for k, (a, name) in enumerate(zip(atoms, names)):
        if "CB" in a:
            chi = np.degrees(dihedral_angles(x, [[a["N"], a["C"], a["CA"], a["CB"]]])[0])
            if chi <= 0:
                raise DataError(f"residue {k + 1} ({name}) was built as a D-amino acid (N-C-CA-CB {chi:.0f} deg); "
                                "build it again from sequence with scoremd.data.dipeptides.build_dipeptide")
        if k + 1 < len(atoms):
            b = atoms[k + 1]
            omega = np.degrees(dihedral_angles(x, [[a["CA"], a["C"], b["N"], b["CA"]]])[0])
            if abs(omega) < 150:
                raise DataError(f"peptide bond {k + 1}-{k + 2} is not trans (omega {omega:.0f} deg); "
                                "build the structure again from sequence")


def bead_indices(topology) -> np.ndarray:
    """Atom indices of the beads N, CA, CB, C, O of each residue in order (glycine: N, CA, C, O)."""
    atoms, names = _residue_atoms(topology)
    out = []
    for k, (a, name) in enumerate(zip(atoms, names)):
        wanted = [n for n in BEAD_ATOMS if not (n == "CB" and name == "GLY")]
        missing = [n for n in wanted if n not in a]
        if missing:
            raise DataError(f"residue {k + 1} ({name}) has no atom(s) {', '.join(missing)}; "
                            "a dipeptide bead needs N, CA, CB (not glycine), C and O")
        out += [a[n] for n in wanted]
    return np.array(out)


def bead_labels(topology) -> list[tuple[int, str, str]]:
    """(residue index, residue name, atom name) of each bead, in bead order."""
    residue_of, index = {}, bead_indices(topology)
    for r, res in enumerate(topology.residues()):
        for atom in res.atoms():
            residue_of[atom.index] = (r, res.name, atom.name)
    return [residue_of[int(i)] for i in index]


__all__ = ["AMINO_ACIDS", "BEAD_ATOMS", "EVALUATION", "GLYCINE_TEST", "PAPER_TEST", "TEST", "THREE_LETTER",
           "VALIDATION", "Dipeptide", "all_dipeptides", "bead_indices", "bead_labels", "build_dipeptide",
           "check_sequence", "check_structure", "peptide_seed", "resolve_peptides", "shuffled_training_pool",
           "training_pool"]
