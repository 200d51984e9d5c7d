"""Metrics of coarse-grained molecular frames: dihedrals, bonds, basin shares (docs/metrics.md).

Frames are (N, n_beads, 3) arrays in nm; angles in radians.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

from ..geometry import dihedral_angles
from ..systems import MolecularSystem
from .metrics import compare_to_reference, histogram

__all__ = ["bond_lengths", "bond_w1", "dihedral_metrics", "md_frames", "phi_positive", "phi_positive_blocks",
           "phi_positive_by_run"]


def bond_lengths(system: MolecularSystem, x: np.ndarray) -> np.ndarray:
    """CG bond lengths (nm) of frames x (N, n_beads, 3) -> (N, n_bonds)."""
    i, j = np.array(system.bonds).T
    return np.linalg.norm(x[:, j] - x[:, i], axis=-1)


def bond_w1(system: MolecularSystem, x: np.ndarray, reference: np.ndarray) -> list[float]:
    """Wasserstein-1 distance (nm) between the distributions of each CG bond length."""
    a, b = bond_lengths(system, x), bond_lengths(system, reference)
    return [float(wasserstein_distance(a[:, k], b[:, k])) for k in range(a.shape[1])]


def phi_positive(system: MolecularSystem, x: np.ndarray) -> float:
    """Fraction of frames x (N, n_beads, 3) whose first dihedral (phi) is positive."""
    return float(np.mean(dihedral_angles(x, system.dihedrals)[:, 0] > 0))


def dihedral_metrics(system: MolecularSystem, x: np.ndarray, reference: np.ndarray) -> dict:
    """phi/psi JS and PMF error of frames x against reference frames (both (N, n_beads, 3), nm)."""
    bounds = system.metric_bounds
    ref = dihedral_angles(reference, system.dihedrals)
    return compare_to_reference(
        dihedral_angles(x, system.dihedrals),
        histogram(ref, bounds, system.js_bins),
        histogram(ref, bounds, system.pmf_bins),
        bounds,
    )


def md_frames(trajectory, burn_in_frames: int) -> np.ndarray:
    """MD frames after burn-in, replicas concatenated.

    Args:
      trajectory: MD frames (nm), shape (frames, replicas, n_beads, 3).
      burn_in_frames: frames of every replica to discard; ignored (nothing discarded) when the
        trajectory is not longer than that.

    Returns:
      Positions (nm), shape (kept frames * replicas, n_beads, 3).
    """
    keep = trajectory[burn_in_frames:] if len(trajectory) > burn_in_frames else trajectory
    return np.asarray(keep).reshape(-1, *trajectory.shape[2:])


def phi_positive_blocks(system: MolecularSystem, trajectory: np.ndarray, frame_ps: float,
                        block_ps: float = 1000.0) -> dict:
    """Share of MD frames at phi > 0 in consecutive blocks of simulated time, all replicas pooled.

    Args:
      trajectory: MD frames (nm), shape (frames, replicas, n_beads, 3), from the start.
      frame_ps: simulated time between frames (ps).
      block_ps: block length (ps; 1 ns by default). A trajectory shorter than one block is one block.

    Returns:
      {"block_ps": the block length used (ps), "share": [fraction per block]}.
    """
    per_block = max(1, min(len(trajectory), int(round(block_ps / frame_ps))))
    shares = [phi_positive(system, np.asarray(trajectory[i:i + per_block]).reshape(-1, *trajectory.shape[2:]))
              for i in range(0, len(trajectory) - per_block + 1, per_block)]
    return {"block_ps": per_block * frame_ps, "share": shares}


def phi_positive_by_run(system: MolecularSystem, x: np.ndarray, run_index: np.ndarray) -> dict:
    """Share of frames at phi > 0 in each independent reference run, and the uncertainty it gives.

    A slow basin's share varies from run to run far beyond what the frame count suggests; the
    standard error of the mean over runs is the reference's own uncertainty on that share.

    Args:
      system: the molecule (its first dihedral is phi).
      x: reference frames (nm), shape (N, n_beads, 3).
      run_index: the run number of each frame, shape (N,).

    Returns:
      {"runs": {run number: share}, "mean": the unweighted mean over runs (each run counts once,
      whatever its length, unlike :func:`phi_positive` of the pooled frames), "se": sd over runs
      (ddof 1) / sqrt(runs), None for a single run}.
    """
    run_index = np.asarray(run_index)
    if len(run_index) != len(x):
        raise ValueError(f"run_index has {len(run_index)} entries for {len(x)} frames")
    shares = {int(r): phi_positive(system, x[run_index == r]) for r in np.unique(run_index)}
    values = np.array(list(shares.values()))
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return {"runs": shares, "mean": float(values.mean()), "se": se}
