"""Systems: definitions and the registry only (docs/design.md §6).

A system says what is simulated (potential or coarse-graining map), at which
thermodynamic state, with which MD defaults, and what the evaluation looks at.
Its data live in :mod:`scoremd.data`.
"""

from __future__ import annotations

from .._errors import ConfigError
from ._molecular import ALANINE_DIPEPTIDE as ALANINE_DIPEPTIDE
from ._molecular import BBA as BBA
from ._molecular import CHIGNOLIN as CHIGNOLIN
from ._molecular import MolecularSystem as MolecularSystem
from ._peptides import DIPEPTIDES as DIPEPTIDES
from ._peptides import TransferableSystem as TransferableSystem
from ._toys import DOUBLE_WELL as DOUBLE_WELL
from ._toys import GAUSSIAN_MIXTURE as GAUSSIAN_MIXTURE
from ._toys import MUELLER_BROWN as MUELLER_BROWN
from ._toys import ToySystem as ToySystem
from ._toys import boltzmann_bin_probabilities as boltzmann_bin_probabilities
from ._toys import mueller_brown_potential as mueller_brown_potential

__all__ = ["ALANINE_DIPEPTIDE", "BBA", "CHIGNOLIN", "DIPEPTIDES", "DOUBLE_WELL", "GAUSSIAN_MIXTURE", "MUELLER_BROWN", "SYSTEMS", "MolecularSystem",
           "System", "ToySystem", "TransferableSystem", "boltzmann_bin_probabilities", "get_system", "mueller_brown_potential"]

System = ToySystem | MolecularSystem | TransferableSystem

SYSTEMS: dict[str, System] = {
    s.name: s for s in (DOUBLE_WELL, GAUSSIAN_MIXTURE, MUELLER_BROWN, ALANINE_DIPEPTIDE, CHIGNOLIN, BBA, DIPEPTIDES)
}


def get_system(name: str) -> System:
    """Look a system up by name; unknown names raise :class:`ConfigError` listing the known ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ConfigError(f"unknown system {name!r}; known systems: {', '.join(sorted(SYSTEMS))}") from None
