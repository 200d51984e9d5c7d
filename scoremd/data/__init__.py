"""Data: where training data come from, their validation, splits and reference generation.

* :class:`DataConfig`, :func:`validate_positions`, :func:`normalisation_scale`: any dataset.
* :func:`load_toy_dataset` / :func:`make_toy_dataset`: the toy systems' Langevin data.
* :func:`load_molecular_data`: coarse-grained frames of a molecule's OpenMM reference runs,
  split into training and held-out frames; test runs only on request (docs/design.md D14).
* :mod:`scoremd.data.openmm`: reference MD with OpenMM (resumable, growable, checksummed);
  :mod:`scoremd.data.structures`: structures from internal coordinates.

OpenMM and mdtraj are imported only when reference data are generated or read.
"""

from ._coarse_graining import bead_masses as bead_masses
from ._coarse_graining import select_beads as select_beads
from ._datasets import DataConfig as DataConfig
from ._datasets import load_positions_file as load_positions_file
from ._datasets import normalisation_scale as normalisation_scale
from ._datasets import validate_positions as validate_positions
from ._datasets import write_dataset as write_dataset
from ._molecular import MolecularData as MolecularData
from ._molecular import cg_topology as cg_topology
from ._molecular import load_molecular_data as load_molecular_data
from ._molecular import reference_metadata as reference_metadata
from ._splits import HELD_OUT_SPLITS as HELD_OUT_SPLITS
from ._splits import run_split as run_split
from ._splits import split_frames as split_frames
from ._splits import time_block_split as time_block_split
from ._toy import generate_toy_data as generate_toy_data
from ._toy import load_toy_dataset as load_toy_dataset
from ._toy import make_toy_dataset as make_toy_dataset

__all__ = ["HELD_OUT_SPLITS", "DataConfig", "MolecularData", "bead_masses", "cg_topology", "generate_toy_data",
           "load_molecular_data", "load_positions_file", "load_toy_dataset", "make_toy_dataset",
           "normalisation_scale", "reference_metadata", "run_split", "select_beads", "split_frames",
           "time_block_split", "validate_positions", "write_dataset"]
