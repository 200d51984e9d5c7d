"""Reference data of the analytic toy systems (docs/design.md §6, docs/data/toys.md).

Toy training data are long Langevin runs (OpenMM's ``LangevinMiddleIntegrator``
scheme, :class:`scoremd.dynamics.LangevinMiddle`) on the true potential. Each
replica starts from an exact sample of the Boltzmann density, so the mode
weights are right from the first frame even where barriers are too high to be
crossed in the run (the 1-D double well), and is equilibrated for
``burn_in_frames`` before frames are stored. Generation is deterministic given
the seed; results live in ``data/<system>/`` as ``positions.npy`` (float32,
shape (n_frames * n_replicas, *event)) with a ``metadata.json`` recording the
settings, the command and the SHA-256.
"""

from __future__ import annotations

import datetime
import json
import shlex
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import DataError
from ..dynamics import LangevinMiddle, simulate
from ..systems import ToySystem
from ..storage import sha256
from ._datasets import DATA_FILE, METADATA_FILE, validate_positions, write_dataset

__all__ = ["generate_toy_data", "load_toy_dataset", "make_toy_dataset"]


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

    Raises:
      DataError: ``system`` is not a toy system (molecules' reference MD is made with OpenMM).
    """
    if not isinstance(system, ToySystem):
        name = getattr(system, "name", system)
        command = getattr(system, "generate_command", None) or "scoremd data generate dipeptides"
        raise DataError(f"{name} is not a toy system with an analytic potential; its reference MD comes from "
                        f"OpenMM: `{command}`")
    n_replicas = n_replicas or system.data_replicas
    n_frames = n_frames or system.data_frames
    start = system.exact_samples(n_replicas, seed=seed)
    integrator = LangevinMiddle(kbt=system.kbt, friction=system.friction, dt=system.dt,
                                position_limit=system.position_limit)
    frames = simulate(
        integrator,
        system.force,
        jnp.asarray(start),
        system.mass,
        n_frames + burn_in_frames,
        system.steps_per_frame,
        key=jax.random.PRNGKey(seed),
        progress=progress,
    ).frames
    return frames[burn_in_frames:].reshape(-1, system.dim).astype(np.float32)


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


