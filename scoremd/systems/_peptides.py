"""The transferable dipeptide system: many molecules, one model (docs/design.md §6, D16).

:data:`DIPEPTIDES` names the campaign folder (``data/dipeptides``), which peptides
train and which are evaluated, the thermodynamic state and the learned MD's
defaults. :meth:`TransferableSystem.peptide` gives one dipeptide as an ordinary
:class:`MolecularSystem` on the model's ten slots (a glycine's CB slot is absent:
its coordinates are discarded), so the per-molecule tools (emulator, MD, MCMC)
apply to it unchanged. Units: K, ps, 1/ps, amu.
"""

from __future__ import annotations

import dataclasses

from ..units import kbt as thermal_energy
from ._molecular import MolecularSystem

_SLOT_ATOMS = ("N", "CA", "CB", "C", "O")
_BONDS = ((0, 1), (1, 2), (1, 3), (3, 4), (3, 5), (5, 6), (6, 7), (6, 8), (8, 9))
"""Slot pairs of the CG bonds: N-CA, CA-CB, CA-C, C-O of residue 1, the peptide C-N, then residue 2."""
_THREE = {"A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS", "I": "ILE",
          "K": "LYS", "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN", "R": "ARG", "S": "SER",
          "T": "THR", "V": "VAL", "W": "TRP", "Y": "TYR"}


@dataclasses.dataclass(frozen=True)
class TransferableSystem:
    """Dipeptides of the "2AA" benchmark as one system.

    Attributes:
      name: registry name; also the campaign folder under the data directory.
      training: the peptides that train (a ``resolve_peptides`` spec; the training pool only).
      evaluation: the held-out test peptides evaluated (never trained on).
      temperature: K.
      friction: Langevin collision rate of the learned MD, 1/ps.
      dt: time step of the learned MD, ps.
      steps_per_frame: MD steps between stored frames.
      js_bins, pmf_bins: bins per phi/psi axis of the metrics.
      position_limit: |x| (nm) beyond which an MD replica counts as diverged.
      generate_command: how the shipped reference data were made.
    """

    name: str = "dipeptides"
    training: str = "train:100"
    evaluation: str = "evaluation"
    temperature: float = 310.0
    friction: float = 1.0
    dt: float = 0.002
    steps_per_frame: int = 500
    js_bins: int = 64
    pmf_bins: int = 64
    position_limit: float = 1e3
    generate_command: str = ("scoremd data generate dipeptides --peptides evaluation,train:100 --ns 5 "
                             "--chunk-ns 0.5 --out data/dipeptides")

    n_slots = 10

    @property
    def event_shape(self) -> tuple[int, int]:
        return (self.n_slots, 3)

    @property
    def kbt(self) -> float:
        """k_BT in kJ/mol."""
        return thermal_energy(self.temperature)

    def peptide(self, sequence: str) -> MolecularSystem:
        """One dipeptide on the ten slots (phi = slots 3, 5, 6, 8; psi = 0, 1, 3, 5; a glycine's
        CB slot keeps the name CB in ``cg_map`` but is absent: no bond, no bead)."""
        seq = str(sequence).upper()
        if len(seq) != 2 or any(c not in _THREE for c in seq):
            raise ValueError(f"{sequence!r} is not a dipeptide (two one-letter amino-acid codes)")
        cg_map = tuple((_THREE[c], a) for c in seq for a in _SLOT_ATOMS)
        absent = {5 * r + 2 for r, c in enumerate(seq) if c == "G"}
        bonds = tuple(b for b in _BONDS if not absent & set(b))
        return MolecularSystem(
            name=f"{self.name}:{seq}", structure=seq, cg_map=cg_map, dihedrals=((3, 5, 6, 8), (0, 1, 3, 5)),
            temperature=self.temperature, friction=self.friction, dt=self.dt, steps_per_frame=self.steps_per_frame,
            js_bins=self.js_bins, pmf_bins=self.pmf_bins, position_limit=self.position_limit,
            generate_command=self.generate_command, bond_pairs=bonds,
        )


DIPEPTIDES = TransferableSystem()
