"""Systems: analytic toy potentials and coarse-grained molecules."""

from __future__ import annotations

from .._errors import ConfigError
from ._molecular import ALANINE_DIPEPTIDE as ALANINE_DIPEPTIDE
from ._molecular import MolecularData as MolecularData
from ._molecular import MolecularSystem as MolecularSystem
from ._molecular import cg_topology as cg_topology
from ._molecular import load_molecular_data as load_molecular_data
from ._toys import DOUBLE_WELL as DOUBLE_WELL
from ._toys import GAUSSIAN_MIXTURE as GAUSSIAN_MIXTURE
from ._toys import MUELLER_BROWN as MUELLER_BROWN
from ._toys import ToySystem as ToySystem
from ._toys import mueller_brown_potential as mueller_brown_potential

System = ToySystem | MolecularSystem

SYSTEMS: dict[str, System] = {
    s.name: s for s in (DOUBLE_WELL, GAUSSIAN_MIXTURE, MUELLER_BROWN, ALANINE_DIPEPTIDE)
}


def get_system(name: str) -> System:
    """Look a system up by name; unknown names raise :class:`ConfigError` listing the known ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ConfigError(f"unknown system {name!r}; known systems: {', '.join(sorted(SYSTEMS))}") from None
