"""Coarse-grained molecular systems trained on OpenMM reference MD (docs/design.md §6).

A :class:`MolecularSystem` names its reference data (``data/<name>/run_XX``,
made by ``scoremd data generate``), its coarse-graining map (atom names), its
thermodynamic state and MD defaults, which runs are the untouched test set, and
what the evaluation looks at (the backbone dihedrals, the CG bonds). Loading the
data is :func:`scoremd.data.load_molecular_data`'s job.

Units: positions nm, time ps, energies kJ/mol, masses amu, temperature K.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..units import kbt as thermal_energy

ALANINE_DIPEPTIDE_BACKBONE = (("ACE", "C"), ("ALA", "N"), ("ALA", "CA"), ("ALA", "C"), ("NME", "N"))
ALANINE_DIPEPTIDE_PHI = (0, 1, 2, 3)
ALANINE_DIPEPTIDE_PSI = (1, 2, 3, 4)


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
      validation_fraction: held-out (validation) fraction of the reference: of its runs (whole
        runs held out) or of every run (its last part), see ``DataConfig.held_out``. Test runs
        are not counted.
      test_runs: indices of the reference runs kept as the untouched test set: never used for
        training or validation, only by evaluations that ask for them (docs/design.md D14).
      js_bins: bins per dihedral axis of the JS histogram.
      pmf_bins: bins per dihedral axis of the PMF histogram.
      position_limit: |x| (nm) beyond which an MD replica counts as diverged.
      generate_command: how the shipped reference data were made.
      residue_masses: bead masses are whole residue masses (C-alpha protein models) instead of
        the masses of the mapped atoms.
      native_contact_cutoff: C-alpha proteins: the native-contact criterion (nm) of Q; set, it
        makes the report a protein report (TICA, Q; ``structure`` is then the native C-alpha PDB).
      tica_lag_ps: C-alpha proteins: the TICA lag time (ps).
      bond_pairs: the CG bonds as bead pairs (None: consecutive beads along the chain).
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
    test_runs: tuple[int, ...] = ()
    js_bins: int = 64
    pmf_bins: int = 64
    position_limit: float = 1e3
    generate_command: str = ""
    residue_masses: bool = False
    native_contact_cutoff: float | None = None
    tica_lag_ps: float = 1000.0
    bond_pairs: tuple[tuple[int, int], ...] | None = None

    @property
    def is_protein(self) -> bool:
        """A C-alpha protein (evaluated by TICA and native contacts)."""
        return self.native_contact_cutoff is not None

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
        """CG bonds: ``bond_pairs``, else consecutive beads along the chain."""
        if self.bond_pairs is not None:
            return self.bond_pairs
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
    test_runs=(4, 5, 6, 7),  # seeds 5-8: made after every choice of the presets
    generate_command=(
        "scoremd data generate alanine_dipeptide --out data/alanine_dipeptide --runs 4 --ns 250 "
        "--dt 0.002 --constraints hbonds"
    ),
)


def _calpha_map(sequence: str) -> tuple[tuple[str, str], ...]:
    """One C-alpha bead per residue of a one-letter sequence."""
    three = {"A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "E": "GLU", "Q": "GLN", "G": "GLY",
             "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE", "P": "PRO", "S": "SER",
             "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL"}
    return tuple((three[c], "CA") for c in sequence)


def _calpha_protein(name: str, sequence: str, native: str, temperature: float, contact_cutoff: float,
                    epsilon: float, ns: int, tica_lag_ps: float, dihedrals) -> MolecularSystem:
    """A fast folder on the structure-based C-alpha surrogate (scoremd.data.go_model; docs/data/fast_folders.md):
    one bead per residue with its residue mass, 10-fs MD, a frame per 5 ps; runs 00-01 train, 02-03
    validation, 04-05 test. ``dihedrals`` (two C-alpha pseudo-dihedrals) serve the generic molecular
    tools; the report is the protein report (TICA, Q)."""
    cutoff = "" if contact_cutoff == 1.0 else f"--contact-cutoff {contact_cutoff:g} "
    return MolecularSystem(
        name=name, structure=native, cg_map=_calpha_map(sequence), dihedrals=dihedrals, temperature=temperature,
        dt=0.01, steps_per_frame=500, test_runs=(4, 5), residue_masses=True, native_contact_cutoff=contact_cutoff,
        tica_lag_ps=tica_lag_ps,
        generate_command=(f"scoremd data go {native} --temperature {temperature:g} {cutoff}--epsilon {epsilon:g} "
                          f"--out data/{name} --runs 6 --ns {ns} --frame-interval 5"),
    )


# TICA lags: the surrogate folds within ~100 ps (Q decorrelates by 50 ps for chignolin, 100 ps for BBA),
# so a 1-ns lag finds only noise; at 10 ps TIC1 follows chignolin's Q (|r| = 0.77 on the training runs), at
# 50 ps BBA's only loosely (|r| = 0.35), so for BBA the folded share and Q JS say more (docs/data/fast_folders.md).
# 0.8-nm contacts give BBA a more cooperative fold than 1.0 nm.
CHIGNOLIN = _calpha_protein("chignolin", "YYDPETGTWY", "data/folded/CLN025_ca.pdb", 340.0, 1.0, 2.75, 200, 10.0,
                            ((2, 3, 4, 5), (3, 4, 5, 6)))
BBA = _calpha_protein("bba", "EQYTAKYKGRTFRNEKELRDFIEKFKGR", "data/folded/BBA_1FME_ca.pdb", 325.0, 0.8, 4.25, 100,
                      50.0, ((5, 6, 7, 8), (6, 7, 8, 9)))
