"""The application layer: run configs, run directories, :class:`Emulator`, and the CLI.

* :mod:`scoremd.app.config`: TOML -> typed frozen dataclasses -> objects (sampler, integrator, ...).
* :mod:`scoremd.app.rundir`: the files of a run directory and their bookkeeping.
* :mod:`scoremd.app.emulator`: :class:`Emulator`, a trained model in physical units.
* :mod:`scoremd.app.runs`: :func:`train`, :func:`load` and :func:`run` (train, sample, simulate, evaluate).
* :mod:`scoremd.app.transferable`: the transferable dipeptide model (one model, many molecules).
* :mod:`scoremd.app.openmm_bridge`: :func:`to_openmm`, the learned force field as an OpenMM System.
* :mod:`scoremd.app.cli`: the ``scoremd`` command, a thin layer over the above.
"""

from .config import RunConfig as RunConfig
from .config import SampleConfig as SampleConfig
from .config import SimulateConfig as SimulateConfig
from .config import load_config as load_config
from .emulator import Emulator as Emulator
from .openmm_bridge import OpenMMModel as OpenMMModel
from .openmm_bridge import to_openmm as to_openmm
from .runs import load as load
from .runs import load_training_data as load_training_data
from .runs import run as run
from .runs import train as train

__all__ = ["Emulator", "OpenMMModel", "RunConfig", "SampleConfig", "SimulateConfig", "load", "load_config",
           "load_training_data", "run", "to_openmm", "train"]
