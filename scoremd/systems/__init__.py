"""Systems: analytic toy potentials (molecules follow)."""

from __future__ import annotations

from .._errors import ConfigError
from ._toys import DOUBLE_WELL as DOUBLE_WELL
from ._toys import GAUSSIAN_MIXTURE as GAUSSIAN_MIXTURE
from ._toys import MUELLER_BROWN as MUELLER_BROWN
from ._toys import ToySystem as ToySystem
from ._toys import mueller_brown_potential as mueller_brown_potential

SYSTEMS: dict[str, ToySystem] = {s.name: s for s in (DOUBLE_WELL, GAUSSIAN_MIXTURE, MUELLER_BROWN)}


def get_system(name: str) -> ToySystem:
    """Look a system up by name; unknown names raise :class:`ConfigError` listing the known ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ConfigError(f"unknown system {name!r}; known systems: {', '.join(sorted(SYSTEMS))}") from None
