"""Datasets: validation, normalisation, and the toy systems' reference data.

Toy training data are long Langevin runs (OpenMM's ``LangevinMiddleIntegrator``
scheme) on the true potential. Each replica starts from an exact sample of the
Boltzmann density, so the mode weights are right from the first frame even where
barriers are too high to be crossed in the run (the 1-D double well), and is
equilibrated for ``burn_in_frames`` before frames are stored. Generation is
deterministic given the seed; results live in ``data/<system>/`` as
``positions.npy`` (float32, shape (n_frames * n_replicas, *event)) with a
``metadata.json`` recording the settings, the command and the SHA-256.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shlex
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import DataError
from .dynamics import LangevinConfig, simulate
from .io import atomic_save_npy, atomic_write_text, sha256
from .systems import ToySystem
from .systems._molecule import HELD_OUT_SPLITS

DATA_FILE = "positions.npy"
METADATA_FILE = "metadata.json"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where training data come from and how they are normalised.

    Attributes:
      dir: folder holding ``<system>/positions.npy`` (generated there if missing).
      path: optional explicit ``.npy`` file of shape (N, *event) overriding ``dir``.
      scale: normalisation s of DESIGN D2: a positive number, or ``"std"`` for the
        standard deviation of all centred coordinates. Toys use 1.
      held_out: how a molecule's reference MD is split into training and held-out
        frames: ``"runs"`` holds out whole independent runs (the last half of them),
        ``"time"`` the last half of every run. The floor splits the held-out frames
        in two by runs (in time if they come from one run).
    """

    dir: str = "data"
    path: str = ""
    scale: float | str = 1.0
    held_out: str = "runs"

    def __post_init__(self):
        if isinstance(self.scale, str):
            if self.scale != "std":
                raise ValueError(f'data.scale must be a positive number or "std", got {self.scale!r}')
        elif not self.scale > 0:
            raise ValueError(f"data.scale must be positive, got {self.scale}")
        if self.held_out not in HELD_OUT_SPLITS:
            raise ValueError(f'data.held_out must be "runs" or "time", got {self.held_out!r}')


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
    """The scalar s of DESIGN D2 (coordinates are divided by it before the network)."""
    if scale == "std":
        return float(np.std(x))
    return float(scale)


def generate_toy_data(
    system: ToySystem,
    *,
    seed: int = 0,
    n_replicas: int | None = None,
    n_frames: int | None = None,
    burn_in_frames: int = 20,
    progress: bool = True,
) -> np.ndarray:
    """Simulate the toy system's true potential and return frames (N, d), float32.

    Replicas start from exact Boltzmann samples and run the middle-scheme
    Langevin integrator with the system's k_BT, mass, friction, dt and
    steps-per-frame; ``burn_in_frames`` frames are discarded. Frames are ordered
    frame-major (all replicas of frame 0, then frame 1, ...).
    """
    n_replicas = n_replicas or system.data_replicas
    n_frames = n_frames or system.data_frames
    start = system.exact_samples(n_replicas, seed=seed)
    config = LangevinConfig(kbt=system.kbt, friction=system.friction, dt=system.dt)
    frames = simulate(
        system.force,
        jnp.asarray(start),
        system.mass,
        config,
        n_frames + burn_in_frames,
        system.steps_per_frame,
        key=jax.random.PRNGKey(seed),
        progress=progress,
        position_limit=system.position_limit,
    )
    return frames[burn_in_frames:].reshape(-1, system.dim).astype(np.float32)


def write_dataset(folder: str | Path, positions: np.ndarray, metadata: dict) -> Path:
    """Write ``positions.npy`` and ``metadata.json`` (with SHA-256) atomically; return the folder."""
    folder = Path(folder)
    atomic_save_npy(folder / DATA_FILE, positions)
    meta = dict(metadata)
    meta["sha256"] = sha256(folder / DATA_FILE)
    meta["shape"] = list(positions.shape)
    atomic_write_text(folder / METADATA_FILE, json.dumps(meta, indent=2) + "\n")
    return folder


def make_toy_dataset(system: ToySystem, data_dir: str | Path, *, seed: int = 0, progress: bool = True, **kwargs):
    """Generate and write ``data_dir/<system>/``; returns the positions."""
    x = generate_toy_data(system, seed=seed, progress=progress, **kwargs)
    n_replicas = kwargs.get("n_replicas") or system.data_replicas
    meta = {
        "system": system.name,
        "kind": "Langevin MD on the exact potential, replicas started from exact Boltzmann samples",
        "integrator": "middle (OpenMM LangevinMiddleIntegrator scheme)",
        "kbt": system.kbt,
        "mass": system.mass,
        "friction": system.friction,
        "dt": system.dt,
        "steps_per_frame": system.steps_per_frame,
        "n_replicas": n_replicas,
        "n_frames_per_replica": x.shape[0] // n_replicas,
        "burn_in_frames": kwargs.get("burn_in_frames", 20),
        "seed": seed,
        "order": "frame-major: row = frame * n_replicas + replica",
        "command": f"scoremd data toy {system.name} --seed {seed} --dir {shlex.quote(str(data_dir))}",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
    }
    write_dataset(Path(data_dir) / system.name, x, meta)
    return x


def load_toy_dataset(system: ToySystem, data_dir: str | Path, *, generate: bool = True, progress: bool = True):
    """Load ``data_dir/<system>/positions.npy``, verifying its checksum; generate it if missing.

    Raises:
      DataError: the file fails its checksum or validation.
    """
    folder = Path(data_dir) / system.name
    path = folder / DATA_FILE
    if not path.exists():
        if not generate:
            raise DataError(f"no data at {path}; create it with `scoremd data toy {system.name} --dir {data_dir}`")
        print(f"scoremd: generating {system.name} data into {folder} (deterministic, seed 0)", file=sys.stderr)
        return make_toy_dataset(system, data_dir, progress=progress)
    meta_path = folder / METADATA_FILE
    if meta_path.exists():
        expected = json.loads(meta_path.read_text()).get("sha256")
        if expected and sha256(path) != expected:
            raise DataError(
                f"{path} does not match the SHA-256 in {meta_path}; the file was modified or truncated. "
                f"Restore it (git checkout {path}) or regenerate it with `scoremd data toy {system.name} --dir {data_dir}`"
            )
    return validate_positions(np.load(path), system.event_shape, str(path))


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
