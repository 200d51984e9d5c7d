"""Langevin dynamics (integrators as pure ``init``/``step`` kernels, the ``simulate`` driver) and
Metropolis-adjusted sampling (MALA, HMC from BlackJAX, the ``mcmc`` driver).

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
from ._mcmc import HMC as HMC
from ._mcmc import MALA as MALA
from ._mcmc import MCMC_METHODS as MCMC_METHODS
from ._mcmc import AbstractMCMC as AbstractMCMC
from ._mcmc import MCMCResult as MCMCResult
from ._mcmc import effective_sample_size as effective_sample_size
from ._mcmc import mcmc as mcmc
from ._simulate import Trajectory as Trajectory
from ._simulate import simulate as simulate

__all__ = ["HMC", "INTEGRATORS", "MALA", "MCMC_METHODS", "AbstractLangevin", "AbstractMCMC", "Kernel", "LangevinInfo",
           "LangevinLeapfrog", "LangevinMiddle", "LangevinState", "MCMCResult", "Trajectory", "effective_sample_size",
           "kinetic_energy", "mcmc", "simulate"]
