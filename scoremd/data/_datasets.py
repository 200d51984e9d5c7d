"""Training data: where they come from (:class:`DataConfig`), validation and normalisation.

A dataset folder holds ``positions.npy`` (float32, shape (N, *event); nm for
molecules) and a ``metadata.json`` recording how it was made and its SHA-256.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..storage import atomic_save_npy, atomic_write_text, sha256
from ._splits import HELD_OUT_SPLITS

__all__ = ["DATA_FILE", "METADATA_FILE", "DataConfig", "load_positions_file", "normalisation_scale",
           "validate_positions", "write_dataset"]

DATA_FILE = "positions.npy"
METADATA_FILE = "metadata.json"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where training data come from and how they are normalised.

    Attributes:
      dir: folder holding ``<system>/positions.npy`` (generated there if missing).
      path: optional explicit ``.npy`` file of shape (N, *event) (nm) used instead of ``dir``.
      scale: normalisation s of docs/design.md D2: a positive number, or ``"std"`` for the
        standard deviation of all centred coordinates. Toys use 1.
      held_out: how a molecule's reference MD is split into training and held-out
        frames: ``"runs"`` holds out whole independent runs (the last half of them),
        ``"time"`` the last half of every run. The floor splits the held-out frames
        in two by runs (in time if they come from one run).
      trajectories: molecules: a user's own reference instead of ``dir``: trajectory files or
        glob patterns mdtraj reads (e.g. D. E. Shaw Research DCD files), one run per file, in order
        (a single name or pattern may be given as a string).
      topology: the topology of ``trajectories`` (e.g. their PDB), with every atom of the files.
      stride: keep every stride-th frame of ``trajectories``.
      frame_ps: time between the frames of ``trajectories`` (ps, before ``stride``; e.g. 200 for
        the D. E. Shaw Research fast folders); None: the system's own frame interval.
      peptides: transferable dipeptides: the training peptides (e.g. ``"train:100"`` or
        ``"AK,GP"``; training pool only); None: the system's default.
      max_ns: transferable dipeptides: use only the first ``max_ns`` ns of each training run.
    """

    dir: str = "data"
    path: str | None = None
    scale: float | str = 1.0
    held_out: str = "runs"
    trajectories: tuple[str, ...] | str | None = None
    topology: str | None = None
    stride: int = 1
    frame_ps: float | None = None
    peptides: str | None = None
    max_ns: float | None = None

    def __post_init__(self):
        if isinstance(self.scale, str):
            if self.scale != "std":
                raise ValueError(f'data.scale must be a positive number or "std", got {self.scale!r}')
        elif not self.scale > 0:
            raise ValueError(f"data.scale must be positive, got {self.scale}")
        if self.max_ns is not None and not self.max_ns > 0:
            raise ValueError(f"data.max_ns must be a positive number of ns, got {self.max_ns}")
        if self.held_out not in HELD_OUT_SPLITS:
            raise ValueError(f'data.held_out must be "runs" or "time", got {self.held_out!r}')
        if self.trajectories is not None:
            files = (self.trajectories,) if isinstance(self.trajectories, (str, Path)) else self.trajectories
            object.__setattr__(self, "trajectories", tuple(str(t) for t in files))
            if not self.trajectories or self.topology is None:
                raise ValueError("data.trajectories needs at least one file and data.topology (their topology file)")
            if self.path is not None:
                raise ValueError("data.path and data.trajectories are two sources of training data; keep one")
        elif self.topology is not None or self.stride != 1 or self.frame_ps is not None:
            raise ValueError("data.topology, data.stride and data.frame_ps describe the files of data.trajectories; "
                             "set data.trajectories too, or remove them")
        if self.frame_ps is not None and not self.frame_ps > 0:
            raise ValueError(f"data.frame_ps must be a positive time in ps, got {self.frame_ps!r}")
        if not (isinstance(self.stride, int) and self.stride > 0):
            raise ValueError(f"data.stride must be a positive integer, got {self.stride!r}")


    def reference_source(self) -> dict:
        """Keyword arguments of :func:`~scoremd.data.load_molecular_data` for a user's own trajectories
        (empty when the reference is ``dir``)."""
        if self.trajectories is None:
            return {}
        return {"trajectories": self.trajectories, "topology": self.topology, "stride": self.stride}


def validate_positions(x: np.ndarray, event_shape, source: str) -> np.ndarray:
    """Check samples have shape (N, *event_shape) and are finite; return float32.

    Raises:
      DataError: naming ``source``, the problem and the fix.
    """
    x = np.asarray(x)
    event_shape = tuple(event_shape)
    if x.ndim != 1 + len(event_shape) or x.shape[1:] != event_shape:
        raise DataError(
            f"{source}: expected positions of shape (N, {', '.join(map(str, event_shape))}), got {x.shape}; "
            "check that the data belong to this system"
        )
    if x.shape[0] == 0:
        raise DataError(f"{source}: the data set is empty")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{source}: positions must be floating point, got dtype {x.dtype}")
    bad = ~np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    if bad.any():
        raise DataError(
            f"{source}: {int(bad.sum())} of {x.shape[0]} samples contain NaN or inf "
            f"(first at index {int(np.flatnonzero(bad)[0])}); remove or regenerate them"
        )
    return x.astype(np.float32)


def normalisation_scale(x: np.ndarray, scale: float | str) -> float:
    """The scalar s of docs/design.md D2 (coordinates are divided by it before the network)."""
    if scale == "std":
        return float(np.std(x))
    return float(scale)


def write_dataset(folder: str | Path, positions: np.ndarray, metadata: dict) -> Path:
    """Write ``positions.npy`` and ``metadata.json`` (with SHA-256) atomically; return the folder."""
    folder = Path(folder)
    atomic_save_npy(folder / DATA_FILE, positions)
    meta = dict(metadata)
    meta["sha256"] = sha256(folder / DATA_FILE)
    meta["shape"] = list(positions.shape)
    atomic_write_text(folder / METADATA_FILE, json.dumps(meta, indent=2) + "\n")
    return folder


def load_positions_file(path: str | Path, event_shape) -> np.ndarray:
    """Load user-supplied samples from a ``.npy`` file and validate them."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataError(f"{path} is not a readable .npy array ({err})") from err
    return validate_positions(x, event_shape, str(path))
