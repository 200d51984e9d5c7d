"""The diffusion side of the method: losses, the Fokker-Planck residual, i.i.d. samplers.

Everything here works in the network's normalised coordinates on a
:class:`~scoremd.sde.VPSDE` (re-exported here): denoising score matching and the
Fokker-Planck regulariser (docs/design.md §3), and the reverse-diffusion samplers
as ``init``/``step`` kernels with the :func:`sample` driver (§4), among them sequential Monte
Carlo on the model's energies (:class:`SMCReverseSDE`).
"""

from ..sde import VPSDE as VPSDE
from ._fokker_planck import FP_ESTIMATORS as FP_ESTIMATORS
from ._fokker_planck import AbstractFPEstimator as AbstractFPEstimator
from ._fokker_planck import ExactFP as ExactFP
from ._fokker_planck import FiniteDifferenceFP as FiniteDifferenceFP
from ._fokker_planck import TaylorFP as TaylorFP
from ._fokker_planck import fp_error_curve as fp_error_curve
from ._fokker_planck import fp_error_curves as fp_error_curves
from ._fokker_planck import fp_loss as fp_loss
from ._fokker_planck import fp_residual as fp_residual
from ._losses import FP_TIMES as FP_TIMES
from ._losses import LossConfig as LossConfig
from ._losses import dsm_loss as dsm_loss
from ._losses import sample_times as sample_times
from ._losses import time_weights as time_weights
from ._losses import training_loss as training_loss
from ._samplers import AbstractIntegrator as AbstractIntegrator
from ._samplers import AbstractSampler as AbstractSampler
from ._samplers import ProbabilityFlowODE as ProbabilityFlowODE
from ._samplers import ReverseSDE as ReverseSDE
from ._samplers import SamplerInfo as SamplerInfo
from ._samplers import SamplerKernel as SamplerKernel
from ._samplers import SamplerState as SamplerState
from ._samplers import regenerate as regenerate
from ._samplers import sample as sample
from ._samplers import time_grid as time_grid
from ._smc import SMCInfo as SMCInfo
from ._smc import SMCReverseSDE as SMCReverseSDE
from ._smc import SMCState as SMCState

SAMPLERS: dict[str, type[AbstractSampler]] = {c.name: c for c in (ReverseSDE, ProbabilityFlowODE, SMCReverseSDE)}
"""The samplers by their configuration name."""

__all__ = [
    "AbstractFPEstimator", "AbstractIntegrator", "AbstractSampler", "ExactFP", "FP_ESTIMATORS", "FP_TIMES",
    "FiniteDifferenceFP", "LossConfig", "ProbabilityFlowODE", "ReverseSDE", "SAMPLERS", "SMCInfo",
    "SMCReverseSDE", "SMCState", "SamplerInfo", "SamplerKernel", "SamplerState", "TaylorFP", "VPSDE",
    "dsm_loss", "fp_error_curve", "fp_error_curves", "fp_loss", "fp_residual", "regenerate", "sample",
    "sample_times", "time_grid", "time_weights", "training_loss",
]
