"""scoremd: energy-based diffusion models for molecular sampling and simulation.

One network E_theta(x, t) gives an energy; its gradient is the diffusion score.
Trained by denoising score matching, the same model draws i.i.d. samples by
reverse diffusion and, at t -> 0, is a force field for Langevin dynamics
(Plainer, Wu, Klein, Guennemann & Noe, NeurIPS 2025).

Units (DESIGN D1): nm, ps, kJ/mol, amu, 1/ps, K.
"""

__version__ = "0.1.0"

from ._errors import CheckpointError as CheckpointError
from ._errors import ConfigError as ConfigError
from ._errors import DataError as DataError
from ._errors import ScoremdError as ScoremdError
from ._errors import SimulationDivergedError as SimulationDivergedError
from ._errors import TrainingDivergedError as TrainingDivergedError
from .analysis.metrics import js_divergence as js_divergence
from .analysis.metrics import pmf_error as pmf_error
from .analysis.report import evaluate as evaluate
from .config import RunConfig as RunConfig
from .config import SampleConfig as SampleConfig
from .config import SimulateConfig as SimulateConfig
from .config import load_config as load_config
from .data import DataConfig as DataConfig
from .dynamics import LangevinConfig as LangevinConfig
from .dynamics import langevin as langevin
from .dynamics import simulate as simulate
from .losses import LossConfig as LossConfig
from .losses import dsm_loss as dsm_loss
from .models import EnergyModel as EnergyModel
from .models import ModelConfig as ModelConfig
from .models import build_model as build_model
from .sampling import sample as sample
from .sde import VPSDE as VPSDE
from .systems import get_system as get_system
from .training import TrainConfig as TrainConfig
from .training import fit as fit
from .workflow import Emulator as Emulator
from .workflow import load as load
from .workflow import train as train
