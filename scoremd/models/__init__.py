"""Energy networks: architectures and the pure energy/score functions."""

from ._energy import MODEL_KINDS as MODEL_KINDS
from ._energy import EnergyModel as EnergyModel
from ._energy import MixtureEnergyModel as MixtureEnergyModel
from ._energy import ModelConfig as ModelConfig
from ._energy import Params as Params
from ._energy import build_model as build_model
from ._mlp import EnergyMLP as EnergyMLP
from ._mlp import distance_statistics as distance_statistics
from ._transformer import EnergyTransformer as EnergyTransformer
from ._time import n_time_features as n_time_features
from ._time import time_features as time_features
