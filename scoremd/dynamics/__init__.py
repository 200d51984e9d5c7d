"""Langevin dynamics: integrators as pure ``init``/``step`` kernels and the ``simulate`` driver.

Generic over any batched force function (the learned force field, an analytic
toy potential), so it sits low in the package: data generation for the toys
uses it too. Units: nm, ps, kJ/mol, amu.
"""

from ._integrators import INTEGRATORS as INTEGRATORS
from ._integrators import AbstractLangevin as AbstractLangevin
from ._integrators import Kernel as Kernel
from ._integrators import LangevinInfo as LangevinInfo
from ._integrators import LangevinLeapfrog as LangevinLeapfrog
from ._integrators import LangevinMiddle as LangevinMiddle
from ._integrators import LangevinState as LangevinState
from ._integrators import kinetic_energy as kinetic_energy
from ._simulate import Trajectory as Trajectory
from ._simulate import simulate as simulate

__all__ = ["INTEGRATORS", "AbstractLangevin", "Kernel", "LangevinInfo", "LangevinLeapfrog", "LangevinMiddle",
           "LangevinState", "Trajectory", "kinetic_energy", "simulate"]
