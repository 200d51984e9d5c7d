"""Energy networks: the abstract energy model, its two final forms, and the architectures.

A conditional model (the transferable dipeptide network) takes a context and is
bound to one (``model.bind(types)``) to become an ordinary E(x, t).
An :class:`AbstractEnergyModel` gives E_theta(x, t) in k_BT on normalised
coordinates through a pure ``energy(params, x, t)``; the score is always
-grad_x E (docs/design.md §2, §5).
"""

from ._config import Features as Features
from ._config import ModelConfig as ModelConfig
from ._config import ModelKind as ModelKind
from ._config import OutputScaling as OutputScaling
from ._config import TimeEmbedding as TimeEmbedding
from ._energy import AbstractEnergyModel as AbstractEnergyModel
from ._energy import BoundEnergyModel as BoundEnergyModel
from ._energy import EnergyModel as EnergyModel
from ._energy import MixtureEnergyModel as MixtureEnergyModel
from ._energy import Params as Params
from ._energy import build_model as build_model
from ._mlp import EnergyMLP as EnergyMLP
from ._mlp import closest_distances as closest_distances
from ._mlp import distance_statistics as distance_statistics
from ._peptide import PeptideEnergyMLP as PeptideEnergyMLP
from ._peptide import PeptideEnergyTransformer as PeptideEnergyTransformer
from ._time import n_time_features as n_time_features
from ._time import time_features as time_features
from ._transformer import EnergyTransformer as EnergyTransformer

__all__ = ["AbstractEnergyModel", "BoundEnergyModel", "EnergyMLP", "EnergyModel", "EnergyTransformer", "Features",
           "MixtureEnergyModel", "ModelConfig", "ModelKind", "OutputScaling", "Params", "PeptideEnergyMLP",
           "PeptideEnergyTransformer", "TimeEmbedding", "build_model", "closest_distances", "distance_statistics",
           "n_time_features", "time_features"]
