"""Training / held-out splits of reference MD frames (by whole runs or by time blocks).

A split is a pair of index arrays (train, held_out) into frames whose run is
given by ``run_index`` (shape (N,), frames of a run in time order).
"""

from __future__ import annotations

import numpy as np

__all__ = ["HELD_OUT_SPLITS", "run_split", "split_frames", "time_block_split"]


def run_split(run_index: np.ndarray, validation_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Split frames into training and validation by whole runs: the last runs are held out.

    ``round(validation_fraction * n_runs)`` runs (at least one, at most all but one) are
    held out, so the held-out frames share no trajectory with the training frames: a rare
    basin entered a few times per run cannot fall on one side of the split just by when,
    within each run, it was visited. A single run cannot be split this way; it falls back
    to :func:`time_block_split`, whose arguments and return value this shares.
    """
    runs = np.unique(run_index)
    if len(runs) < 2 or validation_fraction == 0:
        return time_block_split(run_index, validation_fraction)
    _check_fraction(validation_fraction)
    n_held = min(len(runs) - 1, max(1, int(round(validation_fraction * len(runs)))))
    held = np.isin(run_index, runs[len(runs) - n_held:])
    return np.flatnonzero(~held), np.flatnonzero(held)


def _check_fraction(validation_fraction: float) -> None:
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}")


HELD_OUT_SPLITS = ("runs", "time")


def split_frames(run_index: np.ndarray, validation_fraction: float, held_out: str):
    """(train_indices, validation_indices) by ``held_out``: ``"runs"`` (:func:`run_split`) or ``"time"``."""
    if held_out not in HELD_OUT_SPLITS:
        raise ValueError(f'held_out must be "runs" or "time", got {held_out!r}')
    split = run_split if held_out == "runs" else time_block_split
    return split(run_index, validation_fraction)


def time_block_split(run_index: np.ndarray, validation_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split frames into training and validation by time blocks: the last fraction of every run.

    Args:
      run_index: run of each frame, shape (N,), frames of a run in time order.

    Returns:
      (train_indices, validation_indices).
    """
    _check_fraction(validation_fraction)
    train, val = [], []
    for run in np.unique(run_index):
        idx = np.flatnonzero(run_index == run)
        cut = len(idx) - int(round(validation_fraction * len(idx)))
        train.append(idx[:cut])
        val.append(idx[cut:])
    return np.concatenate(train), np.concatenate(val)
