"""scoremd: energy-based diffusion models for molecular sampling and simulation.

One network E_theta(x, t) gives an energy; its gradient is the diffusion score.
Trained by denoising score matching, the same model draws i.i.d. samples by
reverse diffusion and, at t -> 0, is a force field for Langevin dynamics
(Plainer, Wu, Klein, Guennemann & Noe, NeurIPS 2025).

Layers, data flowing one way (docs/design.md §8)::

    systems -> dynamics -> data -> models -> diffusion -> training -> analysis -> app

Start with :class:`Emulator` (:func:`train`, :func:`load`); the command line is
``scoremd`` (:mod:`scoremd.app.cli`). Units (D1): nm, ps, kJ/mol, amu, 1/ps, K.
Importing scoremd sets no plotting backend and no logging. It makes one choice for JAX, only
if JAX has not started and nobody chose otherwise: one CPU device per core (at most 8), so
that MD replicas and i.i.d. samples run in parallel on a CPU (:func:`scoremd.parallel.split_cpu_cores`;
``JAX_NUM_CPU_DEVICES=1`` keeps one device).
"""

from .parallel import split_cpu_cores as _split_cpu_cores

_split_cpu_cores()

from ._version import __version__ as __version__
from ._errors import CheckpointError as CheckpointError
from ._errors import ConfigError as ConfigError
from ._errors import DataError as DataError
from ._errors import ScoremdError as ScoremdError
from ._errors import ResumeError as ResumeError
from ._errors import SimulationDivergedError as SimulationDivergedError
from ._errors import TrainingDivergedError as TrainingDivergedError
from .analysis import evaluate as evaluate
from .analysis import js_divergence as js_divergence
from .analysis import pmf_error as pmf_error
from .app import Emulator as Emulator
from .app import RunConfig as RunConfig
from .app import SampleConfig as SampleConfig
from .app import SimulateConfig as SimulateConfig
from .app import load as load
from .app import load_config as load_config
from .app import to_openmm as to_openmm
from .app import train as train
from .data import DataConfig as DataConfig
from .diffusion import ExactFP as ExactFP
from .diffusion import FiniteDifferenceFP as FiniteDifferenceFP
from .diffusion import LossConfig as LossConfig
from .diffusion import ProbabilityFlowODE as ProbabilityFlowODE
from .diffusion import ReverseSDE as ReverseSDE
from .diffusion import dsm_loss as dsm_loss
from .diffusion import sample as sample
from .dynamics import HMC as HMC
from .dynamics import MALA as MALA
from .dynamics import LangevinLeapfrog as LangevinLeapfrog
from .dynamics import LangevinMiddle as LangevinMiddle
from .dynamics import mcmc as mcmc
from .dynamics import simulate as simulate
from .models import AbstractEnergyModel as AbstractEnergyModel
from .models import ModelConfig as ModelConfig
from .models import build_model as build_model
from .sde import VPSDE as VPSDE
from .systems import get_system as get_system
from .training import TrainConfig as TrainConfig
from .training import fit as fit

__all__ = ["AbstractEnergyModel", "CheckpointError", "ConfigError", "DataConfig", "DataError", "Emulator", "ExactFP",
           "FiniteDifferenceFP", "HMC", "LangevinLeapfrog", "LangevinMiddle", "LossConfig", "MALA", "ModelConfig",
           "ProbabilityFlowODE", "ResumeError", "ReverseSDE", "RunConfig", "SampleConfig", "ScoremdError", "SimulateConfig",
           "SimulationDivergedError", "TrainConfig", "TrainingDivergedError", "VPSDE", "build_model", "dsm_loss",
           "evaluate", "fit", "get_system", "js_divergence", "load", "load_config", "mcmc", "pmf_error", "sample",
           "simulate", "to_openmm", "train", "__version__"]
